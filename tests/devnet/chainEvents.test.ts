/**
 * What happens to transactions once mined: post-conditions enforced as a
 * node does (a violating call leaves no trace in the state but keeps its
 * nonce and its place in the block), reorgs with and without re-inclusion,
 * injected faults, and exact paging of contract events.
 */
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { Cl, ClarityType, Pc, randomPrivateKey, privateKeyToAddress, type StacksTransactionWire } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { ApiMinedTransaction } from "../../devnet/apiShapes";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import type { ApiAddressNonces } from "../../devnet/routes/accounts";
import type { BurnBlocksResponse, ReorgResponse } from "../../devnet/routes/local";
import { START_TIMEOUT_MS, VAULT, broadcast, broadcastOk, get, getJson, mine, post, postJson, signedCall, startServer } from "./helpers";

let server: LocalHiroServer;
let url: string;
/** Sender of the post-condition tests. */
const PC_KEY = randomPrivateKey();
const PC_SENDER = privateKeyToAddress(PC_KEY, "testnet");
/** Sender of the reorg and paging tests (its nonces must start at 0 for the reorg checks). */
const KEY = randomPrivateKey();
const SENDER = privateKeyToAddress(KEY, "testnet");
let nonce = 0n;

beforeAll(async () => {
  // Four rebuilds happen below (two post-condition aborts, a runtime error, a reorg): keep a spare session.
  server = await startServer({ spareSession: true });
  url = server.url;
  await post(url, "/_local/fund", { address: PC_SENDER, ustx: "100000000000" });
  await post(url, "/_local/fund", { address: SENDER, ustx: "100000000000" });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
});

function vaultTotal(): bigint {
  const { result } = server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getTotalStxBalance, [], SENDER);
  if (result.type !== ClarityType.UInt) throw new Error("expected a uint");
  return BigInt(result.value);
}

describe("post-conditions through the server", () => {
  const KEY = PC_KEY;
  const SENDER = PC_SENDER;
  let base = 0n;
  const vaultBalance = () => Cl.uint(vaultTotal() - base);
  const senderStx = () => server.simnet.getAssetsMap().get("STX")?.get(SENDER);
  beforeAll(() => {
    base = vaultTotal();
  });

  it("aborts a deposit that sends more than its post-condition allows and undoes it, keeping the rest of the block", async () => {
    const bad = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(5_000), Cl.none()],
      senderKey: KEY,
      postConditions: [Pc.principal(SENDER).willSendEq(4_000).ustx()],
      nonce: 0n,
    });
    const good = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(1_000), Cl.none()],
      senderKey: KEY,
      postConditions: [Pc.principal(SENDER).willSendEq(1_000).ustx()],
      nonce: 1n,
    });
    const badId = await broadcastOk(url, bad);
    const goodId = await broadcastOk(url, good);
    const before = senderStx() as bigint;
    const eventsBefore = await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events`);

    const { blocks } = await mine(url);
    expect(blocks).toHaveLength(1);

    const aborted = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${badId}`);
    expect(aborted).toMatchObject({
      tx_status: "abort_by_post_condition",
      tx_result: { repr: "(ok true)" },
      event_count: 0,
      events: [],
      canonical: true,
      block_height: blocks[0]?.height,
      tx_index: 0,
      vm_error: expect.stringMatching(/post-condition 0/),
    });
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${goodId}`)).toMatchObject({
      tx_status: "success",
      block_height: blocks[0]?.height,
      tx_index: 1,
    });
    // Only the good deposit reached the chain state and the events.
    expect(vaultBalance()).toEqual(Cl.uint(1_000));
    expect(senderStx()).toBe(before - 1_000n);
    const eventsAfter = await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events`);
    expect(eventsAfter.results.length).toBe(eventsBefore.results.length + 1);
    expect(eventsAfter.results[0]).toMatchObject({ tx_id: `0x${goodId}` });
    // The aborted transaction still spent its nonce.
    expect(await get<ApiAddressNonces>(url, `/extended/v1/address/${SENDER}/nonces`)).toMatchObject({ last_executed_tx_nonce: 1, possible_next_nonce: 2 });
  });

  it("aborts a deny-mode call that moves funds without any post-condition", async () => {
    const unguarded = await signedCall(url, { functionName: VAULT_FUNCTIONS.depositFunds, args: [Cl.uint(777), Cl.none()], senderKey: KEY, nonce: 2n });
    const id = await broadcastOk(url, unguarded);
    await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${id}`)).toMatchObject({ tx_status: "abort_by_post_condition", event_count: 0 });
    expect(vaultBalance()).toEqual(Cl.uint(1_000));
  });

  it("lets an allow-mode call move funds without conditions", async () => {
    const allowed = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(10), Cl.none()],
      senderKey: KEY,
      nonce: 3n,
      postConditionMode: "allow",
    });
    const id = await broadcastOk(url, allowed);
    await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${id}`)).toMatchObject({ tx_status: "success", post_condition_mode: "allow" });
    expect(vaultBalance()).toEqual(Cl.uint(1_010));
  });

  it("reports an erroring call as abort_by_response, or abort_by_post_condition when its conditions needed a transfer", async () => {
    const zero = await signedCall(url, { functionName: VAULT_FUNCTIONS.depositFunds, args: [Cl.uint(0), Cl.none()], senderKey: KEY, nonce: 4n });
    const zeroGuarded = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(0), Cl.none()],
      senderKey: KEY,
      nonce: 5n,
      postConditions: [Pc.principal(SENDER).willSendGte(1).ustx()],
    });
    const zeroId = await broadcastOk(url, zero);
    const guardedId = await broadcastOk(url, zeroGuarded);
    await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${zeroId}`)).toMatchObject({
      tx_status: "abort_by_response",
      tx_result: { repr: "(err u208)" },
      event_count: 0,
      vm_error: null,
    });
    // stacks-core checks post-conditions on erroring calls too (stacks-core issue #2777).
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${guardedId}`)).toMatchObject({
      tx_status: "abort_by_post_condition",
      tx_result: { repr: "(err u208)" },
    });
    expect(vaultBalance()).toEqual(Cl.uint(1_010));
  });
});

