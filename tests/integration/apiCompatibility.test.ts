/**
 * The backend against the Hiro API as it is now, over real HTTP to the local
 * server: transactions mined as `problematic_skipped` (API v9) read and
 * treated as never run, and the deprecated routes switched off (410 Gone) —
 * sending and following transactions and the sync use none of them (the sync
 * reads the vault's events from the cursor-paged v2 logs route).
 */
import { afterAll, describe, expect, it } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alertsOfKind,
  follow,
  localPost,
  pendingRow,
  row,
  send,
  stack,
  STX,
  sync,
  useBackendStack,
  type Wallet,
} from "./backendTransactionsFixtures";
import { mine, newWallet, reorg, signAndBroadcast } from "./stack";

useBackendStack({ funded: true });

async function stxTotal(address: string): Promise<bigint> {
  const portfolio = await stack.t.withIdentity({ subject: address }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX")?.total ?? 0n;
}

/** A wallet-signed deposit (the wallet's library reads the v1 nonces route); returns its txid. */
async function deposit(wallet: Wallet, amount: bigint): Promise<string> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier: "Balanced" });
  return await signAndBroadcast(stack.server, call, wallet.key);
}

async function markProblematicSkipped(txid: string): Promise<void> {
  const response = await localPost("/_local/faults", { txid, txStatus: "problematic_skipped" });
  expect(response.status, await response.clone().text()).toBe(200);
}

async function setDeprecatedRoutes(body: { mode: "enabled" | "gone"; except?: string[] }): Promise<void> {
  const response = await localPost("/_local/deprecated-routes", body);
  expect(response.status, await response.clone().text()).toBe(200);
}

afterAll(async () => {
  if (stack) await setDeprecatedRoutes({ mode: "enabled" });
});

describe("transactions mined as problematic_skipped", () => {
  it("follow: a backend lock mined but skipped fails with that status, as an aborted one does", async () => {
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const { txid } = await row(id);
    await markProblematicSkipped(txid!);
    await mine(stack.server, 1);

    expect(await follow()).toEqual({ confirmed: 0, failed: 1, replaced: 0 });
    expect(await row(id)).toMatchObject({ status: "failed", error: "problematic_skipped (err none)" });
    const failed = await alertsOfKind("transaction-failed");
    expect(failed.map((a) => a.message)).toContainEqual(expect.stringContaining("problematic_skipped (err none)"));
  });

  it("sync: an applied deposit re-mined on the winning fork as problematic_skipped is undone; the rest of its batch is read and kept", async () => {
    const kept = await newWallet(stack.server);
    const skipped = await newWallet(stack.server);
    await deposit(kept, STX(5));
    const skippedTxid = await deposit(skipped, STX(7));
    await mine(stack.server, 2);
    expect((await sync()).applied).toBe(2);
    expect([await stxTotal(kept.address), await stxTotal(skipped.address)]).toEqual([STX(5), STX(7)]);

    // The fork re-includes both deposits; there the second one was skipped, never run.
    await reorg(stack.server, 2, true);
    await markProblematicSkipped(skippedTxid);

    const run = await sync();
    expect(run.reversed).toBeGreaterThanOrEqual(2);
    expect([await stxTotal(kept.address), await stxTotal(skipped.address)]).toEqual([STX(5), 0n]);
    const again = await sync();
    expect(again.applied).toBe(0);
    expect([await stxTotal(kept.address), await stxTotal(skipped.address)]).toEqual([STX(5), 0n]);
  });
});

describe("deprecated routes switched off (410 Gone)", () => {
  it("send and follow use none of them: a lock is sent and confirmed", async () => {
    await setDeprecatedRoutes({ mode: "gone" });
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 1n);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server, 1);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await row(id)).status).toBe("confirmed");
    expect(await alertsOfKind("api-route-gone")).toEqual([]);
  });

  it("the sync reads no deprecated route but the contract events: with the others gone it applies a deposit", async () => {
    await setDeprecatedRoutes({ mode: "enabled" });
    await mine(stack.server, 1);
    await sync(); // the lock confirmed above, now with a block on top
    const wallet = await newWallet(stack.server);
    await deposit(wallet, STX(3));
    await mine(stack.server, 2);
    await setDeprecatedRoutes({ mode: "gone", except: ["get_contract_events_by_id"] });
    expect((await sync()).applied).toBe(1);
    expect(await stxTotal(wallet.address)).toBe(STX(3));
  });

  it("with every deprecated route gone, the contract-events route too, the sync still applies and alerts nothing", async () => {
    await setDeprecatedRoutes({ mode: "enabled" });
    const wallet = await newWallet(stack.server);
    await deposit(wallet, STX(2));
    await mine(stack.server, 2);
    await setDeprecatedRoutes({ mode: "gone" });

    expect((await sync()).applied).toBe(1);
    expect(await stxTotal(wallet.address)).toBe(STX(2));
    expect(await alertsOfKind("api-route-gone")).toEqual([]);
    expect(await stack.t.query(internal.eventSync.cursor, {})).toBeDefined();
  });
});
