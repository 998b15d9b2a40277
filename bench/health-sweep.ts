/**
 * The collateral health sweep at scale: 10,000 providers backing 100,000
 * active policies, swept exactly as the cron does (the `internal.health.sweep`
 * action with cursor null, then every page the scheduler continues with),
 * four times: the first sweep after allocation, a steady state (a quiet hour
 * later), the next sweep at the same prices, and after a BTC crash.
 *
 *   npx tsx bench/health-sweep.ts                 # measures 500 and 2,000 providers, predicts 10,000
 *   npx tsx bench/health-sweep.ts 1000,10000      # measures these sizes (10,000: 40 to 50 minutes of CPU, by the N² estimate)
 *
 * docs/architecture.md, "Scale": no function reads or writes an unbounded number of
 * documents; sweeps are paginated and continue through the scheduler. The
 * goal checked here: every transaction of every sweep, queries included
 * (they have the same read limits as mutations), stays within a quarter of
 * each Convex per-transaction limit, no page fails, and every provider with
 * active backing is checked.
 *
 * What a page is (convex/health.ts). Each page is one run of the `sweep`
 * action, which runs up to two transactions:
 * - `internal.health.sweepPage`, an internal query: the two prices
 *   (`currentPrices`), one page of up to HEALTH_PAGE_SIZE providers
 *   (`by_active_backings`) and per provider `readProviderHealth` (its tier
 *   config and balance rows); it returns the providers whose status or ratio
 *   would change (`healthChanged`). A query takes no part in Convex's write
 *   conflicts, so this part never conflicts with allocations or deposits.
 * - `internal.health.recordPage`, an internal mutation, only when that list
 *   is non-empty or on the first page (which resolves an open
 *   `health-sweep-skipped` alert): the prices again, then per listed provider
 *   `ctx.db.get` and `checkProviderHealth` (tier config and balances read
 *   again, then the patch, a notification insert or the clearing of open
 *   ones).
 * The action then schedules the next page (the same action): that is the
 * action's doing, in neither transaction. So a page's figures are its query's
 * reads and, when it ran, its mutation's reads and writes; and per sweep, how
 * many pages needed a mutation at all: at unchanged prices only the first;
 * after a move that shifts some ratios by RATIO_REWRITE_BPS or more (the
 * steady state here, a crash) every page that holds such a provider.
 *
 * How it counts. The backend is convex-test (the in-memory Convex runtime the
 * tests use) with the real schema and functions, created with
 * `transactionLimits: true` so that it enforces Convex's per-transaction
 * limits and throws on a breach as a deployment would. The module map handed
 * to convex-test wraps three registered functions of convex/health.ts by
 * their `_handler`, which is what convex-test calls (queries, mutations and
 * actions all have one):
 * - `sweep` (the action): the wrapper opens a page record (an
 *   AsyncLocalStorage carries it into the query and mutation the action
 *   runs), runs the unchanged handler and keeps the page's result and local
 *   time;
 * - `sweepPage` and `recordPage`: each wrapper runs the unchanged handler,
 *   then reads its transaction's meter (`ctx.meta.getTransactionMetrics()`,
 *   Convex's public API for a transaction's usage and headroom) and files it
 *   under the page. convex-test 0.0.60 keeps that meter for a query as for a
 *   mutation (a query or mutation run from an action is a transaction of its
 *   own, with its own meter and limits), so no counting proxy on `ctx.db` is
 *   needed.
 * convex-test counts a `ctx.db.get` as one index range and one read, and a
 * patch as a read of the document plus a write (conservative: on Convex the
 * document is already in the read set). HEALTH_WEBHOOK_URL is unset for the
 * run, so no notification delivery is scheduled.
 *
 * Why 10,000 is predicted by default. convex-test answers every index query
 * by walking every document in the database, so a sweep costs it
 * O(providers²): at 10,000 providers the four sweeps would take 40 to 50
 * minutes of CPU (the report's estimate; 500 and 2,000 take about two
 * minutes together, on 2 cores). The bench therefore measures two smaller
 * pools and replays the same sweeps on the 10,000-provider pool with a cost
 * model of the sweep's code (`predict`), the query and the mutation of each
 * page apart, which must equal the measurement on every page of every
 * measured sweep (each transaction's documents read and written, index
 * ranges, functions scheduled; which providers the query lists; whether the
 * mutation ran); otherwise the run FAILs.
 *
 * What is seeded, in batches, by direct inserts (the ledger and allocation
 * would take hours in convex-test): tier configs (through
 * `internal.tierConfigs.seedDefaults`), and per provider the `providers` row
 * with the exposure allocation keeps in it (putObligationUsd,
 * callProtectedSats, activeBackings) and a `providerBalances` row per token
 * held (total, locked, available). The exposure is that of 10 policies per
 * provider (100,000 for 10,000 providers), each of 1 to 10 backers of its
 * tier, its collateral and obligation split among them with the functions
 * allocation uses (`requiredCollateral`, `obligationOf`,
 * `splitProportionally`). The policies and policyBacking rows themselves are
 * not inserted: the sweep never reads them, and in convex-test every query
 * walks every document, so 600,000 unread rows would only slow the local run
 * without changing a count.
 *
 * Prices go in through `internal.oracle.recordPrices`, as the oracle writes
 * them. ORACLE_MAX_AGE_MS is set to an hour for the run: a local sweep takes
 * minutes, and with the default two minutes its last pages would find the
 * price stale (on Convex a page takes milliseconds).
 *
 * Results are printed and written to bench/results/health-sweep.md and
 * bench/results/health-sweep.summary.json (for `npm run bench`).
 */
import { AsyncLocalStorage } from "node:async_hooks";

import { convexTest } from "convex-test";

