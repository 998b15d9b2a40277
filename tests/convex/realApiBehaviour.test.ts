/**
 * The chain layer against the real Hiro API's and Stacks node's behaviour, as
 * their sources define it (not as the local server does). A small fake API is
 * built here from those sources:
 *
 * - GET /extended/v2/smart-contracts/{id}/logs: hirosystems/stacks-blockchain-api
 *   `src/api/routes/v2/smart-contracts.ts:43-105` and `src/datastore/pg-store-v2.ts`
 *   `getSmartContractEvents` (newest first; `cursor` = results[0]; `next_cursor` =
 *   the `limit`-th row newer than it; `prev_cursor` = the row right below the page;
 *   404 "Cursor not found" when a cursor has nothing at or below it);
 * - GET /extended/v1/tx/multiple: `src/api/controllers/db-controller.ts` `searchTxs`
 *   (canonical mined rows at or below the indexed tip, else the mempool, else
 *   `{ found: false }`);
 * - GET /extended: `src/api/routes/v1/status.ts` (`chain_tip` of the indexer);
 * - GET /extended/v2/blocks/{height}: `src/datastore/pg-store-v2.ts` `getBlock`
 *   (canonical only);
 * - GET /v2/info, POST /v2/transactions, POST /v2/fees/transaction: stacks-network/stacks-core
 *   `stackslib/src/net/api/getinfo.rs`, `posttransaction.rs`, `postfeerate.rs`,
 *   `stackslib/src/net/http/mod.rs` (`Failed to decode: …` as text/plain 400),
 *   `stackslib/src/cost_estimates/mod.rs` (`EstimatorError::into_json`).
 *
 * The chain layer's code is held to that behaviour, and the chainhook
 * confirmer to the confirmation rule the poller applies to the same API.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { logsAbove, type PlacedLog } from "../../convex/chain/contractLogs";
import { HiroClient } from "../../convex/chain/hiroClient";
import {
  contractLogsPageSchema,
  coreInfoSchema,
  feeEstimateSchema,
  noncesSchema,
  placedTransactionListSchema,
  transactionListSchema,
} from "../../convex/chain/hiroSchemas";
import { newBackend } from "./convexTest";
import { API_URL, configureChain, DEPLOYER, VAULT } from "./liquidityFixtures";

// ---------------------------------------------------------------------------
// A fake of the real API, built from its sources (see the top of this file)

/** The microblock sequence the API stores for a transaction in an anchored block (I32_MAX). */
const ANCHORED = 2147483647;

type Row = {
  txid: string;
  blockHeight: number;
  burnHeight: number;
  txIndex: number;
  eventIndex: number;
  hex: string;
  repr: string;
};

type ChainState = {
  rows: Row[];
  node: { stacks: number; burn: number };
  indexer: { stacks: number; burn: number };
};

const blockHash = (height: number) => `0xb${height.toString(16).padStart(63, "0")}`;
const indexBlockHash = (height: number) => `0xc${height.toString(16).padStart(63, "0")}`;
const position = (r: Pick<Row, "blockHeight" | "txIndex" | "eventIndex">) => [r.blockHeight, ANCHORED, r.txIndex, r.eventIndex] as const;
const cmp = (a: readonly number[], b: readonly number[]) => {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
};
const cursorOf = (r: Row) => position(r).join(":");

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** `getSmartContractEvents` (pg-store-v2.ts) over the rows the indexer has reached. */
function logsPage(state: ChainState, query: URLSearchParams): Response {
  const limit = Number(query.get("limit") || 20);
  const offset = Number(query.get("offset") || 0);
  const cursorText = query.get("cursor");
  if (cursorText !== null && !/^[0-9]+:[0-9]+:[0-9]+:[0-9]+$/.test(cursorText)) {
    return json(400, { statusCode: 400, code: "FST_ERR_VALIDATION", error: "Bad Request", message: 'querystring/cursor must match pattern "^[0-9]+:[0-9]+:[0-9]+:[0-9]+$"' });
  }
  const cursor = cursorText?.split(":").map(Number);
  const visible = state.rows.filter((r) => r.blockHeight <= state.indexer.stacks).sort((a, b) => cmp(position(b), position(a)));
  const cursorEvent = visible.filter((r) => !cursor || cmp(position(r), cursor) <= 0)[offset];
  const selected = cursorEvent ? visible.filter((r) => cmp(position(r), position(cursorEvent)) <= 0).slice(0, limit) : [];
  const top = selected[0];
  if (cursorText !== null && !top) return json(404, { statusCode: 404, error: "Not Found", message: "Cursor not found" });
  const newer = top ? visible.filter((r) => cmp(position(r), position(top)) > 0).reverse() : [];
  const older = top ? visible.filter((r) => cmp(position(r), position(top)) < 0) : [];
  const next = newer[limit - 1];
  const prev = older[limit - 1];
  return json(200, {
    limit,
    offset,
    total: visible.length,
    next_cursor: next ? cursorOf(next) : null,
    prev_cursor: prev ? cursorOf(prev) : null,
    cursor: top ? cursorOf(top) : null,
    results: selected.map((r) => ({
      event_index: r.eventIndex,
      event_type: "smart_contract_log",
      tx_id: r.txid,
      contract_log: { contract_id: VAULT, topic: "print", value: { hex: r.hex, repr: r.repr } },
    })),
  });
}

