/**
 * The attacks that drained version 1 of the vault, replayed against version 2,
 * plus the smaller ways in (forged, tampered or misdirected vouchers, look-alike
 * tokens, relayed calls). Version 1 trusted one hot key with everything: whoever
 * stole it could lock the whole pool and settle it to themselves in one block,
 * and if the backend vanished no provider could ever get their money out.
 *
 * Each test states what a thief with a given key can still do, with exact
 * amounts and the tokens really held afterwards. The pool every test starts
 * from holds 50,000 STX and 0.5 sBTC, so the default outflow limit gives two
 * different caps per window: 10% of the STX balance (5,000 STX, above its
 * 1,000 STX floor) and the 0.1 sBTC floor (10% of 0.5 sBTC is only 0.05).
 */
import { readFileSync } from "node:fs";

import { Cl, privateKeyToAddress, type ClarityValue } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { signWithdrawalVoucher } from "../../convex/chain/withdrawalVoucher";
import { buildMerkleSumTree, exitLeafCV, exitProofCV, type ExitLeaf } from "../../convex/domain/merkleSum";
import {
  accounts,
  alice,
  BACKEND_KEY,
  backend,
  bob,
  call,
  carol,
  CHAIN_ID,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  handRole,
  heightOfNextCall,
  heldByVault,
  initializeVault,
  lock,
  mallory,
  mintSbtc,
  OUTFLOW_WINDOW,
  printedEvents,
  readOnly,
  release,
  ROGUE_KEY,
  ROLE_DELAY,
  SBTC,
  SBTC_ARG,
  sbtcBalance,
  settle,
  SILENCE,
  STX,
  stxBalance,
  tokenArg,
  totals,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

type Token = "STX" | "sBTC";
type SignedVoucher = ReturnType<typeof voucher>;

/** The guardian is its own key here, so that stealing it is a separate attack from stealing the admin's. */
const GUARDIAN = carol;
/** A policy buyer with no other part in the story. */
const buyer = (() => {
  const address = accounts.get("wallet_5");
  if (!address) throw new Error("simnet account wallet_5 missing from settings/Devnet.toml");
  return address;
})();

const STX_1 = 1_000_000n;
const ALICE_STX = 40_000n * STX_1;
const BOB_STX = 10_000n * STX_1;
const POOL_STX = ALICE_STX + BOB_STX;
const ALICE_SBTC = 30_000_000n;
const BOB_SBTC = 20_000_000n;
const POOL_SBTC = ALICE_SBTC + BOB_SBTC;

/** One window's cap on a fresh pool: 10% of 50,000 STX; for sBTC the 0.1 floor, being above 10% of 0.5. */
const STX_CAP = 5_000n * STX_1;
const SBTC_CAP = 10_000_000n;

/** Default limit: 1,000 bps of the balance before the call, never below the floor. */
function capOf(balance: bigint, token: Token): bigint {
  const share = (balance * 1_000n) / 10_000n;
  const floor = token === "STX" ? 1_000n * STX_1 : 10_000_000n;
  return share > floor ? share : floor;
}

/**
 * The pool of every test: the backend key is operator and signer, carol the
 * guardian, the deployer the admin; alice and bob have deposited both tokens.
 * Simnet starts every test from a fresh deployment.
 */
function fundedVault(): void {
  initializeVault();
  handRole("guardian", GUARDIAN);
  mintSbtc(alice, ALICE_SBTC);
  mintSbtc(bob, BOB_SBTC);
  expectOk(deposit(alice, ALICE_STX).result);
  expectOk(deposit(bob, BOB_STX).result);
  expectOk(deposit(alice, ALICE_SBTC, "sBTC").result);
  expectOk(deposit(bob, BOB_SBTC, "sBTC").result);
}

/** Everything an attack could change: tracked totals and what the vault really holds. */
function vaultState() {
  return {
    stx: totals("STX"),
    sbtc: totals("sBTC"),
    heldStx: heldByVault("STX"),
    heldSbtc: heldByVault("sBTC"),
  };
}

function balancesOf(who: string) {
  return { stx: stxBalance(who), sbtc: sbtcBalance(who) };
}

function outflow(token: Token): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.getOutflow, [token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC))]);
}

function outflowView(windowStart: bigint, used: bigint, cap: bigint): ClarityValue {
  return Cl.tuple({
    "window-start": Cl.uint(windowStart),
    used: Cl.uint(used),
    cap: Cl.uint(cap),
    available: Cl.uint(cap > used ? cap - used : 0n),
  });
}

function roles(operator: string | null, signer: string | null, admin = deployer, guardian = GUARDIAN): ClarityValue {
  return Cl.tuple({
    admin: Cl.principal(admin),
    guardian: Cl.principal(guardian),
    operator: operator === null ? Cl.none() : Cl.some(Cl.principal(operator)),
    signer: signer === null ? Cl.none() : Cl.some(Cl.principal(signer)),
  });
}

function providerRecord(fields: { nonce?: bigint; stxIn?: bigint; stxOut?: bigint; sbtcIn?: bigint; sbtcOut?: bigint; createdSeq: bigint }) {
  return Cl.tuple({
    nonce: Cl.uint(fields.nonce ?? 0n),
    "stx-in": Cl.uint(fields.stxIn ?? 0n),
    "stx-out": Cl.uint(fields.stxOut ?? 0n),
    "sbtc-in": Cl.uint(fields.sbtcIn ?? 0n),
    "sbtc-out": Cl.uint(fields.sbtcOut ?? 0n),
    "created-seq": Cl.uint(fields.createdSeq),
  });
}

/** A voucher that stays valid for longer than any test here runs: the thief pre-signs for later windows. */
function farExpiry(): bigint {
  return BigInt(simnet.stacksBlockHeight) + 10_000n;
}

function revokeHotKeys(sender: string = GUARDIAN) {
  return call(VAULT_FUNCTIONS.revokeHotKeys, [], sender);
}

function role(name: string): ClarityValue {
  return Cl.stringAscii(name);
}

/** A checkpoint of the pool's four deposits; its root is never checked on posting. */
function postCheckpoint(sender: string) {
  return call(
    VAULT_FUNCTIONS.postCheckpoint,
    [
      Cl.buffer(new Uint8Array(32).fill(7)),
      Cl.uint(POOL_STX),
      Cl.uint(POOL_SBTC),
      Cl.uint(4n),
      Cl.tuple({
        "stx-in": Cl.uint(POOL_STX),
        "stx-out": Cl.uint(0),
        "sbtc-in": Cl.uint(POOL_SBTC),
        "sbtc-out": Cl.uint(0),
      }),
      Cl.uint(2n),
    ],
    sender,
  );
}

