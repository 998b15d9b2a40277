/**
 * One round of the guardian's watcher (README "Operations: the watcher and
 * the exit"): read the vault's state and its whole event history, judge the
 * current checkpoint, the pending role proposals and the outflow windows,
 * and answer what is wrong with the guardian's three moves — `veto-checkpoint`,
 * `cancel-role`, `revoke-hot-keys` — when given the guardian's key, or only
 * report it without one. None of the three moves money; the worst a false
 * alarm costs is a re-posted checkpoint, a re-proposed role or new hot keys.
 *
 * The event history is an `EventHistory` (tools/chainEvents.ts) the caller
 * may keep across rounds: tools/watch.ts keeps one for the life of the
 * process, so a round re-reads only the tail of the logs (the last few burn
 * blocks' events) and a full read comes only on the first round, about once
 * an hour, or after a reorg below the window. Without one, each round reads
 * the whole history, as `--once` does. What the read cost is in the summary
 * (`events`); tools/watch.ts prints it each round as one line,
 * `describeRefresh`: `[watch] events: 1,234 held, 12 read this round in 3
 * requests (tail re-read from block N)`.
 */
import { Cl } from "@stacks/transactions";

import type { HiroClient } from "../convex/chain/hiroClient";
import { VAULT_FUNCTIONS, type VaultRole } from "../convex/chain/vault";
import { EventHistory, type FullReadReason, type RefreshReport } from "./chainEvents";
import { checkCheckpoint, type CheckpointVerdict } from "./checkpointCheck";
import { readGuardedState, type GuardedState } from "./vaultReads";
import {
  argsHex,
  followTransaction,
  sendVaultCall,
  type FollowOptions,
  type KeySigner,
  type VaultCall,
} from "./vaultTransactions";

export type ExpectedRole = { role: VaultRole; who: string };

export type WatchOptions = {
  vault: string;
  /** Every principal allowed to be proposed for a role; a proposal of anyone else is cancelled. */
  expectRoles: readonly ExpectedRole[];
  /** Outflow used, in bps of the window's cap, from which the hot keys are revoked. */
  burstBps: bigint;
  /** Burn blocks before the veto window closes from which an uncheckable checkpoint is vetoed. */
  vetoMargin: bigint;
  maxFee: bigint;
  follow: FollowOptions;
};

export type WatchClient = Pick<
  HiroClient,
  | "getContractLogs"
  | "getPlacedTransactions"
  | "callReadOnlyHex"
  | "getNodeTip"
  | "getNextNonce"
  | "broadcast"
  | "estimateFees"
  | "getTransferFeeRate"
  | "getTransaction"
>;

export type Severity = "info" | "warning" | "alert";

export type ActionReport = {
  functionName: string;
  args: string[];
  outcome: "reported-only" | "refused" | "confirmed" | "failed" | "unconfirmed";
  txid?: string;
  detail?: string;
};

export type Finding = {
  kind: "checkpoint" | "role" | "outflow" | "events" | "vault";
  severity: Severity;
  message: string;
  action?: ActionReport;
};

export type WatchSummary = {
  vault: string;
  burnHeight: bigint;
  /** The address the guardian key signs for; null without a key. */
  guardianKey: string | null;
  checkpoint: CheckpointVerdict | null;
  /** What reading the event history cost this round; null when the round did not read it (the vault shut down). */
  events: RefreshReport | null;
  findings: Finding[];
};

type Planned = { finding: Finding; call: VaultCall };

