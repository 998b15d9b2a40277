/**
 * Undoing an applied vault event whose block left the canonical chain
 * (README "Chain integration": a reorg is detected and reversed, never silently ignored).
 *
 * Every balance change an event caused is in the ledger under the event's
 * operation id (or ids that start with it), so the reversal applies the
 * inverse of each, newest first, under ids of its own. A premium's effects
 * outside the ledger (the protocol fee or unallocated amount, the policy's
 * premiums received) are recorded with the event and taken back too, so a
 * premium re-mined on the winning fork is counted once. A settlement is the
 * exception: its effects are kept (see keepSettlementThroughReorg).
 */
import type { Doc } from "../../_generated/dataModel";
import type { Writer } from "../database";
import { VAULT_FUNCTIONS } from "../../chain/vault";
import { raiseAlert, raiseAlertOnce, REORG_NEEDS_REVIEW } from "../alerts";
import { inverseOf } from "../../domain/balances";
import { isPoolError } from "../../domain/errors";
import { applyBalanceChange } from "../ledger/balanceLedger";
import { reversePremiumOffLedger } from "../policies/premiums";
import { reopenReservations } from "../ledger/reservations";
import { reopenAfterReorg } from "../operations/chainTransactions";
import { undoGovernanceEvent } from "./governance";
import { operationIdOf } from "./vaultEvents";
import { assertEventsNotHeld } from "../checkpoints/eventHold";
import { reverseRecordChange } from "../checkpoints/providerRecords";
import { isMoneyEvent } from "../../validators";

/** Most ledger rows one event can have caused (a premium split over the largest backing group, plus slack). */
const MAX_ROWS_PER_EVENT = 200;

/**
 * A lock or release of ours that left the canonical chain must happen again:
 * its transaction goes back to "broadcast" as if stuck since height 0, so the
 * follower re-sends it (same nonce, higher fee) on the winning fork, and its
 * operations wait for the new event again. (A reorged settlement is left to
 * an operator: paying a buyer must never happen twice.)
 */
async function reopenBackendTransaction(ctx: Writer, txid: string): Promise<void> {
  const tx = await ctx.db
    .query("chainTransactions")
    .withIndex("by_txid", (q) => q.eq("txid", txid))
    .unique();
  if (!tx || tx.functionName === VAULT_FUNCTIONS.settlePolicy) return;
  // Only a mined (or about to be seen mined) transaction has a block to lose.
  if (!(await reopenAfterReorg(ctx, tx))) return;
  const ops = await ctx.db
    .query("vaultOperations")
    .withIndex("by_chain_transaction", (q) => q.eq("chainTransactionId", tx._id))
    .take(50);
  for (const op of ops) await ctx.db.patch("vaultOperations", op._id, { status: "submitted" });
}

/**
 * A settlement is not undone: our settlement transaction left the chain with
 * its block, and on Stacks it goes back to the mempool and is almost always
 * mined again on the winning fork, paying the buyer once. Undoing the backers'
 * debits now and applying them again then would be two moves on the books for
 * none on chain; so the effects stay, the record waits for the same
 * transaction to reappear (see vaultEvents.ts), and an operator is told. If
 * it never reappears the buyer was not paid: reconciliation shows the
 * difference, and paying again is the operator's decision.
 */
async function keepSettlementThroughReorg(ctx: Writer, record: Doc<"vaultEvents">): Promise<void> {
  await ctx.db.patch("vaultEvents", record._id, { status: "reversed", keptThroughReorg: true });
  const event = record.event;
  await raiseAlertOnce(
    ctx,
    REORG_NEEDS_REVIEW,
    record.txid,
    `settlement in block ${event.blockHeight} left the canonical chain; its effects are kept until the same transaction is mined again`,
  );
}

export async function reverseVaultEvent(
  ctx: Writer,
  key: { txid: string; eventIndex: number },
): Promise<"reversed" | "not-applied"> {
  // A checkpoint snapshot in progress: EVENTS_HELD, nothing reversed (model/checkpoints/eventHold.ts).
  await assertEventsNotHeld(ctx);
  const record = await ctx.db
    .query("vaultEvents")
    .withIndex("by_tx_and_index", (q) => q.eq("txid", key.txid).eq("eventIndex", key.eventIndex))
    .unique();
  if (!record || record.status === "reversed") return "not-applied";
  if (record.event.kind === "settlement-paid" && record.status === "applied") {
    await keepSettlementThroughReorg(ctx, record);
    return "reversed";
  }

  const prefix = operationIdOf(record.event);
  const rows = await ctx.db
    .query("balanceLedger")
    .withIndex("by_operation", (q) => q.gte("operationId", prefix).lt("operationId", `${prefix}\uffff`))
    .take(MAX_ROWS_PER_EVENT);
  rows.sort((a, b) => b.appliedAt - a.appliedAt || b._creationTime - a._creationTime);

  const failures: string[] = [];
  for (const row of rows) {
    try {
      await applyBalanceChange(ctx, {
        operationId: `reversal:${row.operationId}`,
        provider: row.provider,
        token: row.token,
        type: inverseOf(row.type),
        amount: row.amount,
      });
    } catch (error) {
      // The provider already used the money (e.g. locked or withdrew it): the
      // reversal cannot take it back on its own.
      if (!isPoolError(error)) throw error;
      failures.push(`${row.operationId}: ${error.data.message}`);
    }
  }

  const event = record.event;
  if (event.kind === "premium-paid" && record.offLedger) {
    try {
      await reversePremiumOffLedger(ctx, { policyId: event.policyId, token: event.token }, record.offLedger);
    } catch (error) {
      if (!isPoolError(error)) throw error;
      failures.push(`premium of policy ${event.policyId}: ${error.data.message}`);
    }
  }
  if (event.kind === "collateral-locked" || event.kind === "collateral-released") {
    await reopenBackendTransaction(ctx, event.txid);
  }
  if (event.kind === "funds-withdrawn") {
    await reopenReservations(ctx, { operationId: prefix, provider: event.provider, nonce: event.nonce });
  }
  if (event.kind === "funds-deposited" || event.kind === "funds-withdrawn") await reverseRecordChange(ctx, prefix);
  if (!isMoneyEvent(event)) await undoGovernanceEvent(ctx, event);
  await ctx.db.patch("vaultEvents", record._id, { status: "reversed" });

  const needsReview = failures.length > 0;
  await raiseAlert(
    ctx,
    needsReview ? REORG_NEEDS_REVIEW : "reorg-reversed",
    `vault event ${event.kind} in block ${event.blockHeight} left the canonical chain and was reversed`,
    { txid: key.txid, eventIndex: key.eventIndex, failures },
  );
  return "reversed";
}
