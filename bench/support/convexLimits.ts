/**
 * Convex's per-transaction limits, and what a transaction has used of them:
 * the benches that run sweeps check every page against these (docs/architecture.md,
 * "Scale": sweeps are paginated so that no transaction grows with the pool).
 */
import type { QueryCtx } from "../../convex/_generated/server";

/**
 * The limits of https://docs.convex.dev/production/state/limits
 * ("Transactions"), as convex-test 0.0.60 enforces them
 * (DEFAULT_TRANSACTION_LIMITS in node_modules/convex-test/dist/transactionMetrics.js).
 */
export const LIMITS = {
  documentsRead: 32_000,
  documentsWritten: 16_000,
  databaseQueries: 4_096,
  bytesRead: 16 * 1024 * 1024,
  bytesWritten: 16 * 1024 * 1024,
  functionsScheduled: 1_000,
} as const;
export type LimitKey = keyof typeof LIMITS;
export const LIMIT_KEYS = Object.keys(LIMITS) as LimitKey[];

/** One figure per limit: what a transaction used, or the limit convex-test applied. */
export type PerLimit = Record<LimitKey, number>;

/**
 * What the transaction `ctx` belongs to has used so far, from convex-test's
 * meter (`ctx.meta.getTransactionMetrics()`), and the limits it applies
 * (used + remaining). A query's or a mutation's ctx: both have the meter.
 */
export async function transactionUsage(ctx: Pick<QueryCtx, "meta">): Promise<{ used: PerLimit; limits: PerLimit }> {
  const metrics = await ctx.meta.getTransactionMetrics();
  const used = {} as PerLimit;
  const limits = {} as PerLimit;
  for (const key of LIMIT_KEYS) {
    used[key] = metrics[key].used;
    limits[key] = metrics[key].used + metrics[key].remaining;
  }
  return { used, limits };
}
