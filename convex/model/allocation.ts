/**
 * Backing a policy with providers' capital (spec `allocatePolicyCollateral`).
 *
 * The rule, bounded and fair (weighted fair queuing, model/fairQueue.ts):
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
 */
import type { MutationCtx } from "../_generated/server";
import type { Tier, Token } from "../validators";
import { availableOf } from "./balances";
import { poolError } from "./errors";
import { advanceClock, NEVER, waterLevel } from "./fairQueue";
import { applyBalanceChange } from "./ledger";
import { addExposure } from "./providers";
import { splitProportionally } from "./money";
import { availableCapital, readTierTotals } from "./tierTotals";

export type Allocation = { provider: string; amount: bigint };

/** How far into the queue allocation may look, per backer a policy may have. */
export const SCAN_FACTOR = 4;

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

/**
 * Pure: exact parts of `required` for queue members, by water-filling. Each
 * part is at most the member's available capital and the parts sum to
 * `required`. Needs Σ available ≥ required.
 */
export function waterFill(required: bigint, members: readonly { key: number; available: bigint }[]): bigint[] {
  const level = waterLevel(members, required);
  // Float shares only weigh the split; the parts themselves are exact integers.
  const weights = members.map((m) => {
    const share = Number(m.available) * Math.min(1, Math.max(0, level - m.key));
    const whole = BigInt(Math.floor(share));
    return whole < m.available ? whole : m.available;
  });
  const parts = weights.some((w) => w > 0n)
    ? splitProportionally(required, weights)
    : splitProportionally(
        required,
        members.map((m) => m.available),
      );
  // Rounding may push a part past its member's capital by a unit or two: move it to members with room.
  let excess = 0n;
  parts.forEach((part, i) => {
    const cap = members[i]!.available;
    if (part > cap) {
      excess += part - cap;
      parts[i] = cap;
    }
  });
  for (let i = 0; excess > 0n && i < parts.length; i++) {
    const room = members[i]!.available - parts[i]!;
    const moved = room < excess ? room : excess;
    parts[i] = parts[i]! + moved;
    excess -= moved;
  }
  return parts;
}

/**
 * Locks `required` of `token` from providers of `tier` for the policy and
 * writes its backing rows. Throws a coded error, changing nothing, when the
 * tier or the K providers first in its queue cannot cover it.
 */
export async function allocateCollateral(
  ctx: MutationCtx,
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
  const tierAvailable = availableCapital(await readTierTotals(ctx, policy.tier, policy.token));
  if (tierAvailable < policy.required) {
    throw poolError(
      "TIER_INSUFFICIENT_CAPITAL",
      `tier ${policy.tier} has ${tierAvailable} ${policy.token} available; the policy needs ${policy.required}`,
    );
  }
  const window = (
    await ctx.db
      .query("providerBalances")
      .withIndex("by_tier_token_allocation_key", (q) => q.eq("tier", policy.tier).eq("token", policy.token))
      .take(policy.maxBackers * SCAN_FACTOR)
  ).filter((doc) => doc.allocationKey !== NEVER && availableOf(doc) > 0n);
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
    throw poolError(
      "ALLOCATION_FANOUT_EXCEEDED",
      `the ${members.length} providers one policy may draw on hold ${groupAvailable} ${policy.token}; ` +
        `the policy needs ${policy.required}`,
    );
  }

  const queued = members.map((doc) => ({ key: doc.allocationKey, available: availableOf(doc) }));
  const parts = waterFill(policy.required, queued);
  // The tier's virtual time moves to the level this policy raised the front of its queue to
  // (a policy taken by the largest balances out of turn does not move it).
  if (fromQueue) await advanceClock(ctx, policy.tier, policy.token, waterLevel(queued, policy.required));
  const putShares = splitProportionally(policy.obligation.putObligationUsd, parts);
  const callShares = splitProportionally(policy.obligation.callProtectedSats, parts);
  const allocations: Allocation[] = [];
  for (const [i, doc] of members.entries()) {
    const amount = parts[i] ?? 0n;
    if (amount === 0n) continue;
    const share = { putObligationUsd: putShares[i] ?? 0n, callProtectedSats: callShares[i] ?? 0n };
    // Served up to here, per unit of capital; the lock below then rescales for the smaller capital.
    await ctx.db.patch("providerBalances", doc._id, {
      allocationKey: doc.allocationKey + Number(amount) / Number(availableOf(doc)),
    });
    await applyBalanceChange(ctx, {
      operationId: `policy:${policy.policyId}:lock:${doc.provider}`,
      provider: doc.provider,
      token: policy.token,
      type: "lock",
      amount,
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
  return allocations;
}
