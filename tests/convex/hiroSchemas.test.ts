/**
 * The zod schemas of the Hiro API answers the backend reads
 * (convex/chain/hiroSchemas.ts): exact parse results, every documented
 * transaction status, refusals with a clear reason; and the client's handling
 * of a switched-off route (410 Gone), without a server.
 */
import { describe, expect, it } from "vitest";

import { HiroClient, RouteGoneError, routeGoneOf } from "../../convex/chain/hiroClient";
import {
  contractLogsPageSchema,
  goneSchema,
  isDropped,
  MEMPOOL_TX_STATUSES,
  MINED_TX_STATUSES,
  noncesSchema,
  ranSuccessfully,
  transactionListSchema,
  transactionSchema,
} from "../../convex/chain/hiroSchemas";
import { isPoolError } from "../../convex/domain/errors";

const TXID = `0x${"ab".repeat(32)}`;
const OTHER_TXID = `0x${"cd".repeat(32)}`;
const SENDER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

/** A mined transaction as the API sends it: more fields than the schema keeps. */
function mined(status: string, txid = TXID) {
  return {
    tx_id: txid,
    tx_status: status,
    nonce: 7,
    fee_rate: "1000",
    sender_address: SENDER,
    sponsored: false,
    block_height: 42,
    block_hash: `0x${"11".repeat(32)}`,
    tx_index: 3,
    canonical: true,
    tx_result: { hex: "0x0809", repr: "(err none)" },
    event_count: 0,
    events: [],
    tx_type: "contract_call",
  };
}

function pending(status: string, txid = TXID) {
  return { tx_id: txid, tx_status: status, nonce: 8, fee_rate: "1500", sender_address: SENDER, receipt_time: 1_700_000_000, tx_type: "contract_call" };
}

const kept = { tx_id: TXID, nonce: 7, fee_rate: "1000", sender_address: SENDER };

describe("transaction statuses", () => {
  it("parses every documented mined status, problematic_skipped included, to exactly the fields used", () => {
    expect(MINED_TX_STATUSES).toEqual(["success", "abort_by_response", "abort_by_post_condition", "problematic_skipped"]);
    for (const status of MINED_TX_STATUSES) {
      expect(transactionSchema.parse(mined(status))).toEqual({
        ...kept,
        tx_status: status,
        block_height: 42,
        block_hash: `0x${"11".repeat(32)}`,
        tx_index: 3,
        canonical: true,
        tx_result: { hex: "0x0809", repr: "(err none)" },
      });
    }
  });

  it("parses every documented mempool status", () => {
    expect(MEMPOOL_TX_STATUSES).toEqual([
      "pending",
      "dropped_replace_by_fee",
      "dropped_replace_across_fork",
      "dropped_too_expensive",
      "dropped_stale_garbage_collect",
      "dropped_problematic",
    ]);
    for (const status of MEMPOOL_TX_STATUSES) {
      expect(transactionSchema.parse(pending(status))).toEqual({
        tx_id: TXID,
        tx_status: status,
        nonce: 8,
        fee_rate: "1500",
        sender_address: SENDER,
      });
    }
  });

  it("counts only success as run, and every dropped_* as dropped", () => {
    expect(MINED_TX_STATUSES.filter(ranSuccessfully)).toEqual(["success"]);
    expect(MEMPOOL_TX_STATUSES.filter(isDropped)).toEqual([
      "dropped_replace_by_fee",
      "dropped_replace_across_fork",
      "dropped_too_expensive",
      "dropped_stale_garbage_collect",
      "dropped_problematic",
    ]);
  });

  it("refuses a status the API does not document, naming it", () => {
    const parsed = transactionSchema.safeParse(mined("exploded"));
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toMatch(/tx_status/);
    expect(transactionSchema.safeParse(pending("dropped_for_fun")).success).toBe(false);
  });

  it("reads a tx/multiple batch holding a problematic_skipped transaction, a dropped one and an unknown one", () => {
    const batch = {
      [TXID]: { found: true, result: mined("problematic_skipped") },
      [OTHER_TXID]: { found: true, result: pending("dropped_problematic", OTHER_TXID) },
      "0xunknown": { found: false, result: { tx_id: "0xunknown" } },
    };
    expect(transactionListSchema.parse(batch)).toEqual({
      [TXID]: {
        found: true,
        result: {
          ...kept,
          tx_status: "problematic_skipped",
          block_height: 42,
          block_hash: `0x${"11".repeat(32)}`,
          tx_index: 3,
          canonical: true,
          tx_result: { hex: "0x0809", repr: "(err none)" },
        },
      },
      [OTHER_TXID]: {
        found: true,
        result: { tx_id: OTHER_TXID, tx_status: "dropped_problematic", nonce: 8, fee_rate: "1500", sender_address: SENDER },
      },
      "0xunknown": { found: false, result: { tx_id: "0xunknown" } },
    });
  });
});

const log = (overrides: Record<string, unknown> = {}) => ({
  event_index: 2,
  event_type: "smart_contract_log",
  tx_id: TXID,
  contract_log: { contract_id: `${SENDER}.liquidity-pool`, topic: "print", value: { hex: "0x0703", repr: "(ok u3)" } },
  ...overrides,
});

