/**
 * The ways someone could try to take money out of the vault or corrupt its
 * totals, one test each. Every attack must fail with its documented error and
 * leave balances, totals and voucher state exactly as they were.
 */
import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import {
  alice,
  backend,
  bob,
  call,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  heightOfNextCall,
  heldByVault,
  initializeVault,
  lock,
  mallory,
  mintSbtc,
  readOnly,
  release,
  ROGUE_KEY,
  SBTC,
  settle,
  stxBalance,
  totals,
  voucher,
  withdraw,
} from "./vault";

const POOL = 50_000_000n;

beforeEach(() => {
  initializeVault();
  expectOk(deposit(alice, POOL).result);
  mintSbtc(alice, POOL);
  expectOk(deposit(alice, POOL, "sBTC").result);
});

/** Snapshot of everything an attack could change. */
function vaultState() {
  return {
    stx: totals("STX"),
    sbtc: totals("sBTC"),
    heldStx: heldByVault("STX"),
    heldSbtc: heldByVault("sBTC"),
    mallory: stxBalance(mallory),
  };
}

describe("withdrawal attacks", () => {
  it("a direct withdraw-funds without any voucher fails (u211)", () => {
    const before = vaultState();
    const noVoucher = call(
      "withdraw-funds",
      [Cl.uint(POOL), Cl.none(), Cl.uint(1n), Cl.uint(heightOfNextCall()), Cl.bufferFromHex("00".repeat(65))],
      mallory,
    );
    expectErr(noVoucher.result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("replaying a redeemed voucher fails (u210)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 9n });
    expectOk(withdraw(signed).result);
    const before = vaultState();
    expectErr(withdraw(signed).result, ERR.VOUCHER_USED);
    expect(vaultState()).toEqual(before);
  });

  it("a voucher's nonce cannot be reused for another provider's voucher (u210)", () => {
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 10n })).result);
    expectOk(deposit(bob, 5_000n).result);
    expectErr(withdraw(voucher({ provider: bob, amount: 1_000n, nonce: 10n })).result, ERR.VOUCHER_USED);
  });

  it("an expired voucher fails (u209)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 11n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(5);
    const before = vaultState();
    expectErr(withdraw(signed).result, ERR.VOUCHER_EXPIRED);
    expect(vaultState()).toEqual(before);
  });

  it("a voucher extended by the holder (expires-at changed) fails (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 12n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(5);
    expectErr(withdraw({ ...signed, expiresAt: signed.expiresAt + 100n }).result, ERR.INVALID_SIGNATURE);
  });

  it("another provider redeeming someone else's voucher fails (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 13n });
    const before = vaultState();
    expectErr(withdraw(signed, mallory).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
    expect(readOnly("is-voucher-used", [Cl.uint(13n)])).toBeBool(false);
  });

  it("raising the amount of a genuine voucher fails (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 14n });
    expectErr(withdraw({ ...signed, amount: POOL }).result, ERR.INVALID_SIGNATURE);
    expect(totals("STX").balance).toBe(POOL);
  });

  it("redeeming an STX voucher as sBTC fails (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 15n });
    expectErr(withdraw(signed, alice, Cl.some(Cl.principal(SBTC))).result, ERR.INVALID_SIGNATURE);
    expect(totals("sBTC").balance).toBe(POOL);
  });

  it("redeeming an sBTC voucher as STX fails (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 16n });
    expectErr(withdraw(signed, alice, Cl.none()).result, ERR.INVALID_SIGNATURE);
    expect(totals("STX").balance).toBe(POOL);
  });

  it("a voucher signed by a key other than the backend's fails (u211)", () => {
    const rogue = voucher({ provider: mallory, amount: POOL, nonce: 17n, signingKey: ROGUE_KEY });
    const before = vaultState();
    expectErr(withdraw(rogue).result, ERR.INVALID_SIGNATURE);
    expect(vaultState()).toEqual(before);
  });

  it("vouchers signed by a rotated-out backend key stop working (u211)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 18n });
    expectOk(call("set-backend-principal", [Cl.principal(bob)], deployer).result);
    expectErr(withdraw(signed).result, ERR.INVALID_SIGNATURE);
  });

  it("withdrawing collateral that is locked for policies fails (u201), even with a genuine voucher", () => {
    expectOk(lock(backend, [1n], POOL).result);
    const before = vaultState();
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 19n })).result, ERR.INSUFFICIENT_BALANCE);
    expect(vaultState()).toEqual(before);
  });
});