function checkpointFindings(state: GuardedState, verdict: CheckpointVerdict | null, burnHeight: bigint): (Planned | Finding)[] {
  if (state.checkpoint === null || verdict === null) return [{ kind: "checkpoint", severity: "info", message: "no checkpoint posted yet" }];
  const epoch = verdict.epoch;
  if (verdict.status === "ok") return [{ kind: "checkpoint", severity: "info", message: `checkpoint epoch ${epoch} checks out (leaves, records, flows, root and sums)` }];
  if (verdict.status === "pending") {
    return [{ kind: "checkpoint", severity: "info", message: `checkpoint epoch ${epoch} pending: ${verdict.waitingFor.join("; ")} (veto window closes at burn block ${verdict.vetoClosesAt}, now ${burnHeight})` }];
  }
  const why = verdict.problems.join("; ");
  if (!verdict.vetoable) {
    return [{ kind: "checkpoint", severity: "alert", message: `checkpoint epoch ${epoch} is wrong and its veto window closed at burn block ${verdict.vetoClosesAt}: ${why}` }];
  }
  return [
    {
      finding: { kind: "checkpoint", severity: "alert", message: `checkpoint epoch ${epoch} is wrong: ${why}` },
      call: { functionName: VAULT_FUNCTIONS.vetoCheckpoint, args: [], postConditions: [] },
    },
  ];
}

function roleFindings(state: GuardedState, expected: readonly ExpectedRole[]): (Planned | Finding)[] {
  return state.pendingRoles.map((pending) => {
    const allowed = expected.some((e) => e.role === pending.role && e.who === pending.who);
    const what = `${pending.role} proposed for ${pending.who} (acceptable from burn block ${pending.eta})`;
    if (allowed) return { kind: "role", severity: "info", message: `${what}: expected` } satisfies Finding;
    return {
      finding: { kind: "role", severity: "alert", message: `${what}: not an expected holder` },
      call: { functionName: VAULT_FUNCTIONS.cancelRole, args: [Cl.stringAscii(pending.role)], postConditions: [] },
    } satisfies Planned;
  });
}

function outflowFindings(state: GuardedState, burstBps: bigint): (Planned | Finding)[] {
  const bursts = state.outflow.filter(({ window }) => window.used > 0n && window.used * 10_000n >= burstBps * window.cap);
  if (bursts.length === 0) return [];
  const what = bursts.map(({ token, window }) => `${token} ${window.used} of a cap of ${window.cap} used since burn block ${window.windowStart}`).join("; ");
  if (state.roles.operator === null && state.roles.signer === null) {
    return [{ kind: "outflow", severity: "warning", message: `outflow burst (${what}); the hot keys are already revoked` }];
  }
  return [
    {
      finding: { kind: "outflow", severity: "alert", message: `outflow burst: ${what} (threshold ${burstBps} bps of the cap)` },
      call: { functionName: VAULT_FUNCTIONS.revokeHotKeys, args: [], postConditions: [] },
    },
  ];
}

function isPlanned(item: Planned | Finding): item is Planned {
  return "call" in item;
}

/** Why the key cannot act, or null when it holds the guardian (or admin) role. */
function cannotAct(signer: KeySigner | null, state: GuardedState): string | null {
  if (signer === null) return "no guardian key given: reported only";
  if (signer.address !== state.roles.guardian && signer.address !== state.roles.admin) {
    return `the key signs for ${signer.address}, neither the guardian (${state.roles.guardian}) nor the admin: reported only`;
  }
  return null;
}

/** Sends the planned calls with consecutive nonces, then follows each to its block. */
async function act(client: WatchClient, signer: KeySigner, options: WatchOptions, planned: Planned[], log: (line: string) => void): Promise<void> {
  let nonce = await client.getNextNonce(signer.address);
  const sent: { item: Planned; txid: string }[] = [];
  for (const item of planned) {
    const report = item.finding.action as ActionReport;
    const result = await sendVaultCall(client, signer, options.vault, item.call, { nonce, maxFee: options.maxFee });
    if (!result.accepted) {
      Object.assign(report, { outcome: "refused", detail: `${result.reason}: ${result.message}` });
      continue;
    }
    nonce++;
    report.txid = result.txid;
    log(`[watch] sent ${item.call.functionName} ${result.txid}`);
    sent.push({ item, txid: result.txid });
  }
  for (const { item, txid } of sent) {
    const report = item.finding.action as ActionReport;
    const followed = await followTransaction(client, txid, options.follow);
    if (followed.state === "success") report.outcome = "confirmed";
    else if (followed.state === "failed") Object.assign(report, { outcome: "failed", detail: `${followed.status} ${followed.repr}` });
    else Object.assign(report, { outcome: "unconfirmed", detail: followed.state === "dropped" ? followed.status : "not mined yet" });
  }
}