function claimExit(provider: string, token: Token) {
  return call(VAULT_FUNCTIONS.claimExit, [tokenArg(token), Cl.none(), Cl.list([])], provider);
}

describe("a stolen operator key", () => {
  it("locks the whole pool but settles at most one window's cap to the thief: 5,000 STX and 0.1 sBTC, then u213", () => {
    fundedVault();
    const thief = balancesOf(mallory);

    expectOk(lock(backend, [1n], POOL_STX).result);
    expectOk(lock(backend, [1n], POOL_SBTC, "sBTC").result);
    expect(totals("STX")).toEqual({ balance: POOL_STX, locked: POOL_STX });

    const windowStart = BigInt(simnet.burnBlockHeight);
    expect(outflow("STX")).toEqual(outflowView(windowStart, 0n, STX_CAP));
    expect(outflow("sBTC")).toEqual(outflowView(windowStart, 0n, SBTC_CAP));

    // Version 1 paid all of `locked` here.
    expectErr(settle(backend, 1n, mallory, POOL_STX).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 1n, mallory, STX_CAP + 1n).result, ERR.OUTFLOW_LIMIT);
    const paid = settle(backend, 1n, mallory, STX_CAP);
    expectOk(paid.result);
    expect(printedEvents(paid.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("settlement-paid"),
        "policy-id": Cl.uint(1n),
        buyer: Cl.principal(mallory),
        token: Cl.none(),
        amount: Cl.uint(STX_CAP),
        "total-balance": Cl.uint(POOL_STX - STX_CAP),
        "total-locked": Cl.uint(POOL_STX - STX_CAP),
      }),
    ]);
    expectErr(settle(backend, 2n, mallory, 1n).result, ERR.OUTFLOW_LIMIT);

    // Under the sBTC floor the cap does not shrink, so the thief may split it, but not exceed it.
    expectOk(settle(backend, 1n, mallory, SBTC_CAP / 2n, "sBTC").result);
    expectOk(settle(backend, 2n, mallory, SBTC_CAP / 2n, "sBTC").result);
    expectErr(settle(backend, 3n, mallory, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);

    // Up to the window's last burn block, nothing more leaves.
    simnet.mineEmptyBlocks(Number(windowStart) + OUTFLOW_WINDOW - 1 - simnet.burnBlockHeight);
    expectErr(settle(backend, 4n, mallory, 1n).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 4n, mallory, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc + SBTC_CAP });
    expect(vaultState()).toEqual({
      stx: { balance: POOL_STX - STX_CAP, locked: POOL_STX - STX_CAP },
      sbtc: { balance: POOL_SBTC - SBTC_CAP, locked: POOL_SBTC - SBTC_CAP },
      heldStx: POOL_STX - STX_CAP,
      heldSbtc: POOL_SBTC - SBTC_CAP,
    });
    // The cap follows the balance left: 10% of 45,000 STX is below what was used.
    expect(outflow("STX")).toEqual(outflowView(windowStart, STX_CAP, capOf(POOL_STX - STX_CAP, "STX")));
    expect(outflow("sBTC")).toEqual(outflowView(windowStart, SBTC_CAP, SBTC_CAP));
  });

  it("is shut out by the guardian's revoke-hot-keys: every operator call fails u200, even in the next window", () => {
    fundedVault();
    const thief = balancesOf(mallory);
    expectOk(lock(backend, [1n], POOL_STX).result);
    expectOk(lock(backend, [1n], POOL_SBTC, "sBTC").result);
    expectOk(settle(backend, 1n, mallory, STX_CAP).result);
    expectOk(settle(backend, 1n, mallory, SBTC_CAP, "sBTC").result);

    const revoked = revokeHotKeys();
    expectOk(revoked.result);
    expect(printedEvents(revoked.events)).toEqual([Cl.tuple({ event: Cl.stringAscii("hot-keys-revoked") })]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(null, null));

    // A new window has room again: only the revocation stops the thief now.
    simnet.mineEmptyBlocks(OUTFLOW_WINDOW);
    const now = BigInt(simnet.burnBlockHeight);
    expect(outflow("STX")).toEqual(outflowView(now, 0n, capOf(POOL_STX - STX_CAP, "STX")));
    expect(outflow("sBTC")).toEqual(outflowView(now, 0n, SBTC_CAP));

    for (const token of ["STX", "sBTC"] as const) {
      expectErr(settle(backend, 2n, mallory, 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(lock(backend, [2n], 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(release(backend, [1n], 1n, token).result, ERR.NOT_AUTHORIZED);
    }
    expectErr(postCheckpoint(backend).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.publishLeaves, [Cl.uint(1n), Cl.uint(0n), Cl.list([])], backend).result, ERR.NOT_AUTHORIZED);

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc + SBTC_CAP });
    expect(vaultState()).toEqual({
      stx: { balance: POOL_STX - STX_CAP, locked: POOL_STX - STX_CAP },
      sbtc: { balance: POOL_SBTC - SBTC_CAP, locked: POOL_SBTC - SBTC_CAP },
      heldStx: POOL_STX - STX_CAP,
      heldSbtc: POOL_SBTC - SBTC_CAP,
    });
  });

  it("still settles while the vault is paused, so the guardian must revoke the keys, not pause", () => {
    fundedVault();
    const thief = balancesOf(mallory);
    expectOk(lock(backend, [1n], POOL_STX).result);

    expectOk(call(VAULT_FUNCTIONS.pause, [], GUARDIAN).result);
    // The pause stops new locks, but what is already locked can still be paid out.
    expectErr(lock(backend, [2n], 1n, "sBTC").result, ERR.PAUSED);
    expectOk(settle(backend, 1n, mallory, STX_CAP).result);
    expect(stxBalance(mallory)).toBe(thief.stx + STX_CAP);

    expectOk(revokeHotKeys().result);
    expectErr(settle(backend, 1n, mallory, 1n).result, ERR.NOT_AUTHORIZED);
    simnet.mineEmptyBlocks(OUTFLOW_WINDOW);
    expectErr(settle(backend, 1n, mallory, 1n).result, ERR.NOT_AUTHORIZED);

    expect(stxBalance(mallory)).toBe(thief.stx + STX_CAP);
    expect(heldByVault("STX")).toBe(POOL_STX - STX_CAP);
    expect(heldByVault("sBTC")).toBe(POOL_SBTC);
  });

  it("left unrevoked, takes one cap per window, each 10% of what is left: 5,000 then 4,500 STX", () => {
    fundedVault();
    const thief = stxBalance(mallory);
    expectOk(lock(backend, [1n], POOL_STX).result);
    expectOk(settle(backend, 1n, mallory, STX_CAP).result);
    simnet.mineEmptyBlocks(OUTFLOW_WINDOW);

    const secondCap = capOf(POOL_STX - STX_CAP, "STX");
    expect(secondCap).toBe(4_500n * STX_1);
    expectErr(settle(backend, 1n, mallory, STX_CAP).result, ERR.OUTFLOW_LIMIT);
    expectOk(settle(backend, 1n, mallory, secondCap).result);
    expectErr(settle(backend, 1n, mallory, 1n).result, ERR.OUTFLOW_LIMIT);

    expect(stxBalance(mallory)).toBe(thief + STX_CAP + secondCap);
    expect(heldByVault("STX")).toBe(POOL_STX - STX_CAP - secondCap);
  });
  it("posts a checkpoint crediting itself the whole pool, but no one can shut down on it while it is vetoable (u219), and after the guardian's veto its proof fails (u217)", () => {
    fundedVault();
    const thief = stxBalance(mallory);
    // An exit claim needs a record, so the thief deposits 1 STX first.
    expectOk(deposit(mallory, STX_1).result);
    const forged: ExitLeaf = {
      provider: mallory,
      stx: POOL_STX + STX_1,
      sbtc: POOL_SBTC,
      stxIn: STX_1,
      stxOut: 0n,
      sbtcIn: 0n,
      sbtcOut: 0n,
    };
    const tree = buildMerkleSumTree([forged]);
    expectOk(
      call(
        VAULT_FUNCTIONS.postCheckpoint,
        [
          Cl.buffer(tree.root.hash),
          Cl.uint(tree.root.stx),
          Cl.uint(tree.root.sbtc),
          Cl.uint(5n),
          Cl.tuple({
            "stx-in": Cl.uint(POOL_STX + STX_1),
            "stx-out": Cl.uint(0n),
            "sbtc-in": Cl.uint(POOL_SBTC),
            "sbtc-out": Cl.uint(0n),
          }),
          Cl.uint(1n),
        ],
        backend,
      ).result,
    );
    const forgedClaim = [exitLeafCV(forged), exitProofCV([])] as const;
    expect(readOnly(VAULT_FUNCTIONS.verifyExitProof, [Cl.principal(mallory), ...forgedClaim])).toBeBool(true);

    // Not even the admin can shut down on a checkpoint the guardian may still veto.
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], deployer).result, ERR.INVALID_CHECKPOINT);
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], mallory).result, ERR.INVALID_CHECKPOINT);
    expectOk(call(VAULT_FUNCTIONS.vetoCheckpoint, [], GUARDIAN).result);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();

    expectOk(call(VAULT_FUNCTIONS.shutdown, [], deployer).result);
    expectErr(call(VAULT_FUNCTIONS.claimExit, [STX, Cl.some(forgedClaim[0]), forgedClaim[1]], mallory).result, ERR.INVALID_PROOF);
    expect(claimExit(mallory, "STX").result).toBeOk(Cl.uint(STX_1));
    expect(claimExit(alice, "STX").result).toBeOk(Cl.uint(ALICE_STX));
    expect(claimExit(bob, "STX").result).toBeOk(Cl.uint(BOB_STX));
    expect(stxBalance(mallory)).toBe(thief);
    expect(heldByVault("STX")).toBe(0n);
  });
});

