/**
 * Exit proofs built by convex/domain/merkleSum.ts, checked by the vault's own
 * read-only `verify-exit-proof` against its current checkpoint: the backend's
 * hashing and the contract's must agree byte for byte, or no provider could
 * exit. Every tampered proof the TypeScript check rejects, the contract must
 * reject too.
 */
import { Cl, ClarityType } from "@stacks/transactions";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  buildMerkleSumTree,
  exitLeafCV,
  exitProofCV,
  leafHash,
  merkleSumProof,
  nodeHash,
  verifyMerkleSumProof,
  type ExitLeaf,
  type MerkleSumTree,
  type ProofStep,
  type SumNode,
} from "../../convex/domain/merkleSum";
import { AMOUNT_FIELDS, leafArb, PRINCIPALS } from "../support/exitLeafArbitraries";
import { call, CHECKPOINT_VETO_WINDOW, deployer, readOnly } from "./vault";


/** A tree of 1..300 leaves, a leaf of it, and the random choices the tampering makes. */
const treeCase = fc
  .array(leafArb, { minLength: 1, maxLength: 300 })
  .chain((leaves) =>
    fc.record({
      leaves: fc.constant(leaves),
      index: fc.nat({ max: leaves.length - 1 }),
      pick: fc.nat(),
      bit: fc.nat({ max: 255 }),
      delta: fc.bigInt({ min: 1n, max: 2n ** 64n }),
    }),
  );

const RUNS = { numRuns: 50 };

function leaf(provider: string, stx: bigint, sbtc: bigint, flows: Partial<ExitLeaf> = {}): ExitLeaf {
  return { provider, stx, sbtc, stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n, ...flows };
}

/**
 * Posts `tree` as the vault's checkpoint, as the operator (the deployer until
 * the role is handed on). Waits out the previous checkpoint's veto window
 * first: only one checkpoint is ever vetoable. As-of-seq and flows are 0, the
 * vault's own before any deposit.
 */
function postCheckpoint(tree: MerkleSumTree): void {
  simnet.mineEmptyBlocks(CHECKPOINT_VETO_WINDOW);
  const { result } = call(
    VAULT_FUNCTIONS.postCheckpoint,
    [
      Cl.buffer(tree.root.hash),
      Cl.uint(tree.root.stx),
      Cl.uint(tree.root.sbtc),
      Cl.uint(0),
      Cl.tuple({ "stx-in": Cl.uint(0), "stx-out": Cl.uint(0), "sbtc-in": Cl.uint(0), "sbtc-out": Cl.uint(0) }),
      Cl.uint(tree.leafCount),
    ],
    deployer,
  );
  expect(result).toHaveClarityType(ClarityType.ResponseOk);
}

/** The contract's `verify-exit-proof` for `leaf` (its provider as the `provider` argument). */
function verifyOnChain(exitLeaf: ExitLeaf, proof: readonly ProofStep[]): boolean {
  const result = readOnly(VAULT_FUNCTIONS.verifyExitProof, [Cl.principal(exitLeaf.provider), exitLeafCV(exitLeaf), exitProofCV(proof)]);
  if (result.type === ClarityType.BoolTrue) return true;
  if (result.type === ClarityType.BoolFalse) return false;
  throw new Error(`verify-exit-proof returned ${result.type}, not a bool`);
}

function withStep(proof: readonly ProofStep[], at: number, change: (step: ProofStep) => ProofStep): ProofStep[] {
  return proof.map((step, i) => (i === at ? change(step) : step));
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << bit % 8;
  return copy;
}

function sameNode(a: SumNode, b: SumNode): boolean {
  return a.stx === b.stx && a.sbtc === b.sbtc && a.hash.every((byte, i) => byte === b.hash[i]);
}

/** The path node just below proof step `at`: the leaf folded through the steps before it. */
function pathNodeBelow(exitLeaf: ExitLeaf, proof: readonly ProofStep[], at: number): SumNode {
  return proof
    .slice(0, at)
    .reduce<SumNode>((node, step) => (step.isLeft ? nodeHash(step, node) : nodeHash(node, step)), leafHash(exitLeaf));
}

type Forgery = { what: string; leaf: ExitLeaf; proof: ProofStep[]; valid: boolean };

