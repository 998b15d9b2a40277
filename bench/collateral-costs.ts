/**
 * Documents read and written by the Convex backend's collateral lifecycle:
 * per allocation, release and settlement at 1,000 and 10,000 providers in
 * the policy's tier, and per transaction of the policy-expiry sweep.
 *
 *   npx tsx bench/collateral-costs.ts                 # sweeps over 500 and 1,500 policies (the default)
 *   npx tsx bench/collateral-costs.ts --sweep=100000  # any list of sizes, e.g. --sweep=1000,20000,100000
 *   --sweep-only skips part 1; BENCH_DEBUG=1 prints every sweep transaction's figures.
 *
 * docs/architecture.md, "Scale": no function reads or writes an unbounded number of
 * documents; sweeps are paginated and continue through the scheduler.
 *
 * 1. Allocation (`activatePolicy`), release (`releasePolicy`) and settlement
 *    (`applySettlement` for the settlement-paid event of an Exercised policy)
 *    of one policy, measured like bench/convex-costs.ts: the model function
 *    runs inside `t.run` with `ctx.db` wrapped in a counting proxy, and the
 *    transaction's own figures are read from convex-test's transaction
 *    metrics (`ctx.meta.getTransactionMetrics()`), which count what Convex's
 *    limits count (every document scanned, including the one a `patch`
 *    reads; index ranges). The policy needs ~90% of what its K =
 *    `maxBackersPerPolicy` (default 25) first providers in the queue hold, so
 *    every measurement is at the full fan-out.
 * 2. The expiry sweep: `internal.policies.expirePolicies` run as the cron runs
 *    it (after `internal.vaultEvents.markSyncedThrough` past the policies'
 *    expiry), then continued by the scheduler with
 *    `t.finishAllScheduledFunctions`. The function convex-test resolves for
 *    `internal.policies.expirePolicies` (also the one the continuation
 *    schedules) is the real one wrapped to count its transaction; nothing
 *    else about it changes.
 *
 * Seeding inserts documents directly, in batches (through the ledger, 10,000
 * providers or 100,000 policies would take hours in convex-test, which scans
 * a whole table on every query). The seed clones the documents a real first
 * deposit writes (run once through `applyVaultEvent` on a scratch backend), so
 * it follows the schema and the ledger as they change, and fills in what
 * allocation would have written: per provider a `providers` row (with its
 * exposure: obligations and active backings), a `providerBalances` row in
 * the collateral token (total, locked, `available`, `allocationKey`, `shard`)
 * and its deposit's `balanceLedger` row; per shard a `tierTotalShards` row
 * holding the sums (capital, locked, provider count, active policies); the
 * tier's `allocationClocks` row; and for the sweep the Active `policies` and
 * their `policyBacking` rows (in the sweep every backing is its provider's
 * only one: the worst case, see `runSweep`). Left out, because nothing
 * measured reads them by a key they would match: `vaultEvents`, the locks'
 * `balanceLedger` rows and `vaultOperations`, and in the sweep the deposits'
 * `balanceLedger` rows too (they would only slow convex-test down).
 *
 * Prints figures only; no timing assertions. Results are also written to
 * bench/results/collateral-costs.md.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { convexTest } from "convex-test";
import { v } from "convex/values";

import { internal } from "../convex/_generated/api";
import { internalMutation, type MutationCtx } from "../convex/_generated/server";
import { SCAN_FACTOR } from "../convex/model/policies/allocation";
import { splitProportionally } from "../convex/domain/money";
import {
  activatePolicy,
  applySettlement,
  obligationOf,
  registerPolicy,
  releasePolicy,
  requestSettlement,
} from "../convex/model/policies/policies";
import { PRICE_SCALE, requiredCollateral, tierForStrike, type Prices } from "../convex/domain/policyMath";
import { DEFAULT_TIER_CONFIGS, seedDefaultTierConfigs } from "../convex/model/policies/tierConfigs";
import { policyShardOf, shardOf, TIER_TOTAL_SHARDS } from "../convex/model/ledger/tierTotals";
import schema from "../convex/schema";
import type { Tier, Token } from "../convex/validators";
import { convexModules, type ModuleMap } from "../simulation/convexModules";
import { LIMIT_KEYS, LIMITS, transactionUsage, type LimitKey, type PerLimit } from "./support/convexLimits";
import { newCounts, countingDb, runCounted, type Counts } from "./support/countingDb";
import { ledgerTemplate, type Template } from "./support/ledgerTemplate";
import { mdTable, tablesOf, textTable, writeReport } from "./support/report";
import { benchPrincipal, inserter, spreadKey, type Insert } from "./support/seeding";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ALLOCATION_SIZES = [1_000, 10_000] as const;
const DEFAULT_SWEEP_SIZES = [500, 1_500];
/** The sweep size the scale goal names; extrapolated to when it is not measured. */
const TARGET_SWEEP = 100_000;
/** `EXPIRY_PAGE_SIZE` in convex/policies.ts (not exported). */
const EXPIRY_PAGE = 50;
const SEED_BATCH = 2_000;
const TOKEN: Token = "STX";
const PRICES: Prices = { btcUsd: 60_000n * PRICE_SCALE, stxUsd: 2n * PRICE_SCALE };

// ---------------------------------------------------------------------------
// Convex's per-transaction limits (support/convexLimits.ts)
// ---------------------------------------------------------------------------

const LIMIT_NAMES: Record<LimitKey, string> = {
  documentsRead: "documents scanned",
  documentsWritten: "documents written",
  databaseQueries: "index ranges read (db.get / db.query calls)",
  bytesRead: "data read",
  bytesWritten: "data written",
  functionsScheduled: "functions scheduled",
};

/** Limits that convex-test reports (used + remaining) differently from LIMITS; empty when they agree. */
const limitMismatches: string[] = [];

/** What convex-test counted against the limits for one transaction; checks its limits against LIMITS on the way. */
async function txMetrics(ctx: MutationCtx): Promise<PerLimit> {
  const { used, limits } = await transactionUsage(ctx);
  for (const key of LIMIT_KEYS) {
    if (limits[key] !== LIMITS[key] && !limitMismatches.some((s) => s.startsWith(key)))
      limitMismatches.push(`${key}: convex-test ${limits[key]}, bench ${LIMITS[key]}`);
  }
  return used;
}

/** Fail fast if convex-test's limits moved: read from its source, the same numbers are checked again at run time. */
function checkConvexTestSource(): void {
  const trackerSource = readFileSync(path.join(ROOT, "node_modules", "convex-test", "dist", "transactionMetrics.js"), "utf8");
  for (const [key, limit] of [
    ["documentsRead", "32_000"],
    ["documentsWritten", "16_000"],
    ["databaseQueries", "4_096"],
  ] as const) {
    if (!trackerSource.includes(`${key}: ${limit}`)) limitMismatches.push(`${key}: not ${limit} in convex-test's source`);
  }
}

// ---------------------------------------------------------------------------
// A convex-test backend outside vitest
// ---------------------------------------------------------------------------

type SweepTransaction = { counts: Counts; metrics: PerLimit; expired: number; hasMore: boolean; ms: number };

/** Transactions of `expirePolicies` since the sweep being measured started. */
let sweepLog: SweepTransaction[] = [];

type ExpireHandler = (ctx: MutationCtx, args: Record<string, never>) => Promise<{ expired: number; hasMore: boolean }>;

