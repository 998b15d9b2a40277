/**
 * Checkpoint runs: finding them and moving them along (the statuses are in
 * domain/checkpoints.ts). Every step of the checkpoint job is a mutation that
 * first checks the run is where the step expects it, so an overlapping run of
 * the job (a cron tick while the last one still works) changes nothing.
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import {
  ACTIVE_STATUSES,
  LEAVES_COMPLETE_STATUSES,
  POSTED_STATUSES,
  type CheckpointRunStatus,
} from "../../domain/checkpoints";
import { raiseAlert } from "../alerts";
import { releaseHold } from "./eventHold";

export type CheckpointRun = Doc<"checkpointRuns">;

/** A checkpoint step that failed for good: the run is over and an operator hears why. */
export const CHECKPOINT_FAILED = "checkpoint-failed";

export async function getRun(ctx: Reader, runId: Id<"checkpointRuns">): Promise<CheckpointRun | null> {
  return await ctx.db.get("checkpointRuns", runId);
}

/** The newest run in any of `statuses` (one index read per status). */
export async function latestRunIn(ctx: Reader, statuses: readonly CheckpointRunStatus[]): Promise<CheckpointRun | null> {
  let latest: CheckpointRun | null = null;
  for (const status of statuses) {
    const run = await ctx.db
      .query("checkpointRuns")
      .withIndex("by_status", (q) => q.eq("status", status))
      .order("desc")
      .first();
    if (run && (latest === null || run._creationTime > latest._creationTime)) latest = run;
  }
  return latest;
}

/** The run being worked on, if any: the job keeps at most one. */
export async function activeRun(ctx: Reader): Promise<CheckpointRun | null> {
  return await latestRunIn(ctx, ACTIVE_STATUSES);
}

/**
 * The vault's current checkpoint as the backend knows it: the newest run the
 * vault accepted (its `checkpoint-posted` event is synced) that was not
 * vetoed. A veto makes the one before current again, which is then this.
 */
export async function currentPostedRun(ctx: Reader): Promise<CheckpointRun | null> {
  return await latestRunIn(ctx, POSTED_STATUSES);
}

/**
 * The checkpoints a provider's exit may be measured against now or very soon:
 * the current one (null: none yet, the exit is the record's in − out), and a
 * newer run whose leaves are complete and whose post may land any moment. The
 * voucher rule must hold under each.
 */
export async function runsInForce(ctx: Reader): Promise<(CheckpointRun | null)[]> {
  const newest = await latestRunIn(ctx, LEAVES_COMPLETE_STATUSES);
  const current = await currentPostedRun(ctx);
  return newest && newest._id !== current?._id ? [current, newest] : [current];
}

/**
 * Moves `run` to `to` when it is in one of `from`; false (nothing written) when
 * it is not: another run of the job got there first.
 */
export async function moveRun(
  ctx: Writer,
  runId: Id<"checkpointRuns">,
  from: readonly CheckpointRunStatus[],
  to: CheckpointRunStatus,
  patch: Partial<Omit<CheckpointRun, "_id" | "_creationTime" | "status">> = {},
): Promise<boolean> {
  const run = await getRun(ctx, runId);
  if (!run || !from.includes(run.status)) return false;
  const ends = to === "verified" || to === "mismatch" || to === "vetoed" || to === "failed";
  await ctx.db.patch("checkpointRuns", runId, { ...patch, status: to, ...(ends ? { finishedAt: Date.now() } : {}) });
  return true;
}

/** Ends an active run as failed, lets events go if it held them, and tells an operator why. */
export async function failRun(ctx: Writer, runId: Id<"checkpointRuns">, reason: string): Promise<boolean> {
  if (!(await moveRun(ctx, runId, ACTIVE_STATUSES, "failed", { error: reason }))) return false;
  await releaseHold(ctx, runId);
  await raiseAlert(ctx, CHECKPOINT_FAILED, `checkpoint run ${runId} failed: ${reason}`, { runId });
  return true;
}

/** A recorded (not reversed) governance event of this kind and epoch, the newest first. */
export async function recordedCheckpointEvents<K extends "checkpoint-posted" | "checkpoint-vetoed">(
  ctx: Reader,
  kind: K,
  epoch: bigint | null,
  limit: number,
): Promise<Extract<Doc<"vaultEvents">["event"], { kind: K }>[]> {
  const rows = await ctx.db
    .query("vaultEvents")
    .withIndex("by_kind_and_epoch", (q) => (epoch === null ? q.eq("event.kind", kind) : q.eq("event.kind", kind).eq("event.epoch", epoch)))
    .order("desc")
    .take(limit);
  return rows
    .filter((row) => row.status === "recorded")
    .map((row) => row.event)
    .filter((event): event is Extract<Doc<"vaultEvents">["event"], { kind: K }> => event.kind === kind);
}

type PostedEvent = Extract<Doc<"vaultEvents">["event"], { kind: "checkpoint-posted" }>;

/**
 * Whether the backend posted this checkpoint: the run waiting for it (same
 * root, as-of-seq and leaf count), or — the same event synced again after a
 * reorg — the run that already took its epoch.
 */
export async function isOwnCheckpoint(ctx: Reader, event: PostedEvent): Promise<boolean> {
  const claimed = await ctx.db
    .query("checkpointRuns")
    .withIndex("by_epoch", (q) => q.eq("epoch", event.epoch))
    .first();
  if (claimed?.root === event.root) return true;
  const waiting = await activeRun(ctx);
  return waiting?.status === "posting" && carriesRun(event, waiting);
}

/** Whether a `checkpoint-posted` event is the post of this run: the same root, as-of-seq and leaf count. */
export function carriesRun(event: PostedEvent, run: CheckpointRun): boolean {
  return event.root === run.root && event.asOfSeq === run.asOfSeq && event.leafCount === run.leafCount;
}

/**
 * The vault's current checkpoint when the backend did not post it (someone
 * else holds the operator key), from the synced events: the newest posted
 * epoch not vetoed — a veto makes the one before current, and that one cannot
 * be vetoed, so the newest two recorded suffice (a few more rows are read, in
 * case reversed ones sit among them). Null when the current one is the
 * backend's own, or there is none.
 */
export async function foreignCurrentCheckpoint(ctx: Reader): Promise<PostedEvent | null> {
  for (const posted of (await recordedCheckpointEvents(ctx, "checkpoint-posted", null, 4)).slice(0, 2)) {
    if ((await recordedCheckpointEvents(ctx, "checkpoint-vetoed", posted.epoch, 1)).length > 0) continue;
    return (await isOwnCheckpoint(ctx, posted)) ? null : posted;
  }
  return null;
}
