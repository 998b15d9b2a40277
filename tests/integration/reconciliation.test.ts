/**
 * Reconciliation against the local Hiro-compatible server, over real HTTP
 * (README "Chain integration"): the vault's read-only totals compared with the off-chain books
 * after real deposits, a premium and a lock; a difference in the books raises
 * an alert; a chain ahead of the synced height is skipped, not misreported.
 *
 * The tests share one chain and one backend, in file order.
 */
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { readChainConfig } from "../../convex/config";
import { premiumCall } from "../../convex/chain/contractCalls";
import { parseVaultReadOnly, VAULT_FUNCTIONS, type VAULT_TOTALS } from "../../convex/chain/vault";
import type schema from "../../convex/schema";
import { DEPLOYER, mine, newWallet, reorg, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

let stack: Stack;
/** The backend with the schema's table types (stack.ts types it without them). */
const backend = () => stack.t as unknown as TestConvex<typeof schema>;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stopStack(stack);
});

const STX = (n: number) => BigInt(n) * 1_000_000n;
const usd = (dollars: number) => BigInt(dollars) * 100_000_000n;
const SKIPPED_REASON = "vault events above the synced height are not applied yet";

type Wallet = { key: string; address: string };

async function deposit(wallet: Wallet, amount: bigint, token: "STX" | "sBTC"): Promise<void> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token, tier: "Balanced" });
  await signAndBroadcast(stack.server, call, wallet.key);
}

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
const reconcile = () => stack.t.action(internal.reconciliation.reconcile, {});

function readUint(fn: (typeof VAULT_TOTALS)["STX"]["balance" | "locked"]): bigint {
  return parseVaultReadOnly(fn, stack.server.simnet.callReadOnlyFn(VAULT, fn, [], DEPLOYER).result);
}

async function latestRecords() {
  return await backend().run(async (ctx) => {
    const latest = [];
    for (const token of ["STX", "sBTC"] as const) {
      const row = await ctx.db
        .query("reconciliations")
        .withIndex("by_token_and_time", (q) => q.eq("token", token))
        .order("desc")
        .first();
      if (row) latest.push(row);
    }
    return latest;
  });
}

async function alertsOfKind(kind: string) {
  const all = await backend().run(async (ctx) => await ctx.db.query("alerts").collect());
  return all.filter((a) => a.kind === kind);
}

/** Adds `delta` to the capital of one of the tier's total shards (the books the check sums). */
async function nudgeTierCapital(delta: bigint): Promise<void> {
  await backend().run(async (ctx) => {
    const shard = await ctx.db
      .query("tierTotalShards")
      .withIndex("by_tier_token_shard", (q) => q.eq("tier", "Balanced").eq("token", "STX"))
      .first();
    if (!shard) throw new Error("no Balanced STX shard");
    await ctx.db.patch("tierTotalShards", shard._id, { capital: shard.capital + delta });
  });
}

