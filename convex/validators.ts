/**
 * Validators shared by the schema and the function signatures. Amounts are
 * always `v.int64()` base units (micro-STX, satoshis); prices are USD with 8
 * decimals as `v.int64()`; ratios are basis points.
 */
import { literals } from "convex-helpers/validators";
import { v, type Infer } from "convex/values";

import {
  BALANCE_CHANGE_TYPES,
  HEALTH_STATUSES,
  NETWORK_NAMES,
  ORACLE_ASSETS,
  POLICY_STATUSES,
  POLICY_TYPES,
  RESERVATION_STATUSES,
  TIERS,
  TOKENS,
} from "./domain/vocabulary";
import { TRANSACTION_STATUSES } from "./domain/transactionStates";
import { CHECKPOINT_RUN_STATUSES } from "./domain/checkpoints";

export { TIERS, TOKENS };
export type { BalanceChangeType, HealthStatus, Tier, Token } from "./domain/vocabulary";

export const tokenValidator = literals(...TOKENS);
export const tierValidator = literals(...TIERS);
export const healthStatusValidator = literals(...HEALTH_STATUSES);
export const balanceChangeTypeValidator = literals(...BALANCE_CHANGE_TYPES);
export const policyTypeValidator = literals(...POLICY_TYPES);
export const policyStatusValidator = literals(...POLICY_STATUSES);
export const reservationStatusValidator = literals(...RESERVATION_STATUSES);
export const networkNameValidator = literals(...NETWORK_NAMES);

/** From the transition table's own list (docs/transaction-states.md). */
export const chainTransactionStatusValidator = literals(...TRANSACTION_STATUSES);

export const oracleAssetValidator = literals(...ORACLE_ASSETS);

/**
 * A decoded vault money event, exactly the tuple the vault printed (README
 * "Events"), with its position on chain. `token` is the token the event
 * names, already mapped from `none` / the sBTC principal. `seq` is the vault's
 * flow counter after a deposit or voucher withdrawal.
 */
const onChainPosition = {
  txid: v.string(),
  eventIndex: v.number(),
  blockHeight: v.int64(),
  blockHash: v.string(),
};
const totalsAfter = { token: tokenValidator, amount: v.int64(), totalBalance: v.int64(), totalLocked: v.int64() };

export const vaultEventValidator = v.union(
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("funds-deposited"),
    depositor: v.string(),
    seq: v.int64(),
  }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("funds-withdrawn"),
    provider: v.string(),
    nonce: v.int64(),
    seq: v.int64(),
  }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("premium-paid"),
    policyId: v.int64(),
    payer: v.string(),
  }),
  v.object({ ...onChainPosition, ...totalsAfter, kind: v.literal("collateral-locked"), policyIds: v.array(v.int64()) }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("collateral-released"),
    policyIds: v.array(v.int64()),
  }),
  v.object({
    ...onChainPosition,
    ...totalsAfter,
    kind: v.literal("settlement-paid"),
    policyId: v.int64(),
    buyer: v.string(),
  }),
);
export type VaultEvent = Infer<typeof vaultEventValidator>;

const flowsValidator = v.object({ stxIn: v.int64(), stxOut: v.int64(), sbtcIn: v.int64(), sbtcOut: v.int64() });

/** One leaf of a checkpoint's Merkle-sum tree, as `publish-leaves` prints it. */
export const checkpointLeafValidator = v.object({
  provider: v.string(),
  stx: v.int64(),
  sbtc: v.int64(),
  stxIn: v.int64(),
  stxOut: v.int64(),
  sbtcIn: v.int64(),
  sbtcOut: v.int64(),
});

/**
 * The vault's governance events: roles, pause, the outflow limit, checkpoints,
 * shutdown and exit claims. They move no provider's money in the books, so the
 * sync records them as they were printed and applies nothing; `role` is the
 * vault's role name ("admin", "guardian", "operator" or "signer").
 */
