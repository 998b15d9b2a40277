/**
 * A provider's way out with nothing but a Stacks API (README "Operations: the
 * watcher and the exit"): the current checkpoint's tree rebuilt from its
 * published leaves and checked against the vault's root and sums, the
 * provider's leaf and proof, what is owed and what `claim-exit` would pay per
 * token, and whether it was claimed already. Nothing here sends anything;
 * tools/exit.ts does, only from a plan with no refusal.
 */
import { hexToBytes } from "@stacks/common";
import { Cl } from "@stacks/transactions";

import type { HiroClient } from "../convex/chain/hiroClient";
import { readVault, VAULT_ARGS, VAULT_READ_ONLY_FUNCTIONS as F } from "../convex/chain/vault";
import {
  exitLeafCV,
  exitProofCV,
  merkleSumProof,
  verifyMerkleSumProof,
  type ExitLeaf,
  type ProofStep,
} from "../convex/domain/merkleSum";
import type { Token } from "../convex/domain/vocabulary";
import { exitClaimsOf, flowEventsOf, recordsAsOf, shutdownOf, type ProviderRecord } from "./chainBooks";
import { readVaultEvents, type ChainEvent } from "./chainEvents";
import { rebuildTree, type Checkpoint, type TreeCheck } from "./checkpointTree";
import { claimExitCall, owedFor, paidFor, type ExitTerms } from "./exitClaim";
import type { VaultCall } from "./vaultTransactions";

export type TokenExit = {
  token: Token;
  tokenContract: string | null;
  /** Null when it cannot be known: a leaf is needed and the published tree does not hold up. */
  owed: bigint | null;
  /** What `claim-exit` would pay now; null before shutdown, once claimed, or when `owed` is unknown. */
  pays: bigint | null;
  /** A claim already made: its `exit-claimed` event (txid null when only the vault's `get-exit-claim` shows it yet). */
  claimed: { paid: bigint; txid: string | null } | null;
  /** The exact call, when `owed` is known. */
  call: VaultCall | null;
};

/** Why the tool will not claim: 2 not shut down, 3 the checkpoint's tree does not hold up, 4 no record. */
export type ExitRefusal = { code: 2 | 3 | 4; message: string };

export type ExitPlan = {
  vault: string;
  provider: string;
  record: ProviderRecord | null;
  checkpoint: Checkpoint | null;
  tree: TreeCheck | null;
  /** A leaf is needed: the record existed at the checkpoint's `as-of-seq`. */
  needsLeaf: boolean;
  leaf: { index: number; leaf: ExitLeaf; proof: ProofStep[] } | null;
  shutdown: { by: string | null; txid: string | null; terms: Record<Token, ExitTerms> } | null;
  tokens: TokenExit[];
  warnings: string[];
  refusal: ExitRefusal | null;
};

export type ExitClient = Pick<HiroClient, "getContractLogs" | "getPlacedTransactions" | "callReadOnlyHex">;

type ReadClient = Pick<HiroClient, "callReadOnlyHex">;

async function readRecord(client: ReadClient, vault: string, provider: string): Promise<ProviderRecord | null> {
  const record = await readVault(client, vault, F.getProviderRecord, VAULT_ARGS.getProviderRecord({ provider }));
  if (record === null) return null;
  return { provider, createdSeq: record.createdSeq, stxIn: record.stxIn, stxOut: record.stxOut, sbtcIn: record.sbtcIn, sbtcOut: record.sbtcOut };
}

/** The provider's record as the events tell it, against the vault's own: a difference means the API has not shown every flow yet. */
function recordWarnings(events: readonly ChainEvent[], record: ProviderRecord): string[] {
  const flows = flowEventsOf(events);
  const fromEvents = recordsAsOf(flows, flows.at(-1)?.seq ?? 0n).get(record.provider);
  const same =
    fromEvents !== undefined &&
    (["createdSeq", "stxIn", "stxOut", "sbtcIn", "sbtcOut"] as const).every((key) => fromEvents[key] === record[key]);
  return same ? [] : ["the API's events do not add up to the vault's record yet (its indexer may lag the node): the vault's record is used"];
}

/** The terms from the `shutdown` event, else from `get-exit-terms` (an indexer that has not shown the event yet). */
async function shutdownTerms(client: ReadClient, vault: string, events: readonly ChainEvent[]): Promise<ExitPlan["shutdown"]> {
  const event = shutdownOf(events);
  if (event) {
    return {
      by: event.by,
      txid: event.txid,
      terms: { STX: { assets: event.stxAssets, liabilities: event.stxLiabilities }, sBTC: { assets: event.sbtcAssets, liabilities: event.sbtcLiabilities } },
    };
  }
  const terms = await readVault(client, vault, F.getExitTerms);
  if (terms === null) return null;
  return {
    by: null,
    txid: null,
    terms: { STX: { assets: terms.stxAssets, liabilities: terms.stxLiabilities }, sBTC: { assets: terms.sbtcAssets, liabilities: terms.sbtcLiabilities } },
  };
}

