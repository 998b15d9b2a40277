/**
 * The queue of collateral instructions for the vault: the seam between the
 * off-chain collateral lifecycle and the transaction layer. Off-chain effects
 * happen first (a lock reduces what providers can withdraw at once); the
 * on-chain instruction follows, and counts when its event syncs.
 */
import type { Id } from "../../_generated/dataModel";
import type { Writer } from "../database";
import type { Token } from "../../validators";
import { VAULT_FUNCTIONS, type BackendVaultFunction } from "../../chain/vault";
import { INITIAL_STATUS } from "../../domain/transactionStates";

/** `lock-collateral-aggregate` / `release-collateral-aggregate` take at most 50 policy ids. */
export const MAX_POLICIES_PER_BATCH = 50;

type Kind = "lock" | "release" | "settle";

const FUNCTION_OF = {
  lock: VAULT_FUNCTIONS.lockCollateralAggregate,
  release: VAULT_FUNCTIONS.releaseCollateralAggregate,
  settle: VAULT_FUNCTIONS.settlePolicy,
} as const satisfies Record<Kind, BackendVaultFunction>;

export async function queueVaultOperation(
  ctx: Writer,
  op: { kind: Kind; policyId: bigint; token: Token; amount: bigint; buyer?: string },
): Promise<void> {
  if (op.amount <= 0n) return;
  await ctx.db.insert("vaultOperations", { ...op, status: "queued", createdAt: Date.now() });
}

/**
 * Turns queued operations into chain transactions: up to 50 locks (or
 * releases) of one token become one aggregate call; each settlement is its
 * own call. Returns the transactions created. Bounded: one batch per kind and
 * token per call.
 *
 * It reads only operations created before this transaction began (to the
 * millisecond): an allocation or expiry that queues one meanwhile inserts
 * past the range read, so neither makes the other retry; its operation goes
 * in the next batch.
 */
export async function batchQueuedOperations(ctx: Writer): Promise<Id<"chainTransactions">[]> {
  const created: Id<"chainTransactions">[] = [];
  const now = Date.now();
  for (const kind of ["lock", "release", "settle"] as const) {
    for (const token of ["STX", "sBTC"] as const) {
      const queued = await ctx.db
        .query("vaultOperations")
        .withIndex("by_status_kind_token", (q) =>
          q.eq("status", "queued").eq("kind", kind).eq("token", token).lt("_creationTime", now + 1),
        )
        .take(MAX_POLICIES_PER_BATCH);
      if (queued.length === 0) continue;
      const groups = kind === "settle" ? queued.map((op) => [op]) : [queued];
      for (const group of groups) {
        const first = group[0]!;
        const txId = await ctx.db.insert("chainTransactions", {
          functionName: FUNCTION_OF[kind],
          status: INITIAL_STATUS,
          policyIds: group.map((op) => op.policyId),
          token,
          amount: group.reduce((sum, op) => sum + op.amount, 0n),
          buyer: first.buyer,
          attempts: 0,
          createdAt: now,
          updatedAt: now,
        });
        for (const op of group) {
          await ctx.db.patch("vaultOperations", op._id, { status: "submitted", chainTransactionId: txId });
        }
        created.push(txId);
      }
    }
  }
  return created;
}

/** Marks the operations of these policies confirmed once their event synced. */
export async function confirmVaultOperations(ctx: Writer, kind: Kind, policyIds: readonly bigint[]): Promise<void> {
  for (const policyId of policyIds) {
    const ops = await ctx.db
      .query("vaultOperations")
      .withIndex("by_policy_and_kind", (q) => q.eq("policyId", policyId).eq("kind", kind))
      .take(10);
    for (const op of ops) {
      if (op.status !== "confirmed") await ctx.db.patch("vaultOperations", op._id, { status: "confirmed" });
    }
  }
}
