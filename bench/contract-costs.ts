/**
 * Clarity execution costs of the liquidity-pool vault, next to a bare token
 * transfer of the same amount.
 *
 *   npx tsx bench/contract-costs.ts      (npm run bench:contract)
 *
 * Runs every public function of the vault on a fresh simnet with cost
 * tracking on, in the order a vault lives through them: role hand-over, the
 * money calls once per token, the guardian's and admin's switches,
 * checkpoints, shutdown and the exit claims. It prints, per call, the five
 * Clarity cost dimensions and the share of a block's limit the call takes;
 * for calls that move a token also each dimension as a ratio to the bare
 * transfer of that token. Goals, judged on block share:
 * - deposit within 2×, settlement within 1.75×, voucher withdrawal within
 *   2.5× of the bare transfer of the same token (runtime is shown next to its
 *   floor, the cost of loading the contract);
 * - an exit claim with a proof of depth 20 (a tree of 2^20 providers) takes
 *   at most 1/1,000 of a block, so that 1,000 claims fit one block.
 *
 * Baselines: the cheapest way for Clarity code to move the token, so that the
 * ratio is what the vault adds on top of the transfer it performs.
 * - STX: a native token-transfer transaction runs no Clarity, so simnet reports
 *   no costs for it. The baseline is a minimal contract, deployed here only,
 *   whose one public function is `(stx-transfer? amount tx-sender recipient)`.
 * - sBTC: the same minimal contract shape around the token's SIP-010
 *   `transfer`. A transaction calling `transfer` on the token directly is shown
 *   too, as a reference: any contract that moves the token pays three reads
 *   more than that direct call (its own load and the inter-contract call).
 *
 * Exit proofs: a tree of 2^20 leaves is too big to build, and the vault checks
 * a proof by folding the leaf up through its siblings only, so the bench
 * builds one path synthetically (see `exitTree`): leaves of providers at
 * depths 1, 5, 10, 20 and 32 hang off the path of the deepest one, every
 * other sibling is an arbitrary node. The claims at the five depths show that
 * the read count does not grow with the proof. A proof is large, so the
 * claim's transaction length is reported against the block length limit too.
 *
 * It also re-runs the whole scenario on two copies of the vault deployed
 * under other names (comments stripped; comments stripped and whitespace
 * collapsed) to show how much of the cost is the contract's source size, which
 * every call pays for when it loads the contract.
 *
 * Results are also written to bench/results/contract-costs.md (for the
 * README), bench/results/contract-costs.json and the summary that
 * `npm run bench` puts in its combined table.
 *
 * Prints figures only; there are no timing assertions. Exits non-zero only when
 * a call it makes does not return `(ok ...)`, i.e. when the bench is broken.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex, utf8ToBytes } from "@stacks/common";
import { initSimnet, type DeployContractOptions, type ParsedTransactionResult } from "@stacks/clarinet-sdk";
import { STACKS_TESTNET } from "@stacks/network";
import {
  Cl,
  ClarityVersion,
  cvToString,
  makeUnsignedContractCall,
  Pc,
  PostConditionMode,
  privateKeyToAddress,
  privateKeyToPublic,
  type ClarityValue,
  type PostCondition,
} from "@stacks/transactions";

import { VAULT_FUNCTIONS } from "../convex/chain/vault";
import { chainIdOf, signWithdrawalVoucher, type WithdrawalVoucher } from "../convex/chain/withdrawalVoucher";
import {
  exitLeafCV,
  exitProofCV,
  leafHash,
  MAX_PROOF_DEPTH,
  nodeHash,
  publishedLeafCV,
  verifyMerkleSumProof,
  type ExitLeaf,
  type ProofStep,
  type SumNode,
} from "../convex/domain/merkleSum";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

// ---------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS_DIR = path.join(ROOT, "bench", "results");
process.chdir(ROOT);

/** Same test-only key as tests/contracts/vault.ts; signs withdrawal vouchers. */
const BACKEND_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
const backend = privateKeyToAddress(BACKEND_KEY, "testnet");
/** Simnet runs with the testnet chain id. */
const CHAIN_ID = chainIdOf(STACKS_TESTNET);

/** The vault's delays, in burn blocks (ROLE-DELAY, CHECKPOINT-VETO-WINDOW). */
const ROLE_DELAY = 144;
const CHECKPOINT_VETO_WINDOW = 144;

/** Every transfer measured moves this amount (micro-STX or satoshis). */
const AMOUNT = 1_000_000n;
/** The row of a voucher withdrawal. */
const WITHDRAW_OPERATION = `${VAULT_FUNCTIONS.withdrawFunds} (voucher)`;

/** Proof depths claimed; every one but the deepest hangs off the deepest leaf's path. */
const EXIT_DEPTHS = [1, 5, 10, 20, MAX_PROOF_DEPTH] as const;
type ExitDepth = (typeof EXIT_DEPTHS)[number];
/** The claim the goal is about: a tree of 2^20 providers. */
const HEADLINE_DEPTH: ExitDepth = 20;
const HEADLINE_LEAF_COUNT = 2n ** BigInt(HEADLINE_DEPTH);
/** Goal: at least this many claims at the headline depth fit one block. */
const CLAIMS_PER_BLOCK_GOAL = 1_000;
/** Leaves in the one `publish-leaves` call measured (the most its list takes). */
const PUBLISHED_LEAVES = 100;
/** stacks-core's MAX_BLOCK_LEN: no block, and so no transaction, is longer (bytes). */
const BLOCK_LENGTH_LIMIT = 2 * 1024 * 1024;

const simnet = await initSimnet("./Clarinet.toml", false, { trackCosts: true, trackCoverage: false });

const accounts = simnet.getAccounts();
function account(name: string): string {
  const address = accounts.get(name);
  if (!address) throw new Error(`simnet account ${name} missing from settings/Devnet.toml`);
  return address;
}
const deployer = account("deployer"); // admin and guardian throughout
const alice = account("wallet_1"); // liquidity provider
const bob = account("wallet_2"); // policy buyer paying premiums
const carol = account("wallet_3"); // settlement / transfer recipient

const SBTC = `${deployer}.sbtc-token`;

/**
 * Simnet has too few accounts for the exit providers. Their addresses come
 * from fixed keys, so that every run builds the same tree and prints the same
 * roots; simnet needs no key to send a call as them.
 */
function benchAddress(label: string): string {
  const key = bytesToHex(sha256(utf8ToBytes(`bithedge contract-costs bench: ${label}`)));
  return privateKeyToAddress(`${key}01`, "testnet");
}
const depthProviders = new Map<ExitDepth, string>(EXIT_DEPTHS.map((d) => [d, benchAddress(`exit provider, depth ${d}`)]));
/** Deposits after the checkpoint, so claims without a leaf. */
const lateProvider = benchAddress("exit provider without a leaf");
const exitProviders = [...depthProviders.values(), lateProvider];

function depthProvider(depth: ExitDepth): string {
  return depthProviders.get(depth) as string;
}

type Token = "STX" | "sBTC";
const TOKENS: readonly Token[] = ["STX", "sBTC"];

function tokenArg(token: Token): ClarityValue {
  return token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC));
}

// ---------------------------------------------------------------------------
// Calling and measuring
// ---------------------------------------------------------------------------

const DIMENSIONS = ["runtime", "readCount", "readLength", "writeCount", "writeLength"] as const;
type Dimension = (typeof DIMENSIONS)[number];
type Cost = Record<Dimension, number>;

const DIMENSION_LABEL: Record<Dimension, string> = {
  runtime: "Runtime",
  readCount: "Read count",
  readLength: "Read length",
  writeCount: "Write count",
  writeLength: "Write length",
};

/** The block limit simnet reports alongside each call's costs. */
let blockLimit: Cost | undefined;

/**
 * Simnet echoes every `print` of the contract to stdout. Silence that while a
 * call runs so that only the tables are printed.
 */
function quietly<T>(run: () => T): T {
  const log = console.log;
  console.log = () => undefined;
  try {
    return run();
  } finally {
    console.log = log;
  }
}

class BenchBroken extends Error {}

