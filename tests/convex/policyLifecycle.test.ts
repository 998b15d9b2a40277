/**
 * The policy collateral lifecycle through the real Convex functions, one
 * behaviour per test, exact values throughout: registration (tier and
 * required collateral), allocation, cancellation, premiums to yield,
 * settlement, expiry, and the queue of vault operations.
 *
 * Prices: BTC at $60,000 and STX at $2 (USD with 8 decimals) unless a test
 * says otherwise. With the default tiers a strike at least 15% out of the
 * money is Conservative, at least 5% Balanced, anything else Aggressive.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { PRICE_SCALE } from "../../convex/domain/policyMath";
import { DEFAULT_SETTLEMENT_GRACE_BLOCKS } from "../../convex/config";
import type { Tier, Token, VaultEvent } from "../../convex/validators";
import { newBackend, snapshot } from "./convexTest";
import { ALICE, BOB, CAROL, configureChain, depositEvent, nextTxid } from "./liquidityFixtures";
import { expectPoolError } from "./poolErrors";

type Backend = ReturnType<typeof newBackend>;

const BTC_USD = 60_000n * PRICE_SCALE;
const STX_USD = 2n * PRICE_SCALE;
const BUYER = "ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return t;
}

/** Commits `who` to `tier` and applies their synced deposit. */
async function fund(t: Backend, who: string, tier: Tier, token: Token, amount: bigint): Promise<void> {
  configureChain();
  await t.withIdentity({ subject: who }).mutation(api.liquidity.requestCommitCapital, { amount, token, tier });
  const outcome = await t.mutation(internal.vaultEvents.apply, {
    event: depositEvent(who, token, amount, { totalBalance: amount, totalLocked: 0n }),
  });
  expect(outcome).toBe("applied");
}

type Terms = {
  policyId: bigint;
  policyType: "PUT" | "CALL";
  protectedAmountSats: bigint;
  strikePriceUsd: bigint;
  collateralToken: Token;
  premium?: bigint;
  expiresAtBlock?: bigint;
  btcPriceUsd?: bigint;
  stxPriceUsd?: bigint;
};

async function register(t: Backend, terms: Terms) {
  return await t.mutation(internal.policies.registerPolicy, {
    buyer: BUYER,
    premium: 1_000n,
    expiresAtBlock: 500n,
    btcPriceUsd: BTC_USD,
    stxPriceUsd: STX_USD,
    ...terms,
  });
}

/**
 * A Conservative PUT on 0.001 BTC struck at $48,000 (20% out of the money),
 * backed in STX: $48 of collateral, 24 STX.
 */
const CONSERVATIVE_STX_PUT = {
  policyType: "PUT",
  protectedAmountSats: 100_000n,
  strikePriceUsd: 48_000n * PRICE_SCALE,
  collateralToken: "STX",
} as const;

/** ALICE, BOB and CAROL in Conservative with 60, 30 and 10 STX: 60%, 30% and 10% of the tier. */
async function conservativeTier(t: Backend): Promise<void> {
  await fund(t, ALICE, "Conservative", "STX", 60_000_000n);
  await fund(t, BOB, "Conservative", "STX", 30_000_000n);
  await fund(t, CAROL, "Conservative", "STX", 10_000_000n);
}

/** The Conservative tier above, with policy `policyId` (24 STX) allocated over it. */
async function activePolicy(t: Backend, policyId = 1n, extra: Partial<Terms> = {}): Promise<void> {
  await register(t, { policyId, ...CONSERVATIVE_STX_PUT, ...extra });
  await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
}

function onChain(blockHeight: bigint) {
  return { txid: nextTxid(), eventIndex: 0, blockHeight, blockHash: `0x${blockHeight.toString(16).padStart(64, "c")}` };
}

function premiumEvent(policyId: bigint, token: Token, amount: bigint, blockHeight = 30n): VaultEvent {
  return {
    ...onChain(blockHeight),
    kind: "premium-paid",
    policyId,
    payer: BUYER,
    token,
    amount,
    totalBalance: 100_000_000n + amount,
    totalLocked: 0n,
  };
}

function settlementEvent(
  policyId: bigint,
  token: Token,
  amount: bigint,
  totals = { totalBalance: 90_000_000n, totalLocked: 14_000_000n },
  blockHeight = 40n,
): VaultEvent {
  return { ...onChain(blockHeight), kind: "settlement-paid", policyId, buyer: BUYER, token, amount, ...totals };
}

function lockEvent(policyIds: bigint[], token: Token, amount: bigint): VaultEvent {
  return {
    ...onChain(50n),
    kind: "collateral-locked",
    policyIds,
    token,
    amount,
    totalBalance: 100_000_000n,
    totalLocked: amount,
  };
}

function releaseEvent(policyIds: bigint[], token: Token, amount: bigint): VaultEvent {
  return {
    ...onChain(60n),
    kind: "collateral-released",
    policyIds,
    token,
    amount,
    totalBalance: 100_000_000n,
    totalLocked: 0n,
  };
}


async function policyDoc(t: Backend, policyId: bigint) {
  return await t.run(
    async (ctx) =>
      await ctx.db
        .query("policies")
        .withIndex("by_policy_id", (q) => q.eq("policyId", policyId))
        .unique(),
  );
}

/** Backing rows of a policy as `provider -> {original, allocated, active}`. */
async function backingOf(t: Backend, policyId: bigint) {
  const rows = await t.run(
    async (ctx) =>
      await ctx.db
        .query("policyBacking")
        .withIndex("by_policy", (q) => q.eq("policyId", policyId))
        .collect(),
  );
  return Object.fromEntries(
    rows.map((r) => [r.provider, { originalAllocation: r.originalAllocation, allocated: r.allocated, active: r.active }]),
  );
}

