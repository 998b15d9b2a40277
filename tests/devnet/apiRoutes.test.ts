/**
 * The local server's current and deprecated Hiro API routes, over HTTP: the
 * v3 nonces and v3 transaction routes in the API's shapes, tx/multiple in the
 * current shape, the deprecated routes with their Warning header and, once
 * switched off, 410 Gone; a transaction reported as `problematic_skipped`;
 * and an answer with a field taken out (a malformed answer).
 */
import { Cl, Pc, privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { ApiMempoolTransaction, ApiMinedTransaction, ApiV3MempoolTransaction, ApiV3MinedTransaction } from "../../devnet/apiShapes";
import { startLocalHiroServer, type LocalHiroServer } from "../../devnet/hiroServer";
import type { ApiAddressNonces, ApiPrincipalNonces } from "../../devnet/routes/accounts";
import type { DeprecatedRoutesResponse, TxStatusFaultResponse } from "../../devnet/routes/local";
import { START_TIMEOUT_MS, VAULT, broadcastOk, get, getJson, mine, post, postJson, signedCall, startServer } from "./helpers";

let server: LocalHiroServer;
let url: string;
const KEY = randomPrivateKey();
const SENDER = privateKeyToAddress(KEY, "testnet");
let nonce = 0n;

const GONE = { error: "Gone", message: "This endpoint has been disabled. See https://docs.hiro.so/stacks/api for more information" };
const WARNING = '299 - "Deprecated: See https://docs.hiro.so/stacks/api for more information"';

beforeAll(async () => {
  server = await startServer();
  url = server.url;
  await post(url, "/_local/fund", { address: SENDER, ustx: "100000000000" });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
});

/** A deposit of `amount` µSTX by SENDER, broadcast with the next nonce; returns its 0x-less txid. */
async function deposit(amount: number): Promise<string> {
  const transaction = await signedCall(url, {
    functionName: VAULT_FUNCTIONS.depositFunds,
    args: [Cl.uint(amount), Cl.none()],
    senderKey: KEY,
    postConditions: [Pc.principal(SENDER).willSendEq(amount).ustx()],
    nonce: nonce++,
  });
  return await broadcastOk(url, transaction);
}

async function setDeprecatedRoutes(body: object): Promise<DeprecatedRoutesResponse> {
  return await post<DeprecatedRoutesResponse>(url, "/_local/deprecated-routes", body);
}

describe("GET /extended/v3/principals/{principal}/nonces", () => {
  it("gives the same figures as the deprecated v1 route, in the v3 shape", async () => {
    const fresh = randomPrivateKey();
    const address = privateKeyToAddress(fresh, "testnet");
    expect(await get<ApiPrincipalNonces>(url, `/extended/v3/principals/${address}/nonces`)).toEqual({
      next_nonce: 0,
      last_confirmed_nonce: null,
      mempool: { last_nonce: null, pending_nonces: [], missing_nonces: [] },
    });

    await deposit(1_000);
    await mine(url);
    await deposit(1_001); // nonce 1, pending
    nonce++; // nonce 2 left out: a gap
    await deposit(1_003); // nonce 3, pending behind the gap
    expect(await get<ApiPrincipalNonces>(url, `/extended/v3/principals/${SENDER}/nonces`)).toEqual({
      next_nonce: 4,
      last_confirmed_nonce: 0,
      mempool: { last_nonce: 3, pending_nonces: [1, 3], missing_nonces: [2] },
    });
    expect(await get<ApiAddressNonces>(url, `/extended/v1/address/${SENDER}/nonces`)).toEqual({
      last_executed_tx_nonce: 0,
      last_mempool_tx_nonce: 3,
      possible_next_nonce: 4,
      detected_missing_nonces: [2],
      detected_mempool_nonces: [1, 3],
    });
    // Fill the gap so the sender's later transactions are mined.
    nonce = 2n;
    await deposit(1_002);
    nonce = 4n;
    await mine(url);
  });

  it("refuses a contract principal as the API's validation does", async () => {
    expect(await getJson(url, `/extended/v3/principals/${VAULT}/nonces`)).toMatchObject({
      status: 400,
      body: {
        statusCode: 400,
        code: "FST_ERR_VALIDATION",
        error: "Bad Request",
        message: 'params/principal must match pattern "^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{28,41}$"',
      },
    });
  });
});

describe("GET /extended/v3/transactions/{tx_id} and GET /extended/v1/tx/multiple", () => {
  it("answers a pending then a mined transaction in the v3 and the v1 shapes", async () => {
    const tipAtBroadcast = server.chain.blocks.tip.height;
    const txid = await deposit(2_000);
    const pending = await get<ApiV3MempoolTransaction>(url, `/extended/v3/transactions/0x${txid}`);
    expect(pending).toEqual({
      tx_id: `0x${txid}`,
      sender: { address: SENDER, nonce: Number(nonce - 1n) },
      sponsor: null,
      fee_rate: "10000",
      receipt_time: expect.any(Number),
      receipt_block_height: tipAtBroadcast,
      status: "pending",
      replaced_by_tx_id: null,
      type: "contract_call",
      contract_call: { contract_id: VAULT, function_name: VAULT_FUNCTIONS.depositFunds },
    });
    const listed = await get<Record<string, { found: boolean; result: ApiMempoolTransaction }>>(url, `/extended/v1/tx/multiple?tx_id=0x${txid}`);
    expect(listed[`0x${txid}`]).toMatchObject({ found: true, result: { tx_status: "pending", replaced_by_tx_id: null, receipt_time: pending.receipt_time } });

    const { blocks } = await mine(url);
    const block = server.chain.blocks.atHeight(blocks[0]!.height)!;
    const minedV3 = await get<ApiV3MinedTransaction>(url, `/extended/v3/transactions/${txid}`);
    expect(minedV3).toEqual({
      tx_id: `0x${txid}`,
      sender: { address: SENDER, nonce: Number(nonce - 1n) },
      sponsor: null,
      fee_rate: "10000",
      block: { height: block.height, hash: `0x${block.hash}`, index_hash: `0x${block.indexBlockHash}`, time: block.time, tx_index: 0 },
      bitcoin_block: { height: block.burnBlockHeight, time: block.time },
      status: "success",
      parent_block: { hash: `0x${block.parentHash}`, index_hash: `0x${block.parentIndexBlockHash}` },
      event_count: 2,
      execution_cost: expect.objectContaining({ runtime: expect.any(Number) }),
      vm_error: null,
      type: "contract_call",
      contract_call: { contract_id: VAULT, function_name: VAULT_FUNCTIONS.depositFunds },
    });
    const withFields = await get<ApiV3MinedTransaction>(url, `/extended/v3/transactions/${txid}?include=function_args,result&include=post_conditions`);
    expect(withFields).toMatchObject({
      result: { hex: "0x0703", repr: "(ok true)" },
      post_conditions: [{ type: "stx", condition_code: "sent_equal_to", amount: "2000", principal: { type_id: "principal_standard", address: SENDER } }],
      contract_call: { function_args: [{ hex: "0x01000000000000000000000000000007d0", repr: "u2000" }, { hex: "0x09", repr: "none" }] },
    });
    const listedMined = await get<Record<string, { found: boolean; result: ApiMinedTransaction }>>(url, `/extended/v1/tx/multiple?tx_id=0x${txid}`);
    expect(listedMined[`0x${txid}`]?.result).toMatchObject({ tx_status: "success", block_height: block.height, tx_index: 0, event_count: 2, vm_error: null });
    // Like GET /extended/v1/tx/{id}, each transaction comes with its first event_limit (default 20) events.
    const single = await get<ApiMinedTransaction>(url, `/extended/v1/tx/0x${txid}`);
    expect(listedMined[`0x${txid}`]?.result.events).toEqual(single.events);
    expect(single.events).toHaveLength(2);
    const firstOnly = await get<Record<string, { result: ApiMinedTransaction }>>(url, `/extended/v1/tx/multiple?tx_id=0x${txid}&event_limit=1&event_offset=1`);
    expect(firstOnly[`0x${txid}`]?.result.events).toEqual(single.events.slice(1, 2));

    // tx_id comma-separated, as the API splits it, is the same list.
    const unknown = `0x${"ee".repeat(32)}`;
    const commaSeparated = await get<Record<string, { found: boolean }>>(url, `/extended/v1/tx/multiple?tx_id=0x${txid},${unknown}`);
    const repeated = await get<Record<string, { found: boolean }>>(url, `/extended/v1/tx/multiple?tx_id=0x${txid}&tx_id=${unknown}`);
    expect(commaSeparated).toEqual(repeated);
    expect(Object.keys(commaSeparated)).toEqual([`0x${txid}`, unknown]);
    expect(commaSeparated[unknown]).toEqual({ found: false, result: { tx_id: unknown } });
  });

  it("answers errors in the API's format", async () => {
    expect(await getJson(url, `/extended/v3/transactions/0x${"ee".repeat(32)}`)).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: "Not Found", message: "Transaction not found" },
    });
    expect(await getJson(url, "/extended/v3/transactions/0x1234")).toMatchObject({
      status: 400,
      body: { statusCode: 400, code: "FST_ERR_VALIDATION", error: "Bad Request", message: 'params/tx_id must match pattern "^(0x)?[a-fA-F0-9]{64}$"' },
    });
    expect((await getJson(url, `/extended/v3/transactions/0x${"ee".repeat(32)}?include=events`)).status).toBe(400);
  });
});

