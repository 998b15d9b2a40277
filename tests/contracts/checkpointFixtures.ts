/**
 * Fixtures for the checkpoint, shutdown and exit tests: posting a Merkle-sum
 * tree built by convex/domain/merkleSum.ts as the vault's checkpoint, vetoing
 * and publishing it, claiming an exit, and the exact values and events the
 * vault returns for each.
 */
import { Cl, type ClarityValue, type TupleCV } from "@stacks/transactions";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  exitLeafCV,
  exitProofCV,
  publishedLeafCV,
  type ExitLeaf,
  type MerkleSumTree,
  type ProofStep,
} from "../../convex/domain/merkleSum";
import { backend, call, readOnly, SBTC, tokenArg, uintOf } from "./vault";

export type Token = "STX" | "sBTC";

/** The four cumulative flows a checkpoint is taken at (no `seq`: that is `as-of-seq`). */
export type CheckpointFlows = { stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };

export type CheckpointArgs = {
  root: Uint8Array;
  stxSum: bigint;
  sbtcSum: bigint;
  asOfSeq: bigint;
  flows: CheckpointFlows;
  leafCount: bigint;
};

/** The vault's flow counters at some moment: what a checkpoint snapshots. */
export type Snapshot = { asOfSeq: bigint; flows: CheckpointFlows };

export const NO_FLOWS: CheckpointFlows = { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };

export function checkpointFlowsCV(flows: CheckpointFlows): TupleCV {
  return Cl.tuple({
    "stx-in": Cl.uint(flows.stxIn),
    "stx-out": Cl.uint(flows.stxOut),
    "sbtc-in": Cl.uint(flows.sbtcIn),
    "sbtc-out": Cl.uint(flows.sbtcOut),
  });
}

function tupleField(value: ClarityValue, key: string): ClarityValue {
  if (value.type !== "tuple") throw new Error(`expected a tuple, got ${value.type}`);
  const field = value.value[key];
  if (!field) throw new Error(`tuple has no field ${key}`);
  return field;
}

/** The vault's current flow counters (`get-flows`), as a checkpoint would take them. */
export function snapshotNow(): Snapshot {
  const flows = readOnly(VAULT_FUNCTIONS.getFlows);
  return {
    asOfSeq: uintOf(tupleField(flows, "seq")),
    flows: {
      stxIn: uintOf(tupleField(flows, "stx-in")),
      stxOut: uintOf(tupleField(flows, "stx-out")),
      sbtcIn: uintOf(tupleField(flows, "sbtc-in")),
      sbtcOut: uintOf(tupleField(flows, "sbtc-out")),
    },
  };
}

/**
 * The leaf the backend would write for `provider` now: the given book
 * balances, and the cumulative in/out of the provider's on-chain record.
 */
export function leafFromRecord(provider: string, balances: { stx: bigint; sbtc: bigint }): ExitLeaf {
  const record = readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(provider)]);
  if (record.type !== "some") throw new Error(`${provider} has no provider record`);
  return {
    provider,
    stx: balances.stx,
    sbtc: balances.sbtc,
    stxIn: uintOf(tupleField(record.value, "stx-in")),
    stxOut: uintOf(tupleField(record.value, "stx-out")),
    sbtcIn: uintOf(tupleField(record.value, "sbtc-in")),
    sbtcOut: uintOf(tupleField(record.value, "sbtc-out")),
  };
}

/** A checkpoint of `tree` taken at `snapshot`. */
export function checkpointOf(tree: MerkleSumTree, snapshot: Snapshot): CheckpointArgs {
  return {
    root: tree.root.hash,
    stxSum: tree.root.stx,
    sbtcSum: tree.root.sbtc,
    asOfSeq: snapshot.asOfSeq,
    flows: snapshot.flows,
    leafCount: BigInt(tree.leafCount),
  };
}

export function postCheckpoint(args: CheckpointArgs, sender: string = backend) {
  return call(
    VAULT_FUNCTIONS.postCheckpoint,
    [
      Cl.buffer(args.root),
      Cl.uint(args.stxSum),
      Cl.uint(args.sbtcSum),
      Cl.uint(args.asOfSeq),
      checkpointFlowsCV(args.flows),
      Cl.uint(args.leafCount),
    ],
    sender,
  );
}

/** Posts `tree` as taken at `snapshot` (by default the vault's flows right now). */
export function postTree(tree: MerkleSumTree, snapshot: Snapshot = snapshotNow(), sender: string = backend) {
  return postCheckpoint(checkpointOf(tree, snapshot), sender);
}

/** What `get-checkpoint` returns for a checkpoint posted at burn height `postedAt`. */
export function checkpointCV(args: CheckpointArgs & { epoch: bigint; postedAt: bigint }): ClarityValue {
  return Cl.some(
    Cl.tuple({
      epoch: Cl.uint(args.epoch),
      root: Cl.buffer(args.root),
      "stx-sum": Cl.uint(args.stxSum),
      "sbtc-sum": Cl.uint(args.sbtcSum),
      "as-of-seq": Cl.uint(args.asOfSeq),
      flows: checkpointFlowsCV(args.flows),
      "leaf-count": Cl.uint(args.leafCount),
      "posted-at": Cl.uint(args.postedAt),
    }),
  );
}

