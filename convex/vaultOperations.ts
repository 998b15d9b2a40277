/** Batching queued collateral instructions into vault transactions. */
import { v } from "convex/values";

import { internalMutation } from "./functions";
import { batchQueuedOperations } from "./model/operations/vaultOperations";

/** Groups queued locks/releases (≤ 50 policies per call) and settlements into pending chain transactions. */
export const batch = internalMutation({
  args: {},
  returns: v.array(v.id("chainTransactions")),
  handler: async (ctx) => await batchQueuedOperations(ctx),
});
