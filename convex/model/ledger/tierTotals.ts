/**
 * Live tier sums (capital, locked, reserved, yield, provider count) per tier
 * and token, kept in sharded documents.
 *
 * Two families of shards, so that the two kinds of writers never meet:
 * - a provider's own changes (deposits, withdrawals, reservations, reorg
 *   reversals) go to the one of PROVIDER_SHARDS its principal hashes to, so two
 *   providers in different shards never write the same document; providers in
 *   the same shard (1 in PROVIDER_SHARDS for a random pair) serialize on it,
 *   the price of totals that are exact and readable in one bounded query;
 * - what a policy does to its backers (lock, release, settlement, premium
 *   yield) and its count among active policies go to the one of POLICY_SHARDS
 *   its id hashes to, whichever backers it has: an allocation writes one shard
 *   document however many providers back it, and never one a deposit writes.
 * Only a tier's sum over all its shards means anything (a lock counted in a
 * policy shard may be released by a reorg reversal in a provider shard).
 * Reading a tier reads TIER_TOTAL_SHARDS small documents.
 *
 * Why not @convex-dev/aggregate or @convex-dev/sharded-counter: both keep
 * sums as float64 numbers, and money here is never a float.
 */
import type { Writer, Reader } from "../database";
import { TIERS, type Tier, type Token } from "../../validators";
import type { Balance } from "../../domain/balances";

export const PROVIDER_SHARDS = 32;
export const POLICY_SHARDS = 32;
export const TIER_TOTAL_SHARDS = PROVIDER_SHARDS + POLICY_SHARDS;

/** FNV-1a over the text's characters: stable, cheap, evenly spread. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The provider shard (0 to PROVIDER_SHARDS − 1) a principal's own changes are counted in. */
export function shardOf(principal: string): number {
  return hashOf(principal) % PROVIDER_SHARDS;
}

/** The policy shard (PROVIDER_SHARDS and up) a policy's changes to its backers are counted in. */
export function policyShardOf(policyId: bigint): number {
  return PROVIDER_SHARDS + (hashOf(`policy:${policyId}`) % POLICY_SHARDS);
}

export type TierTotals = {
  capital: bigint;
  locked: bigint;
  reserved: bigint;
  accruedYield: bigint;
  providerCount: bigint;
  activePolicyCount: bigint;
};

export const ZERO_TIER_TOTALS: TierTotals = {
  capital: 0n,
  locked: 0n,
  reserved: 0n,
  accruedYield: 0n,
  providerCount: 0n,
  activePolicyCount: 0n,
};

type ShardKey = { tier: Tier; token: Token; shard: number };

async function updateShard(ctx: Writer, key: ShardKey, change: (before: TierTotals) => TierTotals): Promise<void> {
  const shard = await ctx.db
    .query("tierTotalShards")
    .withIndex("by_tier_token_shard", (q) => q.eq("tier", key.tier).eq("token", key.token).eq("shard", key.shard))
    .unique();
  const after = change(shard ?? { ...ZERO_TIER_TOTALS });
  if (shard) {
    await ctx.db.patch("tierTotalShards", shard._id, after);
  } else {
    await ctx.db.insert("tierTotalShards", { ...key, ...after });
  }
}

export function availableCapital(totals: TierTotals): bigint {
  return totals.capital - totals.locked - totals.reserved;
}

/** Adds a provider's balance change (and their entry into or exit from the tier's count) to their shard. */
export async function addToTierTotals(ctx: Writer, key: ShardKey, delta: Balance, newProviders: bigint): Promise<void> {
  await updateShard(ctx, key, (before) => ({
    ...before,
    capital: before.capital + delta.total,
    locked: before.locked + delta.locked,
    reserved: before.reserved + delta.reserved,
    accruedYield: before.accruedYield + delta.accruedYield,
    providerCount: before.providerCount + newProviders,
  }));
}

/** Counts a policy in (+1) or out (-1) of its tier's active policies. */
export async function addActivePolicies(
  ctx: Writer,
  tier: Tier,
  token: Token,
  policyId: bigint,
  delta: bigint,
): Promise<void> {
  const key = { tier, token, shard: policyShardOf(policyId) };
  await updateShard(ctx, key, (before) => ({ ...before, activePolicyCount: before.activePolicyCount + delta }));
}

/** The exact sums of one tier in one token: reads at most TIER_TOTAL_SHARDS documents. */
export async function readTierTotals(ctx: Reader, tier: Tier, token: Token): Promise<TierTotals> {
  const shards = await ctx.db
    .query("tierTotalShards")
    .withIndex("by_tier_token_shard", (q) => q.eq("tier", tier).eq("token", token))
    .take(TIER_TOTAL_SHARDS);
  return shards.reduce<TierTotals>((sum, shard) => addTotals(sum, shard), { ...ZERO_TIER_TOTALS });
}

function addTotals(a: TierTotals, b: TierTotals): TierTotals {
  return {
    capital: a.capital + b.capital,
    locked: a.locked + b.locked,
    reserved: a.reserved + b.reserved,
    accruedYield: a.accruedYield + b.accruedYield,
    providerCount: a.providerCount + b.providerCount,
    activePolicyCount: a.activePolicyCount + b.activePolicyCount,
  };
}

/** The exact sums of every tier in one token: the whole pool's off-chain books. */
export async function readPoolTotals(ctx: Reader, token: Token): Promise<TierTotals> {
  let sum = { ...ZERO_TIER_TOTALS };
  for (const tier of TIERS) sum = addTotals(sum, await readTierTotals(ctx, tier, token));
  return sum;
}
