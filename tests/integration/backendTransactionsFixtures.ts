/**
 * The shared setup of the backend-signed transaction tests
 * (tests/integration/backendTransactions.*.test.ts): one local
 * Hiro-compatible server and one Convex backend per test file, and the
 * helpers the files drive them with, over real HTTP (docs/architecture.md,
 * "Flows").
 *
 * The tests of a file share its chain and backend, in file order; each makes
 * its own providers and policies and leaves no transaction pending or in
 * flight. Fees: the local node estimates 2/4/8 µSTX per byte, so a lock,
 * release or settlement (~200 bytes) pays the backend's 1,000 µSTX floor, and
 * each replacement pays 1.5× + 1 the previous fee. A transaction is kept
 * stuck in the mempool with the server's miner minimum fee
 * (POST /_local/min-fee).
 */
import { createNetwork } from "@stacks/network";
import { makeContractCall, makeSTXTokenTransfer } from "@stacks/transactions";
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, expect, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { Doc, Id } from "../../convex/_generated/dataModel";
import { signVaultCall } from "../../convex/chain/backendTransactions";
import { readChainConfig } from "../../convex/config";
import type schema from "../../convex/schema";
import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import {
  OPERATOR_ADDRESS,
  OPERATOR_KEY,
  DEPLOYER,
  mine,
  newWallet,
  signAndBroadcast,
  startStack,
  stopStack,
  VAULT,
  type Stack,
} from "./stack";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

/** The calling file's chain and backend, set by `useBackendStack` before its first test. */
export let stack: Stack;
/** The backend with the schema's table types (stack.ts types it without them). */
export const backend = () => stack.t as unknown as TestConvex<typeof schema>;

/**
 * Starts the file's chain and backend before its first test and stops them
 * after its last. With `funded`, the file starts where earlier tests of the
 * same chain would have left it: providers' STX in the vault (a bare lock
 * written with `pendingRow` draws on what is unlocked) and the nonce counter
 * read from the chain (as `send` does on its first run).
 */
export function useBackendStack(options: { funded?: boolean } = {}): void {
  beforeAll(async () => {
    stack = await startStack();
    if (options.funded) {
      await providersWith("Balanced", [STX(1_000), STX(1_000), STX(1_000)]);
      await stack.t.mutation(internal.chainTransactions.resyncNonce, { chainNext: await chainNextNonce() });
    }
  });

  afterAll(async () => {
    await stopStack(stack);
  });
}

export type Tier = "Conservative" | "Balanced" | "Aggressive";
export type Wallet = { key: string; address: string };

/** USD with 8 decimals. */
export const usd = (dollars: number) => BigInt(dollars) * 100_000_000n;
export const STX = (n: number) => BigInt(n) * 1_000_000n;
/** Spot prices for every policy here: BTC $60,000, STX $2. */
export const PRICES = { btcPriceUsd: usd(60_000), stxPriceUsd: usd(2) };
/** The strike that puts a PUT in each tier at those prices (distance 1,667 / 1,000 / 333 bps). */
export const STRIKE: Record<Tier, bigint> = { Conservative: usd(50_000), Balanced: usd(54_000), Aggressive: usd(58_000) };
/** The backend's least fee (MIN_FEE in convex/chainTransactions.ts), what every small call here pays. */
export const MIN_FEE = 1_000n;
export const replacementFee = (fee: bigint) => fee + fee / 2n + 1n;

let nextPolicyId = 1_000n;

