/**
 * Properties of policy collateral, end to end through the real Convex
 * functions in convex-test, and of the pure arithmetic underneath:
 *
 * a. Conservation: for any sequence of deposits, policy registrations and
 *    allocations, premiums, settlements (request, then the synced event) and
 *    expiries over several providers of one tier in both tokens, after every
 *    step each provider's `locked` is the sum of their active backing, every
 *    Active policy is backed by exactly its required collateral, ended
 *    policies hold nothing, no balance goes negative, the tier totals are the
 *    sums over providers, and no unit of money appears or disappears.
 * b. Premiums and payouts split exactly: yield + protocol fee = premium,
 *    debits = payout, every part within one unit of its exact pro-rata share.
 * c. Bounded fan-out: no policy has more than `maxBackersPerPolicy` backers;
 *    an allocation that cannot be covered fails with a coded error, changing
 *    nothing.
 * d. Fairness of the allocation rule (measured, with a fixed seed).
 * e. The tier rule and the collateral arithmetic of model/policyMath.ts.
 *
 * Three defects found here were fixed and are now plain tests: a configurable
 * fan-out above what the per-policy loops read; small balances crowding a
 * policy out; the first rule's bias against large providers.
 *
 * Fixtures draw from Math.random, and convex-test does not seed it, so every
 * run installs its own seeded generator: a failing case is reproducible from
 * the fast-check seed alone.
 */
import { privateKeyToAddress } from "@stacks/transactions";
import fc from "fast-check";
import { afterEach, describe, expect, test, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { Doc } from "../../convex/_generated/dataModel";
import { allocateProportionally } from "../../convex/domain/fairQueue";
import { isPoolError, type ErrorCode } from "../../convex/domain/errors";
import {
  PRICE_SCALE,
  requiredCollateral,
  SATS_PER_BTC,
  strikeDistanceBps,
  tierForStrike,
  type PolicyType,
} from "../../convex/domain/policyMath";
import { splitPremium } from "../../convex/domain/premiumSplit";
import { DEFAULT_TIER_CONFIGS } from "../../convex/model/policies/tierConfigs";
import { operationIdOf } from "../../convex/model/sync/vaultEvents";
import { TIERS, TOKENS, type Tier, type Token, type VaultEvent } from "../../convex/validators";
import { newBackend, snapshot } from "./convexTest";

type Backend = ReturnType<typeof newBackend>;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/** mulberry32: a small, fast, seedable generator of floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Makes Math.random deterministic. convex-test hands handlers the shared Math
 * object, so replacing its `random` reaches the allocation code.
 */
function seedMathRandom(seed: number): void {
  vi.spyOn(Math, "random").mockImplementation(seededRandom(seed));
}

afterEach(() => {
  vi.restoreAllMocks();
});

const addressCache = new Map<number, string>();
/** A real testnet address per index. */
function providerAddress(index: number): string {
  let address = addressCache.get(index);
  if (!address) {
    address = privateKeyToAddress((index + 1).toString(16).padStart(64, "0") + "01", "testnet");
    addressCache.set(index, address);
  }
  return address;
}

const BUYER = "ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP";

/** Awkward prices, so that every conversion has something to round: BTC ≈ $61,234.57, STX ≈ $1.8765. */
const BTC_USD = 6_123_456_789_012n;
const STX_USD = 187_654_321n;


/** The code of a coded pool error, or null when the call succeeded; anything else is rethrown. */
async function outcomeOf<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: ErrorCode }> {
  try {
    return { ok: true, value: await call };
  } catch (error) {
    if (isPoolError(error)) return { ok: false, code: error.data.code };
    throw error;
  }
}

async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return t;
}

async function setMaxBackers(t: Backend, tier: Tier, maxBackersPerPolicy: number): Promise<void> {
  await t.run(async (ctx) => {
    const config = await ctx.db
      .query("tierConfigs")
      .withIndex("by_tier", (q) => q.eq("tier", tier))
      .unique();
    if (!config) throw new Error(`${tier} not seeded`);
    await ctx.db.patch("tierConfigs", config._id, { maxBackersPerPolicy });
  });
}

/** Vault events with unique positions and the vault's totals as a running model reports them. */
class Chain {
  private height = 0n;
  private seq = 0n;
  readonly balance: Record<Token, bigint> = { STX: 0n, sBTC: 0n };

  private position() {
    this.height += 1n;
    return {
      txid: `0x${this.height.toString(16).padStart(64, "0")}`,
      eventIndex: 0,
      blockHeight: this.height,
      blockHash: `0x${this.height.toString(16).padStart(64, "a")}`,
    };
  }

  deposit(depositor: string, token: Token, amount: bigint): VaultEvent {
    this.balance[token] += amount;
    const totals = { totalBalance: this.balance[token], totalLocked: 0n };
    this.seq += 1n;
    return { ...this.position(), kind: "funds-deposited", depositor, token, amount, seq: this.seq, ...totals };
  }

  premium(policyId: bigint, token: Token, amount: bigint): VaultEvent {
    this.balance[token] += amount;
    const totals = { totalBalance: this.balance[token], totalLocked: 0n };
    return { ...this.position(), kind: "premium-paid", policyId, payer: BUYER, token, amount, ...totals };
  }

  settlement(policyId: bigint, token: Token, amount: bigint): VaultEvent {
    this.balance[token] -= amount;
    const totals = { totalBalance: this.balance[token], totalLocked: 0n };
    return { ...this.position(), kind: "settlement-paid", policyId, buyer: BUYER, token, amount, ...totals };
  }
}

async function commitAndDeposit(t: Backend, chain: Chain, who: string, tier: Tier, token: Token, amount: bigint) {
  await t.mutation(internal.liquidity.registerCommitment, { provider: who, amount, token, tier });
  expect(await t.mutation(internal.vaultEvents.apply, { event: chain.deposit(who, token, amount) })).toBe("applied");
}

/** |part − total × weight / weightSum| < 1, in exact integers. */
function withinOneUnit(part: bigint, total: bigint, weight: bigint, weightSum: bigint): boolean {
  const diff = part * weightSum - total * weight;
  return (diff < 0n ? -diff : diff) < weightSum;
}

function sum(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return s;
}

// ---------------------------------------------------------------------------
// The state the checks read
// ---------------------------------------------------------------------------

type State = {
  balances: Doc<"providerBalances">[];
  backing: Doc<"policyBacking">[];
  policies: Doc<"policies">[];
  ledger: Doc<"balanceLedger">[];
  protocol: Doc<"protocolAccounts">[];
  vaultOperations: Doc<"vaultOperations">[];
  tierConfigs: Doc<"tierConfigs">[];
};

