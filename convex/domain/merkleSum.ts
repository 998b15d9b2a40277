/**
 * Merkle-sum trees over providers' exit leaves, and the exit proofs the vault
 * checks on-chain (`verify-exit-proof`, `claim-exit`).
 *
 * Each node commits to a hash AND to the STX and sBTC totals beneath it, so one
 * posted root fixes both what every provider is owed and what the vault owes in
 * all: a provider proving their leaf also proves that the totals the backend
 * posted include it, and no leaf can be counted twice or with a negative share.
 *
 * The hashing must match the contract byte for byte, so every preimage is a
 * Clarity value in its consensus serialization (what `to-consensus-buff?`
 * returns; tuples serialize with their keys sorted):
 *
 *   leaf = sha256(0x00 || consensus({provider, stx, sbtc, stx-in, stx-out, sbtc-in, sbtc-out}))
 *   node = sha256(0x01 || consensus({left, left-stx, left-sbtc, right, right-stx, right-sbtc}))
 *
 * Pure: no Convex context, no environment, nothing Node-only; safe anywhere.
 */
import { sha256 } from "@noble/hashes/sha256";
import { concatBytes } from "@stacks/common";
import { Cl, serializeCVBytes, type ListCV, type TupleCV } from "@stacks/transactions";

/** The largest Clarity `uint`. */
export const UINT128_MAX = 2n ** 128n - 1n;

/** The contract takes proofs as `(list 32 …)`: no proof may be longer. */
export const MAX_PROOF_DEPTH = 32;

/** A tree of depth 32 holds at most 2^32 leaves. */
export const MAX_LEAVES = 2 ** MAX_PROOF_DEPTH;

/** sha256 output length: every hash in a tree or proof is 32 bytes. */
export const HASH_LENGTH = 32;

/*
 * Domain separation. Without distinct prefixes a leaf preimage and a node
 * preimage are both "sha256 of some bytes", and whoever knows an inner node's
 * preimage could present it as a leaf (a second-preimage attack), proving an
 * exit for an amount no provider has. With 0x00 before every leaf and 0x01
 * before every node, a leaf hash can never equal a node hash unless sha256
 * collides.
 */
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** One provider's line in a published checkpoint: what they hold and how it moved. Amounts in base units. */
export type ExitLeaf = {
  /** Standard or contract principal. */
  provider: string;
  /** Micro-STX owed to the provider at the checkpoint. */
  stx: bigint;
  /** Satoshis of sBTC owed to the provider at the checkpoint. */
  sbtc: bigint;
  stxIn: bigint;
  stxOut: bigint;
  sbtcIn: bigint;
  sbtcOut: bigint;
};

/** A node of the tree (a leaf, an inner node or the root): its hash and the sums beneath it. */
export type SumNode = {
  /** 32 bytes. */
  hash: Uint8Array;
  stx: bigint;
  sbtc: bigint;
};

/** One sibling on the path from a leaf to the root. */
export type ProofStep = SumNode & {
  /** True when the sibling is the LEFT child, i.e. the path node is the right one. */
  isLeft: boolean;
};

/** Siblings from the leaf up to (not including) the root. */
export type MerkleSumProof = ProofStep[];

export type MerkleSumTree = {
  root: SumNode;
  leafCount: number;
  /** levels[0] are the leaf nodes in published order; the last level is [root]. */
  levels: readonly (readonly SumNode[])[];
};

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

function isUint128(value: bigint): boolean {
  return value >= 0n && value <= UINT128_MAX;
}

function assertUint128(value: bigint, what: string): void {
  if (!isUint128(value)) throw new RangeError(`${what} must be a Clarity uint (0 <= x < 2^128), got ${value}`);
}

function assertHash(hash: Uint8Array, what: string): void {
  if (hash.length !== HASH_LENGTH) throw new RangeError(`${what} must be ${HASH_LENGTH} bytes, got ${hash.length}`);
}

function assertLeafAmounts(leaf: ExitLeaf): void {
  assertUint128(leaf.stx, "leaf stx");
  assertUint128(leaf.sbtc, "leaf sbtc");
  assertUint128(leaf.stxIn, "leaf stxIn");
  assertUint128(leaf.stxOut, "leaf stxOut");
  assertUint128(leaf.sbtcIn, "leaf sbtcIn");
  assertUint128(leaf.sbtcOut, "leaf sbtcOut");
}

