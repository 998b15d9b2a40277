/**
 * The vault's typed interface (convex/chain/vault.ts): every argument builder
 * gives exactly the bytes the contract's signature takes, every reader gives
 * exactly the typed value of a well-formed answer and refuses any other. The
 * names are checked against the contract itself in
 * tests/contracts/interface.test.ts.
 */
import { Cl, Pc, postConditionToHex, type ClarityValue } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import {
  BACKEND_VAULT_FUNCTIONS,
  parseVaultReadOnly,
  readVault,
  readVaultTotals,
  sendsExactly,
  tokenContractOf,
  USER_VAULT_FUNCTIONS,
  VAULT_ARGS,
  VAULT_FUNCTIONS,
  type VaultReadOnlyFunction,
} from "../../convex/chain/vault";
import { ALICE, BOB, SBTC, VAULT } from "./liquidityFixtures";

// Clarity's consensus serialization, spelled out: a type byte, then the value.
const uint = (n: bigint) => `01${n.toString(16).padStart(32, "0")}`;
const NONE = "09";
const some = (inner: string) => `0a${inner}`;
const length = (n: number) => n.toString(16).padStart(8, "0");
const list = (...items: string[]) => `0b${length(items.length)}${items.join("")}`;
const buff = (hex: string) => `02${length(hex.length / 2)}${hex}`;
const ascii = (text: string) =>
  `0d${length(text.length)}${[...text].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")}`;
/** Standard principals: 05, version 26 (testnet), hash160. */
const ALICE_HEX = "051a7321b74e2b6a7e949e6c4ad313035b1665095017";
const BOB_HEX = "051a99e2ec69ac5b6e67b4e26edd0e2c1c1a6b9bbd23";
/** A contract principal: 06, version, hash160, name length, name. */
const SBTC_HEX = "061a6d78de7b0625dfbfc16c3a8a5735f6dc3dc3f2ce0a736274632d746f6b656e";

const serialized = (args: ClarityValue[]) => args.map((arg) => Cl.serialize(arg));

describe("names", () => {
  it("names each function by the contract's own name", () => {
    expect(VAULT_FUNCTIONS.depositFunds).toBe("deposit-funds");
    expect(VAULT_FUNCTIONS.withdrawFunds).toBe("withdraw-funds");
    expect(VAULT_FUNCTIONS.getOutflow).toBe("get-outflow");
    expect(USER_VAULT_FUNCTIONS).toEqual(["deposit-funds", "pay-premium", "withdraw-funds"]);
    expect(BACKEND_VAULT_FUNCTIONS).toEqual([
      "lock-collateral-aggregate",
      "release-collateral-aggregate",
      "settle-policy",
      "post-checkpoint",
      "publish-leaves",
    ]);
  });

  it("maps STX to no token contract and sBTC to the configured one", () => {
    expect(tokenContractOf("STX", SBTC)).toBeNull();
    expect(tokenContractOf("sBTC", SBTC)).toBe(SBTC);
  });
});

