/** The simulation's options, validated with zod (the CLI and the tests go through the same schema). */
import { z } from "zod";

import { SCENARIOS } from "./scenarios";

export const simulationOptionsSchema = z.object({
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
  /** A progress bar on stderr. */
  progress: z.boolean().default(false),
});

export type SimulationOptionsInput = z.input<typeof simulationOptionsSchema>;
export type SimulationOptions = z.output<typeof simulationOptionsSchema>;

export function defaultOutDir(seed: number): string {
  return `reports/simulation-${seed}`;
}
