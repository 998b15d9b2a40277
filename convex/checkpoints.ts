/**
 * The checkpoint job (README "Checkpoints"; docs/architecture.md, "Checkpoint
 * → exit"): a cron-driven action that commits the books to the vault as a
 * Merkle-sum tree every CHECKPOINT_INTERVAL_BURN_BLOCKS, publishes its leaves
 * and verifies what the chain then holds. One run at a time, moved along one
 * step per tick; every step is a guarded mutation, so an overlapping tick
 * changes nothing and a crashed one loses nothing (the next picks the run up
 * where it is):
 *
 * 1. Due: the vault is not shut down (`is-shut-down`) and its current
 *    checkpoint (`get-checkpoint`) is at least the interval old and out of its
 *    veto window (or there is none).
 * 2. Snapshot, consistent: vault events are held while the leaves are copied
 *    page by page (model/checkpoints/eventHold.ts, snapshot.ts); then released.
 * 3. Tree: built from the copied leaves in published order (ascending
 *    principal) with domain/merkleSum.ts; each leaf's proof stored with it;
 *    `post-checkpoint` queued through the backend transaction queue.
 * 4. Epoch: from the synced `checkpoint-posted` event with the run's root.
 * 5. Leaves: `publish-leaves`, 100 per transaction, a few ahead of confirmation.
 * 6. Verification: once the sync has recorded every `checkpoint-leaves` event
 *    of the epoch, the tree is rebuilt from them and compared with the posted
 *    root and sums: `checkpoint-mismatch` alert, or verified.
 *
 * Rate-limited by the Stacks API, a tick stops where it is; the next is the retry.
 */
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import type { ActionCtx } from "./_generated/server";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { hiroClientFor, rateLimitedOf } from "./chain/hiroClient";
import { readVault, VAULT_FUNCTIONS } from "./chain/vault";
import { readChainConfig, readCheckpointIntervalBurnBlocks } from "./config";
import { checkpointDue } from "./domain/checkpoints";
import { buildMerkleSumTree, merkleSumProof, type ExitLeaf } from "./domain/merkleSum";
import { alertingRouteGone } from "./eventSync";
import { exitTermsOf } from "./model/checkpoints/exitView";
import { recordDeposit, recordWithdrawal } from "./model/checkpoints/providerRecords";
import { pruneCheckpointLeaves } from "./model/checkpoints/pruning";
import {
  exitLeafOf,
  hexOf,
  leafPage,
  notePosted,
  noteVeto,
  queuePost,
  queuePublications,
  storedProof,
  storeProofs,
} from "./model/checkpoints/publishing";
import { activeRun, currentPostedRun, getRun } from "./model/checkpoints/runs";
import { abandonStalledSnapshot, beginSnapshot, copySnapshotPage, finishSnapshot } from "./model/checkpoints/snapshot";
import { assembleLeaves, postedEvent, publishedLeavesPage, recordVerification, type PublishedBatch } from "./model/checkpoints/verification";
import { operationIdOf } from "./model/sync/vaultEvents";
import { assertEventsNotHeld } from "./model/checkpoints/eventHold";
import { checkpointLeafValidator, checkpointRunStatusValidator, proofStepValidator } from "./validators";

/** Leaves read back per query to build the tree: 2,000 × ~200 bytes. */
const TREE_READ_PAGE = 2_000;
/** Proofs written per mutation: a patch each, about 1.5 KB each at 10,000 leaves. */
const PROOF_WRITE_PAGE = 500;

// ---------------------------------------------------------------------------
// The steps, as guarded mutations and bounded queries

const runSummary = v.object({
  id: v.id("checkpointRuns"),
  status: checkpointRunStatusValidator,
  epoch: v.union(v.int64(), v.null()),
  leafCount: v.int64(),
});