function assertSumNode(node: SumNode, what: string): void {
  assertHash(node.hash, `${what} hash`);
  assertUint128(node.stx, `${what} stx`);
  assertUint128(node.sbtc, `${what} sbtc`);
}

// ---------------------------------------------------------------------------
// Clarity values, exactly as the contract takes them
// ---------------------------------------------------------------------------

/** The leaf without its provider: the `leaf` argument of `verify-exit-proof` and `claim-exit`. */
export function exitLeafCV(leaf: ExitLeaf): TupleCV {
  assertLeafAmounts(leaf);
  return Cl.tuple({
    stx: Cl.uint(leaf.stx),
    sbtc: Cl.uint(leaf.sbtc),
    "stx-in": Cl.uint(leaf.stxIn),
    "stx-out": Cl.uint(leaf.stxOut),
    "sbtc-in": Cl.uint(leaf.sbtcIn),
    "sbtc-out": Cl.uint(leaf.sbtcOut),
  });
}

/** The full leaf with its provider: one element of `publish-leaves`' list, and the leaf hash's preimage. */
export function publishedLeafCV(leaf: ExitLeaf): TupleCV {
  assertLeafAmounts(leaf);
  return Cl.tuple({
    provider: Cl.principal(leaf.provider),
    stx: Cl.uint(leaf.stx),
    sbtc: Cl.uint(leaf.sbtc),
    "stx-in": Cl.uint(leaf.stxIn),
    "stx-out": Cl.uint(leaf.stxOut),
    "sbtc-in": Cl.uint(leaf.sbtcIn),
    "sbtc-out": Cl.uint(leaf.sbtcOut),
  });
}

/** The `proof` argument of `verify-exit-proof` and `claim-exit`: `(list 32 {hash, stx, sbtc, is-left})`. */
export function exitProofCV(proof: readonly ProofStep[]): ListCV<TupleCV> {
  if (proof.length > MAX_PROOF_DEPTH) {
    throw new RangeError(`a proof has at most ${MAX_PROOF_DEPTH} steps, got ${proof.length}`);
  }
  return Cl.list(
    proof.map((step, i) => {
      assertSumNode(step, `proof step ${i}`);
      return Cl.tuple({
        hash: Cl.buffer(step.hash),
        stx: Cl.uint(step.stx),
        sbtc: Cl.uint(step.sbtc),
        "is-left": Cl.bool(step.isLeft),
      });
    }),
  );
}

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/** The leaf's node: sha256(0x00 || consensus(full leaf tuple)), with the leaf's own amounts as its sums. */
export function leafHash(leaf: ExitLeaf): SumNode {
  const preimage = serializeCVBytes(publishedLeafCV(leaf));
  return { hash: sha256(concatBytes(LEAF_PREFIX, preimage)), stx: leaf.stx, sbtc: leaf.sbtc };
}

/**
 * The parent of two nodes: sha256(0x01 || consensus({left, left-stx, left-sbtc,
 * right, right-stx, right-sbtc})), summing each token. Both children's sums are
 * in the preimage, so a sibling's sums cannot be changed without changing the
 * root. Throws RangeError where the contract's `+` would abort (a sum >= 2^128).
 */
export function nodeHash(left: SumNode, right: SumNode): SumNode {
  assertSumNode(left, "left child");
  assertSumNode(right, "right child");
  const stx = left.stx + right.stx;
  const sbtc = left.sbtc + right.sbtc;
  assertUint128(stx, "node stx sum");
  assertUint128(sbtc, "node sbtc sum");
  const preimage = serializeCVBytes(
    Cl.tuple({
      left: Cl.buffer(left.hash),
      "left-stx": Cl.uint(left.stx),
      "left-sbtc": Cl.uint(left.sbtc),
      right: Cl.buffer(right.hash),
      "right-stx": Cl.uint(right.stx),
      "right-sbtc": Cl.uint(right.sbtc),
    }),
  );
  return { hash: sha256(concatBytes(NODE_PREFIX, preimage)), stx, sbtc };
}

