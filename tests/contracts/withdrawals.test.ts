import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import {
  alice,
  backend,
  deposit,
  ERR,
  expectErr,
  expectOk,
  heightOfNextCall,
  heldByVault,
  initializeVault,
  lock,
  mintSbtc,
  printedEvents,
  readOnly,
  SBTC,
  sbtcBalance,
  stxBalance,
  totals,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

beforeEach(() => {
  initializeVault();
  expectOk(deposit(alice, 8_000_000n).result);
  mintSbtc(alice, 3_000n);
  expectOk(deposit(alice, 3_000n, "sBTC").result);
});

describe("withdraw-funds with a backend-signed voucher", () => {
  it("pays STX to the provider, marks the nonce used and prints funds-withdrawn", () => {
    const before = stxBalance(alice);
    const { result, events } = withdraw(voucher({ provider: alice, amount: 3_000_000n, nonce: 11n }));

    expectOk(result);
    expect(stxBalance(alice)).toBe(before + 3_000_000n);
    expect(heldByVault("STX")).toBe(5_000_000n);
    expect(totals("STX")).toEqual({ balance: 5_000_000n, locked: 0n });
    expect(readOnly("is-voucher-used", [Cl.uint(11n)])).toBeBool(true);
    expect(readOnly("is-voucher-used", [Cl.uint(12n)])).toBeBool(false);
    expect(events[0]).toMatchObject({
      event: "stx_transfer_event",
      data: { amount: "3000000", sender: VAULT, recipient: alice },
    });
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        provider: Cl.principal(alice),
        token: Cl.none(),
        amount: Cl.uint(3_000_000n),
        nonce: Cl.uint(11n),
        "total-balance": Cl.uint(5_000_000n),
        "total-locked": Cl.uint(0n),
      }),
    ]);
  });

  it("pays sBTC to the provider through the configured token", () => {
    const { result, events } = withdraw(voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 1n }));
    expectOk(result);
    expect(sbtcBalance(alice)).toBe(1_000n);
    expect(heldByVault("sBTC")).toBe(2_000n);
    expect(totals("sBTC")).toEqual({ balance: 2_000n, locked: 0n });
    expect(printedEvents(events).at(-1)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        provider: Cl.principal(alice),
        token: Cl.some(Cl.principal(SBTC)),
        amount: Cl.uint(1_000n),
        nonce: Cl.uint(1n),
        "total-balance": Cl.uint(2_000n),
        "total-locked": Cl.uint(0n),
      }),
    );
  });

  it("accepts a voucher in the very block it expires at (expiry is inclusive)", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 2n, expiresAt: heightOfNextCall() });
    expectOk(withdraw(signed).result);
  });

  it("refuses a voucher one block past its expiry with ERR-VOUCHER-EXPIRED (u209)", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 3n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(1);
    expectErr(withdraw(signed).result, ERR.VOUCHER_EXPIRED);
    expect(readOnly("is-voucher-used", [Cl.uint(3n)])).toBeBool(false);
  });

  it("refuses a redeemed nonce with ERR-VOUCHER-USED (u210)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 4n });
    expectOk(withdraw(signed).result);
    expectErr(withdraw(signed).result, ERR.VOUCHER_USED);
    expect(totals("STX").balance).toBe(8_000_000n - 1_000n);
  });

  it("refuses a voucher not signed by the backend with ERR-INVALID-SIGNATURE (u211)", () => {
    const forged = { ...voucher({ provider: alice, amount: 1_000n, nonce: 5n }), signature: "00".repeat(65) };
    expectErr(withdraw(forged).result, ERR.INVALID_SIGNATURE);
    expect(totals("STX").balance).toBe(8_000_000n);
  });

  it("never pays out locked collateral: ERR-INSUFFICIENT-BALANCE (u201) past balance - locked", () => {
    expectOk(lock(backend, [1n], 6_000_000n).result);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 2_000_001n, nonce: 6n })).result,
      ERR.INSUFFICIENT_BALANCE,
    );
    expectOk(withdraw(voucher({ provider: alice, amount: 2_000_000n, nonce: 7n })).result);
    expect(totals("STX")).toEqual({ balance: 6_000_000n, locked: 6_000_000n });
  });

  it("refuses a zero amount with ERR-INVALID-AMOUNT (u208)", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 8n });
    expectErr(withdraw({ ...signed, amount: 0n }).result, ERR.INVALID_AMOUNT);
  });
});