import { internal } from "../convex/_generated/api";
import type { Doc } from "../convex/_generated/dataModel";
import type { ActionCtx, MutationCtx, QueryCtx } from "../convex/_generated/server";
import { HEALTH_PAGE_SIZE } from "../convex/health";
import { collateralRatioBps, statusFor } from "../convex/domain/health";
import { RATIO_REWRITE_BPS } from "../convex/model/risk/healthChecks";
import { splitProportionally } from "../convex/domain/money";
import { obligationOf } from "../convex/model/policies/policies";
import { PRICE_SCALE, requiredCollateral, type Prices } from "../convex/domain/policyMath";
import { DEFAULT_TIER_CONFIGS } from "../convex/model/policies/tierConfigs";
import { shardOf } from "../convex/model/ledger/tierTotals";
import schema from "../convex/schema";
import { TIERS, type HealthStatus, type Tier, type Token } from "../convex/validators";
import { convexModules, type ModuleMap } from "../simulation/convexModules";
import { LIMIT_KEYS, LIMITS, transactionUsage, type LimitKey, type PerLimit } from "./support/convexLimits";
import { mdTable, textTable, writeReport } from "./support/report";
import { benchPrincipal, spreadKey } from "./support/seeding";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

/** The target size (predicted unless measured), and the sizes measured by default (see above). */
const TARGET_PROVIDERS = 10_000;
const DEFAULT_SIZES = [500, 2_000];
const POLICIES_PER_PROVIDER = 10;
const MAX_BACKERS_SEEDED = 10;
const SEED_BATCH = 1_000;
const USD = PRICE_SCALE;

/** "A wide margin": every transaction within a quarter of every limit (support/convexLimits.ts). */
const MARGIN = 4;

const CALM: Prices = { btcUsd: 67_000n * USD, stxUsd: 185_000_000n }; // $67,000 and $1.85
const CALM_LATER: Prices = { btcUsd: 67_350n * USD, stxUsd: 185_500_000n }; // a quiet hour later
const CRASH: Prices = { btcUsd: 40_200n * USD, stxUsd: 185_500_000n }; // BTC −40%

// ---------------------------------------------------------------------------
// convex-test outside vitest, with the sweep's action, query and mutation instrumented
// ---------------------------------------------------------------------------

/** What `sweep` (the action), `sweepPage` (the query) and `recordPage` (the mutation) return. */
type SweepResult = { checked: number; changed: number; done: boolean; pricesAvailable: boolean };
type SweepPageResult =
  | { pricesAvailable: false; reason: string }
  | { pricesAvailable: true; checked: number; changes: string[]; continueCursor: string; isDone: boolean };
type RecordPageResult = { changed: number; pricesAvailable: boolean };

/** One transaction: its result (null when it threw) and its meter at its end. */
type Metered<R> = { result: R | null; error: string | null; used: PerLimit };

/** One page: one run of the `sweep` action, with its query and, when it ran, its mutation. */
type PageRun = {
  result: SweepResult | null;
  error: string | null;
  ms: number;
  query: Metered<SweepPageResult> | null;
  mutation: Metered<RecordPageResult> | null;
};

/** Every page since the last reset, in the order they started. */
let pages: PageRun[] = [];

/** The page the running action opened: its query and mutation are filed under it. */
const currentPage = new AsyncLocalStorage<PageRun>();

type Handler<C, R> = (ctx: C, args: unknown) => Promise<R>;

/** `registered` (a registered Convex function) with its `_handler` replaced by `wrap(the original)`. */
function withHandler<C, R>(registered: unknown, wrap: (original: Handler<C, R>) => Handler<C, R>): unknown {
  const handler = wrap((registered as { _handler: Handler<C, R> })._handler);
  return Object.assign((ctx: C, args: unknown) => handler(ctx, args), registered, { _handler: handler });
}

/** The `sweep` action, opening a page record around each run. */
function pageOpening(sweep: unknown): unknown {
  return withHandler<ActionCtx, SweepResult>(sweep, (original) => async (ctx, args) => {
    const page: PageRun = { result: null, error: null, ms: 0, query: null, mutation: null };
    pages.push(page);
    const started = performance.now();
    try {
      page.result = await currentPage.run(page, () => original(ctx, args));
      return page.result;
    } catch (error) {
      page.error = String(error);
      throw error;
    } finally {
      page.ms = performance.now() - started;
    }
  });
}

/** A query or mutation of the page, filing its result and its transaction's meter under the page that ran it. */
function metered<R>(registered: unknown, name: string, file: (page: PageRun, figures: Metered<R>) => void): unknown {
  return withHandler<QueryCtx, R>(registered, (original) => async (ctx, args) => {
    const page = currentPage.getStore();
    if (!page) throw new Error(`health.${name} ran outside a page of the sweep action`);
    const meter = async (): Promise<PerLimit> => (await transactionUsage(ctx)).used;
    try {
      const result = await original(ctx, args);
      file(page, { result, error: null, used: await meter() });
      return result;
    } catch (error) {
      file(page, { result: null, error: String(error), used: await meter() });
      throw error;
    }
  });
}

/** The convex modules, with `health.sweep`, `health.sweepPage` and `health.recordPage` instrumented. */
function withInstrumentedSweep(modules: ModuleMap): ModuleMap {
  const real = modules["./convex/health.ts"];
  if (!real) throw new Error("convex/health.ts not found");
  modules["./convex/health.ts"] = async () => {
    const module = (await real()) as Record<string, unknown>;
    return {
      ...module,
      sweep: pageOpening(module.sweep),
      sweepPage: metered<SweepPageResult>(module.sweepPage, "sweepPage", (page, figures) => (page.query = figures)),
      recordPage: metered<RecordPageResult>(module.recordPage, "recordPage", (page, figures) => (page.mutation = figures)),
    };
  };
  return modules;
}
const MODULES = convexModules(withInstrumentedSweep);

function newBackend() {
  return convexTest({ schema, modules: MODULES, transactionLimits: true });
}
type Backend = ReturnType<typeof newBackend>;

// ---------------------------------------------------------------------------
// The pool: providers, their balances and the exposure of the policies they back
// ---------------------------------------------------------------------------

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type SeedProvider = {
  principal: string;
  tier: Tier;
  tokens: Token[];
  locked: Record<Token, bigint>;
  total: Record<Token, bigint>;
  putObligationUsd: bigint;
  callProtectedSats: bigint;
  activeBackings: bigint;
};

/** How far out of the money each tier's policies are struck (bps of spot). */
const STRIKE_DISTANCE_BPS: Record<Tier, bigint> = { Conservative: 2_000n, Balanced: 1_000n, Aggressive: 300n };

