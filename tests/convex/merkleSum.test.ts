/**
 * Merkle-sum trees and exit proofs (convex/domain/merkleSum.ts). The vault
 * checks these proofs on-chain, so the exact-value tests pin hashes that
 * Clarity itself computed (`sha256` of `to-consensus-buff?` on simnet) and a
 * leaf preimage assembled byte by byte; the properties then check, for any
 * tree, that honest proofs verify and that changing any part of a proof or
 * leaf is caught. tests/contracts/exit-proof.test.ts runs the same proofs
 * through the contract's `verify-exit-proof`.
 */
import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex, concatBytes, hexToBytes } from "@stacks/common";
import { Cl, serializeCVBytes } from "@stacks/transactions";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import {
  buildMerkleSumTree,
  exitLeafCV,
  exitProofCV,
  leafHash,
  MAX_PROOF_DEPTH,
  merkleSumProof,
  nodeHash,
  publishedLeafCV,
  UINT128_MAX,
  verifyMerkleSumProof,
  type ExitLeaf,
  type ProofStep,
  type SumNode,
} from "../../convex/domain/merkleSum";
import { AMOUNT_FIELDS, leafArb, PRINCIPALS } from "../support/exitLeafArbitraries";

const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";


/** 1..300 leaves and a leaf index in range. */
const treeCase = fc
  .array(leafArb, { minLength: 1, maxLength: 300 })
  .chain((leaves) => fc.record({ leaves: fc.constant(leaves), index: fc.nat({ max: leaves.length - 1 }) }));

/** As treeCase, with at least two leaves, so every proof has a step to tamper with. */
const treeCaseWithSiblings = fc
  .array(leafArb, { minLength: 2, maxLength: 300 })
  .chain((leaves) =>
    fc.record({ leaves: fc.constant(leaves), index: fc.nat({ max: leaves.length - 1 }), pick: fc.nat() }),
  );

const RUNS = { numRuns: 100 };

function leaf(provider: string, stx: bigint, sbtc: bigint, flows: Partial<ExitLeaf> = {}): ExitLeaf {
  return { provider, stx, sbtc, stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n, ...flows };
}

function hex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

function sum(values: readonly bigint[]): bigint {
  return values.reduce((s, v) => s + v, 0n);
}

/** ceil(log2 n) for n >= 1. */
function ceilLog2(n: number): number {
  return n <= 1 ? 0 : (n - 1).toString(2).length;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << bit % 8;
  return copy;
}

function withStep(proof: readonly ProofStep[], at: number, change: (step: ProofStep) => ProofStep): ProofStep[] {
  return proof.map((step, i) => (i === at ? change(step) : step));
}

/** The path node just below proof step `at`: the leaf folded through the steps before it. */
function pathNodeBelow(leafValue: ExitLeaf, proof: readonly ProofStep[], at: number): SumNode {
  return proof
    .slice(0, at)
    .reduce<SumNode>((node, step) => (step.isLeft ? nodeHash(step, node) : nodeHash(node, step)), leafHash(leafValue));
}

function sameNode(a: SumNode, b: SumNode): boolean {
  return hex(a.hash) === hex(b.hash) && a.stx === b.stx && a.sbtc === b.sbtc;
}

/** A uint's consensus serialization: type 0x01, then 16 bytes big-endian. */
function uintBytes(value: bigint): string {
  return `01${value.toString(16).padStart(32, "0")}`;
}

/** A tuple key: one length byte, then the ASCII name. */
function keyBytes(name: string): string {
  return `${name.length.toString(16).padStart(2, "0")}${bytesToHex(new TextEncoder().encode(name))}`;
}