/** One forgery per kind: each changes one thing in an honest leaf and its proof. */
function forgeries(
  honest: ExitLeaf,
  proof: ProofStep[],
  choice: { pick: number; bit: number; delta: bigint },
): Forgery[] {
  const out: Forgery[] = [];
  if (proof.length > 0) {
    const at = choice.pick % proof.length;
    out.push({
      what: `sibling ${at} hash, bit ${choice.bit} flipped`,
      leaf: honest,
      proof: withStep(proof, at, (s) => ({ ...s, hash: flipBit(s.hash, choice.bit) })),
      valid: false,
    });
    for (const field of ["stx", "sbtc"] as const) {
      out.push({
        what: `sibling ${at} ${field} + ${choice.delta}`,
        leaf: honest,
        proof: withStep(proof, at, (s) => ({ ...s, [field]: s[field] + choice.delta })),
        valid: false,
      });
      out.push({
        what: `sibling ${at} ${field} - ${choice.delta} (+ 1 if below that)`,
        leaf: honest,
        proof: withStep(proof, at, (s) => {
          const lowered = s[field] >= choice.delta ? s[field] - choice.delta : s[field] + 1n;
          return { ...s, [field]: lowered };
        }),
        valid: false,
      });
    }
    // Swapping two identical children changes nothing: only then may the proof still verify.
    out.push({
      what: `sibling ${at} is-left flipped`,
      leaf: honest,
      proof: withStep(proof, at, (s) => ({ ...s, isLeft: !s.isLeft })),
      valid: sameNode(proof[at]!, pathNodeBelow(honest, proof, at)),
    });
  }
  const others = PRINCIPALS.filter((p) => p !== honest.provider);
  out.push({
    what: "another provider",
    leaf: { ...honest, provider: others[choice.pick % others.length]! },
    proof,
    valid: false,
  });
  for (const field of AMOUNT_FIELDS) {
    out.push({
      what: `leaf ${field} + ${choice.delta}`,
      leaf: { ...honest, [field]: honest[field] + choice.delta },
      proof,
      valid: false,
    });
  }
  return out;
}

describe(VAULT_FUNCTIONS.verifyExitProof, () => {
  const a = leaf(PRINCIPALS[1], 1_000_000n, 2_500n, { stxIn: 3_000_000n, stxOut: 2_000_000n, sbtcIn: 2_500n });
  const b = leaf(PRINCIPALS[6], 0n, 7n, { sbtcIn: 9n, sbtcOut: 2n });
  const c = leaf(PRINCIPALS[2], 2n ** 100n, 2n ** 90n, { stxIn: 2n ** 127n, sbtcOut: 2n ** 128n - 1n });

  it("is false before any checkpoint, even for an honest proof", () => {
    const tree = buildMerkleSumTree([a, b, c]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    expect(verifyOnChain(a, merkleSumProof(tree, 0))).toBe(false);
    expect(verifyOnChain(a, [])).toBe(false);
  });

  it("accepts a one-leaf tree's empty proof: the root is the leaf hash", () => {
    const tree = buildMerkleSumTree([a]);
    postCheckpoint(tree);
    expect(verifyOnChain(a, [])).toBe(true);
    expect(verifyOnChain({ ...a, stxIn: a.stxIn + 1n }, [])).toBe(false);
  });

  it("accepts every leaf of trees of 1..9 leaves, amounts up to 2^128 - 1 included", () => {
    const small = [a, b, leaf(PRINCIPALS[0], 5n, 5n), leaf(PRINCIPALS[7], 0n, 0n)];
    for (let n = 1; n <= 9; n++) {
      // c carries 2^100 STX and 2^128 - 1 as a flow: one copy of it, at index 2.
      const leaves = Array.from({ length: n }, (_, i) => (i === 2 ? c : { ...small[i % small.length]!, stxIn: BigInt(i) }));
      const tree = buildMerkleSumTree(leaves);
      postCheckpoint(tree);
      leaves.forEach((l, i) => {
        expect(verifyOnChain(l, merkleSumProof(tree, i)), `n=${n} index=${i}`).toBe(true);
      });
    }
  });

  it("checks against the current checkpoint only: a newer one retires the older tree's proofs", () => {
    const older = buildMerkleSumTree([a, b]);
    const newer = buildMerkleSumTree([a, b, c]);
    postCheckpoint(older);
    expect(verifyOnChain(a, merkleSumProof(older, 0))).toBe(true);
    postCheckpoint(newer);
    expect(verifyOnChain(a, merkleSumProof(older, 0))).toBe(false);
    expect(verifyOnChain(a, merkleSumProof(newer, 0))).toBe(true);
  });

  it("property: any posted tree of 1..300 leaves proves any of its leaves, and no forgery", () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, index, ...choice }) => {
        const tree = buildMerkleSumTree(leaves);
        postCheckpoint(tree);
        const honest = leaves[index]!;
        const proof = merkleSumProof(tree, index);
        expect(verifyOnChain(honest, proof)).toBe(true);
        for (const forgery of forgeries(honest, proof, choice)) {
          // The contract and the TypeScript check agree, and both reject the forgery.
          expect(verifyMerkleSumProof(tree.root, forgery.leaf, forgery.proof), forgery.what).toBe(forgery.valid);
          expect(verifyOnChain(forgery.leaf, forgery.proof), forgery.what).toBe(forgery.valid);
        }
      }),
      RUNS,
    );
  });
});
