/**
 * The Stacks API's rate limits, against the local Hiro-compatible server over
 * real HTTP (README, "Rate limits"): `follow` looks every broadcast
 * transaction up in one request; a 429 with a long Retry-After makes the sync
 * schedule itself instead of sleeping, and its events are applied by the
 * rescheduled run; `follow` rate-limited stops and leaves the retry to its
 * cron; a budget near zero holds requests back before the server refuses
 * them; mainnet without an API key is refused. Request counts are the
 * server's own (GET /_local/rate-limit). The budget's exact rules:
 * tests/convex/rateBudget.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { api } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { RateLimitRequest, RateLimitState } from "../../devnet/rateLimit";
import { backend, expectQuiet, follow, localPost, pendingRow, send, stack, sync, useBackendStack } from "./backendTransactionsFixtures";
import { mine, newWallet, signAndBroadcast } from "./stack";

useBackendStack({ funded: true });

/** Sets the server's limit (null: none) and starts its request counts afresh. */
async function rateLimit(setting: RateLimitRequest): Promise<RateLimitState> {
  const response = await localPost("/_local/rate-limit", setting);
  if (!response.ok) throw new Error(`rate limit refused: ${await response.text()}`);
  return (await response.json()) as RateLimitState;
}

async function served(): Promise<RateLimitState> {
  return (await (await fetch(`${stack.server.url}/_local/rate-limit`)).json()) as RateLimitState;
}

/** Requests the server has had since the last `rateLimit`, all paths together. */
const total = (state: RateLimitState) => Object.values(state.requests).reduce((a, b) => a + b, 0);

async function scheduled(name: string) {
  const jobs = await backend().run(async (ctx) => await ctx.db.system.query("_scheduled_functions").collect());
  return jobs.filter((job) => job.name === name && job.state.kind === "pending");
}

/** Takes back runs a test left scheduled, so none starts after it. */
async function cancelScheduled(): Promise<void> {
  await backend().run(async (ctx) => {
    for (const job of await ctx.db.system.query("_scheduled_functions").collect()) {
      if (job.state.kind === "pending") await ctx.scheduler.cancel(job._id);
    }
  });
}

async function stxTotal(address: string): Promise<bigint> {
  const portfolio = await stack.t.withIdentity({ subject: address }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX")?.total ?? 0n;
}

async function depositOf(amount: bigint): Promise<string> {
  const wallet = await newWallet(stack.server);
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier: "Balanced" });
  await signAndBroadcast(stack.server, call, wallet.key);
  await mine(stack.server);
  return wallet.address;
}

afterEach(async () => {
  vi.useRealTimers();
  await cancelScheduled();
  await rateLimit({ limit: null });
  await localPost("/_local/faults/clear", {});
});

