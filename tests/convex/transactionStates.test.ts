/**
 * The backend transaction state machine (convex/domain/transactionStates.ts,
 * docs/transaction-states.md), one case per (status, event) pair: the exact
 * status it leads to, or the exact refusal. The expected table is written out
 * here rather than read from the module, so a transition added, removed or
 * redirected there fails a case here; and the graph checks run over the
 * module's own lists, so a status added without transitions fails them.
 * The last cases check that the database helpers write through the table.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import {
  INITIAL_STATUS,
  isTerminal,
  MAX_SEND_ATTEMPTS,
  nextStatus,
  refusalEvent,
  TERMINAL_STATUSES,
  TRANSACTION_EVENTS,
  TRANSACTION_STATUSES,
  TRANSITIONS,
  type TransactionEvent,
  type TransactionStatus,
} from "../../convex/domain/transactionStates";
import { newBackend, type Backend } from "./convexTest";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

type Row = readonly [from: TransactionStatus, event: TransactionEvent, to: TransactionStatus];

/** Every allowed transition, by who causes it. */
const EXPECTED: readonly Row[] = [
  // send
  ["pending", "signed", "pending"],
  ["pending", "nonce-released", "pending"],
  ["pending", "broadcast-accepted", "broadcast"],
  ["pending", "found-on-node", "broadcast"],
  ["pending", "refused", "pending"],
  ["pending", "gave-up", "failed"],
  // follow
  ["broadcast", "signed", "broadcast"],
  ["broadcast", "replacement-accepted", "broadcast"],
  ["broadcast", "stuck-at-fee-cap", "broadcast"],
  ["broadcast", "refused", "pending"],
  ["broadcast", "gave-up", "failed"],
  ["broadcast", "mined", "confirmed"],
  ["broadcast", "aborted", "failed"],
  // by hand
  ["pending", "abandoned", "failed"],
  ["broadcast", "abandoned", "failed"],
  // the event sync, after a reorg
  ["broadcast", "reorged", "broadcast"],
  ["confirmed", "reorged", "broadcast"],
];

function expectedTo(from: TransactionStatus, event: TransactionEvent): TransactionStatus | undefined {
  return EXPECTED.find(([f, e]) => f === from && e === event)?.[2];
}

/** The statuses `from` leads to by any event. */
function successors(from: TransactionStatus): TransactionStatus[] {
  return Object.values(TRANSITIONS[from]);
}