// ---------------------------------------------------------------------------
// Building and proving
// ---------------------------------------------------------------------------

/**
 * The level above `level`: pairs (0,1), (2,3), …. An odd last node is carried
 * up unchanged rather than paired with itself or with a padding node: pairing
 * it with itself would count its sums twice, and a padding leaf would be a
 * leaf no provider owns. Carrying it up keeps the root's sums exactly the sum
 * of the leaves and costs its proof nothing at that level.
 */
function parentLevel(level: readonly SumNode[]): SumNode[] {
  const parents: SumNode[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) {
    parents.push(nodeHash(level[i]!, level[i + 1]!));
  }
  if (level.length % 2 === 1) parents.push(level[level.length - 1]!);
  return parents;
}

/**
 * Builds the tree over `leaves` in their given (published) order: the order is
 * part of the commitment, so the backend must publish the leaves in the order
 * it hashed them. N leaves cost N leaf hashes and fewer than N node hashes.
 */
export function buildMerkleSumTree(leaves: readonly ExitLeaf[]): MerkleSumTree {
  if (leaves.length === 0) throw new RangeError("a Merkle-sum tree needs at least one leaf");
  if (leaves.length > MAX_LEAVES) {
    throw new RangeError(`at most 2^${MAX_PROOF_DEPTH} leaves fit a ${MAX_PROOF_DEPTH}-step proof, got ${leaves.length}`);
  }
  const levels: SumNode[][] = [leaves.map(leafHash)];
  let top = levels[0]!;
  while (top.length > 1) {
    top = parentLevel(top);
    levels.push(top);
  }
  return { root: top[0]!, leafCount: leaves.length, levels };
}

/**
 * The siblings on the path from leaf `index` to the root, leaf end first. A
 * level where the path node is the carried-up odd node has no sibling and adds
 * no step. At most ceil(log2 leafCount) steps.
 */
export function merkleSumProof(tree: MerkleSumTree, index: number): MerkleSumProof {
  if (!Number.isSafeInteger(index) || index < 0 || index >= tree.leafCount) {
    throw new RangeError(`leaf index must be an integer in [0, ${tree.leafCount}), got ${index}`);
  }
  const proof: MerkleSumProof = [];
  let position = index;
  for (const level of tree.levels.slice(0, -1)) {
    const isRightChild = position % 2 === 1;
    const siblingPosition = isRightChild ? position - 1 : position + 1;
    const sibling = level[siblingPosition];
    if (sibling) {
      // Copy the hash so that a caller changing the proof cannot change the tree.
      proof.push({ hash: sibling.hash.slice(), stx: sibling.stx, sbtc: sibling.sbtc, isLeft: isRightChild });
    }
    position = Math.floor(position / 2);
  }
  return proof;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The contract's check, in TypeScript: fold the leaf up through its siblings
 * and accept only if the result equals the root in hash AND in both sums.
 *
 * Returns false for whatever the contract would not accept: a proof longer
 * than 32 steps, a sibling hash that is not 32 bytes, an amount outside uint,
 * a sum that overflows (the contract aborts). A provider that is not a valid
 * principal throws, as it cannot even be passed to the contract.
 */
export function verifyMerkleSumProof(root: SumNode, leaf: ExitLeaf, proof: readonly ProofStep[]): boolean {
  if (proof.length > MAX_PROOF_DEPTH) return false;
  const leafAmounts = [leaf.stx, leaf.sbtc, leaf.stxIn, leaf.stxOut, leaf.sbtcIn, leaf.sbtcOut];
  if (!leafAmounts.every(isUint128)) return false;
  let node = leafHash(leaf);
  for (const step of proof) {
    if (step.hash.length !== HASH_LENGTH || !isUint128(step.stx) || !isUint128(step.sbtc)) return false;
    if (!isUint128(node.stx + step.stx) || !isUint128(node.sbtc + step.sbtc)) return false;
    node = step.isLeft ? nodeHash(step, node) : nodeHash(node, step);
  }
  return bytesEqual(node.hash, root.hash) && node.stx === root.stx && node.sbtc === root.sbtc;
}
