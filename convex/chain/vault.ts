/**
 * The vault contract (`contracts/liquidity-pool.clar`) as the backend sees it,
 * typed, in one place (README "The vault"): the names of its functions, its
 * error codes, roles and events; the Clarity arguments of every call the
 * backend prepares or sends; readers that parse each read-only's answer with
 * zod; and the decoder of its printed events. Product code, tests, the local
 * server and the benchmarks name the vault's functions through this module
 * only, so a renamed function is one edit and a typo does not compile.
 */
import { Cl, Pc, type ClarityValue, type PostCondition } from "@stacks/transactions";
import type { z } from "zod";

import { poolError } from "../domain/errors";
import { exitLeafCV, exitProofCV, publishedLeafCV, type ExitLeaf, type ProofStep } from "../domain/merkleSum";
import type { Token } from "../domain/vocabulary";
import { clarity, clarityFromHex } from "./clarityValues";
import type { HiroClient } from "./hiroClient";
import type { PrintedVaultEvent } from "./vaultEventDecoding";

export { decodeVaultPrint, type Decoded, type Position, type PrintedVaultEvent } from "./vaultEventDecoding";

type ValueOf<T> = T[keyof T];

// ---------------------------------------------------------------------------
// Names

/** README "Public functions". */
export const VAULT_PUBLIC_FUNCTIONS = {
  setSbtcTokenPrincipal: "set-sbtc-token-principal",
  proposeRole: "propose-role",
  acceptRole: "accept-role",
  cancelRole: "cancel-role",
  revokeHotKeys: "revoke-hot-keys",
  pause: "pause",
  unpause: "unpause",
  setOutflowLimit: "set-outflow-limit",
  depositFunds: "deposit-funds",
  payPremium: "pay-premium",
  lockCollateralAggregate: "lock-collateral-aggregate",
  releaseCollateralAggregate: "release-collateral-aggregate",
  settlePolicy: "settle-policy",
  withdrawFunds: "withdraw-funds",
  postCheckpoint: "post-checkpoint",
  vetoCheckpoint: "veto-checkpoint",
  publishLeaves: "publish-leaves",
  shutdown: "shutdown",
  claimExit: "claim-exit",
} as const;

/** README "Read-only functions". */
export const VAULT_READ_ONLY_FUNCTIONS = {
  getTotalStxBalance: "get-total-stx-balance",
  getTotalSbtcBalance: "get-total-sbtc-balance",
  getTotalStxLocked: "get-total-stx-locked",
  getTotalSbtcLocked: "get-total-sbtc-locked",
  getSbtcTokenPrincipal: "get-sbtc-token-principal",
  isPaused: "is-paused",
  isShutDown: "is-shut-down",
  getRoles: "get-roles",
  getPendingRole: "get-pending-role",
  getOutflow: "get-outflow",
  getProviderRecord: "get-provider-record",
  getFlows: "get-flows",
  getCheckpoint: "get-checkpoint",
  verifyExitProof: "verify-exit-proof",
  getExitTerms: "get-exit-terms",
  getExitClaim: "get-exit-claim",
  getWithdrawalVoucherHash: "get-withdrawal-voucher-hash",
} as const;

/** Every function of the vault: `simnet.callPublicFn(vault, VAULT_FUNCTIONS.depositFunds, …)`. */
export const VAULT_FUNCTIONS = { ...VAULT_PUBLIC_FUNCTIONS, ...VAULT_READ_ONLY_FUNCTIONS } as const;

export type VaultPublicFunction = ValueOf<typeof VAULT_PUBLIC_FUNCTIONS>;
export type VaultReadOnlyFunction = ValueOf<typeof VAULT_READ_ONLY_FUNCTIONS>;
export type VaultFunctionName = VaultPublicFunction | VaultReadOnlyFunction;

/** The calls the backend prepares for a wallet to sign (README "Liquidity API"). */
export const USER_VAULT_FUNCTIONS = [
  VAULT_FUNCTIONS.depositFunds,
  VAULT_FUNCTIONS.payPremium,
  VAULT_FUNCTIONS.withdrawFunds,
] as const;
export type UserVaultFunction = (typeof USER_VAULT_FUNCTIONS)[number];