describe("deprecated routes", () => {
  const deprecated = () => [
    `/extended/v1/contract/${VAULT}/events`,
    `/extended/v1/tx/0x${"ee".repeat(32)}`,
    `/extended/v1/address/${SENDER}/nonces`,
    "/extended/v1/block/by_height/1",
    `/extended/v1/block/0x${server.chain.blocks.tip.hash}`,
  ];
  const current = () => [
    `/extended/v3/principals/${SENDER}/nonces`,
    `/extended/v1/tx/multiple?tx_id=0x${"ee".repeat(32)}`,
    `/extended/v3/transactions/0x${"ee".repeat(32)}`,
    "/extended/v2/blocks/1",
    "/v2/info",
  ];

  it("are served with the API's Warning header while enabled (the default), errors included", async () => {
    for (const path of deprecated()) {
      const answer = await getJson(url, path);
      expect([200, 404], path).toContain(answer.status);
      expect(answer.headers.get("warning"), path).toBe(WARNING);
    }
    for (const path of current()) expect((await getJson(url, path)).headers.get("warning"), path).toBeNull();
  });

  it("answer 410 Gone once switched off, current routes unchanged, and come back when enabled", async () => {
    expect(await setDeprecatedRoutes({ mode: "gone" })).toEqual({ mode: "gone", except: [] });
    for (const path of deprecated()) {
      const answer = await getJson(url, path);
      expect(answer.status, path).toBe(410);
      expect(answer.body, path).toEqual(GONE);
      expect(answer.headers.get("warning"), path).toBe(WARNING);
    }
    for (const path of current()) expect([200, 404], path).toContain((await getJson(url, path)).status);
    // An unknown path is still a 404, not a 410.
    expect((await getJson(url, "/extended/v1/tx/multiple/more")).status).toBe(404);

    // One route kept while the others are gone.
    expect(await setDeprecatedRoutes({ mode: "gone", except: ["get_contract_events_by_id"] })).toEqual({
      mode: "gone",
      except: ["get_contract_events_by_id"],
    });
    expect((await getJson(url, `/extended/v1/contract/${VAULT}/events`)).status).toBe(200);
    expect((await getJson(url, `/extended/v1/address/${SENDER}/nonces`)).status).toBe(410);

    await setDeprecatedRoutes({ mode: "enabled" });
    for (const path of deprecated()) expect([200, 404], path).toContain((await getJson(url, path)).status);
    expect((await postJson(url, "/_local/deprecated-routes", { mode: "off" })).status).toBe(400);
    expect((await postJson(url, "/_local/deprecated-routes", { mode: "gone", except: ["get_everything"] })).status).toBe(400);
  });

  it("can start switched off", async () => {
    const gone = await startLocalHiroServer({ port: 0, deprecatedRoutes: "gone" });
    try {
      const answer = await getJson(gone.url, `/extended/v1/address/${SENDER}/nonces`);
      expect(answer).toMatchObject({ status: 410, body: GONE });
      expect((await getJson(gone.url, `/extended/v3/principals/${SENDER}/nonces`)).status).toBe(200);
    } finally {
      await gone.close();
    }
  }, START_TIMEOUT_MS);
});

