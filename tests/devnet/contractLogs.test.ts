/**
 * GET /extended/v2/smart-contracts/{id}/logs, GET /extended and the API
 * indexer's lag, over HTTP, against the semantics of the real API's query
 * (`getSmartContractEvents`) and its own tests: newest first, `next_cursor`
 * the top of the next newer full page, `prev_cursor` the top of the next
 * older one, a 404 only for a cursor with nothing at or below it, canonical
 * rows only. Orphaned transactions go back to the mempool as `pending`.
 */
import { Cl, Pc, privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { startLocalHiroServer, type LocalHiroServer } from "../../devnet/hiroServer";
import type { ContractLogsPage } from "../../devnet/routes/contracts";
import type { ApiStatus } from "../../devnet/routes/chainInfo";
import type { IndexerLagResponse } from "../../devnet/routes/local";
import { START_TIMEOUT_MS, VAULT, broadcastOk, get, getJson, mine, post, signedCall } from "./helpers";

let server: LocalHiroServer;
let url: string;
const KEY = randomPrivateKey();
const SENDER = privateKeyToAddress(KEY, "testnet");
let nonce = 0n;
/** The blocks of the seven events: two, two and three deposits. */
const blocks: { height: number; hash: string }[] = [];
const ANCHORED = 2147483647;

const logs = (query = "", contract = VAULT) => get<ContractLogsPage>(url, `/extended/v2/smart-contracts/${contract}/logs${query}`);

async function depositsInOneBlock(count: number): Promise<string[]> {
  const txids: string[] = [];
  for (let i = 0; i < count; i++) {
    const amount = 100 + i;
    const tx = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(amount), Cl.none()],
      senderKey: KEY,
      postConditions: [Pc.principal(SENDER).willSendEq(amount).ustx()],
      nonce: nonce++,
    });
    txids.push(await broadcastOk(url, tx));
  }
  const mined = await mine(url);
  blocks.push(mined.blocks[0]!);
  return txids;
}

beforeAll(async () => {
  // No vault set-up: the vault's only events are the seven deposits below.
  server = await startLocalHiroServer({ port: 0 });
  url = server.url;
  await post(url, "/_local/fund", { address: SENDER, ustx: "100000000000" });
  await depositsInOneBlock(2);
  await depositsInOneBlock(2);
  await depositsInOneBlock(3);
}, START_TIMEOUT_MS);

afterAll(async () => {
  await server?.close();
});

describe("GET /extended/v2/smart-contracts/{id}/logs", () => {
  it("walks 7 events 3 at a time as the API's own test does", async () => {
    const first = await logs("?limit=3");
    expect(first).toMatchObject({ total: 7, limit: 3, offset: 0, next_cursor: null });
    expect(first.results).toHaveLength(3);
    expect(first.prev_cursor).not.toBeNull();
    // The newest event: the print (event 1, after the STX transfer) of the block's third transaction.
    expect(first.cursor).toBe(`${blocks[2]!.height}:${ANCHORED}:2:1`);

    const second = await logs(`?limit=3&cursor=${first.prev_cursor}`);
    expect(second.results).toHaveLength(3);
    expect(second.next_cursor).not.toBeNull();
    expect(second.prev_cursor).not.toBeNull();

    const third = await logs(`?limit=3&cursor=${second.prev_cursor}`);
    expect(third.results).toHaveLength(1);
    expect(third.prev_cursor).toBeNull();
    expect(third.next_cursor).not.toBeNull();
    expect(third.cursor).toBe(`${blocks[0]!.height}:${ANCHORED}:0:1`);

    const backToSecond = await logs(`?limit=3&cursor=${third.next_cursor}`);
    expect(backToSecond.results).toHaveLength(3);
    expect(backToSecond.cursor).toBe(second.cursor);

    // Newest first, by block, tx index and event index; the pages together are every event once.
    const all = [...first.results, ...second.results, ...third.results];
    expect(all.map((e) => e.tx_id)).toEqual((await logs("?limit=10")).results.map((e) => e.tx_id));
    expect(new Set(all.map((e) => e.tx_id)).size).toBe(7);
    expect(all.every((e) => e.event_type === "smart_contract_log" && e.contract_log.contract_id === VAULT && e.event_index === 1)).toBe(true);
  });

  it("answers the same page for the same cursor, the newest for a cursor past the tip, and a 404 below everything", async () => {
    const page = await logs("?limit=2");
    expect(await logs(`?limit=2&cursor=${page.cursor}`)).toEqual(page);
    const high = await logs("?cursor=999999:0:0:0");
    expect(high.results).toHaveLength(7);
    expect(high.cursor).toBe((await logs()).cursor);

    const below = await getJson(url, `/extended/v2/smart-contracts/${VAULT}/logs?cursor=${blocks[0]!.height}:${ANCHORED}:0:0`);
    expect(below).toMatchObject({ status: 404, body: { statusCode: 404, error: "Not Found", message: "Cursor not found" } });
    // A cursor between two events starts at the one below it.
    const between = await logs(`?limit=1&cursor=${blocks[1]!.height}:${ANCHORED}:0:5`);
    expect(between.cursor).toBe(`${blocks[1]!.height}:${ANCHORED}:0:1`);
  });

  it("skips `offset` rows below the cursor, and knows `limit`'s default and bounds", async () => {
    const newest = await logs("?limit=7");
    const skipped = await logs("?limit=2&offset=3");
    expect(skipped.results.map((e) => e.tx_id)).toEqual(newest.results.slice(3, 5).map((e) => e.tx_id));
    expect(skipped.offset).toBe(3);
    expect((await logs(`?limit=1&offset=1&cursor=${newest.cursor}`)).results[0]?.tx_id).toBe(newest.results[1]?.tx_id);
    // Past the last row, with a cursor: nothing at or below, so a 404; without one, an empty page.
    expect((await getJson(url, `/extended/v2/smart-contracts/${VAULT}/logs?offset=7&cursor=${newest.cursor}`)).status).toBe(404);
    expect(await logs("?offset=7")).toMatchObject({ total: 7, results: [], cursor: null, next_cursor: null, prev_cursor: null });

    expect((await logs()).limit).toBe(20);
    expect((await logs("?limit=0")).limit).toBe(20);
    expect((await logs("?limit=100")).limit).toBe(100);
    const refusals = {
      "limit=101": "querystring/limit must be <= 100",
      "offset=1001": "querystring/offset must be <= 1000",
      "limit=two": "querystring/limit must be integer",
      "cursor=12:3": 'querystring/cursor must match pattern "^[0-9]+:[0-9]+:[0-9]+:[0-9]+$"',
    };
    for (const [query, message] of Object.entries(refusals)) {
      expect(await getJson(url, `/extended/v2/smart-contracts/${VAULT}/logs?${query}`)).toMatchObject({
        status: 400,
        body: { statusCode: 400, code: "FST_ERR_VALIDATION", error: "Bad Request", message },
      });
    }
    // The schema lets a negative offset through; the database refuses it.
    expect((await getJson(url, `/extended/v2/smart-contracts/${VAULT}/logs?offset=-1`)).status).toBe(500);
  });

  it("answers an unknown contract with an empty page, not a 404", async () => {
    expect(await logs("", `${SENDER}.no-such-contract`)).toEqual({
      limit: 20,
      offset: 0,
      total: 0,
      next_cursor: null,
      prev_cursor: null,
      cursor: null,
      results: [],
    });
  });
});

