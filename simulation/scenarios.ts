/**
 * Price paths: BTC/USD and STX/USD (USD with 8 decimals) for every step of
 * the run, from the scenario and the seeded generator.
 *
 * - `crash-recovery`: calm, then BTC falls 40% over a sixth of the run, stays
 *   at the bottom, and recovers to 95% of where it started.
 * - `crash`: the same fall, with no recovery.
 * - `calm`: a small random walk around the starting price.
 *
 * STX follows BTC's big moves at half their size.
 *
 * Two scenarios are incidents played on the default market (crash-recovery
 * prices): `backend-outage` (the backend stops for good mid-market; after
 * SILENCE a stranger shuts the vault down and every provider exits with the
 * exit tool: simulation/scenarios/backendOutage.ts) and `stolen-key` (a thief
 * holding the backend's operator and signer keys drains the vault mid-market,
 * the guardian's watcher revokes them: simulation/scenarios/stolenKey.ts).
 */
import type { Prices } from "./priceFeed";
import type { Rng } from "./rng";

export const SCENARIOS = ["crash-recovery", "calm", "crash", "backend-outage", "stolen-key"] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The scenarios that play an incident on top of the market. */
export const INCIDENTS = ["backend-outage", "stolen-key"] as const satisfies readonly Scenario[];
export type Incident = (typeof INCIDENTS)[number];

export function incidentOf(scenario: Scenario): Incident | null {
  return (INCIDENTS as readonly Scenario[]).includes(scenario) ? (scenario as Incident) : null;
}

/** The price path a scenario's market follows: an incident happens on the default market. */
export function marketOf(scenario: Scenario): "crash-recovery" | "calm" | "crash" {
  return incidentOf(scenario) === null ? (scenario as "crash-recovery" | "calm" | "crash") : "crash-recovery";
}

export type Phase = "calm" | "crash" | "bottom" | "recovery" | "after";

export type PricePoint = Prices & { phase: Phase };

const USD = 100_000_000n;
export const START_PRICES: Prices = { btcUsd: 65_000n * USD, stxUsd: 180_000_000n /* $1.80 */ };

/** Piecewise-linear BTC level (bps of the start) for the crash scenarios, by position in the run (0..1). */
function crashLevelBps(x: number, recovers: boolean): { level: number; phase: Phase } {
  const bottom = 6_000;
  const recovered = 9_500;
  if (x < 0.35) return { level: 10_000, phase: "calm" };
  if (x < 0.5) return { level: 10_000 - ((10_000 - bottom) * (x - 0.35)) / 0.15, phase: "crash" };
  if (x < 0.6 || !recovers) return { level: bottom + (recovers ? 0 : 300 * Math.max(0, x - 0.6)), phase: "bottom" };
  if (x < 0.85) return { level: bottom + ((recovered - bottom) * (x - 0.6)) / 0.25, phase: "recovery" };
  return { level: recovered, phase: "after" };
}

export function pricePath(scenario: Scenario, steps: number, rng: Rng): PricePoint[] {
  const points: PricePoint[] = [];
  let walkBps = 10_000;
  for (let k = 0; k < steps; k++) {
    const x = steps === 1 ? 0 : k / (steps - 1);
    let levelBps: number;
    let phase: Phase;
    if (marketOf(scenario) === "calm") {
      // ±0.6% a step, pulled back towards the start so the walk stays within a few percent.
      walkBps += rng.int(-60, 60) - Math.round((walkBps - 10_000) / 10);
      levelBps = walkBps;
      phase = "calm";
    } else {
      const crash = crashLevelBps(x, marketOf(scenario) === "crash-recovery");
      // Independent noise of ±0.3% on top of the path.
      levelBps = crash.level + rng.int(-30, 30);
      phase = crash.phase;
    }
    const btcBps = BigInt(Math.round(levelBps));
    const stxBps = 10_000n - (10_000n - btcBps) / 2n;
    points.push({
      btcUsd: (START_PRICES.btcUsd * btcBps) / 10_000n,
      stxUsd: (START_PRICES.stxUsd * stxBps) / 10_000n,
      phase,
    });
  }
  return points;
}
