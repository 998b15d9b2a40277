/**
 * Time per simulated block of the whole-pool simulation (`npm run simulate`)
 * at 100 and at 1,000 providers.
 *
 *   npx tsx bench/simulate.ts                          (npm run bench:simulate)
 *   npx tsx bench/simulate.ts --providers 100,1000 --blocks 36 --policies 20
 *
 * Each size is one real run of `runSimulation` (simulation/simulation.ts):
 * the local Hiro-compatible server over simnet, the local price feed and the
 * Convex functions in convex-test, every invariant checked after every step,
 * the crash-recovery scenario with seed 42 and the simulation's default
 * 36 steps (each step mines a block of transactions and a block confirming
 * it: 72 blocks) and 20 policies. The progress bar is off; a line per few
 * steps goes to stderr instead. Each run's report goes to
 * reports/bench-simulate-<providers>/ (git-ignored).
 *
 * The figure is the simulation's own `timing.perBlockMs`: the market's wall
 * time (everything after setup) over the chain blocks it mined. Step 0 signs
 * every provider in and takes their deposits, so it grows with the pool; the
 * time per block over the later steps is printed beside it.
 *
 * Measured, never extrapolated; no timing assertions. Results are printed
 * and written to bench/results/simulate.md and simulate.summary.json. Exits
 * non-zero only when a run throws (an invariant failing is a figure).
 */
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { z } from "zod";

import { runSimulation } from "../simulation/simulation";
import type { SimulationResult } from "../simulation/results";
import { mdTable, textTable, writeReport } from "./support/report";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const SCENARIO = "crash-recovery";
const SEED = 42;

const cliSchema = z.object({
  providers: z
    .string()
    .regex(/^\d[\d_]*(,\d[\d_]*)*$/, "--providers takes a comma-separated list of whole numbers")
    .transform((list) => list.split(",").map((n) => Number(n.replace(/_/g, ""))))
    .default([100, 1_000]),
  blocks: z.string().regex(/^\d+$/, "--blocks must be a whole number").transform(Number).default(36),
  policies: z.string().regex(/^\d+$/, "--policies must be a whole number").transform(Number).default(20),
});
type Cli = z.output<typeof cliSchema>;

