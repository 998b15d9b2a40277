/**
 * The policy registry's entry points, for the policy flow that sells
 * protection (buyer-facing policy creation lives outside this pool).
 */
import { pick } from "convex-helpers";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import { readSettlementGraceBlocks } from "./config";
import { internalMutation } from "./functions";
import { admitJoiningBalances, ADMISSION_PAGE_SIZE } from "./model/policies/admission";
import * as policies from "./model/policies/policies";
import { readSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import { getTierConfig } from "./model/policies/tierConfigs";
import schema from "./schema";
import { TIERS, TOKENS } from "./validators";

const policyFields = schema.tables.policies.validator.fields;

/** Registers a policy as Pending; its tier and required collateral follow from its terms at the given prices. */
export const registerPolicy = internalMutation({
  args: {
    ...pick(policyFields, [
      "policyId",
      "buyer",
      "policyType",
      "protectedAmountSats",
      "strikePriceUsd",
      "premium",
      "expiresAtBlock",
      "collateralToken",
    ]),
    btcPriceUsd: v.int64(),
    stxPriceUsd: v.int64(),
  },
  returns: v.object(pick(policyFields, ["tier", "requiredCollateral", "status"])),
  handler: async (ctx, { btcPriceUsd, stxPriceUsd, ...terms }) => {
    const policy = await policies.registerPolicy(ctx, { ...terms, prices: { btcUsd: btcPriceUsd, stxUsd: stxPriceUsd } });
    return { tier: policy.tier, requiredCollateral: policy.requiredCollateral, status: policy.status };
  },
});

/** Withdraws a Pending policy that could not be backed. */
export const cancelPolicy = internalMutation({
  args: { policyId: v.int64() },
  returns: v.null(),
  handler: async (ctx, { policyId }) => {
    await policies.cancelPolicy(ctx, policyId);
    return null;
  },
});

const EXPIRY_PAGE_SIZE = 50;
/**
 * Index ranges one expiry transaction may spend, about half of Convex's 4,096:
 * releasing a policy costs about 3 + 7 per backer (bench/collateral-costs.ts),
 * so a page holds as many policies as their tiers' fan-out allows.
 */
const EXPIRY_INDEX_BUDGET = 2_000;
const indexRangesToRelease = (maxBackers: number) => 3 + 7 * maxBackers;

/**
 * Releases Active policies whose expiry block has passed by more than the
 * settlement grace (SETTLEMENT_GRACE_BLOCKS), a bounded page at a
 * time (by count and by the index reads their backers cost); a page that
 * stops early schedules the next. Each policy's transition checks its status
 * inside the transaction, so overlapping runs release each policy once.
 */
export const expirePolicies = internalMutation({
  args: {},
  returns: v.object({ expired: v.number(), hasMore: v.boolean() }),
  handler: async (ctx) => {
    const height = await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight);
    if (height === null) return { expired: 0, hasMore: false };
    const releasableBelow = height - readSettlementGraceBlocks();
    const due = await ctx.db
      .query("policies")
      .withIndex("by_status_and_expiry", (q) => q.eq("status", "Active").lt("expiresAtBlock", releasableBelow))
      .take(EXPIRY_PAGE_SIZE + 1);
    let spent = 0;
    let expired = 0;
    for (const policy of due.slice(0, EXPIRY_PAGE_SIZE)) {
      const cost = indexRangesToRelease((await getTierConfig(ctx, policy.tier)).maxBackersPerPolicy);
      if (expired > 0 && spent + cost > EXPIRY_INDEX_BUDGET) break;
      await policies.releasePolicy(ctx, policy.policyId);
      spent += cost;
      expired++;
    }
    const hasMore = due.length > expired;
    if (hasMore) await ctx.scheduler.runAfter(0, internal.policies.expirePolicies, {});
    return { expired, hasMore };
  },
});

/**
 * Admits capital that became available to its tier's allocation queue, at
 * the tier's clock (model/policies/admission.ts). A cron runs it every
 * minute; a tier with more joining balances than a page continues at once.
 */
export const admitJoiningCapital = internalMutation({
  args: {},
  returns: v.object({ admitted: v.number(), more: v.boolean() }),
  handler: async (ctx) => {
    let admitted = 0;
    let more = false;
    for (const tier of TIERS) {
      for (const token of TOKENS) {
        const count = await admitJoiningBalances(ctx, tier, token);
        admitted += count;
        if (count === ADMISSION_PAGE_SIZE) more = true;
      }
    }
    if (more) await ctx.scheduler.runAfter(0, internal.policies.admitJoiningCapital, {});
    return { admitted, more };
  },
});