/** Fails the bench unless the call returned `(ok ...)`; returns its costs. */
function expectOk(what: string, result: ParsedTransactionResult): Cost {
  if (result.result.type !== "ok") {
    throw new BenchBroken(`${what} returned ${cvToString(result.result)}, expected (ok ...)`);
  }
  if (!result.costs) throw new BenchBroken(`${what}: simnet reported no costs (is trackCosts on?)`);
  blockLimit ??= pickCost(result.costs.limit);
  return pickCost(result.costs.total);
}

function pickCost(c: Cost): Cost {
  return {
    runtime: c.runtime,
    readCount: c.readCount,
    readLength: c.readLength,
    writeCount: c.writeCount,
    writeLength: c.writeLength,
  };
}

function callPublic(contract: string, fn: string, args: ClarityValue[], sender: string): ParsedTransactionResult {
  return quietly(() => simnet.callPublicFn(contract, fn, args, sender));
}

function readOnly(contract: string, fn: string, args: ClarityValue[] = []): ClarityValue {
  return quietly(() => simnet.callReadOnlyFn(contract, fn, args, deployer).result);
}

/** A setup call: must succeed, its costs are not reported. */
function setup(contract: string, fn: string, args: ClarityValue[], sender: string): void {
  expectOk(`setup ${contract.split(".")[1]}::${fn}`, callPublic(contract, fn, args, sender));
}

/**
 * Clarity 4. clarinet-sdk types its options with its own nested copy of
 * @stacks/transactions, whose ClarityVersion enum TypeScript treats as a
 * different type from the project's; the value (4) is the same.
 */
const CLARITY_4: DeployContractOptions = {
  clarityVersion: ClarityVersion.Clarity4 as number as DeployContractOptions["clarityVersion"],
};

function deploy(name: string, source: string): string {
  const result = quietly(() => simnet.deployContract(name, source, CLARITY_4, deployer));
  // A deployment's result is the value of the contract's last top-level
  // expression, not a response; its failure surfaces as an exception.
  if (result.result.type === "err") {
    throw new BenchBroken(`deploying ${name} returned ${cvToString(result.result)}`);
  }
  return `${deployer}.${name}`;
}

/** The transaction a call is, to measure its length; not written to the results. */
type Sent = { contract: string; fn: string; args: ClarityValue[]; postConditions: PostCondition[] };

type Measurement = {
  operation: string;
  /** The token the call moves; null for calls that move none. */
  token: Token | null;
  /** What the call was, for the record. */
  call: string;
  cost: Cost;
  /** The call's `(ok ...)` value. */
  result: string;
  /** Values printed by the call, to check that vault copies behave the same. */
  printed: string[];
  sent: Sent;
};

/**
 * Each copy of the vault runs later than the one before, so burn heights in
 * events (a role proposal's `eta`) differ between copies; relative to the
 * height of the call they do not.
 */
function relativeHeights(printed: string, burnHeight: number): string {
  return printed.replace(/\(eta u(\d+)\)/g, (_match, eta: string) => `(eta +${BigInt(eta) - BigInt(burnHeight)})`);
}

function measure(
  operation: string,
  token: Token | null,
  contract: string,
  fn: string,
  args: ClarityValue[],
  sender: string,
  postConditions: PostCondition[] = [],
): Measurement {
  const callText = `${contract.split(".")[1]}::${fn}`;
  const burnHeight = simnet.burnBlockHeight;
  const outcome = callPublic(contract, fn, args, sender);
  const cost = expectOk(`${operation} (${token ?? "no token"}) ${callText}`, outcome);
  const printed = outcome.events
    .filter((e) => e.event === "print_event" && e.data.value !== undefined)
    .map((e) => relativeHeights(cvToString(e.data.value as ClarityValue), burnHeight));
  return {
    operation,
    token,
    call: callText,
    cost,
    result: cvToString(outcome.result),
    printed,
    sent: { contract, fn, args, postConditions },
  };
}

// ---------------------------------------------------------------------------
// Scenario: roles, money, switches
// ---------------------------------------------------------------------------

/** One vault's run: its calls, measured in order. */
type VaultRun = { vault: string; out: Measurement[] };

const POLICY_IDS_50 = Array.from({ length: 50 }, (_, i) => BigInt(i + 1));
const ids = (list: readonly bigint[]) => Cl.list(list.map((id) => Cl.uint(id)));

function signedVoucher(vault: string, provider: string, token: Token, nonce: bigint): WithdrawalVoucher & { signature: string } {
  const body: WithdrawalVoucher = {
    vault,
    provider,
    amount: AMOUNT,
    tokenContract: token === "STX" ? null : SBTC,
    nonce,
    expiresAt: BigInt(simnet.stacksBlockHeight + 100),
  };
  return { ...body, signature: signWithdrawalVoucher(body, CHAIN_ID, BACKEND_KEY) };
}

/** The backend key takes the operator and signer roles the two-step way; the operator's steps are measured. */
function handOverHotKeys({ vault, out }: VaultRun): void {
  const propose = (role: string, who: string) => [Cl.stringAscii(role), Cl.principal(who)];
  out.push(measure(VAULT_FUNCTIONS.proposeRole, null, vault, VAULT_FUNCTIONS.proposeRole, propose("operator", backend), deployer));
  setup(vault, VAULT_FUNCTIONS.proposeRole, propose("signer", backend), deployer);
  simnet.mineEmptyBlocks(ROLE_DELAY);
  out.push(measure(VAULT_FUNCTIONS.acceptRole, null, vault, VAULT_FUNCTIONS.acceptRole, [Cl.stringAscii("operator")], backend));
  setup(vault, VAULT_FUNCTIONS.acceptRole, [Cl.stringAscii("signer")], backend);
  // The guardian's answer to a proposal made with a stolen admin key.
  setup(vault, VAULT_FUNCTIONS.proposeRole, propose("guardian", carol), deployer);
  out.push(measure(VAULT_FUNCTIONS.cancelRole, null, vault, VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii("guardian")], deployer));
}

/** Deposit, premium, lock, release, settlement and voucher withdrawal of one token. */
function moneyCalls({ vault, out }: VaultRun, token: Token, voucherNonce: bigint): void {
  const t = tokenArg(token);
  // Seed liquidity so that collateral can be locked and funds withdrawn.
  setup(vault, VAULT_FUNCTIONS.depositFunds, [Cl.uint(100n * AMOUNT), t], alice);

  out.push(measure(VAULT_FUNCTIONS.depositFunds, token, vault, VAULT_FUNCTIONS.depositFunds, [Cl.uint(AMOUNT), t], alice));
  out.push(measure(VAULT_FUNCTIONS.payPremium, token, vault, VAULT_FUNCTIONS.payPremium, [Cl.uint(1), Cl.uint(AMOUNT), t], bob));
  for (const [label, policyIds] of [["1 id", [1n]], ["50 ids", POLICY_IDS_50]] as const) {
    out.push(
      measure(`${VAULT_FUNCTIONS.lockCollateralAggregate} (${label})`, token, vault, VAULT_FUNCTIONS.lockCollateralAggregate, [ids(policyIds), Cl.uint(AMOUNT), t], backend),
    );
  }
  for (const [label, policyIds] of [["1 id", [1n]], ["50 ids", POLICY_IDS_50]] as const) {
    out.push(
      measure(`${VAULT_FUNCTIONS.releaseCollateralAggregate} (${label})`, token, vault, VAULT_FUNCTIONS.releaseCollateralAggregate, [ids(policyIds), Cl.uint(AMOUNT), t], backend),
    );
  }
  // Settlement pays out of locked collateral: lock some first.
  setup(vault, VAULT_FUNCTIONS.lockCollateralAggregate, [ids([1n]), Cl.uint(AMOUNT), t], backend);
  out.push(measure(VAULT_FUNCTIONS.settlePolicy, token, vault, VAULT_FUNCTIONS.settlePolicy, [Cl.uint(1), Cl.principal(carol), Cl.uint(AMOUNT), t], backend));
  const v = signedVoucher(vault, alice, token, voucherNonce);
  out.push(
    measure(
      WITHDRAW_OPERATION,
      token,
      vault,
      VAULT_FUNCTIONS.withdrawFunds,
      [Cl.uint(v.amount), t, Cl.uint(v.nonce), Cl.uint(v.expiresAt), Cl.bufferFromHex(v.signature)],
      alice,
    ),
  );
}

