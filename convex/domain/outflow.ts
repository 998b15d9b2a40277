/**
 * The vault's outflow window (README "Outflow limit"), as the backend plans
 * around it: withdrawals and settlements of a token share one window of
 * OUTFLOW_WINDOW burn blocks whose cap the vault enforces with u213. The
 * backend asks before it commits to an outflow, so a provider hears "not now,
 * this much fits, the window reopens at burn block N" instead of holding a
 * voucher the vault will refuse.
 *
 * Pure: no Convex context, no environment.
 */
import { inBaseUnits } from "./money";
import type { Token } from "./vocabulary";

/** Burn blocks per window: the contract's OUTFLOW-WINDOW. */
export const OUTFLOW_WINDOW = 144n;

/** `get-outflow` as the vault answers it at the current burn height. */
export type OutflowWindow = { windowStart: bigint; used: bigint; cap: bigint; available: bigint };

export type OutflowRoom =
  | { fits: true }
  | {
      fits: false;
      /** What fits in the window now. */
      availableNow: bigint;
      /** The burn block at which a new window starts (with the whole cap free). */
      reopensAt: bigint;
      /** Larger than a whole window's cap: it never fits in one call. */
      exceedsCap: boolean;
    };

/** Whether an outflow of `amount` fits the window now, and if not, what does and when. */
export function outflowRoom(window: OutflowWindow, amount: bigint): OutflowRoom {
  if (amount <= window.available) return { fits: true };
  return {
    fits: false,
    availableNow: window.available,
    reopensAt: window.windowStart + OUTFLOW_WINDOW,
    exceedsCap: amount > window.cap,
  };
}

/** The message of an OUTFLOW_LIMITED refusal. */
export function describeOutflowLimit(amount: bigint, token: Token, window: OutflowWindow, room: Exclude<OutflowRoom, { fits: true }>): string {
  const now = `${inBaseUnits(amount, token)} does not fit the vault's outflow window: ${inBaseUnits(room.availableNow, token)} fits now`;
  if (window.cap === 0n) return `${now}; the outflow limit lets nothing out until the admin raises it (set-outflow-limit)`;
  const reopens = `the window reopens at burn block ${room.reopensAt} with ${inBaseUnits(window.cap, token)} of room at today's balance`;
  if (room.exceedsCap) {
    return `${now}; ${reopens}, and a whole window allows no more: withdraw in parts of at most ${inBaseUnits(window.cap, token)}, one per window`;
  }
  return `${now}; ${reopens}`;
}

/** An outflow the backend would send: a settlement's token and amount. */
export type PlannedOutflow = { token: string; amount: bigint };

/**
 * Which queued outflows go now, in queue order: per token, each while it fits
 * what is left of the window; the first that does not fit holds every later
 * one of its token, so settlements are paid in the order they were decided
 * and a small one never overtakes a large one that has waited longer.
 */
export function planOutflows<T extends PlannedOutflow>(
  queue: readonly T[],
  available: ReadonlyMap<string, bigint>,
): { send: T[]; held: T[] } {
  const left = new Map(available);
  const blocked = new Set<string>();
  const send: T[] = [];
  const held: T[] = [];
  for (const outflow of queue) {
    const room = left.get(outflow.token) ?? 0n;
    if (blocked.has(outflow.token) || outflow.amount > room) {
      blocked.add(outflow.token);
      held.push(outflow);
      continue;
    }
    left.set(outflow.token, room - outflow.amount);
    send.push(outflow);
  }
  return { send, held };
}
