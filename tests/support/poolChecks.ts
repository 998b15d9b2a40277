/**
 * The checks of the pool's model-based properties: the real database (read
 * through convex-test) against the expected books of poolModel.ts, and the
 * invariants of docs/architecture.md ("Invariants") that can be read off it.
 */
import { expect } from "vitest";

import { api } from "../../convex/_generated/api";
import type { Doc } from "../../convex/_generated/dataModel";
import type { Balance } from "../../convex/domain/balances";
import { shardOf } from "../../convex/model/ledger/tierTotals";
import { TIERS, TOKENS } from "../../convex/validators";
import type { Backend, Snapshot } from "../convex/convexTest";
import { sum, type PoolModel } from "./poolModel";

type MoneyTables = {
  providerBalances: Doc<"providerBalances">[];
  policies: Doc<"policies">[];
  policyBacking: Doc<"policyBacking">[];
  protocolAccounts: Doc<"protocolAccounts">[];
};

/** The four tables that hold money, read in one transaction. */
export async function readMoney(t: Backend): Promise<MoneyTables> {
  return await t.run(async (ctx) => ({
    providerBalances: await ctx.db.query("providerBalances").collect(),
    policies: await ctx.db.query("policies").collect(),
    policyBacking: await ctx.db.query("policyBacking").collect(),
    protocolAccounts: await ctx.db.query("protocolAccounts").collect(),
  }));
}

/**
 * Invariants are collected as readable violations and asserted once per
 * kind: one `expect` per document would cost more than the backend calls.
 */
function violations(): { add: (ok: boolean, what: () => string) => void; expectNone: (kind: string) => void } {
  const found: string[] = [];
  return {
    add: (ok, what) => {
      if (!ok) found.push(what());
    },
    expectNone: (kind) => expect(found, kind).toEqual([]),
  };
}

/**
 * Every balance, policy, backing row and protocol account exactly as the
 * model has it, each balance consistent on its own: the outcome every
 * command asserts after changing something.
 */
export function expectMoneyAsModelled(model: PoolModel, tables: MoneyTables): void {
  const balances = tables.providerBalances;
  expect(
    new Map(
      balances.map((d) => [
        `${d.provider}/${d.token}`,
        { tier: d.tier, total: d.total, locked: d.locked, reserved: d.reserved, accruedYield: d.accruedYield },
      ]),
    ),
    "balances",
  ).toEqual(model.balances);
  expect(balances).toHaveLength(model.balances.size);
  const bad = violations();
  for (const d of balances) {
    const where = `${d.provider}/${d.token}`;
    bad.add(d.available === d.total - d.locked - d.reserved, () => `${where}: available ${d.available} ≠ total − locked − reserved`);
    bad.add(d.shard === shardOf(d.provider), () => `${where}: shard ${d.shard}`);
    for (const field of ["total", "locked", "reserved", "accruedYield", "available"] as const) {
      bad.add(d[field] >= 0n, () => `${where}: ${field} = ${d[field]}`);
    }
  }
  bad.expectNone("balances that are inconsistent on their own");

  const policies = [...model.policies.values()];
  expect(
    tables.policies.map((p) => ({
      policyId: p.policyId,
      policyType: p.policyType,
      tier: p.tier,
      collateralToken: p.collateralToken,
      requiredCollateral: p.requiredCollateral,
      status: p.status,
      premiumsReceived: p.premiumsReceived,
      settledAmount: p.settledAmount,
    })),
    "policies",
  ).toEqual(policies.map(({ backing: _backing, ...p }) => p));
  const backingOf = (policyId: bigint) => tables.policyBacking.filter((r) => r.policyId === policyId);
  expect(
    new Map(
      policies.map((p) => [
        p.policyId,
        backingOf(p.policyId).map((r) => ({
          provider: r.provider,
          token: r.token,
          tier: r.tier,
          originalAllocation: r.originalAllocation,
          allocated: r.allocated,
          active: r.active,
        })),
      ]),
    ),
    "backing, per policy in the order written",
  ).toEqual(
    new Map(policies.map((p) => [p.policyId, p.backing.map((b) => ({ ...b, token: p.collateralToken, tier: p.tier }))])),
  );
  expect(tables.policyBacking, "backing rows").toHaveLength(policies.reduce((n, p) => n + p.backing.length, 0));

  expect(
    Object.fromEntries(
      TOKENS.map((token) => {
        const account = tables.protocolAccounts.find((a) => a.token === token);
        return [token, { feesAccrued: account?.feesAccrued ?? 0n, unallocatedPremiums: account?.unallocatedPremiums ?? 0n }];
      }),
    ),
    "protocol accounts",
  ).toEqual(model.protocol);
}

