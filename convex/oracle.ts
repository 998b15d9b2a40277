/**
 * The price oracle (README "Prices and collateral health"): a cron asks every configured source
 * for BTC/USD and STX/USD, stores each answer, and stores the median of the
 * fresh answers when enough agree. When they do not, no price is stored, an
 * alert is raised, and readers see the price as unavailable once the last
 * good one is older than ORACLE_MAX_AGE_MS.
 */
import { omit, pick } from "convex-helpers";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import { priceFreshnessAt, readOracleConfig } from "./config";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { raiseAlertOnce, resolveAlerts } from "./model/alerts";
import { aggregatePrice } from "./domain/prices";
import { currentPrices } from "./model/risk/priceReadings";
import { askSource, type Asset } from "./oracle/priceSources";
import schema from "./schema";
import { oracleAssetValidator } from "./validators";

/** The `source` of a stored aggregate, beside the per-source answers. */
export const MEDIAN_SOURCE = "median";
const PRICE_UNAVAILABLE = "price-unavailable";

const priceFields = schema.tables.oraclePrices.validator.fields;
/** One source's answer, stored as it came. */
const answerValidator = v.object(pick(priceFields, ["asset", "source", "priceUsd", "observedAt"]));
/** The median of the sources' answers, stored under MEDIAN_SOURCE. */
const aggregateValidator = v.object(omit(priceFields, ["source"]));

export const recordPrices = internalMutation({
  args: {
    answers: v.array(answerValidator),
    aggregates: v.array(aggregateValidator),
    unavailable: v.array(v.object({ asset: oracleAssetValidator, reason: v.string() })),
  },
  returns: v.null(),
  handler: async (ctx, { answers, aggregates, unavailable }) => {
    for (const answer of answers) await ctx.db.insert("oraclePrices", answer);
    for (const aggregate of aggregates) {
      await ctx.db.insert("oraclePrices", { ...aggregate, source: MEDIAN_SOURCE });
      await resolveAlerts(ctx, PRICE_UNAVAILABLE, aggregate.asset);
    }
    // Raised when a price becomes unavailable, not on every refresh while it stays so.
    for (const { asset, reason } of unavailable) {
      await raiseAlertOnce(ctx, PRICE_UNAVAILABLE, asset, `${asset}/USD is unavailable: ${reason}`);
    }
    return null;
  },
});

export const refreshPrices = internalAction({
  args: {},
  returns: v.object({ available: v.array(oracleAssetValidator), unavailable: v.array(oracleAssetValidator) }),
  handler: async (ctx) => {
    const config = readOracleConfig();
    const assets: Asset[] = ["BTC", "STX"];
    const outcomes = await Promise.all(assets.flatMap((asset) => config.sources.map((source) => askSource(source, asset))));
    const now = Date.now();
    const answers = [];
    const aggregates = [];
    const unavailable = [];
    for (const asset of assets) {
      const mine = outcomes.filter((o) => o.asset === asset);
      const good = mine.flatMap((o) => (o.ok ? [o.answer] : []));
      for (const answer of good) answers.push({ asset, ...answer });
      const aggregated = aggregatePrice(good, config.rules, now);
      if (aggregated.available) aggregates.push({ asset, priceUsd: aggregated.priceUsd, observedAt: now });
      else {
        const failures = mine.flatMap((o) => (o.ok ? [] : [`${o.source}: ${o.error}`]));
        unavailable.push({ asset, reason: [aggregated.reason, ...failures].join("; ") });
      }
    }
    await ctx.runMutation(internal.oracle.recordPrices, { answers, aggregates, unavailable });
    return { available: aggregates.map((a) => a.asset), unavailable: unavailable.map((u) => u.asset) };
  },
});

/** The current BTC and STX prices, or why they are unavailable. */
export const getCurrentPrices = internalQuery({
  args: {},
  returns: v.union(
    v.object({ available: v.literal(true), btcUsd: v.int64(), stxUsd: v.int64(), observedAt: v.number() }),
    v.object({ available: v.literal(false), reason: v.string() }),
  ),
  handler: async (ctx) => await currentPrices(ctx, priceFreshnessAt(Date.now())),
});