function deposit(amount: bigint, at = nonce++): Promise<StacksTransactionWire> {
  return signedCall(url, {
    functionName: VAULT_FUNCTIONS.depositFunds,
    args: [Cl.uint(amount), Cl.none()],
    senderKey: KEY,
    postConditions: [Pc.principal(SENDER).willSendEq(amount).ustx()],
    nonce: at,
  });
}


async function vaultEvents(limit = 50, offset = 0): Promise<Api.TransactionEventSmartContractLog[]> {
  const page = await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events?limit=${limit}&offset=${offset}`);
  return page.results as Api.TransactionEventSmartContractLog[];
}

describe("runtime errors", () => {
  it("includes a call that hits a runtime error as failed, mining that batch one transaction per block", async () => {
    const before = vaultTotal();
    // (+ balance amount) overflows u128 inside deposit-funds: a runtime error, not an (err ...) response.
    const overflow = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint((1n << 128n) - 1n), Cl.none()],
      senderKey: PC_KEY,
      nonce: 6n,
    });
    const fine = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(3), Cl.none()],
      senderKey: PC_KEY,
      nonce: 7n,
      postConditions: [Pc.principal(PC_SENDER).willSendEq(3).ustx()],
    });
    const overflowId = await broadcastOk(url, overflow);
    const fineId = await broadcastOk(url, fine);
    const { blocks } = await mine(url);
    expect(blocks).toHaveLength(2);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${overflowId}`)).toMatchObject({
      tx_status: "abort_by_response",
      tx_result: { repr: "(err none)" },
      block_height: blocks[0]?.height,
      event_count: 0,
      vm_error: expect.any(String),
    });
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${fineId}`)).toMatchObject({
      tx_status: "success",
      block_height: blocks[1]?.height,
      tx_index: 0,
    });
    expect(vaultTotal()).toBe(before + 3n);
  });
});

describe("reorg without re-inclusion", () => {
  let base = 0n;
  const vaultBalance = () => Cl.uint(vaultTotal() - base);
  beforeAll(() => {
    base = vaultTotal();
  });

  it("orphans the block, hides its events, rewinds the state, and lets the transaction be mined again", async () => {
    const transaction = await deposit(1_000n);
    const txid = await broadcastOk(url, transaction);
    const { blocks } = await mine(url);
    const mined = blocks[0] as { height: number; hash: string };
    expect(vaultBalance()).toEqual(Cl.uint(1_000));
    expect((await vaultEvents())[0]?.tx_id).toBe(`0x${txid}`);

    const reorg = await post<ReorgResponse>(url, "/_local/reorg", { depth: 1 });
    expect(reorg.orphaned).toEqual([mined]);
    expect(reorg.replacements[0]?.height).toBe(mined.height);
    expect(reorg.replacements[0]?.hash).not.toBe(mined.hash);

    // Back in the mempool, pending, as the API's re-org handling puts an orphaned transaction.
    const orphaned = await get<Record<string, unknown>>(url, `/extended/v1/tx/${txid}`);
    expect(orphaned).toMatchObject({ tx_id: `0x${txid}`, tx_status: "pending" });
    expect(orphaned).not.toHaveProperty("block_hash");
    expect((await vaultEvents()).some((e) => e.tx_id === `0x${txid}`)).toBe(false);
    // v2 looks only at canonical blocks, by hash too; the deprecated v1 route still finds the orphan.
    expect(await getJson(url, `/extended/v2/blocks/${mined.hash}`)).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: "Not Found", message: "Block not found" },
    });
    expect(await get<Api.Block>(url, `/extended/v1/block/${mined.hash}`)).toMatchObject({ canonical: false, height: mined.height });
    expect(await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${mined.height}`)).toMatchObject({
      canonical: true,
      hash: reorg.replacements[0]?.hash,
      tx_count: 0,
    });
    // The winning fork never had the deposit: state and executed nonce are back, the nonce waits in the mempool.
    expect(vaultBalance()).toEqual(Cl.uint(0));
    expect(await get<ApiAddressNonces>(url, `/extended/v1/address/${SENDER}/nonces`)).toMatchObject({
      last_executed_tx_nonce: null,
      detected_mempool_nonces: [0],
    });

    // Broadcast again, it is the one already pending; the next block mines it on the new fork.
    expect(await broadcast(url, transaction)).toEqual({ txid });
    const again = await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`)).toMatchObject({
      tx_status: "success",
      canonical: true,
      block_hash: again.blocks[0]?.hash,
    });
    expect(vaultBalance()).toEqual(Cl.uint(1_000));
    expect((await vaultEvents())[0]?.tx_id).toBe(`0x${txid}`);
  });
});

describe("reorg with re-inclusion", () => {
  let base = 0n;
  const vaultBalance = () => Cl.uint(vaultTotal() - base);
  beforeAll(() => {
    base = vaultTotal();
  });

  it("moves the transactions and events to new blocks at the same heights", async () => {
    const first = await broadcastOk(url, await deposit(10n));
    const firstBlock = (await mine(url)).blocks[0] as { height: number; hash: string };
    const second = await broadcastOk(url, await deposit(20n));
    const secondBlock = (await mine(url)).blocks[0] as { height: number; hash: string };
    const eventsBefore = await vaultEvents();

    const reorg = await post<ReorgResponse>(url, "/_local/reorg", { depth: 2, reinclude: true });
    expect(reorg.orphaned).toEqual([firstBlock, secondBlock]);

    for (const [txid, old, replacement] of [
      [first, firstBlock, reorg.replacements[0]],
      [second, secondBlock, reorg.replacements[1]],
    ] as const) {
      const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
      expect(tx).toMatchObject({ tx_status: "success", canonical: true, block_height: old.height, block_hash: replacement?.hash });
      expect(tx.block_hash).not.toBe(old.hash);
    }
    expect(await vaultEvents()).toEqual(eventsBefore);
    expect(vaultBalance()).toEqual(Cl.uint(30));
    const info = await get<{ stacks_tip: string; stacks_tip_height: number }>(url, "/v2/info");
    expect(`0x${info.stacks_tip}`).toBe(reorg.replacements[1]?.hash);
    expect(info.stacks_tip_height).toBe(secondBlock.height);
  });

  it("refuses to reorg deeper than the blocks mined since start", async () => {
    expect((await postJson(url, "/_local/reorg", { depth: 10_000 })).status).toBe(400);
    expect((await postJson(url, "/_local/reorg", { depth: 0 })).status).toBe(400);
  });
});

describe("burn blocks", () => {
  const burnHeight = async () => (await get<{ burn_block_height: number }>(url, "/v2/info")).burn_block_height;

  it("lets burn blocks pass, each with one empty Stacks block, leaving the mempool alone", async () => {
    const tip = server.chain.blocks.tip;
    const before = await burnHeight();
    const pending = await broadcastOk(url, await deposit(7n));

    const passed = await post<BurnBlocksResponse>(url, "/_local/burn-blocks", { count: 3 });
    expect(passed.blocks.map((b) => b.height)).toEqual([tip.height + 1, tip.height + 2, tip.height + 3]);
    expect(passed.tip).toEqual(passed.blocks[2]);
    expect(passed.burnBlockHeight).toBe(before + 3);
    expect(await burnHeight()).toBe(before + 3);
    for (const [i, block] of passed.blocks.entries()) {
      expect(await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${block.height}`)).toMatchObject({
        canonical: true,
        hash: block.hash,
        tx_count: 0,
        burn_block_height: before + i + 1,
      });
    }
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${pending}`)).toMatchObject({ tx_status: "pending" });
    // Mining goes on in the last burn block.
    const { blocks } = await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${pending}`)).toMatchObject({
      tx_status: "success",
      block_hash: blocks[0]?.hash,
      burn_block_height: before + 3,
    });
  });

  it("keeps burn blocks passed through a reorg without re-inclusion", async () => {
    const before = await burnHeight();
    await post<BurnBlocksResponse>(url, "/_local/burn-blocks", { count: 2 });
    await mine(url);
    const reorg = await post<ReorgResponse>(url, "/_local/reorg", { depth: 3 });
    expect(reorg.replacements).toHaveLength(3);
    expect(await burnHeight()).toBe(before + 2);
    expect(server.simnet.burnBlockHeight).toBe(before + 2);
    const heights = await Promise.all(
      reorg.replacements.map(async (b) => (await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${b.hash}`)).burn_block_height),
    );
    expect(heights).toEqual([before + 1, before + 2, before + 2]);
  });

  it("validates the request", async () => {
    expect((await postJson(url, "/_local/burn-blocks", { count: 0 })).status).toBe(400);
    expect((await postJson(url, "/_local/burn-blocks", {})).status).toBe(400);
    expect((await postJson(url, "/_local/burn-blocks", { count: 1.5 })).status).toBe(400);
  });
});

describe("faults", () => {
  it("answers 429 with Retry-After for the next matching requests, then recovers", async () => {
    await post(url, "/_local/faults", { path: "/v2/info", status: 429, times: 2, retryAfterSeconds: 3 });
    for (let i = 0; i < 2; i++) {
      const limited = await getJson(url, "/v2/info");
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("3");
      expect(limited.body).toEqual({ error: "Too Many Requests" });
    }
    expect((await getJson(url, "/v2/info")).status).toBe(200);
  });

  it("fails by path prefix with 500 and 503, and never faults the controls", async () => {
    await post(url, "/_local/faults", { path: "/extended/", status: 503, times: 1 });
    await post(url, "/_local/faults", { path: "/", status: 500, times: 1 });
    expect((await getJson(url, `/extended/v1/contract/${VAULT}/events`)).status).toBe(503);
    expect((await postJson(url, "/_local/mine", {})).status).toBe(200);
    expect((await getJson(url, "/v2/info")).status).toBe(500);
    expect((await getJson(url, "/v2/info")).status).toBe(200);
  });

  it("delays responses so that client timeouts fire", async () => {
    await post(url, "/_local/faults", { path: "/v2/info", times: 1, delayMs: 1_500 });
    await expect(fetch(`${url}/v2/info`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    // The fault is used up: the next request is not delayed.
    const started = Date.now();
    expect((await getJson(url, "/v2/info")).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("validates fault requests", async () => {
    expect((await postJson(url, "/_local/faults", { path: "/v2/info", times: 1 })).status).toBe(400);
    expect((await postJson(url, "/_local/faults", { path: "/v2/info", status: 404, times: 1 })).status).toBe(400);
  });
});

describe("event paging", () => {
  it("pages newest first by block height, tx index and event index, exactly", async () => {
    // Three deposits in one block and two in the next: several events share a block.
    for (const amount of [1n, 2n, 3n]) await broadcastOk(url, await deposit(amount));
    await mine(url);
    for (const amount of [4n, 5n]) await broadcastOk(url, await deposit(amount));
    await mine(url);

    const all = await vaultEvents(50, 0);
    const amounts = all.slice(0, 5).map((e) => {
      const value = Cl.deserialize(e.contract_log.value.hex);
      if (value.type !== "tuple") throw new Error("expected a tuple");
      return value.value.amount;
    });
    expect(amounts).toEqual([Cl.uint(5), Cl.uint(4), Cl.uint(3), Cl.uint(2), Cl.uint(1)]);

    const positions = await Promise.all(
      all.map(async (e) => {
        const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${e.tx_id}`);
        return [tx.block_height, tx.tx_index, e.event_index] as const;
      }),
    );
    for (let i = 1; i < positions.length; i++) {
      const [h0, t0, e0] = positions[i - 1] as readonly [number, number, number];
      const [h1, t1, e1] = positions[i] as readonly [number, number, number];
      expect(h0 > h1 || (h0 === h1 && (t0 > t1 || (t0 === t1 && e0 > e1)))).toBe(true);
    }

    const paged: Api.TransactionEventSmartContractLog[] = [];
    for (let offset = 0; offset < all.length; offset += 3) {
      const page = await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events?limit=3&offset=${offset}`);
      expect(page.limit).toBe(3);
      expect(page.offset).toBe(offset);
      expect(page.results.length).toBe(Math.min(3, all.length - offset));
      paged.push(...(page.results as Api.TransactionEventSmartContractLog[]));
    }
    expect(paged).toEqual(all);
    expect((await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events?offset=${all.length}`)).results).toEqual([]);
    expect((await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events`)).limit).toBe(20);
    expect(await getJson(url, `/extended/v1/contract/${VAULT}/events?limit=51`)).toMatchObject({
      status: 400,
      body: { error: "'limit' must be equal to or less than 50" },
    });
  });
});
