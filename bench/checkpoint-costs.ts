/**
 * A checkpoint run at 10,000 providers, transaction by transaction, against
 * Convex's per-transaction limits (README "Checkpoints"; docs/architecture.md,
 * "Scale"): the snapshot's pages, reading the leaves back for the tree and
 * storing the proofs, queueing `post-checkpoint`, learning the epoch, every
 * round of `publish-leaves`, the verification's reads of the recorded events,
 * and what a provider's request reads afterwards (getExitProof, the voucher
 * rule in a withdrawal reservation, a page of GET /exit/checkpoint), plus one
 * pruning page.
 *
 *   npm run bench:checkpoint                      # 10,000 providers
 *   npx tsx bench/checkpoint-costs.ts --providers=2000
 *
 * How it counts. The backend is convex-test with the real schema and
 * functions, created with `transactionLimits: true`, so a transaction over a
 * limit throws as on a deployment. Each step's model function (the one the
 * job's mutation or query runs) runs in its own transaction inside `t.run`,
 * with `ctx.db` counted by bench/support/countingDb.ts; the transaction's own
 * figures come from convex-test's meter (`ctx.meta.getTransactionMetrics()`),
 * which counts what Convex's limits count (documents scanned — a patch also
 * scans the document it patches —, written, index ranges, bytes). The tree
 * itself is built in the action, outside any transaction: its time is shown.
 *
 * The chain's part is played by hand: each queued transaction is marked
 * confirmed and the event the sync would record (`checkpoint-posted`, then
 * each `checkpoint-leaves`) is inserted, as the sync writes it.
 *
 * Seeded by direct inserts, in batches (the ledger would take hours in
 * convex-test): per provider its `providers` row, an STX balance (every third
 * also sBTC), its provider record and the change that created it, and the
 * tier shards and flow totals those add up to.
 */
import { privateKeyToAddress } from "@stacks/transactions";
import { convexTest } from "convex-test";

import type { Id } from "../convex/_generated/dataModel";
import type { MutationCtx } from "../convex/_generated/server";
import { buildMerkleSumTree, merkleSumProof, type ExitLeaf } from "../convex/domain/merkleSum";
import { exitVoucherRoom, exitViewOf } from "../convex/model/checkpoints/exitView";
import { pruneCheckpointLeaves } from "../convex/model/checkpoints/pruning";
import {
  exitLeafOf,
  hexOf,
  leafPage,
  notePosted,
  queuePost,
  queuePublications,
  storedProof,
  storeProofs,
} from "../convex/model/checkpoints/publishing";
import { beginSnapshot, copySnapshotPage, finishSnapshot, SNAPSHOT_PAGE } from "../convex/model/checkpoints/snapshot";
import { assembleLeaves, postedEvent, publishedLeavesPage, recordVerification, type PublishedBatch } from "../convex/model/checkpoints/verification";
import { shardOf } from "../convex/model/ledger/tierTotals";
import { seedDefaultTierConfigs } from "../convex/model/policies/tierConfigs";
import schema from "../convex/schema";
import type { Token, VaultEvent } from "../convex/validators";
import { convexModules } from "../simulation/convexModules";
import { LIMIT_KEYS, LIMITS, transactionUsage, type LimitKey, type PerLimit } from "./support/convexLimits";
import { runCounted, type Counts } from "./support/countingDb";
import { ledgerTemplate, type Template } from "./support/ledgerTemplate";
import { mdTable, textTable, writeReport } from "./support/report";
import { inserter } from "./support/seeding";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

const DEFAULT_PROVIDERS = 10_000;
const SEED_BATCH = 1_000;
/** The job's page sizes (convex/checkpoints.ts, convex/exit.ts). */
const TREE_READ_PAGE = 2_000;
const PROOF_WRITE_PAGE = 500;
const HTTP_LEAF_PAGE = 1_000;

const MODULES = convexModules();
const newBackend = () => convexTest({ schema, modules: MODULES, transactionLimits: true });
type Backend = ReturnType<typeof newBackend>;

