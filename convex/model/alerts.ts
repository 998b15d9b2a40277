/** Alerts for operators: a table row they can query and a log line their log drain sees. */
import type { Doc } from "../_generated/dataModel";
import type { Writer } from "./database";

/** A reorg took back something the books cannot settle on their own (subject: the txid). */
export const REORG_NEEDS_REVIEW = "reorg-needs-review";

/**
 * The Stacks API answered 410 Gone: it has switched off a route the backend
 * uses (subject: the route). Raised once per route; an operator resolves it
 * once the backend uses the replacement (README, "Chain integration").
 */
export const API_ROUTE_GONE = "api-route-gone";

export async function raiseAlert(ctx: Writer, kind: string, message: string, details?: unknown): Promise<void> {
  const detailText = details === undefined ? undefined : JSON.stringify(details, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  console.error(`[alert:${kind}] ${message}${detailText ? ` ${detailText}` : ""}`);
  await ctx.db.insert("alerts", { kind, message, details: detailText, resolved: false, createdAt: Date.now() });
}

/**
 * For conditions that last (a price source down, say): raises the alert when
 * the condition starts and stays quiet while it lasts. `subject` tells apart
 * conditions of one kind (e.g. the asset) and is kept in the details.
 */
export async function raiseAlertOnce(
  ctx: Writer,
  kind: string,
  subject: string,
  message: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  if ((await openAlerts(ctx, kind, subject)).length > 0) return;
  await raiseAlert(ctx, kind, message, { subject, ...details });
}

/** Ends a lasting condition: its open alerts are marked resolved, and the next occurrence is raised again. */
export async function resolveAlerts(ctx: Writer, kind: string, subject: string): Promise<void> {
  for (const alert of await openAlerts(ctx, kind, subject)) {
    await ctx.db.patch("alerts", alert._id, { resolved: true });
  }
}

/** Open alerts of one kind are few: one per subject at most, when raised through raiseAlertOnce. */
const OPEN_ALERTS_READ = 100;

async function openAlertsOfKind(ctx: Writer, kind: string): Promise<Doc<"alerts">[]> {
  return await ctx.db
    .query("alerts")
    .withIndex("by_kind_and_resolved", (q) => q.eq("kind", kind).eq("resolved", false))
    .take(OPEN_ALERTS_READ);
}

async function openAlerts(ctx: Writer, kind: string, subject: string): Promise<Doc<"alerts">[]> {
  return (await openAlertsOfKind(ctx, kind)).filter((alert) => subjectOf(alert.details) === subject);
}

/** Resolves every open alert of `kind`, whatever its subject: the condition ended for all of them. */
export async function resolveAllAlerts(ctx: Writer, kind: string): Promise<void> {
  for (const alert of await openAlertsOfKind(ctx, kind)) await ctx.db.patch("alerts", alert._id, { resolved: true });
}

/** The `subject` a lasting condition's alert keeps in its details, if any. */
function subjectOf(details: string | undefined): string | undefined {
  if (details === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(details);
    return typeof parsed === "object" && parsed !== null && "subject" in parsed && typeof parsed.subject === "string" ? parsed.subject : undefined;
  } catch {
    return undefined;
  }
}
