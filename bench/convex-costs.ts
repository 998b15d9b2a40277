/**
 * Documents read and written by the Convex backend per deposit and per
 * withdrawal request, at 10, 1,000 and 10,000 existing providers.
 *
 *   npx tsx bench/convex-costs.ts
 *
 * docs/architecture.md, "Scale": no function reads or writes an unbounded number of
 * documents, and a deposit must not serialize on one hot document. The goal
 * checked here is that both counts are the same at every pool size.
 *
 * How: the backend is convex-test (the in-memory Convex runtime, the same one
 * the tests use), with the real schema. Each operation calls the model
 * function its mutation calls (`applyVaultEvent` from
 * convex/model/sync/vaultEvents.ts for a synced `funds-deposited` or
 * `funds-withdrawn` event, `reserveWithdrawal` from
 * convex/model/ledger/reservations.ts for a withdrawal request) inside `t.run`, with
 * `ctx.db` wrapped in a counting proxy:
 * - docs read: documents returned to the function by `get`, and by `collect`,
 *   `take`, `first`, `unique`, `paginate` and async iteration of a query;
 * - docs written: `insert`, `patch`, `replace` and `delete` calls;
 * - index lookups: `get` calls and queries started (each is one index range
 *   read, whether or not it finds a document).
 *
 * The existing providers are seeded by inserting documents directly, in
 * batches, because convex-test scans every document on every query and
 * seeding 10,000 providers through the ledger would take many minutes. To
 * mirror exactly what the ledger writes, the seed documents are clones of
 * the ones a real first deposit writes (run once through `applyVaultEvent` on
 * a scratch backend): per provider a `providers` row, a `providerBalances`
 * row per token, its `balanceLedger` and `vaultEvents` rows, and per tier,
 * token and shard one `tierTotalShards` row holding the sums; plus the
 * per-token `poolMetrics` mirror. Providers are spread over the three tiers.
 *
 * Prints figures only; no timing assertions. Results are also written to
 * bench/results/convex-costs.md.
 */
import { convexTest } from "convex-test";

import type { MutationCtx } from "../convex/_generated/server";
import { reserveWithdrawal } from "../convex/model/ledger/reservations";
import { shardOf } from "../convex/model/ledger/tierTotals";
import { applyVaultEvent, effectsInCallerTransaction } from "../convex/model/sync/vaultEvents";
import schema from "../convex/schema";
import { TIERS, TOKENS, type Tier, type Token, type VaultEvent } from "../convex/validators";
import { convexModules } from "../simulation/convexModules";
import { runCounted, type Counts } from "./support/countingDb";
import { ledgerTemplate, type Template } from "./support/ledgerTemplate";
import { mdTable, tablesOf, textTable, writeReport } from "./support/report";
import { benchPrincipal, inserter, spreadKey, type Insert } from "./support/seeding";
import { verdictOf, writeSummary } from "./support/summary";

const SIZES = [10, 1_000, 10_000] as const;
const LARGEST = SIZES[SIZES.length - 1]!;
const SEED_BATCH = 1_000;
const DEPOSIT = 1_000_000n;

// ---------------------------------------------------------------------------
// A convex-test backend outside vitest
// ---------------------------------------------------------------------------

const MODULES = convexModules();
function newBackend() {
  return convexTest(schema, MODULES);
}
type Backend = ReturnType<typeof newBackend>;

/** What `run` reads and writes, in one transaction (support/countingDb.ts). */
async function measure(t: Backend, run: (ctx: MutationCtx) => Promise<unknown>): Promise<Counts> {
  const { counts } = await runCounted(t, run, async () => undefined);
  return counts;
}

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

function depositEvent(depositor: string, token: Token, txid: string, blockHeight: bigint): VaultEvent {
  return {
    kind: "funds-deposited",
    txid,
    eventIndex: 0,
    blockHeight,
    blockHash: `0xblock${blockHeight}`,
    token,
    amount: DEPOSIT,
    totalBalance: DEPOSIT,
    totalLocked: 0n,
    depositor,
    seq: blockHeight,
  };
}

