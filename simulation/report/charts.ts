/** The report's charts, drawn from the run's timeline with the SVG primitives. */
import type { Token } from "../../convex/validators";
import { TIER_ORDER } from "../plan";
import type { SimulationResult, StepSnapshot } from "../results";
import type { Phase } from "../scenarios";
import { toChartNumber, tokenDecimals } from "./format";
import { groupedBarChart, lineChart, stackedBarChart, type Band } from "./svgCharts";

const PHASE_COLORS: Partial<Record<Phase, string>> = { crash: "#f3a5a5", bottom: "#f6cfcf", recovery: "#c4e6c9" };

export const TIER_COLORS = { Conservative: "#2b6cb0", Balanced: "#d69e2e", Aggressive: "#c53030" } as const;
const HEALTH_COLORS = {
  Healthy: "#38a169",
  Warning: "#ecc94b",
  MarginCall: "#e53e3e",
  Liquidating: "#702459",
} as const;

/** Shaded stretches for the phases of the price path worth marking. */
export function phaseBands(timeline: StepSnapshot[]): Band[] {
  const bands: Band[] = [];
  for (const snap of timeline) {
    const color = PHASE_COLORS[snap.phase];
    const last = bands[bands.length - 1];
    if (!color) continue;
    if (last && last.label === snap.phase && last.to === snap.step - 1) last.to = snap.step;
    else bands.push({ from: snap.step, to: snap.step, label: snap.phase, color });
  }
  return bands;
}

const steps = (timeline: StepSnapshot[]) => timeline.map((s) => s.step);

export function priceChart(timeline: StepSnapshot[]): string {
  const base = timeline[0];
  const pct = (v: bigint, b: bigint) => (b === 0n ? 0 : Number((v * 1_000_000n) / b) / 10_000);
  return lineChart({
    title: "Price path (oracle median, % of the first step)",
    xLabel: "step",
    yLabel: "% of start",
    x: steps(timeline),
    fromZero: false,
    bands: phaseBands(timeline),
    yFormat: (v) => `${v.toFixed(0)}%`,
    series: [
      {
        name: "BTC/USD",
        color: "#dd6b20",
        values: timeline.map((s) => pct(s.oracle?.btcUsd ?? 0n, base?.oracle?.btcUsd ?? 1n)),
      },
      {
        name: "STX/USD",
        color: "#5a67d8",
        values: timeline.map((s) => pct(s.oracle?.stxUsd ?? 0n, base?.oracle?.stxUsd ?? 1n)),
      },
    ],
  });
}

export function poolChart(timeline: StepSnapshot[], token: Token): string {
  const d = tokenDecimals(token);
  return lineChart({
    title: `Pool ${token}: vault balance and locked collateral`,
    xLabel: "step",
    yLabel: token,
    x: steps(timeline),
    bands: phaseBands(timeline),
    series: [
      {
        name: "vault balance (chain)",
        color: "#2c5282",
        values: timeline.map((s) => toChartNumber(s.vault[token].balance, d)),
      },
      {
        name: "providers' capital (books)",
        color: "#63b3ed",
        dashed: true,
        values: timeline.map((s) => toChartNumber(s.books[token].capital, d)),
      },
      {
        name: "locked (chain)",
        color: "#c05621",
        values: timeline.map((s) => toChartNumber(s.vault[token].locked, d)),
      },
    ],
  });
}

export function utilizationChart(timeline: StepSnapshot[], token: Token): string {
  return lineChart({
    title: `Utilization per tier, ${token} (locked / capital)`,
    xLabel: "step",
    yLabel: "utilization",
    x: steps(timeline),
    bands: phaseBands(timeline),
    yFormat: (v) => `${v.toFixed(0)}%`,
    series: TIER_ORDER.map((tier) => ({
      name: tier,
      color: TIER_COLORS[tier],
      values: timeline.map((s) => Number(s.tiers[tier][token].utilizationBps) / 100),
    })),
  });
}

export function healthChart(timeline: StepSnapshot[]): string {
  const statuses = ["Healthy", "Warning", "MarginCall", "Liquidating"] as const;
  return stackedBarChart({
    title: "Providers by collateral health over the price path",
    xLabel: "step",
    yLabel: "providers",
    x: steps(timeline),
    bands: phaseBands(timeline),
    series: statuses
      .filter((status) => status !== "Liquidating" || timeline.some((s) => s.health.Liquidating > 0))
      .map((status) => ({ name: status, color: HEALTH_COLORS[status], values: timeline.map((s) => s.health[status]) })),
  });
}

/** One bar chart per token: yield credited to each tier over the run. */
export function yieldCharts(result: SimulationResult): string[] {
  return (["STX", "sBTC"] as const).map((token) =>
    groupedBarChart({
      title: `Yield credited per tier, ${token}`,
      yLabel: token,
      categories: [...TIER_ORDER],
      series: [
        {
          name: `yield (${token})`,
          color: token === "STX" ? "#5a67d8" : "#dd6b20",
          values: TIER_ORDER.map((tier) => toChartNumber(result.totals.yieldByTier[tier][token], tokenDecimals(token))),
        },
      ],
    }),
  );
}

export function cumulativeYieldChart(timeline: StepSnapshot[], token: Token): string {
  const d = tokenDecimals(token);
  return lineChart({
    title: `Yield accrued per tier over time, ${token}`,
    xLabel: "step",
    yLabel: token,
    x: steps(timeline),
    series: TIER_ORDER.map((tier) => ({
      name: tier,
      color: TIER_COLORS[tier],
      values: timeline.map((s) => toChartNumber(s.tiers[tier][token].yieldAccrued, d)),
    })),
  });
}