type Sums = { capital: bigint; locked: bigint; reserved: bigint; accruedYield: bigint; providerCount: bigint };

type SnapshotTable = keyof MoneyTables | "providers" | "withdrawalReservations" | "balanceLedger" | "vaultEvents" | "vaultOperations";

/** What the checks of the books read: the model, the backend and its database as one snapshot. */
type BooksUnderCheck = ReturnType<typeof booksUnderCheck>;

function booksUnderCheck(model: PoolModel, t: Backend, snap: Snapshot, options: { portfolios: boolean }) {
  const table = <T extends SnapshotTable>(name: T) => (snap[name] ?? []) as unknown as Doc<T>[];
  const queryTierStats = () => t.query(api.liquidity.getTierStats, {});
  // Queried once: the pool totals' check sums the very tier totals the tier totals' check compared.
  let tierStats: ReturnType<typeof queryTierStats> | undefined;
  return {
    model,
    t,
    options,
    table,
    tierStats: () => (tierStats ??= queryTierStats()),
  };
}

/** A check of the books: it asserts with `expect`, under its own failure messages. */
type BooksCheck = { name: string; check: (books: BooksUnderCheck) => void | Promise<void> };

function moneyAsModelled({ model, table }: BooksUnderCheck): void {
  expectMoneyAsModelled(model, {
    providerBalances: table("providerBalances"),
    policies: table("policies"),
    policyBacking: table("policyBacking"),
    protocolAccounts: table("protocolAccounts"),
  });
}

/** Providers, with their tiers and what they back. */
function providersAndExposure({ model, table }: BooksUnderCheck): void {
  const backing = table("policyBacking");
  const providers = table("providers");
  expect(new Map(providers.map((p) => [p.principal, p.tier])), "providers").toEqual(model.providers);
  expect(providers).toHaveLength(model.providers.size);
  const activeOf = (principal: string) => backing.filter((r) => r.provider === principal && r.active);
  expect(
    providers.map((p) => ({
      principal: p.principal,
      activeBackings: p.activeBackings,
      putObligationUsd: p.putObligationUsd,
      callProtectedSats: p.callProtectedSats,
    })),
    "exposure: what each provider backs is the sum of their active backing",
  ).toEqual(
    providers.map((p) => ({
      principal: p.principal,
      activeBackings: BigInt(activeOf(p.principal).length),
      putObligationUsd: sum(activeOf(p.principal).map((r) => r.putObligationUsd)),
      callProtectedSats: sum(activeOf(p.principal).map((r) => r.callProtectedSats)),
    })),
  );
}

/** Reservations, ledger rows, applied events and queued vault operations: exactly the model's. */
function recordsAsModelled({ model, table }: BooksUnderCheck): void {
  expect(
    new Map(
      table("withdrawalReservations").map((r) => [
        `${r.provider}/${r.nonce}`,
        { provider: r.provider, token: r.token, amount: r.amount, nonce: r.nonce, status: r.status },
      ]),
    ),
    "reservations",
  ).toEqual(model.reservations);
  expect(table("balanceLedger"), "ledger rows").toHaveLength(model.ledgerRows);
  const events = table("vaultEvents");
  expect(events.map((e) => e.txid)).toEqual(model.appliedEvents.map((e) => e.txid));
  expect(events.every((e) => e.status === "applied")).toBe(true);
  expect(
    table("vaultOperations").map((op) => ({
      kind: op.kind,
      policyId: op.policyId,
      token: op.token,
      amount: op.amount,
      buyer: op.buyer,
      status: op.status,
    })),
    "vault operations",
  ).toEqual(model.vaultOperations);
}

