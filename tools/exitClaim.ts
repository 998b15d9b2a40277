/**
 * What `claim-exit` owes and pays a provider, computed as the contract does
 * (README "Checkpoints and the exit"), and the exact call that claims it.
 *
 *   owed = leaf.<t> + (record.<t>-in − leaf.<t>-in) − (record.<t>-out − leaf.<t>-out), floored at 0
 *   owed = record.<t>-in − record.<t>-out, floored at 0   (a record newer than the checkpoint, or no checkpoint)
 *   paid = owed when assets ≥ liabilities, else ⌊owed × assets / liabilities⌋; never more than the vault holds
 *
 * Pure: figures in, figures and Clarity values out.
 */
import { Cl, Pc, type ClarityValue, type PostCondition } from "@stacks/transactions";

import { SBTC_ASSET_NAME, VAULT_FUNCTIONS } from "../convex/chain/vault";
import { exitLeafCV, exitProofCV, type ExitLeaf, type ProofStep } from "../convex/domain/merkleSum";
import { mulDivDown } from "../convex/domain/money";
import type { Token } from "../convex/domain/vocabulary";
import type { Flows } from "./chainBooks";
import type { VaultCall } from "./vaultTransactions";

function flowsOf(flows: Flows, token: Token): { in: bigint; out: bigint } {
  return token === "STX" ? { in: flows.stxIn, out: flows.stxOut } : { in: flows.sbtcIn, out: flows.sbtcOut };
}

/** `a + b − c`, floored at 0: the contract's add-sub-floor, so cumulative flows never make a claim negative. */
function addSubFloor(a: bigint, b: bigint, c: bigint): bigint {
  return a + b > c ? a + b - c : 0n;
}

/** What the provider is owed of `token`: by the leaf (moved by the flows since), or without one by the record alone. */
export function owedFor(record: Flows, leaf: ExitLeaf | null, token: Token): bigint {
  const now = flowsOf(record, token);
  if (leaf === null) return addSubFloor(now.in, 0n, now.out);
  const then = flowsOf(leaf, token);
  const balance = token === "STX" ? leaf.stx : leaf.sbtc;
  // leaf + (in − leaf.in) − (out − leaf.out), ordered as the contract orders it so nothing underflows.
  return addSubFloor(balance + now.in, then.out, then.in + now.out);
}

/** A token's exit terms, fixed by `shutdown`. */
export type ExitTerms = { assets: bigint; liabilities: bigint };

/** What `claim-exit` pays for `owed`: the same share for everyone when the vault is short, capped by what it still holds. */
export function paidFor(owed: bigint, terms: ExitTerms, vaultBalance: bigint): bigint {
  const share = terms.assets >= terms.liabilities ? owed : mulDivDown(owed, terms.assets, terms.liabilities);
  return share > vaultBalance ? vaultBalance : share;
}

/** `claim-exit`'s arguments: the token (none = STX), the leaf (none without one) and the proof. */
export function claimExitArgs(tokenContract: string | null, leaf: ExitLeaf | null, proof: readonly ProofStep[]): ClarityValue[] {
  return [
    tokenContract === null ? Cl.none() : Cl.some(Cl.principal(tokenContract)),
    leaf === null ? Cl.none() : Cl.some(exitLeafCV(leaf)),
    exitProofCV(proof),
  ];
}

/** Deny mode: the vault may send the caller at most `owed` of the token, and nothing else may move. */
export function claimPostCondition(vault: string, tokenContract: string | null, owed: bigint): PostCondition {
  const sends = Pc.principal(vault).willSendLte(owed);
  return tokenContract === null ? sends.ustx() : sends.ft(tokenContract as `${string}.${string}`, SBTC_ASSET_NAME);
}

export function claimExitCall(vault: string, tokenContract: string | null, leaf: ExitLeaf | null, proof: readonly ProofStep[], owed: bigint): VaultCall {
  return {
    functionName: VAULT_FUNCTIONS.claimExit,
    args: claimExitArgs(tokenContract, leaf, proof),
    postConditions: [claimPostCondition(vault, tokenContract, owed)],
  };
}