describe("a stolen signer key", () => {
  it("signs the thief vouchers worth at most one window's cap: 5,000 STX and 0.1 sBTC, then u213", () => {
    fundedVault();
    const thief = balancesOf(mallory);
    // Any account can send withdraw-funds: the vault does not know who owns what.
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(mallory)])).toBeNone();

    expectErr(withdraw(voucher({ provider: mallory, amount: POOL_STX, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(withdraw(voucher({ provider: mallory, amount: STX_CAP + 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    const taken = withdraw(voucher({ provider: mallory, amount: STX_CAP, nonce: 1n }));
    expectOk(taken.result);
    expect(printedEvents(taken.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        provider: Cl.principal(mallory),
        token: Cl.none(),
        amount: Cl.uint(STX_CAP),
        nonce: Cl.uint(1n),
        seq: Cl.uint(5n),
        "total-balance": Cl.uint(POOL_STX - STX_CAP),
        "total-locked": Cl.uint(0n),
      }),
    ]);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);

    expectErr(withdraw(voucher({ provider: mallory, amount: SBTC_CAP + 1n, token: "sBTC", nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: mallory, amount: SBTC_CAP, token: "sBTC", nonce: 2n })).result);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, token: "sBTC", nonce: 3n })).result, ERR.OUTFLOW_LIMIT);

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc + SBTC_CAP });
    expect(vaultState()).toEqual({
      stx: { balance: POOL_STX - STX_CAP, locked: 0n },
      sbtc: { balance: POOL_SBTC - SBTC_CAP, locked: 0n },
      heldStx: POOL_STX - STX_CAP,
      heldSbtc: POOL_SBTC - SBTC_CAP,
    });
    // The thief's record shows withdrawals and no deposit: at an exit it is owed nothing.
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(mallory)])).toBeSome(
      providerRecord({ nonce: 2n, stxOut: STX_CAP, sbtcOut: SBTC_CAP, createdSeq: 5n }),
    );
  });

  it("shares the window with settlements: after an honest 1,000 STX settlement the thief's vouchers get 3,900 STX", () => {
    fundedVault();
    const thief = stxBalance(mallory);
    expectOk(lock(backend, [1n], 1_000n * STX_1).result);
    expectOk(settle(backend, 1n, buyer, 1_000n * STX_1).result);

    // 1,000 STX used of a cap that is now 10% of 49,000 STX.
    const room = capOf(POOL_STX - 1_000n * STX_1, "STX") - 1_000n * STX_1;
    expect(room).toBe(3_900n * STX_1);
    expectErr(withdraw(voucher({ provider: mallory, amount: room + 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: mallory, amount: room, nonce: 1n })).result);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);

    expect(stxBalance(mallory)).toBe(thief + room);
    expect(heldByVault("STX")).toBe(POOL_STX - 1_000n * STX_1 - room);
  });

  it("after revoke-hot-keys every voucher fails u211, even one signed earlier and never redeemed", () => {
    fundedVault();
    const thief = balancesOf(mallory);
    // Pre-signed for the next windows, and an honest voucher of alice's still in flight.
    const nextWindowStx = voucher({ provider: mallory, amount: 1_000n * STX_1, nonce: 5n, expiresAt: farExpiry() });
    const nextWindowSbtc = voucher({ provider: mallory, amount: SBTC_CAP, token: "sBTC", nonce: 6n, expiresAt: farExpiry() });
    const honest = voucher({ provider: alice, amount: 1_000n * STX_1, nonce: 1n, expiresAt: farExpiry() });
    expectOk(withdraw(voucher({ provider: mallory, amount: STX_CAP, nonce: 1n })).result);

    expectOk(revokeHotKeys().result);
    expectErr(withdraw(nextWindowStx).result, ERR.INVALID_SIGNATURE);
    simnet.mineEmptyBlocks(OUTFLOW_WINDOW);
    expect(outflow("STX")).toEqual(outflowView(BigInt(simnet.burnBlockHeight), 0n, capOf(POOL_STX - STX_CAP, "STX")));

    expectErr(withdraw(nextWindowStx).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(nextWindowSbtc).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, nonce: 7n })).result, ERR.INVALID_SIGNATURE);
    // Revocation voids honest vouchers too: the backend re-issues them under the next signer.
    expectErr(withdraw(honest).result, ERR.INVALID_SIGNATURE);

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc });
    expect(heldByVault("STX")).toBe(POOL_STX - STX_CAP);
    expect(heldByVault("sBTC")).toBe(POOL_SBTC);
  });
});