/** A mined contract call as GET /extended/v1/tx/{id} answers it (stacks-blockchain-api tests/api/transactions/tx.test.ts). */
function minedTransaction(r: Row, status = "success") {
  return {
    tx_id: r.txid,
    nonce: 0,
    fee_rate: "300",
    sender_address: DEPLOYER,
    sponsored: false,
    post_condition_mode: "deny",
    post_conditions: [],
    anchor_mode: "any",
    block_hash: blockHash(r.blockHeight),
    block_height: r.blockHeight,
    block_time: 1594647995,
    block_time_iso: "2020-07-13T13:46:35.000Z",
    burn_block_height: r.burnHeight,
    burn_block_time: 1594647995,
    burn_block_time_iso: "2020-07-13T13:46:35.000Z",
    parent_burn_block_time: 1626122935,
    parent_burn_block_time_iso: "2021-07-12T20:48:55.000Z",
    canonical: true,
    tx_index: r.txIndex,
    tx_status: status,
    tx_result: { hex: "0x0703", repr: "(ok true)" },
    event_count: 1,
    parent_block_hash: blockHash(r.blockHeight - 1),
    is_unanchored: false,
    microblock_hash: "0x",
    microblock_sequence: ANCHORED,
    microblock_canonical: true,
    execution_cost_read_count: 0,
    execution_cost_read_length: 0,
    execution_cost_runtime: 0,
    execution_cost_write_count: 0,
    execution_cost_write_length: 0,
    vm_error: null,
    events: [],
    tx_type: "contract_call",
    contract_call: { contract_id: VAULT, function_name: "set-paused", function_signature: "", function_args: [] },
  };
}

