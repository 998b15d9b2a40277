/**
 * What the vault lets the backend send right now (README "Operations"): read
 * on chain before every send run that has something to send, so a pause, a
 * revocation, a role hand-over or a shutdown stops the backend at once, even
 * before the sync has seen the event.
 *
 * - Shut down: nothing is sent (every call but `claim-exit` fails u215).
 * - Operator role not held by the operator key (revoked, or handed to a new
 *   key not configured yet): nothing is sent (every call would fail u200 and
 *   pay its fee).
 * - Paused: locks are held (they fail u207); releases and settlements still
 *   go, as the vault lets them, so policyholders are paid during an incident.
 * - Settlements are paced by the outflow window of their token (`get-outflow`):
 *   in queue order, each while it fits; the first that does not holds every
 *   later one of its token until a window has room (domain/outflow.ts). One
 *   larger than a whole window's cap is paid in parts of at most the cap, one
 *   a window, in its place in the queue (`oversizedSettlements`): the vault
 *   takes several `settle-policy` calls for one policy, and the books settle
 *   the policy with its last part.
 */
import { outflowRoom, planOutflows, type OutflowWindow } from "../domain/outflow";
import { inBaseUnits } from "../domain/money";
import type { Token } from "../domain/vocabulary";
import type { HiroClient } from "./hiroClient";
import { readVault, tokenContractOf, VAULT_ARGS, VAULT_FUNCTIONS } from "./vault";

export type VaultGate = { shutDown: boolean; paused: boolean; operator: string | null };

type Reader = Pick<HiroClient, "callReadOnlyHex">;

export async function readVaultGate(client: Reader, vaultContractId: string): Promise<VaultGate> {
  const shutDown = await readVault(client, vaultContractId, VAULT_FUNCTIONS.isShutDown);
  const paused = await readVault(client, vaultContractId, VAULT_FUNCTIONS.isPaused);
  const roles = await readVault(client, vaultContractId, VAULT_FUNCTIONS.getRoles);
  return { shutDown, paused, operator: roles.operator };
}

export async function readOutflowWindow(client: Reader, config: { vaultContractId: string; sbtcContractId: string }, token: Token): Promise<OutflowWindow> {
  const args = VAULT_ARGS.getOutflow({ tokenContract: tokenContractOf(token, config.sbtcContractId) });
  return await readVault(client, config.vaultContractId, VAULT_FUNCTIONS.getOutflow, args);
}

/** Why nothing at all can be sent now, or null. */
export type Stop = "shut-down" | "operator-not-authorized";

export function stopOf(gate: VaultGate, operatorAddress: string): Stop | null {
  if (gate.shutDown) return "shut-down";
  if (gate.operator !== operatorAddress) return "operator-not-authorized";
  return null;
}

type Queued = { functionName: string; token?: Token; amount?: bigint; createdAt?: number };

const isSettlementCall = (tx: Queued) => tx.functionName === VAULT_FUNCTIONS.settlePolicy;

/**
 * The queued settlements larger than a whole window of their token allows,
 * each with the part to pay now: the window's cap. A cap of zero lets nothing
 * out, so nothing is split: such a settlement waits for the admin.
 */
export function oversizedSettlements<T extends Queued>(pending: readonly T[], windows: ReadonlyMap<Token, OutflowWindow>): { tx: T; part: bigint }[] {
  const oversized: { tx: T; part: bigint }[] = [];
  for (const tx of pending) {
    const cap = isSettlementCall(tx) ? windows.get(tx.token as Token)?.cap : undefined;
    if (cap !== undefined && cap > 0n && (tx.amount ?? 0n) > cap) oversized.push({ tx, part: cap });
  }
  return oversized;
}

/** A settlement's token waiting for the outflow window: how many wait, and what the window says. */
export type OutflowWait = { token: Token; waiting: number; window: OutflowWindow; firstAmount: bigint };

export type SendPlan<T> = {
  send: T[];
  /** Locks held while the vault is paused. */
  heldByPause: number;
  outflowWaits: OutflowWait[];
};

/**
 * Of the pending rows (oldest first), those to send now. `windows` must hold
 * the outflow window of every token a queued settlement pays in.
 */
export function planSend<T extends Queued>(pending: readonly T[], gate: VaultGate, windows: ReadonlyMap<Token, OutflowWindow>): SendPlan<T> {
  const isLock = (tx: T) => tx.functionName === VAULT_FUNCTIONS.lockCollateralAggregate;
  const isSettlement = isSettlementCall;
  // In the order they were decided: a settlement's later parts keep its first part's place.
  const settlements = pending
    .filter(isSettlement)
    .map((tx) => ({ tx, token: tx.token as Token, amount: tx.amount ?? 0n }))
    .sort((a, b) => (a.tx.createdAt ?? 0) - (b.tx.createdAt ?? 0));
  const available = new Map([...windows].map(([token, window]) => [token as string, window.available]));
  const { send: settleNow, held } = planOutflows(settlements, available);
  const go = new Set(settleNow.map((s) => s.tx));
  const outflowWaits: OutflowWait[] = [];
  for (const token of new Set(held.map((h) => h.token))) {
    const ofToken = held.filter((h) => h.token === token);
    // The window as it stands once this run's settlements of the token are paid.
    const before = windows.get(token)!;
    const paying = settleNow.filter((s) => s.token === token).reduce((sum, s) => sum + s.amount, 0n);
    const after = { ...before, used: before.used + paying, available: before.available - paying };
    outflowWaits.push({ token, waiting: ofToken.length, window: after, firstAmount: ofToken[0]!.amount });
  }
  const heldByPause = gate.paused ? pending.filter(isLock).length : 0;
  const send = pending.filter((tx) => (isSettlement(tx) ? go.has(tx) : !(gate.paused && isLock(tx))));
  return { send, heldByPause, outflowWaits };
}

/** The alert text for settlements waiting on a token's window. */
export function describeOutflowWait(wait: OutflowWait): string {
  const room = outflowRoom(wait.window, wait.firstAmount);
  const head =
    `${wait.waiting} settlement(s) in ${wait.token} wait for the vault's outflow window: the next pays ${inBaseUnits(wait.firstAmount, wait.token)}, ` +
    `${inBaseUnits(wait.window.available, wait.token)} of the window's ${inBaseUnits(wait.window.cap, wait.token)} is free now`;
  if (room.fits) return head;
  if (wait.window.cap === 0n) {
    return `${head}; the outflow limit lets nothing out, so it waits until the admin raises it (set-outflow-limit)`;
  }
  if (room.exceedsCap) {
    return `${head}; it is paid in parts of at most the window's cap, one a window, from burn block ${room.reopensAt}`;
  }
  return `${head}; the window reopens at burn block ${room.reopensAt}`;
}

/** Tokens a queue's settlements pay in. */
export function settlementTokens(pending: readonly Queued[]): Token[] {
  return [...new Set(pending.filter(isSettlementCall).map((tx) => tx.token as Token))];
}
