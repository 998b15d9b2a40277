/**
 * The scenario driver: plays the market's script (plan.ts) step by step
 * through the real code paths — wallet sign-in, wallet-signed deposits,
 * premiums and withdrawals broadcast to the local node, policies registered
 * and backed by the backend, collateral locked, released and settled by
 * backend-signed transactions, oracle refreshes against the local price
 * feed, health sweeps, expiries, event sync and reconciliation.
 *
 * One step:
 *   1. the feed quotes the step's prices; the oracle refreshes;
 *   2. policies due at this step are settled (in the money) or expired;
 *   3. the step's market actions: top-ups, policy sales and premiums, withdrawals;
 *   4. the backend batches its collateral instructions, signs and sends them;
 *   5. one block with every transaction of the step, then one block on top of it;
 *   6. follow the backend's transactions, sync the vault's events, expire
 *      stale reservations, sweep collateral health, reconcile;
 *   7. snapshot both sides and check every invariant.
 * Blocks are mined only here, explicitly: the run is deterministic.
 *
 * An incident scenario (simulation/scenarios/) adds to it through a
 * `MarketScript`: another of the backend's crons run each step (the checkpoint
 * job), burn blocks passing after a step, a look after every block (the
 * guardian's watcher), and the step after which the market ends.
 */
import { ConvexError } from "convex/values";

import { api, internal } from "../convex/_generated/api";
import { readChainConfig } from "../convex/config";
import { premiumCall } from "../convex/chain/contractCalls";
import { availableOf } from "../convex/domain/balances";
import { SATS_PER_BTC, USTX_PER_STX } from "../convex/domain/policyMath";
import { DEFAULT_TIER_CONFIGS } from "../convex/model/policies/tierConfigs";
import type { HealthStatus, Tier, Token } from "../convex/validators";
import { balanceIn, chainBalance, readBooks, readVaultTotals, sum, TOKENS, type Books } from "./books";
import { checkInvariants, InvariantTracker } from "./invariants";
import {
  inBand,
  PREMIUM_BANDS,
  STRIKE_BANDS,
  TIER_ORDER,
  type MarketPlan,
  type PolicyPlan,
  type ProviderPlan,
  type WithdrawalPlan,
} from "./plan";
import type { Prices } from "./priceFeed";
import type {
  BuyerRecord,
  DepositCheckpoint,
  PolicyRecord,
  SettlementCheckpoint,
  StepActivity,
  StepSnapshot,
  TierTokenFigures,
  TokenAmounts,
  WithdrawalRecord,
} from "./results";
import { zeroAmounts } from "./results";
import type { Stack } from "./stack";
import { signAndBroadcast, signIn, type Session } from "./wallets";

/** Extra STX each provider's wallet holds beyond what it deposits (fees are checked at admission). */
const WALLET_SPARE_USTX = 1_000n * USTX_PER_STX;
const BPS = 10_000n;
/** The smallest policy the desk sells, by the value of its collateral (USD, 8 decimals). */
const MIN_POLICY_COLLATERAL_USD = 1_000n * 100_000_000n;

/**
 * The policy desk sells no policy that would take a tier's utilization in a
 * token past what lets its providers still withdraw at today's prices
 * (collateral / obligation ≥ the tier's withdrawal ratio plus its buffer),
 * less a 7% margin: the pool goes into the crash healthy, and the crash is
 * what pushes its sBTC backers of PUTs into margin calls.
 */
function maxUtilizationBps(tier: Tier): bigint {
  const config = DEFAULT_TIER_CONFIGS.find((c) => c.tier === tier);
  if (!config) throw new Error(`no default configuration for ${tier}`);
  return (BPS * BPS) / (config.withdrawalRatioBps + config.withdrawalBufferBps) - 700n;
}

/** The most backers one policy of `tier` may have (the tier's `maxBackersPerPolicy`). */
function maxBackersOf(tier: Tier): number {
  const config = DEFAULT_TIER_CONFIGS.find((c) => c.tier === tier);
  if (!config) throw new Error(`no default configuration for ${tier}`);
  return config.maxBackersPerPolicy;
}

/**
 * The desk keeps each policy 1% under what its K largest backers could hold
 * together, so that the registry's own rounding of the collateral cannot
 * tip it over.
 */
const FANOUT_MARGIN_BPS = 9_900n;

export type HookContext = {
  stack: Stack;
  plan: MarketPlan;
  /** The signed-in session of a provider. */
  sessionOf(address: string): Session;
};

export type SimulationHooks = {
  afterDeposits?(ctx: HookContext, checkpoint: DepositCheckpoint): void | Promise<void>;
  afterSettlements?(ctx: HookContext, checkpoint: SettlementCheckpoint): void | Promise<void>;
  afterStep?(ctx: HookContext, snapshot: StepSnapshot): void | Promise<void>;
};