/** How each kind of ledger row moves the balance it belongs to. */
const LEDGER_EFFECTS: Record<string, [keyof Balance, bigint][]> = {
  deposit: [["total", 1n]],
  withdrawal: [["total", -1n]],
  yield_accrual: [
    ["total", 1n],
    ["accruedYield", 1n],
  ],
  yield_reversal: [
    ["total", -1n],
    ["accruedYield", -1n],
  ],
  settlement_debit: [
    ["total", -1n],
    ["locked", -1n],
  ],
  settlement_reversal: [
    ["total", 1n],
    ["locked", 1n],
  ],
  lock: [["locked", 1n]],
  release: [["locked", -1n]],
  reserve: [["reserved", 1n]],
  unreserve: [["reserved", -1n]],
};

/** Each balance as its ledger rows add up, by `provider/token`. */
function replayLedger(ledger: readonly Doc<"balanceLedger">[]): Map<string, Balance> {
  const replayed = new Map<string, Balance>();
  const net = (key: string, field: keyof Balance, delta: bigint) => {
    const b = replayed.get(key) ?? { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n };
    replayed.set(key, { ...b, [field]: b[field] + delta });
  };
  for (const row of ledger) {
    for (const [field, sign] of LEDGER_EFFECTS[row.type] ?? []) net(`${row.provider}/${row.token}`, field, sign * row.amount);
  }
  return replayed;
}

/** What the active backing rows lock, by `provider/token`. */
function lockedByActiveBacking(backing: readonly Doc<"policyBacking">[]): Map<string, bigint> {
  const lockedFor = new Map<string, bigint>();
  for (const r of backing) {
    if (r.active) lockedFor.set(`${r.provider}/${r.token}`, (lockedFor.get(`${r.provider}/${r.token}`) ?? 0n) + r.allocated);
  }
  return lockedFor;
}

type Violations = ReturnType<typeof violations>;

/**
 * The ledger is the history of each balance: replaying it gives the balance.
 * (Reversals undo a reorged event's rows; settlement_reversal is the inverse of a debit, including its unlock.)
 * What is locked is the active backing of policies, plus direct locks.
 */
function addBalanceHistoryViolations(bad: Violations, { model, table }: BooksUnderCheck): void {
  const replayed = replayLedger(table("balanceLedger"));
  const lockedFor = lockedByActiveBacking(table("policyBacking"));
  for (const b of table("providerBalances")) {
    const where = `${b.provider}/${b.token}`;
    const history = replayed.get(where);
    bad.add(
      history !== undefined &&
        history.total === b.total &&
        history.locked === b.locked &&
        history.reserved === b.reserved &&
        history.accruedYield === b.accruedYield,
      () => `${where}: the ledger replays to ${JSON.stringify(history, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v))}`,
    );
    const expectedLocked = (lockedFor.get(where) ?? 0n) + (model.directLocks.get(where) ?? 0n);
    bad.add(b.locked === expectedLocked, () => `${where}: locked ${b.locked}, active backing and direct locks ${expectedLocked}`);
  }
}

