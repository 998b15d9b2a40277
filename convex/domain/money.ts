/**
 * Exact integer money arithmetic (docs/architecture.md, "Money and rounding"). Amounts are bigint base units,
 * ratios are basis points. What a provider may take rounds down; what they
 * owe rounds up; splits use the largest-remainder rule so parts sum exactly.
 */

import type { Token } from "./vocabulary";

export const BPS_DENOMINATOR = 10_000n;

/** Each token's base unit, as messages name it: amounts are never shown as whole tokens. */
export const BASE_UNIT: Record<Token, string> = { STX: "µSTX", sBTC: "sats" };

/** An amount in a message: `1500 µSTX`, `2000 sats`. */
export function inBaseUnits(amount: bigint, token: Token): string {
  return `${amount} ${BASE_UNIT[token]}`;
}

export function assertPositive(amount: bigint, what = "amount"): void {
  if (amount <= 0n) throw new RangeError(`${what} must be positive, got ${amount}`);
}

/** floor(a * b / d) for non-negative operands. */
export function mulDivDown(a: bigint, b: bigint, d: bigint): bigint {
  if (a < 0n || b < 0n || d <= 0n) throw new RangeError("mulDivDown takes non-negative operands and a positive divisor");
  return (a * b) / d;
}

/** ceil(a * b / d) for non-negative operands. */
export function mulDivUp(a: bigint, b: bigint, d: bigint): bigint {
  if (a < 0n || b < 0n || d <= 0n) throw new RangeError("mulDivUp takes non-negative operands and a positive divisor");
  const product = a * b;
  return product === 0n ? 0n : (product - 1n) / d + 1n;
}

/** The part of `amount` that `bps` basis points represent, rounded down. */
export function bpsOf(amount: bigint, bps: bigint): bigint {
  return mulDivDown(amount, bps, BPS_DENOMINATOR);
}

/** `numerator / denominator` in basis points, rounded down. */
export function ratioBps(numerator: bigint, denominator: bigint): bigint {
  return mulDivDown(numerator, BPS_DENOMINATOR, denominator);
}

/**
 * Splits `total` into parts proportional to `weights` that sum exactly to
 * `total` (largest remainder; ties go to the earlier weight, so the result is
 * deterministic). Zero weights get zero.
 */
export function splitProportionally(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n) throw new RangeError("cannot split a negative total");
  if (weights.some((w) => w < 0n)) throw new RangeError("weights must be non-negative");
  const weightSum = weights.reduce((sum, w) => sum + w, 0n);
  if (weightSum === 0n) {
    if (total === 0n) return weights.map(() => 0n);
    throw new RangeError("cannot split a positive total over zero weights");
  }
  const parts = weights.map((w) => (total * w) / weightSum);
  const remainders = weights.map((w, index) => ({ index, remainder: (total * w) % weightSum }));
  let leftover = total - parts.reduce((sum, p) => sum + p, 0n);
  remainders.sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  for (const { index } of remainders) {
    if (leftover === 0n) break;
    parts[index] = (parts[index] ?? 0n) + 1n;
    leftover -= 1n;
  }
  return parts;
}