/** `expirePolicies` running `inner`, the real handler, with a counting `ctx.db`; the transaction's metrics are recorded after it. */
function countedExpirePolicies(inner: ExpireHandler) {
  return internalMutation({
    args: {},
    returns: v.object({ expired: v.number(), hasMore: v.boolean() }),
    handler: async (ctx, args) => {
      const counts = newCounts();
      const started = performance.now();
      const result = await inner({ ...ctx, db: countingDb(ctx.db, counts) } as MutationCtx, args as Record<string, never>);
      const ms = performance.now() - started;
      sweepLog.push({ counts, metrics: await txMetrics(ctx), ...result, ms });
      return result;
    },
  });
}

/** The convex modules with `policies.ts` served with `expirePolicies` counted (see above). */
function withInstrumentedExpiry(modules: ModuleMap): ModuleMap {
  const real = modules["./convex/policies.ts"];
  if (!real) throw new Error("convex/policies.ts not found");
  modules["./convex/policies.ts"] = async () => {
    const module = (await real()) as Record<string, unknown>;
    // convex-test itself calls a registered function's `_handler`.
    const handler = (module.expirePolicies as { _handler?: unknown } | undefined)?._handler;
    if (typeof handler !== "function") throw new Error("convex/policies.ts has no expirePolicies mutation");
    return { ...module, expirePolicies: countedExpirePolicies(handler as ExpireHandler) };
  };
  return modules;
}
const MODULES = convexModules(withInstrumentedExpiry);
/** With `enforceLimits`, convex-test fails a transaction that goes over Convex's limits, as Convex does. */
function newBackend(enforceLimits = false) {
  return convexTest({ schema, modules: MODULES, transactionLimits: enforceLimits });
}
type Backend = ReturnType<typeof newBackend>;

// ---------------------------------------------------------------------------
// Measuring one transaction with the counting ctx.db (bench/support/countingDb.ts)
// ---------------------------------------------------------------------------

type Measured<T> = { counts: Counts; metrics: PerLimit; result: T };

async function measure<T>(t: Backend, run: (ctx: MutationCtx) => Promise<T>): Promise<Measured<T>> {
  const { counts, result, after } = await runCounted(t, run, txMetrics);
  return { counts, metrics: after, result };
}

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

/** The documents a real first deposit writes, without system fields. */
async function firstDepositTemplate(): Promise<Template> {
  const principal = benchPrincipal(0);
  return await ledgerTemplate(
    newBackend(),
    {
      kind: "funds-deposited",
      txid: "0xtemplate",
      eventIndex: 0,
      blockHeight: 1n,
      blockHash: "0xblock1",
      token: TOKEN,
      amount: 1_000_000n,
      totalBalance: 1_000_000n,
      totalLocked: 0n,
      depositor: principal,
      seq: 1n,
    },
    ["providers", "providerBalances", "balanceLedger", "tierTotalShards"],
  );
}

type ShardSum = { capital: bigint; locked: bigint; providerCount: bigint; activePolicyCount: bigint };

/** A tier's shard sums, filled in as its providers are seeded. */
class ShardSums {
  readonly byShard = new Map<number, ShardSum>();

  of(shard: number): ShardSum {
    const sum = this.byShard.get(shard) ?? { capital: 0n, locked: 0n, providerCount: 0n, activePolicyCount: 0n };
    this.byShard.set(shard, sum);
    return sum;
  }
}

type ProviderSeed = {
  principal: string;
  total: bigint;
  locked: bigint;
  putObligationUsd: bigint;
  callProtectedSats: bigint;
  activeBackings: bigint;
};

type SeedOptions = { activePolicies?: readonly bigint[]; depositLedgerRows: boolean };

/** Provider number `n` of `tier`, as its deposit and allocations left it: its row, its balance, its deposit's ledger row. */
async function insertProvider(
  insert: Insert,
  template: Template,
  seed: { tier: Tier; n: number; now: number; depositLedgerRows: boolean },
  p: ProviderSeed,
): Promise<void> {
  const { tier, n, now } = seed;
  await insert("providers", {
    ...template.providers,
    principal: p.principal,
    tier,
    putObligationUsd: p.putObligationUsd,
    callProtectedSats: p.callProtectedSats,
    activeBackings: p.activeBackings,
    createdAt: now,
  });
  await insert("providerBalances", {
    ...template.providerBalances,
    provider: p.principal,
    token: TOKEN,
    tier,
    shard: shardOf(p.principal),
    allocationKey: spreadKey(n + 1),
    total: p.total,
    locked: p.locked,
    reserved: 0n,
    available: p.total - p.locked,
    accruedYield: 0n,
    updatedAt: now,
  });
  if (seed.depositLedgerRows)
    await insert("balanceLedger", {
      ...template.balanceLedger,
      operationId: `event:0xseed${n}:0:0xseedblock`,
      provider: p.principal,
      token: TOKEN,
      type: "deposit",
      amount: p.total,
      appliedAt: now,
    });
}

/** The tier configurations, the tier's clock at 0, and its shard sums. */
async function insertTierState(t: Backend, template: Template, tier: Tier, sums: ShardSums): Promise<void> {
  await t.run(async (ctx) => {
    await seedDefaultTierConfigs(ctx as unknown as MutationCtx);
    const insert = inserter(ctx);
    await insert("allocationClocks", { tier, token: TOKEN, now: 0 });
    for (const [shard, s] of sums.byShard) {
      await insert("tierTotalShards", {
        ...template.tierTotalShards,
        tier,
        token: TOKEN,
        shard,
        capital: s.capital,
        locked: s.locked,
        reserved: 0n,
        accruedYield: 0n,
        providerCount: s.providerCount,
        activePolicyCount: s.activePolicyCount,
      });
    }
  });
}

/**
 * Providers of one tier with a balance in TOKEN, as deposits and
 * allocations would have left them, plus the tier's shard sums (with
 * `activePolicies` counted in the shards their ids hash to), its clock and
 * the tier configurations. The balances' queue positions are spread over
 * [0, 1): the tier's clock is at 0 and every balance is within one unit of it.
 */
async function seedProviders(
  t: Backend,
  template: Template,
  tier: Tier,
  providers: readonly ProviderSeed[],
  options: SeedOptions,
): Promise<void> {
  const sums = new ShardSums();
  const now = Date.now();
  for (let start = 0; start < providers.length; start += SEED_BATCH) {
    const batch = providers.slice(start, start + SEED_BATCH);
    await t.run(async (ctx) => {
      const insert = inserter(ctx);
      for (const [j, p] of batch.entries()) {
        await insertProvider(insert, template, { tier, n: start + j, now, depositLedgerRows: options.depositLedgerRows }, p);
        const sum = sums.of(shardOf(p.principal));
        sum.capital += p.total;
        sum.locked += p.locked;
        sum.providerCount += 1n;
      }
    });
  }
  for (const policyId of options.activePolicies ?? []) sums.of(policyShardOf(policyId)).activePolicyCount += 1n;
  await insertTierState(t, template, tier, sums);
}

// ---------------------------------------------------------------------------
// 1. Allocation, release and settlement of one policy
// ---------------------------------------------------------------------------

/** Each provider's balance in the allocation measurements: 1,000 STX. */
const PROVIDER_BALANCE = 1_000_000_000n;