/** The run being worked on, the vault's current checkpoint as known here, and whether the sync saw a shutdown. */
export const state = internalQuery({
  args: {},
  returns: v.object({ active: v.union(runSummary, v.null()), current: v.union(runSummary, v.null()), shutDown: v.boolean() }),
  handler: async (ctx) => {
    const summary = (run: Awaited<ReturnType<typeof activeRun>>) =>
      run ? { id: run._id, status: run.status, epoch: run.epoch ?? null, leafCount: run.leafCount } : null;
    return {
      active: summary(await activeRun(ctx)),
      current: summary(await currentPostedRun(ctx)),
      shutDown: (await exitTermsOf(ctx)) !== null,
    };
  },
});

export const abandonStalled = internalMutation({
  args: {},
  returns: v.boolean(),
  handler: async (ctx) => await abandonStalledSnapshot(ctx, Date.now()),
});

export const beginRun = internalMutation({
  args: {},
  returns: v.union(
    v.object({ started: v.literal(true), runId: v.id("checkpointRuns"), asOfSeq: v.int64() }),
    v.object({ started: v.literal(false), reason: v.string() }),
  ),
  handler: async (ctx) => await beginSnapshot(ctx, Date.now()),
});

export const copyPage = internalMutation({
  args: { runId: v.id("checkpointRuns") },
  returns: v.union(v.object({ copied: v.number(), done: v.boolean() }), v.object({ failed: v.string() })),
  handler: async (ctx, { runId }) => await copySnapshotPage(ctx, runId, Date.now()),
});

export const finishRunSnapshot = internalMutation({
  args: { runId: v.id("checkpointRuns") },
  returns: v.union(v.object({ ok: v.literal(true) }), v.object({ failed: v.string() })),
  handler: async (ctx, { runId }) => await finishSnapshot(ctx, runId, Date.now()),
});

const leafView = v.object({ index: v.int64(), ...checkpointLeafValidator.fields });

/** Leaves of a run from `from` on, in published order, without their proofs. */
export const leavesFrom = internalQuery({
  args: { runId: v.id("checkpointRuns"), from: v.int64(), limit: v.number() },
  returns: v.array(leafView),
  handler: async (ctx, { runId, from, limit }) =>
    (await leafPage(ctx, runId, from, Math.min(limit, TREE_READ_PAGE))).map((row) => ({ index: row.index, ...exitLeafOf(row) })),
});

export const writeProofs = internalMutation({
  args: { runId: v.id("checkpointRuns"), from: v.int64(), proofs: v.array(v.array(proofStepValidator)) },
  returns: v.null(),
  handler: async (ctx, { runId, from, proofs }) => {
    await storeProofs(ctx, runId, from, proofs);
    return null;
  },
});

export const queuePostCheckpoint = internalMutation({
  args: { runId: v.id("checkpointRuns"), root: v.string(), stxSum: v.int64(), sbtcSum: v.int64() },
  returns: v.union(v.literal("queued"), v.literal("skipped"), v.literal("failed")),
  handler: async (ctx, { runId, ...tree }) => await queuePost(ctx, runId, tree),
});

export const checkPosted = internalMutation({
  args: { runId: v.id("checkpointRuns") },
  returns: v.union(v.literal("waiting"), v.literal("posted"), v.literal("failed"), v.literal("skipped")),
  handler: async (ctx, { runId }) => await notePosted(ctx, runId),
});

export const checkVetoed = internalMutation({
  args: { runId: v.id("checkpointRuns") },
  returns: v.boolean(),
  handler: async (ctx, { runId }) => await noteVeto(ctx, runId),
});

export const publish = internalMutation({
  args: { runId: v.id("checkpointRuns") },
  returns: v.object({
    queued: v.number(),
    inFlight: v.number(),
    confirmed: v.number(),
    status: v.union(v.literal("publishing"), v.literal("published"), v.literal("failed"), v.literal("skipped")),
  }),
  handler: async (ctx, { runId }) => await queuePublications(ctx, runId),
});

const postedView = v.object({ root: v.string(), stxSum: v.int64(), sbtcSum: v.int64(), leafCount: v.int64() });

