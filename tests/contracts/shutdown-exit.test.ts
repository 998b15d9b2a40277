/**
 * Shutdown and the trustless exit: if the backend goes silent, anyone can end
 * the vault, which fixes per token what it holds (assets) and what it owes
 * (liabilities, from the last checkpoint moved by every flow since); every
 * provider then claims by proof against that checkpoint, in full when the
 * vault holds enough, else the same pro-rata share as everyone else.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS, type VaultPublicFunction } from "../../convex/chain/vault";
import { buildMerkleSumTree, merkleSumProof, type ExitLeaf, type MerkleSumTree, type ProofStep } from "../../convex/domain/merkleSum";
import {
  checkpointCV,
  checkpointFlowsCV,
  checkpointOf,
  claimExit,
  exitClaim,
  exitClaimedEvent,
  exitLeaf,
  exitTermsCV,
  leafFromRecord,
  postCheckpoint,
  postTree,
  publishedLeafCVs,
  publishLeaves,
  shutdownEvent,
  snapshotNow,
  vetoCheckpoint,
  type ExitTerms,
  type Snapshot,
  type Token,
} from "./checkpointFixtures";
import {
  accounts,
  alice,
  backend,
  bob,
  burnHeight,
  call,
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
  lock,
  mallory,
  mintSbtc,
  payPremium,
  printedEvents,
  proposeRole,
  readOnly,
  ROLE_DELAY,
  rolesCV,
  SBTC,
  sbtcBalance,
  settle,
  SILENCE,
  STX,
  stxBalance,
  totals,
  uintOf,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

const VETO_WINDOW = BigInt(CHECKPOINT_VETO_WINDOW);
const SILENT = BigInt(SILENCE);

const dave = (() => {
  const address = accounts.get("wallet_5");
  if (!address) throw new Error("simnet account wallet_5 missing from settings/Devnet.toml");
  return address;
})();

// Each test starts from a fresh deployment: the burn height it starts at is
// the vault's deployment height, from which silence counts without a checkpoint.
let deployedAt = 0n;
beforeEach(() => {
  deployedAt = burnHeight();
});

function mine(n: bigint): void {
  if (n > 0n) simnet.mineEmptyBlocks(Number(n));
}

function mineTo(height: bigint): void {
  const now = burnHeight();
  if (height < now) throw new Error(`burn height ${height} is in the past (now ${now})`);
  mine(height - now);
}

function shutdown(sender: string) {
  return call(VAULT_FUNCTIONS.shutdown, [], sender);
}

function balanceOf(who: string, token: Token): bigint {
  return token === "STX" ? stxBalance(who) : sbtcBalance(who);
}

/**
 * Claims and checks everything a claim changes: `(ok paid)`, the one
 * `exit-claimed` event (after the transfer, when there is one), the provider's
 * and the vault's real balances, the tracked balance and the claim record.
 */
function expectClaim(
  provider: string,
  token: Token,
  leaf: ExitLeaf | null,
  proof: readonly ProofStep[],
  expected: { owed: bigint; paid: bigint },
): void {
  const holder = balanceOf(provider, token);
  const held = heldByVault(token);
  const tracked = totals(token).balance;

  const { result, events } = claimExit(provider, token, leaf, proof);

  expect(result).toBeOk(Cl.uint(expected.paid));
  expect(printedEvents(events)).toEqual([exitClaimedEvent(provider, token, expected.owed, expected.paid)]);
  if (expected.paid > 0n) {
    expect(events[0]).toMatchObject({
      event: token === "STX" ? "stx_transfer_event" : "ft_transfer_event",
      data: { amount: expected.paid.toString(), sender: VAULT, recipient: provider },
    });
    expect(events).toHaveLength(2);
  } else {
    expect(events).toHaveLength(1);
  }
  expect(balanceOf(provider, token)).toBe(holder + expected.paid);
  expect(heldByVault(token)).toBe(held - expected.paid);
  expect(totals(token).balance).toBe(tracked - expected.paid);
  expect(exitClaim(provider, token)).toBeSome(Cl.uint(expected.paid));
}

/** `owed × assets / liabilities` rounded down when the vault is short, else `owed`. */
function proRata(owed: bigint, assets: bigint, liabilities: bigint): bigint {
  return assets >= liabilities ? owed : (owed * assets) / liabilities;
}

function expectShutdown(by: string, terms: ExitTerms): void {
  const { result, events } = shutdown(by);
  expectOk(result);
  expect(printedEvents(events)).toEqual([shutdownEvent(by, terms)]);
  expect(readOnly(VAULT_FUNCTIONS.getExitTerms)).toEqual(exitTermsCV(terms));
  expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(true);
}

