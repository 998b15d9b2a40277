/**
 * The outflow limit: withdrawals and settlements of a token draw on one window
 * of OUTFLOW_WINDOW burn blocks, capped at max(floor, balance × bps / 10,000)
 * of the balance before each call. It is what bounds a stolen hot key to one
 * window's cap, so every boundary is checked to the block and to the unit.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  backend,
  bob,
  burnHeight,
  call,
  carol,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  heldByVault,
  initializeVault,
  lock,
  mintSbtc,
  OUTFLOW_WINDOW,
  outflowCV,
  payPremium,
  printedEvents,
  providerRecord,
  providerRecordCV,
  readOnly,
  release,
  SBTC,
  sbtcBalance,
  settle,
  stxBalance,
  totals,
  voucher,
  withdraw,
  type OutflowView,
} from "./vault";

type Token = "STX" | "sBTC";

const DEFAULT_BPS = 1_000n;
const STX_FLOOR = 1_000_000_000n;
const SBTC_FLOOR = 10_000_000n;
const WINDOW = BigInt(OUTFLOW_WINDOW);

function outflow(token: Token): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.getOutflow, [token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC))]);
}

function setOutflowLimit(limitBps: bigint, stxFloor: bigint, sbtcFloor: bigint) {
  return call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(limitBps), Cl.uint(stxFloor), Cl.uint(sbtcFloor)], deployer);
}

/** Mines `n` empty blocks; simnet refuses nothing for 0 but there is nothing to mine. */
function mine(n: bigint): void {
  if (n > 0n) simnet.mineEmptyBlocks(Number(n));
}

/** Mines until the next call executes at burn height `height`. */
function mineTo(height: bigint): void {
  const now = burnHeight();
  if (height < now) throw new Error(`burn height ${height} is in the past (now ${now})`);
  mine(height - now);
}

function withdrawn(provider: string, token: Token, amount: bigint, nonce: bigint, seq: bigint, balance: bigint, locked: bigint) {
  return Cl.tuple({
    event: Cl.stringAscii("funds-withdrawn"),
    provider: Cl.principal(provider),
    token: token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC)),
    amount: Cl.uint(amount),
    nonce: Cl.uint(nonce),
    seq: Cl.uint(seq),
    "total-balance": Cl.uint(balance),
    "total-locked": Cl.uint(locked),
  });
}

function settled(policyId: bigint, buyer: string, token: Token, amount: bigint, balance: bigint, locked: bigint) {
  return Cl.tuple({
    event: Cl.stringAscii("settlement-paid"),
    "policy-id": Cl.uint(policyId),
    buyer: Cl.principal(buyer),
    token: token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC)),
    amount: Cl.uint(amount),
    "total-balance": Cl.uint(balance),
    "total-locked": Cl.uint(locked),
  });
}

describe(VAULT_FUNCTIONS.getOutflow, () => {
  it("reads {window-start: u0, used: u0, cap: floor, available: floor} on a fresh deployment, for both tokens", () => {
    expect(burnHeight()).toBeLessThan(WINDOW);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: 0n, used: 0n, cap: STX_FLOOR, available: STX_FLOOR }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: 0n, used: 0n, cap: SBTC_FLOOR, available: SBTC_FLOOR }));
  });

  it("caps at balance × 1,000 / 10,000 once that share is above the floor", () => {
    // 20,000 STX: 10% is 2,000 STX, twice the floor. STX needs no sBTC setup.
    expectOk(deposit(alice, 20_000_000_000n).result);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: 0n, used: 0n, cap: 2_000_000_000n, available: 2_000_000_000n }),
    );
    // One unit under 10 × floor: the share rounds down below the floor, the floor wins.
    expectOk(setOutflowLimit(DEFAULT_BPS, 2_000_000_001n, SBTC_FLOOR).result);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: 0n, used: 0n, cap: 2_000_000_001n, available: 2_000_000_001n }),
    );
  });

  it("shows the stored window starting at u0 until burn height 143, and a fresh one starting at 144", () => {
    mineTo(WINDOW - 1n);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: 0n, used: 0n, cap: STX_FLOOR, available: STX_FLOOR }));
    mine(1n);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: WINDOW, used: 0n, cap: STX_FLOOR, available: STX_FLOOR }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: WINDOW, used: 0n, cap: SBTC_FLOOR, available: SBTC_FLOOR }));
  });
});