/**
 * What an incident scenario adds to the market. Everything here is decided up
 * front (from the plan), so one seed still plays out one way.
 */
export type MarketScript = {
  /** The last step the market plays: the backend stops, or a thief strikes, after it. Default: the plan's last. */
  lastStep?: number;
  /** In every step, with the backend's other crons, before it sends its transactions (the checkpoint job). */
  beforeSend?(step: number): Promise<void>;
  /** After every block the market mines (the guardian's watcher). */
  afterBlock?(): Promise<void>;
  /**
   * Burn blocks that pass after a step, its checks done. Each comes with an empty Stacks block,
   * so the expiry heights of the policies due after it are planned that much higher.
   */
  burnBlocksAfter?: ReadonlyMap<number, number>;
};

export type MarketOutcome = {
  timeline: StepSnapshot[];
  policies: PolicyRecord[];
  withdrawals: WithdrawalRecord[];
  buyers: BuyerRecord[];
  deposits: Map<string, TokenAmounts>;
  worstHealth: Map<string, HealthStatus>;
  checkpoints: { deposits: DepositCheckpoint | null; settlements: SettlementCheckpoint[] };
  tracker: InvariantTracker;
  books: Books;
  /** The signed-in session of a provider (an incident's last request to the backend goes through it). */
  sessionOf(address: string): Session;
};

type Progress = (step: number, label: string) => void;

const newActivity = (): StepActivity => ({
  policiesSold: 0,
  policiesCancelled: 0,
  premiumsPaid: 0,
  settlementsRequested: 0,
  policiesExpired: 0,
  withdrawalsRequested: 0,
  withdrawalsRefused: 0,
  backendTransactions: 0,
  eventsApplied: 0,
  deliveries: 0,
  eventsByDelivery: 0,
  eventsByPoller: 0,
});

const HEALTH_RANK: Record<HealthStatus, number> = { Healthy: 0, Warning: 1, MarginCall: 2, Liquidating: 3 };

