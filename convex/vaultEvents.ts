/** Applying synced vault events; called by the event sync. */
import { v } from "convex/values";

import { internalMutation } from "./functions";
import { advanceSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import { applyVaultEvent } from "./model/sync/vaultEvents";
import { syncedEventValidator } from "./validators";

/** Applies one confirmed event exactly once (by txid and event index); a governance event is recorded. */
export const apply = internalMutation({
  args: { event: syncedEventValidator },
  returns: v.union(v.literal("applied"), v.literal("duplicate"), v.literal("unmatched"), v.literal("recorded")),
  handler: async (ctx, { event }) => await applyVaultEvent(ctx, event),
});

/** Records that every vault event at or below `height` has been applied. */
export const markSyncedThrough = internalMutation({
  args: { height: v.int64() },
  returns: v.null(),
  handler: async (ctx, { height }) => {
    await advanceSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight, height);
    return null;
  },
});