/** Answers the routes the chain layer uses, as the real API would for `state`; records every request. */
function stubRealApi(state: ChainState): string[] {
  const requests: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: string | URL | Request) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      requests.push(`${url.pathname}${url.search}`);
      if (url.origin !== API_URL) throw new Error(`unexpected request to ${url.href}`);
      const path = url.pathname;
      if (path === "/v2/info") {
        return json(200, {
          peer_version: 385875968,
          pox_consensus: "17f76e597bab45646956f38dd39573085d72cbc0",
          burn_block_height: state.node.burn,
          stable_pox_consensus: "8e0561978fc5506b68a589c402dad97e862edb59",
          stable_burn_block_height: state.node.burn - 1,
          server_version: "stacks-node 3.1.0.0.12",
          network_id: 2147483648,
          parent_network_id: 3669344250,
          stacks_tip_height: state.node.stacks,
          stacks_tip: "b1807a2d3f7f8c7922f7c1d60d7c34145ade05d789640dc7dc9ec1021e07bb54",
          stacks_tip_consensus_hash: "17f76e597bab45646956f38dd39573085d72cbc0",
          unanchored_tip: "0000000000000000000000000000000000000000000000000000000000000000",
          tenure_height: 523,
          exit_at_block_height: null,
          is_fully_synced: true,
        });
      }
      if (path === "/extended") {
        return json(200, {
          server_version: "stacks-blockchain-api v8",
          status: "ready",
          chain_tip: {
            block_height: state.indexer.stacks,
            block_hash: blockHash(state.indexer.stacks),
            index_block_hash: indexBlockHash(state.indexer.stacks),
            microblock_hash: "0x",
            microblock_sequence: 0,
            burn_block_height: state.indexer.burn,
          },
        });
      }
      if (path === `/extended/v2/smart-contracts/${VAULT}/logs`) return logsPage(state, url.searchParams);
      if (path === "/extended/v1/tx/multiple") {
        const list: Record<string, unknown> = {};
        for (const id of url.searchParams.getAll("tx_id")) {
          const row = state.rows.find((r) => r.txid === id && r.blockHeight <= state.indexer.stacks);
          list[id] = row ? { found: true, result: minedTransaction(row) } : { found: false, result: { tx_id: id } };
        }
        return json(200, list);
      }
      const block = /^\/extended\/v2\/blocks\/(\d+)$/.exec(path);
      if (block) {
        const height = Number(block[1]);
        if (height > state.indexer.stacks) return json(404, { statusCode: 404, error: "Not Found", message: "Block not found" });
        return json(200, {
          canonical: true,
          height,
          hash: blockHash(height),
          index_block_hash: indexBlockHash(height),
          parent_block_hash: blockHash(height - 1),
          parent_index_block_hash: indexBlockHash(height - 1),
          burn_block_height: state.rows.find((r) => r.blockHeight === height)?.burnHeight ?? state.indexer.burn,
          burn_block_hash: `0x${"d".repeat(64)}`,
          burn_block_time: 1594233639,
          burn_block_time_iso: "2020-08-27T16:41:26.000Z",
          block_time: 1594233639,
          block_time_iso: "2020-08-27T16:41:26.000Z",
          miner_txid: `0x${"e".repeat(64)}`,
          tx_count: 1,
          execution_cost_read_count: 0,
          execution_cost_read_length: 0,
          execution_cost_runtime: 0,
          execution_cost_write_count: 0,
          execution_cost_write_length: 0,
        });
      }
      throw new Error(`unexpected request to ${url.href}`);
    }),
  );
  return requests;
}

const hexOf = (value: ClarityValue) => `0x${Cl.serialize(value)}`;
/** A governance print the vault makes (contracts/liquidity-pool.clar): recorded by the sync, moves no money. */
const PAUSED = hexOf(Cl.tuple({ event: Cl.stringAscii("paused-set"), paused: Cl.bool(false) }));
const txidOf = (n: number) => `0xa${n.toString(16).padStart(63, "0")}`;

function row(n: number, blockHeight: number, burnHeight: number, txIndex = 0, eventIndex = 0): Row {
  return { txid: txidOf(n), blockHeight, burnHeight, txIndex, eventIndex, hex: PAUSED, repr: "(tuple (event \"paused-set\") (paused false))" };
}

