import { Cl } from "@stacks/transactions";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { withdrawalVoucherHash } from "../../convex/chain/withdrawalVoucher";
import {
  alice,
  CHAIN_ID,
  deployer,
  deposit,
  expectOk,
  initializeVault,
  providerRecord,
  providerRecordCV,
  readOnly,
  SBTC,
  stxBalance,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

const PROVIDERS = [alice, SBTC, "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"];
const uint128 = fc.bigInt({ min: 0n, max: 2n ** 128n - 1n });

function onChainHash(
  provider: string,
  amount: bigint,
  tokenContract: string | null,
  nonce: bigint,
  expiresAt: bigint,
) {
  return readOnly(VAULT_FUNCTIONS.getWithdrawalVoucherHash, [
    Cl.principal(provider),
    Cl.uint(amount),
    tokenContract === null ? Cl.none() : Cl.some(Cl.principal(tokenContract)),
    Cl.uint(nonce),
    Cl.uint(expiresAt),
  ]);
}

describe("withdrawal vouchers built off-chain", () => {
  it("hash, bound to this vault, to exactly what get-withdrawal-voucher-hash returns, for any voucher", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PROVIDERS),
        fc.bigInt({ min: 1n, max: 2n ** 128n - 1n }),
        fc.option(fc.constant(SBTC), { nil: null }),
        uint128,
        uint128,
        (provider, amount, tokenContract, nonce, expiresAt) => {
          const offChain = withdrawalVoucherHash(
            { vault: VAULT, provider, amount, tokenContract, nonce, expiresAt },
            CHAIN_ID,
          );
          expect(onChainHash(provider, amount, tokenContract, nonce, expiresAt)).toBeBuff(offChain);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("hash differently when bound to any other vault principal, so the vault never takes them as its own", () => {
    const otherVaults = fc.constantFrom(
      `${deployer}.liquidity-pool-v3`,
      `${deployer}.sbtc-token`,
      "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG.liquidity-pool",
      deployer,
    );
    fc.assert(
      fc.property(otherVaults, fc.bigInt({ min: 1n, max: 2n ** 64n }), uint128, (vault, amount, nonce) => {
        const expiresAt = 1_000n;
        const offChain = withdrawalVoucherHash(
          { vault, provider: alice, amount, tokenContract: null, nonce, expiresAt },
          CHAIN_ID,
        );
        expect(onChainHash(alice, amount, null, nonce, expiresAt)).not.toBeBuff(offChain);
      }),
      { numRuns: 30 },
    );
  });

  it("signed with the signer key are accepted by withdraw-funds, which stores their nonce", () => {
    initializeVault();
    expectOk(deposit(alice, 5_000_000n).result);
    const before = stxBalance(alice);

    expectOk(withdraw(voucher({ provider: alice, amount: 2_000_000n, nonce: 1n })).result);

    expect(stxBalance(alice)).toBe(before + 2_000_000n);
    expect(providerRecord(alice)).toEqual(
      providerRecordCV({ nonce: 1n, stxIn: 5_000_000n, stxOut: 2_000_000n, createdSeq: 1n }),
    );
  });

  it("refuses a non-positive amount before signing", () => {
    expect(() => voucher({ provider: alice, amount: 0n, nonce: 1n })).toThrow(RangeError);
  });
});