async function readState(t: Backend): Promise<State> {
  return await t.run(async (ctx) => ({
    balances: await ctx.db.query("providerBalances").collect(),
    backing: await ctx.db.query("policyBacking").collect(),
    policies: await ctx.db.query("policies").collect(),
    ledger: await ctx.db.query("balanceLedger").collect(),
    protocol: await ctx.db.query("protocolAccounts").collect(),
    vaultOperations: await ctx.db.query("vaultOperations").collect(),
    tierConfigs: await ctx.db.query("tierConfigs").collect(),
  }));
}

function protocolOf(state: State, token: Token) {
  const account = state.protocol.find((a) => a.token === token);
  return { feesAccrued: account?.feesAccrued ?? 0n, unallocatedPremiums: account?.unallocatedPremiums ?? 0n };
}

/** Money that entered the vault minus money that left it, per token, as the scenario applied it. */
type Flows = Record<Token, { deposits: bigint; premiums: bigint; payouts: bigint }>;

/** Property (a): everything that must hold after every step. */
async function checkConservation(t: Backend, state: State, flows: Flows): Promise<void> {
  const maxBackers = new Map(state.tierConfigs.map((c) => [c.tier, c.maxBackersPerPolicy]));

  for (const b of state.balances) {
    const where = `${b.provider}/${b.token}`;
    for (const field of ["total", "locked", "reserved", "accruedYield"] as const) {
      expect(b[field] >= 0n, `${where} ${field} = ${b[field]}`).toBe(true);
    }
    expect(b.locked + b.reserved <= b.total, `${where} locked + reserved exceeds total`).toBe(true);
    const backed = sum(state.backing.filter((r) => r.active && r.provider === b.provider && r.token === b.token).map((r) => r.allocated));
    expect(b.locked, `${where}: locked vs active backing`).toBe(backed);
    // The ledger is the history of the balance: replaying it gives the balance.
    const rows = state.ledger.filter((r) => r.provider === b.provider && r.token === b.token);
    const net = (types: string[], minus: string[]) =>
      sum(rows.filter((r) => types.includes(r.type)).map((r) => r.amount)) -
      sum(rows.filter((r) => minus.includes(r.type)).map((r) => r.amount));
    // (Reversals undo a reorged event's rows; settlement_reversal is the inverse of a debit, including its unlock.)
    expect(b.total, `${where}: total vs ledger`).toBe(
      net(["deposit", "yield_accrual", "settlement_reversal"], ["withdrawal", "settlement_debit", "yield_reversal"]),
    );
    expect(b.locked, `${where}: locked vs ledger`).toBe(net(["lock", "settlement_reversal"], ["release", "settlement_debit"]));
  }

  for (const r of state.backing) {
    expect(r.allocated >= 0n && r.allocated <= r.originalAllocation, `backing ${r.policyId}/${r.provider}`).toBe(true);
    if (!r.active) expect(r.allocated).toBe(0n);
  }

  for (const p of state.policies) {
    const rows = state.backing.filter((r) => r.policyId === p.policyId);
    const active = rows.filter((r) => r.active);
    switch (p.status) {
      case "Active":
      case "Exercised":
        expect(active.length, `policy ${p.policyId}: all backing active`).toBe(rows.length);
        expect(sum(active.map((r) => r.allocated)), `policy ${p.policyId} backing`).toBe(p.requiredCollateral);
        break;
      case "Settled":
      case "Expired":
        expect(active, `policy ${p.policyId} (${p.status}) still holds backing`).toEqual([]);
        break;
      case "Pending":
      case "Cancelled":
        expect(rows, `policy ${p.policyId} (${p.status}) has backing`).toEqual([]);
        break;
    }
    if (rows.length > 0) {
      expect(sum(rows.map((r) => r.originalAllocation))).toBe(p.requiredCollateral);
      expect(rows.length).toBeLessThanOrEqual(maxBackers.get(p.tier) ?? 0);
      for (const r of rows) expect([r.token, r.tier]).toEqual([p.collateralToken, p.tier]);
    }
  }

  const stats = await t.query(api.liquidity.getTierStats, {});
  for (const s of stats) {
    const docs = state.balances.filter((b) => b.tier === s.tier && b.token === s.token);
    const totals = {
      totalCapital: sum(docs.map((b) => b.total)),
      totalLocked: sum(docs.map((b) => b.locked)),
      totalReserved: sum(docs.map((b) => b.reserved)),
      totalYieldAccrued: sum(docs.map((b) => b.accruedYield)),
      providerCount: BigInt(docs.length),
      activePolicyCount: BigInt(
        state.policies.filter(
          (p) => p.tier === s.tier && p.collateralToken === s.token && (p.status === "Active" || p.status === "Exercised"),
        ).length,
      ),
    };
    expect(s, `tier totals ${s.tier}/${s.token}`).toMatchObject({
      ...totals,
      totalAvailable: totals.totalCapital - totals.totalLocked - totals.totalReserved,
    });
  }

  // No unit appears or disappears: what providers hold plus what the protocol
  // holds is what came into the vault minus what it paid out.
  for (const token of TOKENS) {
    const held = sum(state.balances.filter((b) => b.token === token).map((b) => b.total));
    const protocol = protocolOf(state, token);
    const flow = flows[token];
    expect(held + protocol.feesAccrued + protocol.unallocatedPremiums, `money in ${token}`).toBe(
      flow.deposits + flow.premiums - flow.payouts,
    );
  }
}

// ---------------------------------------------------------------------------
// Scenarios for (a) and (b)
// ---------------------------------------------------------------------------

const SCENARIO_TIER: Tier = "Balanced";
/** 10% out of the money either way: Balanced under the default tiers. */
const STRIKE: Record<PolicyType, bigint> = { PUT: (BTC_USD * 9n) / 10n, CALL: (BTC_USD * 11n) / 10n };
const SCENARIO_PROVIDERS = 4;

type Cmd =
  | { kind: "deposit"; p: number; token: Token; amount: bigint }
  | { kind: "policy"; policyType: PolicyType; token: Token; sats: bigint; cancelIfRefused: boolean }
  | { kind: "premium"; pick: number; amount: bigint; otherToken: boolean; unknownPolicy: boolean; reorged: boolean }
  | { kind: "settle"; pick: number; fractionBps: bigint }
  | { kind: "expire"; pick: number };

const tokenArb = fc.constantFrom<Token>(...TOKENS);
const depositAmount = (token: Token) =>
  token === "STX" ? fc.bigInt(1_000_000n, 3_000_000_000n) : fc.bigInt(1_000n, 10_000_000n);

const depositCmd: fc.Arbitrary<Cmd> = fc
  .record({ p: fc.nat({ max: SCENARIO_PROVIDERS - 1 }), token: tokenArb })
  .chain(({ p, token }) => depositAmount(token).map((amount): Cmd => ({ kind: "deposit", p, token, amount })));
