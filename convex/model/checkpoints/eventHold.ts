/**
 * The hold on applying vault events while a checkpoint snapshot is taken
 * (README "Checkpoints", "The consistent snapshot").
 *
 * A provider's balance and record change only when a synced vault event is
 * applied or reversed (model/sync/vaultEvents.ts, model/sync/reversal.ts: the
 * ledger's deposit, withdrawal, yield and payout changes, and the record
 * mirror; locks, releases and reservations move `locked` and `reserved`, never
 * the total a leaf carries). So a snapshot that pages through the books is
 * consistent if no event is applied between its pages: it takes this hold, and
 * every application and reversal first checks it and refuses with
 * `EVENTS_HELD`, changing nothing. The event sync then ends its run where it
 * is and the next cron run carries on; the chainhook confirmer checks the block
 * again later; a rollback delivery is answered 503, so Chainhooks delivers it
 * again.
 *
 * Convex runs mutations serializably: an application that read "no hold"
 * and the mutation that takes the hold cannot both commit as if the other had
 * not happened, so the snapshot sees every event applied before it and none
 * after. A hold past `expiresAt` counts for nothing, so a snapshot that
 * crashed cannot stop the sync for good; its run is then abandoned.
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import { poolError } from "../../domain/errors";

/** Longest a snapshot may hold the events: 10,000 providers take 20 pages of a few hundred milliseconds. */
export const SNAPSHOT_HOLD_MS = 5 * 60_000;

const HOLDER = "checkpoint-snapshot" as const;

async function holdRow(ctx: Reader): Promise<Doc<"eventHolds"> | null> {
  return await ctx.db
    .query("eventHolds")
    .withIndex("by_holder", (q) => q.eq("holder", HOLDER))
    .unique();
}

/** The hold in force at `now`, if any. */
export async function activeHold(ctx: Reader, now: number = Date.now()): Promise<Doc<"eventHolds"> | null> {
  const hold = await holdRow(ctx);
  return hold !== null && hold.expiresAt > now ? hold : null;
}

/** Refuses with `EVENTS_HELD` while a snapshot holds the events: called first by every application and reversal. */
export async function assertEventsNotHeld(ctx: Reader): Promise<void> {
  const hold = await activeHold(ctx);
  if (hold) {
    throw poolError(
      "EVENTS_HELD",
      `a checkpoint snapshot holds vault events until it has copied the books (at most until ${new Date(hold.expiresAt).toISOString()}); try again shortly`,
    );
  }
}

/** Takes the hold for `runId`; false while another unexpired one stands. An expired one is replaced. */
export async function takeHold(ctx: Writer, runId: Id<"checkpointRuns">, now: number): Promise<boolean> {
  const hold = await holdRow(ctx);
  if (hold && hold.expiresAt > now) return false;
  if (hold) await ctx.db.delete("eventHolds", hold._id);
  await ctx.db.insert("eventHolds", { holder: HOLDER, runId, expiresAt: now + SNAPSHOT_HOLD_MS });
  return true;
}

/** Whether `runId` holds the events at `now`: a snapshot page is copied only then. */
export async function holdsEvents(ctx: Reader, runId: Id<"checkpointRuns">, now: number): Promise<boolean> {
  const hold = await activeHold(ctx, now);
  return hold !== null && hold.runId === runId;
}

/** Lets events be applied again (only `runId`'s own hold, expired or not). */
export async function releaseHold(ctx: Writer, runId: Id<"checkpointRuns">): Promise<void> {
  const hold = await holdRow(ctx);
  if (hold && hold.runId === runId) await ctx.db.delete("eventHolds", hold._id);
}
