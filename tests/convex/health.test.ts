/**
 * Collateral health through the real Convex functions: the sweep's status
 * transitions at their exact thresholds, a BTC crash, stale prices,
 * notifications and the webhook, paging, health-limited withdrawals, and a
 * property that every status equals a direct recomputation after any price
 * path.
 *
 * Conservative tier: Healthy at ≥ 150%, MarginCall below 125%, withdrawals
 * must leave ≥ 150% + 5%.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { collateralRatioBps, statusFor } from "../../convex/domain/health";
import { PRICE_SCALE } from "../../convex/domain/policyMath";
import { newBackend } from "./convexTest";
import { ALICE, BOB, CAROL, configureChain, depositEvent, SIGNER_ADDRESS } from "./liquidityFixtures";
import { expectPoolError } from "./poolErrors";

type Backend = ReturnType<typeof newBackend>;

const USD = PRICE_SCALE;
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const SBTC_BACKER = ALICE; // 0.5 BTC
const STX_BACKER = BOB; // 15,000 STX
const IDLE = CAROL; // deposits in another tier, backs nothing
const THIRD = "ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND";

let policyIds = 0n;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

async function setPrices(t: Backend, btcUsd: bigint, stxUsd: bigint, observedAt = Date.now()) {
  await t.run(async (ctx) => {
    await ctx.db.insert("oraclePrices", { asset: "BTC", source: "median", priceUsd: btcUsd, observedAt });
    await ctx.db.insert("oraclePrices", { asset: "STX", source: "median", priceUsd: stxUsd, observedAt });
  });
}

async function fund(
  t: Backend,
  who: string,
  token: "STX" | "sBTC",
  amount: bigint,
  tier: "Conservative" | "Aggressive" = "Conservative",
) {
  configureChain();
  await t.withIdentity({ subject: who }).mutation(api.liquidity.requestCommitCapital, { amount, token, tier });
  await t.mutation(internal.vaultEvents.apply, {
    event: depositEvent(who, token, amount, { totalBalance: amount, totalLocked: 0n }),
  });
}

/** A Conservative PUT on 0.25 BTC struck at $48,000: a $12,000 obligation. */
async function backPut(t: Backend, token: "STX" | "sBTC") {
  policyIds += 1n;
  await t.mutation(internal.policies.registerPolicy, {
    policyId: policyIds,
    buyer: "ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP",
    policyType: "PUT",
    protectedAmountSats: 25_000_000n,
    strikePriceUsd: 48_000n * USD,
    premium: 1_000n,
    expiresAtBlock: 10_000n,
    collateralToken: token,
    btcPriceUsd: 60_000n * USD,
    stxPriceUsd: 2n * USD,
  });
  await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: policyIds });
  return policyIds;
}

/** Alice backs a PUT in sBTC, Bob the same PUT in STX, Carol only deposits. */
async function market(): Promise<Backend> {
  policyIds = 0n;
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  await fund(t, SBTC_BACKER, "sBTC", 50_000_000n);
  await fund(t, STX_BACKER, "STX", 15_000_000_000n);
  await fund(t, IDLE, "STX", 1_000_000n, "Aggressive");
  await backPut(t, "sBTC");
  await backPut(t, "STX");
  return t;
}

async function provider(t: Backend, principal: string) {
  return await t.run(async (ctx) =>
    ctx.db
      .query("providers")
      .withIndex("by_principal", (q) => q.eq("principal", principal))
      .unique(),
  );
}

async function sweepAt(t: Backend, btc: bigint, stx = 2n * USD) {
  await setPrices(t, btc * USD, stx);
  return await t.action(internal.health.sweep, { cursor: null });
}

describe("exposure", () => {
  it("records each backer's share of the obligation and counts active backings", async () => {
    const t = await market();
    expect(await provider(t, SBTC_BACKER)).toMatchObject({
      putObligationUsd: 12_000n * USD,
      callProtectedSats: 0n,
      activeBackings: 1n,
    });
    expect(await provider(t, IDLE)).toMatchObject({ putObligationUsd: 0n, activeBackings: 0n });
  });

  it("drops to nothing, and resets the status, when the policy is released", async () => {
    const t = await market();
    await sweepAt(t, 29_999n);
    expect((await provider(t, SBTC_BACKER))?.healthStatus).toBe("MarginCall");
    await t.mutation(internal.liquidity.requestCollateralRelease, { policyId: 1n });
    expect(await provider(t, SBTC_BACKER)).toMatchObject({
      putObligationUsd: 0n,
      activeBackings: 0n,
      healthStatus: "Healthy",
    });
    const notices = await t.run(async (ctx) => ctx.db.query("healthNotifications").collect());
    expect(notices.map((n) => n.cleared)).toEqual([true]);
  });
});