describe("reconcile", () => {
  const stxDeposits = [STX(500), STX(300)];
  const sbtcDeposit = 2_500_000n;
  const premium = 1_234_567n;
  const required = STX(27);

  it("records a match for both tokens after deposits, a premium and a lock (in flight, then confirmed), with the exact figures", async () => {
    const providers: Wallet[] = [];
    for (const amount of stxDeposits) {
      const wallet = await newWallet(stack.server);
      await deposit(wallet, amount, "STX");
      providers.push(wallet);
    }
    const sbtcProvider = await newWallet(stack.server, sbtcDeposit);
    await deposit(sbtcProvider, sbtcDeposit, "sBTC");
    await mine(stack.server);
    await sync();

    // A Balanced PUT (0.001 BTC at $54,000, STX at $2: 27 STX), backed, its premium paid by the buyer.
    const buyer = await newWallet(stack.server);
    const policyId = 7n;
    const registered = await stack.t.mutation(internal.policies.registerPolicy, {
      policyId,
      buyer: buyer.address,
      policyType: "PUT",
      protectedAmountSats: 100_000n,
      strikePriceUsd: usd(54_000),
      premium,
      expiresAtBlock: 100_000n,
      collateralToken: "STX",
      btcPriceUsd: usd(60_000),
      stxPriceUsd: usd(2),
    });
    expect(registered.requiredCollateral).toBe(required);
    await stack.t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
    await signAndBroadcast(stack.server, premiumCall(readChainConfig(process.env), buyer.address, policyId, "STX", premium), buyer.key);

    await mine(stack.server);
    expect((await sync()).applied).toBe(1); // the premium
    const stxBalance = stxDeposits[0]! + stxDeposits[1]! + premium;

    // The backers' collateral is locked in the books before the lock reaches the
    // chain: the queued lock is counted as in flight, so the two still agree.
    expect(readUint(VAULT_FUNCTIONS.getTotalStxLocked)).toBe(0n);
    expect(await reconcile()).toEqual(["match", "match"]);
    expect((await latestRecords())[0]).toMatchObject({
      status: "match",
      onChainBalance: stxBalance,
      expectedBalance: stxBalance,
      onChainLocked: 0n,
      expectedLocked: 0n,
    });

    await stack.t.mutation(internal.vaultOperations.batch, {});
    expect(await stack.t.action(internal.chainTransactions.send, {})).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await stack.t.action(internal.chainTransactions.follow, {})).toMatchObject({ confirmed: 1 });
    const synced = await sync();
    expect(synced.applied).toBe(1); // the lock

    expect(readUint(VAULT_FUNCTIONS.getTotalStxBalance)).toBe(stxBalance);
    expect(readUint(VAULT_FUNCTIONS.getTotalStxLocked)).toBe(required);

    expect(await reconcile()).toEqual(["match", "match"]);
    const records = await latestRecords();
    expect(records).toMatchObject([
      {
        token: "STX",
        status: "match",
        onChainBalance: stxBalance,
        expectedBalance: stxBalance,
        onChainLocked: required,
        expectedLocked: required,
        syncedThroughHeight: synced.syncedThrough,
      },
      {
        token: "sBTC",
        status: "match",
        onChainBalance: sbtcDeposit,
        expectedBalance: sbtcDeposit,
        onChainLocked: 0n,
        expectedLocked: 0n,
        syncedThroughHeight: synced.syncedThrough,
      },
    ]);
    expect(records.every((r) => r.reason === undefined)).toBe(true);
    // The premium is in the books as providers' yield plus the protocol's 10% fee.
    const fees = await backend().run(
      async (ctx) =>
        await ctx.db
          .query("protocolAccounts")
          .withIndex("by_token", (q) => q.eq("token", "STX"))
          .unique(),
    );
    expect(fees).toMatchObject({ feesAccrued: 123_456n, unallocatedPremiums: 0n });
    expect(await alertsOfKind("reconciliation-mismatch")).toEqual([]);
  });

  it("records a mismatch and raises an alert when the books are off by one unit", async () => {
    const stxBalance = stxDeposits[0]! + stxDeposits[1]! + premium;
    await nudgeTierCapital(1n);
    try {
      expect(await reconcile()).toEqual(["mismatch", "match"]);
    } finally {
      await nudgeTierCapital(-1n);
    }
    const [stx] = await latestRecords();
    expect(stx).toMatchObject({
      token: "STX",
      status: "mismatch",
      onChainBalance: stxBalance,
      expectedBalance: stxBalance + 1n,
      onChainLocked: required,
      expectedLocked: required,
    });
    const alerts = await alertsOfKind("reconciliation-mismatch");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ message: "vault STX totals differ from the books", resolved: false });
    expect(JSON.parse(alerts[0]!.details!)).toEqual({
      subject: "STX",
      onChainBalance: stxBalance.toString(),
      expectedBalance: (stxBalance + 1n).toString(),
      onChainLocked: required.toString(),
      expectedLocked: required.toString(),
    });

    // Put back, the books agree again, and the mismatch is over.
    expect(await reconcile()).toEqual(["match", "match"]);
    expect((await alertsOfKind("reconciliation-mismatch")).map((a) => a.resolved)).toEqual([true]);
  });

  it("skips, with the reason, while a newer vault event is mined but not yet synced", async () => {
    const latecomer = await newWallet(stack.server);
    await deposit(latecomer, STX(42), "STX");
    await mine(stack.server);

    expect(await reconcile()).toEqual(["skipped", "skipped"]);
    const records = await latestRecords();
    expect(records.map((r) => [r.token, r.status, r.reason])).toEqual([
      ["STX", "skipped", SKIPPED_REASON],
      ["sBTC", "skipped", SKIPPED_REASON],
    ]);
    // The chain already has the deposit; the books do not yet.
    expect(records[0]!.onChainBalance - records[0]!.expectedBalance).toBe(STX(42));
    expect((await alertsOfKind("reconciliation-mismatch")).map((a) => a.resolved)).toEqual([true]);

    await sync();
    expect(await reconcile()).toEqual(["match", "match"]);
  });

  it("still matches after a premium's block leaves the chain and the same transaction is mined again on the winning fork", async () => {
    const feesOf = async () =>
      (await backend().run(async (ctx) =>
        ctx.db
          .query("protocolAccounts")
          .withIndex("by_token", (q) => q.eq("token", "STX"))
          .unique(),
      ))?.feesAccrued;
    const policyId = 7n;
    const second = 1_000_000n; // fee: 100,000
    const feesBefore = await feesOf();
    const buyer = await newWallet(stack.server);
    const txid = await signAndBroadcast(
      stack.server,
      premiumCall(readChainConfig(process.env), buyer.address, policyId, "STX", second),
      buyer.key,
    );
    await mine(stack.server);
    expect((await sync()).applied).toBe(1);
    expect(await feesOf()).toBe(feesBefore! + 100_000n);

    // Both blocks are replaced; the premium is mined again in the new ones.
    await reorg(stack.server, 2, true);
    await mine(stack.server);
    expect(await sync()).toMatchObject({ reversed: 1, applied: 1 });

    const applications = await backend().run(async (ctx) =>
      (await ctx.db.query("vaultEvents").collect()).filter((e) => e.txid === txid).map((e) => e.status),
    );
    expect(applications).toEqual(["applied"]);
    expect(await feesOf()).toBe(feesBefore! + 100_000n);
    expect(await reconcile()).toEqual(["match", "match"]);
    expect(await alertsOfKind("reorg-needs-review")).toEqual([]);
    expect(await alertsOfKind("reorg-reversed")).toHaveLength(1);
  });

  it("still matches after a settlement's block leaves the chain and the same transaction is mined again", async () => {
    const policyId = 7n;
    const payout = STX(5);
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
    await stack.t.mutation(internal.vaultOperations.batch, {});
    expect(await stack.t.action(internal.chainTransactions.send, {})).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await stack.t.action(internal.chainTransactions.follow, {})).toMatchObject({ confirmed: 1 });
    expect((await sync()).applied).toBe(1);
    expect(await reconcile()).toEqual(["match", "match"]);
    const ledgerRows = async () => (await backend().run(async (ctx) => ctx.db.query("balanceLedger").collect())).length;
    const rowsAfterSettlement = await ledgerRows();

    await reorg(stack.server, 2, true);
    await mine(stack.server);
    expect(await sync()).toMatchObject({ reversed: 1, applied: 1, unmatched: 0 });

    // Paid once on chain, debited once in the books: nothing was undone and redone.
    expect(await ledgerRows()).toBe(rowsAfterSettlement);
    expect(await reconcile()).toEqual(["match", "match"]);
    const review = await alertsOfKind("reorg-needs-review");
    expect(review.map((a) => a.resolved)).toEqual([true]);
  });
});