describe(`${VAULT_FUNCTIONS.shutdown}: who and when`, () => {
  it("lets the admin shut down at any time, even at the deployment height, with liabilities in − out when there is no checkpoint", () => {
    expectOk(deposit(alice, 5_000_000n).result);
    expect(burnHeight()).toBe(deployedAt);
    expectShutdown(deployer, { stxAssets: 5_000_000n, stxLiabilities: 5_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n });
  });

  it("refuses anyone else (u200) until burn height > deployment + SILENCE: a stranger, the operator, the guardian, a provider; exactly at the boundary still refused", () => {
    initializeVault();
    handRole("guardian", carol);
    expectOk(deposit(alice, 5_000_000n).result);

    mineTo(deployedAt + SILENT);
    for (const sender of [mallory, backend, carol, alice]) {
      expectErr(shutdown(sender).result, ERR.NOT_AUTHORIZED);
    }
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);

    mine(1n);
    expectShutdown(mallory, { stxAssets: 5_000_000n, stxLiabilities: 5_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n });
  });

  it("counts the silence from the current checkpoint once there is one, not from deployment", () => {
    initializeVault();
    mine(1_000n);
    const postedAt = burnHeight();
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 0n, 0n)])).result);

    mineTo(deployedAt + SILENT + 1n);
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    mineTo(postedAt + SILENT);
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    mine(1n);
    expectShutdown(mallory, { stxAssets: 0n, stxLiabilities: 0n, sbtcAssets: 0n, sbtcLiabilities: 0n });
  });

  it("after a veto counts the silence from the restored checkpoint", () => {
    initializeVault();
    const firstAt = burnHeight();
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 0n, 0n)])).result);
    mineTo(firstAt + SILENT - 100n);
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 1n, 0n)])).result);
    expectOk(vetoCheckpoint(deployer).result);

    mineTo(firstAt + SILENT);
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    mine(1n);
    expectOk(shutdown(mallory).result);
  });

  it("after the only checkpoint is vetoed counts the silence from deployment again", () => {
    initializeVault();
    mineTo(deployedAt + SILENT - 50n);
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 0n, 0n)])).result);
    expectOk(vetoCheckpoint(deployer).result);

    mineTo(deployedAt + SILENT);
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    mine(1n);
    expectOk(shutdown(mallory).result);
  });

  it("refuses everyone, the admin too, with u219 while the current checkpoint is inside its veto window, until posted-at + 144", () => {
    initializeVault();
    const firstAt = burnHeight();
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 0n, 0n)])).result);
    expectErr(shutdown(deployer).result, ERR.INVALID_CHECKPOINT);

    // The backend was silent past SILENCE, then posts again: the fresh checkpoint may not be vetoed yet.
    mineTo(firstAt + SILENT + 1n);
    const secondAt = burnHeight();
    expectOk(postTree(buildMerkleSumTree([exitLeaf(alice, 1n, 0n)])).result);
    expectErr(shutdown(mallory).result, ERR.INVALID_CHECKPOINT);
    mineTo(secondAt + VETO_WINDOW - 1n);
    expectErr(shutdown(deployer).result, ERR.INVALID_CHECKPOINT);
    expectErr(shutdown(mallory).result, ERR.INVALID_CHECKPOINT);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);

    mine(1n);
    // Out of its window, the new checkpoint restarts the silence: a stranger waits again, the admin does not.
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    expectOk(shutdown(deployer).result);
  });

  it("refuses a second shutdown with u215, from the admin and from anyone", () => {
    expectOk(shutdown(deployer).result);
    mine(SILENT + 1n);
    expectErr(shutdown(deployer).result, ERR.SHUT_DOWN);
    expectErr(shutdown(mallory).result, ERR.SHUT_DOWN);
  });
});

describe(`${VAULT_FUNCTIONS.shutdown}: assets and liabilities`, () => {
  it("takes liabilities = sum + (in − flows.in) − (out − flows.out) of the checkpoint, and assets = the tracked balance, settlements and locks included", () => {
    initializeVault();
    expectOk(deposit(alice, 4_000_000_000n).result);
    mintSbtc(alice, 60_000_000n);
    expectOk(deposit(alice, 60_000_000n, "sBTC").result);
    expectOk(deposit(bob, 2_000_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 500_000_000n, nonce: 1n })).result);
    expectOk(payPremium(mallory, 1n, 100_000_000n).result);

    // The books credit Alice with the premium: 5,600 STX owed against 5,600 held.
    const snapshot = snapshotNow();
    expect(snapshot).toEqual({
      asOfSeq: 4n,
      flows: { stxIn: 6_000_000_000n, stxOut: 500_000_000n, sbtcIn: 60_000_000n, sbtcOut: 0n },
    });
    const tree = buildMerkleSumTree([
      leafFromRecord(alice, { stx: 3_600_000_000n, sbtc: 60_000_000n }),
      leafFromRecord(bob, { stx: 2_000_000_000n, sbtc: 0n }),
    ]);
    expectOk(postTree(tree, snapshot).result);

    // Flows since: +700 STX and +0.05 sBTC in, +300 STX and +0.1 sBTC out. A settlement is no flow.
    expectOk(deposit(bob, 700_000_000n).result);
    mintSbtc(bob, 5_000_000n);
    expectOk(deposit(bob, 5_000_000n, "sBTC").result);
    expectOk(withdraw(voucher({ provider: alice, amount: 10_000_000n, token: "sBTC", nonce: 2n })).result);
    expectOk(withdraw(voucher({ provider: bob, amount: 300_000_000n, nonce: 1n })).result);
    expectOk(lock(backend, [1n], 80_000_000n).result);
    expectOk(settle(backend, 1n, mallory, 50_000_000n).result);
    expect(totals("STX")).toEqual({ balance: 5_950_000_000n, locked: 30_000_000n });

    mine(VETO_WINDOW);
    expectShutdown(deployer, {
      stxAssets: 5_950_000_000n,
      stxLiabilities: 5_600_000_000n + 700_000_000n - 300_000_000n,
      sbtcAssets: 55_000_000n,
      sbtcLiabilities: 60_000_000n + 5_000_000n - 10_000_000n,
    });
    // Locked collateral counts no more: policies are over.
    expect(totals("STX")).toEqual({ balance: 5_950_000_000n, locked: 0n });
    expect(heldByVault("STX")).toBe(5_950_000_000n);
  });

  it("floors liabilities at 0 with a checkpoint when the outflow since exceeds its sum plus the inflow since", () => {
    initializeVault({ limitBps: 10_000n });
    // Premiums are in the balance but not in any record's `in`: Alice can be paid more than she put in.
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(payPremium(mallory, 1n, 500_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_200_000_000n, nonce: 1n })).result);
    mintSbtc(bob, 100_000_000n);
    expectOk(deposit(bob, 100_000_000n, "sBTC").result);
    // A checkpoint that books Bob at 0 sBTC, then Bob withdraws 0.4 sBTC.
    expectOk(postTree(buildMerkleSumTree([leafFromRecord(bob, { stx: 0n, sbtc: 0n })])).result);
    expectOk(withdraw(voucher({ provider: bob, amount: 40_000_000n, token: "sBTC", nonce: 1n })).result);

    mine(VETO_WINDOW);
    // STX: 0 + (1,000 − 1,000) − (1,200 − 1,200) = 0 with the checkpoint's flows. sBTC: 0 + 0 − 0.4 → 0.
    expectShutdown(deployer, { stxAssets: 300_000_000n, stxLiabilities: 0n, sbtcAssets: 60_000_000n, sbtcLiabilities: 0n });
  });

  it("floors liabilities at 0 without a checkpoint: in − out when a provider took out premiums", () => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(payPremium(mallory, 1n, 500_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_200_000_000n, nonce: 1n })).result);
    expectShutdown(deployer, { stxAssets: 300_000_000n, stxLiabilities: 0n, sbtcAssets: 0n, sbtcLiabilities: 0n });
    // Nothing is owed: her claim pays 0 even though the vault holds 300 STX.
    expectClaim(alice, "STX", null, [], { owed: 0n, paid: 0n });
    expect(heldByVault("STX")).toBe(300_000_000n);
  });
});

