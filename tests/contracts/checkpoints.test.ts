/**
 * Checkpoints of the off-chain books: the operator posts a Merkle-sum root of
 * one leaf per provider record, the guardian (or the admin) may veto it for
 * CHECKPOINT_VETO_WINDOW burn blocks, and the operator publishes its leaves so
 * that every provider can rebuild their proof from events alone.
 */
import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { buildMerkleSumTree, merkleSumProof, type ExitLeaf, type MerkleSumTree } from "../../convex/domain/merkleSum";
import {
  checkpointCV,
  checkpointOf,
  checkpointPostedEvent,
  currentEpoch,
  exitLeaf,
  leafFromRecord,
  postCheckpoint,
  postTree,
  publishLeaves,
  snapshotNow,
  verifyExitProof,
  vetoCheckpoint,
  type CheckpointArgs,
  type CheckpointFlows,
  type Snapshot,
} from "./checkpointFixtures";
import {
  alice,
  backend,
  bob,
  burnHeight,
  carol,
  CHECKPOINT_VETO_WINDOW,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  handRole,
  heldByVault,
  initializeVault,
  mallory,
  mintSbtc,
  printedEvents,
  providerRecord,
  providerRecordCV,
  readOnly,
  STX,
  totals,
  voucher,
  withdraw,
} from "./vault";

const VETO_WINDOW = BigInt(CHECKPOINT_VETO_WINDOW);

function mine(n: bigint): void {
  if (n > 0n) simnet.mineEmptyBlocks(Number(n));
}

function mineTo(height: bigint): void {
  const now = burnHeight();
  if (height < now) throw new Error(`burn height ${height} is in the past (now ${now})`);
  mine(height - now);
}

/**
 * Alice deposits 5,000 STX and 1 sBTC, Bob 3,000 STX and withdraws 1,000 with
 * a voucher: four flows (seq 4), and the books the leaves below describe.
 */
function fundVault(): void {
  initializeVault();
  expectOk(deposit(alice, 5_000_000_000n).result);
  mintSbtc(alice, 100_000_000n);
  expectOk(deposit(alice, 100_000_000n, "sBTC").result);
  expectOk(deposit(bob, 3_000_000_000n).result);
  expectOk(withdraw(voucher({ provider: bob, amount: 1_000_000_000n, nonce: 1n })).result);
}

const FUNDED: Snapshot = {
  asOfSeq: 4n,
  flows: { stxIn: 8_000_000_000n, stxOut: 1_000_000_000n, sbtcIn: 100_000_000n, sbtcOut: 0n },
};

function fundedLeaves(): ExitLeaf[] {
  return [
    leafFromRecord(alice, { stx: 5_000_000_000n, sbtc: 100_000_000n }),
    leafFromRecord(bob, { stx: 2_000_000_000n, sbtc: 0n }),
  ];
}

/** A distinct one-leaf tree per `n`, for tests about posting rather than proving. */
function tinyTree(n: bigint): MerkleSumTree {
  return buildMerkleSumTree([exitLeaf(alice, n, 0n)]);
}

