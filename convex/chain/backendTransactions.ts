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
  Cl,
  estimateTransactionByteLength,
  makeContractCall,
  Pc,
  privateKeyToAddress,
  serializePayload,
  serializeTransactionBytes,
  type ClarityValue,
  type PostCondition,
} from "@stacks/transactions";

import type { Doc } from "../_generated/dataModel";
import type { ChainConfig } from "./config";
import { SBTC_ASSET_NAME } from "./contractCalls";

type VaultCall = Pick<Doc<"chainTransactions">, "functionName" | "policyIds" | "token" | "amount" | "buyer">;

function tokenArgument(config: ChainConfig, token: "STX" | "sBTC"): ClarityValue {
  return token === "STX" ? Cl.none() : Cl.some(Cl.principal(config.sbtcContractId));
}

export function vaultCallArguments(config: ChainConfig, call: VaultCall): ClarityValue[] {
  const token = tokenArgument(config, call.token);
  switch (call.functionName) {
    case "lock-collateral-aggregate":
    case "release-collateral-aggregate":
      return [Cl.list(call.policyIds.map((id) => Cl.uint(id))), Cl.uint(call.amount), token];
    case "settle-policy": {
      if (!call.buyer || call.policyIds.length !== 1) throw new Error("a settlement names one policy and its buyer");
      return [Cl.uint(call.policyIds[0]!), Cl.principal(call.buyer), Cl.uint(call.amount), token];
    }
  }
}

export function vaultCallPostConditions(config: ChainConfig, call: VaultCall): PostCondition[] {
  if (call.functionName !== "settle-policy") return [];
  const sends = Pc.principal(config.vaultContractId).willSendEq(call.amount);
  return [
    call.token === "STX"
      ? sends.ustx()
      : sends.ft(config.sbtcContractId as `${string}.${string}`, SBTC_ASSET_NAME),
  ];
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