/** The calls the backend signs itself, as the operator (README "Chain integration", "Checkpoints"). */
export const BACKEND_VAULT_FUNCTIONS = [
  VAULT_FUNCTIONS.lockCollateralAggregate,
  VAULT_FUNCTIONS.releaseCollateralAggregate,
  VAULT_FUNCTIONS.settlePolicy,
  VAULT_FUNCTIONS.postCheckpoint,
  VAULT_FUNCTIONS.publishLeaves,
] as const;
export type BackendVaultFunction = (typeof BACKEND_VAULT_FUNCTIONS)[number];

/** The `(err uN)` codes, by the contract's `ERR-…` names (README "Errors"). */
export const VAULT_ERRORS = {
  NOT_AUTHORIZED: 200n,
  INSUFFICIENT_BALANCE: 201n,
  INVALID_TOKEN_CONTRACT: 202n,
  TRANSFER_FAILED: 203n,
  ALREADY_INITIALIZED: 204n,
  LOCK_AMOUNT_EXCEEDS_AVAILABLE: 205n,
  UNLOCK_AMOUNT_EXCEEDS_LOCKED: 206n,
  PAUSED: 207n,
  INVALID_AMOUNT: 208n,
  VOUCHER_EXPIRED: 209n,
  VOUCHER_USED: 210n,
  INVALID_SIGNATURE: 211n,
  NOT_INITIALIZED: 212n,
  OUTFLOW_LIMIT: 213n,
  TIMELOCK: 214n,
  SHUT_DOWN: 215n,
  NOT_SHUT_DOWN: 216n,
  INVALID_PROOF: 217n,
  ALREADY_CLAIMED: 218n,
  INVALID_CHECKPOINT: 219n,
  INVALID_ROLE: 220n,
} as const;
export type VaultErrorName = keyof typeof VAULT_ERRORS;

/** README "Roles": the names `propose-role`, `accept-role` and `cancel-role` take. */
export const VAULT_ROLES = ["admin", "guardian", "operator", "signer"] as const;
export type VaultRole = (typeof VAULT_ROLES)[number];

/** The `event` of every tuple the vault prints (README "Events"). */
export const VAULT_EVENTS = {
  fundsDeposited: "funds-deposited",
  fundsWithdrawn: "funds-withdrawn",
  premiumPaid: "premium-paid",
  collateralLocked: "collateral-locked",
  collateralReleased: "collateral-released",
  settlementPaid: "settlement-paid",
  sbtcTokenPrincipalSet: "sbtc-token-principal-set",
  roleProposed: "role-proposed",
  roleSet: "role-set",
  roleCancelled: "role-cancelled",
  pausedSet: "paused-set",
  hotKeysRevoked: "hot-keys-revoked",
  outflowLimitSet: "outflow-limit-set",
  checkpointPosted: "checkpoint-posted",
  checkpointVetoed: "checkpoint-vetoed",
  checkpointLeaves: "checkpoint-leaves",
  shutdown: "shutdown",
  exitClaimed: "exit-claimed",
} as const satisfies Record<string, PrintedVaultEvent["event"]>;
export type VaultEventName = ValueOf<typeof VAULT_EVENTS>;

// Compile-time: the decoder knows no event that is not named above.
const _everyDecodedEventIsNamed: [PrintedVaultEvent["event"]] extends [VaultEventName] ? true : never = true;

/** The fungible token inside the sBTC contract, the contract's SBTC-ASSET-NAME (the real sBTC and the local stand-in agree). */
export const SBTC_ASSET_NAME = "sbtc-token";

// ---------------------------------------------------------------------------
// Arguments

/**
 * The principal a token argument names: `null` for STX, else the sBTC
 * contract. Money calls take it as `(optional <sip-010-trait>)`, read-onlies
 * as `(optional principal)`; both encode it the same way.
 */
export type TokenContract = string | null;

export function tokenContractOf(token: Token, sbtcContractId: string): TokenContract {
  return token === "STX" ? null : sbtcContractId;
}

function optionalPrincipal(principal: TokenContract): ClarityValue {
  return principal === null ? Cl.none() : Cl.some(Cl.principal(principal));
}

type Collateral = { policyIds: readonly bigint[]; amount: bigint; tokenContract: TokenContract };

function collateralArgs({ policyIds, amount, tokenContract }: Collateral): ClarityValue[] {
  return [Cl.list(policyIds.map((id) => Cl.uint(id))), Cl.uint(amount), optionalPrincipal(tokenContract)];
}

/**
 * The arguments of each call the backend makes or prepares, in the
 * contract's order: `VAULT_ARGS.depositFunds({ amount, tokenContract })`
 * goes with `VAULT_FUNCTIONS.depositFunds`.
 */
