/**
 * Accounting properties of the Convex backend, end to end through the real
 * functions in convex-test:
 *
 * 1. For any sequence of deposits, withdrawal reservations, synced
 *    withdrawals, cancellations, locks, releases, tier commitments and replays
 *    over a few providers in different tiers and both tokens, after every step
 *    the database equals a plain in-test model, every balance splits into
 *    non-negative available + locked + reserved, the sharded tier totals equal
 *    the sums over the providers' balance documents, the pool totals equal the
 *    sums over tiers and match the vault's own (mirrored) totals, and every
 *    refused or duplicate operation leaves every table exactly as it was.
 * 2. Deposits of two providers in different shards write disjoint documents,
 *    except the per-token pool mirror that every synced event writes (the
 *    event sync is one sequential writer), and neither writes a document the
 *    other reads; withdrawal reservations share nothing at all.
 */
import { privateKeyToAddress } from "@stacks/transactions";
import { convexToJson, type Value } from "convex/values";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { MutationCtx } from "../../convex/_generated/server";
import type { Balance } from "../../convex/domain/balances";
import { isPoolError, type ErrorCode } from "../../convex/domain/errors";
import { ratioBps } from "../../convex/domain/money";
import { reserveWithdrawal } from "../../convex/model/ledger/reservations";
import { shardOf } from "../../convex/model/ledger/tierTotals";
import { applyVaultEvent, operationIdOf } from "../../convex/model/sync/vaultEvents";
import { TIERS, TOKENS, type Tier, type Token, type VaultEvent } from "../../convex/validators";
import { newBackend, snapshot, TABLES, type Snapshot, type SnapshotDoc as Doc } from "./convexTest";

type Backend = ReturnType<typeof newBackend>;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/** Real testnet addresses (the portfolio query only accepts a valid Stacks address as the signed-in provider). */
function addressOf(seed: number): string {
  return privateKeyToAddress(seed.toString(16).padStart(64, "0") + "01", "testnet");
}
const PROVIDERS: readonly string[] = [1, 2, 3, 4].map(addressOf);


/** The error code a coded pool error carries, or the error itself rethrown. */
async function failureCodeOf(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (isPoolError(error)) return error.data.code;
    throw error;
  }
  throw new Error("expected the call to fail with a coded pool error, but it succeeded");
}

let txCounter = 0;
/** A position on chain no other event in this file has. */
function nextPosition() {
  txCounter += 1;
  return {
    txid: `0x${txCounter.toString(16).padStart(64, "0")}`,
    eventIndex: 0,
    blockHeight: BigInt(txCounter),
    blockHash: `0x${(txCounter * 7919).toString(16).padStart(64, "0")}`,
  };
}

// ---------------------------------------------------------------------------
// The model: what the database must hold
// ---------------------------------------------------------------------------

type ModelBalance = Balance & { tier: Tier };
type ModelReservation = {
  provider: string;
  token: Token;
  amount: bigint;
  status: "active" | "redeemed" | "cancelled" | "superseded";
};
type AppliedBalanceOp = {
  operationId: string;
  provider: string;
  token: Token;
  type: "lock" | "release";
  amount: bigint;
};

class Model {
  /** principal -> tier */
  readonly providers = new Map<string, Tier>();
  /** `${principal}/${token}` -> balance, created by the first change that succeeds */
  readonly balances = new Map<string, ModelBalance>();
  /** `${principal}/${nonce}` -> reservation: voucher nonces are per provider, from 1 up. */
  readonly reservations = new Map<string, ModelReservation & { nonce: bigint }>();
  /** The vault's flow counter (deposits and withdrawals). */
  seq = 0n;
  /** The vault's own totals, as its events report them. */
  readonly vaultBalance: Record<Token, bigint> = { STX: 0n, sBTC: 0n };
  readonly vaultLocked: Record<Token, bigint> = { STX: 0n, sBTC: 0n };
  readonly appliedEvents: VaultEvent[] = [];
  readonly appliedBalanceOps: AppliedBalanceOp[] = [];
  ledgerRows = 0;

  balance(provider: string, token: Token): Balance {
    const b = this.balances.get(`${provider}/${token}`);
    return b
      ? { total: b.total, locked: b.locked, reserved: b.reserved, accruedYield: b.accruedYield }
      : { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n };
  }

  available(provider: string, token: Token): bigint {
    const b = this.balance(provider, token);
    return b.total - b.locked - b.reserved;
  }