describe("after shutdown", () => {
  it("fails every public function but claim-exit with u215, before any other check, for the rightful caller and for a stranger", () => {
    initializeVault();
    expectOk(deposit(alice, 5_000_000_000n).result);
    mintSbtc(alice, 50_000_000n);
    expectOk(deposit(alice, 50_000_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 1_000_000_000n).result);
    expectOk(lock(backend, [2n], 10_000_000n, "sBTC").result);
    const leaves = [leafFromRecord(alice, { stx: 5_000_000_000n, sbtc: 50_000_000n })];
    const tree = buildMerkleSumTree(leaves);
    const checkpoint = checkpointOf(tree, snapshotNow());
    const postedAt = burnHeight();
    expectOk(postCheckpoint(checkpoint).result);
    expectOk(proposeRole("operator", carol).result);
    mine(BigInt(ROLE_DELAY));

    expectShutdown(deployer, {
      stxAssets: 5_000_000_000n,
      stxLiabilities: 5_000_000_000n,
      sbtcAssets: 50_000_000n,
      sbtcLiabilities: 50_000_000n,
    });

    const signed = voucher({ provider: alice, amount: 1n, nonce: 1n });
    // Had the vault stayed open, each call would have succeeded for its caller, but two:
    // the sBTC principal is set already (u204) and the checkpoint's veto window has passed (u219).
    const calls: { fn: VaultPublicFunction; args: ClarityValue[]; sender: string }[] = [
      { fn: VAULT_FUNCTIONS.setSbtcTokenPrincipal, args: [Cl.principal(SBTC)], sender: deployer },
      { fn: VAULT_FUNCTIONS.proposeRole, args: [Cl.stringAscii("guardian"), Cl.principal(carol)], sender: deployer },
      { fn: VAULT_FUNCTIONS.acceptRole, args: [Cl.stringAscii("operator")], sender: carol },
      { fn: VAULT_FUNCTIONS.cancelRole, args: [Cl.stringAscii("operator")], sender: deployer },
      { fn: VAULT_FUNCTIONS.revokeHotKeys, args: [], sender: deployer },
      { fn: VAULT_FUNCTIONS.pause, args: [], sender: deployer },
      { fn: VAULT_FUNCTIONS.unpause, args: [], sender: deployer },
      { fn: VAULT_FUNCTIONS.setOutflowLimit, args: [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], sender: deployer },
      { fn: VAULT_FUNCTIONS.depositFunds, args: [Cl.uint(1n), STX], sender: alice },
      { fn: VAULT_FUNCTIONS.payPremium, args: [Cl.uint(3n), Cl.uint(1n), STX], sender: mallory },
      { fn: VAULT_FUNCTIONS.lockCollateralAggregate, args: [Cl.list([Cl.uint(3n)]), Cl.uint(1n), STX], sender: backend },
      { fn: VAULT_FUNCTIONS.releaseCollateralAggregate, args: [Cl.list([Cl.uint(1n)]), Cl.uint(1n), STX], sender: backend },
      { fn: VAULT_FUNCTIONS.settlePolicy, args: [Cl.uint(1n), Cl.principal(bob), Cl.uint(1n), STX], sender: backend },
      {
        fn: VAULT_FUNCTIONS.withdrawFunds,
        args: [Cl.uint(1n), STX, Cl.uint(signed.nonce), Cl.uint(signed.expiresAt), Cl.bufferFromHex(signed.signature)],
        sender: alice,
      },
      {
        fn: VAULT_FUNCTIONS.postCheckpoint,
        args: [
          Cl.buffer(checkpoint.root),
          Cl.uint(checkpoint.stxSum),
          Cl.uint(checkpoint.sbtcSum),
          Cl.uint(checkpoint.asOfSeq),
          checkpointFlowsCV(checkpoint.flows),
          Cl.uint(1n),
        ],
        sender: backend,
      },
      { fn: VAULT_FUNCTIONS.vetoCheckpoint, args: [], sender: deployer },
      { fn: VAULT_FUNCTIONS.publishLeaves, args: [Cl.uint(1n), Cl.uint(0n), Cl.list(publishedLeafCVs(leaves))], sender: backend },
      { fn: VAULT_FUNCTIONS.shutdown, args: [], sender: deployer },
    ];
    const publicFunctions = simnet
      .getContractsInterfaces()
      .get(VAULT)!
      .functions.filter((f) => f.access === "public")
      .map((f) => f.name);
    expect([...calls.map((c) => c.fn), VAULT_FUNCTIONS.claimExit].sort()).toEqual([...publicFunctions].sort());

    for (const { fn, args, sender } of calls) {
      expect(call(fn, args, sender).result, `${fn} by its caller`).toBeErr(Cl.uint(ERR.SHUT_DOWN));
      expect(call(fn, args, mallory).result, `${fn} by a stranger`).toBeErr(Cl.uint(ERR.SHUT_DOWN));
    }

    // Nothing moved.
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(true);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: deployer, operator: backend, signer: backend }));
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("operator")])).toBeSome(
      Cl.tuple({ who: Cl.principal(carol), eta: Cl.uint(postedAt + BigInt(ROLE_DELAY)) }),
    );
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toEqual(checkpointCV({ ...checkpoint, epoch: 1n, postedAt }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 2n, stxIn: 5_000_000_000n, sbtcIn: 50_000_000n }));
    expect(totals("STX")).toEqual({ balance: 5_000_000_000n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 50_000_000n, locked: 0n });
    expect(heldByVault("STX")).toBe(5_000_000_000n);
    expect(heldByVault("sBTC")).toBe(50_000_000n);
  });
});