const policyCmd: fc.Arbitrary<Cmd> = fc.record({
  kind: fc.constant("policy" as const),
  policyType: fc.constantFrom<PolicyType>("PUT", "CALL"),
  token: tokenArb,
  sats: fc.bigInt(1_000n, 2_000_000n),
  cancelIfRefused: fc.boolean(),
});
const premiumCmd: fc.Arbitrary<Cmd> = fc.record({
  kind: fc.constant("premium" as const),
  pick: fc.nat(),
  amount: fc.bigInt(1n, 10_000_000n),
  // Now and then a premium paid in the other token than the policy's collateral.
  otherToken: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
  unknownPolicy: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
  // Now and then its block leaves the chain and the transaction is mined again in another.
  reorged: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
});
const settleCmd: fc.Arbitrary<Cmd> = fc.record({
  kind: fc.constant("settle" as const),
  pick: fc.nat(),
  fractionBps: fc.bigInt(1n, 10_000n),
});
const expireCmd: fc.Arbitrary<Cmd> = fc.record({ kind: fc.constant("expire" as const), pick: fc.nat() });

type Scenario = { seed: number; initial: bigint[][]; cmds: Cmd[] };

function scenarioArb(weights: Record<Cmd["kind"], number>, maxLength: number): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.integer(),
    // Each provider's first deposit in STX and in sBTC (0 = none).
    initial: fc.array(
      fc.tuple(
        fc.oneof(fc.constant(0n), depositAmount("STX")),
        fc.oneof(fc.constant(0n), depositAmount("sBTC")),
      ),
      { minLength: SCENARIO_PROVIDERS, maxLength: SCENARIO_PROVIDERS },
    ),
    cmds: fc.array(
      fc.oneof(
        { arbitrary: depositCmd, weight: weights.deposit },
        { arbitrary: policyCmd, weight: weights.policy },
        { arbitrary: premiumCmd, weight: weights.premium },
        { arbitrary: settleCmd, weight: weights.settle },
        { arbitrary: expireCmd, weight: weights.expire },
      ),
      { minLength: Math.min(8, maxLength), maxLength },
    ),
  });
}

/** Property (b) for one premium event: yield + fee = premium, parts pro rata within a unit. */
function checkPremiumSplit(before: State, after: State, event: Extract<VaultEvent, { kind: "premium-paid" }>): void {
  const prefix = `${operationIdOf(event)}:yield:`;
  const yields = after.ledger.filter((r) => r.operationId.startsWith(prefix));
  const feeDelta = protocolOf(after, event.token).feesAccrued - protocolOf(before, event.token).feesAccrued;
  const unallocatedDelta =
    protocolOf(after, event.token).unallocatedPremiums - protocolOf(before, event.token).unallocatedPremiums;
  const policy = before.policies.find((p) => p.policyId === event.policyId);
  const backers = before.backing.filter((r) => r.policyId === event.policyId && r.originalAllocation > 0n);

  if (!policy || backers.length === 0) {
    expect([yields.length, feeDelta, unallocatedDelta]).toEqual([0, 0n, event.amount]);
    return;
  }
  const feeBps = before.tierConfigs.find((c) => c.tier === policy.tier)?.protocolFeeBps ?? -1n;
  expect(feeDelta).toBe((event.amount * feeBps) / 10_000n);
  expect(unallocatedDelta).toBe(0n);
  expect(sum(yields.map((r) => r.amount)) + feeDelta, "yield + fee = premium").toBe(event.amount);
  const net = event.amount - feeDelta;
  const weightSum = sum(backers.map((b) => b.originalAllocation));
  for (const backer of backers) {
    const part = sum(yields.filter((r) => r.provider === backer.provider).map((r) => r.amount));
    expect(withinOneUnit(part, net, backer.originalAllocation, weightSum), `yield of ${backer.provider}: ${part}`).toBe(true);
  }
  for (const r of yields) expect([r.type, r.token]).toEqual(["yield_accrual", event.token]);
}

/** Property (b) for one settlement event: debits = payout, parts pro rata within a unit, the rest released. */
function checkSettlementSplit(before: State, after: State, event: Extract<VaultEvent, { kind: "settlement-paid" }>): void {
  const prefix = `${operationIdOf(event)}:debit:`;
  const debits = after.ledger.filter((r) => r.operationId.startsWith(prefix));
  const backers = before.backing.filter((r) => r.policyId === event.policyId && r.active);
  const backed = sum(backers.map((b) => b.allocated));
  expect(sum(debits.map((r) => r.amount)), "debits = payout").toBe(event.amount);
  for (const backer of backers) {
    const part = sum(debits.filter((r) => r.provider === backer.provider).map((r) => r.amount));
    expect(withinOneUnit(part, event.amount, backer.allocated, backed), `debit of ${backer.provider}: ${part}`).toBe(true);
  }
  const releaseOps = after.vaultOperations.filter(
    (op) => op.kind === "release" && op.policyId === event.policyId && !before.vaultOperations.some((b) => b._id === op._id),
  );
  expect(sum(releaseOps.map((op) => op.amount))).toBe(backed - event.amount);
  expect(after.policies.find((p) => p.policyId === event.policyId)).toMatchObject({
    status: "Settled",
    settledAmount: event.amount,
  });
}

/**
 * Every amount the books hold, without timestamps or queue keys: what a
 * reversal must restore exactly. (A balance row the reorged event created —
 * yield in a token its backer never deposited — stays behind at zero.)
 */
function moneyOf(state: State) {
  const held = (b: Doc<"providerBalances">) => b.total !== 0n || b.locked !== 0n || b.reserved !== 0n || b.accruedYield !== 0n;
  return {
    balances: state.balances.filter(held).map(({ provider, token, total, locked, reserved, accruedYield, available }) => ({
      provider,
      token,
      total,
      locked,
      reserved,
      accruedYield,
      available,
    })),
    protocol: TOKENS.map((token) => ({ token, ...protocolOf(state, token) })),
    policies: state.policies.map(({ policyId, status, premiumsReceived }) => ({ policyId, status, premiumsReceived })),
  };
}

/** What the scenarios of a property actually exercised, so that a vacuous pass shows up as a failure. */
type Coverage = Record<
  | "allocated"
  | "refused"
  | "premiumsSplit"
  | "premiumsUnallocated"
  | "premiumsReorged"
  | "settled"
  | "expired"
  | "refusedTransitions",
  number
>;
const emptyCoverage = (): Coverage => ({
  allocated: 0,
  refused: 0,
  premiumsSplit: 0,
  premiumsUnallocated: 0,
  premiumsReorged: 0,
  settled: 0,
  expired: 0,
  refusedTransitions: 0,
});

