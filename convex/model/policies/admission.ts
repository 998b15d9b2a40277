/**
 * Admitting newly available capital to a tier's allocation queue.
 *
 * A balance that becomes available is marked JOINING (domain/fairQueue.ts)
 * rather than given the clock, because reading the clock would make every
 * deposit conflict with every allocation. An allocation admits the joining
 * balances its window reaches; in a tier whose queue is longer than the
 * window, they wait at its end until this job gives them the clock. Until
 * then they back nothing, so a newcomer's first policy can come up to one
 * admission interval later than if it had joined at once, and it joins at the
 * clock of that moment.
 *
 * The job reads the clock and the tier's joining range, the two things an
 * allocation and a newcomer's deposit write: it is the one place where
 * joining meets allocating, once a minute, retried by Convex when it collides.
 */
import type { Writer } from "../database";
import { JOINING } from "../../domain/fairQueue";
import type { Tier, Token } from "../../domain/vocabulary";
import { readClock } from "../ledger/allocationClocks";

/** Joining balances admitted per tier and token in one transaction. */
export const ADMISSION_PAGE_SIZE = 200;

/** Gives up to `limit` joining balances of the tier the clock as their key; returns how many. */
export async function admitJoiningBalances(ctx: Writer, tier: Tier, token: Token, limit = ADMISSION_PAGE_SIZE): Promise<number> {
  const joining = await ctx.db
    .query("providerBalances")
    .withIndex("by_tier_token_allocation_key", (q) =>
      q.eq("tier", tier).eq("token", token).eq("allocationKey", JOINING),
    )
    .take(limit);
  if (joining.length === 0) return 0;
  const clock = await readClock(ctx, tier, token);
  for (const doc of joining) await ctx.db.patch("providerBalances", doc._id, { allocationKey: clock });
  return joining.length;
}
