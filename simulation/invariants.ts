/**
 * The pool's invariants, checked after every step from both sides: the chain
 * (vault read-only totals and real holdings, buyers' wallets on simnet) and
 * the off-chain books (every table, summed here rather than trusted from the
 * backend's own aggregates). Each check says what it compared, with the
 * numbers, when it fails.
 *
 * The invariants are one table, `INVARIANTS`: a name and a check, a small
 * function over the step's state. `checkInvariants` runs them all, in the
 * table's order, which is also the order of the report.
 */
import { isMoneyEvent, type BalanceChangeType, type Token, type VaultEvent } from "../convex/validators";
import { TOKENS, sum, type Books, type VaultTotals } from "./books";
import type { InvariantOutcome, TokenAmounts } from "./results";

export type Check = { name: string; ok: boolean; detail: string };

export type CheckInput = {
  books: Books;
  vault: Record<Token, VaultTotals>;
  /** The reconciliation job's outcomes at this step. */
  reconciliation: Record<Token, string>;
  /** Premiums the buyers paid on chain (every premium transaction the run broadcast). */
  premiumsPaid: TokenAmounts;
  buyers: { address: string; funded: TokenAmounts; premiumsPaid: TokenAmounts; onChain: TokenAmounts }[];
  /** Alerts the run expects (the set-up's own governance events: `Stack.setUpAlerts`), each at most once. */
  expectedAlerts: readonly ExpectedAlert[];
};

/** An alert a run expects: its kind, and a text its message holds. */
export type ExpectedAlert = { kind: string; mentions: string };