function errorText(error: unknown): string {
  if (error instanceof ConvexError) {
    const data = error.data as { code?: string; message?: string };
    return `${data.code ?? "ERROR"}: ${data.message ?? ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** USD (8 decimals) in base units of `token`, rounded down: what the pool pays out. */
function usdToTokenDown(usd: bigint, token: Token, prices: Prices): bigint {
  return token === "sBTC" ? (usd * SATS_PER_BTC) / prices.btcUsd : (usd * USTX_PER_STX) / prices.stxUsd;
}

/** USD (8 decimals) in base units of `token`, rounded up: what a buyer owes. */
function usdToTokenUp(usd: bigint, token: Token, prices: Prices): bigint {
  const [num, den] = token === "sBTC" ? [usd * SATS_PER_BTC, prices.btcUsd] : [usd * USTX_PER_STX, prices.stxUsd];
  return num === 0n ? 0n : (num - 1n) / den + 1n;
}

/** Value of `amount` of `token` in USD (8 decimals), rounded down. */
function tokenToUsd(amount: bigint, token: Token, prices: Prices): bigint {
  return token === "sBTC" ? (amount * prices.btcUsd) / SATS_PER_BTC : (amount * prices.stxUsd) / USTX_PER_STX;
}

export class Market {
  private readonly sessions = new Map<string, Session>();
  private readonly policies = new Map<bigint, PolicyRecord>();
  private readonly withdrawals: (WithdrawalRecord & { nonce?: bigint })[] = [];
  private readonly buyers: BuyerRecord[];
  private readonly deposits = new Map<string, TokenAmounts>();
  private readonly worstHealth = new Map<string, HealthStatus>();
  private readonly timeline: StepSnapshot[] = [];
  private readonly tracker = new InvariantTracker();
  private readonly premiumsPaid = zeroAmounts();
  private depositCheckpoint: DepositCheckpoint | null = null;
  private readonly settlementCheckpoints: SettlementCheckpoint[] = [];
  /** Chain height when the run began: step k starts at startHeight + 2k. */
  private startHeight = 0n;
  private syncedThrough = 0n;
  private activity = newActivity();
  private readonly hookContext: HookContext;

  constructor(
    private readonly stack: Stack,
    private readonly plan: MarketPlan,
    private readonly hooks: SimulationHooks = {},
    private readonly progress: Progress = () => {},
    private readonly script: MarketScript = {},
  ) {
    this.buyers = plan.buyers.map((b) => ({
      address: b.wallet.address,
      funded: zeroAmounts(),
      premiumsPaid: zeroAmounts(),
      payoutsReceived: zeroAmounts(),
      finalOnChain: zeroAmounts(),
    }));
    this.hookContext = { stack, plan, sessionOf: (address) => this.session(address) };
  }

  private session(address: string): Session {
    const session = this.sessions.get(address);
    if (!session) throw new Error(`${address} has not signed in`);
    return session;
  }

  /**
   * The block height policies due at `step` expire at: due once the sync has passed it, i.e. at
   * the start of that step. Blocks that came with burn blocks passing before it count too.
   */
  private expiryHeightOf(step: number): bigint {
    let passed = 0n;
    for (const [after, count] of this.script.burnBlocksAfter ?? []) if (after < step) passed += BigInt(count);
    return this.startHeight + 2n * BigInt(step) - 2n + passed;
  }

  /** The last step played. */
  get lastStep(): number {
    return Math.min(this.script.lastStep ?? this.plan.steps - 1, this.plan.steps - 1);
  }

  async run(): Promise<MarketOutcome> {
    const { stack } = this;
    await this.fundWallets();
    this.startHeight = BigInt(stack.server.simnet.blockHeight);
    for (let step = 0; step <= this.lastStep; step++) {
      await this.step(step);
      const burnBlocks = this.script.burnBlocksAfter?.get(step);
      if (burnBlocks) await this.letBurnBlocksPass(burnBlocks);
    }
    for (const buyer of this.buyers) {
      for (const token of TOKENS) buyer.finalOnChain[token] = chainBalance(stack, buyer.address, token);
    }
    for (const w of this.withdrawals) delete w.nonce;
    const books = await readBooks(stack);
    for (const row of books.policies) {
      const record = this.policies.get(row.policyId);
      if (!record) continue;
      record.status = row.status;
      if (row.settledAmount !== undefined && row.settledAmount !== record.payout) {
        record.note = `registry settled ${row.settledAmount}, requested ${record.payout}`;
      }
    }
    return {
      timeline: this.timeline,
      policies: [...this.policies.values()],
      withdrawals: this.withdrawals,
      buyers: this.buyers,
      deposits: this.deposits,
      worstHealth: this.worstHealth,
      checkpoints: { deposits: this.depositCheckpoint, settlements: this.settlementCheckpoints },
      tracker: this.tracker,
      books,
      sessionOf: (address) => this.session(address),
    };
  }

  // -------------------------------------------------------------------------
  // Wallets

  /** Funds every wallet on the local chain (the faucet of a devnet). */
  private async fundWallets(): Promise<void> {
    const { server } = this.stack;
    for (const p of this.plan.providers) {
      const topUp = (token: Token) => (p.topUp > 0n && this.topUpToken(p) === token ? p.topUp : 0n);
      await server.fund(p.wallet.address, p.deposits.STX + topUp("STX") + WALLET_SPARE_USTX);
      const sats = p.deposits.sBTC + topUp("sBTC");
      if (sats > 0n) await server.mintSbtc(p.wallet.address, sats);
      this.deposits.set(p.wallet.address, zeroAmounts());
      this.worstHealth.set(p.wallet.address, "Healthy");
    }
    for (const [i, b] of this.plan.buyers.entries()) {
      await server.fund(b.wallet.address, b.fundedUstx);
      await server.mintSbtc(b.wallet.address, b.fundedSats);
      const record = this.buyers[i] as BuyerRecord;
      for (const token of TOKENS) record.funded[token] = chainBalance(this.stack, b.wallet.address, token);
    }
  }

  /**
   * Burn blocks pass (the vault's clocks: outflow window, checkpoint interval and veto window,
   * SILENCE). The backend's crons keep running meanwhile: the sync reaches the empty blocks, so the
   * next step's expiries come due as planned.
   */
  private async letBurnBlocksPass(count: number): Promise<void> {
    const { server, t } = this.stack;
    this.progress(this.timeline.length, `${count} burn blocks pass`);
    await server.advanceBurnBlocks(count);
    await t.action(internal.chainTransactions.follow, {});
    const synced = await t.action(internal.eventSync.syncVaultEvents, {});
    this.syncedThrough = synced.syncedThrough;
  }

  private topUpToken(p: ProviderPlan): Token {
    return p.deposits.STX > 0n ? "STX" : "sBTC";
  }

  // -------------------------------------------------------------------------
  // The step

  private async step(step: number): Promise<void> {
    const started = performance.now();
    const { t, server, feed } = this.stack;
    this.activity = newActivity();
    const point = this.plan.prices[step];
    if (!point) throw new Error(`no price for step ${step}`);

    this.progress(step, "oracle");
    feed.setPrices(point);
    const refreshed = await t.action(internal.oracle.refreshPrices, {});
    if (refreshed.unavailable.length > 0)
      throw new Error(`step ${step}: the oracle found no price for ${refreshed.unavailable.join(", ")}`);
    const oracle = await this.oraclePrices();

    if (step === 0) {
      this.progress(step, "sign-in and deposits");
      await this.onboard();
    }
    this.progress(step, "expiries");
    const settlement = await this.settleAndExpire(step, oracle);
    if (step === this.plan.topUpStep) await this.topUps();
    const sales = this.plan.policies.filter((p) => p.registrationStep === step);
    if (sales.length > 0) this.progress(step, `selling ${sales.length} policies`);
    for (const policy of sales) await this.sellPolicy(policy, oracle);
    for (const w of this.plan.withdrawals.filter((x) => x.step === step)) await this.withdraw(w);

    this.progress(step, "backend transactions");
    await this.script.beforeSend?.(step);
    const batched = await t.mutation(internal.vaultOperations.batch, {});
    this.activity.backendTransactions += batched.length;
    await t.action(internal.chainTransactions.send, {});

    this.progress(step, "mining");
    await server.mine(1);
    await this.script.afterBlock?.();
    await server.mine(1);
    await this.script.afterBlock?.();

    if (this.stack.chainhooks) {
      this.progress(step, "chainhook deliveries");
      // The step's blocks are delivered now; each delivery schedules a confirmer, which applies the
      // block (both blocks are on the chain, so it is confirmed) before the poller below looks.
      const before = await this.eventRecordsAbove(this.syncedThrough);
      this.activity.deliveries = await this.stack.chainhooks.deliver();
      await t.finishAllScheduledFunctions(() => undefined);
      this.activity.eventsByDelivery = (await this.eventRecordsAbove(this.syncedThrough)) - before;
    }

    this.progress(step, "follow and sync");
    await t.action(internal.chainTransactions.follow, {});
    const synced = await t.action(internal.eventSync.syncVaultEvents, {});
    this.syncedThrough = synced.syncedThrough;
    // The poller is the reconciler: what it applies here, the deliveries did not.
    this.activity.eventsByPoller = synced.applied + synced.unmatched + synced.recorded;
    this.activity.eventsApplied = synced.applied;
    await t.mutation(internal.liquidity.expireWithdrawalReservations, {});
    // The minute cron that admits newly deposited capital to the allocation queues.
    await t.mutation(internal.policies.admitJoiningCapital, {});
    this.progress(step, "health sweep");
    await t.action(internal.health.sweep, { cursor: null });
    // Sweeps of large pools continue through the scheduler; let them finish before looking.
    await t.finishAllScheduledFunctions(() => undefined);
    await t.action(internal.liquidity.updateTierMetrics, {});
    this.progress(step, "reconcile");
    const outcomes = await t.action(internal.reconciliation.reconcile, {});
    const reconciliation = {
      STX: outcomes[0] ?? "none",
      sBTC: outcomes[1] ?? "none",
    } as StepSnapshot["reconciliation"];

    if (step === 0) await this.recordDeposits(step);
    if (settlement) await this.finishSettlementCheckpoint(settlement);
    await this.updateWithdrawals();

    this.progress(step, "checks");
    const books = await readBooks(this.stack);
    const vault = readVaultTotals(this.stack);
    const failed = this.tracker.record(
      step,
      checkInvariants({
        books,
        vault,
        reconciliation,
        premiumsPaid: this.premiumsPaid,
        buyers: this.buyers.map((b) => ({
          address: b.address,
          funded: b.funded,
          premiumsPaid: b.premiumsPaid,
          onChain: {
            STX: chainBalance(this.stack, b.address, "STX"),
            sBTC: chainBalance(this.stack, b.address, "sBTC"),
          },
        })),
        expectedAlerts: this.stack.setUpAlerts,
      }),
    );
    const snapshot = await this.snapshot(
      step,
      point,
      oracle,
      vault,
      books,
      reconciliation,
      failed,
      performance.now() - started,
    );
    this.timeline.push(snapshot);
    await this.hooks.afterStep?.(this.hookContext, snapshot);
  }

  /** Vault event records (applied, unmatched or recorded) of blocks above `height`. */
  private async eventRecordsAbove(height: bigint): Promise<number> {
    return await this.stack.t.run(
      async (ctx) =>
        (
          await ctx.db
            .query("vaultEvents")
            .withIndex("by_block_height", (q) => q.gt("blockHeight", height))
            .collect()
        ).filter((e) => e.status !== "reversed").length,
    );
  }

  private async oraclePrices(): Promise<Prices> {
    const current = await this.stack.t.query(internal.oracle.getCurrentPrices, {});
    if (!current.available) throw new Error(`the oracle has no price: ${current.reason}`);
    return { btcUsd: current.btcUsd, stxUsd: current.stxUsd };
  }

  // -------------------------------------------------------------------------
  // Providers

  private async onboard(): Promise<void> {
    for (const p of this.plan.providers) {
      const session = await signIn(this.stack, p.wallet);
      this.sessions.set(p.wallet.address, session);
      for (const token of TOKENS) {
        if (p.deposits[token] > 0n) await this.deposit(p, token, p.deposits[token]);
      }
    }
  }

  private async deposit(p: ProviderPlan, token: Token, amount: bigint): Promise<void> {
    const session = this.session(p.wallet.address);
    const { call } = await session.mutation(api.liquidity.requestCommitCapital, { amount, token, tier: p.tier });
    await signAndBroadcast(this.stack, call, p.wallet);
    const deposited = this.deposits.get(p.wallet.address) as TokenAmounts;
    deposited[token] += amount;
  }

  private async topUps(): Promise<void> {
    for (const p of this.plan.providers) if (p.topUp > 0n) await this.deposit(p, this.topUpToken(p), p.topUp);
  }

  private async recordDeposits(step: number): Promise<void> {
    const providers = [];
    for (const p of this.plan.providers) {
      const portfolio = await this.session(p.wallet.address).query(api.liquidity.getProviderPortfolio, {});
      const totals = zeroAmounts();
      for (const b of portfolio?.balances ?? []) totals[b.token] = b.total;
      providers.push({
        address: p.wallet.address,
        tier: p.tier,
        deposited: { ...(this.deposits.get(p.wallet.address) as TokenAmounts) },
        portfolioTotals: totals,
        portfolioTier: portfolio?.tier ?? null,
      });
    }
    this.depositCheckpoint = { step, providers, vault: readVaultTotals(this.stack) };
    await this.hooks.afterDeposits?.(this.hookContext, this.depositCheckpoint);
  }

  // -------------------------------------------------------------------------
  // Policies

  /**
   * Sells one policy: picks the tier (the planned one, or the next with
   * capital) and the collateral token, sizes it to a share of what the tier
   * has available, registers it at the oracle's prices, has the backend back
   * it, and the buyer pays the premium from their wallet.
   */
  private async sellPolicy(plan: PolicyPlan, prices: Prices): Promise<void> {
    const { t } = this.stack;
    const buyer = this.plan.buyers[plan.buyer];
    if (!buyer) throw new Error(`policy ${plan.policyId}: no buyer ${plan.buyer}`);
    const record: PolicyRecord = {
      policyId: plan.policyId,
      buyer: buyer.wallet.address,
      policyType: plan.policyType,
      tier: null,
      token: null,
      protectedAmountSats: 0n,
      strikePriceUsd: 0n,
      premium: 0n,
      requiredCollateral: 0n,
      registrationStep: plan.registrationStep,
      expiryStep: plan.expiryStep,
      expiresAtBlock: this.expiryHeightOf(plan.expiryStep),
      status: "Skipped",
      backers: 0,
      payout: 0n,
      settlementPriceUsd: null,
    };
    this.policies.set(plan.policyId, record);

    const stats = await t.query(api.liquidity.getTierStats, {});
    const fanout = await this.fanoutCapacity();
    const start = TIER_ORDER.indexOf(plan.tier);
    let choice: { tier: Tier; token: Token; required: bigint } | null = null;
    for (let i = 0; i < TIER_ORDER.length && choice === null; i++) {
      const tier = TIER_ORDER[(start + i) % TIER_ORDER.length] as Tier;
      const open = TOKENS.flatMap((token) => {
        const s = stats.find((x) => x.tier === tier && x.token === token);
        if (!s || s.totalCapital === 0n) return [];
        const headroom = (s.totalCapital * maxUtilizationBps(tier)) / BPS - s.totalLocked;
        const wanted = (s.totalAvailable * plan.shareBps) / BPS;
        // A policy is sized to the tier, but one policy may draw on at most K providers: in a large
        // pool a share of the tier is more than any K of them hold, and allocation would refuse it.
        const backable = ((fanout.get(`${tier}/${token}`) ?? 0n) * FANOUT_MARGIN_BPS) / BPS;
        const required = [wanted, headroom, backable].reduce((a, b) => (b < a ? b : a));
        // The desk sells nothing smaller than $1,000 of collateral: a nearly full tier takes no more policies.
        return tokenToUsd(required, token, prices) >= MIN_POLICY_COLLATERAL_USD ? [{ token, required }] : [];
      });
      if (open.length > 0) {
        const pick = open[Math.min(open.length - 1, Math.floor(plan.tokenDraw * open.length))] as (typeof open)[number];
        choice = { tier, ...pick };
      }
    }
    if (choice === null) {
      record.note = "no tier had capital to offer";
      return;
    }

    const distance = inBand(STRIKE_BANDS[choice.tier], plan.strikeDraw);
    const strike =
      plan.policyType === "PUT" ? (prices.btcUsd * (BPS - distance)) / BPS : (prices.btcUsd * (BPS + distance)) / BPS;
    // The protected amount whose collateral is about `required` at today's prices.
    const requiredUsd = tokenToUsd(choice.required, choice.token, prices);
    const protectedSats =
      plan.policyType === "PUT"
        ? (requiredUsd * SATS_PER_BTC) / strike
        : choice.token === "sBTC"
          ? choice.required
          : (requiredUsd * SATS_PER_BTC) / prices.btcUsd;
    const protectedUsd = (protectedSats * prices.btcUsd) / SATS_PER_BTC;
    const premium = usdToTokenUp(
      (protectedUsd * inBand(PREMIUM_BANDS[choice.tier], plan.premiumDraw)) / BPS,
      choice.token,
      prices,
    );

    const registered = await t.mutation(internal.policies.registerPolicy, {
      policyId: plan.policyId,
      buyer: buyer.wallet.address,
      policyType: plan.policyType,
      protectedAmountSats: protectedSats,
      strikePriceUsd: strike,
      premium,
      expiresAtBlock: record.expiresAtBlock,
      collateralToken: choice.token,
      btcPriceUsd: prices.btcUsd,
      stxPriceUsd: prices.stxUsd,
    });
    Object.assign(record, {
      tier: registered.tier,
      token: choice.token,
      protectedAmountSats: protectedSats,
      strikePriceUsd: strike,
      premium,
      requiredCollateral: registered.requiredCollateral,
      status: "Pending",
    });
    if (registered.tier !== choice.tier)
      record.note = `strike chosen for ${choice.tier}, registered in ${registered.tier}`;

    try {
      const allocations = await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: plan.policyId });
      record.backers = allocations.length;
      record.status = "Active";
      this.activity.policiesSold++;
    } catch (error) {
      if (!(error instanceof ConvexError)) throw error;
      await t.mutation(internal.policies.cancelPolicy, { policyId: plan.policyId });
      record.status = "Cancelled";
      record.note = errorText(error);
      this.activity.policiesCancelled++;
      return;
    }

    const call = premiumCall(readChainConfig(), buyer.wallet.address, plan.policyId, choice.token, premium);
    await signAndBroadcast(this.stack, call, buyer.wallet);
    this.premiumsPaid[choice.token] += premium;
    (this.buyers[plan.buyer] as BuyerRecord).premiumsPaid[choice.token] += premium;
    this.activity.premiumsPaid++;
  }

  /**
   * Per tier and token ("tier/token"), what its K largest balances have
   * available together: the most one policy can be backed with, since
   * allocation falls back to those K when the front of the queue is too small.
   */
  private async fanoutCapacity(): Promise<Map<string, bigint>> {
    const rows = await this.stack.t.run(async (ctx) => {
      const out: { key: string; capacity: bigint }[] = [];
      for (const tier of TIER_ORDER) {
        for (const token of TOKENS) {
          const largest = await ctx.db
            .query("providerBalances")
            .withIndex("by_tier_token_available", (q) => q.eq("tier", tier).eq("token", token))
            .order("desc")
            .take(maxBackersOf(tier));
          out.push({ key: `${tier}/${token}`, capacity: sum(largest, (b) => availableOf(b)) });
        }
      }
      return out;
    });
    return new Map(rows.map((r) => [r.key, r.capacity]));
  }

  /** What the policy pays at `prices` in its collateral token, rounded down: a PUT below its strike, a CALL above. */
  private intrinsicValue(policy: PolicyRecord, prices: Prices): bigint {
    if (policy.token === null) return 0n;
    const gap =
      policy.policyType === "PUT" ? policy.strikePriceUsd - prices.btcUsd : prices.btcUsd - policy.strikePriceUsd;
    if (gap <= 0n) return 0n;
    return usdToTokenDown((gap * policy.protectedAmountSats) / SATS_PER_BTC, policy.token, prices);
  }

  /**
   * Policies whose expiry the sync has passed: the policy flow asks the pool
   * to pay the in-the-money ones (before the expiry job would release them),
   * then the expiry job releases the rest.
   */
  private async settleAndExpire(step: number, prices: Prices): Promise<SettlementCheckpoint | null> {
    const { t } = this.stack;
    const syncedThrough = this.syncedThrough;
    const due = await t.run(async (ctx) => {
      const rows = await ctx.db
        .query("policies")
        .withIndex("by_status_and_expiry", (q) => q.eq("status", "Active").lt("expiresAtBlock", syncedThrough))
        .collect();
      return await Promise.all(
        rows.map(async (p) => ({
          policyId: p.policyId,
          backing: (
            await ctx.db
              .query("policyBacking")
              .withIndex("by_policy", (q) => q.eq("policyId", p.policyId))
              .collect()
          )
            .filter((b) => b.active)
            .map((b) => ({ provider: b.provider, allocated: b.allocated })),
        })),
      );
    });
    if (due.length === 0) return null;

    const checkpoint: SettlementCheckpoint = {
      step,
      settlements: [],
      buyers: [],
      backers: [],
      vaultBefore: readVaultTotals(this.stack),
      vaultAfter: readVaultTotals(this.stack),
    };
    for (const { policyId, backing } of due) {
      const record = this.policies.get(policyId);
      if (!record || record.token === null) continue;
      record.settlementPriceUsd = prices.btcUsd;
      const backed = sum(backing, (b) => b.allocated);
      const value = this.intrinsicValue(record, prices);
      const payout = value < backed ? value : backed;
      if (payout <= 0n) continue;
      await t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
      record.payout = payout;
      if (value > backed) record.note = `payout capped at its backing (${value} due)`;
      this.activity.settlementsRequested++;
      checkpoint.settlements.push({ policyId, buyer: record.buyer, token: record.token, payout, backing });
    }
    const expired = await t.mutation(internal.policies.expirePolicies, {});
    await t.finishAllScheduledFunctions(() => undefined);
    this.activity.policiesExpired += expired.expired;
    if (checkpoint.settlements.length === 0) return null;

    const books = await readBooks(this.stack);
    const seen = new Set<string>();
    for (const s of checkpoint.settlements) {
      const key = `${s.buyer}/${s.token}`;
      if (!seen.has(key)) {
        seen.add(key);
        checkpoint.buyers.push({
          address: s.buyer,
          token: s.token,
          before: chainBalance(this.stack, s.buyer, s.token),
          after: 0n,
        });
      }
      for (const b of s.backing) {
        const bkey = `backer:${b.provider}/${s.token}`;
        if (seen.has(bkey)) continue;
        seen.add(bkey);
        checkpoint.backers.push({
          address: b.provider,
          token: s.token,
          totalBefore: balanceIn(books, b.provider, s.token).total,
          totalAfter: 0n,
          debited: this.debitsOf(books, b.provider, s.token),
        });
      }
    }
    return checkpoint;
  }

  private debitsOf(books: Books, provider: string, token: Token): bigint {
    return sum(
      books.ledger.filter((l) => l.provider === provider && l.token === token && l.type === "settlement_debit"),
      (l) => l.amount,
    );
  }

  private async finishSettlementCheckpoint(checkpoint: SettlementCheckpoint): Promise<void> {
    const books = await readBooks(this.stack);
    for (const b of checkpoint.buyers) b.after = chainBalance(this.stack, b.address, b.token);
    for (const b of checkpoint.backers) {
      b.totalAfter = balanceIn(books, b.address, b.token).total;
      // Until now `debited` held the debits before the step: turn it into this step's.
      b.debited = this.debitsOf(books, b.address, b.token) - b.debited;
    }
    checkpoint.vaultAfter = readVaultTotals(this.stack);
    for (const s of checkpoint.settlements) {
      const buyer = this.buyers.find((x) => x.address === s.buyer);
      if (buyer) buyer.payoutsReceived[s.token] += s.payout;
    }
    this.settlementCheckpoints.push(checkpoint);
    await this.hooks.afterSettlements?.(this.hookContext, checkpoint);
  }

  // -------------------------------------------------------------------------
  // Withdrawals

  private async withdraw(w: WithdrawalPlan): Promise<void> {
    const books = await readBooks(this.stack);
    let chosen: ProviderPlan[];
    if (w.who === "first-two") chosen = this.plan.providers.slice(0, 2);
    else if (w.who === "every-third") chosen = this.plan.providers.filter((p) => p.index % 3 === 0);
    else {
      // The provider in the worst health, lowest ratio first: the one a margin call should hold back.
      const ranked = books.providers
        .filter((p) => p.activeBackings > 0n)
        .sort(
          (a, b) =>
            HEALTH_RANK[b.healthStatus] - HEALTH_RANK[a.healthStatus] ||
            Number((a.collateralizationRatioBps ?? 0n) - (b.collateralizationRatioBps ?? 0n)),
        );
      const worst = ranked[0];
      chosen = worst ? this.plan.providers.filter((p) => p.wallet.address === worst.principal) : [];
    }
    for (const p of chosen) {
      const tokens =
        w.who === "every-third"
          ? TOKENS
          : ([p.deposits.sBTC > 0n && w.who === "worst-health" ? "sBTC" : this.topUpToken(p)] as Token[]);
      for (const token of tokens) {
        const available = balanceIn(books, p.wallet.address, token).available;
        const amount = (available * w.shareBps) / BPS;
        if (amount <= 0n) continue;
        await this.requestWithdrawal(w.step, p, token, amount);
      }
    }
  }

  private async requestWithdrawal(step: number, p: ProviderPlan, token: Token, amount: bigint): Promise<void> {
    this.activity.withdrawalsRequested++;
    const record: WithdrawalRecord & { nonce?: bigint } = {
      step,
      provider: p.wallet.address,
      token,
      amount,
      outcome: "pending",
    };
    this.withdrawals.push(record);
    let prepared;
    try {
      prepared = await this.session(p.wallet.address).action(api.liquidity.requestWithdrawal, { amount, token });
    } catch (error) {
      // A coded refusal (not enough available, health, no price) is an outcome; anything else is a failure of the run.
      if (!(error instanceof ConvexError)) throw error;
      record.outcome = "refused";
      record.reason = errorText(error);
      this.activity.withdrawalsRefused++;
      return;
    }
    record.nonce = prepared.voucher.nonce;
    await signAndBroadcast(this.stack, prepared.call, p.wallet);
  }

  /** Pending withdrawals whose reservation the sync redeemed (or superseded, or that expired). */
  private async updateWithdrawals(): Promise<void> {
    const pending = this.withdrawals.filter((w) => w.outcome === "pending" && w.nonce !== undefined);
    if (pending.length === 0) return;
    const statuses = await this.stack.t.run(async (ctx) => {
      const out: (string | null)[] = [];
      for (const w of pending) {
        const nonce = w.nonce as bigint;
        const row = await ctx.db
          .query("withdrawalReservations")
          .withIndex("by_provider_and_nonce", (q) => q.eq("provider", w.provider).eq("nonce", nonce))
          .unique();
        out.push(row?.status ?? null);
      }
      return out;
    });
    for (const [i, w] of pending.entries()) {
      const status = statuses[i];
      if (status === "redeemed") w.outcome = "redeemed";
      else if (status === "superseded") w.outcome = "superseded";
      else if (status === "expired" || status === "cancelled") w.outcome = "expired";
    }
  }

  // -------------------------------------------------------------------------
  // Snapshot

  private async snapshot(
    step: number,
    point: MarketPlan["prices"][number],
    oracle: Prices,
    vault: StepSnapshot["vault"],
    books: Books,
    reconciliation: StepSnapshot["reconciliation"],
    failedChecks: string[],
    elapsedMs: number,
  ): Promise<StepSnapshot> {
    const { t } = this.stack;
    const tierStats = await t.query(api.liquidity.getTierStats, {});
    const tiers = {} as StepSnapshot["tiers"];
    for (const tier of TIER_ORDER) {
      tiers[tier] = {} as Record<Token, TierTokenFigures>;
      for (const token of TOKENS) {
        const s = tierStats.find((x) => x.tier === tier && x.token === token);
        tiers[tier][token] = {
          capital: s?.totalCapital ?? 0n,
          locked: s?.totalLocked ?? 0n,
          utilizationBps: s?.utilizationBps ?? 0n,
          yieldAccrued: s?.totalYieldAccrued ?? 0n,
          activePolicies: s?.activePolicyCount ?? 0n,
        };
      }
    }
    const health: StepSnapshot["health"] = { Healthy: 0, Warning: 0, MarginCall: 0, Liquidating: 0 };
    for (const p of books.providers) {
      health[p.healthStatus]++;
      const worst = this.worstHealth.get(p.principal) ?? "Healthy";
      if (HEALTH_RANK[p.healthStatus] > HEALTH_RANK[worst]) this.worstHealth.set(p.principal, p.healthStatus);
    }
    const booksByToken = {} as StepSnapshot["books"];
    for (const token of TOKENS) {
      const balances = books.balances.filter((b) => b.token === token);
      booksByToken[token] = {
        capital: sum(balances, (b) => b.total),
        locked: sum(balances, (b) => b.locked),
        reserved: sum(balances, (b) => b.reserved),
        yieldAccrued: sum(balances, (b) => b.accruedYield),
      };
    }
    return {
      step,
      height: BigInt(this.stack.server.simnet.blockHeight),
      phase: point.phase,
      prices: { btcUsd: point.btcUsd, stxUsd: point.stxUsd },
      oracle,
      vault,
      books: booksByToken,
      tiers,
      health,
      reconciliation,
      activity: this.activity,
      failedChecks,
      elapsedMs,
    };
  }
}
