/**
 * `api.exit.getExitProof` and the exit formula (README "Checkpoints"):
 * null when signed out; for a signed-in provider, their leaf and a proof that
 * merkleSum's verifier accepts against the posted root and sums (the vault's
 * `verify-exit-proof` does the same fold: tests/contracts/exit-proof.test.ts,
 * and over HTTP tests/integration/checkpoints.test.ts), and per token what
 * `claim-exit` would pay — the formula, then the pro-rata share once the vault
 * is shut down short. The formula's arithmetic is property-tested on its own.
 */
import fc from "fast-check";
import { describe, expect, it, test } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { exitBalance, exitBasis, exitPayout, owedOnExit, shutdownTermsNow, voucherRoom } from "../../convex/domain/checkpoints";
import { verifyMerkleSumProof } from "../../convex/domain/merkleSum";
import type { Token } from "../../convex/validators";
import {
  ALICE,
  apply,
  BOB,
  CAROL,
  creditYield,
  mineCheckpointCalls,
  proofSteps,
  rootNode,
  seeded,
  takeSnapshot,
  tick,
  VaultHistory,
} from "./checkpointFixtures";
import { SIGNER_ADDRESS } from "./liquidityFixtures";

async function verifiedPool() {
  const t = await seeded();
  const vault = new VaultHistory();
  await apply(t, vault.deposit(ALICE, "STX", 10_000n));
  await apply(t, vault.deposit(ALICE, "sBTC", 400n));
  await apply(t, vault.deposit(BOB, "STX", 3_000n));
  await creditYield(t, ALICE, "STX", 700n, "a");
  await takeSnapshot(t);
  await tick(t);
  await mineCheckpointCalls(t, vault, 4n);
  await tick(t);
  await mineCheckpointCalls(t, vault, 4n);
  expect(await tick(t)).toMatchObject({ outcome: "verified" });
  return { t, vault };
}

describe("the terms a shutdown would fix now (shutdownTermsNow)", () => {
  const flows = { stxIn: 5_000n, stxOut: 1_200n, sbtcIn: 300n, sbtcOut: 0n };
  it("owes the checkpoint's sum moved by the flows since, as the vault's shutdown does", () => {
    const checkpoint = { stxSum: 4_000n, sbtcSum: 280n, flows: { stxIn: 4_500n, stxOut: 1_000n, sbtcIn: 250n, sbtcOut: 0n } };
    expect(shutdownTermsNow("STX", 4_100n, flows, checkpoint)).toEqual({ assets: 4_100n, liabilities: 4_000n + 500n - 200n });
    expect(shutdownTermsNow("sBTC", 300n, flows, checkpoint)).toEqual({ assets: 300n, liabilities: 280n + 50n });
  });
  it("owes in − out without a checkpoint, and never less than nothing", () => {
    expect(shutdownTermsNow("STX", 3_800n, flows, null)).toEqual({ assets: 3_800n, liabilities: 3_800n });
    const drained = { stxSum: 100n, sbtcSum: 0n, flows: { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n } };
    expect(shutdownTermsNow("STX", 0n, { ...flows, stxIn: 0n, stxOut: 500n }, drained)).toEqual({ assets: 0n, liabilities: 0n });
  });
});