/** Every status reachable from `start` (itself included), breadth first over the module's table. */
function reachableFrom(start: TransactionStatus): Set<TransactionStatus> {
  const seen = new Set<TransactionStatus>([start]);
  const queue = [start];
  while (queue.length > 0) {
    for (const next of successors(queue.shift()!)) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

const PAIRS = TRANSACTION_STATUSES.flatMap((from) => TRANSACTION_EVENTS.map((event) => [from, event] as const));

describe("transaction state machine: every (status, event) pair", () => {
  describe.each(TRANSACTION_STATUSES)("from %s", (from) => {
    for (const event of TRANSACTION_EVENTS) {
      const to = expectedTo(from, event);
      if (to !== undefined) {
        it(`${from} --${event}--> ${to}`, () => {
          expect(nextStatus(from, event)).toEqual({ ok: true, status: to });
        });
      } else {
        it(`${from} --${event}--> refused`, () => {
          expect(nextStatus(from, event)).toEqual({
            ok: false,
            from,
            event,
            reason: `a ${from} transaction cannot take "${event}"`,
          });
        });
      }
    }
  });

  it("allows exactly the expected transitions, no more", () => {
    const allowed = PAIRS.filter(([from, event]) => nextStatus(from, event).ok);
    expect(allowed).toHaveLength(EXPECTED.length);
    expect(new Set(EXPECTED.map(([from, event]) => `${from} ${event}`)).size).toBe(EXPECTED.length);
  });
});

describe("transaction state machine: the graph", () => {
  it("starts at pending and writes only declared statuses", () => {
    expect(INITIAL_STATUS).toBe("pending");
    for (const from of TRANSACTION_STATUSES) {
      for (const to of successors(from)) expect(TRANSACTION_STATUSES).toContain(to);
    }
  });

  it("reaches every declared status from pending", () => {
    expect([...reachableFrom(INITIAL_STATUS)].sort()).toEqual([...TRANSACTION_STATUSES].sort());
  });

  it("lets every non-terminal status reach a terminal one", () => {
    const nonTerminal = TRANSACTION_STATUSES.filter((status) => !isTerminal(status));
    expect(nonTerminal).toEqual(["pending", "broadcast"]);
    for (const status of nonTerminal) {
      const reachable = [...reachableFrom(status)];
      expect(reachable.some(isTerminal), `${status} reaches no terminal status`).toBe(true);
    }
  });

  it("has declared terminal statuses only, and leaves them by the chain alone: failed never, confirmed on a reorg", () => {
    for (const status of TERMINAL_STATUSES) expect(TRANSACTION_STATUSES).toContain(status);
    expect(TERMINAL_STATUSES).toEqual(["confirmed", "failed"]);
    expect(TRANSITIONS.failed).toEqual({});
    expect(TRANSITIONS.confirmed).toEqual({ reorged: "broadcast" });
  });

  it("uses every declared event somewhere", () => {
    const used = new Set(TRANSACTION_STATUSES.flatMap((from) => Object.keys(TRANSITIONS[from])));
    expect([...used].sort()).toEqual([...TRANSACTION_EVENTS].sort());
  });

  it("has no dropped or replaced status: those are fates of a signed version, kept in replacedTxids", () => {
    expect(TRANSACTION_STATUSES).toEqual(["pending", "broadcast", "confirmed", "failed"]);
  });
});

describe("refusalEvent", () => {
  it(`retries a refused attempt until the ${MAX_SEND_ATTEMPTS}th, which gives up`, () => {
    expect(MAX_SEND_ATTEMPTS).toBe(5);
    for (let attempts = 1; attempts < MAX_SEND_ATTEMPTS; attempts++) expect(refusalEvent(attempts)).toBe("refused");
    expect(refusalEvent(MAX_SEND_ATTEMPTS)).toBe("gave-up");
    expect(refusalEvent(MAX_SEND_ATTEMPTS + 1)).toBe("gave-up");
  });

  it("takes a refused pending row back to pending, and the last refusal to failed, from either live status", () => {
    for (const from of ["pending", "broadcast"] as const) {
      expect(nextStatus(from, refusalEvent(MAX_SEND_ATTEMPTS - 1))).toEqual({ ok: true, status: "pending" });
      expect(nextStatus(from, refusalEvent(MAX_SEND_ATTEMPTS))).toEqual({ ok: true, status: "failed" });
    }
  });
});

describe("the database helpers write statuses through the table", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function insertRow(t: Backend, status: TransactionStatus, attempts = 0): Promise<Id<"chainTransactions">> {
    return await t.run(async (ctx) => {
      const now = Date.now();
      return await ctx.db.insert("chainTransactions", {
        functionName: VAULT_FUNCTIONS.lockCollateralAggregate,
        status,
        policyIds: [],
        token: "STX",
        amount: 1n,
        nonce: 7n,
        txid: status === "pending" ? undefined : "0xabc",
        attempts,
        createdAt: now,
        updatedAt: now,
      });
    });
  }

  const read = async (t: Backend, id: Id<"chainTransactions">) =>
    await t.run(async (ctx) => await ctx.db.get("chainTransactions", id));

  it("counts a refusal and keeps the row pending, then fails it on the last attempt, with an alert", async () => {
    const t = newBackend();
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const id = await insertRow(t, "pending");
    for (let attempt = 1; attempt < MAX_SEND_ATTEMPTS; attempt++) {
      await t.mutation(internal.chainTransactions.markAttemptFailed, { id, reason: "FeeTooLow: low" });
      expect(await read(t, id)).toMatchObject({ status: "pending", attempts: attempt, error: "FeeTooLow: low" });
    }
    await t.mutation(internal.chainTransactions.markAttemptFailed, { id, reason: "FeeTooLow: low" });
    expect(await read(t, id)).toMatchObject({
      status: "failed",
      attempts: MAX_SEND_ATTEMPTS,
      error: `gave up after ${MAX_SEND_ATTEMPTS} attempts: FeeTooLow: low`,
    });
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0]![0])).toMatch(/^\[alert:transaction-failed\] /);
  });

  it("refuses an event the table does not allow, and writes nothing", async () => {
    const t = newBackend();
    const failed = await insertRow(t, "failed");
    const before = await read(t, failed);
    await expect(t.mutation(internal.chainTransactions.markAttemptFailed, { id: failed, reason: "late" })).rejects.toThrow(
      'a failed transaction cannot take "refused"',
    );
    await expect(
      t.mutation(internal.chainTransactions.markBroadcast, {
        id: failed,
        event: "replacement-accepted",
        txid: "0xdef",
        fee: 2_000n,
        atHeight: 9n,
      }),
    ).rejects.toThrow('a failed transaction cannot take "replacement-accepted"');
    await expect(t.mutation(internal.chainTransactions.markConfirmed, { id: failed })).rejects.toThrow(
      'a failed transaction cannot take "mined"',
    );
    expect(await read(t, failed)).toEqual(before);

    const pending = await insertRow(t, "pending");
    await expect(t.mutation(internal.chainTransactions.markAborted, { id: pending, reason: "?" })).rejects.toThrow(
      'a pending transaction cannot take "aborted"',
    );
    expect((await read(t, pending))?.status).toBe("pending");
  });

  it("leaves a confirmed or failed row as it is when told it failed, or a confirmed one when told it was mined", async () => {
    const t = newBackend();
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    for (const status of ["confirmed", "failed"] as const) {
      const id = await insertRow(t, status);
      const before = await read(t, id);
      await t.mutation(internal.chainTransactions.markFailed, { id, reason: "by hand" });
      await t.mutation(internal.chainTransactions.markAborted, { id, reason: "abort_by_response (err u1)" });
      if (status === "confirmed") await t.mutation(internal.chainTransactions.markConfirmed, { id });
      expect(await read(t, id)).toEqual(before);
    }
    expect(log).not.toHaveBeenCalled();
  });
});