/** The alerts not accounted for by `expected` (each expected alert excuses one). */
export function unexpectedAlerts<A extends { kind: string; message: string }>(alerts: readonly A[], expected: readonly ExpectedAlert[]): A[] {
  const left = [...expected];
  return alerts.filter((alert) => {
    const i = left.findIndex((e) => e.kind === alert.kind && alert.message.includes(e.mentions));
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

/** A check's result: it holds, and what it compared; or it fails, and the numbers that disagree. */
export type CheckResult = { ok: true; detail: string } | { ok: false; detail: string };

export type Invariant = { name: string; check: (input: CheckInput) => CheckResult };

/** Pass when there are no problems (saying `passDetail`); otherwise fail, naming the first five. */
function resultOf(problems: readonly string[], passDetail: string): CheckResult {
  return problems.length === 0 ? { ok: true, detail: passDetail } : { ok: false, detail: problems.slice(0, 5).join("; ") };
}

const byType = (books: Books, provider: string | null, token: Token, type: BalanceChangeType) =>
  sum(
    books.ledger.filter((l) => (provider === null || l.provider === provider) && l.token === token && l.type === type),
    (l) => l.amount,
  );

/** The applied money events of one kind and token (governance events are only recorded). */
function eventsOf<K extends VaultEvent["kind"]>(books: Books, kind: K, token: Token) {
  return books.events.flatMap(({ status, event }) =>
    status === "applied" && isMoneyEvent(event) && event.kind === kind && event.token === token
      ? [event as Extract<VaultEvent, { kind: K }>]
      : [],
  );
}

const short = (principal: string) => `${principal.slice(0, 8)}…`;

// ---------------------------------------------------------------------------
// The chain against the books
// ---------------------------------------------------------------------------

/** The vault's read-only totals against the books, computed here from the rows. */
function vaultTotalsMatchBooks({ books, vault }: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const token of TOKENS) {
    const balances = books.balances.filter((b) => b.token === token);
    const account = books.protocol.find((p) => p.token === token);
    // Locks and releases the backend has decided but the vault has not seen yet.
    const inFlight = (kind: "lock" | "release") =>
      sum(
        books.operations.filter(
          (o) => o.kind === kind && o.token === token && (o.status === "queued" || o.status === "submitted"),
        ),
        (o) => o.amount,
      );
    const expectedBalance =
      sum(balances, (b) => b.total) + (account?.feesAccrued ?? 0n) + (account?.unallocatedPremiums ?? 0n);
    const expectedLocked = sum(balances, (b) => b.locked) - inFlight("lock") + inFlight("release");
    if (vault[token].balance !== expectedBalance)
      problems.push(`${token} balance: chain ${vault[token].balance}, books ${expectedBalance}`);
    if (vault[token].locked !== expectedLocked)
      problems.push(`${token} locked: chain ${vault[token].locked}, books ${expectedLocked}`);
  }
  return resultOf(problems, TOKENS.map((t) => `${t} ${vault[t].balance}/${vault[t].locked}`).join(", "));
}

/** The backend's own reconciliation job agrees. */
function reconciliationMatches({ reconciliation }: CheckInput): CheckResult {
  return resultOf(
    TOKENS.filter((t) => reconciliation[t] !== "match").map((t) => `${t}: ${reconciliation[t]}`),
    "match, match",
  );
}

/** What the vault tracks is what it holds. */
function vaultHoldsWhatItTracks({ vault }: CheckInput): CheckResult {
  return resultOf(
    TOKENS.flatMap((t) => [
      ...(vault[t].held !== vault[t].balance ? [`${t}: holds ${vault[t].held}, tracks ${vault[t].balance}`] : []),
      ...(vault[t].locked > vault[t].balance ? [`${t}: locked ${vault[t].locked} > balance ${vault[t].balance}`] : []),
    ]),
    "held = tracked for both tokens",
  );
}

// ---------------------------------------------------------------------------
// The books on their own
// ---------------------------------------------------------------------------

function balanceProblems(books: Books): string[] {
  const problems: string[] = [];
  for (const b of books.balances) {
    const where = `${short(b.provider)} ${b.token}`;
    if (b.total < 0n || b.locked < 0n || b.reserved < 0n || b.accruedYield < 0n || b.available < 0n)
      problems.push(`${where}: negative field`);
    if (b.locked + b.reserved > b.total)
      problems.push(`${where}: locked ${b.locked} + reserved ${b.reserved} > total ${b.total}`);
    if (b.available !== b.total - b.locked - b.reserved) problems.push(`${where}: stored available ${b.available} is stale`);
  }
  return problems;
}

/**
 * A tier's totals are only meaningful summed over its shards: a settlement
 * counted in its policy's shard takes capital a deposit put in a provider's
 * (convex/model/ledger/tierTotals.ts). So the sums per tier and token must not
 * be negative; a single shard may be.
 */
function shardAndProtocolProblems(books: Books): string[] {
  const problems: string[] = [];
  const sums = new Map<string, bigint[]>();
  for (const s of books.shards) {
    const key = `${s.tier}/${s.token}`;
    const fields = [s.capital, s.locked, s.reserved, s.accruedYield, s.providerCount, s.activePolicyCount];
    const sum = sums.get(key) ?? fields.map(() => 0n);
    sums.set(key, sum.map((v, i) => v + fields[i]!));
  }
  for (const [key, fields] of sums) {
    if (fields.some((f) => f < 0n)) problems.push(`tier ${key} (summed over its shards): negative field`);
  }
  for (const p of books.protocol) {
    if (p.feesAccrued < 0n || p.unallocatedPremiums < 0n) problems.push(`protocol ${p.token}: negative`);
  }
  return problems;
}

function backingProblems(books: Books): string[] {
  const problems: string[] = [];
  for (const k of books.backing) {
    if (k.allocated < 0n || k.allocated > k.originalAllocation)
      problems.push(`backing ${k.policyId}/${short(k.provider)}: ${k.allocated}`);
    if (!k.active && k.allocated !== 0n) problems.push(`inactive backing ${k.policyId} still allocates ${k.allocated}`);
  }
  return problems;
}

/** Nothing negative anywhere, and every balance's parts fit in its total. */
function nothingNegative({ books }: CheckInput): CheckResult {
  return resultOf(
    [...balanceProblems(books), ...shardAndProtocolProblems(books), ...backingProblems(books)],
    `${books.balances.length} balances, ${books.backing.length} backings`,
  );
}

/** The sharded tier totals are the sums of their providers' balances. */
function tierTotalsAreSums({ books }: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const tier of ["Conservative", "Balanced", "Aggressive"] as const) {
    for (const token of TOKENS) {
      const shards = books.shards.filter((s) => s.tier === tier && s.token === token);
      const balances = books.balances.filter((b) => b.tier === tier && b.token === token);
      for (const field of ["locked", "reserved", "accruedYield"] as const) {
        const a = sum(shards, (s) => s[field]);
        const b = sum(balances, (x) => x[field]);
        if (a !== b) problems.push(`${tier}/${token} ${field}: shards ${a}, balances ${b}`);
      }
      const capital = sum(shards, (s) => s.capital);
      const totals = sum(balances, (b) => b.total);
      if (capital !== totals) problems.push(`${tier}/${token} capital: shards ${capital}, balances ${totals}`);
    }
  }
  return resultOf(problems, "3 tiers × 2 tokens");
}

/** Σ paid = Σ yield credited + protocol fees + unallocated, to the unit, and every paid premium was synced. */
function premiumsAccounted({ books, premiumsPaid }: CheckInput): CheckResult {
  const problems: string[] = [];
  const parts: string[] = [];
  for (const token of TOKENS) {
    const synced = sum(eventsOf(books, "premium-paid", token), (e) => e.amount);
    const credited = byType(books, null, token, "yield_accrual") - byType(books, null, token, "yield_reversal");
    const account = books.protocol.find((p) => p.token === token);
    const fees = account?.feesAccrued ?? 0n;
    const unallocated = account?.unallocatedPremiums ?? 0n;
    if (synced !== premiumsPaid[token]) problems.push(`${token}: paid ${premiumsPaid[token]}, synced ${synced}`);
    if (credited + fees + unallocated !== synced)
      problems.push(`${token}: yield ${credited} + fees ${fees} + unallocated ${unallocated} ≠ premiums ${synced}`);
    const accrued = sum(
      books.balances.filter((b) => b.token === token),
      (b) => b.accruedYield,
    );
    if (accrued !== credited) problems.push(`${token}: balances' accrued yield ${accrued} ≠ ledger ${credited}`);
    parts.push(`${token} ${synced} = ${credited} + ${fees} + ${unallocated}`);
  }
  return resultOf(problems, parts.join("; "));
}

/** What the buyers received of `token` on chain (each buyer's wallet against their own settlements) into `problems`. */
function receivedByBuyers(input: CheckInput, token: Token, problems: string[]): bigint {
  const events = eventsOf(input.books, "settlement-paid", token);
  let received = 0n;
  for (const buyer of input.buyers) {
    const own = sum(
      events.filter((e) => e.buyer === buyer.address),
      (e) => e.amount,
    );
    const delta = buyer.onChain[token] - buyer.funded[token] + buyer.premiumsPaid[token];
    received += delta;
    if (delta !== own) problems.push(`buyer ${short(buyer.address)} ${token}: wallet moved by ${delta}, settlements ${own}`);
  }
  return received;
}

/** Σ settlement debits = Σ settlement events = Σ received by buyers on chain. */
function payoutsAccounted(input: CheckInput): CheckResult {
  const { books } = input;
  const problems: string[] = [];
  const parts: string[] = [];
  for (const token of TOKENS) {
    const paid = sum(eventsOf(books, "settlement-paid", token), (e) => e.amount);
    const debited = byType(books, null, token, "settlement_debit") - byType(books, null, token, "settlement_reversal");
    const received = receivedByBuyers(input, token, problems);
    if (debited !== paid) problems.push(`${token}: backers debited ${debited}, vault paid ${paid}`);
    if (received !== paid) problems.push(`${token}: buyers received ${received}, vault paid ${paid}`);
    parts.push(`${token} ${paid}`);
  }
  return resultOf(problems, parts.join("; "));
}

/** Locked = active backing, per provider and token. */
function lockedIsActiveBacking({ books }: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const b of books.balances) {
    const backing = sum(
      books.backing.filter((k) => k.active && k.provider === b.provider && k.token === b.token),
      (k) => k.allocated,
    );
    if (backing !== b.locked) problems.push(`${short(b.provider)} ${b.token}: locked ${b.locked}, backing ${backing}`);
  }
  return resultOf(problems, `${books.balances.length} balances`);
}

