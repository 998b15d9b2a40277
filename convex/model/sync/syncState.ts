/** Named chain heights and cursors kept by the sync jobs. */
import { compareLogCursors } from "../../chain/contractLogs";
import type { Reader, Writer } from "../database";

export const SYNC_KEYS = {
  /** Every vault event in blocks at or below this height has been applied. */
  vaultEventsSyncedThroughHeight: "vaultEvents.syncedThroughHeight",
  /** The log position of the last vault event the sync has processed, and that event (see SyncPosition). */
  vaultEventsPosition: "vaultEvents.position",
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

/**
 * Where the event sync's walk up the vault's logs stands: the last event it
 * has processed (applied, recorded as malformed, or passed over because its
 * transaction did not run), by its log cursor and by what it was, so the next
 * run can tell whether that event is still there (README "Chain integration").
 */
export type SyncPosition = { cursor: string; txid: string; eventIndex: number };

const STORED_POSITION = /^([0-9]+):([0-9]+):([0-9]+):([0-9]+) (0x[0-9a-f]{64})$/;

async function positionRow(ctx: Reader, key: SyncKey) {
  return await ctx.db
    .query("syncState")
    .withIndex("by_key", (q) => q.eq("key", key))
    .unique();
}

export async function readSyncPosition(ctx: Reader, key: SyncKey): Promise<SyncPosition | null> {
  const stored = (await positionRow(ctx, key))?.cursor;
  const match = stored === undefined ? null : STORED_POSITION.exec(stored);
  if (!match) return null;
  return { cursor: `${match[1]}:${match[2]}:${match[3]}:${match[4]}`, txid: match[5] as string, eventIndex: Number(match[4]) };
}

/**
 * Records the position: forward only, unless `rewind` (after a reorg the walk
 * steps back on purpose). An overlapping run that is behind cannot move it back.
 */
export async function writeSyncPosition(ctx: Writer, key: SyncKey, position: SyncPosition | null, rewind = false): Promise<void> {
  const row = await positionRow(ctx, key);
  if (position === null) {
    if (row && rewind) await ctx.db.delete("syncState", row._id);
    return;
  }
  const current = row ? await readSyncPosition(ctx, key) : null;
  if (current && !rewind && compareLogCursors(position.cursor, current.cursor) <= 0) return;
  const value = { value: BigInt(position.cursor.split(":")[0] as string), cursor: `${position.cursor} ${position.txid}`, updatedAt: Date.now() };
  if (!row) await ctx.db.insert("syncState", { key, ...value });
  else await ctx.db.patch("syncState", row._id, value);
}