export const VAULT_ARGS = {
  depositFunds: ({ amount, tokenContract }: { amount: bigint; tokenContract: TokenContract }): ClarityValue[] => [
    Cl.uint(amount),
    optionalPrincipal(tokenContract),
  ],
  payPremium: (a: { policyId: bigint; amount: bigint; tokenContract: TokenContract }): ClarityValue[] => [
    Cl.uint(a.policyId),
    Cl.uint(a.amount),
    optionalPrincipal(a.tokenContract),
  ],
  lockCollateralAggregate: collateralArgs,
  releaseCollateralAggregate: collateralArgs,
  settlePolicy: (a: { policyId: bigint; buyer: string; amount: bigint; tokenContract: TokenContract }): ClarityValue[] => [
    Cl.uint(a.policyId),
    Cl.principal(a.buyer),
    Cl.uint(a.amount),
    optionalPrincipal(a.tokenContract),
  ],
  /** `signature`: the voucher's 65-byte RSV signature, hex (chain/withdrawalVoucher.ts). */
  withdrawFunds: (a: {
    amount: bigint;
    tokenContract: TokenContract;
    nonce: bigint;
    expiresAt: bigint;
    signature: string;
  }): ClarityValue[] => [
    Cl.uint(a.amount),
    optionalPrincipal(a.tokenContract),
    Cl.uint(a.nonce),
    Cl.uint(a.expiresAt),
    Cl.bufferFromHex(a.signature),
  ],
  /** `root`: the Merkle-sum root, 0x-hex (domain/merkleSum.ts). */
  postCheckpoint: (a: {
    root: string;
    stxSum: bigint;
    sbtcSum: bigint;
    asOfSeq: bigint;
    flows: { stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };
    leafCount: bigint;
  }): ClarityValue[] => [
    Cl.bufferFromHex(a.root.replace(/^0x/, "")),
    Cl.uint(a.stxSum),
    Cl.uint(a.sbtcSum),
    Cl.uint(a.asOfSeq),
    Cl.tuple({
      "stx-in": Cl.uint(a.flows.stxIn),
      "stx-out": Cl.uint(a.flows.stxOut),
      "sbtc-in": Cl.uint(a.flows.sbtcIn),
      "sbtc-out": Cl.uint(a.flows.sbtcOut),
    }),
    Cl.uint(a.leafCount),
  ],
  publishLeaves: (a: { epoch: bigint; offset: bigint; leaves: readonly ExitLeaf[] }): ClarityValue[] => [
    Cl.uint(a.epoch),
    Cl.uint(a.offset),
    Cl.list(a.leaves.map((leaf) => publishedLeafCV(leaf))),
  ],
  verifyExitProof: (a: { provider: string; leaf: ExitLeaf; proof: readonly ProofStep[] }): ClarityValue[] => [
    Cl.principal(a.provider),
    exitLeafCV(a.leaf),
    exitProofCV(a.proof),
  ],
  getOutflow: ({ tokenContract }: { tokenContract: TokenContract }): ClarityValue[] => [optionalPrincipal(tokenContract)],
  getProviderRecord: ({ provider }: { provider: string }): ClarityValue[] => [Cl.principal(provider)],
  getPendingRole: ({ role }: { role: VaultRole }): ClarityValue[] => [Cl.stringAscii(role)],
  getExitClaim: ({ provider, tokenContract }: { provider: string; tokenContract: TokenContract }): ClarityValue[] => [
    Cl.principal(provider),
    optionalPrincipal(tokenContract),
  ],
} satisfies Partial<Record<keyof typeof VAULT_FUNCTIONS, (args: never) => ClarityValue[]>>;

/**
 * Deny-mode post-condition: exactly `amount` of the token leaves `sender`,
 * and no other asset can (README "Liquidity API").
 */
export function sendsExactly(sender: string, tokenContract: TokenContract, amount: bigint): PostCondition {
  const sends = Pc.principal(sender).willSendEq(amount);
  return tokenContract === null ? sends.ustx() : sends.ft(tokenContract as `${string}.${string}`, SBTC_ASSET_NAME);
}

// ---------------------------------------------------------------------------
// Read-only answers

const { uint, bool, principal, optional, tuple, buffer } = clarity;
const flowTotals = { "stx-in": uint, "stx-out": uint, "sbtc-in": uint, "sbtc-out": uint };
const F = VAULT_READ_ONLY_FUNCTIONS;

