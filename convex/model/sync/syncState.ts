/** Named chain heights and cursors kept by the sync jobs. */
import type { Reader, Writer } from "../database";

export const SYNC_KEYS = {
  /** Every vault event in blocks at or below this height has been applied. */
  vaultEventsSyncedThroughHeight: "vaultEvents.syncedThroughHeight",
  /** The next nonce the backend key will use; one writer hands them out. */
  backendNextNonce: "backend.nextNonce",
} as const;
export type SyncKey = (typeof SYNC_KEYS)[keyof typeof SYNC_KEYS];

export async function readSyncValue(ctx: Reader, key: SyncKey): Promise<bigint | null> {
  const row = await ctx.db
    .query("syncState")
    .withIndex("by_key", (q) => q.eq("key", key))
    .unique();
  return row?.value ?? null;
}

/** Sets a value outright (a nonce resynced from the chain may go down). */
export async function writeSyncValue(ctx: Writer, key: SyncKey, value: bigint): Promise<void> {
  const row = await ctx.db
    .query("syncState")
    .withIndex("by_key", (q) => q.eq("key", key))
    .unique();
  if (!row) await ctx.db.insert("syncState", { key, value, updatedAt: Date.now() });
  else await ctx.db.patch("syncState", row._id, { value, updatedAt: Date.now() });
}

/** Moves a height forward; never back (a reorg is handled by reversing events, not by rewinding this). */
export async function advanceSyncValue(ctx: Writer, key: SyncKey, value: bigint): Promise<void> {
  const row = await ctx.db
    .query("syncState")
    .withIndex("by_key", (q) => q.eq("key", key))
    .unique();
  if (!row) {
    await ctx.db.insert("syncState", { key, value, updatedAt: Date.now() });
  } else if (value > row.value) {
    await ctx.db.patch("syncState", row._id, { value, updatedAt: Date.now() });
  }
}