describe("rate limits", () => {
  it("follows 20 broadcast transactions with one transaction lookup", async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n)));
    expect(await send()).toEqual({ broadcast: 10, rejected: 0 });
    expect(await send()).toEqual({ broadcast: 10, rejected: 0 });
    await mine(stack.server);

    await rateLimit({ limit: null });
    expect(await follow()).toEqual({ confirmed: 20, failed: 0, replaced: 0 });
    const { requests } = await served();
    // One GET /extended/v1/tx/multiple for all twenty (⌈20/50⌉), and the tip.
    expect(requests).toEqual({ "/v2/info": 1, "/extended/v1/tx/multiple": 1 });
    for (const id of ids) expect((await backend().run(async (ctx) => await ctx.db.get("chainTransactions", id)))?.status).toBe("confirmed");
    await sync();
    await expectQuiet();
  });

  it("a 429 with Retry-After: 120 reschedules the sync after 120 s instead of sleeping; the rescheduled run applies the events", async () => {
    const depositor = await depositOf(4_321n);
    await rateLimit({ limit: null });
    await localPost("/_local/faults", { path: "/v2/info", status: 429, times: 1, retryAfterSeconds: 120 });

    // The scheduler's timer is a fake one, so the rescheduled run starts when the test says; and
    // a client that slept instead of rescheduling would wait on a fake timer for ever.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const limited = await sync();
    expect(limited).toMatchObject({ applied: 0, rateLimitedForMs: 120_000 });
    expect(limited.tipHeight).toBeUndefined();
    expect((await served()).requests["/v2/info"]).toBe(1);
    expect(await stxTotal(depositor)).toBe(0n);
    const [job, ...others] = await scheduled("eventSync:syncVaultEvents");
    expect(others).toEqual([]);
    expect(job?.args).toEqual([{}]);
    expect(job!.scheduledTime - job!._creationTime).toBeGreaterThan(119_000);
    expect(job!.scheduledTime - job!._creationTime).toBeLessThanOrEqual(120_000);

    // A cron tick that meets the limit meanwhile does not schedule a second run.
    await localPost("/_local/faults", { path: "/v2/info", status: 429, times: 1, retryAfterSeconds: 90 });
    expect(await sync()).toMatchObject({ applied: 0, rateLimitedForMs: 90_000 });
    expect(await scheduled("eventSync:syncVaultEvents")).toHaveLength(1);

    let advanced = false;
    await stack.t.finishAllScheduledFunctions(() => {
      if (advanced) return;
      advanced = true;
      vi.advanceTimersByTime(120_000);
    });
    expect(await stxTotal(depositor)).toBe(4_321n);
    expect(await scheduled("eventSync:syncVaultEvents")).toEqual([]);
  });

  it("follow, rate-limited, stops and leaves the retry to its next cron tick", async () => {
    await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    await localPost("/_local/faults", { path: "/extended/v1/tx/multiple", status: 429, times: 1, retryAfterSeconds: 120 });

    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0, rateLimitedForMs: 120_000 });
    expect(await scheduled("chainTransactions:follow")).toEqual([]);
    vi.useRealTimers();

    // The next tick, once the API answers again, confirms it.
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    await sync();
    await expectQuiet();
  });

  it("holds requests back once the budget is below its reserve, before the server refuses any", async () => {
    const depositor = await depositOf(777n);
    // 20 requests per 5-minute window: a reserve of 2. Spend 17 of them.
    await rateLimit({ limit: 20, windowSeconds: 300 });
    for (let i = 0; i < 17; i++) expect((await fetch(`${stack.server.url}/v2/info`)).status).toBe(200);

    // The sync's first answers leave fewer than 2: every other request of the run waits for the window.
    const limited = await sync();
    expect(limited.applied).toBe(0);
    // Until the window's reset, which the header gives in whole seconds.
    expect(limited.rateLimitedForMs).toBeGreaterThan(10_000);
    expect(limited.rateLimitedForMs).toBeLessThanOrEqual(301_000);
    const state = await served();
    expect(state.used).toBeLessThanOrEqual(20);
    expect(total(state)).toBe(state.used); // nothing refused with a 429
    expect(await scheduled("eventSync:syncVaultEvents")).toHaveLength(1);
    expect(await stxTotal(depositor)).toBe(0n);

    // The window over (here: the limit lifted), a run applies the deposit.
    await cancelScheduled();
    await rateLimit({ limit: null });
    expect((await sync()).applied).toBe(1);
    expect(await stxTotal(depositor)).toBe(777n);
  });

  it("answers over the limit with 429, Retry-After and the rate-limit headers, as Hiro's gateway does", async () => {
    await rateLimit({ limit: 2 });
    const first = await fetch(`${stack.server.url}/v2/info`);
    expect(first.headers.get("ratelimit-limit")).toBe("2");
    expect(first.headers.get("ratelimit-remaining")).toBe("1");
    expect(first.headers.get("x-ratelimit-remaining-stacks-minute")).toBe("1");
    const reset = Number(first.headers.get("ratelimit-reset"));
    expect(reset).toBeGreaterThan(1e9);
    await fetch(`${stack.server.url}/v2/info`);
    const refused = await fetch(`${stack.server.url}/v2/info`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: "Too Many Requests" });
    expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    // Control routes are neither limited nor counted.
    expect((await localPost("/_local/mine", { count: 1 })).status).toBe(200);
    expect((await served()).requests).toEqual({ "/v2/info": 3 });
  });

  it("refuses mainnet without HIRO_API_KEY when the API is Hiro's, before any request; a self-hosted API needs none", async () => {
    vi.stubEnv("STACKS_NETWORK", "mainnet");
    vi.stubEnv("STACKS_API_URL", "https://api.hiro.so");
    try {
      const error = await sync().catch((e: unknown) => e);
      expect((error as { data?: unknown }).data).toEqual({
        code: "CONFIGURATION_MISSING",
        message:
          "HIRO_API_KEY is required on mainnet when STACKS_API_URL is Hiro's API (unset, or a hiro.so host); set it, or point STACKS_API_URL at a self-hosted API",
      });

      // The local server stands for a self-hosted API: no key needed.
      vi.stubEnv("STACKS_API_URL", stack.server.url);
      const result = await sync();
      expect(result.tipHeight).toBe(BigInt(stack.server.chain.blocks.tip.height));
      expect(result.rateLimitedForMs).toBeUndefined();
    } finally {
      vi.stubEnv("STACKS_NETWORK", "testnet");
      vi.stubEnv("STACKS_API_URL", stack.server.url);
    }
  });
});

describe("the local server without a limit", () => {
  it("sends no rate-limit headers, like a self-hosted API", async () => {
    await rateLimit({ limit: null });
    const response = await fetch(`${stack.server.url}/v2/info`);
    expect(response.headers.get("ratelimit-remaining")).toBeNull();
  });
});