/**
 * Alice and Bob fund the vault, Alice withdraws 500 STX, the operator posts a
 * checkpoint of exactly those books (as-of-seq 5), then Alice deposits 1,000
 * STX more, Bob withdraws 0.1 sBTC and Carol arrives with 300 STX (created at
 * seq 8). Exactly 6,800 STX and 0.9 sBTC are owed and held.
 */
function fundCheckpointAndMove(): { tree: MerkleSumTree; leaves: ExitLeaf[]; snapshot: Snapshot } {
  initializeVault();
  expectOk(deposit(alice, 4_000_000_000n).result);
  mintSbtc(alice, 60_000_000n);
  expectOk(deposit(alice, 60_000_000n, "sBTC").result);
  expectOk(deposit(bob, 2_000_000_000n).result);
  mintSbtc(bob, 40_000_000n);
  expectOk(deposit(bob, 40_000_000n, "sBTC").result);
  expectOk(withdraw(voucher({ provider: alice, amount: 500_000_000n, nonce: 1n })).result);
  expectOk(payPremium(mallory, 1n, 1n).result);

  const snapshot = snapshotNow();
  const leaves = [
    leafFromRecord(alice, { stx: 3_500_000_000n, sbtc: 60_000_000n }),
    leafFromRecord(bob, { stx: 2_000_000_000n, sbtc: 40_000_000n }),
  ];
  const tree = buildMerkleSumTree(leaves);
  expectOk(postTree(tree, snapshot).result);
  expectOk(publishLeaves(1n, 0n, leaves).result);

  expectOk(deposit(alice, 1_000_000_000n).result);
  expectOk(withdraw(voucher({ provider: bob, amount: 10_000_000n, token: "sBTC", nonce: 1n })).result);
  expectOk(deposit(carol, 300_000_000n).result);
  mine(VETO_WINDOW);
  return { tree, leaves, snapshot };
}

const MOVED_TERMS: ExitTerms = {
  // The 1 µSTX premium is not in the books: it is what stays behind.
  stxAssets: 6_800_000_001n,
  stxLiabilities: 5_500_000_000n + 1_300_000_000n,
  sbtcAssets: 90_000_000n,
  sbtcLiabilities: 100_000_000n - 10_000_000n,
};