export async function localPost(path: string, body: object): Promise<Response> {
  return await fetch(`${stack.server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

export async function deposit(wallet: Wallet, amount: bigint, tier: Tier): Promise<void> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier });
  await signAndBroadcast(stack.server, call, wallet.key);
}

export async function providersWith(tier: Tier, amounts: bigint[]): Promise<Wallet[]> {
  const wallets: Wallet[] = [];
  for (const amount of amounts) {
    const wallet = await newWallet(stack.server);
    await deposit(wallet, amount, tier);
    wallets.push(wallet);
  }
  await mine(stack.server);
  await sync();
  return wallets;
}

/** A PUT on `protectedSats` at the tier's strike, registered and backed (its lock queued). */
export async function backedPolicy(tier: Tier, protectedSats: bigint, buyer: string) {
  const policyId = nextPolicyId++;
  const registered = await stack.t.mutation(internal.policies.registerPolicy, {
    policyId,
    buyer,
    policyType: "PUT",
    protectedAmountSats: protectedSats,
    strikePriceUsd: STRIKE[tier],
    premium: 0n,
    expiresAtBlock: 100_000n,
    collateralToken: "STX",
    ...PRICES,
  });
  const allocations = await stack.t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
  return { policyId, registered, allocations };
}

export const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
export const batch = () => stack.t.mutation(internal.vaultOperations.batch, {});
export const send = () => stack.t.action(internal.chainTransactions.send, {});
export const follow = () => stack.t.action(internal.chainTransactions.follow, {});

export async function row(id: Id<"chainTransactions">) {
  const doc = await backend().run(async (ctx) => await ctx.db.get("chainTransactions", id));
  if (!doc) throw new Error(`no chain transaction ${id}`);
  return doc;
}

export async function counter(): Promise<bigint | null> {
  return await stack.t.query(internal.chainTransactions.nextNonce, {});
}

export async function setCounter(value: bigint): Promise<void> {
  await backend().run(async (ctx) => {
    const doc = await ctx.db
      .query("syncState")
      .withIndex("by_key", (q) => q.eq("key", "backend.nextNonce"))
      .unique();
    if (!doc) throw new Error("the nonce counter has not been created yet");
    await ctx.db.patch("syncState", doc._id, { value });
  });
}

export async function opsOf(policyId: bigint) {
  return await backend().run(
    async (ctx) =>
      await ctx.db
        .query("vaultOperations")
        .withIndex("by_policy_and_kind", (q) => q.eq("policyId", policyId))
        .collect(),
  );
}

export async function policyDoc(policyId: bigint) {
  return await backend().run(
    async (ctx) =>
      await ctx.db
        .query("policies")
        .withIndex("by_policy_id", (q) => q.eq("policyId", policyId))
        .unique(),
  );
}

export async function alertsOfKind(kind: string) {
  const all = await backend().run(async (ctx) => await ctx.db.query("alerts").collect());
  return all.filter((a) => a.kind === kind);
}

/** A pending vault call written straight into the table, for tests of the transaction layer alone. */
export async function pendingRow(
  functionName: typeof VAULT_FUNCTIONS.lockCollateralAggregate | typeof VAULT_FUNCTIONS.releaseCollateralAggregate,
  amount = 1n,
): Promise<Id<"chainTransactions">> {
  return await backend().run(async (ctx) => {
    const now = Date.now();
    return await ctx.db.insert("chainTransactions", {
      functionName,
      status: "pending",
      policyIds: [],
      token: "STX",
      amount,
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    });
  });
}

export function vaultTotal(fn: typeof VAULT_FUNCTIONS.getTotalStxBalance | typeof VAULT_FUNCTIONS.getTotalStxLocked): bigint {
  return uintValue(stack.server.simnet.callReadOnlyFn(VAULT, fn, [], DEPLOYER).result);
}

export const stxBalanceOnChain = async () => vaultTotal(VAULT_FUNCTIONS.getTotalStxBalance);
export const stxLockedOnChain = async () => vaultTotal(VAULT_FUNCTIONS.getTotalStxLocked);

export function uintValue(cv: unknown): bigint {
  const value = cv as { type: string; value: bigint | string };
  if (value.type !== "uint") throw new Error(`expected a uint, got ${JSON.stringify(cv)}`);
  return BigInt(value.value);
}

export type ApiTx = {
  tx_id: string;
  tx_status: string;
  nonce: number;
  fee_rate: string;
  sender_address: string;
  post_condition_mode: string;
  post_conditions: unknown[];
  contract_call?: { contract_id: string; function_name: string; function_args?: { repr: string }[] };
  block_height?: number;
};

export async function apiTx(txid: string): Promise<ApiTx> {
  const response = await fetch(`${stack.server.url}/extended/v1/tx/${txid}`);
  if (!response.ok) throw new Error(`tx ${txid}: ${response.status}`);
  return (await response.json()) as ApiTx;
}

/** The backend key's next nonce as the chain (and mempool) sees it. */
export async function chainNextNonce(): Promise<bigint> {
  const response = await fetch(`${stack.server.url}/extended/v1/address/${OPERATOR_ADDRESS}/nonces`);
  return BigInt(((await response.json()) as { possible_next_nonce: number }).possible_next_nonce);
}

/** The node's middle fee estimate for this call, as the backend asks for it. */
export async function middleEstimate(tx: Doc<"chainTransactions">): Promise<bigint> {
  const config = readChainConfig(process.env);
  const draft = await signVaultCall(config, tx, { nonce: tx.nonce!, fee: 0n, privateKey: OPERATOR_KEY });
  const response = await localPost("/v2/fees/transaction", {
    transaction_payload: draft.payloadHex,
    estimated_len: draft.byteLength,
  });
  const body = (await response.json()) as { estimations: { fee: number }[] };
  return BigInt(body.estimations[1]!.fee);
}

/** Another signer using the backend key: a 1 µSTX transfer at `nonce`, broadcast and mined. */
export async function spendBackendNonce(nonce: bigint): Promise<void> {
  const wallet = await newWallet(stack.server);
  const network = createNetwork({ network: "testnet", client: { baseUrl: stack.server.url } });
  const transfer = await makeSTXTokenTransfer({
    recipient: wallet.address,
    amount: 1n,
    senderKey: OPERATOR_KEY,
    network,
    nonce,
    fee: 10_000n,
  });
  const response = await fetch(`${stack.server.url}/v2/transactions`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.from(transfer.serializeBytes()),
  });
  if (!response.ok) throw new Error(`transfer rejected: ${await response.text()}`);
  await mine(stack.server, 1);
}

/** The deployer (admin and guardian) pauses or unpauses the vault (a mined transaction). */
export async function setPaused(paused: boolean): Promise<void> {
  const network = createNetwork({ network: "testnet", client: { baseUrl: stack.server.url } });
  const nonces = await fetch(`${stack.server.url}/extended/v1/address/${DEPLOYER}/nonces`);
  const nonce = BigInt(((await nonces.json()) as { possible_next_nonce: number }).possible_next_nonce);
  const [contractAddress, contractName] = VAULT.split(".") as [string, string];
  const functionName = paused ? VAULT_FUNCTIONS.pause : VAULT_FUNCTIONS.unpause;
  const transaction = await makeContractCall({
    contractAddress,
    contractName,
    functionName,
    functionArgs: [],
    senderKey: DEVNET_KEYS.deployer,
    network,
    nonce,
    fee: 10_000n,
    postConditionMode: "deny",
  });
  const response = await fetch(`${stack.server.url}/v2/transactions`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.from(transaction.serializeBytes()),
  });
  if (!response.ok) throw new Error(`${functionName} rejected: ${await response.text()}`);
  await mine(stack.server, 1);
  const { result } = stack.server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.isPaused, [], DEPLOYER);
  expect(result).toEqual({ type: paused ? "true" : "false" });
}

/**
 * Runs `work` on a congested chain: miners skip transactions paying less than
 * `ustx`, which stay pending in the mempool. The minimum is lifted afterwards.
 */
export async function whileMinersWant<T>(ustx: bigint, work: () => Promise<T>): Promise<T> {
  await stack.server.setMinerMinFee(ustx);
  try {
    return await work();
  } finally {
    await stack.server.setMinerMinFee(0n);
  }
}

/** Sets MAX_FEE_USTX for `work`, then puts back the default (1 STX). */
export async function withFeeCap<T>(ustx: bigint, work: () => Promise<T>): Promise<T> {
  vi.stubEnv("MAX_FEE_USTX", ustx.toString());
  try {
    return await work();
  } finally {
    vi.stubEnv("MAX_FEE_USTX", "1000000");
  }
}

export const tipHeight = () => BigInt(stack.server.chain.blocks.tip.height);

/** Sends every pending transaction, mines them, follows them to the end and syncs their events. */
export async function sendAndConfirm(ids: Id<"chainTransactions">[]): Promise<void> {
  await send();
  await mine(stack.server);
  await follow();
  for (const id of ids) expect((await row(id)).status).toBe("confirmed");
  await sync();
}

/** Everything pending has been sent and nothing is left in flight (checked after each test). */
export async function expectQuiet(): Promise<void> {
  const open = await backend().run(async (ctx) => {
    const pending = await ctx.db
      .query("chainTransactions")
      .withIndex("by_status", (q) => q.eq("status", "pending"))
      .collect();
    const broadcast = await ctx.db
      .query("chainTransactions")
      .withIndex("by_status", (q) => q.eq("status", "broadcast"))
      .collect();
    return [...pending, ...broadcast];
  });
  expect(open).toEqual([]);
  expect(await counter()).toBe(await chainNextNonce());
}

/** Largest-remainder split (ties to the earlier weight), as docs/architecture.md, "Money and rounding" prescribes. */
export function proRata(total: bigint, weights: bigint[]): bigint[] {
  const sum = weights.reduce((a, b) => a + b, 0n);
  const parts = weights.map((w) => (total * w) / sum);
  let leftover = total - parts.reduce((a, b) => a + b, 0n);
  const order = weights
    .map((w, i) => ({ i, r: (total * w) % sum }))
    .sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of order) {
    if (leftover === 0n) break;
    parts[i] = parts[i]! + 1n;
    leftover -= 1n;
  }
  return parts;
}

export async function stxBalanceOf(wallet: Wallet) {
  const portfolio = await stack.t.withIdentity({ subject: wallet.address }).query(api.liquidity.getProviderPortfolio, {});
  const stx = portfolio?.balances.find((b) => b.token === "STX");
  return { total: stx?.total ?? 0n, locked: stx?.locked ?? 0n };
}
