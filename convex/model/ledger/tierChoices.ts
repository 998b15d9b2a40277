/**
 * A provider's choice of tier, made when they ask to commit capital and
 * acted on when their deposit is synced. Asking to commit creates no
 * provider: until money reaches the vault the only trace is this one row per
 * address (replaced by a later choice, deleted once a deposit syncs, and
 * pruned after RETENTION_TIER_CHOICES_DAYS by the retention job).
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import type { Tier } from "../../validators";
import { DEFAULT_TIER, ensureProvider, findProvider, holdsCapital } from "./providers";
import type { PrunePage, PruneResult } from "../retention";

async function findTierChoice(ctx: Reader, provider: string): Promise<Doc<"tierChoices"> | null> {
  return await ctx.db
    .query("tierChoices")
    .withIndex("by_provider", (q) => q.eq("provider", provider))
    .unique();
}

/**
 * Remembers the tier the provider's next deposit joins. Writes nothing when
 * they already are in it with no other choice pending, so a provider adding
 * to their position leaves no trace.
 */
export async function recordTierChoice(ctx: Writer, provider: string, tier: Tier, now: number): Promise<void> {
  const [existing, current] = await Promise.all([findTierChoice(ctx, provider), findProvider(ctx, provider)]);
  if (current?.tier === tier) {
    if (existing) await ctx.db.delete("tierChoices", existing._id);
    return;
  }
  if (existing) await ctx.db.patch("tierChoices", existing._id, { tier, chosenAt: now });
  else await ctx.db.insert("tierChoices", { provider, tier, chosenAt: now });
}

/**
 * Places a depositor before their deposit is credited: a new provider joins
 * the tier they chose (or the default tier, for a deposit made straight to the
 * contract); an existing one moves to a newly chosen tier only while they hold
 * nothing in theirs (the choice was checked then, but money may have arrived
 * since), and otherwise stays. The choice is used up either way.
 */
export async function joinChosenTier(ctx: Writer, depositor: string): Promise<void> {
  const [choice, provider] = await Promise.all([findTierChoice(ctx, depositor), findProvider(ctx, depositor)]);
  if (choice) await ctx.db.delete("tierChoices", choice._id);
  if (!provider) {
    await ensureProvider(ctx, depositor, choice?.tier ?? DEFAULT_TIER);
  } else if (choice && choice.tier !== provider.tier && !(await holdsCapital(ctx, depositor))) {
    await ensureProvider(ctx, depositor, choice.tier);
  }
}

/** Choices made before `before` that no deposit followed. */
export async function pruneTierChoices(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  const page = await ctx.db
    .query("tierChoices")
    .withIndex("by_chosen_at", (q) => q.lt("chosenAt", before))
    .take(limit);
  for (const row of page) await ctx.db.delete("tierChoices", row._id);
  return { deleted: page.length, more: page.length === limit };
}
