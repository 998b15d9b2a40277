/** summary.md: the key figures, the invariants and the notable events of a run. */
import { TIER_ORDER } from "../plan";
import type { SimulationResult } from "../results";
import { keyFigures } from "./figures";
import { amount, percent, shortAddress, usd } from "./format";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderMarkdownSummary(result: SimulationResult): string {
  const { rows } = keyFigures(result);
  const o = result.options;
  const lines: string[] = [
    `# Pool simulation — ${o.scenario}, seed ${o.seed}`,
    "",
    `${result.ok ? "**All invariants hold.**" : "**INVARIANTS FAILED.**"} ` +
      `${o.providers} providers, ${o.policies} policies, ${o.blocks} steps. ` +
      `Reproduce with \`npm run simulate -- --providers ${o.providers} --policies ${o.policies} --scenario ${o.scenario} --seed ${o.seed} --blocks ${o.blocks}\`.`,
    "",
    "Everything ran through the real code paths, offline: the local Hiro-compatible server over simnet, " +
      "a local price feed (three `json` sources) read by the oracle, and the Convex functions in convex-test. " +
      "Each step is one block with the step's transactions plus one block confirming it. " +
      "The charts are in `report.html` next to this file; the backend's log lines in `run.log`.",
    "",
    "## Key figures",
    "",
    "| | |",
    "| --- | --- |",
    ...rows.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
    "",
    "## Invariants (checked after every step)",
    "",
    "| | invariant | result |",
    "| --- | --- | --- |",
    ...result.invariants.map(
      (i) =>
        `| ${i.ok ? "✅" : "❌"} | ${cell(i.name)} | ${cell(i.ok ? i.detail : `failed at steps ${i.failedSteps.slice(0, 10).join(", ")}: ${i.detail}`)} |`,
    ),
    "",
    "## Tiers at the end",
    "",
    "| tier | token | capital | locked | utilization | yield accrued | active policies |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  const last = result.timeline[result.timeline.length - 1];
  if (last) {
    for (const tier of TIER_ORDER) {
      for (const token of ["STX", "sBTC"] as const) {
        const f = last.tiers[tier][token];
        lines.push(
          `| ${tier} | ${token} | ${amount(f.capital, token)} | ${amount(f.locked, token)} | ${percent(f.utilizationBps)} | ${amount(f.yieldAccrued, token)} | ${f.activePolicies} |`,
        );
      }
    }
  }
  const settled = result.policies.filter((p) => p.payout > 0n);
  lines.push("", "## Settlements", "");
  if (settled.length === 0) lines.push("No policy ended in the money.");
  else {
    lines.push(
      "| policy | tier | type | strike | BTC at expiry | payout | buyer |",
      "| --- | --- | --- | ---: | ---: | ---: | --- |",
    );
    for (const p of settled) {
      lines.push(
        `| ${p.policyId} | ${p.tier ?? ""} | ${p.policyType} | ${usd(p.strikePriceUsd)} | ${p.settlementPriceUsd === null ? "" : usd(p.settlementPriceUsd)} | ${p.token ? amount(p.payout, p.token) : ""} | ${shortAddress(p.buyer)} |`,
      );
    }
  }
  const refused = result.withdrawals.filter((w) => w.outcome !== "redeemed");
  if (refused.length > 0) {
    lines.push(
      "",
      "## Withdrawals not redeemed",
      "",
      "| step | provider | amount | outcome | reason |",
      "| ---: | --- | ---: | --- | --- |",
    );
    for (const w of refused) {
      lines.push(
        `| ${w.step} | ${shortAddress(w.provider)} | ${amount(w.amount, w.token)} | ${w.outcome} | ${cell(w.reason ?? "")} |`,
      );
    }
  }
  lines.push("", "## Operator alerts", "");
  if (result.alerts.length === 0) lines.push("None.");
  else for (const a of result.alerts) lines.push(`- \`${a.kind}\`: ${a.message}`);
  lines.push("");
  return lines.join("\n");
}