describe("leafHash", () => {
  const example = leaf(DEPLOYER, 1_000_000n, 2_500n, { stxIn: 3_000_000n, stxOut: 2_000_000n, sbtcIn: 2_500n });

  test("hashes 0x00 || the SIP-005 tuple, keys sorted, assembled here byte by byte", () => {
    const preimage =
      "0c" + // tuple
      "00000007" + // 7 entries, sorted by name
      keyBytes("provider") +
      "051a6d78de7b0625dfbfc16c3a8a5735f6dc3dc3f2ce" + // standard principal: version 26 (testnet), hash160
      keyBytes("sbtc") +
      uintBytes(2_500n) +
      keyBytes("sbtc-in") +
      uintBytes(2_500n) +
      keyBytes("sbtc-out") +
      uintBytes(0n) +
      keyBytes("stx") +
      uintBytes(1_000_000n) +
      keyBytes("stx-in") +
      uintBytes(3_000_000n) +
      keyBytes("stx-out") +
      uintBytes(2_000_000n);
    expect(hex(serializeCVBytes(publishedLeafCV(example)))).toBe(preimage);
    expect(hex(leafHash(example).hash)).toBe(hex(sha256(hexToBytes(`00${preimage}`))));
  });

  test("equals the hash Clarity computes for the same leaf", () => {
    // (sha256 (concat 0x00 (unwrap-panic (to-consensus-buff? {provider: 'ST1PQ…GZGM, stx: u1000000, …})))) on simnet.
    expect(hex(leafHash(example).hash)).toBe("739f90056a1ce90de9404fdcfe3564978fd9da9ddc93c8e2b02dbf3ec8d0bf8b");
  });

  test("equals Clarity's hash for a contract principal and the largest uint", () => {
    const big = leaf(`${DEPLOYER}.some-contract`, UINT128_MAX, 0n, { stxIn: 1n, stxOut: 2n, sbtcIn: 3n, sbtcOut: 4n });
    expect(hex(leafHash(big).hash)).toBe("74fd7d419eac19349f92a5e80b16cb389fa1e8acf433a4e5362421772918b94f");
  });

  test("carries the leaf's own stx and sbtc as its sums", () => {
    const node = leafHash(example);
    expect([node.stx, node.sbtc]).toEqual([1_000_000n, 2_500n]);
  });

  test("rejects amounts that are not Clarity uints", () => {
    for (const field of AMOUNT_FIELDS) {
      expect(() => leafHash({ ...example, [field]: -1n })).toThrow(RangeError);
      expect(() => leafHash({ ...example, [field]: UINT128_MAX + 1n })).toThrow(RangeError);
    }
  });

  test("rejects a provider that is not a principal", () => {
    expect(() => leafHash({ ...example, provider: "not-a-principal" })).toThrow();
  });
});

describe("nodeHash", () => {
  const left: SumNode = { hash: new Uint8Array(32), stx: 1n, sbtc: 2n };
  const right: SumNode = { hash: new Uint8Array(32).fill(0xff), stx: 3n, sbtc: 4n };

  test("equals the hash Clarity computes for the same children", () => {
    // (sha256 (concat 0x01 (unwrap-panic (to-consensus-buff?
    //   {left: 0x00…, left-stx: u1, left-sbtc: u2, right: 0xff…, right-stx: u3, right-sbtc: u4})))) on simnet.
    expect(hex(nodeHash(left, right).hash)).toBe("5c24d3cf18da9eb23ee6f3daca174aebb127c25c5d99fd070c55fa9cf0b360e1");
  });

  test("sums each token and depends on the children's order", () => {
    const node = nodeHash(left, right);
    expect([node.stx, node.sbtc]).toEqual([4n, 6n]);
    expect(hex(nodeHash(right, left).hash)).not.toBe(hex(node.hash));
  });

  test("is domain-separated from a leaf: 0x01 before the node tuple", () => {
    const preimage = serializeCVBytes(
      Cl.tuple({
        left: Cl.buffer(left.hash),
        "left-stx": Cl.uint(1n),
        "left-sbtc": Cl.uint(2n),
        right: Cl.buffer(right.hash),
        "right-stx": Cl.uint(3n),
        "right-sbtc": Cl.uint(4n),
      }),
    );
    expect(hex(nodeHash(left, right).hash)).toBe(hex(sha256(concatBytes(new Uint8Array([1]), preimage))));
    expect(hex(nodeHash(left, right).hash)).not.toBe(hex(sha256(concatBytes(new Uint8Array([0]), preimage))));
  });

  test("rejects a sum past 2^128 - 1 (the contract's + would abort) and malformed children", () => {
    const half = { hash: new Uint8Array(32), stx: 2n ** 127n, sbtc: 0n };
    expect(() => nodeHash(half, half)).toThrow(RangeError);
    expect(nodeHash(half, { ...half, stx: 2n ** 127n - 1n }).stx).toBe(UINT128_MAX);
    expect(() => nodeHash({ ...left, hash: new Uint8Array(31) }, right)).toThrow(RangeError);
    expect(() => nodeHash(left, { ...right, sbtc: -1n })).toThrow(RangeError);
  });
});

