import { describe, expect, it } from "vitest";

import { MEMPOOL_TX_STATUSES, MINED_TX_STATUSES, type TransactionInfo } from "../../convex/chain/hiroSchemas";
import { mayStillConfirm, standingOf } from "../../convex/chain/transactionStanding";

const base = { tx_id: `0x${"ab".repeat(32)}`, nonce: 3, fee_rate: "1200", sender_address: "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG" };
const mined = (tx_status: (typeof MINED_TX_STATUSES)[number], canonical = true): TransactionInfo => ({
  ...base,
  tx_status,
  block_height: 120,
  block_hash: `0x${"cd".repeat(32)}`,
  tx_index: 0,
  canonical,
  tx_result: { hex: "0x08010000000000000000000000000000000000d5", repr: "(err u213)" },
});

describe("standingOf", () => {
  it("reads every mined status: only success succeeded, the outcome names status and result", () => {
    for (const status of MINED_TX_STATUSES) {
      expect(standingOf(mined(status))).toEqual({
        kind: "mined",
        canonical: true,
        succeeded: status === "success",
        outcome: `${status} (err u213)`,
        fee: 1200n,
      });
    }
  });

  it("reads the mempool: pending waits with its fee, every other status is dropped", () => {
    for (const status of MEMPOOL_TX_STATUSES) {
      const standing = standingOf({ ...base, tx_status: status });
      expect(standing).toEqual(status === "pending" ? { kind: "pending", fee: 1200n } : { kind: "dropped" });
    }
  });

  it("knows nothing of a txid the API does not know, and takes no fee that is not a whole number", () => {
    expect(standingOf(null)).toEqual({ kind: "unknown" });
    expect(standingOf(undefined)).toEqual({ kind: "unknown" });
    expect(standingOf({ ...base, fee_rate: "12.5", tx_status: "pending" })).toEqual({ kind: "pending", fee: null });
  });

  it("can still confirm only while pending or mined on the canonical chain", () => {
    expect(mayStillConfirm(standingOf({ ...base, tx_status: "pending" }))).toBe(true);
    expect(mayStillConfirm(standingOf(mined("success")))).toBe(true);
    expect(mayStillConfirm(standingOf(mined("success", false)))).toBe(false);
    expect(mayStillConfirm(standingOf({ ...base, tx_status: "dropped_replace_by_fee" }))).toBe(false);
    expect(mayStillConfirm(standingOf(null))).toBe(false);
  });
});
