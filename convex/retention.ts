/**
 * Retention of the tables that only grow (README "Retention"): a cron starts
 * `run`, which schedules one `prune` per table; each `prune` deletes one
 * bounded page in its own transaction and schedules the next page while it
 * found a full one, so no transaction grows with the backlog and one table's
 * backlog never holds up another's.
 *
 * Periods come from RETENTION_* variables (convex/config.ts), read at each
 * page, so a change needs no redeploy. `balanceLedger` and `vaultEvents`, the
 * audit trail, are kept forever.
 */
import { literals } from "convex-helpers/validators";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import { readRetentionConfig, type RetentionConfig } from "./config";
import { internalMutation } from "./functions";
import type { Writer } from "./model/database";
import {
  pruneExpiredChallenges,
  pruneHealthNotifications,
  pruneOraclePrices,
  pruneRateLimits,
  pruneReconciliations,
  pruneResolvedAlerts,
  type PrunePage,
  type PruneResult,
} from "./model/retention";
import { pruneTierChoices } from "./model/ledger/tierChoices";
import { SIGN_IN_BUCKET_REFILL_MS } from "./model/auth/signInLimits";

/**
 * Rows per page: each costs a read and a delete, and an oracle page at most a
 * read more per source; well inside a mutation's limits.
 */
export const RETENTION_PAGE_SIZE = 500;

const PRUNED_TABLES = [
  "oraclePrices",
  "alerts",
  "reconciliations",
  "healthNotifications",
  "authChallenges",
  "rateLimits",
  "tierChoices",
] as const;
type PrunedTable = (typeof PRUNED_TABLES)[number];

/** Each table's rule: how far back it keeps rows, and the helper that deletes a page. */
const RULES: Record<PrunedTable, { keepMs: (config: RetentionConfig) => number; prune: (ctx: Writer, page: PrunePage) => Promise<PruneResult> }> = {
  oraclePrices: { keepMs: (c) => c.oraclePricesMs, prune: pruneOraclePrices },
  alerts: { keepMs: (c) => c.resolvedAlertsMs, prune: pruneResolvedAlerts },
  reconciliations: { keepMs: (c) => c.reconciliationsMs, prune: pruneReconciliations },
  healthNotifications: { keepMs: (c) => c.healthNotificationsMs, prune: pruneHealthNotifications },
  authChallenges: { keepMs: (c) => c.expiredChallengesMs, prune: pruneExpiredChallenges },
  // Not configurable: a bucket is worth keeping exactly until it would be full again.
  rateLimits: { keepMs: () => SIGN_IN_BUCKET_REFILL_MS, prune: pruneRateLimits },
  tierChoices: { keepMs: (c) => c.tierChoicesMs, prune: pruneTierChoices },
};

const tableValidator = literals(...PRUNED_TABLES);

/** The cron's entry: one pruning chain per table, each starting now. */
export const run = internalMutation({
  args: {},
  returns: v.null(),
  handler: async (ctx) => {
    // Read once here so a malformed variable fails the cron run visibly rather than every page.
    readRetentionConfig();
    for (const table of PRUNED_TABLES) {
      await ctx.scheduler.runAfter(0, internal.retention.prune, { table });
    }
    return null;
  },
});

/** One page of one table; schedules the next page while pages come back full. */
export const prune = internalMutation({
  args: { table: tableValidator, batchSize: v.optional(v.number()) },
  returns: v.object({ deleted: v.number(), continued: v.boolean() }),
  handler: async (ctx, { table, batchSize }) => {
    const limit = Math.min(Math.max(Math.floor(batchSize ?? RETENTION_PAGE_SIZE), 1), RETENTION_PAGE_SIZE);
    const rule = RULES[table];
    const before = Date.now() - rule.keepMs(readRetentionConfig());
    const { deleted, more } = await rule.prune(ctx, { before, limit });
    if (more) await ctx.scheduler.runAfter(0, internal.retention.prune, { table, batchSize: limit });
    return { deleted, continued: more };
  },
});
