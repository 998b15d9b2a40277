/**
 * Exact integer money arithmetic (convex/domain/money.ts, docs/architecture.md, "Money and rounding"): exact
 * values for the cases people reason about, and fast-check properties for the
 * rounding bounds that make "what a provider takes rounds down, what they owe
 * rounds up, splits sum exactly" true for every input.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import {
  assertPositive,
  BPS_DENOMINATOR,
  bpsOf,
  mulDivDown,
  mulDivUp,
  ratioBps,
  splitProportionally,
} from "../../convex/domain/money";

/** Amounts up to 2^80: far beyond any real supply, so overflow-free bigint maths is exercised. */
const amount = fc.bigInt({ min: 0n, max: 2n ** 80n });
const positive = fc.bigInt({ min: 1n, max: 2n ** 80n });
const bps = fc.bigInt({ min: 0n, max: 20_000n });
const weights = fc.array(fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1_000n }), amount), {
  minLength: 1,
  maxLength: 30,
});

function sum(values: readonly bigint[]): bigint {
  return values.reduce((s, v) => s + v, 0n);
}

describe("mulDivDown and mulDivUp", () => {
  test("round a non-integer quotient down and up respectively", () => {
    expect(mulDivDown(7n, 3n, 2n)).toBe(10n);
    expect(mulDivUp(7n, 3n, 2n)).toBe(11n);
    expect(mulDivDown(1n, 1n, 3n)).toBe(0n);
    expect(mulDivUp(1n, 1n, 3n)).toBe(1n);
  });

  test("agree on an exact quotient", () => {
    expect(mulDivDown(4n, 3n, 2n)).toBe(6n);
    expect(mulDivUp(4n, 3n, 2n)).toBe(6n);
  });

  test("return zero for a zero product", () => {
    expect(mulDivDown(0n, 5n, 7n)).toBe(0n);
    expect(mulDivUp(0n, 5n, 7n)).toBe(0n);
    expect(mulDivUp(5n, 0n, 7n)).toBe(0n);
  });

  test("are exact on products beyond 2^128", () => {
    const a = 2n ** 100n + 1n;
    expect(mulDivDown(a, a, 2n ** 100n)).toBe(2n ** 100n + 2n);
    expect(mulDivUp(a, a, 2n ** 100n)).toBe(2n ** 100n + 3n);
  });

  test.each([
    ["a negative first operand", -1n, 1n, 1n],
    ["a negative second operand", 1n, -1n, 1n],
    ["a zero divisor", 1n, 1n, 0n],
    ["a negative divisor", 1n, 1n, -1n],
  ])("refuse %s with a RangeError", (_what, a, b, d) => {
    expect(() => mulDivDown(a, b, d)).toThrow(RangeError);
    expect(() => mulDivUp(a, b, d)).toThrow(RangeError);
  });

  test("down is the floor: down * d <= a * b < (down + 1) * d", () => {
    fc.assert(
      fc.property(amount, amount, positive, (a, b, d) => {
        const down = mulDivDown(a, b, d);
        expect(down * d <= a * b).toBe(true);
        expect(a * b < (down + 1n) * d).toBe(true);
      }),
    );
  });

  test("up is the ceiling: up is down or down + 1, up * d >= a * b > (up - 1) * d", () => {
    fc.assert(
      fc.property(amount, amount, positive, (a, b, d) => {
        const down = mulDivDown(a, b, d);
        const up = mulDivUp(a, b, d);
        expect(up === down || up === down + 1n).toBe(true);
        expect(up * d >= a * b).toBe(true);
        if (up > 0n) expect((up - 1n) * d < a * b).toBe(true);
        // They differ exactly when the division leaves a remainder.
        expect(up === down).toBe((a * b) % d === 0n);
      }),
    );
  });
});

describe("bpsOf", () => {
  test("takes basis points of an amount, rounding down", () => {
    expect(BPS_DENOMINATOR).toBe(10_000n);
    expect(bpsOf(1_000_000n, 1_000n)).toBe(100_000n);
    expect(bpsOf(12_345n, 100n)).toBe(123n);
    expect(bpsOf(9_999n, 1n)).toBe(0n);
    expect(bpsOf(10_000n, 1n)).toBe(1n);
    expect(bpsOf(123n, 10_000n)).toBe(123n);
    expect(bpsOf(0n, 5_000n)).toBe(0n);
  });

  test("refuses negative amounts and negative basis points", () => {
    expect(() => bpsOf(-1n, 100n)).toThrow(RangeError);
    expect(() => bpsOf(100n, -1n)).toThrow(RangeError);
  });

  test("never exceeds the amount for bps <= 10_000, is the whole at 10_000 and grows with bps", () => {
    fc.assert(
      fc.property(amount, bps, bps, (a, x, y) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        expect(bpsOf(a, BPS_DENOMINATOR)).toBe(a);
        if (hi <= BPS_DENOMINATOR) expect(bpsOf(a, hi) <= a).toBe(true);
        expect(bpsOf(a, lo) <= bpsOf(a, hi)).toBe(true);
        // A fee and what is left after it never exceed the whole.
        if (x <= BPS_DENOMINATOR) expect(bpsOf(a, x) + bpsOf(a, BPS_DENOMINATOR - x) <= a).toBe(true);
      }),
    );
  });
});

