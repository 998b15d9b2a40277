/**
 * The pool's closed sets of names: tokens, tiers, statuses and change types.
 * The domain works with these plain unions; `convex/validators.ts` derives the
 * Convex validators from the same lists, so the two can never disagree.
 */

export const TOKENS = ["STX", "sBTC"] as const;
export type Token = (typeof TOKENS)[number];

export const TIERS = ["Conservative", "Balanced", "Aggressive"] as const;
export type Tier = (typeof TIERS)[number];

export const HEALTH_STATUSES = [
  "Healthy",
  "Warning",
  "MarginCall",
  // Reserved for the liquidation engine; nothing sets it yet.
  "Liquidating",
] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/**
 * Every balance change `internal.liquidity.updateProviderBalance` applies
 * (README "Liquidity API"): money in and out, yield, settlement debits, locks
 * and releases, the two that hold and free an amount promised to a signed
 * withdrawal voucher, and the reversals of a reorged change.
 */
export const BALANCE_CHANGE_TYPES = [
  "deposit",
  "withdrawal",
  "yield_accrual",
  "settlement_debit",
  "lock",
  "release",
  "reserve",
  "unreserve",
  // Undoing an applied change whose block left the canonical chain (reorg).
  "yield_reversal",
  "settlement_reversal",
] as const;
export type BalanceChangeType = (typeof BALANCE_CHANGE_TYPES)[number];

export const POLICY_TYPES = ["PUT", "CALL"] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

export const POLICY_STATUSES = ["Pending", "Active", "Exercised", "Expired", "Settled", "Cancelled"] as const;
export type PolicyStatus = (typeof POLICY_STATUSES)[number];

export const RESERVATION_STATUSES = [
  "active",
  "redeemed",
  "expired",
  // The voucher was never handed out (signing failed after the reservation).
  "cancelled",
  // A later voucher of the same provider was redeemed: the vault refuses any
  // nonce at or below the provider's last redeemed one, so this one never can be.
  "superseded",
] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export const ORACLE_ASSETS = ["BTC", "STX"] as const;
export type OracleAsset = (typeof ORACLE_ASSETS)[number];

export const NETWORK_NAMES = ["mainnet", "testnet", "devnet"] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];