describe(VAULT_FUNCTIONS.claimExit, () => {
  it("fails u216 before shutdown, with or without a leaf, for a provider and for a stranger", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectErr(claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0)).result, ERR.NOT_SHUT_DOWN);
    expectErr(claimExit(carol, "STX", null).result, ERR.NOT_SHUT_DOWN);
    expectErr(claimExit(mallory, "sBTC", null).result, ERR.NOT_SHUT_DOWN);
    expect(exitClaim(alice, "STX")).toBeNone();
  });

  it("fails u217 for a caller with no provider record, a premium payer included, even with a valid leaf", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);
    expectErr(claimExit(mallory, "STX", null).result, ERR.INVALID_PROOF);
    expectErr(claimExit(mallory, "STX", leaves[0]!, merkleSumProof(tree, 0)).result, ERR.INVALID_PROOF);
    expectErr(claimExit(dave, "sBTC", null).result, ERR.INVALID_PROOF);
    expect(heldByVault("STX")).toBe(MOVED_TERMS.stxAssets);
  });

  it("pays a proven leaf moved by the flows since: leaf + (in − leaf.in) − (out − leaf.out), in STX and in sBTC", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);

    // Alice: 3,500 + (5,000 − 4,000) − (500 − 500) STX.
    expectClaim(alice, "STX", leaves[0]!, merkleSumProof(tree, 0), { owed: 4_500_000_000n, paid: 4_500_000_000n });
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxBalance)).toBeUint(2_300_000_001n);
    // Bob: 0.4 + (0.4 − 0.4) − (0.1 − 0) sBTC.
    expectClaim(bob, "sBTC", leaves[1]!, merkleSumProof(tree, 1), { owed: 30_000_000n, paid: 30_000_000n });
    expect(readOnly(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(60_000_000n);
  });

  it("refuses a bad proof with u217 and records no claim: altered amounts, another provider's leaf, a missing proof", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);
    const [aliceLeaf, bobLeaf] = [leaves[0]!, leaves[1]!];
    const aliceProof = merkleSumProof(tree, 0);

    expectErr(claimExit(alice, "STX", { ...aliceLeaf, stx: aliceLeaf.stx + 1n }, aliceProof).result, ERR.INVALID_PROOF);
    expectErr(claimExit(alice, "STX", { ...aliceLeaf, stxOut: 0n }, aliceProof).result, ERR.INVALID_PROOF);
    expectErr(claimExit(alice, "STX", bobLeaf, merkleSumProof(tree, 1)).result, ERR.INVALID_PROOF);
    expectErr(claimExit(bob, "sBTC", aliceLeaf, aliceProof).result, ERR.INVALID_PROOF);
    expectErr(claimExit(alice, "sBTC", aliceLeaf, []).result, ERR.INVALID_PROOF);
    expect(exitClaim(alice, "STX")).toBeNone();
    expect(exitClaim(alice, "sBTC")).toBeNone();
    expect(heldByVault("STX")).toBe(MOVED_TERMS.stxAssets);

    expectClaim(alice, "STX", aliceLeaf, aliceProof, { owed: 4_500_000_000n, paid: 4_500_000_000n });
  });

  it("without a leaf pays in − out to a record created after the checkpoint, and refuses (u217) a record the checkpoint covers", () => {
    const { snapshot } = fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(carol)])).toBeSome(
      Cl.tuple({
        nonce: Cl.uint(0n),
        "stx-in": Cl.uint(300_000_000n),
        "stx-out": Cl.uint(0n),
        "sbtc-in": Cl.uint(0n),
        "sbtc-out": Cl.uint(0n),
        "created-seq": Cl.uint(8n),
      }),
    );
    expect(snapshot.asOfSeq).toBe(5n);

    expectErr(claimExit(alice, "STX", null).result, ERR.INVALID_PROOF);
    expectErr(claimExit(bob, "sBTC", null).result, ERR.INVALID_PROOF);
    expectClaim(carol, "STX", null, [], { owed: 300_000_000n, paid: 300_000_000n });
  });

  it("refuses a claim without a leaf (u217) for a record created exactly at the checkpoint's as-of-seq", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000n).result);
    expectOk(deposit(carol, 2_000_000n).result);
    // A faulty checkpoint at seq 2 that leaves Carol out: she was in the books by then, so no leafless claim.
    expectOk(postTree(buildMerkleSumTree([leafFromRecord(alice, { stx: 1_000_000n, sbtc: 0n })])).result);
    mine(VETO_WINDOW);
    expectShutdown(deployer, { stxAssets: 3_000_000n, stxLiabilities: 1_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n });
    expectErr(claimExit(carol, "STX", null).result, ERR.INVALID_PROOF);
    expect(exitClaim(carol, "STX")).toBeNone();
  });

  it("with no checkpoint pays every record in − out without a leaf, and refuses a leaf (u217)", () => {
    initializeVault();
    expectOk(deposit(alice, 4_000_000_000n).result);
    mintSbtc(bob, 30_000_000n);
    expectOk(deposit(bob, 30_000_000n, "sBTC").result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000_000_000n, nonce: 1n })).result);
    expectShutdown(deployer, { stxAssets: 3_000_000_000n, stxLiabilities: 3_000_000_000n, sbtcAssets: 30_000_000n, sbtcLiabilities: 30_000_000n });

    const leaf = leafFromRecord(alice, { stx: 3_000_000_000n, sbtc: 0n });
    expectErr(claimExit(alice, "STX", leaf, []).result, ERR.INVALID_PROOF);
    expectClaim(alice, "STX", null, [], { owed: 3_000_000_000n, paid: 3_000_000_000n });
    expectClaim(bob, "sBTC", null, [], { owed: 30_000_000n, paid: 30_000_000n });
    expectClaim(bob, "STX", null, [], { owed: 0n, paid: 0n });
    expect(heldByVault("STX")).toBe(0n);
    expect(heldByVault("sBTC")).toBe(0n);
  });

  it("after the only checkpoint was vetoed, claims go without a leaf and the vetoed tree's proofs fail (u217)", () => {
    initializeVault();
    expectOk(deposit(alice, 4_000_000_000n).result);
    const leaves = [leafFromRecord(alice, { stx: 9_000_000_000n, sbtc: 0n })];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postTree(tree).result);
    expectOk(vetoCheckpoint(deployer).result);
    expectShutdown(deployer, { stxAssets: 4_000_000_000n, stxLiabilities: 4_000_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n });

    expectErr(claimExit(alice, "STX", leaves[0]!, merkleSumProof(tree, 0)).result, ERR.INVALID_PROOF);
    expectClaim(alice, "STX", null, [], { owed: 4_000_000_000n, paid: 4_000_000_000n });
  });

  it("refuses a second claim of the same token with u218, with or without a proof, while the other token can still be claimed", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);
    const proof = merkleSumProof(tree, 0);

    expectClaim(alice, "STX", leaves[0]!, proof, { owed: 4_500_000_000n, paid: 4_500_000_000n });
    const aliceStx = stxBalance(alice);
    expectErr(claimExit(alice, "STX", leaves[0]!, proof).result, ERR.ALREADY_CLAIMED);
    expectErr(claimExit(alice, "STX", null).result, ERR.ALREADY_CLAIMED);
    expect(stxBalance(alice)).toBe(aliceStx);
    expect(heldByVault("STX")).toBe(2_300_000_001n);

    expectClaim(alice, "sBTC", leaves[0]!, proof, { owed: 60_000_000n, paid: 60_000_000n });
    expectErr(claimExit(alice, "sBTC", leaves[0]!, proof).result, ERR.ALREADY_CLAIMED);
    expect(heldByVault("sBTC")).toBe(30_000_000n);
  });

  it("pays 0 for nothing owed: no transfer, but exit-claimed is printed and the claim is spent (u218 after)", () => {
    fundCheckpointAndMove();
    expectShutdown(deployer, MOVED_TERMS);
    // Carol never deposited sBTC.
    expectClaim(carol, "sBTC", null, [], { owed: 0n, paid: 0n });
    expectErr(claimExit(carol, "sBTC", null).result, ERR.ALREADY_CLAIMED);
    expect(exitClaim(carol, "sBTC")).toBeSome(Cl.uint(0n));
    expect(heldByVault("sBTC")).toBe(90_000_000n);
    expect(totals("sBTC").balance).toBe(90_000_000n);
  });

  it("works while paused: pause before the shutdown, claims still pay", () => {
    const { tree, leaves } = fundCheckpointAndMove();
    expectOk(call(VAULT_FUNCTIONS.pause, [], deployer).result);
    expectShutdown(deployer, MOVED_TERMS);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expectClaim(bob, "STX", leaves[1]!, merkleSumProof(tree, 1), { owed: 2_000_000_000n, paid: 2_000_000_000n });
    expectClaim(carol, "STX", null, [], { owed: 300_000_000n, paid: 300_000_000n });
  });

  it("pays pro rata, rounded down, when a checkpoint credits yield the vault does not hold", () => {
    initializeVault();
    const deposits = [
      { who: alice, stx: 1_000_000_003n, sbtc: 30_000_001n },
      { who: bob, stx: 2_000_000_000n, sbtc: 20_000_000n },
      { who: carol, stx: 999_999_999n, sbtc: 9_999_999n },
    ];
    for (const d of deposits) {
      expectOk(deposit(d.who, d.stx).result);
      mintSbtc(d.who, d.sbtc);
      expectOk(deposit(d.who, d.sbtc, "sBTC").result);
    }
    const books = [
      { stx: 1_100_000_010n, sbtc: 33_000_002n },
      { stx: 2_200_000_000n, sbtc: 22_000_000n },
      { stx: 1_033_333_332n, sbtc: 11_111_110n },
    ];
    const leaves = deposits.map((d, i) => leafFromRecord(d.who, books[i]!));
    const tree = buildMerkleSumTree(leaves);
    expectOk(postTree(tree).result);
    mine(VETO_WINDOW);

    const terms: ExitTerms = {
      stxAssets: 4_000_000_002n,
      stxLiabilities: 4_333_333_342n,
      sbtcAssets: 60_000_000n,
      sbtcLiabilities: 66_111_112n,
    };
    expectShutdown(deployer, terms);

    const expectedPaid = {
      STX: [1_015_384_623n, 2_030_769_227n, 953_846_151n],
      sBTC: [29_949_581n, 19_966_386n, 10_084_032n],
    };
    for (const token of ["STX", "sBTC"] as const) {
      const [assets, liabilities] =
        token === "STX" ? [terms.stxAssets, terms.stxLiabilities] : [terms.sbtcAssets, terms.sbtcLiabilities];
      let paidTotal = 0n;
      leaves.forEach((leaf, i) => {
        const owed = token === "STX" ? books[i]!.stx : books[i]!.sbtc;
        const paid = proRata(owed, assets, liabilities);
        expect(paid).toBe(expectedPaid[token][i]);
        expectClaim(leaf.provider, token, leaf, merkleSumProof(tree, i), { owed, paid });
        paidTotal += paid;
      });
      expect(paidTotal).toBeLessThanOrEqual(assets);
      // One unit of rounding dust per token stays behind.
      expect(heldByVault(token)).toBe(1n);
      expect(totals(token).balance).toBe(1n);
    }
  });

  it("pays pro rata after a settlement paid out locked collateral since the checkpoint, locked collateral counted in the assets", () => {
    initializeVault();
    expectOk(deposit(alice, 6_000_000_000n).result);
    expectOk(deposit(bob, 4_000_000_000n).result);
    mintSbtc(alice, 70_000_001n);
    expectOk(deposit(alice, 70_000_001n, "sBTC").result);
    mintSbtc(bob, 29_999_999n);
    expectOk(deposit(bob, 29_999_999n, "sBTC").result);
    const leaves = [
      leafFromRecord(alice, { stx: 6_000_000_000n, sbtc: 70_000_001n }),
      leafFromRecord(bob, { stx: 4_000_000_000n, sbtc: 29_999_999n }),
    ];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postTree(tree).result);

    expectOk(lock(backend, [1n], 2_000_000_000n).result);
    expectOk(lock(backend, [2n], 20_000_000n, "sBTC").result);
    const buyerStx = stxBalance(mallory);
    expectOk(settle(backend, 1n, mallory, 999_999_999n).result);
    expectOk(settle(backend, 2n, mallory, 9_999_999n, "sBTC").result);
    expect(stxBalance(mallory)).toBe(buyerStx + 999_999_999n);
    expect(sbtcBalance(mallory)).toBe(9_999_999n);
    expect(totals("STX")).toEqual({ balance: 9_000_000_001n, locked: 1_000_000_001n });
    expect(totals("sBTC")).toEqual({ balance: 90_000_001n, locked: 10_000_001n });

    mine(VETO_WINDOW);
    expectShutdown(deployer, {
      stxAssets: 9_000_000_001n,
      stxLiabilities: 10_000_000_000n,
      sbtcAssets: 90_000_001n,
      sbtcLiabilities: 100_000_000n,
    });

    expectClaim(alice, "STX", leaves[0]!, merkleSumProof(tree, 0), { owed: 6_000_000_000n, paid: 5_400_000_000n });
    expectClaim(bob, "STX", leaves[1]!, merkleSumProof(tree, 1), { owed: 4_000_000_000n, paid: 3_600_000_000n });
    expectClaim(alice, "sBTC", leaves[0]!, merkleSumProof(tree, 0), { owed: 70_000_001n, paid: 63_000_001n });
    expectClaim(bob, "sBTC", leaves[1]!, merkleSumProof(tree, 1), { owed: 29_999_999n, paid: 26_999_999n });
    expect(proRata(6_000_000_000n, 9_000_000_001n, 10_000_000_000n)).toBe(5_400_000_000n);
    expect(proRata(70_000_001n, 90_000_001n, 100_000_000n)).toBe(63_000_001n);
    expect(heldByVault("STX")).toBe(1n);
    expect(heldByVault("sBTC")).toBe(1n);
  });

  it("never pays more than the vault still holds, even when a faulty checkpoint owes one provider more than all the assets", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(deposit(bob, 1_000_000_000n).result);
    expectOk(payPremium(mallory, 1n, 500_000_000n).result);
    // The leaves forget the deposits (in = 0) while the checkpoint's flows count them:
    // each provider is owed 1,000 + (1,000 − 0) = 2,000 STX against 2,000 of liabilities in all.
    const leaves = [exitLeaf(alice, 1_000_000_000n, 0n), exitLeaf(bob, 1_000_000_000n, 0n)];
    const tree = buildMerkleSumTree(leaves);
    expectOk(postTree(tree).result);
    mine(VETO_WINDOW);
    expectShutdown(deployer, { stxAssets: 2_500_000_000n, stxLiabilities: 2_000_000_000n, sbtcAssets: 0n, sbtcLiabilities: 0n });

    expectClaim(bob, "STX", leaves[1]!, merkleSumProof(tree, 1), { owed: 2_000_000_000n, paid: 2_000_000_000n });
    expectClaim(alice, "STX", leaves[0]!, merkleSumProof(tree, 0), { owed: 2_000_000_000n, paid: 500_000_000n });
    expect(heldByVault("STX")).toBe(0n);
    expect(totals("STX").balance).toBe(0n);
  });
});

