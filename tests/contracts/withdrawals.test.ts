import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  backend,
  bob,
  carol,
  deployer,
  deployLookAlikeSbtc,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  handRole,
  heightOfNextCall,
  heldByVault,
  initializeVault,
  lock,
  mintSbtc,
  NEXT_SIGNER_KEY,
  nextSigner,
  printedEvents,
  providerRecord,
  providerRecordCV,
  readOnly,
  ROGUE_KEY,
  SBTC,
  sbtcBalance,
  STX,
  stxBalance,
  totals,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

const STX_POOL = 8_000_000n;
const SBTC_POOL = 3_000n;

/** Alice's record after the beforeEach deposits (seq 1 in STX, seq 2 in sBTC), with `changes` on top. */
function aliceRecord(changes: { nonce?: bigint; stxOut?: bigint; sbtcOut?: bigint } = {}) {
  return providerRecordCV({ stxIn: STX_POOL, sbtcIn: SBTC_POOL, createdSeq: 1n, ...changes });
}

describe(`${VAULT_FUNCTIONS.withdrawFunds} with a signer-signed voucher`, () => {
  // The whole balance may leave in one window: these tests are about vouchers, not the outflow limit.
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, STX_POOL).result);
    mintSbtc(alice, SBTC_POOL);
    expectOk(deposit(alice, SBTC_POOL, "sBTC").result);
  });

  it("pays STX to the provider, stores the nonce and stx-out in the record, and prints funds-withdrawn with seq and nonce", () => {
    const before = stxBalance(alice);
    const { result, events } = withdraw(voucher({ provider: alice, amount: 3_000_000n, nonce: 11n }));

    expectOk(result);
    expect(stxBalance(alice)).toBe(before + 3_000_000n);
    expect(heldByVault("STX")).toBe(5_000_000n);
    expect(totals("STX")).toEqual({ balance: 5_000_000n, locked: 0n });
    expect(providerRecord(alice)).toEqual(aliceRecord({ nonce: 11n, stxOut: 3_000_000n }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(
      flowsCV({ seq: 3n, stxIn: STX_POOL, stxOut: 3_000_000n, sbtcIn: SBTC_POOL }),
    );
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
        seq: Cl.uint(3n),
        "total-balance": Cl.uint(5_000_000n),
        "total-locked": Cl.uint(0n),
      }),
    ]);
  });

  it("pays sBTC to the provider through the configured token, adding to sbtc-out", () => {
    const { result, events } = withdraw(voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 1n }));
    expectOk(result);
    expect(sbtcBalance(alice)).toBe(1_000n);
    expect(heldByVault("sBTC")).toBe(2_000n);
    expect(totals("sBTC")).toEqual({ balance: 2_000n, locked: 0n });
    expect(providerRecord(alice)).toEqual(aliceRecord({ nonce: 1n, sbtcOut: 1_000n }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 3n, stxIn: STX_POOL, sbtcIn: SBTC_POOL, sbtcOut: 1_000n }));
    expect(printedEvents(events).at(-1)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        provider: Cl.principal(alice),
        token: Cl.some(Cl.principal(SBTC)),
        amount: Cl.uint(1_000n),
        nonce: Cl.uint(1n),
        seq: Cl.uint(3n),
        "total-balance": Cl.uint(2_000n),
        "total-locked": Cl.uint(0n),
      }),
    );
  });

  it("adds up successive withdrawals of both tokens in the record, each taking the next seq", () => {
    const first = withdraw(voucher({ provider: alice, amount: 100n, nonce: 1n }));
    const second = withdraw(voucher({ provider: alice, amount: 200n, token: "sBTC", nonce: 2n }));
    const third = withdraw(voucher({ provider: alice, amount: 300n, nonce: 3n }));
    const seqOf = ({ result, events }: typeof first) => {
      expectOk(result);
      const printed = printedEvents(events).at(-1);
      if (printed?.type !== "tuple") throw new Error("funds-withdrawn not printed");
      return printed.value.seq;
    };
    expect([first, second, third].map(seqOf)).toEqual([Cl.uint(3n), Cl.uint(4n), Cl.uint(5n)]);
    expect(providerRecord(alice)).toEqual(aliceRecord({ nonce: 3n, stxOut: 400n, sbtcOut: 200n }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(
      flowsCV({ seq: 5n, stxIn: STX_POOL, stxOut: 400n, sbtcIn: SBTC_POOL, sbtcOut: 200n }),
    );
  });

  it("creates a record, with created-seq, for a provider whose first flow is a withdrawal", () => {
    // Yield credited off-chain can be withdrawn by a provider who never deposited this token.
    expectOk(withdraw(voucher({ provider: bob, amount: 700n, nonce: 1n })).result);
    expect(providerRecord(bob)).toEqual(providerRecordCV({ nonce: 1n, stxOut: 700n, createdSeq: 3n }));
  });

  it("accepts a voucher in the very block it expires at (expiry is inclusive)", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 2n, expiresAt: heightOfNextCall() });
    expectOk(withdraw(signed).result);
  });

  it("refuses a voucher one block past its expiry with ERR-VOUCHER-EXPIRED (u209), leaving the record alone", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 3n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(1);
    expectErr(withdraw(signed).result, ERR.VOUCHER_EXPIRED);
    expect(providerRecord(alice)).toEqual(aliceRecord());
  });

  it("never pays out locked collateral: ERR-INSUFFICIENT-BALANCE (u201) past balance - locked", () => {
    expectOk(lock(backend, [1n], 6_000_000n).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 2_000_001n, nonce: 6n })).result, ERR.INSUFFICIENT_BALANCE);
    expectOk(withdraw(voucher({ provider: alice, amount: 2_000_000n, nonce: 7n })).result);
    expect(totals("STX")).toEqual({ balance: 6_000_000n, locked: 6_000_000n });
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 8n })).result, ERR.INSUFFICIENT_BALANCE);
  });

  it("refuses a zero amount with ERR-INVALID-AMOUNT (u208)", () => {
    const signed = voucher({ provider: alice, amount: 1n, nonce: 8n });
    expectErr(withdraw({ ...signed, amount: 0n }).result, ERR.INVALID_AMOUNT);
  });

  it("refuses a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202), paying nothing", () => {
    const fake = deployLookAlikeSbtc();
    const signed = voucher({ provider: alice, amount: 1_000n, token: "sBTC", nonce: 1n });
    expectErr(withdraw(signed, alice, Cl.some(Cl.principal(fake))).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(totals("sBTC").balance).toBe(SBTC_POOL);
    expect(providerRecord(alice)).toEqual(aliceRecord());
  });
});