describe("getExitProof", () => {
  it("is null when signed out", async () => {
    const t = await seeded();
    expect(await t.query(api.exit.getExitProof, {})).toBeNull();
  });

  it("before any checkpoint: no leaf, no proof; the record's in − out is owed", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    await apply(t, vault.deposit(ALICE, "STX", 10_000n));
    await creditYield(t, ALICE, "STX", 700n, "a");
    expect(await t.withIdentity({ subject: ALICE }).query(api.exit.getExitProof, {})).toEqual({
      provider: ALICE,
      checkpoint: null,
      basis: "record",
      leaf: null,
      proof: null,
      shutDown: false,
      claims: [
        { token: "STX", owed: 10_000n, pays: 10_000n, claimed: null },
        { token: "sBTC", owed: 0n, pays: 0n, claimed: null },
      ],
    });
  });

  it("gives the signed-in provider's leaf and a proof that verifies against the posted root and sums", async () => {
    const { t, vault } = await verifiedPool();
    // Flows since the checkpoint move what is owed: +500 in, −2,000 out (a voucher redeemed).
    await apply(t, vault.deposit(ALICE, "STX", 500n));
    await t.mutation(internal.liquidity.reserveWithdrawal, {
      provider: ALICE,
      token: "STX",
      amount: 2_000n,
      expiresAtBlock: 1_000_000n,
      signer: SIGNER_ADDRESS,
    });
    await apply(t, vault.withdrawal(ALICE, "STX", 2_000n, 1n));

    const view = await t.withIdentity({ subject: ALICE }).query(api.exit.getExitProof, {});
    expect(view).toMatchObject({
      provider: ALICE,
      checkpoint: { epoch: 4n, asOfSeq: 3n, leafCount: 2n, status: "verified", stxSum: 13_700n, sbtcSum: 400n },
      basis: "leaf",
      leaf: { stx: 10_700n, sbtc: 400n, stxIn: 10_000n, stxOut: 0n, sbtcIn: 400n, sbtcOut: 0n },
      shutDown: false,
      claims: [
        // Alice's 700 of yield was credited by hand, never paid into the vault: it holds 11,500 STX
        // and owes 12,200, so a claim were it shut down now pays 9,200 × 11,500 / 12,200, rounded down.
        { token: "STX", owed: 9_200n, pays: 8_672n, claimed: null },
        { token: "sBTC", owed: 400n, pays: 400n, claimed: null },
      ],
    });
    const { leaf, proof, checkpoint } = view!;
    expect(proof).not.toBeNull();
    const { index: _index, ...amounts } = leaf!;
    const exitLeaf = { provider: ALICE, ...amounts };
    expect(verifyMerkleSumProof(rootNode(checkpoint!), exitLeaf, proofSteps(proof!))).toBe(true);
    // The same proof does not prove Bob's leaf, nor a larger one.
    expect(verifyMerkleSumProof(rootNode(checkpoint!), { ...exitLeaf, provider: BOB }, proofSteps(proof!))).toBe(false);
    expect(verifyMerkleSumProof(rootNode(checkpoint!), { ...exitLeaf, stx: exitLeaf.stx + 1n }, proofSteps(proof!))).toBe(false);
  });

  it("a record newer than the checkpoint claims without a leaf", async () => {
    const { t, vault } = await verifiedPool();
    await apply(t, vault.deposit(CAROL, "STX", 800n));
    expect(await t.withIdentity({ subject: CAROL }).query(api.exit.getExitProof, {})).toMatchObject({
      basis: "record",
      leaf: null,
      proof: null,
      claims: [
        // The same 700 short: 13,800 held, 14,500 owed, so 800 × 13,800 / 14,500 rounded down.
        { token: "STX", owed: 800n, pays: 761n, claimed: null },
        { token: "sBTC", owed: 0n, pays: 0n, claimed: null },
      ],
    });
  });

  it("before a shutdown, pays what a claim would get were the vault shut down now: all it is owed while the vault holds what it owes", async () => {
    const { t, vault } = await verifiedPool();
    // A premium of 700 is paid into the vault (a flow of no provider's): it now holds the 13,700 it owes.
    await apply(t, {
      ...vault.position(30n),
      kind: "premium-paid",
      token: "STX",
      amount: 700n,
      totalBalance: 13_700n,
      totalLocked: 0n,
      policyId: 99n,
      payer: BOB,
    });
    const view = await t.withIdentity({ subject: ALICE }).query(api.exit.getExitProof, {});
    expect(view?.claims).toEqual([
      { token: "STX", owed: 10_700n, pays: 10_700n, claimed: null },
      { token: "sBTC", owed: 400n, pays: 400n, claimed: null },
    ]);
  });

  it("after a shutdown short of its liabilities, pays the same pro-rata share as every claim", async () => {
    const { t, vault } = await verifiedPool();
    await apply(t, {
      ...vault.position(40n),
      kind: "shutdown",
      by: BOB,
      stxAssets: 6_850n,
      stxLiabilities: 13_700n,
      sbtcAssets: 400n,
      sbtcLiabilities: 400n,
    });
    expect(await t.withIdentity({ subject: ALICE }).query(api.exit.getExitProof, {})).toMatchObject({
      shutDown: true,
      claims: [
        { token: "STX", owed: 10_700n, pays: 5_350n, claimed: null },
        { token: "sBTC", owed: 400n, pays: 400n, claimed: null },
      ],
    });
  });
});

