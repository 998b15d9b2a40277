/**
 * The rules of a provider's balance in one token (convex/domain/balances.ts),
 * without a database: every change type with exact results, every refusal
 * with its error code, and a property over arbitrary sequences of changes.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import {
  applyBalanceChangeTo,
  availableOf,
  balanceDelta,
  ZERO_BALANCE,
  type Balance,
} from "../../convex/domain/balances";
import { isPoolError, type ErrorCode } from "../../convex/domain/errors";
import type { BalanceChangeType } from "../../convex/validators";

const CHANGE_TYPES: readonly BalanceChangeType[] = [
  "deposit",
  "withdrawal",
  "yield_accrual",
  "settlement_debit",
  "lock",
  "release",
  "reserve",
  "unreserve",
  "yield_reversal",
  "settlement_reversal",
];

/** total 1000, of which 300 locked and 200 reserved (500 available); 50 came from yield. */
const START: Balance = { total: 1_000n, locked: 300n, reserved: 200n, accruedYield: 50n };

/** The coded error `fn` throws, or a failure if it throws anything else or nothing. */
function errorCodeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (error) {
    if (isPoolError(error)) return error.data.code;
    throw error;
  }
  throw new Error("expected a coded pool error, but nothing was thrown");
}

describe("applyBalanceChangeTo: each change type", () => {
  test.each<[BalanceChangeType, bigint, Balance]>([
    ["deposit", 100n, { total: 1_100n, locked: 300n, reserved: 200n, accruedYield: 50n }],
    ["yield_accrual", 100n, { total: 1_100n, locked: 300n, reserved: 200n, accruedYield: 150n }],
    ["withdrawal", 500n, { total: 500n, locked: 300n, reserved: 200n, accruedYield: 50n }],
    ["lock", 500n, { total: 1_000n, locked: 800n, reserved: 200n, accruedYield: 50n }],
    ["release", 300n, { total: 1_000n, locked: 0n, reserved: 200n, accruedYield: 50n }],
    ["settlement_debit", 300n, { total: 700n, locked: 0n, reserved: 200n, accruedYield: 50n }],
    ["reserve", 500n, { total: 1_000n, locked: 300n, reserved: 700n, accruedYield: 50n }],
    ["unreserve", 200n, { total: 1_000n, locked: 300n, reserved: 0n, accruedYield: 50n }],
  ])("%s of %d (up to the limit) gives the exact balance", (type, amount, expected) => {
    const before = { ...START };
    expect(applyBalanceChangeTo(before, type, amount)).toEqual(expected);
    // Pure: the balance passed in is left alone.
    expect(before).toEqual(START);
  });

  test("a deposit into an empty balance makes it all available", () => {
    const after = applyBalanceChangeTo(ZERO_BALANCE, "deposit", 42n);
    expect(after).toEqual({ total: 42n, locked: 0n, reserved: 0n, accruedYield: 0n });
    expect(availableOf(after)).toBe(42n);
    expect(ZERO_BALANCE).toEqual({ total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n });
  });

  test("a settlement debit takes the payout out of both total and locked, leaving available as it was", () => {
    const after = applyBalanceChangeTo(START, "settlement_debit", 120n);
    expect(after).toEqual({ total: 880n, locked: 180n, reserved: 200n, accruedYield: 50n });
    expect(availableOf(after)).toBe(availableOf(START));
  });

  test("availableOf is total - locked - reserved", () => {
    expect(availableOf(START)).toBe(500n);
    expect(availableOf({ total: 10n, locked: 4n, reserved: 6n, accruedYield: 0n })).toBe(0n);
  });

  test("balanceDelta is the field-wise difference", () => {
    const after = applyBalanceChangeTo(START, "settlement_debit", 120n);
    expect(balanceDelta(START, after)).toEqual({ total: -120n, locked: -120n, reserved: 0n, accruedYield: 0n });
    expect(balanceDelta(START, START)).toEqual(ZERO_BALANCE);
  });
});

