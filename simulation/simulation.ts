/**
 * `runSimulation(options)`: the whole pool, locally, end to end. Starts the
 * stack (local Hiro-compatible server over simnet, local price feed, Convex
 * functions in convex-test), plays the market, checks every invariant after
 * every step, and writes the report. Returns everything it recorded.
 *
 * An incident scenario (`backend-outage`, `stolen-key`: simulation/scenarios/)
 * adds its MarketScript to the market, ends it where the incident starts, and
 * plays the incident after it; its verdicts count with the invariants.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { isMoneyEvent, type Tier } from "../convex/validators";
import { sum, TOKENS, type Books } from "./books";
import { captureConsole, type ConsoleCapture } from "./consoleCapture";
import { unexpectedAlerts } from "./invariants";
import { Market, type MarketOutcome, type SimulationHooks } from "./market";
import { defaultOutDir, simulationOptionsSchema, type SimulationOptions, type SimulationOptionsInput } from "./options";
import { planMarket, TIER_ORDER, type MarketPlan } from "./plan";
import { ProgressBar } from "./progress";
import { renderHtmlReport } from "./report/html";
import { renderMarkdownSummary } from "./report/markdown";
import type { ProviderRecord, SimulationResult, TokenAmounts } from "./results";
import { zeroAmounts } from "./results";
import { createRng, withSeededMathRandom, type Rng } from "./rng";
import { incidentOf } from "./scenarios";
import { incidentRun } from "./scenarios/incident";
import { DEFAULT_STACK_OPTIONS, startStack, type Stack } from "./stack";

export type { SimulationHooks } from "./market";

export async function runSimulation(
  input: SimulationOptionsInput = {},
  hooks: SimulationHooks = {},
): Promise<SimulationResult> {
  const options = simulationOptionsSchema.parse(input);
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const rng = createRng(options.seed);
  const progress = options.progress ? new ProgressBar(options.blocks) : null;
  progress?.update(0, "starting the local chain, price feed and backend");
  const capture = captureConsole();
  let stack: Stack | undefined;
  try {
    const result = await withSeededMathRandom(rng.fork("math-random"), async () => {
      stack = await startStack(rng.fork("stack"), {
        ...DEFAULT_STACK_OPTIONS,
        chainhooks: options.chainhooks,
        outflowLimit: options.outflowLimit,
      });
      const played = await playMarket(stack, options, { rng, hooks, progress, started });
      return resultOf(stack, options, played, { startedAt, started });
    });
    writeReport(result, options, capture);
    progress?.finish(result.ok ? "done: every invariant holds" : "done: INVARIANTS FAILED");
    return result;
  } finally {
    capture.restore();
    await stack?.close();
  }
}

/** What playing the market (and the incident after it, if any) left, with how long set-up and market took. */
type Played = {
  plan: MarketPlan;
  outcome: MarketOutcome;
  incidentResult: SimulationResult["incident"];
  setupMs: number;
  marketMs: number;
};

/** Plans the market, plays it (ended early, where an incident starts), then plays the incident. */
async function playMarket(
  stack: Stack,
  options: SimulationOptions,
  run: { rng: Rng; hooks: SimulationHooks; progress: ProgressBar | null; started: number },
): Promise<Played> {
  const { rng, hooks, progress, started } = run;
  const plan = planMarket(options, rng.fork("plan"));
  const setupMs = performance.now() - started;
  const incidentKind = incidentOf(options.scenario);
  const incident = incidentKind
    ? incidentRun(incidentKind, {
        stack,
        plan,
        rng: rng.fork("incident"),
        progress: (label) => progress?.update(plan.steps, label),
      })
    : null;
  const market = new Market(stack, plan, hooks, (step, label) => progress?.update(step, label), incident?.script);
  const outcome = await market.run();
  const marketMs = performance.now() - started - setupMs;
  const incidentResult = incident ? await incident.finish(outcome) : null;
  return { plan, outcome, incidentResult, setupMs, marketMs };
}

/** Everything the run recorded, summed up for the report. */
function resultOf(
  stack: Stack,
  options: SimulationOptions,
  { plan, outcome, incidentResult, setupMs, marketMs }: Played,
  clock: { startedAt: string; started: number },
): SimulationResult {
  const { books } = outcome;
  const providers = providerRecords(plan, outcome);
  const totals = totalsOf(books, providers);
  const reconciliation = reconciliationOf(books);
  const backendTransactions = backendTransactionsOf(books);
  const health = healthOf(books, providers);
  const ingest = ingestOf(stack, options, outcome);
  const unexpected = unexpectedAlerts(books.alerts, stack.setUpAlerts);
  const invariants = outcome.tracker.results();
  const totalMs = performance.now() - clock.started;
  // An incident ends the market early: the steps are those played.
  const steps = outcome.timeline.length;
  const chainBlocks = steps * 2;
  return {
    options,
    startedAt: clock.startedAt,
    timing: {
      setupMs,
      marketMs,
      totalMs,
      steps,
      chainBlocks,
      perStepMs: marketMs / steps,
      perBlockMs: marketMs / chainBlocks,
    },
    timeline: outcome.timeline,
    providers,
    buyers: outcome.buyers,
    policies: outcome.policies,
    withdrawals: outcome.withdrawals,
    totals,
    health,
    reconciliation,
    backendTransactions,
    ingest,
    alerts: books.alerts.map((a) => ({ kind: a.kind, message: a.message, setUp: !unexpected.includes(a) })),
    checkpoints: outcome.checkpoints,
    invariants,
    incident: incidentResult,
    ok: invariants.every((i) => i.ok) && (incidentResult?.ok ?? true),
    reportDir: null,
    summaryPath: null,
  };
}