type Measured = {
  providers: number;
  result: SimulationResult;
  /** Market time per chain block over steps 1…end, i.e. without step 0's sign-ins and first deposits. */
  perBlockAfterOnboardingMs: number;
  onboardingStepMs: number;
  /** 1-minute load average before and after the run: this machine may be busy with other work. */
  load: [number, number];
};

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n)} ms`;
const s = (n: number) => `${fmt(n / 1000, 1)} s`;

function progress(message: string): void {
  process.stderr.write(`[${s(performance.now())}] ${message}\n`);
}

/** The options, or null (with the problem on stderr) when they are malformed. */
function parseCli(): Cli | null {
  const { values } = parseArgs({
    options: { providers: { type: "string" }, blocks: { type: "string" }, policies: { type: "string" } },
    strict: true,
  });
  const cli = cliSchema.safeParse(values);
  if (!cli.success) {
    process.stderr.write(`${cli.error.issues.map((i) => i.message).join("\n")}\n`);
    return null;
  }
  return cli.data;
}

// ---------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------

async function measure(providers: number, blocks: number, policies: number): Promise<Measured> {
  const out = path.join(ROOT, "reports", `bench-simulate-${providers}`);
  const every = Math.max(1, Math.round(blocks / 6));
  progress(`simulating ${fmt(providers)} providers: ${blocks} steps (${blocks * 2} blocks), ${policies} policies; report in ${path.relative(ROOT, out)}/`);
  const load0 = os.loadavg()[0] ?? 0;
  const result = await runSimulation(
    { providers, policies, blocks, scenario: SCENARIO, seed: SEED, progress: false, out },
    {
      afterStep: (_ctx, snapshot) => {
        if (snapshot.step === 0 || (snapshot.step + 1) % every === 0)
          progress(`  ${fmt(providers)} providers: step ${snapshot.step + 1}/${blocks} took ${ms(snapshot.elapsedMs)}`);
      },
    },
  );
  const [first, ...rest] = result.timeline;
  const laterMs = rest.reduce((sum, step) => sum + step.elapsedMs, 0);
  progress(
    `  ${fmt(providers)} providers: ${ms(result.timing.perBlockMs)} per simulated block, ${s(result.timing.totalMs)} in all, ` +
      `${result.ok ? "every invariant holds" : "INVARIANTS FAILED"}`,
  );
  return {
    providers,
    result,
    perBlockAfterOnboardingMs: rest.length > 0 ? laterMs / (rest.length * 2) : Number.NaN,
    onboardingStepMs: first?.elapsedMs ?? Number.NaN,
    load: [load0, os.loadavg()[0] ?? 0],
  };
}

/** One run per size; a run that throws measured nothing: say why, and go on with the other sizes. */
async function measureSizes({ providers: sizes, blocks, policies }: Cli): Promise<{ runs: Measured[]; errors: string[] }> {
  const runs: Measured[] = [];
  const errors: string[] = [];
  for (const providers of sizes) {
    try {
      runs.push(await measure(providers, blocks, policies));
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      errors.push(`${fmt(providers)} providers: the simulation threw: ${message.split("\n")[0]}`);
      progress(`  ${fmt(providers)} providers FAILED: ${message}`);
    }
  }
  return { runs, errors };
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function policiesText(result: SimulationResult): string {
  const byStatus = new Map<string, number>();
  for (const p of result.policies) byStatus.set(p.status, (byStatus.get(p.status) ?? 0) + 1);
  const sold = result.policies.filter((p) => p.status !== "Skipped" && p.status !== "Cancelled").length;
  const statuses = [...byStatus].map(([status, n]) => `${n} ${status}`).join(", ");
  return `${result.policies.length} offered, ${sold} sold (${statuses})`;
}

function invariantsText(result: SimulationResult): string {
  const held = result.invariants.filter((i) => i.ok).length;
  const failed = result.invariants.filter((i) => !i.ok).map((i) => i.name);
  return `${held} of ${result.invariants.length} hold at every step${failed.length ? `; failed: ${failed.join(", ")}` : ""}`;
}

const HEADER = [
  "Providers",
  "Steps (blocks)",
  "Policies",
  "Setup",
  "Market",
  "Total",
  "Per simulated block",
  "Step 0 (sign-ins, deposits)",
  "Per block, steps 1…",
  "Invariants",
  "Load avg before / after",
];

function row({ providers, result, perBlockAfterOnboardingMs, onboardingStepMs, load }: Measured): string[] {
  return [
    fmt(providers),
    `${result.timing.steps} (${result.timing.chainBlocks})`,
    policiesText(result),
    s(result.timing.setupMs),
    s(result.timing.marketMs),
    s(result.timing.totalMs),
    ms(result.timing.perBlockMs),
    s(onboardingStepMs),
    ms(perBlockAfterOnboardingMs),
    invariantsText(result),
    `${fmt(load[0], 1)} / ${fmt(load[1], 1)}`,
  ];
}

function environment({ blocks, policies }: Cli): string {
  return (
    `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? "unknown"}); ` +
    `scenario ${SCENARIO}, seed ${SEED}, ${blocks} steps of 2 blocks, ${policies} policies.`
  );
}

const NOTES = [
  "Per simulated block: the simulation's `timing.perBlockMs`, the market's wall time (everything after setup) over the blocks it mined. " +
    "Step 0 signs every provider in over HTTP and takes their first deposits, so it grows with the pool; " +
    "\"per block, steps 1…\" is the same figure without it.",
  "The first run of the process also loads simnet and the Convex modules, so its setup is the longer one.",
  "Wall time on this machine, convex-test included (its in-memory database scans whole tables, so it slows as the pool grows); " +
    "a load average above the CPU count means other work shared the CPUs during the run.",
];

function printReport(body: string[][], environmentText: string, failures: string[]): void {
  console.log(`\nSimulation: time per simulated block\n${environmentText}\n`);
  console.log(textTable(HEADER, body));
  console.log(`\n${NOTES.map((n) => `- ${n}`).join("\n")}`);
  if (failures.length) console.log(`\n${failures.join("\n")}`);
}

function markdownReport(runs: readonly Measured[], body: string[][], environmentText: string, failures: string[]): string {
  return [
    "## Simulation: time per simulated block",
    "",
    `_Generated by \`npm run bench:simulate\` (bench/simulate.ts) on ${new Date().toISOString().slice(0, 10)}. ${environmentText}_`,
    "",
    mdTable(HEADER, body, (i) => i !== 2 && i !== 9),
    "",
    ...NOTES.map((n) => `- ${n}`),
    ...(failures.length ? ["", ...failures] : []),
    "",
    `Reports: ${runs.map((r) => `\`${path.relative(ROOT, r.result.reportDir ?? "")}/\``).join(", ")} (git-ignored).`,
    "",
  ].join("\n");
}

/** The combined table's rows (`npm run bench`): per size, the time per block, its parts, and whether every invariant held. */
function summaryRows({ providers, result, perBlockAfterOnboardingMs, onboardingStepMs }: Measured): SummaryRowInput[] {
  const area = `${fmt(providers)} providers`;
  const { timing } = result;
  return [
    { area, measure: "time per simulated block", value: ms(timing.perBlockMs) },
    {
      area,
      measure: "per block after step 0 (step 0: sign-ins and first deposits)",
      value: `${ms(perBlockAfterOnboardingMs)} (step 0: ${s(onboardingStepMs)})`,
    },
    { area, measure: "setup / market / total", value: `${s(timing.setupMs)} / ${s(timing.marketMs)} / ${s(timing.totalMs)}` },
    { area, measure: "blocks (steps); policies", value: `${timing.chainBlocks} (${timing.steps}); ${policiesText(result)}` },
    {
      area,
      measure: "invariants",
      value: invariantsText(result),
      goal: "all hold at every step",
      verdict: verdictOf(result.ok),
    },
  ];
}

async function main(): Promise<number> {
  const cli = parseCli();
  if (!cli) return 2;
  const { runs, errors } = await measureSizes(cli);

  const body = runs.map(row);
  const environmentText = environment(cli);
  const failures = errors.map((e) => `- FAILED: ${e}`);
  printReport(body, environmentText, failures);
  writeReport("simulate.md", markdownReport(runs, body, environmentText, failures));
  writeSummary({
    bench: "simulate",
    title: "The whole-pool simulation: time per simulated block",
    command: `npm run bench:simulate${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    notes: [environmentText],
    errors,
    rows: runs.flatMap(summaryRows),
  });
  console.log("\nWritten to bench/results/simulate.md and simulate.summary.json");
  return errors.length > 0 ? 1 : 0;
}

process.exitCode = await main();
