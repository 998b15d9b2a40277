/** The simulation's options, validated with zod (the CLI and the tests go through the same schema). */
import { z } from "zod";

import { SCENARIOS, type Scenario } from "./scenarios";

/** The vault's outflow limit (README "Outflow limit"): a share of the balance per 144-burn-block window, with floors. */
export type OutflowLimit = { limitBps: bigint; stxFloor: bigint; sbtcFloor: bigint };

/**
 * A limit that never binds. No burn blocks pass during a market (simulation/stack.ts), so one
 * outflow window covers the whole run: with the vault's default limit a crash's settlements would
 * be paced over windows that never come. Floors of 10^18 base units, still within int64 (the
 * backend stores the event that sets them).
 */
export const UNBOUNDED_OUTFLOW_LIMIT: OutflowLimit = { limitBps: 10_000n, stxFloor: 10n ** 18n, sbtcFloor: 10n ** 18n };

/** The vault's own default (README "Outflow limit"): 10% of the balance per window, floors 1,000 STX and 0.1 sBTC. */
export const VAULT_DEFAULT_OUTFLOW_LIMIT: OutflowLimit = { limitBps: 1_000n, stxFloor: 1_000_000_000n, sbtcFloor: 10_000_000n };

/**
 * A thief's take is bounded by one window's cap, so `stolen-key` runs with the vault's default
 * limit (the cap then means something); every other scenario with the unbounded one.
 */
export function defaultOutflowLimit(scenario: Scenario): OutflowLimit {
  return scenario === "stolen-key" ? VAULT_DEFAULT_OUTFLOW_LIMIT : UNBOUNDED_OUTFLOW_LIMIT;
}

const baseUnits = z.bigint().min(0n).max(2n ** 63n - 1n);

export const outflowLimitSchema = z.object({
  limitBps: z.bigint().min(0n).max(10_000n),
  stxFloor: baseUnits,
  sbtcFloor: baseUnits,
});

export const simulationOptionsSchema = z
  .object({
    /** Liquidity providers, spread over the three tiers (up to 1,000: `npm run bench:simulate` runs that size). */
    providers: z.number().int().min(3).max(1_000).default(12),
    /** Policies offered to the pool. */
    policies: z.number().int().min(1).max(500).default(20),
    scenario: z.enum(SCENARIOS).default("crash-recovery"),
    /** Every random choice of the run comes from this seed. */
    seed: z.number().int().min(0).max(0xffffffff).default(42),
    /**
     * Market steps. Each step is one block of transactions plus one block on
     * top of it (the backend counts an event once one block confirms it).
     */
    blocks: z.number().int().min(12).max(1_000).default(36),
    /** Report directory; `null` writes no report. Default: reports/simulation-<seed>. */
    out: z.string().min(1).nullable().optional(),
    /**
     * Vault events also reach the books through chainhook deliveries (README "Chainhooks"), with the
     * poller as the reconciler; off, the poller is the only ingest.
     */
    chainhooks: z.boolean().default(true),
    /** The vault's outflow limit, set by its admin at deployment; default by scenario (`defaultOutflowLimit`). */
    outflowLimit: outflowLimitSchema.optional(),
    /** A progress bar on stderr. */
    progress: z.boolean().default(false),
  })
  .transform((options) => ({ ...options, outflowLimit: options.outflowLimit ?? defaultOutflowLimit(options.scenario) }));

export type SimulationOptionsInput = z.input<typeof simulationOptionsSchema>;
export type SimulationOptions = z.output<typeof simulationOptionsSchema>;

export function defaultOutDir(seed: number): string {
  return `reports/simulation-${seed}`;
}
