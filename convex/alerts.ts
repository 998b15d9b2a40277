/**
 * Operators' view of the alerts (the `alerts` table; each is also a log line
 * `[alert:<kind>]` for the log drain). Internal: run them from the Convex
 * dashboard or with `npx convex run alerts:listOpen`.
 */
import { pick } from "convex-helpers";
import { v } from "convex/values";

import { internalMutation, internalQuery } from "./functions";
import schema from "./schema";

const MAX_LISTED = 200;

const alertView = v.object({
  _id: v.id("alerts"),
  ...pick(schema.tables.alerts.validator.fields, ["kind", "message", "details", "createdAt"]),
});

/** Open alerts, newest first. */
export const listOpen = internalQuery({
  args: { limit: v.optional(v.number()) },
  returns: v.array(alertView),
  handler: async (ctx, { limit = 50 }) => {
    const rows = await ctx.db
      .query("alerts")
      .withIndex("by_resolved_and_time", (q) => q.eq("resolved", false))
      .order("desc")
      .take(Math.max(1, Math.min(MAX_LISTED, Math.floor(limit))));
    return rows.map(({ _id, kind, message, details, createdAt }) => ({ _id, kind, message, details, createdAt }));
  },
});

/** Marks an alert dealt with; false when it already was. */
export const resolve = internalMutation({
  args: { id: v.id("alerts") },
  returns: v.boolean(),
  handler: async (ctx, { id }) => {
    const alert = await ctx.db.get("alerts", id);
    if (!alert || alert.resolved) return false;
    await ctx.db.patch("alerts", id, { resolved: true });
    return true;
  },
});
