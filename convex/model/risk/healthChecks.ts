/**
 * Checking one provider's health and recording what changed, for the health
 * sweep (convex/health.ts; README "Prices and collateral health"). Writes
 * happen only when the status changes or the ratio moves by at least
 * RATIO_REWRITE_BPS, so a sweep over a calm market writes almost nothing.
 */
import type { Doc, Id } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import type { HealthStatus } from "../../validators";
import { ZERO_BALANCE } from "../../domain/balances";
import { collateralRatioBps, shortfall, statusFor } from "../../domain/health";
import type { Prices } from "../../domain/policyMath";
import { getTierConfig } from "../policies/tierConfigs";

/** A ratio change smaller than this (1%) alone is not worth a write. */
export const RATIO_REWRITE_BPS = 100n;

const RANK: Record<HealthStatus, number> = { Healthy: 0, Warning: 1, MarginCall: 2, Liquidating: 3 };

export type HealthCheck = {
  status: HealthStatus;
  ratioBps: bigint | null;
  changed: boolean;
  notification: Id<"healthNotifications"> | null;
};

async function holdingsOf(ctx: Reader, principal: string) {
  const balance = async (token: "STX" | "sBTC") =>
    (await ctx.db
      .query("providerBalances")
      .withIndex("by_provider_and_token", (q) => q.eq("provider", principal).eq("token", token))
      .unique()) ?? ZERO_BALANCE;
  const stx = await balance("STX");
  const sbtc = await balance("sBTC");
  return { ustx: stx.total - stx.reserved, sats: sbtc.total - sbtc.reserved };
}

export type HealthReading = {
  status: HealthStatus;
  ratioBps: bigint | null;
  shortfall: { ustx: bigint; sats: bigint };
  checkedAt: number;
};

/** Whether a reading differs enough from what the provider's document holds to be written. */
export function healthChanged(provider: Doc<"providers">, next: Pick<HealthReading, "status" | "ratioBps">): boolean {
  const stored = provider.collateralizationRatioBps ?? null;
  const ratioMoved =
    (stored === null) !== (next.ratioBps === null) ||
    (stored !== null && next.ratioBps !== null && (stored > next.ratioBps ? stored - next.ratioBps : next.ratioBps - stored) >= RATIO_REWRITE_BPS);
  return provider.healthStatus !== next.status || ratioMoved;
}

/**
 * Records a status (and ratio) for the provider. A worsening status creates a
 * notification with the shortfall; a better one clears the open ones.
 */
export async function recordHealth(
  ctx: Writer,
  provider: Doc<"providers">,
  next: HealthReading,
  webhookConfigured: boolean,
): Promise<HealthCheck> {
  const previous = provider.healthStatus;
  if (!healthChanged(provider, next)) {
    return { status: previous, ratioBps: provider.collateralizationRatioBps ?? null, changed: false, notification: null };
  }

  await ctx.db.patch("providers", provider._id, {
    healthStatus: next.status,
    collateralizationRatioBps: next.ratioBps ?? undefined,
    lastHealthCheckAt: next.checkedAt,
  });
  let notification: Id<"healthNotifications"> | null = null;
  if (RANK[next.status] > RANK[previous]) {
    notification = await ctx.db.insert("healthNotifications", {
      provider: provider.principal,
      status: next.status,
      previousStatus: previous,
      collateralizationRatioBps: next.ratioBps ?? undefined,
      shortfallUstx: next.shortfall.ustx,
      shortfallSats: next.shortfall.sats,
      cleared: false,
      webhook: webhookConfigured ? "pending" : "not-configured",
      createdAt: next.checkedAt,
    });
  } else if (RANK[next.status] < RANK[previous]) {
    const open = await ctx.db
      .query("healthNotifications")
      .withIndex("by_provider_and_cleared", (q) => q.eq("provider", provider.principal).eq("cleared", false))
      .take(20);
    for (const n of open) {
      if (RANK[n.status] > RANK[next.status]) await ctx.db.patch("healthNotifications", n._id, { cleared: true });
    }
  }
  return { status: next.status, ratioBps: next.ratioBps, changed: true, notification };
}

/** One provider's health at `prices`, from their documents; writes nothing. */
export async function readProviderHealth(
  ctx: Reader,
  provider: Doc<"providers">,
  prices: Prices,
  checkedAt: number,
): Promise<HealthReading> {
  const config = await getTierConfig(ctx, provider.tier);
  const holdings = await holdingsOf(ctx, provider.principal);
  const ratioBps = collateralRatioBps(holdings, provider, prices);
  const status = statusFor(ratioBps, config);
  return { status, ratioBps, shortfall: shortfall(holdings, provider, prices, config), checkedAt };
}

/** Recomputes one provider's health at `prices` and records it. */
export async function checkProviderHealth(
  ctx: Writer,
  provider: Doc<"providers">,
  prices: Prices,
  checkedAt: number,
  webhookConfigured: boolean,
): Promise<HealthCheck> {
  return await recordHealth(ctx, provider, await readProviderHealth(ctx, provider, prices, checkedAt), webhookConfigured);
}
