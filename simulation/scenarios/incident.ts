/**
 * An incident scenario, seen from runSimulation: what it adds to the market
 * (a MarketScript) and what it plays once the market has ended.
 */
import type { MarketOutcome, MarketScript } from "../market";
import type { MarketPlan } from "../plan";
import type { Rng } from "../rng";
import type { Incident } from "../scenarios";
import type { Stack } from "../stack";
import { backendOutage } from "./backendOutage";
import type { IncidentResult } from "./results";
import { stolenKey } from "./stolenKey";

export type IncidentRun = {
  script: MarketScript;
  /** Plays the rest of the incident after the market's last step; the stack is still up. */
  finish(market: MarketOutcome): Promise<IncidentResult>;
};

export type IncidentContext = { stack: Stack; plan: MarketPlan; rng: Rng; progress: (label: string) => void };

export function incidentRun(incident: Incident, context: IncidentContext): IncidentRun {
  return incident === "backend-outage" ? backendOutage(context) : stolenKey(context);
}