function providersOption(): number {
  const arg = process.argv.find((a) => a.startsWith("--providers="));
  const n = arg ? Number(arg.split("=")[1]) : DEFAULT_PROVIDERS;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--providers must be a positive integer, got ${arg}`);
  return n;
}

// ---------------------------------------------------------------------------
// Measuring

type Measured = { step: string; counts: Counts; used: PerLimit; ms: number };
const measured: Measured[] = [];

async function measure<T>(t: Backend, step: string, run: (ctx: MutationCtx) => Promise<T>): Promise<T> {
  const started = performance.now();
  const { counts, result, after } = await runCounted(t, run, async (ctx) => (await transactionUsage(ctx)).used);
  measured.push({ step, counts, used: after, ms: performance.now() - started });
  return result;
}

// ---------------------------------------------------------------------------
// Seeding

async function template(): Promise<Template> {
  const principal = privateKeyToAddress(`${"9".repeat(62)}01`, "testnet");
  const deposit: VaultEvent = {
    kind: "funds-deposited",
    txid: "0xtemplate",
    eventIndex: 0,
    blockHeight: 1n,
    blockHash: "0xblock1",
    token: "STX",
    amount: 1_000_000n,
    totalBalance: 1_000_000n,
    totalLocked: 0n,
    depositor: principal,
    seq: 1n,
  };
  return await ledgerTemplate(newBackend(), deposit, ["providers", "providerBalances", "tierTotalShards"]);
}

/** Provider `i`'s books: balances per token (STX always, sBTC every third) and the record's flows. */
function booksOf(i: number) {
  const stxIn = 1_000_000_000n + BigInt(i) * 7_919n;
  const stxOut = i % 5 === 0 ? 100_000_000n : 0n;
  const yieldStx = BigInt(i % 13) * 1_000n;
  const sbtcIn = i % 3 === 0 ? 50_000n + BigInt(i) : 0n;
  return { stx: stxIn - stxOut + yieldStx, sbtc: sbtcIn, stxIn, stxOut, sbtcIn, sbtcOut: 0n };
}

async function seed(t: Backend, size: number): Promise<string[]> {
  const tpl = await template();
  const principals = Array.from({ length: size }, (_, i) => privateKeyToAddress((i + 1).toString(16).padStart(64, "0") + "01", "testnet"));
  const shards = new Map<string, { capital: bigint; providerCount: bigint }>();
  const flows = { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };
  const now = Date.now();
  await t.run(async (ctx) => {
    await seedDefaultTierConfigs(ctx as unknown as MutationCtx);
  });
  for (let start = 0; start < size; start += SEED_BATCH) {
    await t.run(async (ctx) => {
      const insert = inserter(ctx);
      for (let i = start; i < Math.min(start + SEED_BATCH, size); i++) {
        const provider = principals[i]!;
        const books = booksOf(i);
        await insert("providers", { ...tpl.providers, principal: provider, createdAt: now });
        for (const token of ["STX", "sBTC"] as Token[]) {
          const total = token === "STX" ? books.stx : books.sbtc;
          if (total === 0n) continue;
          await insert("providerBalances", {
            ...tpl.providerBalances,
            provider,
            token,
            shard: shardOf(provider),
            total,
            locked: 0n,
            reserved: 0n,
            available: total,
            accruedYield: 0n,
            updatedAt: now,
          });
          const key = `${token}/${shardOf(provider)}`;
          const shard = shards.get(key) ?? { capital: 0n, providerCount: 0n };
          shard.capital += total;
          shard.providerCount += 1n;
          shards.set(key, shard);
        }
        await insert("providerRecords", {
          provider,
          nonce: 0n,
          stxIn: books.stxIn,
          stxOut: books.stxOut,
          sbtcIn: books.sbtcIn,
          sbtcOut: books.sbtcOut,
          createdSeq: BigInt(i + 1),
        });
        await insert("providerRecordChanges", {
          operationId: `seed:${i}`,
          provider,
          token: "STX",
          direction: "in",
          amount: books.stxIn,
          seq: BigInt(i + 1),
        });
        flows.stxIn += books.stxIn;
        flows.stxOut += books.stxOut;
        flows.sbtcIn += books.sbtcIn;
      }
    });
  }
  await t.run(async (ctx) => {
    const insert = inserter(ctx);
    for (const [key, sums] of shards) {
      const [token, shard] = key.split("/") as [Token, string];
      await insert("tierTotalShards", {
        ...tpl.tierTotalShards,
        token,
        shard: Number(shard),
        capital: sums.capital,
        locked: 0n,
        reserved: 0n,
        accruedYield: 0n,
        providerCount: sums.providerCount,
        activePolicyCount: 0n,
      });
    }
    await insert("vaultFlowTotals", { token: "STX", totalIn: flows.stxIn, totalOut: flows.stxOut });
    await insert("vaultFlowTotals", { token: "sBTC", totalIn: flows.sbtcIn, totalOut: flows.sbtcOut });
  });
  return principals;
}

// ---------------------------------------------------------------------------
// The chain's part, by hand

let txCounter = 0;
const position = (blockHeight: bigint) => {
  txCounter += 1;
  return { txid: `0xbench${txCounter}`, eventIndex: 0, blockHeight, blockHash: `0xbenchblock${blockHeight}` };
};

/** Marks every pending checkpoint transaction confirmed and records the event each prints. */
async function mineCheckpointCalls(t: Backend, epoch: bigint): Promise<number> {
  return await t.run(async (ctx) => {
    const pending = await ctx.db
      .query("chainTransactions")
      .withIndex("by_status", (q) => q.eq("status", "pending"))
      .collect();
    for (const tx of pending) {
      const call = tx.checkpointCall;
      if (!call) continue;
      await ctx.db.patch("chainTransactions", tx._id, { status: "confirmed" });
      const at = position(BigInt(txCounter + 100));
      const event =
        call.kind === "post"
          ? { ...at, kind: "checkpoint-posted" as const, epoch, root: call.root, stxSum: call.stxSum, sbtcSum: call.sbtcSum, asOfSeq: call.asOfSeq, flows: call.flows, leafCount: call.leafCount }
          : { ...at, kind: "checkpoint-leaves" as const, epoch: call.epoch, offset: call.offset, leaves: call.leaves };
      await ctx.db.insert("vaultEvents", { ...at, event, status: "recorded", appliedAt: Date.now() });
    }
    return pending.length;
  });
}

// ---------------------------------------------------------------------------
// The run

type Timings = { seedMs: number; treeMs: number; verifyTreeMs: number; rounds: number; leaves: number };

async function checkpointRun(t: Backend, principals: readonly string[]): Promise<Timings> {
  const timings: Timings = { seedMs: 0, treeMs: 0, verifyTreeMs: 0, rounds: 0, leaves: 0 };
  // 1–2. The snapshot, holding events.
  const begun = await measure(t, "snapshot: begin (hold events, fix as-of-seq)", (ctx) => beginSnapshot(ctx, Date.now()));
  if (!begun.started) throw new Error(begun.reason);
  const runId = begun.runId;
  for (;;) {
    const page = await measure(t, `snapshot: copy a page (${SNAPSHOT_PAGE} records)`, (ctx) => copySnapshotPage(ctx, runId, Date.now()));
    if ("failed" in page) throw new Error(page.failed);
    if (page.done) break;
  }
  const finished = await measure(t, "snapshot: finish (check sums, release)", (ctx) => finishSnapshot(ctx, runId, Date.now()));
  if ("failed" in finished) throw new Error(finished.failed);

  // 3. The tree: leaves read back, built in the action, proofs stored, post queued.
  const leaves: ExitLeaf[] = [];
  for (;;) {
    const page = await measure(t, `tree: read leaves back (${TREE_READ_PAGE} a query)`, (ctx) =>
      leafPage(ctx, runId, BigInt(leaves.length), TREE_READ_PAGE),
    );
    leaves.push(...page.map(exitLeafOf));
    if (page.length < TREE_READ_PAGE) break;
  }
  timings.leaves = leaves.length;
  let started = performance.now();
  const tree = buildMerkleSumTree(leaves);
  const proofs = leaves.map((_, i) => storedProof(merkleSumProof(tree, i)));
  timings.treeMs = performance.now() - started;
  for (let from = 0; from < leaves.length; from += PROOF_WRITE_PAGE) {
    await measure(t, `tree: store proofs (${PROOF_WRITE_PAGE} leaves)`, (ctx) =>
      storeProofs(ctx, runId, BigInt(from), proofs.slice(from, from + PROOF_WRITE_PAGE)),
    );
  }
  const queued = await measure(t, "post: queue post-checkpoint", (ctx) =>
    queuePost(ctx, runId, { root: hexOf(tree.root.hash), stxSum: tree.root.stx, sbtcSum: tree.root.sbtc }),
  );
  if (queued !== "queued") throw new Error(`post not queued: ${queued}`);

  // 4. The epoch, from the recorded checkpoint-posted.
  await mineCheckpointCalls(t, 1n);
  const posted = await measure(t, "post: learn the epoch", (ctx) => notePosted(ctx, runId));
  if (posted !== "posted") throw new Error(`not posted: ${posted}`);

  // 5. The leaves, 100 a transaction, 10 unconfirmed at a time.
  for (;;) {
    timings.rounds++;
    const progress = await measure(t, "publish: a round of publish-leaves (≤ 10 queued)", (ctx) => queuePublications(ctx, runId));
    if (progress.status === "published") break;
    if (progress.status !== "publishing") throw new Error(`publishing stopped: ${progress.status}`);
    await mineCheckpointCalls(t, 1n);
  }

  // 6. Verification from the recorded events.
  await measure(t, "verify: read checkpoint-posted", (ctx) => postedEvent(ctx, 1n));
  const batches: PublishedBatch[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page: Awaited<ReturnType<typeof publishedLeavesPage>> = await measure(t, "verify: read checkpoint-leaves (20 events a query)", (ctx) =>
      publishedLeavesPage(ctx, 1n, cursor),
    );
    batches.push(...page.batches);
    if (page.isDone) break;
    cursor = page.continueCursor;
  }
  started = performance.now();
  const assembled = assembleLeaves(batches, BigInt(leaves.length));
  if (!assembled.leaves) throw new Error(`published leaves incomplete: ${assembled.conflict}`);
  const rebuilt = buildMerkleSumTree(assembled.leaves);
  timings.verifyTreeMs = performance.now() - started;
  const outcome = await measure(t, "verify: record the outcome", (ctx) =>
    recordVerification(ctx, runId, { root: hexOf(rebuilt.root.hash), stxSum: rebuilt.root.stx, sbtcSum: rebuilt.root.sbtc }),
  );
  if (outcome !== "verified") throw new Error(`verification: ${outcome}`);

  // What a provider's requests read afterwards.
  const someone = principals[Math.floor(principals.length / 2)]!;
  await measure(t, "exit: getExitProof (one provider)", (ctx) => exitViewOf(ctx, someone));
  await measure(t, "exit: the voucher rule in a reservation", (ctx) => exitVoucherRoom(ctx, someone, "STX", 0n));
  await measure(t, `exit: GET /exit/checkpoint, a page (${HTTP_LEAF_PAGE} leaves)`, (ctx) => leafPage(ctx, runId, 0n, HTTP_LEAF_PAGE));

  // Pruning, as it runs once this run's leaves are no longer needed.
  await t.run(async (ctx) => {
    await ctx.db.patch("checkpointRuns", runId as Id<"checkpointRuns">, { status: "failed" });
  });
  await measure(t, "prune: delete a page of an old run's leaves", (ctx) => pruneCheckpointLeaves(ctx));
  return timings;
}

// ---------------------------------------------------------------------------
// Reporting

type StepRow = { step: string; transactions: number; max: PerLimit; maxRead: number; maxWritten: number; totalMs: number };

function byStep(): StepRow[] {
  const rows: StepRow[] = [];
  for (const m of measured) {
    let row = rows.find((r) => r.step === m.step);
    if (!row) {
      row = { step: m.step, transactions: 0, max: Object.fromEntries(LIMIT_KEYS.map((k) => [k, 0])) as PerLimit, maxRead: 0, maxWritten: 0, totalMs: 0 };
      rows.push(row);
    }
    row.transactions++;
    row.totalMs += m.ms;
    for (const key of LIMIT_KEYS) row.max[key] = Math.max(row.max[key], m.used[key]);
    row.maxRead = Math.max(row.maxRead, m.counts.docsRead);
    row.maxWritten = Math.max(row.maxWritten, m.counts.docsWritten);
  }
  return rows;
}

const fmt = (n: number) => n.toLocaleString("en-US");
const pct = (used: number, key: LimitKey) => `${((100 * used) / LIMITS[key]).toFixed(used * 100 < LIMITS[key] ? 2 : 1)}%`;
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
/** The limit a step comes closest to, as a share. */
function tightest(max: PerLimit): { key: LimitKey; share: number } {
  let best: { key: LimitKey; share: number } = { key: "documentsRead", share: 0 };
  for (const key of LIMIT_KEYS) {
    const share = max[key] / LIMITS[key];
    if (share > best.share) best = { key, share };
  }
  return best;
}

const LIMIT_LABEL: Record<LimitKey, string> = {
  documentsRead: "documents scanned",
  documentsWritten: "documents written",
  databaseQueries: "index ranges",
  bytesRead: "data read",
  bytesWritten: "data written",
  functionsScheduled: "functions scheduled",
};

async function main(): Promise<void> {
  const size = providersOption();
  const t = newBackend();
  let started = performance.now();
  const principals = await seed(t, size);
  const seedMs = performance.now() - started;
  process.stderr.write(`seeded ${fmt(size)} providers in ${(seedMs / 1000).toFixed(1)} s\n`);
  started = performance.now();
  const timings = await checkpointRun(t, principals);
  const runMs = performance.now() - started;
  const rows = byStep();
  const withinAll = rows.every((r) => LIMIT_KEYS.every((k) => r.max[k] <= LIMITS[k]));
  const worst = rows.map((r) => ({ step: r.step, ...tightest(r.max) })).sort((a, b) => b.share - a.share)[0]!;

  const header = ["Step", "Transactions", "Docs read / written (proxy)", "Scanned", "Written", "Index ranges", "Data read / written", "Tightest limit", "Within limits"];
  const body = rows.map((r) => {
    const tight = tightest(r.max);
    return [
      r.step,
      fmt(r.transactions),
      `${fmt(r.maxRead)} / ${fmt(r.maxWritten)}`,
      `${fmt(r.max.documentsRead)} (${pct(r.max.documentsRead, "documentsRead")})`,
      `${fmt(r.max.documentsWritten)} (${pct(r.max.documentsWritten, "documentsWritten")})`,
      `${fmt(r.max.databaseQueries)} (${pct(r.max.databaseQueries, "databaseQueries")})`,
      `${mib(r.max.bytesRead)} / ${mib(r.max.bytesWritten)}`,
      `${LIMIT_LABEL[tight.key]} ${(tight.share * 100).toFixed(1)}%`,
      LIMIT_KEYS.every((k) => r.max[k] <= LIMITS[k]) ? "yes" : "NO",
    ];
  });
  console.log(`\nCHECKPOINT COSTS at ${fmt(size)} providers (${fmt(timings.leaves)} leaves)\n`);
  console.log(textTable(header, body));
  console.log(`\nTree: built and proved in ${timings.treeMs.toFixed(0)} ms; rebuilt from the published leaves in ${timings.verifyTreeMs.toFixed(0)} ms.`);
  console.log(`Publishing: ${timings.rounds} rounds. Within every limit in every transaction: ${withinAll ? "yes" : "NO"}.`);

  const markdown = [
    "## Checkpoint costs",
    "",
    "_Generated by `npm run bench:checkpoint` (bench/checkpoint-costs.ts). convex-test 0.0.60 (the in-memory Convex runtime) with the real schema and `transactionLimits: true`._",
    "",
    `${fmt(size)} providers, each with a provider record and an STX balance (every third also sBTC): ${fmt(timings.leaves)} leaves. ` +
      "Every transaction of one checkpoint run, from the snapshot to the verification, and what a provider's requests read afterwards. " +
      "Per step: how many transactions it took, and the largest one's figures.",
    "",
    "- **Docs read / written (proxy)**: documents returned by the queries and `get`s, and `insert`/`patch`/`delete` calls (bench/support/countingDb.ts).",
    "- **Scanned / written / index ranges / data**: convex-test's transaction meter, which counts what Convex's limits count (a patch also scans its document).",
    `- Convex's limits per transaction: ${LIMIT_KEYS.filter((k) => k !== "functionsScheduled").map((k) => `${LIMIT_LABEL[k]} ${k.startsWith("bytes") ? mib(LIMITS[k]) : fmt(LIMITS[k])}`).join(", ")}.`,
    "",
    mdTable(header, body, (i) => i >= 1 && i <= 5),
    "",
    `- The tree (${fmt(timings.leaves)} leaf hashes and as many node hashes, and every leaf's proof) is built in the job's action, outside any transaction: ${timings.treeMs.toFixed(0)} ms here; ` +
      `rebuilding it from the published leaves for the verification: ${timings.verifyTreeMs.toFixed(0)} ms.`,
    `- Publishing took ${timings.rounds} rounds of the job: ≤ 10 \`publish-leaves\` transactions unconfirmed at a time (a sender may chain 25 in a mempool), 100 leaves each.`,
    "- The snapshot holds vault events for its pages only: between `begin` and `finish` the event sync and the chainhook confirmer are refused with EVENTS_HELD and try again.",
    "- Not counted: the event sync's transactions that record the leaves' events (one `checkpoint-leaves` event is one document of ~100 leaves, 25 to an apply batch).",
    "",
    `Every transaction within every limit: **${withinAll ? "yes" : "NO"}**. Closest to a limit: ${worst.step}, ${LIMIT_LABEL[worst.key]} at ${(worst.share * 100).toFixed(1)}%.`,
    "",
    `_Seeding took ${(seedMs / 1000).toFixed(1)} s and the run ${(runMs / 1000).toFixed(1)} s of convex-test time (which walks whole tables on every query; it says nothing of a deployment)._`,
    "",
  ].join("\n");
  writeReport("checkpoint-costs.md", markdown);

  const summaryRows: SummaryRowInput[] = rows.map((r) => {
    const ok = LIMIT_KEYS.every((k) => r.max[k] <= LIMITS[k]);
    return {
      area: `checkpoint at ${fmt(size)} providers: ${r.step}`,
      measure: `largest of ${r.transactions} txn: scanned / written / index ranges`,
      value: `${fmt(r.max.documentsRead)} / ${fmt(r.max.documentsWritten)} / ${fmt(r.max.databaseQueries)}`,
      goal: "within Convex's limits",
      verdict: verdictOf(ok),
    };
  });
  summaryRows.push({
    area: `checkpoint at ${fmt(size)} providers`,
    measure: "tree built and proved in the action (ms)",
    value: `${timings.treeMs.toFixed(0)} ms`,
  });
  writeSummary({
    bench: "checkpoint-costs",
    title: "A checkpoint run at scale: every transaction against Convex's limits",
    command: `npm run bench:checkpoint${size !== DEFAULT_PROVIDERS ? ` -- --providers=${size}` : ""}`,
    notes: [`Closest to a limit: ${worst.step}, ${LIMIT_LABEL[worst.key]} at ${(worst.share * 100).toFixed(1)}%.`],
    rows: summaryRows,
  });
  console.log("\nWritten to bench/results/checkpoint-costs.md");
}

await main();