describe("both hot keys stolen at once", () => {
  it("the most a stolen operator and signer key can take before revocation is one window's cap: 5,000 STX and 0.1 sBTC", () => {
    fundedVault();
    const thief = balancesOf(mallory);
    // Half locked for settlements, half free for vouchers: both ways out are open.
    expectOk(lock(backend, [1n], POOL_STX / 2n).result);
    expectOk(lock(backend, [2n], POOL_SBTC / 2n, "sBTC").result);

    // STX: one settlement of the whole cap, and the vouchers find the window full.
    expectErr(settle(backend, 1n, mallory, POOL_STX / 2n).result, ERR.OUTFLOW_LIMIT);
    expectOk(settle(backend, 1n, mallory, STX_CAP).result);
    expectErr(settle(backend, 1n, mallory, 1n).result, ERR.OUTFLOW_LIMIT);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);

    // sBTC: a voucher first, then a settlement fills the same window to the floor.
    expectOk(withdraw(voucher({ provider: mallory, amount: 6_000_000n, token: "sBTC", nonce: 2n })).result);
    expectErr(settle(backend, 2n, mallory, 4_000_001n, "sBTC").result, ERR.OUTFLOW_LIMIT);
    expectOk(settle(backend, 2n, mallory, 4_000_000n, "sBTC").result);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, token: "sBTC", nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 2n, mallory, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc + SBTC_CAP });

    expectOk(revokeHotKeys().result);
    simnet.mineEmptyBlocks(OUTFLOW_WINDOW);
    for (const token of ["STX", "sBTC"] as const) {
      expectErr(settle(backend, 1n, mallory, 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(withdraw(voucher({ provider: mallory, amount: 1n, token, nonce: 4n })).result, ERR.INVALID_SIGNATURE);
    }

    expect(balancesOf(mallory)).toEqual({ stx: thief.stx + STX_CAP, sbtc: thief.sbtc + SBTC_CAP });
    expect(vaultState()).toEqual({
      stx: { balance: POOL_STX - STX_CAP, locked: POOL_STX / 2n - STX_CAP },
      sbtc: { balance: POOL_SBTC - SBTC_CAP, locked: POOL_SBTC / 2n - 4_000_000n },
      heldStx: POOL_STX - STX_CAP,
      heldSbtc: POOL_SBTC - SBTC_CAP,
    });
  });

  it("gets no more by splitting: each call's cap is a share of the balance left, so 2,000 + 2,800 STX and then u213", () => {
    fundedVault();
    const thief = stxBalance(mallory);
    expectOk(lock(backend, [1n], POOL_STX / 2n).result);
    expectOk(settle(backend, 1n, mallory, 2_000n * STX_1).result);

    // 10% of 48,000 STX is 4,800, of which 2,000 are used.
    expectErr(withdraw(voucher({ provider: mallory, amount: 3_000n * STX_1, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: mallory, amount: 2_800n * STX_1, nonce: 1n })).result);
    expectErr(withdraw(voucher({ provider: mallory, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 1n, mallory, 1n).result, ERR.OUTFLOW_LIMIT);

    expect(stxBalance(mallory)).toBe(thief + 4_800n * STX_1);
    expect(heldByVault("STX")).toBe(POOL_STX - 4_800n * STX_1);
  });
});

describe("a stolen guardian key", () => {
  it("can pause, revoke the hot keys, cancel a role proposal and veto a fresh checkpoint, and moves no money doing so", () => {
    fundedVault();
    const before = vaultState();
    const guardianBefore = balancesOf(GUARDIAN);

    expectOk(call(VAULT_FUNCTIONS.proposeRole, [role("operator"), Cl.principal(bob)], deployer).result);
    const cancelled = call(VAULT_FUNCTIONS.cancelRole, [role("operator")], GUARDIAN);
    expectOk(cancelled.result);
    expect(printedEvents(cancelled.events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("role-cancelled"), role: Cl.stringAscii("operator") }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role("operator")])).toBeNone();

    expectOk(postCheckpoint(backend).result);
    const vetoed = call(VAULT_FUNCTIONS.vetoCheckpoint, [], GUARDIAN);
    expectOk(vetoed.result);
    expect(printedEvents(vetoed.events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("checkpoint-vetoed"), epoch: Cl.uint(1n) }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();

    expectOk(call(VAULT_FUNCTIONS.pause, [], GUARDIAN).result);
    expectOk(revokeHotKeys().result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(null, null));

    expect(vaultState()).toEqual(before);
    expect(balancesOf(GUARDIAN)).toEqual(guardianBefore);
  });

  it("cannot unpause, propose roles, set the outflow limit or move money (u200), nor shut down before SILENCE", () => {
    fundedVault();
    expectOk(lock(backend, [1n], 1_000n * STX_1).result);
    const before = vaultState();
    const guardianBefore = balancesOf(GUARDIAN);
    expectOk(call(VAULT_FUNCTIONS.pause, [], GUARDIAN).result);

    expectErr(call(VAULT_FUNCTIONS.unpause, [], GUARDIAN).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    for (const name of ["admin", "guardian", "operator", "signer"]) {
      expectErr(call(VAULT_FUNCTIONS.proposeRole, [role(name), Cl.principal(GUARDIAN)], GUARDIAN).result, ERR.NOT_AUTHORIZED);
      expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role(name)])).toBeNone();
    }
    expectErr(
      call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(POOL_STX), Cl.uint(POOL_SBTC)], GUARDIAN).result,
      ERR.NOT_AUTHORIZED,
    );
    expect(outflow("STX")).toEqual(outflowView(BigInt(simnet.burnBlockHeight), 0n, STX_CAP));

    for (const token of ["STX", "sBTC"] as const) {
      expectErr(lock(GUARDIAN, [2n], 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(release(GUARDIAN, [1n], 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(settle(GUARDIAN, 1n, GUARDIAN, 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(claimExit(GUARDIAN, token).result, ERR.NOT_SHUT_DOWN);
    }
    expectErr(postCheckpoint(GUARDIAN).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], GUARDIAN).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);

    expect(vaultState()).toEqual(before);
    expect(balancesOf(GUARDIAN)).toEqual(guardianBefore);
    // The admin, and only the admin, reopens the vault.
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
  });
});