describe("a whole exit, from deposits to the last claim", () => {
  /** The leaves of a `checkpoint-leaves` event, as a provider reads them from the chain. */
  function leavesFromEvent(value: ClarityValue): ExitLeaf[] {
    if (value.type !== "tuple") throw new Error(`expected a tuple, got ${value.type}`);
    const list = value.value.leaves;
    if (list?.type !== "list") throw new Error("checkpoint-leaves without a list of leaves");
    return list.value.map((entry) => {
      if (entry.type !== "tuple") throw new Error(`expected a leaf tuple, got ${entry.type}`);
      const field = (key: string) => uintOf(entry.value[key]!);
      const provider = entry.value.provider;
      if (provider?.type !== "address" && provider?.type !== "contract") throw new Error("leaf without a provider");
      return {
        provider: provider.value,
        stx: field("stx"),
        sbtc: field("sbtc"),
        stxIn: field("stx-in"),
        stxOut: field("stx-out"),
        sbtcIn: field("sbtc-in"),
        sbtcOut: field("sbtc-out"),
      };
    });
  }

  it("providers deposit, premiums and a payout move the books, the backend checkpoints and goes silent, a stranger shuts down, and every provider exits with exactly their share", () => {
    initializeVault();
    // Deposits: seq 1..5.
    expectOk(deposit(alice, 5_000_000_000n).result);
    mintSbtc(alice, 50_000_000n);
    expectOk(deposit(alice, 50_000_000n, "sBTC").result);
    expectOk(deposit(bob, 3_000_000_000n).result);
    mintSbtc(bob, 30_000_000n);
    expectOk(deposit(bob, 30_000_000n, "sBTC").result);
    expectOk(deposit(carol, 2_000_000_000n).result);
    // Premiums that do not split evenly: the backend credits all but one unit of each.
    mintSbtc(mallory, 1_000_001n);
    expectOk(payPremium(mallory, 1n, 300_000_001n).result);
    expectOk(payPremium(mallory, 2n, 1_000_001n, "sBTC").result);
    expectOk(lock(backend, [1n], 1_000_000_000n).result);
    expectOk(lock(backend, [2n], 10_000_000n, "sBTC").result);
    // Withdrawals with vouchers: seq 6 and 7.
    expectOk(withdraw(voucher({ provider: bob, amount: 500_000_000n, nonce: 1n })).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 5_000_000n, token: "sBTC", nonce: 1n })).result);
    // Policy 1 pays its buyer 200 STX, taken from its backers Alice, Bob and Carol.
    expectOk(settle(backend, 1n, mallory, 200_000_000n).result);
    expect(totals("STX")).toEqual({ balance: 9_600_000_001n, locked: 800_000_000n });
    expect(totals("sBTC")).toEqual({ balance: 76_000_001n, locked: 10_000_000n });

    // The books: deposits − withdrawals + yield (150 / 90 / 60 STX, 0.00625 / 0.00375 sBTC) − payout (100 / 60 / 40 STX).
    const snapshot = snapshotNow();
    expect(snapshot).toEqual({
      asOfSeq: 7n,
      flows: { stxIn: 10_000_000_000n, stxOut: 500_000_000n, sbtcIn: 80_000_000n, sbtcOut: 5_000_000n },
    });
    const books = [
      leafFromRecord(alice, { stx: 5_000_000_000n + 150_000_000n - 100_000_000n, sbtc: 50_000_000n - 5_000_000n + 625_000n }),
      leafFromRecord(bob, { stx: 3_000_000_000n - 500_000_000n + 90_000_000n - 60_000_000n, sbtc: 30_000_000n + 375_000n }),
      leafFromRecord(carol, { stx: 2_000_000_000n + 60_000_000n - 40_000_000n, sbtc: 0n }),
    ];
    const posted = buildMerkleSumTree(books);
    expect(posted.root).toMatchObject({ stx: 9_600_000_000n, sbtc: 76_000_000n });
    const postedAt = burnHeight();
    expectOk(postTree(posted, snapshot).result);
    const published = publishLeaves(1n, 0n, books);
    expectOk(published.result);

    // After the checkpoint: Alice adds 1,000 STX (seq 8), Bob takes 100 STX out (seq 9),
    // and Dave arrives with 700 STX and 0.02 sBTC (seq 10, 11).
    expectOk(deposit(alice, 1_000_000_000n).result);
    expectOk(withdraw(voucher({ provider: bob, amount: 100_000_000n, nonce: 2n })).result);
    expectOk(deposit(dave, 700_000_000n).result);
    mintSbtc(dave, 2_000_000n);
    expectOk(deposit(dave, 2_000_000n, "sBTC").result);

    // The backend goes silent. A stranger may end the vault only after SILENCE.
    mineTo(postedAt + SILENT);
    expectErr(shutdown(mallory).result, ERR.NOT_AUTHORIZED);
    mine(1n);
    expectShutdown(mallory, {
      stxAssets: 11_200_000_001n,
      stxLiabilities: 9_600_000_000n + 1_700_000_000n - 100_000_000n,
      sbtcAssets: 78_000_001n,
      sbtcLiabilities: 76_000_000n + 2_000_000n,
    });
    expect(totals("STX")).toEqual({ balance: 11_200_000_001n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 78_000_001n, locked: 0n });

    // Each provider rebuilds the tree from the published leaves alone.
    const event = printedEvents(published.events)[0]!;
    const leaves = leavesFromEvent(event);
    expect(leaves).toEqual(books);
    const rebuilt = buildMerkleSumTree(leaves);
    expect(rebuilt.root).toEqual(posted.root);
    const proofOf = (provider: string) => merkleSumProof(rebuilt, leaves.findIndex((l) => l.provider === provider));
    const leafOf = (provider: string) => leaves.find((l) => l.provider === provider)!;

    expectClaim(alice, "STX", leafOf(alice), proofOf(alice), { owed: 6_050_000_000n, paid: 6_050_000_000n });
    expectClaim(alice, "sBTC", leafOf(alice), proofOf(alice), { owed: 45_625_000n, paid: 45_625_000n });
    expectClaim(bob, "STX", leafOf(bob), proofOf(bob), { owed: 2_430_000_000n, paid: 2_430_000_000n });
    expectClaim(bob, "sBTC", leafOf(bob), proofOf(bob), { owed: 30_375_000n, paid: 30_375_000n });
    expectClaim(carol, "STX", leafOf(carol), proofOf(carol), { owed: 2_020_000_000n, paid: 2_020_000_000n });
    expectClaim(carol, "sBTC", leafOf(carol), proofOf(carol), { owed: 0n, paid: 0n });
    expectClaim(dave, "STX", null, [], { owed: 700_000_000n, paid: 700_000_000n });
    expectClaim(dave, "sBTC", null, [], { owed: 2_000_000n, paid: 2_000_000n });

    // What stays is the one unit of each premium that no provider was credited.
    expect(heldByVault("STX")).toBe(1n);
    expect(heldByVault("sBTC")).toBe(1n);
    expect(totals("STX")).toEqual({ balance: 1n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 1n, locked: 0n });
    for (const provider of [alice, bob, carol, dave]) {
      expectErr(claimExit(provider, "STX", null).result, ERR.ALREADY_CLAIMED);
      expectErr(claimExit(provider, "sBTC", null).result, ERR.ALREADY_CLAIMED);
    }
  });
});
