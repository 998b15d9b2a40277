import { Cl } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  backend,
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
  lock,
  mintSbtc,
  printedEvents,
  providerRecord,
  readOnly,
  release,
  SBTC,
  sbtcBalance,
  settle,
  stxBalance,
  totals,
  VAULT,
} from "./vault";

const POOL = 10_000_000n;

beforeEach(() => {
  initializeVault();
  expectOk(deposit(alice, POOL).result);
  mintSbtc(alice, POOL);
  expectOk(deposit(alice, POOL, "sBTC").result);
});

describe(VAULT_FUNCTIONS.lockCollateralAggregate, () => {
  it("lets the operator lock free balance for a batch of policies, printing their ids and totals", () => {
    const { result, events } = lock(backend, [1n, 2n, 3n], 4_000_000n);

    expectOk(result);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 4_000_000n });
    expect(totals("sBTC")).toEqual({ balance: POOL, locked: 0n });
    expect(heldByVault("STX")).toBe(POOL);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("collateral-locked"),
        "policy-ids": Cl.list([Cl.uint(1n), Cl.uint(2n), Cl.uint(3n)]),
        token: Cl.none(),
        amount: Cl.uint(4_000_000n),
        "total-balance": Cl.uint(POOL),
        "total-locked": Cl.uint(4_000_000n),
      }),
    ]);
  });

  it("accepts the full batch of 50 policy ids", () => {
    const ids = Array.from({ length: 50 }, (_, i) => BigInt(i + 1));
    expectOk(lock(backend, ids, 50n, "sBTC").result);
    expect(totals("sBTC")).toEqual({ balance: POOL, locked: 50n });
  });

  it("locks up to exactly the free balance, and not one unit more (u205)", () => {
    expectOk(lock(backend, [1n], POOL - 1n).result);
    expectErr(lock(backend, [2n], 2n).result, ERR.LOCK_AMOUNT_EXCEEDS_AVAILABLE);
    expectOk(lock(backend, [2n], 1n).result);
    expect(totals("STX")).toEqual({ balance: POOL, locked: POOL });
    expectErr(lock(backend, [3n], 1n).result, ERR.LOCK_AMOUNT_EXCEEDS_AVAILABLE);
  });

  it("refuses a zero amount with ERR-INVALID-AMOUNT (u208)", () => {
    expectErr(lock(backend, [1n], 0n).result, ERR.INVALID_AMOUNT);
    expect(totals("STX").locked).toBe(0n);
  });

  it("refuses any caller but the operator with ERR-NOT-AUTHORIZED (u200), the admin and guardian included", () => {
    expectErr(lock(alice, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    // The deployer is still admin and guardian, and held the operator role until initializeVault.
    expectErr(lock(deployer, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    expectErr(lock(deployer, [1n], 1n, "sBTC").result, ERR.NOT_AUTHORIZED);
    expect(totals("STX").locked).toBe(0n);
    expect(totals("sBTC").locked).toBe(0n);
  });

  it("refuses a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    const fake = deployLookAlikeSbtc();
    expectErr(
      call(VAULT_FUNCTIONS.lockCollateralAggregate, [Cl.list([Cl.uint(1n)]), Cl.uint(1n), Cl.some(Cl.principal(fake))], backend)
        .result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expect(totals("sBTC").locked).toBe(0n);
  });
});

describe(VAULT_FUNCTIONS.releaseCollateralAggregate, () => {
  beforeEach(() => {
    expectOk(lock(backend, [1n, 2n], 6_000_000n).result);
    expectOk(lock(backend, [3n], 3_000_000n, "sBTC").result);
  });

  it("lets the operator release locked collateral, printing the policy ids and totals", () => {
    const { result, events } = release(backend, [1n], 2_500_000n);

    expectOk(result);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 3_500_000n });
    expect(totals("sBTC")).toEqual({ balance: POOL, locked: 3_000_000n });
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("collateral-released"),
        "policy-ids": Cl.list([Cl.uint(1n)]),
        token: Cl.none(),
        amount: Cl.uint(2_500_000n),
        "total-balance": Cl.uint(POOL),
        "total-locked": Cl.uint(3_500_000n),
      }),
    ]);
  });

  it("releases exactly what is locked, and refuses one unit more with u206", () => {
    expectErr(release(backend, [3n], 3_000_001n, "sBTC").result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expectOk(release(backend, [3n], 3_000_000n, "sBTC").result);
    expect(totals("sBTC")).toEqual({ balance: POOL, locked: 0n });
  });

  it("refuses a zero amount with ERR-INVALID-AMOUNT (u208)", () => {
    expectErr(release(backend, [1n], 0n).result, ERR.INVALID_AMOUNT);
  });

  it("refuses any caller but the operator with ERR-NOT-AUTHORIZED (u200), the admin and guardian included", () => {
    expectErr(release(alice, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    expectErr(release(deployer, [1n], 1n).result, ERR.NOT_AUTHORIZED);
    expect(totals("STX").locked).toBe(6_000_000n);
  });

  it("refuses a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    const fake = deployLookAlikeSbtc();
    expectErr(
      call(VAULT_FUNCTIONS.releaseCollateralAggregate, [Cl.list([Cl.uint(3n)]), Cl.uint(1n), Cl.some(Cl.principal(fake))], backend)
        .result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expect(totals("sBTC").locked).toBe(3_000_000n);
  });
});

describe(VAULT_FUNCTIONS.settlePolicy, () => {
  beforeEach(() => {
    expectOk(lock(backend, [7n], 5_000_000n).result);
    expectOk(lock(backend, [8n], 2_000_000n, "sBTC").result);
  });

  it("pays the buyer in STX out of locked collateral and prints settlement-paid", () => {
    const before = stxBalance(carol);
    const { result, events } = settle(backend, 7n, carol, 1_200_000n);

    expectOk(result);
    expect(stxBalance(carol)).toBe(before + 1_200_000n);
    expect(heldByVault("STX")).toBe(POOL - 1_200_000n);
    expect(totals("STX")).toEqual({ balance: POOL - 1_200_000n, locked: 3_800_000n });
    expect(events[0]).toMatchObject({
      event: "stx_transfer_event",
      data: { amount: "1200000", sender: VAULT, recipient: carol },
    });
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("settlement-paid"),
        "policy-id": Cl.uint(7n),
        buyer: Cl.principal(carol),
        token: Cl.none(),
        amount: Cl.uint(1_200_000n),
        "total-balance": Cl.uint(POOL - 1_200_000n),
        "total-locked": Cl.uint(3_800_000n),
      }),
    ]);
  });

  it("pays the buyer in sBTC out of locked sBTC collateral", () => {
    const { result, events } = settle(backend, 8n, carol, 2_000_000n, "sBTC");
    expectOk(result);
    expect(sbtcBalance(carol)).toBe(2_000_000n);
    expect(heldByVault("sBTC")).toBe(POOL - 2_000_000n);
    expect(totals("sBTC")).toEqual({ balance: POOL - 2_000_000n, locked: 0n });
    expect(printedEvents(events).at(-1)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("settlement-paid"),
        "policy-id": Cl.uint(8n),
        buyer: Cl.principal(carol),
        token: Cl.some(Cl.principal(SBTC)),
        amount: Cl.uint(2_000_000n),
        "total-balance": Cl.uint(POOL - 2_000_000n),
        "total-locked": Cl.uint(0n),
      }),
    );
  });

  it("refuses to pay more than is locked with u206, even though the free balance could cover it", () => {
    expectErr(settle(backend, 7n, carol, 5_000_001n).result, ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 5_000_000n });
  });

  it("refuses a zero payout with ERR-INVALID-AMOUNT (u208)", () => {
    expectErr(settle(backend, 7n, carol, 0n).result, ERR.INVALID_AMOUNT);
  });

  it("refuses any caller but the operator with ERR-NOT-AUTHORIZED (u200), the admin and guardian included", () => {
    const before = stxBalance(carol);
    expectErr(settle(carol, 7n, carol, 1n).result, ERR.NOT_AUTHORIZED);
    expectErr(settle(deployer, 7n, carol, 1n).result, ERR.NOT_AUTHORIZED);
    expect(stxBalance(carol)).toBe(before);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 5_000_000n });
  });

  it("refuses a look-alike SIP-010 token with ERR-INVALID-TOKEN-CONTRACT (u202), paying nothing", () => {
    const fake = deployLookAlikeSbtc();
    expectErr(
      call(
        VAULT_FUNCTIONS.settlePolicy,
        [Cl.uint(8n), Cl.principal(carol), Cl.uint(1n), Cl.some(Cl.principal(fake))],
        backend,
      ).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
    expect(sbtcBalance(carol)).toBe(0n);
    expect(totals("sBTC")).toEqual({ balance: POOL, locked: 2_000_000n });
  });

  it("counts no flow: locks, releases and settlements leave seq and the flow totals alone", () => {
    expectOk(release(backend, [7n], 1_000n).result);
    expectOk(settle(backend, 7n, carol, 1_000n).result);
    expectOk(settle(backend, 8n, carol, 1_000n, "sBTC").result);
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 2n, stxIn: POOL, sbtcIn: POOL }));
    expect(providerRecord(carol)).toBeNone();
  });

  it("fails with ERR-TRANSFER-FAILED (u203) when the payout cannot be delivered, changing nothing", () => {
    // The vault cannot pay itself: stx-transfer? refuses sender = recipient.
    expectErr(settle(backend, 7n, VAULT, 1n).result, ERR.TRANSFER_FAILED);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 5_000_000n });
  });
});