/** The admin's outflow limit (set to its defaults: nothing changes) and the guardian's pause, undone by the admin. */
function switchCalls({ vault, out }: VaultRun): void {
  out.push(
    measure(VAULT_FUNCTIONS.setOutflowLimit, null, vault, VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(1_000), Cl.uint(1_000_000_000), Cl.uint(10_000_000)], deployer),
  );
  out.push(measure(VAULT_FUNCTIONS.pause, null, vault, VAULT_FUNCTIONS.pause, [], deployer));
  out.push(measure(VAULT_FUNCTIONS.unpause, null, vault, VAULT_FUNCTIONS.unpause, [], deployer));
}

// ---------------------------------------------------------------------------
// Scenario: checkpoint, shutdown, exit
// ---------------------------------------------------------------------------

/** What every provider on the exit path deposits of each token before the checkpoint. */
const EXIT_DEPOSIT = AMOUNT;

/** A depth provider's leaf: one deposit of each token, nothing withdrawn. */
function exitLeafOf(provider: string): ExitLeaf {
  return { provider, stx: EXIT_DEPOSIT, sbtc: EXIT_DEPOSIT, stxIn: EXIT_DEPOSIT, stxOut: 0n, sbtcIn: EXIT_DEPOSIT, sbtcOut: 0n };
}

/** A node standing for a subtree of other providers: any hash, small sums. */
function arbitraryNode(depth: number): SumNode {
  return {
    hash: sha256(utf8ToBytes(`bithedge contract-costs bench: sibling at depth ${depth}`)),
    stx: 1_000n + BigInt(depth),
    sbtc: 100n + BigInt(depth),
  };
}

type ExitTree = { root: SumNode; leaves: Map<ExitDepth, ExitLeaf>; proofs: Map<ExitDepth, ProofStep[]> };

/**
 * One root with a provider's leaf at each of EXIT_DEPTHS. The deepest leaf is
 * folded up through MAX_PROOF_DEPTH siblings, exactly as the vault folds a
 * proof (`nodeHash`, the sibling on the side `isLeft` says); the sibling at
 * depth d is the leaf of the provider at depth d where there is one, else an
 * arbitrary node. A leaf hanging off the path at depth d proves itself with
 * the path node beside it, then the path's siblings above: d steps.
 */
function exitTree(): ExitTree {
  const leaves = new Map<ExitDepth, ExitLeaf>(EXIT_DEPTHS.map((d) => [d, exitLeafOf(depthProvider(d))]));
  const deepest = leaves.get(MAX_PROOF_DEPTH) as ExitLeaf;
  const siblings: ProofStep[] = []; // siblings[d]: the path's sibling at depth d
  const path: SumNode[] = []; // path[d]: the path's node at depth d; path[0] is the root
  let node = leafHash(deepest);
  path[MAX_PROOF_DEPTH] = node;
  for (let d = MAX_PROOF_DEPTH; d >= 1; d--) {
    const leaf = d < MAX_PROOF_DEPTH ? leaves.get(d as ExitDepth) : undefined;
    const sibling: ProofStep = { ...(leaf ? leafHash(leaf) : arbitraryNode(d)), isLeft: d % 2 === 0 };
    siblings[d] = sibling;
    node = sibling.isLeft ? nodeHash(sibling, node) : nodeHash(node, sibling);
    path[d - 1] = node;
  }
  const above = (d: number) => siblings.slice(1, d).reverse();
  const proofs = new Map<ExitDepth, ProofStep[]>(
    EXIT_DEPTHS.map((d) => {
      if (d === MAX_PROOF_DEPTH) return [d, [...siblings.slice(1)].reverse()];
      const beside = { ...(path[d] as SumNode), isLeft: !(siblings[d] as ProofStep).isLeft };
      return [d, [beside, ...above(d)]];
    }),
  );
  const root = path[0] as SumNode;
  for (const d of EXIT_DEPTHS) {
    const proof = proofs.get(d) as ProofStep[];
    if (proof.length !== d || !verifyMerkleSumProof(root, leaves.get(d) as ExitLeaf, proof)) {
      throw new BenchBroken(`synthetic exit proof of depth ${d} does not verify (${proof.length} steps)`);
    }
  }
  return { root, leaves, proofs };
}

/** `publish-leaves`' list: the depth providers' leaves, then made-up providers up to PUBLISHED_LEAVES. */
function publishedLeaves(tree: ExitTree): ClarityValue {
  const known = [...tree.leaves.values()];
  const others = Array.from({ length: PUBLISHED_LEAVES - known.length }, (_, i) =>
    exitLeafOf(benchAddress(`published provider ${i}`)),
  );
  return Cl.list([...known, ...others].map(publishedLeafCV));
}

function tupleUint(value: ClarityValue, key: string): bigint {
  const inner = value.type === "some" ? value.value : value;
  if (inner.type !== "tuple") throw new BenchBroken(`expected a tuple, got ${cvToString(value)}`);
  const field = inner.value[key];
  if (field?.type !== "uint") throw new BenchBroken(`tuple ${cvToString(value)} has no uint ${key}`);
  return BigInt(field.value);
}

/** `post-checkpoint`'s arguments for `tree`, taken at the vault's flows now (the most a checkpoint may claim). */
function checkpointArgs(vault: string, tree: ExitTree): ClarityValue[] {
  const flows = readOnly(vault, VAULT_FUNCTIONS.getFlows);
  return [
    Cl.buffer(tree.root.hash),
    Cl.uint(tree.root.stx),
    Cl.uint(tree.root.sbtc),
    Cl.uint(tupleUint(flows, "seq")),
    Cl.tuple({
      "stx-in": Cl.uint(tupleUint(flows, "stx-in")),
      "stx-out": Cl.uint(tupleUint(flows, "stx-out")),
      "sbtc-in": Cl.uint(tupleUint(flows, "sbtc-in")),
      "sbtc-out": Cl.uint(tupleUint(flows, "sbtc-out")),
    }),
    Cl.uint(HEADLINE_LEAF_COUNT),
  ];
}

/** Every provider on the exit path deposits both tokens; their records are what the checkpoint's leaves sum up. */
function exitDeposits({ vault }: VaultRun, providers: readonly string[]): void {
  for (const provider of providers) {
    for (const token of TOKENS) setup(vault, VAULT_FUNCTIONS.depositFunds, [Cl.uint(EXIT_DEPOSIT), tokenArg(token)], provider);
  }
}

/**
 * The operator posts a checkpoint, the guardian vetoes it, the operator posts
 * it again and publishes its leaves.
 */
function checkpointCalls(run: VaultRun, tree: ExitTree): void {
  const { vault, out } = run;
  exitDeposits(run, [...depthProviders.values()]);
  const args = checkpointArgs(vault, tree);
  out.push(measure(VAULT_FUNCTIONS.postCheckpoint, null, vault, VAULT_FUNCTIONS.postCheckpoint, args, backend));
  out.push(measure(VAULT_FUNCTIONS.vetoCheckpoint, null, vault, VAULT_FUNCTIONS.vetoCheckpoint, [], deployer));
  setup(vault, VAULT_FUNCTIONS.postCheckpoint, args, backend);
  const epoch = tupleUint(readOnly(vault, VAULT_FUNCTIONS.getCheckpoint), "epoch");
  out.push(
    measure(`${VAULT_FUNCTIONS.publishLeaves} (${PUBLISHED_LEAVES} leaves)`, null, vault, VAULT_FUNCTIONS.publishLeaves, [Cl.uint(epoch), Cl.uint(0), publishedLeaves(tree)], backend),
  );
}

/** A provider new since the checkpoint deposits; the guardian revokes the hot keys; the admin shuts the vault down once the checkpoint has stood. */
function shutdownCalls(run: VaultRun): void {
  const { vault, out } = run;
  exitDeposits(run, [lateProvider]);
  out.push(measure(VAULT_FUNCTIONS.revokeHotKeys, null, vault, VAULT_FUNCTIONS.revokeHotKeys, [], deployer));
  simnet.mineEmptyBlocks(CHECKPOINT_VETO_WINDOW);
  out.push(measure(VAULT_FUNCTIONS.shutdown, null, vault, VAULT_FUNCTIONS.shutdown, [], deployer));
}