describe(VAULT_FUNCTIONS.postCheckpoint, () => {
  beforeEach(fundVault);

  it("lets the operator post epoch 1, printing checkpoint-posted with every field; get-checkpoint reads it back with posted-at = the burn height of the post", () => {
    expect(snapshotNow()).toEqual(FUNDED);
    const tree = buildMerkleSumTree(fundedLeaves());
    const args = checkpointOf(tree, FUNDED);
    expect(args).toMatchObject({ stxSum: 7_000_000_000n, sbtcSum: 100_000_000n, leafCount: 2n });
    const postedAt = burnHeight();

    const { result, events } = postCheckpoint(args);

    expectOk(result);
    expect(printedEvents(events)).toEqual([checkpointPostedEvent({ ...args, epoch: 1n })]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...args, epoch: 1n, postedAt }));
    // A checkpoint moves no money and no counter.
    expect(totals("STX")).toEqual({ balance: 7_000_000_000n, locked: 0n });
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 4n, ...FUNDED.flows }));
  });

  it("refuses anyone but the operator with u200: the admin and guardian (the deployer, operator before the hand-over) and a stranger", () => {
    const args = checkpointOf(tinyTree(1n), FUNDED);
    expectErr(postCheckpoint(args, deployer).result, ERR.NOT_AUTHORIZED);
    expectErr(postCheckpoint(args, mallory).result, ERR.NOT_AUTHORIZED);
    // Authorization comes first: a stranger's invalid checkpoint is still u200.
    expectErr(postCheckpoint({ ...args, leafCount: 0n }, mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
  });

  it("refuses an as-of-seq above the vault's seq with u219, and accepts it equal", () => {
    const args = checkpointOf(tinyTree(1n), FUNDED);
    expectErr(postCheckpoint({ ...args, asOfSeq: 5n }).result, ERR.INVALID_CHECKPOINT);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    expectOk(postCheckpoint(args).result);
    expect(currentEpoch()).toBe(1n);
  });

  it("refuses each flow above the vault's own with u219, and accepts flows at or below them", () => {
    const args = checkpointOf(tinyTree(1n), FUNDED);
    for (const field of ["stxIn", "stxOut", "sbtcIn", "sbtcOut"] as const) {
      const flows: CheckpointFlows = { ...FUNDED.flows, [field]: FUNDED.flows[field] + 1n };
      expectErr(postCheckpoint({ ...args, flows }).result, ERR.INVALID_CHECKPOINT);
    }
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    // Nothing orders a checkpoint's figures against the vault's beyond "not above".
    expectOk(postCheckpoint({ ...args, asOfSeq: 0n, flows: { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n } }).result);
    expect(currentEpoch()).toBe(1n);
  });

  it("refuses a leaf-count of 0 with u219, and accepts 1", () => {
    const args = checkpointOf(tinyTree(1n), FUNDED);
    expectErr(postCheckpoint({ ...args, leafCount: 0n }).result, ERR.INVALID_CHECKPOINT);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    expectOk(postCheckpoint({ ...args, leafCount: 1n }).result);
  });

  it("refuses a post inside the previous checkpoint's veto window (u219), accepts it exactly at posted-at + 144, and numbers epochs 1, 2, 3", () => {
    const posts: (CheckpointArgs & { epoch: bigint; postedAt: bigint })[] = [];
    for (const epoch of [1n, 2n, 3n]) {
      const args = checkpointOf(tinyTree(epoch), FUNDED);
      if (posts.length > 0) {
        const last = posts.at(-1)!;
        mineTo(last.postedAt + VETO_WINDOW - 1n);
        expectErr(postCheckpoint(args).result, ERR.INVALID_CHECKPOINT);
        expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV(last));
        mine(1n);
      }
      const postedAt = burnHeight();
      const { result, events } = postCheckpoint(args);
      expectOk(result);
      expect(printedEvents(events)).toEqual([checkpointPostedEvent({ ...args, epoch })]);
      expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...args, epoch, postedAt }));
      posts.push({ ...args, epoch, postedAt });
    }
    expect(posts.map((p) => p.postedAt - posts[0]!.postedAt)).toEqual([0n, VETO_WINDOW, 2n * VETO_WINDOW]);
  });

  it("accepts a later checkpoint with a lower as-of-seq and lower flows than the one before", () => {
    expectOk(postCheckpoint(checkpointOf(tinyTree(1n), FUNDED)).result);
    mine(VETO_WINDOW);
    const older: Snapshot = { asOfSeq: 2n, flows: { stxIn: 5_000_000_000n, stxOut: 0n, sbtcIn: 100_000_000n, sbtcOut: 0n } };
    expectOk(postCheckpoint(checkpointOf(tinyTree(2n), older)).result);
    expect(currentEpoch()).toBe(2n);
  });
});

