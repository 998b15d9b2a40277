/**
 * Backend-signed vault calls: lock, release and settle (and the checkpoint
 * calls, post-checkpoint and publish-leaves), built and signed with
 * @stacks/transactions using the backend key, which holds the vault's
 * operator role (the same key is also its voucher signer, for now), always in
 * deny mode.
 * A lock or release moves no asset, so deny mode with no post-conditions
 * forbids any transfer at all; a settlement allows exactly its payout, from
 * the vault, in its token.
 *
 * Fees: the node's middle estimate for the call when it has one; when it has
 * none (README, "Chain integration", fee fallback) its transfer fee rate
 * times the signed transaction's length. Both are kept within the backend's
 * floor and MAX_FEE_USTX.
 */
import {
  estimateTransactionByteLength,
  makeContractCall,
  privateKeyToAddress,
  serializePayload,
  serializeTransactionBytes,
  type ClarityValue,
  type PostCondition,
} from "@stacks/transactions";
import { z } from "zod";

import type { Doc } from "../_generated/dataModel";
import type { ChainConfig } from "../config";
import type { HiroClient } from "./hiroClient";
import { sendsExactly, tokenContractOf, VAULT_ARGS, VAULT_FUNCTIONS } from "./vault";

type VaultCall = Pick<Doc<"chainTransactions">, "functionName" | "policyIds" | "token" | "amount" | "buyer"> & {
  checkpointCall?: Doc<"chainTransactions">["checkpointCall"];
};

export function vaultCallArguments(config: ChainConfig, call: VaultCall): ClarityValue[] {
  const { policyIds, amount } = call;
  const tokenContract = tokenContractOf(call.token, config.sbtcContractId);
  switch (call.functionName) {
    case VAULT_FUNCTIONS.lockCollateralAggregate:
      return VAULT_ARGS.lockCollateralAggregate({ policyIds, amount, tokenContract });
    case VAULT_FUNCTIONS.releaseCollateralAggregate:
      return VAULT_ARGS.releaseCollateralAggregate({ policyIds, amount, tokenContract });
    case VAULT_FUNCTIONS.settlePolicy: {
      if (!call.buyer || policyIds.length !== 1) throw new Error("a settlement names one policy and its buyer");
      return VAULT_ARGS.settlePolicy({ policyId: policyIds[0]!, buyer: call.buyer, amount, tokenContract });
    }
    case VAULT_FUNCTIONS.postCheckpoint: {
      if (call.checkpointCall?.kind !== "post") throw new Error("a post-checkpoint carries its checkpoint");
      return VAULT_ARGS.postCheckpoint(call.checkpointCall);
    }
    case VAULT_FUNCTIONS.publishLeaves: {
      if (call.checkpointCall?.kind !== "leaves") throw new Error("a publish-leaves carries its leaves");
      return VAULT_ARGS.publishLeaves(call.checkpointCall);
    }
  }
}

/**
 * Deny mode with these post-conditions: a settlement allows exactly its
 * payout; every other backend call (locks, releases, checkpoints, leaves)
 * moves no token, so none at all may move.
 */
export function vaultCallPostConditions(config: ChainConfig, call: VaultCall): PostCondition[] {
  if (call.functionName !== VAULT_FUNCTIONS.settlePolicy) return [];
  return [sendsExactly(config.vaultContractId, tokenContractOf(call.token, config.sbtcContractId), call.amount)];
}

export type SignedVaultTransaction = { bytes: Uint8Array; txid: string; payloadHex: string; byteLength: number };