/** What a wallet sending the claim in deny mode attaches: the vault sends at most the deposit back. */
function claimPostCondition(vault: string, token: Token): PostCondition {
  const sends = Pc.principal(vault as `${string}.${string}`).willSendLte(EXIT_DEPOSIT);
  return token === "STX" ? sends.ustx() : sends.ft(SBTC as `${string}.${string}`, "sbtc-token");
}

function claimOperation(depth: ExitDepth | null): string {
  return depth === null ? `${VAULT_FUNCTIONS.claimExit} (no leaf)` : `${VAULT_FUNCTIONS.claimExit} (leaf, proof depth ${depth})`;
}

/** Proof depth of a claim-exit row, from its name; null for any other row. */
function claimDepthOf(operation: string): number | null {
  const match = /^claim-exit \(leaf, proof depth (\d+)\)$/.exec(operation);
  return match ? Number(match[1]) : null;
}

/** A claim must pay out (a paid 0 transfers nothing and would cost less than a real claim). */
function measureClaim(vault: string, token: Token, provider: string, depth: ExitDepth | null, tree: ExitTree): Measurement {
  const leaf = depth === null ? null : (tree.leaves.get(depth) as ExitLeaf);
  const proof = depth === null ? [] : (tree.proofs.get(depth) as ProofStep[]);
  if (leaf && readOnly(vault, VAULT_FUNCTIONS.verifyExitProof, [Cl.principal(provider), exitLeafCV(leaf), exitProofCV(proof)]).type !== "true") {
    throw new BenchBroken(`the vault rejects the synthetic proof of depth ${depth}`);
  }
  const args = [tokenArg(token), leaf ? Cl.some(exitLeafCV(leaf)) : Cl.none(), exitProofCV(proof)];
  const m = measure(claimOperation(depth), token, vault, VAULT_FUNCTIONS.claimExit, args, provider, [claimPostCondition(vault, token)]);
  if (m.result !== `(ok u${EXIT_DEPOSIT})`) {
    throw new BenchBroken(`${m.operation} (${token}) returned ${m.result}, expected (ok u${EXIT_DEPOSIT}): the claim must pay in full`);
  }
  return m;
}

/** Every depth provider claims each token with their proof; the late provider claims without a leaf. */
function exitClaims({ vault, out }: VaultRun, tree: ExitTree): void {
  for (const token of TOKENS) {
    for (const depth of EXIT_DEPTHS) out.push(measureClaim(vault, token, depthProvider(depth), depth, tree));
    out.push(measureClaim(vault, token, lateProvider, null, tree));
  }
}

/**
 * Configures a freshly deployed vault (deployer is its admin and guardian),
 * and takes it through its whole life, measuring every public function.
 * Every call must return `(ok ...)`.
 */
function runVault(vault: string, tree: ExitTree): Measurement[] {
  const run: VaultRun = { vault, out: [] };
  setup(vault, VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer);
  handOverHotKeys(run);
  // Nonces are per provider and per vault: every copy of the vault sees the same vouchers.
  TOKENS.forEach((token, i) => moneyCalls(run, token, BigInt(i + 1)));
  switchCalls(run);
  checkpointCalls(run, tree);
  shutdownCalls(run);
  exitClaims(run, tree);
  return run.out;
}

/** Minimal contract for the STX baseline: nothing but the transfer. */
const BARE_STX_SOURCE = `(define-public (transfer (amount uint) (recipient principal))
  (stx-transfer? amount tx-sender recipient))
`;

/** Minimal contract for the sBTC baseline: nothing but the token's SIP-010 transfer. */
const BARE_SBTC_SOURCE = `(define-public (transfer (amount uint) (recipient principal))
  (contract-call? .sbtc-token transfer amount tx-sender recipient none))
`;

// ---------------------------------------------------------------------------
// Transaction length
// ---------------------------------------------------------------------------

/** Any key gives the same length: a single-signature spending condition holds a 20-byte hash and a 65-byte signature. */
const SENDER_PUBLIC_KEY = privateKeyToPublic(BACKEND_KEY);

/**
 * Bytes of the call as a signed single-signature transaction (an unsigned one
 * already reserves the 65-byte signature), in deny mode with the call's
 * post-conditions.
 */
async function transactionLength(sent: Sent): Promise<number> {
  const [contractAddress, contractName] = sent.contract.split(".") as [string, string];
  const transaction = await makeUnsignedContractCall({
    contractAddress,
    contractName,
    functionName: sent.fn,
    functionArgs: sent.args,
    publicKey: SENDER_PUBLIC_KEY,
    network: STACKS_TESTNET,
    fee: 0n,
    nonce: 0n,
    postConditionMode: PostConditionMode.Deny,
    postConditions: sent.postConditions,
    validateWithAbi: false,
  });
  return transaction.serializeBytes().byteLength;
}

// ---------------------------------------------------------------------------
// Vault source variants (for the source-size experiment)
// ---------------------------------------------------------------------------

/** Removes `;` comments (outside string literals), trailing spaces and blank lines. */
function stripComments(source: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    if (inString) {
      out += ch;
      if (ch === "\\") {
        out += source[i + 1] ?? "";
        i++;
      } else if (ch === '"') {
        inString = false;
      }
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch === ";") {
      while (i < source.length && source[i] !== "\n") i++;
      out += "\n";
    } else {
      out += ch;
    }
  }
  return out
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .join("\n")
    .concat("\n");
}

/** Comments stripped, then every run of whitespace outside strings collapsed to one space, none inside parentheses' edges. */
function minify(source: string): string {
  const noComments = stripComments(source);
  let out = "";
  let inString = false;
  let pendingSpace = false;
  for (let i = 0; i < noComments.length; i++) {
    const ch = noComments[i] as string;
    if (inString) {
      out += ch;
      if (ch === "\\") {
        out += noComments[i + 1] ?? "";
        i++;
      } else if (ch === '"') {
        inString = false;
      }
      continue;
    }
    if (/\s/.test(ch)) {
      pendingSpace = true;
      continue;
    }
    if (pendingSpace && out.length > 0 && !out.endsWith("(") && ch !== ")") out += " ";
    pendingSpace = false;
    if (ch === '"') inString = true;
    out += ch;
  }
  return out + "\n";
}

// ---------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------

type VaultVariant = { name: string; contract: string; sourceBytes: number; measurements: Measurement[] };

function measureBaselines(): { baselines: Record<Token, Measurement>; direct: Measurement } {
  setup(SBTC, "mint", [Cl.uint(1_000n * AMOUNT), Cl.principal(alice)], deployer);
  setup(SBTC, "mint", [Cl.uint(1_000n * AMOUNT), Cl.principal(bob)], deployer);
  const bareStx = deploy("bare-stx-transfer", BARE_STX_SOURCE);
  const bareSbtc = deploy("bare-sbtc-transfer", BARE_SBTC_SOURCE);
  const bareArgs = [Cl.uint(AMOUNT), Cl.principal(carol)];
  return {
    baselines: {
      STX: measure("bare stx-transfer? (baseline)", "STX", bareStx, "transfer", bareArgs, alice),
      sBTC: measure("bare SIP-010 transfer (baseline)", "sBTC", bareSbtc, "transfer", bareArgs, alice),
    },
    direct: measure(
      "SIP-010 transfer as its own transaction (reference)",
      "sBTC",
      SBTC,
      "transfer",
      [Cl.uint(AMOUNT), Cl.principal(alice), Cl.principal(carol), Cl.none()],
      alice,
    ),
  };
}

/** The exit providers are simnet-less addresses: give them STX and sBTC for a deposit of each into every copy of the vault. */
function fundExitProviders(): void {
  for (const provider of exitProviders) {
    const funded = quietly(() => simnet.transferSTX(10n * EXIT_DEPOSIT, provider, deployer));
    if (funded.result.type !== "ok") throw new BenchBroken(`funding ${provider} returned ${cvToString(funded.result)}`);
    setup(SBTC, "mint", [Cl.uint(10n * EXIT_DEPOSIT), Cl.principal(provider)], deployer);
  }
}

