/**
 * The Stacks API's request budget (README, "Rate limits"): the rate-limit
 * headers read exactly, the reserve, how long a non-essential request waits;
 * then the client with a stub fetch and clock: a long Retry-After or an
 * exhausted budget is a RateLimitedError carrying the wait, never a sleep; a
 * short one is slept; a broadcast goes out whatever the budget. And the
 * mainnet key rule of `readChainConfig`. Over HTTP against the local server:
 * tests/integration/rateLimits.test.ts.
 */
import { describe, expect, test } from "vitest";

import { HiroClient, RateLimitedError, rateLimitedOf } from "../../convex/chain/hiroClient";
import {
  RateBudget,
  readRateWindows,
  reserveOf,
  RESERVE_MIN,
  retryAfterMs,
  waitForBudget,
  type RateWindow,
} from "../../convex/chain/rateBudget";
import { readChainConfig } from "../../convex/config";
import { isPoolError } from "../../convex/domain/errors";

/** 2026-01-01T00:00:00Z, in ms. */
const NOW = 1_767_225_600_000;

const headers = (entries: Record<string, string>) => new Headers(entries);

describe("readRateWindows", () => {
  test("reads ratelimit-* with ratelimit-reset as a Unix timestamp, as Hiro documents it", () => {
    const windows = readRateWindows(
      headers({ "ratelimit-limit": "500", "ratelimit-remaining": "499", "ratelimit-reset": String(NOW / 1000 + 42) }),
      NOW,
    );
    expect(windows).toEqual([{ name: "ratelimit", limit: 500, remaining: 499, resetAtMs: NOW + 42_000 }]);
  });

  test("reads ratelimit-reset as seconds from now when it is too small to be a timestamp (the IETF draft's form)", () => {
    const windows = readRateWindows(headers({ "ratelimit-remaining": "3", "ratelimit-reset": "17" }), NOW);
    expect(windows).toEqual([{ name: "ratelimit", limit: null, remaining: 3, resetAtMs: NOW + 17_000 }]);
  });

  test("reads the Stacks service's second and minute windows, each reset within its length, and leaves the month to the 429", () => {
    const windows = readRateWindows(
      headers({
        "x-ratelimit-cost-stacks": "1",
        "x-ratelimit-limit-stacks-second": "10",
        "x-ratelimit-remaining-stacks-second": "9",
        "x-ratelimit-limit-stacks-minute": "500",
        "x-ratelimit-remaining-stacks-minute": "499",
        "x-ratelimit-limit-stacks-month": "150000",
        "x-ratelimit-remaining-stacks-month": "100",
      }),
      NOW,
    );
    expect(windows).toEqual([
      { name: "stacks-second", limit: 10, remaining: 9, resetAtMs: NOW + 1_000 },
      { name: "stacks-minute", limit: 500, remaining: 499, resetAtMs: NOW + 60_000 },
    ]);
  });

  test("finds nothing in an answer without rate-limit headers (a self-hosted API), and passes malformed ones over", () => {
    expect(readRateWindows(headers({ "content-type": "application/json" }), NOW)).toEqual([]);
    expect(readRateWindows(headers({ "ratelimit-remaining": "many", "ratelimit-reset": "10" }), NOW)).toEqual([]);
    expect(readRateWindows(headers({ "ratelimit-remaining": "5" }), NOW)).toEqual([]);
    expect(readRateWindows(headers({ "x-ratelimit-remaining-stacks-minute": "-1" }), NOW)).toEqual([]);
  });
});

describe("the reserve", () => {
  test("is a tenth of the limit, rounded up, and never fewer than two", () => {
    expect(RESERVE_MIN).toBe(2);
    expect(reserveOf({ limit: 500 })).toBe(50);
    expect(reserveOf({ limit: 25 })).toBe(3);
    expect(reserveOf({ limit: 10 })).toBe(2);
    expect(reserveOf({ limit: 0 })).toBe(2);
    expect(reserveOf({ limit: null })).toBe(2);
  });
});

describe("waitForBudget", () => {
  const window = (remaining: number, resetInMs: number, limit: number | null = 100): RateWindow => ({
    name: "ratelimit",
    limit,
    remaining,
    resetAtMs: NOW + resetInMs,
  });

  test("lets a request go while the window holds at least its reserve", () => {
    expect(waitForBudget([], NOW)).toBe(0);
    expect(waitForBudget([window(10, 30_000)], NOW)).toBe(0);
    expect(waitForBudget([window(2, 30_000, null)], NOW)).toBe(0);
  });

  test("holds it back until the reset once fewer than the reserve are left", () => {
    expect(waitForBudget([window(9, 30_000)], NOW)).toBe(30_000);
    expect(waitForBudget([window(0, 30_000)], NOW)).toBe(30_000);
    expect(waitForBudget([window(1, 4_000, null)], NOW)).toBe(4_000);
  });

  test("waits for the last exhausted window; a window past its reset holds nothing back", () => {
    const minute = { ...window(1, 50_000, 500), name: "stacks-minute" };
    expect(waitForBudget([window(0, 5_000), minute], NOW)).toBe(50_000);
    expect(waitForBudget([window(0, 0), window(0, -1)], NOW)).toBe(0);
  });
});