  /** Applies an allowed change; the tier of a new balance is the provider's tier at that moment. */
  change(provider: string, token: Token, delta: Partial<Balance>): void {
    const key = `${provider}/${token}`;
    const tier = this.providers.get(provider);
    if (tier === undefined) throw new Error(`model: unknown provider ${provider}`);
    const before = this.balances.get(key) ?? { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n, tier };
    this.balances.set(key, {
      tier: before.tier,
      total: before.total + (delta.total ?? 0n),
      locked: before.locked + (delta.locked ?? 0n),
      reserved: before.reserved + (delta.reserved ?? 0n),
      accruedYield: before.accruedYield + (delta.accruedYield ?? 0n),
    });
    this.ledgerRows += 1;
  }

  /** Whether the provider holds anything (total, locked or reserved) in any token. */
  holdsCapital(provider: string): boolean {
    return TOKENS.some((token) => {
      const b = this.balances.get(`${provider}/${token}`);
      return b !== undefined && (b.total > 0n || b.locked > 0n || b.reserved > 0n);
    });
  }

  /** A tier change moves the provider's (empty) balances with them. */
  moveTier(provider: string, tier: Tier): void {
    this.providers.set(provider, tier);
    for (const token of TOKENS) {
      const b = this.balances.get(`${provider}/${token}`);
      if (b) this.balances.set(`${provider}/${token}`, { ...b, tier });
    }
  }

  /** The provider's next voucher nonce: one above the highest issued to them. */
  nextNonce(provider: string): bigint {
    let highest = 0n;
    for (const r of this.reservations.values()) if (r.provider === provider && r.nonce > highest) highest = r.nonce;
    return highest + 1n;
  }

  lockedSum(token: Token): bigint {
    let sum = 0n;
    for (const [key, b] of this.balances) if (key.endsWith(`/${token}`)) sum += b.locked;
    return sum;
  }
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

type Op =
  | { kind: "deposit"; p: number; token: Token; amount: bigint }
  | { kind: "reserve"; target: Target; pct: number }
  | { kind: "withdraw"; pick: number }
  | { kind: "cancel"; pick: number }
  | { kind: "lock"; target: Target; pct: number }
  | { kind: "release"; target: Target; pct: number }
  | { kind: "commit"; p: number; tier: Tier }
  | { kind: "replayEvent"; pick: number }
  | { kind: "replayBalanceOp"; pick: number; tamper: boolean };

const providerIndex = fc.integer({ min: 0, max: PROVIDERS.length - 1 });
const token = fc.constantFrom<Token>(...TOKENS);
const tier = fc.constantFrom<Tier>(...TIERS);
/** Percent of the limit an amount is drawn at: above 100 is over the limit and must be refused. */
const pct = fc.integer({ min: 0, max: 140 });
const pick = fc.nat();

/**
 * Whom a reservation, lock or release is for: mostly a balance that can take
 * it (so that most of them succeed and the state gets interesting), sometimes
 * any provider and token (unknown providers and empty balances included).
 */
type Target = { held: boolean; pick: number; p: number; token: Token };
const target: fc.Arbitrary<Target> = fc.record({
  held: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  pick,
  p: providerIndex,
  token,
});

function resolve(model: Model, chosen: Target, usable: (b: Balance) => boolean): { provider: string; token: Token } {
  if (chosen.held) {
    const candidates = [...model.balances.entries()].filter(([, b]) => usable(b));
    const hit = candidates[chosen.pick % Math.max(candidates.length, 1)];
    if (hit) {
      const [provider, tk] = hit[0].split("/") as [string, Token];
      return { provider, token: tk };
    }
  }
  return { provider: PROVIDERS[chosen.p] as string, token: chosen.token };
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("deposit" as const),
      p: providerIndex,
      token,
      amount: fc.bigInt({ min: 1n, max: 10n ** 9n }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant("reserve" as const), target, pct }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("withdraw" as const), pick }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("lock" as const), target, pct }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("release" as const), target, pct }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("commit" as const), p: providerIndex, tier }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("replayEvent" as const), pick }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("replayBalanceOp" as const), pick, tamper: fc.boolean() }), weight: 1 },
);

function amountAt(limit: bigint, percent: number): bigint {
  const scaled = (limit * BigInt(percent)) / 100n;
  return scaled > 0n ? scaled : 1n;
}

/**
 * Runs one operation against the backend and the model. Returns whether the
 * database must be exactly as before (a refusal, a duplicate or a no-op).
 */