/** `provider -> {total, locked, reserved, accruedYield}` in one token. */
async function balancesIn(t: Backend, token: Token) {
  const rows = await t.run(async (ctx) => await ctx.db.query("providerBalances").collect());
  return Object.fromEntries(
    rows
      .filter((r) => r.token === token)
      .map((r) => [r.provider, { total: r.total, locked: r.locked, reserved: r.reserved, accruedYield: r.accruedYield }]),
  );
}

async function vaultOps(t: Backend) {
  const rows = await t.run(async (ctx) => await ctx.db.query("vaultOperations").collect());
  return rows.map((r) => ({
    kind: r.kind,
    policyId: r.policyId,
    token: r.token,
    amount: r.amount,
    buyer: r.buyer,
    status: r.status,
  }));
}

async function protocolAccount(t: Backend, token: Token) {
  return await t.run(
    async (ctx) =>
      await ctx.db
        .query("protocolAccounts")
        .withIndex("by_token", (q) => q.eq("token", token))
        .unique(),
  );
}

async function alerts(t: Backend) {
  return (await t.run(async (ctx) => await ctx.db.query("alerts").collect())).map((a) => a.kind);
}

async function tierStat(t: Backend, tier: Tier, token: Token) {
  const stat = (await t.query(api.liquidity.getTierStats, {})).find((s) => s.tier === tier && s.token === token);
  if (!stat) throw new Error(`no stats for ${tier}/${token}`);
  return stat;
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

describe("registerPolicy", () => {
  it("prices a PUT in STX at strike × amount in STX, rounded up, in the tier its strike distance names", async () => {
    const t = await seededBackend();
    // 0.001 BTC at a $48,000 strike: $48 → 24 STX at $2.
    expect(await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT })).toEqual({
      tier: "Conservative",
      requiredCollateral: 24_000_000n,
      status: "Pending",
    });
    // At $1.70 the same $48 is 28.235294…, rounded up to the next micro-STX.
    expect(await register(t, { policyId: 2n, ...CONSERVATIVE_STX_PUT, stxPriceUsd: 170_000_000n })).toEqual({
      tier: "Conservative",
      requiredCollateral: 28_235_295n,
      status: "Pending",
    });
  });

  it("prices a PUT in sBTC at strike × amount in sats at spot, rounded up", async () => {
    const t = await seededBackend();
    // $55,555.55 strike on 0.001 BTC = $55.5555 = 92,592.58… sats at $60,000; 7.4% out of the money → Balanced.
    expect(
      await register(t, {
        policyId: 1n,
        policyType: "PUT",
        protectedAmountSats: 100_000n,
        strikePriceUsd: 5_555_555_000_000n,
        collateralToken: "sBTC",
      }),
    ).toEqual({ tier: "Balanced", requiredCollateral: 92_593n, status: "Pending" });
  });

  it("covers a CALL in sBTC with the protected sats themselves, whatever the strike", async () => {
    const t = await seededBackend();
    // $62,000 is 3.33% out of the money → Aggressive.
    expect(
      await register(t, {
        policyId: 1n,
        policyType: "CALL",
        protectedAmountSats: 250_000n,
        strikePriceUsd: 62_000n * PRICE_SCALE,
        collateralToken: "sBTC",
      }),
    ).toEqual({ tier: "Aggressive", requiredCollateral: 250_000n, status: "Pending" });
  });

  it("covers a CALL in STX with the protected BTC's value at spot, in STX rounded up", async () => {
    const t = await seededBackend();
    // 0.0025 BTC at $60,000 = $150 → 88.2352941… STX at $1.70; a $70,000 strike is 16.7% out → Conservative.
    expect(
      await register(t, {
        policyId: 1n,
        policyType: "CALL",
        protectedAmountSats: 250_000n,
        strikePriceUsd: 70_000n * PRICE_SCALE,
        collateralToken: "STX",
        stxPriceUsd: 170_000_000n,
      }),
    ).toEqual({ tier: "Conservative", requiredCollateral: 88_235_295n, status: "Pending" });
  });

  it("puts a strike exactly 15% / 5% out of the money in the safer tier, and in-the-money strikes in Aggressive", async () => {
    const t = await seededBackend();
    const put = (policyId: bigint, strikeUsd: bigint) =>
      register(t, { policyId, policyType: "PUT", protectedAmountSats: 1_000n, strikePriceUsd: strikeUsd, collateralToken: "sBTC" });
    expect((await put(1n, 51_000n * PRICE_SCALE)).tier).toBe("Conservative"); // exactly 15%
    expect((await put(2n, 51_000n * PRICE_SCALE + 1n)).tier).toBe("Balanced"); // just under 15%
    expect((await put(3n, 57_000n * PRICE_SCALE)).tier).toBe("Balanced"); // exactly 5%
    expect((await put(4n, 57_000n * PRICE_SCALE + 1n)).tier).toBe("Aggressive"); // just under 5%
    expect((await put(5n, 65_000n * PRICE_SCALE)).tier).toBe("Aggressive"); // in the money
  });

  it("stores the policy's terms exactly as Pending with nothing received", async () => {
    const t = await seededBackend();
    await register(t, { policyId: 7n, ...CONSERVATIVE_STX_PUT, premium: 1_234n, expiresAtBlock: 321n });
    expect(await policyDoc(t, 7n)).toMatchObject({
      policyId: 7n,
      buyer: BUYER,
      policyType: "PUT",
      protectedAmountSats: 100_000n,
      strikePriceUsd: 48_000n * PRICE_SCALE,
      premium: 1_234n,
      expiresAtBlock: 321n,
      tier: "Conservative",
      collateralToken: "STX",
      requiredCollateral: 24_000_000n,
      status: "Pending",
      premiumsReceived: 0n,
    });
  });

  it("refuses a second registration of the same policy id (POLICY_ALREADY_EXISTS), keeping the first", async () => {
    const t = await seededBackend();
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });
    const before = await snapshot(t);
    await expectPoolError(
      register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT, protectedAmountSats: 5n, collateralToken: "sBTC" }),
      "POLICY_ALREADY_EXISTS",
    );
    expect(await snapshot(t)).toEqual(before);
  });

  it("refuses non-positive amounts, strikes and prices, a negative premium or id (INVALID_POLICY), recording nothing", async () => {
    const t = await seededBackend();
    const valid = { policyId: 1n, ...CONSERVATIVE_STX_PUT };
    const before = await snapshot(t);
    for (const bad of [
      { protectedAmountSats: 0n },
      { protectedAmountSats: -1n },
      { strikePriceUsd: 0n },
      { btcPriceUsd: 0n },
      { stxPriceUsd: -5n },
      { premium: -1n },
      { policyId: -1n },
    ]) {
      await expectPoolError(register(t, { ...valid, ...bad }), "INVALID_POLICY");
    }
    expect(await snapshot(t)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------
// Allocation and cancellation
// ---------------------------------------------------------------------------

describe("allocatePolicyCollateral", () => {
  it("splits the collateral over the tier's providers in proportion to their available capital and locks it", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });

    const allocations = await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n });
    expect(Object.fromEntries(allocations.map((a) => [a.provider, a.amount]))).toEqual({
      [ALICE]: 14_400_000n,
      [BOB]: 7_200_000n,
      [CAROL]: 2_400_000n,
    });
    expect(await backingOf(t, 1n)).toEqual({
      [ALICE]: { originalAllocation: 14_400_000n, allocated: 14_400_000n, active: true },
      [BOB]: { originalAllocation: 7_200_000n, allocated: 7_200_000n, active: true },
      [CAROL]: { originalAllocation: 2_400_000n, allocated: 2_400_000n, active: true },
    });
    expect(await balancesIn(t, "STX")).toEqual({
      [ALICE]: { total: 60_000_000n, locked: 14_400_000n, reserved: 0n, accruedYield: 0n },
      [BOB]: { total: 30_000_000n, locked: 7_200_000n, reserved: 0n, accruedYield: 0n },
      [CAROL]: { total: 10_000_000n, locked: 2_400_000n, reserved: 0n, accruedYield: 0n },
    });
    expect((await policyDoc(t, 1n))?.status).toBe("Active");
    expect(await vaultOps(t)).toEqual([
      { kind: "lock", policyId: 1n, token: "STX", amount: 24_000_000n, buyer: undefined, status: "queued" },
    ]);
    expect(await tierStat(t, "Conservative", "STX")).toMatchObject({
      totalCapital: 100_000_000n,
      totalLocked: 24_000_000n,
      totalAvailable: 76_000_000n,
      utilizationBps: 2_400n,
      activePolicyCount: 1n,
    });
  });

  it("refuses a policy its tier cannot cover (TIER_INSUFFICIENT_CAPITAL), changing nothing and leaving it Pending", async () => {
    const t = await seededBackend();
    await fund(t, ALICE, "Conservative", "STX", 23_999_999n);
    // Capital of other tiers does not count.
    await fund(t, BOB, "Balanced", "STX", 50_000_000n);
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });
    const before = await snapshot(t);

    await expectPoolError(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n }), "TIER_INSUFFICIENT_CAPITAL");
    expect(await snapshot(t)).toEqual(before);
    expect((await policyDoc(t, 1n))?.status).toBe("Pending");
  });

  it("refuses to allocate a policy twice (INVALID_POLICY_STATE) and an unknown one (UNKNOWN_POLICY)", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    const before = await snapshot(t);
    await expectPoolError(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n }), "INVALID_POLICY_STATE");
    await expectPoolError(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 2n }), "UNKNOWN_POLICY");
    expect(await snapshot(t)).toEqual(before);
  });

  it("after the vault's shutdown is synced, neither registers nor backs a policy (VAULT_SHUT_DOWN), changing nothing", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });
    const shutdown = { stxAssets: 1n, stxLiabilities: 1n, sbtcAssets: 0n, sbtcLiabilities: 0n, by: BOB };
    const at = { txid: nextTxid(), eventIndex: 0, blockHeight: 30n, blockHash: `0x${"dd".repeat(32)}` };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, kind: "shutdown", ...shutdown }] });
    const before = await snapshot(t);
    await expectPoolError(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n }), "VAULT_SHUT_DOWN");
    await expectPoolError(register(t, { policyId: 2n, ...CONSERVATIVE_STX_PUT }), "VAULT_SHUT_DOWN");
    expect(await snapshot(t)).toEqual(before);
    expect((await policyDoc(t, 1n))?.status).toBe("Pending");
  });
});