describe(VAULT_FUNCTIONS.vetoCheckpoint, () => {
  beforeEach(() => {
    fundVault();
    // Guardian and admin on different keys, so that each one's right is tested on its own.
    handRole("guardian", carol);
  });

  it("lets the guardian veto the fresh checkpoint, printing checkpoint-vetoed {epoch}; the previous checkpoint is current again", () => {
    const first = buildMerkleSumTree(fundedLeaves());
    const firstArgs = checkpointOf(first, FUNDED);
    const firstAt = burnHeight();
    expectOk(postCheckpoint(firstArgs).result);
    mine(VETO_WINDOW);
    const second = tinyTree(42n);
    expectOk(postTree(second, FUNDED).result);

    const { result, events } = vetoCheckpoint(carol);

    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("checkpoint-vetoed"), epoch: Cl.uint(2n) }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...firstArgs, epoch: 1n, postedAt: firstAt }));
    // Proofs check against the restored tree again, not the vetoed one.
    const leaves = fundedLeaves();
    expect(verifyExitProof(leaves[0]!, merkleSumProof(first, 0))).toBeBool(true);
    expect(verifyExitProof(exitLeaf(alice, 42n, 0n), [])).toBeBool(false);
  });

  it("lets the admin veto too", () => {
    expectOk(postTree(tinyTree(1n), FUNDED).result);
    const { result, events } = vetoCheckpoint(deployer);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("checkpoint-vetoed"), epoch: Cl.uint(1n) }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
  });

  it("refuses the operator and strangers with u200, leaving the checkpoint in place", () => {
    const args = checkpointOf(tinyTree(1n), FUNDED);
    const postedAt = burnHeight();
    expectOk(postCheckpoint(args).result);
    expectErr(vetoCheckpoint(backend).result, ERR.NOT_AUTHORIZED);
    expectErr(vetoCheckpoint(mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(vetoCheckpoint(alice).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...args, epoch: 1n, postedAt }));
  });

  it("vetoes only inside the window: accepted at posted-at + 143, refused (u219) at posted-at + 144", () => {
    const first = checkpointOf(tinyTree(1n), FUNDED);
    const firstAt = burnHeight();
    expectOk(postCheckpoint(first).result);
    mineTo(firstAt + VETO_WINDOW);
    expectErr(vetoCheckpoint(carol).result, ERR.INVALID_CHECKPOINT);
    expectErr(vetoCheckpoint(deployer).result, ERR.INVALID_CHECKPOINT);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...first, epoch: 1n, postedAt: firstAt }));

    const secondAt = burnHeight();
    expectOk(postTree(tinyTree(2n), FUNDED).result);
    mineTo(secondAt + VETO_WINDOW - 1n);
    expectOk(vetoCheckpoint(carol).result);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...first, epoch: 1n, postedAt: firstAt }));
  });

  it("does not let the restored checkpoint be vetoed (u219), by the guardian or the admin", () => {
    const first = checkpointOf(tinyTree(1n), FUNDED);
    const firstAt = burnHeight();
    expectOk(postCheckpoint(first).result);
    mine(VETO_WINDOW);
    expectOk(postTree(tinyTree(2n), FUNDED).result);
    expectOk(vetoCheckpoint(carol).result);

    expectErr(vetoCheckpoint(carol).result, ERR.INVALID_CHECKPOINT);
    expectErr(vetoCheckpoint(deployer).result, ERR.INVALID_CHECKPOINT);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...first, epoch: 1n, postedAt: firstAt }));
  });

  it("refuses a veto with no checkpoint at all (u219), before any post and after the only one is vetoed", () => {
    expectErr(vetoCheckpoint(carol).result, ERR.INVALID_CHECKPOINT);
    expectErr(vetoCheckpoint(deployer).result, ERR.INVALID_CHECKPOINT);
    expectOk(postTree(tinyTree(1n), FUNDED).result);
    expectOk(vetoCheckpoint(carol).result);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    expectErr(vetoCheckpoint(carol).result, ERR.INVALID_CHECKPOINT);
  });

  it("gives the next post a new epoch number, never the vetoed one's, and lets it follow the veto at once", () => {
    const args1 = checkpointOf(tinyTree(1n), FUNDED);
    expectOk(postCheckpoint(args1).result);
    expectOk(vetoCheckpoint(carol).result);

    // Nothing is vetoable any more, so the operator may post again in the same block range.
    const args2 = checkpointOf(tinyTree(2n), FUNDED);
    const at2 = burnHeight();
    const { result, events } = postCheckpoint(args2);
    expectOk(result);
    expect(printedEvents(events)).toEqual([checkpointPostedEvent({ ...args2, epoch: 2n })]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...args2, epoch: 2n, postedAt: at2 }));

    mine(VETO_WINDOW);
    expectOk(postTree(tinyTree(3n), FUNDED).result);
    const veto = vetoCheckpoint(deployer);
    expect(printedEvents(veto.events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("checkpoint-vetoed"), epoch: Cl.uint(3n) }),
    ]);
    expect(currentEpoch()).toBe(2n);

    const args4 = checkpointOf(tinyTree(4n), FUNDED);
    const post4 = postCheckpoint(args4);
    expectOk(post4.result);
    expect(printedEvents(post4.events)).toEqual([checkpointPostedEvent({ ...args4, epoch: 4n })]);
    expect(currentEpoch()).toBe(4n);
  });
});

