import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  bob,
  call,
  carol,
  deployer,
  deployLookAlikeSbtc,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  heldByVault,
  initializeVault,
  mintSbtc,
  payPremium,
  printedEvents,
  providerRecord,
  providerRecordCV,
  readOnly,
  SBTC,
  sbtcBalance,
  stxBalance,
  totals,
  VAULT,
} from "./vault";

describe(VAULT_FUNCTIONS.depositFunds, () => {
  beforeEach(() => initializeVault());

  it("takes STX from the depositor, adds it to the STX balance and prints funds-deposited", () => {
    const before = stxBalance(alice);
    const { result, events } = deposit(alice, 1_500_000n);

    expectOk(result);
    expect(stxBalance(alice)).toBe(before - 1_500_000n);
    expect(heldByVault("STX")).toBe(1_500_000n);
    expect(totals("STX")).toEqual({ balance: 1_500_000n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 0n, locked: 0n });
    expect(events[0]).toMatchObject({
      event: "stx_transfer_event",
      data: { amount: "1500000", sender: alice, recipient: VAULT },
    });
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-deposited"),
        depositor: Cl.principal(alice),
        token: Cl.none(),
        amount: Cl.uint(1_500_000n),
        seq: Cl.uint(1n),
        "total-balance": Cl.uint(1_500_000n),
        "total-locked": Cl.uint(0n),
      }),
    ]);
  });

  it("takes sBTC through the configured token and adds it to the sBTC balance only", () => {
    mintSbtc(alice, 100_000_000n);
    const { result, events } = deposit(alice, 25_000_000n, "sBTC");

    expectOk(result);
    expect(sbtcBalance(alice)).toBe(75_000_000n);
    expect(heldByVault("sBTC")).toBe(25_000_000n);
    expect(totals("sBTC")).toEqual({ balance: 25_000_000n, locked: 0n });
    expect(totals("STX")).toEqual({ balance: 0n, locked: 0n });
    expect(printedEvents(events).at(-1)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("funds-deposited"),
        depositor: Cl.principal(alice),
        token: Cl.some(Cl.principal(SBTC)),
        amount: Cl.uint(25_000_000n),
        seq: Cl.uint(1n),
        "total-balance": Cl.uint(25_000_000n),
        "total-locked": Cl.uint(0n),
      }),
    );
  });

  it("accumulates deposits of several providers into one total", () => {
    expectOk(deposit(alice, 1_000n).result);
    expectOk(deposit(bob, 2_500n).result);
    expectOk(deposit(alice, 7n).result);
    expect(totals("STX")).toEqual({ balance: 3_507n, locked: 0n });
    expect(heldByVault("STX")).toBe(3_507n);
  });

  it("numbers every deposit with the next seq, across providers and tokens, in its event", () => {
    mintSbtc(alice, 1_000n);
    mintSbtc(bob, 1_000n);
    const seqs = [deposit(alice, 10n), deposit(bob, 20n, "sBTC"), deposit(alice, 30n, "sBTC"), deposit(bob, 40n)].map(
      ({ result, events }) => {
        expectOk(result);
        const [printed] = printedEvents(events).slice(-1);
        if (printed?.type !== "tuple") throw new Error("funds-deposited not printed");
        return printed.value.seq;
      },
    );
    expect(seqs).toEqual([Cl.uint(1n), Cl.uint(2n), Cl.uint(3n), Cl.uint(4n)]);
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 4n, stxIn: 50n, sbtcIn: 50n }));
  });

  it("creates the depositor's record at its first deposit and adds every later one to it, per token", () => {
    mintSbtc(alice, 1_000n);
    expectOk(deposit(bob, 5n).result);
    expectOk(deposit(alice, 1_000n).result);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 1_000n, createdSeq: 2n }));

    expectOk(deposit(alice, 600n, "sBTC").result);
    expectOk(deposit(alice, 234n).result);
    expectOk(deposit(alice, 400n, "sBTC").result);

    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 1_234n, sbtcIn: 1_000n, createdSeq: 2n }));
    expect(providerRecord(bob)).toEqual(providerRecordCV({ stxIn: 5n, createdSeq: 1n }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 5n, stxIn: 1_239n, sbtcIn: 1_000n }));
  });

  it("records an sBTC-only depositor with its sBTC in and nothing in STX", () => {
    mintSbtc(carol, 70n);
    expectOk(deposit(carol, 70n, "sBTC").result);
    expect(providerRecord(carol)).toEqual(providerRecordCV({ sbtcIn: 70n, createdSeq: 1n }));
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 1n, sbtcIn: 70n }));
  });

  it("leaves no record and no flow behind a failed deposit", () => {
    expectErr(deposit(alice, stxBalance(alice) + 1n).result, ERR.TRANSFER_FAILED);
    expectErr(deposit(alice, 0n).result, ERR.INVALID_AMOUNT);
    expect(providerRecord(alice)).toBeNone();
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({}));
  });

  it("refuses a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202), moving none of it", () => {
    const fake = deployLookAlikeSbtc();
    expectOk(simnet.callPublicFn(fake, "mint", [Cl.uint(500n), Cl.principal(alice)], deployer).result);
    expectErr(
      call(VAULT_FUNCTIONS.depositFunds, [Cl.uint(500n), Cl.some(Cl.principal(fake))], alice).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expect(totals("sBTC")).toEqual({ balance: 0n, locked: 0n });
    expect(providerRecord(alice)).toBeNone();
  });

  it("refuses a zero amount with ERR-INVALID-AMOUNT (u208)", () => {
    expectErr(deposit(alice, 0n).result, ERR.INVALID_AMOUNT);
    expect(totals("STX")).toEqual({ balance: 0n, locked: 0n });
  });

  it("refuses more STX than the depositor holds with ERR-TRANSFER-FAILED (u203)", () => {
    const { result } = deposit(alice, stxBalance(alice) + 1n);
    expectErr(result, ERR.TRANSFER_FAILED);
    expect(totals("STX").balance).toBe(0n);
  });

  it("refuses more sBTC than the depositor holds with ERR-TRANSFER-FAILED (u203)", () => {
    mintSbtc(alice, 10n);
    expectErr(deposit(alice, 11n, "sBTC").result, ERR.TRANSFER_FAILED);
    expect(totals("sBTC").balance).toBe(0n);
    expect(sbtcBalance(alice)).toBe(10n);
  });
});