/** The documents a real first deposit writes, without system fields: the shapes the seed clones. */
async function firstDepositTemplate(): Promise<Template> {
  return await ledgerTemplate(newBackend(), depositEvent(benchPrincipal(0), "STX", "0xtemplate", 1n), [
    "providers",
    "providerBalances",
    "balanceLedger",
    "vaultEvents",
    "tierTotalShards",
    "poolMetrics",
  ]);
}

type SeededProvider = { principal: string; tier: Tier };

/** What the seeded balances add up to in one tier-total shard. */
type ShardSum = { tier: Tier; token: Token; shard: number; capital: bigint; count: bigint };

/** Provider number `n`'s documents, as a first deposit of DEPOSIT in each token writes them; adds its balances to `shardSums`. */
async function insertProvider(
  insert: Insert,
  template: Template,
  n: number,
  { principal, tier }: SeededProvider,
  shardSums: Map<string, ShardSum>,
): Promise<void> {
  await insert("providers", { ...template.providers, principal, tier });
  for (const token of TOKENS) {
    const shard = shardOf(principal);
    const txid = `0xseed${n}${token}`;
    const operationId = `event:${txid}:0:0xseedblock`;
    const balance: Record<string, unknown> = {
      ...template.providerBalances,
      provider: principal,
      token,
      tier,
      shard,
      total: DEPOSIT,
    };
    // A per-provider random sort key (if the schema has one) must not be the same for everyone.
    if (typeof balance.allocationKey === "number") balance.allocationKey = spreadKey(n);
    await insert("providerBalances", balance);
    await insert("balanceLedger", { ...template.balanceLedger, operationId, provider: principal, token, amount: DEPOSIT });
    const event = depositEvent(principal, token, txid, BigInt(n + 1));
    await insert("vaultEvents", {
      ...template.vaultEvents,
      txid,
      blockHeight: event.blockHeight,
      blockHash: "0xseedblock",
      event,
    });
    const key = `${tier}/${token}/${shard}`;
    const sum = shardSums.get(key) ?? { tier, token, shard, capital: 0n, count: 0n };
    sum.capital += DEPOSIT;
    sum.count += 1n;
    shardSums.set(key, sum);
  }
}

/** The sums the ledger keeps beside the providers: a row per tier-total shard, and the per-token pool mirror. */
async function insertTotals(t: Backend, template: Template, shardSums: Map<string, ShardSum>, count: number): Promise<void> {
  await t.run(async (ctx) => {
    const insert = inserter(ctx);
    for (const s of shardSums.values()) {
      await insert("tierTotalShards", {
        ...template.tierTotalShards,
        tier: s.tier,
        token: s.token,
        shard: s.shard,
        capital: s.capital,
        providerCount: s.count,
      });
    }
    for (const token of TOKENS) {
      await insert("poolMetrics", {
        ...template.poolMetrics,
        token,
        totalBalanceOnChain: DEPOSIT * BigInt(count),
        lastEventBlockHeight: BigInt(count),
      });
    }
  });
}

/** `count` providers spread over the three tiers, each with a deposit in both tokens, seeded in batches. */
async function seed(t: Backend, template: Template, count: number): Promise<SeededProvider[]> {
  const providers: SeededProvider[] = Array.from({ length: count }, (_, i) => ({
    principal: benchPrincipal(i + 1),
    tier: TIERS[i % TIERS.length] as Tier,
  }));
  const shardSums = new Map<string, ShardSum>();
  for (let start = 0; start < count; start += SEED_BATCH) {
    const batch = providers.slice(start, start + SEED_BATCH);
    await t.run(async (ctx) => {
      const insert = inserter(ctx);
      for (const [j, provider] of batch.entries()) await insertProvider(insert, template, start + j, provider, shardSums);
    });
  }
  await insertTotals(t, template, shardSums, count);
  return providers;
}

// ---------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------

type Row = { providers: number; operation: string; counts: Counts };

/**
 * A newcomer lands in the default tier, Conservative. Pick one whose shard
 * already holds a seeded Conservative provider, as it will in any pool of
 * real size: a first deposit into an empty shard inserts the shard row
 * instead of reading it (one document read fewer), which at 10 providers
 * would show up as a difference that has nothing to do with scale.
 */
function newcomerPrincipal(seeded: readonly SeededProvider[], size: number): string {
  const conservativeShard = shardOf((seeded[0] as SeededProvider).principal);
  let newcomer = size + 1_000;
  while (shardOf(benchPrincipal(newcomer)) !== conservativeShard) newcomer += 1;
  return benchPrincipal(newcomer);
}