describe("cancelPolicy", () => {
  it("cancels a Pending policy", async () => {
    const t = await seededBackend();
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });
    await t.mutation(internal.policies.cancelPolicy, { policyId: 1n });
    expect((await policyDoc(t, 1n))?.status).toBe("Cancelled");
  });

  it("refuses to cancel an Active policy (INVALID_POLICY_STATE), keeping its backing", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    const before = await snapshot(t);
    await expectPoolError(t.mutation(internal.policies.cancelPolicy, { policyId: 1n }), "INVALID_POLICY_STATE");
    expect(await snapshot(t)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------
// Premiums
// ---------------------------------------------------------------------------

describe("premium-paid events", () => {
  it("credit each backer's part of the premium after the 10% protocol fee, exactly", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);

    expect(await t.mutation(internal.vaultEvents.apply, { event: premiumEvent(1n, "STX", 1_000_001n) })).toBe("applied");
    // Fee floor(1,000,001 × 10%) = 100,000; 900,001 split 60/30/10 = 540,000.6 / 270,000.3 / 90,000.1,
    // the one leftover unit to the largest remainder (ALICE).
    const balances = await balancesIn(t, "STX");
    expect(balances).toEqual({
      [ALICE]: { total: 60_540_001n, locked: 14_400_000n, reserved: 0n, accruedYield: 540_001n },
      [BOB]: { total: 30_270_000n, locked: 7_200_000n, reserved: 0n, accruedYield: 270_000n },
      [CAROL]: { total: 10_090_000n, locked: 2_400_000n, reserved: 0n, accruedYield: 90_000n },
    });
    expect(await protocolAccount(t, "STX")).toMatchObject({ feesAccrued: 100_000n, unallocatedPremiums: 0n });
    expect((await policyDoc(t, 1n))?.premiumsReceived).toBe(1_000_001n);
    expect((await tierStat(t, "Conservative", "STX")).totalYieldAccrued).toBe(900_001n);
  });

  it("for a policy nobody backs: records the event as applied, keeps the premium as unallocated and raises an alert", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    const ledgerBefore = (await snapshot(t)).balanceLedger;
    const log = vi.spyOn(console, "error").mockImplementation(() => {});

    // Unknown policy 99; a Pending policy (no backers yet) is treated the same way.
    expect(await t.mutation(internal.vaultEvents.apply, { event: premiumEvent(99n, "STX", 5_000n) })).toBe("applied");
    await register(t, { policyId: 2n, ...CONSERVATIVE_STX_PUT });
    expect(await t.mutation(internal.vaultEvents.apply, { event: premiumEvent(2n, "STX", 700n) })).toBe("applied");

    expect(await protocolAccount(t, "STX")).toMatchObject({ feesAccrued: 0n, unallocatedPremiums: 5_700n });
    expect(await alerts(t)).toEqual(["premium-unallocated", "premium-unallocated"]);
    // The alert is also a log line for the log drain.
    expect(log.mock.calls.map(([line]) => String(line).split(" {")[0])).toEqual([
      "[alert:premium-unallocated] premium for policy 99 has no backers to pay",
      "[alert:premium-unallocated] premium for policy 2 has no backers to pay",
    ]);
    expect((await snapshot(t)).balanceLedger).toEqual(ledgerBefore);
    const recorded = await t.run(async (ctx) => (await ctx.db.query("vaultEvents").collect()).map((e) => e.status));
    expect(recorded.slice(-2)).toEqual(["applied", "applied"]);
    // The Pending policy's premiumsReceived is not advanced by a premium that went unallocated.
    expect((await policyDoc(t, 2n))?.premiumsReceived).toBe(0n);
  });
});