// ---------------------------------------------------------------------------
// The formula's arithmetic

const amount = fc.bigInt({ min: 0n, max: 10n ** 18n });
const flows = fc.record({ stxIn: amount, stxOut: amount, sbtcIn: amount, sbtcOut: amount });
const token = fc.constantFrom<Token>("STX", "sBTC");

describe("the exit formula", () => {
  test("with a leaf: the leaf's balance moved by exactly the flows since; at the snapshot itself, the leaf's balance", () => {
    fc.assert(
      fc.property(token, flows, amount, amount, flows, (tk, at, stx, sbtc, since) => {
        const leaf = { ...at, stx, sbtc };
        const now = { stxIn: at.stxIn + since.stxIn, stxOut: at.stxOut + since.stxOut, sbtcIn: at.sbtcIn + since.sbtcIn, sbtcOut: at.sbtcOut + since.sbtcOut };
        const [balance, inSince, outSince] = tk === "STX" ? [stx, since.stxIn, since.stxOut] : [sbtc, since.sbtcIn, since.sbtcOut];
        expect(exitBalance(tk, "leaf", at, leaf)).toBe(tk === "STX" ? stx : sbtc);
        expect(exitBalance(tk, "leaf", now, leaf)).toBe(balance + inSince - outSince);
        const owed = owedOnExit(tk, "leaf", now, leaf);
        expect(owed).toBe(balance + inSince - outSince > 0n ? balance + inSince - outSince : 0n);
      }),
    );
  });

  test("which basis: a leaf when there is one; the record when it is newer than the checkpoint or there is none; else nothing", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 100n }), fc.option(fc.bigInt({ min: 0n, max: 100n })), fc.boolean(), (created, asOf, hasLeaf) => {
        const checkpoint = asOf === null ? null : { asOfSeq: asOf };
        const basis = exitBasis({ createdSeq: created }, hasLeaf, checkpoint);
        if (hasLeaf) expect(basis).toBe("leaf");
        else if (checkpoint === null || created > checkpoint.asOfSeq) expect(basis).toBe("record");
        else expect(basis).toBe("none");
        expect(exitBasis(null, hasLeaf, checkpoint)).toBe("none");
      }),
    );
  });

  test("pro rata: each claim at most what it is owed; everyone's claims together never more than the assets; in full when the vault holds enough", () => {
    fc.assert(
      fc.property(fc.array(amount, { minLength: 1, maxLength: 20 }), amount, (owed, assets) => {
        const liabilities = owed.reduce((s, o) => s + o, 0n);
        const terms = { assets, liabilities };
        const paid = owed.map((o) => exitPayout(o, terms));
        paid.forEach((p, i) => expect(p <= owed[i]!).toBe(true));
        const total = paid.reduce((s, p) => s + p, 0n);
        if (assets >= liabilities) expect(paid).toEqual(owed);
        else {
          expect(total <= assets).toBe(true);
          // Rounding down loses less than one unit per claim.
          expect(assets - total < BigInt(owed.length) || liabilities === 0n).toBe(true);
        }
        expect(owed.map((o) => exitPayout(o, null))).toEqual(owed);
      }),
    );
  });

  test("the voucher rule: a voucher within the room leaves the provider at or above zero once it is redeemed", () => {
    fc.assert(
      fc.property(token, flows, amount, amount, flows, amount, amount, (tk, at, stx, sbtc, now, reserved, ask) => {
        const leaf = { ...at, stx, sbtc };
        const balance = exitBalance(tk, "leaf", now, leaf);
        const room = voucherRoom(balance, reserved);
        if (ask > room) return;
        // Redeemed: the record's out grows by the amount, the reservation ends.
        const after = { ...now, [tk === "STX" ? "stxOut" : "sbtcOut"]: (tk === "STX" ? now.stxOut : now.sbtcOut) + ask };
        expect(exitBalance(tk, "leaf", after, leaf) - reserved >= 0n).toBe(true);
      }),
    );
  });
});