/** Runs one scenario; `everyStep` checks conservation after each step (else once at the end). */
async function runScenario(scenario: Scenario, everyStep: boolean, coverage: Coverage): Promise<void> {
  seedMathRandom(scenario.seed);
  // Unallocated premiums raise alerts, which log; the checks look at the tables instead.
  vi.spyOn(console, "error").mockImplementation(() => {});
  const t = await seededBackend();
  const chain = new Chain();
  const flows: Flows = {
    STX: { deposits: 0n, premiums: 0n, payouts: 0n },
    sBTC: { deposits: 0n, premiums: 0n, payouts: 0n },
  };
  const providers = Array.from({ length: SCENARIO_PROVIDERS }, (_, i) => providerAddress(i));
  const policyIds: bigint[] = [];
  let nextPolicyId = 1n;

  const deposit = async (who: string, token: Token, amount: bigint) => {
    await commitAndDeposit(t, chain, who, SCENARIO_TIER, token, amount);
    flows[token].deposits += amount;
  };

  for (const [i, amounts] of scenario.initial.entries()) {
    const who = providers[i]!;
    for (const [j, token] of TOKENS.entries()) if ((amounts[j] ?? 0n) > 0n) await deposit(who, token, amounts[j]!);
  }
  if (everyStep) await checkConservation(t, await readState(t), flows);

  for (const cmd of scenario.cmds) {
    switch (cmd.kind) {
      case "deposit":
        await deposit(providers[cmd.p]!, cmd.token, cmd.amount);
        break;

      case "policy": {
        const policyId = nextPolicyId++;
        const registered = await t.mutation(internal.policies.registerPolicy, {
          policyId,
          buyer: BUYER,
          policyType: cmd.policyType,
          protectedAmountSats: cmd.sats,
          strikePriceUsd: STRIKE[cmd.policyType],
          premium: 1n,
          expiresAtBlock: 1_000_000n,
          collateralToken: cmd.token,
          btcPriceUsd: BTC_USD,
          stxPriceUsd: STX_USD,
        });
        expect(registered.tier).toBe(SCENARIO_TIER);
        policyIds.push(policyId);
        const before = await snapshot(t);
        const outcome = await outcomeOf(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId }));
        if (outcome.ok) {
          coverage.allocated++;
          expect(sum(outcome.value.map((a) => a.amount))).toBe(registered.requiredCollateral);
        } else {
          coverage.refused++;
          expect(["TIER_INSUFFICIENT_CAPITAL", "ALLOCATION_FANOUT_EXCEEDED"]).toContain(outcome.code);
          expect(await snapshot(t)).toEqual(before);
          if (cmd.cancelIfRefused) await t.mutation(internal.policies.cancelPolicy, { policyId });
        }
        break;
      }

      case "premium": {
        const known = policyIds[cmd.pick % Math.max(policyIds.length, 1)];
        const policyId = cmd.unknownPolicy || known === undefined ? 1_000_000n + BigInt(cmd.pick % 5) : known;
        const before = await readState(t);
        const ownToken = before.policies.find((p) => p.policyId === policyId)?.collateralToken ?? "STX";
        const token: Token = cmd.otherToken ? (ownToken === "STX" ? "sBTC" : "STX") : ownToken;
        let event = chain.premium(policyId, token, cmd.amount);
        expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
        if (cmd.reorged) {
          // Taken back whole: every balance, the protocol account and the policy are as before it.
          expect(await t.mutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: 0 })).toBe("reversed");
          expect(moneyOf(await readState(t))).toEqual(moneyOf(before));
          // The same transaction in another block counts once.
          event = { ...event, blockHeight: event.blockHeight + 1_000_000n, blockHash: `0x${"f".repeat(64)}` };
          expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
          coverage.premiumsReorged++;
        }
        flows[token].premiums += cmd.amount;
        const backed = before.backing.some((r) => r.policyId === policyId);
        if (backed) coverage.premiumsSplit++;
        else coverage.premiumsUnallocated++;
        checkPremiumSplit(before, await readState(t), event as Extract<VaultEvent, { kind: "premium-paid" }>);
        break;
      }

      case "settle": {
        const policyId = policyIds[cmd.pick % Math.max(policyIds.length, 1)];
        if (policyId === undefined) break;
        const before = await readState(t);
        const policy = before.policies.find((p) => p.policyId === policyId)!;
        if (policy.status !== "Active") {
          const snap = await snapshot(t);
          const outcome = await outcomeOf(
            t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: 1n }),
          );
          expect(outcome).toEqual({ ok: false, code: "INVALID_POLICY_STATE" });
          expect(await snapshot(t)).toEqual(snap);
          coverage.refusedTransitions++;
          break;
        }
        coverage.settled++;
        const backed = sum(before.backing.filter((r) => r.policyId === policyId && r.active).map((r) => r.allocated));
        const amount = (backed * cmd.fractionBps) / 10_000n > 0n ? (backed * cmd.fractionBps) / 10_000n : 1n;
        await t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: amount });
        const requested = await readState(t);
        // Nobody pays before the event.
        expect(requested.balances).toEqual(before.balances);
        expect(requested.backing).toEqual(before.backing);
        if (everyStep) await checkConservation(t, requested, flows);

        const event = chain.settlement(policyId, policy.collateralToken, amount);
        expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
        flows[policy.collateralToken].payouts += amount;
        checkSettlementSplit(requested, await readState(t), event as Extract<VaultEvent, { kind: "settlement-paid" }>);
        break;
      }

      case "expire": {
        const policyId = policyIds[cmd.pick % Math.max(policyIds.length, 1)];
        if (policyId === undefined) break;
        const before = await readState(t);
        const policy = before.policies.find((p) => p.policyId === policyId)!;
        const snap = await snapshot(t);
        const outcome = await outcomeOf(t.mutation(internal.liquidity.requestCollateralRelease, { policyId }));
        if (policy.status === "Active") {
          coverage.expired++;
          expect(outcome).toEqual({ ok: true, value: { released: policy.requiredCollateral } });
        } else {
          coverage.refusedTransitions++;
          expect(outcome).toEqual({ ok: false, code: "INVALID_POLICY_STATE" });
          expect(await snapshot(t)).toEqual(snap);
        }
        break;
      }
    }
    if (everyStep) await checkConservation(t, await readState(t), flows);
  }
  if (!everyStep) await checkConservation(t, await readState(t), flows);
}

describe("(a) conservation of collateral", () => {
  test("after every deposit, allocation, premium, settlement and expiry: locked = active backing, policies fully backed, tier totals = sums, money conserved", async () => {
    const coverage = emptyCoverage();
    await fc.assert(
      fc.asyncProperty(
        scenarioArb({ deposit: 2, policy: 4, premium: 2, settle: 2, expire: 2 }, 25),
        async (scenario) => await runScenario(scenario, true, coverage),
      ),
      { numRuns: 15 },
    );
    for (const [what, count] of Object.entries(coverage)) expect(count, `no scenario exercised ${what}`).toBeGreaterThan(0);
  }, 120_000);
});

