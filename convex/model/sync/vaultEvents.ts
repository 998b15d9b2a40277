/**
 * Applying confirmed vault events: the chain is the source of truth for
 * money, so deposits and withdrawals are credited here and only here. Each
 * event is applied once, keyed by (txid, event index). Governance events
 * (roles, pause, outflow limit, checkpoints, shutdown, exit claims) are
 * recorded the same way, once, change nothing in the books, and are acted on
 * in governance.ts (alerts, the hot roles, the shutdown).
 */
import type { Writer } from "../database";
import { isMoneyEvent, type SyncedEvent, type VaultEvent } from "../../validators";
import { raiseAlert, REORG_NEEDS_REVIEW, resolveAlerts } from "../alerts";
import { applyBalanceChange } from "../ledger/balanceLedger";
import { applySettlement } from "../policies/policies";
import { distributePremium, type PremiumOffLedger } from "../policies/premiums";
import { joinChosenTier } from "../ledger/tierChoices";
import { applyWithdrawal } from "../ledger/reservations";
import { confirmVaultOperations } from "../operations/vaultOperations";
import { assertEventsNotHeld } from "../checkpoints/eventHold";
import { recordDeposit, recordWithdrawal } from "../checkpoints/providerRecords";
import { actOnGovernanceEvent } from "./governance";
import { syncPoolBalances } from "./poolMirror";

/**
 * "unmatched": the event is genuine and recorded, and the pool mirror follows
 * it, but the off-chain model could not place it (e.g. a settlement for a
 * policy we do not know). An alert says so; nothing is half-applied.
 * "recorded": a governance event, stored as printed and acted on (governance.ts).
 */
export type ApplyOutcome = "applied" | "duplicate" | "unmatched" | "recorded";

/** What running one money event's effects on the books came to. */
export type EffectsOutcome = { placed: true; offLedger?: PremiumOffLedger } | { placed: false; refusal: string };

/**
 * Runs `applyProviderEffects` for one event so that a refusal leaves no write
 * of it behind: in a deployment, a nested mutation (a sub-transaction that
 * Convex rolls back when it throws, see convex/vaultEvents.ts). Effects write
 * as they go (a withdrawal frees its reservation before the balance moves), so
 * catching a refusal in the same transaction would keep half of them.
 */
export type EffectsRunner = (event: VaultEvent) => Promise<EffectsOutcome>;

/**
 * Runs the effects in the caller's transaction and lets a refusal fail it
 * whole: for benchmarks and scripts that measure or drive one event, where a
 * refusal is a bug. The sync uses the sub-transaction runner instead, so one
 * event the books cannot place never stalls the events after it.
 */
export function effectsInCallerTransaction(ctx: Writer): EffectsRunner {
  return async (event) => ({ placed: true, offLedger: await applyProviderEffects(ctx, event) });
}

/**
 * The ledger key of an event's effects. It names the block too: a transaction
 * re-mined in another block after a reorg is a new application, not a
 * duplicate of the reversed one.
 */
export function operationIdOf(event: Pick<SyncedEvent, "txid" | "eventIndex" | "blockHash">): string {
  return `event:${event.txid}:${event.eventIndex}:${event.blockHash}`;
}

/**
 * Applies the event's effects on the books; returns what it added outside the
 * balance ledger, if anything. Throws a pool error when the books cannot place
 * the event, possibly after writing: run it through an `EffectsRunner`.
 */
export async function applyProviderEffects(ctx: Writer, event: VaultEvent): Promise<PremiumOffLedger | undefined> {
  const operationId = operationIdOf(event);
  switch (event.kind) {
    case "funds-deposited": {
      // A first deposit creates the provider in the tier they chose when they
      // asked to commit (README "Liquidity API"), else the default tier; an
      // existing provider keeps theirs.
      await joinChosenTier(ctx, event.depositor);
      await applyBalanceChange(ctx, {
        operationId,
        provider: event.depositor,
        token: event.token,
        type: "deposit",
        amount: event.amount,
      });
      return;
    }
    case "funds-withdrawn":
      await applyWithdrawal(ctx, {
        operationId,
        provider: event.provider,
        token: event.token,
        amount: event.amount,
        nonce: event.nonce,
      });
      return;
    case "premium-paid":
      return await distributePremium(ctx, { operationId, policyId: event.policyId, token: event.token, amount: event.amount });
    case "collateral-locked":
      // Backers' balances were locked when the policy was allocated; the event
      // confirms the vault agrees.
      await confirmVaultOperations(ctx, "lock", event.policyIds);
      return;
    case "collateral-released":
      // Backers' collateral was freed at expiry or settlement; the vault now agrees.
      await confirmVaultOperations(ctx, "release", event.policyIds);
      return;
    case "settlement-paid": {
      // A settlement paid in parts (over the outflow window's cap) is confirmed with its last part.
      const { complete } = await applySettlement(ctx, { operationId, policyId: event.policyId, amount: event.amount });
      if (complete) await confirmVaultOperations(ctx, "settle", [event.policyId]);
      return;
    }
  }
}