async function runOp(t: Backend, model: Model, op: Op, step: number): Promise<"changed" | "unchanged"> {
  switch (op.kind) {
    case "deposit": {
      const provider = PROVIDERS[op.p] as string;
      const totalBalance = model.vaultBalance[op.token] + op.amount;
      const event: VaultEvent = {
        kind: "funds-deposited",
        ...nextPosition(),
        token: op.token,
        amount: op.amount,
        totalBalance,
        totalLocked: model.vaultLocked[op.token],
        depositor: provider,
        seq: model.seq + 1n,
      };
      expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
      model.seq += 1n;
      // A deposit straight to the vault by someone unknown makes them a provider in the default tier.
      if (!model.providers.has(provider)) model.providers.set(provider, "Conservative");
      model.change(provider, op.token, { total: op.amount });
      model.vaultBalance[op.token] = totalBalance;
      model.appliedEvents.push(event);
      return "changed";
    }

    case "reserve": {
      const { provider, token: tk } = resolve(model, op.target, (b) => b.total - b.locked - b.reserved > 0n);
      const available = model.available(provider, tk);
      const amount = amountAt(available, op.pct);
      const call = t.mutation(internal.liquidity.reserveWithdrawal, {
        provider,
        token: tk,
        amount,
        expiresAtBlock: 1_000_000n,
      });
      if (!model.providers.has(provider)) {
        expect(await failureCodeOf(call)).toBe("UNKNOWN_PROVIDER");
        return "unchanged";
      }
      if (amount > available) {
        expect(await failureCodeOf(call)).toBe("INSUFFICIENT_AVAILABLE_BALANCE");
        return "unchanged";
      }
      const nonce = model.nextNonce(provider);
      expect(await call).toBe(nonce);
      model.change(provider, tk, { reserved: amount });
      model.reservations.set(`${provider}/${nonce}`, { provider, token: tk, amount, nonce, status: "active" });
      return "changed";
    }

    case "withdraw":
    case "cancel": {
      const active = [...model.reservations.values()].filter((r) => r.status === "active");
      const reservation = active[op.pick % Math.max(active.length, 1)];
      if (!reservation) return "unchanged";
      const nonce = reservation.nonce;
      if (op.kind === "cancel") {
        await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: reservation.provider, nonce });
        model.change(reservation.provider, reservation.token, { reserved: -reservation.amount });
        reservation.status = "cancelled";
        return "changed";
      }
      const totalBalance = model.vaultBalance[reservation.token] - reservation.amount;
      const event: VaultEvent = {
        kind: "funds-withdrawn",
        ...nextPosition(),
        token: reservation.token,
        amount: reservation.amount,
        totalBalance,
        totalLocked: model.vaultLocked[reservation.token],
        provider: reservation.provider,
        nonce,
        seq: model.seq + 1n,
      };
      expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
      model.seq += 1n;
      // Two ledger rows: the reservation is freed, then the money leaves.
      model.change(reservation.provider, reservation.token, { reserved: -reservation.amount });
      model.change(reservation.provider, reservation.token, { total: -reservation.amount });
      reservation.status = "redeemed";
      // The vault now refuses the provider's lower nonces: their reservations are freed, one row each.
      for (const earlier of model.reservations.values()) {
        if (earlier.provider === reservation.provider && earlier.status === "active" && earlier.nonce < nonce) {
          model.change(earlier.provider, earlier.token, { reserved: -earlier.amount });
          earlier.status = "superseded";
        }
      }
      model.vaultBalance[reservation.token] = totalBalance;
      model.appliedEvents.push(event);
      return "changed";
    }

    case "lock":
    case "release": {
      const { provider, token: tk } = resolve(model, op.target, (b) =>
        op.kind === "lock" ? b.total - b.locked - b.reserved > 0n : b.locked > 0n,
      );
      const limit = op.kind === "lock" ? model.available(provider, tk) : model.balance(provider, tk).locked;
      const amount = amountAt(limit, op.pct);
      const change = { operationId: `test:${op.kind}:${step}`, provider, token: tk, type: op.kind, amount };
      const call = t.mutation(internal.liquidity.updateProviderBalance, change);
      if (!model.providers.has(provider)) {
        expect(await failureCodeOf(call)).toBe("UNKNOWN_PROVIDER");
        return "unchanged";
      }
      if (amount > limit) {
        expect(await failureCodeOf(call)).toBe(
          op.kind === "lock" ? "INSUFFICIENT_AVAILABLE_BALANCE" : "INSUFFICIENT_LOCKED_BALANCE",
        );
        return "unchanged";
      }
      const result = await call;
      const signed = op.kind === "lock" ? amount : -amount;
      model.change(provider, tk, { locked: signed });
      // The vault's aggregate lock follows the per-provider locks (its event would say so).
      model.vaultLocked[tk] += signed;
      model.appliedBalanceOps.push(change);
      expect(result).toEqual({ applied: true, balance: model.balance(provider, tk) });
      return "changed";
    }

    case "commit": {
      const provider = PROVIDERS[op.p] as string;
      const call = t.mutation(internal.liquidity.registerCommitment, {
        provider,
        amount: 1n,
        token: "STX",
        tier: op.tier,
      });
      const current = model.providers.get(provider);
      // The tier is fixed while the provider holds capital; once everything is
      // withdrawn they may choose again, and their empty balances move with them.
      if (current !== undefined && current !== op.tier && model.holdsCapital(provider)) {
        expect(await failureCodeOf(call)).toBe("TIER_MISMATCH");
        return "unchanged";
      }
      await call;
      if (current === op.tier) return "unchanged";
      model.moveTier(provider, op.tier);
      return "changed";
    }

    case "replayEvent": {
      const event = model.appliedEvents[op.pick % Math.max(model.appliedEvents.length, 1)];
      if (!event) return "unchanged";
      expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("duplicate");
      return "unchanged";
    }

    case "replayBalanceOp": {
      const applied = model.appliedBalanceOps[op.pick % Math.max(model.appliedBalanceOps.length, 1)];
      if (!applied) return "unchanged";
      if (op.tamper) {
        // Same operation id, different amount: a caller bug, refused loudly.
        await expect(
          t.mutation(internal.liquidity.updateProviderBalance, { ...applied, amount: applied.amount + 1n }),
        ).rejects.toThrow(`operation ${applied.operationId} was already applied with different parameters`);
        return "unchanged";
      }
      expect(await t.mutation(internal.liquidity.updateProviderBalance, applied)).toEqual({
        applied: false,
        balance: model.balance(applied.provider, applied.token),
      });
      return "unchanged";
    }
  }
}

