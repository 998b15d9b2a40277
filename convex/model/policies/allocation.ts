/**
 * Backing a policy with providers' capital (`internal.liquidity.allocatePolicyCollateral`;
 * docs/architecture.md, "Allocation and locking").
 *
 * The rule, bounded and fair (weighted fair queuing, domain/fairQueue.ts):
 * 1. Take the K = `maxBackersPerPolicy` (default 25) balances of the tier
 *    with available capital that are furthest behind in the tier's queue
 *    (lowest `allocationKey`): one indexed read of at most 4K documents.
 *    When those K cannot cover the policy together, the K largest balances
 *    of the tier take it instead (a second indexed read), so small balances
 *    never crowd out a provider who could.
 * 2. Raise a common "water level" until the members' shares,
 *    available × (level − key), capped at their available capital, cover
 *    the requirement; turn those shares into exact integer parts that sum to
 *    the requirement (largest remainder), none above what its provider has.
 * 3. Each member's key moves up by what it gave per unit of its capital.
 *
 * So one policy touches at most K providers however large the tier grows,
 * and over many policies each provider backs collateral in proportion to its
 * available capital, deterministically (property-tested).
 *
 * What it reads is what it must: the tier's clock, the front of the queue
 * (and balances that joined since, admitted here at the clock), and the K
 * largest only when the front falls short. The tier's totals are read only to
 * explain a refusal; its writes to them go to the policy's own shard. So a
 * deposit, a withdrawal or a yield of a provider outside the front of the
 * queue never conflicts with an allocation (tests/convex/contention.test.ts).
 */
import type { Writer } from "../database";
import { availableOf } from "../../domain/balances";
import { poolError } from "../../domain/errors";
import { effectiveKey, JOINING, NEVER, rescaledKey, waterFill, waterLevel, type Allocation } from "../../domain/fairQueue";
import { splitProportionally } from "../../domain/money";
import type { Tier, Token } from "../../domain/vocabulary";
import { advanceClock, readClock } from "../ledger/allocationClocks";
import { applyBalanceChange } from "../ledger/balanceLedger";
import { addExposure } from "../ledger/providers";
import { availableCapital, readTierTotals } from "../ledger/tierTotals";

export type { Allocation };

/** How far into the queue allocation may look, per backer a policy may have. */
export const SCAN_FACTOR = 4;

/**
 * Locks `required` of `token` from providers of `tier` for the policy and
 * writes its backing rows. Throws a coded error, changing nothing, when the
 * tier or the K providers first in its queue cannot cover it.
 */
export async function allocateCollateral(
  ctx: Writer,
  policy: {
    policyId: bigint;
    tier: Tier;
    token: Token;
    required: bigint;
    maxBackers: number;
    /** What the policy obliges its backers to, split among them like the collateral. */
    obligation: { putObligationUsd: bigint; callProtectedSats: bigint };
  },
): Promise<Allocation[]> {
  const clock = await readClock(ctx, policy.tier, policy.token);
  const keyOf = (doc: { allocationKey: number }) => effectiveKey(doc.allocationKey, clock);
  const window = (
    await ctx.db
      .query("providerBalances")
      .withIndex("by_tier_token_allocation_key", (q) => q.eq("tier", policy.tier).eq("token", policy.token))
      .take(policy.maxBackers * SCAN_FACTOR)
  )
    .filter((doc) => doc.allocationKey !== NEVER && availableOf(doc) > 0n)
    // Joining balances sit at the end of the index but stand at the clock: stable sort keeps ties in index order.
    .sort((a, b) => keyOf(a) - keyOf(b));
  let members = window.slice(0, policy.maxBackers);
  const total = (docs: typeof window) => docs.reduce((sum, doc) => sum + availableOf(doc), 0n);
  const fromQueue = total(members) >= policy.required;
  if (!fromQueue) {
    // The providers furthest behind are too small for this policy together:
    // let the tier's largest balances take it rather than refuse it.
    members = (
      await ctx.db
        .query("providerBalances")
        .withIndex("by_tier_token_available", (q) => q.eq("tier", policy.tier).eq("token", policy.token))
        .order("desc")
        .take(policy.maxBackers)
    ).filter((doc) => availableOf(doc) > 0n);
  }
  const groupAvailable = total(members);
  if (groupAvailable < policy.required) {
    // Refused: only now are the tier's totals worth reading, to say why.
    const tierAvailable = availableCapital(await readTierTotals(ctx, policy.tier, policy.token));
    if (tierAvailable < policy.required) {
      throw poolError(
        "TIER_INSUFFICIENT_CAPITAL",
        `tier ${policy.tier} has ${tierAvailable} ${policy.token} available; the policy needs ${policy.required}`,
      );
    }
    throw poolError(
      "ALLOCATION_FANOUT_EXCEEDED",
      `the ${members.length} providers one policy may draw on hold ${groupAvailable} ${policy.token}; ` +
        `the policy needs ${policy.required}`,
    );
  }

  const queued = members.map((doc) => ({ key: keyOf(doc), available: availableOf(doc) }));
  const parts = waterFill(policy.required, queued);
  // The tier's virtual time moves to the level this policy raised the front of its queue to
  // (a policy taken by the largest balances out of turn does not move it).
  const level = fromQueue ? waterLevel(queued, policy.required) : clock;
  const clockAfter = level > clock ? level : clock;
  if (clockAfter > clock) await advanceClock(ctx, policy.tier, policy.token, clockAfter);
  const putShares = splitProportionally(policy.obligation.putObligationUsd, parts);
  const callShares = splitProportionally(policy.obligation.callProtectedSats, parts);
  const allocations: Allocation[] = [];
  const backers = new Set<string>();
  for (const [i, doc] of members.entries()) {
    const amount = parts[i] ?? 0n;
    if (amount === 0n) continue;
    backers.add(doc._id);
    const share = { putObligationUsd: putShares[i] ?? 0n, callProtectedSats: callShares[i] ?? 0n };
    const before = availableOf(doc);
    const { balance } = await applyBalanceChange(
      ctx,
      {
        operationId: `policy:${policy.policyId}:lock:${doc.provider}`,
        provider: doc.provider,
        token: policy.token,
        type: "lock",
        amount,
      },
      { policyId: policy.policyId },
    );
    // Served up to here, per unit of capital; its lead then keeps its meaning in collateral for the smaller capital.
    const served = queued[i]!.key + Number(amount) / Number(before);
    await ctx.db.patch("providerBalances", doc._id, {
      allocationKey: rescaledKey(served, before, availableOf(balance), clockAfter),
    });
    await ctx.db.insert("policyBacking", {
      policyId: policy.policyId,
      provider: doc.provider,
      token: policy.token,
      tier: policy.tier,
      originalAllocation: amount,
      allocated: amount,
      ...share,
      active: true,
    });
    await addExposure(ctx, doc.provider, { ...share, activeBackings: 1n });
    allocations.push({ provider: doc.provider, amount });
  }
  // Joining balances this allocation read but did not use join the queue where they stood: at the clock it found.
  for (const doc of window) {
    if (doc.allocationKey === JOINING && !backers.has(doc._id)) {
      await ctx.db.patch("providerBalances", doc._id, { allocationKey: clock });
    }
  }
  return allocations;
}