describe(VAULT_FUNCTIONS.publishLeaves, () => {
  beforeEach(fundVault);

  it("lets the operator publish the current checkpoint's leaves in pages, printing checkpoint-leaves and changing nothing", () => {
    const leaves = [...fundedLeaves(), exitLeaf(carol, 0n, 0n)];
    const tree = buildMerkleSumTree(leaves);
    const args = checkpointOf(tree, FUNDED);
    const postedAt = burnHeight();
    expectOk(postCheckpoint(args).result);
    const outflowBefore = readOnly(VAULT_FUNCTIONS.getOutflow, [STX]);

    const pages = [
      { offset: 0n, leaves: leaves.slice(0, 2) },
      { offset: 2n, leaves: leaves.slice(2) },
    ];
    for (const page of pages) {
      const { result, events } = publishLeaves(1n, page.offset, page.leaves);
      expectOk(result);
      expect(printedEvents(events)).toEqual([
        Cl.tuple({
          event: Cl.stringAscii("checkpoint-leaves"),
          epoch: Cl.uint(1n),
          offset: Cl.uint(page.offset),
          leaves: Cl.list(
            page.leaves.map((leaf) =>
              Cl.tuple({
                provider: Cl.principal(leaf.provider),
                stx: Cl.uint(leaf.stx),
                sbtc: Cl.uint(leaf.sbtc),
                "stx-in": Cl.uint(leaf.stxIn),
                "stx-out": Cl.uint(leaf.stxOut),
                "sbtc-in": Cl.uint(leaf.sbtcIn),
                "sbtc-out": Cl.uint(leaf.sbtcOut),
              }),
            ),
          ),
        }),
      ]);
      // No transfer, no state: the print is the only effect.
      expect(events).toHaveLength(1);
    }

    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...args, epoch: 1n, postedAt }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 4n, ...FUNDED.flows }));
    expect(totals("STX")).toEqual({ balance: 7_000_000_000n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 100_000_000n, locked: 0n });
    expect(heldByVault("STX")).toBe(7_000_000_000n);
    expect(readOnly(VAULT_FUNCTIONS.getOutflow, [STX])).toEqual(outflowBefore);
    expect(providerRecord(carol)).toBeNone();
    expect(providerRecord(bob)).toEqual(
      providerRecordCV({ nonce: 1n, stxIn: 3_000_000_000n, stxOut: 1_000_000_000n, createdSeq: 3n }),
    );
    // Publishing does not open a new veto window: after the current one, nothing is vetoable.
    mine(VETO_WINDOW);
    expectOk(publishLeaves(1n, 0n, leaves).result);
    expectErr(vetoCheckpoint(deployer).result, ERR.INVALID_CHECKPOINT);
  });

  it("accepts a full page of 100 leaves", () => {
    const leaves = Array.from({ length: 100 }, (_, i) => exitLeaf(i % 2 === 0 ? alice : bob, BigInt(i), BigInt(2 * i)));
    expectOk(postTree(buildMerkleSumTree(leaves), FUNDED).result);
    const { result, events } = publishLeaves(1n, 0n, leaves);
    expectOk(result);
    expect(events).toHaveLength(1);
  });

  it("refuses anyone but the operator with u200", () => {
    const leaves = fundedLeaves();
    expectOk(postTree(buildMerkleSumTree(leaves), FUNDED).result);
    expectErr(publishLeaves(1n, 0n, leaves, deployer).result, ERR.NOT_AUTHORIZED);
    expectErr(publishLeaves(1n, 0n, leaves, mallory).result, ERR.NOT_AUTHORIZED);
  });

  it("refuses any epoch but the current checkpoint's with u219: none posted, an older, a newer, a vetoed one", () => {
    const leaves = fundedLeaves();
    expectErr(publishLeaves(0n, 0n, leaves).result, ERR.INVALID_CHECKPOINT);
    expectErr(publishLeaves(1n, 0n, leaves).result, ERR.INVALID_CHECKPOINT);

    expectOk(postTree(buildMerkleSumTree(leaves), FUNDED).result);
    expectErr(publishLeaves(0n, 0n, leaves).result, ERR.INVALID_CHECKPOINT);
    expectErr(publishLeaves(2n, 0n, leaves).result, ERR.INVALID_CHECKPOINT);
    expectOk(publishLeaves(1n, 0n, leaves).result);

    mine(VETO_WINDOW);
    expectOk(postTree(tinyTree(9n), FUNDED).result);
    expectErr(publishLeaves(1n, 0n, leaves).result, ERR.INVALID_CHECKPOINT);
    expectOk(vetoCheckpoint(deployer).result);
    // Epoch 1 is current again; the vetoed epoch 2 can no longer be published.
    expectErr(publishLeaves(2n, 0n, [exitLeaf(alice, 9n, 0n)]).result, ERR.INVALID_CHECKPOINT);
    expectOk(publishLeaves(1n, 0n, leaves).result);
  });
});