const page = (results: unknown[]) => ({
  limit: 50,
  offset: 0,
  total: results.length,
  next_cursor: null,
  prev_cursor: null,
  cursor: results.length > 0 ? "12:2147483647:0:2" : null,
  results,
});

describe("contract logs page (v2)", () => {
  it("keeps print logs and cursors exactly", () => {
    expect(contractLogsPageSchema.parse(page([log()]))).toEqual(page([log()]));
  });

  it("refuses a print log without tx_id, saying where, rather than passing it on with an undefined txid", () => {
    const { tx_id: _dropped, ...withoutTxid } = log();
    const parsed = contractLogsPageSchema.safeParse(page([log(), withoutTxid]));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path)).toEqual([["results", 1, "tx_id"]]);
  });

  it("refuses a malformed txid, value or cursor, and any element that is not a print log", () => {
    expect(contractLogsPageSchema.safeParse(page([log({ tx_id: "abc" })])).success).toBe(false);
    expect(contractLogsPageSchema.safeParse(page([log({ contract_log: { contract_id: "x", topic: "print" } })])).success).toBe(false);
    expect(contractLogsPageSchema.safeParse(page([log({ event_type: "stx_asset" })])).success).toBe(false);
    expect(contractLogsPageSchema.safeParse({ ...page([log()]), cursor: "12:0:2" }).success).toBe(false);
  });
});

describe("v3 nonces", () => {
  it("parses the v3 shape exactly", () => {
    const body = { next_nonce: 5, last_confirmed_nonce: 2, mempool: { last_nonce: 4, pending_nonces: [4], missing_nonces: [3] } };
    expect(noncesSchema.parse(body)).toEqual(body);
    const fresh = { next_nonce: 0, last_confirmed_nonce: null, mempool: { last_nonce: null, pending_nonces: [], missing_nonces: [] } };
    expect(noncesSchema.parse(fresh)).toEqual(fresh);
  });

  it("refuses the deprecated v1 shape and negative nonces", () => {
    expect(
      noncesSchema.safeParse({
        possible_next_nonce: 5,
        last_executed_tx_nonce: 2,
        last_mempool_tx_nonce: 4,
        detected_missing_nonces: [],
        detected_mempool_nonces: [],
      }).success,
    ).toBe(false);
    expect(noncesSchema.safeParse({ next_nonce: -1, last_confirmed_nonce: null, mempool: { last_nonce: null, pending_nonces: [], missing_nonces: [] } }).success).toBe(false);
  });
});

describe("a switched-off route (410 Gone)", () => {
  const GONE = { error: "Gone", message: "This endpoint has been disabled. See https://docs.hiro.so/stacks/api for more information" };

  it("parses the API's 410 body", () => {
    expect(goneSchema.parse(GONE)).toEqual(GONE);
    expect(goneSchema.safeParse({ message: "no error field" }).success).toBe(false);
  });

  it("is a coded CHAIN_UNAVAILABLE error naming the route, asked once, never retried", async () => {
    const asked: string[] = [];
    const client = new HiroClient({
      baseUrl: "http://api.invalid",
      fetch: async (input) => {
        asked.push(String(input));
        return Response.json(GONE, { status: 410 });
      },
      sleep: async () => undefined,
    });
    const error = await client.getContractLogs(`${SENDER}.liquidity-pool`, { limit: 50, offset: 100 }).catch((e: unknown) => e);
    expect(asked).toEqual([`http://api.invalid/extended/v2/smart-contracts/${SENDER}.liquidity-pool/logs?limit=50&offset=100`]);
    expect(error).toBeInstanceOf(RouteGoneError);
    expect(isPoolError(error, "CHAIN_UNAVAILABLE")).toBe(true);
    expect(routeGoneOf(error)?.route).toBe("/extended/v2/smart-contracts/{contract_id}/logs");
    expect((error as RouteGoneError).data.message).toBe(
      "Stacks API route /extended/v2/smart-contracts/{contract_id}/logs is switched off (410 Gone): This endpoint has been disabled. See https://docs.hiro.so/stacks/api for more information",
    );
  });

  it("names a route without a path parameter by its path, and copes with a 410 that is not JSON", async () => {
    const client = new HiroClient({ baseUrl: "http://api.invalid", fetch: async () => new Response("gone", { status: 410 }), sleep: async () => undefined });
    const error = await client.getTipHeight().catch((e: unknown) => e);
    expect((error as RouteGoneError).data.message).toBe("Stacks API route /v2/info is switched off (410 Gone)");
  });

  it("is not how any other failure reads", async () => {
    const client = new HiroClient({
      baseUrl: "http://api.invalid",
      fetch: async () => Response.json({ error: "nope" }, { status: 404 }),
      sleep: async () => undefined,
    });
    const error = await client.getTipHeight().catch((e: unknown) => e);
    expect(isPoolError(error, "CHAIN_UNAVAILABLE")).toBe(true);
    expect(routeGoneOf(error)).toBeNull();
  });
});
