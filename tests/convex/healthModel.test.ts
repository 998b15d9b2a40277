import fc from "fast-check";
import { describe, expect, it } from "vitest";

import {
  collateralRatioBps,
  collateralUsd,
  maxWithdrawableByHealth,
  obligationUsd,
  shortfall,
  statusFor,
  type Exposure,
  type Holdings,
} from "../../convex/domain/health";
import { aggregatePrice, medianOf, parseUsdDecimal } from "../../convex/domain/prices";

const USD = 100_000_000n; // 8 decimals
const thresholds = {
  healthyRatioBps: 15_000n,
  marginCallRatioBps: 12_500n,
  withdrawalRatioBps: 15_000n,
  withdrawalBufferBps: 500n,
};
const prices = { btcUsd: 60_000n * USD, stxUsd: 2n * USD };

describe("parseUsdDecimal", () => {
  it.each([
    ["67012.5", 6_701_250_000_000n],
    ["0.00000001", 1n],
    ["0.000000019", 1n],
    ["1e-8", 1n],
    ["2.5E3", 250_000_000_000n],
    ["42", 4_200_000_000n],
  ])("reads %s exactly as %s (8 decimals, extra digits rounded down)", (text, expected) => {
    expect(parseUsdDecimal(text)).toBe(expected);
  });

  it.each(["-1", "abc", "", "1.2.3", "0x10"])("refuses %j", (text) => {
    expect(() => parseUsdDecimal(text)).toThrow(RangeError);
  });
});

describe("aggregatePrice", () => {
  const rules = { maxAgeMs: 60_000, minSources: 2, maxSpreadBps: 200n };
  const now = 1_000_000;
  const answer = (source: string, price: bigint, age = 0) => ({ source, priceUsd: price, observedAt: now - age });

  it("takes the median of the fresh answers", () => {
    expect(aggregatePrice([answer("a", 100n * USD), answer("b", 101n * USD), answer("c", 100n * USD + 50n)], rules, now)).toEqual({
      available: true,
      priceUsd: 100n * USD + 50n,
      sources: ["a", "b", "c"],
      spreadBps: 100n,
    });
  });

  it("ignores a stale answer, and is unavailable when too few are fresh", () => {
    const result = aggregatePrice([answer("a", 100n * USD), answer("b", 100n * USD, 60_001)], rules, now);
    expect(result).toEqual({ available: false, reason: "1 fresh answers, 2 needed" });
  });

  it("is unavailable when fresh answers disagree by more than the spread (one outlier among two)", () => {
    const result = aggregatePrice([answer("a", 100n * USD), answer("b", 103n * USD)], rules, now);
    expect(result).toEqual({ available: false, reason: "sources disagree by 300 bps (max 200)" });
  });

  it("uses the lower middle answer for an even count", () => {
    expect(medianOf([4n, 1n, 3n, 2n])).toBe(2n);
  });
});