/** `count` providers with nothing locked yet: a quarter hold only sBTC, a quarter only STX, half both. */
function emptyProviders(count: number): SeedProvider[] {
  return Array.from({ length: count }, (_, i) => ({
    principal: benchPrincipal(i, "HEALTHBENCH"),
    tier: TIERS[i % TIERS.length] as Tier,
    tokens: i % 4 === 0 ? ["sBTC"] : i % 4 === 1 ? ["STX"] : ["STX", "sBTC"],
    locked: { STX: 0n, sBTC: 0n },
    total: { STX: 0n, sBTC: 0n },
    putObligationUsd: 0n,
    callProtectedSats: 0n,
    activeBackings: 0n,
  }));
}

/** The providers who can back a policy, by "tier/token". */
function holdersOf(providers: readonly SeedProvider[]): Map<string, SeedProvider[]> {
  const holders = new Map<string, SeedProvider[]>();
  for (const p of providers) {
    for (const token of p.tokens) {
      const key = `${p.tier}/${token}`;
      holders.set(key, [...(holders.get(key) ?? []), p]);
    }
  }
  return holders;
}

/**
 * Policy number `j`, priced at CALM, backed by 1 to MAX_BACKERS_SEEDED
 * holders of its tier and token: their locked collateral and exposure grow
 * by their parts, split as allocation splits them.
 */
function backPolicy(j: number, rand: () => number, holders: ReadonlyMap<string, SeedProvider[]>): void {
  const tier = TIERS[j % TIERS.length] as Tier;
  const policyType = rand() < 0.7 ? "PUT" : "CALL";
  const protectedAmountSats = 1_000_000n + BigInt(Math.floor(rand() * 99_000_000)); // 0.01 to 1 BTC
  const distance = STRIKE_DISTANCE_BPS[tier];
  const strikePriceUsd = (CALM.btcUsd * (policyType === "PUT" ? 10_000n - distance : 10_000n + distance)) / 10_000n;
  const token: Token = rand() < 0.5 ? "sBTC" : "STX";
  const policy = { policyType, protectedAmountSats, strikePriceUsd } as const;
  const required = requiredCollateral(policy, token, CALM);
  const candidates = holders.get(`${tier}/${token}`) ?? [];
  const backers = new Set<SeedProvider>();
  const wanted = Math.min(candidates.length, 1 + Math.floor(rand() * MAX_BACKERS_SEEDED));
  while (backers.size < wanted) backers.add(candidates[Math.floor(rand() * candidates.length)] as SeedProvider);
  const members = [...backers];
  // As allocation does: collateral parts, then the obligation split like the collateral.
  const parts = splitProportionally(
    required,
    members.map(() => 1n),
  );
  const obligation = obligationOf(policy);
  const putShares = splitProportionally(obligation.putObligationUsd, parts);
  const callShares = splitProportionally(obligation.callProtectedSats, parts);
  members.forEach((p, k) => {
    p.locked[token] += parts[k] ?? 0n;
    p.putObligationUsd += putShares[k] ?? 0n;
    p.callProtectedSats += callShares[k] ?? 0n;
    p.activeBackings += 1n;
  });
}

/** Each provider's holdings: their locked collateral times a headroom, or a fixed idle balance when nothing is locked. */
function fillHoldings(providers: readonly SeedProvider[], rand: () => number): void {
  for (const p of providers) {
    const tight = rand() < 0.05;
    const headroomPermille = BigInt(Math.round(1_000 * (tight ? 1.1 + rand() * 0.4 : 1.7 + rand() * 2.3)));
    for (const token of p.tokens) {
      const idle = token === "sBTC" ? 10_000_000n : 5_000_000_000n; // 0.1 BTC, 5,000 STX when nothing is locked
      p.total[token] = p.locked[token] > 0n ? (p.locked[token] * headroomPermille) / 1_000n : idle;
    }
  }
}

/**
 * `count` providers (a quarter hold only sBTC, a quarter only STX, half both)
 * backing count × 10 policies at CALM prices. Each provider holds its locked
 * collateral plus a headroom: 1.7× to 4× what is locked for most, 1.1× to
 * 1.5× for one in twenty, so the calm market already has a few Warnings and
 * margin calls.
 */
function pool(count: number): SeedProvider[] {
  const rand = random(20_261_125);
  const providers = emptyProviders(count);
  const holders = holdersOf(providers);
  for (let j = 0; j < count * POLICIES_PER_PROVIDER; j++) backPolicy(j, rand, holders);
  fillHoldings(providers, rand);
  return providers;
}

/** One provider, as allocation leaves them: the exposure, and a status no sweep has looked at yet; and a balance per token held. */
async function insertProvider(ctx: MutationCtx, p: SeedProvider, n: number, now: number): Promise<void> {
  await ctx.db.insert("providers", {
    principal: p.principal,
    tier: p.tier,
    healthStatus: "Healthy",
    putObligationUsd: p.putObligationUsd,
    callProtectedSats: p.callProtectedSats,
    activeBackings: p.activeBackings,
    createdAt: now,
  });
  for (const token of p.tokens) {
    await ctx.db.insert("providerBalances", {
      provider: p.principal,
      token,
      tier: p.tier,
      shard: shardOf(p.principal),
      allocationKey: spreadKey(n),
      total: p.total[token],
      locked: p.locked[token],
      reserved: 0n,
      available: p.total[token] - p.locked[token],
      accruedYield: 0n,
      updatedAt: now,
    });
  }
}

async function seed(t: Backend, providers: SeedProvider[]): Promise<void> {
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  const now = Date.now();
  for (let start = 0; start < providers.length; start += SEED_BATCH) {
    const batch = providers.slice(start, start + SEED_BATCH);
    await t.run(async (ctx) => {
      for (const [k, p] of batch.entries()) await insertProvider(ctx as unknown as MutationCtx, p, start + k, now);
    });
  }
}

async function setPrices(t: Backend, prices: Prices): Promise<void> {
  const observedAt = Date.now();
  await t.mutation(internal.oracle.recordPrices, {
    answers: [],
    aggregates: [
      { asset: "BTC", priceUsd: prices.btcUsd, observedAt },
      { asset: "STX", priceUsd: prices.stxUsd, observedAt },
    ],
    unavailable: [],
  });
}

