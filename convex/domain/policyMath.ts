/**
 * Policy arithmetic: which tier a policy belongs to and how much collateral
 * it needs. Prices are USD with 8 decimals; amounts are base units. Collateral
 * a provider must put up rounds up (docs/architecture.md, "Money and rounding": what they owe rounds up).
 */
import type { PolicyType, Tier, Token } from "./vocabulary";
import { BPS_DENOMINATOR, mulDivUp } from "./money";

export const PRICE_SCALE = 100_000_000n; // 8 decimals
export const SATS_PER_BTC = 100_000_000n;
export const USTX_PER_STX = 1_000_000n;

export type { PolicyType };

export type Prices = { btcUsd: bigint; stxUsd: bigint };

/**
 * How far the strike is out of the money, in basis points of spot: positive
 * when the policy pays nothing at today's price, negative when it is in the
 * money. A PUT is out of the money above its strike, a CALL below it.
 */
export function strikeDistanceBps(policyType: PolicyType, strikeUsd: bigint, spotUsd: bigint): bigint {
  if (spotUsd <= 0n) throw new RangeError("spot price must be positive");
  const gap = policyType === "PUT" ? spotUsd - strikeUsd : strikeUsd - spotUsd;
  // Truncation toward zero keeps the boundary exact for both signs.
  return (gap * BPS_DENOMINATOR) / spotUsd;
}

/**
 * The safest tier whose minimum strike distance the policy meets. Tiers are
 * checked from the largest minimum down; the riskiest tier (the smallest
 * minimum) also takes everything below it, in the money included.
 */
export function tierForStrike(
  tiers: readonly { tier: Tier; minStrikeDistanceBps: bigint }[],
  policyType: PolicyType,
  strikeUsd: bigint,
  spotUsd: bigint,
): Tier {
  if (tiers.length === 0) throw new RangeError("no tiers configured");
  const distance = strikeDistanceBps(policyType, strikeUsd, spotUsd);
  const bySafety = [...tiers].sort((a, b) => (a.minStrikeDistanceBps > b.minStrikeDistanceBps ? -1 : 1));
  const riskiest = bySafety[bySafety.length - 1];
  return (bySafety.find((t) => distance >= t.minStrikeDistanceBps) ?? riskiest)!.tier;
}

/** A USD amount (8 decimals) in base units of `token`, rounded up. */
export function usdToToken(usd: bigint, token: Token, prices: Prices): bigint {
  if (prices.btcUsd <= 0n || prices.stxUsd <= 0n) throw new RangeError("prices must be positive");
  return token === "sBTC" ? mulDivUp(usd, SATS_PER_BTC, prices.btcUsd) : mulDivUp(usd, USTX_PER_STX, prices.stxUsd);
}

/** USD value (8 decimals) of `sats` at `priceUsd` per BTC, rounded up. */
export function satsToUsd(sats: bigint, priceUsd: bigint): bigint {
  return mulDivUp(sats, priceUsd, SATS_PER_BTC);
}

/**
 * Collateral that covers the policy's largest payout:
 * - a PUT pays at most strike × amount (BTC at zero): that, in the token;
 * - a CALL's payout grows with BTC without bound, so it is covered: the
 *   protected BTC itself (1:1 in sBTC, its current value in STX, which the
 *   health checks revalue as prices move).
 */
export function requiredCollateral(
  policy: { policyType: PolicyType; protectedAmountSats: bigint; strikePriceUsd: bigint },
  token: Token,
  prices: Prices,
): bigint {
  if (policy.protectedAmountSats <= 0n) throw new RangeError("protected amount must be positive");
  if (policy.strikePriceUsd <= 0n) throw new RangeError("strike price must be positive");
  if (policy.policyType === "PUT") {
    return usdToToken(satsToUsd(policy.protectedAmountSats, policy.strikePriceUsd), token, prices);
  }
  if (token === "sBTC") return policy.protectedAmountSats;
  return usdToToken(satsToUsd(policy.protectedAmountSats, prices.btcUsd), token, prices);
}