describe("funds in before the sBTC principal is set", () => {
  it("refuses an sBTC deposit with ERR-NOT-INITIALIZED (u212) but accepts STX", () => {
    mintSbtc(alice, 100n);
    expectErr(deposit(alice, 100n, "sBTC").result, ERR.NOT_INITIALIZED);
    expect(sbtcBalance(alice)).toBe(100n);
    expect(providerRecord(alice)).toBeNone();
    expectOk(deposit(alice, 100n).result);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 100n, createdSeq: 1n }));
  });

  it("refuses an sBTC premium with ERR-NOT-INITIALIZED (u212) but accepts STX", () => {
    mintSbtc(bob, 100n);
    expectErr(payPremium(bob, 1n, 100n, "sBTC").result, ERR.NOT_INITIALIZED);
    expect(sbtcBalance(bob)).toBe(100n);
    expectOk(payPremium(bob, 1n, 100n).result);
    expect(totals("STX").balance).toBe(100n);
  });
});

describe("sBTC token conformance", () => {
  it("accepts a SIP-010 token that only matches the trait structurally, as the real sBTC token does", () => {
    // Real sBTC declares the canonical mainnet trait, not this project's copy;
    // Clarity checks trait arguments by their functions, so it still fits.
    const source = simnet.getContractSource(SBTC);
    if (!source) throw new Error("sbtc-token source missing");
    const structural = source.replace("(impl-trait .sip-010-trait.sip-010-trait)", "");
    expect(structural).not.toContain("impl-trait");
    expect(simnet.deployContract("structural-sbtc", structural, { clarityVersion: 4 }, deployer).result).toBeBool(true);
    const token = `${deployer}.structural-sbtc`;

    expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(token)], deployer).result);
    expectOk(simnet.callPublicFn(token, "mint", [Cl.uint(500n), Cl.principal(alice)], deployer).result);
    expectOk(call(VAULT_FUNCTIONS.depositFunds, [Cl.uint(500n), Cl.some(Cl.principal(token))], alice).result);
    expect(totals("sBTC")).toEqual({ balance: 500n, locked: 0n });
  });
});