describe("the health sweep", () => {
  it.each([
    [36_000n, "Healthy", 15_000n],
    [35_999n, "Warning", 14_999n],
    [30_000n, "Warning", 12_500n],
    [29_999n, "MarginCall", 12_499n],
  ] as const)("BTC at $%s puts the sBTC PUT backer in %s (ratio %s bps)", async (btc, status, ratio) => {
    const t = await market();
    await sweepAt(t, btc);
    expect(await provider(t, SBTC_BACKER)).toMatchObject({ healthStatus: status, collateralizationRatioBps: ratio });
  });

  it("a BTC crash leaves the STX-only PUT backer exactly as it was", async () => {
    const t = await market();
    await sweepAt(t, 60_000n);
    const before = await provider(t, STX_BACKER);
    const crash = await sweepAt(t, 20_000n);
    expect(crash).toEqual({ checked: 2, changed: 1, done: true, pricesAvailable: true });
    expect(await provider(t, STX_BACKER)).toEqual(before);
    expect(before).toMatchObject({ healthStatus: "Healthy", collateralizationRatioBps: 25_000n });
    expect((await provider(t, SBTC_BACKER))?.healthStatus).toBe("MarginCall");
  });

  it("writes nothing when nothing changed", async () => {
    const t = await market();
    const first = await sweepAt(t, 60_000n);
    const second = await sweepAt(t, 60_000n);
    expect(first.changed).toBe(2);
    expect(second).toEqual({ checked: 2, changed: 0, done: true, pricesAvailable: true });
  });

  it("never flips a status on stale prices, and raises an alert instead", async () => {
    const t = await market();
    await sweepAt(t, 29_999n);
    await setPrices(t, 90_000n * USD, 2n * USD, NOW - 121_000);
    // The newest (fresh) row is the crash price; make every row stale by moving time on.
    vi.setSystemTime(NOW + 121_000);
    const result = await t.action(internal.health.sweep, { cursor: null });
    expect(result).toEqual({ checked: 0, changed: 0, done: true, pricesAvailable: false });
    expect((await provider(t, SBTC_BACKER))?.healthStatus).toBe("MarginCall");
    const skipped = async () =>
      (await t.run(async (ctx) => ctx.db.query("alerts").collect()))
        .filter((a) => a.kind === "health-sweep-skipped")
        .map((a) => ({ message: a.message, resolved: a.resolved }));
    const alert = { message: "health sweep skipped: BTC/USD is stale (121 s old)", resolved: false };
    expect(await skipped()).toEqual([alert]);

    // Raised once while prices stay stale; resolved by the next sweep that has prices.
    vi.setSystemTime(NOW + 421_000);
    expect((await t.action(internal.health.sweep, { cursor: null })).pricesAvailable).toBe(false);
    expect(await skipped()).toEqual([alert]);
    await setPrices(t, 90_000n * USD, 2n * USD, NOW + 421_000);
    expect((await t.action(internal.health.sweep, { cursor: null })).pricesAvailable).toBe(true);
    expect(await skipped()).toEqual([{ ...alert, resolved: true }]);
  });

  it("continues page by page through the scheduler", async () => {
    const t = await market();
    await fund(t, THIRD, "STX", 20_000_000_000n);
    await backPut(t, "STX"); // shared by Bob and the third provider
    vi.useRealTimers();
    await setPrices(t, 60_000n * USD, 2n * USD);
    vi.useFakeTimers();
    const first = await t.action(internal.health.sweep, { cursor: null, pageSize: 1 });
    expect(first).toMatchObject({ checked: 1, done: false });
    await t.finishAllScheduledFunctions(vi.runAllTimers);
    const checked = await t.run(async (ctx) =>
      (await ctx.db.query("providers").collect()).filter((p) => p.activeBackings > 0n && p.lastHealthCheckAt !== undefined),
    );
    expect(checked.length).toBe(3);
  });
});