describe("one window per token, shared by withdrawals and settlements", () => {
  it("lets withdrawals and settlements together reach the cap exactly, refusing the call past it with u213 and changing nothing", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 30_000_000_000n).result);
    expectOk(lock(backend, [7n], 5_000_000_000n).result);
    const bobBefore = stxBalance(bob);
    const aliceBefore = stxBalance(alice);

    // Cap 3,000 STX (10% of 30,000).
    const first = withdraw(voucher({ provider: alice, amount: 1_000_000_000n, nonce: 1n }));
    expectOk(first.result);
    expect(printedEvents(first.events)).toEqual([
      withdrawn(alice, "STX", 1_000_000_000n, 1n, 2n, 29_000_000_000n, 5_000_000_000n),
    ]);
    // The cap follows the balance: 10% of 29,000 STX now.
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: start, used: 1_000_000_000n, cap: 2_900_000_000n, available: 1_900_000_000n }),
    );

    const payout = settle(backend, 7n, bob, 1_500_000_000n);
    expectOk(payout.result);
    expect(printedEvents(payout.events)).toEqual([
      settled(7n, bob, "STX", 1_500_000_000n, 27_500_000_000n, 3_500_000_000n),
    ]);
    expect(stxBalance(bob)).toBe(bobBefore + 1_500_000_000n);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: start, used: 2_500_000_000n, cap: 2_750_000_000n, available: 250_000_000n }),
    );

    // One unit past the cap, either way out: refused, and nothing moves.
    expectErr(withdraw(voucher({ provider: alice, amount: 250_000_001n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 7n, bob, 250_000_001n).result, ERR.OUTFLOW_LIMIT);
    expect(totals("STX")).toEqual({ balance: 27_500_000_000n, locked: 3_500_000_000n });
    expect(heldByVault("STX")).toBe(27_500_000_000n);
    expect(stxBalance(alice)).toBe(aliceBefore + 1_000_000_000n);
    expect(stxBalance(bob)).toBe(bobBefore + 1_500_000_000n);
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 2n, stxIn: 30_000_000_000n, stxOut: 1_000_000_000n }));
    expect(providerRecord(alice)).toEqual(
      providerRecordCV({ nonce: 1n, stxIn: 30_000_000_000n, stxOut: 1_000_000_000n, createdSeq: 1n }),
    );
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: start, used: 2_500_000_000n, cap: 2_750_000_000n, available: 250_000_000n }),
    );

    // Exactly the rest: accepted (nonce 2 was not used up by the refusal).
    expectOk(withdraw(voucher({ provider: alice, amount: 250_000_000n, nonce: 2n })).result);
    expect(totals("STX")).toEqual({ balance: 27_250_000_000n, locked: 3_500_000_000n });
    // used (2,750) is now above the cap of the smaller balance (2,725): available reads 0, never negative.
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: start, used: 2_750_000_000n, cap: 2_725_000_000n, available: 0n }),
    );
    expectErr(settle(backend, 7n, bob, 1n).result, ERR.OUTFLOW_LIMIT);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    expect(heldByVault("STX")).toBe(27_250_000_000n);
  });

  it("does the same for sBTC: withdrawals and settlements share the sBTC window up to its cap", () => {
    initializeVault();
    const start = burnHeight();
    mintSbtc(alice, 300_000_000n);
    expectOk(deposit(alice, 300_000_000n, "sBTC").result);
    expectOk(lock(backend, [9n], 50_000_000n, "sBTC").result);

    // Cap 0.3 sBTC (10% of 3 sBTC).
    expectOk(withdraw(voucher({ provider: alice, amount: 20_000_000n, token: "sBTC", nonce: 1n })).result);
    const payout = settle(backend, 9n, carol, 7_000_000n, "sBTC");
    expectOk(payout.result);
    expect(printedEvents(payout.events)).toEqual([settled(9n, carol, "sBTC", 7_000_000n, 273_000_000n, 43_000_000n)]);
    expect(sbtcBalance(carol)).toBe(7_000_000n);
    expect(outflow("sBTC")).toEqual(
      outflowCV({ windowStart: start, used: 27_000_000n, cap: 27_300_000n, available: 300_000n }),
    );

    expectErr(settle(backend, 9n, carol, 300_001n, "sBTC").result, ERR.OUTFLOW_LIMIT);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 300_001n, token: "sBTC", nonce: 2n })).result,
      ERR.OUTFLOW_LIMIT,
    );
    expect(totals("sBTC")).toEqual({ balance: 273_000_000n, locked: 43_000_000n });
    expect(heldByVault("sBTC")).toBe(273_000_000n);

    expectOk(settle(backend, 9n, carol, 300_000n, "sBTC").result);
    expect(sbtcBalance(carol)).toBe(7_300_000n);
    expect(heldByVault("sBTC")).toBe(272_700_000n);
    expect(outflow("sBTC")).toEqual(
      outflowCV({ windowStart: start, used: 27_300_000n, cap: 27_270_000n, available: 0n }),
    );
  });

  it("keeps STX and sBTC windows independent: a full STX window leaves the sBTC cap whole, and the reverse", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    mintSbtc(alice, 100_000_000n);
    expectOk(deposit(alice, 100_000_000n, "sBTC").result);

    // STX: the 1,000 STX floor, all of it.
    expectOk(withdraw(voucher({ provider: alice, amount: STX_FLOOR, nonce: 1n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
    expect(outflow("sBTC")).toEqual(
      outflowCV({ windowStart: start, used: 0n, cap: SBTC_FLOOR, available: SBTC_FLOOR }),
    );

    // sBTC: its whole 0.1 sBTC floor still goes out in the same block range.
    expectOk(withdraw(voucher({ provider: alice, amount: SBTC_FLOOR, token: "sBTC", nonce: 2n })).result);
    expect(sbtcBalance(alice)).toBe(SBTC_FLOOR);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 1n, token: "sBTC", nonce: 3n })).result,
      ERR.OUTFLOW_LIMIT,
    );
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: STX_FLOOR, cap: STX_FLOOR, available: 0n }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: start, used: SBTC_FLOOR, cap: SBTC_FLOOR, available: 0n }));
  });

  it("reopens exactly at window-start + 144 burn blocks (refused one block earlier), with window-start at that height", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: STX_FLOOR, nonce: 1n })).result);

    mineTo(start + WINDOW - 1n);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: STX_FLOOR, cap: STX_FLOOR, available: 0n }));
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);

    mine(1n);
    const reopened = start + WINDOW;
    expect(burnHeight()).toBe(reopened);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: reopened, used: 0n, cap: STX_FLOOR, available: STX_FLOOR }));
    expectOk(withdraw(voucher({ provider: alice, amount: 400_000_000n, nonce: 2n })).result);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: reopened, used: 400_000_000n, cap: STX_FLOOR, available: 600_000_000n }),
    );
    expect(heldByVault("STX")).toBe(8_600_000_000n);
  });

  it("starts a window that opens late at the height of the call that opens it, not at the old start + 144", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: STX_FLOOR, nonce: 1n })).result);

    mineTo(start + 200n);
    expectOk(withdraw(voucher({ provider: alice, amount: STX_FLOOR, nonce: 2n })).result);
    const late = start + 200n;
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: late, used: STX_FLOOR, cap: STX_FLOOR, available: 0n }));

    // start + 288 would end a window aligned on the old start; this one runs until late + 144.
    mineTo(start + 2n * WINDOW);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    mineTo(late + WINDOW - 1n);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    mine(1n);
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 3n })).result);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: late + WINDOW, used: 1n, cap: STX_FLOOR, available: STX_FLOOR - 1n }),
    );
  });

  it("computes the cap on the balance before the call, for a withdrawal and for a settlement", () => {
    initializeVault();
    expectOk(setOutflowLimit(DEFAULT_BPS, 0n, 0n).result);
    expectOk(deposit(alice, 10_000_000_000n).result);
    expectOk(lock(backend, [1n], 2_000_000_000n).result);

    // 10% of 10,000 STX before; 10% of the 9,000 left after would be only 900.
    expectErr(withdraw(voucher({ provider: alice, amount: 1_000_000_001n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000_000_000n, nonce: 1n })).result);
    expect(totals("STX")).toEqual({ balance: 9_000_000_000n, locked: 2_000_000_000n });

    mine(WINDOW);
    // Fresh window on 9,000 STX: 900 STX, settled in one call.
    expectErr(settle(backend, 1n, bob, 900_000_001n).result, ERR.OUTFLOW_LIMIT);
    const bobBefore = stxBalance(bob);
    expectOk(settle(backend, 1n, bob, 900_000_000n).result);
    expect(stxBalance(bob)).toBe(bobBefore + 900_000_000n);
    expect(totals("STX")).toEqual({ balance: 8_100_000_000n, locked: 1_100_000_000n });
    expect(heldByVault("STX")).toBe(8_100_000_000n);
  });
});