describe("applyBalanceChangeTo: refusals", () => {
  test.each<[BalanceChangeType, bigint, ErrorCode]>([
    // One unit over what each rule allows.
    ["withdrawal", 501n, "INSUFFICIENT_AVAILABLE_BALANCE"],
    ["lock", 501n, "INSUFFICIENT_AVAILABLE_BALANCE"],
    ["reserve", 501n, "INSUFFICIENT_AVAILABLE_BALANCE"],
    ["release", 301n, "INSUFFICIENT_LOCKED_BALANCE"],
    ["settlement_debit", 301n, "INSUFFICIENT_LOCKED_BALANCE"],
    // Freeing more than is reserved reports the available-balance code (there is no reserved-balance code).
    ["unreserve", 201n, "INSUFFICIENT_RESERVED_BALANCE"],
  ])("%s of %d is refused with %s", (type, amount, code) => {
    const before = { ...START };
    expect(errorCodeOf(() => applyBalanceChangeTo(before, type, amount))).toBe(code);
    expect(before).toEqual(START);
  });

  test("a withdrawal cannot touch locked or reserved money even when total covers it", () => {
    expect(START.total >= 600n).toBe(true);
    expect(errorCodeOf(() => applyBalanceChangeTo(START, "withdrawal", 600n))).toBe("INSUFFICIENT_AVAILABLE_BALANCE");
  });

  test("the refusal message says how much there is", () => {
    expect(() => applyBalanceChangeTo(START, "lock", 501n)).toThrow(
      expect.objectContaining({
        data: { code: "INSUFFICIENT_AVAILABLE_BALANCE", message: "cannot lock 501: only 500 is available" },
      }),
    );
    expect(() => applyBalanceChangeTo(START, "release", 301n)).toThrow(
      expect.objectContaining({
        data: { code: "INSUFFICIENT_LOCKED_BALANCE", message: "cannot release 301: only 300 is locked" },
      }),
    );
  });

  test.each(CHANGE_TYPES)("%s of zero or a negative amount is refused with INVALID_AMOUNT", (type) => {
    expect(errorCodeOf(() => applyBalanceChangeTo(START, type, 0n))).toBe("INVALID_AMOUNT");
    expect(errorCodeOf(() => applyBalanceChangeTo(START, type, -1n))).toBe("INVALID_AMOUNT");
  });
});

// ---------------------------------------------------------------------------
// Property: any sequence of changes
// ---------------------------------------------------------------------------

/**
 * A change whose amount is drawn relative to the balance it meets, so that
 * about half of the limited changes fit and half are one or more units over.
 */
type ChangeDraw = { type: BalanceChangeType; pctOfLimit: number; absolute: bigint };
const changeDraw: fc.Arbitrary<ChangeDraw> = fc.record({
  type: fc.constantFrom(...CHANGE_TYPES),
  pctOfLimit: fc.integer({ min: 0, max: 200 }),
  absolute: fc.bigInt({ min: 1n, max: 10n ** 12n }),
});

/** The most a change of this type may take from `balance`, or null when nothing limits it. */
function limitOf(balance: Balance, type: BalanceChangeType): bigint | null {
  switch (type) {
    case "deposit":
    case "yield_accrual":
    case "settlement_reversal":
      return null;
    case "yield_reversal":
      return availableOf(balance) < balance.accruedYield ? availableOf(balance) : balance.accruedYield;
    case "withdrawal":
    case "lock":
    case "reserve":
      return availableOf(balance);
    case "release":
    case "settlement_debit":
      return balance.locked;
    case "unreserve":
      return balance.reserved;
  }
}

function amountFor(balance: Balance, draw: ChangeDraw): bigint {
  const limit = limitOf(balance, draw.type);
  if (limit === null) return draw.absolute;
  const scaled = (limit * BigInt(draw.pctOfLimit)) / 100n;
  return scaled > 0n ? scaled : 1n;
}

/** Running sums of what was applied, by type: the balance must be exactly these. */
type Applied = Record<BalanceChangeType, bigint>;
const NOTHING_APPLIED: Applied = {
  deposit: 0n,
  withdrawal: 0n,
  yield_accrual: 0n,
  settlement_debit: 0n,
  lock: 0n,
  release: 0n,
  reserve: 0n,
  unreserve: 0n,
  yield_reversal: 0n,
  settlement_reversal: 0n,
};

