/**
 * Backing a policy with providers' capital (spec `allocatePolicyCollateral`).
 *
 * The rule, bounded and fair:
 * 1. Every provider balance of a tier and token sits at a random position
 *    (`allocationKey`) on a circle.
 * 2. A policy draws a random starting point and walks the circle, taking the
 *    first providers with available capital, up to the tier's
 *    `maxBackersPerPolicy` (default 25), reading at most SCAN_FACTOR times
 *    that many balances.
 * 3. The required collateral is split among them in proportion to their
 *    available capital (largest remainder, so the parts sum exactly), which
 *    never asks a provider for more than they have when the group can cover
 *    the policy.
 * 4. Every provider that backed the policy moves to a fresh random position.
 *
 * A provider's chance of being in a policy's group is the same for all; inside
 * a group their part is proportional to their capital; and re-drawing
 * positions after each use keeps neighbourhoods from staying fixed. So over
 * many policies each provider's share of locked collateral tracks its share
 * of the tier's available capital (property-tested), while one policy touches
 * at most `maxBackersPerPolicy` providers however large the tier grows.
 */
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import type { Tier, Token } from "../validators";
import { availableOf } from "./balances";
import { poolError } from "./errors";
import { applyBalanceChange } from "./ledger";
import { splitProportionally } from "./money";
import { availableCapital, readTierTotals } from "./tierTotals";

/** How many balances the walk may read per backer it is allowed to take. */
export const SCAN_FACTOR = 4;

export type Allocation = { provider: string; amount: bigint };

/** Pure: parts of `required` for `candidates`, proportional to their available capital. */
export function allocateProportionally(
  required: bigint,
  candidates: readonly { provider: string; available: bigint }[],
): Allocation[] {
  const parts = splitProportionally(
    required,
    candidates.map((c) => c.available),
  );
  return candidates
    .map((c, i) => ({ provider: c.provider, amount: parts[i] ?? 0n }))
    .filter((a) => a.amount > 0n);
}

async function walkFrom(
  ctx: MutationCtx,
  tier: Tier,
  token: Token,
  start: number,
  maxBackers: number,
): Promise<Doc<"providerBalances">[]> {
  const scanLimit = maxBackers * SCAN_FACTOR;
  const chosen: Doc<"providerBalances">[] = [];
  let scanned = 0;
  const consider = (docs: Doc<"providerBalances">[]) => {
    for (const doc of docs) {
      scanned++;
      if (availableOf(doc) > 0n) chosen.push(doc);
      if (chosen.length === maxBackers) return;
    }
  };
  consider(
    await ctx.db
      .query("providerBalances")
      .withIndex("by_tier_token_allocation_key", (q) => q.eq("tier", tier).eq("token", token).gte("allocationKey", start))
      .take(scanLimit),
  );
  if (chosen.length < maxBackers && scanned < scanLimit) {
    consider(
      await ctx.db
        .query("providerBalances")
        .withIndex("by_tier_token_allocation_key", (q) => q.eq("tier", tier).eq("token", token).lt("allocationKey", start))
        .take(scanLimit - scanned),
    );
  }
  return chosen;
}

/**
 * Locks `required` of `token` from providers of `tier` for the policy and
 * writes its backing rows. Throws a coded error, changing nothing, when the
 * tier (or the group the walk found) cannot cover it.
 */
export async function allocateCollateral(
  ctx: MutationCtx,
  policy: { policyId: bigint; tier: Tier; token: Token; required: bigint; maxBackers: number },
): Promise<Allocation[]> {
  const tierAvailable = availableCapital(await readTierTotals(ctx, policy.tier, policy.token));
  if (tierAvailable < policy.required) {
    throw poolError(
      "TIER_INSUFFICIENT_CAPITAL",
      `tier ${policy.tier} has ${tierAvailable} ${policy.token} available; the policy needs ${policy.required}`,
    );
  }
  const group = await walkFrom(ctx, policy.tier, policy.token, Math.random(), policy.maxBackers);
  const candidates = group.map((doc) => ({ provider: doc.provider, available: availableOf(doc) }));
  const groupAvailable = candidates.reduce((sum, c) => sum + c.available, 0n);
  if (groupAvailable < policy.required) {
    throw poolError(
      "ALLOCATION_FANOUT_EXCEEDED",
      `the ${group.length} providers one policy may draw on hold ${groupAvailable} ${policy.token}; ` +
        `the policy needs ${policy.required}`,
    );
  }
  const allocations = allocateProportionally(policy.required, candidates);
  for (const { provider, amount } of allocations) {
    await applyBalanceChange(ctx, {
      operationId: `policy:${policy.policyId}:lock:${provider}`,
      provider,
      token: policy.token,
      type: "lock",
      amount,
    });
    await ctx.db.insert("policyBacking", {
      policyId: policy.policyId,
      provider,
      token: policy.token,
      tier: policy.tier,
      originalAllocation: amount,
      allocated: amount,
      active: true,
    });
  }
  for (const doc of group) {
    if (allocations.some((a) => a.provider === doc.provider)) {
      await ctx.db.patch("providerBalances", doc._id, { allocationKey: Math.random() });
    }
  }
  return allocations;
}
