/**
 * A checkpoint's Merkle-sum tree rebuilt from its `checkpoint-leaves` events
 * (README "Checkpoints and the exit"): leaves in published order, leaf i being
 * element j of the batch printed with `offset` i - j, hashed exactly as the
 * contract does (convex/domain/merkleSum.ts), and compared with the root and
 * both sums the vault holds.
 *
 * `publish-leaves` checks nothing but the caller and the epoch, so the events
 * may say anything: batches may overlap, repeat, disagree or run past the
 * checkpoint's leaf count. The first leaf published at an index is the one
 * taken (the operator publishes right after posting; a later disagreeing one
 * is what a thief with the operator key would add), and every disagreement is
 * reported.
 */
import { bytesToHex } from "@stacks/common";

import type { VaultReadOnlyResult } from "../convex/chain/vault";
import { buildMerkleSumTree, type ExitLeaf, type MerkleSumTree } from "../convex/domain/merkleSum";
import { eventsOfKind, type ChainEvent } from "./chainEvents";

/** `get-checkpoint`'s answer, when there is a checkpoint. */
export type Checkpoint = NonNullable<VaultReadOnlyResult<"get-checkpoint">>;

/**
 * More leaves than any pool this vault serves could have: a leaf count above
 * it is refused before anything is allocated for it.
 */
const MAX_PLAUSIBLE_LEAVES = 10_000_000n;

export type PublishedLeaves = {
  /** The leaves in index order, when every index below the leaf count has one; else null. */
  leaves: ExitLeaf[] | null;
  /** The leaves published so far below the leaf count, in index order (gaps left out). */
  known: ExitLeaf[];
  /** How many indices below the leaf count have a leaf. */
  published: bigint;
  /** Indices below the leaf count with none yet. */
  missing: bigint;
  /** Disagreeing or out-of-range publications: each makes the set wrong, whatever comes later. */
  problems: string[];
};

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

/** The leaves published for `epoch`, placed by index. */
export function publishedLeaves(events: readonly ChainEvent[], epoch: bigint, leafCount: bigint): PublishedLeaves {
  if (leafCount > MAX_PLAUSIBLE_LEAVES) {
    return { leaves: null, known: [], published: 0n, missing: leafCount, problems: [`leaf count ${leafCount} is beyond any pool's size`] };
  }
  const byIndex = new Map<bigint, ExitLeaf>();
  const problems: string[] = [];
  for (const batch of eventsOfKind(events, "checkpoint-leaves")) {
    if (batch.epoch !== epoch) continue;
    batch.leaves.forEach((leaf, j) => {
      const index = batch.offset + BigInt(j);
      if (index >= leafCount) {
        problems.push(`a leaf of ${leaf.provider} was published at index ${index}, past the leaf count ${leafCount} (tx ${batch.txid})`);
        return;
      }
      const first = byIndex.get(index);
      if (first === undefined) byIndex.set(index, leaf);
      else if (!sameLeaf(first, leaf)) {
        problems.push(`index ${index} was published twice with different leaves (${first.provider}, then ${leaf.provider} in tx ${batch.txid})`);
      }
    });
  }
  const known = [...byIndex.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, leaf]) => leaf);
  const published = BigInt(byIndex.size);
  const missing = leafCount - published;
  return { leaves: missing === 0n ? known : null, known, published, missing, problems };
}

export type TreeCheck = PublishedLeaves & {
  /** The rebuilt tree, once every leaf is published. */
  tree: MerkleSumTree | null;
  /** True when the tree is complete and its root hash and both sums equal the checkpoint's, with no problem in the publications. */
  matches: boolean;
};

export function hexOf(bytes: Uint8Array): string {
  return `0x${bytesToHex(bytes)}`;
}

/** The checkpoint's tree from the events, and whether it is the tree the vault committed to. */
export function rebuildTree(checkpoint: Checkpoint, events: readonly ChainEvent[]): TreeCheck {
  const published = publishedLeaves(events, checkpoint.epoch, checkpoint.leafCount);
  const problems = [...published.problems];
  let tree: MerkleSumTree | null = null;
  if (published.leaves !== null) {
    try {
      tree = buildMerkleSumTree(published.leaves);
    } catch (error) {
      problems.push(`the published leaves make no tree: ${(error as Error).message}`);
    }
  }
  if (tree !== null) {
    const root = hexOf(tree.root.hash);
    if (root !== checkpoint.root.toLowerCase()) problems.push(`the published leaves hash to root ${root}, the checkpoint says ${checkpoint.root}`);
    if (tree.root.stx !== checkpoint.stxSum) problems.push(`the published leaves sum to ${tree.root.stx} µSTX, the checkpoint says ${checkpoint.stxSum}`);
    if (tree.root.sbtc !== checkpoint.sbtcSum) problems.push(`the published leaves sum to ${tree.root.sbtc} sats, the checkpoint says ${checkpoint.sbtcSum}`);
  }
  return { ...published, problems, tree, matches: tree !== null && problems.length === 0 };
}