describe("retryAfterMs", () => {
  test("reads seconds, or an HTTP date", () => {
    expect(retryAfterMs(headers({ "retry-after": "120" }), NOW)).toBe(120_000);
    expect(retryAfterMs(headers({ "retry-after": "1.5" }), NOW)).toBe(1_500);
    expect(retryAfterMs(headers({ "retry-after": new Date(NOW + 90_000).toUTCString() }), NOW)).toBe(90_000);
  });

  test("is null when absent, zero, past or malformed", () => {
    expect(retryAfterMs(headers({}), NOW)).toBeNull();
    expect(retryAfterMs(headers({ "retry-after": "0" }), NOW)).toBeNull();
    expect(retryAfterMs(headers({ "retry-after": new Date(NOW - 1_000).toUTCString() }), NOW)).toBeNull();
    expect(retryAfterMs(headers({ "retry-after": "soon" }), NOW)).toBeNull();
  });
});

describe("RateBudget", () => {
  test("keeps each window as its newest answer describes it", () => {
    const budget = new RateBudget();
    budget.observe(headers({ "ratelimit-limit": "100", "ratelimit-remaining": "50", "ratelimit-reset": "30" }), NOW);
    expect(budget.waitMs(NOW)).toBe(0);
    budget.observe(headers({ "ratelimit-limit": "100", "ratelimit-remaining": "5", "ratelimit-reset": "20" }), NOW + 10_000);
    expect(budget.waitMs(NOW + 10_000)).toBe(20_000);
    // An answer without headers changes nothing.
    budget.observe(headers({}), NOW + 11_000);
    expect(budget.waitMs(NOW + 11_000)).toBe(19_000);
    expect(budget.waitMs(NOW + 30_000)).toBe(0);
  });
});

/** A client over a stub fetch that answers from `answers` in turn, and records what it was asked and how long it slept. */
function stubClient(answers: (() => Response)[], clock = { now: NOW }) {
  const asked: { url: string; headers: Headers }[] = [];
  const slept: number[] = [];
  const client = new HiroClient({
    baseUrl: "http://api.invalid",
    apiKey: "test-key",
    fetch: async (input, init) => {
      asked.push({ url: String(input), headers: new Headers(init?.headers) });
      const next = answers.shift();
      if (!next) throw new Error("no more answers");
      return next();
    },
    sleep: async (ms) => {
      slept.push(ms);
      clock.now += ms;
    },
    now: () => clock.now,
  });
  return { client, asked, slept, clock };
}

const INFO = { stacks_tip_height: 7, burn_block_height: 100 };
const info = (extra: Record<string, string> = {}) => () => Response.json(INFO, { headers: extra });
const tooMany = (extra: Record<string, string>) => () => Response.json({ error: "Too Many Requests" }, { status: 429, headers: extra });