/** The synced withdrawal that redeems `provider`'s first voucher (the database issues nonces per provider from 1). */
function withdrawalEvent(provider: string, size: number, blockHeight: bigint): VaultEvent {
  return {
    kind: "funds-withdrawn",
    txid: "0xbench-withdrawal",
    eventIndex: 0,
    blockHeight,
    blockHash: `0xblock${blockHeight}`,
    token: "STX",
    amount: DEPOSIT / 2n,
    totalBalance: DEPOSIT * BigInt(size),
    totalLocked: 0n,
    provider,
    nonce: 1n,
    seq: blockHeight,
  };
}

/** Every operation once, in order, on a pool of `size` seeded providers. */
async function measureAt(size: number, template: Template): Promise<Row[]> {
  const t = newBackend();
  const seeded = await seed(t, template, size);
  const existing = seeded[Math.floor(size / 2)] as SeededProvider;
  const height = BigInt(size + 10);
  const rows: Row[] = [];
  const add = (operation: string, counts: Counts) => rows.push({ providers: size, operation, counts });

  const deposit = depositEvent(existing.principal, "STX", "0xbench-deposit", height);
  add("deposit (synced funds-deposited, existing provider)", await measure(t, (ctx) => applyVaultEvent(ctx, deposit, effectsInCallerTransaction(ctx))));
  const firstDeposit = depositEvent(newcomerPrincipal(seeded, size), "STX", "0xbench-first-deposit", height + 1n);
  add("deposit (synced funds-deposited, new provider)", await measure(t, (ctx) => applyVaultEvent(ctx, firstDeposit, effectsInCallerTransaction(ctx))));
  const request = { provider: existing.principal, token: "STX" as const, amount: DEPOSIT / 2n, expiresAtBlock: height + 100n };
  // The provider backs no policy, so the withdrawal limit reads no price: any freshness rule does.
  const freshness = { now: Date.now(), maxAgeMs: 120_000 };
  add("withdrawal request (reserveWithdrawal)", await measure(t, (ctx) => reserveWithdrawal(ctx, request, freshness)));
  const withdrawal = withdrawalEvent(existing.principal, size, height + 2n);
  add(
    "withdrawal (synced funds-withdrawn, redeems the reservation)",
    await measure(t, (ctx) => applyVaultEvent(ctx, withdrawal, effectsInCallerTransaction(ctx))),
  );
  add("replayed deposit event (duplicate)", await measure(t, (ctx) => applyVaultEvent(ctx, deposit, effectsInCallerTransaction(ctx))));
  return rows;
}