describe("collateral attacks", () => {
  it("lock from a non-backend caller fails (u200)", () => {
    expectErr(lock(mallory, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    expectErr(lock(deployer, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    expect(totals("STX").locked).toBe(0n);
  });

  it("release from a non-backend caller fails (u200)", () => {
    expectOk(lock(backend, [1n], 1_000n).result);
    expectErr(release(mallory, [1n], 1_000n).result, ERR.NOT_AUTHORIZED);
    expect(totals("STX").locked).toBe(1_000n);
  });

  it("settle from a non-backend caller fails (u200) and pays nobody", () => {
    expectOk(lock(backend, [1n], 1_000n).result);
    const before = vaultState();
    expectErr(settle(mallory, 1n, mallory, 1_000n).result, ERR.NOT_AUTHORIZED);
    expect(vaultState()).toEqual(before);
  });

  it("releasing more than is locked fails (u206)", () => {
    expectOk(lock(backend, [1n], 1_000n).result);
    expectErr(release(backend, [1n], 1_001n).result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expect(totals("STX").locked).toBe(1_000n);
  });

  it("settling more than is locked fails (u206), protecting the free balance", () => {
    expectOk(lock(backend, [1n], 1_000n).result);
    const before = vaultState();
    expectErr(settle(backend, 1n, mallory, 1_001n).result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expect(vaultState()).toEqual(before);
  });

  it("settling with nothing locked fails (u206)", () => {
    expectErr(settle(backend, 1n, mallory, 1n, "sBTC").result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
  });
});

describe("token attacks", () => {
  // A SIP-010 contract that looks exactly like sBTC but is not the configured one.
  function deployLookalike(): string {
    const source = simnet.getContractSource(SBTC);
    if (!source) throw new Error("sbtc-token source missing");
    // Same code, same asset name, same trait: only the deployer differs.
    const lookalike = source.replaceAll(".sip-010-trait.", `'${deployer}.sip-010-trait.`);
    const { result } = simnet.deployContract("fake-sbtc", lookalike, { clarityVersion: 4 }, mallory);
    expect(result).toBeBool(true);
    return `${mallory}.fake-sbtc`;
  }

  it("a deposit through a look-alike sBTC contract fails (u202) and credits nothing", () => {
    const fake = deployLookalike();
    expectOk(simnet.callPublicFn(fake, "mint", [Cl.uint(1_000n), Cl.principal(mallory)], mallory).result);
    expectErr(call("deposit-funds", [Cl.uint(1_000n), Cl.some(Cl.principal(fake))], mallory).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(totals("sBTC").balance).toBe(POOL);
  });

  it("a withdrawal through a look-alike sBTC contract fails (u202)", () => {
    const fake = deployLookalike();
    const signed = voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 30n });
    expectErr(withdraw(signed, alice, Cl.some(Cl.principal(fake))).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(readOnly("is-voucher-used", [Cl.uint(30n)])).toBeBool(false);
  });

  it("a premium, lock, release or settlement through a look-alike contract fails (u202)", () => {
    const fake = Cl.some(Cl.principal(deployLookalike()));
    expectErr(call("pay-premium", [Cl.uint(1n), Cl.uint(1n), fake], alice).result, ERR.INVALID_TOKEN_CONTRACT);
    const ids = Cl.list([Cl.uint(1n)]);
    expectErr(call("lock-collateral-aggregate", [ids, Cl.uint(1n), fake], backend).result, ERR.INVALID_TOKEN_CONTRACT);
    expectErr(call("release-collateral-aggregate", [ids, Cl.uint(1n), fake], backend).result, ERR.INVALID_TOKEN_CONTRACT);
    expectErr(
      call("settle-policy", [Cl.uint(1n), Cl.principal(mallory), Cl.uint(1n), fake], backend).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
  });
});

describe("administration attacks", () => {
  it("set-sbtc-token-principal from another caller fails (u200)", () => {
    expectErr(call("set-sbtc-token-principal", [Cl.principal(SBTC)], mallory).result, ERR.NOT_AUTHORIZED);
  });

  it("a second set-sbtc-token-principal, even by the admin, fails (u204)", () => {
    expectErr(
      call("set-sbtc-token-principal", [Cl.principal(`${deployer}.sip-010-trait`)], deployer).result,
      ERR.ALREADY_INITIALIZED,
    );
    expect(readOnly("get-sbtc-token-principal")).toBeSome(Cl.principal(SBTC));
  });

  it("set-backend-principal from another caller fails (u200)", () => {
    expectErr(call("set-backend-principal", [Cl.principal(mallory)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("get-backend-principal")).toBePrincipal(backend);
  });

  it("set-paused from another caller fails (u200)", () => {
    expectErr(call("set-paused", [Cl.bool(true)], mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(call("set-paused", [Cl.bool(true)], backend).result, ERR.NOT_AUTHORIZED);
  });

  it("set-contract-admin from another caller fails (u200)", () => {
    expectErr(call("set-contract-admin", [Cl.principal(mallory)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("get-contract-admin")).toBePrincipal(deployer);
  });

  it("privileged calls relayed through another contract are refused (u200): the check is on contract-caller", () => {
    const relay = `
      (define-public (relay-lock (amount uint))
        (contract-call? '${deployer}.liquidity-pool lock-collateral-aggregate (list u1) amount none))
      (define-public (relay-pause)
        (contract-call? '${deployer}.liquidity-pool set-paused true))`;
    expect(simnet.deployContract("relay", relay, { clarityVersion: 4 }, mallory).result).toBeBool(true);
    // Even when the backend or admin is tricked into calling the relay, the vault sees the relay as caller.
    expectErr(simnet.callPublicFn(`${mallory}.relay`, "relay-lock", [Cl.uint(1n)], backend).result, ERR.NOT_AUTHORIZED);
    expectErr(simnet.callPublicFn(`${mallory}.relay`, "relay-pause", [], deployer).result, ERR.NOT_AUTHORIZED);
    expect(totals("STX").locked).toBe(0n);
    expect(readOnly("is-paused")).toBeBool(false);
  });
});