/** The epoch's `checkpoint-posted` event as the sync recorded it. */
export const posted = internalQuery({
  args: { epoch: v.int64() },
  returns: v.union(postedView, v.null()),
  handler: async (ctx, { epoch }) => {
    const event = await postedEvent(ctx, epoch);
    return event ? { root: event.root, stxSum: event.stxSum, sbtcSum: event.sbtcSum, leafCount: event.leafCount } : null;
  },
});

/** One page of the epoch's `checkpoint-leaves` events as the sync recorded them. */
export const publishedLeaves = internalQuery({
  args: { epoch: v.int64(), cursor: v.union(v.string(), v.null()) },
  returns: v.object({
    batches: v.array(v.object({ offset: v.int64(), leaves: v.array(checkpointLeafValidator) })),
    isDone: v.boolean(),
    continueCursor: v.string(),
  }),
  handler: async (ctx, { epoch, cursor }) => await publishedLeavesPage(ctx, epoch, cursor),
});

const rebuiltValidator = v.union(
  v.object({ root: v.string(), stxSum: v.int64(), sbtcSum: v.int64() }),
  v.object({ invalid: v.string() }),
);

export const recordRunVerification = internalMutation({
  args: { runId: v.id("checkpointRuns"), rebuilt: rebuiltValidator },
  returns: v.union(v.literal("verified"), v.literal("mismatch"), v.literal("skipped")),
  handler: async (ctx, { runId, rebuilt }) => await recordVerification(ctx, runId, rebuilt),
});

export const prune = internalMutation({
  args: {},
  returns: v.number(),
  handler: async (ctx) => await pruneCheckpointLeaves(ctx),
});

// ---------------------------------------------------------------------------
// The tick

const TICK_OUTCOMES = [
  "shut-down",
  "not-due",
  "not-started",
  "snapshot-failed",
  "post-queued",
  "post-failed",
  "waiting-for-post",
  "publishing",
  "waiting-for-leaves",
  "verified",
  "mismatch",
  "vetoed",
  "failed",
  "idle",
  "rate-limited",
] as const;
type TickOutcome = (typeof TICK_OUTCOMES)[number];

const tickResult = v.object({
  outcome: v.union(...TICK_OUTCOMES.map((outcome) => v.literal(outcome))),
  runId: v.optional(v.id("checkpointRuns")),
  detail: v.optional(v.string()),
});
type TickResult = Infer<typeof tickResult>;

type RunId = Id<"checkpointRuns">;

/** Steps 1–2: starts a run when one is due, and takes its snapshot. */
async function startIfDue(ctx: ActionCtx): Promise<TickResult> {
  const config = readChainConfig();
  const client = hiroClientFor(config);
  if (await readVault(client, config.vaultContractId, VAULT_FUNCTIONS.isShutDown)) return { outcome: "shut-down" };
  const current = await readVault(client, config.vaultContractId, VAULT_FUNCTIONS.getCheckpoint);
  const tip = await client.getNodeTip();
  if (!checkpointDue(current?.postedAt ?? null, tip.burnHeight, readCheckpointIntervalBurnBlocks())) {
    return { outcome: "not-due", detail: `current checkpoint posted at burn block ${current?.postedAt}, now ${tip.burnHeight}` };
  }
  const begun = await ctx.runMutation(internal.checkpoints.beginRun, {});
  if (!begun.started) return { outcome: "not-started", detail: begun.reason };
  const runId = begun.runId;
  for (;;) {
    const page = await ctx.runMutation(internal.checkpoints.copyPage, { runId });
    if ("failed" in page) return { outcome: "snapshot-failed", runId, detail: page.failed };
    if (page.done) break;
  }
  const finished = await ctx.runMutation(internal.checkpoints.finishRunSnapshot, { runId });
  if ("failed" in finished) return { outcome: "snapshot-failed", runId, detail: finished.failed };
  return await buildAndPost(ctx, runId);
}