/** Policies: Active ones fully backed, ended ones holding nothing, never more backers than the tier allows. */
function addPolicyBackingViolations(bad: Violations, { model, table }: BooksUnderCheck): void {
  const backing = table("policyBacking");
  for (const p of table("policies")) {
    const rows = backing.filter((r) => r.policyId === p.policyId);
    const active = rows.filter((r) => r.active);
    const where = `policy ${p.policyId} (${p.status})`;
    for (const r of rows) {
      bad.add(r.allocated >= 0n && r.allocated <= r.originalAllocation, () => `${where}: ${r.provider} holds ${r.allocated}`);
      bad.add(r.active || r.allocated === 0n, () => `${where}: inactive backing of ${r.provider} holds ${r.allocated}`);
    }
    switch (p.status) {
      case "Active":
      case "Exercised":
        bad.add(active.length === rows.length, () => `${where}: inactive backing`);
        bad.add(sum(active.map((r) => r.allocated)) === p.requiredCollateral, () => `${where}: not fully backed`);
        break;
      case "Settled":
      case "Expired":
        bad.add(active.length === 0, () => `${where}: still holds backing`);
        break;
      case "Pending":
      case "Cancelled":
        bad.add(rows.length === 0, () => `${where}: has backing`);
        break;
    }
    if (rows.length > 0) {
      bad.add(sum(rows.map((r) => r.originalAllocation)) === p.requiredCollateral, () => `${where}: allocated ≠ required`);
      bad.add(rows.length <= model.maxBackers[p.tier], () => `${where}: ${rows.length} backers`);
    }
  }
}

/** Balances against their history and backing, and policies against theirs: asserted together, as one kind. */
function balancesAndPoliciesAgainstHistory(books: BooksUnderCheck): void {
  const bad = violations();
  addBalanceHistoryViolations(bad, books);
  addPolicyBackingViolations(bad, books);
  bad.expectNone("balances and policies against their history and backing");
}

/** Each provider's own view: total = available + locked + reserved, every part ≥ 0, pending vouchers listed. */
async function providersOwnViews({ model, t, options }: BooksUnderCheck): Promise<void> {
  for (const principal of options.portfolios ? model.principals : []) {
    const portfolio = await t.withIdentity({ subject: principal }).query(api.liquidity.getProviderPortfolio, {});
    const tier = model.providers.get(principal);
    if (tier === undefined) {
      expect(portfolio).toBeNull();
      continue;
    }
    expect(portfolio?.tier).toBe(tier);
    expect(portfolio?.balances.map((b) => b.token)).toEqual([...TOKENS]);
    for (const view of portfolio?.balances ?? []) {
      expect(view.total).toBe(view.available + view.locked + view.reserved);
      expect(view.available >= 0n && view.locked >= 0n && view.reserved >= 0n).toBe(true);
      expect({ total: view.total, locked: view.locked, reserved: view.reserved, accruedYield: view.accruedYield }).toEqual(
        model.balance(principal, view.token),
      );
    }
    const pending = [...model.reservations.values()]
      .filter((r) => r.provider === principal && r.status === "active")
      .map((r) => ({ token: r.token, amount: r.amount, nonce: r.nonce }));
    const listed = (portfolio?.pendingWithdrawals ?? []).map(({ token, amount, nonce }) => ({ token, amount, nonce }));
    expect(listed).toEqual(expect.arrayContaining(pending));
    expect(listed).toHaveLength(pending.length);
  }
}

/** The sums over the balance documents, by `tier/token`. */
function sumsByTier(balanceDocs: readonly Doc<"providerBalances">[]): Map<string, Sums> {
  const sums = new Map<string, Sums>();
  for (const tier of TIERS)
    for (const token of TOKENS)
      sums.set(`${tier}/${token}`, { capital: 0n, locked: 0n, reserved: 0n, accruedYield: 0n, providerCount: 0n });
  for (const doc of balanceDocs) {
    const s = sums.get(`${doc.tier}/${doc.token}`)!;
    s.capital += doc.total;
    s.locked += doc.locked;
    s.reserved += doc.reserved;
    s.accruedYield += doc.accruedYield;
    // A provider counts in a tier while they hold capital there.
    if (doc.total > 0n) s.providerCount += 1n;
  }
  return sums;
}