describe("applyBalanceChangeTo: any sequence of changes", () => {
  test("keeps every part non-negative, locked + reserved <= total, and each field equal to the sum of what was applied", () => {
    fc.assert(
      fc.property(fc.array(changeDraw, { maxLength: 60 }), (draws) => {
        let balance: Balance = { ...ZERO_BALANCE };
        const applied: Applied = { ...NOTHING_APPLIED };
        for (const draw of draws) {
          const amount = amountFor(balance, draw);
          const limit = limitOf(balance, draw.type);
          const allowed = limit === null || amount <= limit;
          let next: Balance;
          try {
            next = applyBalanceChangeTo(balance, draw.type, amount);
          } catch (error) {
            // Refused exactly when over the limit, with the code of that limit, and nothing changed.
            expect(allowed).toBe(false);
            const expectedCode =
              draw.type === "release" || draw.type === "settlement_debit"
                ? "INSUFFICIENT_LOCKED_BALANCE"
                : draw.type === "unreserve"
                  ? "INSUFFICIENT_RESERVED_BALANCE"
                  : draw.type === "yield_reversal" && amount <= availableOf(balance)
                    ? "INSUFFICIENT_TOTAL_BALANCE"
                    : "INSUFFICIENT_AVAILABLE_BALANCE";
            expect(isPoolError(error, expectedCode)).toBe(true);
            continue;
          }
          expect(allowed).toBe(true);
          applied[draw.type] += amount;
          balance = next;

          expect(balance.total >= 0n).toBe(true);
          expect(balance.locked >= 0n).toBe(true);
          expect(balance.reserved >= 0n).toBe(true);
          expect(balance.accruedYield >= 0n).toBe(true);
          expect(balance.locked + balance.reserved <= balance.total).toBe(true);
          expect(availableOf(balance) >= 0n).toBe(true);
          expect(availableOf(balance)).toBe(balance.total - balance.locked - balance.reserved);

          // Conservation: every field is exactly the net of the changes that moved it.
          expect(balance.total).toBe(
            applied.deposit +
              applied.yield_accrual +
              applied.settlement_reversal -
              applied.withdrawal -
              applied.settlement_debit -
              applied.yield_reversal,
          );
          expect(balance.locked).toBe(
            applied.lock - applied.release - applied.settlement_debit + applied.settlement_reversal,
          );
          expect(balance.reserved).toBe(applied.reserve - applied.unreserve);
          // accruedYield is the lifetime sum of yield (less reversed yield): withdrawals and payouts do not reduce it.
          expect(balance.accruedYield).toBe(applied.yield_accrual - applied.yield_reversal);
          // So it is bounded by total only while no money has left the balance.
          if (applied.withdrawal === 0n && applied.settlement_debit === 0n) {
            expect(balance.accruedYield <= balance.total).toBe(true);
          }
          expect(balance.accruedYield <= balance.total + applied.withdrawal + applied.settlement_debit).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("accruedYield can exceed total once yield has been withdrawn (it is a lifetime sum, not a part of total)", () => {
    let balance = applyBalanceChangeTo(ZERO_BALANCE, "yield_accrual", 10n);
    balance = applyBalanceChangeTo(balance, "withdrawal", 10n);
    expect(balance).toEqual({ total: 0n, locked: 0n, reserved: 0n, accruedYield: 10n });
  });

  test("a change and its inverse restore the balance", () => {
    const inverses: [BalanceChangeType, BalanceChangeType][] = [
      ["lock", "release"],
      ["reserve", "unreserve"],
      ["deposit", "withdrawal"],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...inverses),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        ([forward, back], headroom, amount) => {
          // Enough available for the forward change, whatever it is.
          const start: Balance = { total: amount + headroom + 7n, locked: 3n, reserved: 4n, accruedYield: 0n };
          const there = applyBalanceChangeTo(start, forward, amount);
          expect(applyBalanceChangeTo(there, back, amount)).toEqual(start);
        },
      ),
    );
  });
});
