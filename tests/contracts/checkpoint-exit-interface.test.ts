/**
 * Checkpoints, shutdown and the exit, checked against the vault's fixed
 * interface: error codes and event names are written out literally, and so
 * are the function names where the test pins them against the contract's ABI
 * (each function's signature, and the list of public functions refused after
 * shutdown); the calls themselves go through VAULT_FUNCTIONS, whose names
 * tests/contracts/interface.test.ts checks against the ABI, and through the
 * checkpoint fixtures (tests/contracts/checkpointFixtures.ts). The Merkle-sum
 * hashes are computed by Clarity itself (`sha256` of `to-consensus-buff?` in
 * a simnet snippet), so that a mistake shared by the contract and
 * convex/domain/merkleSum.ts cannot hide.
 */
import { bytesToHex, hexToBytes } from "@stacks/common";
import { Cl, type ClarityValue } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  buildMerkleSumTree,
  leafHash,
  merkleSumProof,
  publishedLeafCV,
  UINT128_MAX,
  type ExitLeaf,
  type ProofStep,
  type SumNode,
} from "../../convex/domain/merkleSum";
import {
  checkpointFlowsCV,
  claimExit,
  exitClaimedEvent,
  exitLeaf,
  leafFromRecord,
  NO_FLOWS,
  postCheckpoint,
  shutdownEvent,
  snapshotNow,
  verifyExitProof,
  vetoCheckpoint,
  type CheckpointArgs,
} from "./checkpointFixtures";
import {
  alice,
  backend,
  bob,
  burnHeight,
  call,
  carol,
  deployer,
  deployLookAlikeSbtc,
  deposit,
  expectErr,
  expectOk,
  heldByVault,
  initializeVault,
  lock,
  mallory,
  mintSbtc,
  printedEvents,
  readOnly,
  stxBalance,
  tokenArg,
  totals,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

const VETO = 144n;
const SILENCE = 4320n;

const E = {
  NOT_AUTHORIZED: 200n,
  SHUT_DOWN: 215n,
  NOT_SHUT_DOWN: 216n,
  INVALID_PROOF: 217n,
  ALREADY_CLAIMED: 218n,
  INVALID_CHECKPOINT: 219n,
} as const;

// ---------------------------------------------------------------------------
// Calls the fixtures do not have
// ---------------------------------------------------------------------------

function mine(n: bigint): void {
  if (n > 0n) simnet.mineEmptyBlocks(Number(n));
}

/** A checkpoint of `root` (hash and sums) and `leafCount` leaves, at the vault's flows right now. */
function checkpointAtNow(root: SumNode, leafCount: number): CheckpointArgs {
  const snap = snapshotNow();
  return { root: root.hash, stxSum: root.stx, sbtcSum: root.sbtc, asOfSeq: snap.asOfSeq, flows: snap.flows, leafCount: BigInt(leafCount) };
}

function shutdown(sender: string) {
  return call(VAULT_FUNCTIONS.shutdown, [], sender);
}

// ---------------------------------------------------------------------------
// The tree, computed by Clarity from the written formulas
// ---------------------------------------------------------------------------

function clarityBuff(snippet: string): Uint8Array {
  const { result } = simnet.execute(snippet);
  if (result.type !== "buffer") throw new Error(`snippet gave ${result.type}, not a buffer`);
  return hexToBytes(result.value);
}

/** sha256(0x00 || to-consensus-buff?(leaf)), evaluated by Clarity. */
function clarityLeaf(leaf: ExitLeaf): SumNode {
  const hash = clarityBuff(
    `(sha256 (concat 0x00 (unwrap-panic (to-consensus-buff? {provider: '${leaf.provider}, stx: u${leaf.stx}, sbtc: u${leaf.sbtc}, ` +
      `stx-in: u${leaf.stxIn}, stx-out: u${leaf.stxOut}, sbtc-in: u${leaf.sbtcIn}, sbtc-out: u${leaf.sbtcOut}}))))`,
  );
  return { hash, stx: leaf.stx, sbtc: leaf.sbtc };
}

/** sha256(0x01 || to-consensus-buff?({left, left-stx, left-sbtc, right, right-stx, right-sbtc})), sums added, evaluated by Clarity. */
function clarityNode(left: SumNode, right: SumNode): SumNode {
  const hash = clarityBuff(
    `(sha256 (concat 0x01 (unwrap-panic (to-consensus-buff? {left: 0x${bytesToHex(left.hash)}, left-stx: u${left.stx}, left-sbtc: u${left.sbtc}, ` +
      `right: 0x${bytesToHex(right.hash)}, right-stx: u${right.stx}, right-sbtc: u${right.sbtc}}))))`,
  );
  return { hash, stx: left.stx + right.stx, sbtc: left.sbtc + right.sbtc };
}

function step(node: SumNode, isLeft: boolean): ProofStep {
  return { hash: node.hash, stx: node.stx, sbtc: node.sbtc, isLeft };
}

function proofHex(proof: readonly ProofStep[]) {
  return proof.map((s) => ({ hash: bytesToHex(s.hash), stx: s.stx, sbtc: s.sbtc, isLeft: s.isLeft }));
}

const FIVE: ExitLeaf[] = [
  exitLeaf(alice, 5_000_000_000n, 1_000_000n, { stxIn: 6_000_000_000n, stxOut: 1_000_000_000n, sbtcIn: 1_000_000n }),
  exitLeaf(bob, 1n, 0n, { stxIn: 2n, stxOut: 1n }),
  exitLeaf(`${deployer}.sbtc-token`, 0n, 7n, { sbtcIn: 9n, sbtcOut: 2n }),
  exitLeaf(carol, 2n ** 100n, 2n ** 90n, { stxIn: 2n ** 127n, sbtcOut: UINT128_MAX }),
  exitLeaf(mallory, 3n, 4n),
];

describe("interface shapes", () => {
  it("has the checkpoint and exit functions with exactly the written argument and result types", () => {
    const abi = simnet.getContractsInterfaces().get(VAULT)!;
    const fn = (name: string) => {
      const f = abi.functions.find((x) => x.name === name);
      if (!f) throw new Error(`no function ${name}`);
      return { access: f.access, args: f.args.map((a) => a.type), outputs: f.outputs.type };
    };
    const u = "uint128";
    const flows = { tuple: [{ name: "sbtc-in", type: u }, { name: "sbtc-out", type: u }, { name: "stx-in", type: u }, { name: "stx-out", type: u }] };
    const leafNoProvider = {
      tuple: [
        { name: "sbtc", type: u },
        { name: "sbtc-in", type: u },
        { name: "sbtc-out", type: u },
        { name: "stx", type: u },
        { name: "stx-in", type: u },
        { name: "stx-out", type: u },
      ],
    };
    const fullLeaf = { tuple: [{ name: "provider", type: "principal" }, ...leafNoProvider.tuple] };
    const proof = {
      list: {
        type: { tuple: [{ name: "hash", type: { buffer: { length: 32 } } }, { name: "is-left", type: "bool" }, { name: "sbtc", type: u }, { name: "stx", type: u }] },
        length: 32,
      },
    };
    const okBool = { response: { ok: "bool", error: u } };

    expect(fn("post-checkpoint")).toEqual({ access: "public", args: [{ buffer: { length: 32 } }, u, u, u, flows, u], outputs: okBool });
    expect(fn("veto-checkpoint")).toEqual({ access: "public", args: [], outputs: okBool });
    expect(fn("publish-leaves")).toEqual({ access: "public", args: [u, u, { list: { type: fullLeaf, length: 100 } }], outputs: okBool });
    expect(fn("shutdown")).toEqual({ access: "public", args: [], outputs: okBool });
    expect(fn("claim-exit")).toEqual({
      access: "public",
      args: [{ optional: "trait_reference" }, { optional: leafNoProvider }, proof],
      outputs: { response: { ok: u, error: u } },
    });
    expect(fn("verify-exit-proof")).toEqual({ access: "read_only", args: ["principal", leafNoProvider, proof], outputs: "bool" });
    expect(fn("get-checkpoint")).toEqual({
      access: "read_only",
      args: [],
      outputs: {
        optional: {
          tuple: [
            { name: "as-of-seq", type: u },
            { name: "epoch", type: u },
            { name: "flows", type: flows },
            { name: "leaf-count", type: u },
            { name: "posted-at", type: u },
            { name: "root", type: { buffer: { length: 32 } } },
            { name: "sbtc-sum", type: u },
            { name: "stx-sum", type: u },
          ],
        },
      },
    });
    const source = simnet.getContractSource(VAULT) ?? "";
    expect(source).toMatch(/\(define-constant CHECKPOINT-VETO-WINDOW u144\)/);
    expect(source).toMatch(/\(define-constant SILENCE u4320\)/);
  });
});

describe("Merkle-sum hashing as written, computed by Clarity", () => {
  beforeEach(() => initializeVault());

  it("leaf hash = sha256(0x00 || consensus(leaf with provider)): the TypeScript module and the vault agree with Clarity, and a one-leaf root is the leaf hash", () => {
    for (const leaf of FIVE) {
      expect(bytesToHex(leafHash(leaf).hash)).toBe(bytesToHex(clarityLeaf(leaf).hash));
    }
    const leaf = FIVE[0]!;
    const root = clarityLeaf(leaf);
    expect(bytesToHex(buildMerkleSumTree([leaf]).root.hash)).toBe(bytesToHex(root.hash));
    expectOk(postCheckpoint(checkpointAtNow(root, 1)).result);
    expect(verifyExitProof(leaf, [])).toBeBool(true);
    expect(verifyExitProof(leaf, [], bob)).toBeBool(false);
  });

  it("five leaves: pairs (0,1), (2,3), the odd last leaf carried up unchanged twice; root, sums and every proof (siblings from the leaf up, is-left = sibling on the left) match the written tree", () => {
    const [l0, l1, l2, l3, l4] = FIVE.map(clarityLeaf) as [SumNode, SumNode, SumNode, SumNode, SumNode];
    const n01 = clarityNode(l0, l1);
    const n23 = clarityNode(l2, l3);
    const n0123 = clarityNode(n01, n23);
    const root = clarityNode(n0123, l4);

    const tree = buildMerkleSumTree(FIVE);
    expect(bytesToHex(tree.root.hash)).toBe(bytesToHex(root.hash));
    expect([tree.root.stx, tree.root.sbtc]).toEqual([root.stx, root.sbtc]);
    expect(root.stx).toBe(FIVE.reduce((s, l) => s + l.stx, 0n));
    expect(root.sbtc).toBe(FIVE.reduce((s, l) => s + l.sbtc, 0n));

    const proofs: ProofStep[][] = [
      [step(l1, false), step(n23, false), step(l4, false)],
      [step(l0, true), step(n23, false), step(l4, false)],
      [step(l3, false), step(n01, true), step(l4, false)],
      [step(l2, true), step(n01, true), step(l4, false)],
      [step(n0123, true)],
    ];
    proofs.forEach((proof, i) => expect(proofHex(merkleSumProof(tree, i)), `leaf ${i}`).toEqual(proofHex(proof)));

    expectOk(postCheckpoint(checkpointAtNow(root, 5)).result);
    FIVE.forEach((leaf, i) => {
      expect(verifyExitProof(leaf, proofs[i]!), `leaf ${i}`).toBeBool(true);
      // The side matters: the same sibling on the other side does not prove it.
      const flipped = proofs[i]!.map((s, j) => (j === 0 ? { ...s, isLeft: !s.isLeft } : s));
      expect(verifyExitProof(leaf, flipped), `leaf ${i} flipped`).toBeBool(false);
    });
  });

  it("a proof verifies only when the root hash AND both posted sums match", () => {
    const tree = buildMerkleSumTree(FIVE);
    const good = checkpointAtNow(tree.root, 5);
    const proof0 = merkleSumProof(tree, 0);

    expectOk(postCheckpoint({ ...good, stxSum: good.stxSum + 1n }).result);
    expect(verifyExitProof(FIVE[0]!, proof0)).toBeBool(false);
    expectOk(vetoCheckpoint(deployer).result);
    expectOk(postCheckpoint({ ...good, sbtcSum: good.sbtcSum - 1n }).result);
    expect(verifyExitProof(FIVE[0]!, proof0)).toBeBool(false);
    expectOk(vetoCheckpoint(deployer).result);
    expectOk(postCheckpoint({ ...good, root: new Uint8Array(32).fill(7) }).result);
    expect(verifyExitProof(FIVE[0]!, proof0)).toBeBool(false);
    expectOk(vetoCheckpoint(deployer).result);
    expectOk(postCheckpoint(good).result);
    FIVE.forEach((leaf, i) => expect(verifyExitProof(leaf, merkleSumProof(tree, i))).toBeBool(true));
  });
});

describe("veto-checkpoint restores the previous checkpoint for everything that reads it", () => {
  it("after a veto, shutdown's liabilities and every claim use the restored checkpoint; the vetoed tree's proof fails u217", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(deposit(bob, 500_000_000n).result);
    const leavesA = [leafFromRecord(alice, { stx: 1_000_000_000n, sbtc: 0n }), leafFromRecord(bob, { stx: 500_000_000n, sbtc: 0n })];
    const treeA = buildMerkleSumTree(leavesA);
    const postedA = burnHeight();
    expectOk(postCheckpoint(checkpointAtNow(treeA.root, 2)).result);
    mine(VETO);

    expectOk(deposit(alice, 200_000_000n).result);
    const leavesB = [leafFromRecord(alice, { stx: 9_000_000_000n, sbtc: 0n }), leafFromRecord(bob, { stx: 500_000_000n, sbtc: 0n })];
    const treeB = buildMerkleSumTree(leavesB);
    expectOk(postCheckpoint(checkpointAtNow(treeB.root, 2)).result);
    const vetoed = vetoCheckpoint(deployer);
    expectOk(vetoed.result);
    expect(printedEvents(vetoed.events)).toEqual([Cl.tuple({ event: Cl.stringAscii("checkpoint-vetoed"), epoch: Cl.uint(2n) })]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(
      Cl.some(
        Cl.tuple({
          epoch: Cl.uint(1n),
          root: Cl.buffer(treeA.root.hash),
          "stx-sum": Cl.uint(1_500_000_000n),
          "sbtc-sum": Cl.uint(0n),
          "as-of-seq": Cl.uint(2n),
          flows: checkpointFlowsCV({ ...NO_FLOWS, stxIn: 1_500_000_000n }),
          "leaf-count": Cl.uint(2n),
          "posted-at": Cl.uint(postedA),
        }),
      ),
    );

    // The restored checkpoint is outside its window: the admin may shut down at once.
    const down = shutdown(deployer);
    expectOk(down.result);
    expect(printedEvents(down.events)).toEqual([
      shutdownEvent(deployer, { stxAssets: 1_700_000_000n, stxLiabilities: 1_700_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n }),
    ]);

    expectErr(claimExit(alice, "STX", leavesB[0]!, merkleSumProof(treeB, 0)).result, E.INVALID_PROOF);
    const a = claimExit(alice, "STX", leavesA[0]!, merkleSumProof(treeA, 0));
    expect(a.result).toBeOk(Cl.uint(1_200_000_000n));
    expect(printedEvents(a.events)).toEqual([exitClaimedEvent(alice, "STX", 1_200_000_000n, 1_200_000_000n)]);
    expect(claimExit(bob, "STX", leavesA[1]!, merkleSumProof(treeA, 1)).result).toBeOk(Cl.uint(500_000_000n));
    expect(heldByVault("STX")).toBe(0n);
  });
});

describe("after shutdown every public function but claim-exit fails u215 before any other check", () => {
  it("with bad arguments, by unauthorized callers, while paused: always u215; claim-exit still pays", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    mintSbtc(alice, 5_000_000n);
    expectOk(deposit(alice, 5_000_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 100_000_000n).result);
    const fake = Cl.some(Cl.principal(deployLookAlikeSbtc()));
    expectOk(call(VAULT_FUNCTIONS.pause, [], deployer).result);
    // The admin may shut down at any time, paused or not.
    expectOk(shutdown(deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxLocked)).toBeUint(0n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalSbtcLocked)).toBeUint(0n);

    const zeroLeaf = publishedLeafCV(exitLeaf(mallory, 0n, 0n));
    const bad: { fn: string; args: ClarityValue[]; senders: string[] }[] = [
      // would be u204 / u202 / u200
      { fn: "set-sbtc-token-principal", args: [Cl.principal(alice)], senders: [deployer, mallory] },
      // would be u220 / u200
      { fn: "propose-role", args: [Cl.stringAscii("nobody"), Cl.principal(alice)], senders: [deployer, mallory] },
      // would be u220 (no proposal)
      { fn: "accept-role", args: [Cl.stringAscii("nobody")], senders: [mallory] },
      { fn: "cancel-role", args: [Cl.stringAscii("guardian")], senders: [deployer, mallory] },
      { fn: "revoke-hot-keys", args: [], senders: [mallory] },
      // would be u207 only if paused mattered; u200 for a stranger
      { fn: "pause", args: [], senders: [deployer, mallory] },
      { fn: "unpause", args: [], senders: [deployer, mallory] },
      // would be u208
      { fn: "set-outflow-limit", args: [Cl.uint(10_001n), Cl.uint(0n), Cl.uint(0n)], senders: [deployer, mallory] },
      // would be u207 / u208 / u202
      { fn: "deposit-funds", args: [Cl.uint(0n), fake], senders: [alice, mallory] },
      { fn: "pay-premium", args: [Cl.uint(1n), Cl.uint(0n), fake], senders: [mallory] },
      { fn: "lock-collateral-aggregate", args: [Cl.list([]), Cl.uint(0n), fake], senders: [backend, mallory] },
      { fn: "release-collateral-aggregate", args: [Cl.list([]), Cl.uint(999_999_999_999n), tokenArg("STX")], senders: [backend, mallory] },
      { fn: "settle-policy", args: [Cl.uint(1n), Cl.principal(mallory), Cl.uint(0n), fake], senders: [backend, mallory] },
      {
        fn: "withdraw-funds",
        args: [Cl.uint(0n), fake, Cl.uint(0n), Cl.uint(0n), Cl.buffer(new Uint8Array(65))],
        senders: [alice, mallory],
      },
      // would be u219 (leaf-count 0, as-of-seq above the vault's)
      {
        fn: "post-checkpoint",
        args: [Cl.buffer(new Uint8Array(32)), Cl.uint(0n), Cl.uint(0n), Cl.uint(99n), checkpointFlowsCV(NO_FLOWS), Cl.uint(0n)],
        senders: [backend, mallory],
      },
      // would be u219 (nothing to veto)
      { fn: "veto-checkpoint", args: [], senders: [deployer, mallory] },
      // would be u219 (no such epoch)
      { fn: "publish-leaves", args: [Cl.uint(99n), Cl.uint(0n), Cl.list([zeroLeaf])], senders: [backend, mallory] },
      { fn: "shutdown", args: [], senders: [deployer, mallory] },
    ];
    const publicFns = simnet
      .getContractsInterfaces()
      .get(VAULT)!
      .functions.filter((f) => f.access === "public")
      .map((f) => f.name)
      .filter((n) => n !== "claim-exit")
      .sort();
    expect(bad.map((b) => b.fn).sort()).toEqual(publicFns);
    for (const { fn, args, senders } of bad) {
      for (const sender of senders) {
        expect(simnet.callPublicFn(VAULT, fn, args, sender).result, `${fn} by ${sender}`).toBeErr(Cl.uint(E.SHUT_DOWN));
      }
    }

    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    const before = stxBalance(alice);
    expect(claimExit(alice, "STX", null).result).toBeOk(Cl.uint(1_000_000_000n));
    expect(stxBalance(alice)).toBe(before + 1_000_000_000n);
    expect(claimExit(alice, "sBTC", null).result).toBeOk(Cl.uint(5_000_000n));
    expect(totals("STX")).toEqual({ balance: 0n, locked: 0n });
  });
});