describe("argument builders give exactly the contract's arguments", () => {
  it(`${VAULT_FUNCTIONS.depositFunds}: (amount uint) (token (optional <sip-010-trait>))`, () => {
    expect(serialized(VAULT_ARGS.depositFunds({ amount: 5n, tokenContract: null }))).toEqual([uint(5n), NONE]);
    expect(serialized(VAULT_ARGS.depositFunds({ amount: 5n, tokenContract: SBTC }))).toEqual([uint(5n), some(SBTC_HEX)]);
  });

  it(`${VAULT_FUNCTIONS.payPremium}: (policy-id uint) (amount uint) (token …)`, () => {
    expect(serialized(VAULT_ARGS.payPremium({ policyId: 42n, amount: 1_234n, tokenContract: SBTC }))).toEqual([
      uint(42n),
      uint(1_234n),
      some(SBTC_HEX),
    ]);
  });

  it(`${VAULT_FUNCTIONS.lockCollateralAggregate} and release: (policy-ids (list 50 uint)) (amount uint) (token …)`, () => {
    const args = { policyIds: [1n, 2n, 300n], amount: 9_000n, tokenContract: null };
    const expected = [list(uint(1n), uint(2n), uint(300n)), uint(9_000n), NONE];
    expect(serialized(VAULT_ARGS.lockCollateralAggregate(args))).toEqual(expected);
    expect(serialized(VAULT_ARGS.releaseCollateralAggregate(args))).toEqual(expected);
  });

  it(`${VAULT_FUNCTIONS.settlePolicy}: (policy-id uint) (buyer principal) (amount uint) (token …)`, () => {
    expect(serialized(VAULT_ARGS.settlePolicy({ policyId: 7n, buyer: BOB, amount: 2_000n, tokenContract: null }))).toEqual([
      uint(7n),
      BOB_HEX,
      uint(2_000n),
      NONE,
    ]);
  });

  it(`${VAULT_FUNCTIONS.withdrawFunds}: (amount uint) (token …) (nonce uint) (expires-at uint) (signature (buff 65))`, () => {
    const signature = "ab".repeat(65);
    const args = VAULT_ARGS.withdrawFunds({ amount: 77n, tokenContract: SBTC, nonce: 9n, expiresAt: 500n, signature });
    expect(serialized(args)).toEqual([uint(77n), some(SBTC_HEX), uint(9n), uint(500n), buff(signature)]);
  });

  it("read-only arguments: get-outflow, get-provider-record, get-pending-role, get-exit-claim", () => {
    expect(serialized(VAULT_ARGS.getOutflow({ tokenContract: null }))).toEqual([NONE]);
    expect(serialized(VAULT_ARGS.getOutflow({ tokenContract: SBTC }))).toEqual([some(SBTC_HEX)]);
    expect(serialized(VAULT_ARGS.getProviderRecord({ provider: ALICE }))).toEqual([ALICE_HEX]);
    expect(serialized(VAULT_ARGS.getPendingRole({ role: "operator" }))).toEqual([ascii("operator")]);
    expect(serialized(VAULT_ARGS.getExitClaim({ provider: ALICE, tokenContract: SBTC }))).toEqual([ALICE_HEX, some(SBTC_HEX)]);
  });

  it("post-conditions name exactly the amount of exactly the asset", () => {
    expect(Pc.fromHex(postConditionToHex(sendsExactly(ALICE, null, 5n)))).toEqual({
      type: "stx-postcondition",
      address: ALICE,
      condition: "eq",
      amount: "5",
    });
    expect(Pc.fromHex(postConditionToHex(sendsExactly(VAULT, SBTC, 77n)))).toEqual({
      type: "ft-postcondition",
      address: VAULT,
      condition: "eq",
      amount: "77",
      asset: `${SBTC}::sbtc-token`,
    });
  });
});

const flows = (stxIn: bigint, stxOut: bigint, sbtcIn: bigint, sbtcOut: bigint) => ({
  "stx-in": Cl.uint(stxIn),
  "stx-out": Cl.uint(stxOut),
  "sbtc-in": Cl.uint(sbtcIn),
  "sbtc-out": Cl.uint(sbtcOut),
});
const ROOT = "ab".repeat(32);