/** Builds and signs the call with an explicit nonce and fee (no network access). */
export async function signVaultCall(
  config: ChainConfig,
  call: VaultCall,
  options: { nonce: bigint; fee: bigint; privateKey: string },
): Promise<SignedVaultTransaction> {
  const [contractAddress, contractName] = config.vaultContractId.split(".") as [string, string];
  const transaction = await makeContractCall({
    contractAddress,
    contractName,
    functionName: call.functionName,
    functionArgs: vaultCallArguments(config, call),
    senderKey: options.privateKey,
    network: config.network,
    nonce: options.nonce,
    fee: options.fee,
    postConditionMode: "deny",
    postConditions: vaultCallPostConditions(config, call),
  });
  return {
    bytes: serializeTransactionBytes(transaction),
    txid: `0x${transaction.txid()}`,
    payloadHex: serializePayload(transaction.payload),
    byteLength: estimateTransactionByteLength(transaction),
  };
}

export function backendAddress(config: ChainConfig, privateKey: string): string {
  return privateKeyToAddress(privateKey, config.network);
}

/** `wanted`, at least `floor`, never above `cap` (the cap wins should the floor exceed it). */
function withinBounds(wanted: bigint, floor: bigint, cap: bigint): bigint {
  const floored = wanted > floor ? wanted : floor;
  return floored > cap ? cap : floored;
}

/** The fee to pay: the node's middle estimate, at least `floor`, never above the configured cap. */
export function chooseFee(estimates: readonly bigint[], floor: bigint, cap: bigint): bigint {
  const middle = estimates[Math.min(1, estimates.length - 1)] ?? floor;
  return withinBounds(middle, floor, cap);
}

/**
 * stacks-core's MINIMUM_TX_FEE_RATE_PER_BYTE: the least rate a node relays,
 * and what GET /v2/fees/transfer answers on a node without a fee estimator.
 * The fallback uses it when the node has no transfer rate either.
 */
export const MIN_FEE_RATE_PER_BYTE = 1n;

/** GET /v2/fees/transfer: a bare JSON integer, micro-STX per byte. */
export const transferFeeRateSchema = z.number().int().nonnegative();

/**
 * The node's 400 bodies that mean "no estimate to give" rather than a fault:
 * no cost samples for the payload yet (JSON with reason NoEstimateAvailable),
 * or no estimator configured at all (a bare JSON string).
 */
const noFeeEstimateSchema = z.union([
  z.object({ reason: z.literal("NoEstimateAvailable") }),
  z.literal("Fee estimation not supported on this node"),
]);

/** Whether a 400 body from a fee endpoint says the node has no estimate (see `noFeeEstimateSchema`). */
export function saysNoFeeEstimate(bodyText: string): boolean {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return false;
  }
  return noFeeEstimateSchema.safeParse(body).success;
}

/**
 * The fee when the node has no estimate for the call: the transfer fee rate
 * (null, or below the minimum rate: the minimum rate) times the signed
 * transaction's length in bytes, at least `floor`, never above `cap`. The
 * same rule @stacks/transactions' `fetchFeeEstimate` falls back to.
 */
export function fallbackFee(ratePerByte: bigint | null, byteLength: number, floor: bigint, cap: bigint): bigint {
  const rate = ratePerByte !== null && ratePerByte > MIN_FEE_RATE_PER_BYTE ? ratePerByte : MIN_FEE_RATE_PER_BYTE;
  return withinBounds(rate * BigInt(byteLength), floor, cap);
}

/**
 * The fee for `draft` (the call signed with its nonce; a fee changes no
 * length, it is always eight bytes): the node's estimate when it has one,
 * else the fallback. Only the backend calls lock, release and settle, so on
 * a new vault the node has never sampled them, and without the fallback the
 * first of them could never be priced.
 */
export async function feeForCall(
  client: Pick<HiroClient, "estimateFees" | "getTransferFeeRate">,
  draft: SignedVaultTransaction,
  floor: bigint,
  cap: bigint,
): Promise<bigint> {
  const estimates = await client.estimateFees(draft.payloadHex, draft.byteLength);
  if (estimates !== null) return chooseFee(estimates, floor, cap);
  return fallbackFee(await client.getTransferFeeRate(), draft.bytes.length, floor, cap);
}
