/**
 * Putting a checkpoint on chain (README "Checkpoints"): its tree's proofs
 * stored with the leaves, `post-checkpoint` queued, the vault's epoch learnt
 * from the synced `checkpoint-posted` event, then `publish-leaves` queued 100
 * leaves at a time, a few transactions ahead of what is confirmed. Every call
 * goes through the backend transaction queue (`chainTransactions`), signed by
 * the operator in deny mode with no post-condition: none moves a token.
 */
import { bytesToHex } from "@stacks/common";

import type { Doc, Id } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import { VAULT_FUNCTIONS } from "../../chain/vault";
import { LEAVES_PER_PUBLICATION } from "../../domain/checkpoints";
import type { ExitLeaf, MerkleSumProof } from "../../domain/merkleSum";
import { INITIAL_STATUS } from "../../domain/transactionStates";
import type { CheckpointCall } from "../../validators";
import { carriesRun, failRun, getRun, moveRun, recordedCheckpointEvents } from "./runs";

/**
 * `publish-leaves` transactions queued and not yet confirmed, at most: a
 * sender may have 25 transactions chained in a node's mempool, and locks,
 * releases and settlements share the operator's nonces.
 */
export const MAX_PUBLICATIONS_IN_FLIGHT = 10;

/** Transactions queued for one batch of leaves before the run gives up. */
export const MAX_PUBLICATION_ATTEMPTS = 3;

/** A hash as the vault's events and the API show it: 0x-hex. */
export function hexOf(bytes: Uint8Array): string {
  return `0x${bytesToHex(bytes)}`;
}

/** A stored proof step: the sibling's hash as 0x-hex. */
export type StoredProofStep = { hash: string; stx: bigint; sbtc: bigint; isLeft: boolean };

export function storedProof(proof: MerkleSumProof): StoredProofStep[] {
  return proof.map((step) => ({ hash: hexOf(step.hash), stx: step.stx, sbtc: step.sbtc, isLeft: step.isLeft }));
}

/** A leaf row as the tree and `publish-leaves` take it. */
export function exitLeafOf(row: Pick<Doc<"checkpointLeaves">, "provider" | "stx" | "sbtc" | "stxIn" | "stxOut" | "sbtcIn" | "sbtcOut">): ExitLeaf {
  return {
    provider: row.provider,
    stx: row.stx,
    sbtc: row.sbtc,
    stxIn: row.stxIn,
    stxOut: row.stxOut,
    sbtcIn: row.sbtcIn,
    sbtcOut: row.sbtcOut,
  };
}

/** Up to `limit` leaves of the run from index `from` on, in published order. */
export async function leafPage(ctx: Reader, runId: Id<"checkpointRuns">, from: bigint, limit: number): Promise<Doc<"checkpointLeaves">[]> {
  return await ctx.db
    .query("checkpointLeaves")
    .withIndex("by_run_and_index", (q) => q.eq("runId", runId).gte("index", from))
    .take(limit);
}

/** Stores the proofs of the leaves from index `from` on (one index range, one patch per leaf). */
export async function storeProofs(
  ctx: Writer,
  runId: Id<"checkpointRuns">,
  from: bigint,
  proofs: readonly StoredProofStep[][],
): Promise<void> {
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "snapshotted") return;
  const rows = await leafPage(ctx, runId, from, proofs.length);
  for (const [i, row] of rows.entries()) {
    if (row.index !== from + BigInt(i)) throw new Error(`leaf ${from + BigInt(i)} of run ${runId} is missing`);
    await ctx.db.patch("checkpointLeaves", row._id, { proof: proofs[i]! });
  }
}

function newTransaction(call: CheckpointCall, now: number) {
  return {
    functionName: call.kind === "post" ? VAULT_FUNCTIONS.postCheckpoint : VAULT_FUNCTIONS.publishLeaves,
    status: INITIAL_STATUS,
    policyIds: [],
    // The schema's token and amount describe money calls; a checkpoint call moves none.
    token: "STX" as const,
    amount: 0n,
    checkpointCall: call,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
  };
}

export type Tree = { root: string; stxSum: bigint; sbtcSum: bigint };

/**
 * Records the run's tree and queues its `post-checkpoint`. The root's sums
 * must be what the snapshot's leaves add up to (a tree built from anything
 * else is refused, and the run fails).
 */
export async function queuePost(ctx: Writer, runId: Id<"checkpointRuns">, tree: Tree): Promise<"queued" | "skipped" | "failed"> {
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "snapshotted") return "skipped";
  if (run.leafSums?.stx !== tree.stxSum || run.leafSums.sbtc !== tree.sbtcSum) {
    await failRun(ctx, runId, `the tree's sums ${tree.stxSum} STX, ${tree.sbtcSum} sBTC differ from the snapshot's`);
    return "failed";
  }
  const now = Date.now();
  const postTransactionId = await ctx.db.insert(
    "chainTransactions",
    newTransaction(
      { kind: "post", runId, root: tree.root, stxSum: tree.stxSum, sbtcSum: tree.sbtcSum, asOfSeq: run.asOfSeq, flows: run.flows, leafCount: run.leafCount },
      now,
    ),
  );
  await moveRun(ctx, runId, ["snapshotted"], "posting", { ...tree, postTransactionId });
  return "queued";
}

