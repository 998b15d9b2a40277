/** Provider records: one per Stacks principal, with the tier they chose. */
import type { Doc } from "../../_generated/dataModel";
import type { Writer, Reader } from "../database";
import type { Tier } from "../../validators";
import { poolError } from "../../domain/errors";
import { addToTierTotals } from "./tierTotals";

/**
 * The tier given to a provider whose first deposit reaches the vault without a
 * commitment through the backend (someone calling the contract directly): the
 * money is theirs either way, and the safest tier is the fair default.
 */
export const DEFAULT_TIER: Tier = "Conservative";

export async function findProvider(ctx: Reader, principal: string): Promise<Doc<"providers"> | null> {
  return await ctx.db
    .query("providers")
    .withIndex("by_principal", (q) => q.eq("principal", principal))
    .unique();
}

export async function requireProvider(ctx: Reader, principal: string): Promise<Doc<"providers">> {
  const provider = await findProvider(ctx, principal);
  if (!provider) throw poolError("UNKNOWN_PROVIDER", `no provider ${principal}`);
  return provider;
}

/** A provider has at most one balance per token, so this reads at most two documents. */
async function balancesOf(ctx: Reader, principal: string) {
  return await ctx.db
    .query("providerBalances")
    .withIndex("by_provider_and_token", (q) => q.eq("provider", principal))
    .take(2);
}

/** Whether the provider has anything in the pool: capital, locked collateral or a pending withdrawal. */
export async function holdsCapital(ctx: Reader, principal: string): Promise<boolean> {
  return (await balancesOf(ctx, principal)).some((b) => b.total > 0n || b.locked > 0n || b.reserved > 0n);
}

/** Refuses a tier other than the provider's while they hold capital in theirs (TIER_MISMATCH). */
export async function assertMayJoinTier(ctx: Reader, provider: Doc<"providers"> | null, tier: Tier): Promise<void> {
  if (provider && provider.tier !== tier && (await holdsCapital(ctx, provider.principal))) {
    throw poolError(
      "TIER_MISMATCH",
      `provider ${provider.principal} is in tier ${provider.tier}; withdraw everything before changing tier`,
    );
  }
}

/** Adds (or, negative, removes) a backing's share of obligations to the provider's exposure. */
export async function addExposure(
  ctx: Writer,
  principal: string,
  delta: { putObligationUsd: bigint; callProtectedSats: bigint; activeBackings: bigint },
): Promise<void> {
  const provider = await requireProvider(ctx, principal);
  const activeBackings = provider.activeBackings + delta.activeBackings;
  await ctx.db.patch("providers", provider._id, {
    putObligationUsd: provider.putObligationUsd + delta.putObligationUsd,
    callProtectedSats: provider.callProtectedSats + delta.callProtectedSats,
    activeBackings,
    // Nothing backed, nothing owed: the health sweep no longer visits them, so reset here.
    ...(activeBackings === 0n ? { healthStatus: "Healthy" as const, collateralizationRatioBps: undefined } : {}),
  });
  if (activeBackings === 0n) {
    const open = await ctx.db
      .query("healthNotifications")
      .withIndex("by_provider_and_cleared", (q) => q.eq("provider", principal).eq("cleared", false))
      .take(50);
    for (const notice of open) await ctx.db.patch("healthNotifications", notice._id, { cleared: true });
  }
}

/**
 * The provider, created in `tier` if new. A provider's tier is fixed while
 * they hold capital in it (moving capital between tiers would move the
 * policies it backs); once everything is withdrawn, they may choose again.
 */
export async function ensureProvider(ctx: Writer, principal: string, tier: Tier): Promise<Doc<"providers">> {
  const existing = await findProvider(ctx, principal);
  if (!existing) {
    const id = await ctx.db.insert("providers", {
      principal,
      tier,
      healthStatus: "Healthy",
      putObligationUsd: 0n,
      callProtectedSats: 0n,
      activeBackings: 0n,
      createdAt: Date.now(),
    });
    const created = await ctx.db.get("providers", id);
    if (!created) throw new Error("provider vanished after insert");
    return created;
  }
  if (existing.tier !== tier) {
    await assertMayJoinTier(ctx, existing, tier);
    const balances = await balancesOf(ctx, principal);
    // Empty balances move with the provider, carrying their lifetime yield
    // figure so that each tier's sums stay the sums of its balances.
    for (const balance of balances) {
      await ctx.db.patch("providerBalances", balance._id, { tier });
      if (balance.accruedYield > 0n) {
        const yieldOnly = (accruedYield: bigint) => ({ total: 0n, locked: 0n, reserved: 0n, accruedYield });
        const key = { token: balance.token, shard: balance.shard };
        await addToTierTotals(ctx, { ...key, tier: balance.tier }, yieldOnly(-balance.accruedYield), 0n);
        await addToTierTotals(ctx, { ...key, tier }, yieldOnly(balance.accruedYield), 0n);
      }
    }
    await ctx.db.patch("providers", existing._id, { tier });
    return { ...existing, tier };
  }
  return existing;
}