describe("a stolen admin key", () => {
  it("must wait ROLE-DELAY to install its own operator (u214), and the guardian's cancel-role makes accept-role fail u220", () => {
    fundedVault();
    const eta = BigInt(simnet.burnBlockHeight + ROLE_DELAY);
    const proposed = call(VAULT_FUNCTIONS.proposeRole, [role("operator"), Cl.principal(mallory)], deployer);
    expectOk(proposed.result);
    expect(printedEvents(proposed.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("role-proposed"),
        role: Cl.stringAscii("operator"),
        who: Cl.principal(mallory),
        eta: Cl.uint(eta),
      }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role("operator")])).toBeSome(
      Cl.tuple({ who: Cl.principal(mallory), eta: Cl.uint(eta) }),
    );
    expectOk(call(VAULT_FUNCTIONS.proposeRole, [role("signer"), Cl.principal(mallory)], deployer).result);

    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("operator")], mallory).result, ERR.TIMELOCK);
    simnet.mineEmptyBlocks(ROLE_DELAY - 1);
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("operator")], mallory).result, ERR.TIMELOCK);
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("signer")], mallory).result, ERR.TIMELOCK);

    // The guardian watches role-proposed events and has the whole delay to answer.
    expectOk(call(VAULT_FUNCTIONS.cancelRole, [role("operator")], GUARDIAN).result);
    expectOk(call(VAULT_FUNCTIONS.cancelRole, [role("signer")], GUARDIAN).result);
    simnet.mineEmptyBlocks(1);
    expect(BigInt(simnet.burnBlockHeight)).toBe(eta);
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("operator")], mallory).result, ERR.INVALID_ROLE);
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("signer")], mallory).result, ERR.INVALID_ROLE);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(backend, backend));
  });

  it("has no function that moves funds to it: operator calls fail u200 and its own vouchers u211", () => {
    fundedVault();
    expectOk(lock(backend, [1n], 1_000n * STX_1).result);
    const before = vaultState();
    const admin = balancesOf(deployer);

    for (const token of ["STX", "sBTC"] as const) {
      expectErr(lock(deployer, [2n], 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(release(deployer, [1n], 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(settle(deployer, 1n, deployer, 1n, token).result, ERR.NOT_AUTHORIZED);
      expectErr(
        withdraw(voucher({ provider: deployer, amount: 1n, token, nonce: 1n, signingKey: ROGUE_KEY })).result,
        ERR.INVALID_SIGNATURE,
      );
    }
    // Raising the limit is an admin power, yet it moves nothing by itself.
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], deployer).result);
    expectErr(settle(deployer, 1n, deployer, 1_000n * STX_1).result, ERR.NOT_AUTHORIZED);

    expect(vaultState()).toEqual(before);
    expect(balancesOf(deployer)).toEqual(admin);
  });

  it("can only shut down into the pro-rata exit: providers claim their deposits in full, the admin only its own 1,000 STX", () => {
    fundedVault();
    const ADMIN_STX = 1_000n * STX_1;
    expectOk(deposit(deployer, ADMIN_STX).result);
    expectOk(lock(backend, [1n], 20_000n * STX_1).result);
    const start = { alice: balancesOf(alice), bob: balancesOf(bob), admin: balancesOf(deployer) };

    const shut = call(VAULT_FUNCTIONS.shutdown, [], deployer);
    expectOk(shut.result);
    expect(printedEvents(shut.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("shutdown"),
        by: Cl.principal(deployer),
        "stx-assets": Cl.uint(POOL_STX + ADMIN_STX),
        "stx-liabilities": Cl.uint(POOL_STX + ADMIN_STX),
        "sbtc-assets": Cl.uint(POOL_SBTC),
        "sbtc-liabilities": Cl.uint(POOL_SBTC),
      }),
    ]);
    expect(totals("STX")).toEqual({ balance: POOL_STX + ADMIN_STX, locked: 0n });

    const claim = claimExit(alice, "STX");
    expect(claim.result).toBeOk(Cl.uint(ALICE_STX));
    expect(printedEvents(claim.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("exit-claimed"),
        provider: Cl.principal(alice),
        token: Cl.none(),
        owed: Cl.uint(ALICE_STX),
        paid: Cl.uint(ALICE_STX),
      }),
    ]);
    expect(claimExit(alice, "sBTC").result).toBeOk(Cl.uint(ALICE_SBTC));
    expect(claimExit(bob, "STX").result).toBeOk(Cl.uint(BOB_STX));
    expect(claimExit(bob, "sBTC").result).toBeOk(Cl.uint(BOB_SBTC));
    expect(claimExit(deployer, "STX").result).toBeOk(Cl.uint(ADMIN_STX));
    expect(claimExit(deployer, "sBTC").result).toBeOk(Cl.uint(0n));
    expectErr(claimExit(deployer, "STX").result, ERR.ALREADY_CLAIMED);
    expectErr(claimExit(mallory, "STX").result, ERR.INVALID_PROOF);

    expect(balancesOf(alice)).toEqual({ stx: start.alice.stx + ALICE_STX, sbtc: start.alice.sbtc + ALICE_SBTC });
    expect(balancesOf(bob)).toEqual({ stx: start.bob.stx + BOB_STX, sbtc: start.bob.sbtc + BOB_SBTC });
    expect(balancesOf(deployer)).toEqual({ stx: start.admin.stx + ADMIN_STX, sbtc: start.admin.sbtc });
    expect(vaultState()).toEqual({
      stx: { balance: 0n, locked: 0n },
      sbtc: { balance: 0n, locked: 0n },
      heldStx: 0n,
      heldSbtc: 0n,
    });

    // Nothing else is left to the admin key after shutdown.
    expectErr(call(VAULT_FUNCTIONS.unpause, [], deployer).result, ERR.SHUT_DOWN);
    expectErr(call(VAULT_FUNCTIONS.proposeRole, [role("operator"), Cl.principal(mallory)], deployer).result, ERR.SHUT_DOWN);
    expectErr(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(0n), Cl.uint(0n), Cl.uint(0n)], deployer).result, ERR.SHUT_DOWN);
  });
});