describe(`${VAULT_FUNCTIONS.setOutflowLimit} and the cap`, () => {
  it("moves the cap with the bps and with each token's floor on its own", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    mintSbtc(alice, 100_000_000n);
    expectOk(deposit(alice, 100_000_000n, "sBTC").result);

    expectOk(setOutflowLimit(2_500n, STX_FLOOR, SBTC_FLOOR).result);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 2_500_000_000n, available: 2_500_000_000n }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 25_000_000n, available: 25_000_000n }));

    // A higher STX floor lifts the STX cap only.
    expectOk(setOutflowLimit(2_500n, 4_000_000_000n, SBTC_FLOOR).result);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 4_000_000_000n, available: 4_000_000_000n }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 25_000_000n, available: 25_000_000n }));

    // A higher sBTC floor lifts the sBTC cap only.
    expectOk(setOutflowLimit(2_500n, 4_000_000_000n, 50_000_000n).result);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 4_000_000_000n, available: 4_000_000_000n }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 50_000_000n, available: 50_000_000n }));

    expectOk(withdraw(voucher({ provider: alice, amount: 4_000_000_000n, nonce: 1n })).result);
    expectOk(withdraw(voucher({ provider: alice, amount: 50_000_000n, token: "sBTC", nonce: 2n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, token: "sBTC", nonce: 3n })).result, ERR.OUTFLOW_LIMIT);
    expect(heldByVault("STX")).toBe(6_000_000_000n);
    expect(heldByVault("sBTC")).toBe(50_000_000n);
  });

  it("keeps what the window has used across a limit change: a lower cap reads available 0, a higher one frees the difference", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    expectOk(withdraw(voucher({ provider: alice, amount: STX_FLOOR, nonce: 1n })).result);

    expectOk(setOutflowLimit(100n, 0n, 0n).result);
    // 1% of 9,000 STX = 90 STX, far under the 1,000 already used.
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: STX_FLOOR, cap: 90_000_000n, available: 0n }));
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);

    expectOk(setOutflowLimit(5_000n, 0n, 0n).result);
    expect(outflow("STX")).toEqual(
      outflowCV({ windowStart: start, used: STX_FLOOR, cap: 4_500_000_000n, available: 3_500_000_000n }),
    );
    expectErr(withdraw(voucher({ provider: alice, amount: 3_500_000_001n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: alice, amount: 3_500_000_000n, nonce: 2n })).result);
    expect(heldByVault("STX")).toBe(5_500_000_000n);
  });

  it("with a zero limit and zero floors refuses every withdrawal and settlement of both tokens (u213), while deposits, premiums, locks and releases still work", () => {
    initializeVault();
    const start = burnHeight();
    expectOk(deposit(alice, 10_000_000_000n).result);
    mintSbtc(alice, 100_000_000n);
    expectOk(deposit(alice, 100_000_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 1_000n).result);
    expectOk(lock(backend, [2n], 1_000n, "sBTC").result);

    expectOk(setOutflowLimit(0n, 0n, 0n).result);
    expect(outflow("STX")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 0n, available: 0n }));
    expect(outflow("sBTC")).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 0n, available: 0n }));

    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, token: "sBTC", nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 1n, bob, 1n).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 2n, bob, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);

    // A new window changes nothing: zero stays zero.
    mine(WINDOW);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 2n, bob, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);

    expectOk(deposit(bob, 5_000_000n).result);
    expectOk(payPremium(carol, 3n, 7_000n).result);
    mintSbtc(bob, 5_000n);
    expectOk(deposit(bob, 5_000n, "sBTC").result);
    expectOk(release(backend, [1n], 1_000n).result);
    expectOk(lock(backend, [4n], 2_000n, "sBTC").result);
    expect(totals("STX")).toEqual({ balance: 10_005_007_000n, locked: 0n });
    expect(totals("sBTC")).toEqual({ balance: 100_005_000n, locked: 3_000n });
    expect(heldByVault("STX")).toBe(10_005_007_000n);
    expect(heldByVault("sBTC")).toBe(100_005_000n);
  });

  it("with a zero limit but a floor caps every window at exactly the floor", () => {
    initializeVault();
    expectOk(deposit(alice, 10_000_000_000n).result);
    expectOk(setOutflowLimit(0n, 123_456n, 0n).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 123_457n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expectOk(withdraw(voucher({ provider: alice, amount: 123_456n, nonce: 1n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 2n })).result, ERR.OUTFLOW_LIMIT);
  });
});