describe("readers parse each read-only's answer exactly", () => {
  it.each<[VaultReadOnlyFunction, ClarityValue, unknown]>([
    [VAULT_FUNCTIONS.getTotalStxBalance, Cl.uint(10_000n), 10_000n],
    [VAULT_FUNCTIONS.getTotalSbtcLocked, Cl.uint(0n), 0n],
    [VAULT_FUNCTIONS.isPaused, Cl.bool(true), true],
    [VAULT_FUNCTIONS.isShutDown, Cl.bool(false), false],
    [VAULT_FUNCTIONS.getSbtcTokenPrincipal, Cl.some(Cl.principal(SBTC)), SBTC],
    [VAULT_FUNCTIONS.getSbtcTokenPrincipal, Cl.none(), null],
    [
      VAULT_FUNCTIONS.getRoles,
      Cl.tuple({ admin: Cl.principal(ALICE), guardian: Cl.principal(BOB), operator: Cl.none(), signer: Cl.some(Cl.principal(BOB)) }),
      { admin: ALICE, guardian: BOB, operator: null, signer: BOB },
    ],
    [VAULT_FUNCTIONS.getPendingRole, Cl.some(Cl.tuple({ who: Cl.principal(BOB), eta: Cl.uint(144n) })), { who: BOB, eta: 144n }],
    [
      VAULT_FUNCTIONS.getOutflow,
      Cl.tuple({ "window-start": Cl.uint(3n), used: Cl.uint(400n), cap: Cl.uint(1_000n), available: Cl.uint(600n) }),
      { windowStart: 3n, used: 400n, cap: 1_000n, available: 600n },
    ],
    [
      VAULT_FUNCTIONS.getProviderRecord,
      Cl.some(Cl.tuple({ nonce: Cl.uint(2n), ...flows(3_000n, 1_000n, 70n, 0n), "created-seq": Cl.uint(1n) })),
      { nonce: 2n, stxIn: 3_000n, stxOut: 1_000n, sbtcIn: 70n, sbtcOut: 0n, createdSeq: 1n },
    ],
    [VAULT_FUNCTIONS.getProviderRecord, Cl.none(), null],
    [
      VAULT_FUNCTIONS.getFlows,
      Cl.tuple({ seq: Cl.uint(4n), ...flows(1n, 2n, 3n, 4n) }),
      { seq: 4n, stxIn: 1n, stxOut: 2n, sbtcIn: 3n, sbtcOut: 4n },
    ],
    [
      VAULT_FUNCTIONS.getCheckpoint,
      Cl.some(
        Cl.tuple({
          epoch: Cl.uint(2n),
          root: Cl.bufferFromHex(ROOT),
          "stx-sum": Cl.uint(5_000n),
          "sbtc-sum": Cl.uint(60n),
          "as-of-seq": Cl.uint(9n),
          flows: Cl.tuple(flows(6_000n, 1_000n, 60n, 0n)),
          "leaf-count": Cl.uint(3n),
          "posted-at": Cl.uint(120n),
        }),
      ),
      {
        epoch: 2n,
        root: `0x${ROOT}`,
        stxSum: 5_000n,
        sbtcSum: 60n,
        asOfSeq: 9n,
        flows: { stxIn: 6_000n, stxOut: 1_000n, sbtcIn: 60n, sbtcOut: 0n },
        leafCount: 3n,
        postedAt: 120n,
      },
    ],
    [VAULT_FUNCTIONS.verifyExitProof, Cl.bool(false), false],
    [
      VAULT_FUNCTIONS.getExitTerms,
      Cl.some(
        Cl.tuple({
          "stx-assets": Cl.uint(8_000n),
          "stx-liabilities": Cl.uint(8_100n),
          "sbtc-assets": Cl.uint(70n),
          "sbtc-liabilities": Cl.uint(70n),
        }),
      ),
      { stxAssets: 8_000n, stxLiabilities: 8_100n, sbtcAssets: 70n, sbtcLiabilities: 70n },
    ],
    [VAULT_FUNCTIONS.getExitClaim, Cl.some(Cl.uint(7_900n)), 7_900n],
    [VAULT_FUNCTIONS.getExitClaim, Cl.none(), null],
    [VAULT_FUNCTIONS.getWithdrawalVoucherHash, Cl.bufferFromHex(ROOT), `0x${ROOT}`],
  ])("%s answering %o", (functionName, answer, expected) => {
    expect(parseVaultReadOnly(functionName, answer)).toEqual(expected);
    // The same answer as a Hiro call-read `result`: hex, with or without 0x.
    expect(parseVaultReadOnly(functionName, `0x${Cl.serialize(answer)}`)).toEqual(expected);
    expect(parseVaultReadOnly(functionName, Cl.serialize(answer))).toEqual(expected);
  });

  it.each<[string, VaultReadOnlyFunction, ClarityValue | string, RegExp]>([
    ["an int for a uint", VAULT_FUNCTIONS.getTotalStxBalance, Cl.int(5n), /get-total-stx-balance answered 5, .* expected "uint"/],
    ["a uint beyond int64", VAULT_FUNCTIONS.getTotalStxLocked, Cl.uint(2n ** 63n), /get-total-stx-locked answered u9223372036854775808, .*beyond int64/],
    ["a uint for a bool", VAULT_FUNCTIONS.isPaused, Cl.uint(1n), /is-paused answered u1, /],
    ["a string for a principal", VAULT_FUNCTIONS.getSbtcTokenPrincipal, Cl.some(Cl.stringAscii(SBTC)), /get-sbtc-token-principal answered \(some "/],
    ["a bare tuple for an optional", VAULT_FUNCTIONS.getPendingRole, Cl.tuple({ who: Cl.principal(BOB), eta: Cl.uint(1n) }), /get-pending-role answered/],
    [
      "a tuple missing a field",
      VAULT_FUNCTIONS.getOutflow,
      Cl.tuple({ "window-start": Cl.uint(3n), used: Cl.uint(400n), cap: Cl.uint(1_000n) }),
      /get-outflow answered .* at value\.available/,
    ],
    [
      "a tuple with a field the vault does not return",
      VAULT_FUNCTIONS.getFlows,
      Cl.tuple({ seq: Cl.uint(4n), ...flows(1n, 2n, 3n, 4n), extra: Cl.uint(0n) }),
      /get-flows answered .*extra/,
    ],
    ["a root of the wrong length", VAULT_FUNCTIONS.getWithdrawalVoucherHash, Cl.bufferFromHex("ab"), /get-withdrawal-voucher-hash answered 0xab/],
    ["hex that is not hex", VAULT_FUNCTIONS.isPaused, "0xzz", /is-paused answered 0xzz: not hex bytes/],
    ["hex that is no Clarity value", VAULT_FUNCTIONS.isPaused, "0x7f", /is-paused answered 0x7f: /],
    ["hex with bytes after the value", VAULT_FUNCTIONS.isPaused, "0x0300", /is-paused answered 0x0300: not exactly one Clarity value/],
  ])("refuses %s", (_case, functionName, answer, message) => {
    let refusal: unknown;
    try {
      parseVaultReadOnly(functionName, answer);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toMatchObject({ message: expect.stringMatching(message), data: { code: "CHAIN_UNAVAILABLE" } });
  });

  it("reads through the Stacks API: the function, its arguments and the answer's hex", async () => {
    const asked: [string, string, string[]][] = [];
    const answers: Record<string, ClarityValue> = {
      [VAULT_FUNCTIONS.getTotalSbtcBalance]: Cl.uint(900n),
      [VAULT_FUNCTIONS.getTotalSbtcLocked]: Cl.uint(300n),
      [VAULT_FUNCTIONS.getOutflow]: Cl.tuple({ "window-start": Cl.uint(0n), used: Cl.uint(0n), cap: Cl.uint(90n), available: Cl.uint(90n) }),
    };
    const client = {
      callReadOnlyHex: async (contractId: string, functionName: string, args: ClarityValue[] = []) => {
        asked.push([contractId, functionName, serialized(args)]);
        return `0x${Cl.serialize(answers[functionName]!)}`;
      },
    };

    expect(await readVaultTotals(client, VAULT, "sBTC")).toEqual({ balance: 900n, locked: 300n });
    expect(await readVault(client, VAULT, VAULT_FUNCTIONS.getOutflow, VAULT_ARGS.getOutflow({ tokenContract: SBTC }))).toEqual({
      windowStart: 0n,
      used: 0n,
      cap: 90n,
      available: 90n,
    });
    expect(asked).toEqual([
      [VAULT, VAULT_FUNCTIONS.getTotalSbtcBalance, []],
      [VAULT, VAULT_FUNCTIONS.getTotalSbtcLocked, []],
      [VAULT, VAULT_FUNCTIONS.getOutflow, [some(SBTC_HEX)]],
    ]);
  });
});