describe(`${VAULT_FUNCTIONS.verifyExitProof} against a posted tree`, () => {
  beforeEach(fundVault);

  const extra = (): ExitLeaf[] => [
    exitLeaf(carol, 1_234_567n, 0n),
    exitLeaf(mallory, 0n, 7_654_321n, { sbtcIn: 7_000_000n }),
    exitLeaf(deployer, 1n, 1n, { stxIn: 1n, sbtcIn: 1n }),
  ];

  for (const size of [2, 3, 4, 5]) {
    it(`proves every leaf of a ${size}-provider tree, and no altered leaf, other provider or other leaf's proof`, () => {
      const leaves = [...fundedLeaves(), ...extra()].slice(0, size);
      const tree = buildMerkleSumTree(leaves);
      expectOk(postTree(tree, FUNDED).result);

      leaves.forEach((leaf, i) => {
        const proof = merkleSumProof(tree, i);
        expect(verifyExitProof(leaf, proof)).toBeBool(true);
        const other = leaves[(i + 1) % size]!;
        expect(verifyExitProof(leaf, proof, other.provider)).toBeBool(false);
        expect(verifyExitProof(leaf, merkleSumProof(tree, (i + 1) % size))).toBeBool(false);
        expect(verifyExitProof({ ...leaf, stx: leaf.stx + 1n }, proof)).toBeBool(false);
        expect(verifyExitProof({ ...leaf, sbtcOut: leaf.sbtcOut + 1n }, proof)).toBeBool(false);
        expect(verifyExitProof(leaf, [])).toBeBool(false);
      });
    });
  }

  it("is false with no checkpoint, and false again once the only checkpoint is vetoed", () => {
    const leaves = fundedLeaves();
    const tree = buildMerkleSumTree(leaves);
    expect(verifyExitProof(leaves[0]!, merkleSumProof(tree, 0))).toBeBool(false);
    expectOk(postTree(tree, FUNDED).result);
    expect(verifyExitProof(leaves[0]!, merkleSumProof(tree, 0))).toBeBool(true);
    expectOk(vetoCheckpoint(deployer).result);
    expect(verifyExitProof(leaves[0]!, merkleSumProof(tree, 0))).toBeBool(false);
  });
});
