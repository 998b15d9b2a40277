/** Applying synced vault events; called by the event sync. */
import { pick } from "convex-helpers";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import type { MutationCtx } from "./_generated/server";
import { isPoolError } from "./domain/errors";
import { internalMutation } from "./functions";
import { advanceSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import { applyProviderEffects, applyVaultEvent, type EffectsRunner } from "./model/sync/vaultEvents";
import schema from "./schema";
import { syncedEventValidator, vaultEventValidator } from "./validators";

/** What a premium adds outside the balance ledger: the protocol's account and the policy's premiums received. */
const offLedgerValidator = v.object({
  ...pick(schema.tables.protocolAccounts.validator.fields, ["feesAccrued", "unallocatedPremiums"]),
  ...pick(schema.tables.policies.validator.fields, ["premiumsReceived"]),
});

/**
 * One money event's effects on the books, as a sub-transaction of the
 * mutation applying it: when the books refuse the event, Convex rolls back
 * every write the effects made before the refusal, and the caller records
 * the event as unmatched (README "Event sync").
 */
export const applyEffects = internalMutation({
  args: { event: vaultEventValidator },
  returns: v.union(offLedgerValidator, v.null()),
  handler: async (ctx, { event }) => (await applyProviderEffects(ctx, event)) ?? null,
});

/** The runner the sync applies events with: each event's effects in their own sub-transaction. */
export function effectsInSubTransaction(ctx: MutationCtx): EffectsRunner {
  return async (event) => {
    try {
      const offLedger = await ctx.runMutation(internal.vaultEvents.applyEffects, { event });
      return offLedger === null ? { placed: true } : { placed: true, offLedger };
    } catch (error) {
      // A coded refusal: the books cannot place the event. Anything else is a bug and propagates.
      if (!isPoolError(error)) throw error;
      return { placed: false, refusal: error.data.message };
    }
  };
}

/** Applies one confirmed event exactly once (by txid and event index); a governance event is recorded. */
export const apply = internalMutation({
  args: { event: syncedEventValidator },
  returns: v.union(v.literal("applied"), v.literal("duplicate"), v.literal("unmatched"), v.literal("recorded")),
  handler: async (ctx, { event }) => await applyVaultEvent(ctx, event, effectsInSubTransaction(ctx)),
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