describe("premium-paid events left behind by a reorg", () => {
  it("are taken back whole — yield, protocol fee, premiums received — and counted once when re-mined", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    const before = { balances: await balancesIn(t, "STX"), account: await protocolAccount(t, "STX") };
    vi.spyOn(console, "error").mockImplementation(() => {});

    const premium = premiumEvent(1n, "STX", 1_000_001n, 30n);
    expect(await t.mutation(internal.vaultEvents.apply, { event: premium })).toBe("applied");
    expect(await t.mutation(internal.eventSync.reverse, { txid: premium.txid, eventIndex: 0 })).toBe("reversed");

    expect(await balancesIn(t, "STX")).toEqual(before.balances);
    expect(await protocolAccount(t, "STX")).toMatchObject({ feesAccrued: 0n, unallocatedPremiums: 0n });
    expect(before.account).toBeNull();
    expect((await policyDoc(t, 1n))?.premiumsReceived).toBe(0n);
    expect((await tierStat(t, "Conservative", "STX")).totalYieldAccrued).toBe(0n);
    expect(await alerts(t)).toEqual(["reorg-reversed"]);

    // The same transaction, mined again on the winning fork: applied once more, counted once.
    const remined = { ...premium, blockHeight: 31n, blockHash: `0x${"d".repeat(64)}` };
    expect(await t.mutation(internal.vaultEvents.apply, { event: remined })).toBe("applied");
    expect(await protocolAccount(t, "STX")).toMatchObject({ feesAccrued: 100_000n, unallocatedPremiums: 0n });
    expect((await policyDoc(t, 1n))?.premiumsReceived).toBe(1_000_001n);
    expect((await balancesIn(t, "STX"))[ALICE]).toMatchObject({ accruedYield: 540_001n });
  });

  it("that went unallocated take the unallocated amount back", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    vi.spyOn(console, "error").mockImplementation(() => {});
    const premium = premiumEvent(99n, "STX", 5_000n);
    expect(await t.mutation(internal.vaultEvents.apply, { event: premium })).toBe("applied");
    expect(await protocolAccount(t, "STX")).toMatchObject({ unallocatedPremiums: 5_000n });
    expect(await t.mutation(internal.eventSync.reverse, { txid: premium.txid, eventIndex: 0 })).toBe("reversed");
    expect(await protocolAccount(t, "STX")).toMatchObject({ feesAccrued: 0n, unallocatedPremiums: 0n });
    expect(await alerts(t)).toEqual(["premium-unallocated", "reorg-reversed"]);
  });
});

// ---------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------

