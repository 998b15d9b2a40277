/**
 * Collateral health (README "Prices and collateral health"), framework-free.
 *
 * A provider's obligation is their share of the policies they back, valued at
 * current prices: a PUT obliges strike × amount in USD whatever BTC does; a
 * CALL obliges the protected BTC, so its USD value moves with BTC. Their
 * collateral is everything they hold in the pool (both tokens) at current
 * prices. ratio = collateral / obligation, in basis points, rounded down, and
 * the tier's thresholds turn it into Healthy / Warning / MarginCall. A PUT
 * backed in sBTC therefore needs more sBTC as BTC falls, and an STX-only
 * provider backing PUTs is untouched by a BTC move.
 */
import type { HealthStatus } from "./vocabulary";
import { BPS_DENOMINATOR, mulDivDown, mulDivUp } from "./money";
import { SATS_PER_BTC, USTX_PER_STX, type Prices } from "./policyMath";

export type Exposure = {
  /** Σ of the provider's parts of their PUTs' strike × amount, USD with 8 decimals. */
  putObligationUsd: bigint;
  /** Σ of the provider's parts of their CALLs' protected amounts, sats. */
  callProtectedSats: bigint;
};

export type Holdings = { ustx: bigint; sats: bigint };

export type HealthThresholds = {
  healthyRatioBps: bigint;
  marginCallRatioBps: bigint;
  withdrawalRatioBps: bigint;
  withdrawalBufferBps: bigint;
};

export function hasExposure(exposure: Exposure): boolean {
  return exposure.putObligationUsd > 0n || exposure.callProtectedSats > 0n;
}

/** What the provider owes if every policy they back pays out in full, USD, rounded up. */
export function obligationUsd(exposure: Exposure, prices: Prices): bigint {
  return exposure.putObligationUsd + mulDivUp(exposure.callProtectedSats, prices.btcUsd, SATS_PER_BTC);
}

/** What the provider holds, USD, rounded down. */
export function collateralUsd(holdings: Holdings, prices: Prices): bigint {
  return mulDivDown(holdings.ustx, prices.stxUsd, USTX_PER_STX) + mulDivDown(holdings.sats, prices.btcUsd, SATS_PER_BTC);
}

/** collateral / obligation in basis points (rounded down); null when nothing is owed. */
export function collateralRatioBps(holdings: Holdings, exposure: Exposure, prices: Prices): bigint | null {
  const owed = obligationUsd(exposure, prices);
  if (owed === 0n) return null;
  return mulDivDown(collateralUsd(holdings, prices), BPS_DENOMINATOR, owed);
}

export function statusFor(ratioBps: bigint | null, thresholds: HealthThresholds): HealthStatus {
  if (ratioBps === null || ratioBps >= thresholds.healthyRatioBps) return "Healthy";
  if (ratioBps >= thresholds.marginCallRatioBps) return "Warning";
  return "MarginCall";
}

/** How much more of each token (alone) would bring the provider back to Healthy: rounded up. */
export function shortfall(holdings: Holdings, exposure: Exposure, prices: Prices, thresholds: HealthThresholds): Holdings {
  const needed = mulDivUp(obligationUsd(exposure, prices), thresholds.healthyRatioBps, BPS_DENOMINATOR);
  const have = collateralUsd(holdings, prices);
  if (have >= needed) return { ustx: 0n, sats: 0n };
  const missing = needed - have;
  return { ustx: mulDivUp(missing, USTX_PER_STX, prices.stxUsd), sats: mulDivUp(missing, SATS_PER_BTC, prices.btcUsd) };
}

/**
 * The most of `token` the provider may withdraw and stay at or above the
 * tier's withdrawal ratio plus its buffer: rounded down. Unlimited (by
 * health) when nothing is owed; the available balance still applies.
 */
export function maxWithdrawableByHealth(
  token: "STX" | "sBTC",
  holdings: Holdings,
  exposure: Exposure,
  prices: Prices,
  thresholds: HealthThresholds,
): bigint | null {
  if (!hasExposure(exposure)) return null;
  const floorUsd = mulDivUp(
    obligationUsd(exposure, prices),
    thresholds.withdrawalRatioBps + thresholds.withdrawalBufferBps,
    BPS_DENOMINATOR,
  );
  const have = collateralUsd(holdings, prices);
  if (have <= floorUsd) return 0n;
  const spareUsd = have - floorUsd;
  const held = token === "STX" ? holdings.ustx : holdings.sats;
  // The spare value in the token, rounded down, and never more than is held.
  const inToken =
    token === "STX" ? mulDivDown(spareUsd, USTX_PER_STX, prices.stxUsd) : mulDivDown(spareUsd, SATS_PER_BTC, prices.btcUsd);
  return inToken < held ? inToken : held;
}
