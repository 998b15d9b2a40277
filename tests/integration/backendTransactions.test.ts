/**
 * Backend-signed vault transactions against the local Hiro-compatible server,
 * over real HTTP (docs/architecture.md, "Flows"): a policy's lock and settlement from the queued
 * vault operation to the synced event, the one nonce allocator, nonce
 * resync, replacement of dropped and stuck transactions with a higher fee,
 * and what a transaction that fails for good lets go of.
 *
 * The tests share one chain and one backend, in file order; each makes its
 * own providers and policies and leaves no transaction pending or in flight.
 * Fees: the local node estimates 2/4/8 µSTX per byte, so a lock, release or
 * settlement (~200 bytes) pays the backend's 1,000 µSTX floor, and each
 * replacement pays 1.5× + 1 the previous fee. A transaction is kept stuck in
 * the mempool with the server's miner minimum fee (POST /_local/min-fee).
 */
import { createNetwork } from "@stacks/network";
import { makeContractCall, makeSTXTokenTransfer } from "@stacks/transactions";
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { Doc, Id } from "../../convex/_generated/dataModel";
import { signVaultCall } from "../../convex/chain/backendTransactions";
import { readChainConfig } from "../../convex/chain/config";
import { HiroClient } from "../../convex/chain/hiroClient";
import { MAX_SEND_ATTEMPTS } from "../../convex/model/operations/chainTransactions";
import type schema from "../../convex/schema";
import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import {
  BACKEND_ADDRESS,
  BACKEND_KEY,
  DEPLOYER,
  mine,
  newWallet,
  signAndBroadcast,
  startStack,
  stopStack,
  VAULT,
  type Stack,
} from "./stack";

let stack: Stack;
/** The backend with the schema's table types (stack.ts types it without them). */
const backend = () => stack.t as unknown as TestConvex<typeof schema>;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stopStack(stack);
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

type Tier = "Conservative" | "Balanced" | "Aggressive";
type Wallet = { key: string; address: string };

/** USD with 8 decimals. */
const usd = (dollars: number) => BigInt(dollars) * 100_000_000n;
const STX = (n: number) => BigInt(n) * 1_000_000n;
/** Spot prices for every policy here: BTC $60,000, STX $2. */
const PRICES = { btcPriceUsd: usd(60_000), stxPriceUsd: usd(2) };
/** The strike that puts a PUT in each tier at those prices (distance 1,667 / 1,000 / 333 bps). */
const STRIKE: Record<Tier, bigint> = { Conservative: usd(50_000), Balanced: usd(54_000), Aggressive: usd(58_000) };
/** The backend's least fee (MIN_FEE in convex/chainTransactions.ts), what every small call here pays. */
const MIN_FEE = 1_000n;
const replacementFee = (fee: bigint) => fee + fee / 2n + 1n;

let nextPolicyId = 1_000n;