describe("settlement", () => {
  it("refuses a settlement larger than the policy's backing (SETTLEMENT_EXCEEDS_BACKING), changing nothing", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    const before = await snapshot(t);
    await expectPoolError(
      t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 24_000_001n }),
      "SETTLEMENT_EXCEEDS_BACKING",
    );
    await expectPoolError(
      t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 0n }),
      "INVALID_AMOUNT",
    );
    expect(await snapshot(t)).toEqual(before);
    expect((await policyDoc(t, 1n))?.status).toBe("Active");
  });

  it("a request queues settle-policy for the buyer and debits nobody until the settlement event syncs", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    const balancesBefore = await balancesIn(t, "STX");
    const backingBefore = await backingOf(t, 1n);

    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 10_000_001n });
    expect((await policyDoc(t, 1n))?.status).toBe("Exercised");
    expect(await balancesIn(t, "STX")).toEqual(balancesBefore);
    expect(await backingOf(t, 1n)).toEqual(backingBefore);
    expect(await vaultOps(t)).toContainEqual({
      kind: "settle",
      policyId: 1n,
      token: "STX",
      amount: 10_000_001n,
      buyer: BUYER,
      status: "queued",
    });
    // An Exercised policy still counts as active until it is paid.
    expect((await tierStat(t, "Conservative", "STX")).activePolicyCount).toBe(1n);
  });

  it("a settlement whose block leaves the chain keeps its effects, and counts once when the same transaction is mined again", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 10_000_001n });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const event = settlementEvent(1n, "STX", 10_000_001n, undefined, 40n);
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    const settled = await snapshot(t);
    const balancesSettled = await balancesIn(t, "STX");

    // The reorg: nothing moves on the books; an operator is told once.
    expect(await t.mutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: 0 })).toBe("reversed");
    expect(await t.mutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: 0 })).toBe("not-applied");
    expect((await snapshot(t)).balanceLedger).toEqual(settled.balanceLedger);
    expect(await balancesIn(t, "STX")).toEqual(balancesSettled);
    expect((await policyDoc(t, 1n))?.status).toBe("Settled");
    const review = async () =>
      (await t.run(async (ctx) => ctx.db.query("alerts").collect()))
        .filter((a) => a.kind === "reorg-needs-review")
        .map((a) => a.resolved);
    expect(await review()).toEqual([false]);

    // Mined again on the winning fork: applied without a second debit, and the alert resolved.
    const remined = { ...event, blockHeight: 41n, blockHash: `0x${"e".repeat(64)}` };
    expect(await t.mutation(internal.vaultEvents.apply, { event: remined })).toBe("applied");
    expect((await snapshot(t)).balanceLedger).toEqual(settled.balanceLedger);
    expect(await balancesIn(t, "STX")).toEqual(balancesSettled);
    expect(await review()).toEqual([true]);
    const record = await t.run(async (ctx) =>
      ctx.db
        .query("vaultEvents")
        .withIndex("by_tx_and_index", (q) => q.eq("txid", event.txid).eq("eventIndex", 0))
        .unique(),
    );
    expect(record).toMatchObject({ status: "applied", blockHeight: 41n, blockHash: remined.blockHash });
    expect(record?.keptThroughReorg).toBeUndefined();
    expect(await t.mutation(internal.vaultEvents.apply, { event: remined })).toBe("duplicate");
  });

  it("a settlement paid in parts (over the outflow window's cap) debits each part pro rata and settles the policy with the last", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 10_000_001n });

    // The first part, the window's cap: 6,000,000 split 60/30/10; the policy stays Exercised, its backing still locked.
    const first = settlementEvent(1n, "STX", 6_000_000n, undefined, 40n);
    expect(await t.mutation(internal.vaultEvents.apply, { event: first })).toBe("applied");
    expect(await balancesIn(t, "STX")).toEqual({
      [ALICE]: { total: 56_400_000n, locked: 10_800_000n, reserved: 0n, accruedYield: 0n },
      [BOB]: { total: 28_200_000n, locked: 5_400_000n, reserved: 0n, accruedYield: 0n },
      [CAROL]: { total: 9_400_000n, locked: 1_800_000n, reserved: 0n, accruedYield: 0n },
    });
    expect(await policyDoc(t, 1n)).toMatchObject({ status: "Exercised", exercisedAmount: 10_000_001n, settledAmount: 6_000_000n });
    expect((await vaultOps(t)).map((op) => [op.kind, op.status])).toEqual([
      ["lock", "queued"],
      ["settle", "queued"],
    ]);
    expect(await tierStat(t, "Conservative", "STX")).toMatchObject({ activePolicyCount: 1n });

    // The last part: 4,000,001 of what is still allocated (10,800,000 / 5,400,000 / 1,800,000), the rest released.
    const last = { ...settlementEvent(1n, "STX", 4_000_001n, undefined, 41n), txid: `0x${"5e".repeat(32)}` };
    expect(await t.mutation(internal.vaultEvents.apply, { event: last })).toBe("applied");
    // 4,000,001 split 60/30/10 = 2,400,000.6 / 1,200,000.3 / 400,000.1 → 2,400,001 / 1,200,000 / 400,000.
    expect(await balancesIn(t, "STX")).toEqual({
      [ALICE]: { total: 53_999_999n, locked: 0n, reserved: 0n, accruedYield: 0n },
      [BOB]: { total: 27_000_000n, locked: 0n, reserved: 0n, accruedYield: 0n },
      [CAROL]: { total: 9_000_000n, locked: 0n, reserved: 0n, accruedYield: 0n },
    });
    expect(await policyDoc(t, 1n)).toMatchObject({ status: "Settled", exercisedAmount: 10_000_001n, settledAmount: 10_000_001n });
    expect(await vaultOps(t)).toEqual([
      { kind: "lock", policyId: 1n, token: "STX", amount: 24_000_000n, buyer: undefined, status: "queued" },
      { kind: "settle", policyId: 1n, token: "STX", amount: 10_000_001n, buyer: BUYER, status: "confirmed" },
      { kind: "release", policyId: 1n, token: "STX", amount: 13_999_999n, buyer: undefined, status: "queued" },
    ]);
    expect(await tierStat(t, "Conservative", "STX")).toMatchObject({ totalLocked: 0n, activePolicyCount: 0n });
  });

  it("a settlement part that fails after an earlier part was paid leaves the policy Exercised, not Active", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 10_000_001n });
    await t.mutation(internal.vaultOperations.batch, {});
    const settleId = await t.run(async (ctx) =>
      (await ctx.db.query("chainTransactions").collect()).find((tx) => tx.functionName === VAULT_FUNCTIONS.settlePolicy)?._id,
    );
    const rest = await t.mutation(internal.chainTransactions.splitSettlement, { id: settleId!, part: 6_000_000n });
    expect(rest).not.toBeNull();
    const amounts = async () =>
      await t.run(async (ctx) =>
        (await ctx.db.query("chainTransactions").collect()).filter((tx) => tx.functionName === VAULT_FUNCTIONS.settlePolicy).map((tx) => tx.amount),
      );
    expect(await amounts()).toEqual([6_000_000n, 4_000_001n]);
    // Nothing else splits: a part as large as the row, a row of another kind, a row already given a nonce.
    expect(await t.mutation(internal.chainTransactions.splitSettlement, { id: rest!, part: 4_000_001n })).toBeNull();
    await t.mutation(internal.chainTransactions.resyncNonce, { chainNext: 0n });
    await t.mutation(internal.chainTransactions.claimNonce, { id: settleId! });
    expect(await t.mutation(internal.chainTransactions.splitSettlement, { id: settleId!, part: 1n })).toBeNull();
    expect(await amounts()).toEqual([6_000_000n, 4_000_001n]);
    expect(await t.mutation(internal.vaultEvents.apply, { event: settlementEvent(1n, "STX", 6_000_000n, undefined, 40n) })).toBe("applied");

    vi.spyOn(console, "error").mockImplementation(() => {});
    await t.mutation(internal.chainTransactions.markFailed, { id: rest!, reason: "by hand" });
    expect(await policyDoc(t, 1n)).toMatchObject({ status: "Exercised", settledAmount: 6_000_000n });
    expect((await alerts(t)).filter((kind) => kind === "transaction-failed")).toHaveLength(1);
  });

  it("the settlement event debits the backers pro rata, exactly, releases the rest and settles the policy", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 10_000_001n });

    const event = settlementEvent(1n, "STX", 10_000_001n);
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    // 10,000,001 split 60/30/10 = 6,000,000.6 / 3,000,000.3 / 1,000,000.1 → 6,000,001 / 3,000,000 / 1,000,000.
    expect(await balancesIn(t, "STX")).toEqual({
      [ALICE]: { total: 53_999_999n, locked: 0n, reserved: 0n, accruedYield: 0n },
      [BOB]: { total: 27_000_000n, locked: 0n, reserved: 0n, accruedYield: 0n },
      [CAROL]: { total: 9_000_000n, locked: 0n, reserved: 0n, accruedYield: 0n },
    });
    const debits = await t.run(async (ctx) =>
      (await ctx.db.query("balanceLedger").collect())
        .filter((r) => r.type === "settlement_debit")
        .map((r) => [r.provider, r.amount]),
    );
    expect(Object.fromEntries(debits)).toEqual({ [ALICE]: 6_000_001n, [BOB]: 3_000_000n, [CAROL]: 1_000_000n });
    expect(await backingOf(t, 1n)).toEqual({
      [ALICE]: { originalAllocation: 14_400_000n, allocated: 0n, active: false },
      [BOB]: { originalAllocation: 7_200_000n, allocated: 0n, active: false },
      [CAROL]: { originalAllocation: 2_400_000n, allocated: 0n, active: false },
    });
    expect(await policyDoc(t, 1n)).toMatchObject({ status: "Settled", settledAmount: 10_000_001n });
    expect(await vaultOps(t)).toEqual([
      { kind: "lock", policyId: 1n, token: "STX", amount: 24_000_000n, buyer: undefined, status: "queued" },
      { kind: "settle", policyId: 1n, token: "STX", amount: 10_000_001n, buyer: BUYER, status: "confirmed" },
      // What stays locked on chain for the policy after the payout: 24,000,000 - 10,000,001.
      { kind: "release", policyId: 1n, token: "STX", amount: 13_999_999n, buyer: undefined, status: "queued" },
    ]);
    expect(await tierStat(t, "Conservative", "STX")).toMatchObject({
      totalCapital: 89_999_999n,
      totalLocked: 0n,
      activePolicyCount: 0n,
    });
    // A replay of the same event is a duplicate and changes nothing.
    const before = await snapshot(t);
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("duplicate");
    expect(await snapshot(t)).toEqual(before);
  });

  it("a settlement event for an unknown policy is unmatched: an alert, no balance change, the pool mirror still follows", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    const before = await snapshot(t);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});

    const event = settlementEvent(42n, "STX", 1_000n, { totalBalance: 99_999_000n, totalLocked: 5n }, 77n);
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("unmatched");

    const after = await snapshot(t);
    expect(after.balanceLedger).toEqual(before.balanceLedger);
    expect(after.providerBalances).toEqual(before.providerBalances);
    expect(await alerts(t)).toEqual(["event-unmatched"]);
    expect(String(log.mock.calls[0]?.[0])).toContain("[alert:event-unmatched] vault event settlement-paid could not be applied: no policy 42");
    const stx = (await t.query(api.liquidity.getPoolStats, {})).find((s) => s.token === "STX");
    expect(stx).toMatchObject({ totalBalanceOnChain: 99_999_000n, totalLockedOnChain: 5n });
    const recorded = await t.run(async (ctx) =>
      ctx.db
        .query("vaultEvents")
        .withIndex("by_tx_and_index", (q) => q.eq("txid", event.txid).eq("eventIndex", 0))
        .unique(),
    );
    expect(recorded?.status).toBe("unmatched");
  });
});

