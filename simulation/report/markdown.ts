/** summary.md: the key figures, the invariants and the notable events of a run. */
import { defaultOutflowLimit } from "../options";
import { TIER_ORDER } from "../plan";
import type { SimulationResult } from "../results";
import { keyFigures } from "./figures";
import { amount, percent, shortAddress, usd } from "./format";
import { incidentSections, type Section } from "./incident";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function sectionMarkdown(section: Section): string[] {
  const lines = [`## ${section.heading}`, ""];
  for (const block of section.blocks) {
    if (block.kind === "p") lines.push(block.text, "");
    else {
      lines.push(
        `| ${block.header.map(cell).join(" | ")} |`,
        `| ${block.header.map((_, i) => (block.numeric.includes(i) ? "---:" : "---")).join(" | ")} |`,
        ...block.rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
        "",
      );
    }
  }
  return lines;
}

/** The --outflow-limit flag when the run's limit is not its scenario's default. */
function limitFlag(o: SimulationResult["options"]): string {
  const d = defaultOutflowLimit(o.scenario);
  const l = o.outflowLimit;
  return l.limitBps === d.limitBps && l.stxFloor === d.stxFloor && l.sbtcFloor === d.sbtcFloor
    ? ""
    : ` --outflow-limit ${l.limitBps}:${l.stxFloor}:${l.sbtcFloor}`;
}

export function renderMarkdownSummary(result: SimulationResult): string {
  const { rows } = keyFigures(result);
  const o = result.options;
  const lines: string[] = [
    `# Pool simulation — ${o.scenario}, seed ${o.seed}`,
    "",
    `${result.ok ? "**All invariants hold.**" : "**INVARIANTS FAILED.**"} ` +
      `${o.providers} providers, ${o.policies} policies, ${o.blocks} steps. ` +
      `Reproduce with \`npm run simulate -- --providers ${o.providers} --policies ${o.policies} --scenario ${o.scenario} --seed ${o.seed} --blocks ${o.blocks}${limitFlag(o)}\`.`,
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
    `## Invariants (checked after every step${result.incident ? " of the market" : ""})`,
    "",
    "| | invariant | result |",
    "| --- | --- | --- |",
    ...result.invariants.map(
      (i) =>
        `| ${i.ok ? "✅" : "❌"} | ${cell(i.name)} | ${cell(i.ok ? i.detail : `failed at steps ${i.failedSteps.slice(0, 10).join(", ")}: ${i.detail}`)} |`,
    ),
    "",
    ...incidentSections(result.incident).flatMap(sectionMarkdown),
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
  else for (const a of result.alerts) lines.push(`- \`${a.kind}\`${a.setUp ? " (the set-up's own governance)" : ""}: ${a.message}`);
  lines.push("");
  return lines.join("\n");
}