describe("a backend that disappears", () => {
  it("lets a stranger shut down only after SILENCE burn blocks (u200 before), and every provider gets deposits minus withdrawals back", () => {
    // The silence counts from deployment when no checkpoint was ever posted.
    const deployedAt = simnet.burnBlockHeight;
    fundedVault();
    const WITHDRAWN_STX = 1_000n * STX_1;
    const WITHDRAWN_SBTC = 5_000_000n;
    expectOk(withdraw(voucher({ provider: alice, amount: WITHDRAWN_STX, nonce: 1n })).result);
    expectOk(withdraw(voucher({ provider: alice, amount: WITHDRAWN_SBTC, token: "sBTC", nonce: 2n })).result);
    // Collateral was locked for live policies when the backend vanished.
    expectOk(lock(backend, [7n], 10_000n * STX_1).result);
    expectOk(lock(backend, [7n], 10_000_000n, "sBTC").result);
    const start = { alice: balancesOf(alice), bob: balancesOf(bob), stranger: balancesOf(mallory) };

    simnet.mineEmptyBlocks(deployedAt + SILENCE - simnet.burnBlockHeight);
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);

    simnet.mineEmptyBlocks(1);
    const stxLeft = POOL_STX - WITHDRAWN_STX;
    const sbtcLeft = POOL_SBTC - WITHDRAWN_SBTC;
    const shut = call(VAULT_FUNCTIONS.shutdown, [], mallory);
    expectOk(shut.result);
    expect(printedEvents(shut.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("shutdown"),
        by: Cl.principal(mallory),
        "stx-assets": Cl.uint(stxLeft),
        "stx-liabilities": Cl.uint(stxLeft),
        "sbtc-assets": Cl.uint(sbtcLeft),
        "sbtc-liabilities": Cl.uint(sbtcLeft),
      }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxLocked)).toBeUint(0n);

    expect(claimExit(alice, "STX").result).toBeOk(Cl.uint(ALICE_STX - WITHDRAWN_STX));
    expect(claimExit(alice, "sBTC").result).toBeOk(Cl.uint(ALICE_SBTC - WITHDRAWN_SBTC));
    expect(claimExit(bob, "STX").result).toBeOk(Cl.uint(BOB_STX));
    expect(claimExit(bob, "sBTC").result).toBeOk(Cl.uint(BOB_SBTC));
    // The stranger who shut the vault down never deposited: there is nothing for it to claim.
    expectErr(claimExit(mallory, "STX").result, ERR.INVALID_PROOF);

    expect(balancesOf(alice)).toEqual({
      stx: start.alice.stx + ALICE_STX - WITHDRAWN_STX,
      sbtc: start.alice.sbtc + ALICE_SBTC - WITHDRAWN_SBTC,
    });
    expect(balancesOf(bob)).toEqual({ stx: start.bob.stx + BOB_STX, sbtc: start.bob.sbtc + BOB_SBTC });
    expect(balancesOf(mallory)).toEqual(start.stranger);
    expect(heldByVault("STX")).toBe(0n);
    expect(heldByVault("sBTC")).toBe(0n);

    // A shut vault takes no new money and moves none but by claim-exit.
    expectErr(deposit(alice, 1n).result, ERR.SHUT_DOWN);
    expectErr(settle(backend, 7n, mallory, 1n).result, ERR.SHUT_DOWN);
    expectErr(withdraw(voucher({ provider: bob, amount: 1n, nonce: 1n })).result, ERR.SHUT_DOWN);
  });
});

describe("vouchers bound to one vault", () => {
  const VAULT_2 = `${deployer}.liquidity-pool-2`;
  const VAULT_2_STX = 5_000n * STX_1;
  const VAULT_2_SBTC = 20_000_000n;

  function withdrawFrom(vault: string, signed: SignedVoucher, sender: string = signed.provider) {
    return simnet.callPublicFn(
      vault,
      VAULT_FUNCTIONS.withdrawFunds,
      [
        Cl.uint(signed.amount),
        signed.tokenContract === null ? STX : SBTC_ARG,
        Cl.uint(signed.nonce),
        Cl.uint(signed.expiresAt),
        Cl.bufferFromHex(signed.signature),
      ],
      sender,
    );
  }

  function heldByVault2(token: Token): bigint {
    const key = token === "STX" ? "STX" : ".sbtc-token.sbtc-token";
    return simnet.getAssetsMap().get(key)?.get(VAULT_2) ?? 0n;
  }

  /** A second copy of the vault, trusting the same signer key, funded by alice. */
  function secondVault(): void {
    const source = readFileSync(new URL("../../contracts/liquidity-pool.clar", import.meta.url), "utf8");
    expect(simnet.deployContract("liquidity-pool-2", source, { clarityVersion: 4 }, deployer).result).toBeBool(true);
    expect(simnet.callPublicFn(VAULT_2, VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer).result).toBeOk(Cl.bool(true));
    expect(
      simnet.callPublicFn(VAULT_2, VAULT_FUNCTIONS.proposeRole, [role("signer"), Cl.principal(backend)], deployer).result,
    ).toBeOk(Cl.bool(true));
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expect(simnet.callPublicFn(VAULT_2, VAULT_FUNCTIONS.acceptRole, [role("signer")], backend).result).toBeOk(Cl.bool(true));
    mintSbtc(alice, VAULT_2_SBTC);
    expect(
      simnet.callPublicFn(VAULT_2, VAULT_FUNCTIONS.depositFunds, [Cl.uint(VAULT_2_STX), STX], alice).result,
    ).toBeOk(Cl.bool(true));
    expect(
      simnet.callPublicFn(VAULT_2, VAULT_FUNCTIONS.depositFunds, [Cl.uint(VAULT_2_SBTC), SBTC_ARG], alice).result,
    ).toBeOk(Cl.bool(true));
  }

  it("a voucher signed for one vault is refused by another with the same signer (u211), both ways, and each vault pays its own", () => {
    fundedVault();
    secondVault();
    expect(simnet.callReadOnlyFn(VAULT_2, VAULT_FUNCTIONS.getRoles, [], deployer).result).toEqual(
      roles(deployer, backend, deployer, deployer),
    );
    const aliceStart = balancesOf(alice);

    const cases = [
      { token: "STX", amount: 1_000n * STX_1, nonce: 1n },
      { token: "sBTC", amount: 5_000_000n, nonce: 2n },
    ] as const;
    for (const { token, amount, nonce } of cases) {
      // Same provider, amount, token, nonce and expiry: only the vault differs.
      const terms = { provider: alice, amount, token, nonce, expiresAt: farExpiry() };
      const forVault1 = voucher(terms);
      const forVault2 = voucher({ ...terms, vault: VAULT_2 });
      expect(forVault2.signature).not.toBe(forVault1.signature);

      expectErr(withdrawFrom(VAULT_2, forVault1).result, ERR.INVALID_SIGNATURE);
      expectErr(withdrawFrom(VAULT, forVault2).result, ERR.INVALID_SIGNATURE);
      expectOk(withdrawFrom(VAULT, forVault1).result);
      expectOk(withdrawFrom(VAULT_2, forVault2).result);
      // Replayed on the vault that already paid it.
      expectErr(withdrawFrom(VAULT, forVault1).result, ERR.VOUCHER_USED);
      expectErr(withdrawFrom(VAULT_2, forVault2).result, ERR.VOUCHER_USED);
    }

    expect(balancesOf(alice)).toEqual({ stx: aliceStart.stx + 2_000n * STX_1, sbtc: aliceStart.sbtc + 10_000_000n });
    expect(heldByVault("STX")).toBe(POOL_STX - 1_000n * STX_1);
    expect(heldByVault("sBTC")).toBe(POOL_SBTC - 5_000_000n);
    expect(heldByVault2("STX")).toBe(VAULT_2_STX - 1_000n * STX_1);
    expect(heldByVault2("sBTC")).toBe(VAULT_2_SBTC - 5_000_000n);
  });
});