describe("buildMerkleSumTree", () => {
  const a = leaf(PRINCIPALS[1], 100n, 7n, { stxIn: 150n, stxOut: 50n, sbtcIn: 7n });
  const b = leaf(PRINCIPALS[2], 250n, 0n, { stxIn: 250n });
  const c = leaf(PRINCIPALS[6], 0n, 11n, { sbtcIn: 20n, sbtcOut: 9n });

  test("one leaf: the root is the leaf hash with the leaf's sums", () => {
    const tree = buildMerkleSumTree([a]);
    expect(tree.leafCount).toBe(1);
    expect(hex(tree.root.hash)).toBe(hex(leafHash(a).hash));
    expect([tree.root.stx, tree.root.sbtc]).toEqual([100n, 7n]);
    expect(merkleSumProof(tree, 0)).toEqual([]);
    expect(verifyMerkleSumProof(tree.root, a, [])).toBe(true);
  });

  test("three leaves: root = node(node(a, b), c), the odd leaf carried up unhashed", () => {
    const tree = buildMerkleSumTree([a, b, c]);
    const expected = nodeHash(nodeHash(leafHash(a), leafHash(b)), leafHash(c));
    expect(hex(tree.root.hash)).toBe(hex(expected.hash));
    expect([tree.root.stx, tree.root.sbtc]).toEqual([350n, 18n]);
    expect(tree.levels.map((level) => level.length)).toEqual([3, 2, 1]);
    expect(hex(tree.levels[1]![1]!.hash)).toBe(hex(leafHash(c).hash));
  });

  test("three leaves: each proof lists the siblings from the leaf up, with their sides", () => {
    const tree = buildMerkleSumTree([a, b, c]);
    const ab = nodeHash(leafHash(a), leafHash(b));
    const step = (node: SumNode, isLeft: boolean) => ({ hash: node.hash, stx: node.stx, sbtc: node.sbtc, isLeft });
    expect(merkleSumProof(tree, 0)).toEqual([step(leafHash(b), false), step(leafHash(c), false)]);
    expect(merkleSumProof(tree, 1)).toEqual([step(leafHash(a), true), step(leafHash(c), false)]);
    // c is carried past level 0, so its proof has one step only.
    expect(merkleSumProof(tree, 2)).toEqual([step(ab, true)]);
  });

  test("the order of the leaves is part of the root", () => {
    expect(hex(buildMerkleSumTree([a, b, c]).root.hash)).not.toBe(hex(buildMerkleSumTree([b, a, c]).root.hash));
  });

  test("five leaves: the last leaf is carried twice and its proof is the other four's node", () => {
    const leaves = [a, b, c, a, b];
    const tree = buildMerkleSumTree(leaves);
    const [ha, hb, hc] = [leafHash(a), leafHash(b), leafHash(c)];
    const left = nodeHash(nodeHash(ha, hb), nodeHash(hc, ha));
    expect(hex(tree.root.hash)).toBe(hex(nodeHash(left, hb).hash));
    expect(merkleSumProof(tree, 4)).toEqual([{ hash: left.hash, stx: left.stx, sbtc: left.sbtc, isLeft: true }]);
  });

  test("every proof of every tree of 1..9 leaves verifies, within ceil(log2 N) steps", () => {
    const pool = [a, b, c, leaf(PRINCIPALS[0], 5n, 5n), leaf(PRINCIPALS[7], 0n, 0n)];
    for (let n = 1; n <= 9; n++) {
      const leaves = Array.from({ length: n }, (_, i) => ({ ...pool[i % pool.length]!, stxIn: BigInt(i) }));
      const tree = buildMerkleSumTree(leaves);
      expect(tree.root.stx).toBe(sum(leaves.map((l) => l.stx)));
      expect(tree.root.sbtc).toBe(sum(leaves.map((l) => l.sbtc)));
      leaves.forEach((l, i) => {
        const proof = merkleSumProof(tree, i);
        expect(proof.length).toBeLessThanOrEqual(ceilLog2(n));
        expect(verifyMerkleSumProof(tree.root, l, proof), `n=${n} index=${i}`).toBe(true);
      });
    }
  });

  test("rejects no leaves, a bad index and root sums past 2^128 - 1", () => {
    expect(() => buildMerkleSumTree([])).toThrow(RangeError);
    const tree = buildMerkleSumTree([a, b]);
    for (const index of [-1, 2, 0.5, Number.NaN]) expect(() => merkleSumProof(tree, index)).toThrow(RangeError);
    expect(() => buildMerkleSumTree([leaf(DEPLOYER, UINT128_MAX, 0n), leaf(DEPLOYER, 1n, 0n)])).toThrow(RangeError);
  });

  test("a proof is a copy: changing it leaves the tree alone", () => {
    const tree = buildMerkleSumTree([a, b]);
    const proof = merkleSumProof(tree, 0);
    proof[0]!.hash[0]! ^= 1;
    expect(verifyMerkleSumProof(tree.root, a, merkleSumProof(tree, 0))).toBe(true);
  });
});

