/**
 * `npm run simulate` — the whole pool running locally, offline: the local
 * Hiro-compatible server over simnet, a local price feed and the Convex
 * functions, driven through a market with a price path; checks every
 * invariant and writes a report. Exits non-zero when an invariant fails.
 *
 *   npm run simulate -- --providers 12 --policies 20 --scenario crash-recovery --seed 42 --blocks 36 --out reports/x
 *   npm run simulate -- --chainhooks off   (the poller as the only ingest)
 *   npm run simulate -- --scenario backend-outage   (the backend stops; every provider exits after SILENCE)
 *   npm run simulate -- --scenario stolen-key       (a thief with the hot keys; the watcher revokes them)
 */
import { parseArgs } from "node:util";

import { z } from "zod";

import {
  defaultOutDir,
  simulationOptionsSchema,
  UNBOUNDED_OUTFLOW_LIMIT,
  VAULT_DEFAULT_OUTFLOW_LIMIT,
  type OutflowLimit,
} from "./options";
import { keyFigures } from "./report/figures";
import { SCENARIOS } from "./scenarios";
import { runSimulation } from "./simulation";

const USAGE = `Usage: npm run simulate -- [options]

  --providers <n>   liquidity providers, spread over the three tiers (default 12)
  --policies <n>    policies offered to the pool (default 20)
  --scenario <s>    ${SCENARIOS.join(" | ")} (default crash-recovery);
                    backend-outage and stolen-key are incidents on the crash-recovery market
  --seed <n>        seed of every random choice (default 42)
  --blocks <n>      market steps; each is a block of transactions plus a confirming block (default 36)
  --out <dir>       report directory (default reports/simulation-<seed>)
  --chainhooks <on|off>
                    vault events also come by chainhook deliveries (the poller reconciling), or
                    by the poller only (default on)
  --outflow-limit <unbounded|vault-default|BPS:STX_FLOOR:SBTC_FLOOR>
                    the vault's outflow limit (floors in µSTX and sats); default vault-default
                    (1000:1000000000:10000000) for stolen-key, unbounded for the others
  --no-progress     no progress bar on stderr
  -h, --help        this text
`;

const integer = (name: string) =>
  z.string().regex(/^\d+$/, `--${name} must be a whole number`).transform(Number).optional();

const cliSchema = z.object({
  providers: integer("providers"),
  policies: integer("policies"),
  seed: integer("seed"),
  blocks: integer("blocks"),
  scenario: z.enum(SCENARIOS, { message: `--scenario must be one of ${SCENARIOS.join(", ")}` }).optional(),
  out: z.string().min(1).optional(),
  chainhooks: z
    .enum(["on", "off"], { message: "--chainhooks must be on or off" })
    .transform((v) => v === "on")
    .optional(),
  "outflow-limit": z
    .string()
    .transform((text, ctx): OutflowLimit => {
      if (text === "unbounded") return UNBOUNDED_OUTFLOW_LIMIT;
      if (text === "vault-default") return VAULT_DEFAULT_OUTFLOW_LIMIT;
      const match = /^(\d+):(\d+):(\d+)$/.exec(text);
      if (!match) {
        ctx.addIssue({ code: "custom", message: "--outflow-limit must be unbounded, vault-default or BPS:STX_FLOOR:SBTC_FLOOR" });
        return z.NEVER;
      }
      return { limitBps: BigInt(match[1] as string), stxFloor: BigInt(match[2] as string), sbtcFloor: BigInt(match[3] as string) };
    })
    .optional(),
  "no-progress": z.boolean().optional(),
  help: z.boolean().optional(),
});

async function main(): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      options: {
        providers: { type: "string" },
        policies: { type: "string" },
        scenario: { type: "string" },
        seed: { type: "string" },
        blocks: { type: "string" },
        out: { type: "string" },
        chainhooks: { type: "string" },
        "outflow-limit": { type: "string" },
        "no-progress": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const cli = cliSchema.safeParse(values);
  if (!cli.success) {
    process.stderr.write(`${cli.error.issues.map((i) => i.message).join("\n")}\n\n${USAGE}`);
    return 2;
  }
  if (cli.data.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const options = simulationOptionsSchema.safeParse({
    providers: cli.data.providers,
    policies: cli.data.policies,
    scenario: cli.data.scenario,
    seed: cli.data.seed,
    blocks: cli.data.blocks,
    out: cli.data.out,
    chainhooks: cli.data.chainhooks,
    outflowLimit: cli.data["outflow-limit"],
    progress: !cli.data["no-progress"],
  });
  if (!options.success) {
    process.stderr.write(
      `${options.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("\n")}\n\n${USAGE}`,
    );
    return 2;
  }

  const result = await runSimulation({ ...options.data, out: options.data.out ?? defaultOutDir(options.data.seed) });
  const out = process.stdout;
  out.write(`\n${result.ok ? "All invariants hold." : "INVARIANTS FAILED:"}\n`);
  for (const invariant of result.invariants.filter((i) => !i.ok)) {
    out.write(`  ✗ ${invariant.name}: ${invariant.detail}\n`);
  }
  for (const verdict of result.incident?.verdicts ?? []) {
    out.write(`  ${verdict.ok ? "✓" : "✗"} ${verdict.name}: ${verdict.detail}\n`);
  }
  for (const [name, value] of keyFigures(result).rows) out.write(`  ${name.padEnd(28)} ${value}\n`);
  out.write(`\nSummary: ${result.summaryPath}\nReport:  ${result.reportDir}/report.html\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `\nsimulation failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