// ---------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------

describe("expirePolicies", () => {
  it("releases only Active policies whose expiry block is more than the settlement grace below the synced height", async () => {
    const t = await seededBackend();
    await fund(t, ALICE, "Conservative", "STX", 1_000_000_000n);
    for (const [policyId, expiresAtBlock] of [
      [1n, 99n],
      [2n, 100n],
      [3n, 101n],
    ] as const) {
      await activePolicy(t, policyId, { expiresAtBlock });
    }
    // Nothing expires before the sync has recorded a height.
    expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 0, hasMore: false });

    // Within the grace (SETTLEMENT_GRACE_BLOCKS, default 144) nothing is released.
    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 100n + DEFAULT_SETTLEMENT_GRACE_BLOCKS - 1n });
    expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 0, hasMore: false });
    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 100n + DEFAULT_SETTLEMENT_GRACE_BLOCKS });
    expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 1, hasMore: false });
    expect((await policyDoc(t, 1n))?.status).toBe("Expired");
    expect((await policyDoc(t, 2n))?.status).toBe("Active");
    expect((await policyDoc(t, 3n))?.status).toBe("Active");
    expect(await backingOf(t, 1n)).toEqual({
      [ALICE]: { originalAllocation: 24_000_000n, allocated: 0n, active: false },
    });
    expect((await balancesIn(t, "STX"))[ALICE]?.locked).toBe(48_000_000n);
    expect((await vaultOps(t)).filter((op) => op.kind === "release")).toEqual([
      { kind: "release", policyId: 1n, token: "STX", amount: 24_000_000n, buyer: undefined, status: "queued" },
    ]);
    expect((await tierStat(t, "Conservative", "STX")).activePolicyCount).toBe(2n);
  });

  it("works through more than a page by rescheduling itself; a second run changes nothing", async () => {
    vi.useFakeTimers();
    const t = await seededBackend();
    await fund(t, ALICE, "Conservative", "STX", 10_000_000_000n);
    for (let id = 1n; id <= 120n; id++) await activePolicy(t, id, { expiresAtBlock: 10n });
    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 11n + DEFAULT_SETTLEMENT_GRACE_BLOCKS });

    // A page spends at most 2,000 index ranges: 3 + 7 × 25 backers = 178 a policy, so 11 a page.
    expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 11, hasMore: true });
    await t.finishAllScheduledFunctions(() => vi.runAllTimers());

    const statuses = await t.run(async (ctx) => (await ctx.db.query("policies").collect()).map((p) => p.status));
    expect(statuses).toEqual(Array<string>(120).fill("Expired"));
    expect((await balancesIn(t, "STX"))[ALICE]?.locked).toBe(0n);
    expect((await vaultOps(t)).filter((op) => op.kind === "release")).toHaveLength(120);
    expect((await tierStat(t, "Conservative", "STX")).activePolicyCount).toBe(0n);

    const before = await snapshot(t);
    expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 0, hasMore: false });
    expect(await snapshot(t)).toEqual(before);
  });

  it("keeps an expired policy Active through the settlement grace, so an in-the-money one can still be settled", async () => {
    vi.stubEnv("SETTLEMENT_GRACE_BLOCKS", "10");
    try {
      const t = await seededBackend();
      await fund(t, ALICE, "Conservative", "STX", 1_000_000_000n);
      await activePolicy(t, 1n, { expiresAtBlock: 100n });
      await activePolicy(t, 2n, { expiresAtBlock: 100n });

      // Past expiry, inside the grace: the policy flow settles policy 1; nothing is released.
      await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 105n });
      expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 0, hasMore: false });
      await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 5_000_000n });

      // Past the grace: policy 2 is released; policy 1 waits for its settlement event.
      await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 111n });
      expect(await t.mutation(internal.policies.expirePolicies, {})).toEqual({ expired: 1, hasMore: false });
      expect((await policyDoc(t, 1n))?.status).toBe("Exercised");
      expect((await policyDoc(t, 2n))?.status).toBe("Expired");
      expect((await vaultOps(t)).map((op) => [op.kind, op.policyId, op.amount])).toEqual([
        ["lock", 1n, 24_000_000n],
        ["lock", 2n, 24_000_000n],
        ["settle", 1n, 5_000_000n],
        ["release", 2n, 24_000_000n],
      ]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("refuses to expire anything with a malformed SETTLEMENT_GRACE_BLOCKS (CONFIGURATION_MISSING)", async () => {
    vi.stubEnv("SETTLEMENT_GRACE_BLOCKS", "a day");
    try {
      const t = await seededBackend();
      await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 1_000n });
      await expectPoolError(t.mutation(internal.policies.expirePolicies, {}), "CONFIGURATION_MISSING");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("requestCollateralRelease refuses a policy that is not Active (INVALID_POLICY_STATE)", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await register(t, { policyId: 1n, ...CONSERVATIVE_STX_PUT });
    await expectPoolError(t.mutation(internal.liquidity.requestCollateralRelease, { policyId: 1n }), "INVALID_POLICY_STATE");
    await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n });
    expect(await t.mutation(internal.liquidity.requestCollateralRelease, { policyId: 1n })).toEqual({ released: 24_000_000n });
    await expectPoolError(t.mutation(internal.liquidity.requestCollateralRelease, { policyId: 1n }), "INVALID_POLICY_STATE");
  });
});

