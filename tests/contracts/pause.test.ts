import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  backend,
  bob,
  call,
  carol,
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
  providerRecord,
  providerRecordCV,
  readOnly,
  release,
  sbtcBalance,
  settle,
  stxBalance,
  totals,
  voucher,
  withdraw,
} from "./vault";

const GUARDIAN = carol;

const pausedSet = (paused: boolean) =>
  Cl.tuple({ event: Cl.stringAscii("paused-set"), paused: Cl.bool(paused) });

describe(`${VAULT_FUNCTIONS.pause} and ${VAULT_FUNCTIONS.unpause}`, () => {
  // A guardian apart from the admin, so that what each of them may do shows.
  beforeEach(() => {
    initializeVault();
    handRole("guardian", GUARDIAN);
  });

  it("lets the guardian pause, printing paused-set", () => {
    const { result, events } = call(VAULT_FUNCTIONS.pause, [], GUARDIAN);
    expectOk(result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expect(printedEvents(events)).toEqual([pausedSet(true)]);
  });

  it("lets the admin pause too", () => {
    const { result, events } = call(VAULT_FUNCTIONS.pause, [], deployer);
    expectOk(result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expect(printedEvents(events)).toEqual([pausedSet(true)]);
  });

  it("refuses a pause from anyone else, the operator included, with ERR-NOT-AUTHORIZED (u200)", () => {
    expectErr(call(VAULT_FUNCTIONS.pause, [], mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.pause, [], backend).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
  });

  it("lets the admin unpause, printing paused-set false", () => {
    expectOk(call(VAULT_FUNCTIONS.pause, [], GUARDIAN).result);
    const { result, events } = call(VAULT_FUNCTIONS.unpause, [], deployer);
    expectOk(result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
    expect(printedEvents(events)).toEqual([pausedSet(false)]);
  });

  it("refuses an unpause by the guardian with ERR-NOT-AUTHORIZED (u200): a stolen guardian key cannot reopen the vault", () => {
    expectOk(call(VAULT_FUNCTIONS.pause, [], GUARDIAN).result);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], GUARDIAN).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], backend).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
  });
});

describe("while paused", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, 10_000n).result);
    mintSbtc(alice, 10_000n);
    expectOk(deposit(alice, 10_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 4_000n).result);
    expectOk(lock(backend, [2n], 3_000n, "sBTC").result);
    expectOk(call(VAULT_FUNCTIONS.pause, [], deployer).result);
  });

  it("deposits fail with ERR-PAUSED (u207), counting no flow", () => {
    expectErr(deposit(alice, 1n).result, ERR.PAUSED);
    expectErr(deposit(alice, 1n, "sBTC").result, ERR.PAUSED);
    expectErr(deposit(bob, 1n).result, ERR.PAUSED);
    expect(totals("STX")).toEqual({ balance: 10_000n, locked: 4_000n });
    expect(totals("sBTC")).toEqual({ balance: 10_000n, locked: 3_000n });
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 2n, stxIn: 10_000n, sbtcIn: 10_000n }));
    expect(providerRecord(bob)).toBeNone();
  });

  it("premiums fail with ERR-PAUSED (u207)", () => {
    mintSbtc(bob, 10n);
    expectErr(payPremium(bob, 1n, 1n).result, ERR.PAUSED);
    expectErr(payPremium(bob, 1n, 1n, "sBTC").result, ERR.PAUSED);
    expect(totals("STX").balance).toBe(10_000n);
    expect(sbtcBalance(bob)).toBe(10n);
  });

  it("withdrawals fail with ERR-PAUSED (u207) and leave the voucher's nonce unredeemed", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 1n });
    expectErr(withdraw(signed).result, ERR.PAUSED);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, token: "sBTC", nonce: 2n })).result, ERR.PAUSED);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 10_000n, sbtcIn: 10_000n, createdSeq: 1n }));
    expect(heldByVault("STX")).toBe(10_000n);
  });

  it("locks fail with ERR-PAUSED (u207)", () => {
    expectErr(lock(backend, [3n], 1n).result, ERR.PAUSED);
    expectErr(lock(backend, [3n], 1n, "sBTC").result, ERR.PAUSED);
    expect(totals("STX").locked).toBe(4_000n);
    expect(totals("sBTC").locked).toBe(3_000n);
  });

  it("releases still work, so collateral is freed", () => {
    expectOk(release(backend, [1n], 1_000n).result);
    expectOk(release(backend, [2n], 3_000n, "sBTC").result);
    expect(totals("STX")).toEqual({ balance: 10_000n, locked: 3_000n });
    expect(totals("sBTC")).toEqual({ balance: 10_000n, locked: 0n });
  });

  it("settlements still work, so policyholders are paid", () => {
    const before = stxBalance(bob);
    expectOk(settle(backend, 1n, bob, 4_000n).result);
    expectOk(settle(backend, 2n, bob, 1_000n, "sBTC").result);
    expect(stxBalance(bob)).toBe(before + 4_000n);
    expect(sbtcBalance(bob)).toBe(1_000n);
    expect(totals("STX")).toEqual({ balance: 6_000n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 9_000n, locked: 2_000n });
    expect(heldByVault("STX")).toBe(6_000n);
  });

  it("unpausing restores deposits, premiums, locks and withdrawals; a voucher refused during the pause still redeems", () => {
    const signed = voucher({ provider: alice, amount: 500n, nonce: 1n });
    expectErr(withdraw(signed).result, ERR.PAUSED);
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    expectOk(deposit(alice, 1n).result);
    expectOk(payPremium(bob, 1n, 2n).result);
    expectOk(lock(backend, [3n], 3n).result);
    expectOk(withdraw(signed).result);
    expect(totals("STX")).toEqual({ balance: 9_503n, locked: 4_003n });
  });
});
