/** Alerts for operators: a table row they can query and a log line their log drain sees. */
import type { MutationCtx } from "../_generated/server";

export async function raiseAlert(ctx: MutationCtx, kind: string, message: string, details?: unknown): Promise<void> {
  const detailText = details === undefined ? undefined : JSON.stringify(details, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  console.error(`[alert:${kind}] ${message}${detailText ? ` ${detailText}` : ""}`);
  await ctx.db.insert("alerts", { kind, message, details: detailText, resolved: false, createdAt: Date.now() });
}
