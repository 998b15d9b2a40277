/**
 * report.html: one self-contained page (inline CSS and SVG, no scripts, no
 * downloads) with the key figures, the invariants, the charts and the tables
 * of a run.
 */
import { TIER_ORDER } from "../plan";
import type { SimulationResult } from "../results";
import { cumulativeYieldChart, healthChart, poolChart, priceChart, utilizationChart, yieldCharts } from "./charts";
import { keyFigures } from "./figures";
import { incidentSections, type Section } from "./incident";
import { amount, escapeXml, percent, seconds, shortAddress, usd } from "./format";

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a202c; margin: 0; background: #f7fafc; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
.sub { color: #4a5568; margin: 0 0 16px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; font-size: 13px; vertical-align: middle; }
.ok { background: #c6f6d5; color: #22543d; } .fail { background: #fed7d7; color: #822727; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
th, td { border: 1px solid #e2e8f0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #edf2f7; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; }
.grid-bars { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 6px; padding: 6px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #2d3748; }
svg .tick { font-size: 11px; fill: #4a5568; } svg .legend { font-size: 12px; fill: #2d3748; }
svg .axis-label { font-size: 11px; fill: #718096; } svg .band-label { font-size: 10px; fill: #9b2c2c; }
svg .grid { stroke: #edf2f7; stroke-width: 1; } svg .axis { stroke: #a0aec0; stroke-width: 1; }
details { margin-top: 8px; } summary { cursor: pointer; color: #2b6cb0; }
code { background: #edf2f7; padding: 1px 4px; border-radius: 3px; }
`;

const e = escapeXml;

function table(header: string[], rows: string[][], numeric: ReadonlySet<number> = new Set()): string {
  return (
    `<table><thead><tr>${header.map((h) => `<th>${e(h)}</th>`).join("")}</tr></thead><tbody>` +
    rows
      .map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`)
      .join("") +
    `</tbody></table>`
  );
}

const card = (svg: string) => `<div class="card">${svg}</div>`;

function sectionHtml(section: Section): string {
  const body = section.blocks
    .map((block) =>
      block.kind === "p"
        ? `<p>${e(block.text)}</p>`
        : table(
            block.header,
            block.rows.map((row) => row.map((c) => e(c))),
            new Set(block.numeric),
          ),
    )
    .join("\n");
  return `<h2>${e(section.heading)}</h2>\n${body}`;
}

const statusBadge = (ok: boolean) =>
  ok ? `<span class="badge ok">all invariants hold</span>` : `<span class="badge fail">invariants failed</span>`;

function keyFiguresTable(result: SimulationResult): string {
  const { rows } = keyFigures(result);
  return table(
    ["", ""],
    rows.map(([k, v]) => [`<b>${e(k)}</b>`, e(v)]),
  );
}

function invariantsTable(result: SimulationResult): string {
  return table(
    ["", `invariant (after every step${result.incident ? " of the market" : ""})`, "result"],
    result.invariants.map((i) => [
      i.ok ? "✅" : "❌",
      e(i.name),
      e(i.ok ? i.detail : `failed at steps ${i.failedSteps.slice(0, 10).join(", ")}: ${i.detail}`),
    ]),
  );
}

/** The non-zero amounts of both tokens, one per line; a dash when both are zero. */
const tokenPair = (v: { STX: bigint; sBTC: bigint }) =>
  (["STX", "sBTC"] as const)
    .filter((t) => v[t] !== 0n)
    .map((t) => e(amount(v[t], t)))
    .join("<br>") || "—";

function providersTable(result: SimulationResult): string {
  return table(
    [
      "provider",
      "tier",
      "deposited",
      "withdrawn",
      "yield",
      "settlement debits",
      "final total",
      "final locked",
      "worst health",
    ],
    result.providers.map((p) => [
      `<code>${e(shortAddress(p.address))}</code>`,
      e(p.tier),
      tokenPair(p.deposited),
      tokenPair(p.withdrawn),
      tokenPair(p.yieldEarned),
      tokenPair(p.settlementDebits),
      tokenPair({ STX: p.final.STX.total, sBTC: p.final.sBTC.total }),
      tokenPair({ STX: p.final.STX.locked, sBTC: p.final.sBTC.locked }),
      e(p.worstHealth),
    ]),
    new Set([2, 3, 4, 5, 6, 7]),
  );
}

function policiesTable(result: SimulationResult): string {
  return table(
    [
      "policy",
      "tier",
      "type",
      "token",
      "protected",
      "strike",
      "premium",
      "collateral",
      "backers",
      "sold / due",
      "status",
      "payout",
      "note",
    ],
    result.policies.map((p) => [
      String(p.policyId),
      e(p.tier ?? "—"),
      p.policyType,
      p.token ?? "—",
      e(amount(p.protectedAmountSats, "sBTC").replace(" sBTC", " BTC")),
      e(usd(p.strikePriceUsd)),
      p.token ? e(amount(p.premium, p.token)) : "—",
      p.token ? e(amount(p.requiredCollateral, p.token)) : "—",
      String(p.backers),
      `${p.registrationStep} / ${p.expiryStep >= result.timing.steps ? "after the run" : p.expiryStep}`,
      e(p.status),
      p.token && p.payout > 0n ? e(amount(p.payout, p.token)) : "—",
      e(p.note ?? ""),
    ]),
    new Set([4, 5, 6, 7, 8, 11]),
  );
}

function withdrawalsTable(result: SimulationResult): string {
  return table(
    ["step", "provider", "amount", "outcome", "reason"],
    result.withdrawals.map((w) => [
      String(w.step),
      `<code>${e(shortAddress(w.provider))}</code>`,
      e(amount(w.amount, w.token)),
      e(w.outcome),
      e(w.reason ?? ""),
    ]),
    new Set([0, 2]),
  );
}

type SettlementCheckpoint = SimulationResult["checkpoints"]["settlements"][number];

/** One step's settlements: who was paid, then the buyers' wallets on chain and the backers' totals in the books. */
function settlementCheckpointHtml(c: SettlementCheckpoint): string {
  const head = `<p><b>Step ${c.step}</b>: ${c.settlements
    .map(
      (s) =>
        `policy ${s.policyId} pays ${e(amount(s.payout, s.token))} to <code>${e(shortAddress(s.buyer))}</code>`,
    )
    .join("; ")}</p>`;
  const buyers = table(
    ["buyer", "before (chain)", "after (chain)", "received"],
    c.buyers.map((b) => [
      `<code>${e(shortAddress(b.address))}</code>`,
      e(amount(b.before, b.token)),
      e(amount(b.after, b.token)),
      e(amount(b.after - b.before, b.token)),
    ]),
    new Set([1, 2, 3]),
  );
  const backers = table(
    ["backer", "total before (books)", "total after (books)", "debited"],
    c.backers.map((b) => [
      `<code>${e(shortAddress(b.address))}</code>`,
      e(amount(b.totalBefore, b.token)),
      e(amount(b.totalAfter, b.token)),
      e(amount(b.debited, b.token)),
    ]),
    new Set([1, 2, 3]),
  );
  return head + buyers + `<div style="height:6px"></div>` + backers;
}

function settlementsHtml(result: SimulationResult): string {
  const settlements = result.checkpoints.settlements.map(settlementCheckpointHtml).join("");
  return settlements || "<p>No policy ended in the money.</p>";
}

function stepsTable(result: SimulationResult): string {
  return table(
    [
      "step",
      "phase",
      "BTC/USD",
      "STX balance / locked",
      "sBTC balance / locked",
      "health H/W/MC",
      "sold",
      "settled",
      "expired",
      "withdrawals",
      "reconciliation",
      "time",
    ],
    result.timeline.map((s) => [
      String(s.step),
      s.phase,
      e(usd(s.oracle?.btcUsd ?? 0n)),
      `${e(amount(s.vault.STX.balance, "STX"))}<br>${e(amount(s.vault.STX.locked, "STX"))}`,
      `${e(amount(s.vault.sBTC.balance, "sBTC"))}<br>${e(amount(s.vault.sBTC.locked, "sBTC"))}`,
      `${s.health.Healthy}/${s.health.Warning}/${s.health.MarginCall}`,
      String(s.activity.policiesSold),
      String(s.activity.settlementsRequested),
      String(s.activity.policiesExpired),
      `${s.activity.withdrawalsRequested - s.activity.withdrawalsRefused}${s.activity.withdrawalsRefused ? ` (+${s.activity.withdrawalsRefused} refused)` : ""}`,
      `${s.reconciliation.STX} / ${s.reconciliation.sBTC}${s.failedChecks.length ? ` ❌ ${e(s.failedChecks.join("; "))}` : ""}`,
      e(seconds(s.elapsedMs)),
    ]),
    new Set([0, 2, 3, 4]),
  );
}

/** Each tier and token as the last step left it; empty when no step ran. */
function tiersTable(result: SimulationResult): string {
  const last = result.timeline[result.timeline.length - 1];
  if (!last) return "";
  return table(
    ["tier", "token", "capital", "locked", "utilization", "yield accrued", "active policies"],
    TIER_ORDER.flatMap((tier) =>
      (["STX", "sBTC"] as const).map((token) => {
        const f = last.tiers[tier][token];
        return [
          tier,
          token,
          e(amount(f.capital, token)),
          e(amount(f.locked, token)),
          e(percent(f.utilizationBps)),
          e(amount(f.yieldAccrued, token)),
          String(f.activePolicies),
        ];
      }),
    ),
    new Set([2, 3, 4, 5, 6]),
  );
}

function alertsHtml(result: SimulationResult): string {
  return result.alerts.length === 0
    ? "<p>None.</p>"
    : `<ul>${result.alerts.map((a) => `<li><code>${e(a.kind)}</code>${a.setUp ? " (the set-up's own governance)" : ""} ${e(a.message)}</li>`).join("")}</ul>`;
}

function chartsHtml(result: SimulationResult): string {
  const { timeline } = result;
  return `<h2>Market</h2>
<div class="grid2">${card(priceChart(timeline))}${card(healthChart(timeline))}</div>
<h2>Pool balance and locked collateral</h2>
<div class="grid2">${card(poolChart(timeline, "STX"))}${card(poolChart(timeline, "sBTC"))}</div>
<h2>Utilization per tier</h2>
<div class="grid2">${card(utilizationChart(timeline, "STX"))}${card(utilizationChart(timeline, "sBTC"))}</div>
<h2>Yield per tier</h2>
<div class="grid-bars">${yieldCharts(result).map(card).join("")}</div>
<div class="grid2">${card(cumulativeYieldChart(timeline, "STX"))}${card(cumulativeYieldChart(timeline, "sBTC"))}</div>`;
}

export function renderHtmlReport(result: SimulationResult): string {
  const o = result.options;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>BitHedge pool simulation — ${e(o.scenario)}, seed ${o.seed}</title>
<style>${STYLE}</style></head>
<body><main>
<h1>BitHedge liquidity pool — simulation ${statusBadge(result.ok)}</h1>
<p class="sub">${e(o.scenario)} · seed ${o.seed} · ${o.providers} providers · ${o.policies} policies · ${o.blocks} steps (${result.timing.chainBlocks} blocks) · started ${e(result.startedAt)}.
Local Hiro-compatible server over simnet, a local price feed read by the real oracle, and the Convex functions in convex-test; every deposit, premium and withdrawal is signed by a wallet, every lock, release and settlement by the backend.</p>
<h2>Key figures</h2>
${keyFiguresTable(result)}
<h2>Invariants</h2>
${invariantsTable(result)}
${incidentSections(result.incident).map(sectionHtml).join("\n")}
${chartsHtml(result)}
<h2>Tiers at the end</h2>
${tiersTable(result)}
<h2>Settlements</h2>
${settlementsHtml(result)}
<h2>Policies</h2>
${policiesTable(result)}
<h2>Providers</h2>
${providersTable(result)}
<h2>Withdrawals</h2>
${withdrawalsTable(result)}
<h2>Operator alerts</h2>
${alertsHtml(result)}
<h2>Steps</h2>
<details><summary>every step: prices, vault totals, health, activity, reconciliation</summary>${stepsTable(result)}</details>
<p class="sub">Run time ${e(seconds(result.timing.totalMs))}: setup ${e(seconds(result.timing.setupMs))}, ${e(seconds(result.timing.perStepMs))} per step, ${e(seconds(result.timing.perBlockMs))} per block.</p>
</main></body></html>
`;
}