export function checkpointPostedEvent(args: CheckpointArgs & { epoch: bigint }): ClarityValue {
  return Cl.tuple({
    event: Cl.stringAscii("checkpoint-posted"),
    epoch: Cl.uint(args.epoch),
    root: Cl.buffer(args.root),
    "stx-sum": Cl.uint(args.stxSum),
    "sbtc-sum": Cl.uint(args.sbtcSum),
    "as-of-seq": Cl.uint(args.asOfSeq),
    flows: checkpointFlowsCV(args.flows),
    "leaf-count": Cl.uint(args.leafCount),
  });
}

/** The epoch of the current checkpoint, or null when there is none. */
export function currentEpoch(): bigint | null {
  const checkpoint = readOnly(VAULT_FUNCTIONS.getCheckpoint);
  if (checkpoint.type === "none") return null;
  if (checkpoint.type !== "some") throw new Error(`get-checkpoint returned ${checkpoint.type}`);
  return uintOf(tupleField(checkpoint.value, "epoch"));
}

export function vetoCheckpoint(sender: string) {
  return call(VAULT_FUNCTIONS.vetoCheckpoint, [], sender);
}

/** The leaves as `publish-leaves` takes them and `checkpoint-leaves` prints them. */
export function publishedLeafCVs(leaves: readonly ExitLeaf[]): TupleCV[] {
  return leaves.map((leaf) => publishedLeafCV(leaf));
}

export function publishLeaves(epoch: bigint, offset: bigint, leaves: readonly ExitLeaf[], sender: string = backend) {
  return call(VAULT_FUNCTIONS.publishLeaves, [Cl.uint(epoch), Cl.uint(offset), Cl.list(publishedLeafCVs(leaves))], sender);
}

/** `verify-exit-proof` for `leaf` (its own provider as the `provider` argument unless told otherwise). */
export function verifyExitProof(leaf: ExitLeaf, proof: readonly ProofStep[], provider: string = leaf.provider): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.verifyExitProof, [Cl.principal(provider), exitLeafCV(leaf), exitProofCV(proof)]);
}

/** `claim-exit` by `sender`, with a leaf and its proof, or with `null`: the claim without a leaf. */
export function claimExit(sender: string, token: Token, leaf: ExitLeaf | null, proof: readonly ProofStep[] = []) {
  return call(
    VAULT_FUNCTIONS.claimExit,
    [tokenArg(token), leaf === null ? Cl.none() : Cl.some(exitLeafCV(leaf)), exitProofCV(proof)],
    sender,
  );
}

export function tokenIdCV(token: Token): ClarityValue {
  return token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC));
}

export function exitClaimedEvent(provider: string, token: Token, owed: bigint, paid: bigint): ClarityValue {
  return Cl.tuple({
    event: Cl.stringAscii("exit-claimed"),
    provider: Cl.principal(provider),
    token: tokenIdCV(token),
    owed: Cl.uint(owed),
    paid: Cl.uint(paid),
  });
}

export type ExitTerms = { stxAssets: bigint; stxLiabilities: bigint; sbtcAssets: bigint; sbtcLiabilities: bigint };

export function shutdownEvent(by: string, terms: ExitTerms): ClarityValue {
  return Cl.tuple({
    event: Cl.stringAscii("shutdown"),
    by: Cl.principal(by),
    "stx-assets": Cl.uint(terms.stxAssets),
    "stx-liabilities": Cl.uint(terms.stxLiabilities),
    "sbtc-assets": Cl.uint(terms.sbtcAssets),
    "sbtc-liabilities": Cl.uint(terms.sbtcLiabilities),
  });
}

/** What `get-exit-terms` returns after a shutdown with these terms. */
export function exitTermsCV(terms: ExitTerms): ClarityValue {
  return Cl.some(
    Cl.tuple({
      "stx-assets": Cl.uint(terms.stxAssets),
      "stx-liabilities": Cl.uint(terms.stxLiabilities),
      "sbtc-assets": Cl.uint(terms.sbtcAssets),
      "sbtc-liabilities": Cl.uint(terms.sbtcLiabilities),
    }),
  );
}

/** What `get-exit-claim` returns: `(some paid)` once claimed, `none` before. */
export function exitClaim(provider: string, token: Token): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.getExitClaim, [Cl.principal(provider), tokenIdCV(token)]);
}

/** A leaf with the given book balances; flows not given are 0. */
export function exitLeaf(provider: string, stx: bigint, sbtc: bigint, flows: Partial<CheckpointFlows> = {}): ExitLeaf {
  return { provider, stx, sbtc, ...NO_FLOWS, ...flows };
}