/** Each provider's flows (from the ledger), final balances (from the books) and worst health. */
function providerRecords(plan: MarketPlan, outcome: MarketOutcome): ProviderRecord[] {
  const { books } = outcome;
  return plan.providers.map((p) => {
    const address = p.wallet.address;
    const ledger = (type: string) => {
      const amounts = zeroAmounts();
      for (const l of books.ledger) if (l.provider === address && l.type === type) amounts[l.token] += l.amount;
      return amounts;
    };
    const final = {} as ProviderRecord["final"];
    for (const token of TOKENS) {
      const b = books.balances.find((x) => x.provider === address && x.token === token);
      final[token] = {
        total: b?.total ?? 0n,
        locked: b?.locked ?? 0n,
        reserved: b?.reserved ?? 0n,
        available: b?.available ?? 0n,
      };
    }
    return {
      address,
      tier: p.tier,
      deposited: outcome.deposits.get(address) ?? zeroAmounts(),
      withdrawn: ledger("withdrawal"),
      yieldEarned: ledger("yield_accrual"),
      settlementDebits: ledger("settlement_debit"),
      final,
      worstHealth: outcome.worstHealth.get(address) ?? "Healthy",
    };
  });
}

const byToken = (of: (token: (typeof TOKENS)[number]) => bigint): TokenAmounts => ({
  STX: of("STX"),
  sBTC: of("sBTC"),
});

/** The money of the run, per token: what the applied vault events moved, and what the books hold. */
function totalsOf(books: Books, providers: readonly ProviderRecord[]): SimulationResult["totals"] {
  const eventSum = (kind: string, token: string) =>
    sum(
      books.events.flatMap(({ status, event }) =>
        status === "applied" && isMoneyEvent(event) && event.kind === kind && event.token === token ? [event] : [],
      ),
      (event) => event.amount,
    );
  const yieldByTier = {} as Record<Tier, TokenAmounts>;
  for (const tier of TIER_ORDER) {
    yieldByTier[tier] = byToken((token) =>
      sum(
        providers.filter((p) => p.tier === tier),
        (p) => p.yieldEarned[token],
      ),
    );
  }
  return {
    premiums: byToken((token) => eventSum("premium-paid", token)),
    protocolFees: byToken((token) => books.protocol.find((p) => p.token === token)?.feesAccrued ?? 0n),
    unallocatedPremiums: byToken(
      (token) => books.protocol.find((p) => p.token === token)?.unallocatedPremiums ?? 0n,
    ),
    yieldByTier,
    payouts: byToken((token) => eventSum("settlement-paid", token)),
    deposits: byToken((token) => eventSum("funds-deposited", token)),
    withdrawals: byToken((token) => eventSum("funds-withdrawn", token)),
  };
}

function reconciliationOf(books: Books): SimulationResult["reconciliation"] {
  const reconciliation = {} as SimulationResult["reconciliation"];
  for (const token of TOKENS) {
    const rows = books.reconciliations.filter((r) => r.token === token);
    reconciliation[token] = {
      match: rows.filter((r) => r.status === "match").length,
      mismatch: rows.filter((r) => r.status === "mismatch").length,
      skipped: rows.filter((r) => r.status === "skipped").length,
      final: rows[rows.length - 1]?.status ?? "none",
    };
  }
  return reconciliation;
}

/** How many backend transactions there were, by function and status. */
function backendTransactionsOf(books: Books): Record<string, number> {
  const backendTransactions: Record<string, number> = {};
  for (const tx of books.transactions) {
    const key = `${tx.functionName} (${tx.status})`;
    backendTransactions[key] = (backendTransactions[key] ?? 0) + 1;
  }
  return backendTransactions;
}

function healthOf(books: Books, providers: readonly ProviderRecord[]): SimulationResult["health"] {
  const notifications = books.notifications;
  return {
    marginCallNotifications: notifications.filter((n) => n.status === "MarginCall").length,
    warningNotifications: notifications.filter((n) => n.status === "Warning").length,
    providersEverInMarginCall: providers.filter((p) => p.worstHealth === "MarginCall").length,
    providersEverInWarning: providers.filter((p) => p.worstHealth === "Warning").length,
  };
}

/** How vault events reached the backend: by chainhook delivery or by the poller. */
function ingestOf(stack: Stack, options: SimulationOptions, outcome: MarketOutcome): SimulationResult["ingest"] {
  return {
    chainhooks: options.chainhooks,
    deliveries: outcome.timeline.reduce((n, s) => n + s.activity.deliveries, 0),
    refusedDeliveries: stack.chainhooks?.refused() ?? 0,
    eventsByDelivery: outcome.timeline.reduce((n, s) => n + s.activity.eventsByDelivery, 0),
    eventsByPoller:
      (stack.chainhooks?.eventsPolledAtSetup ?? 0) +
      outcome.timeline.reduce((n, s) => n + s.activity.eventsByPoller, 0),
    eventsPolledAtSetup: stack.chainhooks?.eventsPolledAtSetup ?? 0,
  };
}

/** report.html, summary.md and run.log in the run's directory (none when `out` is null). */
function writeReport(result: SimulationResult, options: SimulationOptions, capture: ConsoleCapture): void {
  const out = options.out === undefined ? defaultOutDir(options.seed) : options.out;
  if (out === null) return;
  mkdirSync(out, { recursive: true });
  const summaryPath = path.join(out, "summary.md");
  result.reportDir = out;
  result.summaryPath = summaryPath;
  writeFileSync(path.join(out, "report.html"), renderHtmlReport(result));
  writeFileSync(summaryPath, renderMarkdownSummary(result));
  writeFileSync(path.join(out, "run.log"), `${capture.lines.join("\n")}\n`);
}
