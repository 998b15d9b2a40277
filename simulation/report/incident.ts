/**
 * The incident's part of the report (backend-outage, stolen-key), built once
 * as plain blocks — paragraphs and tables of text — that summary.md and
 * report.html each render their way.
 */
import type { Token } from "../../convex/validators";
import { TOKENS } from "../books";
import { UNBOUNDED_OUTFLOW_LIMIT, type OutflowLimit } from "../options";
import type { TokenAmounts } from "../results";
import type { BackendOutageResult, IncidentResult, StolenKeyResult, Verdict, WatchRecord } from "../scenarios/results";
import { amount, percent, shortAddress } from "./format";

export type Block =
  | { kind: "p"; text: string }
  | { kind: "table"; header: string[]; rows: string[][]; numeric: number[] };

export type Section = { heading: string; blocks: Block[] };

const p = (text: string): Block => ({ kind: "p", text });
const table = (header: string[], rows: string[][], numeric: number[] = []): Block => ({ kind: "table", header, rows, numeric });

/** Both tokens' amounts, the zero ones left out ("—" when both are). */
function pair(values: TokenAmounts): string {
  return TOKENS.filter((t) => values[t] !== 0n).map((t) => amount(values[t], t)).join(" · ") || "—";
}

function signed(value: bigint, token: Token): string {
  return value < 0n ? `−${amount(-value, token)}` : `+${amount(value, token)}`;
}

function verdictTable(verdicts: readonly Verdict[]): Block {
  return table(
    ["", "verdict", "what was compared"],
    verdicts.map((v) => [v.ok ? "✅" : "❌", v.name, v.detail]),
  );
}

export function describeLimit(limit: OutflowLimit): string {
  const u = UNBOUNDED_OUTFLOW_LIMIT;
  if (limit.limitBps === u.limitBps && limit.stxFloor === u.stxFloor && limit.sbtcFloor === u.sbtcFloor) {
    return "unbounded (100% of the balance per window, floors of 10^18 base units)";
  }
  return `${percent(limit.limitBps)} of the balance per 144-burn-block window, floors ${amount(limit.stxFloor, "STX")} and ${amount(limit.sbtcFloor, "sBTC")}`;
}

// ---------------------------------------------------------------------------
// backend-outage

function outageSections(r: BackendOutageResult): Section[] {
  const ticks = r.ticks.map((t) => `step ${t.step}: ${t.outcome}`).join(", ");
  const story: Block[] = [
    p(
      `The checkpoint job ticked every step with the backend's crons (${ticks}). ` +
        `${r.burnBlocksPassed.map((b) => `${b.count} burn blocks passed after step ${b.afterStep}`).join("; ")} (no burn block passes in a market on its own), ` +
        `so a second checkpoint came due. The backend stopped for good after step ${r.stoppedAfterStep}.`,
    ),
    table(
      ["epoch", "posted at step", "burn height", "as-of-seq", "leaves", "STX sum", "sBTC sum", "status"],
      r.checkpoints.map((c) => [
        String(c.epoch),
        String(c.step),
        String(c.postedAtBurn),
        String(c.asOfSeq),
        String(c.leafCount),
        amount(c.sums.STX, "STX"),
        amount(c.sums.sBTC, "sBTC"),
        c.status,
      ]),
      [0, 1, 2, 3, 4, 5, 6],
    ),
    p(
      r.heldVoucher
        ? `Its last act: a voucher for ${amount(r.heldVoucher.amount, r.heldVoucher.token)} to ${shortAddress(r.heldVoucher.provider)}, ` +
          `redeemed after the backend was gone: ${r.heldVoucher.call?.result ?? "not sent"}.`
        : "No provider could take a voucher before the backend stopped.",
    ),
    p("With the backend gone, on chain alone:"),
    table(
      ["block", "what", "who", "call", "amount", "result"],
      r.calls.map((c) => [
        c.height === null ? "—" : String(c.height),
        c.what,
        shortAddress(c.who),
        c.functionName,
        c.token && c.amount !== null ? amount(c.amount, c.token) : "",
        c.result,
      ]),
      [0, 4],
    ),
    p(
      `The current checkpoint (epoch ${r.silence.epoch ?? "none"}) was posted at burn block ${r.silence.postedAtBurn}: anyone may shut the vault down ` +
        `after burn block ${r.silence.shutdownAllowedAfterBurn} (SILENCE = 4,320). ${shortAddress(r.shutdownBy)} did at burn block ${r.silence.burnHeightAtShutdown}.`,
    ),
    table(
      ["token", "assets", "liabilities", "claims pay", "owed by the claims", "paid", "left in the vault"],
      TOKENS.map((t) => {
        const x = r.totals[t];
        const share = x.short ? `${percent(x.liabilities === 0n ? 0n : (x.assets * 10_000n) / x.liabilities)} (pro rata, rounded down)` : "in full";
        return [t, amount(x.assets, t), amount(x.liabilities, t), share, amount(x.owed, t), amount(x.paid, t), amount(x.vaultAfter, t)];
      }),
      [1, 2, 4, 5, 6],
    ),
  ];
  const exits: Block[] = [
    p(
      "Each provider ran the exit tool (`runExit`, what `npm run exit` runs) with its own key. " +
        "Owed = leaf + deposits since − withdrawals since (a record newer than the checkpoint: deposits − withdrawals), " +
        "and the share paid = owed, or ⌊owed × assets / liabilities⌋ when the vault is short — computed here from the chain's events, " +
        "not from the tool — against what each wallet received.",
    ),
    table(
      ["provider", "tier", "leaf", "flows since", "owed", "paid", "= share"],
      r.exits.map((x) => [
        shortAddress(x.address),
        x.label,
        x.leaf ? pair(x.leaf) : "none (newer record)",
        TOKENS.flatMap((t) => {
          const f = x.flowsSince[t];
          return f.in === 0n && f.out === 0n ? [] : [`${signed(f.in - f.out, t)}`];
        }).join(" · ") || "—",
        pair(x.owed),
        pair(x.paid),
        TOKENS.every((t) => x.paid[t] === x.expected[t]) ? "✅" : `❌ expected ${pair(x.expected)}`,
      ]),
      [2, 3, 4, 5],
    ),
    verdictTable(r.verdicts),
  ];
  return [
    { heading: "Backend outage: checkpoints, the outage, SILENCE and shutdown", blocks: story },
    { heading: "Backend outage: every provider's exit", blocks: exits },
  ];
}

