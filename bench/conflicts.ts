/**
 * Which of the backend's hot-path transactions can conflict with which under
 * Convex's optimistic concurrency, and how large their read and write sets
 * are: the figures of what tests/convex/contention.test.ts asserts.
 *
 *   npx tsx bench/conflicts.ts        (npm run bench:conflicts)
 *
 * docs/architecture.md, "Concurrency": a balance change reads only its
 * provider's documents and writes one tier shard of its own; an allocation
 * reads the front of its tier's queue; sweeps read in queries or only what
 * existed before they began. So deposits, withdrawals, yield and an
 * allocation of one tier never invalidate each other's reads, except the
 * event sync's own operations, which one writer applies one at a time.
 *
 * How: tests/support/contention.ts seeds a small pool (one tier, 20
 * providers, three policies) on a fresh convex-test backend (the in-memory
 * Convex runtime, real schema and functions, modules found by
 * simulation/convexModules.ts) and runs each of its OPERATIONS through the
 * real registered function twice, on two identically seeded pools at a frozen
 * clock: once with every mutation's `ctx.db` recording its read set (index
 * ranges with the extent actually read, and ids read; tests/support/occ.ts
 * `recordingDb`), once a second later with every table diffed before and
 * after (its write set). Operation X conflicts with Y when Y's writes (old or
 * new version) fall in X's ranges or ids: the check Convex makes when Y
 * commits while X runs. Per operation:
 * - index ranges read: queries recorded (`withIndex`, a table scan, `first`,
 *   `unique`, … each one range), counted as recorded, repeats included;
 * - documents read by id: distinct ids passed to `db.get`;
 * - documents in its read set: the documents of the pool as it was before the
 *   operation that lie in any range read (occ.ts `inRange`, which stops where
 *   a `take`/`first`/page stopped), plus the ids read, deduplicated;
 * - documents written: the write set (inserted, changed or deleted);
 * - conflicts with: the other operations it conflicts with, either way.
 * Two operations run by the event sync are listed as conflicting but can
 * never collide: the sync applies one event at a time.
 *
 * Prints figures only; no timing assertions. Deterministic (frozen clock,
 * fixed seeding). Results are also written to bench/results/conflicts.md and
 * bench/results/conflicts.summary.json.
 */
import { convexTest } from "convex-test";

import schema from "../convex/schema";
import { convexModules } from "../simulation/convexModules";
import {
  conflictsAmong,
  measure,
  OPERATIONS,
  withReadRecording,
  type Backend,
  type Conflict,
  type Measured,
  type Setup,
} from "../tests/support/contention";
import { describeRead, inRange, type Doc, type Snapshot } from "../tests/support/occ";
import { mdTable, textTable, writeReport } from "./support/report";
import { verdictOf, writeSummary } from "./support/summary";

// ---------------------------------------------------------------------------
// A convex-test backend outside vitest
// ---------------------------------------------------------------------------

/**
 * The chain the pool's functions are configured for, as
 * tests/convex/liquidityFixtures.ts `configureChain()` sets it (that file
 * imports vitest, so the values are repeated here). Nothing is fetched: no
 * measured operation calls the chain.
 */
const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
const CHAIN_ENV = {
  STACKS_NETWORK: "testnet",
  STACKS_API_URL: "http://127.0.0.1:3999",
  VAULT_CONTRACT_ID: `${DEPLOYER}.liquidity-pool`,
  SBTC_CONTRACT_ID: `${DEPLOYER}.sbtc-token`,
  /** The tests' backend key (never used elsewhere). */
  SIGNER_PRIVATE_KEY: "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601",
  VOUCHER_TTL_BLOCKS: "50",
};

const MODULES = withReadRecording(convexModules());
const TABLES = Object.keys(schema.tables);

/** Every document of every table (tests/convex/convexTest.ts `snapshot`, without import.meta.glob). */
async function snapshot(t: Backend): Promise<Snapshot> {
  return await t.run(async (ctx) => {
    const all: Record<string, Doc[]> = {};
    for (const table of TABLES) {
      all[table] = (await ctx.db.query(table as keyof typeof schema.tables).collect()) as unknown as Doc[];
    }
    return all;
  });
}

const SETUP: Setup = { newBackend: () => convexTest(schema, MODULES), tables: TABLES, snapshot };

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

const SYNC = "event sync";
/**
 * The operations of one tier's money path: named deposit*, withdrawal*, premium*, and the
 * allocations (policy 2, behind the clock, and policy 4, which moves it). Two allocations of a
 * tier take turns by design (they draw on the same front of the queue), so a pair of them is
 * not counted against the money path.
 */
