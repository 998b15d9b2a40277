/**
 * The vault's outflow limit against the backend, over real HTTP, with the
 * vault's default limit (1,000 bps of the balance per 144 burn blocks, floor
 * 1,000 STX): the backend reads the window (`get-outflow`) before it commits
 * to an outflow. A settlement that does not fit waits, in order, with one
 * `outflow-limit-reached` alert, and one larger than a whole window's cap is
 * paid in parts, one a window; a withdrawal that does not fit is refused
 * with OUTFLOW_LIMITED before anything is reserved, saying what fits and when
 * the window reopens.
 */
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { parseVaultReadOnly, VAULT_ARGS, VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type schema from "../../convex/schema";
import { expectPoolError } from "../convex/poolErrors";
import { DEPLOYER, mine, newWallet, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

let stack: Stack;
const backend = () => stack.t as unknown as TestConvex<typeof schema>;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stopStack(stack);
});

const STX = (n: number) => BigInt(n) * 1_000_000n;
const usd = (dollars: number) => BigInt(dollars) * 100_000_000n;
/** The vault's default STX floor: 1,000 STX per window whatever the balance (10% of it is less here). */
const STX_FLOOR = STX(1_000);
/** The vault's OUTFLOW-WINDOW, in burn blocks. */
const OUTFLOW_WINDOW = 144;

type Wallet = { key: string; address: string };

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
const batch = () => stack.t.mutation(internal.vaultOperations.batch, {});
const send = () => stack.t.action(internal.chainTransactions.send, {});
const follow = () => stack.t.action(internal.chainTransactions.follow, {});

function outflow(): { windowStart: bigint; used: bigint; cap: bigint; available: bigint } {
  const args = VAULT_ARGS.getOutflow({ tokenContract: null });
  const { result } = stack.server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getOutflow, args, DEPLOYER);
  return parseVaultReadOnly(VAULT_FUNCTIONS.getOutflow, result);
}

async function deposit(wallet: Wallet, amount: bigint, tier: "Balanced" | "Aggressive"): Promise<void> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier });
  await signAndBroadcast(stack.server, call, wallet.key);
}