export function formatFinding(finding: Finding): string {
  const line = `[watch] ${finding.severity.toUpperCase()} ${finding.kind}: ${finding.message}`;
  const action = finding.action;
  if (!action) return line;
  const outcome = action.txid ? `${action.outcome} (tx ${action.txid})` : action.outcome;
  return `${line}\n[watch]   → ${action.functionName}: ${outcome}${action.detail ? ` — ${action.detail}` : ""}`;
}

const FULL_READ_WHY: Record<FullReadReason, string> = {
  first: "first read",
  scheduled: "the periodic check",
  window: "nothing held below the reorg window and the first unplaced print",
  "anchor-moved": "the last event kept left its block: a reorg below the window",
  "sbtc-changed": "the vault's sBTC contract changed",
};

/** The round's one line about its event history: how many events held, how many rows read, at what cost, from where. */
export function describeRefresh(report: RefreshReport): string {
  const n = (count: number) => count.toLocaleString("en-US");
  const how =
    report.mode === "full"
      ? `full read: ${FULL_READ_WHY[report.reason as FullReadReason]}`
      : `tail re-read from block ${report.from?.blockHeight}${report.moved > 0 ? `; ${n(report.moved)} held events moved or gone: a reorg inside the window` : ""}`;
  return `[watch] events: ${n(report.held)} held, ${n(report.read)} read this round in ${n(report.requests)} requests (${how})`;
}

/**
 * One look at the vault, and the guardian's answer. `history` carries the
 * vault's events from one round to the next; without it the round reads them all.
 */
export async function watchRound(
  client: WatchClient,
  signer: KeySigner | null,
  options: WatchOptions,
  log: (line: string) => void,
  history: EventHistory = new EventHistory(options.vault),
): Promise<WatchSummary> {
  if (history.vaultContractId !== options.vault) throw new Error(`the event history is ${history.vaultContractId}'s, not ${options.vault}'s`);
  const state = await readGuardedState(client, options.vault);
  const burnHeight = (await client.getNodeTip()).burnHeight;
  const summary: WatchSummary = { vault: options.vault, burnHeight, guardianKey: signer?.address ?? null, checkpoint: null, events: null, findings: [] };
  if (state.shutDown) {
    summary.findings.push({ kind: "vault", severity: "info", message: "the vault is shut down: providers leave through claim-exit, nothing is left to guard" });
    return summary;
  }
  if (state.paused) summary.findings.push({ kind: "vault", severity: "warning", message: "the vault is paused" });

  const { log: events, report } = await history.refresh(client, state.sbtcContractId);
  summary.events = report;
  for (const bad of events.malformed) {
    summary.findings.push({ kind: "events", severity: "warning", message: `undecodable print ${bad.txid}:${bad.eventIndex} (${bad.reason})` });
  }
  summary.checkpoint = state.checkpoint
    ? checkCheckpoint({ checkpoint: state.checkpoint, events: events.events, burnHeight, vetoMargin: options.vetoMargin })
    : null;

  // The most urgent first: a thief's outflow, then the checkpoint, then role proposals.
  const items = [
    ...outflowFindings(state, options.burstBps),
    ...checkpointFindings(state, summary.checkpoint, burnHeight),
    ...roleFindings(state, options.expectRoles),
  ];
  const planned = items.filter(isPlanned);
  const blocked = cannotAct(signer, state);
  for (const item of items) summary.findings.push(isPlanned(item) ? item.finding : item);
  for (const item of planned) {
    item.finding.action = { functionName: item.call.functionName, args: argsHex(item.call.args), outcome: "reported-only" };
    if (blocked !== null) item.finding.action.detail = blocked;
  }
  if (planned.length > 0 && blocked === null && signer !== null) await act(client, signer, options, planned, log);
  return summary;
}