describe("verifyMerkleSumProof", () => {
  const leaves = [leaf(PRINCIPALS[1], 1n, 2n), leaf(PRINCIPALS[2], 3n, 4n), leaf(PRINCIPALS[3], 5n, 6n)];
  const tree = buildMerkleSumTree(leaves);
  const proof = merkleSumProof(tree, 0);

  test("compares both sums as well as the hash", () => {
    expect(verifyMerkleSumProof(tree.root, leaves[0]!, proof)).toBe(true);
    expect(verifyMerkleSumProof({ ...tree.root, stx: tree.root.stx + 1n }, leaves[0]!, proof)).toBe(false);
    expect(verifyMerkleSumProof({ ...tree.root, sbtc: tree.root.sbtc - 1n }, leaves[0]!, proof)).toBe(false);
  });

  test("is false for what the contract would refuse: too long, malformed, out of range", () => {
    const padding = Array.from({ length: MAX_PROOF_DEPTH }, () => ({ ...proof[0]! }));
    expect(verifyMerkleSumProof(tree.root, leaves[0]!, [...proof, ...padding])).toBe(false);
    expect(verifyMerkleSumProof(tree.root, leaves[0]!, withStep(proof, 0, (s) => ({ ...s, hash: s.hash.slice(1) })))).toBe(
      false,
    );
    expect(verifyMerkleSumProof(tree.root, leaves[0]!, withStep(proof, 0, (s) => ({ ...s, stx: UINT128_MAX })))).toBe(
      false,
    );
    expect(verifyMerkleSumProof(tree.root, { ...leaves[0]!, stxIn: -1n }, proof)).toBe(false);
  });

  test("a proof without its first step, for the inner node as a leaf, does not verify", () => {
    expect(verifyMerkleSumProof(tree.root, leaves[0]!, proof.slice(1))).toBe(false);
  });
});

describe("Clarity values for the contract", () => {
  const example = leaf(PRINCIPALS[6], 10n, 20n, { stxIn: 30n, stxOut: 40n, sbtcIn: 50n, sbtcOut: 60n });

  test("exitLeafCV is the leaf without its provider", () => {
    expect(exitLeafCV(example)).toEqual(
      Cl.tuple({
        stx: Cl.uint(10n),
        sbtc: Cl.uint(20n),
        "stx-in": Cl.uint(30n),
        "stx-out": Cl.uint(40n),
        "sbtc-in": Cl.uint(50n),
        "sbtc-out": Cl.uint(60n),
      }),
    );
  });

  test("publishedLeafCV is the full leaf, the leaf hash's preimage", () => {
    expect(publishedLeafCV(example)).toEqual(
      Cl.tuple({
        provider: Cl.principal(PRINCIPALS[6]),
        stx: Cl.uint(10n),
        sbtc: Cl.uint(20n),
        "stx-in": Cl.uint(30n),
        "stx-out": Cl.uint(40n),
        "sbtc-in": Cl.uint(50n),
        "sbtc-out": Cl.uint(60n),
      }),
    );
    const expected = sha256(concatBytes(new Uint8Array([0]), serializeCVBytes(publishedLeafCV(example))));
    expect(hex(leafHash(example).hash)).toBe(hex(expected));
  });

  test("exitProofCV is the list of {hash, stx, sbtc, is-left}", () => {
    const tree = buildMerkleSumTree([example, leaf(DEPLOYER, 1n, 2n), leaf(DEPLOYER, 3n, 4n)]);
    const proof = merkleSumProof(tree, 2);
    expect(exitProofCV(proof)).toEqual(
      Cl.list([
        Cl.tuple({
          hash: Cl.buffer(tree.levels[1]![0]!.hash),
          stx: Cl.uint(11n),
          sbtc: Cl.uint(22n),
          "is-left": Cl.bool(true),
        }),
      ]),
    );
    expect(exitProofCV([])).toEqual(Cl.list([]));
  });

  test("exitProofCV refuses a proof the contract's (list 32 …) cannot take", () => {
    const step = { hash: new Uint8Array(32), stx: 0n, sbtc: 0n, isLeft: false };
    expect(() => exitProofCV(Array.from({ length: MAX_PROOF_DEPTH }, () => step))).not.toThrow();
    expect(() => exitProofCV(Array.from({ length: MAX_PROOF_DEPTH + 1 }, () => step))).toThrow(RangeError);
    expect(() => exitProofCV([{ ...step, hash: new Uint8Array(33) }])).toThrow(RangeError);
  });
});

