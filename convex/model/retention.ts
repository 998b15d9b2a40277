/**
 * Retention (README "Retention"): deletes, oldest first and a bounded page at
 * a time, the rows of tables that only grow once nothing reads them any
 * more. Each helper walks an index on the table's time field from its start,
 * so a page reads only rows it may delete (plus the few it must keep), and
 * reports whether another page may remain.
 *
 * What is still needed is never deleted: the newest price of each asset and
 * source (what current prices read), open alerts, uncleared health
 * notifications, unexpired challenges.
 */
import { ORACLE_ASSETS, TOKENS } from "../domain/vocabulary";
import type { Id } from "../_generated/dataModel";
import type { Writer } from "./database";

/** What a page deletes: rows older than `before` (ms since the epoch), at most `limit` of them. */
export type PrunePage = { before: number; limit: number };
export type PruneResult = { deleted: number; more: boolean };

/**
 * Oracle prices older than `before`, but never the newest of an asset and
 * source: a source that stopped answering keeps its last observation, and the
 * newest median (which `currentPrices` reads) stays whatever its age, so a
 * stalled feed reads as stale rather than as no price at all.
 */
export async function pruneOraclePrices(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  let deleted = 0;
  let more = false;
  for (const asset of ORACLE_ASSETS) {
    const budget = limit - deleted;
    if (budget <= 0) return { deleted, more: true };
    const page = await ctx.db
      .query("oraclePrices")
      .withIndex("by_asset_and_time", (q) => q.eq("asset", asset).lt("observedAt", before))
      .take(budget);
    const newest = new Map<string, Id<"oraclePrices"> | null>();
    let deletedHere = 0;
    for (const row of page) {
      if (!newest.has(row.source)) {
        const latest = await ctx.db
          .query("oraclePrices")
          .withIndex("by_asset_source_and_time", (q) => q.eq("asset", asset).eq("source", row.source))
          .order("desc")
          .first();
        newest.set(row.source, latest?._id ?? null);
      }
      if (newest.get(row.source) === row._id) continue;
      await ctx.db.delete("oraclePrices", row._id);
      deletedHere++;
    }
    deleted += deletedHere;
    // A full page that deleted nothing holds only kept rows: going on would find them again.
    if (page.length === budget && deletedHere > 0) more = true;
  }
  return { deleted, more };
}

/** Resolved alerts raised before `before`; open alerts stay, however old. */
export async function pruneResolvedAlerts(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  const page = await ctx.db
    .query("alerts")
    .withIndex("by_resolved_and_time", (q) => q.eq("resolved", true).lt("createdAt", before))
    .take(limit);
  for (const row of page) await ctx.db.delete("alerts", row._id);
  return { deleted: page.length, more: page.length === limit };
}

/** Reconciliation records checked before `before` (a mismatch also raised an alert, kept by its own rule). */
export async function pruneReconciliations(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  let deleted = 0;
  for (const token of TOKENS) {
    const budget = limit - deleted;
    if (budget <= 0) return { deleted, more: true };
    const page = await ctx.db
      .query("reconciliations")
      .withIndex("by_token_and_time", (q) => q.eq("token", token).lt("checkedAt", before))
      .take(budget);
    for (const row of page) await ctx.db.delete("reconciliations", row._id);
    deleted += page.length;
  }
  return { deleted, more: deleted === limit };
}

/**
 * Cleared health notifications created before `before`. An uncleared one is
 * a margin call or warning still in force: the provider's status clears it,
 * never its age.
 */
export async function pruneHealthNotifications(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  const page = await ctx.db
    .query("healthNotifications")
    .withIndex("by_cleared_and_time", (q) => q.eq("cleared", true).lt("createdAt", before))
    .take(limit);
  for (const row of page) await ctx.db.delete("healthNotifications", row._id);
  return { deleted: page.length, more: page.length === limit };
}

/**
 * Sign-in challenges that expired before `before`, used or not: an expired
 * challenge is refused either way. `before` lies at or before now, so an
 * unexpired challenge is never touched.
 */
export async function pruneExpiredChallenges(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  const page = await ctx.db
    .query("authChallenges")
    .withIndex("by_expiresAt", (q) => q.lt("expiresAt", before))
    .take(limit);
  for (const row of page) await ctx.db.delete("authChallenges", row._id);
  return { deleted: page.length, more: page.length === limit };
}

/**
 * Rate-limit buckets last touched before `before`: once a bucket has had time
 * to fill up again, deleting it is the same as keeping it full, so no limit
 * is loosened.
 */
export async function pruneRateLimits(ctx: Writer, { before, limit }: PrunePage): Promise<PruneResult> {
  const page = await ctx.db
    .query("rateLimits")
    .withIndex("by_ts", (q) => q.lt("ts", before))
    .take(limit);
  for (const row of page) await ctx.db.delete("rateLimits", row._id);
  return { deleted: page.length, more: page.length === limit };
}