export const governanceEventValidator = v.union(
  v.object({ ...onChainPosition, kind: v.literal("sbtc-token-principal-set"), tokenContract: v.string() }),
  v.object({ ...onChainPosition, kind: v.literal("role-proposed"), role: v.string(), who: v.string(), eta: v.int64() }),
  v.object({
    ...onChainPosition,
    kind: v.literal("role-set"),
    role: v.string(),
    previous: v.union(v.string(), v.null()),
    who: v.string(),
  }),
  v.object({ ...onChainPosition, kind: v.literal("role-cancelled"), role: v.string() }),
  v.object({ ...onChainPosition, kind: v.literal("paused-set"), paused: v.boolean() }),
  v.object({ ...onChainPosition, kind: v.literal("hot-keys-revoked") }),
  v.object({
    ...onChainPosition,
    kind: v.literal("outflow-limit-set"),
    limitBps: v.int64(),
    stxFloor: v.int64(),
    sbtcFloor: v.int64(),
  }),
  v.object({
    ...onChainPosition,
    kind: v.literal("checkpoint-posted"),
    epoch: v.int64(),
    root: v.string(),
    stxSum: v.int64(),
    sbtcSum: v.int64(),
    asOfSeq: v.int64(),
    flows: flowsValidator,
    leafCount: v.int64(),
  }),
  v.object({ ...onChainPosition, kind: v.literal("checkpoint-vetoed"), epoch: v.int64() }),
  v.object({
    ...onChainPosition,
    kind: v.literal("checkpoint-leaves"),
    epoch: v.int64(),
    offset: v.int64(),
    leaves: v.array(checkpointLeafValidator),
  }),
  v.object({
    ...onChainPosition,
    kind: v.literal("shutdown"),
    by: v.string(),
    stxAssets: v.int64(),
    stxLiabilities: v.int64(),
    sbtcAssets: v.int64(),
    sbtcLiabilities: v.int64(),
  }),
  v.object({
    ...onChainPosition,
    kind: v.literal("exit-claimed"),
    provider: v.string(),
    token: tokenValidator,
    owed: v.int64(),
    paid: v.int64(),
  }),
);
export type GovernanceEvent = Infer<typeof governanceEventValidator>;

/** Every event the sync stores: money events (applied to the books) and governance events (recorded). */
export const syncedEventValidator = v.union(...vaultEventValidator.members, ...governanceEventValidator.members);
export type SyncedEvent = Infer<typeof syncedEventValidator>;

const MONEY_EVENT_KINDS: ReadonlySet<string> = new Set<VaultEvent["kind"]>([
  "funds-deposited",
  "funds-withdrawn",
  "premium-paid",
  "collateral-locked",
  "collateral-released",
  "settlement-paid",
]);

export function isMoneyEvent(event: SyncedEvent): event is VaultEvent {
  return MONEY_EVENT_KINDS.has(event.kind);
}

// ---------------------------------------------------------------------------
// Checkpoints (README "Checkpoints")

export const checkpointRunStatusValidator = literals(...CHECKPOINT_RUN_STATUSES);

/** One sibling of a Merkle-sum proof, as `verify-exit-proof` takes it: the hash as 0x-hex. */
export const proofStepValidator = v.object({ hash: v.string(), stx: v.int64(), sbtc: v.int64(), isLeft: v.boolean() });

/** The arguments of the two checkpoint calls the backend sends (chainTransactions.checkpointCall). */
export const checkpointCallValidator = v.union(
  v.object({
    kind: v.literal("post"),
    runId: v.id("checkpointRuns"),
    root: v.string(),
    stxSum: v.int64(),
    sbtcSum: v.int64(),
    asOfSeq: v.int64(),
    flows: flowsValidator,
    leafCount: v.int64(),
  }),
  v.object({
    kind: v.literal("leaves"),
    runId: v.id("checkpointRuns"),
    epoch: v.int64(),
    offset: v.int64(),
    leaves: v.array(checkpointLeafValidator),
  }),
);
export type CheckpointCall = Infer<typeof checkpointCallValidator>;