describe("(b) premiums and payouts split exactly", () => {
  test("yield + fee = premium and debits = payout, each part within one unit of its pro-rata share", async () => {
    const coverage = emptyCoverage();
    await fc.assert(
      fc.asyncProperty(
        scenarioArb({ deposit: 1, policy: 3, premium: 4, settle: 3, expire: 1 }, 25),
        async (scenario) => await runScenario(scenario, false, coverage),
      ),
      { numRuns: 15 },
    );
    for (const what of ["premiumsSplit", "premiumsUnallocated", "settled"] as const) {
      expect(coverage[what], `no scenario exercised ${what}`).toBeGreaterThan(0);
    }
  }, 120_000);

  // Distinct providers: the check below matches parts back to backers by name and position.
  const backersArb = fc.uniqueArray(
    fc.record({ provider: fc.string({ minLength: 1, maxLength: 6 }), allocation: fc.bigInt(0n, 10n ** 15n) }),
    { minLength: 1, maxLength: 30, selector: (b) => b.provider },
  );

  test("splitPremium: fee = premium × bps rounded down, fee + parts = premium, parts pro rata within a unit", () => {
    fc.assert(
      fc.property(
        fc.bigInt(0n, 10n ** 15n),
        fc.bigInt(0n, 10_000n),
        backersArb.filter((bs) => bs.some((b) => b.allocation > 0n)),
        (premium, feeBps, backers) => {
          const { protocolFee, parts } = splitPremium(premium, feeBps, backers);
          expect(protocolFee).toBe((premium * feeBps) / 10_000n);
          expect(protocolFee + sum(parts.map((p) => p.amount))).toBe(premium);
          const weightSum = sum(backers.map((b) => b.allocation));
          // Parts are listed in backer order, zero parts left out; match them back by position.
          let next = 0;
          for (const backer of backers) {
            const part = parts[next]?.provider === backer.provider && backer.allocation > 0n ? parts[next]!.amount : 0n;
            if (part > 0n) next++;
            expect(part >= 0n).toBe(true);
            expect(withinOneUnit(part, premium - protocolFee, backer.allocation, weightSum)).toBe(true);
          }
          expect(next).toBe(parts.length);
          for (const p of parts) expect(p.amount > 0n).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("allocateProportionally: parts sum to the requirement, never exceed what a provider has, pro rata within a unit", () => {
    const candidatesArb = fc
      .uniqueArray(fc.record({ provider: fc.string({ minLength: 1, maxLength: 6 }), available: fc.bigInt(0n, 10n ** 15n) }), {
        minLength: 1,
        maxLength: 30,
        selector: (c) => c.provider,
      })
      .filter((cs) => cs.some((c) => c.available > 0n));
    fc.assert(
      fc.property(candidatesArb, fc.bigInt(0n, 10_000n), (candidates, fractionBps) => {
        const total = sum(candidates.map((c) => c.available));
        const required = (total * fractionBps) / 10_000n;
        const parts = allocateProportionally(required, candidates);
        expect(sum(parts.map((p) => p.amount))).toBe(required);
        const byProvider = new Map(parts.map((p) => [p.provider, p.amount]));
        expect(byProvider.size).toBe(parts.length);
        for (const c of candidates) {
          const part = byProvider.get(c.provider) ?? 0n;
          expect(part <= c.available, `${c.provider} asked ${part} of ${c.available}`).toBe(true);
          expect(withinOneUnit(part, required, c.available, total)).toBe(true);
        }
        for (const p of parts) expect(p.amount > 0n).toBe(true);
        // Candidate order is kept.
        const order = candidates.map((c) => c.provider).filter((p) => byProvider.has(p));
        expect(parts.map((p) => p.provider)).toEqual(order);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------
// (c) Bounded fan-out
// ---------------------------------------------------------------------------

describe("(c) bounded fan-out", () => {
  const FANOUT_PROVIDERS = 40;
  const FANOUT_TIER: Tier = "Aggressive";
  const SPOT = 60_000n * PRICE_SCALE;
  /** At the money: Aggressive. At $2 per STX a sat of protection needs 300 micro-STX. */
  const USTX_PER_SAT = 300n;

  type FanoutCmd = { kind: "policy"; sats: bigint } | { kind: "release"; pick: number };

  test("no policy has more than maxBackersPerPolicy backers; an uncoverable one fails with a coded error and changes nothing", async () => {
    const seen = { allocated: 0, fanoutExceeded: 0, tierInsufficient: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer(),
          maxBackers: fc.constantFrom(3, 5),
          // Capital per provider: 1 to 100 STX.
          capitals: fc.array(fc.bigInt(1n, 100n), { minLength: FANOUT_PROVIDERS, maxLength: FANOUT_PROVIDERS }),
          cmds: fc.array(
            fc.oneof(
              {
                // Collateral of 1 to 50 STX (usually coverable), 50 to 400 STX (often more than a group
                // of 3 or 5 holds) or over 4,000 STX (more than the whole tier can hold).
                arbitrary: fc
                  .oneof(
                    { arbitrary: fc.bigInt(3_334n, 166_667n), weight: 3 },
                    { arbitrary: fc.bigInt(166_667n, 1_333_334n), weight: 2 },
                    { arbitrary: fc.bigInt(13_400_000n, 20_000_000n), weight: 1 },
                  )
                  .map((sats): FanoutCmd => ({ kind: "policy", sats })),
                weight: 4,
              },
              { arbitrary: fc.nat().map((pick): FanoutCmd => ({ kind: "release", pick })), weight: 1 },
            ),
            { minLength: 6, maxLength: 14 },
          ),
        }),
        async ({ seed, maxBackers, capitals, cmds }) => {
          seedMathRandom(seed);
          const t = await seededBackend();
          await setMaxBackers(t, FANOUT_TIER, maxBackers);
          const chain = new Chain();
          for (const [i, stx] of capitals.entries()) {
            await commitAndDeposit(t, chain, providerAddress(i), FANOUT_TIER, "STX", stx * 1_000_000n);
          }
          const active: bigint[] = [];
          let nextPolicyId = 1n;
          for (const cmd of cmds) {
            if (cmd.kind === "release") {
              const policyId = active.splice(cmd.pick % Math.max(active.length, 1), 1)[0];
              if (policyId !== undefined) await t.mutation(internal.liquidity.requestCollateralRelease, { policyId });
              continue;
            }
            const policyId = nextPolicyId++;
            const { tier, requiredCollateral: required } = await t.mutation(internal.policies.registerPolicy, {
              policyId,
              buyer: BUYER,
              policyType: "PUT",
              protectedAmountSats: cmd.sats,
              strikePriceUsd: SPOT,
              premium: 1n,
              expiresAtBlock: 1_000n,
              collateralToken: "STX",
              btcPriceUsd: SPOT,
              stxPriceUsd: 2n * PRICE_SCALE,
            });
            expect([tier, required]).toEqual([FANOUT_TIER, cmd.sats * USTX_PER_SAT]);

            const before = await snapshot(t);
            const available = (before.providerBalances as Doc<"providerBalances">[]).map((b) => b.total - b.locked - b.reserved);
            const tierAvailable = sum(available);
            const sorted = [...available].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
            const largestK = sum(sorted.slice(-maxBackers));
            const smallestK = sum(sorted.slice(0, maxBackers));
            const allPositive = sorted.every((a) => a > 0n);

            const outcome = await outcomeOf(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId }));
            if (outcome.ok) {
              seen.allocated++;
              active.push(policyId);
              expect(outcome.value.length).toBeLessThanOrEqual(maxBackers);
              expect(sum(outcome.value.map((a) => a.amount))).toBe(required);
              // Success is only possible when some maxBackers providers together hold enough.
              expect(largestK >= required).toBe(true);
            } else {
              expect(await snapshot(t), "a refused allocation changed something").toEqual(before);
              if (outcome.code === "ALLOCATION_FANOUT_EXCEEDED") seen.fanoutExceeded++;
              else seen.tierInsufficient++;
              // The tier-wide shortage is reported as such; anything else is the fan-out bound.
              expect(outcome.code).toBe(tierAvailable < required ? "TIER_INSUFFICIENT_CAPITAL" : "ALLOCATION_FANOUT_EXCEEDED");
              // Any maxBackers providers would have covered it: then it must not fail.
              expect(allPositive && smallestK >= required, "refused a policy every group could cover").toBe(false);
            }
            const rows = await t.run(
              async (ctx) =>
                await ctx.db
                  .query("policyBacking")
                  .withIndex("by_policy", (q) => q.eq("policyId", policyId))
                  .collect(),
            );
            expect(rows.length).toBeLessThanOrEqual(maxBackers);
          }
        },
      ),
      {
        numRuns: 10,
        // Random runs reach each outcome only most of the time; this one reaches all three:
        // 30 STX (covered by 3 of 40 providers holding 50 STX each), 300 STX (more than any 3
        // hold, less than the tier's 2,000) and 6,000 STX (more than the whole tier).
        examples: [
          [
            {
              seed: 1,
              maxBackers: 3,
              capitals: Array.from({ length: FANOUT_PROVIDERS }, () => 50n),
              cmds: [
                { kind: "policy", sats: 100_000n },
                { kind: "policy", sats: 1_000_000n },
                { kind: "policy", sats: 20_000_000n },
                { kind: "release", pick: 0 },
                { kind: "policy", sats: 100_000n },
                { kind: "release", pick: 0 },
              ],
            },
          ],
        ],
      },
    );
    expect(seen.allocated, "no allocation succeeded").toBeGreaterThan(0);
    expect(seen.fanoutExceeded, "no allocation hit the fan-out bound").toBeGreaterThan(0);
    expect(seen.tierInsufficient, "no allocation hit the tier's capital").toBeGreaterThan(0);
  }, 120_000);
});

/** Runs `measure`; an error in it is logged and returned as null, so a `test.fails` cannot pass on it. */
async function measured<T>(measure: () => Promise<T>): Promise<T | null> {
  try {
    return await measure();
  } catch (error) {
    console.error("measurement failed", error);
    return null;
  }
}

async function fundAggressive(t: Backend, chain: Chain, count: number, prefix: number, ustx: bigint): Promise<string[]> {
  const who = Array.from({ length: count }, (_, i) => providerAddress(prefix + i));
  for (const p of who) await commitAndDeposit(t, chain, p, "Aggressive", "STX", ustx);
  return who;
}

/** An at-the-money PUT (Aggressive) needing `ustx` micro-STX at BTC $60,000 and STX $2 (300 micro-STX per sat). */
async function registerAggressive(t: Backend, policyId: bigint, ustx: bigint) {
  return await t.mutation(internal.policies.registerPolicy, {
    policyId,
    buyer: BUYER,
    policyType: "PUT",
    protectedAmountSats: ustx / 300n,
    strikePriceUsd: 60_000n * PRICE_SCALE,
    premium: 1n,
    expiresAtBlock: 1_000n,
    collateralToken: "STX",
    btcPriceUsd: 60_000n * PRICE_SCALE,
    stxPriceUsd: 2n * PRICE_SCALE,
  });
}

describe("(c) bounded fan-out: configuration and small balances", () => {
  /*
   * tierConfigs.maxBackersPerPolicy is operator-editable, and every
   * per-policy loop reads at most 100 backing rows. Before the cap, 105
   * backers left 5 × 2,500 micro-STX locked for ever after a release; now
   * such a configuration is refused before anything is locked.
   */
  test("a maxBackersPerPolicy above 100 is refused (TIER_NOT_CONFIGURED) before anything is locked", async () => {
    seedMathRandom(7);
    const t = await seededBackend();
    await fundAggressive(t, new Chain(), 105, 0, 1_000_000n);
    await registerAggressive(t, 1n, 262_500n);
    await setMaxBackers(t, "Aggressive", 105);
    const outcome = await outcomeOf(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n }));
    expect(outcome).toMatchObject({ ok: false, code: "TIER_NOT_CONFIGURED" });
    const balances = await t.run(async (ctx) => await ctx.db.query("providerBalances").collect());
    expect(sum(balances.map((b) => b.locked))).toBe(0n);
  }, 120_000);

  /*
   * 40 providers holding 1 STX each and one holding 1,000 STX, with
   * maxBackersPerPolicy 5: a 30 STX policy, which the large provider alone
   * covers 33 times over, must not be refused because five small balances
   * are first in the queue (the first rule refused 18 of 20). The tier's
   * largest balances take what the front of the queue cannot.
   */
  test("a policy one provider alone could cover is taken even when small balances are first in the queue", async () => {
    const refusals = await measured(async () => {
      seedMathRandom(11);
      const t = await seededBackend();
      await setMaxBackers(t, "Aggressive", 5);
      const chain = new Chain();
      await fundAggressive(t, chain, 40, 0, 1_000_000n);
      await fundAggressive(t, chain, 1, 40, 1_000_000_000n);
      const refused: ErrorCode[] = [];
      for (let id = 1n; id <= 20n; id++) {
        await registerAggressive(t, id, 30_000_000n);
        const outcome = await outcomeOf(t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: id }));
        if (outcome.ok) await t.mutation(internal.liquidity.requestCollateralRelease, { policyId: id });
        else refused.push(outcome.code);
      }
      return refused;
    });
    if (refusals === null) return;
    expect(refusals).toEqual([]);
  }, 120_000);
});

// ---------------------------------------------------------------------------
// (d) Fairness of the allocation rule
// ---------------------------------------------------------------------------

/** Policies allocated between two prunings of the history (see measureFairness). */
const FAIRNESS_ROUND = 10;

/**
 * Allocates `policies` small policies over `capitals.length` Conservative
 * providers (Math.random seeded) and returns, per provider, the relative
 * deviation of their share of all collateral ever allocated (sum of
 * originalAllocation) from their share of the tier's capital:
 * share_allocated / share_capital − 1.
 *
 * Every FAIRNESS_ROUND policies the round's collateral is freed and its
 * history dropped, directly in the database: the state becomes exactly what
 * it was after the deposits except for the providers' allocation keys, which
 * carry the rule's state on. This is the same as releasing every policy, but
 * convex-test scans a whole table on every indexed read, so letting the
 * ledger grow (or releasing through the real mutation) would make the
 * measurement quadratic and far too slow. Freeing capital also measures the
 * rule itself: nobody's available capital drifts from their deposit.
 */
async function measureFairness(capitals: bigint[], policies: number, maxBackers: number, seed: number) {
  seedMathRandom(seed);
  const t = await seededBackend();
  await setMaxBackers(t, "Conservative", maxBackers);
  const chain = new Chain();
  const providers = capitals.map((_, i) => providerAddress(i));
  for (const [i, capital] of capitals.entries()) {
    await commitAndDeposit(t, chain, providers[i]!, "Conservative", "STX", capital);
  }
  const received = new Map<string, bigint>();
  const maxGroup = { size: 0 };
  for (let i = 1; i <= policies; i++) {
    const policyId = BigInt(i);
    // 0.00002 BTC struck at $48,000 (20% out of the money), in STX at $2: 0.48 STX each.
    await t.mutation(internal.policies.registerPolicy, {
      policyId,
      buyer: BUYER,
      policyType: "PUT",
      protectedAmountSats: 2_000n,
      strikePriceUsd: 48_000n * PRICE_SCALE,
      premium: 1n,
      expiresAtBlock: 1_000n,
      collateralToken: "STX",
      btcPriceUsd: 60_000n * PRICE_SCALE,
      stxPriceUsd: 2n * PRICE_SCALE,
    });
    const allocations = await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
    maxGroup.size = Math.max(maxGroup.size, allocations.length);
    if (i % FAIRNESS_ROUND === 0 || i === policies) {
      await t.run(async (ctx) => {
        for (const b of await ctx.db.query("policyBacking").collect()) {
          received.set(b.provider, (received.get(b.provider) ?? 0n) + b.originalAllocation);
          await ctx.db.delete("policyBacking", b._id);
        }
        for (const p of await ctx.db.query("policies").collect()) await ctx.db.delete("policies", p._id);
        for (const op of await ctx.db.query("vaultOperations").collect()) await ctx.db.delete("vaultOperations", op._id);
        for (const row of await ctx.db.query("balanceLedger").collect()) {
          if (row.type === "lock") await ctx.db.delete("balanceLedger", row._id);
        }
        for (const b of await ctx.db.query("providerBalances").collect()) await ctx.db.patch("providerBalances", b._id, { locked: 0n });
        for (const s of await ctx.db.query("tierTotalShards").collect()) {
          await ctx.db.patch("tierTotalShards", s._id, { locked: 0n, activePolicyCount: 0n });
        }
      });
    }
  }
  expect(maxGroup.size).toBeLessThanOrEqual(maxBackers);
  const totalReceived = sum(received.values());
  const totalCapital = sum(capitals);
  expect(totalReceived).toBe(BigInt(policies) * 480_000n);
  // share_received / share_capital − 1, in parts per million (integers), then as a number for reporting.
  const deviations = providers.map(
    (p, i) =>
      Number(((received.get(p) ?? 0n) * totalCapital * 1_000_000n) / (totalReceived * capitals[i]!) - 1_000_000n) /
      1_000_000,
  );
  // How far each provider is from its exact fair share, in micro-STX.
  const gaps = providers.map((p, i) => {
    const fair = (totalReceived * capitals[i]!) / totalCapital;
    const got = received.get(p) ?? 0n;
    return got > fair ? got - fair : fair - got;
  });
  return { deviations, maxAbs: Math.max(...deviations.map(Math.abs)), gaps };
}

/** 30 capitals spread evenly on a log scale from 10 to 1,000 STX (100×), in micro-STX. */
const FAIRNESS_CAPITALS: bigint[] = Array.from({ length: 30 }, (_, i) =>
  BigInt(Math.round(10_000 * 100 ** (i / 29))) * 1_000n,
);

describe("(d) fairness of the allocation rule", () => {
  /*
   * Tolerance. With 30 providers and 25 backers per policy a provider is left
   * out of about 1 policy in 6, which makes its received share noisy: relative
   * standard deviation ≈ sqrt((1/6)/(5/6)) / sqrt(300) ≈ 2.6% per provider,
   * and the largest of 30 such deviations is around 3σ. The rule also has a
   * systematic bias (see the next test) of about ±2% at this spread. A plain
   * simulation of the same rule over 2,000 seeds puts the 99.9th percentile
   * of the largest |deviation| at 0.11 for 300 policies; 15% is above that.
   * Math.random is seeded, so the run itself is deterministic.
   *
   * Measured (seed 20240611, 300 policies): max |deviation| 0.075; smallest
   * provider −0.015, largest +0.002; per unit of capital the 10 smallest
   * providers received 1.038× and the 10 largest 0.992× their fair share.
   */
  test("with the default 25 backers and 30 providers over 100× of capital, each share of 300 policies is within 15% of its capital share", async () => {
    const { deviations, maxAbs } = await measureFairness(FAIRNESS_CAPITALS, 300, 25, 20240611);
    expect(maxAbs, `deviations ${deviations.map((d) => d.toFixed(3)).join(" ")}`).toBeLessThanOrEqual(0.15);
  }, 120_000);

  /*
   * With few backers per policy (K = 5 of 30 providers) the rule is weighted
   * fair queuing: no provider can be more than about one policy's requirement
   * away from its exact fair share, whatever its size (the "lag" bound of
   * fair queuing). That bound is what this asserts. Relative to a small
   * provider's share the lag is large after only 400 small policies (the 10
   * STX providers, 1/1,500 of the tier, measured +19.8% with seed 20240611),
   * and it shrinks as policies accumulate; large providers are already close.
   * (The earlier rule — random groups split pro rata — was biased instead:
   * the smallest providers got 1.44×, the largest 0.75×, and that did not
   * shrink with more policies.)
   */
  test("with maxBackersPerPolicy 5 and 30 providers, every provider is within one policy of its fair share", async () => {
    const fairness = await measureFairness(FAIRNESS_CAPITALS, 400, 5, 20240611);
    const onePolicy = 480_000n;
    for (const gap of fairness.gaps) expect(gap <= onePolicy).toBe(true);
    // The 10 largest providers hold most of the capital and are within 5% already.
    for (const d of fairness.deviations.slice(-10)) expect(Math.abs(d)).toBeLessThanOrEqual(0.05);
  }, 120_000);
});

// ---------------------------------------------------------------------------
// (e) The tier rule and the collateral arithmetic
// ---------------------------------------------------------------------------

describe("(e) tier rule and collateral math", () => {
  const price = fc.bigInt(1n, 10n ** 15n); // up to $10M with 8 decimals
  const sats = fc.bigInt(1n, 21n * 10n ** 14n); // up to 21M BTC
  const policyType = fc.constantFrom<PolicyType>("PUT", "CALL");

  test("strikeDistanceBps is the out-of-the-money gap in bps of spot, truncated toward zero; PUT and CALL mirror each other", () => {
    fc.assert(
      fc.property(price, price, (strike, spot) => {
        const put = strikeDistanceBps("PUT", strike, spot);
        const call = strikeDistanceBps("CALL", strike, spot);
        expect(call).toBe(-put);
        const exact = (spot - strike) * 10_000n; // / spot
        // |put| is the largest integer with |put| × spot ≤ |exact|, with the sign of the gap.
        const abs = put < 0n ? -put : put;
        const absExact = exact < 0n ? -exact : exact;
        expect(abs * spot <= absExact && absExact < (abs + 1n) * spot).toBe(true);
        expect(put === 0n || put > 0n === strike < spot).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(() => strikeDistanceBps("PUT", 1n, 0n)).toThrow(RangeError);
  });

  test("tierForStrike with the default tiers: Conservative at ≥ 15% out of the money, Balanced at ≥ 5%, else Aggressive, whatever the config order", () => {
    fc.assert(
      fc.property(policyType, price, price, fc.nat({ max: 5 }), (type, strike, spot, rotation) => {
        const gapBps = (type === "PUT" ? spot - strike : strike - spot) * 10_000n;
        const expected: Tier =
          gapBps >= 1_500n * spot ? "Conservative" : gapBps >= 500n * spot ? "Balanced" : "Aggressive";
        const configs = [...DEFAULT_TIER_CONFIGS.slice(rotation % 3), ...DEFAULT_TIER_CONFIGS.slice(0, rotation % 3)];
        if (rotation >= 3) configs.reverse();
        expect(tierForStrike(configs, type, strike, spot)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  test("tierForStrike with any thresholds: the tier with the largest minimum the distance meets, else the riskiest", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt(-5_000n, 10_000n), { minLength: 3, maxLength: 3 }),
        policyType,
        price,
        price,
        (mins, type, strike, spot) => {
          const configs = TIERS.map((tier, i) => ({ tier, minStrikeDistanceBps: mins[i]! }));
          const distance = strikeDistanceBps(type, strike, spot);
          const met = configs.filter((c) => distance >= c.minStrikeDistanceBps);
          const byMin = (a: { minStrikeDistanceBps: bigint }, b: { minStrikeDistanceBps: bigint }) =>
            a.minStrikeDistanceBps < b.minStrikeDistanceBps ? -1 : 1;
          const expected = met.length > 0 ? [...met].sort(byMin).at(-1)! : [...configs].sort(byMin)[0]!;
          expect(tierForStrike(configs, type, strike, spot)).toBe(expected.tier);
        },
      ),
      { numRuns: 300 },
    );
    expect(() => tierForStrike([], "PUT", 1n, 1n)).toThrow(RangeError);
  });

  test("requiredCollateral covers the largest payout, rounded up by less than one unit of each rounding step", () => {
    fc.assert(
      fc.property(policyType, sats, price, price, price, (type, amount, strike, btc, stx) => {
        const policy = { policyType: type, protectedAmountSats: amount, strikePriceUsd: strike };
        const prices = { btcUsd: btc, stxUsd: stx };
        // The USD value to cover, times 10^8 (sats × price): strike × amount for a PUT, spot × amount for a CALL.
        const usdTimesSats = amount * (type === "PUT" ? strike : btc);

        const inSbtc = requiredCollateral(policy, "sBTC", prices);
        if (type === "CALL") {
          expect(inSbtc).toBe(amount);
        } else {
          // inSbtc sats are worth inSbtc × btc / 10^8 USD.
          expect(inSbtc * btc >= usdTimesSats).toBe(true);
          // Two roundings up (USD to 10^-8, then to a sat): over by less than one of each.
          expect((inSbtc - 1n) * btc < usdTimesSats + SATS_PER_BTC).toBe(true);
        }

        const inStx = requiredCollateral(policy, "STX", prices);
        // inStx micro-STX are worth inStx × stx / 10^6 USD; compare at a common scale of 10^8.
        expect(inStx * stx * 100n >= usdTimesSats).toBe(true);
        expect((inStx - 1n) * stx * 100n < usdTimesSats + SATS_PER_BTC).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test("requiredCollateral: a PUT grows with its strike, a CALL ignores it; STX PUTs ignore the BTC price", () => {
    fc.assert(
      fc.property(sats, price, price, price, price, (amount, strikeA, strikeB, btc, stx) => {
        const [low, high] = strikeA <= strikeB ? [strikeA, strikeB] : [strikeB, strikeA];
        const prices = { btcUsd: btc, stxUsd: stx };
        for (const token of TOKENS) {
          const put = (strike: bigint) =>
            requiredCollateral({ policyType: "PUT", protectedAmountSats: amount, strikePriceUsd: strike }, token, prices);
          const call = (strike: bigint) =>
            requiredCollateral({ policyType: "CALL", protectedAmountSats: amount, strikePriceUsd: strike }, token, prices);
          expect(put(low) <= put(high)).toBe(true);
          expect(call(low)).toBe(call(high));
        }
        const stxPut = (btcUsd: bigint) =>
          requiredCollateral({ policyType: "PUT", protectedAmountSats: amount, strikePriceUsd: low }, "STX", {
            btcUsd,
            stxUsd: stx,
          });
        expect(stxPut(btc)).toBe(stxPut(btc + 1n));
      }),
      { numRuns: 300 },
    );
  });

  test("requiredCollateral refuses non-positive amounts, strikes and prices", () => {
    const prices = { btcUsd: BTC_USD, stxUsd: STX_USD };
    expect(() => requiredCollateral({ policyType: "PUT", protectedAmountSats: 0n, strikePriceUsd: 1n }, "STX", prices)).toThrow(
      RangeError,
    );
    expect(() => requiredCollateral({ policyType: "CALL", protectedAmountSats: 1n, strikePriceUsd: 0n }, "sBTC", prices)).toThrow(
      RangeError,
    );
    expect(() =>
      requiredCollateral({ policyType: "PUT", protectedAmountSats: 1n, strikePriceUsd: 1n }, "STX", { btcUsd: 1n, stxUsd: 0n }),
    ).toThrow(RangeError);
  });
});