/** What the sweep should conclude for `p` at `prices`: domain/health.ts applied directly. */
function expectedStatus(p: SeedProvider, prices: Prices): HealthStatus {
  const config = DEFAULT_TIER_CONFIGS.find((c) => c.tier === p.tier)!;
  const holdings = { ustx: p.total.STX, sats: p.total.sBTC };
  return statusFor(collateralRatioBps(holdings, p, prices), config);
}

// ---------------------------------------------------------------------------
// One sweep, as the cron runs it
// ---------------------------------------------------------------------------

const SCENARIOS: readonly (readonly [string, Prices])[] = [
  ["calm: first sweep after allocation", CALM],
  ["calm: steady state", CALM_LATER],
  ["calm: next sweep at the same prices", CALM_LATER],
  ["BTC crash −40%", CRASH],
];

/**
 * What one page did: its query's and (when it ran) its mutation's figures,
 * measured (with bytes and time) or predicted (documents, index ranges,
 * scheduling only).
 */
type PageFigures = {
  checked: number;
  /** The providers the query found changed and handed to the mutation. */
  listed: number;
  /** Null only when the page failed before its query ended. */
  query: PerLimit | null;
  /** Null when the page needed no mutation (or failed before it). */
  mutation: PerLimit | null;
  ms: number | null;
  error: string | null;
  pricesAvailable: boolean;
};

type Outcome = {
  scenario: string;
  providers: number;
  /** Providers with active backing: what the sweep must check. */
  swept: number;
  source: "measured" | "predicted";
  pages: PageFigures[];
  wallMs: number | null;
  /** Predicted rows: the largest measured size's local wall time scaled by (size ratio)², convex-test's cost. */
  wallEstimateMs?: number;
  transitions: Map<string, number>;
  providersWritten: number;
  notificationsInserted: number;
  /** Every recorded status equals domain/health.ts applied directly (measured runs). */
  statusesMatchModel: boolean;
};

