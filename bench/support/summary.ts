/**
 * The machine-readable summary every benchmark writes next to its Markdown
 * report: `bench/results/<bench>.summary.json`. It holds the bench's key
 * figures, the rows `bench/all.ts` puts into the one combined table, so that
 * the table can be printed again without re-running anything
 * (`npm run bench -- --from-results`).
 *
 * A row is one figure: what was measured (`area`, `measure`), its `value`,
 * and, when the design sets a goal for it, the goal and whether it was met.
 * Values are either display strings ("1.50×", "525 ms", "5 / 5") or exact
 * integers (counts); never floats, so no amount of money loses a unit.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { z } from "zod";

export const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "results");

/** Every bench that writes a summary, by the name its files carry. */
export const BENCH_NAMES = [
  "contract-costs",
  "convex-costs",
  "collateral-costs",
  "health-sweep",
  "checkpoint-costs",
  "conflicts",
  "sync",
  "simulate",
] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

/** PASS / FAIL: a figure judged against its goal. INFO: a figure without a goal. */
export const VERDICTS = ["PASS", "FAIL", "INFO"] as const;
export type Verdict = (typeof VERDICTS)[number];

/** A display string, or an exact integer (a count). */
const figureSchema = z.union([z.string().min(1), z.number().int().safe()]);

export const summaryRowSchema = z
  .strictObject({
    /** What the figure is about: an operation, a run, a pool size. */
    area: z.string().min(1),
    /** What was measured, with its unit. */
    measure: z.string().min(1),
    value: figureSchema,
    /** The goal the design sets for this figure, as text ("≤ 1.5× bare", "≥ 500/s"). */
    goal: z.string().min(1).optional(),
    /** Defaults to INFO; a row with a goal must say whether it met it. */
    verdict: z.enum(VERDICTS).default("INFO"),
  })
  .refine((row) => (row.goal === undefined) === (row.verdict === "INFO"), {
    message: "a row with a goal has a PASS or FAIL verdict; a row without one is INFO",
  });
export type SummaryRow = z.output<typeof summaryRowSchema>;
export type SummaryRowInput = z.input<typeof summaryRowSchema>;

export const SUMMARY_FORMAT = "bithedge-bench-summary/1";

export const benchSummarySchema = z.strictObject({
  format: z.literal(SUMMARY_FORMAT),
  bench: z.enum(BENCH_NAMES),
  /** One line: what the bench measures. */
  title: z.string().min(1),
  generatedAt: z.iso.datetime(),
  /** Wall time of the bench process up to writing this summary. */
  durationMs: z.number().int().nonnegative(),
  /** How it was run, to reproduce the figures. */
  command: z.string().min(1),
  /** Short remarks the figures need (sizes measured vs predicted, caveats). */
  notes: z.array(z.string().min(1)).default([]),
  /**
   * What the bench could not measure because part of it broke. Non-empty
   * means the bench crashed part-way, and `npm run bench` fails.
   */
  errors: z.array(z.string().min(1)).default([]),
  rows: z.array(summaryRowSchema),
});
export type BenchSummary = z.output<typeof benchSummarySchema>;

export function summaryPath(bench: BenchName): string {
  return path.join(RESULTS_DIR, `${bench}.summary.json`);
}

/**
 * Validates and writes a bench's summary (a bench that builds an invalid one
 * fails here, not later in the combined table). Stamps the time and the
 * process's run time.
 */
export function writeSummary(input: {
  bench: BenchName;
  title: string;
  command: string;
  notes?: string[];
  errors?: string[];
  rows: SummaryRowInput[];
}): string {
  const summary = benchSummarySchema.parse({
    format: SUMMARY_FORMAT,
    generatedAt: new Date().toISOString(),
    // performance.now() counts from the start of the process: the bench's whole run.
    durationMs: Math.round(performance.now()),
    ...input,
  });
  const file = summaryPath(input.bench);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  return file;
}

export type SummaryRead =
  | { state: "ok"; summary: BenchSummary }
  | { state: "missing" }
  | { state: "invalid"; problem: string };

export function readSummary(bench: BenchName): SummaryRead {
  let text: string;
  try {
    text = readFileSync(summaryPath(bench), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { state: "invalid", problem: `not JSON: ${(error as Error).message}` };
  }
  const parsed = benchSummarySchema.safeParse(json);
  if (!parsed.success) {
    const problem = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    return { state: "invalid", problem };
  }
  if (parsed.data.bench !== bench) return { state: "invalid", problem: `names bench ${parsed.data.bench}, not ${bench}` };
  return { state: "ok", summary: parsed.data };
}

/** PASS or FAIL. */
export const verdictOf = (pass: boolean): Verdict => (pass ? "PASS" : "FAIL");