/** What each read-only returns (README "Read-only functions"), parsed into camelCase objects. */
const READ_ONLY_RESULTS = {
  [F.getTotalStxBalance]: uint,
  [F.getTotalSbtcBalance]: uint,
  [F.getTotalStxLocked]: uint,
  [F.getTotalSbtcLocked]: uint,
  [F.getSbtcTokenPrincipal]: optional(principal),
  [F.isPaused]: bool,
  [F.isShutDown]: bool,
  [F.getRoles]: tuple({ admin: principal, guardian: principal, operator: optional(principal), signer: optional(principal) }),
  [F.getPendingRole]: optional(tuple({ who: principal, eta: uint })),
  [F.getOutflow]: tuple({ "window-start": uint, used: uint, cap: uint, available: uint }),
  [F.getProviderRecord]: optional(tuple({ nonce: uint, ...flowTotals, "created-seq": uint })),
  [F.getFlows]: tuple({ seq: uint, ...flowTotals }),
  [F.getCheckpoint]: optional(
    tuple({
      epoch: uint,
      root: buffer(32),
      "stx-sum": uint,
      "sbtc-sum": uint,
      "as-of-seq": uint,
      flows: tuple(flowTotals),
      "leaf-count": uint,
      "posted-at": uint,
    }),
  ),
  [F.verifyExitProof]: bool,
  [F.getExitTerms]: optional(
    tuple({ "stx-assets": uint, "stx-liabilities": uint, "sbtc-assets": uint, "sbtc-liabilities": uint }),
  ),
  [F.getExitClaim]: optional(uint),
  [F.getWithdrawalVoucherHash]: buffer(32),
} satisfies Record<VaultReadOnlyFunction, z.ZodType>;

export type VaultReadOnlyResult<Fn extends VaultReadOnlyFunction> = z.output<(typeof READ_ONLY_RESULTS)[Fn]>;

function unexpectedAnswer(functionName: VaultReadOnlyFunction, detail: string): Error {
  return poolError("CHAIN_UNAVAILABLE", `the vault's ${functionName} answered ${detail}`);
}

function show(value: ClarityValue): string {
  try {
    return Cl.prettyPrint(value);
  } catch {
    return "a value that is not Clarity";
  }
}

/**
 * A read-only's answer, typed: given as a Clarity value (simnet, or the
 * client's `callReadOnly`) or as the hex `result` of a Hiro `call-read`
 * response. An answer of any other shape is refused with an error that names
 * the function, what it answered and what was wrong.
 */
export function parseVaultReadOnly<Fn extends VaultReadOnlyFunction>(
  functionName: Fn,
  answer: ClarityValue | string,
): VaultReadOnlyResult<Fn> {
  let value: ClarityValue;
  try {
    value = typeof answer === "string" ? clarityFromHex(answer) : answer;
  } catch (error) {
    throw unexpectedAnswer(functionName, `${answer as string}: ${(error as Error).message}`);
  }
  const parsed = READ_ONLY_RESULTS[functionName].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    throw unexpectedAnswer(functionName, `${show(value)}, not the expected shape${where}: ${issue?.message ?? ""}`);
  }
  return parsed.data as VaultReadOnlyResult<Fn>;
}

/** Calls a read-only through the Stacks API and parses its answer exactly. */
export async function readVault<Fn extends VaultReadOnlyFunction>(
  client: Pick<HiroClient, "callReadOnlyHex">,
  vaultContractId: string,
  functionName: Fn,
  args: ClarityValue[] = [],
): Promise<VaultReadOnlyResult<Fn>> {
  return parseVaultReadOnly(functionName, await client.callReadOnlyHex(vaultContractId, functionName, args));
}

/** The read-onlies of each token's totals. */
export const VAULT_TOTALS = {
  STX: { balance: F.getTotalStxBalance, locked: F.getTotalStxLocked },
  sBTC: { balance: F.getTotalSbtcBalance, locked: F.getTotalSbtcLocked },
} as const satisfies Record<Token, { balance: VaultReadOnlyFunction; locked: VaultReadOnlyFunction }>;

export type VaultTotals = { balance: bigint; locked: bigint };

/** A token's balance and locked totals, as the vault holds them now (two read-onlies, balance first). */
export async function readVaultTotals(
  client: Pick<HiroClient, "callReadOnlyHex">,
  vaultContractId: string,
  token: Token,
): Promise<VaultTotals> {
  const names = VAULT_TOTALS[token];
  const balance = await readVault(client, vaultContractId, names.balance);
  const locked = await readVault(client, vaultContractId, names.locked);
  return { balance, locked };
}