describe("voucher nonces, per provider and increasing", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, STX_POOL).result);
    expectOk(deposit(bob, STX_POOL).result);
  });

  it("refuses a redeemed nonce with ERR-VOUCHER-USED (u210)", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 4n });
    expectOk(withdraw(signed).result);
    expectErr(withdraw(signed).result, ERR.VOUCHER_USED);
    expect(totals("STX").balance).toBe(2n * STX_POOL - 1_000n);
  });

  it("refuses any nonce at or below the provider's last with u210, and accepts any above it, gaps allowed", () => {
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 10n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 10n })).result, ERR.VOUCHER_USED);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 9n })).result, ERR.VOUCHER_USED);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result, ERR.VOUCHER_USED);
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 100n })).result);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ nonce: 100n, stxIn: STX_POOL, stxOut: 2n, createdSeq: 1n }));
  });

  it("refuses nonce 0 with u210, for a depositor and for a provider with no record at all", () => {
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 0n })).result, ERR.VOUCHER_USED);
    expectErr(withdraw(voucher({ provider: carol, amount: 1n, nonce: 0n })).result, ERR.VOUCHER_USED);
    expect(providerRecord(carol)).toBeNone();
    expect(totals("STX").balance).toBe(2n * STX_POOL);
  });

  it("voids a provider's unredeemed nonce 3 once its nonce 5 is redeemed, while another provider's nonce 3 still pays", () => {
    const aliceThree = voucher({ provider: alice, amount: 300n, nonce: 3n });
    const aliceFive = voucher({ provider: alice, amount: 500n, nonce: 5n });
    const bobThree = voucher({ provider: bob, amount: 30n, nonce: 3n });

    expectOk(withdraw(aliceFive).result);
    expectErr(withdraw(aliceThree).result, ERR.VOUCHER_USED);
    expectOk(withdraw(bobThree).result);

    expect(providerRecord(alice)).toEqual(providerRecordCV({ nonce: 5n, stxIn: STX_POOL, stxOut: 500n, createdSeq: 1n }));
    expect(providerRecord(bob)).toEqual(providerRecordCV({ nonce: 3n, stxIn: STX_POOL, stxOut: 30n, createdSeq: 2n }));
    expect(totals("STX").balance).toBe(2n * STX_POOL - 530n);
  });

  it("shares one nonce sequence across both tokens of a provider", () => {
    mintSbtc(alice, 100n);
    expectOk(deposit(alice, 100n, "sBTC").result);
    expectOk(withdraw(voucher({ provider: alice, amount: 10n, token: "sBTC", nonce: 2n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 10n, nonce: 2n })).result, ERR.VOUCHER_USED);
    expectErr(withdraw(voucher({ provider: alice, amount: 10n, nonce: 1n })).result, ERR.VOUCHER_USED);
    expectOk(withdraw(voucher({ provider: alice, amount: 10n, nonce: 3n })).result);
  });
});