/** Each balance is what its ledger entries add up to. */
function balancesReplayFromLedger({ books }: CheckInput): CheckResult {
  const problems: string[] = [];
  for (const b of books.balances) {
    const of = (type: BalanceChangeType) => byType(books, b.provider, b.token, type);
    const total =
      of("deposit") -
      of("withdrawal") +
      of("yield_accrual") -
      of("yield_reversal") -
      of("settlement_debit") +
      of("settlement_reversal");
    const locked = of("lock") - of("release") - of("settlement_debit") + of("settlement_reversal");
    const reserved = of("reserve") - of("unreserve");
    if (total !== b.total || locked !== b.locked || reserved !== b.reserved)
      problems.push(
        `${short(b.provider)} ${b.token}: ledger ${total}/${locked}/${reserved}, balance ${b.total}/${b.locked}/${b.reserved}`,
      );
  }
  return resultOf(problems, `${books.ledger.length} ledger entries`);
}

// ---------------------------------------------------------------------------
// The backend's health
// ---------------------------------------------------------------------------

/** The transaction layer. */
function noFailedTransaction({ books }: CheckInput): CheckResult {
  return resultOf(
    books.transactions
      .filter((t) => t.status === "failed")
      .map((t) => `${t.functionName} ${t.policyIds.join(",")}: ${t.error ?? ""}`),
    `${books.transactions.length} transactions`,
  );
}