describe(VAULT_FUNCTIONS.payPremium, () => {
  beforeEach(() => initializeVault());

  it("takes an STX premium into the pool balance and prints premium-paid with the policy id", () => {
    const before = stxBalance(bob);
    const { result, events } = payPremium(bob, 42n, 30_000n);

    expectOk(result);
    expect(stxBalance(bob)).toBe(before - 30_000n);
    expect(totals("STX")).toEqual({ balance: 30_000n, locked: 0n });
    expect(heldByVault("STX")).toBe(30_000n);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("premium-paid"),
        "policy-id": Cl.uint(42n),
        payer: Cl.principal(bob),
        token: Cl.none(),
        amount: Cl.uint(30_000n),
        "total-balance": Cl.uint(30_000n),
        "total-locked": Cl.uint(0n),
      }),
    ]);
  });

  it("takes an sBTC premium into the sBTC balance", () => {
    mintSbtc(bob, 1_000n);
    const { result, events } = payPremium(bob, 7n, 400n, "sBTC");
    expectOk(result);
    expect(totals("sBTC")).toEqual({ balance: 400n, locked: 0n });
    expect(sbtcBalance(bob)).toBe(600n);
    expect(printedEvents(events).at(-1)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("premium-paid"),
        "policy-id": Cl.uint(7n),
        payer: Cl.principal(bob),
        token: Cl.some(Cl.principal(SBTC)),
        amount: Cl.uint(400n),
        "total-balance": Cl.uint(400n),
        "total-locked": Cl.uint(0n),
      }),
    );
  });

  it("refuses a zero premium with ERR-INVALID-AMOUNT (u208)", () => {
    expectErr(payPremium(bob, 1n, 0n).result, ERR.INVALID_AMOUNT);
    expect(totals("STX").balance).toBe(0n);
  });

  it("refuses a premium the payer cannot cover with ERR-TRANSFER-FAILED (u203)", () => {
    expectErr(payPremium(bob, 1n, 5n, "sBTC").result, ERR.TRANSFER_FAILED);
    expect(totals("sBTC").balance).toBe(0n);
  });

  it("does not count premiums as flows: seq, flows and the payer's record stay as they were", () => {
    expectOk(deposit(alice, 100n).result);
    mintSbtc(bob, 1_000n);
    expectOk(payPremium(bob, 1n, 30n).result);
    expectOk(payPremium(bob, 2n, 40n, "sBTC").result);
    expectOk(payPremium(alice, 3n, 50n).result);

    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 1n, stxIn: 100n }));
    expect(providerRecord(bob)).toBeNone();
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: 100n, createdSeq: 1n }));
    expect(totals("STX").balance).toBe(180n);
    // The next deposit takes seq 2: the premiums in between took none.
    const { events } = deposit(alice, 1n);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-deposited"),
        depositor: Cl.principal(alice),
        token: Cl.none(),
        amount: Cl.uint(1n),
        seq: Cl.uint(2n),
        "total-balance": Cl.uint(181n),
        "total-locked": Cl.uint(0n),
      }),
    ]);
  });

  it("refuses a premium in a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    const fake = deployLookAlikeSbtc();
    expectOk(simnet.callPublicFn(fake, "mint", [Cl.uint(500n), Cl.principal(bob)], deployer).result);
    expectErr(
      call(VAULT_FUNCTIONS.payPremium, [Cl.uint(1n), Cl.uint(500n), Cl.some(Cl.principal(fake))], bob).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expect(totals("sBTC").balance).toBe(0n);
  });

  it("accepts a premium from any principal, the deployer included, moving real STX", () => {
    const before = stxBalance(deployer);
    expectOk(payPremium(deployer, 9n, 1_000n).result);
    expect(stxBalance(deployer)).toBe(before - 1_000n);
    expect(heldByVault("STX")).toBe(1_000n);
  });
});