describe("HiroClient under a rate limit", () => {
  test("sends the API key as x-api-key", async () => {
    const { client, asked } = stubClient([info()]);
    await client.getTipHeight();
    expect(asked[0]?.headers.get("x-api-key")).toBe("test-key");
  });

  test("a 429 with Retry-After: 120 is a RateLimitedError carrying 120 s, asked once, never slept", async () => {
    const { client, asked, slept } = stubClient([tooMany({ "retry-after": "120" })]);
    const error = await client.getTipHeight().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(isPoolError(error, "CHAIN_UNAVAILABLE")).toBe(true);
    expect(rateLimitedOf(error)?.retryAfterMs).toBe(120_000);
    expect((error as RateLimitedError).data.message).toBe("Stacks API rate limit: /v2/info answered 429, retry in 120 s");
    expect(asked).toHaveLength(1);
    expect(slept).toEqual([]);
  });

  test("a 429 without Retry-After takes the wait from its rate-limit headers", async () => {
    const { client, slept } = stubClient([tooMany({ "ratelimit-remaining": "0", "ratelimit-reset": String(NOW / 1000 + 45) })]);
    const error = await client.getTipHeight().catch((e: unknown) => e);
    expect(rateLimitedOf(error)?.retryAfterMs).toBe(45_000);
    expect(slept).toEqual([]);
  });

  test("a short Retry-After is still slept in the action, and the request retried", async () => {
    const { client, asked, slept } = stubClient([tooMany({ "retry-after": "2" }), info()]);
    expect(await client.getTipHeight()).toBe(7n);
    expect(asked).toHaveLength(2);
    expect(slept).toEqual([2_000]);
  });

  test("a 503's Retry-After stays a capped backoff: only a 429 reschedules", async () => {
    const { client, slept } = stubClient([() => new Response("busy", { status: 503, headers: { "retry-after": "120" } }), info()]);
    expect(await client.getTipHeight()).toBe(7n);
    expect(slept).toEqual([10_000]);
  });

  test("below the reserve, the next request is held back with the wait until the reset, not sent", async () => {
    const low = { "ratelimit-limit": "50", "ratelimit-remaining": "4", "ratelimit-reset": "30" };
    const { client, asked, slept } = stubClient([info(low), info()]);
    expect(await client.getTipHeight()).toBe(7n);
    const error = await client.getTipHeight().catch((e: unknown) => e);
    expect(rateLimitedOf(error)?.retryAfterMs).toBe(30_000);
    expect((error as RateLimitedError).data.message).toBe(
      "Stacks API rate limit: less than the reserve left, /v2/info held back for 30 s",
    );
    expect(asked).toHaveLength(1);
    expect(slept).toEqual([]);
  });

  test("at the reserve exactly, requests still go", async () => {
    const atReserve = { "ratelimit-limit": "50", "ratelimit-remaining": "5", "ratelimit-reset": "30" };
    const { client, asked } = stubClient([info(atReserve), info()]);
    await client.getTipHeight();
    await client.getTipHeight();
    expect(asked).toHaveLength(2);
  });

  test("a short wait for the budget is slept, then the request goes", async () => {
    const low = { "x-ratelimit-limit-stacks-second": "10", "x-ratelimit-remaining-stacks-second": "0" };
    const { client, asked, slept } = stubClient([info(low), info()]);
    await client.getTipHeight();
    expect(await client.getTipHeight()).toBe(7n);
    expect(asked).toHaveLength(2);
    expect(slept).toEqual([1_000]);
  });

  test("a broadcast goes out whatever the budget: the reserve is kept for it", async () => {
    const low = { "ratelimit-limit": "50", "ratelimit-remaining": "1", "ratelimit-reset": "30" };
    const txid = "ab".repeat(32);
    const { client, asked } = stubClient([info(low), () => Response.json(txid)]);
    await client.getTipHeight();
    expect(await client.broadcast(new Uint8Array([1, 2, 3]))).toEqual({ accepted: true, txid: `0x${txid}` });
    expect(asked.map((a) => a.url)).toEqual(["http://api.invalid/v2/info", "http://api.invalid/v2/transactions"]);
    await expect(client.getTipHeight()).rejects.toBeInstanceOf(RateLimitedError);
  });
});

describe("readChainConfig on mainnet", () => {
  const VAULT = "SP2C2YFP12AJZB4MABJBAJ55XECVS7E4PMMZ89YZR.liquidity-pool";
  const SBTC = "SM3VDXK3WZZSA84XXFKAFAF15NNZX32CTSG82JFQ4.sbtc-token";
  const mainnet = (extra: Record<string, string> = {}) => ({
    STACKS_NETWORK: "mainnet",
    VAULT_CONTRACT_ID: VAULT,
    SBTC_CONTRACT_ID: SBTC,
    ...extra,
  });
  const refusal = (environment: Record<string, string>) => {
    try {
      readChainConfig(environment);
    } catch (error) {
      return error;
    }
    return null;
  };

  test("refuses Hiro's API without HIRO_API_KEY, naming the variable and no value", () => {
    for (const environment of [mainnet(), mainnet({ STACKS_API_URL: "https://api.hiro.so/" })]) {
      const error = refusal(environment);
      expect(isPoolError(error, "CONFIGURATION_MISSING")).toBe(true);
      const message = (error as { data: { message: string } }).data.message;
      expect(message).toContain("HIRO_API_KEY");
      expect(message).not.toContain("https://");
    }
  });

  test("takes it with the key, sent as x-api-key by the client", () => {
    expect(readChainConfig(mainnet({ HIRO_API_KEY: "k" })).apiKey).toBe("k");
  });

  test("takes a self-hosted API without a key; testnet and devnet need none", () => {
    expect(readChainConfig(mainnet({ STACKS_API_URL: "https://stacks-api.example.org" })).apiUrl).toBe("https://stacks-api.example.org");
    expect(readChainConfig(mainnet({ STACKS_API_URL: "http://10.0.0.5:3999" })).apiKey).toBeUndefined();
    expect(refusal({ ...mainnet(), STACKS_NETWORK: "testnet" })).toBeNull();
    expect(refusal({ ...mainnet(), STACKS_NETWORK: "devnet" })).toBeNull();
  });

  test("does not take a look-alike host for a self-hosted one", () => {
    expect(refusal(mainnet({ STACKS_API_URL: "https://mainnet.hiro.so" }))).not.toBeNull();
    expect(refusal(mainnet({ STACKS_API_URL: "https://hiro.so.example.org" }))).toBeNull();
  });
});