describe("the API's indexer lagging the node", () => {
  it("shows the chain as of `blocks` blocks ago on every /extended/* answer, while /v2/info is current", async () => {
    const status = await get<ApiStatus>(url, "/extended");
    expect(status).toMatchObject({ status: "ready", chain_tip: { block_height: blocks[2]!.height, block_hash: blocks[2]!.hash } });

    const newestTx = (await logs()).results[0]!.tx_id;
    const lag = await post<IndexerLagResponse>(url, "/_local/indexer-lag", { blocks: 1 });
    expect(lag).toMatchObject({ blocks: 1, indexedTip: blocks[1], tip: blocks[2] });

    expect((await get<ApiStatus>(url, "/extended")).chain_tip).toMatchObject({ block_height: blocks[1]!.height, block_hash: blocks[1]!.hash });
    expect((await get<{ stacks_tip_height: number }>(url, "/v2/info")).stacks_tip_height).toBe(blocks[2]!.height);
    expect(await logs()).toMatchObject({ total: 4, cursor: `${blocks[1]!.height}:${ANCHORED}:1:1` });
    // A transaction of the block the indexer has not reached is still pending to the API.
    const list = await get<Record<string, { result: { tx_status: string; block_height?: number } }>>(url, `/extended/v1/tx/multiple?tx_id=${newestTx}`);
    expect(list[newestTx]?.result).toMatchObject({ tx_status: "pending" });
    expect(list[newestTx]?.result.block_height).toBeUndefined();
    expect((await get<{ status: string }>(url, `/extended/v3/transactions/${newestTx}`)).status).toBe("pending");
    expect((await getJson(url, `/extended/v2/blocks/${blocks[2]!.height}`)).status).toBe(404);

    await post(url, "/_local/indexer-lag", { blocks: 0 });
    expect((await logs()).total).toBe(7);
    expect((await get<Record<string, { result: { tx_status: string } }>>(url, `/extended/v1/tx/multiple?tx_id=${newestTx}`))[newestTx]?.result.tx_status).toBe(
      "success",
    );
  });
});

describe("a reorg", () => {
  it("takes the orphaned block's events out of the logs and their total, and returns its transactions to the mempool, which mines them again", async () => {
    const orphanedTxs = (await logs("?limit=3")).results.map((e) => e.tx_id);
    await post(url, "/_local/reorg", { depth: 1 });

    const after = await logs("?limit=3");
    expect(after.total).toBe(4);
    expect(after.cursor).toBe(`${blocks[1]!.height}:${ANCHORED}:1:1`);
    const list = await get<Record<string, { result: { tx_status: string; canonical?: boolean } }>>(
      url,
      `/extended/v1/tx/multiple?${orphanedTxs.map((id) => `tx_id=${id}`).join("&")}`,
    );
    for (const id of orphanedTxs) {
      expect(list[id]?.result.tx_status).toBe("pending");
      expect(list[id]?.result).not.toHaveProperty("canonical");
    }

    // No broadcast: the next block mines them again, at a new height.
    const again = await mine(url);
    const back = await logs("?limit=3");
    expect(back.total).toBe(7);
    expect(back.cursor).toBe(`${again.blocks[0]!.height}:${ANCHORED}:2:1`);
    expect(new Set(back.results.map((e) => e.tx_id))).toEqual(new Set(orphanedTxs));
  });
});
