/**
 * The public surface as a stranger calls it: `requestWithdrawal` decides from
 * the books before it spends a request of the deployment's Stacks API budget,
 * and hands out no voucher the vault can only refuse; `POST /auth/challenge`
 * bounds an IPv6 client by its /64; `POST /chainhooks/vault` takes the
 * consumer secret under its current name.
 */
import { getAddressFromPrivateKey, randomPrivateKey } from "@stacks/transactions";
import { ConvexError } from "convex/values";
import { exportJWK, generateKeyPair } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { newBackend, snapshot, type Backend } from "./convexTest";
import {
  ALICE,
  BOB,
  CAROL,
  configureChain,
  depositEvent,
  stubChainTip,
  withdrawalEvent,
} from "./liquidityFixtures";
import { expectPoolError } from "./poolErrors";

async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return t;
}

/** Alice holds 10,000 µSTX in Balanced, credited from a synced deposit. */
async function fundedBackend(): Promise<Backend> {
  const t = await seededBackend();
  await t.withIdentity({ subject: ALICE }).mutation(api.liquidity.requestCommitCapital, { amount: 10_000n, token: "STX", tier: "Balanced" });
  await t.mutation(internal.vaultEvents.apply, { event: depositEvent(ALICE, "STX", 10_000n, { totalBalance: 10_000n, totalLocked: 0n }) });
  return t;
}

async function reservedOf(t: Backend, who: string): Promise<bigint> {
  const portfolio = await t.withIdentity({ subject: who }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX")?.reserved ?? 0n;
}

beforeEach(() => {
  configureChain();
  stubChainTip(1_000);
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

describe("requestWithdrawal decides what it can decide alone before asking the Stacks API", () => {
  it("refuses a signed-in wallet that never deposited (UNKNOWN_PROVIDER) without a single request to the Stacks API", async () => {
    const t = await fundedBackend();
    const calls = stubChainTip(1_000);
    const before = await snapshot(t);
    await expectPoolError(t.withIdentity({ subject: CAROL }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }), "UNKNOWN_PROVIDER");
    // Any wallet can sign in: each such call must not spend the deployment's Hiro rate budget.
    expect(calls).toEqual([]);
    expect(await snapshot(t)).toEqual(before);
  });

  it("refuses more than the provider holds (2^63 − 1 µSTX) by the amount (INSUFFICIENT_AVAILABLE_BALANCE or INVALID_AMOUNT), never OUTFLOW_LIMITED, without asking the Stacks API", async () => {
    const t = await fundedBackend();
    const calls = stubChainTip(1_000);
    const outcome = await t
      .withIdentity({ subject: ALICE })
      .action(api.liquidity.requestWithdrawal, { amount: 2n ** 63n - 1n, token: "STX" })
      .then(() => null, (error: unknown) => error);
    expect(outcome).toBeInstanceOf(ConvexError);
    expect(["INSUFFICIENT_AVAILABLE_BALANCE", "INVALID_AMOUNT"]).toContain((outcome as ConvexError<{ code: string }>).data.code);
    expect(calls).toEqual([]);
    expect(await reservedOf(t, ALICE)).toBe(0n);
  });
});

describe("requestWithdrawal's OUTFLOW_LIMITED refusal", () => {
  it("says at which burn block the window reopens also when the amount is over a whole window's cap", async () => {
    const t = await fundedBackend();
    // The window opened at burn block 100, 1,000 of its 2,500 are used: 1,500 fit now, 2,500 from block 244.
    stubChainTip(1_000, { windowStart: 100n, used: 1_000n, cap: 2_500n, available: 1_500n });
    const message = await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 3_000n, token: "STX" }),
      "OUTFLOW_LIMITED",
    );
    expect(message).toContain("1500");
    expect(message).toContain("burn block 244");
    expect(await reservedOf(t, ALICE)).toBe(0n);
  });
});

