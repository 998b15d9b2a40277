/**
 * The collateral health sweep (spec `monitorCollateralHealth`): a cron walks
 * every provider with active backing, a page per transaction, continuing
 * through the scheduler. With no fresh oracle price it changes nothing (a
 * status is never flipped on bad data) and raises an alert. Worsening
 * statuses notify the provider: a row in `healthNotifications` and, when
 * HEALTH_WEBHOOK_URL is set, a POST to it.
 *
 * Overlapping sweeps, deposits and settlements are safe: each page is one
 * transaction that reads the provider documents it writes, and a write
 * happens only when the recomputed status or ratio differs.
 */
import { v } from "convex/values";

import { internal } from "./_generated/api";
import { readHealthWebhookUrl, readPriceRules } from "./config";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { raiseAlertOnce, resolveAlerts } from "./model/alerts";
import { checkProviderHealth } from "./model/risk/healthChecks";
import { currentPrices } from "./model/risk/priceReadings";

/** Providers per transaction: each costs three reads, and a write only on change. */
export const HEALTH_PAGE_SIZE = 200;

const SWEEP_SKIPPED = "health-sweep-skipped";

export const sweep = internalMutation({
  args: { cursor: v.union(v.string(), v.null()), pageSize: v.optional(v.number()) },
  returns: v.object({
    checked: v.number(),
    changed: v.number(),
    done: v.boolean(),
    pricesAvailable: v.boolean(),
  }),
  handler: async (ctx, { cursor, pageSize = HEALTH_PAGE_SIZE }) => {
    const now = Date.now();
    const prices = await currentPrices(ctx, { now, maxAgeMs: readPriceRules().maxAgeMs });
    if (!prices.available) {
      // Once while prices stay unavailable, not every five minutes.
      if (cursor === null) await raiseAlertOnce(ctx, SWEEP_SKIPPED, "prices", `health sweep skipped: ${prices.reason}`);
      return { checked: 0, changed: 0, done: true, pricesAvailable: false };
    }
    if (cursor === null) await resolveAlerts(ctx, SWEEP_SKIPPED, "prices");
    const page = await ctx.db
      .query("providers")
      .withIndex("by_active_backings", (q) => q.gt("activeBackings", 0n))
      .paginate({ numItems: pageSize, cursor });
    const hook = readHealthWebhookUrl();
    let changed = 0;
    for (const provider of page.page) {
      const result = await checkProviderHealth(ctx, provider, prices, now, hook !== undefined);
      if (result.changed) changed++;
      if (result.notification && hook) {
        await ctx.scheduler.runAfter(0, internal.health.deliverNotification, { id: result.notification });
      }
    }
    if (!page.isDone) {
      await ctx.scheduler.runAfter(0, internal.health.sweep, { cursor: page.continueCursor, pageSize });
    }
    return { checked: page.page.length, changed, done: page.isDone, pricesAvailable: true };
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
