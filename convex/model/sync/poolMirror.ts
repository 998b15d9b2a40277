/**
 * The vault's own totals per token (`poolMetrics`), mirrored from the synced
 * money events: what the vault reported holding and locking after each.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import type { Token, VaultEvent } from "../../validators";

/** The vault's own totals in `token` as the last synced event reported them; null before any. */
export async function findPoolMirror(ctx: Reader, token: Token): Promise<Doc<"poolMetrics"> | null> {
  return await ctx.db
    .query("poolMetrics")
    .withIndex("by_token", (q) => q.eq("token", token))
    .unique();
}

/**
 * Mirrors the vault's own totals, as the event reports them after the change.
 * Events are applied in chain order, so an older event never overwrites a
 * newer mirror.
 */
export async function syncPoolBalances(ctx: Writer, event: VaultEvent): Promise<void> {
  const metrics = await findPoolMirror(ctx, event.token);
  const mirror = {
    totalBalanceOnChain: event.totalBalance,
    totalLockedOnChain: event.totalLocked,
    lastEventBlockHeight: event.blockHeight,
    lastSyncedAt: Date.now(),
  };
  if (!metrics) {
    await ctx.db.insert("poolMetrics", { token: event.token, ...mirror });
  } else if (event.blockHeight >= metrics.lastEventBlockHeight) {
    await ctx.db.patch("poolMetrics", metrics._id, mirror);
  }
}
