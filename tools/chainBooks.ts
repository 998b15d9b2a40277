/**
 * The vault's per-provider books as the chain alone tells them (README "The
 * vault": provider records and flows): rebuilt from `funds-deposited` and
 * `funds-withdrawn` events, each of which carries the vault's flow counter
 * `seq` after it. So the books "as of seq n" are exactly the events with
 * seq <= n, which is what a checkpoint's `as-of-seq` claims to snapshot, and a
 * record's `created-seq` is the seq of the first event that touched it.
 *
 * Pure: events in, figures out.
 */
import type { Token } from "../convex/domain/vocabulary";
import { eventsOfKind, type ChainEvent } from "./chainEvents";

/** Cumulative flows, per token, in base units. */
export type Flows = { stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };

export const NO_FLOWS: Flows = { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };

/** A provider record as `get-provider-record` holds it (without the voucher nonce, which no exit needs). */
export type ProviderRecord = Flows & { provider: string; createdSeq: bigint };

/** One deposit or voucher withdrawal: the only calls that move `seq`. */
export type FlowEvent = { seq: bigint; provider: string; token: Token; direction: "in" | "out"; amount: bigint };

/** The deposits and withdrawals, in seq order. */
export function flowEventsOf(events: readonly ChainEvent[]): FlowEvent[] {
  const flows: FlowEvent[] = [];
  for (const event of events) {
    if (event.kind === "funds-deposited") {
      flows.push({ seq: event.seq, provider: event.depositor, token: event.token, direction: "in", amount: event.amount });
    } else if (event.kind === "funds-withdrawn") {
      flows.push({ seq: event.seq, provider: event.provider, token: event.token, direction: "out", amount: event.amount });
    }
  }
  return flows.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/**
 * The highest n such that seq 1..n are each seen exactly once: how far the
 * events read can be trusted to be the whole story. A gap means the API has
 * not shown every flow yet (an indexer behind the node), and books built past
 * it would be short.
 */
export function contiguousSeq(flows: readonly FlowEvent[]): bigint {
  let through = 0n;
  for (const flow of flows) {
    if (flow.seq === through + 1n) through = flow.seq;
    // The same seq twice is not the vault's doing (it counts up by one per flow): trust stops before it.
    else if (flow.seq === through) return through - 1n;
    else break;
  }
  return through;
}

function addFlow(flows: Flows, flow: FlowEvent): Flows {
  const key = `${flow.token === "STX" ? "stx" : "sbtc"}${flow.direction === "in" ? "In" : "Out"}` as keyof Flows;
  return { ...flows, [key]: flows[key] + flow.amount };
}

/** Every provider record as it stood right after flow `seq` (0: before any flow). */
export function recordsAsOf(flows: readonly FlowEvent[], seq: bigint): Map<string, ProviderRecord> {
  const records = new Map<string, ProviderRecord>();
  for (const flow of flows) {
    if (flow.seq > seq) break;
    const record = records.get(flow.provider) ?? { provider: flow.provider, createdSeq: flow.seq, ...NO_FLOWS };
    records.set(flow.provider, { ...record, ...addFlow(record, flow) });
  }
  return records;
}

/** The vault's global flow counters right after flow `seq`: what `get-flows` answered then. */
export function flowsAsOf(flows: readonly FlowEvent[], seq: bigint): Flows {
  let totals = NO_FLOWS;
  for (const flow of flows) {
    if (flow.seq > seq) break;
    totals = addFlow(totals, flow);
  }
  return totals;
}

/** The vault's tracked balance per token. */
export type Balances = { stx: bigint; sbtc: bigint };

/**
 * The most the vault held of each token from flow `asOfSeq` until the next
 * flow or the checkpoint of `epoch` was posted, whichever came first.
 *
 * Why this bounds a checkpoint's sums: the backend snapshots its books at a
 * synced position with flow counter `asOfSeq`, so somewhere in that stretch;
 * and its books there are the vault's balance less protocol fees and
 * unallocated premiums (the reconciliation invariant). Sums above the largest
 * balance of the stretch promise providers more than the vault ever held for
 * them. Every money event carries the token's balance after it.
 */
export function balanceBound(events: readonly ChainEvent[], asOfSeq: bigint, epoch: bigint): Balances | null {
  const current: Balances = { stx: 0n, sbtc: 0n };
  let inStretch = asOfSeq === 0n;
  let bound: Balances = { ...current };
  for (const event of events) {
    if (event.kind === "checkpoint-posted" && event.epoch === epoch) return inStretch ? bound : null;
    if (!("totalBalance" in event)) continue;
    const isFlow = event.kind === "funds-deposited" || event.kind === "funds-withdrawn";
    if (isFlow && inStretch && event.seq > asOfSeq) return bound;
    current[event.token === "STX" ? "stx" : "sbtc"] = event.totalBalance;
    if (isFlow && event.seq === asOfSeq) {
      inStretch = true;
      bound = { ...current };
    }
    if (inStretch) bound = { stx: max(bound.stx, current.stx), sbtc: max(bound.sbtc, current.sbtc) };
  }
  // The checkpoint's own event was not among those read: no bound can be given yet.
  return null;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** The `shutdown` event, if the vault has printed one. */
export function shutdownOf(events: readonly ChainEvent[]) {
  return eventsOfKind(events, "shutdown")[0] ?? null;
}

/** What `claim-exit` paid `provider`, per token, as its `exit-claimed` events say. */
export function exitClaimsOf(events: readonly ChainEvent[], provider: string): Map<Token, { owed: bigint; paid: bigint; txid: string }> {
  const claims = new Map<Token, { owed: bigint; paid: bigint; txid: string }>();
  for (const claim of eventsOfKind(events, "exit-claimed")) {
    if (claim.provider === provider && !claims.has(claim.token)) claims.set(claim.token, { owed: claim.owed, paid: claim.paid, txid: claim.txid });
  }
  return claims;
}