/** Step 3: the tree over the run's leaves, their proofs stored, `post-checkpoint` queued. */
async function buildAndPost(ctx: ActionCtx, runId: RunId): Promise<TickResult> {
  const leaves: ExitLeaf[] = [];
  for (;;) {
    const page = await ctx.runQuery(internal.checkpoints.leavesFrom, { runId, from: BigInt(leaves.length), limit: TREE_READ_PAGE });
    for (const row of page) {
      if (row.index !== BigInt(leaves.length)) return { outcome: "failed", runId, detail: `leaf ${leaves.length} is missing` };
      const { index: _index, ...leaf } = row;
      leaves.push(leaf);
    }
    if (page.length < TREE_READ_PAGE) break;
  }
  const tree = buildMerkleSumTree(leaves);
  for (let from = 0; from < leaves.length; from += PROOF_WRITE_PAGE) {
    const proofs = [];
    for (let i = from; i < Math.min(from + PROOF_WRITE_PAGE, leaves.length); i++) proofs.push(storedProof(merkleSumProof(tree, i)));
    await ctx.runMutation(internal.checkpoints.writeProofs, { runId, from: BigInt(from), proofs });
  }
  const outcome = await ctx.runMutation(internal.checkpoints.queuePostCheckpoint, {
    runId,
    root: hexOf(tree.root.hash),
    stxSum: tree.root.stx,
    sbtcSum: tree.root.sbtc,
  });
  return { outcome: outcome === "failed" ? "failed" : "post-queued", runId };
}

/** Step 6: rebuilds the epoch's tree from the synced events, once they are all there, and records the outcome. */
async function verify(ctx: ActionCtx, runId: RunId, epoch: bigint): Promise<TickResult> {
  const postedNow = await ctx.runQuery(internal.checkpoints.posted, { epoch });
  if (!postedNow) return { outcome: "waiting-for-leaves", runId, detail: "checkpoint-posted not synced" };
  const batches: PublishedBatch[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page: { batches: PublishedBatch[]; isDone: boolean; continueCursor: string } = await ctx.runQuery(
      internal.checkpoints.publishedLeaves,
      { epoch, cursor },
    );
    batches.push(...page.batches);
    if (page.isDone) break;
    cursor = page.continueCursor;
  }
  const { leaves, conflict } = assembleLeaves(batches, postedNow.leafCount);
  let rebuilt: Infer<typeof rebuiltValidator>;
  if (conflict !== null) {
    rebuilt = { invalid: conflict };
  } else if (leaves === null) {
    return { outcome: "waiting-for-leaves", runId };
  } else {
    try {
      const tree = buildMerkleSumTree(leaves);
      rebuilt = { root: hexOf(tree.root.hash), stxSum: tree.root.stx, sbtcSum: tree.root.sbtc };
    } catch (error) {
      rebuilt = { invalid: `the published leaves do not make a tree: ${(error as Error).message}` };
    }
  }
  const outcome = await ctx.runMutation(internal.checkpoints.recordRunVerification, { runId, rebuilt });
  return outcome === "skipped" ? { outcome: "waiting-for-leaves", runId } : { outcome, runId };
}

/** Steps 3–6 for the run being worked on. */
async function advance(ctx: ActionCtx, run: { id: RunId; status: string; epoch: bigint | null }): Promise<TickResult> {
  const runId = run.id;
  switch (run.status) {
    case "snapshotting":
      // Another tick is taking the snapshot (a stalled one was abandoned above).
      return { outcome: "idle", runId, detail: "snapshot in progress" };
    case "snapshotted":
      return await buildAndPost(ctx, runId);
    case "posting": {
      const posted = await ctx.runMutation(internal.checkpoints.checkPosted, { runId });
      if (posted === "failed") return { outcome: "post-failed", runId };
      if (posted !== "posted") return { outcome: "waiting-for-post", runId };
      const now = await ctx.runQuery(internal.checkpoints.state, {});
      return await advance(ctx, { id: runId, status: "publishing", epoch: now.active?.epoch ?? null });
    }
    case "publishing":
    case "published": {
      if (await ctx.runMutation(internal.checkpoints.checkVetoed, { runId })) return { outcome: "vetoed", runId };
      const progress = await ctx.runMutation(internal.checkpoints.publish, { runId });
      if (progress.status === "failed") return { outcome: "failed", runId };
      if (run.epoch === null) return { outcome: "publishing", runId };
      const verified = await verify(ctx, runId, run.epoch);
      if (verified.outcome !== "waiting-for-leaves") return verified;
      return { outcome: "publishing", runId, detail: `${progress.confirmed} batches confirmed, ${progress.inFlight} in flight` };
    }
    default:
      return { outcome: "idle", runId };
  }
}