function deployVariants(): VaultVariant[] {
  const vaultSource = readFileSync(path.join(ROOT, "contracts", "liquidity-pool.clar"), "utf8");
  const strippedSource = stripComments(vaultSource);
  const minifiedSource = minify(vaultSource);
  const variant = (name: string, contract: string, source: string): VaultVariant => ({
    name,
    contract,
    sourceBytes: Buffer.byteLength(source, "utf8"),
    measurements: [],
  });
  return [
    variant("as deployed (contracts/liquidity-pool.clar)", `${deployer}.liquidity-pool`, vaultSource),
    variant("copy, comments stripped", deploy("liquidity-pool-nocomments", strippedSource), strippedSource),
    variant("copy, comments stripped + whitespace collapsed", deploy("liquidity-pool-minified", minifiedSource), minifiedSource),
  ];
}

/** The copies must behave exactly like the original: same results and the same printed events, call for call. */
function checkVariantsAgree(variants: readonly VaultVariant[]): void {
  const reference = variants[0]?.measurements ?? [];
  for (const variant of variants.slice(1)) {
    variant.measurements.forEach((m, i) => {
      const ref = reference[i];
      const same = ref && ref.operation === m.operation && ref.result === m.result && ref.printed.join("\n") === m.printed.join("\n");
      if (!same) {
        throw new BenchBroken(
          `${variant.name}: ${m.operation} (${m.token ?? "no token"}) returned ${m.result} and printed [${m.printed.join(", ")}], ` +
            `the original vault ${ref ? `returned ${ref.result} and printed [${ref.printed.join(", ")}]` : "made no such call"}`,
        );
      }
    });
  }
}

let baselines: Record<Token, Measurement>;
/** SIP-010 `transfer` called by a transaction directly on the token: a reference, not the baseline. */
let directSbtcTransfer: Measurement;
let variants: VaultVariant[];
let tree: ExitTree;

