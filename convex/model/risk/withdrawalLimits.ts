/**
 * What a provider may withdraw: at most their available balance (total −
 * locked − reserved), at most what the voucher rule leaves them (their exit
 * formula less their active vouchers: model/checkpoints/exitView.ts, README
 * "Checkpoints") and, when they back active policies, at most what keeps
 * them at or above their tier's withdrawal ratio plus its buffer at current
 * oracle prices (domain/health.ts). Without a fresh price, a provider with
 * active backing cannot withdraw at all: a stale price must never let
 * collateral out.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader } from "../database";
import type { Token } from "../../validators";
import { availableOf, ZERO_BALANCE, type Balance } from "../../domain/balances";
import { poolError } from "../../domain/errors";
import { hasExposure, maxWithdrawableByHealth } from "../../domain/health";
import { inBaseUnits } from "../../domain/money";
import { currentPrices, type PriceFreshness } from "./priceReadings";
import { getTierConfig } from "../policies/tierConfigs";
import { exitVoucherRoom } from "../checkpoints/exitView";

export type WithdrawalLimit = { maxWithdrawable: bigint; reason: "available-balance" | "exit-formula" | "collateral-health" };

async function balanceIn(ctx: Reader, provider: string, token: Token): Promise<Balance> {
  const doc = await ctx.db
    .query("providerBalances")
    .withIndex("by_provider_and_token", (q) => q.eq("provider", provider).eq("token", token))
    .unique();
  return doc ?? { ...ZERO_BALANCE };
}

export async function withdrawalLimit(
  ctx: Reader,
  provider: Doc<"providers">,
  token: Token,
  freshness: PriceFreshness,
): Promise<WithdrawalLimit> {
  const stx = await balanceIn(ctx, provider.principal, "STX");
  const sbtc = await balanceIn(ctx, provider.principal, "sBTC");
  const balance = token === "STX" ? stx : sbtc;
  const available = availableOf(balance);
  // The voucher rule: never below zero on the exit formula, whatever the books credit.
  const exitRoom = await exitVoucherRoom(ctx, provider.principal, token, balance.reserved);
  const byBalance: WithdrawalLimit =
    exitRoom < available
      ? { maxWithdrawable: exitRoom > 0n ? exitRoom : 0n, reason: "exit-formula" }
      : { maxWithdrawable: available, reason: "available-balance" };
  if (!hasExposure(provider)) return byBalance;

  const prices = await currentPrices(ctx, freshness);
  if (!prices.available) {
    throw poolError("PRICE_UNAVAILABLE", `withdrawals are paused for providers backing policies: ${prices.reason}`);
  }
  const config = await getTierConfig(ctx, provider.tier);
  // Money already promised to a voucher is no longer collateral.
  const holdings = { ustx: stx.total - stx.reserved, sats: sbtc.total - sbtc.reserved };
  const byHealth = maxWithdrawableByHealth(token, holdings, provider, { btcUsd: prices.btcUsd, stxUsd: prices.stxUsd }, config);
  if (byHealth === null || byHealth >= byBalance.maxWithdrawable) return byBalance;
  return { maxWithdrawable: byHealth, reason: "collateral-health" };
}

/** Refuses, saying how much could be withdrawn and why, when `amount` is over the limit. */
export async function assertWithdrawalAllowed(
  ctx: Reader,
  provider: Doc<"providers">,
  token: Token,
  amount: bigint,
  freshness: PriceFreshness,
): Promise<void> {
  const limit = await withdrawalLimit(ctx, provider, token, freshness);
  if (amount > limit.maxWithdrawable) {
    const why =
      limit.reason === "collateral-health"
        ? " while keeping the tier's withdrawal ratio"
        : limit.reason === "exit-formula"
          ? " under the exit formula (the last checkpoint's leaf + deposits since − withdrawals since − active vouchers): " +
            "yield credited after the last checkpoint becomes withdrawable once the next checkpoint includes it"
          : "";
    throw poolError(
      "INSUFFICIENT_AVAILABLE_BALANCE",
      `cannot withdraw ${inBaseUnits(amount, token)}: at most ${inBaseUnits(limit.maxWithdrawable, token)} can be withdrawn now${why}`,
    );
  }
}
