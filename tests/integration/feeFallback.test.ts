/**
 * What the backend pays when the node has no fee estimate, and how it reads
 * a broadcast the node could not even decode — against the local server over
 * real HTTP (README, "Chain integration").
 *
 * A node estimates a contract call only from samples of that function taken
 * from mined blocks, and only the backend calls lock, release and settle: on a
 * brand-new vault the node answers 400 NoEstimateAvailable for them. The
 * backend then pays the node's transfer fee rate (GET /v2/fees/transfer; 1
 * µSTX per byte when the node has none either) times the signed transaction's
 * length, at least its floor, at most MAX_FEE_USTX. The server's estimator
 * is set through POST /_local/fee-estimator. The arithmetic alone:
 * tests/convex/feeFallback.test.ts.
 */
import { describe, expect, it, vi } from "vitest";

import type { Doc, Id } from "../../convex/_generated/dataModel";
import { signVaultCall } from "../../convex/chain/backendTransactions";
import { HiroClient } from "../../convex/chain/hiroClient";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { readChainConfig } from "../../convex/config";
import {
  apiTx,
  backend,
  expectQuiet,
  follow,
  localPost,
  middleEstimate,
  MIN_FEE,
  pendingRow,
  row,
  send,
  stack,
  useBackendStack,
  withFeeCap,
} from "./backendTransactionsFixtures";
import { OPERATOR_KEY, mine } from "./stack";

useBackendStack({ funded: true });

const NO_ESTIMATE = {
  error: "Estimation could not be performed",
  reason: "NoEstimateAvailable",
  reason_data: { message: "No estimate available for the provided payload." },
};

/** Lengths of the signed calls below, in bytes (deterministic: fixed-width nonce, fee and signature). */
const SHORT_LOCK_BYTES = 205;
const LONG_RELEASE_BYTES = 1_058;
const LONG_LOCK_BYTES = 1_055;

async function setEstimator(change: { supported?: boolean; transferRate?: number | null }): Promise<void> {
  const response = await localPost("/_local/fee-estimator", change);
  expect(response.status, await response.clone().text()).toBe(200);
}

/** What the node answers the backend's estimate request for this call. */
async function estimateAnswer(tx: Doc<"chainTransactions">): Promise<{ status: number; body: unknown }> {
  const draft = await signVaultCall(readChainConfig(process.env), tx, { nonce: tx.nonce ?? 0n, fee: 0n, privateKey: OPERATOR_KEY });
  const response = await localPost("/v2/fees/transaction", { transaction_payload: draft.payloadHex, estimated_len: draft.byteLength });
  return { status: response.status, body: await response.json() };
}

/** The bytes the node holds for `txid`: what the backend signed and broadcast. */
function lengthOnNode(txid: string): number {
  const record = stack.server.chain.mempool.get(txid.replace(/^0x/, ""));
  if (!record) throw new Error(`the node does not hold ${txid}`);
  return record.raw.length;
}

/** A pending lock or release naming 50 policies (the vault's list maximum): over 1,000 bytes signed. */
async function longRow(
  functionName: typeof VAULT_FUNCTIONS.lockCollateralAggregate | typeof VAULT_FUNCTIONS.releaseCollateralAggregate,
): Promise<Id<"chainTransactions">> {
  return await backend().run(async (ctx) => {
    const now = Date.now();
    return await ctx.db.insert("chainTransactions", {
      functionName,
      status: "pending",
      policyIds: Array.from({ length: 50 }, (_, i) => 900_000n + BigInt(i)),
      token: "STX",
      amount: 1n,
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    });
  });
}

async function mineAndConfirm(count: number): Promise<void> {
  await mine(stack.server, 1);
  expect(await follow()).toEqual({ confirmed: count, failed: 0, replaced: 0 });
}

