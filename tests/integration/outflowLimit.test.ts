/**
 * The vault's outflow limit against the backend, over real HTTP, with the
 * vault's default limit (1,000 bps of the balance per 144 burn blocks, floor
 * 1,000 STX): a settlement or a withdrawal beyond what the window has left is
 * refused on chain with u213, and the backend handles it like any other
 * on-chain abort — nothing is credited or debited, what it held is let go
 * (a settlement) or kept until the voucher can no longer be redeemed (a
 * withdrawal). Pacing outflows to the window is not done by the backend yet.
 */
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { parseVaultReadOnly, VAULT_ARGS, VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type schema from "../../convex/schema";
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
    .action(api.liquidity.requestCommitCapital, { amount, token: "STX", tier });
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

async function policyStatus(policyId: bigint) {
  return await backend().run(
    async (ctx) =>
      (
        await ctx.db
          .query("policies")
          .withIndex("by_policy_id", (q) => q.eq("policyId", policyId))
          .unique()
      )?.status,
  );
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

  it("lets go of a settlement the vault refuses with u213 like any on-chain abort; one within the window's room then pays", async () => {
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

    // 1,200 STX is within what is locked, but beyond the window's 1,000 STX.
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const backersBefore = await Promise.all(backers.map(stxOf));
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: STX(1_200) });
    const [settleId] = await sendAndFollow();
    const refused = await row(settleId!);
    // An erring call with a "vault sends" post-condition is reported as a post-condition abort.
    expect(refused).toMatchObject({ status: "failed", error: "abort_by_post_condition (err u213)" });
    expect(await apiTx(refused.txid!)).toMatchObject({ tx_status: "abort_by_post_condition", tx_result: { repr: "(err u213)" } });
    expect(stack.server.chain.stxBalance(buyer.address)).toBe(buyerBefore);
    expect(await policyStatus(policyId)).toBe("Active");
    const alerts = await backend().run(async (ctx) => await ctx.db.query("alerts").collect());
    expect(alerts.map((a) => [a.kind, a.message])).toEqual([
      ["transaction-failed", `settle-policy for policies ${policyId} failed: abort_by_post_condition (err u213)`],
    ]);
    const synced = await sync();
    expect(synced).toMatchObject({ applied: 0, unmatched: 0, rejected: 0 });
    expect(await Promise.all(backers.map(stxOf))).toEqual(backersBefore);
    expect(outflow()).toMatchObject({ used: 0n, available: STX_FLOOR });

    // The policy can be settled again, within the window's room: exactly the cap.
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: STX_FLOOR });
    const [paidId] = await sendAndFollow();
    expect((await row(paidId!)).status).toBe("confirmed");
    expect(stack.server.chain.stxBalance(buyer.address) - buyerBefore).toBe(STX_FLOOR);
    expect(await sync()).toMatchObject({ applied: 1, unmatched: 0 });
    expect(await policyStatus(policyId)).toBe("Settled");
    expect(outflow()).toMatchObject({ used: STX_FLOOR, available: 0n });
    // What stays locked for the settled policy is released (a release is no outflow).
    const [releaseId] = await sendAndFollow();
    expect((await row(releaseId!)).status).toBe("confirmed");
    await sync();
  });

  it("keeps a voucher's reservation when its withdrawal is refused with u213, and frees it once a later voucher redeems in a new window", async () => {
    const wallet = await newWallet(stack.server);
    await deposit(wallet, STX(500), "Balanced");
    await mine(stack.server);
    await sync();
    expect(outflow().available).toBe(0n);

    const alice = stack.t.withIdentity({ subject: wallet.address });
    const first = await alice.action(api.liquidity.requestWithdrawal, { amount: STX(100), token: "STX" });
    expect(first.voucher.nonce).toBe(1n);
    const refusedTxid = await signAndBroadcast(stack.server, first.call, wallet.key);
    await mine(stack.server);
    expect(await apiTx(refusedTxid)).toMatchObject({ tx_status: "abort_by_post_condition", tx_result: { repr: "(err u213)" } });
    expect(await sync()).toMatchObject({ applied: 0, unmatched: 0, rejected: 0 });
    // Nothing left the vault: the total stays, and the amount stays held while the voucher could still be redeemed.
    expect(await stxOf(wallet)).toMatchObject({ total: STX(500), reserved: STX(100), available: STX(400) });

    // A new window opens once OUTFLOW-WINDOW burn blocks have passed.
    await stack.server.advanceBurnBlocks(OUTFLOW_WINDOW);
    expect(outflow()).toMatchObject({ used: 0n, windowStart: BigInt(stack.server.simnet.burnBlockHeight) });
    const second = await alice.action(api.liquidity.requestWithdrawal, { amount: STX(100), token: "STX" });
    expect(second.voucher.nonce).toBe(2n);
    const paidTxid = await signAndBroadcast(stack.server, second.call, wallet.key);
    await mine(stack.server);
    expect(await apiTx(paidTxid)).toMatchObject({ tx_status: "success" });
    expect(await sync()).toMatchObject({ applied: 1, unmatched: 0 });

    // Nonce 2 redeemed: the vault now refuses nonce 1, so its reservation is freed too.
    expect(await stxOf(wallet)).toMatchObject({ total: STX(400), reserved: 0n, available: STX(400) });
    const statuses = await backend().run(async (ctx) =>
      (
        await ctx.db
          .query("withdrawalReservations")
          .withIndex("by_provider_and_nonce", (q) => q.eq("provider", wallet.address))
          .collect()
      ).map((r) => [r.nonce, r.status]),
    );
    expect(statuses).toEqual([
      [1n, "superseded"],
      [2n, "redeemed"],
    ]);
    // Chain and books agree (STX, sBTC).
    expect(await stack.t.action(internal.reconciliation.reconcile, {})).toEqual(["match", "match"]);
  });
});
