/** What an incident scenario records, for the report and the tests. */
import type { Token } from "../../convex/validators";
import type { OutflowLimit } from "../options";
import type { TokenAmounts } from "../results";

/** One check of an incident, with what it compared. */
export type Verdict = { name: string; ok: boolean; detail: string };

/** A call someone made without the backend, and how it ended on chain. */
export type ChainCall = {
  /** What it was for, in words ("deposit, backend gone", "settle to itself", …). */
  what: string;
  who: string;
  functionName: string;
  token: Token | null;
  amount: bigint | null;
  txid: string;
  /** Block it was mined in (null: not mined). */
  height: number | null;
  ok: boolean;
  /** `(ok …)`, `(err uN)`, or why it did not run. */
  result: string;
};

// ---------------------------------------------------------------------------
// backend-outage

/** One provider's exit: the leaf it claims by, its flows since, what it is owed, and what it was paid. */
export type ExitRow = {
  address: string;
  /** Its tier, or "newcomer" (a record created after the checkpoint). */
  label: string;
  /** Seq of its record's first flow. */
  createdSeq: bigint | null;
  /** Its record existed at the checkpoint's as-of-seq: it claims by its leaf. */
  needsLeaf: boolean;
  /** Its leaf's balances, as published on chain; null: it claims without one. */
  leaf: TokenAmounts | null;
  /** Deposits and withdrawals since the checkpoint (all of them without a leaf). */
  flowsSince: Record<Token, { in: bigint; out: bigint }>;
  /** What it is owed, from the leaf and the flows. */
  owed: TokenAmounts;
  /** Its share: owed, or ⌊owed × assets / liabilities⌋ when short. */
  expected: TokenAmounts;
  /** What its wallet received from the claims. */
  paid: TokenAmounts;
  /** The vault's `exit-claimed` event per token (none: no claim sent, nothing owed). */
  claimed: Record<Token, { owed: bigint; paid: bigint } | null>;
  /** The exit tool's exit status. */
  exitCode: number;
};

export type ExitTotals = {
  assets: bigint;
  liabilities: bigint;
  short: boolean;
  /** Σ owed over the claims. */
  owed: bigint;
  /** Σ paid. */
  paid: bigint;
  /** Claims owed something. */
  claims: number;
  /** What the vault contract holds after every claim. */
  vaultAfter: bigint;
};

export type CheckpointRecord = {
  epoch: bigint;
  /** Market step at which the job queued its post. */
  step: number;
  postedAtBurn: bigint;
  asOfSeq: bigint;
  leafCount: bigint;
  sums: TokenAmounts;
  /** The backend's run status when it stopped (verified, mismatch, …). */
  status: string;
};

export type BackendOutageResult = {
  kind: "backend-outage";
  /** The checkpoint job's tick outcomes, step by step (not-due ticks folded). */
  ticks: { step: number; outcome: string; detail?: string }[];
  checkpoints: CheckpointRecord[];
  burnBlocksPassed: { afterStep: number; count: number }[];
  /** The last step the backend ran. */
  stoppedAfterStep: number;
  /** A voucher the backend signed before it stopped, redeemed by the wallet after. */
  heldVoucher: { provider: string; token: Token; amount: bigint; call: ChainCall | null; refusals: string[] } | null;
  /** Calls made after the backend stopped: deposits, the held voucher, the stranger's shutdowns. */
  calls: ChainCall[];
  /** The current checkpoint at shutdown, and SILENCE after it. */
  silence: { epoch: bigint | null; postedAtBurn: bigint; shutdownAllowedAfterBurn: bigint; burnHeightAtShutdown: bigint };
  shutdownBy: string;
  exits: ExitRow[];
  totals: Record<Token, ExitTotals>;
  verdicts: Verdict[];
  ok: boolean;
};

// ---------------------------------------------------------------------------
// stolen-key

export type OutflowView = { windowStart: bigint; used: bigint; cap: bigint; available: bigint };

export type WatchFinding = { severity: string; kind: string; message: string; action: { functionName: string; outcome: string; detail?: string } | null };

export type WatchRecord = { height: number; burnHeight: bigint; findings: WatchFinding[] };

export type StolenKeyResult = {
  kind: "stolen-key";
  /** The market step after which the thief struck. */
  theftAfterStep: number;
  outflowLimit: OutflowLimit;
  thief: { operator: string; signer: string; wallet: string };
  /** Per token: the window before the theft, what was taken, the window and the vault after. */
  tokens: Record<
    Token,
    { before: OutflowView; after: OutflowView; taken: bigint; vaultBefore: bigint; vaultAfter: bigint; vaultHeldAfter: bigint }
  >;
  calls: (ChainCall & { phase: "theft" | "after revocation" | "next window" })[];
  /** Watcher rounds during the market that found anything but "info", and any action they took. */
  marketRounds: { rounds: number; alarms: WatchRecord[] };
  /** Every watcher round from the theft on. */
  rounds: WatchRecord[];
  /** Block in which the hot keys were revoked; null if never. */
  revokedAtHeight: number | null;
  rolesAfter: { operator: string | null; signer: string | null };
  verdicts: Verdict[];
  ok: boolean;
};

export type IncidentResult = BackendOutageResult | StolenKeyResult;
