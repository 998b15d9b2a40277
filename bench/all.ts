/**
 * `npm run bench`: runs every benchmark, one after another, each in its own
 * process (tsx; its output goes straight to the console, so its progress
 * shows), then reads the summaries they wrote (bench/results/*.summary.json,
 * validated with zod) and prints ONE table: contract cost ratios, Convex
 * documents per operation at scale and write conflicts on the hot path, sync
 * throughput, and the simulation's time per simulated block. The table is
 * also written to bench/results/summary.md.
 *
 *   npm run bench                                   # every bench (about 35 minutes on 2 cores, 20 of them the sync catch-up of 100,000 events)
 *   npm run bench -- --only contract,sync           # these only (names: contract-costs or contract, …)
 *   npm run bench -- --skip simulate,health         # all but these
 *   npm run bench -- --from-results                 # run nothing: the table from the summaries there are
 *   npm run bench -- --from-results --markdown      # the same in Markdown, for the README
 *
 * Benches not run this time keep their earlier figures in the table; each
 * bench's line says when its figures were made.
 *
 * Exit code: 1 when a bench crashed (exited without writing a fresh summary,
 * or reported that it could not measure something); goals not met are
 * figures (FAIL in the table), not errors. A bench that exits non-zero after
 * writing its summary (health-sweep does when its goal fails) counts as
 * having run. 2 on bad options, 130 when interrupted.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { notesMarkdown, renderMarkdown, renderText, tally } from "./support/combinedTable";
import { BENCHES, benchNamed, type BenchEntry } from "./support/registry";
import { readSummary, RESULTS_DIR, type BenchName, type SummaryRead } from "./support/summary";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** tsx as a Node loader: each bench is then one process (tsx's CLI would run it in a second one). */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

const USAGE = `Usage: npm run bench -- [--only <names>] [--skip <names>] [--from-results] [--markdown]

  --only <a,b>      run only these benches
  --skip <a,b>      run every bench but these
  --from-results    run nothing; print the table from bench/results/*.summary.json
  --markdown        print the table as Markdown instead of text
  -h, --help        this text

Benches: ${BENCHES.map((b) => `${b.alias} (${b.name})`).join(", ")}
`;

type Options = { selected: BenchEntry[]; fromResults: boolean; markdown: boolean };

function parseOptions(argv: string[]): Options | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        only: { type: "string" },
        skip: { type: "string" },
        "from-results": { type: "boolean" },
        markdown: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "";
  const listed = (flag: string, list: string | undefined): BenchEntry[] | string => {
    if (list === undefined) return [];
    const names = list.split(",").map((n) => n.trim()).filter(Boolean);
    const unknown = names.filter((n) => !benchNamed(n));
    if (unknown.length > 0) return `--${flag}: no bench named ${unknown.join(", ")}`;
    return names.map((n) => benchNamed(n) as BenchEntry);
  };
  const only = listed("only", values.only);
  const skip = listed("skip", values.skip);
  if (typeof only === "string") return only;
  if (typeof skip === "string") return skip;
  const selected = BENCHES.filter((b) => (values.only === undefined || only.includes(b)) && !skip.includes(b));
  return { selected, fromResults: values["from-results"] === true, markdown: values.markdown === true };
}

// ---------------------------------------------------------------------------
// Running the benches
// ---------------------------------------------------------------------------

type Run = { entry: BenchEntry; ms: number; exit: string; crashed: string | null };

let interrupted = false;

/** Runs one bench script in its own process, its output on this console; resolves with how it ended. */
function runScript(entry: BenchEntry): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, entry.script], { cwd: ROOT, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

async function runBench(entry: BenchEntry, index: number, count: number): Promise<Run> {
  console.log(`\n━━━ [${index + 1}/${count}] bench:${entry.alias} (${entry.script}) ━━━\n`);
  const startedAt = Date.now();
  const { code, signal } = await runScript(entry);
  const ms = Date.now() - startedAt;
  const exit = signal ? `killed by ${signal}` : `exit code ${code}`;
  // Only a summary written by this run counts: an older one would pass off stale figures as new.
  const read = readSummary(entry.name);
  const fresh = read.state === "ok" && Date.parse(read.summary.generatedAt) >= startedAt;
  let crashed: string | null = null;
  if (read.state === "invalid") crashed = `wrote an invalid summary: ${read.problem}`;
  else if (!fresh) crashed = `${exit}, no new summary`;
  else if (read.state === "ok" && read.summary.errors.length > 0) crashed = `could not measure: ${read.summary.errors.join("; ")}`;
  const outcome = crashed ? `CRASHED (${crashed})` : code === 0 ? "done" : `done (${exit} after writing its summary)`;
  console.log(`\n━━━ bench:${entry.alias}: ${outcome} in ${(ms / 1000).toFixed(1)} s ━━━`);
  return { entry, ms, exit, crashed };
}

// ---------------------------------------------------------------------------
// The combined table
// ---------------------------------------------------------------------------

function readAll(): Map<BenchName, SummaryRead> {
  return new Map(BENCHES.map((b) => [b.name, readSummary(b.name)]));
}

function summaryMarkdown(reads: ReadonlyMap<BenchName, SummaryRead>): string {
  return [
    "## Benchmarks: summary",
    "",
    "_Built by `npm run bench` (bench/all.ts) from bench/results/*.summary.json; each bench's line says when its figures were made. " +
      "`npm run bench -- --from-results` prints it again without running anything. The full reports are the other files in bench/results/._",
    "",
    renderMarkdown(reads),
    "",
    `Verdicts: ${tally(reads)}.`,
    "",
    ...notesMarkdown(reads),
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (typeof options === "string") {
    (options ? process.stderr : process.stdout).write(options ? `${options}\n\n${USAGE}` : USAGE);
    return options ? 2 : 0;
  }

  const runs: Run[] = [];
  if (!options.fromResults) {
    process.on("SIGINT", () => {
      // The bench running now gets the same signal; stop after it instead of starting the next.
      interrupted = true;
    });
    for (const [i, entry] of options.selected.entries()) {
      runs.push(await runBench(entry, i, options.selected.length));
      if (interrupted) break;
    }
  }

  const reads = readAll();
  const summaryFile = path.join(RESULTS_DIR, "summary.md");
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(summaryFile, summaryMarkdown(reads));

  console.log(options.markdown ? `\n${renderMarkdown(reads)}\n` : `\nBENCHMARKS: SUMMARY\n\n${renderText(reads)}\n`);
  console.log(`Verdicts: ${tally(reads)}.`);
  if (runs.length > 0) {
    console.log("\nThis run:");
    for (const r of runs) {
      console.log(`  bench:${r.entry.alias.padEnd(11)} ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.crashed ? `CRASHED: ${r.crashed}` : r.exit}`);
    }
  }
  console.log(`\nWritten to ${path.relative(ROOT, summaryFile)}`);

  if (interrupted) return 130;
  return runs.some((r) => r.crashed) ? 1 : 0;
}

// `npm run bench -- --from-results --markdown | head`: a reader that stops early is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await main();
