/**
 * Deleting the leaves of checkpoints nothing can fall back to, so that a
 * checkpoint a day (10,000 leaves each, with their proofs) does not pile up:
 * a failed or vetoed run's, and those of every ended run older than the two
 * newest the vault accepted (the current one, and the one a veto of it would
 * make current again).
 */
import type { Id } from "../../_generated/dataModel";
import type { Writer } from "../database";
import { POSTED_STATUSES } from "../../domain/checkpoints";

/** Leaf and publication rows deleted per transaction. */
export const PRUNE_PAGE = 1_000;

/** Ended runs the vault accepted that keep their leaves. */
const KEPT_POSTED_RUNS = 2;

async function prunableRun(ctx: Writer): Promise<Id<"checkpointRuns"> | null> {
  for (const status of ["failed", "vetoed"] as const) {
    const run = await ctx.db
      .query("checkpointRuns")
      .withIndex("by_status_and_pruned", (q) => q.eq("status", status).eq("pruned", false))
      .first();
    if (run) return run._id;
  }
  // The newest posted runs stay; among the others, any one not yet pruned.
  const kept = new Set<Id<"checkpointRuns">>();
  const candidates: { id: Id<"checkpointRuns">; created: number }[] = [];
  for (const status of POSTED_STATUSES) {
    const newest = await ctx.db
      .query("checkpointRuns")
      .withIndex("by_status", (q) => q.eq("status", status))
      .order("desc")
      .take(KEPT_POSTED_RUNS);
    for (const run of newest) candidates.push({ id: run._id, created: run._creationTime });
  }
  candidates.sort((a, b) => b.created - a.created);
  for (const { id } of candidates.slice(0, KEPT_POSTED_RUNS)) kept.add(id);
  for (const status of ["verified", "mismatch"] as const) {
    const runs = await ctx.db
      .query("checkpointRuns")
      .withIndex("by_status_and_pruned", (q) => q.eq("status", status).eq("pruned", false))
      .take(KEPT_POSTED_RUNS + 1);
    const old = runs.find((run) => !kept.has(run._id));
    if (old) return old._id;
  }
  return null;
}

/** Deletes up to PRUNE_PAGE rows of one prunable run (marked pruned once none is left); returns how many. */
export async function pruneCheckpointLeaves(ctx: Writer): Promise<number> {
  const runId = await prunableRun(ctx);
  if (runId === null) return 0;
  const leaves = await ctx.db
    .query("checkpointLeaves")
    .withIndex("by_run_and_index", (q) => q.eq("runId", runId))
    .take(PRUNE_PAGE);
  for (const leaf of leaves) await ctx.db.delete("checkpointLeaves", leaf._id);
  const room = PRUNE_PAGE - leaves.length;
  const publications =
    room > 0
      ? await ctx.db
          .query("checkpointPublications")
          .withIndex("by_run_and_offset", (q) => q.eq("runId", runId))
          .take(room)
      : [];
  for (const publication of publications) await ctx.db.delete("checkpointPublications", publication._id);
  const deleted = leaves.length + publications.length;
  if (deleted < PRUNE_PAGE) await ctx.db.patch("checkpointRuns", runId, { pruned: true });
  return deleted;
}
