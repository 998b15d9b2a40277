/**
 * Validators shared by the schema and the function signatures. Amounts are
 * always `v.int64()` base units (micro-STX, satoshis); prices are USD with 8
 * decimals as `v.int64()`; ratios are basis points.
 */
import { v, type Infer } from "convex/values";

export const tokenValidator = v.union(v.literal("STX"), v.literal("sBTC"));
export type Token = Infer<typeof tokenValidator>;
export const TOKENS: readonly Token[] = ["STX", "sBTC"];

export const tierValidator = v.union(v.literal("Conservative"), v.literal("Balanced"), v.literal("Aggressive"));
export type Tier = Infer<typeof tierValidator>;
export const TIERS: readonly Tier[] = ["Conservative", "Balanced", "Aggressive"];

export const healthStatusValidator = v.union(
  v.literal("Healthy"),
  v.literal("Warning"),
  v.literal("MarginCall"),
  // Reserved for the liquidation engine; nothing sets it yet.
  v.literal("Liquidating"),
);
export type HealthStatus = Infer<typeof healthStatusValidator>;

/**
 * The balance changes of the spec's `updateProviderBalance`, plus the two
 * that hold and free an amount promised to a signed withdrawal voucher.
 */
export const balanceChangeTypeValidator = v.union(
  v.literal("deposit"),
  v.literal("withdrawal"),
  v.literal("yield_accrual"),
  v.literal("settlement_debit"),
  v.literal("lock"),
  v.literal("release"),
  v.literal("reserve"),
  v.literal("unreserve"),
  // Undoing an applied change whose block left the canonical chain (reorg).
  v.literal("yield_reversal"),
  v.literal("settlement_reversal"),
);
export type BalanceChangeType = Infer<typeof balanceChangeTypeValidator>;

export const policyTypeValidator = v.union(v.literal("PUT"), v.literal("CALL"));
export const policyStatusValidator = v.union(
  v.literal("Pending"),
  v.literal("Active"),
  v.literal("Exercised"),
  v.literal("Expired"),
  v.literal("Settled"),
  v.literal("Cancelled"),
);

export const reservationStatusValidator = v.union(
  v.literal("active"),
  v.literal("redeemed"),
  v.literal("expired"),
  // The voucher was never handed out (signing failed after the reservation).
  v.literal("cancelled"),
);

export const chainTransactionStatusValidator = v.union(
  v.literal("pending"),
  v.literal("broadcast"),
  v.literal("confirmed"),
  v.literal("failed"),
  v.literal("dropped"),
  v.literal("replaced"),
);

export const oracleAssetValidator = v.union(v.literal("BTC"), v.literal("STX"));

/**
 * A decoded vault event, exactly the tuple the vault printed (DESIGN §2), with
 * its position on chain. `token` is the token the event names, already mapped
 * from `none` / the sBTC principal.
 */
const onChainPosition = {
  txid: v.string(),
  eventIndex: v.number(),
  blockHeight: v.int64(),
  blockHash: v.string(),
};
const totalsAfter = { token: tokenValidator, amount: v.int64(), totalBalance: v.int64(), totalLocked: v.int64() };

export const vaultEventValidator = v.union(
  v.object({ ...onChainPosition, ...totalsAfter, kind: v.literal("funds-deposited"), depositor: v.string() }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("funds-withdrawn"),
    provider: v.string(),
    nonce: v.int64(),
  }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("premium-paid"),
    policyId: v.int64(),
    payer: v.string(),
  }),
  v.object({ ...onChainPosition, ...totalsAfter, kind: v.literal("collateral-locked"), policyIds: v.array(v.int64()) }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("collateral-released"),
    policyIds: v.array(v.int64()),
  }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("settlement-paid"),
    policyId: v.int64(),
    buyer: v.string(),
  }),
);
export type VaultEvent = Infer<typeof vaultEventValidator>;