describe("health ratio and status", () => {
  const puts: Exposure = { putObligationUsd: 10_000n * USD, callProtectedSats: 0n };

  it("values collateral in both tokens and obligations at current prices", () => {
    const holdings: Holdings = { ustx: 5_000_000_000n, sats: 10_000_000n }; // 5,000 STX + 0.1 BTC
    expect(collateralUsd(holdings, prices)).toBe(16_000n * USD); // 10,000 + 6,000
    expect(obligationUsd({ putObligationUsd: 1n * USD, callProtectedSats: 50_000_000n }, prices)).toBe(30_001n * USD);
    expect(collateralRatioBps(holdings, puts, prices)).toBe(16_000n);
  });

  it("is Healthy with nothing owed", () => {
    expect(collateralRatioBps({ ustx: 0n, sats: 0n }, { putObligationUsd: 0n, callProtectedSats: 0n }, prices)).toBeNull();
    expect(statusFor(null, thresholds)).toBe("Healthy");
  });

  it.each([
    [15_000n, "Healthy"],
    [14_999n, "Warning"],
    [12_500n, "Warning"],
    [12_499n, "MarginCall"],
    [0n, "MarginCall"],
  ] as const)("ratio %s bps is %s (exact thresholds)", (ratio, status) => {
    expect(statusFor(ratio, thresholds)).toBe(status);
  });

  it("says how much of either token restores Healthy", () => {
    // Owes 10,000 USD, needs 15,000; holds 12,000 worth of STX.
    const holdings = { ustx: 6_000_000_000n, sats: 0n };
    expect(shortfall(holdings, puts, prices, thresholds)).toEqual({ ustx: 1_500_000_000n, sats: 5_000_000n });
    expect(shortfall({ ustx: 7_500_000_000n, sats: 0n }, puts, prices, thresholds)).toEqual({ ustx: 0n, sats: 0n });
  });

  it("a BTC fall hurts an sBTC-backed provider and leaves an STX-only PUT backer untouched", () => {
    const sbtcBacker = { ustx: 0n, sats: 25_000_000n }; // 0.25 BTC = 15,000 USD at 60k
    const stxBacker = { ustx: 7_500_000_000n, sats: 0n }; // 15,000 USD
    const crash = { ...prices, btcUsd: 40_000n * USD };
    expect(statusFor(collateralRatioBps(sbtcBacker, puts, prices), thresholds)).toBe("Healthy");
    expect(statusFor(collateralRatioBps(sbtcBacker, puts, crash), thresholds)).toBe("MarginCall");
    expect(collateralRatioBps(stxBacker, puts, crash)).toBe(collateralRatioBps(stxBacker, puts, prices));
  });
});

describe("maxWithdrawableByHealth", () => {
  const arbitraryCase = fc.record({
    ustx: fc.bigInt({ min: 0n, max: 10n ** 15n }),
    sats: fc.bigInt({ min: 0n, max: 10n ** 12n }),
    putObligationUsd: fc.bigInt({ min: 0n, max: 10n ** 16n }),
    callProtectedSats: fc.bigInt({ min: 0n, max: 10n ** 10n }),
    btcUsd: fc.bigInt({ min: 1n * USD, max: 500_000n * USD }),
    stxUsd: fc.bigInt({ min: USD / 100n, max: 100n * USD }),
    token: fc.constantFrom("STX" as const, "sBTC" as const),
  });

  it("leaves the provider at or above the withdrawal ratio plus buffer, and one more unit would not", () => {
    fc.assert(
      fc.property(arbitraryCase, (c) => {
        const holdings = { ustx: c.ustx, sats: c.sats };
        const exposure = { putObligationUsd: c.putObligationUsd, callProtectedSats: c.callProtectedSats };
        const p = { btcUsd: c.btcUsd, stxUsd: c.stxUsd };
        const max = maxWithdrawableByHealth(c.token, holdings, exposure, p, thresholds);
        if (exposure.putObligationUsd === 0n && exposure.callProtectedSats === 0n) {
          expect(max).toBeNull();
          return;
        }
        if (max === null) throw new Error("expected a limit");
        const held = c.token === "STX" ? c.ustx : c.sats;
        expect(max >= 0n && max <= held).toBe(true);
        const after = (w: bigint) => (c.token === "STX" ? { ...holdings, ustx: c.ustx - w } : { ...holdings, sats: c.sats - w });
        const floor = thresholds.withdrawalRatioBps + thresholds.withdrawalBufferBps;
        const owed = obligationUsd(exposure, p);
        // At the limit, collateral still covers the floor.
        if (max > 0n) expect(collateralUsd(after(max), p) * 10_000n >= owed * floor).toBe(true);
        // One unit more (when there is one) would break it, unless it is everything held.
        if (max < held) expect(collateralUsd(after(max + 1n), p) * 10_000n < owed * floor + 10_000n * 2n).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