/** The provider's leaf and proof, checked in TypeScript and then by the vault's own `verify-exit-proof`. */
async function provenLeaf(client: ReadClient, plan: ExitPlan): Promise<ExitRefusal | null> {
  const { tree, checkpoint, record } = plan;
  if (!tree || !checkpoint || !record) return null;
  if (!tree.matches || tree.tree === null || tree.leaves === null) {
    const why = tree.leaves === null ? [`only ${tree.published} of ${checkpoint.leafCount} leaves were published`, ...tree.problems] : tree.problems;
    return { code: 3, message: `the leaves published for checkpoint epoch ${checkpoint.epoch} do not rebuild its tree (${why.join("; ")}): a claim with them would fail (u217), so none is sent` };
  }
  const index = tree.leaves.findIndex((leaf) => leaf.provider === plan.provider);
  if (index < 0) {
    return { code: 3, message: `checkpoint epoch ${checkpoint.epoch} has no leaf for ${plan.provider}, whose record was created at seq ${record.createdSeq}, within its as-of-seq ${checkpoint.asOfSeq}: claim-exit cannot be proven (u217)` };
  }
  if (tree.leaves.slice(index + 1).some((leaf) => leaf.provider === plan.provider)) {
    plan.warnings.push(`${plan.provider} has more than one leaf in checkpoint epoch ${checkpoint.epoch}: the first (index ${index}) is used`);
  }
  const leaf = tree.leaves[index] as ExitLeaf;
  const proof = merkleSumProof(tree.tree, index);
  plan.leaf = { index, leaf, proof };
  const root = { hash: hexToBytes(checkpoint.root.replace(/^0x/, "")), stx: checkpoint.stxSum, sbtc: checkpoint.sbtcSum };
  if (!verifyMerkleSumProof(root, leaf, proof)) return { code: 3, message: "the rebuilt proof does not verify against the checkpoint" };
  const vaultAgrees = await readVault(client, plan.vault, F.verifyExitProof, [Cl.principal(plan.provider), exitLeafCV(leaf), exitProofCV(proof)]);
  if (!vaultAgrees) return { code: 3, message: "the vault's verify-exit-proof refuses the rebuilt leaf and proof" };
  return null;
}

async function tokenExit(client: ReadClient, plan: ExitPlan, events: readonly ChainEvent[], token: Token, tokenContract: string | null): Promise<TokenExit> {
  const leafKnown = !plan.needsLeaf || plan.leaf !== null;
  const owed = plan.record && leafKnown ? owedFor(plan.record, plan.leaf?.leaf ?? null, token) : null;
  const event = exitClaimsOf(events, plan.provider).get(token);
  let claimed: TokenExit["claimed"] = event ? { paid: event.paid, txid: event.txid } : null;
  if (!claimed) {
    const paid = await readVault(client, plan.vault, F.getExitClaim, VAULT_ARGS.getExitClaim({ provider: plan.provider, tokenContract }));
    if (paid !== null) claimed = { paid, txid: null };
  }
  let pays: bigint | null = null;
  // A claim made is final (u218): what a new one would pay means nothing then.
  if (plan.shutdown && owed !== null && !claimed) {
    const balance = await readVault(client, plan.vault, token === "STX" ? F.getTotalStxBalance : F.getTotalSbtcBalance);
    pays = paidFor(owed, plan.shutdown.terms[token], balance);
  }
  const call = owed === null ? null : claimExitCall(plan.vault, tokenContract, plan.leaf?.leaf ?? null, plan.leaf?.proof ?? [], owed);
  return { token, tokenContract, owed, pays, claimed, call };
}

export async function planExit(client: ExitClient, vault: string, provider: string): Promise<ExitPlan> {
  const sbtcContractId = await readVault(client, vault, F.getSbtcTokenPrincipal);
  const { events, malformed } = await readVaultEvents(client, vault, sbtcContractId);
  const checkpoint = await readVault(client, vault, F.getCheckpoint);
  const record = await readRecord(client, vault, provider);
  const plan: ExitPlan = {
    vault,
    provider,
    record,
    checkpoint,
    tree: checkpoint ? rebuildTree(checkpoint, events) : null,
    needsLeaf: checkpoint !== null && record !== null && record.createdSeq <= checkpoint.asOfSeq,
    leaf: null,
    shutdown: (await readVault(client, vault, F.isShutDown)) ? await shutdownTerms(client, vault, events) : null,
    tokens: [],
    warnings: malformed.map((bad) => `undecodable print ${bad.txid}:${bad.eventIndex} (${bad.reason}) left out`),
    refusal: null,
  };
  if (record === null) {
    plan.refusal = { code: 4, message: `${provider} has no provider record in ${vault}: there is nothing to claim` };
    return plan;
  }
  plan.warnings.push(...recordWarnings(events, record));
  if (plan.needsLeaf) plan.refusal = await provenLeaf(client, plan);
  else if (plan.tree && !plan.tree.matches) {
    plan.warnings.push(`checkpoint epoch ${checkpoint?.epoch} does not rebuild from its published leaves; this record is newer than it and claims without a leaf`);
  }
  const tokens: [Token, string | null][] = [["STX", null]];
  if (sbtcContractId !== null) tokens.push(["sBTC", sbtcContractId]);
  for (const [token, tokenContract] of tokens) plan.tokens.push(await tokenExit(client, plan, events, token, tokenContract));
  if (plan.refusal === null && plan.shutdown === null) {
    plan.refusal = { code: 2, message: `${vault} is not shut down: claim-exit fails (u216) until the admin, or anyone 4,320 burn blocks after the last checkpoint, calls shutdown` };
  }
  return plan;
}