beforeEach(() => {
  configureChain();
  vi.stubEnv("SYNC_CONFIRMATIONS", "6");
  vi.stubEnv("SYNC_CONFIRMATIONS_BURN_BLOCKS", "1");
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

// ---------------------------------------------------------------------------
// The chainhook confirmer confirms as the poller does

describe("chainhook confirmer vs the confirmation rule (min of node and indexer tips, counted in burn blocks)", () => {
  /**
   * A print in the newest tenure: ten Stacks blocks on top (Nakamoto mines a
   * Stacks block every few seconds) but no burn block yet. The poller holds it
   * (SYNC_CONFIRMATIONS_BURN_BLOCKS=1); a delivered block must wait the same.
   */
  const sameTenure = (): ChainState => ({
    rows: [row(1, 100, 50)],
    node: { stacks: 110, burn: 50 },
    indexer: { stacks: 110, burn: 50 },
  });

  it("the poller holds a print with no burn block on top of its tenure (confirmations in burn blocks)", async () => {
    stubRealApi(sameTenure());
    const t = newBackend();
    const result = await t.action(internal.eventSync.syncVaultEvents, {});
    expect(result.recorded).toBe(0);
    expect(result.waitingForConfirmations).toBe(1);
  });

  it("the confirmer holds the same delivered print until a burn block is on top of its tenure, then applies it", async () => {
    const state = sameTenure();
    stubRealApi(state);
    const t = newBackend();
    const delivered = { block: { height: 100n, hash: indexBlockHash(100) }, prints: [{ txid: txidOf(1), hex: PAUSED }], attempt: 0 };
    const held = await t.action(internal.chainhooks.confirmDeliveredBlock, delivered);
    expect(held.outcome).toBe("waiting");
    expect(held.recorded).toBe(0);
    // The next tenure starts: one burn block on top of the print's.
    state.node.burn = 51;
    state.indexer.burn = 51;
    const applied = await t.action(internal.chainhooks.confirmDeliveredBlock, delivered);
    expect(applied).toMatchObject({ outcome: "applied", recorded: 1, applied: 0, rejected: 0 });
  });

  it("with the API's indexer behind the node, the confirmer counts depth from the lower of the two tips", async () => {
    // Indexer at the print's own block (0 confirmations as the API sees it), node 10 blocks on; burn depth ample.
    const state: ChainState = { rows: [row(1, 100, 40)], node: { stacks: 110, burn: 60 }, indexer: { stacks: 100, burn: 60 } };
    stubRealApi(state);
    const t = newBackend();
    const polled = await t.action(internal.eventSync.syncVaultEvents, {});
    expect(polled.recorded).toBe(0); // the poller confirms against min(node, indexer): 100 - 6 < 100
    const delivered = { block: { height: 100n, hash: indexBlockHash(100) }, prints: [{ txid: txidOf(1), hex: PAUSED }], attempt: 0 };
    const held = await t.action(internal.chainhooks.confirmDeliveredBlock, delivered);
    expect(held.outcome).toBe("waiting");
    expect(held.recorded).toBe(0);
    // The indexer catches up to six blocks on top of the print.
    state.indexer.stacks = 106;
    const applied = await t.action(internal.chainhooks.confirmDeliveredBlock, delivered);
    expect(applied).toMatchObject({ outcome: "applied", recorded: 1 });
  });

});

// ---------------------------------------------------------------------------
// What was checked and matches

describe("v2 logs walk against the real cursor semantics (pg-store-v2.ts getSmartContractEvents)", () => {
  /** 250 prints, a few per block, several per transaction. */
  function manyRows(): Row[] {
    const rows: Row[] = [];
    let n = 0;
    for (let height = 10; rows.length < 250; height++) {
      for (let tx = 0; tx < 2; tx++) for (let event = 1; event <= 2; event++) rows.push(row(++n, height, 5 + Math.floor(height / 10), tx, event));
    }
    return rows.slice(0, 250);
  }

  it("walks up from the last applied position, each row once, in chain order, about two requests per 100 rows", async () => {
    const rows = manyRows();
    const state: ChainState = { rows, node: { stacks: 1_000, burn: 500 }, indexer: { stacks: 1_000, burn: 500 } };
    const requests = stubRealApi(state);
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    const start = rows[37] as Row;
    const seen: PlacedLog[] = [];
    for await (const page of logsAbove(client, VAULT, { after: cursorOf(start) })) seen.push(...page);
    expect(seen.map((l) => l.cursor)).toEqual(rows.slice(38).map(cursorOf));
    // 212 rows above the position: 3 logs pages (+1 for the newest) and 3 tx/multiple lookups.
    expect(requests.length).toBeLessThanOrEqual(8);
    // Each lookup asks for one event per transaction, not the API's default 20 (events come from the logs).
    const lookups = requests.filter((r) => r.startsWith("/extended/v1/tx/multiple?"));
    expect(lookups.length).toBeGreaterThan(0);
    for (const lookup of lookups) expect(new URLSearchParams(lookup.split("?")[1]).get("event_limit")).toBe("1");
  });

  it("from no position, starts at the contract's first print (offset jumps, then prev_cursor)", async () => {
    const rows = manyRows();
    stubRealApi({ rows, node: { stacks: 1_000, burn: 500 }, indexer: { stacks: 1_000, burn: 500 } });
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    const seen: PlacedLog[] = [];
    for await (const page of logsAbove(client, VAULT, { after: null })) seen.push(...page);
    expect(seen.map((l) => l.cursor)).toEqual(rows.map(cursorOf));
  });

  it("reads the API's 404 'Cursor not found' as nothing at or below the cursor", async () => {
    stubRealApi({ rows: [row(1, 100, 50)], node: { stacks: 200, burn: 60 }, indexer: { stacks: 200, burn: 60 } });
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    expect(await client.getContractLogs(VAULT, { limit: 100, cursor: "99:2147483647:0:0" })).toBeNull();
    const page = await client.getContractLogs(VAULT, { limit: 100, cursor: "100:2147483647:5:5" });
    expect(page?.cursor).toBe("100:2147483647:0:0");
    expect(page?.next_cursor).toBeNull();
    expect(page?.prev_cursor).toBeNull();
  });
});

describe("node answers the client reads as the node sends them", () => {
  it("a text/plain 400 'Failed to decode: …' from POST /v2/transactions is a rejection, not an outage", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("Failed to decode: Failed to deserialize posted transaction: bad", { status: 400, headers: { "content-type": "text/plain" } })));
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    const result = await client.broadcast(new Uint8Array([0, 1, 2]));
    expect(result).toMatchObject({ accepted: false, message: expect.stringContaining("Failed to decode") });
  });

  it("the node's JSON rejection (MemPoolRejection::into_json) keeps reason and reason_data", async () => {
    const body = {
      error: "transaction rejected",
      reason: "BadNonce",
      reason_data: { actual: 4, expected: 0, is_origin: true, principal: "ST2ZRX0K27GW0SP3GJCEMHD95TQGJMKB7G9Y0X1MH" },
      txid: "caf6fd60ae05b0c2d19ef14ab6a7670b1095d117fa7c80224c74e76214d0a791",
    };
    vi.stubGlobal("fetch", vi.fn(async () => json(400, body)));
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    expect(await client.broadcast(new Uint8Array([0]))).toMatchObject({ accepted: false, reason: "BadNonce", reasonData: body.reason_data });
  });

  it("a 400 NoEstimateAvailable from POST /v2/fees/transaction means no estimate; the transfer rate is a bare integer", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: string) =>
        input.endsWith("/v2/fees/transfer")
          ? json(200, 1)
          : json(400, { error: "Estimation could not be performed", reason: "NoEstimateAvailable", reason_data: { message: "No estimate available for the provided payload." } }),
      ),
    );
    const client = new HiroClient({ baseUrl: API_URL, maxAttempts: 1 });
    expect(await client.estimateFees("00", 180)).toBeNull();
    expect(await client.getTransferFeeRate()).toBe(1n);
  });

  it("real bodies parse: /v2/info, a fee estimate, v3 nonces, a v2 logs page, tx/multiple with every current tx_status", () => {
    expect(coreInfoSchema.safeParse({ burn_block_height: 16, stacks_tip_height: 1832097, tenure_height: 523, is_fully_synced: false }).success).toBe(true);
    expect(feeEstimateSchema.safeParse({ estimations: [{ fee: 17, fee_rate: 1.2410714285714286 }, { fee: 125, fee_rate: 8.958333333333332 }, { fee: 140, fee_rate: 10 }] }).success).toBe(true);
    expect(noncesSchema.safeParse({ next_nonce: 6, last_confirmed_nonce: 2, mempool: { last_nonce: 5, pending_nonces: [], missing_nonces: [3, 4] } }).success).toBe(true);
    expect(
      contractLogsPageSchema.safeParse({ limit: 20, offset: 0, total: 0, next_cursor: null, prev_cursor: null, cursor: null, results: [] }).success,
    ).toBe(true);
    const r = row(1, 100, 50);
    for (const status of ["success", "abort_by_response", "abort_by_post_condition", "problematic_skipped"]) {
      const list = { [r.txid]: { found: true, result: minedTransaction(r, status) } };
      expect(placedTransactionListSchema.safeParse(list).success, status).toBe(true);
      expect(transactionListSchema.safeParse(list).success, status).toBe(true);
    }
  });
});
