/**
 * Backend-signed vault calls: lock, release and settle, built and signed with
 * @stacks/transactions using the backend key, which holds the vault's
 * operator role (the same key is also its voucher signer, for now), always in
 * deny mode.
 * A lock or release moves no asset, so deny mode with no post-conditions
 * forbids any transfer at all; a settlement allows exactly its payout, from
 * the vault, in its token.
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

import type { Doc } from "../_generated/dataModel";
import type { ChainConfig } from "../config";
import { sendsExactly, tokenContractOf, VAULT_ARGS, VAULT_FUNCTIONS } from "./vault";

type VaultCall = Pick<Doc<"chainTransactions">, "functionName" | "policyIds" | "token" | "amount" | "buyer">;

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
  }
}

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

/** The fee to pay: the node's middle estimate, at least `floor`, never above the configured cap. */
export function chooseFee(estimates: readonly bigint[], floor: bigint, cap: bigint): bigint {
  const middle = estimates[Math.min(1, estimates.length - 1)] ?? floor;
  const wanted = middle > floor ? middle : floor;
  return wanted > cap ? cap : wanted;
}
