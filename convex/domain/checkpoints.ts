/**
 * Checkpoints and the exit formula, as pure rules (README "Checkpoints";
 * docs/architecture.md, "Checkpoint → exit"): the life of one checkpoint run,
 * the order of its leaves, and what `claim-exit` owes and pays a provider.
 *
 * The formula is the vault's own (`claim-exit`, `shutdown`), so the backend can
 * tell a provider what an exit pays today and refuse any voucher that would
 * take them below zero on it: with a leaf,
 *
 *   owed = leaf.<t> + (record.<t>-in − leaf.<t>-in) − (record.<t>-out − leaf.<t>-out)
 *
 * and, for a record newer than the checkpoint (or with no checkpoint at all),
 * `record.<t>-in − record.<t>-out`; floored at 0 by the vault. Pure: bigint
 * base units only, nothing of Convex.
 */
import type { Token } from "./vocabulary";

/**
 * A checkpoint run, in order: the snapshot holds vault events while it copies
 * the books (`snapshotting`), the tree is built and `post-checkpoint` queued
 * (`snapshotted` → `posting`), the leaves are published once the vault's epoch
 * is known (`publishing` → `published`), and the published checkpoint is
 * rebuilt from the synced events and compared (`verified` or `mismatch`).
 * `vetoed` and `failed` end a run that will not stand.
 */
export const CHECKPOINT_RUN_STATUSES = [
  "snapshotting",
  "snapshotted",
  "posting",
  "publishing",
  "published",
  "verified",
  "mismatch",
  "vetoed",
  "failed",
] as const;
export type CheckpointRunStatus = (typeof CHECKPOINT_RUN_STATUSES)[number];

/** Runs the vault has accepted a `post-checkpoint` for (their epoch is known). */
export const POSTED_STATUSES: readonly CheckpointRunStatus[] = ["publishing", "published", "verified", "mismatch"];

/** Runs whose leaves are complete and that may stand (or already do). */
export const LEAVES_COMPLETE_STATUSES: readonly CheckpointRunStatus[] = ["snapshotted", "posting", ...POSTED_STATUSES];

/** Runs still being worked on: at most one at a time. */
export const ACTIVE_STATUSES: readonly CheckpointRunStatus[] = ["snapshotting", "snapshotted", "posting", "publishing", "published"];

/** The vault's CHECKPOINT-VETO-WINDOW, in burn blocks: a new checkpoint is refused (u219) inside the current one's. */
export const CHECKPOINT_VETO_WINDOW = 144n;

/** `publish-leaves` takes `(list 100 …)`. */
export const LEAVES_PER_PUBLICATION = 100;

/**
 * Whether a new checkpoint is due at burn height `burnHeight`: always when
 * there is none; else once the current one is `interval` burn blocks old and
 * out of its veto window (the vault refuses a post inside it, so at most one
 * checkpoint is ever vetoable).
 */
export function checkpointDue(postedAt: bigint | null, burnHeight: bigint, interval: bigint): boolean {
  if (postedAt === null) return true;
  const wait = interval > CHECKPOINT_VETO_WINDOW ? interval : CHECKPOINT_VETO_WINDOW;
  return postedAt + wait <= burnHeight;
}

/**
 * The leaf order: ascending provider principal, compared as strings of ASCII
 * characters (what Convex's index on the principal yields, page after page),
 * so the same books always give the same tree.
 */
export function compareLeafOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A provider record's cumulative flows per token (the vault's `provider-records`). */
export type RecordFlows = { stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };
/** A leaf's amounts: the balance per token in the books, and the record's flows at the snapshot. */
export type LeafAmounts = RecordFlows & { stx: bigint; sbtc: bigint };

export function flowsIn(flows: RecordFlows, token: Token): { in: bigint; out: bigint } {
  return token === "STX" ? { in: flows.stxIn, out: flows.stxOut } : { in: flows.sbtcIn, out: flows.sbtcOut };
}