/** The same payout: same kind, policy, buyer, token and amount (the block may differ). */
function sameSettlement(kept: SyncedEvent, event: SyncedEvent): boolean {
  return (
    kept.kind === "settlement-paid" &&
    event.kind === "settlement-paid" &&
    kept.policyId === event.policyId &&
    kept.buyer === event.buyer &&
    kept.token === event.token &&
    kept.amount === event.amount
  );
}

/** Applies one event and mirrors the vault's totals a money event reports. */
export async function applyVaultEvent(ctx: Writer, event: SyncedEvent, runEffects: EffectsRunner): Promise<ApplyOutcome> {
  // A checkpoint snapshot in progress: EVENTS_HELD, nothing applied (model/checkpoints/eventHold.ts).
  await assertEventsNotHeld(ctx);
  const outcome = await recordAndApply(ctx, event, runEffects);
  if (outcome !== "duplicate" && isMoneyEvent(event)) await syncPoolBalances(ctx, event);
  return outcome;
}

export type ApplyCounts = Record<ApplyOutcome, number>;

/**
 * Applies events given in chain order, in one transaction. The pool mirror
 * is written once per token, from the newest event that was not a duplicate:
 * the totals an event reports already include every earlier one, so the
 * mirrors in between would be overwritten within the same transaction.
 */
export async function applyVaultEvents(
  ctx: Writer,
  events: readonly SyncedEvent[],
  runEffects: EffectsRunner,
): Promise<ApplyCounts> {
  await assertEventsNotHeld(ctx);
  const counts: ApplyCounts = { applied: 0, duplicate: 0, unmatched: 0, recorded: 0 };
  const newestPerToken = new Map<VaultEvent["token"], VaultEvent>();
  for (const event of events) {
    const outcome = await recordAndApply(ctx, event, runEffects);
    counts[outcome] += 1;
    if (outcome !== "duplicate" && isMoneyEvent(event)) newestPerToken.set(event.token, event);
  }
  for (const event of newestPerToken.values()) await syncPoolBalances(ctx, event);
  return counts;
}

async function recordAndApply(ctx: Writer, event: SyncedEvent, runEffects: EffectsRunner): Promise<ApplyOutcome> {
  const existing = await ctx.db
    .query("vaultEvents")
    .withIndex("by_tx_and_index", (q) => q.eq("txid", event.txid).eq("eventIndex", event.eventIndex))
    .unique();
  if (existing && existing.status !== "reversed") return "duplicate";
  if (!isMoneyEvent(event)) {
    const record = {
      txid: event.txid,
      eventIndex: event.eventIndex,
      blockHeight: event.blockHeight,
      blockHash: event.blockHash,
      event,
      status: "recorded" as const,
      appliedAt: Date.now(),
    };
    if (existing) await ctx.db.replace("vaultEvents", existing._id, record);
    else await ctx.db.insert("vaultEvents", record);
    await actOnGovernanceEvent(ctx, event);
    return "recorded";
  }
  if (existing?.keptThroughReorg && sameSettlement(existing.event, event)) {
    // Its effects were kept through the reorg: it is back, and counts once.
    await ctx.db.patch("vaultEvents", existing._id, {
      blockHeight: event.blockHeight,
      blockHash: event.blockHash,
      event,
      status: "applied",
      appliedAt: Date.now(),
      keptThroughReorg: undefined,
    });
    await resolveAlerts(ctx, REORG_NEEDS_REVIEW, event.txid);
    return "applied";
  }

  // The vault's record of the provider moved whatever the books make of the
  // event: it is the chain's, so it is written outside the effects and stays
  // if they are refused (checkpoints are built from it). A zero amount (the
  // decoder refuses it; the vault never prints one) makes no record.
  if (event.amount > 0n && event.kind === "funds-deposited") await recordDeposit(ctx, event, operationIdOf(event));
  if (event.amount > 0n && event.kind === "funds-withdrawn") await recordWithdrawal(ctx, event, operationIdOf(event));

  const effects = await runEffects(event);
  const outcome = effects.placed ? "applied" : "unmatched";
  const offLedger = effects.placed ? effects.offLedger : undefined;
  if (!effects.placed) {
    await raiseAlert(ctx, "event-unmatched", `vault event ${event.kind} could not be applied: ${effects.refusal}`, {
      txid: event.txid,
      eventIndex: event.eventIndex,
    });
  }
  const record = {
    txid: event.txid,
    eventIndex: event.eventIndex,
    blockHeight: event.blockHeight,
    blockHash: event.blockHash,
    event,
    status: outcome === "applied" ? ("applied" as const) : ("unmatched" as const),
    appliedAt: Date.now(),
    offLedger,
  };
  if (existing) {
    await ctx.db.patch("vaultEvents", existing._id, record);
  } else {
    await ctx.db.insert("vaultEvents", record);
  }
  return outcome;
}