describe("properties", () => {
  test("root sums are the sums of the leaves", () => {
    fc.assert(
      fc.property(treeCase, ({ leaves }) => {
        const { root, leafCount } = buildMerkleSumTree(leaves);
        expect(leafCount).toBe(leaves.length);
        expect(root.stx).toBe(sum(leaves.map((l) => l.stx)));
        expect(root.sbtc).toBe(sum(leaves.map((l) => l.sbtc)));
      }),
      RUNS,
    );
  });

  test("any leaf's proof verifies and has at most ceil(log2 N) steps", () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, index }) => {
        const tree = buildMerkleSumTree(leaves);
        const proof = merkleSumProof(tree, index);
        expect(proof.length).toBeLessThanOrEqual(ceilLog2(leaves.length));
        expect(verifyMerkleSumProof(tree.root, leaves[index]!, proof)).toBe(true);
      }),
      RUNS,
    );
  });

  test("a flipped bit in any sibling's hash fails verification", () => {
    fc.assert(
      fc.property(treeCaseWithSiblings, fc.nat({ max: 255 }), ({ leaves, index, pick }, bit) => {
        const tree = buildMerkleSumTree(leaves);
        const proof = merkleSumProof(tree, index);
        const tampered = withStep(proof, pick % proof.length, (s) => ({ ...s, hash: flipBit(s.hash, bit) }));
        expect(verifyMerkleSumProof(tree.root, leaves[index]!, tampered)).toBe(false);
      }),
      RUNS,
    );
  });

  test("a changed stx or sbtc on any sibling fails verification", () => {
    fc.assert(
      fc.property(
        treeCaseWithSiblings,
        fc.constantFrom("stx" as const, "sbtc" as const),
        fc.bigInt({ min: 1n, max: 2n ** 64n }),
        fc.boolean(),
        ({ leaves, index, pick }, field, delta, down) => {
          const tree = buildMerkleSumTree(leaves);
          const proof = merkleSumProof(tree, index);
          const tampered = withStep(proof, pick % proof.length, (s) => {
            const changed = down && s[field] >= delta ? s[field] - delta : s[field] + delta;
            return { ...s, [field]: changed };
          });
          expect(verifyMerkleSumProof(tree.root, leaves[index]!, tampered)).toBe(false);
        },
      ),
      RUNS,
    );
  });

  test("a flipped is-left fails verification unless the two children are identical", () => {
    fc.assert(
      fc.property(treeCaseWithSiblings, ({ leaves, index, pick }) => {
        const tree = buildMerkleSumTree(leaves);
        const proof = merkleSumProof(tree, index);
        const at = pick % proof.length;
        const tampered = withStep(proof, at, (s) => ({ ...s, isLeft: !s.isLeft }));
        // Swapping two identical children changes nothing: only then may the proof still verify.
        const swapIsNoOp = sameNode(proof[at]!, pathNodeBelow(leaves[index]!, proof, at));
        expect(verifyMerkleSumProof(tree.root, leaves[index]!, tampered)).toBe(swapIsNoOp);
      }),
      RUNS,
    );
  });

  test("another provider on the leaf fails verification", () => {
    fc.assert(
      fc.property(treeCase, fc.nat({ max: PRINCIPALS.length - 2 }), ({ leaves, index }, shift) => {
        const tree = buildMerkleSumTree(leaves);
        const honest = leaves[index]!;
        const others = PRINCIPALS.filter((p) => p !== honest.provider);
        const forged = { ...honest, provider: others[shift % others.length]! };
        expect(verifyMerkleSumProof(tree.root, forged, merkleSumProof(tree, index))).toBe(false);
      }),
      RUNS,
    );
  });

  test("any changed leaf amount fails verification, flows included", () => {
    fc.assert(
      fc.property(
        treeCase,
        fc.constantFrom(...AMOUNT_FIELDS),
        fc.bigInt({ min: 1n, max: 2n ** 64n }),
        ({ leaves, index }, field, delta) => {
          const tree = buildMerkleSumTree(leaves);
          const honest = leaves[index]!;
          const forged = { ...honest, [field]: honest[field] + delta };
          expect(verifyMerkleSumProof(tree.root, forged, merkleSumProof(tree, index))).toBe(false);
        },
      ),
      RUNS,
    );
  });
});