try {
  ({ baselines, direct: directSbtcTransfer } = measureBaselines());
  fundExitProviders();
  tree = exitTree();
  variants = deployVariants();
  for (const variant of variants) variant.measurements = runVault(variant.contract, tree);
  checkVariantsAgree(variants);
} catch (error) {
  if (error instanceof BenchBroken) {
    console.error(`bench broken: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const original = variants[0] as VaultVariant;
/** Transaction length of each of the original vault's calls, in bytes. */
const txLength = new Map<Measurement, number>();
for (const m of original.measurements) txLength.set(m, await transactionLength(m.sent));

// ---------------------------------------------------------------------------
// Goals and block shares
// ---------------------------------------------------------------------------

const limit = blockLimit as Cost;

/** A goal on block share relative to the bare transfer: at most num/den × the baseline's. */
type RatioGoal = { kind: "ratio"; num: number; den: number };
/** A goal on block share itself: at most `ppm` parts per million of a block. */
type ShareGoal = { kind: "share"; ppm: number };
type Goal = RatioGoal | ShareGoal;

const RATIO_GOALS: Record<string, RatioGoal> = {
  [VAULT_FUNCTIONS.depositFunds]: { kind: "ratio", num: 2, den: 1 },
  [VAULT_FUNCTIONS.settlePolicy]: { kind: "ratio", num: 7, den: 4 },
  [WITHDRAW_OPERATION]: { kind: "ratio", num: 5, den: 2 },
};
const HEADLINE_CLAIM = claimOperation(HEADLINE_DEPTH);
const CLAIM_GOAL: ShareGoal = { kind: "share", ppm: 1_000_000 / CLAIMS_PER_BLOCK_GOAL };

function goalFor(operation: string): Goal | undefined {
  return operation === HEADLINE_CLAIM ? CLAIM_GOAL : RATIO_GOALS[operation];
}

const fmtInt = (n: number): string => n.toLocaleString("en-US");
const fmtRatio = (r: number | null): string => (r === null ? "n/a" : `${r.toFixed(2)}×`);
/** Parts per million of the block limit. */
const fmtPpm = (share: number): string => `${(share * 1e6).toFixed(1)} ppm`;

function goalText(goal: Goal): string {
  return goal.kind === "ratio" ? `≤ ${goal.num / goal.den}×` : `≤ ${fmtInt(goal.ppm)} ppm`;
}

/** The dimension that fills a block first. */
function fullestDimension(cost: Cost): Dimension {
  return DIMENSIONS.reduce((a, b) => (cost[b] / limit[b] > cost[a] / limit[a] ? b : a));
}

type Share = { max: number; maxDimension: Dimension; sum: number };

/** Fraction of the block limit the call takes: the largest dimension, and the sum over dimensions. */
function shareOf(cost: Cost): Share {
  const maxDimension = fullestDimension(cost);
  const sum = DIMENSIONS.reduce((s, d) => s + cost[d] / limit[d], 0);
  return { max: cost[maxDimension] / limit[maxDimension], maxDimension, sum };
}

/**
 * Whether the goal is met, compared in integers: the figures sit exactly on
 * some goals (7 reads against 4 is 1.75×), where a float quotient could land
 * a hair either side.
 */
function meetsGoal(cost: Cost, base: Cost, goal: Goal): boolean {
  const d = fullestDimension(cost);
  if (goal.kind === "share") return BigInt(cost[d]) * 1_000_000n <= BigInt(goal.ppm) * BigInt(limit[d]);
  const e = fullestDimension(base);
  // cost[d] / limit[d] <= num/den × base[e] / limit[e]
  return BigInt(cost[d]) * BigInt(limit[e]) * BigInt(goal.den) <= BigInt(goal.num) * BigInt(base[e]) * BigInt(limit[d]);
}

/** How many such calls fit one block by their costs (the fullest dimension decides). */
function callsPerBlock(cost: Cost): number {
  return Math.min(...DIMENSIONS.filter((d) => cost[d] > 0).map((d) => Math.floor(limit[d] / cost[d])));
}

const callsPerBlockByLength = (bytes: number): number => Math.floor(BLOCK_LENGTH_LIMIT / bytes);

/**
 * Every call pays runtime for loading the contract, one unit per byte of
 * source (the source-size experiment measures the slope). Even the minified
 * vault costs this much runtime before its first expression runs.
 */
function loadRuntimeFloor(): number {
  const deployed = variants[0] as VaultVariant;
  const minified = variants[2] as VaultVariant;
  const a = deployed.measurements[0]?.cost.runtime ?? 0;
  const b = minified.measurements[0]?.cost.runtime ?? 0;
  const perByte = (a - b) / (deployed.sourceBytes - minified.sourceBytes);
  return perByte * minified.sourceBytes;
}
const runtimeFloor = loadRuntimeFloor();

type Row = {
  operation: string;
  token: Token | null;
  call: string;
  cost: Cost;
  /** Each dimension × the bare transfer of the same token; null for calls that move no token. */
  ratio: Record<Dimension, number | null> | null;
  blockShare: Share;
  blockShareRatio: { max: number | null; sum: number | null };
  callsPerBlock: number;
  /** Bytes of the call as a transaction (vault calls only). */
  txLength: number | null;
  goal: {
    text: string;
    pass: boolean;
    /** The figure the goal is judged on, as shown. */
    figure: string;
    runtimeRatio: number | null;
    /** Runtime that loading even the minified vault costs, as a ratio to the bare transfer's whole runtime. */
    runtimeFloorRatio: number | null;
    /** Ratio of block share to the direct token call (sBTC only), for reference. */
    shareRatioVsDirectCall: number | null;
  } | null;
};

const ratio = (value: number, base: number): number | null => (base === 0 ? null : value / base);

function goalOf(m: Measurement, share: Share): Row["goal"] {
  const goal = goalFor(m.operation);
  if (!goal || m.token === null) return null;
  const base = baselines[m.token].cost;
  const shareRatio = share.max / shareOf(base).max;
  const isRatio = goal.kind === "ratio";
  return {
    text: goalText(goal),
    pass: meetsGoal(m.cost, base, goal),
    figure: isRatio ? fmtRatio(shareRatio) : fmtPpm(share.max),
    runtimeRatio: isRatio ? m.cost.runtime / base.runtime : null,
    runtimeFloorRatio: isRatio ? runtimeFloor / base.runtime : null,
    shareRatioVsDirectCall: isRatio && m.token === "sBTC" ? share.max / shareOf(directSbtcTransfer.cost).max : null,
  };
}

function rowOf(m: Measurement): Row {
  const share = shareOf(m.cost);
  const base = m.token === null ? null : baselines[m.token].cost;
  const baseShare = base ? shareOf(base) : null;
  return {
    operation: m.operation,
    token: m.token,
    call: m.call,
    cost: m.cost,
    ratio: base ? (Object.fromEntries(DIMENSIONS.map((d) => [d, ratio(m.cost[d], base[d])])) as Record<Dimension, number | null>) : null,
    blockShare: share,
    blockShareRatio: {
      max: baseShare ? ratio(share.max, baseShare.max) : null,
      sum: baseShare ? ratio(share.sum, baseShare.sum) : null,
    },
    callsPerBlock: callsPerBlock(m.cost),
    txLength: txLength.get(m) ?? null,
    goal: goalOf(m, share),
  };
}

const isClaim = (operation: string) => operation.startsWith(VAULT_FUNCTIONS.claimExit);
/** Claims shown in the main table, beside the transfers: the headline depth and the claim without a leaf. */
const inMainTable = (m: Measurement) => !isClaim(m.operation) || m.operation === HEADLINE_CLAIM || claimDepthOf(m.operation) === null;

const rowByMeasurement = new Map(original.measurements.map((m) => [m, rowOf(m)]));
const vaultRow = (m: Measurement) => rowByMeasurement.get(m) as Row;
/** Per token: baseline, (sBTC) the direct call, then the vault's calls that move the token. */
const mainRows: Row[] = TOKENS.flatMap((token) => [
  rowOf(baselines[token]),
  ...(token === "sBTC" ? [rowOf(directSbtcTransfer)] : []),
  ...original.measurements.filter((m) => m.token === token && inMainTable(m)).map(vaultRow),
]);
const adminRows: Row[] = original.measurements.filter((m) => m.token === null).map(vaultRow);
const claimRows: Row[] = original.measurements.filter((m) => isClaim(m.operation)).map(vaultRow);
const allVaultRows: Row[] = original.measurements.map(vaultRow);
const goalRows: Row[] = allVaultRows.filter((r) => r.goal);

function headlineClaim(token: Token): Row {
  return claimRows.find((r) => r.operation === HEADLINE_CLAIM && r.token === token) as Row;
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

const verdict = (pass: boolean): string => (pass ? "PASS" : "FAIL");
const shareCell = (r: Row) => `${fmtPpm(r.blockShare.max)} ${r.blockShare.maxDimension}`;

const MAIN_HEADER = [
  "Operation",
  "Token",
  ...DIMENSIONS.map((d) => `${DIMENSION_LABEL[d]} (× bare)`),
  "Block share, max dim (× bare)",
  "Block share, Σ dims (× bare)",
  "Goal (block share)",
];

function goalCell(row: Row): string {
  return row.goal ? `${row.goal.text}: ${verdict(row.goal.pass)} (${row.goal.figure})` : "—";
}

function mainCells(row: Row): string[] {
  return [
    row.operation,
    row.token ?? "—",
    ...DIMENSIONS.map((d) => `${fmtInt(row.cost[d])} (${fmtRatio(row.ratio?.[d] ?? null)})`),
    `${shareCell(row)} (${fmtRatio(row.blockShareRatio.max)})`,
    `${fmtPpm(row.blockShare.sum)} (${fmtRatio(row.blockShareRatio.sum)})`,
    goalCell(row),
  ];
}

const ADMIN_HEADER = [
  "Operation",
  ...DIMENSIONS.map((d) => DIMENSION_LABEL[d]),
  "Block share, max dim",
  "Block share, Σ dims",
  "Calls per block (costs)",
  "Tx length (B)",
  "Calls per block (length)",
];

function adminCells(row: Row): string[] {
  const length = row.txLength ?? 0;
  return [
    row.operation,
    ...DIMENSIONS.map((d) => fmtInt(row.cost[d])),
    shareCell(row),
    fmtPpm(row.blockShare.sum),
    fmtInt(row.callsPerBlock),
    fmtInt(length),
    fmtInt(callsPerBlockByLength(length)),
  ];
}

const CLAIM_HEADER = [
  "Claim",
  "Token",
  "Proof steps",
  "Read count",
  "Read length",
  "Runtime",
  "Block share, max dim",
  "Claims per block (costs)",
  "Tx length (B)",
  "Claims per block (length)",
  "Goal (block share)",
];

function claimCells(row: Row): string[] {
  const length = row.txLength ?? 0;
  return [
    row.operation,
    row.token ?? "—",
    String(claimDepthOf(row.operation) ?? 0),
    fmtInt(row.cost.readCount),
    fmtInt(row.cost.readLength),
    fmtInt(row.cost.runtime),
    shareCell(row),
    fmtInt(row.callsPerBlock),
    fmtInt(length),
    fmtInt(callsPerBlockByLength(length)),
    goalCell(row),
  ];
}

function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" │ ");
  const rule = widths.map((w) => "─".repeat(w)).join("─┼─");
  return [line(header), rule, ...body.map(line)].join("\n");
}

/** Markdown table; the first `textColumns` columns are left-aligned, the rest (figures) right-aligned. */
function markdownTable(header: string[], body: string[][], textColumns = 2): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `| ${header.map((_, i) => (i < textColumns ? "---" : "---:")).join(" | ")} |`,
    ...body.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

// Source-size experiment: the same calls on the three copies of the vault.
const SOURCE_HEADER = [
  "Operation",
  "Token",
  ...variants.map((v, i) => `Runtime / read length, ${["as deployed", "no comments", "minified"][i] ?? v.name} (${fmtInt(v.sourceBytes)} B)`),
  "Runtime × bare (deployed → no comments → minified)",
];
const sourceBody: string[][] = original.measurements.map((m, i) => {
  const perVariant = variants.map((v) => v.measurements[i]?.cost as Cost);
  const base = m.token === null ? null : baselines[m.token].cost.runtime;
  const trend = base === null ? "—" : perVariant.map((c) => fmtRatio(c.runtime / base)).join(" → ");
  return [m.operation, m.token ?? "—", ...perVariant.map((c) => `${fmtInt(c.runtime)} / ${fmtInt(c.readLength)}`), trend];
});

// ---------------------------------------------------------------------------
// Notes and goal lines
// ---------------------------------------------------------------------------

const baselineNote =
  "Baselines: the cheapest way for Clarity code to move the token, so that each ratio is what the vault adds on top of the transfer it performs. " +
  "STX: a native token-transfer transaction executes no Clarity (simnet reports no Clarity costs for it), so the baseline is a minimal contract " +
  "deployed by this bench only, whose single public function is `(stx-transfer? amount tx-sender recipient)` " +
  `(${Buffer.byteLength(BARE_STX_SOURCE, "utf8")} bytes). ` +
  "sBTC: the same minimal contract around the token's SIP-010 `(contract-call? .sbtc-token transfer amount tx-sender recipient none)` " +
  `(${Buffer.byteLength(BARE_SBTC_SOURCE, "utf8")} bytes), on the local sbtc-token stand-in. ` +
  "The sBTC table also shows `transfer` sent as its own transaction to the token (reference row): any contract that moves the token — " +
  `the minimal one included — reads ${fmtInt(baselines.sBTC.cost.readCount - directSbtcTransfer.cost.readCount)} more times than that direct call ` +
  "(its own code, and the inter-contract call), so no vault can be compared with it like for like.";

const limitNote =
  `Block limit (as reported by simnet): ${DIMENSIONS.map((d) => `${d} ${fmtInt(limit[d])}`).join(", ")}; ` +
  `block length ${fmtInt(BLOCK_LENGTH_LIMIT)} bytes (stacks-core's MAX_BLOCK_LEN, 2 MiB). ` +
  "\"Block share, max dim\" is max over dimensions of cost/limit (the dimension that fills a block first), " +
  "\"Σ dims\" is the sum of cost/limit over the five dimensions (stacks-core's ProportionalDotProduct fee metric adds " +
  "the transaction-length share to this sum); both in parts per million of a block. \"Calls per block (costs)\" is how many such calls " +
  "the five cost limits admit; a block is also bounded by its length.";

const ratioGoalsText = Object.entries(RATIO_GOALS)
  .map(([operation, g]) => `${operation} ${goalText(g)}`)
  .join(", ");
const maxRatioGoal = Math.max(...Object.values(RATIO_GOALS).map((g) => g.num / g.den));
const moneyRows = allVaultRows.filter((r) => r.token !== null && !isClaim(r.operation));
const maxRuntimeShare = Math.max(...moneyRows.map((r) => r.cost.runtime / limit.runtime));
const maxMoneyShare = moneyRows.reduce((a, b) => (b.blockShare.max > a.blockShare.max ? b : a));

const goalNote =
  `Goals, judged on block share (the dimension that fills a block first, which bounds how many calls fit in a block and drives the fee): ` +
  `within a multiple of the bare transfer of the same token — ${ratioGoalsText} — and ${HEADLINE_CLAIM} ${goalText(CLAIM_GOAL)} of a block ` +
  `(at least ${fmtInt(CLAIMS_PER_BLOCK_GOAL)} claims per block). ` +
  `Runtime is shown for completeness but cannot be a goal: every call pays one runtime unit per byte of contract source to load it, ` +
  `so even the minified vault (${fmtInt(variants[2]?.sourceBytes ?? 0)} B: the same code without comments and whitespace) costs ` +
  `${fmtInt(Math.round(runtimeFloor))} runtime before its first expression runs — ` +
  `${fmtRatio(runtimeFloor / baselines.STX.cost.runtime)} the bare STX transfer and ${fmtRatio(runtimeFloor / baselines.sBTC.cost.runtime)} the bare sBTC transfer, whole. ` +
  (runtimeFloor / baselines.sBTC.cost.runtime > maxRatioGoal
    ? "That floor alone exceeds every ratio goal. "
    : "That floor alone takes much of the ratio goals. ") +
  `Runtime is also the slackest dimension: the costliest money call takes ${fmtPpm(maxRuntimeShare)} of a block's runtime, ` +
  `against ${fmtPpm(maxMoneyShare.blockShare.max)} of its ${maxMoneyShare.blockShare.maxDimension} (${maxMoneyShare.operation}, ${maxMoneyShare.token}).`;

function claimReadCounts(token: Token): string {
  return EXIT_DEPTHS.map((d) => {
    const row = claimRows.find((r) => r.operation === claimOperation(d) && r.token === token) as Row;
    return fmtInt(row.cost.readCount);
  }).join(" / ");
}

const readsAreConstant = TOKENS.every((token) => new Set(claimReadCounts(token).split(" / ")).size === 1);
const headlineLengths = TOKENS.map((t) => headlineClaim(t).txLength ?? 0);
const fewestByLength = callsPerBlockByLength(Math.max(...headlineLengths));

/** How much more of its fullest dimension the headline claim could take before missing its goal. */
function headroom(token: Token): string {
  const r = headlineClaim(token);
  const d = r.blockShare.maxDimension;
  const allowed = Math.floor((limit[d] * CLAIM_GOAL.ppm) / 1_000_000);
  return `${token} ${fmtInt(allowed - r.cost[d])} of ${fmtInt(allowed)} ${d}`;
}

const exitNote =
  `Exit claims: the claiming provider's leaf hangs off one synthetic path at depth 1, 5, 10, 20 or ${MAX_PROOF_DEPTH}; the other siblings are arbitrary nodes, ` +
  `folded up with merkleSum.ts's \`leafHash\`/\`nodeHash\` exactly as the vault folds a proof, and the vault's \`verify-exit-proof\` accepts each proof before it is claimed. ` +
  `The checkpoint is posted with leaf-count ${fmtInt(Number(HEADLINE_LEAF_COUNT))} (2^${HEADLINE_DEPTH}; the vault checks only the fold, not the tree's shape or leaf count) at the vault's flows of the moment, ` +
  `stands through its ${CHECKPOINT_VETO_WINDOW}-block veto window, and the admin shuts the vault down; every claim pays its ${fmtInt(Number(EXIT_DEPOSIT))} base units in full. ` +
  `Headroom under the goal at depth ${HEADLINE_DEPTH} (what a claim may still add): ${TOKENS.map(headroom).join(", ")}. ` +
  `Read count at proof depth ${EXIT_DEPTHS.join(" / ")}: STX ${claimReadCounts("STX")}, sBTC ${claimReadCounts("sBTC")} — ` +
  (readsAreConstant ? "constant in the proof's depth: " : "NOT constant in the proof's depth: ") +
  "the fold hashes in memory and reads nothing; only runtime and the transaction's length grow with it. " +
  `Transaction length: the claim as a signed single-signature contract call in deny mode with one post-condition (the vault sends at most the amount owed); ` +
  `at depth ${HEADLINE_DEPTH} a ${fmtInt(BLOCK_LENGTH_LIMIT)}-byte block holds, by length against by costs, ` +
  TOKENS.map((t) => {
    const r = headlineClaim(t);
    return `${t} ${fmtInt(callsPerBlockByLength(r.txLength ?? 0))} (${fmtInt(r.txLength ?? 0)} B each) against ${fmtInt(r.callsPerBlock)}`;
  }).join(", ") +
  (fewestByLength < CLAIMS_PER_BLOCK_GOAL
    ? `: length, not cost, limits claims per block, to fewer than ${fmtInt(CLAIMS_PER_BLOCK_GOAL)} — the cost goal holds, ` +
      `yet a block of nothing but depth-${HEADLINE_DEPTH} claims cannot hold ${fmtInt(CLAIMS_PER_BLOCK_GOAL)} of them.`
    : `: the block's length admits ${fmtInt(CLAIMS_PER_BLOCK_GOAL)} claims too.`);

const publishRow = adminRows.find((r) => r.operation.startsWith(VAULT_FUNCTIONS.publishLeaves)) as Row;
const publishCalls = Math.ceil(Number(HEADLINE_LEAF_COUNT) / PUBLISHED_LEAVES);

const adminNote =
  "Calls that move no token, in the order the bench makes them: the operator's role hand-over (propose, then accept after the role delay), " +
  "the guardian cancelling a proposal, the admin's outflow limit (set to its defaults), the guardian's pause and the admin's unpause, " +
  `a checkpoint posted by the operator and vetoed by the guardian, the ${PUBLISHED_LEAVES} leaves of the re-posted checkpoint published in one call, ` +
  "the guardian revoking the hot keys and the admin's shutdown. No baseline: they move nothing to compare with. " +
  "Transaction length: a signed single-signature contract call in deny mode without post-conditions (these calls move nothing). " +
  `Publishing every leaf of a tree of ${fmtInt(Number(HEADLINE_LEAF_COUNT))} providers takes ${fmtInt(publishCalls)} such calls, ` +
  `${fmtInt(Math.ceil(publishCalls / callsPerBlockByLength(publishRow.txLength ?? 1)))} blocks' length if nothing else were in them.`;

const goalLines = goalRows.map((r) => {
  const g = r.goal as NonNullable<Row["goal"]>;
  const head = `${verdict(g.pass)}  ${r.operation} (${r.token})`;
  if (g.runtimeRatio === null) {
    const length = r.txLength ?? 0;
    return (
      `${head}: block share ${g.figure} ${r.blockShare.maxDimension} (goal ${g.text}: ${fmtInt(r.callsPerBlock)} claims per block by costs); ` +
      `transaction ${fmtInt(length)} B: ${fmtInt(callsPerBlockByLength(length))} per ${fmtInt(BLOCK_LENGTH_LIMIT)}-byte block by length`
    );
  }
  const direct = g.shareRatioVsDirectCall === null ? "" : `; ${g.shareRatioVsDirectCall.toFixed(2)}× a direct token call`;
  return (
    `${head}: block share ${g.figure} bare (goal ${g.text})${direct}; ` +
    `runtime ${fmtInt(r.cost.runtime)} = ${g.runtimeRatio.toFixed(2)}× bare (load floor ${(g.runtimeFloorRatio ?? 0).toFixed(2)}×)`
  );
});

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const sdkVersion = (
  JSON.parse(readFileSync(path.join(ROOT, "node_modules", "@stacks", "clarinet-sdk", "package.json"), "utf8")) as {
    version: string;
  }
).version;
const envLine = `Simnet (@stacks/clarinet-sdk ${sdkVersion}), epoch ${simnet.currentEpoch}, Clarity 4; every transfer moves ${AMOUNT.toLocaleString("en-US")} base units.`;

const mainBody = mainRows.map(mainCells);
const adminBody = adminRows.map(adminCells);
const claimBody = claimRows.map(claimCells);

const SECTIONS = {
  admin: "Roles, switches, checkpoints, shutdown",
  claims: "Exit claims by proof depth",
  source: "Source size",
};
const sourceIntro =
  "Every call pays for loading the contract: read length and runtime both grow by one per byte of source, comments and whitespace included. " +
  "The same calls on copies of the vault deployed with comments stripped, and with whitespace collapsed as well:";

console.log(`\nliquidity-pool: Clarity execution costs vs a bare transfer\n${envLine}\n`);
console.log(textTable(MAIN_HEADER, mainBody));
console.log(`\n${baselineNote}\n${limitNote}\n${goalNote}\n`);
console.log(goalLines.join("\n"));
console.log(`\n${SECTIONS.admin}\n\n${textTable(ADMIN_HEADER, adminBody)}\n\n${adminNote}`);
console.log(`\n${SECTIONS.claims}\n\n${textTable(CLAIM_HEADER, claimBody)}\n\n${exitNote}`);
console.log(`\n${SECTIONS.source}: the same calls on copies of the vault (every call reads the whole contract source)\n`);
console.log(textTable(SOURCE_HEADER, sourceBody));

const markdown = [
  "## Contract costs",
  "",
  `_Generated by \`npm run bench:contract\` (bench/contract-costs.ts). ${envLine}_`,
  "",
  "Each cell: the call's cost, and in brackets its ratio to the bare transfer of the same token.",
  "",
  markdownTable(MAIN_HEADER, mainBody),
  "",
  `- ${baselineNote}`,
  `- ${limitNote}`,
  `- ${goalNote}`,
  "",
  "```",
  ...goalLines,
  "```",
  "",
  `### ${SECTIONS.admin}`,
  "",
  adminNote,
  "",
  markdownTable(ADMIN_HEADER, adminBody, 1),
  "",
  `### ${SECTIONS.claims}`,
  "",
  exitNote,
  "",
  markdownTable(CLAIM_HEADER, claimBody),
  "",
  `### ${SECTIONS.source}`,
  "",
  sourceIntro,
  "",
  markdownTable(SOURCE_HEADER, sourceBody),
  "",
].join("\n");

/** A measurement as recorded: without the Clarity values of its arguments. */
const recordOf = ({ sent: _sent, ...m }: Measurement) => m;

const json = {
  environment: { clarinetSdk: sdkVersion, epoch: simnet.currentEpoch, clarityVersion: 4, amount: AMOUNT },
  blockLimit: limit,
  blockLengthLimit: BLOCK_LENGTH_LIMIT,
  goals: {
    judgedOn: "blockShareMax",
    ratioToBareTransfer: Object.fromEntries(Object.entries(RATIO_GOALS).map(([op, g]) => [op, g.num / g.den])),
    [HEADLINE_CLAIM]: { maxPpm: CLAIM_GOAL.ppm, claimsPerBlock: CLAIMS_PER_BLOCK_GOAL },
  },
  baselines: {
    STX: { ...recordOf(baselines.STX), contractSource: BARE_STX_SOURCE },
    sBTC: { ...recordOf(baselines.sBTC), contractSource: BARE_SBTC_SOURCE },
  },
  directSbtcTransfer: recordOf(directSbtcTransfer),
  runtimeLoadFloor: runtimeFloor,
  exitTree: {
    root: bytesToHex(tree.root.hash),
    leafCountPosted: HEADLINE_LEAF_COUNT,
    depths: EXIT_DEPTHS,
  },
  rows: allVaultRows,
  sourceSizeVariants: variants.map((v) => ({
    name: v.name,
    contract: v.contract,
    sourceBytes: v.sourceBytes,
    measurements: v.measurements.map(({ operation, token, cost }) => ({ operation, token, cost })),
  })),
};

mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(path.join(RESULTS_DIR, "contract-costs.md"), markdown);
writeFileSync(
  path.join(RESULTS_DIR, "contract-costs.json"),
  JSON.stringify(json, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2) + "\n",
);
console.log(`\nWrote ${path.relative(ROOT, path.join(RESULTS_DIR, "contract-costs.md"))} and contract-costs.json`);

// ---------------------------------------------------------------------------
// Summary for the combined table of `npm run bench` (bench/all.ts)
// ---------------------------------------------------------------------------

const areaOf = (r: Row) => (r.token === null ? r.operation : `${r.operation} (${r.token})`);

/**
 * A call that moves a token: its block share × the bare transfer, with the
 * verdict where there is a ratio goal, and then its runtime ratio as a figure
 * (not what the goal is judged on).
 */
function moneySummaryRows(r: Row): SummaryRowInput[] {
  const area = areaOf(r);
  const share = { area, measure: "block share × bare transfer", value: fmtRatio(r.blockShareRatio.max) };
  if (!r.goal || r.goal.runtimeRatio === null) return [share];
  return [
    { ...share, goal: r.goal.text, verdict: verdictOf(r.goal.pass) },
    {
      area,
      measure: "runtime × bare transfer",
      value: `${fmtRatio(r.goal.runtimeRatio)} (contract-load floor ${fmtRatio(r.goal.runtimeFloorRatio)})`,
    },
  ];
}

/** The headline claim per token: block share against its goal, then what the block's length admits. */
function claimSummaryRows(token: Token): SummaryRowInput[] {
  const r = headlineClaim(token);
  const g = r.goal as NonNullable<Row["goal"]>;
  const length = r.txLength ?? 0;
  return [
    {
      area: areaOf(r),
      measure: "block share, max dim (claims per block by costs)",
      value: `${g.figure} ${r.blockShare.maxDimension} (${fmtInt(r.callsPerBlock)})`,
      goal: g.text,
      verdict: verdictOf(g.pass),
    },
    {
      area: areaOf(r),
      measure: `transaction length (claims per ${fmtInt(BLOCK_LENGTH_LIMIT)}-byte block)`,
      value: `${fmtInt(length)} B (${fmtInt(callsPerBlockByLength(length))})`,
    },
    {
      area: `${VAULT_FUNCTIONS.claimExit} (${token})`,
      measure: `read count at proof depth ${EXIT_DEPTHS.join(" / ")}`,
      value: claimReadCounts(token),
    },
  ];
}

function summaryRows(): SummaryRowInput[] {
  const money = allVaultRows.filter((r) => r.token !== null && !isClaim(r.operation)).flatMap(moneySummaryRows);
  const claims = TOKENS.flatMap((token) => [
    ...claimSummaryRows(token),
    ...claimRows
      .filter((r) => r.token === token && claimDepthOf(r.operation) === null)
      .map((r) => ({ area: areaOf(r), measure: "block share, max dim", value: `${fmtPpm(r.blockShare.max)} ${r.blockShare.maxDimension}` })),
  ]);
  const admin = adminRows.map((r) => ({
    area: areaOf(r),
    measure: "block share, max dim",
    value: `${fmtPpm(r.blockShare.max)} ${r.blockShare.maxDimension}`,
  }));
  return [...money, ...claims, ...admin];
}

writeSummary({
  bench: "contract-costs",
  title: "Clarity execution cost of each vault call (× a bare transfer of the same token for calls that move one)",
  command: "npm run bench:contract",
  notes: [
    "Block share: the call's largest cost dimension as a share of the block's limit (the dimension that fills a block first); goals are judged on it, × the bare transfer's for money calls.",
    "Bare transfer: a one-line contract around `stx-transfer?` (STX) or SIP-010 `transfer` (sBTC).",
    `claim-exit: a synthetic proof against a posted root (leaf-count 2^${HEADLINE_DEPTH}); the transaction length (deny mode, one post-condition) is measured against the ${fmtInt(BLOCK_LENGTH_LIMIT)}-byte block length limit, ` +
      `which admits at most ${fmtInt(fewestByLength)} depth-${HEADLINE_DEPTH} claims per block${fewestByLength < CLAIMS_PER_BLOCK_GOAL ? `: fewer than the ${fmtInt(CLAIMS_PER_BLOCK_GOAL)} of the cost goal` : ""}.`,
  ],
  rows: summaryRows(),
});