describe("claim-exit owed formula", () => {
  it("with a leaf, floors owed at 0 when withdrawals since exceed the leaf: pays 0, transfers nothing, the claim is spent", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    const leaves = [leafFromRecord(alice, { stx: 100_000_000n, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postCheckpoint(checkpointAtNow(tree.root, 1)).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 500_000_000n, nonce: 1n })).result);
    mine(VETO);
    const down = shutdown(deployer);
    expectOk(down.result);
    // 100 + (1,000 − 1,000) − (500 − 0) < 0.
    expect(printedEvents(down.events)).toEqual([
      shutdownEvent(deployer, { stxAssets: 500_000_000n, stxLiabilities: 0n, sbtcAssets: 0n, sbtcLiabilities: 0n }),
    ]);
    const c = claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0));
    expect(c.result).toBeOk(Cl.uint(0n));
    expect(printedEvents(c.events)).toEqual([exitClaimedEvent(alice, "STX", 0n, 0n)]);
    expect(c.events).toHaveLength(1);
    expectErr(claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0)).result, E.ALREADY_CLAIMED);
    expect(heldByVault("STX")).toBe(500_000_000n);
  });

  it("a leaf whose posted sums do not match its tree proves nothing at claim time (u217), and a covered record cannot go leaf-less (u217)", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    const leaves = [leafFromRecord(alice, { stx: 1_000_000_000n, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postCheckpoint({ ...checkpointAtNow(tree.root, 1), stxSum: 1_000_000_001n }).result);
    mine(VETO);
    expectOk(shutdown(deployer).result);
    expectErr(claimExit(alice, "STX", leaves[0]!, []).result, E.INVALID_PROOF);
    expectErr(claimExit(alice, "STX", null).result, E.INVALID_PROOF);
  });
});