describe("voucher authenticity", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, STX_POOL).result);
  });

  function expectNothingPaid(): void {
    expect(totals("STX").balance).toBe(STX_POOL);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: STX_POOL, createdSeq: 1n }));
  }

  it("refuses a voucher signed by a key that is not the signer with ERR-INVALID-SIGNATURE (u211)", () => {
    expectErr(
      withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 5n, signingKey: ROGUE_KEY })).result,
      ERR.INVALID_SIGNATURE,
    );
    expectNothingPaid();
  });

  it("refuses a malformed signature with u211", () => {
    const forged = { ...voucher({ provider: alice, amount: 1_000n, nonce: 5n }), signature: "00".repeat(65) };
    expectErr(withdraw(forged).result, ERR.INVALID_SIGNATURE);
    expectNothingPaid();
  });

  it("refuses a voucher signed for another vault with u211: the same signer key cannot pay twice from two vaults", () => {
    const elsewhere = voucher({ provider: alice, amount: 1_000n, nonce: 1n, vault: `${deployer}.liquidity-pool-v3` });
    expectErr(withdraw(elsewhere).result, ERR.INVALID_SIGNATURE);
    expectNothingPaid();
  });

  it("refuses a voucher redeemed by anyone but its provider with u211", () => {
    expectErr(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 1n }), bob).result, ERR.INVALID_SIGNATURE);
    expect(providerRecord(bob)).toBeNone();
    expectNothingPaid();
  });

  it("refuses a voucher whose amount, token, nonce or expiry was changed after signing with u211", () => {
    const signed = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    expectErr(withdraw({ ...signed, amount: 1_001n }).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw({ ...signed, nonce: 2n }).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw({ ...signed, expiresAt: signed.expiresAt + 1n }).result, ERR.INVALID_SIGNATURE);
    mintSbtc(alice, 5_000n);
    expectOk(deposit(alice, 5_000n, "sBTC").result);
    expectErr(withdraw(signed, alice, Cl.some(Cl.principal(SBTC))).result, ERR.INVALID_SIGNATURE);
    expect(totals("STX").balance).toBe(STX_POOL);
    // The untouched voucher still pays.
    expectOk(withdraw(signed, alice, STX).result);
  });

  it("refuses, once the signer role has moved to a new key, vouchers of the old key with u211 and accepts the new key's", () => {
    const fromOldKey = voucher({ provider: alice, amount: 1_000n, nonce: 1n, expiresAt: heightOfNextCall() + 1_000n });
    handRole("signer", nextSigner);
    expectErr(withdraw(fromOldKey).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 2n })).result, ERR.INVALID_SIGNATURE);
    expectNothingPaid();

    expectOk(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 2n, signingKey: NEXT_SIGNER_KEY })).result);
    expect(totals("STX").balance).toBe(STX_POOL - 1_000n);
  });
});

describe(`${VAULT_FUNCTIONS.withdrawFunds} before the sBTC principal is set`, () => {
  it("refuses sBTC with ERR-NOT-INITIALIZED (u212)", () => {
    expectOk(deposit(alice, 1_000n).result);
    const signed = voucher({ provider: alice, amount: 1n, token: "sBTC", nonce: 1n });
    expectErr(withdraw(signed).result, ERR.NOT_INITIALIZED);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 1_000n, createdSeq: 1n }));
  });
});