describe("notifications", () => {
  it("a worsening status notifies with the shortfall in either token, and a recovery clears it", async () => {
    const t = await market();
    await sweepAt(t, 29_999n);
    const [notice] = await t.run(async (ctx) => ctx.db.query("healthNotifications").collect());
    // Needs $18,000 (150% of $12,000); holds 0.5 BTC at $29,999 = $14,999.50: short $3,000.50.
    expect(notice).toMatchObject({
      provider: SBTC_BACKER,
      status: "MarginCall",
      previousStatus: "Healthy",
      shortfallUstx: 1_500_250_000n,
      shortfallSats: 10_002_001n,
      cleared: false,
      webhook: "not-configured",
    });

    await sweepAt(t, 60_000n);
    const after = await t.run(async (ctx) => ctx.db.query("healthNotifications").collect());
    expect(after).toHaveLength(1);
    expect(after[0]?.cleared).toBe(true);
    expect((await provider(t, SBTC_BACKER))?.healthStatus).toBe("Healthy");
  });

  it("posts the notification to HEALTH_WEBHOOK_URL and records that it was accepted", async () => {
    vi.stubEnv("HEALTH_WEBHOOK_URL", "https://hooks.example.test/bithedge");
    const posted: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init: RequestInit) => {
        posted.push({ url, body: JSON.parse(String(init.body)) });
        return new Response(null, { status: 204 });
      }),
    );
    const t = await market();
    vi.useRealTimers();
    await setPrices(t, 29_999n * USD, 2n * USD);
    vi.useFakeTimers();
    await t.action(internal.health.sweep, { cursor: null });
    await t.finishAllScheduledFunctions(vi.runAllTimers);
    expect(posted).toEqual([
      {
        url: "https://hooks.example.test/bithedge",
        body: expect.objectContaining({
          type: "bithedge.provider-health",
          provider: SBTC_BACKER,
          status: "MarginCall",
          previousStatus: "Healthy",
          shortfallUstx: "1500250000",
          shortfallSats: "10002001",
        }),
      },
    ]);
    const [notice] = await t.run(async (ctx) => ctx.db.query("healthNotifications").collect());
    expect(notice?.webhook).toBe("sent");
  });
});

describe("health-checked withdrawals", () => {
  const reserve = (t: Backend, provider: string, token: "STX" | "sBTC", amount: bigint) =>
    t.mutation(internal.liquidity.reserveWithdrawal, { provider, token, amount, expiresAtBlock: 100n, signer: SIGNER_ADDRESS });

  it("allows at most what keeps the tier's withdrawal ratio plus buffer, and says how much", async () => {
    const t = await market();
    await setPrices(t, 60_000n * USD, 2n * USD);
    // Holds $30,000, must keep 155% of $12,000 = $18,600: $11,400 = 0.19 BTC may go.
    const message = await expectPoolError(reserve(t, SBTC_BACKER, "sBTC", 19_000_001n), "INSUFFICIENT_AVAILABLE_BALANCE");
    expect(message).toBe(
      "cannot withdraw 19000001 sats: at most 19000000 sats can be withdrawn now while keeping the tier's withdrawal ratio",
    );
    await reserve(t, SBTC_BACKER, "sBTC", 19_000_000n);
  });

  it("refuses providers with active backing when prices are stale (PRICE_UNAVAILABLE), not others", async () => {
    const t = await market();
    await setPrices(t, 60_000n * USD, 2n * USD, NOW - 121_000);
    await expectPoolError(reserve(t, SBTC_BACKER, "sBTC", 1n), "PRICE_UNAVAILABLE");
    await reserve(t, IDLE, "STX", 1_000n);
  });
});

describe("property: statuses after any price path", () => {
  it("every provider's recorded status equals a direct recomputation at the last prices", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.bigInt({ min: 5_000n, max: 150_000n }), fc.bigInt({ min: 20n, max: 1_000n })), {
          minLength: 1,
          maxLength: 5,
        }),
        async (path) => {
          const t = await market();
          for (const [btc, stxCents] of path) {
            vi.setSystemTime(Date.now() + 1_000);
            await sweepAt(t, btc, (stxCents * USD) / 100n);
            const [btcUsd, stxUsd] = [btc * USD, (stxCents * USD) / 100n];
            for (const who of [SBTC_BACKER, STX_BACKER]) {
              const p = (await provider(t, who))!;
              const balances = await t.run(async (ctx) =>
                ctx.db
                  .query("providerBalances")
                  .withIndex("by_provider_and_token", (q) => q.eq("provider", who))
                  .collect(),
              );
              const held = (token: "STX" | "sBTC") => {
                const b = balances.find((x) => x.token === token);
                return b ? b.total - b.reserved : 0n;
              };
              const ratio = collateralRatioBps({ ustx: held("STX"), sats: held("sBTC") }, p, { btcUsd, stxUsd });
              const expected = statusFor(ratio, {
                healthyRatioBps: 15_000n,
                marginCallRatioBps: 12_500n,
                withdrawalRatioBps: 15_000n,
                withdrawalBufferBps: 500n,
              });
              expect(p.healthStatus).toBe(expected);
            }
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});
