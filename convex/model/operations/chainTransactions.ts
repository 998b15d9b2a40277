/**
 * The database side of a backend-signed transaction's life. Every status it
 * writes comes from the transition table in `domain/transactionStates.ts`
 * (drawn in docs/transaction-states.md), through `transition` below: no other
 * code here patches `status`. Nonces come from one counter document, so
 * concurrent senders can neither skip nor reuse one (Convex serializes the
 * writes).
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { Writer } from "../database";
import { raiseAlert } from "../alerts";
import { poolError } from "../../domain/errors";
import { inBaseUnits } from "../../domain/money";
import {
  INITIAL_STATUS,
  isTerminal,
  MAX_SEND_ATTEMPTS,
  nextStatus,
  refusalEvent,
  type TransactionEvent,
  type TransactionStatus,
} from "../../domain/transactionStates";
import { readSyncValue, SYNC_KEYS, writeSyncValue } from "../sync/syncState";
import { VAULT_FUNCTIONS } from "../../chain/vault";

export { MAX_SEND_ATTEMPTS };

type ChainTransaction = Doc<"chainTransactions">;
type Patch = Partial<Omit<ChainTransaction, "_id" | "_creationTime" | "status">>;

async function requireTransaction(ctx: Writer, id: Id<"chainTransactions">): Promise<ChainTransaction> {
  const tx = await ctx.db.get("chainTransactions", id);
  if (!tx) throw new Error(`no chain transaction ${id}`);
  return tx;
}

/**
 * Applies `event` to the row: writes `patch` with the status the table gives.
 * An event the table refuses is a bug (or a row another run moved on
 * meanwhile): nothing is written, and the mutation fails rather than put the
 * row somewhere the table does not lead.
 */
async function transition(
  ctx: Writer,
  tx: ChainTransaction,
  event: TransactionEvent,
  patch: Patch,
): Promise<TransactionStatus> {
  const next = nextStatus(tx.status, event);
  if (!next.ok) throw new Error(`chain transaction ${tx._id}: ${next.reason}`);
  await ctx.db.patch("chainTransactions", tx._id, { ...patch, status: next.status });
  return next.status;
}

/** Whether the table lets `event` happen to the row now (for steps that skip a row instead of failing). */
function allows(tx: ChainTransaction, event: TransactionEvent): boolean {
  return nextStatus(tx.status, event).ok;
}

/** The transaction's nonce, assigning the next one if it has none yet. */
export async function claimNonce(ctx: Writer, id: Id<"chainTransactions">): Promise<bigint> {
  const tx = await requireTransaction(ctx, id);
  if (tx.nonce !== undefined) return tx.nonce;
  const next = await readSyncValue(ctx, SYNC_KEYS.backendNextNonce);
  if (next === null) throw poolError("CHAIN_UNAVAILABLE", "the backend nonce has not been read from the chain yet");
  await transition(ctx, tx, "signed", { nonce: next, updatedAt: Date.now() });
  await writeSyncValue(ctx, SYNC_KEYS.backendNextNonce, next + 1n);
  return next;
}

/**
 * Resets the counter to what the chain expects next. Transactions that were
 * given a nonce at or above it but never accepted by the node give it back
 * and get a fresh one when they are sent again.
 */
export async function resyncNonce(ctx: Writer, chainNext: bigint, pending: ChainTransaction[]): Promise<void> {
  await writeSyncValue(ctx, SYNC_KEYS.backendNextNonce, chainNext);
  for (const tx of pending) {
    if (allows(tx, "nonce-released") && tx.nonce !== undefined && tx.nonce >= chainNext) {
      await transition(ctx, tx, "nonce-released", { nonce: undefined, updatedAt: Date.now() });
    }
  }
}

/** Records a signed txid before it is broadcast (see `signedTxids`). */
export async function recordSigned(ctx: Writer, id: Id<"chainTransactions">, txid: string): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const signed = tx.signedTxids ?? [];
  if (!signed.includes(txid)) await transition(ctx, tx, "signed", { signedTxids: [...signed, txid] });
}