describe("the fee when the node has no estimate", () => {
  it("sends a brand-new vault's first lock at the transfer rate × its signed length, capped, then at the estimate once locks are sampled", async () => {
    const firstId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
    // No lock was ever mined on this chain: the node has nothing to estimate it from.
    expect(await estimateAnswer(await row(firstId))).toEqual({ status: 400, body: NO_ESTIMATE });
    await setEstimator({ transferRate: 5 });

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const first = await row(firstId);
    expect(lengthOnNode(first.txid!)).toBe(SHORT_LOCK_BYTES);
    // 5 µSTX per byte × 205 bytes, above the 1,000 µSTX floor.
    expect(first).toMatchObject({ status: "broadcast", fee: 1_025n, attempts: 1 });
    expect((await apiTx(first.txid!)).fee_rate).toBe("1025");

    // Pending is not mined: still no estimate. A rate far above the cap pays the cap.
    await setEstimator({ transferRate: 1_000 });
    const cappedId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 2n);
    expect((await estimateAnswer(await row(cappedId))).status).toBe(400);
    await withFeeCap(5_000n, async () => {
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    });
    expect(await row(cappedId)).toMatchObject({ status: "broadcast", fee: 5_000n });

    await mineAndConfirm(2);
    // Mined: the node now estimates locks, and the backend goes back to its estimate (here below
    // the floor), whatever the transfer rate says.
    const sampledId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 3n);
    expect((await estimateAnswer(await row(sampledId))).status).toBe(200);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sampled = await row(sampledId);
    expect(await middleEstimate(sampled)).toBeLessThan(MIN_FEE);
    expect(sampled.fee).toBe(MIN_FEE);
    await mineAndConfirm(1);
    await setEstimator({ transferRate: 1 });
    await expectQuiet();
  });

  it("pays the minimum rate, 1 µSTX per byte, when the node has no transfer rate either", async () => {
    await setEstimator({ transferRate: null });
    try {
      const id = await longRow(VAULT_FUNCTIONS.releaseCollateralAggregate);
      expect(await estimateAnswer(await row(id))).toEqual({ status: 400, body: NO_ESTIMATE });
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      const sent = await row(id);
      expect(lengthOnNode(sent.txid!)).toBe(LONG_RELEASE_BYTES);
      // Over 1,000 bytes: above the floor, so exactly one micro-STX per byte.
      expect(sent.fee).toBe(BigInt(LONG_RELEASE_BYTES));
      await mineAndConfirm(1);
    } finally {
      await setEstimator({ transferRate: 1 });
    }
    await expectQuiet();
  });

  it("falls back on a node without a fee estimator ('Fee estimation not supported on this node'), never below the floor", async () => {
    await setEstimator({ supported: false });
    try {
      const shortId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
      const longId = await longRow(VAULT_FUNCTIONS.lockCollateralAggregate);
      // Locks have been mined, but such a node estimates nothing.
      expect(await estimateAnswer(await row(shortId))).toEqual({ status: 400, body: "Fee estimation not supported on this node" });
      expect(await send()).toEqual({ broadcast: 2, rejected: 0 });
      // It reports the minimum transfer rate: the short lock pays the floor, the long one its length.
      expect((await row(shortId)).fee).toBe(MIN_FEE);
      const long = await row(longId);
      expect(lengthOnNode(long.txid!)).toBe(LONG_LOCK_BYTES);
      expect(long.fee).toBe(BigInt(LONG_LOCK_BYTES));
      await mineAndConfirm(2);
    } finally {
      await setEstimator({ supported: true });
    }
    await expectQuiet();
  });
});

describe("a broadcast refused in text/plain", () => {
  it("is a refusal of that transaction (Unparseable, with the node's text), not an outage; the next run sends it", async () => {
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
    // Bytes the node cannot decode (an unknown transaction version) are refused before the
    // mempool, as text/plain "Failed to decode: ...".
    const broadcast = HiroClient.prototype.broadcast;
    const garble = vi.spyOn(HiroClient.prototype, "broadcast").mockImplementationOnce(async function (this: HiroClient, bytes: Uint8Array) {
      const garbled = bytes.slice();
      garbled[0] = 0xff;
      return await broadcast.call(this, garbled);
    });
    try {
      expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    } finally {
      garble.mockRestore();
    }
    const refused = await row(id);
    expect(refused).toMatchObject({
      status: "pending",
      attempts: 1,
      error: "Unparseable: Failed to decode: Failed to deserialize posted transaction: Could not parse 255 as TransactionVersion",
    });

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    expect(await row(id)).toMatchObject({ status: "broadcast", nonce: refused.nonce, attempts: 2 });
    await mineAndConfirm(1);
    await expectQuiet();
  });
});
