/** Reading the stored oracle prices: the latest median per asset, if still fresh. */
import type { Reader } from "../database";
import type { Asset } from "../../oracle/priceSources";

export type CurrentPrices =
  | { available: true; btcUsd: bigint; stxUsd: bigint; observedAt: number }
  | { available: false; reason: string };

/** When prices are read, and the oldest median that still counts (`ORACLE_MAX_AGE_MS`). */
export type PriceFreshness = { now: number; maxAgeMs: number };

async function latestMedian(ctx: Reader, asset: Asset) {
  return await ctx.db
    .query("oraclePrices")
    .withIndex("by_asset_source_and_time", (q) => q.eq("asset", asset).eq("source", "median"))
    .order("desc")
    .first();
}

export async function currentPrices(ctx: Reader, { now, maxAgeMs }: PriceFreshness): Promise<CurrentPrices> {
  const [btc, stx] = await Promise.all([latestMedian(ctx, "BTC"), latestMedian(ctx, "STX")]);
  for (const [asset, row] of [["BTC", btc], ["STX", stx]] as const) {
    if (!row) return { available: false, reason: `no ${asset}/USD price yet` };
    if (now - row.observedAt > maxAgeMs) {
      return { available: false, reason: `${asset}/USD is stale (${Math.round((now - row.observedAt) / 1000)} s old)` };
    }
  }
  return { available: true, btcUsd: btc!.priceUsd, stxUsd: stx!.priceUsd, observedAt: Math.min(btc!.observedAt, stx!.observedAt) };
}
