/**
 * Every benchmark `npm run bench` runs, in the order it runs them, and the
 * section of the combined table its figures go into.
 */
import type { BenchName } from "./summary";

export type SectionId = "contract" | "convex" | "sync" | "simulate";

export const SECTIONS: readonly { id: SectionId; title: string }[] = [
  { id: "contract", title: "Contract cost ratios (Clarity, × a bare transfer of the same token)" },
  { id: "convex", title: "Convex documents per operation at scale, and write conflicts" },
  { id: "sync", title: "Sync throughput" },
  { id: "simulate", title: "Simulation: time per simulated block" },
];

export type BenchEntry = {
  name: BenchName;
  /** The `npm run bench:<alias>` script, also accepted by `--only` / `--skip`. */
  alias: string;
  script: string;
  section: SectionId;
};

export const BENCHES: readonly BenchEntry[] = [
  { name: "contract-costs", alias: "contract", script: "bench/contract-costs.ts", section: "contract" },
  { name: "convex-costs", alias: "convex", script: "bench/convex-costs.ts", section: "convex" },
  { name: "collateral-costs", alias: "collateral", script: "bench/collateral-costs.ts", section: "convex" },
  { name: "health-sweep", alias: "health", script: "bench/health-sweep.ts", section: "convex" },
  { name: "checkpoint-costs", alias: "checkpoint", script: "bench/checkpoint-costs.ts", section: "convex" },
  { name: "conflicts", alias: "conflicts", script: "bench/conflicts.ts", section: "convex" },
  { name: "sync", alias: "sync", script: "bench/sync.ts", section: "sync" },
  { name: "simulate", alias: "simulate", script: "bench/simulate.ts", section: "simulate" },
];

/** The bench a name given on the command line means: its file name or its npm alias. */
export function benchNamed(name: string): BenchEntry | undefined {
  return BENCHES.find((b) => b.name === name || b.alias === name || `bench:${b.alias}` === name);
}