/**
 * Nothing an operator would be paged for, beyond the set-up's own governance
 * (the admin setting the outflow limit and handing the hot roles to the
 * backend's keys: the backend alerts on every governance event, README "Alerts").
 */
function noOperatorAlert({ books, expectedAlerts }: CheckInput): CheckResult {
  const expected = books.alerts.length - unexpectedAlerts(books.alerts, expectedAlerts).length;
  return resultOf(
    unexpectedAlerts(books.alerts, expectedAlerts).map((a) => `${a.kind}: ${a.message}`),
    expected === 0 ? "none" : `none but the set-up's ${expected} governance alerts`,
  );
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

export const INVARIANTS: readonly Invariant[] = [
  { name: "vault read-only totals equal the off-chain books", check: vaultTotalsMatchBooks },
  { name: "reconciliation job reports a match for both tokens", check: reconciliationMatches },
  { name: "vault holds exactly what it tracks, and locked <= balance", check: vaultHoldsWhatItTracks },
  { name: "nothing negative; locked + reserved <= total", check: nothingNegative },
  { name: "tier totals equal the sums of their providers", check: tierTotalsAreSums },
  { name: "every premium accounted to the unit", check: premiumsAccounted },
  { name: "every payout accounted to the unit", check: payoutsAccounted },
  { name: "each provider's locked equals their active backing", check: lockedIsActiveBacking },
  { name: "every balance replays from its ledger", check: balancesReplayFromLedger },
  { name: "no backend transaction failed", check: noFailedTransaction },
  { name: "no operator alert but the set-up's governance", check: noOperatorAlert },
];

export const INVARIANT_NAMES: readonly string[] = INVARIANTS.map((i) => i.name);

export function checkInvariants(input: CheckInput): Check[] {
  return INVARIANTS.map(({ name, check }) => ({ name, ...check(input) }));
}

/** Folds per-step checks into one outcome per invariant. */
export class InvariantTracker {
  private readonly outcomes = new Map<string, InvariantOutcome>(
    INVARIANT_NAMES.map((name) => [name, { name, ok: true, failedSteps: [], detail: "" }]),
  );

  record(step: number, checks: readonly Check[]): string[] {
    const failed: string[] = [];
    for (const check of checks) {
      const outcome = this.outcomes.get(check.name) ?? { name: check.name, ok: true, failedSteps: [], detail: "" };
      if (!check.ok) {
        failed.push(check.name);
        // Keep the first failure's numbers: later ones usually follow from it.
        if (outcome.ok) outcome.detail = `step ${step}: ${check.detail}`;
        outcome.ok = false;
        outcome.failedSteps.push(step);
      } else if (outcome.ok) {
        outcome.detail = check.detail;
      }
      this.outcomes.set(check.name, outcome);
    }
    return failed;
  }

  results(): InvariantOutcome[] {
    return [...this.outcomes.values()];
  }
}
