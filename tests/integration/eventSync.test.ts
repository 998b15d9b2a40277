/**
 * The event sync against the local Hiro-compatible server, over real HTTP:
 * wallet-signed deposits and withdrawals, confirmations, idempotency under
 * overlapping runs, reorgs, faults and malformed answers.
 */
import { Cl } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { mine, newWallet, reorg, signAndBroadcast, startStack, stopStack, type Stack } from "./stack";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stopStack(stack);
});

async function portfolio(address: string) {
  return await stack.t.withIdentity({ subject: address }).query(api.liquidity.getProviderPortfolio, {});
}

async function stxTotal(address: string): Promise<bigint> {
  return (await portfolio(address))?.balances.find((b) => b.token === "STX")?.total ?? 0n;
}

async function depositThroughWallet(wallet: { key: string; address: string }, amount: bigint, token: "STX" | "sBTC" = "STX") {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token, tier: "Balanced" });
  return await signAndBroadcast(stack.server, call, wallet.key);
}

async function sync() {
  return await stack.t.action(internal.eventSync.syncVaultEvents, {});
}

describe("syncVaultEvents", () => {
  it("credits a wallet-signed deposit once it is confirmed, not before", async () => {
    const wallet = await newWallet(stack.server);
    await depositThroughWallet(wallet, 5_000_000n);

    await stack.server.mine(1); // mined, but no block on top yet
    const early = await sync();
    expect(early.waitingForConfirmations).toBeGreaterThanOrEqual(1);
    expect(await stxTotal(wallet.address)).toBe(0n);

    await stack.server.mine(1);
    const confirmed = await sync();
    expect(confirmed.applied).toBe(1);
    expect(await stxTotal(wallet.address)).toBe(5_000_000n);
    expect((await portfolio(wallet.address))?.tier).toBe("Balanced");
  });

  it("applies every event exactly once across repeated and overlapping runs", async () => {
    const a = await newWallet(stack.server);
    const b = await newWallet(stack.server, 10_000n);
    await depositThroughWallet(a, 1_000n);
    await depositThroughWallet(b, 2_500n, "sBTC");
    await mine(stack.server);

    const [first, second] = await Promise.all([sync(), sync()]);
    expect(first.applied + second.applied).toBe(2);
    const third = await sync();
    expect(third.applied).toBe(0);
    expect(await stxTotal(a.address)).toBe(1_000n);
    const sbtc = (await portfolio(b.address))?.balances.find((x) => x.token === "sBTC");
    expect(sbtc?.total).toBe(2_500n);

    // The mirror of the vault's totals matches the chain's read-only totals.
    const stats = await stack.t.query(api.liquidity.getPoolStats, {});
    const stxMirror = stats.find((s) => s.token === "STX")!;
    expect(stxMirror.totalBalanceOnChain).toBe(stxMirror.totalCapital);
  });

  it("withdraws end to end: voucher, wallet-signed withdraw-funds, synced redemption", async () => {
    const wallet = await newWallet(stack.server);
    await depositThroughWallet(wallet, 3_000_000n);
    await mine(stack.server);
    await sync();

    const { call, voucher } = await stack.t
      .withIdentity({ subject: wallet.address })
      .action(api.liquidity.requestWithdrawal, { amount: 1_000_000n, token: "STX" });
    expect((await portfolio(wallet.address))?.balances.find((b) => b.token === "STX")).toMatchObject({
      total: 3_000_000n,
      reserved: 1_000_000n,
      available: 2_000_000n,
    });
    await signAndBroadcast(stack.server, call, wallet.key);
    await mine(stack.server);
    await sync();

    const after = await portfolio(wallet.address);
    expect(after?.balances.find((b) => b.token === "STX")).toMatchObject({ total: 2_000_000n, reserved: 0n });
    expect(after?.pendingWithdrawals).toEqual([]);
    // The wallet's first voucher: the vault recorded its nonce as the provider's last redeemed one.
    expect(voucher.nonce).toBe(1n);
    const record = stack.server.simnet.callReadOnlyFn(call.contract, VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(wallet.address)], wallet.address);
    expect(record.result).toEqual(
      Cl.some(
        Cl.tuple({
          nonce: Cl.uint(1n),
          "stx-in": Cl.uint(3_000_000n),
          "stx-out": Cl.uint(1_000_000n),
          "sbtc-in": Cl.uint(0n),
          "sbtc-out": Cl.uint(0n),
          "created-seq": expect.anything(),
        }),
      ),
    );
  });

  it("reverses an applied event whose block leaves the canonical chain, and re-applies it when re-included", async () => {
    const wallet = await newWallet(stack.server);
    await depositThroughWallet(wallet, 777n);
    await stack.server.mine(2);
    await sync();
    expect(await stxTotal(wallet.address)).toBe(777n);

    await reorg(stack.server, 2);
    const afterReorg = await sync();
    expect(afterReorg.reversed).toBe(1);
    expect(await stxTotal(wallet.address)).toBe(0n);
    const alerts = await stack.t.run(async (ctx) => ctx.db.query("alerts").collect());
    expect(alerts.some((a) => a.kind === "reorg-reversed")).toBe(true);
  });

  it("catches up on more events than one run applies, oldest first, across runs it schedules itself", async () => {
    // The deposit orphaned above went back to the mempool: mined and synced first, it is not one of the seven.
    await mine(stack.server);
    await sync();
    process.env.SYNC_MAX_EVENTS_PER_RUN = "3";
    try {
      const wallets = [];
      // Seven deposits in four blocks: 2, 2, 2, 1.
      for (let i = 0; i < 7; i++) {
        const wallet = await newWallet(stack.server);
        await depositThroughWallet(wallet, BigInt(1_000 + i));
        wallets.push(wallet);
        if (i % 2 === 1) await stack.server.mine(1);
      }
      await mine(stack.server);

      const first = await sync();
      expect(first).toMatchObject({ applied: 3, catchingUp: true });
      // The three oldest deposits are in the books; the rest wait for the scheduled runs.
      expect(await Promise.all(wallets.map((w) => stxTotal(w.address)))).toEqual([1_000n, 1_001n, 1_002n, 0n, 0n, 0n, 0n]);
      await stack.t.finishAllScheduledFunctions(() => undefined);
      // The scheduled runs took the rest, three at a time.
      expect(await Promise.all(wallets.map((w) => stxTotal(w.address)))).toEqual(
        wallets.map((_, i) => BigInt(1_000 + i)),
      );
    } finally {
      delete process.env.SYNC_MAX_EVENTS_PER_RUN;
    }
    const last = await sync();
    expect(last).toMatchObject({ applied: 0, catchingUp: false });
  });

  it("survives 429, 500 and slow answers by backing off and retrying", async () => {
    const wallet = await newWallet(stack.server);
    await depositThroughWallet(wallet, 4_242n);
    await mine(stack.server);
    const fault = (body: object) =>
      fetch(`${stack.server.url}/_local/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await fault({ path: "/extended/v2/smart-contracts", status: 429, times: 1, retryAfterSeconds: 1 });
    await fault({ path: "/extended/v1/tx", status: 500, times: 2 });
    await fault({ path: "/v2/info", status: 503, times: 1 });
    const result = await sync();
    expect(result.applied).toBe(1);
    expect(await stxTotal(wallet.address)).toBe(4_242n);
  });

  it("refuses a malformed API answer without applying anything, and records an undecodable event once", async () => {
    const realFetch = globalThis.fetch;
    const wallet = await newWallet(stack.server);
    await depositThroughWallet(wallet, 31n);
    await mine(stack.server);

    // 1. The events page is not the shape the API promises: the run fails, nothing is applied.
    vi.stubGlobal("fetch", async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.includes("/extended/v2/smart-contracts/")) return Response.json({ results: "nope" });
      return realFetch(input, init);
    });
    await expect(sync()).rejects.toThrow(/unexpected shape/);
    expect(await stxTotal(wallet.address)).toBe(0n);

    // 2. One event's payload is garbage: it is recorded and alerted once, the rest still applies.
    vi.stubGlobal("fetch", async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const response = await realFetch(input, init);
      // The newest page (no cursor): the new deposit is its first row.
      if (!url.includes("/extended/v2/smart-contracts/") || url.includes("cursor=")) return response;
      const page = (await response.json()) as { results: { contract_log: { value: { hex: string } } }[] };
      const first = page.results[0];
      if (first) first.contract_log.value.hex = "0x0c00000001056576656e740d00000003626164";
      return Response.json(page);
    });
    const run = await sync();
    const again = await sync();
    vi.unstubAllGlobals();
    expect(run.rejected).toBe(1);
    expect(again.rejected).toBe(0);
    const rejected = await stack.t.run(async (ctx) => ctx.db.query("rejectedEvents").collect());
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toMatch(/unexpected tuple/);
  });
});
