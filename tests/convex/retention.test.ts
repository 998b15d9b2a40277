/**
 * Retention (README "Retention"): each growing table loses its old rows a
 * bounded page at a time, and never a row that is still read: the newest
 * price of each asset and source, an open alert, an uncleared health
 * notification, an unexpired challenge.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { readRetentionConfig } from "../../convex/config";
import crons from "../../convex/crons";
import { currentPrices } from "../../convex/model/risk/priceReadings";
import { SIGN_IN_BUCKET_REFILL_MS } from "../../convex/model/auth/signInLimits";
import { newBackend, type Backend } from "./convexTest";

const NOW = Date.parse("2030-06-01T00:00:00.000Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ADDRESS = "ST000000000000000000002AMW42H";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.useRealTimers();
});

type PrunedTable = "oraclePrices" | "alerts" | "reconciliations" | "healthNotifications" | "authChallenges" | "rateLimits" | "tierChoices";

async function prune(t: Backend, table: PrunedTable, batchSize?: number) {
  return await t.mutation(internal.retention.prune, batchSize === undefined ? { table } : { table, batchSize });
}

async function all<Table extends PrunedTable>(t: Backend, table: Table) {
  return await t.run(async (ctx) => await ctx.db.query(table).collect());
}

function price(asset: "BTC" | "STX", source: string, ageMs: number) {
  return { asset, source, priceUsd: 100n, observedAt: NOW - ageMs };
}

describe("oracle prices", () => {
  test("older than 7 days are deleted, but the newest of each asset and source stays whatever its age", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const asset of ["BTC", "STX"] as const) {
        for (const source of ["median", "coinbase"]) {
          await ctx.db.insert("oraclePrices", price(asset, source, 9 * DAY));
          await ctx.db.insert("oraclePrices", price(asset, source, 8 * DAY));
          await ctx.db.insert("oraclePrices", price(asset, source, 6 * DAY));
        }
        // A source that stopped answering 20 days ago: its last observation is kept.
        await ctx.db.insert("oraclePrices", price(asset, "kraken", 21 * DAY));
        await ctx.db.insert("oraclePrices", price(asset, "kraken", 20 * DAY));
      }
    });

    expect(await prune(t, "oraclePrices")).toEqual({ deleted: 10, continued: false });

    const left = (await all(t, "oraclePrices")).map((row) => [row.asset, row.source, (NOW - row.observedAt) / DAY]);
    expect(left.sort()).toEqual(
      [
        ["BTC", "coinbase", 6],
        ["BTC", "kraken", 20],
        ["BTC", "median", 6],
        ["STX", "coinbase", 6],
        ["STX", "kraken", 20],
        ["STX", "median", 6],
      ].sort(),
    );
  });

  test("a feed stalled past the period still reads as stale, not as no price", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const asset of ["BTC", "STX"] as const) {
        await ctx.db.insert("oraclePrices", price(asset, "median", 30 * DAY));
        await ctx.db.insert("oraclePrices", price(asset, "median", 10 * DAY));
      }
    });
    await prune(t, "oraclePrices");
    const prices = await t.run(async (ctx) => await currentPrices(ctx, { now: NOW, maxAgeMs: 120_000 }));
    expect(prices).toEqual({ available: false, reason: "BTC/USD is stale (864000 s old)" });
    expect(await all(t, "oraclePrices")).toHaveLength(2);
  });

  test("a full page that only holds rows to keep does not schedule itself forever", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      await ctx.db.insert("oraclePrices", price("BTC", "median", 30 * DAY));
      await ctx.db.insert("oraclePrices", price("STX", "median", 30 * DAY));
    });
    expect(await prune(t, "oraclePrices", 1)).toEqual({ deleted: 0, continued: false });
  });

  test("RETENTION_ORACLE_PRICES_DAYS sets the period", async () => {
    vi.stubEnv("RETENTION_ORACLE_PRICES_DAYS", "1");
    const t = newBackend();
    await t.run(async (ctx) => {
      await ctx.db.insert("oraclePrices", price("BTC", "median", 2 * DAY));
      await ctx.db.insert("oraclePrices", price("BTC", "median", 12 * HOUR));
    });
    expect(await prune(t, "oraclePrices")).toEqual({ deleted: 1, continued: false });
  });
});

describe("alerts, reconciliations and health notifications", () => {
  test("resolved alerts raised over 90 days ago go; open ones stay however old", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const [resolved, age] of [[true, 91 * DAY], [true, 89 * DAY], [false, 400 * DAY]] as const) {
        await ctx.db.insert("alerts", { kind: `k-${resolved}-${age}`, message: "m", resolved, createdAt: NOW - age });
      }
    });
    expect(await prune(t, "alerts")).toEqual({ deleted: 1, continued: false });
    expect((await all(t, "alerts")).map((a) => [a.resolved, (NOW - a.createdAt) / DAY])).toEqual([
      [true, 89],
      [false, 400],
    ]);
  });

  test("reconciliations of either token checked over 30 days ago go", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const token of ["STX", "sBTC"] as const) {
        for (const age of [31 * DAY, 29 * DAY]) {
          await ctx.db.insert("reconciliations", {
            token,
            status: "match",
            onChainBalance: 0n,
            onChainLocked: 0n,
            expectedBalance: 0n,
            expectedLocked: 0n,
            syncedThroughHeight: 0n,
            checkedAt: NOW - age,
          });
        }
      }
    });
    expect(await prune(t, "reconciliations")).toEqual({ deleted: 2, continued: false });
    expect((await all(t, "reconciliations")).map((r) => [r.token, (NOW - r.checkedAt) / DAY])).toEqual([
      ["STX", 29],
      ["sBTC", 29],
    ]);
  });

  test("cleared health notifications over 30 days old go; an uncleared margin call stays", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const [cleared, age] of [[true, 31 * DAY], [true, 29 * DAY], [false, 90 * DAY]] as const) {
        await ctx.db.insert("healthNotifications", {
          provider: ADDRESS,
          status: "MarginCall",
          previousStatus: "Healthy",
          shortfallUstx: 1n,
          shortfallSats: 1n,
          cleared,
          webhook: "sent",
          createdAt: NOW - age,
        });
      }
    });
    expect(await prune(t, "healthNotifications")).toEqual({ deleted: 1, continued: false });
    expect((await all(t, "healthNotifications")).map((n) => [n.cleared, (NOW - n.createdAt) / DAY])).toEqual([
      [true, 29],
      [false, 90],
    ]);
  });
});

describe("sign-in challenges and rate-limit buckets", () => {
  test("challenges expired over an hour ago go, used or not; recently expired and live ones stay", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (const [i, [expiresIn, usedAt]] of (
        [
          [-2 * HOUR, NOW - 3 * HOUR],
          [-61 * MINUTE, undefined],
          [-30 * MINUTE, undefined],
          [4 * MINUTE, undefined],
        ] as const
      ).entries()) {
        await ctx.db.insert("authChallenges", {
          address: ADDRESS,
          nonce: i.toString(16).padStart(64, "0"),
          message: "m",
          expiresAt: NOW + expiresIn,
          ...(usedAt === undefined ? {} : { usedAt }),
        });
      }
    });
    expect(await prune(t, "authChallenges")).toEqual({ deleted: 2, continued: false });
    expect((await all(t, "authChallenges")).map((c) => (c.expiresAt - NOW) / MINUTE)).toEqual([-30, 4]);
  });

  test("a bucket untouched long enough to be full again goes; a recent one stays", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      await ctx.db.insert("rateLimits", { name: "signInPerClient", key: "a", value: 0, ts: NOW - SIGN_IN_BUCKET_REFILL_MS - 1 });
      await ctx.db.insert("rateLimits", { name: "signInPerClient", key: "b", value: 0, ts: NOW - SIGN_IN_BUCKET_REFILL_MS + 1000 });
    });
    expect(await prune(t, "rateLimits")).toEqual({ deleted: 1, continued: false });
    expect((await all(t, "rateLimits")).map((b) => b.key)).toEqual(["b"]);
  });
});

describe("tier choices", () => {
  test("a choice no deposit followed for 7 days goes; a recent one stays", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      await ctx.db.insert("tierChoices", { provider: ADDRESS, tier: "Balanced", chosenAt: NOW - 7 * DAY - 1 });
      await ctx.db.insert("tierChoices", { provider: "ST000000000000000000002AMW42H.other", tier: "Aggressive", chosenAt: NOW - 6 * DAY });
    });
    expect(await prune(t, "tierChoices")).toEqual({ deleted: 1, continued: false });
    expect((await all(t, "tierChoices")).map((c) => c.tier)).toEqual(["Aggressive"]);
    vi.stubEnv("RETENTION_TIER_CHOICES_DAYS", "5");
    expect(await prune(t, "tierChoices")).toEqual({ deleted: 1, continued: false });
    expect(await all(t, "tierChoices")).toEqual([]);
  });
});

describe("the retention job", () => {
  test("works through a backlog in bounded pages via the scheduler", async () => {
    const t = newBackend();
    await t.run(async (ctx) => {
      for (let i = 0; i < 5; i++) {
        await ctx.db.insert("authChallenges", {
          address: ADDRESS,
          nonce: i.toString(16).padStart(64, "0"),
          message: "m",
          expiresAt: NOW - 2 * HOUR + i,
        });
      }
    });
    vi.useFakeTimers({ now: NOW });
    expect(await prune(t, "authChallenges", 2)).toEqual({ deleted: 2, continued: true });
    await t.finishAllScheduledFunctions(() => vi.runAllTimers());
    expect(await all(t, "authChallenges")).toEqual([]);
  });

  test("the cron runs every table's rule", async () => {
    expect(Object.values(crons.crons).filter((job) => job.name === "retention:run")).toHaveLength(1);

    const t = newBackend();
    await t.run(async (ctx) => {
      await ctx.db.insert("oraclePrices", price("BTC", "median", 8 * DAY));
      await ctx.db.insert("oraclePrices", price("BTC", "median", 1 * DAY));
      await ctx.db.insert("alerts", { kind: "k", message: "m", resolved: true, createdAt: NOW - 100 * DAY });
      await ctx.db.insert("authChallenges", { address: ADDRESS, nonce: "0".repeat(64), message: "m", expiresAt: NOW - 2 * HOUR });
    });
    vi.useFakeTimers({ now: NOW });
    await t.mutation(internal.retention.run, {});
    await t.finishAllScheduledFunctions(() => vi.runAllTimers());
    expect(await all(t, "oraclePrices")).toHaveLength(1);
    expect(await all(t, "alerts")).toEqual([]);
    expect(await all(t, "authChallenges")).toEqual([]);
  });

  test("periods default to 7, 90, 30 and 30 days, 1 hour and 7 days; a malformed one is CONFIGURATION_MISSING", () => {
    expect(readRetentionConfig({})).toEqual({
      oraclePricesMs: 7 * DAY,
      resolvedAlertsMs: 90 * DAY,
      reconciliationsMs: 30 * DAY,
      healthNotificationsMs: 30 * DAY,
      expiredChallengesMs: HOUR,
      tierChoicesMs: 7 * DAY,
    });
    expect(readRetentionConfig({ RETENTION_RESOLVED_ALERTS_DAYS: "", RETENTION_EXPIRED_CHALLENGES_HOURS: "0.5" })).toMatchObject({
      resolvedAlertsMs: 90 * DAY,
      expiredChallengesMs: HOUR / 2,
    });
    expect(() => readRetentionConfig({ RETENTION_ORACLE_PRICES_DAYS: "-1" })).toThrow(/CONFIGURATION_MISSING.*RETENTION_ORACLE_PRICES_DAYS/);
    expect(() => readRetentionConfig({ RETENTION_ORACLE_PRICES_DAYS: "soon" })).toThrow(/CONFIGURATION_MISSING/);
  });
});