/**
 * A Conservative PUT (strike $48,000, 20% below spot) on 0.9375 BTC: $45,000
 * of collateral, 22,500 STX, i.e. 90% of what 25 providers of 1,000 STX
 * hold. So the queue's K first providers must all take part.
 */
const FULL_FANOUT_PUT = {
  buyer: "SP000000000000000000000BENCHBUYER",
  policyType: "PUT" as const,
  protectedAmountSats: 93_750_000n,
  strikePriceUsd: 48_000n * PRICE_SCALE,
  premium: 1_000_000n,
  expiresAtBlock: 1_000n,
  collateralToken: TOKEN,
  prices: PRICES,
};
const POLICY_TIER: Tier = tierForStrike(
  DEFAULT_TIER_CONFIGS,
  FULL_FANOUT_PUT.policyType,
  FULL_FANOUT_PUT.strikePriceUsd,
  PRICES.btcUsd,
);
const K = DEFAULT_TIER_CONFIGS.find((c) => c.tier === POLICY_TIER)!.maxBackersPerPolicy;

type OpKey = "allocation" | "release" | "settlement";
type OpRow = { providers: number; operation: OpKey; backers: number; m: Measured<unknown> };

/**
 * Open health notifications a provider's exposure update clears when their
 * last backing ends (`take(50)` in model/ledger/providers.ts `addExposure`).
 */
const H = 50;

type Bound = { reads: string; writes: string; lookups: string; maxReads: number; maxWrites: number; maxLookups: number };

/**
 * Upper bounds on the counting proxy's figures, from reading the code (the
 * reasons are printed with the results). The H·K terms are the open health
 * notifications of backers whose last backing this was: each read and patched.
 */
const BOUNDS: Record<"allocation" | "release" | "settlement", Bound> = {
  allocation: {
    reads: "(F + 7)·K + S + 4",
    writes: "6·K + 4",
    lookups: "6·K + 7",
    maxReads: (SCAN_FACTOR + 7) * K + TIER_TOTAL_SHARDS + 4,
    maxWrites: 6 * K + 4,
    maxLookups: 6 * K + 7,
  },
  release: {
    reads: "(7 + H)·K + 2",
    writes: "(5 + H)·K + 3",
    lookups: "7·K + 3",
    maxReads: (7 + H) * K + 2,
    maxWrites: (5 + H) * K + 3,
    maxLookups: 7 * K + 3,
  },
  settlement: {
    reads: "(13 + H)·K + 2",
    writes: "(9 + H)·K + 3",
    lookups: "12·K + 4",
    maxReads: (13 + H) * K + 2,
    maxWrites: (9 + H) * K + 3,
    maxLookups: 12 * K + 4,
  },
};
const OPERATIONS = [
  { key: "allocation", label: "allocation (activatePolicy)" },
  { key: "release", label: "release (releasePolicy)" },
  { key: "settlement", label: "settlement (applySettlement, Exercised policy)" },
] as const;
const labelOf = (key: OpKey) => OPERATIONS.find((o) => o.key === key)!.label;

/** `size` providers of PROVIDER_BALANCE in POLICY_TIER, and two full-fan-out policies registered (not yet backed). */
async function poolForOperations(size: number, template: Template): Promise<Backend> {
  const t = newBackend();
  const providers = Array.from({ length: size }, (_, i) => ({
    principal: benchPrincipal(i + 1),
    total: PROVIDER_BALANCE,
    locked: 0n,
    putObligationUsd: 0n,
    callProtectedSats: 0n,
    activeBackings: 0n,
  }));
  await seedProviders(t, template, POLICY_TIER, providers, { depositLedgerRows: true });
  await t.run(async (ctx) => {
    for (const policyId of [1n, 2n]) {
      const policy = await registerPolicy(ctx as unknown as MutationCtx, { ...FULL_FANOUT_PUT, policyId });
      if (policy.tier !== POLICY_TIER) throw new Error(`policy landed in ${policy.tier}, expected ${POLICY_TIER}`);
    }
  });
  return t;
}

async function measureOperationsAt(size: number, template: Template): Promise<OpRow[]> {
  const t = await poolForOperations(size, template);
  const rows: OpRow[] = [];
  const add = (key: OpKey, backers: number, m: Measured<unknown>) =>
    rows.push({ providers: size, operation: key, backers, m });

  const allocation = await measure(t, (ctx) => activatePolicy(ctx, 1n));
  add("allocation", allocation.result.length, allocation);
  const release = await measure(t, (ctx) => releasePolicy(ctx, 1n));
  add("release", allocation.result.length, release);

  // Policy 2: backed, then exercised; its settlement-paid event pays half its collateral.
  const required = requiredCollateral(FULL_FANOUT_PUT, TOKEN, PRICES);
  const backers2 = await t.run(async (ctx) => {
    const allocations = await activatePolicy(ctx as unknown as MutationCtx, 2n);
    await requestSettlement(ctx as unknown as MutationCtx, 2n, required / 2n);
    return allocations.length;
  });
  const settlement = await measure(t, (ctx) =>
    applySettlement(ctx, { operationId: "event:0xbench-settlement:0:0xbenchblock", policyId: 2n, amount: required / 2n }),
  );
  add("settlement", backers2, settlement);
  return rows;
}

