/**
 * The life of a backend-signed vault transaction (a lock, release or
 * settlement; README "Chain integration", "Backend-signed transactions"), as
 * data: its statuses, the events that move it, and the one table of which
 * event moves which status where. The database helpers in
 * `convex/model/operations/chainTransactions.ts` write a status only through
 * `nextStatus`, and `convex/validators.ts` derives the column's validator from
 * `TRANSACTION_STATUSES`, so the table, the code and the schema cannot drift
 * apart. docs/transaction-states.md draws it.
 *
 * A row is one intended vault call under one nonce, not one signed version of
 * it: a replacement (same nonce, higher fee) is another version of the same
 * row, the versions it superseded are kept in its `replacedTxids`, and every
 * version ever signed in its `signedTxids`. That is why there is no "dropped"
 * or "replaced" status: those are fates of a version, and the row holding it
 * is still waiting to be mined.
 *
 * Pure: nothing of Convex, no environment.
 */

export const TRANSACTION_STATUSES = [
  // Waiting for `send`: not yet accepted by the node (maybe signed, maybe holding a nonce).
  "pending",
  // Accepted by the node; `follow` watches it until it is mined (and replaces it if stuck).
  "broadcast",
  // Mined successfully on the canonical chain.
  "confirmed",
  // Will not happen: aborted on chain, out of attempts, or given up by hand. What it held was let go.
  "failed",
] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

/** What every row starts as when its vault operations are batched. */
export const INITIAL_STATUS: TransactionStatus = "pending";

/**
 * Statuses the crons never pick up again. A confirmed row can still be
 * reopened, but only by the chain itself (`reorged`), never by a retry.
 */
export const TERMINAL_STATUSES: readonly TransactionStatus[] = ["confirmed", "failed"];

export const TRANSACTION_EVENTS = [
  // `send` or `follow` claimed the row's nonce (once) and signed a version, recorded before it is broadcast.
  "signed",
  // The row's unused nonce was given back (the counter was resynced below it, or the node called it dead).
  "nonce-released",
  // `send`: the node accepted the signed transaction.
  "broadcast-accepted",
  // `send`: the node refused the nonce because an earlier signed version of this row is already there
  // (e.g. broadcast before a crash lost the answer); the row follows that version.
  "found-on-node",
  // `follow`: stuck for STUCK_AFTER_BLOCKS or dropped from the mempool; a version with the same nonce and
  // a higher fee was accepted.
  "replacement-accepted",
  // `follow`: stuck, but a replacement would pay more than MAX_FEE_USTX; it waits at its fee.
  "stuck-at-fee-cap",
  // A broadcast (`send`) or a replacement (`follow`, once the version on the node can no longer confirm)
  // was refused, and attempts are left: tried again by the next `send`.
  "refused",
  // The same refusal on the last of MAX_SEND_ATTEMPTS.
  "gave-up",
  // `follow`: the API shows it successful in a canonical block.
  "mined",
  // `follow`: the API shows it in a canonical block, failed (the vault refused, or a post-condition did).
  "aborted",
  // Failed by hand (`internal.chainTransactions.markFailed`), whatever the node holds.
  "abandoned",
  // The event sync found the block of its lock or release gone from the canonical chain: it must be
  // mined again, so `follow` watches it as if stuck since height 0.
  "reorged",
] as const;
export type TransactionEvent = (typeof TRANSACTION_EVENTS)[number];

/** Sends, replacements included, a row gets before it fails for good. */
export const MAX_SEND_ATTEMPTS = 5;

/**
 * Every transition there is; any other (status, event) pair is refused.
 * Self-loops are events that write the row without changing its status,
 * listed so that they too are allowed only where they make sense.
 */
export const TRANSITIONS: Readonly<
  Record<TransactionStatus, Readonly<Partial<Record<TransactionEvent, TransactionStatus>>>>
> = {
  pending: {
    signed: "pending",
    "nonce-released": "pending",
    "broadcast-accepted": "broadcast",
    "found-on-node": "broadcast",
    refused: "pending",
    "gave-up": "failed",
    abandoned: "failed",
  },
  broadcast: {
    signed: "broadcast",
    "replacement-accepted": "broadcast",
    "stuck-at-fee-cap": "broadcast",
    refused: "pending",
    "gave-up": "failed",
    mined: "confirmed",
    aborted: "failed",
    abandoned: "failed",
    reorged: "broadcast",
  },
  confirmed: {
    reorged: "broadcast",
  },
  failed: {},
};

export type Transition =
  | { ok: true; status: TransactionStatus }
  | { ok: false; from: TransactionStatus; event: TransactionEvent; reason: string };

/** Where `event` takes a transaction in status `from`, or why it cannot happen there. */
export function nextStatus(from: TransactionStatus, event: TransactionEvent): Transition {
  const to = TRANSITIONS[from][event];
  if (to !== undefined) return { ok: true, status: to };
  return { ok: false, from, event, reason: `a ${from} transaction cannot take "${event}"` };
}

/** What a refused attempt is once counted (`attempts` includes it): retried, or the last one. */
export function refusalEvent(attempts: number): "refused" | "gave-up" {
  return attempts >= MAX_SEND_ATTEMPTS ? "gave-up" : "refused";
}

export function isTerminal(status: TransactionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
