/**
 * The collateral health sweep (README "Prices and collateral health"): a cron walks
 * every provider with active backing, a page at a time, continuing through
 * the scheduler. With no fresh oracle price it changes nothing (a status is
 * never flipped on bad data) and raises an alert. Worsening statuses notify
 * the provider: a row in `healthNotifications` and, when HEALTH_WEBHOOK_URL is
 * set, a POST to it.
 *
 * Each page is read by a query, which takes no part in Convex's write
 * conflicts: the providers' exposure and balances that allocations, releases
 * and deposits keep changing are read there, so the sweep never makes a
 * writer retry, nor retries for one. Only the providers whose status or ratio
 * would change go to a mutation, which reads each of them again and writes
 * only what is still true at that moment. In a calm market a page is one
 * query and no write at all.
 */
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import { priceFreshnessAt, readHealthWebhookUrl } from "./config";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { raiseAlertOnce, resolveAlerts } from "./model/alerts";
import { checkProviderHealth, healthChanged, readProviderHealth } from "./model/risk/healthChecks";
import { currentPrices } from "./model/risk/priceReadings";

/** Providers per page: each costs three reads in the query, and a mutation only on change. */
export const HEALTH_PAGE_SIZE = 200;

const SWEEP_SKIPPED = "health-sweep-skipped";

const pageArgs = { cursor: v.union(v.string(), v.null()), pageSize: v.optional(v.number()) };

const sweepPageResult = v.union(
  v.object({ pricesAvailable: v.literal(false), reason: v.string() }),
  v.object({
    pricesAvailable: v.literal(true),
    checked: v.number(),
    changes: v.array(v.id("providers")),
    continueCursor: v.string(),
    isDone: v.boolean(),
  }),
);

/** One page of providers with active backing, and which of them need a write at the current prices. */
export const sweepPage = internalQuery({
  args: pageArgs,
  returns: sweepPageResult,
  handler: async (ctx, { cursor, pageSize = HEALTH_PAGE_SIZE }) => {
    const now = Date.now();
    const prices = await currentPrices(ctx, priceFreshnessAt(now));
    if (!prices.available) return { pricesAvailable: false as const, reason: prices.reason };
    const page = await ctx.db
      .query("providers")
      .withIndex("by_active_backings", (q) => q.gt("activeBackings", 0n))
      .paginate({ numItems: pageSize, cursor });
    const changes = [];
    for (const provider of page.page) {
      if (healthChanged(provider, await readProviderHealth(ctx, provider, prices, now))) changes.push(provider._id);
    }
    return {
      pricesAvailable: true as const,
      checked: page.page.length,
      changes,
      continueCursor: page.continueCursor,
      isDone: page.isDone,
    };
  },
});

/** Records the health of the providers a page found changed, each read again here; schedules their notifications. */
export const recordPage = internalMutation({
  args: { providers: v.array(v.id("providers")), firstPage: v.boolean() },
  returns: v.object({ changed: v.number(), pricesAvailable: v.boolean() }),
  handler: async (ctx, { providers, firstPage }) => {
    const now = Date.now();
    const prices = await currentPrices(ctx, priceFreshnessAt(now));
    // Prices went stale since the page was read: change nothing; the next sweep sees it.
    if (!prices.available) return { changed: 0, pricesAvailable: false };
    if (firstPage) await resolveAlerts(ctx, SWEEP_SKIPPED, "prices");
    const hook = readHealthWebhookUrl();
    let changed = 0;
    for (const id of providers) {
      const provider = await ctx.db.get("providers", id);
      if (!provider) continue;
      const result = await checkProviderHealth(ctx, provider, prices, now, hook !== undefined);
      if (result.changed) changed++;
      if (result.notification && hook) {
        await ctx.scheduler.runAfter(0, internal.health.deliverNotification, { id: result.notification });
      }
    }
    return { changed, pricesAvailable: true };
  },
});

/** Once while prices stay unavailable, not every five minutes. */
export const noteSweepSkipped = internalMutation({
  args: { reason: v.string() },
  returns: v.null(),
  handler: async (ctx, { reason }) => {
    await raiseAlertOnce(ctx, SWEEP_SKIPPED, "prices", `health sweep skipped: ${reason}`);
    return null;
  },
});

const sweepResult = v.object({
  checked: v.number(),
  changed: v.number(),
  done: v.boolean(),
  pricesAvailable: v.boolean(),
});

/** One page of the sweep (the cron starts it with cursor null); schedules the next page. */
export const sweep = internalAction({
  args: pageArgs,
  returns: sweepResult,
  handler: async (ctx, { cursor, pageSize = HEALTH_PAGE_SIZE }): Promise<Infer<typeof sweepResult>> => {
    const page: Infer<typeof sweepPageResult> = await ctx.runQuery(internal.health.sweepPage, { cursor, pageSize });
    if (!page.pricesAvailable) {
      if (cursor === null) await ctx.runMutation(internal.health.noteSweepSkipped, { reason: page.reason });
      return { checked: 0, changed: 0, done: true, pricesAvailable: false };
    }
    const firstPage = cursor === null;
    const recorded: { changed: number } =
      page.changes.length > 0 || firstPage
        ? await ctx.runMutation(internal.health.recordPage, { providers: page.changes, firstPage })
        : { changed: 0, pricesAvailable: true };
    if (!page.isDone) {
      await ctx.scheduler.runAfter(0, internal.health.sweep, { cursor: page.continueCursor, pageSize });
    }
    return { checked: page.checked, changed: recorded.changed, done: page.isDone, pricesAvailable: true };
  },
});

export const notificationFor = internalMutation({
  args: { id: v.id("healthNotifications"), outcome: v.union(v.literal("sent"), v.literal("failed")) },
  returns: v.null(),
  handler: async (ctx, { id, outcome }) => {
    await ctx.db.patch("healthNotifications", id, { webhook: outcome });
    return null;
  },
});

export const loadNotification = internalQuery({
  args: { id: v.id("healthNotifications") },
  returns: v.union(
    v.object({
      provider: v.string(),
      status: v.string(),
      previousStatus: v.string(),
      collateralizationRatioBps: v.union(v.string(), v.null()),
      shortfallUstx: v.string(),
      shortfallSats: v.string(),
      createdAt: v.number(),
    }),
    v.null(),
  ),
  handler: async (ctx, { id }) => {
    const n = await ctx.db.get("healthNotifications", id);
    if (!n) return null;
    // Amounts travel as decimal strings: JSON has no exact big integers.
    return {
      provider: n.provider,
      status: n.status,
      previousStatus: n.previousStatus,
      collateralizationRatioBps: n.collateralizationRatioBps?.toString() ?? null,
      shortfallUstx: n.shortfallUstx.toString(),
      shortfallSats: n.shortfallSats.toString(),
      createdAt: n.createdAt,
    };
  },
});

/** POSTs a notification to HEALTH_WEBHOOK_URL and records whether it was accepted. */
export const deliverNotification = internalAction({
  args: { id: v.id("healthNotifications") },
  returns: v.null(),
  handler: async (ctx, { id }) => {
    const hook = readHealthWebhookUrl();
    const payload = await ctx.runQuery(internal.health.loadNotification, { id });
    if (!hook || !payload) return null;
    let outcome: "sent" | "failed" = "failed";
    try {
      const response = await fetch(hook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "bithedge.provider-health", ...payload }),
        signal: AbortSignal.timeout(10_000),
      });
      outcome = response.ok ? "sent" : "failed";
    } catch {
      outcome = "failed";
    }
    await ctx.runMutation(internal.health.notificationFor, { id, outcome });
    return null;
  },
});