async function stxOf(wallet: Wallet) {
  const portfolio = await stack.t.withIdentity({ subject: wallet.address }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX");
}

async function row(id: Id<"chainTransactions">) {
  const doc = await backend().run(async (ctx) => await ctx.db.get("chainTransactions", id));
  if (!doc) throw new Error(`no chain transaction ${id}`);
  return doc;
}

async function apiTx(txid: string): Promise<{ tx_status: string; tx_result: { repr: string } }> {
  const response = await fetch(`${stack.server.url}/extended/v1/tx/${txid}`);
  return (await response.json()) as { tx_status: string; tx_result: { repr: string } };
}

/** Sends the queued vault operations and follows them once mined. */
async function sendAndFollow(): Promise<Id<"chainTransactions">[]> {
  const ids = await batch();
  expect(await send()).toEqual({ broadcast: ids.length, rejected: 0 });
  await mine(stack.server);
  await follow();
  return ids;
}

describe("the vault's outflow limit on the local stack", () => {
  it("runs with the vault's default limit: a fresh window capped at the 1,000 STX floor", () => {
    expect(outflow()).toEqual({
      windowStart: BigInt(stack.server.simnet.burnBlockHeight),
      used: 0n,
      cap: STX_FLOOR,
      available: STX_FLOOR,
    });
  });

  let buyer: Wallet;
  const policyId = 7_001n;

  it("pays a settlement larger than the window's cap in parts, one a window, and settles the policy with its last part", async () => {
    const backers = [await newWallet(stack.server), await newWallet(stack.server)];
    for (const wallet of backers) await deposit(wallet, STX(1_500), "Aggressive");
    await mine(stack.server);
    await sync();
    buyer = await newWallet(stack.server);
    // 0.05 BTC at a $58,000 strike is $2,900 of protection: 1,450 STX at $2, locked on chain.
    const registered = await stack.t.mutation(internal.policies.registerPolicy, {
      policyId,
      buyer: buyer.address,
      policyType: "PUT",
      protectedAmountSats: 5_000_000n,
      strikePriceUsd: usd(58_000),
      premium: 0n,
      expiresAtBlock: 100_000n,
      collateralToken: "STX",
      btcPriceUsd: usd(60_000),
      stxPriceUsd: usd(2),
    });
    expect(registered.requiredCollateral).toBe(STX(1_450));
    await stack.t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
    const [lockId] = await sendAndFollow();
    expect((await row(lockId!)).status).toBe("confirmed");
    await sync();

    // 1,200 STX is within what is locked, but beyond the window's 1,000 STX cap: the cap goes now.
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const backersBefore = await Promise.all(backers.map(stxOf));
    const backersTotal = () => Promise.all(backers.map(stxOf)).then((all) => all.reduce((sum, b) => sum + (b?.total ?? 0n), 0n));
    const totalBefore = backersBefore.reduce((sum, b) => sum + (b?.total ?? 0n), 0n);
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: STX(1_200) });
    const [firstPartId] = await batch();
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    expect(await row(firstPartId!)).toMatchObject({ status: "broadcast", amount: STX_FLOOR });
    const pendingSettlements = async () =>
      (await backend().run(async (ctx) => await ctx.db.query("chainTransactions").withIndex("by_status", (q) => q.eq("status", "pending")).collect()))
        .filter((tx) => tx.functionName === VAULT_FUNCTIONS.settlePolicy)
        .map((tx) => ({ policyIds: tx.policyIds, amount: tx.amount }));
    expect(await pendingSettlements()).toEqual([{ policyIds: [policyId], amount: STX(200) }]);
    await mine(stack.server);
    await follow();
    expect((await row(firstPartId!)).status).toBe("confirmed");
    expect(stack.server.chain.stxBalance(buyer.address) - buyerBefore).toBe(STX_FLOOR);
    expect(outflow()).toMatchObject({ used: STX_FLOOR, available: 0n });

    // The books take the part: the backers pay 1,000 STX, the policy stays Exercised with the rest still locked.
    expect(await sync()).toMatchObject({ applied: 1, unmatched: 0 });
    const policy = async () =>
      await backend().run(async (ctx) => await ctx.db.query("policies").withIndex("by_policy_id", (q) => q.eq("policyId", policyId)).unique());
    expect(await policy()).toMatchObject({ status: "Exercised", exercisedAmount: STX(1_200), settledAmount: STX_FLOOR });
    expect(totalBefore - (await backersTotal())).toBe(STX_FLOOR);

    // The rest waits for the next window, with one alert saying when it opens.
    const { windowStart } = outflow();
    expect(await send()).toEqual({ broadcast: 0, rejected: 0 });
    const alerts = async () =>
      (await backend().run(async (ctx) => await ctx.db.query("alerts").collect()))
        .filter((a) => a.kind === "outflow-limit-reached")
        .map((a) => [a.kind, a.message, a.resolved]);
    expect(await alerts()).toEqual([
      [
        "outflow-limit-reached",
        "1 settlement(s) in STX wait for the vault's outflow window: the next pays 200000000 µSTX, 0 µSTX of the window's 1000000000 µSTX " +
          `is free now; the window reopens at burn block ${windowStart + BigInt(OUTFLOW_WINDOW)}`,
        false,
      ],
    ]);

    // A new window: the last part goes, and the policy is Settled for the whole 1,200 STX.
    await stack.server.advanceBurnBlocks(OUTFLOW_WINDOW);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    await follow();
    expect((await alerts()).map(([, , resolved]) => resolved)).toEqual([true]);
    expect(stack.server.chain.stxBalance(buyer.address) - buyerBefore).toBe(STX(1_200));
    expect(await sync()).toMatchObject({ applied: 1, unmatched: 0 });
    expect(await policy()).toMatchObject({ status: "Settled", exercisedAmount: STX(1_200), settledAmount: STX(1_200) });
    expect(totalBefore - (await backersTotal())).toBe(STX(1_200));
    expect(outflow()).toMatchObject({ used: STX(200), available: STX(800) });
    const operations = await backend().run(async (ctx) =>
      (await ctx.db.query("vaultOperations").withIndex("by_policy_and_kind", (q) => q.eq("policyId", policyId).eq("kind", "settle")).collect()).map(
        (op) => [op.amount, op.status],
      ),
    );
    expect(operations).toEqual([
      [STX_FLOOR, "confirmed"],
      [STX(200), "confirmed"],
    ]);
    // What stays locked for the settled policy (250 STX) is released (a release is no outflow).
    const [releaseId] = await sendAndFollow();
    expect((await row(releaseId!)).status).toBe("confirmed");
    await sync();
    expect(await stack.t.action(internal.reconciliation.reconcile, {})).toEqual(["match", "match"]);
  });

  it("refuses a withdrawal the window cannot take with OUTFLOW_LIMITED, reserving nothing, and issues it once a new window opens", async () => {
    const wallet = await newWallet(stack.server);
    await deposit(wallet, STX(1_000), "Balanced");
    await mine(stack.server);
    await sync();
    // The settlement's last part used 200 STX of this window.
    const window = outflow();
    expect(window.available).toBe(STX(800));

    const alice = stack.t.withIdentity({ subject: wallet.address });
    const message = await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: STX(900), token: "STX" }), "OUTFLOW_LIMITED");
    expect(message).toBe(
      `900000000 µSTX does not fit the vault's outflow window: 800000000 µSTX fits now; the window reopens at burn block ${window.windowStart + BigInt(OUTFLOW_WINDOW)} ` +
        `with ${window.cap} µSTX of room at today's balance`,
    );
    expect(await stxOf(wallet)).toMatchObject({ total: STX(1_000), reserved: 0n, available: STX(1_000) });

    // A new window opens once OUTFLOW-WINDOW burn blocks have passed.
    await stack.server.advanceBurnBlocks(OUTFLOW_WINDOW);
    expect(outflow()).toMatchObject({ used: 0n, windowStart: BigInt(stack.server.simnet.burnBlockHeight) });
    const voucher = await alice.action(api.liquidity.requestWithdrawal, { amount: STX(900), token: "STX" });
    expect(voucher.voucher.nonce).toBe(1n);
    const paidTxid = await signAndBroadcast(stack.server, voucher.call, wallet.key);
    await mine(stack.server);
    expect(await apiTx(paidTxid)).toMatchObject({ tx_status: "success" });
    expect(await sync()).toMatchObject({ applied: 1, unmatched: 0 });

    expect(await stxOf(wallet)).toMatchObject({ total: STX(100), reserved: 0n, available: STX(100) });
    const statuses = await backend().run(async (ctx) =>
      (
        await ctx.db
          .query("withdrawalReservations")
          .withIndex("by_provider_and_nonce", (q) => q.eq("provider", wallet.address))
          .collect()
      ).map((r) => [r.nonce, r.status]),
    );
    expect(statuses).toEqual([[1n, "redeemed"]]);
    // Chain and books agree (STX, sBTC).
    expect(await stack.t.action(internal.reconciliation.reconcile, {})).toEqual(["match", "match"]);
  });
});