describe("arithmetic at the edges of uint (faulty checkpoints)", () => {
  it("shutdown liabilities = sum + (in − flows.in) − (out − flows.out) even when sum + inflow alone passes 2^128 − 1", () => {
    initializeVault();
    expectOk(deposit(alice, 1n).result);
    const leaves = [leafFromRecord(alice, { stx: UINT128_MAX, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postCheckpoint(checkpointAtNow(tree.root, 1)).result);
    expectOk(deposit(bob, 1n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result);
    mine(VETO);
    // (2^128 − 1) + 1 − 1 = 2^128 − 1: representable.
    const down = shutdown(deployer);
    expect(down.result).toBeOk(Cl.bool(true));
    expect(printedEvents(down.events)).toEqual([
      shutdownEvent(deployer, { stxAssets: 1n, stxLiabilities: UINT128_MAX, sbtcAssets: 0n, sbtcLiabilities: 0n }),
    ]);
  });

  it("claim owed = leaf + (in − leaf.in) − (out − leaf.out) even when leaf + in alone passes 2^128 − 1", () => {
    initializeVault();
    expectOk(deposit(alice, 1n).result);
    const leaves = [leafFromRecord(alice, { stx: UINT128_MAX, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postCheckpoint(checkpointAtNow(tree.root, 1)).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result);
    mine(VETO);
    expectOk(shutdown(deployer).result);
    // owed = (2^128 − 1) + (1 − 1) − (1 − 0) = 2^128 − 2; the vault holds nothing, so paid = 0.
    const c = claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0));
    expect(c.result).toBeOk(Cl.uint(0n));
    expect(printedEvents(c.events)).toEqual([exitClaimedEvent(alice, "STX", UINT128_MAX - 1n, 0n)]);
  });

  it("pro-rata paid = floor(owed × assets / liabilities) even when owed × assets passes 2^128 − 1", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(deposit(bob, 1_000_000_000n).result);
    const huge = 2n ** 120n;
    const leaves = [leafFromRecord(alice, { stx: huge, sbtc: 0n }), leafFromRecord(bob, { stx: 1_000_000_000n, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postCheckpoint(checkpointAtNow(tree.root, 2)).result);
    mine(VETO);
    expectOk(shutdown(deployer).result);
    const assets = 2_000_000_000n;
    const liabilities = huge + 1_000_000_000n;
    const paid = (huge * assets) / liabilities;
    expect(paid).toBe(1_999_999_999n);
    const c = claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0));
    expect(c.result).toBeOk(Cl.uint(paid));
    expect(printedEvents(c.events)).toEqual([exitClaimedEvent(alice, "STX", huge, paid)]);
  });
});

describe("shutdown silence and veto window, by a stranger", () => {
  it("a stranger after SILENCE but inside a fresh checkpoint's veto window gets u219, not u200; after the window u200 until posted-at + SILENCE + 1", () => {
    const deployedAt = burnHeight();
    initializeVault();
    mine(deployedAt + SILENCE + 1n - burnHeight());
    const postedAt = burnHeight();
    expectOk(postCheckpoint(checkpointAtNow(buildMerkleSumTree([exitLeaf(alice, 0n, 0n)]).root, 1)).result);
    expectErr(shutdown(mallory).result, E.INVALID_CHECKPOINT);
    mine(VETO);
    expectErr(shutdown(mallory).result, E.NOT_AUTHORIZED);
    mine(postedAt + SILENCE - burnHeight());
    expectErr(shutdown(mallory).result, E.NOT_AUTHORIZED);
    mine(1n);
    expectOk(shutdown(mallory).result);
    expectErr(shutdown(deployer).result, E.SHUT_DOWN);
  });

  it("claim-exit before shutdown is u216 whoever calls it and whatever the arguments", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000n).result);
    expectErr(claimExit(alice, "STX", null).result, E.NOT_SHUT_DOWN);
    expectErr(claimExit(mallory, "sBTC", exitLeaf(mallory, 1n, 1n), []).result, E.NOT_SHUT_DOWN);
  });
});
