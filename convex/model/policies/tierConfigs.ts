/**
 * Per-tier rules. The defaults are seeded by `internal.tierConfigs.seedDefaults`;
 * operators change them in the database, never in code.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Writer, Reader } from "../database";
import type { Tier, Token } from "../../validators";
import { poolError } from "../../domain/errors";

/** The most providers one policy may have (bounds every per-policy read). */
export const MAX_BACKERS_PER_POLICY = 100;

export type TierConfig = Omit<Doc<"tierConfigs">, "_id" | "_creationTime">;

/**
 * Safer tiers back policies whose strikes are further out of the money, keep
 * more collateral per unit of risk and call margin earlier.
 */
export const DEFAULT_TIER_CONFIGS: readonly TierConfig[] = [
  {
    tier: "Conservative",
    protocolFeeBps: 1_000n,
    healthyRatioBps: 15_000n,
    marginCallRatioBps: 12_500n,
    withdrawalRatioBps: 15_000n,
    withdrawalBufferBps: 500n,
    minStrikeDistanceBps: 1_500n,
    maxBackersPerPolicy: 25,
  },
  {
    tier: "Balanced",
    protocolFeeBps: 1_000n,
    healthyRatioBps: 13_000n,
    marginCallRatioBps: 11_500n,
    withdrawalRatioBps: 13_000n,
    withdrawalBufferBps: 500n,
    minStrikeDistanceBps: 500n,
    maxBackersPerPolicy: 25,
  },
  {
    tier: "Aggressive",
    protocolFeeBps: 1_000n,
    healthyRatioBps: 12_000n,
    marginCallRatioBps: 11_000n,
    withdrawalRatioBps: 12_000n,
    withdrawalBufferBps: 500n,
    minStrikeDistanceBps: 0n,
    maxBackersPerPolicy: 25,
  },
];

export async function getTierConfig(ctx: Reader, tier: Tier): Promise<Doc<"tierConfigs">> {
  const config = await ctx.db
    .query("tierConfigs")
    .withIndex("by_tier", (q) => q.eq("tier", tier))
    .unique();
  if (!config) {
    throw poolError("TIER_NOT_CONFIGURED", `tier ${tier} has no configuration; run internal.tierConfigs.seedDefaults`);
  }
  // Every per-policy loop reads at most MAX_BACKERS_PER_POLICY backing rows.
  if (config.maxBackersPerPolicy < 1 || config.maxBackersPerPolicy > MAX_BACKERS_PER_POLICY) {
    throw poolError(
      "TIER_NOT_CONFIGURED",
      `tier ${tier} maxBackersPerPolicy is ${config.maxBackersPerPolicy}; it must be 1 to ${MAX_BACKERS_PER_POLICY}`,
    );
  }
  return config;
}

export function capacityLimitOf(config: TierConfig, token: Token): bigint | undefined {
  return token === "STX" ? config.capacityLimitUstx : config.capacityLimitSats;
}

/** Inserts the default configuration of every tier that has none; changes nothing that exists. */
export async function seedDefaultTierConfigs(ctx: Writer): Promise<number> {
  let inserted = 0;
  for (const config of DEFAULT_TIER_CONFIGS) {
    const existing = await ctx.db
      .query("tierConfigs")
      .withIndex("by_tier", (q) => q.eq("tier", config.tier))
      .unique();
    if (!existing) {
      await ctx.db.insert("tierConfigs", config);
      inserted++;
    }
  }
  return inserted;
}