// ---------------------------------------------------------------------------
// The vault operation queue
// ---------------------------------------------------------------------------

describe("vaultOperations.batch", () => {
  it("puts up to 50 locks of one token in one aggregate transaction with the summed amount and their policy ids", async () => {
    const t = await seededBackend();
    await fund(t, ALICE, "Conservative", "STX", 10_000_000_000n);
    await fund(t, BOB, "Conservative", "sBTC", 10_000_000n);
    // 55 STX policies of 24 STX each, and two sBTC CALLs of 1,000 and 2,000 sats.
    for (let id = 1n; id <= 55n; id++) await activePolicy(t, id);
    for (const [id, sats] of [
      [101n, 1_000n],
      [102n, 2_000n],
    ] as const) {
      await register(t, {
        policyId: id,
        policyType: "CALL",
        protectedAmountSats: sats,
        strikePriceUsd: 70_000n * PRICE_SCALE,
        collateralToken: "sBTC",
      });
      await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: id });
    }

    const first = await t.mutation(internal.vaultOperations.batch, {});
    expect(first).toHaveLength(2);
    const txs = await t.run(async (ctx) => await ctx.db.query("chainTransactions").collect());
    expect(txs.map((tx) => ({ fn: tx.functionName, token: tx.token, amount: tx.amount, ids: tx.policyIds, status: tx.status }))).toEqual([
      {
        fn: VAULT_FUNCTIONS.lockCollateralAggregate,
        token: "STX",
        amount: 50n * 24_000_000n,
        ids: Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
        status: "pending",
      },
      { fn: VAULT_FUNCTIONS.lockCollateralAggregate, token: "sBTC", amount: 3_000n, ids: [101n, 102n], status: "pending" },
    ]);
    const ops = await t.run(async (ctx) => await ctx.db.query("vaultOperations").collect());
    for (const op of ops) {
      if (op.policyId <= 50n || op.policyId > 100n) {
        expect(op.status).toBe("submitted");
        expect(op.chainTransactionId).toBe(op.token === "STX" ? first[0] : first[1]);
      } else {
        expect(op.status).toBe("queued");
      }
    }

    // The next batch takes the five left over.
    const second = await t.mutation(internal.vaultOperations.batch, {});
    expect(second).toHaveLength(1);
    const tx = await t.run(async (ctx) => await ctx.db.get("chainTransactions", second[0]!));
    expect(tx).toMatchObject({ amount: 5n * 24_000_000n, policyIds: [51n, 52n, 53n, 54n, 55n] });
    expect(await t.mutation(internal.vaultOperations.batch, {})).toEqual([]);
  });

  it("gives each settlement its own settle-policy transaction, naming the buyer", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await activePolicy(t, 2n);
    await t.mutation(internal.vaultOperations.batch, {});
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 1n, settlementAmount: 1_000n });
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 2n, settlementAmount: 2_000n });

    const created = await t.mutation(internal.vaultOperations.batch, {});
    expect(created).toHaveLength(2);
    const txs = await t.run(async (ctx) => Promise.all(created.map((id) => ctx.db.get("chainTransactions", id))));
    expect(txs.map((tx) => ({ fn: tx?.functionName, ids: tx?.policyIds, amount: tx?.amount, buyer: tx?.buyer }))).toEqual([
      { fn: VAULT_FUNCTIONS.settlePolicy, ids: [1n], amount: 1_000n, buyer: BUYER },
      { fn: VAULT_FUNCTIONS.settlePolicy, ids: [2n], amount: 2_000n, buyer: BUYER },
    ]);
    const settles = (await vaultOps(t)).filter((op) => op.kind === "settle");
    expect(settles.map((op) => op.status)).toEqual(["submitted", "submitted"]);
  });
});

