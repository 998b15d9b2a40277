import { Cl } from "@stacks/transactions";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { withdrawalVoucherHash } from "../../convex/chain/withdrawalVoucher";
import {
  alice,
  CHAIN_ID,
  deposit,
  expectOk,
  initializeVault,
  readOnly,
  SBTC,
  stxBalance,
  voucher,
  withdraw,
} from "./vault";

describe("withdrawal vouchers built off-chain", () => {
  it("hash to exactly what get-withdrawal-voucher-hash returns, for any voucher", () => {
    const principals = fc.constantFrom(alice, SBTC, "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG");
    const uint128 = fc.bigInt({ min: 0n, max: 2n ** 128n - 1n });
    fc.assert(
      fc.property(
        principals,
        fc.bigInt({ min: 1n, max: 2n ** 128n - 1n }),
        fc.option(fc.constant(SBTC), { nil: null }),
        uint128,
        uint128,
        (provider, amount, tokenContract, nonce, expiresAt) => {
          const onChain = readOnly("get-withdrawal-voucher-hash", [
            Cl.principal(provider),
            Cl.uint(amount),
            tokenContract === null ? Cl.none() : Cl.some(Cl.principal(tokenContract)),
            Cl.uint(nonce),
            Cl.uint(expiresAt),
          ]);
          const offChain = withdrawalVoucherHash({ provider, amount, tokenContract, nonce, expiresAt }, CHAIN_ID);
          expect(onChain).toBeBuff(offChain);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("signed with the backend key is accepted by withdraw-funds", () => {
    initializeVault();
    expectOk(deposit(alice, 5_000_000n).result);
    const before = stxBalance(alice);

    expectOk(withdraw(voucher({ provider: alice, amount: 2_000_000n, nonce: 1n })).result);

    expect(stxBalance(alice)).toBe(before + 2_000_000n);
    expect(readOnly("is-voucher-used", [Cl.uint(1)])).toBeBool(true);
  });

  it("refuses a non-positive amount before signing", () => {
    expect(() => voucher({ provider: alice, amount: 0n, nonce: 1n })).toThrow(RangeError);
  });
});