// ---------------------------------------------------------------------------
// The checks after every step
// ---------------------------------------------------------------------------

type Sums = { capital: bigint; locked: bigint; reserved: bigint; accruedYield: bigint; providerCount: bigint };

async function checkEverything(t: Backend, model: Model, snap: Snapshot): Promise<void> {
  // Providers: exactly the model's, with their tiers.
  const providers = snap.providers as unknown as { principal: string; tier: Tier; healthStatus: string }[];
  expect(new Map(providers.map((p) => [p.principal, p.tier]))).toEqual(model.providers);
  expect(providers).toHaveLength(model.providers.size);

  // Balances: exactly the model's, each consistent on its own.
  type BalanceDoc = ModelBalance & { provider: string; token: Token; shard: number };
  const balanceDocs = snap.providerBalances as unknown as BalanceDoc[];
  expect(balanceDocs).toHaveLength(model.balances.size);
  for (const doc of balanceDocs) {
    const expected = model.balances.get(`${doc.provider}/${doc.token}`);
    expect({
      tier: doc.tier,
      total: doc.total,
      locked: doc.locked,
      reserved: doc.reserved,
      accruedYield: doc.accruedYield,
    }).toEqual(expected);
    expect(doc.shard).toBe(shardOf(doc.provider));
    expect(doc.locked >= 0n && doc.reserved >= 0n && doc.accruedYield >= 0n).toBe(true);
    expect(doc.total - doc.locked - doc.reserved >= 0n).toBe(true);
  }

  // Reservations, ledger rows and applied events: exactly the model's.
  const reservations = snap.withdrawalReservations as unknown as (ModelReservation & { nonce: bigint })[];
  expect(
    new Map(
      reservations.map((r) => [
        `${r.provider}/${r.nonce}`,
        { provider: r.provider, token: r.token, amount: r.amount, nonce: r.nonce, status: r.status },
      ]),
    ),
  ).toEqual(model.reservations);
  expect(snap.balanceLedger).toHaveLength(model.ledgerRows);
  const events = snap.vaultEvents as unknown as { txid: string; status: string }[];
  expect(events.map((e) => e.txid)).toEqual(model.appliedEvents.map((e) => e.txid));
  expect(events.every((e) => e.status === "applied")).toBe(true);

  // Each provider's own view: total = available + locked + reserved, every part >= 0.
  for (const principal of PROVIDERS) {
    const portfolio = await t.withIdentity({ subject: principal }).query(api.liquidity.getProviderPortfolio, {});
    const tierOf = model.providers.get(principal);
    if (tierOf === undefined) {
      expect(portfolio).toBeNull();
      continue;
    }
    expect(portfolio?.tier).toBe(tierOf);
    for (const view of portfolio?.balances ?? []) {
      const expected = model.balance(principal, view.token);
      expect(view.total).toBe(view.available + view.locked + view.reserved);
      expect(view.available >= 0n && view.locked >= 0n && view.reserved >= 0n).toBe(true);
      expect({
        total: view.total,
        locked: view.locked,
        reserved: view.reserved,
        accruedYield: view.accruedYield,
      }).toEqual({
        total: expected.total,
        locked: expected.locked,
        reserved: expected.reserved,
        accruedYield: expected.accruedYield,
      });
    }
    expect(portfolio?.balances.map((b) => b.token)).toEqual([...TOKENS]);
    const pending = [...model.reservations.values()]
      .filter((r) => r.provider === principal && r.status === "active")
      .map((r) => ({ token: r.token, amount: r.amount, nonce: r.nonce }));
    expect(
      (portfolio?.pendingWithdrawals ?? []).map(({ token: tk, amount, nonce }) => ({ token: tk, amount, nonce })),
    ).toEqual(expect.arrayContaining(pending));
    expect(portfolio?.pendingWithdrawals).toHaveLength(pending.length);
  }

  // Tier totals (from the shards) equal the sums over the balance documents.
  const sums = new Map<string, Sums>();
  for (const tr of TIERS)
    for (const tk of TOKENS)
      sums.set(`${tr}/${tk}`, { capital: 0n, locked: 0n, reserved: 0n, accruedYield: 0n, providerCount: 0n });
  for (const doc of balanceDocs) {
    const s = sums.get(`${doc.tier}/${doc.token}`) as Sums;
    s.capital += doc.total;
    s.locked += doc.locked;
    s.reserved += doc.reserved;
    s.accruedYield += doc.accruedYield;
    // A provider counts in a tier while they hold capital there.
    if (doc.total > 0n) s.providerCount += 1n;
  }
  const tierStats = await t.query(api.liquidity.getTierStats, {});
  expect(tierStats).toHaveLength(TIERS.length * TOKENS.length);
  for (const stats of tierStats) {
    const s = sums.get(`${stats.tier}/${stats.token}`) as Sums;
    // toMatchObject: exact on every field named here; fields added later (policy counts) are not this test's business.
    expect(stats).toMatchObject({
      tier: stats.tier,
      token: stats.token,
      totalCapital: s.capital,
      totalLocked: s.locked,
      totalReserved: s.reserved,
      totalAvailable: s.capital - s.locked - s.reserved,
      totalYieldAccrued: s.accruedYield,
      utilizationBps: s.capital === 0n ? 0n : ratioBps(s.locked, s.capital),
      providerCount: s.providerCount,
      capacityLimit: null,
    });
  }

  // Pool totals equal the sums over tiers, and the off-chain capital equals the vault's own balance.
  const poolStats = await t.query(api.liquidity.getPoolStats, {});
  expect(poolStats.map((p) => p.token)).toEqual([...TOKENS]);
  for (const pool of poolStats) {
    const ofToken = tierStats.filter((s) => s.token === pool.token);
    const add = (f: (s: (typeof ofToken)[number]) => bigint) => ofToken.reduce((sum, s) => sum + f(s), 0n);
    const synced = model.appliedEvents.some((e) => e.token === pool.token);
    const lastEvent = model.appliedEvents.filter((e) => e.token === pool.token).at(-1);
    expect(pool).toMatchObject({
      token: pool.token,
      totalBalanceOnChain: model.vaultBalance[pool.token],
      totalLockedOnChain: lastEvent?.totalLocked ?? 0n,
      lastSyncedAt: synced ? expect.any(Number) : null,
      totalCapital: add((s) => s.totalCapital),
      totalLocked: add((s) => s.totalLocked),
      totalReserved: add((s) => s.totalReserved),
      totalAvailable: add((s) => s.totalAvailable),
      totalYieldAccrued: add((s) => s.totalYieldAccrued),
      providerCount: add((s) => s.providerCount),
    });
    // Reconciliation (docs/architecture.md, "Invariants"): once synced, off-chain capital is exactly what the vault holds.
    expect(pool.totalCapital).toBe(pool.totalBalanceOnChain);
  }
}

