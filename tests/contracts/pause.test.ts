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
  initializeVault,
  lock,
  mintSbtc,
  payPremium,
  readOnly,
  release,
  settle,
  stxBalance,
  totals,
  voucher,
  withdraw,
} from "./vault";

beforeEach(() => {
  initializeVault();
  expectOk(deposit(alice, 10_000n).result);
  mintSbtc(alice, 10_000n);
  expectOk(deposit(alice, 10_000n, "sBTC").result);
  expectOk(lock(backend, [1n], 4_000n).result);
  expectOk(call("set-paused", [Cl.bool(true)], deployer).result);
});

describe("while paused", () => {
  it("deposits fail with ERR-PAUSED (u207)", () => {
    expectErr(deposit(alice, 1n).result, ERR.PAUSED);
    expectErr(deposit(alice, 1n, "sBTC").result, ERR.PAUSED);
    expect(totals("STX").balance).toBe(10_000n);
  });

  it("premiums fail with ERR-PAUSED (u207)", () => {
    expectErr(payPremium(bob, 1n, 1n).result, ERR.PAUSED);
  });

  it("withdrawals fail with ERR-PAUSED (u207) and leave the voucher unused", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 1n });
    expectErr(withdraw(signed).result, ERR.PAUSED);
    expect(readOnly("is-voucher-used", [Cl.uint(1n)])).toBeBool(false);
  });

  it("locks fail with ERR-PAUSED (u207)", () => {
    expectErr(lock(backend, [2n], 1n).result, ERR.PAUSED);
    expect(totals("STX").locked).toBe(4_000n);
  });

  it("releases still work, so collateral is freed", () => {
    expectOk(release(backend, [1n], 1_000n).result);
    expect(totals("STX")).toEqual({ balance: 10_000n, locked: 3_000n });
  });

  it("settlements still work, so policyholders are paid", () => {
    const before = stxBalance(bob);
    expectOk(settle(backend, 1n, bob, 4_000n).result);
    expect(stxBalance(bob)).toBe(before + 4_000n);
    expect(totals("STX")).toEqual({ balance: 6_000n, locked: 0n });
  });

  it("unpausing restores deposits and withdrawals, and a voucher signed during the pause still redeems", () => {
    const signed = voucher({ provider: alice, amount: 500n, nonce: 2n });
    expectOk(call("set-paused", [Cl.bool(false)], deployer).result);
    expectOk(deposit(alice, 1n).result);
    expectOk(withdraw(signed).result);
    expect(totals("STX")).toEqual({ balance: 9_501n, locked: 4_000n });
  });
});
