/**
 * The life of a backend-signed transaction: pending → broadcast → confirmed,
 * or failed. Nonces come from one counter document, so concurrent senders can
 * neither skip nor reuse one (Convex serializes the writes).
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { MutationCtx } from "../../_generated/server";
import { raiseAlert } from "../alerts";
import { poolError } from "../../domain/errors";
import { readSyncValue, SYNC_KEYS, writeSyncValue } from "../sync/syncState";

export const MAX_SEND_ATTEMPTS = 5;

async function requireTransaction(ctx: MutationCtx, id: Id<"chainTransactions">): Promise<Doc<"chainTransactions">> {
  const tx = await ctx.db.get("chainTransactions", id);
  if (!tx) throw new Error(`no chain transaction ${id}`);
  return tx;
}

/** The transaction's nonce, assigning the next one if it has none yet. */
export async function claimNonce(ctx: MutationCtx, id: Id<"chainTransactions">): Promise<bigint> {
  const tx = await requireTransaction(ctx, id);
  if (tx.nonce !== undefined) return tx.nonce;
  const next = await readSyncValue(ctx, SYNC_KEYS.backendNextNonce);
  if (next === null) throw poolError("CHAIN_UNAVAILABLE", "the backend nonce has not been read from the chain yet");
  await ctx.db.patch("chainTransactions", id, { nonce: next, updatedAt: Date.now() });
  await writeSyncValue(ctx, SYNC_KEYS.backendNextNonce, next + 1n);
  return next;
}

/**
 * Resets the counter to what the chain expects next. Transactions that were
 * given a nonce at or above it but never accepted by the node give it back
 * and get a fresh one when they are sent again.
 */
export async function resyncNonce(ctx: MutationCtx, chainNext: bigint, pending: Doc<"chainTransactions">[]): Promise<void> {
  await writeSyncValue(ctx, SYNC_KEYS.backendNextNonce, chainNext);
  for (const tx of pending) {
    if (tx.status === "pending" && tx.nonce !== undefined && tx.nonce >= chainNext) {
      await ctx.db.patch("chainTransactions", tx._id, { nonce: undefined, updatedAt: Date.now() });
    }
  }
}

/** Records a signed txid before it is broadcast (see `signedTxids`). */
export async function recordSigned(ctx: MutationCtx, id: Id<"chainTransactions">, txid: string): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const signed = tx.signedTxids ?? [];
  if (!signed.includes(txid)) await ctx.db.patch("chainTransactions", id, { signedTxids: [...signed, txid] });
}

/**
 * Gives back a nonce the chain no longer accepts. Only for a transaction none
 * of whose signed versions reached the node (the caller checked), so sending
 * it again under a fresh nonce cannot run it twice.
 */
export async function releaseDeadNonce(ctx: MutationCtx, id: Id<"chainTransactions">): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (tx.status !== "pending") return;
  await ctx.db.patch("chainTransactions", id, { nonce: undefined, updatedAt: Date.now() });
}

export async function markBroadcast(
  ctx: MutationCtx,
  id: Id<"chainTransactions">,
  sent: { txid: string; fee: bigint; atHeight: bigint },
): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const replaced = tx.txid && tx.txid !== sent.txid ? [...(tx.replacedTxids ?? []), tx.txid] : tx.replacedTxids;
  await ctx.db.patch("chainTransactions", id, {
    status: "broadcast",
    txid: sent.txid,
    fee: sent.fee,
    broadcastAtHeight: sent.atHeight,
    replacedTxids: replaced,
    attempts: tx.attempts + 1,
    error: undefined,
    updatedAt: Date.now(),
  });
}

export async function markConfirmed(ctx: MutationCtx, id: Id<"chainTransactions">): Promise<void> {
  await ctx.db.patch("chainTransactions", id, { status: "confirmed", updatedAt: Date.now() });
}

/**
 * Stuck, and replacing it would pay more than MAX_FEE_USTX: it waits at its
 * fee. Operators hear of it once per transaction, since only they can raise
 * the cap or wait out the congestion.
 */
export async function markStuckAtFeeCap(ctx: MutationCtx, id: Id<"chainTransactions">, maxFee: bigint): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (tx.stuckAtFeeCapSince !== undefined) return;
  await ctx.db.patch("chainTransactions", id, { stuckAtFeeCapSince: Date.now(), updatedAt: Date.now() });
  await raiseAlert(
    ctx,
    "transaction-stuck-at-fee-cap",
    `${tx.functionName} ${tx.txid ?? ""} is stuck at fee ${tx.fee ?? 0n} µSTX; a replacement would exceed MAX_FEE_USTX ${maxFee}`,
    { id, txid: tx.txid, nonce: tx.nonce, fee: tx.fee },
  );
}

/** A failed attempt: retried later, or failed for good after MAX_SEND_ATTEMPTS. */
export async function markAttemptFailed(ctx: MutationCtx, id: Id<"chainTransactions">, reason: string): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const attempts = tx.attempts + 1;
  if (attempts >= MAX_SEND_ATTEMPTS) {
    await ctx.db.patch("chainTransactions", id, { attempts });
    await markFailed(ctx, id, `gave up after ${attempts} attempts: ${reason}`);
    return;
  }
  await ctx.db.patch("chainTransactions", id, { status: "pending", attempts, error: reason, updatedAt: Date.now() });
}

/**
 * The transaction will not happen. Its collateral operations are marked
 * failed and what it held is let go: a settlement's policy goes back to
 * Active (so it can be settled again or expire), and an operator is alerted.
 */
export async function markFailed(ctx: MutationCtx, id: Id<"chainTransactions">, reason: string): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (tx.status === "failed" || tx.status === "confirmed") return;
  await ctx.db.patch("chainTransactions", id, { status: "failed", error: reason, updatedAt: Date.now() });
  const ops = await ctx.db
    .query("vaultOperations")
    .withIndex("by_chain_transaction", (q) => q.eq("chainTransactionId", id))
    .take(50);
  for (const op of ops) {
    await ctx.db.patch("vaultOperations", op._id, { status: "failed" });
    if (op.kind === "settle") {
      const policy = await ctx.db
        .query("policies")
        .withIndex("by_policy_id", (q) => q.eq("policyId", op.policyId))
        .unique();
      if (policy?.status === "Exercised") {
        await ctx.db.patch("policies", policy._id, { status: "Active", updatedAt: Date.now() });
      }
    }
  }
  await raiseAlert(ctx, "transaction-failed", `${tx.functionName} for policies ${tx.policyIds.join(",")} failed: ${reason}`, {
    txid: tx.txid,
    nonce: tx.nonce,
  });
}
