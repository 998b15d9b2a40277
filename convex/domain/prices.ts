/**
 * Aggregating oracle answers into one price (README "Prices and collateral health"): the median
 * of the fresh answers, refused when too few are fresh or when they disagree
 * by more than the allowed spread. Prices are USD with 8 decimals (bigint).
 */
import { BPS_DENOMINATOR, mulDivUp } from "./money";

export const PRICE_DECIMALS = 8;

/** The largest price a `v.int64()` holds: 92,233,720,368.54775807 USD. */
export const MAX_PRICE_USD = 2n ** 63n - 1n;

export type PriceAnswer = { source: string; priceUsd: bigint; observedAt: number };

export type PriceRules = {
  /** Oldest answer (ms) that still counts. */
  maxAgeMs: number;
  /** Fewest fresh answers for a price. */
  minSources: number;
  /** Largest (max - min) / median, in basis points, between fresh answers. */
  maxSpreadBps: bigint;
};

export type AggregatedPrice =
  | { available: true; priceUsd: bigint; sources: string[]; spreadBps: bigint }
  | { available: false; reason: string };

/**
 * A decimal string ("67012.5", "0.00000001", "1e-7") as USD with 8 decimals,
 * exactly, rounding digits beyond the 8th down. Never goes through a float.
 * Refuses (RangeError) what is not a non-negative decimal or exceeds MAX_PRICE_USD.
 */
export function parseUsdDecimal(text: string): bigint {
  const match = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match) throw new RangeError(`not a non-negative decimal: ${text}`);
  const [, whole = "0", fraction = "", exponentText = "0"] = match;
  const exponent = Number(exponentText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 64) throw new RangeError(`exponent out of range: ${text}`);
  const digits = BigInt(`${whole}${fraction}`);
  // value = digits × 10^(exponent − fraction.length); we want value × 10^8.
  const shift = exponent - fraction.length + PRICE_DECIMALS;
  const price = shift >= 0 ? digits * 10n ** BigInt(shift) : digits / 10n ** BigInt(-shift);
  // Prices are stored as v.int64(): a larger one would fail the whole write, not just this answer.
  if (price > MAX_PRICE_USD) throw new RangeError(`price beyond int64 at 8 decimals: ${text}`);
  return price;
}

/** The median; for an even count, the lower of the two middle answers (no rounding of money). */
export function medianOf(values: readonly bigint[]): bigint {
  if (values.length === 0) throw new RangeError("median of nothing");
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export function aggregatePrice(answers: readonly PriceAnswer[], rules: PriceRules, now: number): AggregatedPrice {
  const fresh = answers.filter((a) => a.priceUsd > 0n && now - a.observedAt <= rules.maxAgeMs && a.observedAt <= now + 60_000);
  if (fresh.length < rules.minSources) {
    return { available: false, reason: `${fresh.length} fresh answers, ${rules.minSources} needed` };
  }
  const prices = fresh.map((a) => a.priceUsd);
  const median = medianOf(prices);
  const max = prices.reduce((m, p) => (p > m ? p : m));
  const min = prices.reduce((m, p) => (p < m ? p : m));
  // Rounded up: disagreement is never understated.
  const spreadBps = mulDivUp(max - min, BPS_DENOMINATOR, median);
  if (spreadBps > rules.maxSpreadBps) {
    return { available: false, reason: `sources disagree by ${spreadBps} bps (max ${rules.maxSpreadBps})` };
  }
  return { available: true, priceUsd: median, sources: fresh.map((a) => a.source), spreadBps };
}