/** Outside the measured pages; two transactions, each within the read limit. */
async function snapshot(t: Backend) {
  const providers = await t.run(async (ctx) => await ctx.db.query("providers").collect());
  const notifications = await t.run(async (ctx) => (await ctx.db.query("healthNotifications").collect()).length);
  return { providers, notifications };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** Status changes and providers rewritten between two snapshots. */
function changesBetween(before: Snapshot, after: Snapshot): { transitions: Map<string, number>; written: number } {
  const byPrincipal = new Map(before.providers.map((p) => [p.principal, p]));
  const transitions = new Map<string, number>();
  let written = 0;
  for (const p of after.providers) {
    const old = byPrincipal.get(p.principal) as Doc<"providers">;
    if (old.healthStatus !== p.healthStatus) bump(transitions, `${old.healthStatus} → ${p.healthStatus}`);
    if (old.lastHealthCheckAt !== p.lastHealthCheckAt) written++;
  }
  return { transitions, written };
}

/** A page's figures from what its action, query and mutation recorded. */
function figuresOf(page: PageRun): PageFigures {
  const query = page.query?.result?.pricesAvailable ? page.query.result : null;
  return {
    checked: page.result?.checked ?? 0,
    listed: query?.changes.length ?? 0,
    query: page.query?.used ?? null,
    mutation: page.mutation?.used ?? null,
    ms: page.ms,
    error: page.query?.error ?? page.mutation?.error ?? page.error,
    pricesAvailable: (page.result?.pricesAvailable ?? false) && (page.mutation?.result?.pricesAvailable ?? true),
  };
}

async function sweepOnce(t: Backend, scenario: string, seeded: SeedProvider[], prices: Prices): Promise<Outcome> {
  await setPrices(t, prices);
  const before = await snapshot(t);
  pages = [];
  const started = performance.now();
  // A failing first page is in `pages` with its error, and fails the verdict; the sweep stops there.
  await t.action(internal.health.sweep, { cursor: null }).catch(() => null);
  // No fake timers here: the pages sit on real setTimeout(0)s, which fire by themselves.
  await t.finishAllScheduledFunctions(() => {}, Math.ceil(seeded.length / HEALTH_PAGE_SIZE) * 4 + 20);
  const wallMs = performance.now() - started;
  const after = await snapshot(t);

  const { transitions, written } = changesBetween(before, after);
  const expected = new Map(seeded.map((p) => [p.principal, expectedStatus(p, prices)]));
  return {
    scenario,
    providers: seeded.length,
    swept: seeded.filter((p) => p.activeBackings > 0n).length,
    source: "measured",
    pages: pages.map(figuresOf),
    wallMs,
    transitions,
    providersWritten: written,
    notificationsInserted: after.notifications - before.notifications,
    statusesMatchModel: after.providers.every((p) => p.healthStatus === expected.get(p.principal)),
  };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

async function measureAt(count: number, seeded: SeedProvider[]): Promise<Outcome[]> {
  const t0 = performance.now();
  const t = newBackend();
  await seed(t, seeded);
  process.stderr.write(`${fmt(count)} providers seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const outcomes: Outcome[] = [];
  for (const [scenario, prices] of SCENARIOS) {
    const outcome = await sweepOnce(t, scenario, seeded, prices);
    outcomes.push(outcome);
    process.stderr.write(
      `${fmt(count)} providers, ${scenario}: ${outcome.pages.length} pages, ${mutationPages(outcome)} with a mutation, ` +
        `in ${((outcome.wallMs ?? 0) / 1000).toFixed(1)} s\n`,
    );
  }
  return outcomes;
}

// ---------------------------------------------------------------------------
// The cost model: what each page's query and mutation read and write, from the code
// ---------------------------------------------------------------------------

const RANK: Record<HealthStatus, number> = { Healthy: 0, Warning: 1, MarginCall: 2, Liquidating: 3 };

/** What the model remembers of a provider between sweeps: what the database would hold. */
type ProviderState = { status: HealthStatus; ratio: bigint | null; open: HealthStatus[] };

/** A provider's health at some prices: what `readProviderHealth` concludes. */
type Reading = { status: HealthStatus; ratio: bigint | null };

/** What one predicted sweep did beyond its pages. */
type Tally = { transitions: Map<string, number>; providersWritten: number; notificationsInserted: number };

const nothingUsed = (): PerLimit => ({
  documentsRead: 0,
  documentsWritten: 0,
  databaseQueries: 0,
  bytesRead: Number.NaN,
  bytesWritten: Number.NaN,
  functionsScheduled: 0,
});

/** The order the sweep reads providers in: `by_active_backings`, those with none left out. */
function sweepOrder(seeded: readonly SeedProvider[]): SeedProvider[] {
  return seeded
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.activeBackings > 0n)
    .sort((a, b) => (a.p.activeBackings === b.p.activeBackings ? a.i - b.i : a.p.activeBackings < b.p.activeBackings ? -1 : 1))
    .map(({ p }) => p);
}

/** `readProviderHealth`: the tier config and a balance row per token held (1 read each; 3 index ranges); the reading. */
function predictReading(p: SeedProvider, prices: Prices, used: PerLimit): Reading {
  used.documentsRead += 1 + p.tokens.length;
  used.databaseQueries += 3;
  const ratio = collateralRatioBps({ ustx: p.total.STX, sats: p.total.sBTC }, p, prices);
  return { status: statusFor(ratio, DEFAULT_TIER_CONFIGS.find((c) => c.tier === p.tier)!), ratio };
}

/** `healthChanged`: the status differs, or the ratio appears, disappears or moves by RATIO_REWRITE_BPS or more. */
function differs(s: ProviderState, r: Reading): boolean {
  const moved =
    (s.ratio === null) !== (r.ratio === null) ||
    (s.ratio !== null && r.ratio !== null && (s.ratio > r.ratio ? s.ratio - r.ratio : r.ratio - s.ratio) >= RATIO_REWRITE_BPS);
  return s.status !== r.status || moved;
}

/** One listed provider in the mutation: `ctx.db.get`, `checkProviderHealth` (reading again, then `recordHealth`'s writes). */
function predictRecord(p: SeedProvider, prices: Prices, s: ProviderState, used: PerLimit, tally: Tally): void {
  used.documentsRead += 1;
  used.databaseQueries += 1;
  const r = predictReading(p, prices, used);
  if (!differs(s, r)) return; // what the query listed is still true here: not reached in the bench
  used.documentsRead += 1;
  used.documentsWritten += 1;
  tally.providersWritten++;
  if (RANK[r.status] > RANK[s.status]) {
    used.documentsWritten += 1;
    s.open.push(r.status);
    tally.notificationsInserted++;
  } else if (RANK[r.status] < RANK[s.status]) {
    used.databaseQueries += 1;
    const looked = s.open.slice(0, 20);
    const cleared = looked.filter((o) => RANK[o] > RANK[r.status]);
    used.documentsRead += looked.length + cleared.length;
    used.documentsWritten += cleared.length;
    s.open = [...looked.filter((o) => RANK[o] <= RANK[r.status]), ...s.open.slice(20)];
  }
  if (r.status !== s.status) bump(tally.transitions, `${s.status} → ${r.status}`);
  s.status = r.status;
  s.ratio = r.ratio;
}

/** Page `n`: its query, then its mutation when the query listed a provider or it is the first page. */
function predictPage(
  members: readonly SeedProvider[],
  n: number,
  prices: Prices,
  state: ReadonlyMap<string, ProviderState>,
  tally: Tally,
): PageFigures {
  const query = { ...nothingUsed(), documentsRead: 2 + members.length, databaseQueries: 3 };
  const listed = members.filter((p) => differs(state.get(p.principal)!, predictReading(p, prices, query)));
  let mutation: PerLimit | null = null;
  if (listed.length > 0 || n === 0) {
    mutation = { ...nothingUsed(), documentsRead: 2, databaseQueries: n === 0 ? 3 : 2 };
    for (const p of listed) predictRecord(p, prices, state.get(p.principal)!, mutation, tally);
  }
  return { checked: members.length, listed: listed.length, query, mutation, ms: null, error: null, pricesAvailable: true };
}

/**
 * The sweeps replayed without a database, page by page, counting what each
 * transaction reads and writes the way the runtime's meter does:
 * - the query (`sweepPage`): 2 price reads (`currentPrices`), the paginated
 *   read of up to HEALTH_PAGE_SIZE providers (in `by_active_backings`
 *   order); 3 index ranges; per provider (`readProviderHealth`) its tier
 *   config and its balance rows (1 read each; 3 index ranges). It lists the
 *   providers whose status changes or whose ratio moves by RATIO_REWRITE_BPS
 *   or more (`healthChanged`).
 * - the mutation (`recordPage`), when the query listed any provider or on the
 *   first page: 2 price reads (2 index ranges); on the first page the look
 *   for an open `health-sweep-skipped` alert to resolve (1 index range; none
 *   is open here); per listed provider `ctx.db.get` (1 read, 1 index range),
 *   the reading again (as in the query), a patch (1 read + 1 write); when
 *   the status worsens, a notification insert (1 write); when it improves,
 *   the open notifications (1 index range, up to 20 reads) and a patch (1
 *   read + 1 write) of each that ranked worse.
 * - neither schedules anything: the next page is scheduled by the action,
 *   and with no HEALTH_WEBHOOK_URL no delivery is.
 * Statuses and ratios come from domain/health.ts, which every measured run
 * checks the recorded statuses against.
 */
function predict(seeded: SeedProvider[]): Outcome[] {
  const order = sweepOrder(seeded);
  const state = new Map(seeded.map((p): [string, ProviderState] => [p.principal, { status: "Healthy", ratio: null, open: [] }]));
  const pageCount = Math.max(1, Math.ceil(order.length / HEALTH_PAGE_SIZE));
  return SCENARIOS.map(([scenario, prices]) => {
    const tally: Tally = { transitions: new Map(), providersWritten: 0, notificationsInserted: 0 };
    const pagesOut = Array.from({ length: pageCount }, (_, n) =>
      predictPage(order.slice(n * HEALTH_PAGE_SIZE, (n + 1) * HEALTH_PAGE_SIZE), n, prices, state, tally),
    );
    return {
      scenario,
      providers: seeded.length,
      swept: order.length,
      source: "predicted" as const,
      pages: pagesOut,
      wallMs: null,
      ...tally,
      statusesMatchModel: true,
    };
  });
}

const COUNTED = ["documentsRead", "documentsWritten", "databaseQueries", "functionsScheduled"] as const;

/** Where one transaction's counts differ from their prediction. */
function usedDifferences(what: string, measured: PerLimit | null, predicted: PerLimit | null): string[] {
  if (measured === null || predicted === null) {
    return measured === predicted ? [] : [`${what} ${measured === null ? "did not run" : "ran"}, predicted ${predicted === null ? "none" : "one"}`];
  }
  return COUNTED.filter((m) => measured[m] !== predicted[m]).map((m) => `${what} ${m} ${measured[m]} vs ${predicted[m]}`);
}

/** Differences between a measured sweep and its prediction, in what the model predicts. */
function modelDifferences(measured: Outcome, predicted: Outcome): string[] {
  const diffs: string[] = [];
  if (measured.pages.length !== predicted.pages.length) diffs.push(`pages ${measured.pages.length} vs ${predicted.pages.length}`);
  measured.pages.forEach((page, n) => {
    const guess = predicted.pages[n];
    if (!guess) return;
    diffs.push(...usedDifferences(`page ${n + 1} query`, page.query, guess.query));
    diffs.push(...usedDifferences(`page ${n + 1} mutation`, page.mutation, guess.mutation));
    if (page.checked !== guess.checked) diffs.push(`page ${n + 1} checked ${page.checked} vs ${guess.checked}`);
    if (page.listed !== guess.listed) diffs.push(`page ${n + 1} listed ${page.listed} vs ${guess.listed}`);
  });
  if (transitionsText(measured) !== transitionsText(predicted))
    diffs.push(`transitions ${transitionsText(measured)} vs ${transitionsText(predicted)}`);
  if (measured.providersWritten !== predicted.providersWritten)
    diffs.push(`providers written ${measured.providersWritten} vs ${predicted.providersWritten}`);
  if (measured.notificationsInserted !== predicted.notificationsInserted)
    diffs.push(`notifications ${measured.notificationsInserted} vs ${predicted.notificationsInserted}`);
  return diffs;
}

// ---------------------------------------------------------------------------
// Measuring every size, predicting the target
// ---------------------------------------------------------------------------

type Findings = {
  outcomes: Outcome[];
  /** One line per measured sweep: whether its prediction equals it. */
  modelChecks: string[];
  modelHolds: boolean;
};

function parseSizes(): number[] {
  return (process.argv[2] ?? DEFAULT_SIZES.join(","))
    .split(",")
    .map((s) => Number(s.replace(/_/g, "")))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Every size measured, and each measured sweep checked against the cost model's prediction. */
async function measureSizes(sizes: readonly number[]): Promise<Findings> {
  const findings: Findings = { outcomes: [], modelChecks: [], modelHolds: true };
  for (const size of sizes) {
    const seeded = pool(size);
    const measured = await measureAt(size, seeded);
    const predicted = predict(seeded);
    measured.forEach((m, i) => {
      const diffs = modelDifferences(m, predicted[i] as Outcome);
      if (diffs.length > 0) findings.modelHolds = false;
      findings.modelChecks.push(
        `${fmt(size)} providers, ${m.scenario}: ${diffs.length === 0 ? "the prediction equals the measurement on every page, query and mutation" : `differs: ${diffs.slice(0, 5).join("; ")}`}`,
      );
    });
    findings.outcomes.push(...measured);
  }
  return findings;
}

/** TARGET_PROVIDERS predicted, unless it was measured; its wall time estimated from the largest measured size. */
function predictTarget(sizes: readonly number[], outcomes: readonly Outcome[]): Outcome[] {
  if (sizes.includes(TARGET_PROVIDERS)) return [];
  const base = Math.max(...sizes);
  return predict(pool(TARGET_PROVIDERS)).map((predicted) => {
    const measured = outcomes.find((o) => o.providers === base && o.scenario === predicted.scenario);
    if (measured?.wallMs != null) predicted.wallEstimateMs = measured.wallMs * (TARGET_PROVIDERS / base) ** 2;
    return predicted;
  });
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

type Kind = "query" | "mutation";

/** The transactions of a page: its query and its mutation, or one kind of them. */
function transactionsOf(page: PageFigures, kind?: Kind): PerLimit[] {
  const all = kind === undefined ? [page.query, page.mutation] : [page[kind]];
  return all.filter((used): used is PerLimit => used !== null);
}

/** The largest figure any transaction (of `kind`, else any) of the sweep used; 0 when there is none. */
function largest(outcome: Outcome, metric: LimitKey, kind?: Kind): number {
  return Math.max(0, ...outcome.pages.flatMap((p) => transactionsOf(p, kind).map((used) => used[metric])));
}

/** Summed over every transaction of the sweep. */
function total(outcome: Outcome, metric: LimitKey): number {
  return outcome.pages.flatMap((p) => transactionsOf(p)).reduce((sum, used) => sum + used[metric], 0);
}

function mutationPages(outcome: Outcome): number {
  return outcome.pages.filter((p) => p.mutation !== null).length;
}

function checkedOf(outcome: Outcome): number {
  return outcome.pages.reduce((sum, p) => sum + p.checked, 0);
}

/** Every transaction of the sweep (or of `kind`) within 1/MARGIN of every limit: what is over. */
function overMargin(outcome: Outcome, kind?: Kind): string[] {
  return LIMIT_KEYS.flatMap((metric) => {
    const most = largest(outcome, metric, kind);
    return most * MARGIN > LIMITS[metric] ? [`${kind ?? "a transaction"}: ${metric} ${fmt(most)} is over 1/${MARGIN} of the limit ${fmt(LIMITS[metric])}`] : [];
  });
}

function verdict(outcome: Outcome): { pass: boolean; why: string[] } {
  const why: string[] = [];
  const failed = outcome.pages.filter((p) => p.error !== null);
  if (failed.length > 0) why.push(`${failed.length} page(s) failed: ${failed[0]?.error}`);
  if (outcome.pages.some((p) => p.error === null && p.query === null)) why.push("a page ran no query");
  if (checkedOf(outcome) !== outcome.swept) why.push(`checked ${checkedOf(outcome)} of ${outcome.swept} providers with active backing`);
  if (outcome.pages.some((p) => p.error === null && !p.pricesAvailable)) why.push("a page found no fresh price");
  if (outcome.pages.length !== Math.max(1, Math.ceil(outcome.swept / HEALTH_PAGE_SIZE)))
    why.push(`${outcome.pages.length} pages for ${outcome.swept} providers at ${HEALTH_PAGE_SIZE} a page`);
  why.push(...overMargin(outcome));
  if (!outcome.statusesMatchModel) why.push("a recorded status differs from domain/health.ts applied directly");
  return { pass: why.length === 0, why };
}

function transitionsText(outcome: Outcome): string {
  const entries = [...outcome.transitions.entries()].sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "none" : entries.map(([k, n]) => `${k}: ${fmt(n)}`).join(", ");
}

const HEADER = [
  "Providers",
  "Market",
  "Pages (queries)",
  "Pages with a mutation",
  "Providers checked",
  "Statuses changed",
  "Providers written",
  "Notifications",
  "Query: max docs read",
  "Query: max index ranges",
  "Mutation: max docs read",
  "Mutation: max docs written",
  "Mutation: max index ranges",
  "Max bytes read / txn",
  "Local wall time",
  "Slowest page (local)",
  "Verdict",
];

function wallTimeText(o: Outcome): string {
  if (o.wallMs !== null) return `${(o.wallMs / 1000).toFixed(1)} s`;
  return o.wallEstimateMs !== undefined ? `~${Math.round(o.wallEstimateMs / 60_000)} min (N² estimate)` : "—";
}

function row(o: Outcome): string[] {
  const measured = o.source === "measured";
  const statusChanges = [...o.transitions.values()].reduce((a, b) => a + b, 0);
  const ofMutations = (metric: LimitKey) => (mutationPages(o) > 0 ? fmt(largest(o, metric, "mutation")) : "—");
  return [
    measured ? fmt(o.providers) : `${fmt(o.providers)} (predicted)`,
    o.scenario,
    fmt(o.pages.length),
    fmt(mutationPages(o)),
    fmt(checkedOf(o)),
    fmt(statusChanges),
    fmt(o.providersWritten),
    fmt(o.notificationsInserted),
    fmt(largest(o, "documentsRead", "query")),
    fmt(largest(o, "databaseQueries", "query")),
    ofMutations("documentsRead"),
    ofMutations("documentsWritten"),
    ofMutations("databaseQueries"),
    measured ? `${(largest(o, "bytesRead") / 1024).toFixed(0)} KiB` : "—",
    wallTimeText(o),
    measured ? `${fmt(Math.max(...o.pages.map((p) => p.ms ?? 0)))} ms` : "—",
    verdict(o).pass ? "PASS" : "FAIL",
  ];
}

function notes(outcomes: readonly Outcome[]): string[] {
  const limitsText = LIMIT_KEYS.map((m) => `${m} ${fmt(LIMITS[m])}`).join(", ");
  const measured = outcomes.filter((o) => o.source === "measured");
  const most = (metric: LimitKey, kind: Kind) => fmt(Math.max(0, ...measured.map((o) => largest(o, metric, kind))));
  const size = HEALTH_PAGE_SIZE;
  return [
    `Page size: ${size} providers a page (convex/health.ts HEALTH_PAGE_SIZE); every provider has active backing, so all are swept.`,
    "A page is one run of the `internal.health.sweep` action: a query (`sweepPage`: prices, the page of providers, each one's tier config and balances; it lists those whose status or ratio would change), " +
      "then a mutation (`recordPage`: each listed provider read again and written) only when the query listed any or on the first page (which resolves an open health-sweep-skipped alert). " +
      "The query takes no part in write conflicts with allocations and deposits; a page whose providers are unchanged writes nothing.",
    `Exposure: ${POLICIES_PER_PROVIDER} policies per provider (${fmt(TARGET_PROVIDERS * POLICIES_PER_PROVIDER)} for ${fmt(TARGET_PROVIDERS)}), 1 to ${MAX_BACKERS_SEEDED} backers each, 70% PUTs; a quarter of providers hold only sBTC, a quarter only STX, half both.`,
    "Prices: calm BTC $67,000 / STX $1.85 (the first sweep records every ratio, as after allocation); steady state BTC $67,350 / STX $1.855 (ratios that move by 1% or more are rewritten); " +
      "the next sweep at the same prices (nothing to write); crash BTC $40,200 (−40%) / STX $1.855.",
    `Limits (Convex, per transaction, queries and mutations alike; as convex-test 0.0.60 enforces them): ${limitsText}. Goal: every query and every mutation within 1/${MARGIN} of each, every provider checked, no page failed.`,
    "Measured figures are the runtime's own per-transaction meter (`ctx.meta.getTransactionMetrics()`), read at the end of each page's query and of its mutation; " +
      "a `ctx.db.get` counts as one index range and one document read, a patch as one document read and one written. The action's scheduling of the next page is in neither.",
    `Worst case the code allows in one page, whatever the pool: the query reads ${fmt(2 + 4 * size)} documents over ${fmt(3 + 3 * size)} index ranges (every provider holding both tokens); ` +
      `the mutation, every provider of the page listed and improving with 20 open notifications each to clear, reads ${fmt(2 + 45 * size)} and writes ${fmt(21 * size)} over ${fmt(2 + 5 * size)} index ranges ` +
      `(the first page: one range more): within every limit, though over a quarter of the read limit. The measured pages above read at most ${most("documentsRead", "query")} in a query and ${most("documentsRead", "mutation")} in a mutation.`,
    `Predicted rows come from a cost model of the sweep's code (bench/health-sweep.ts \`predict\`), query and mutation apart, replayed on the same seeded pool; it is checked page by page against every measured size below.`,
    "Local wall time is convex-test's, where every index query walks the whole in-memory database, so it grows with the square of the pool; it says nothing about Convex's latency (the per-transaction counts are what carry over).",
  ];
}

const GOAL = `every query and mutation of every page within 1/${MARGIN} of every Convex limit, every provider checked, no failed page, cost model exact`;

/** The report's parts, printed and written alike. */
type Report = { body: string[][]; notes: string[]; detail: string[]; modelChecks: string[]; failures: string[]; pass: boolean };

function reportOf({ outcomes, modelChecks, modelHolds }: Findings): Report {
  const verdicts = outcomes.map(verdict);
  return {
    body: outcomes.map(row),
    notes: notes(outcomes),
    detail: outcomes.map(
      (o) => `- ${fmt(o.providers)}${o.source === "predicted" ? " (predicted)" : ""}, ${o.scenario}: ${transitionsText(o)}.`,
    ),
    modelChecks,
    failures: outcomes.flatMap((o, i) =>
      verdicts[i]?.pass ? [] : [`- ${fmt(o.providers)} providers, ${o.scenario}: ${verdicts[i]?.why.join("; ")}`],
    ),
    pass: verdicts.every((v) => v.pass) && modelHolds,
  };
}

function printReport(report: Report): void {
  console.log("\nHealth sweep: pages, their query and mutation, and their documents\n");
  console.log(textTable(HEADER, report.body));
  console.log("\nStatus changes:");
  for (const line of report.detail) console.log(line);
  console.log("\nCost model against the measurements:");
  for (const line of report.modelChecks) console.log(`- ${line}`);
  console.log("");
  for (const note of report.notes) console.log(`- ${note}`);
  for (const line of report.failures) console.log(line);
  console.log(`\nGoal (${GOAL}): ${report.pass ? "PASS" : "FAIL"}`);
}

function markdownReport(report: Report): string {
  return [
    "## Health sweep at scale",
    "",
    "_Generated by `npx tsx bench/health-sweep.ts`: convex-test (in-memory Convex runtime, `transactionLimits: true`) with the real schema and functions; " +
      "the sweep runs as the cron runs it (the `internal.health.sweep` action with cursor null, then the scheduler)._",
    "",
    ...report.notes.map((n) => `- ${n}`),
    "",
    mdTable(HEADER, report.body, (i) => i !== 1 && i !== HEADER.length - 1),
    "",
    "Status changes:",
    "",
    ...report.detail,
    "",
    "Cost model against the measurements:",
    "",
    ...report.modelChecks.map((line) => `- ${line}`),
    ...(report.failures.length ? ["", "Failures:", "", ...report.failures] : []),
    "",
    `Goal (${GOAL}): **${report.pass ? "PASS" : "FAIL"}**.`,
    "",
  ].join("\n");
}

/**
 * The combined table's rows (`npm run bench`), per pool size: pages and
 * documents per sweep (the largest over the markets), the pages that needed
 * a mutation in each market, and the largest query and mutation against a
 * quarter of Convex's limits; then whether the cost model that predicts the
 * largest size matched every measurement.
 */
function writeHealthSummary(outcomes: readonly Outcome[], modelHolds: boolean, measuredSweeps: number): void {
  const sizes = [...new Map(outcomes.map((o) => [`${o.providers}/${o.source}`, o])).values()];
  const quarter = (metric: LimitKey) => fmt(LIMITS[metric] / MARGIN);
  const rows = sizes.flatMap(({ providers, source }): SummaryRowInput[] => {
    const sweeps = outcomes.filter((o) => o.providers === providers && o.source === source);
    const most = (of: (o: Outcome) => number) => fmt(Math.max(...sweeps.map(of)));
    const area = `${fmt(providers)} providers${source === "predicted" ? " (predicted)" : ""}`;
    return [
      {
        area,
        measure: `per sweep (largest of ${sweeps.length} markets): pages; docs read / written`,
        value: `${most((o) => o.pages.length)}; ${most((o) => total(o, "documentsRead"))} / ${most((o) => total(o, "documentsWritten"))}`,
      },
      {
        area,
        measure: `pages that needed a mutation (${sweeps.map((o) => o.scenario.replace(/^calm: /, "")).join(" / ")})`,
        value: sweeps.map((o) => `${fmt(mutationPages(o))} of ${fmt(o.pages.length)}`).join(" / "),
      },
      {
        area,
        measure: "largest query: docs read / index ranges",
        value: `${most((o) => largest(o, "documentsRead", "query"))} / ${most((o) => largest(o, "databaseQueries", "query"))}`,
        goal: `≤ ¼ of Convex's limits (${quarter("documentsRead")} / ${quarter("databaseQueries")})`,
        verdict: verdictOf(sweeps.every((o) => overMargin(o, "query").length === 0)),
      },
      {
        area,
        measure: "largest mutation: docs read / written / index ranges",
        value: `${most((o) => largest(o, "documentsRead", "mutation"))} / ${most((o) => largest(o, "documentsWritten", "mutation"))} / ${most((o) => largest(o, "databaseQueries", "mutation"))}`,
        goal: `≤ ¼ of Convex's limits (${quarter("documentsRead")} / ${quarter("documentsWritten")} / ${quarter("databaseQueries")}), every provider checked, no page failed`,
        verdict: verdictOf(sweeps.every((o) => verdict(o).pass)),
      },
    ];
  });
  writeSummary({
    bench: "health-sweep",
    title: "The collateral health sweep: pages, queries and mutations, and their documents as the pool grows",
    command: `npm run bench:health${process.argv[2] ? ` -- ${process.argv[2]}` : ""}`,
    notes: [
      "A page is a query (reads only, no write conflicts) and, only when it found a status or ratio to change or it is the first page, a mutation.",
      "Predicted sizes come from a cost model of the sweep's code, checked page by page, query and mutation, against every measured size.",
    ],
    rows: [
      ...rows,
      {
        area: "cost model",
        measure: `prediction vs measurement, ${measuredSweeps} measured sweeps`,
        value: modelHolds ? "equal on every page" : "differs",
        goal: "equal on every page",
        verdict: verdictOf(modelHolds),
      },
    ],
  });
}

async function main(): Promise<void> {
  process.env.ORACLE_MAX_AGE_MS = String(60 * 60 * 1000);
  // The cost model schedules no webhook delivery; a URL in the environment would also be POSTed to.
  delete process.env.HEALTH_WEBHOOK_URL;
  const sizes = parseSizes();
  const started = performance.now();
  const findings = await measureSizes(sizes);
  findings.outcomes.push(...predictTarget(sizes, findings.outcomes));

  const report = reportOf(findings);
  printReport(report);
  writeReport("health-sweep.md", markdownReport(report));
  writeHealthSummary(findings.outcomes, findings.modelHolds, findings.modelChecks.length);
  console.log(`\nWritten to bench/results/health-sweep.md (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  if (!report.pass) process.exitCode = 1;
}

await main();