describe("admin hand-over typo", () => {
  // An address the admin never meant: nobody in the test holds its key.
  const typo = privateKeyToAddress(ROGUE_KEY, "testnet");

  it("a proposal to a mistyped address is accepted by no one else (u200), the old admin keeps control, and only the proposed address takes the role", () => {
    initializeVault();
    expectOk(call(VAULT_FUNCTIONS.proposeRole, [role("admin"), Cl.principal(typo)], deployer).result);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    for (const who of [alice, mallory, deployer, backend]) {
      expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("admin")], who).result, ERR.NOT_AUTHORIZED);
    }
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(backend, backend, deployer, deployer));

    // The old admin still acts, and replaces the bad proposal with the intended one.
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(500n), Cl.uint(0n), Cl.uint(0n)], deployer).result);
    const eta = BigInt(simnet.burnBlockHeight + ROLE_DELAY);
    expectOk(call(VAULT_FUNCTIONS.proposeRole, [role("admin"), Cl.principal(alice)], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role("admin")])).toBeSome(Cl.tuple({ who: Cl.principal(alice), eta: Cl.uint(eta) }));
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("admin")], alice).result, ERR.TIMELOCK);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(call(VAULT_FUNCTIONS.acceptRole, [role("admin")], mallory).result, ERR.NOT_AUTHORIZED);

    const accepted = call(VAULT_FUNCTIONS.acceptRole, [role("admin")], alice);
    expectOk(accepted.result);
    expect(printedEvents(accepted.events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("role-set"),
        role: Cl.stringAscii("admin"),
        previous: Cl.some(Cl.principal(deployer)),
        who: Cl.principal(alice),
      }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(backend, backend, alice, deployer));
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role("admin")])).toBeNone();
    expectErr(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], deployer).result, ERR.NOT_AUTHORIZED);
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], alice).result);
  });
});