const ALLOCATIONS = ["allocation (policy 2)", "allocation moving the clock (policy 4)"];
const isHotPath = (name: string) => /^(deposit|withdrawal|premium)/.test(name) || ALLOCATIONS.includes(name);
const isHotPair = (a: string, b: string) => isHotPath(a) && isHotPath(b) && !(ALLOCATIONS.includes(a) && ALLOCATIONS.includes(b));

/** The documents of the pre-operation pool in any range it read, plus the ids it read: distinct ids. */
function readSetSize(m: Measured): number {
  const ids = new Set(m.reads.ids);
  for (const [table, docs] of Object.entries(m.before)) {
    const ranges = m.reads.ranges.filter((r) => r.table === table);
    if (ranges.length === 0) continue;
    for (const doc of docs) if (ranges.some((r) => inRange(doc, r))) ids.add(doc._id);
  }
  return ids.size;
}

type Pair = {
  a: Measured;
  b: Measured;
  /** Union of the documents of both directions, sorted. */
  documents: string[];
  /** a's reads hit by b's writes, and the other way round. */
  aReadsB: boolean;
  bReadsA: boolean;
  sequential: boolean;
};

/** Unordered pairs, in OPERATIONS order. */
function pairsOf(measured: readonly Measured[], found: readonly Conflict[]): Pair[] {
  const pairs: Pair[] = [];
  for (const [i, a] of measured.entries()) {
    for (const b of measured.slice(i + 1)) {
      const ab = found.find((c) => c.reader === a.operation.name && c.writer === b.operation.name);
      const ba = found.find((c) => c.reader === b.operation.name && c.writer === a.operation.name);
      if (!ab && !ba) continue;
      pairs.push({
        a,
        b,
        documents: [...new Set([...(ab?.documents ?? []), ...(ba?.documents ?? [])])].sort(),
        aReadsB: ab !== undefined,
        bReadsA: ba !== undefined,
        sequential: a.operation.runner === SYNC && b.operation.runner === SYNC,
      });
    }
  }
  return pairs;
}

function reasonOf(p: Pair): string {
  if (p.sequential) return "same sequential writer (event sync)";
  if (p.aReadsB && p.bReadsA) return "each reads the other's writes";
  return `read by ${(p.aReadsB ? p.a : p.b).operation.name}`;
}

const pairLine = (p: Pair) => `${p.a.operation.name} ↔ ${p.b.operation.name}: ${p.documents.join(", ")} — ${reasonOf(p)}`;

/** The pairs outside the event sync, briefly: "X reads the writes of A, B", "C ↔ D" (each reads the other's). */
function outsideSync(concurrent: readonly Pair[]): string {
  const readBy = new Map<string, string[]>();
  const mutual: string[] = [];
  for (const p of concurrent) {
    if (p.aReadsB && p.bReadsA) {
      mutual.push(`${p.a.operation.name} ↔ ${p.b.operation.name}`);
      continue;
    }
    const [reader, writer] = p.aReadsB ? [p.a, p.b] : [p.b, p.a];
    readBy.set(reader.operation.name, [...(readBy.get(reader.operation.name) ?? []), writer.operation.name]);
  }
  const oneWay = [...readBy].map(([reader, writers]) =>
    `${reader} reads the writes of ${writers.length > 2 ? `${writers.length} others` : writers.join(" and ")}`,
  );
  return [...oneWay, ...mutual].join("; ") || "none";
}