async function localPost(path: string, body: object): Promise<Response> {
  return await fetch(`${stack.server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function deposit(wallet: Wallet, amount: bigint, tier: Tier): Promise<void> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .action(api.liquidity.requestCommitCapital, { amount, token: "STX", tier });
  await signAndBroadcast(stack.server, call, wallet.key);
}

async function providersWith(tier: Tier, amounts: bigint[]): Promise<Wallet[]> {
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
async function backedPolicy(tier: Tier, protectedSats: bigint, buyer: string) {
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

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
const batch = () => stack.t.mutation(internal.vaultOperations.batch, {});
const send = () => stack.t.action(internal.chainTransactions.send, {});
const follow = () => stack.t.action(internal.chainTransactions.follow, {});

async function row(id: Id<"chainTransactions">) {
  const doc = await backend().run(async (ctx) => await ctx.db.get("chainTransactions", id));
  if (!doc) throw new Error(`no chain transaction ${id}`);
  return doc;
}

async function counter(): Promise<bigint | null> {
  return await stack.t.query(internal.chainTransactions.nextNonce, {});
}

async function setCounter(value: bigint): Promise<void> {
  await backend().run(async (ctx) => {
    const doc = await ctx.db
      .query("syncState")
      .withIndex("by_key", (q) => q.eq("key", "backend.nextNonce"))
      .unique();
    if (!doc) throw new Error("the nonce counter has not been created yet");
    await ctx.db.patch("syncState", doc._id, { value });
  });
}

async function opsOf(policyId: bigint) {
  return await backend().run(
    async (ctx) =>
      await ctx.db
        .query("vaultOperations")
        .withIndex("by_policy_and_kind", (q) => q.eq("policyId", policyId))
        .collect(),
  );
}

async function policyDoc(policyId: bigint) {
  return await backend().run(
    async (ctx) =>
      await ctx.db
        .query("policies")
        .withIndex("by_policy_id", (q) => q.eq("policyId", policyId))
        .unique(),
  );
}

async function alertsOfKind(kind: string) {
  const all = await backend().run(async (ctx) => await ctx.db.query("alerts").collect());
  return all.filter((a) => a.kind === kind);
}

/** A pending vault call written straight into the table, for tests of the transaction layer alone. */
async function pendingRow(
  functionName: "lock-collateral-aggregate" | "release-collateral-aggregate",
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

function vaultTotal(fn: "get-total-stx-balance" | "get-total-stx-locked"): bigint {
  return uintValue(stack.server.simnet.callReadOnlyFn(VAULT, fn, [], DEPLOYER).result);
}

const stxBalanceOnChain = async () => vaultTotal("get-total-stx-balance");
const stxLockedOnChain = async () => vaultTotal("get-total-stx-locked");

function uintValue(cv: unknown): bigint {
  const value = cv as { type: string; value: bigint | string };
  if (value.type !== "uint") throw new Error(`expected a uint, got ${JSON.stringify(cv)}`);
  return BigInt(value.value);
}

type ApiTx = {
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

async function apiTx(txid: string): Promise<ApiTx> {
  const response = await fetch(`${stack.server.url}/extended/v1/tx/${txid}`);
  if (!response.ok) throw new Error(`tx ${txid}: ${response.status}`);
  return (await response.json()) as ApiTx;
}

/** The backend key's next nonce as the chain (and mempool) sees it. */
async function chainNextNonce(): Promise<bigint> {
  const response = await fetch(`${stack.server.url}/extended/v1/address/${BACKEND_ADDRESS}/nonces`);
  return BigInt(((await response.json()) as { possible_next_nonce: number }).possible_next_nonce);
}

/** The node's middle fee estimate for this call, as the backend asks for it. */
async function middleEstimate(tx: Doc<"chainTransactions">): Promise<bigint> {
  const config = readChainConfig(process.env);
  const draft = await signVaultCall(config, tx, { nonce: tx.nonce!, fee: 0n, privateKey: BACKEND_KEY });
  const response = await localPost("/v2/fees/transaction", {
    transaction_payload: draft.payloadHex,
    estimated_len: draft.byteLength,
  });
  const body = (await response.json()) as { estimations: { fee: number }[] };
  return BigInt(body.estimations[1]!.fee);
}

/** Another signer using the backend key: a 1 µSTX transfer at `nonce`, broadcast and mined. */
async function spendBackendNonce(nonce: bigint): Promise<void> {
  const wallet = await newWallet(stack.server);
  const network = createNetwork({ network: "testnet", client: { baseUrl: stack.server.url } });
  const transfer = await makeSTXTokenTransfer({
    recipient: wallet.address,
    amount: 1n,
    senderKey: BACKEND_KEY,
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
async function setPaused(paused: boolean): Promise<void> {
  const network = createNetwork({ network: "testnet", client: { baseUrl: stack.server.url } });
  const nonces = await fetch(`${stack.server.url}/extended/v1/address/${DEPLOYER}/nonces`);
  const nonce = BigInt(((await nonces.json()) as { possible_next_nonce: number }).possible_next_nonce);
  const transaction = await makeContractCall({
    contractAddress: DEPLOYER,
    contractName: "liquidity-pool",
    functionName: paused ? "pause" : "unpause",
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
  if (!response.ok) throw new Error(`${paused ? "pause" : "unpause"} rejected: ${await response.text()}`);
  await mine(stack.server, 1);
  const { result } = stack.server.simnet.callReadOnlyFn(VAULT, "is-paused", [], DEPLOYER);
  expect(result).toEqual({ type: paused ? "true" : "false" });
}

/**
 * Runs `work` on a congested chain: miners skip transactions paying less than
 * `ustx`, which stay pending in the mempool. The minimum is lifted afterwards.
 */
async function whileMinersWant<T>(ustx: bigint, work: () => Promise<T>): Promise<T> {
  await stack.server.setMinerMinFee(ustx);
  try {
    return await work();
  } finally {
    await stack.server.setMinerMinFee(0n);
  }
}

/** Sets MAX_FEE_USTX for `work`, then puts back the default (1 STX). */
async function withFeeCap<T>(ustx: bigint, work: () => Promise<T>): Promise<T> {
  vi.stubEnv("MAX_FEE_USTX", ustx.toString());
  try {
    return await work();
  } finally {
    vi.stubEnv("MAX_FEE_USTX", "1000000");
  }
}

const tipHeight = () => BigInt(stack.server.chain.blocks.tip.height);

/** Sends every pending transaction, mines them, follows them to the end and syncs their events. */
async function sendAndConfirm(ids: Id<"chainTransactions">[]): Promise<void> {
  await send();
  await mine(stack.server);
  await follow();
  for (const id of ids) expect((await row(id)).status).toBe("confirmed");
  await sync();
}

/** Everything pending has been sent and nothing is left in flight (checked after each test). */
async function expectQuiet(): Promise<void> {
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
function proRata(total: bigint, weights: bigint[]): bigint[] {
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

async function stxBalanceOf(wallet: Wallet) {
  const portfolio = await stack.t.withIdentity({ subject: wallet.address }).query(api.liquidity.getProviderPortfolio, {});
  const stx = portfolio?.balances.find((b) => b.token === "STX");
  return { total: stx?.total ?? 0n, locked: stx?.locked ?? 0n };
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe("backend-signed vault transactions", () => {
  it("locks a policy's collateral end to end: queued, batched, signed in deny mode, confirmed, synced", async () => {
    expect(await stxLockedOnChain()).toBe(0n);
    await providersWith("Balanced", [STX(1_000), STX(1_000), STX(1_000)]);
    const buyer = await newWallet(stack.server);

    // 0.001 BTC at a $54,000 strike is $54 of protection: 27 STX at $2.
    const { policyId, registered, allocations } = await backedPolicy("Balanced", 100_000n, buyer.address);
    expect(registered).toEqual({ tier: "Balanced", requiredCollateral: STX(27), status: "Pending" });
    expect(allocations.reduce((sum, a) => sum + a.amount, 0n)).toBe(STX(27));
    expect((await policyDoc(policyId))?.status).toBe("Active");
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status, op.amount])).toEqual([["lock", "queued", STX(27)]]);

    const [txId, ...more] = await batch();
    expect(more).toEqual([]);
    expect(await row(txId!)).toMatchObject({
      functionName: "lock-collateral-aggregate",
      status: "pending",
      policyIds: [policyId],
      token: "STX",
      amount: STX(27),
      attempts: 0,
    });
    expect((await opsOf(policyId))[0]).toMatchObject({ status: "submitted", chainTransactionId: txId });

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(txId!);
    // The counter starts from the chain: nonces 0 and 1 were the backend's accept-role calls at start-up.
    expect(sent).toMatchObject({ status: "broadcast", nonce: 2n, fee: MIN_FEE, attempts: 1 });
    expect(sent.txid).toMatch(/^0x[0-9a-f]{64}$/);
    expect(sent.fee! <= 1_000_000n).toBe(true); // MAX_FEE_USTX (default)
    expect(await counter()).toBe(3n);

    // What the node received: signed by the backend key, deny mode, no post-condition (a lock moves nothing).
    const pending = await apiTx(sent.txid!);
    expect(pending).toMatchObject({
      tx_id: sent.txid,
      tx_status: "pending",
      sender_address: BACKEND_ADDRESS,
      nonce: 2,
      fee_rate: "1000",
      post_condition_mode: "deny",
      post_conditions: [],
      contract_call: { contract_id: VAULT, function_name: "lock-collateral-aggregate" },
    });
    expect(pending.contract_call?.function_args?.map((a) => a.repr)).toEqual([`(list u${policyId})`, "u27000000", "none"]);

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await row(txId!)).status).toBe("confirmed");
    expect((await apiTx(sent.txid!)).tx_status).toBe("success");

    const synced = await sync();
    expect(synced.applied).toBe(1);
    expect(await stxLockedOnChain()).toBe(STX(27));
    expect((await opsOf(policyId))[0]).toMatchObject({ kind: "lock", status: "confirmed" });
    await expectQuiet();
  });

  it("settles a policy end to end: the buyer is paid exactly, backers are debited pro rata, the rest is released next", async () => {
    const backers = await providersWith("Conservative", [STX(100), STX(300)]);
    const buyer = await newWallet(stack.server);
    // 0.001 BTC at a $50,000 strike: $50, 25 STX.
    const { policyId, registered, allocations } = await backedPolicy("Conservative", 100_000n, buyer.address);
    expect(registered.requiredCollateral).toBe(STX(25));
    const lockIds = await batch();
    await sendAndConfirm(lockIds);
    const lockedBefore = await stxLockedOnChain();
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const backersBefore = await Promise.all(backers.map(stxBalanceOf));

    const payout = STX(10);
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
    expect((await policyDoc(policyId))?.status).toBe("Exercised");
    const [settleId, ...more] = await batch();
    expect(more).toEqual([]);
    expect(await row(settleId!)).toMatchObject({
      functionName: "settle-policy",
      policyIds: [policyId],
      buyer: buyer.address,
      amount: payout,
      status: "pending",
    });

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(settleId!);
    // Deny mode, and the one post-condition names exactly the payout leaving the vault.
    const onNode = await apiTx(sent.txid!);
    expect(onNode).toMatchObject({ post_condition_mode: "deny", sender_address: BACKEND_ADDRESS });
    // A settlement is longer than a lock: the node's middle estimate is above the floor.
    expect(sent.fee).toBe(await middleEstimate(sent));
    expect(sent.fee! > MIN_FEE).toBe(true);
    expect(onNode.fee_rate).toBe(sent.fee!.toString());
    expect(onNode.post_conditions).toEqual([
      {
        type: "stx",
        condition_code: "sent_equal_to",
        amount: payout.toString(),
        principal: { type_id: "principal_contract", address: DEPLOYER, contract_name: "liquidity-pool" },
      },
    ]);

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(stack.server.chain.stxBalance(buyer.address) - buyerBefore).toBe(payout);
    expect(await stxLockedOnChain()).toBe(lockedBefore - payout);

    const synced = await sync();
    expect(synced.applied).toBe(1);
    const settled = await policyDoc(policyId);
    expect(settled).toMatchObject({ status: "Settled", settledAmount: payout });
    // Each backer pays its share of the payout, by its allocation, and nothing stays locked for the policy.
    const allocated = backers.map((b) => allocations.find((a) => a.provider === b.address)?.amount ?? 0n);
    expect(allocated.reduce((a, b) => a + b, 0n)).toBe(STX(25));
    const debits = proRata(payout, allocated);
    const backersAfter = await Promise.all(backers.map(stxBalanceOf));
    backers.forEach((_, i) => {
      expect(backersAfter[i]!.total).toBe(backersBefore[i]!.total - debits[i]!);
      expect(backersAfter[i]!.locked).toBe(backersBefore[i]!.locked - allocated[i]!);
    });
    // (by kind: lock, release, settle)
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status, op.amount])).toEqual([
      ["lock", "confirmed", STX(25)],
      ["release", "queued", STX(15)],
      ["settle", "confirmed", payout],
    ]);

    // The remainder still locked on chain for the policy goes out as the next batch.
    const [releaseId, ...others] = await batch();
    expect(others).toEqual([]);
    expect(await row(releaseId!)).toMatchObject({
      functionName: "release-collateral-aggregate",
      policyIds: [policyId],
      amount: STX(15),
    });
    await sendAndConfirm([releaseId!]);
    expect(await stxLockedOnChain()).toBe(lockedBefore - STX(25));
    expect((await opsOf(policyId)).find((op) => op.kind === "release")?.status).toBe("confirmed");
    await expectQuiet();
  });

  it("hands out distinct, gap-free nonces to concurrent claims, and the same nonce to a second claim", async () => {
    const start = (await counter())!;
    const ids = await Promise.all(Array.from({ length: 20 }, () => pendingRow("lock-collateral-aggregate")));
    const nonces = await Promise.all(
      ids.map((id) => stack.t.mutation(internal.chainTransactions.claimNonce, { id })),
    );
    const sorted = [...nonces].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted).toEqual(Array.from({ length: 20 }, (_, i) => start + BigInt(i)));
    expect(await counter()).toBe(start + 20n);
    const again = await Promise.all(ids.map((id) => stack.t.mutation(internal.chainTransactions.claimNonce, { id })));
    expect(again).toEqual(nonces);
    expect(await counter()).toBe(start + 20n);

    // Never sent: take the rows and their nonces back.
    await backend().run(async (ctx) => {
      for (const id of ids) await ctx.db.delete("chainTransactions", id);
    });
    await setCounter(start);
    await expectQuiet();
  });

  it("resyncs a counter that fell behind the chain before signing, and sends with the chain's nonce", async () => {
    const chainNext = await chainNextNonce();
    await setCounter(chainNext - 1n); // a lost update
    const lock = await pendingRow("lock-collateral-aggregate");
    const release = await pendingRow("release-collateral-aggregate");
    expect(await send()).toEqual({ broadcast: 2, rejected: 0 });
    expect((await row(lock)).nonce).toBe(chainNext);
    expect((await row(release)).nonce).toBe(chainNext + 1n);
    expect(await counter()).toBe(chainNext + 2n);
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 2, failed: 0, replaced: 0 });
    await sync();
    await expectQuiet();
  });

  it("answers a BadNonce rejection (another signer used the nonce) by resyncing the counter from the API", async () => {
    const chainNext = await chainNextNonce();
    const id = await pendingRow("lock-collateral-aggregate");
    // A send that claimed the nonce and died before broadcasting (the fee estimate kept failing).
    await localPost("/_local/faults", { path: "/v2/fees/transaction", status: 500, times: 5 });
    await expect(send()).rejects.toThrow(/unavailable after 5 attempts/);
    expect(await row(id)).toMatchObject({ status: "pending", nonce: chainNext, attempts: 0 });
    // Meanwhile another signer with the backend key takes that nonce.
    await spendBackendNonce(chainNext);

    expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    const rejected = await row(id);
    expect(rejected.status).toBe("pending");
    expect(rejected.attempts).toBe(1);
    expect(rejected.error).toMatch(/^BadNonce: /);
    expect(await counter()).toBe(chainNext + 1n);

    // Cleanup: the row is abandoned (see the next test for what should happen to it).
    await backend().run(async (ctx) => ctx.db.delete("chainTransactions", id));
    await expectQuiet();
  });

  // Regression: a BadNonce means the row's nonce is below the chain's next one;
  // resync used to take back only nonces at or above it, so the row kept its dead
  // nonce, was refused on every run and failed after MAX_SEND_ATTEMPTS.
  it("sends a transaction refused with BadNonce again with a fresh nonce on the next run", async () => {
    const chainNext = await chainNextNonce();
    const id = await pendingRow("lock-collateral-aggregate");
    await stack.t.mutation(internal.chainTransactions.claimNonce, { id });
    await spendBackendNonce(chainNext);
    try {
      expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      expect((await row(id)).nonce).toBe(chainNext + 1n);
      await mine(stack.server);
      await follow();
      expect((await row(id)).status).toBe("confirmed");
    } finally {
      await backend().run(async (ctx) => {
        const doc = await ctx.db.get("chainTransactions", id);
        if (doc && doc.status !== "confirmed") await ctx.db.delete("chainTransactions", id);
      });
      const next = await chainNextNonce();
      if ((await counter()) !== next) await setCounter(next);
      await sync();
    }
  });

  it("replaces a dropped transaction with the same nonce and a higher fee, keeping the old txid", async () => {
    const id = await pendingRow("lock-collateral-aggregate");
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const first = await row(id);
    expect((await localPost("/_local/drop", { txid: first.txid })).status).toBe(200);
    await mine(stack.server, 3); // past STUCK_AFTER_BLOCKS: nothing to mine, the node forgot it
    expect((await apiTx(first.txid!)).tx_status).toBe("dropped_stale_garbage_collect");

    expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
    const replaced = await row(id);
    expect(replaced).toMatchObject({
      status: "broadcast",
      nonce: first.nonce,
      fee: replacementFee(MIN_FEE),
      replacedTxids: [first.txid],
      attempts: 2,
    });
    expect(replaced.txid).not.toBe(first.txid);
    expect(await apiTx(replaced.txid!)).toMatchObject({ tx_status: "pending", nonce: Number(first.nonce), fee_rate: "1501" });

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await row(id)).status).toBe("confirmed");
    expect((await apiTx(replaced.txid!)).tx_status).toBe("success");
    await sync();
    await expectQuiet();
  });

  it("replaces a lock stuck below the miners' minimum fee after STUCK_AFTER_BLOCKS, with the same nonce and 1.5× + 1 the fee", async () => {
    const stuckAfter = readChainConfig(process.env).stuckAfterBlocks;
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const lockedBefore = await stxLockedOnChain();
    const [lockId] = await batch();

    // The replacement's fee exactly meets the minimum; the first fee (the floor) does not.
    await whileMinersWant(replacementFee(MIN_FEE), async () => {
      const sentAt = tipHeight();
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      const first = await row(lockId!);
      // A lock is short: the node's middle estimate is below the floor, so the floor is paid.
      expect(await middleEstimate(first)).toBeLessThan(MIN_FEE);
      expect(first).toMatchObject({ status: "broadcast", fee: MIN_FEE, broadcastAtHeight: sentAt, attempts: 1 });

      // Before the deadline: pending, left alone.
      await mine(stack.server, Number(stuckAfter) - 1);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
      expect(await row(lockId!)).toMatchObject({ status: "broadcast", txid: first.txid, fee: MIN_FEE, attempts: 1 });
      expect(await apiTx(first.txid!)).toMatchObject({ tx_status: "pending", fee_rate: "1000" });
      expect(await stxLockedOnChain()).toBe(lockedBefore);

      // At the deadline: the same call, same nonce, 1.5× + 1 the fee, replacing the stuck one on the node.
      await mine(stack.server, 1);
      expect(tipHeight() - sentAt).toBe(stuckAfter);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      const replaced = await row(lockId!);
      expect(replaced).toMatchObject({
        status: "broadcast",
        nonce: first.nonce,
        fee: 1_501n,
        broadcastAtHeight: tipHeight(),
        replacedTxids: [first.txid],
        attempts: 2,
      });
      expect(replaced.txid).not.toBe(first.txid);
      expect(replaced.signedTxids).toEqual([first.txid, replaced.txid]);
      expect(await apiTx(first.txid!)).toMatchObject({ tx_status: "dropped_replace_by_fee", nonce: Number(first.nonce) });
      expect(await apiTx(replaced.txid!)).toMatchObject({
        tx_status: "pending",
        nonce: Number(first.nonce),
        fee_rate: "1501",
        contract_call: { function_name: "lock-collateral-aggregate" },
      });

      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
      expect((await row(lockId!)).status).toBe("confirmed");
      expect((await apiTx(replaced.txid!)).tx_status).toBe("success");
      expect((await apiTx(first.txid!)).tx_status).toBe("dropped_replace_by_fee");
    });
    // Locked once, by the replacement alone.
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await sync()).applied).toBe(1);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
    await expectQuiet();
  });

  it("raises the fee of the earliest stuck nonce only: the ones behind it wait, then get their turn", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const firstId = await pendingRow("lock-collateral-aggregate", 3n);
    const secondId = await pendingRow("lock-collateral-aggregate", 4n);
    await whileMinersWant(replacementFee(MIN_FEE), async () => {
      expect(await send()).toEqual({ broadcast: 2, rejected: 0 });
      const [first, second] = [await row(firstId), await row(secondId)];
      expect(second.nonce).toBe(first.nonce! + 1n);
      expect([first.fee, second.fee]).toEqual([MIN_FEE, MIN_FEE]);

      // Both are past the deadline, but the second only waits behind the first.
      await mine(stack.server, stuckAfter);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      expect(await row(firstId)).toMatchObject({ fee: 1_501n, replacedTxids: [first.txid] });
      expect(await row(secondId)).toMatchObject({ txid: second.txid, fee: MIN_FEE, attempts: 1 });

      // The first is mined; the second is now the earliest, long past its deadline, and stuck on its own fee.
      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 1 });
      expect(await row(secondId)).toMatchObject({ status: "broadcast", fee: 1_501n, replacedTxids: [second.txid] });
      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    });
    expect([(await row(firstId)).status, (await row(secondId)).status]).toEqual(["confirmed", "confirmed"]);
    expect(await stxLockedOnChain()).toBe(lockedBefore + 7n);
    await sync();
    await expectQuiet();
  });

  it("leaves a stuck transaction as it is when the replacement fee would exceed MAX_FEE_USTX", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const id = await pendingRow("lock-collateral-aggregate", 7n);
    // The cap allows the first fee (the floor) but not 1.5× + 1 of it.
    const cap = replacementFee(MIN_FEE) - 1n;
    const first = await withFeeCap(cap, () =>
      whileMinersWant(replacementFee(MIN_FEE), async () => {
        expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
        const sent = await row(id);
        expect(sent).toMatchObject({ status: "broadcast", fee: MIN_FEE, attempts: 1 });

        // Well past the deadline, and checked on every block: it keeps waiting at its fee.
        for (let block = 0; block < 2 * stuckAfter; block++) {
          await mine(stack.server, 1);
          expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
        }
        const waiting = await row(id);
        expect(waiting).toMatchObject({
          status: "broadcast",
          txid: sent.txid,
          nonce: sent.nonce,
          fee: MIN_FEE,
          broadcastAtHeight: sent.broadcastAtHeight,
          attempts: 1,
        });
        expect(waiting.replacedTxids).toBeUndefined();
        expect(waiting.signedTxids).toEqual([sent.txid]);
        expect(waiting.stuckAtFeeCapSince).toEqual(expect.any(Number));
        expect(await apiTx(sent.txid!)).toMatchObject({ tx_status: "pending", fee_rate: "1000" });
        // Operators hear of it once, however many runs find it still waiting.
        const alerts = await alertsOfKind("transaction-stuck-at-fee-cap");
        expect(alerts).toHaveLength(1);
        expect(alerts[0]!.message).toBe(
          `lock-collateral-aggregate ${sent.txid} is stuck at fee 1000 µSTX; a replacement would exceed MAX_FEE_USTX ${cap}`,
        );
        return sent;
      }),
    );

    // Once miners take it again, the very transaction first broadcast is confirmed.
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await row(id)).toMatchObject({ status: "confirmed", txid: first.txid, fee: MIN_FEE, attempts: 1 });
    expect((await apiTx(first.txid!)).tx_status).toBe("success");
    expect(await stxLockedOnChain()).toBe(lockedBefore + 7n);
    await sync();
    await expectQuiet();
  });

  it("keeps following a transaction mined while its replacement was being signed, rather than counting a failed attempt", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;
    const id = await pendingRow("lock-collateral-aggregate", 11n);
    // Miners want more than three replacements pay (1,000 → 1,501 → 2,252 → 3,379).
    const last = await whileMinersWant(5_000n, async () => {
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      for (let replacement = 1; replacement <= 3; replacement++) {
        await mine(stack.server, stuckAfter);
        expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      }
      await mine(stack.server, stuckAfter);
      return await row(id);
    });
    expect(last).toMatchObject({ status: "broadcast", fee: 3_379n, attempts: MAX_SEND_ATTEMPTS - 1 });
    expect(last.replacedTxids).toHaveLength(3);

    // Stuck again; but while the fourth replacement is being priced, congestion clears and
    // a block takes the version on the node, so the node refuses the replacement's nonce.
    const estimateFees = HiroClient.prototype.estimateFees;
    const estimate = vi.spyOn(HiroClient.prototype, "estimateFees");
    estimate.mockImplementationOnce(async function (this: HiroClient, ...args) {
      await mine(stack.server, 1);
      return await estimateFees.apply(this, args);
    });
    try {
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
    } finally {
      estimate.mockRestore();
    }
    expect((await apiTx(last.txid!)).tx_status).toBe("success");
    expect(await stxLockedOnChain()).toBe(lockedBefore + 11n);

    // The refused replacement changed nothing: the row follows the mined version to confirmation.
    const after = await row(id);
    expect(after).toMatchObject({ status: "broadcast", txid: last.txid, fee: 3_379n, attempts: MAX_SEND_ATTEMPTS - 1 });
    expect(after.error).toBeUndefined();
    expect(after.signedTxids).toHaveLength(5); // four accepted versions and the refused one
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await row(id)).toMatchObject({ status: "confirmed", txid: last.txid });
    expect(await alertsOfKind("transaction-failed")).toHaveLength(alertsBefore);
    await mine(stack.server);
    await sync();
    await expectQuiet();
  });

  it("after a crash between broadcast and record, finds the version that reached the node and follows it, with its own fee", async () => {
    const lockedBefore = await stxLockedOnChain();
    const id = await pendingRow("lock-collateral-aggregate", 2n);
    // First run: the node's estimate is 4,000; the node accepts the transaction, then the answer is lost.
    const estimate = vi.spyOn(HiroClient.prototype, "estimateFees").mockResolvedValue([3_000n, 4_000n, 5_000n]);
    const broadcastOnce = HiroClient.prototype.broadcast;
    const lost = vi.spyOn(HiroClient.prototype, "broadcast").mockImplementationOnce(async function (this: HiroClient, bytes) {
      await broadcastOnce.call(this, bytes);
      throw new Error("socket hang up");
    });
    try {
      await expect(send()).rejects.toThrow("socket hang up");
    } finally {
      estimate.mockRestore();
      lost.mockRestore();
    }
    const crashed = await row(id);
    expect(crashed).toMatchObject({ status: "pending", attempts: 0 });
    expect(crashed.signedTxids).toHaveLength(1);
    const onNode = crashed.signedTxids![0]!;
    expect(await apiTx(onNode)).toMatchObject({ tx_status: "pending", fee_rate: "4000" });

    // Next run: the estimate is back at the floor, so the new version (fee 1,000) conflicts with the one on
    // the node; the row adopts that one, with the fee it really pays.
    expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    expect(await row(id)).toMatchObject({ status: "broadcast", txid: onNode, fee: 4_000n, nonce: crashed.nonce });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await stxLockedOnChain()).toBe(lockedBefore + 2n);
    await sync();
    await expectQuiet();
  });

  it("resyncs a counter that is ahead of the chain with nothing in flight, so the next transaction is not stuck behind a gap", async () => {
    // A nonce the node never saw (e.g. a transaction that gave up before reaching it)
    // would leave every later transaction waiting; the sender follows the chain instead.
    const chainNext = await chainNextNonce();
    await setCounter(chainNext + 1n);
    const id = await pendingRow("lock-collateral-aggregate");
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(id);
    expect(sent.nonce).toBe(chainNext);
    await mine(stack.server, 1);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await apiTx(sent.txid!)).tx_status).toBe("success");
    await mine(stack.server);
    await sync();
    await expectQuiet();
  });

  it("holds backend transactions while the vault is paused, tells operators once, and sends them when it is unpaused", async () => {
    await providersWith("Aggressive", [STX(1_000)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Aggressive", 100_000n, buyer.address);
    const [lockId] = await batch();
    const lockedBefore = await stxLockedOnChain();

    await setPaused(true);
    try {
      await mine(stack.server);
      for (let run = 0; run < 3; run++) expect(await send()).toEqual({ broadcast: 0, rejected: 0 });
      expect(await row(lockId!)).toMatchObject({ status: "pending", attempts: 0 });
      expect((await row(lockId!)).signedTxids).toBeUndefined();
      const held = await alertsOfKind("vault-paused");
      expect(held.map((a) => [a.message, a.resolved])).toEqual([
        ["the vault is paused: 1 backend transaction(s) held until it is unpaused", false],
      ]);
    } finally {
      await setPaused(false);
    }
    await mine(stack.server);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    expect((await alertsOfKind("vault-paused")).map((a) => a.resolved)).toEqual([true]);
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "submitted"]]);
    await sync();
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
    await expectQuiet();
  });

  it("marks a lock that aborts on chain (more than the vault holds unlocked) failed, with an alert", async () => {
    const onChainAvailable = (await stxBalanceOnChain()) - (await stxLockedOnChain());
    const lockId = await pendingRow("lock-collateral-aggregate", onChainAvailable + 1n);
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 0, failed: 1, replaced: 0 });
    const failed = await row(lockId);
    // The reason carries the vault's refusal: u205, the lock exceeds what is unlocked.
    expect(failed).toMatchObject({ status: "failed", error: "abort_by_response (err u205)" });
    expect(await apiTx(failed.txid!)).toMatchObject({ tx_status: "abort_by_response" });
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toMatch(/^lock-collateral-aggregate for policies .* failed: abort_by_response \(err u205\)$/);
    await sync();
    await expectQuiet();
  });

  it("lets go of a settlement that aborts on chain: failed, its operation failed, the policy Active again, an alert", async () => {
    // A policy whose lock never reached the chain (it gave up before being sent): settling
    // it asks the vault for more than it holds locked (ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED).
    await providersWith("Aggressive", [STX(1_000)]);
    const buyer = await newWallet(stack.server);
    // 0.01 BTC at $58,000: 290 STX, more than everything locked on chain.
    const { policyId } = await backedPolicy("Aggressive", 1_000_000n, buyer.address);
    const [lockId] = await batch();
    await stack.t.mutation(internal.chainTransactions.markFailed, { id: lockId!, reason: "never sent (test)" });
    const payout = STX(200);
    expect(await stxLockedOnChain()).toBeLessThan(payout);
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;

    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
    const [settleId] = await batch();
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 0, failed: 1, replaced: 0 });

    // The call erred (u206), so its "vault sends exactly 200 STX" post-condition was unmet too.
    const failed = await row(settleId!);
    expect(failed).toMatchObject({ status: "failed", error: "abort_by_post_condition (err u206)" });
    expect(stack.server.chain.stxBalance(buyer.address)).toBe(buyerBefore);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([
      ["lock", "failed"],
      ["settle", "failed"],
    ]);
    expect((await policyDoc(policyId))?.status).toBe("Active");
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toBe(`settle-policy for policies ${policyId} failed: abort_by_post_condition (err u206)`);
    await sync();
    await expectQuiet();
  });

  it(`gives up after ${MAX_SEND_ATTEMPTS} refused broadcasts: failed, with an alert`, async () => {
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const [lockId] = await batch();
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;
    // A fee cap below the node's 1 µSTX/byte minimum: every broadcast is refused with FeeTooLow.
    vi.stubEnv("MAX_FEE_USTX", "10");
    try {
      for (let attempt = 1; attempt < MAX_SEND_ATTEMPTS; attempt++) {
        expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
        expect(await row(lockId!)).toMatchObject({ status: "pending", attempts: attempt });
      }
      expect((await row(lockId!)).error).toMatch(/^FeeTooLow: /);
      expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    } finally {
      vi.stubEnv("MAX_FEE_USTX", "1000000");
    }
    const failed = await row(lockId!);
    expect(failed).toMatchObject({ status: "failed", attempts: MAX_SEND_ATTEMPTS });
    expect(failed.error).toMatch(new RegExp(`^gave up after ${MAX_SEND_ATTEMPTS} attempts: FeeTooLow: `));
    expect(failed.txid).toBeUndefined();
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "failed"]]);
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toMatch(
      new RegExp(`^lock-collateral-aggregate for policies ${policyId} failed: gave up after ${MAX_SEND_ATTEMPTS} attempts`),
    );
    // The failed row held a nonce the node never saw: put the counter back (see the next test).
    await setCounter(failed.nonce!);
    await expectQuiet();
  });

  // Regression: a transaction that gave up before the node accepted it used to keep
  // its nonce while the counter was only resynced when *behind* the chain, so the
  // next transaction waited behind the gap forever.
  it("still confirms the next transaction after one gave up before reaching the node", async () => {
    const gaveUp = await pendingRow("lock-collateral-aggregate");
    vi.stubEnv("MAX_FEE_USTX", "10");
    try {
      for (let attempt = 1; attempt <= MAX_SEND_ATTEMPTS; attempt++) await send();
    } finally {
      vi.stubEnv("MAX_FEE_USTX", "1000000");
    }
    const abandoned = await row(gaveUp);
    const next = await pendingRow("lock-collateral-aggregate");
    try {
      expect(abandoned.status).toBe("failed");
      await send();
      await mine(stack.server);
      await follow();
      expect((await row(next)).status).toBe("confirmed");
    } finally {
      // Fill the gap by hand so the chain and the counter agree again.
      const current = await row(next);
      if (current.status === "broadcast" && abandoned.nonce !== undefined) {
        await spendBackendNonce(abandoned.nonce);
        await mine(stack.server);
        await follow();
      }
      await sync();
    }
  });

  // When the block holding a confirmed lock leaves the canonical chain, the sync
  // reverses its event and reopens the transaction, and the follower sends it
  // again on the winning fork. Runs last.
  it("sends a confirmed lock again when its block leaves the canonical chain", async () => {
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const lockedBefore = await stxLockedOnChain();
    const [lockId] = await batch();
    await sendAndConfirm([lockId!]);
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);

    expect((await localPost("/_local/reorg", { depth: 2 })).status).toBe(200);
    expect(await stxLockedOnChain()).toBe(lockedBefore);
    expect((await sync()).reversed).toBe(1);

    // What the crons would do next, a few rounds.
    for (let round = 0; round < 3; round++) {
      await batch();
      await send();
      await mine(stack.server, 3);
      await follow();
      await sync();
    }
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
  });
});