/** Tier totals (from the shards) equal the sums over the balance documents. */
async function tierTotalsAreSums({ model, table, tierStats }: BooksUnderCheck): Promise<void> {
  const sums = sumsByTier(table("providerBalances"));
  const allStats = await tierStats();
  expect(allStats).toHaveLength(TIERS.length * TOKENS.length);
  for (const stats of allStats) {
    const s = sums.get(`${stats.tier}/${stats.token}`)!;
    const activePolicies = [...model.policies.values()].filter(
      (p) => p.tier === stats.tier && p.collateralToken === stats.token && (p.status === "Active" || p.status === "Exercised"),
    );
    expect(stats, `tier totals ${stats.tier}/${stats.token}`).toEqual({
      tier: stats.tier,
      token: stats.token,
      totalCapital: s.capital,
      totalLocked: s.locked,
      totalReserved: s.reserved,
      totalAvailable: s.capital - s.locked - s.reserved,
      totalYieldAccrued: s.accruedYield,
      // Rounded down: a ratio a provider is shown never overstates what is used.
      utilizationBps: s.capital === 0n ? 0n : (s.locked * 10_000n) / s.capital,
      providerCount: s.providerCount,
      activePolicyCount: BigInt(activePolicies.length),
      capacityLimit: null,
    });
  }
}

/** Pool totals equal the sums over tiers; the mirror is what the vault's last event said. */
async function poolTotalsAreSums({ model, t, tierStats }: BooksUnderCheck): Promise<void> {
  const allStats = await tierStats();
  const poolStats = await t.query(api.liquidity.getPoolStats, {});
  expect(poolStats.map((p) => p.token)).toEqual([...TOKENS]);
  for (const pool of poolStats) {
    const ofToken = allStats.filter((s) => s.token === pool.token);
    const add = (f: (s: (typeof ofToken)[number]) => bigint) => sum(ofToken.map(f));
    const mirror = model.mirror[pool.token];
    expect(pool).toEqual({
      token: pool.token,
      totalBalanceOnChain: mirror?.totalBalance ?? 0n,
      totalLockedOnChain: mirror?.totalLocked ?? 0n,
      lastSyncedAt: mirror ? expect.any(Number) : null,
      totalCapital: add((s) => s.totalCapital),
      totalLocked: add((s) => s.totalLocked),
      totalReserved: add((s) => s.totalReserved),
      totalAvailable: add((s) => s.totalAvailable),
      totalYieldAccrued: add((s) => s.totalYieldAccrued),
      providerCount: add((s) => s.providerCount),
    });
    // Reconciliation (docs/architecture.md, "Invariants"): once synced, the vault's balance is
    // the providers' totals plus protocol fees plus unallocated premiums.
    const protocol = model.protocol[pool.token];
    expect(pool.totalCapital + protocol.feesAccrued + protocol.unallocatedPremiums, `reconciliation ${pool.token}`).toBe(
      pool.totalBalanceOnChain,
    );
    // No unit appears or disappears: what is held is what came in minus what went out.
    const f = model.flows;
    const token = pool.token;
    expect(pool.totalCapital + protocol.feesAccrued + protocol.unallocatedPremiums, `money in ${token}`).toBe(
      f.deposits[token] + f.premiums[token] - f.withdrawals[token] - f.payouts[token],
    );
  }
}

/** The checks of the books, in the order they run; the first that fails ends the run (its `expect` throws). */
const BOOKS_CHECKS: readonly BooksCheck[] = [
  { name: "money tables exactly as the model has them", check: moneyAsModelled },
  { name: "providers, their tiers and what they back", check: providersAndExposure },
  { name: "reservations, ledger rows, applied events and vault operations as modelled", check: recordsAsModelled },
  { name: "balances and policies against their history and backing", check: balancesAndPoliciesAgainstHistory },
  { name: "each provider's own view", check: providersOwnViews },
  { name: "tier totals equal the sums over the balance documents", check: tierTotalsAreSums },
  { name: "pool totals equal the sums over tiers; reconciliation; money in", check: poolTotalsAreSums },
];

/**
 * Everything the books must be after a step: the whole database as the
 * model has it, and every invariant of docs/architecture.md ("Invariants")
 * that can be read off it. `portfolios: false` leaves out each provider's
 * own view (one query per provider), for scenarios with many providers.
 */
export async function checkBooks(model: PoolModel, t: Backend, snap: Snapshot, options = { portfolios: true }): Promise<void> {
  const books = booksUnderCheck(model, t, snap, options);
  for (const { check } of BOOKS_CHECKS) await check(books);
}
