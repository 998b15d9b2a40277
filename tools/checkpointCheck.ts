/**
 * The guardian's check of the current checkpoint (README "Operations: the
 * watcher and the exit"), from the chain's events alone:
 *
 * - every provider record created up to `as-of-seq` has exactly one leaf, and
 *   no one else has one; each leaf's in/out equal its record's cumulative
 *   flows as of `as-of-seq`; the leaf count is the number of records;
 * - the leaves hash to the posted root and add up to both posted sums;
 * - `flows` are the vault's global flows as of `as-of-seq`;
 * - the sums are no more than the vault held (chainBooks.balanceBound): the
 *   one check on the leaves' balances the chain allows, since yield lives in
 *   the books alone.
 *
 * Leaves arrive in batches after the post, so a checkpoint whose leaves (or
 * whose flows, on an API whose indexer lags) are not all visible yet is
 * pending rather than wrong — until the veto window is about to close: a
 * checkpoint nobody could check must not stand.
 */
import {
  balanceBound,
  contiguousSeq,
  flowEventsOf,
  flowsAsOf,
  recordsAsOf,
  type Flows,
} from "./chainBooks";
import { eventsOfKind, type ChainEvent } from "./chainEvents";
import { rebuildTree, type Checkpoint, type TreeCheck } from "./checkpointTree";

/** Burn blocks a fresh checkpoint may be vetoed for: the contract's CHECKPOINT-VETO-WINDOW. */
export const CHECKPOINT_VETO_WINDOW = 144n;

export type CheckpointStatus = "ok" | "pending" | "wrong";

export type CheckpointVerdict = {
  epoch: bigint;
  status: CheckpointStatus;
  /** Why it is wrong. */
  problems: string[];
  /** What is not visible yet (pending). */
  waitingFor: string[];
  /** Burn height from which `veto-checkpoint` is refused (u219). */
  vetoClosesAt: bigint;
  vetoable: boolean;
};

export type CheckpointCheckInput = {
  checkpoint: Checkpoint;
  events: readonly ChainEvent[];
  /** The node's burn height now. */
  burnHeight: bigint;
  /** Burn blocks before the window closes from which an incomplete checkpoint counts as wrong. */
  vetoMargin: bigint;
};

const FLOW_NAMES: Record<keyof Flows, string> = { stxIn: "stx-in", stxOut: "stx-out", sbtcIn: "sbtc-in", sbtcOut: "sbtc-out" };

function flowDifferences(what: string, claimed: Flows, actual: Flows): string[] {
  return (Object.keys(FLOW_NAMES) as (keyof Flows)[])
    .filter((key) => claimed[key] !== actual[key])
    .map((key) => `${what} ${FLOW_NAMES[key]} is ${claimed[key]}, the chain says ${actual[key]}`);
}

/** The records and flows the chain shows as of `as-of-seq`, against the leaves published so far. */
function bookProblems(checkpoint: Checkpoint, events: readonly ChainEvent[], leaves: TreeCheck): string[] {
  const flows = flowEventsOf(events);
  const problems = flowDifferences("the checkpoint's flows", checkpoint.flows, flowsAsOf(flows, checkpoint.asOfSeq));
  const records = recordsAsOf(flows, checkpoint.asOfSeq);
  if (checkpoint.leafCount !== BigInt(records.size)) {
    problems.push(`the leaf count is ${checkpoint.leafCount}, but ${records.size} provider records existed at seq ${checkpoint.asOfSeq}`);
  }
  const seen = new Set<string>();
  for (const leaf of leaves.known) {
    const record = records.get(leaf.provider);
    if (seen.has(leaf.provider)) problems.push(`${leaf.provider} has more than one leaf`);
    seen.add(leaf.provider);
    if (record === undefined) {
      problems.push(`a leaf for ${leaf.provider}, who had no record at seq ${checkpoint.asOfSeq}`);
      continue;
    }
    problems.push(...flowDifferences(`${leaf.provider}'s leaf`, leaf, record));
  }
  if (leaves.leaves !== null) {
    for (const record of records.values()) {
      if (!seen.has(record.provider)) problems.push(`the record of ${record.provider} (created at seq ${record.createdSeq}) has no leaf`);
    }
  }
  const bound = balanceBound(events, checkpoint.asOfSeq, checkpoint.epoch);
  if (bound !== null && checkpoint.stxSum > bound.stx) {
    problems.push(`the STX sum ${checkpoint.stxSum} is more than the vault held (${bound.stx}) when the books were taken`);
  }
  if (bound !== null && checkpoint.sbtcSum > bound.sbtc) {
    problems.push(`the sBTC sum ${checkpoint.sbtcSum} is more than the vault held (${bound.sbtc}) when the books were taken`);
  }
  return problems;
}

export function checkCheckpoint({ checkpoint, events, burnHeight, vetoMargin }: CheckpointCheckInput): CheckpointVerdict {
  const vetoClosesAt = checkpoint.postedAt + CHECKPOINT_VETO_WINDOW;
  const tree = rebuildTree(checkpoint, events);
  const problems = [...tree.problems];
  const waitingFor: string[] = [];
  if (tree.missing > 0n) waitingFor.push(`${tree.published} of ${checkpoint.leafCount} leaves published`);
  const postedSeen = eventsOfKind(events, "checkpoint-posted").some((posted) => posted.epoch === checkpoint.epoch);
  if (!postedSeen) waitingFor.push(`the checkpoint-posted event of epoch ${checkpoint.epoch}`);
  const through = contiguousSeq(flowEventsOf(events));
  if (through < checkpoint.asOfSeq) {
    waitingFor.push(`the flows up to seq ${checkpoint.asOfSeq} (the API shows them through seq ${through})`);
  } else if (postedSeen) {
    problems.push(...bookProblems(checkpoint, events, tree));
  }

  let status: CheckpointStatus = problems.length > 0 ? "wrong" : waitingFor.length > 0 ? "pending" : "ok";
  if (status === "pending" && burnHeight + vetoMargin >= vetoClosesAt) {
    status = "wrong";
    problems.push(`still not checkable ${vetoClosesAt - burnHeight} burn blocks before the veto window closes: waiting for ${waitingFor.join("; ")}`);
  }
  return { epoch: checkpoint.epoch, status, problems, waitingFor, vetoClosesAt, vetoable: burnHeight < vetoClosesAt };
}
