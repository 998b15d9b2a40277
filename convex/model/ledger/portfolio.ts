/** Read models for the liquidity API: a provider's portfolio, pool and tier statistics. */
import type { Reader } from "../database";
import { TOKENS, type Tier, type Token } from "../../validators";
import { availableOf } from "../../domain/balances";
import { ratioBps } from "../../domain/money";
import { findProvider } from "./providers";
import { availableCapital, readPoolTotals, readTierTotals, type TierTotals } from "./tierTotals";
import { capacityLimitOf } from "../policies/tierConfigs";
import { exitViewOf } from "../checkpoints/exitView";
import { shutdownOf } from "../sync/governance";
import { findPoolMirror } from "../sync/poolMirror";

/** Most reservations a portfolio lists; older ones are still counted in `reserved`. */
export const PORTFOLIO_RESERVATION_LIMIT = 100;

export async function providerPortfolio(ctx: Reader, principal: string) {
  const provider = await findProvider(ctx, principal);
  if (!provider) return null;
  const balances = [];
  for (const token of TOKENS) {
    const doc = await ctx.db
      .query("providerBalances")
      .withIndex("by_provider_and_token", (q) => q.eq("provider", principal).eq("token", token))
      .unique();
    const balance = doc ?? { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n };
    balances.push({
      token,
      total: balance.total,
      locked: balance.locked,
      reserved: balance.reserved,
      available: availableOf(balance),
      accruedYield: balance.accruedYield,
    });
  }
  const reservations = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_status_and_nonce", (q) => q.eq("provider", principal).eq("status", "active"))
    .take(PORTFOLIO_RESERVATION_LIMIT);
  return {
    principal,
    tier: provider.tier,
    healthStatus: provider.healthStatus,
    collateralizationRatioBps: provider.collateralizationRatioBps ?? null,
    lastHealthCheckAt: provider.lastHealthCheckAt ?? null,
    balances,
    pendingWithdrawals: reservations.map((r) => ({
      token: r.token,
      amount: r.amount,
      nonce: r.nonce,
      expiresAtBlock: r.expiresAtBlock,
    })),
    exit: await exitOf(ctx, principal),
  };
}

/**
 * After a shutdown, what the provider can claim (README "Checkpoints"): per
 * token what the exit formula owes, what `claim-exit` pays now, and what was
 * paid once claimed. Null while the vault runs.
 */
async function exitOf(ctx: Reader, principal: string) {
  const shutDown = await shutdownOf(ctx);
  if (!shutDown) return null;
  const view = await exitViewOf(ctx, principal);
  return { shutDownAtBlock: shutDown.blockHeight, claims: view.claims };
}

export function utilizationBps(totals: TierTotals): bigint {
  return totals.capital === 0n ? 0n : ratioBps(totals.locked, totals.capital);
}

export async function tierStats(ctx: Reader, tier: Tier, token: Token) {
  const totals = await readTierTotals(ctx, tier, token);
  const config = await ctx.db
    .query("tierConfigs")
    .withIndex("by_tier", (q) => q.eq("tier", tier))
    .unique();
  return {
    tier,
    token,
    totalCapital: totals.capital,
    totalLocked: totals.locked,
    totalReserved: totals.reserved,
    totalAvailable: availableCapital(totals),
    totalYieldAccrued: totals.accruedYield,
    utilizationBps: utilizationBps(totals),
    providerCount: totals.providerCount,
    activePolicyCount: totals.activePolicyCount,
    capacityLimit: (config && capacityLimitOf(config, token)) ?? null,
  };
}

export async function poolStats(ctx: Reader) {
  const stats = [];
  for (const token of TOKENS) {
    const { capital, locked, reserved, accruedYield, providerCount } = await readPoolTotals(ctx, token);
    const mirror = await findPoolMirror(ctx, token);
    stats.push({
      token,
      totalBalanceOnChain: mirror?.totalBalanceOnChain ?? 0n,
      totalLockedOnChain: mirror?.totalLockedOnChain ?? 0n,
      lastSyncedAt: mirror?.lastSyncedAt ?? null,
      totalCapital: capital,
      totalLocked: locked,
      totalReserved: reserved,
      totalAvailable: capital - locked - reserved,
      totalYieldAccrued: accruedYield,
      providerCount,
    });
  }
  return stats;
}