async function tick(ctx: ActionCtx): Promise<TickResult> {
  await ctx.runMutation(internal.checkpoints.abandonStalled, {});
  const now = await ctx.runQuery(internal.checkpoints.state, {});
  // After a shutdown the vault takes nothing more; providers leave through claim-exit.
  if (now.shutDown) return { outcome: "shut-down" };
  // A verified checkpoint can still be vetoed inside its window.
  if (now.current && now.current.id !== now.active?.id && (await ctx.runMutation(internal.checkpoints.checkVetoed, { runId: now.current.id }))) {
    return { outcome: "vetoed", runId: now.current.id };
  }
  if (now.active) return await advance(ctx, now.active);
  await ctx.runMutation(internal.checkpoints.prune, {});
  return await startIfDue(ctx);
}

/** The checkpoint job's cron entry: one step of the current run, or a new run when one is due. */
export const run = internalAction({
  args: {},
  returns: tickResult,
  handler: (ctx): Promise<TickResult> =>
    alertingRouteGone(ctx, async () => {
      try {
        return await tick(ctx);
      } catch (error) {
        const limited = rateLimitedOf(error);
        if (!limited) throw error;
        return { outcome: "rate-limited" as TickOutcome, detail: limited.data.message };
      }
    }),
});

// ---------------------------------------------------------------------------
// Backfill

/** Applied events read per backfill transaction (each touches a record, the flows and the change log). */
const BACKFILL_PAGE = 200;

/**
 * Rebuilds the provider-record mirror from the deposits and withdrawals the
 * sync already applied, for a deployment that synced events before the mirror
 * existed; run once (`npx convex run checkpoints:backfillProviderRecords
 * '{"cursor": null}'`), before the first checkpoint. Idempotent by operation
 * id; pages through the applied events oldest first, scheduling itself.
 */
export const backfillProviderRecords = internalMutation({
  args: { cursor: v.union(v.string(), v.null()) },
  returns: v.object({ mirrored: v.number(), isDone: v.boolean() }),
  handler: async (ctx, { cursor }) => {
    await assertEventsNotHeld(ctx);
    const page = await ctx.db
      .query("vaultEvents")
      .withIndex("by_block_height")
      .paginate({ numItems: BACKFILL_PAGE, cursor });
    let mirrored = 0;
    for (const row of page.page) {
      if (row.status === "reversed" || row.status === "recorded") continue;
      const event = row.event;
      if (event.kind === "funds-deposited") await recordDeposit(ctx, event, operationIdOf(event));
      else if (event.kind === "funds-withdrawn") await recordWithdrawal(ctx, event, operationIdOf(event));
      else continue;
      mirrored++;
    }
    if (!page.isDone) await ctx.scheduler.runAfter(0, internal.checkpoints.backfillProviderRecords, { cursor: page.continueCursor });
    return { mirrored, isDone: page.isDone };
  },
});

/** For tests and operators: a run as stored (status, root, epoch, error). */
export const getRunStatus = internalQuery({
  args: { runId: v.id("checkpointRuns") },
  returns: v.union(
    v.object({
      status: checkpointRunStatusValidator,
      asOfSeq: v.int64(),
      leafCount: v.int64(),
      root: v.union(v.string(), v.null()),
      epoch: v.union(v.int64(), v.null()),
      error: v.union(v.string(), v.null()),
    }),
    v.null(),
  ),
  handler: async (ctx, { runId }) => {
    const run = await getRun(ctx, runId);
    if (!run) return null;
    return {
      status: run.status,
      asOfSeq: run.asOfSeq,
      leafCount: run.leafCount,
      root: run.root ?? null,
      epoch: run.epoch ?? null,
      error: run.error ?? null,
    };
  },
});
