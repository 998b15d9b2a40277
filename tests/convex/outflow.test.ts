/**
 * Planning around the vault's outflow window (domain/outflow.ts) and what a
 * send run lets go (chain/sendGate.ts): exact plans, and properties over any
 * queue.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { describeOutflowWait, oversizedSettlements, planSend, stopOf, type VaultGate } from "../../convex/chain/sendGate";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { describeOutflowLimit, OUTFLOW_WINDOW, outflowRoom, planOutflows, type OutflowWindow } from "../../convex/domain/outflow";

const window = (available: bigint, cap = 1_000n, windowStart = 500n): OutflowWindow => ({ windowStart, used: cap - available, cap, available });
const OPERATOR = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
const running: VaultGate = { shutDown: false, paused: false, operator: OPERATOR };

describe("outflowRoom", () => {
  it("fits up to what the window has left, and says when it reopens and whether a whole window could take it", () => {
    expect(outflowRoom(window(300n), 300n)).toEqual({ fits: true });
    expect(outflowRoom(window(300n), 301n)).toEqual({ fits: false, availableNow: 300n, reopensAt: 500n + OUTFLOW_WINDOW, exceedsCap: false });
    expect(outflowRoom(window(1_000n), 1_001n)).toEqual({ fits: false, availableNow: 1_000n, reopensAt: 644n, exceedsCap: true });
  });

  it("explains a refusal in words and base units", () => {
    const w = window(300n);
    const room = outflowRoom(w, 400n);
    if (room.fits) throw new Error("expected no room");
    expect(describeOutflowLimit(400n, "STX", w, room)).toBe(
      "400 µSTX does not fit the vault's outflow window: 300 µSTX fits now; the window reopens at burn block 644 with 1000 µSTX of room at today's balance",
    );
    const whole = outflowRoom(w, 2_000n);
    if (whole.fits) throw new Error("expected no room");
    expect(describeOutflowLimit(2_000n, "sBTC", w, whole)).toBe(
      "2000 sats does not fit the vault's outflow window: 300 sats fits now; the window reopens at burn block 644 with 1000 sats of room at today's balance, and a whole window allows no more: withdraw in parts of at most 1000 sats, one per window",
    );
    // A zero cap: the admin stopped outflows; no window will let any through.
    const closed = { ...w, cap: 0n, available: 0n };
    const none = outflowRoom(closed, 5n);
    if (none.fits) throw new Error("expected no room");
    expect(describeOutflowLimit(5n, "STX", closed, none)).toBe(
      "5 µSTX does not fit the vault's outflow window: 0 µSTX fits now; the outflow limit lets nothing out until the admin raises it (set-outflow-limit)",
    );
  });
});

describe("planOutflows", () => {
  it("sends in queue order while each fits, and holds everything of a token after the first that does not", () => {
    const queue = [
      { id: 1, token: "STX", amount: 400n },
      { id: 2, token: "sBTC", amount: 5n },
      { id: 3, token: "STX", amount: 700n },
      { id: 4, token: "STX", amount: 100n },
      { id: 5, token: "sBTC", amount: 5n },
    ];
    const { send, held } = planOutflows(queue, new Map([["STX", 1_000n], ["sBTC", 10n]]));
    expect(send.map((o) => o.id)).toEqual([1, 2, 5]);
    expect(held.map((o) => o.id)).toEqual([3, 4]);
  });

  it("never plans more than a window has left, keeps each token's order, and sends a prefix of each token's queue", () => {
    const outflow = fc.record({ token: fc.constantFrom("STX", "sBTC"), amount: fc.bigInt({ min: 1n, max: 1_000n }) });
    fc.assert(
      fc.property(fc.array(outflow, { maxLength: 30 }), fc.bigInt({ min: 0n, max: 3_000n }), fc.bigInt({ min: 0n, max: 3_000n }), (queue, stx, sbtc) => {
        const available = new Map([["STX", stx], ["sBTC", sbtc]]);
        const { send, held } = planOutflows(queue, available);
        expect(send.length + held.length).toBe(queue.length);
        for (const token of ["STX", "sBTC"]) {
          const ofToken = queue.filter((o) => o.token === token);
          const sent = send.filter((o) => o.token === token);
          expect(ofToken.slice(0, sent.length)).toEqual(sent);
          expect(sent.reduce((sum, o) => sum + o.amount, 0n) <= available.get(token)!).toBe(true);
          const next = ofToken[sent.length];
          if (next) expect(sent.reduce((sum, o) => sum + o.amount, 0n) + next.amount > available.get(token)!).toBe(true);
        }
      }),
    );
  });
});

describe("the send gate", () => {
  const lock = { functionName: VAULT_FUNCTIONS.lockCollateralAggregate, token: "STX" as const, amount: 50n };
  const release = { functionName: VAULT_FUNCTIONS.releaseCollateralAggregate, token: "STX" as const, amount: 50n };
  const settle = (amount: bigint) => ({ functionName: VAULT_FUNCTIONS.settlePolicy, token: "STX" as const, amount });

  it("stops everything after a shutdown or when the operator key does not hold the role", () => {
    expect(stopOf(running, OPERATOR)).toBeNull();
    expect(stopOf({ ...running, shutDown: true }, OPERATOR)).toBe("shut-down");
    expect(stopOf({ ...running, operator: null }, OPERATOR)).toBe("operator-not-authorized");
    expect(stopOf(running, "ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP")).toBe("operator-not-authorized");
  });

  it("holds locks while paused but lets releases and settlements go, within the window", () => {
    const windows = new Map([["STX" as const, window(600n)]]);
    const queue = [lock, settle(500n), release, settle(200n), lock];
    expect(planSend(queue, running, windows)).toMatchObject({ send: [lock, settle(500n), release, lock], heldByPause: 0 });
    const paused = planSend(queue, { ...running, paused: true }, windows);
    expect(paused.send).toEqual([settle(500n), release]);
    expect(paused.heldByPause).toBe(2);
    expect(paused.outflowWaits.map((w) => [w.token, w.waiting, w.firstAmount])).toEqual([["STX", 1, 200n]]);
    expect(describeOutflowWait(paused.outflowWaits[0]!)).toBe(
      "1 settlement(s) in STX wait for the vault's outflow window: the next pays 200 µSTX, 100 µSTX of the window's 1000 µSTX is free now; the window reopens at burn block 644",
    );
  });
  it("pays a settlement larger than a whole window's cap in parts of the cap; a cap of zero splits nothing", () => {
    const windows = new Map([["STX" as const, window(300n)]]);
    const big = settle(2_500n);
    expect(oversizedSettlements([lock, settle(1_000n), big, release], windows)).toEqual([{ tx: big, part: 1_000n }]);
    const closed = new Map([["STX" as const, { ...window(0n), cap: 0n }]]);
    expect(oversizedSettlements([big], closed)).toEqual([]);
    expect(oversizedSettlements([big], new Map())).toEqual([]);
  });

  it("plans settlements in the order they were decided: a later part keeps its settlement's place", () => {
    const windows = new Map([["STX" as const, window(600n)]]);
    const later = { ...settle(300n), createdAt: 20 };
    // The rest of a settlement decided first, its row queued after the later one's.
    const rest = { ...settle(500n), createdAt: 10 };
    const plan = planSend([later, rest], running, windows);
    expect(plan.send).toEqual([rest]);
    expect(plan.outflowWaits.map((w) => [w.waiting, w.firstAmount])).toEqual([[1, 300n]]);
  });

  it("says a settlement over the cap goes in parts, and one under a zero cap waits for the admin", () => {
    const over = { token: "STX" as const, waiting: 1, window: window(0n), firstAmount: 2_000n };
    expect(describeOutflowWait(over)).toBe(
      "1 settlement(s) in STX wait for the vault's outflow window: the next pays 2000 µSTX, 0 µSTX of the window's 1000 µSTX is free now; " +
        "it is paid in parts of at most the window's cap, one a window, from burn block 644",
    );
    const closed = { ...over, window: { ...window(0n), cap: 0n } };
    expect(describeOutflowWait(closed)).toBe(
      "1 settlement(s) in STX wait for the vault's outflow window: the next pays 2000 µSTX, 0 µSTX of the window's 0 µSTX is free now; " +
        "the outflow limit lets nothing out, so it waits until the admin raises it (set-outflow-limit)",
    );
  });
});