async function measureAllSizes(template: Template): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of SIZES) {
    const t0 = Date.now();
    rows.push(...(await measureAt(size, template)));
    process.stderr.write(`measured at ${size} providers in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return rows;
}

/** Per operation: whether every count (and the distinct documents) is the same at every size. */
function constancyOf(rows: readonly Row[]): Map<string, boolean> {
  const operations = [...new Set(rows.map((r) => r.operation))];
  return new Map(
    operations.map((op) => {
      const ofOp = rows.filter((r) => r.operation === op);
      const first = ofOp[0]?.counts;
      const same = ofOp.every(
        (r) =>
          r.counts.docsRead === first?.docsRead &&
          r.counts.docsWritten === first?.docsWritten &&
          r.counts.lookups === first?.lookups &&
          r.counts.readIds.size === first?.readIds.size &&
          r.counts.writtenIds.size === first?.writtenIds.size,
      );
      return [op, same];
    }),
  );
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

const fmt = (n: number) => n.toLocaleString("en-US");

type Table = { header: string[]; body: string[][] };

function countsTable(rows: readonly Row[], constant: ReadonlyMap<string, boolean>): Table {
  const header = [
    "Providers",
    "Operation",
    "Docs read (distinct)",
    "Docs written (distinct)",
    "Index lookups",
    "Constant across sizes",
  ];
  const body = rows.map((r) => [
    fmt(r.providers),
    r.operation,
    `${r.counts.docsRead} (${r.counts.readIds.size})`,
    `${r.counts.docsWritten} (${r.counts.writtenIds.size})`,
    String(r.counts.lookups),
    constant.get(r.operation) ? "yes" : "NO",
  ]);
  return { header, body };
}

/** At the largest size, which tables each operation read and wrote. */
function byTableTable(rows: readonly Row[]): Table {
  const body = rows
    .filter((r) => r.providers === LARGEST)
    .map((r) => [r.operation, tablesOf(r.counts.readTables), tablesOf(r.counts.writtenTables)]);
  return { header: ["Operation", "Tables read (docs)", "Tables written (docs)"], body };
}

const goalLine = (pass: boolean, bold: boolean) => {
  const verdict = pass ? "PASS" : "FAIL";
  return `Goal (docs/architecture.md, "Scale"): every count the same at every size: ${bold ? `**${verdict}**.` : verdict}`;
};

function printReport(counts: Table, byTable: Table, pass: boolean): void {
  console.log("\nConvex backend: documents read and written per operation\n");
  console.log(textTable(counts.header, counts.body));
  console.log(`\nAt ${fmt(LARGEST)} providers, by table:\n`);
  console.log(textTable(byTable.header, byTable.body));
  console.log(`\n${goalLine(pass, false)}`);
}

function markdownReport(counts: Table, byTable: Table, pass: boolean): string {
  return [
    "## Convex costs",
    "",
    "_Generated by `npx tsx bench/convex-costs.ts`. convex-test " +
      "(in-memory Convex runtime) with the real schema; each operation runs the model function its mutation runs, " +
      "with `ctx.db` wrapped in a counting proxy._",
    "",
    "- **Docs read**: documents returned by `db.get` and by `collect` / `take` / `first` / `unique` / `paginate` / iteration of a query.",
    "- **Docs written**: `insert` / `patch` / `replace` / `delete` calls.",
    "- In brackets: distinct documents (a document read or patched twice in one mutation is one document; Convex's conflict checks see it once).",
    "- **Index lookups**: `db.get` calls and queries started; each reads one index range, found or not.",
    "- Existing providers are spread over the three tiers, each with an STX and an sBTC balance, seeded as the ledger writes them.",
    "- The new provider's first deposit goes to a tier shard that already exists; into an empty shard it reads one document fewer (it inserts the shard row instead of patching it).",
    "",
    mdTable(counts.header, counts.body, (column) => column !== 1 && column !== 5),
    "",
    `At ${fmt(LARGEST)} providers, by table:`,
    "",
    mdTable(byTable.header, byTable.body),
    "",
    goalLine(pass, true),
    "",
  ].join("\n");
}

/** One row per operation for the combined table of `npm run bench`: its counts at every size, and whether they stay the same. */
function writeConvexSummary(rows: readonly Row[], constant: ReadonlyMap<string, boolean>): void {
  const countsOf = (c: Counts) => `${c.docsRead} / ${c.docsWritten} (${c.lookups} lookup${c.lookups === 1 ? "" : "s"})`;
  writeSummary({
    bench: "convex-costs",
    title: "Convex documents read / written per deposit and withdrawal as the pool grows",
    command: "npm run bench:convex",
    notes: [
      `Measured at ${SIZES.map(fmt).join(", ")} existing providers (convex-test, real schema; ctx.db counted).`,
    ],
    rows: [...constant].map(([operation, same]) => {
      const ofOp = rows.filter((r) => r.operation === operation);
      const first = ofOp[0] as Row;
      return {
        area: operation,
        measure: `docs read / written at ${ofOp.map((r) => fmt(r.providers)).join(" · ")} providers`,
        value: same
          ? `${countsOf(first.counts)} at each size`
          : ofOp.map((r) => `${countsOf(r.counts)} at ${fmt(r.providers)}`).join(" · "),
        goal: "the same at every size",
        verdict: verdictOf(same),
      };
    }),
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const template = await firstDepositTemplate();
  const rows = await measureAllSizes(template);
  const constant = constancyOf(rows);
  const counts = countsTable(rows, constant);
  const byTable = byTableTable(rows);
  const pass = [...constant.values()].every(Boolean);
  printReport(counts, byTable, pass);
  writeReport("convex-costs.md", markdownReport(counts, byTable, pass));
  writeConvexSummary(rows, constant);
  console.log(`\nWritten to bench/results/convex-costs.md (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

await main();
