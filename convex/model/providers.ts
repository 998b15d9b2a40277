/** Provider records: one per Stacks principal, with the tier they chose. */
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx, QueryCtx } from "../_generated/server";
import type { Tier } from "../validators";
import { poolError } from "./errors";

/**
 * The tier given to a provider whose first deposit reaches the vault without a
 * commitment through the backend (someone calling the contract directly): the
 * money is theirs either way, and the safest tier is the fair default.
 */
export const DEFAULT_TIER: Tier = "Conservative";

export async function findProvider(ctx: QueryCtx, principal: string): Promise<Doc<"providers"> | null> {
  return await ctx.db
    .query("providers")
    .withIndex("by_principal", (q) => q.eq("principal", principal))
    .unique();
}

export async function requireProvider(ctx: QueryCtx, principal: string): Promise<Doc<"providers">> {
  const provider = await findProvider(ctx, principal);
  if (!provider) throw poolError("UNKNOWN_PROVIDER", `no provider ${principal}`);
  return provider;
}

async function hasBalances(ctx: QueryCtx, principal: string): Promise<boolean> {
  const first = await ctx.db
    .query("providerBalances")
    .withIndex("by_provider_and_token", (q) => q.eq("provider", principal))
    .first();
  return first !== null;
}

/**
 * The provider, created in `tier` if new. A provider's tier is fixed once they
 * hold capital in it: moving capital between tiers would move the policies it
 * backs, so it needs a full withdrawal first.
 */
export async function ensureProvider(ctx: MutationCtx, principal: string, tier: Tier): Promise<Doc<"providers">> {
  const existing = await findProvider(ctx, principal);
  if (!existing) {
    const id = await ctx.db.insert("providers", {
      principal,
      tier,
      healthStatus: "Healthy",
      createdAt: Date.now(),
    });
    const created = await ctx.db.get("providers", id);
    if (!created) throw new Error("provider vanished after insert");
    return created;
  }
  if (existing.tier !== tier) {
    if (await hasBalances(ctx, principal)) {
      throw poolError(
        "TIER_MISMATCH",
        `provider ${principal} is in tier ${existing.tier}; withdraw everything before changing tier`,
      );
    }
    await ctx.db.patch("providers", existing._id, { tier });
    return { ...existing, tier };
  }
  return existing;
}