/**
 * What a provider's exit is measured against under a checkpoint:
 * - "leaf": their leaf in it;
 * - "record": their record alone — it is newer than the checkpoint, or there is no checkpoint;
 * - "none": no record (nothing to claim), or a record the checkpoint should hold a leaf for
 *   but does not (the vault then refuses any claim: u217).
 */
export type ExitBasis = "leaf" | "record" | "none";

export function exitBasis(
  record: { createdSeq: bigint } | null,
  hasLeaf: boolean,
  checkpoint: { asOfSeq: bigint } | null,
): ExitBasis {
  if (record === null) return "none";
  if (hasLeaf) return "leaf";
  if (checkpoint === null || record.createdSeq > checkpoint.asOfSeq) return "record";
  return "none";
}

/**
 * The exit formula before the vault's floor at 0: what the provider's exit is
 * worth in `token`. Negative means a voucher already took more than the
 * formula allows (the vault would owe 0).
 */
export function exitBalance(token: Token, basis: ExitBasis, record: RecordFlows | null, leaf: LeafAmounts | null): bigint {
  if (basis === "none" || record === null) return 0n;
  const now = flowsIn(record, token);
  if (basis === "record") return now.in - now.out;
  if (leaf === null) throw new RangeError("an exit measured against a leaf needs the leaf");
  const at = flowsIn(leaf, token);
  const balance = token === "STX" ? leaf.stx : leaf.sbtc;
  return balance + (now.in - at.in) - (now.out - at.out);
}

/** What `claim-exit` owes: the exit formula, floored at 0. */
export function owedOnExit(token: Token, basis: ExitBasis, record: RecordFlows | null, leaf: LeafAmounts | null): bigint {
  const balance = exitBalance(token, basis, record, leaf);
  return balance > 0n ? balance : 0n;
}

/** A token's exit terms, fixed by `shutdown`. */
export type ExitTerms = { assets: bigint; liabilities: bigint };

/**
 * The terms `shutdown` would fix in a token now, as the vault computes them:
 * what it holds, and what it owes — the current checkpoint's sum moved by
 * every flow since (`in` added, `out` taken, floored at 0), or in − out
 * without a checkpoint.
 */
export function shutdownTermsNow(
  token: Token,
  held: bigint,
  flowsNow: RecordFlows,
  checkpoint: { stxSum: bigint; sbtcSum: bigint; flows: RecordFlows } | null,
): ExitTerms {
  const now = flowsIn(flowsNow, token);
  const at = checkpoint ? flowsIn(checkpoint.flows, token) : { in: 0n, out: 0n };
  const sum = checkpoint ? (token === "STX" ? checkpoint.stxSum : checkpoint.sbtcSum) : 0n;
  const plus = sum + (now.in - at.in);
  const out = now.out - at.out;
  return { assets: held, liabilities: plus > out ? plus - out : 0n };
}

/**
 * What `claim-exit` pays on `owed`: all of it while the vault holds at least
 * its liabilities, else the same share for everyone, `owed × assets /
 * liabilities` rounded down (README "Claims"). Without terms (the vault is not
 * shut down) it is what a claim would be owed.
 */
export function exitPayout(owed: bigint, terms: ExitTerms | null): bigint {
  if (owed < 0n) throw new RangeError(`owed must be non-negative, got ${owed}`);
  if (terms === null || terms.assets >= terms.liabilities) return owed;
  // assets < liabilities, so liabilities > 0.
  return (owed * terms.assets) / terms.liabilities;
}

/**
 * The voucher rule (README "Checkpoints"): how much more a provider may be
 * promised in `token` without going below zero on the exit formula, given what
 * their active vouchers already hold. Negative when they are already over.
 */
export function voucherRoom(balanceOnExit: bigint, reserved: bigint): bigint {
  return balanceOnExit - reserved;
}