describe("vault events confirm the queued operations", () => {
  it("collateral-locked, collateral-released and settlement-paid mark their policies' operations confirmed", async () => {
    const t = await seededBackend();
    await conservativeTier(t);
    await activePolicy(t, 1n);
    await activePolicy(t, 2n);
    await t.mutation(internal.vaultOperations.batch, {});

    expect(await t.mutation(internal.vaultEvents.apply, { event: lockEvent([1n, 2n], "STX", 48_000_000n) })).toBe("applied");
    expect((await vaultOps(t)).map((op) => [op.kind, op.policyId, op.status])).toEqual([
      ["lock", 1n, "confirmed"],
      ["lock", 2n, "confirmed"],
    ]);

    await t.mutation(internal.liquidity.requestCollateralRelease, { policyId: 1n });
    await t.mutation(internal.liquidity.requestSettlement, { policyId: 2n, settlementAmount: 24_000_000n });
    await t.mutation(internal.vaultOperations.batch, {});
    expect(await t.mutation(internal.vaultEvents.apply, { event: releaseEvent([1n], "STX", 24_000_000n) })).toBe("applied");
    expect(await t.mutation(internal.vaultEvents.apply, { event: settlementEvent(2n, "STX", 24_000_000n) })).toBe("applied");

    expect((await vaultOps(t)).map((op) => [op.kind, op.policyId, op.status])).toEqual([
      ["lock", 1n, "confirmed"],
      ["lock", 2n, "confirmed"],
      ["release", 1n, "confirmed"],
      ["settle", 2n, "confirmed"],
    ]);
    // A payout of the whole backing leaves nothing to release on chain: no release operation for policy 2.
    expect((await policyDoc(t, 2n))?.status).toBe("Settled");
  });
});
