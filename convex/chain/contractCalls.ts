/**
 * User-signed vault calls (docs/architecture.md, "Flows"): the backend prepares the call, the
 * wallet signs it. Arguments and post-conditions are hex-encoded so they
 * cross Convex and JSON unchanged, and feed straight into @stacks/connect:
 *
 *   request("stx_callContract", { contract, functionName, functionArgs,
 *                                 postConditions, postConditionMode, network })
 *
 * Post-conditions are in deny mode and name the exact amount of the exact
 * asset, so the wallet refuses the transaction if the vault would move
 * anything else.
 */
import { Cl, Pc, postConditionToHex, type ClarityValue, type PostCondition } from "@stacks/transactions";
import { v, type Infer } from "convex/values";

import type { Token } from "../validators";
import type { ChainConfig } from "./config";

/** The fungible-token asset inside the sBTC contract (the real sBTC and the local stand-in agree). */
export const SBTC_ASSET_NAME = "sbtc-token";

export const contractCallValidator = v.object({
  contract: v.string(),
  functionName: v.string(),
  functionArgs: v.array(v.string()),
  postConditionMode: v.literal("deny"),
  postConditions: v.array(v.string()),
  network: v.union(v.literal("mainnet"), v.literal("testnet"), v.literal("devnet")),
});
export type ContractCall = Infer<typeof contractCallValidator>;

type ContractId = `${string}.${string}`;

function tokenArgument(config: ChainConfig, token: Token): ClarityValue {
  return token === "STX" ? Cl.none() : Cl.some(Cl.principal(config.sbtcContractId));
}

/** Exactly `amount` of `token` leaves `sender`. */
function sendsExactly(config: ChainConfig, sender: string, token: Token, amount: bigint): PostCondition {
  const sends = Pc.principal(sender).willSendEq(amount);
  return token === "STX" ? sends.ustx() : sends.ft(config.sbtcContractId as ContractId, SBTC_ASSET_NAME);
}

function vaultCall(
  config: ChainConfig,
  functionName: string,
  args: ClarityValue[],
  postConditions: PostCondition[],
): ContractCall {
  return {
    contract: config.vaultContractId,
    functionName,
    functionArgs: args.map((arg) => Cl.serialize(arg)),
    postConditionMode: "deny",
    postConditions: postConditions.map((pc) => postConditionToHex(pc)),
    network: config.networkName,
  };
}

export function depositCall(config: ChainConfig, provider: string, token: Token, amount: bigint): ContractCall {
  return vaultCall(
    config,
    "deposit-funds",
    [Cl.uint(amount), tokenArgument(config, token)],
    [sendsExactly(config, provider, token, amount)],
  );
}

export function premiumCall(
  config: ChainConfig,
  payer: string,
  policyId: bigint,
  token: Token,
  amount: bigint,
): ContractCall {
  return vaultCall(
    config,
    "pay-premium",
    [Cl.uint(policyId), Cl.uint(amount), tokenArgument(config, token)],
    [sendsExactly(config, payer, token, amount)],
  );
}

export type SignedVoucher = {
  token: Token;
  amount: bigint;
  nonce: bigint;
  expiresAt: bigint;
  /** 65-byte RSV signature, hex. */
  signature: string;
};

export function withdrawCall(config: ChainConfig, voucher: SignedVoucher): ContractCall {
  return vaultCall(
    config,
    "withdraw-funds",
    [
      Cl.uint(voucher.amount),
      tokenArgument(config, voucher.token),
      Cl.uint(voucher.nonce),
      Cl.uint(voucher.expiresAt),
      Cl.bufferFromHex(voucher.signature),
    ],
    // The vault, not the provider, is the sender of a withdrawal.
    [sendsExactly(config, config.vaultContractId, voucher.token, voucher.amount)],
  );
}