describe("a transaction reported as problematic_skipped", () => {
  it("is mined but skipped: status, (err none), no events, not in the contract's events, nonce spent", async () => {
    const kept = await deposit(3_000);
    const skipped = await deposit(3_001);
    expect(await post<TxStatusFaultResponse>(url, "/_local/faults", { txid: skipped, txStatus: "problematic_skipped" })).toEqual({
      txid: `0x${skipped}`,
      tx_status: "problematic_skipped",
    });
    await mine(url);

    const listed = await get<Record<string, { found: boolean; result: ApiMinedTransaction }>>(
      url,
      `/extended/v1/tx/multiple?tx_id=0x${kept}&tx_id=0x${skipped}&event_limit=50`,
    );
    expect(listed[`0x${kept}`]?.result).toMatchObject({ tx_status: "success", event_count: 2 });
    expect(listed[`0x${skipped}`]?.result).toMatchObject({
      tx_status: "problematic_skipped",
      tx_result: { hex: "0x0809", repr: "(err none)" },
      event_count: 0,
      vm_error: null,
      canonical: true,
    });
    expect(await get<ApiV3MinedTransaction>(url, `/extended/v3/transactions/${skipped}?include=result`)).toMatchObject({
      status: "problematic_skipped",
      event_count: 0,
      vm_error: null,
      result: { hex: "0x0809", repr: "(err none)" },
    });
    const events = await get<{ results: { tx_id: string }[] }>(url, `/extended/v1/contract/${VAULT}/events?limit=50`);
    const txids = events.results.map((e) => e.tx_id);
    expect(txids).toContain(`0x${kept}`);
    expect(txids).not.toContain(`0x${skipped}`);
    expect((await get<ApiPrincipalNonces>(url, `/extended/v3/principals/${SENDER}/nonces`)).next_nonce).toBe(Number(nonce));
  });

  it("refuses an unknown or malformed txid", async () => {
    expect((await postJson(url, "/_local/faults", { txid: `0x${"ee".repeat(32)}`, txStatus: "problematic_skipped" })).status).toBe(404);
    expect((await postJson(url, "/_local/faults", { txid: "0x12", txStatus: "problematic_skipped" })).status).toBe(400);
    expect((await postJson(url, "/_local/faults", { txid: `0x${"ee".repeat(32)}`, txStatus: "exploded" })).status).toBe(400);
  });
});

describe("a field taken out of an answer", () => {
  it("serves the next matching answer without it, then answers whole again", async () => {
    await post(url, "/_local/faults", { path: "/extended/v1/contract/", times: 1, removeField: "results.0.tx_id" });
    const malformed = await get<{ results: Record<string, unknown>[] }>(url, `/extended/v1/contract/${VAULT}/events?limit=2`);
    expect(malformed.results[0]).not.toHaveProperty("tx_id");
    expect(malformed.results[1]).toHaveProperty("tx_id");
    const whole = await get<{ results: Record<string, unknown>[] }>(url, `/extended/v1/contract/${VAULT}/events?limit=2`);
    expect(whole.results[0]).toHaveProperty("tx_id");
    expect((await postJson(url, "/_local/faults", { path: "/v2/info", times: 1, removeField: "a..b" })).status).toBe(400);
  });
});
