/** Tier configuration: seeding and reading. */
import { v } from "convex/values";

import { internalMutation } from "./functions";
import { seedDefaultTierConfigs } from "./model/policies/tierConfigs";

/** Inserts the default rules of every tier that has none. Idempotent: existing rules are left alone. */
export const seedDefaults = internalMutation({
  args: {},
  returns: v.object({ inserted: v.number() }),
  handler: async (ctx) => ({ inserted: await seedDefaultTierConfigs(ctx) }),
});
