/**
 * Verifying a published checkpoint from the chain's own record (README
 * "Checkpoints", "Verification"): the sync records the vault's
 * `checkpoint-posted` and `checkpoint-leaves` events as printed; once every
 * leaf of the epoch is there, the job rebuilds the tree from them exactly as
 * anyone with a Stacks node would, and compares its root and sums with what
 * was posted. A difference is a `checkpoint-mismatch` alert: the guardian has
 * the veto window to veto it.
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import { raiseAlert } from "../alerts";
import type { ExitLeaf } from "../../domain/merkleSum";
import { getRun, moveRun } from "./runs";

/** Raised when a published checkpoint does not rebuild to what was posted (details: epoch, expected, rebuilt). */
export const CHECKPOINT_MISMATCH = "checkpoint-mismatch";

type LeavesEvent = Extract<Doc<"vaultEvents">["event"], { kind: "checkpoint-leaves" }>;
type PostedEvent = Extract<Doc<"vaultEvents">["event"], { kind: "checkpoint-posted" }>;

/** `checkpoint-leaves` events read per query: 20 × 100 leaves, a few hundred kilobytes. */
export const LEAVES_EVENTS_PAGE = 20;

/** The recorded `checkpoint-posted` event of `epoch`, if the sync has it. */
export async function postedEvent(ctx: Reader, epoch: bigint): Promise<PostedEvent | null> {
  const rows = await ctx.db
    .query("vaultEvents")
    .withIndex("by_kind_and_epoch", (q) => q.eq("event.kind", "checkpoint-posted").eq("event.epoch", epoch))
    .take(10);
  const row = rows.find((r) => r.status === "recorded" && r.event.kind === "checkpoint-posted");
  return row ? (row.event as PostedEvent) : null;
}

export type PublishedBatch = { offset: bigint; leaves: ExitLeaf[] };

/** One page of the epoch's recorded `checkpoint-leaves` events. */
export async function publishedLeavesPage(
  ctx: Reader,
  epoch: bigint,
  cursor: string | null,
  pageSize: number = LEAVES_EVENTS_PAGE,
): Promise<{ batches: PublishedBatch[]; isDone: boolean; continueCursor: string }> {
  const page = await ctx.db
    .query("vaultEvents")
    .withIndex("by_kind_and_epoch", (q) => q.eq("event.kind", "checkpoint-leaves").eq("event.epoch", epoch))
    .paginate({ numItems: pageSize, cursor });
  const batches = page.page
    .filter((row) => row.status === "recorded" && row.event.kind === "checkpoint-leaves")
    .map((row) => {
      const event = row.event as LeavesEvent;
      return { offset: event.offset, leaves: event.leaves };
    });
  return { batches, isDone: page.isDone, continueCursor: page.continueCursor };
}

/**
 * The published leaves in order, from batches as they were printed: each
 * offset's leaves must agree wherever batches overlap (a batch published twice
 * is the same batch). Null while leaves below `leafCount` are missing;
 * `conflict` names an offset printed with two different leaves.
 */
export function assembleLeaves(batches: readonly PublishedBatch[], leafCount: bigint): { leaves: ExitLeaf[] | null; conflict: string | null } {
  const count = Number(leafCount);
  const slots: (ExitLeaf | undefined)[] = new Array<ExitLeaf | undefined>(count);
  for (const batch of batches) {
    for (const [i, leaf] of batch.leaves.entries()) {
      const at = Number(batch.offset) + i;
      if (at >= count) return { leaves: null, conflict: `a leaf published at ${at}, beyond the leaf count ${count}` };
      const seen = slots[at];
      if (seen && !sameLeaf(seen, leaf)) return { leaves: null, conflict: `leaf ${at} was published twice, differently` };
      slots[at] = leaf;
    }
  }
  for (let i = 0; i < count; i++) if (slots[i] === undefined) return { leaves: null, conflict: null };
  return { leaves: slots as ExitLeaf[], conflict: null };
}

function sameLeaf(a: ExitLeaf, b: ExitLeaf): boolean {
  return (
    a.provider === b.provider &&
    a.stx === b.stx &&
    a.sbtc === b.sbtc &&
    a.stxIn === b.stxIn &&
    a.stxOut === b.stxOut &&
    a.sbtcIn === b.sbtcIn &&
    a.sbtcOut === b.sbtcOut
  );
}

export type Rebuilt = { root: string; stxSum: bigint; sbtcSum: bigint } | { invalid: string };

/**
 * Records the verification of a run whose epoch's leaves are all published:
 * `verified` when the rebuilt tree equals the posted root and sums (and the
 * root the run built), else `mismatch` with an alert.
 */
export async function recordVerification(
  ctx: Writer,
  runId: Id<"checkpointRuns">,
  rebuilt: Rebuilt,
): Promise<"verified" | "mismatch" | "skipped"> {
  const run = await getRun(ctx, runId);
  if (!run || (run.status !== "publishing" && run.status !== "published") || run.epoch === undefined) return "skipped";
  const posted = await postedEvent(ctx, run.epoch);
  if (!posted) return "skipped";
  const problems: string[] = [];
  if ("invalid" in rebuilt) {
    problems.push(rebuilt.invalid);
  } else {
    if (rebuilt.root !== posted.root) problems.push(`the published leaves hash to ${rebuilt.root}, the posted root is ${posted.root}`);
    if (rebuilt.stxSum !== posted.stxSum || rebuilt.sbtcSum !== posted.sbtcSum) {
      problems.push(`the published leaves sum to ${rebuilt.stxSum} STX and ${rebuilt.sbtcSum} sBTC, the posted sums are ${posted.stxSum} and ${posted.sbtcSum}`);
    }
  }
  if (posted.root !== run.root || posted.stxSum !== run.stxSum || posted.sbtcSum !== run.sbtcSum) {
    problems.push(`the posted checkpoint (${posted.root}) is not the one this backend built (${run.root ?? "none"})`);
  }
  if (problems.length === 0) {
    await moveRun(ctx, runId, ["publishing", "published"], "verified");
    return "verified";
  }
  await moveRun(ctx, runId, ["publishing", "published"], "mismatch", { error: problems.join("; ") });
  await raiseAlert(
    ctx,
    CHECKPOINT_MISMATCH,
    `checkpoint epoch ${run.epoch} does not verify from its published leaves: ${problems.join("; ")}; ` +
      "the guardian should veto it within its 144 burn blocks",
    { runId, epoch: run.epoch, postedRoot: posted.root, rebuilt },
  );
  return "mismatch";
}
