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
import { Cl, postConditionToHex, type ClarityValue, type PostCondition } from "@stacks/transactions";
import { literals } from "convex-helpers/validators";
import { v, type Infer } from "convex/values";

import { networkNameValidator, type Token } from "../validators";
import type { ChainConfig } from "../config";
import {
  sendsExactly,
  tokenContractOf,
  USER_VAULT_FUNCTIONS,
  VAULT_ARGS,
  VAULT_FUNCTIONS,
  type UserVaultFunction,
} from "./vault";

export { SBTC_ASSET_NAME } from "./vault";

export const contractCallValidator = v.object({
  contract: v.string(),
  functionName: literals(...USER_VAULT_FUNCTIONS),
  functionArgs: v.array(v.string()),
  postConditionMode: v.literal("deny"),
  postConditions: v.array(v.string()),
  network: networkNameValidator,
});
export type ContractCall = Infer<typeof contractCallValidator>;

function vaultCall(
  config: ChainConfig,
  functionName: UserVaultFunction,
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
  const tokenContract = tokenContractOf(token, config.sbtcContractId);
  return vaultCall(
    config,
    VAULT_FUNCTIONS.depositFunds,
    VAULT_ARGS.depositFunds({ amount, tokenContract }),
    [sendsExactly(provider, tokenContract, amount)],
  );
}

export function premiumCall(
  config: ChainConfig,
  payer: string,
  policyId: bigint,
  token: Token,
  amount: bigint,
): ContractCall {
  const tokenContract = tokenContractOf(token, config.sbtcContractId);
  return vaultCall(
    config,
    VAULT_FUNCTIONS.payPremium,
    VAULT_ARGS.payPremium({ policyId, amount, tokenContract }),
    [sendsExactly(payer, tokenContract, amount)],
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
  const tokenContract = tokenContractOf(voucher.token, config.sbtcContractId);
  return vaultCall(
    config,
    VAULT_FUNCTIONS.withdrawFunds,
    VAULT_ARGS.withdrawFunds({ ...voucher, tokenContract }),
    // The vault, not the provider, is the sender of a withdrawal.
    [sendsExactly(config.vaultContractId, tokenContract, voucher.amount)],
  );
}