// ---------------------------------------------------------------------------
// stolen-key

function findingsText(round: WatchRecord): string {
  const shown = round.findings.filter((f) => f.severity !== "info" || f.action);
  if (shown.length === 0) return "nothing to report";
  return shown
    .map((f) => `${f.severity.toUpperCase()} ${f.kind}: ${f.message}${f.action ? ` → ${f.action.functionName}: ${f.action.outcome}` : ""}`)
    .join("; ");
}

function stolenKeySections(r: StolenKeyResult): Section[] {
  const blocks: Block[] = [
    p(
      `After step ${r.theftAfterStep} a thief holding the backend's operator key (${shortAddress(r.thief.operator)}) and signer key ` +
        `(${shortAddress(r.thief.signer)}) drained the vault to its wallet ${shortAddress(r.thief.wallet)}, everything in one block. ` +
        `Outflow limit: ${describeLimit(r.outflowLimit)}. The guardian's watcher (tools/watchRound.ts, the deployer's key) ran after every block: ` +
        `${r.marketRounds.rounds} rounds through the market with ${r.marketRounds.alarms.length} alarms.`,
    ),
    table(
      ["token", "vault before", "window cap", "used before", "room", "taken", "share of the vault", "used after", "vault at the end"],
      TOKENS.map((t) => {
        const x = r.tokens[t];
        return [
          t,
          amount(x.vaultBefore, t),
          amount(x.before.cap, t),
          amount(x.before.used, t),
          amount(x.before.available, t),
          amount(x.taken, t),
          percent(x.vaultBefore === 0n ? 0n : (x.taken * 10_000n) / x.vaultBefore),
          amount(x.after.used, t),
          amount(x.vaultAfter, t),
        ];
      }),
      [1, 2, 3, 4, 5, 6, 7, 8],
    ),
    p("The thief's calls, and how each ended:"),
    table(
      ["block", "phase", "who", "call", "what", "amount", "result"],
      r.calls.map((c) => [
        c.height === null ? "—" : String(c.height),
        c.phase,
        c.who === r.thief.operator ? "operator key" : "thief's wallet",
        c.functionName,
        c.what,
        c.token && c.amount !== null ? amount(c.amount, c.token) : "",
        c.result,
      ]),
      [0, 5],
    ),
    p(`The watcher's rounds from the theft on (hot keys revoked in block ${r.revokedAtHeight ?? "—"}; operator ${r.rolesAfter.operator ?? "none"}, signer ${r.rolesAfter.signer ?? "none"} after):`),
    table(
      ["after block", "burn height", "findings"],
      r.rounds.map((round) => [String(round.height), String(round.burnHeight), findingsText(round)]),
      [0, 1],
    ),
    verdictTable(r.verdicts),
  ];
  return [{ heading: "Stolen key: the theft, the watcher and the cap", blocks }];
}

export function incidentSections(incident: IncidentResult | null): Section[] {
  if (incident === null) return [];
  return incident.kind === "backend-outage" ? outageSections(incident) : stolenKeySections(incident);
}

/** One line for the key figures. */
export function incidentFigure(incident: IncidentResult): [string, string] {
  const passed = incident.verdicts.filter((v) => v.ok).length;
  const verdicts = `${passed} of ${incident.verdicts.length} verdicts hold${incident.ok ? "" : " — FAILED"}`;
  if (incident.kind === "backend-outage") {
    const paid = { STX: incident.totals.STX.paid, sBTC: incident.totals.sBTC.paid };
    return [
      "Backend outage",
      `stopped after step ${incident.stoppedAfterStep}; ${incident.exits.length} providers exited with ${pair(paid)} after a stranger's shutdown; ${verdicts}`,
    ];
  }
  const taken = { STX: incident.tokens.STX.taken, sBTC: incident.tokens.sBTC.taken };
  return ["Stolen key", `the thief took ${pair(taken)} (within one window's cap) before the watcher revoked the hot keys; ${verdicts}`];
}
