/**
 * Changing a seeded tier's configuration in a test backend (there is no
 * public function for it: operators edit `tierConfigs` directly). Free of
 * vitest, so benchmarks run with tsx use it too.
 */
import type { TestConvex } from "convex-test";

import type { Doc } from "../../convex/_generated/dataModel";
import type schema from "../../convex/schema";
import type { Tier } from "../../convex/validators";

type TierConfigFields = Partial<Omit<Doc<"tierConfigs">, "_id" | "_creationTime" | "tier">>;

/** Patches `tier`'s seeded configuration; throws when `internal.tierConfigs.seedDefaults` has not run. */
export async function patchTierConfig(t: TestConvex<typeof schema>, tier: Tier, fields: TierConfigFields): Promise<void> {
  await t.run(async (ctx) => {
    const config = await ctx.db
      .query("tierConfigs")
      .withIndex("by_tier", (q) => q.eq("tier", tier))
      .unique();
    if (!config) throw new Error(`${tier} not seeded`);
    await ctx.db.patch("tierConfigs", config._id, fields);
  });
}