describe("requestWithdrawal retried with an idempotency key", () => {
  const KEY = "retried-withdrawal-1";

  it("refuses (INVALID_REQUEST) a key whose voucher expired, instead of handing back the dead voucher", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    const first = await alice.action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX", idempotencyKey: KEY });
    expect(first.voucher).toMatchObject({ nonce: 1n, expiresAt: 1_050n });
    // The sync has passed the voucher's expiry: the vault refuses it (u209) and its reservation is freed.
    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 1_051n });
    expect(await t.mutation(internal.liquidity.expireWithdrawalReservations, {})).toEqual({ expired: 1, hasMore: false });
    stubChainTip(1_060);

    await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX", idempotencyKey: KEY }), "INVALID_REQUEST");
    expect(await reservedOf(t, ALICE)).toBe(0n);
  });

  it("refuses (INVALID_REQUEST) a key whose voucher was superseded by a later redeemed one (its nonce can never be redeemed)", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY }); // nonce 1
    await alice.action(api.liquidity.requestWithdrawal, { amount: 2_000n, token: "STX" }); // nonce 2
    await t.mutation(internal.vaultEvents.apply, { event: withdrawalEvent(ALICE, "STX", 2_000n, 2n, { totalBalance: 8_000n, totalLocked: 0n }) });

    await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY }), "INVALID_REQUEST");
  });

  it("refuses after the vault's shutdown (VAULT_SHUT_DOWN): no voucher the vault can only refuse (u215)", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY });
    const at = { eventIndex: 0, blockHeight: 20n, blockHash: `0x${"cc".repeat(32)}` };
    const terms = { stxAssets: 10_000n, stxLiabilities: 10_000n, sbtcAssets: 0n, sbtcLiabilities: 0n, by: BOB };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"a4".repeat(32)}`, kind: "shutdown", ...terms }] });

    await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY }), "VAULT_SHUT_DOWN");
  });

  it("refuses after the hot keys were revoked: no voucher signed by a key that holds no role", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY });
    const at = { eventIndex: 0, blockHeight: 20n, blockHash: `0x${"cc".repeat(32)}` };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"a1".repeat(32)}`, kind: "hot-keys-revoked" }] });

    await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY }), "CONFIGURATION_MISSING");
  });
});

describe("POST /auth/challenge limits", () => {
  const SITE_URL = "https://happy-otter-123.convex.site";

  async function configureSignIn() {
    const keys = await generateKeyPair("ES256", { extractable: true });
    const { kty, crv, x, y, d } = await exportJWK(keys.privateKey);
    vi.stubEnv("CONVEX_SITE_URL", SITE_URL);
    vi.stubEnv("AUTH_JWT_PRIVATE_KEY", JSON.stringify({ kty, crv, x, y, d, kid: "surface-key" }));
  }

  const freshAddress = () => getAddressFromPrivateKey(randomPrivateKey(), "testnet");

  async function challengeFrom(t: Backend, ip: string) {
    const response = await t.withRequestMetadata({ ip }).fetch("/auth/challenge", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address: freshAddress() }),
    });
    return response.status;
  }

  it("bounds an IPv6 client by its /64, not by each of its 2^64 addresses: 30 challenges, then 429 and nothing stored", async () => {
    await configureSignIn();
    const t = newBackend();
    // One host rotating through addresses of its own /64, a fresh wallet address each time.
    const statuses: number[] = [];
    for (let i = 1; i <= 31; i++) statuses.push(await challengeFrom(t, `2001:db8:85a3:8d3:${i.toString(16)}::1`));
    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    expect(statuses[30]).toBe(429);
    expect((await t.run(async (ctx) => await ctx.db.query("authChallenges").collect())).length).toBe(30);
    // Another /64 is another client.
    expect(await challengeFrom(t, "2001:db8:85a3:8d4::1")).toBe(200);
  });
});

describe("POST /chainhooks/vault", () => {
  const SECRET = "surface-consumer-secret-0123456789";
  const emptyDelivery = {
    chainhook: { uuid: "be4ab3ed-b606-4fe0-97c4-6c0b1ac9b185", name: "bithedge-vault-testnet" },
    event: { chain: "stacks", network: "testnet", apply: [], rollback: [] },
  };

  it("takes its consumer secret from CHAINHOOKS_CONSUMER_SECRET: an authorized delivery is 200, a wrong bearer 401, nothing written", async () => {
    vi.stubEnv("CHAINHOOK_SECRET", undefined);
    vi.stubEnv("CHAINHOOKS_CONSUMER_SECRET", SECRET);
    const t = newBackend();
    const before = await snapshot(t);
    const post = (authorization: string) =>
      t.fetch("/chainhooks/vault", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: authorization },
        body: JSON.stringify(emptyDelivery),
      });
    expect((await post("Bearer not-the-secret-at-all")).status).toBe(401);
    const ok = await post(`Bearer ${SECRET}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ staged: 0, reversed: 0, rollbackPending: 0 });
    expect(await snapshot(t)).toEqual(before);
  });
});