async function measureOperations(template: Template): Promise<OpRow[]> {
  const rows: OpRow[] = [];
  for (const size of process.argv.includes("--sweep-only") ? [] : ALLOCATION_SIZES) {
    const t0 = performance.now();
    rows.push(...(await measureOperationsAt(size, template)));
    process.stderr.write(`measured operations at ${fmt(size)} providers in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return rows;
}

// ---------------------------------------------------------------------------
// 2. The expiry sweep
// ---------------------------------------------------------------------------

/** The sweep's policies are the tests' Conservative STX PUT: 0.001 BTC struck at $48,000, 24 STX of collateral. */
const SWEEP_PUT = {
  policyType: "PUT" as const,
  protectedAmountSats: 100_000n,
  strikePriceUsd: 48_000n * PRICE_SCALE,
};
/** Each sweep provider: 1,000 STX, far more than the one backing it has here. */
const SWEEP_PROVIDER_BALANCE = 1_000_000_000n;
const SYNCED_HEIGHT = 10_000n;

type SweepRun = {
  policies: number;
  backers: string;
  backings: number;
  seedSeconds: number;
  transactions: SweepTransaction[];
  seconds: number;
  leftActive: number;
  failedRuns: number;
  /** With limits enforced: why the cron's run failed, if it did. */
  error?: string;
};

type Backing = { provider: number; allocated: bigint; put: bigint; call: bigint };

/**
 * The sweep's backings: policy i's backers are providers firstBacker[i] …
 * firstBacker[i] + backersOf(i) − 1, each with an equal part of its
 * collateral and obligation, split as allocation splits them.
 */
function sweepBackings(count: number, backersOf: (i: number) => number) {
  const required = requiredCollateral(SWEEP_PUT, TOKEN, PRICES);
  const obligation = obligationOf(SWEEP_PUT);
  const firstBacker: number[] = [];
  let backings = 0;
  for (let i = 0; i < count; i++) {
    firstBacker.push(backings);
    backings += backersOf(i);
  }
  const backingsOf = (i: number): Backing[] => {
    const weights = Array.from({ length: backersOf(i) }, () => 1n);
    const parts = splitProportionally(required, weights);
    const puts = splitProportionally(obligation.putObligationUsd, parts);
    const calls = splitProportionally(obligation.callProtectedSats, parts);
    return parts.map((allocated, j) => ({
      provider: firstBacker[i]! + j,
      allocated,
      put: puts[j] ?? 0n,
      call: calls[j] ?? 0n,
    }));
  };
  return { required, backings, backingsOf };
}

/** Every backer as allocation left it: one backing each. */
function sweepProviders(count: number, backingsOf: (i: number) => Backing[]): ProviderSeed[] {
  const providers: ProviderSeed[] = [];
  for (let i = 0; i < count; i++) {
    for (const b of backingsOf(i)) {
      providers.push({
        principal: benchPrincipal(b.provider + 1),
        total: SWEEP_PROVIDER_BALANCE,
        locked: b.allocated,
        putObligationUsd: b.put,
        callProtectedSats: b.call,
        activeBackings: 1n,
      });
    }
  }
  return providers;
}

/** Policy i + 1, Active, and its backing rows. */
async function insertSweepPolicy(insert: Insert, i: number, required: bigint, backings: Backing[], now: number): Promise<void> {
  const policyId = BigInt(i + 1);
  await insert("policies", {
    policyId,
    buyer: FULL_FANOUT_PUT.buyer,
    ...SWEEP_PUT,
    premium: 1_000_000n,
    // 200 per block, rising with the id (so the sweep's pages are the policies in id order), all below the synced height.
    expiresAtBlock: 1_000n + BigInt(Math.floor(i / 200)),
    tier: POLICY_TIER,
    collateralToken: TOKEN,
    requiredCollateral: required,
    status: "Active",
    premiumsReceived: 0n,
    createdAt: now,
    updatedAt: now,
  });
  for (const b of backings) {
    await insert("policyBacking", {
      policyId,
      provider: benchPrincipal(b.provider + 1),
      token: TOKEN,
      tier: POLICY_TIER,
      originalAllocation: b.allocated,
      allocated: b.allocated,
      putObligationUsd: b.put,
      callProtectedSats: b.call,
      active: true,
    });
  }
}

/** `count` Active policies in POLICY_TIER with `backersOf(i)` backers each; returns the backend and how many backings there are. */
async function seedSweep(
  template: Template,
  count: number,
  backersOf: (i: number) => number,
  enforceLimits: boolean,
): Promise<{ t: Backend; backings: number }> {
  const t = newBackend(enforceLimits);
  const { required, backings, backingsOf } = sweepBackings(count, backersOf);
  const policyIds = Array.from({ length: count }, (_, i) => BigInt(i + 1));
  // The deposits' ledger rows are left out here: nothing in the sweep reads them, and they would slow convex-test.
  await seedProviders(t, template, POLICY_TIER, sweepProviders(count, backingsOf), {
    activePolicies: policyIds,
    depositLedgerRows: false,
  });
  const now = Date.now();
  const perBatch = Math.max(1, Math.floor(SEED_BATCH / 2));
  for (let start = 0; start < count; start += perBatch) {
    await t.run(async (ctx) => {
      const insert = inserter(ctx);
      for (let i = start; i < Math.min(count, start + perBatch); i++) await insertSweepPolicy(insert, i, required, backingsOf(i), now);
    });
  }
  return { t, backings };
}

/** BENCH_DEBUG=1: every sweep transaction's figures. */
function logSweepTransactions(transactions: readonly SweepTransaction[]): void {
  for (const tx of transactions)
    process.stderr.write(`    ${tx.expired} ${tx.hasMore} proxy r${tx.counts.docsRead} w${tx.counts.docsWritten} l${tx.counts.lookups} | ct r${tx.metrics.documentsRead} w${tx.metrics.documentsWritten} q${tx.metrics.databaseQueries} ${tx.ms.toFixed(0)}ms ${JSON.stringify([...tx.counts.lookupTables])}\n`);
}

/** After the sweep: whether a policy is still Active, and how many scheduled runs failed. */
async function sweepOutcome(t: Backend): Promise<{ leftActive: number; failedRuns: number }> {
  return await t.run(async (ctx) => {
    const active = await ctx.db
      .query("policies")
      .withIndex("by_status_and_expiry", (q) => q.eq("status", "Active"))
      .take(1);
    const failed = (await ctx.db.system.query("_scheduled_functions").collect()).filter(
      (job) => job.state.kind === "failed",
    );
    return { leftActive: active.length, failedRuns: failed.length };
  });
}

/**
 * `count` Active policies in POLICY_TIER, all expired below SYNCED_HEIGHT,
 * with `backersOf(i)` backers each, then the sweep as the cron runs it.
 *
 * Every backing is its provider's only one: the worst case for the sweep,
 * since each release then empties a provider, whose exposure update also
 * looks up their open health notifications (model/ledger/providers.ts
 * `addExposure`). It also makes every page cost the same at every pool
 * size, whereas with shared providers a page's cost would depend on how
 * many of its backers happen to have their last backing in it.
 */
async function runSweep(
  template: Template,
  count: number,
  backersOf: (i: number) => number,
  label: string,
  enforceLimits = false,
): Promise<SweepRun> {
  const seedStarted = performance.now();
  const { t, backings } = await seedSweep(template, count, backersOf, enforceLimits);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  process.stderr.write(`  seeded ${count.toLocaleString("en-US")} policies (${label}) in ${seedSeconds.toFixed(1)} s\n`);

  // As in production: the event sync records its height, then the cron runs the sweep.
  await t.mutation(internal.vaultEvents.markSyncedThrough, { height: SYNCED_HEIGHT });
  sweepLog = [];
  const started = performance.now();
  try {
    await t.mutation(internal.policies.expirePolicies, {});
  } catch (error) {
    if (!enforceLimits) throw error;
    const seconds = (performance.now() - started) / 1000;
    const message = error instanceof Error ? error.message : String(error);
    return { policies: count, backers: label, backings: 0, seedSeconds, transactions: [], seconds, leftActive: count, failedRuns: 1, error: message };
  }
  // Real timers: the continuation is a setTimeout(0) that fires on its own; nothing to advance.
  // Pages shrink with the fan-out (an index-read budget), so allow one iteration per policy.
  await t.finishAllScheduledFunctions(() => {}, count * 2 + 100);
  const seconds = (performance.now() - started) / 1000;
  const transactions = sweepLog;
  sweepLog = [];
  if (process.env.BENCH_DEBUG) logSweepTransactions(transactions);
  const { leftActive, failedRuns } = await sweepOutcome(t);
  return { policies: count, backers: label, backings, seedSeconds, transactions, seconds, leftActive, failedRuns };
}

/** The fan-out the pool allows: every policy backed by K providers; a full page and its continuation. */
const FULL_FANOUT_POLICIES = EXPIRY_PAGE + EXPIRY_PAGE / 2;

type Sweeps = {
  /** One per size asked for, each policy with 1–3 backers (1 + i mod 3). */
  small: SweepRun[];
  /** FULL_FANOUT_POLICIES with K backers each. */
  fanout: SweepRun;
  /** The same with convex-test enforcing Convex's limits, as a deployment does. */
  enforced: SweepRun;
};

async function runSweeps(template: Template, sweepSizes: readonly number[]): Promise<Sweeps> {
  const oneToThree = (i: number) => 1 + (i % 3);
  const small: SweepRun[] = [];
  for (const count of sweepSizes) {
    process.stderr.write(`sweeping ${fmt(count)} policies with 1–3 backers\n`);
    small.push(await runSweep(template, count, oneToThree, "1–3"));
    const last = small[small.length - 1]!;
    process.stderr.write(`  ${last.transactions.length} transactions in ${last.seconds.toFixed(1)} s\n`);
  }
  process.stderr.write(`sweeping ${FULL_FANOUT_POLICIES} policies with ${K} backers each\n`);
  const fanout = await runSweep(template, FULL_FANOUT_POLICIES, () => K, `${K} (= K)`);
  process.stderr.write(`  ${fanout.transactions.length} transactions in ${fanout.seconds.toFixed(1)} s\n`);
  process.stderr.write(`sweeping ${FULL_FANOUT_POLICIES} policies with ${K} backers each, limits enforced\n`);
  const enforced = await runSweep(template, FULL_FANOUT_POLICIES, () => K, `${K} (= K)`, true);
  return { small, fanout, enforced };
}

// ---------------------------------------------------------------------------
// Reporting: figures
// ---------------------------------------------------------------------------

const fmt = (n: number) => n.toLocaleString("en-US");
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const yesOrNo = (yes: boolean) => (yes ? "yes" : "NO");
const passOrFail = (pass: boolean) => (pass ? "PASS" : "FAIL");

/** The transaction with the most of `key`. */
function largestBy(txs: readonly SweepTransaction[], key: LimitKey): SweepTransaction {
  return txs.reduce((a, b) => (b.metrics[key] > a.metrics[key] ? b : a));
}

function maxOf(txs: readonly SweepTransaction[], key: LimitKey): number {
  return Math.max(...txs.map((tx) => tx.metrics[key]));
}

/** A figure as a share of its limit. */
function ofLimit(used: number, key: LimitKey): string {
  const share = (100 * used) / LIMITS[key];
  return `${key.startsWith("bytes") ? mib(used) : fmt(used)} (${share.toFixed(share < 1 ? 2 : 0)}%)`;
}

function parseSweepSizes(): number[] {
  const arg = process.argv.find((a) => a.startsWith("--sweep="));
  if (!arg) return DEFAULT_SWEEP_SIZES;
  const sizes = arg
    .slice("--sweep=".length)
    .split(",")
    .map((s) => Number(s.replace(/_/g, "")));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`bad ${arg}: expected e.g. --sweep=1000,100000`);
  return sizes;
}

/** The figures of a sweep transaction that must not depend on how many policies there are. */
function fullPageSignature(tx: SweepTransaction): string {
  return [
    tx.expired,
    tx.counts.docsRead,
    tx.counts.docsWritten,
    tx.counts.lookups,
    tx.metrics.documentsRead,
    tx.metrics.documentsWritten,
    tx.metrics.databaseQueries,
  ].join("/");
}

/**
 * The figures of an operation that must not depend on the pool size.
 * Distinct counts are left out: how many of the K backers share one of the S
 * tier-total shards depends on their principals' hashes, not on how many
 * providers the tier has.
 */
function operationSignature(r: OpRow): string {
  return [
    r.backers,
    r.m.counts.docsRead,
    r.m.counts.docsWritten,
    r.m.counts.lookups,
    r.m.metrics.documentsRead,
    r.m.metrics.documentsWritten,
    r.m.metrics.databaseQueries,
  ].join("/");
}

function withinBound(r: OpRow): boolean {
  const b = BOUNDS[r.operation];
  return r.m.counts.docsRead <= b.maxReads && r.m.counts.docsWritten <= b.maxWrites && r.m.counts.lookups <= b.maxLookups;
}

/** Per operation: whether its figures are the same at every pool size measured. */
function sameAtEverySize(rows: readonly OpRow[]): Map<OpKey, boolean> {
  return new Map(
    OPERATIONS.map(({ key }) => {
      const ofOp = rows.filter((r) => r.operation === key);
      return [key, ofOp.every((r) => operationSignature(r) === operationSignature(ofOp[0]!))];
    }),
  );
}

/**
 * The full pages of every 1–3 sweep, page by page, compared across sizes:
 * page j starts at policy index 50j, and 50 ≡ 2 (mod 3), so its backer
 * counts (1 + i mod 3) follow j mod 3 at every size.
 */
function fullPagesIdentical(small: readonly SweepRun[]): boolean {
  const pageSignatures = new Map<number, Set<string>>();
  for (const s of small) {
    s.transactions.forEach((tx, j) => {
      // The last page reads one due policy fewer (there is no 51st): only pages that continue are compared.
      if (tx.expired !== EXPIRY_PAGE || !tx.hasMore) return;
      const set = pageSignatures.get(j % 3) ?? new Set<string>();
      set.add(fullPageSignature(tx));
      pageSignatures.set(j % 3, set);
    });
  }
  return small.length > 1 && [...pageSignatures.values()].every((set) => set.size === 1);
}

const expectedTransactions = (n: number) => Math.max(1, Math.ceil(n / EXPIRY_PAGE));
const secondsPerTransaction = (s: SweepRun) => s.seconds / Math.max(1, s.transactions.length);
/** The largest of `key` over every transaction of the 1–3 sweeps. */
const maxSmall = (small: readonly SweepRun[], key: LimitKey) => Math.max(...small.map((s) => maxOf(s.transactions, key)));


// ---------------------------------------------------------------------------
// Reporting: 1. per operation
// ---------------------------------------------------------------------------

const largestSize = ALLOCATION_SIZES[ALLOCATION_SIZES.length - 1]!;

function operationsTable(rows: readonly OpRow[], same: ReadonlyMap<OpKey, boolean>) {
  const header = [
    "Providers in tier",
    "Operation",
    "Backers",
    "Docs read (distinct)",
    "Docs written (distinct)",
    "Lookups",
    "Scanned / written / index ranges (convex-test)",
    "Bound read / written / lookups",
    "Within bound",
    "Same at both sizes",
  ];
  const body = rows.map((r) => {
    const b = BOUNDS[r.operation];
    return [
      fmt(r.providers),
      labelOf(r.operation),
      String(r.backers),
      `${r.m.counts.docsRead} (${r.m.counts.readIds.size})`,
      `${r.m.counts.docsWritten} (${r.m.counts.writtenIds.size})`,
      String(r.m.counts.lookups),
      `${r.m.metrics.documentsRead} / ${r.m.metrics.documentsWritten} / ${r.m.metrics.databaseQueries}`,
      `${fmt(b.maxReads)} / ${fmt(b.maxWrites)} / ${fmt(b.maxLookups)}`,
      yesOrNo(withinBound(r)),
      yesOrNo(same.get(r.operation) === true),
    ];
  });
  return { header, body };
}

/** At the largest pool size, which tables each operation read and wrote. */
function operationTablesTable(rows: readonly OpRow[]) {
  const body = rows
    .filter((r) => r.providers === largestSize)
    .map((r) => [labelOf(r.operation), tablesOf(r.m.counts.readTables), tablesOf(r.m.counts.writtenTables)]);
  return { header: ["Operation", "Tables read (docs)", "Tables written (docs)"], body };
}

/** Where each bound comes from, in the code. */
function boundLines(): string[] {
  const a = BOUNDS.allocation;
  const rl = BOUNDS.release;
  const st = BOUNDS.settlement;
  return [
    `K = maxBackersPerPolicy = ${K} (the ${POLICY_TIER} tier's default), F = SCAN_FACTOR = ${SCAN_FACTOR} (model/policies/allocation.ts), ` +
      `S = TIER_TOTAL_SHARDS = ${TIER_TOTAL_SHARDS} (model/ledger/tierTotals.ts), H = ${H} (open health notifications cleared per provider, model/ledger/providers.ts). ` +
      "Bounds on the counting proxy's figures, from the code (per backer, `applyBalanceChange` reads ≤ 4: its ledger operation, the balance, the provider, the shard, and never the clock; and writes 3: balance, shard, ledger row; the bounds below still count a fifth read, so they hold with room):",
    `- allocation: read ≤ ${a.reads} = ${fmt(a.maxReads)}: policy, tier config, the clock, the queue window (≤ F·K), the fallback (≤ K largest), ≤ S shard sums only to explain a refusal; ` +
      `per backer 5 + the provider's exposure; the policy's active-count shard. ` +
      `Written ≤ ${a.writes} = ${fmt(a.maxWrites)}: per backer its queue key, 3 ledger writes, the backing row, the exposure; plus clock, policy, active-count shard, vault operation. ` +
      `Lookups ≤ ${a.lookups} = ${fmt(a.maxLookups)}.`,
    `- release: read ≤ ${rl.reads} = ${fmt(rl.maxReads)} (${7 * K + 2} with no open notifications): policy, ≤ K backing rows, per backer 5 + the exposure (+ ≤ H notifications ` +
      `if it was the provider's last backing), active-count shard. Written ≤ ${rl.writes} = ${fmt(rl.maxWrites)} (${5 * K + 3}): per backer 3 ledger writes, exposure, backing row ` +
      `(+ ≤ H notifications); plus policy, shard, vault operation. Lookups ≤ ${rl.lookups} = ${fmt(rl.maxLookups)}.`,
    `- settlement: read ≤ ${st.reads} = ${fmt(st.maxReads)} (${13 * K + 2} with no open notifications): the backing rows are read twice, once to debit (5 per backer) ` +
      `and once to release (6 per backer + notifications). Written ≤ ${st.writes} = ${fmt(st.maxWrites)} (${9 * K + 3}): debit 4 per backer, release 5 per backer ` +
      `(+ notifications), plus 3. Lookups ≤ ${st.lookups} = ${fmt(st.maxLookups)}.`,
    "- A policy has at most the K its allocation used: allocation writes ≤ K backing rows, and every later read of them is `take(MAX_BACKERS_READ = 100)` by policy id. " +
      "No open notifications exist in these runs; every release empties its backer (each had this one backing), so the notification lookup is always made.",
    "- Distinct documents can differ by one or two between sizes: which of the K backers share a tier-total shard depends on their principals, not on the pool size. " +
      "The \"same\" check compares the totals, the lookups and convex-test's figures.",
  ];
}

/** Part 1 of the report: prints it and returns its Markdown. */
function reportOperations(rows: readonly OpRow[], same: ReadonlyMap<OpKey, boolean>): string[] {
  const ops = operationsTable(rows, same);
  const tables = operationTablesTable(rows);
  const bounds = boundLines();
  const opsPass = rows.every(withinBound) && [...same.values()].every(Boolean);
  const allFullFanout = rows.every((r) => r.backers === K);
  console.log(`\n1. Per operation, at ${ALLOCATION_SIZES.map(fmt).join(" and ")} providers in the policy's tier (${POLICY_TIER}, ${TOKEN})\n`);
  console.log(textTable(ops.header, ops.body));
  console.log(`\nAt ${fmt(largestSize)} providers, by table:\n`);
  console.log(textTable(tables.header, tables.body));
  console.log(`\n${bounds.join("\n")}`);
  console.log(
    `\nEvery policy used the full fan-out (K = ${K} backers): ${yesOrNo(allFullFanout)}.` +
      `\nGoal (bounded by K, not by provider count): the same at both sizes and within the bound: ${passOrFail(opsPass)}`,
  );
  return [
    `### 1. Per operation, at ${ALLOCATION_SIZES.map(fmt).join(" and ")} providers in the policy's tier`,
    "",
    `All providers in ${POLICY_TIER} with 1,000 STX each; the policy (a PUT needing 22,500 STX) takes ~90% of what the first K = ${K} in the queue hold, ` +
      "so every operation is at the full fan-out. Settlement: `applySettlement` for the settlement-paid event of an Exercised policy, paying half its collateral.",
    "",
    "- **Docs read / written**: the counting proxy on `ctx.db` (documents returned by `get` / `collect` / `take` / `first` / `unique` / `paginate` / iteration; `insert` / `patch` / `replace` / `delete` calls). In brackets: distinct documents.",
    "- **Lookups**: `db.get` calls and queries started.",
    "- **Scanned / written / index ranges**: convex-test's transaction metrics, which count what Convex's limits count (a `patch` also scans the document it patches).",
    "",
    mdTable(ops.header, ops.body),
    "",
    `At ${fmt(largestSize)} providers, by table:`,
    "",
    mdTable(tables.header, tables.body),
    "",
    ...bounds,
    "",
    `Every policy used the full fan-out (K = ${K} backers): **${yesOrNo(allFullFanout)}**. ` +
      `Goal (bounded by K, not by provider count): same at both sizes and within the bound: **${passOrFail(opsPass)}**.`,
    "",
  ];
}

// ---------------------------------------------------------------------------
// Reporting: 2. the expiry sweep
// ---------------------------------------------------------------------------

function sweepsTable(sweeps: readonly SweepRun[]) {
  const header = [
    "Active policies",
    "Backers per policy",
    "Providers",
    "Transactions",
    "Largest: docs scanned",
    "Largest: docs written",
    "Largest: index ranges",
    "Largest: data read / written",
    "Largest: docs read / written (proxy)",
    "Total time (convex-test)",
    "All expired",
  ];
  const body = sweeps.map((s) => {
    const txs = s.transactions;
    const largestRead = largestBy(txs, "documentsRead");
    return [
      fmt(s.policies),
      s.backers,
      fmt(s.backings),
      fmt(txs.length),
      ofLimit(maxOf(txs, "documentsRead"), "documentsRead"),
      ofLimit(maxOf(txs, "documentsWritten"), "documentsWritten"),
      ofLimit(maxOf(txs, "databaseQueries"), "databaseQueries"),
      `${mib(maxOf(txs, "bytesRead"))} / ${mib(maxOf(txs, "bytesWritten"))}`,
      `${fmt(largestRead.counts.docsRead)} / ${fmt(largestRead.counts.docsWritten)}`,
      `${s.seconds.toFixed(1)} s`,
      s.leftActive === 0 && s.failedRuns === 0
        ? "yes"
        : `NO (${[s.leftActive ? "some left Active" : "", s.failedRuns ? `${s.failedRuns} failed runs` : ""].filter(Boolean).join(", ")})`,
    ];
  });
  return { header, body };
}

/** What the measured sizes say about TARGET_SWEEP policies, unless that size was measured. */
function extrapolation(small: readonly SweepRun[]): string[] {
  if (small.some((s) => s.policies === TARGET_SWEEP)) return [`${fmt(TARGET_SWEEP)} policies were measured directly (row above).`];
  const bySize = [...small].sort((x, y) => x.policies - y.policies);
  const smallest = bySize[0]!;
  const largestMeasured = bySize[bySize.length - 1]!;
  const countsMatch = small.every((s) => s.transactions.length === expectedTransactions(s.policies));
  const perTxIndependent = fullPagesIdentical(small);
  const sizesText = bySize.map((s) => fmt(s.policies)).join(" and ");
  // convex-test's time per transaction grows with the number of documents (every query scans its whole
  // table); a straight line through the two measured sizes gives a rough figure for the target.
  const slope =
    largestMeasured.policies > smallest.policies
      ? (secondsPerTransaction(largestMeasured) - secondsPerTransaction(smallest)) / (largestMeasured.policies - smallest.policies)
      : 0;
  const targetHours =
    (expectedTransactions(TARGET_SWEEP) * (secondsPerTransaction(largestMeasured) + slope * (TARGET_SWEEP - largestMeasured.policies))) / 3600;
  return [
    `${fmt(TARGET_SWEEP)} policies: not measured. convex-test scans a whole table on every query, so its time per transaction grows with the pool: ` +
      bySize.map((s) => `${(secondsPerTransaction(s) * 1000).toFixed(0)} ms at ${fmt(s.policies)} policies`).join(", ") +
      (slope > 0 ? `; a straight line through these puts ${fmt(TARGET_SWEEP)} at roughly ${targetHours.toFixed(0)} h of convex-test time` : "") +
      ` (\`--sweep=${TARGET_SWEEP}\` runs it). Extrapolated from the measured sizes:`,
    `- transactions: ⌈N / ${EXPIRY_PAGE}⌉ = ${fmt(expectedTransactions(TARGET_SWEEP))} ` +
      `(the page size is fixed; the measured counts ${countsMatch ? "equal" : "DO NOT equal"} ⌈N / ${EXPIRY_PAGE}⌉ at ${sizesText});`,
    `- largest transaction: a full page, the same at every size ` +
      `(full pages identical at ${sizesText}: ${perTxIndependent ? "yes" : small.length > 1 ? "NO" : "only one size measured"}): ` +
      `${fmt(maxSmall(small, "documentsRead"))} documents scanned, ${fmt(maxSmall(small, "documentsWritten"))} written, ${fmt(maxSmall(small, "databaseQueries"))} index ranges;`,
    "- time: convex-test's time is its own full-table scans, not Convex's, and says nothing about production; what does not change is that the " +
      `${fmt(expectedTransactions(TARGET_SWEEP))} transactions run one after another (each schedules the next), ${EXPIRY_PAGE} policies at a time.`,
  ];
}

/** The largest sweep transaction, 1–3 backers and K backers, against each limit. */
function limitsTable({ small, fanout }: Sweeps) {
  const body = LIMIT_KEYS.map((key) => {
    const largestSmall = maxSmall(small, key);
    const largestFanout = maxOf(fanout.transactions, key);
    return [
      LIMIT_NAMES[key],
      key.startsWith("bytes") ? mib(LIMITS[key]) : fmt(LIMITS[key]),
      `${ofLimit(largestSmall, key)} ${largestSmall <= LIMITS[key] ? "ok" : "OVER"}`,
      `${ofLimit(largestFanout, key)} ${largestFanout <= LIMITS[key] ? "ok" : "OVER"}`,
    ];
  });
  return { header: ["Limit (per transaction)", "Convex", "Largest sweep txn, 1–3 backers", `Largest sweep txn, ${K} backers`], body };
}

function limitsSource(): string {
  return (
    'Limits: docs.convex.dev/production/state/limits ("Transactions"), as convex-test 0.0.60 enforces them ' +
    "(`DEFAULT_TRANSACTION_LIMITS` in node_modules/convex-test/dist/transactionMetrics.js): " +
    "32,000 documents scanned, 16,000 documents written, 4,096 index ranges, 16 MiB read, 16 MiB written, 1,000 functions scheduled. " +
    (limitMismatches.length === 0
      ? "Checked at run time: convex-test's used + remaining equals each of them."
      : `convex-test reports different limits: ${limitMismatches.join("; ")}.`)
  );
}

const SWEEP_NOTES = [
  `Seeded directly, in ${POLICY_TIER}: each policy a 24 STX PUT with 1–3 backers (1 + i mod 3, 2 on average, to keep seeding fast) or, in the last row, ` +
    "K backers. Every backing is its provider's only one (so Providers = backings): the worst case, since every release then empties a provider, " +
    "whose exposure update also looks up their open health notifications; none are open here (each would add a read and a write, ≤ 50 per provider).",
  `Expiries rise with the policy id, 200 per block, all below the synced height, so page j holds policies 50j + 1 … 50j + 50 at every size. ` +
    "One `markSyncedThrough` transaction precedes each sweep and is not counted.",
  "Transactions: the cron's run plus every continuation the scheduler ran. The largest transaction's figures are convex-test's transaction metrics " +
    "(documents scanned includes the document each `patch` reads); the proxy's are for the transaction that scanned most.",
];

/** Why a page of K-backer policies goes over the index-range limit: the figures of the fan-out sweep's full page. */
function fanoutNote(fanout: SweepRun): string {
  const fanoutPage = fanout.transactions.find((tx) => tx.expired === EXPIRY_PAGE);
  // Two lookups per page (the synced height, the due policies), then per policy: itself, its backing rows,
  // its active-count shard, and per backer the exposure, the notifications and 5 in applyBalanceChange.
  const measuredPerPolicy = fanoutPage ? (fanoutPage.metrics.databaseQueries - 2) / EXPIRY_PAGE : NaN;
  const fitting = (k: number) => Math.floor((LIMITS.databaseQueries - 2) / (3 + 7 * k));
  return (
    `With K = ${K} backers per policy a page of ${EXPIRY_PAGE} policies reads ${fanoutPage ? fmt(fanoutPage.metrics.databaseQueries) : "?"} index ranges ` +
    `(${Number.isFinite(measuredPerPolicy) ? measuredPerPolicy.toFixed(0) : "?"} per policy = 3 + 7·K), ` +
    `so a page fits the ${fmt(LIMITS.databaseQueries)} limit only up to ⌊(${fmt(LIMITS.databaseQueries)} − 2) / (3 + 7·K)⌋ = ` +
    `${fitting(K)} policies at K = ${K} (${fitting(100)} at the largest K a tier may configure, 100). ` +
    "In production such a page fails as a whole and the next cron run takes the same page again, so expiry stalls at the first page whose policies have this fan-out."
  );
}

function enforcedLine(enforced: SweepRun): string {
  return (
    `With convex-test enforcing the limits (\`transactionLimits: true\`), the cron's run over ${FULL_FANOUT_POLICIES} policies with ${K} backers each ` +
    (enforced.error
      ? `fails: "${enforced.error.split("\n")[0]}"`
      : `succeeds (${enforced.transactions.length} transactions, ${enforced.leftActive === 0 ? "all expired" : "some left Active"}).`)
  );
}

/** Part 2 of the report: prints it and returns its Markdown. */
function reportSweeps(sweeps: Sweeps): string[] {
  const { small, fanout, enforced } = sweeps;
  const table = sweepsTable([...small, fanout]);
  const extrapolated = extrapolation(small);
  const limits = limitsTable(sweeps);
  const smallWithin = LIMIT_KEYS.every((key) => maxSmall(small, key) <= LIMITS[key]);
  const fanoutWithin = LIMIT_KEYS.every((key) => maxOf(fanout.transactions, key) <= LIMITS[key]);
  console.log(`\n2. The expiry sweep (internal.policies.expirePolicies, pages of ${EXPIRY_PAGE}, continued by the scheduler)\n`);
  console.log(textTable(table.header, table.body));
  console.log(`\n${SWEEP_NOTES.join("\n")}`);
  console.log(`\n${extrapolated.join("\n")}`);
  console.log(`\n${textTable(limits.header, limits.body)}`);
  console.log(`\n${limitsSource()}`);
  console.log(
    `\nGoal (every sweep transaction within Convex's limits): 1–3 backers: ${passOrFail(smallWithin)}; ` +
      `${K} backers (the default fan-out): ${passOrFail(fanoutWithin)}`,
  );
  if (!fanoutWithin) console.log(fanoutNote(fanout));
  console.log(enforcedLine(enforced));
  return [
    "### 2. The expiry sweep",
    "",
    "`internal.policies.expirePolicies` as the cron runs it, after `internal.vaultEvents.markSyncedThrough`, continued by the scheduler " +
      `(\`t.finishAllScheduledFunctions\`); pages of ${EXPIRY_PAGE}.`,
    "",
    ...SWEEP_NOTES.map((n) => `- ${n}`),
    "",
    mdTable(table.header, table.body),
    "",
    ...extrapolated,
    "",
    mdTable(limits.header, limits.body),
    "",
    limitsSource(),
    "",
    `Goal (every sweep transaction within Convex's limits): 1–3 backers: **${passOrFail(smallWithin)}**; ` +
      `${K} backers (the default fan-out): **${passOrFail(fanoutWithin)}**.` +
      (fanoutWithin ? "" : ` ${fanoutNote(fanout)}`),
    "",
    enforcedLine(enforced),
    "",
  ];
}

// ---------------------------------------------------------------------------
// The combined table's rows (`npm run bench`)
// ---------------------------------------------------------------------------

/** Documents per allocation, release and settlement at the full fan-out, and whether they stay bounded and the same at both pool sizes. */
function operationSummaryRows(operations: readonly OpRow[], same: ReadonlyMap<OpKey, boolean>): SummaryRowInput[] {
  return OPERATIONS.flatMap(({ key, label }): SummaryRowInput[] => {
    const ofOp = operations.filter((r) => r.operation === key);
    const first = ofOp[0];
    if (!first) return [];
    const sameEverywhere = same.get(key) === true;
    const docs = (r: OpRow) => `${fmt(r.m.counts.docsRead)} / ${fmt(r.m.counts.docsWritten)}`;
    return [
      {
        area: label,
        measure: `docs read / written with ${first.backers} backers, at ${ofOp.map((r) => fmt(r.providers)).join(" · ")} providers`,
        value: sameEverywhere ? `${docs(first)} at each size` : ofOp.map((r) => `${docs(r)} at ${fmt(r.providers)}`).join(" · "),
        goal: `≤ ${fmt(BOUNDS[key].maxReads)} / ${fmt(BOUNDS[key].maxWrites)} (bounded by K = ${K}), same at every size`,
        verdict: verdictOf(sameEverywhere && ofOp.every(withinBound)),
      },
    ];
  });
}

/** The largest expiry-sweep transaction against Convex's limits: one row for the 1–3 backer sweeps, one for the K-backer sweep. */
function sweepSummaryRows({ small, fanout }: Sweeps): SummaryRowInput[] {
  const bySize = [...small].sort((x, y) => x.policies - y.policies);
  const sweeps = [
    { label: `${bySize.map((x) => fmt(x.policies)).join(" · ")} policies × 1–3 backers`, transactions: small.flatMap((x) => x.transactions) },
    { label: `${fmt(fanout.policies)} policies × ${K} backers (= K)`, transactions: fanout.transactions },
  ];
  return sweeps
    .filter((sweep) => sweep.transactions.length > 0)
    .map((sweep): SummaryRowInput => {
      const largest = (key: LimitKey) => maxOf(sweep.transactions, key);
      const worstShare = Math.max(...LIMIT_KEYS.map((key) => largest(key) / LIMITS[key]));
      return {
        area: `expiry sweep, ${sweep.label}`,
        measure: "largest transaction: docs scanned / written / index ranges",
        value:
          `${fmt(largest("documentsRead"))} / ${fmt(largest("documentsWritten"))} / ${fmt(largest("databaseQueries"))} ` +
          `(≤ ${Math.ceil(100 * worstShare)}% of any limit)`,
        goal: "within Convex's per-transaction limits",
        verdict: verdictOf(LIMIT_KEYS.every((key) => largest(key) <= LIMITS[key])),
      };
    });
}

/** The sweep with the limits enforced. */
function enforcedSummaryRow(enforced: SweepRun): SummaryRowInput {
  return {
    area: `expiry sweep, ${fmt(enforced.policies)} policies × ${enforced.backers} backers`,
    measure: "the cron's run with convex-test enforcing Convex's limits",
    value: enforced.error
      ? `fails: ${enforced.error.split("\n")[0]}`
      : `${fmt(enforced.transactions.length)} transactions, ${enforced.leftActive === 0 ? "all expired" : "some left Active"}`,
    goal: "succeeds, every policy expired",
    verdict: verdictOf(!enforced.error && enforced.leftActive === 0 && enforced.failedRuns === 0),
  };
}

function writeCollateralSummary(operations: readonly OpRow[], same: ReadonlyMap<OpKey, boolean>, sweeps: Sweeps): void {
  writeSummary({
    bench: "collateral-costs",
    title: "Convex documents per allocation, release and settlement; the expiry sweep against Convex's limits",
    command: `npm run bench:collateral${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    notes: [`Allocation at the full fan-out: K = ${K} backers (the ${POLICY_TIER} tier's maxBackersPerPolicy).`],
    rows: [...operationSummaryRows(operations, same), ...sweepSummaryRows(sweeps), enforcedSummaryRow(sweeps.enforced)],
  });
}

function reportHeader(): string[] {
  const sweepArg = process.argv.find((a) => a.startsWith("--sweep="));
  return [
    "## Convex collateral costs",
    "",
    "_Generated by `npx tsx bench/collateral-costs.ts" +
      (sweepArg ? ` ${sweepArg}` : "") +
      "`. convex-test 0.0.60 (the in-memory Convex runtime) with the real schema._",
    "",
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  checkConvexTestSource();
  const sweepSizes = parseSweepSizes();
  const template = await firstDepositTemplate();

  const operations = await measureOperations(template);
  const same = sameAtEverySize(operations);
  const operationsMd = reportOperations(operations, same);

  const sweeps = await runSweeps(template, sweepSizes);
  const sweepsMd = reportSweeps(sweeps);

  writeReport("collateral-costs.md", [...reportHeader(), ...operationsMd, ...sweepsMd].join("\n"));
  writeCollateralSummary(operations, same, sweeps);
  console.log(`\nWritten to bench/results/collateral-costs.md (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

await main();