describe("ratioBps", () => {
  test("expresses a ratio in basis points, rounding down", () => {
    expect(ratioBps(1n, 3n)).toBe(3_333n);
    expect(ratioBps(2n, 3n)).toBe(6_666n);
    expect(ratioBps(3n, 2n)).toBe(15_000n);
    expect(ratioBps(0n, 7n)).toBe(0n);
    expect(ratioBps(5n, 5n)).toBe(10_000n);
  });

  test("refuses a zero or negative denominator and a negative numerator", () => {
    expect(() => ratioBps(1n, 0n)).toThrow(RangeError);
    expect(() => ratioBps(1n, -1n)).toThrow(RangeError);
    expect(() => ratioBps(-1n, 1n)).toThrow(RangeError);
  });

  test("is the floor of numerator * 10_000 / denominator", () => {
    fc.assert(
      fc.property(amount, positive, (n, d) => {
        const r = ratioBps(n, d);
        expect(r * d <= n * BPS_DENOMINATOR).toBe(true);
        expect(n * BPS_DENOMINATOR < (r + 1n) * d).toBe(true);
      }),
    );
  });
});

describe("assertPositive", () => {
  test("accepts 1 and refuses 0 and negatives", () => {
    expect(() => assertPositive(1n)).not.toThrow();
    expect(() => assertPositive(0n)).toThrow(RangeError);
    expect(() => assertPositive(-5n, "premium")).toThrow("premium must be positive, got -5");
  });
});

describe("splitProportionally", () => {
  test("gives the leftover units to the largest remainders", () => {
    // 10 * 1/3 = 3.33, 10 * 2/3 = 6.67: the one leftover unit goes to the larger remainder.
    expect(splitProportionally(10n, [1n, 2n])).toEqual([3n, 7n]);
    expect(splitProportionally(100n, [50n, 30n, 20n])).toEqual([50n, 30n, 20n]);
    // 7 * 1/6 = 1.17, 7 * 2/6 = 2.33, 7 * 3/6 = 3.5
    expect(splitProportionally(7n, [1n, 2n, 3n])).toEqual([1n, 2n, 4n]);
  });

  test("breaks ties between equal remainders in favour of the earlier weight", () => {
    expect(splitProportionally(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    expect(splitProportionally(1n, [1n, 1n, 1n, 1n])).toEqual([1n, 0n, 0n, 0n]);
    expect(splitProportionally(3n, [1n, 1n, 1n, 1n])).toEqual([1n, 1n, 1n, 0n]);
    expect(splitProportionally(2n, [5n, 3n, 5n, 3n])).toEqual([1n, 0n, 1n, 0n]);
  });

  test("gives zero weights zero", () => {
    expect(splitProportionally(5n, [0n, 3n, 0n])).toEqual([0n, 5n, 0n]);
    expect(splitProportionally(0n, [0n, 0n])).toEqual([0n, 0n]);
    expect(splitProportionally(0n, [4n, 1n])).toEqual([0n, 0n]);
    expect(splitProportionally(0n, [])).toEqual([]);
  });

  test.each([
    ["a negative total", -1n, [1n]],
    ["a negative weight", 10n, [1n, -1n]],
    ["a positive total over zero weights", 10n, [0n, 0n]],
    ["a positive total over no weights", 10n, []],
  ])("refuses %s with a RangeError", (_what, total, ws) => {
    expect(() => splitProportionally(total, ws)).toThrow(RangeError);
  });

  test("parts sum exactly to the total and each is the floor or the ceiling of its exact share", () => {
    fc.assert(
      fc.property(amount, weights, (total, ws) => {
        fc.pre(sum(ws) > 0n);
        const weightSum = sum(ws);
        const parts = splitProportionally(total, ws);
        expect(parts).toHaveLength(ws.length);
        expect(sum(parts)).toBe(total);
        parts.forEach((part, i) => {
          const w = ws[i] ?? 0n;
          const floor = (total * w) / weightSum;
          const exact = (total * w) % weightSum === 0n;
          expect(part === floor || (!exact && part === floor + 1n)).toBe(true);
          if (w === 0n) expect(part).toBe(0n);
        });
      }),
    );
  });

  test("is deterministic and does not modify its input", () => {
    fc.assert(
      fc.property(amount, weights, (total, ws) => {
        fc.pre(sum(ws) > 0n);
        const copy = [...ws];
        expect(splitProportionally(total, ws)).toEqual(splitProportionally(total, copy));
        expect(ws).toEqual(copy);
      }),
    );
  });

  test("a larger weight never gets less, and of equal weights the earlier gets the same or one more", () => {
    fc.assert(
      fc.property(amount, weights, (total, ws) => {
        fc.pre(sum(ws) > 0n);
        const parts = splitProportionally(total, ws);
        for (let i = 0; i < ws.length; i++) {
          for (let j = 0; j < ws.length; j++) {
            const [wi, wj, pi, pj] = [ws[i] ?? 0n, ws[j] ?? 0n, parts[i] ?? 0n, parts[j] ?? 0n];
            if (wi > wj) expect(pi >= pj).toBe(true);
            if (wi === wj && i < j) expect(pi - pj === 0n || pi - pj === 1n).toBe(true);
          }
        }
      }),
    );
  });

  test("rounds up exactly the parts with the largest remainders (earlier index first on ties)", () => {
    fc.assert(
      fc.property(amount, weights, (total, ws) => {
        const weightSum = sum(ws);
        fc.pre(weightSum > 0n);
        const parts = splitProportionally(total, ws);
        const remainder = (i: number) => (total * (ws[i] ?? 0n)) % weightSum;
        const roundedUp = (i: number) => (parts[i] ?? 0n) > (total * (ws[i] ?? 0n)) / weightSum;
        for (let i = 0; i < ws.length; i++) {
          for (let j = 0; j < ws.length; j++) {
            // If j was rounded up and i ranks before j, i was rounded up too.
            const iRanksFirst = remainder(i) > remainder(j) || (remainder(i) === remainder(j) && i < j);
            if (roundedUp(j) && iRanksFirst) expect(roundedUp(i)).toBe(true);
          }
        }
      }),
    );
  });
});