// ---------------------------------------------------------------------------
// Property 1: any sequence of operations
// ---------------------------------------------------------------------------

describe("accounting over any sequence of operations", () => {
  test("keeps balances, tier totals, pool totals and the model equal after every step; refusals and replays change nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(tier, { nil: undefined }), { minLength: PROVIDERS.length, maxLength: PROVIDERS.length }),
        fc.array(opArb, { minLength: 1, maxLength: 40, size: "max" }),
        async (initialTiers, ops) => {
          const t = newBackend();
          await t.mutation(internal.tierConfigs.seedDefaults, {});
          const model = new Model();
          // Some providers commit to a tier first; the others first appear through a deposit.
          for (const [i, initialTier] of initialTiers.entries()) {
            if (initialTier === undefined) continue;
            const provider = PROVIDERS[i] as string;
            await t.mutation(internal.liquidity.registerCommitment, {
              provider,
              amount: 1n,
              token: "STX",
              tier: initialTier,
            });
            model.providers.set(provider, initialTier);
          }
          let before = await snapshot(t);
          await checkEverything(t, model, before);
          for (const [step, op] of ops.entries()) {
            const outcome = await runOp(t, model, op, step);
            const after = await snapshot(t);
            if (outcome === "unchanged") expect(after).toEqual(before);
            else expect(after).not.toEqual(before);
            await checkEverything(t, model, after);
            before = after;
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------
// Property 2: who writes and reads what
// ---------------------------------------------------------------------------

/** A document's identity independent of its `_id`: the unique key it is looked up by. */
function logicalKeyOf(table: string, doc: Doc): string {
  switch (table) {
    case "providers":
      return `providers:${String(doc.principal)}`;
    case "providerBalances":
      return `providerBalances:${String(doc.provider)}/${String(doc.token)}`;
    case "balanceLedger":
      return `balanceLedger:${String(doc.operationId)}`;
    case "tierTotalShards":
      return `tierTotalShards:${String(doc.tier)}/${String(doc.token)}/${String(doc.shard)}`;
    case "poolMetrics":
      return `poolMetrics:${String(doc.token)}`;
    case "vaultEvents":
      return `vaultEvents:${String(doc.txid)}/${String(doc.eventIndex)}`;
    case "withdrawalReservations":
      return `withdrawalReservations:${String(doc.provider)}/${String(doc.nonce)}`;
    default:
      return `${table}:${doc._id}`;
  }
}

type Write = { key: string; table: string; before: Doc | null; after: Doc | null };

/** Documents inserted, changed or deleted between two snapshots, by logical key. */
function writesBetween(before: Snapshot, after: Snapshot): Map<string, Write> {
  const writes = new Map<string, Write>();
  for (const table of TABLES) {
    const old = new Map((before[table] ?? []).map((d) => [d._id, d]));
    const now = new Map((after[table] ?? []).map((d) => [d._id, d]));
    for (const id of new Set([...old.keys(), ...now.keys()])) {
      const a = old.get(id) ?? null;
      const b = now.get(id) ?? null;
      if (
        a !== null &&
        b !== null &&
        JSON.stringify(convexToJson(a as Value)) === JSON.stringify(convexToJson(b as Value))
      )
        continue;
      const key = logicalKeyOf(table, (b ?? a) as Doc);
      writes.set(key, { key, table, before: a, after: b });
    }
  }
  return writes;
}

/** An index range a transaction read (Convex's optimistic concurrency tracks these, not just documents). */
type RangeRead = { table: string; index: string; range: { type: string; fieldPath: string; value: unknown }[] };
type ReadLog = { ranges: RangeRead[]; ids: Set<string> };

/**
 * `db` with every index range and every document id it reads recorded. The
 * range is read from the builder's `rangeExpressions`, which is how the
 * Convex runtime itself serializes it.
 */
function recordingDb(db: MutationCtx["db"], log: ReadLog): MutationCtx["db"] {
  const wrapQuery = (table: string, query: object): object =>
    new Proxy(query, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop === "withIndex" && typeof value === "function") {
          return (index: string, rangeFn?: (q: unknown) => unknown) => {
            const read: RangeRead = { table, index, range: [] };
            log.ranges.push(read);
            const next = value.call(target, index, (q: unknown) => {
              const built = (rangeFn ? rangeFn(q) : q) as { rangeExpressions?: RangeRead["range"] };
              read.range = [...(built.rangeExpressions ?? [])];
              return built;
            });
            return wrapQuery(table, next);
          };
        }
        if (prop === "fullTableScan" || prop === "withSearchIndex") {
          throw new Error(`unexpected ${String(prop)} on ${table}`);
        }
        if (["order", "filter"].includes(String(prop)) && typeof value === "function") {
          return (...args: unknown[]) => wrapQuery(table, value.apply(target, args));
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "query") return (table: string) => wrapQuery(table, value.call(target, table));
      if (prop === "get") {
        return (...args: unknown[]) => {
          log.ids.add(String(args.length === 2 ? args[1] : args[0]));
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** Whether a document version falls in a recorded range (only equality bounds occur on these paths). */
function inRange(doc: Doc, read: RangeRead): boolean {
  return read.range.every((bound) => {
    if (bound.type !== "Eq") return true; // conservative: any other bound may include it
    const field = doc[bound.fieldPath] as Value | undefined;
    return field !== undefined && JSON.stringify(convexToJson(field)) === JSON.stringify(bound.value);
  });
}

/** The writes of one transaction that would invalidate the reads of another (an OCC conflict). */
function conflicts(writes: Map<string, Write>, reads: ReadLog): string[] {
  const hit: string[] = [];
  for (const w of writes.values()) {
    const versions = [w.before, w.after].filter((d): d is Doc => d !== null);
    // A point read by id can only hit a document that existed before: nobody
    // else can know a new document's id. (Ids of documents inserted in the two
    // separately seeded backends coincide, so they must not be compared.)
    const byId = w.before !== null && reads.ids.has(w.before._id);
    const byRange = reads.ranges.some((r) => r.table === w.table && versions.some((d) => inRange(d, r)));
    if (byId || byRange) hit.push(w.key);
  }
  return hit.sort();
}

const A = addressOf(101);
/** The first of a few candidate addresses whose shard differs from A's. */
const B = [102, 103, 104, 105].map(addressOf).find((p) => shardOf(p) !== shardOf(A)) as string;
const NEW_A = addressOf(201);
const NEW_B = [202, 203, 204, 205].map(addressOf).find((p) => shardOf(p) !== shardOf(NEW_A)) as string;
const OTHERS = [301, 302, 303].map(addressOf);

/**
 * A backend in a fixed state: A, B and three others hold STX and sBTC in the
 * Conservative tier (the default) and Balanced. Seeding is deterministic, and
 * convex-test numbers documents with a counter, so two seeded backends hold
 * the same documents under the same ids: each deposit below is measured from
 * exactly the same starting state.
 */
async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  await t.mutation(internal.liquidity.registerCommitment, {
    provider: OTHERS[2] as string,
    amount: 1n,
    token: "STX",
    tier: "Balanced",
  });
  let height = 0n;
  for (const principal of [A, B, ...OTHERS]) {
    for (const tk of TOKENS) {
      height += 1n;
      const event: VaultEvent = {
        kind: "funds-deposited",
        txid: `0xseed${height}`,
        eventIndex: 0,
        blockHeight: height,
        blockHash: `0xseedblock${height}`,
        token: tk,
        amount: 1_000_000n,
        totalBalance: 1_000_000n * height,
        totalLocked: 0n,
        depositor: principal,
        seq: height,
      };
      await t.mutation(internal.vaultEvents.apply, { event });
    }
  }
  return t;
}

function depositOf(depositor: string, txid: string): VaultEvent {
  return {
    kind: "funds-deposited",
    txid,
    eventIndex: 0,
    blockHeight: 100n,
    blockHash: "0xblock100",
    token: "STX",
    amount: 250_000n,
    totalBalance: 999_999_999n,
    totalLocked: 0n,
    depositor,
    seq: 1_000n,
  };
}

/** Writes of `run` measured on a fresh seeded backend, by snapshot diff. */
async function writesOf(run: (t: Backend) => Promise<unknown>): Promise<Map<string, Write>> {
  const t = await seededBackend();
  const before = await snapshot(t);
  await run(t);
  return writesBetween(before, await snapshot(t));
}

/** Reads of `run` (given a recording ctx) measured on a fresh seeded backend. */
async function readsOf(run: (ctx: MutationCtx) => Promise<unknown>): Promise<ReadLog> {
  const t = await seededBackend();
  const log: ReadLog = { ranges: [], ids: new Set() };
  await t.run(async (ctx) => {
    await run({ ...ctx, db: recordingDb(ctx.db as MutationCtx["db"], log) } as unknown as MutationCtx);
  });
  return log;
}

describe("contention between providers", () => {
  test("seeding is deterministic, so every measurement starts from the same documents under the same ids", async () => {
    const [one, two] = [await snapshot(await seededBackend()), await snapshot(await seededBackend())];
    for (const table of TABLES) {
      expect((one[table] ?? []).map((d) => logicalKeyOf(table, d))).toEqual(
        (two[table] ?? []).map((d) => logicalKeyOf(table, d)),
      );
      expect((one[table] ?? []).map((d) => d._id)).toEqual((two[table] ?? []).map((d) => d._id));
    }
  });

  test.each([
    ["existing providers", A, B, false],
    ["first deposits of new providers", NEW_A, NEW_B, true],
  ])(
    "concurrent deposits of different providers do not write the same document (%s), except the pool mirror the single event-sync writer owns",
    async (_case, first, second, isNew) => {
      expect(shardOf(first)).not.toBe(shardOf(second));
      const eventA = depositOf(first, "0xdepositA");
      const eventB = depositOf(second, "0xdepositB");

      // Write sets: the real mutation, diffed against the same starting state.
      const writesA = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventA }));
      const writesB = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventB }));

      const expectedFor = (principal: string, event: VaultEvent) =>
        [
          `vaultEvents:${event.txid}/0`,
          `balanceLedger:${operationIdOf(event)}`,
          `providerBalances:${principal}/STX`,
          `tierTotalShards:Conservative/STX/${shardOf(principal)}`,
          "poolMetrics:STX",
          ...(isNew ? [`providers:${principal}`] : []),
        ].sort();
      expect([...writesA.keys()].sort()).toEqual(expectedFor(first, eventA));
      expect([...writesB.keys()].sort()).toEqual(expectedFor(second, eventB));

      // The only document both write is poolMetrics(STX): the vault's own totals
      // as the latest synced event reports them. It is written by every synced
      // event of the token, deposits included, by design: the event sync applies
      // confirmed events one at a time in chain order from one cron-driven
      // writer (README "Chain integration"), so two deposits are never applied by concurrent
      // mutations and this document never makes a user wait. User-facing
      // mutations (commitments, withdrawal requests) never write it (next test).
      const shared = [...writesA.keys()].filter((k) => writesB.has(k));
      expect(shared).toEqual(["poolMetrics:STX"]);

      // Read/write conflicts, which is what Convex's optimistic concurrency
      // actually checks: does one deposit write a document, or into an index
      // range, that the other read? Reads are recorded on the same model
      // function the mutation runs, from the same starting state.
      const readsA = await readsOf((ctx) => applyVaultEvent(ctx, eventA));
      const readsB = await readsOf((ctx) => applyVaultEvent(ctx, eventB));
      expect(conflicts(writesA, readsB)).toEqual(["poolMetrics:STX"]);
      expect(conflicts(writesB, readsA)).toEqual(["poolMetrics:STX"]);
    },
  );

  test("withdrawal requests of providers in different shards touch no common document, and never the pool mirror", async () => {
    expect(shardOf(A)).not.toBe(shardOf(B));
    const requestOf = (provider: string) => ({
      provider,
      token: "STX" as const,
      amount: 1_000n,
      expiresAtBlock: 500n,
    });
    const requestA = requestOf(A);
    const requestB = requestOf(B);
    const writesA = await writesOf((t) => t.mutation(internal.liquidity.reserveWithdrawal, requestA));
    const writesB = await writesOf((t) => t.mutation(internal.liquidity.reserveWithdrawal, requestB));
    // Each provider's first voucher: both get nonce 1, from their own range of the nonce index.
    const expectedFor = (principal: string) =>
      [
        `balanceLedger:reservation:${principal}:1:reserve`,
        `providerBalances:${principal}/STX`,
        `tierTotalShards:Conservative/STX/${shardOf(principal)}`,
        `withdrawalReservations:${principal}/1`,
      ].sort();
    expect([...writesA.keys()].sort()).toEqual(expectedFor(A));
    expect([...writesB.keys()].sort()).toEqual(expectedFor(B));

    const readsA = await readsOf((ctx) => reserveWithdrawal(ctx, requestA));
    const readsB = await readsOf((ctx) => reserveWithdrawal(ctx, requestB));
    expect(conflicts(writesA, readsB)).toEqual([]);
    expect(conflicts(writesB, readsA)).toEqual([]);
  });

  test("providers in the same shard do contend on their tier shard (1 pair in 32), and only there", async () => {
    // Find a principal in A's shard: the cost of exact sharded totals.
    const sameShard = Array.from({ length: 400 }, (_, i) => addressOf(1_000 + i)).find(
      (p) => shardOf(p) === shardOf(A) && p !== A,
    ) as string;
    expect(sameShard).toBeDefined();
    const eventA = depositOf(A, "0xdepositA");
    const eventC = depositOf(sameShard, "0xdepositC");
    const writesA = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventA }));
    const readsC = await readsOf((ctx) => applyVaultEvent(ctx, eventC));
    expect(conflicts(writesA, readsC)).toEqual(["poolMetrics:STX", `tierTotalShards:Conservative/STX/${shardOf(A)}`]);
  });
});