/** Each distinct range read, in the order first read, with how many times. */
function rangesRead(m: Measured): string[] {
  const counts = new Map<string, number>();
  for (const r of m.reads.ranges) {
    const text = describeRead(r);
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return [...counts].map(([text, n]) => (n === 1 ? text : `${text} ×${n}`));
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  Object.assign(process.env, CHAIN_ENV);
  const started = performance.now();
  const measured: Measured[] = [];
  for (const operation of OPERATIONS) measured.push(await measure(SETUP, operation));
  const found = conflictsAmong(measured);
  const measuredMs = performance.now() - started;

  const pairs = pairsOf(measured, found);
  const partners = (m: Measured) => pairs.filter((p) => p.a === m || p.b === m).length;

  const header = ["Operation", "Runner", "Index ranges read", "Docs read by id", "Docs in read set", "Docs written", "Conflicts with"];
  const body = measured.map((m) => [
    m.operation.name,
    m.operation.runner,
    String(m.reads.ranges.length),
    String(m.reads.ids.size),
    String(readSetSize(m)),
    String(m.writes.size),
    String(partners(m)),
  ]);

  const sequential = pairs.filter((p) => p.sequential);
  const concurrent = pairs.filter((p) => !p.sequential);
  const hot = measured.filter((m) => isHotPath(m.operation.name));
  const hotConflicts = concurrent.filter((p) => isHotPair(p.a.operation.name, p.b.operation.name));
  const hotNames = hot.map((m) => m.operation.name);
  const verdict =
    `Deposits, withdrawals, yield and allocation of one tier: ${hotConflicts.length} conflicting pair${hotConflicts.length === 1 ? "" : "s"} outside the event sync`;
  const pairCount = `${pairs.length} of ${(measured.length * (measured.length - 1)) / 2} pairs can conflict: ${sequential.length} within the event sync, ${concurrent.length} outside it.`;

  console.log(`\nCONFLICTS between the hot-path transactions (${measured.length} operations, one tier)\n`);
  console.log(textTable(header, body));
  console.log(`\n${pairCount}\n`);
  for (const p of pairs) console.log(`  ${pairLine(p)}`);
  console.log(`\n${verdict}${hotConflicts.length > 0 ? `: ${hotConflicts.map((p) => `${p.a.operation.name} ↔ ${p.b.operation.name}`).join("; ")}` : ""}.`);
  console.log(`  (the operations: ${hotNames.join(", ")})`);

  const markdown = [
    "## Write conflicts on the hot path",
    "",
    "_Generated by `npm run bench:conflicts` (bench/conflicts.ts). convex-test 0.0.60 (the in-memory Convex runtime) with the real schema and functions; " +
      "read sets recorded and conflicts computed by tests/support/occ.ts, the pool and operations of tests/support/contention.ts (also asserted by tests/convex/contention.test.ts)._",
    "",
    "One tier (Conservative, at most 2 backers a policy), 20 providers of 1,000 STX, policy 1 allocated, policies 2 and 3 waiting, one withdrawal reservation. " +
      "Each operation runs through its real registered function on a freshly seeded pool, once recording its reads and once diffing its writes.",
    "",
    "- **Index ranges read**: queries recorded (nested mutations included), repeats counted. **Docs read by id**: distinct ids passed to `db.get`.",
    "- **Docs in read set**: documents of the pool before the operation inside any range read (up to where a `take`/`first`/page stopped), plus the ids read, distinct.",
    "- **Docs written**: documents inserted, changed or deleted. **Conflicts with**: other operations whose writes invalidate its reads or whose reads its writes invalidate.",
    "",
    mdTable(header, body, (i) => i >= 2),
    "",
    "### Pairs that can conflict",
    "",
    pairCount,
    "",
    ...pairs.map((p) => `- ${pairLine(p)}`),
    "",
    `**${verdict}.** (${hotNames.join(", ")}.)`,
    "",
    "<details><summary>Ranges read by each operation (tests/support/occ.ts <code>describeRead</code>)</summary>",
    "",
    ...measured.flatMap((m) => [`**${m.operation.name}** (${m.operation.runner})`, "", ...rangesRead(m).map((r) => `- \`${r}\``), ""]),
    "</details>",
    "",
  ].join("\n");
  writeReport("conflicts.md", markdown);

  const largestRead = measured.reduce((a, b) => (readSetSize(b) > readSetSize(a) ? b : a));
  writeSummary({
    bench: "conflicts",
    title: "Write conflicts between the hot-path transactions of one tier (Convex OCC read and write sets)",
    command: "npm run bench:conflicts",
    notes: [`${measured.length} operations on a 20-provider pool. Outside the event sync: ${outsideSync(concurrent)}.`],
    rows: [
      {
        area: `hot path of one tier (${hot.length} ops: deposits, withdrawals, yield, allocation)`,
        measure: "pairs that can conflict outside the event sync",
        value: hotConflicts.length,
        goal: "none",
        verdict: verdictOf(hotConflicts.length === 0),
      },
      {
        area: `all ${measured.length} hot-path operations`,
        measure: "pairs that can conflict: within the event sync / outside it",
        value: `${sequential.length} / ${concurrent.length}`,
      },
      {
        area: "largest read set",
        measure: "docs in read set / written (operation)",
        value: `${readSetSize(largestRead)} / ${largestRead.writes.size} (${largestRead.operation.name})`,
      },
    ],
  });
  console.log(`\nMeasured in ${(measuredMs / 1000).toFixed(1)} s. Written to bench/results/conflicts.md`);
}

await main();