describe("forged, tampered and misdirected vouchers", () => {
  it("a withdraw-funds without any voucher fails (u211) and moves nothing", () => {
    fundedVault();
    const before = vaultState();
    const noVoucher = call(
      VAULT_FUNCTIONS.withdrawFunds,
      [Cl.uint(1n), STX, Cl.uint(1n), Cl.uint(heightOfNextCall()), Cl.bufferFromHex("00".repeat(65))],
      mallory,
    );
    expectErr(noVoucher.result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("someone else redeeming a provider's voucher fails (u211) and leaves the provider's nonce unused", () => {
    fundedVault();
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    const before = vaultState();
    expectErr(withdraw(signed, mallory).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(alice)])).toBeSome(
      providerRecord({ stxIn: ALICE_STX, sbtcIn: ALICE_SBTC, createdSeq: 1n }),
    );
    expectOk(withdraw(signed).result);
  });

  it("raising the amount, or swapping the token of, a genuine voucher fails (u211)", () => {
    fundedVault();
    const stxVoucher = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    const sbtcVoucher = voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 1n });
    const before = vaultState();
    expectErr(withdraw({ ...stxVoucher, amount: STX_CAP }).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(stxVoucher, alice, SBTC_ARG).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(sbtcVoucher, alice, STX).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("a voucher signed for another network (chain id 1) fails (u211)", () => {
    fundedVault();
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    const mainnetSignature = signWithdrawalVoucher(signed, 1n, BACKEND_KEY);
    expect(CHAIN_ID).not.toBe(1n);
    expectErr(withdraw({ ...signed, signature: mainnetSignature }).result, ERR.INVALID_SIGNATURE);
    expect(heldByVault("STX")).toBe(POOL_STX);
  });

  it("an expired voucher fails (u209), and pushing its expiry out breaks the signature (u211)", () => {
    fundedVault();
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 1n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(5);
    const before = vaultState();
    expectErr(withdraw(signed).result, ERR.VOUCHER_EXPIRED);
    expectErr(withdraw({ ...signed, expiresAt: signed.expiresAt + 100n }).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("a redeemed voucher cannot be replayed (u210), and redeeming a later nonce voids an earlier unredeemed one (u210)", () => {
    fundedVault();
    const first = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    const second = voucher({ provider: alice, amount: 2_000n, nonce: 2n });
    expectOk(withdraw(second).result);
    const before = vaultState();
    expectErr(withdraw(second).result, ERR.VOUCHER_USED);
    expectErr(withdraw(first).result, ERR.VOUCHER_USED);
    expect(vaultState()).toEqual(before);
    expect(heldByVault("STX")).toBe(POOL_STX - 2_000n);
  });

  it("a voucher signed by a key the vault does not trust fails (u211)", () => {
    fundedVault();
    const before = vaultState();
    expectErr(withdraw(voucher({ provider: mallory, amount: 1_000n, nonce: 1n, signingKey: ROGUE_KEY })).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("after the signer role is handed to a new key, the old key's vouchers fail (u211) and the new key's pay", () => {
    fundedVault();
    const newSigner = privateKeyToAddress(ROGUE_KEY, "testnet");
    const old = voucher({ provider: alice, amount: 1_000n, nonce: 1n, expiresAt: farExpiry() });
    handRole("signer", newSigner);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(roles(backend, newSigner));
    expectErr(withdraw(old).result, ERR.INVALID_SIGNATURE);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 1n, signingKey: ROGUE_KEY })).result);
    expect(heldByVault("STX")).toBe(POOL_STX - 1_000n);
  });

  it("a genuine voucher cannot take collateral locked for policies (u201)", () => {
    fundedVault();
    expectOk(lock(backend, [1n], POOL_STX).result);
    const before = vaultState();
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result, ERR.INSUFFICIENT_BALANCE);
    expect(vaultState()).toEqual(before);
  });
});

describe("collateral calls from the wrong key", () => {
  it("lock, release and settle from anyone but the operator fail (u200), admin and guardian included", () => {
    fundedVault();
    expectOk(lock(backend, [1n], 1_000n).result);
    const before = vaultState();
    for (const who of [mallory, deployer, GUARDIAN, alice]) {
      expectErr(lock(who, [2n], 1n).result, ERR.NOT_AUTHORIZED);
      expectErr(release(who, [1n], 1_000n).result, ERR.NOT_AUTHORIZED);
      expectErr(settle(who, 1n, mallory, 1_000n).result, ERR.NOT_AUTHORIZED);
    }
    expect(vaultState()).toEqual(before);
  });

  it("releasing or settling more than is locked fails (u206): settlements never reach the free balance", () => {
    fundedVault();
    expectOk(lock(backend, [1n], 1_000n).result);
    const before = vaultState();
    expectErr(release(backend, [1n], 1_001n).result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expectErr(settle(backend, 1n, mallory, 1_001n).result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expectErr(settle(backend, 1n, mallory, 1n, "sBTC").result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expect(vaultState()).toEqual(before);
  });
});

describe("look-alike sBTC token", () => {
  // Same code, same asset name, same trait as the configured sBTC contract: only the deployer differs.
  function deployLookalike(): string {
    const source = simnet.getContractSource(SBTC);
    if (!source) throw new Error("sbtc-token source missing");
    const lookalike = source.replaceAll(".sip-010-trait.", `'${deployer}.sip-010-trait.`);
    expect(simnet.deployContract("fake-sbtc", lookalike, { clarityVersion: 4 }, mallory).result).toBeBool(true);
    return `${mallory}.fake-sbtc`;
  }

  it("a deposit through it fails (u202) and credits nothing", () => {
    fundedVault();
    const fake = deployLookalike();
    expectOk(simnet.callPublicFn(fake, "mint", [Cl.uint(1_000n), Cl.principal(mallory)], mallory).result);
    const before = vaultState();
    expectErr(call(VAULT_FUNCTIONS.depositFunds, [Cl.uint(1_000n), Cl.some(Cl.principal(fake))], mallory).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(vaultState()).toEqual(before);
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(mallory)])).toBeNone();
  });

  it("a genuine sBTC voucher redeemed through it fails (u202) and stays redeemable", () => {
    fundedVault();
    const fake = deployLookalike();
    const signed = voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 1n });
    expectErr(withdraw(signed, alice, Cl.some(Cl.principal(fake))).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(heldByVault("sBTC")).toBe(POOL_SBTC);
    expectOk(withdraw(signed).result);
    expect(heldByVault("sBTC")).toBe(POOL_SBTC - 1_000n);
  });

  it("a premium, lock, release, settlement or exit claim through it fails (u202)", () => {
    fundedVault();
    const fake = Cl.some(Cl.principal(deployLookalike()));
    expectOk(lock(backend, [1n], 1_000n, "sBTC").result);
    const ids = Cl.list([Cl.uint(1n)]);
    expectErr(call(VAULT_FUNCTIONS.payPremium, [Cl.uint(1n), Cl.uint(1n), fake], alice).result, ERR.INVALID_TOKEN_CONTRACT);
    expectErr(call(VAULT_FUNCTIONS.lockCollateralAggregate, [ids, Cl.uint(1n), fake], backend).result, ERR.INVALID_TOKEN_CONTRACT);
    expectErr(call(VAULT_FUNCTIONS.releaseCollateralAggregate, [ids, Cl.uint(1n), fake], backend).result, ERR.INVALID_TOKEN_CONTRACT);
    expectErr(
      call(VAULT_FUNCTIONS.settlePolicy, [Cl.uint(1n), Cl.principal(mallory), Cl.uint(1n), fake], backend).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expectOk(call(VAULT_FUNCTIONS.shutdown, [], deployer).result);
    expectErr(call(VAULT_FUNCTIONS.claimExit, [fake, Cl.none(), Cl.list([])], alice).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(claimExit(alice, "sBTC").result).toBeOk(Cl.uint(ALICE_SBTC));
  });
});

describe("configuration and relayed calls", () => {
  it(`${VAULT_FUNCTIONS.setSbtcTokenPrincipal} from anyone but the admin fails (u200), and a second one even from the admin (u204)`, () => {
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeNone();
    initializeVault();
    expectErr(
      call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(`${deployer}.sip-010-trait`)], deployer).result,
      ERR.ALREADY_INITIALIZED,
    );
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(SBTC));
  });

  it("privileged calls relayed through another contract are refused (u200): roles are checked on contract-caller", () => {
    fundedVault();
    const relay = `
      (define-public (relay-lock (amount uint))
        (contract-call? '${VAULT} lock-collateral-aggregate (list u1) amount none))
      (define-public (relay-settle (amount uint))
        (contract-call? '${VAULT} settle-policy u1 tx-sender amount none))
      (define-public (relay-pause)
        (contract-call? '${VAULT} pause))
      (define-public (relay-propose)
        (contract-call? '${VAULT} propose-role "operator" tx-sender))`;
    expect(simnet.deployContract("relay", relay, { clarityVersion: 4 }, mallory).result).toBeBool(true);
    expectOk(lock(backend, [1n], 1_000n).result);
    const before = vaultState();

    // Even when the operator, guardian or admin is tricked into calling the relay, the vault sees the relay.
    const relayCall = (fn: string, args: ClarityValue[], sender: string) =>
      simnet.callPublicFn(`${mallory}.relay`, fn, args, sender).result;
    expectErr(relayCall("relay-lock", [Cl.uint(1n)], backend), ERR.NOT_AUTHORIZED);
    expectErr(relayCall("relay-settle", [Cl.uint(1_000n)], backend), ERR.NOT_AUTHORIZED);
    expectErr(relayCall("relay-pause", [], GUARDIAN), ERR.NOT_AUTHORIZED);
    expectErr(relayCall("relay-propose", [], deployer), ERR.NOT_AUTHORIZED);

    expect(vaultState()).toEqual(before);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [role("operator")])).toBeNone();
  });
});
