/**
 * Each tier's allocation clock per token: the virtual time of the fair queue
 * (domain/fairQueue.ts) where a newly funded balance joins. Written by every
 * allocation, so read only by allocation and admission (model/policies/admission.ts),
 * never by a balance change.
 */
import type { Reader, Writer } from "../database";
import type { Tier, Token } from "../../domain/vocabulary";

/** The tier's virtual time: where a newly funded balance joins the queue. */
export async function readClock(ctx: Reader, tier: Tier, token: Token): Promise<number> {
  const clock = await ctx.db
    .query("allocationClocks")
    .withIndex("by_tier_and_token", (q) => q.eq("tier", tier).eq("token", token))
    .unique();
  return clock?.now ?? 0;
}

export async function advanceClock(ctx: Writer, tier: Tier, token: Token, now: number): Promise<void> {
  const clock = await ctx.db
    .query("allocationClocks")
    .withIndex("by_tier_and_token", (q) => q.eq("tier", tier).eq("token", token))
    .unique();
  if (!clock) await ctx.db.insert("allocationClocks", { tier, token, now });
  else if (now > clock.now) await ctx.db.patch("allocationClocks", clock._id, { now });
}