/**
 * Gives back a nonce the chain no longer accepts. Only for a transaction none
 * of whose signed versions reached the node (the caller checked), so sending
 * it again under a fresh nonce cannot run it twice.
 */
export async function releaseDeadNonce(ctx: Writer, id: Id<"chainTransactions">): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (!allows(tx, "nonce-released")) return;
  await transition(ctx, tx, "nonce-released", { nonce: undefined, updatedAt: Date.now() });
}

/** The events after which the node holds a version of the row: it is followed from `atHeight`. */
export type BroadcastEvent = Extract<TransactionEvent, "broadcast-accepted" | "found-on-node" | "replacement-accepted">;

export async function markBroadcast(
  ctx: Writer,
  id: Id<"chainTransactions">,
  event: BroadcastEvent,
  sent: { txid: string; fee: bigint; atHeight: bigint },
): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const replaced = tx.txid && tx.txid !== sent.txid ? [...(tx.replacedTxids ?? []), tx.txid] : tx.replacedTxids;
  await transition(ctx, tx, event, {
    txid: sent.txid,
    fee: sent.fee,
    broadcastAtHeight: sent.atHeight,
    replacedTxids: replaced,
    attempts: tx.attempts + 1,
    error: undefined,
    updatedAt: Date.now(),
  });
}

/** Mined successfully. Told again (a later run saw the same block), there is nothing to write. */
export async function markConfirmed(ctx: Writer, id: Id<"chainTransactions">): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (tx.status === "confirmed") return;
  await transition(ctx, tx, "mined", { updatedAt: Date.now() });
}

/**
 * Stuck, and replacing it would pay more than MAX_FEE_USTX: it waits at its
 * fee. Operators hear of it once per transaction, since only they can raise
 * the cap or wait out the congestion.
 */
export async function markStuckAtFeeCap(ctx: Writer, id: Id<"chainTransactions">, maxFee: bigint): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  if (tx.stuckAtFeeCapSince !== undefined) return;
  await transition(ctx, tx, "stuck-at-fee-cap", { stuckAtFeeCapSince: Date.now(), updatedAt: Date.now() });
  await raiseAlert(
    ctx,
    "transaction-stuck-at-fee-cap",
    `${tx.functionName} ${tx.txid ?? ""} is stuck at fee ${inBaseUnits(tx.fee ?? 0n, "STX")}; a replacement would exceed MAX_FEE_USTX ${maxFee}`,
    { id, txid: tx.txid, nonce: tx.nonce, fee: tx.fee },
  );
}

/** A refused attempt: retried later, or failed for good after MAX_SEND_ATTEMPTS. */
export async function markAttemptFailed(ctx: Writer, id: Id<"chainTransactions">, reason: string): Promise<void> {
  const tx = await requireTransaction(ctx, id);
  const attempts = tx.attempts + 1;
  if (refusalEvent(attempts) === "gave-up") {
    await fail(ctx, tx, "gave-up", `gave up after ${attempts} attempts: ${reason}`, { attempts });
    return;
  }
  await transition(ctx, tx, "refused", { attempts, error: reason, updatedAt: Date.now() });
}

/** Mined, and failed on chain: `reason` carries the node's status and the vault's result. */
export async function markAborted(ctx: Writer, id: Id<"chainTransactions">, reason: string): Promise<void> {
  await fail(ctx, await requireTransaction(ctx, id), "aborted", reason);
}

/** Given up by hand, whatever the node holds (README "Alerts": `transaction-failed`). */
export async function markAbandoned(ctx: Writer, id: Id<"chainTransactions">, reason: string): Promise<void> {
  await fail(ctx, await requireTransaction(ctx, id), "abandoned", reason);
}

/**
 * A lock or release whose block left the canonical chain must be mined
 * again: the row goes back to "broadcast" as if stuck since height 0, so
 * `follow` re-sends it (same nonce, higher fee) on the winning fork. Returns
 * false, writing nothing, for a row the table does not reopen (a pending or
 * failed one has no mined version to lose). For the event sync's reversal.
 */