/** Newest `checkpoint-posted` events looked at for the run's root. */
const POSTED_LOOKBACK = 20;

/**
 * A posting run: failed when its `post-checkpoint` failed; publishing once the
 * sync has recorded the `checkpoint-posted` event carrying its root, as-of-seq
 * and leaf count (which gives the vault's epoch for it).
 */
export async function notePosted(ctx: Writer, runId: Id<"checkpointRuns">): Promise<"waiting" | "posted" | "failed" | "skipped"> {
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "posting" || !run.postTransactionId) return "skipped";
  const posted = await recordedCheckpointEvents(ctx, "checkpoint-posted", null, POSTED_LOOKBACK);
  for (const event of posted) {
    if (!carriesRun(event, run)) continue;
    // The same books could be posted twice; an epoch belongs to one run.
    const claimed = await ctx.db
      .query("checkpointRuns")
      .withIndex("by_epoch", (q) => q.eq("epoch", event.epoch))
      .first();
    if (claimed && claimed._id !== runId) continue;
    await moveRun(ctx, runId, ["posting"], "publishing", { epoch: event.epoch, publishedThrough: 0n });
    return "posted";
  }
  const tx = await ctx.db.get("chainTransactions", run.postTransactionId);
  if (!tx || tx.status === "failed") {
    await failRun(ctx, runId, `post-checkpoint failed: ${tx?.error ?? "its transaction is gone"}`);
    return "failed";
  }
  return "waiting";
}

/** Whether the sync has recorded a veto of the run's epoch; the run is then over. */
export async function noteVeto(ctx: Writer, runId: Id<"checkpointRuns">): Promise<boolean> {
  const run = await getRun(ctx, runId);
  if (!run || run.epoch === undefined) return false;
  const vetoes = await recordedCheckpointEvents(ctx, "checkpoint-vetoed", run.epoch, 1);
  if (vetoes.length === 0) return false;
  return await moveRun(ctx, runId, ["publishing", "published", "verified", "mismatch"], "vetoed", { error: "vetoed by the guardian" });
}

export type PublicationProgress = { queued: number; inFlight: number; confirmed: number; status: "publishing" | "published" | "failed" | "skipped" };

/**
 * Keeps the run's leaves flowing on chain: a failed batch is queued again
 * (up to MAX_PUBLICATION_ATTEMPTS), new batches are queued while fewer than
 * MAX_PUBLICATIONS_IN_FLIGHT are unconfirmed, and once every batch is
 * confirmed the run is `published` (verification then waits for the sync).
 */
export async function queuePublications(ctx: Writer, runId: Id<"checkpointRuns">): Promise<PublicationProgress> {
  const progress: PublicationProgress = { queued: 0, inFlight: 0, confirmed: 0, status: "skipped" };
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "publishing" || run.epoch === undefined) return progress;
  const epoch = run.epoch;
  const now = Date.now();
  const batches = Math.ceil(Number(run.leafCount) / LEAVES_PER_PUBLICATION);
  const publications = await ctx.db
    .query("checkpointPublications")
    .withIndex("by_run_and_offset", (q) => q.eq("runId", runId))
    .take(batches);

  const queueBatch = async (offset: bigint): Promise<Id<"chainTransactions">> => {
    const leaves = await leafPage(ctx, runId, offset, LEAVES_PER_PUBLICATION);
    const call: CheckpointCall = { kind: "leaves", runId, epoch, offset, leaves: leaves.map(exitLeafOf) };
    progress.queued++;
    progress.inFlight++;
    return await ctx.db.insert("chainTransactions", newTransaction(call, now));
  };

  for (const publication of publications) {
    const tx = await ctx.db.get("chainTransactions", publication.chainTransactionId);
    if (tx?.status === "confirmed") {
      progress.confirmed++;
    } else if (tx && tx.status !== "failed") {
      progress.inFlight++;
    } else if (publication.attempts >= MAX_PUBLICATION_ATTEMPTS) {
      await failRun(ctx, runId, `publish-leaves at offset ${publication.offset} failed ${publication.attempts} times: ${tx?.error ?? "its transaction is gone"}`);
      return { ...progress, status: "failed" };
    } else {
      const chainTransactionId = await queueBatch(publication.offset);
      await ctx.db.patch("checkpointPublications", publication._id, { chainTransactionId, attempts: publication.attempts + 1 });
    }
  }

  let next = run.publishedThrough ?? 0n;
  while (next < run.leafCount && progress.inFlight < MAX_PUBLICATIONS_IN_FLIGHT) {
    const count = run.leafCount - next < BigInt(LEAVES_PER_PUBLICATION) ? run.leafCount - next : BigInt(LEAVES_PER_PUBLICATION);
    const chainTransactionId = await queueBatch(next);
    await ctx.db.insert("checkpointPublications", { runId, offset: next, count, chainTransactionId, attempts: 1 });
    next += count;
  }
  if (next !== (run.publishedThrough ?? 0n)) await ctx.db.patch("checkpointRuns", runId, { publishedThrough: next });

  if (next === run.leafCount && progress.confirmed === batches) {
    await moveRun(ctx, runId, ["publishing"], "published");
    return { ...progress, status: "published" };
  }
  return { ...progress, status: "publishing" };
}