describe("the window against a model", () => {
  type Pool = { balance: bigint; locked: bigint; windowStart: bigint; used: bigint };
  const BPS = 2_000n;
  const FLOORS: Record<Token, bigint> = { STX: 40_000_000n, sBTC: 400_000n };

  /** The window a call at burn height `now` sees, as the contract defines it. */
  function viewOf(pool: Pool, token: Token, now: bigint): OutflowView {
    const fresh = now >= pool.windowStart + WINDOW;
    const share = (pool.balance * BPS) / 10_000n;
    const cap = share > FLOORS[token] ? share : FLOORS[token];
    const windowStart = fresh ? now : pool.windowStart;
    const used = fresh ? 0n : pool.used;
    return { windowStart, used, cap, available: cap > used ? cap - used : 0n };
  }

  const op = fc.record({
    kind: fc.constantFrom("withdraw" as const, "settle" as const),
    token: fc.constantFrom<Token>("STX", "sBTC"),
    amount: fc.bigInt({ min: 1n, max: 150_000_000n }),
  });
  const run = fc.record({
    gap: fc.nat({ max: 200 }),
    topUp: fc.bigInt({ min: 0n, max: 500_000_000n }),
    toLock: fc.bigInt({ min: 0n, max: 120_000_000n }),
    ops: fc.array(op, { maxLength: 8 }),
  });

  it("property: each withdrawal or settlement succeeds exactly when used + amount <= the cap of the balance before it, in any window", () => {
    initializeVault();
    expectOk(setOutflowLimit(BPS, FLOORS.STX, FLOORS.sBTC).result);
    mintSbtc(alice, 10n ** 12n);
    const pools: Record<Token, Pool> = {
      STX: { balance: 0n, locked: 0n, windowStart: 0n, used: 0n },
      sBTC: { balance: 0n, locked: 0n, windowStart: 0n, used: 0n },
    };
    let nonce = 0n;
    // sBTC amounts are the STX ones / 100, so both tokens hit their caps about as often.
    const scaled = (token: Token, amount: bigint) => (token === "STX" ? amount : amount / 100n + 1n);

    fc.assert(
      fc.property(run, ({ gap, topUp, toLock, ops }) => {
        mine(BigInt(gap));
        for (const token of ["STX", "sBTC"] as const) {
          const pool = pools[token];
          const amount = scaled(token, topUp);
          if (amount > 0n) {
            expectOk(deposit(alice, amount, token).result);
            pool.balance += amount;
          }
          const free = pool.balance - pool.locked;
          const locking = scaled(token, toLock) < free ? scaled(token, toLock) : free;
          if (locking > 0n) {
            expectOk(lock(backend, [1n], locking, token).result);
            pool.locked += locking;
          }
        }
        for (const { kind, token, amount: raw } of ops) {
          const pool = pools[token];
          const amount = scaled(token, raw);
          const window = viewOf(pool, token, burnHeight());
          let expected: bigint | null = null;
          if (kind === "withdraw" && amount > pool.balance - pool.locked) expected = ERR.INSUFFICIENT_BALANCE;
          else if (kind === "settle" && amount > pool.locked) expected = ERR.UNLOCK_AMOUNT_EXCEEDS_LOCKED;
          else if (window.used + amount > window.cap) expected = ERR.OUTFLOW_LIMIT;

          nonce += 1n;
          const { result } =
            kind === "withdraw"
              ? withdraw(voucher({ provider: alice, amount, token, nonce }))
              : settle(backend, 1n, bob, amount, token);
          if (expected === null) {
            expectOk(result);
            pool.balance -= amount;
            if (kind === "settle") pool.locked -= amount;
            pool.windowStart = window.windowStart;
            pool.used = window.used + amount;
          } else {
            expectErr(result, expected);
          }
          expect(outflow(token)).toEqual(outflowCV(viewOf(pool, token, burnHeight())));
          expect(totals(token)).toEqual({ balance: pool.balance, locked: pool.locked });
          expect(heldByVault(token)).toBe(pool.balance);
        }
      }),
      { numRuns: 40 },
    );
  }, 60_000);
});