export async function reopenAfterReorg(ctx: Writer, tx: ChainTransaction): Promise<boolean> {
  if (!allows(tx, "reorged")) return false;
  await transition(ctx, tx, "reorged", { broadcastAtHeight: 0n, updatedAt: Date.now() });
  return true;
}

/**
 * The transaction will not happen. Its collateral operations are marked
 * failed and what it held is let go: a settlement's policy goes back to
 * Active (so it can be settled again or expire) unless a part of it was
 * already paid, and an operator is alerted.
 * A row already confirmed or failed is left as it is: nothing is let go twice.
 */
async function fail(
  ctx: Writer,
  tx: ChainTransaction,
  event: Extract<TransactionEvent, "gave-up" | "aborted" | "abandoned">,
  reason: string,
  patch: Patch = {},
): Promise<void> {
  if (isTerminal(tx.status)) return;
  await transition(ctx, tx, event, { ...patch, error: reason, updatedAt: Date.now() });
  const ops = await ctx.db
    .query("vaultOperations")
    .withIndex("by_chain_transaction", (q) => q.eq("chainTransactionId", tx._id))
    .take(50);
  for (const op of ops) {
    await ctx.db.patch("vaultOperations", op._id, { status: "failed" });
    if (op.kind === "settle") {
      const policy = await ctx.db
        .query("policies")
        .withIndex("by_policy_id", (q) => q.eq("policyId", op.policyId))
        .unique();
      // Unpaid, it can be settled again or expire; once a part was paid (a settlement over the
      // outflow window's cap), it stays Exercised and the alert below is the operators' to act on.
      if (policy?.status === "Exercised" && policy.settledAmount === undefined) {
        await ctx.db.patch("policies", policy._id, { status: "Active", exercisedAmount: undefined, updatedAt: Date.now() });
      }
    }
  }
  await raiseAlert(ctx, "transaction-failed", `${tx.functionName} for policies ${tx.policyIds.join(",")} failed: ${reason}`, {
    txid: tx.txid,
    nonce: tx.nonce,
  });
}

/**
 * Splits a pending settlement larger than the vault's outflow window lets out
 * at once (its cap, `part`) into a payment of `part` now and the rest in a new
 * pending row, with a collateral operation of its own, that keeps the
 * settlement's place in the queue (`createdAt`; chain/sendGate.ts orders
 * settlements by it). Only a row never signed is split: a signed version for
 * the whole amount could still reach the chain. Returns the new row, or null
 * when nothing was split.
 */
export async function splitSettlement(ctx: Writer, id: Id<"chainTransactions">, part: bigint): Promise<Id<"chainTransactions"> | null> {
  const tx = await requireTransaction(ctx, id);
  const neverSigned = tx.nonce === undefined && (tx.signedTxids ?? []).length === 0 && tx.txid === undefined;
  if (tx.functionName !== VAULT_FUNCTIONS.settlePolicy || tx.status !== INITIAL_STATUS || !neverSigned) return null;
  if (part <= 0n || part >= tx.amount) return null;
  const rest = tx.amount - part;
  const now = Date.now();
  await ctx.db.patch("chainTransactions", tx._id, { amount: part, updatedAt: now });
  const restId = await ctx.db.insert("chainTransactions", {
    functionName: tx.functionName,
    status: INITIAL_STATUS,
    policyIds: tx.policyIds,
    token: tx.token,
    amount: rest,
    buyer: tx.buyer,
    attempts: 0,
    createdAt: tx.createdAt,
    updatedAt: now,
  });
  // A settlement row carries its one collateral operation (batchQueuedOperations).
  const operation = await ctx.db
    .query("vaultOperations")
    .withIndex("by_chain_transaction", (q) => q.eq("chainTransactionId", tx._id))
    .first();
  if (operation) {
    await ctx.db.patch("vaultOperations", operation._id, { amount: part });
    const { _id, _creationTime, ...fields } = operation;
    await ctx.db.insert("vaultOperations", { ...fields, amount: rest, chainTransactionId: restId });
  }
  return restId;
}
