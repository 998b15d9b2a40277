/** The key figures of a run, shared by the Markdown summary and the HTML report. */
import type { Tier, Token } from "../../convex/validators";
import { TIER_ORDER } from "../plan";
import type { SimulationResult } from "../results";
import { amount, seconds, usd } from "./format";
import { describeLimit, incidentFigure } from "./incident";

export type KeyFigures = {
  rows: [string, string][];
  policyStatuses: Record<string, number>;
  providersByTier: Record<Tier, number>;
};

const count = <T>(items: readonly T[], pred: (item: T) => boolean) => items.filter(pred).length;

function both(values: Record<Token, bigint>): string {
  return `${amount(values.STX, "STX")} · ${amount(values.sBTC, "sBTC")}`;
}

export function keyFigures(result: SimulationResult): KeyFigures {
  const { options, timing, totals, timeline } = result;
  const policyStatuses: Record<string, number> = {};
  for (const p of result.policies) policyStatuses[p.status] = (policyStatuses[p.status] ?? 0) + 1;
  const providersByTier = Object.fromEntries(
    TIER_ORDER.map((tier) => [tier, count(result.providers, (p) => p.tier === tier)]),
  ) as Record<Tier, number>;
  const btc = timeline.map((s) => s.oracle?.btcUsd ?? 0n);
  const minBtc = btc.reduce((m, v) => (v < m ? v : m), btc[0] ?? 0n);
  const settled = result.policies.filter((p) => p.status === "Settled");
  const sold = count(result.policies, (p) => p.status !== "Skipped" && p.status !== "Cancelled");
  const redeemed = count(result.withdrawals, (w) => w.outcome === "redeemed");
  const refused = count(result.withdrawals, (w) => w.outcome === "refused");
  const passed = count(result.invariants, (i) => i.ok);

  const rows: [string, string][] = [
    ["Scenario", `${options.scenario}, seed ${options.seed}`],
    ["Outflow limit", describeLimit(options.outflowLimit)],
    ["Providers", `${result.providers.length} (${TIER_ORDER.map((t) => `${providersByTier[t]} ${t}`).join(", ")})`],
    ["Deposited", both(totals.deposits)],
    ["Withdrawn", `${both(totals.withdrawals)} — ${redeemed} vouchers redeemed, ${refused} refused`],
    [
      "Policies",
      `${result.policies.length} offered, ${sold} sold — ${Object.entries(policyStatuses)
        .map(([status, n]) => `${n} ${status}`)
        .join(", ")}`,
    ],
    ["Premiums paid", both(totals.premiums)],
    ["Protocol fees", both(totals.protocolFees)],
    ["Unallocated premiums", both(totals.unallocatedPremiums)],
    ...TIER_ORDER.map((tier): [string, string] => [`Yield, ${tier}`, both(totals.yieldByTier[tier])]),
    ["Payouts to buyers", `${both(totals.payouts)} in ${settled.length} settlements`],
    ["BTC/USD (oracle)", `${usd(btc[0] ?? 0n)} → low ${usd(minBtc)} → ${usd(btc[btc.length - 1] ?? 0n)}`],
    [
      "Margin calls",
      `${result.health.marginCallNotifications} margin-call and ${result.health.warningNotifications} warning notifications; ` +
        `${result.health.providersEverInMarginCall} providers reached MarginCall, ${result.health.providersEverInWarning} more reached Warning`,
    ],
    [
      "Reconciliation",
      (["STX", "sBTC"] as const)
        .map((t) => {
          const r = result.reconciliation[t];
          return `${t}: ${r.match} match, ${r.mismatch} mismatch, ${r.skipped} skipped`;
        })
        .join("; "),
    ],
    [
      "Backend transactions",
      Object.entries(result.backendTransactions)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ") || "none",
    ],
    [
      "Event ingest",
      result.ingest.chainhooks
        ? `chainhook deliveries, the poller reconciling: ${result.ingest.eventsByDelivery} events by delivery ` +
          `(${result.ingest.deliveries} deliveries${result.ingest.refusedDeliveries ? `, ${result.ingest.refusedDeliveries} refused` : ""}), ` +
          `${result.ingest.eventsByPoller} by the poller (${result.ingest.eventsPolledAtSetup} of them before the first delivery)`
        : `the poller only: ${result.ingest.eventsByPoller} events`,
    ],
    [
      "Invariants",
      `${passed} of ${result.invariants.length} hold at every step${result.invariants.every((i) => i.ok) ? "" : " — FAILED"}`,
    ],
    ...(result.incident ? [incidentFigure(result.incident)] : []),
    ["Run time", `${seconds(timing.totalMs)} (setup ${seconds(timing.setupMs)}, market ${seconds(timing.marketMs)})`],
    [
      "Per simulated step / block",
      `${seconds(timing.perStepMs)} per step, ${seconds(timing.perBlockMs)} per block (${timing.steps} steps, ${timing.chainBlocks} blocks)`,
    ],
  ];
  return { rows, policyStatuses, providersByTier };
}
