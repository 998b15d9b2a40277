import { Cl, getAddressFromPublicKey, Pc, publicKeyFromSignatureRsv, type ClarityValue } from "@stacks/transactions";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { withdrawalVoucherHash } from "../../convex/chain/withdrawalVoucher";
import { newBackend, snapshot } from "./convexTest";
import {
  ALICE,
  SIGNER_ADDRESS,
  BOB,
  CAROL,
  configureChain,
  depositEvent,
  SBTC,
  stubChainTip,
  VAULT,
  withdrawalEvent,
} from "./liquidityFixtures";
import { expectPoolError } from "./poolErrors";
import { patchTierConfig } from "../support/tierConfigs";

type Backend = ReturnType<typeof newBackend>;

async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return t;
}

async function deposit(t: Backend, who: string, token: "STX" | "sBTC", amount: bigint, totalBalance = amount) {
  return await t.mutation(internal.vaultEvents.apply, {
    event: depositEvent(who, token, amount, { totalBalance, totalLocked: 0n }),
  });
}

async function portfolioOf(t: Backend, who: string) {
  return await t.withIdentity({ subject: who }).query(api.liquidity.getProviderPortfolio, {});
}

function balanceIn(portfolio: Awaited<ReturnType<typeof portfolioOf>>, token: "STX" | "sBTC") {
  const balance = portfolio?.balances.find((b) => b.token === token);
  if (!balance) throw new Error(`no ${token} balance in portfolio`);
  return balance;
}

function decode(hex: string): ClarityValue {
  return Cl.deserialize(hex);
}

beforeEach(() => {
  configureChain();
  stubChainTip(1_000);
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

describe("tier configuration", () => {
  it("seeds the three tiers once; a second seed changes nothing", async () => {
    const t = newBackend();
    expect(await t.mutation(internal.tierConfigs.seedDefaults, {})).toEqual({ inserted: 3 });
    expect(await t.mutation(internal.tierConfigs.seedDefaults, {})).toEqual({ inserted: 0 });
    const tiers = await t.run(async (ctx) => (await ctx.db.query("tierConfigs").collect()).map((c) => c.tier).sort());
    expect(tiers).toEqual(["Aggressive", "Balanced", "Conservative"]);
  });
});

describe("requestCommitCapital", () => {
  it("returns the wallet's deposit-funds call with a deny-mode post-condition on exactly the amount", async () => {
    const t = await seededBackend();
    const { tier, call } = await t
      .withIdentity({ subject: ALICE })
      .mutation(api.liquidity.requestCommitCapital, { amount: 2_500_000n, token: "STX", tier: "Balanced" });

    expect(tier).toBe("Balanced");
    expect(call.contract).toBe(VAULT);
    expect(call.functionName).toBe(VAULT_FUNCTIONS.depositFunds);
    expect(call.network).toBe("testnet");
    expect(call.postConditionMode).toBe("deny");
    expect(call.functionArgs.map(decode)).toEqual([Cl.uint(2_500_000n), Cl.none()]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "stx-postcondition", address: ALICE, condition: "eq", amount: "2500000" },
    ]);
  });

  it("names the sBTC contract and its asset for an sBTC deposit", async () => {
    const t = await seededBackend();
    const { call } = await t
      .withIdentity({ subject: BOB })
      .mutation(api.liquidity.requestCommitCapital, { amount: 40_000n, token: "sBTC", tier: "Aggressive" });
    expect(call.functionArgs.map(decode)).toEqual([Cl.uint(40_000n), Cl.some(Cl.principal(SBTC))]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "ft-postcondition", address: BOB, condition: "eq", amount: "40000", asset: `${SBTC}::sbtc-token` },
    ]);
  });

  it("creates no provider, only the tier choice, until the deposit syncs; the deposit joins the chosen tier", async () => {
    const t = await seededBackend();
    await t
      .withIdentity({ subject: ALICE })
      .mutation(api.liquidity.requestCommitCapital, { amount: 1_000n, token: "STX", tier: "Aggressive" });
    expect(await portfolioOf(t, ALICE)).toBeNull();
    const before = await t.run(async (ctx) => ({
      providers: await ctx.db.query("providers").collect(),
      balances: await ctx.db.query("providerBalances").collect(),
      choices: (await ctx.db.query("tierChoices").collect()).map((c) => [c.provider, c.tier]),
    }));
    expect(before).toEqual({ providers: [], balances: [], choices: [[ALICE, "Aggressive"]] });

    await deposit(t, ALICE, "STX", 1_000n);
    const portfolio = await portfolioOf(t, ALICE);
    expect(portfolio?.tier).toBe("Aggressive");
    expect(balanceIn(portfolio, "STX")).toMatchObject({ total: 1_000n, available: 1_000n });
    expect(await t.run(async (ctx) => await ctx.db.query("tierChoices").collect())).toEqual([]);
  });

  it("writes nothing when a provider adds to their position in their own tier", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n, token: "STX", tier: "Balanced" });
    await deposit(t, ALICE, "STX", 10n);
    const before = await snapshot(t);
    const { tier, call } = await alice.mutation(api.liquidity.requestCommitCapital, { amount: 5n, token: "sBTC", tier: "Balanced" });
    expect(tier).toBe("Balanced");
    expect(call.functionName).toBe(VAULT_FUNCTIONS.depositFunds);
    expect(await snapshot(t)).toEqual(before);
  });

  it("moves an emptied provider to a newly chosen tier at their next deposit, carrying their lifetime yield", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n, token: "STX", tier: "Balanced" });
    await deposit(t, ALICE, "STX", 10n);
    await t.mutation(internal.vaultEvents.apply, { event: withdrawalEvent(ALICE, "STX", 10n, 1n, { totalBalance: 0n, totalLocked: 0n }) });
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 20n, token: "STX", tier: "Aggressive" });
    // Until the deposit syncs, the provider stays where they were.
    expect((await portfolioOf(t, ALICE))?.tier).toBe("Balanced");
    await deposit(t, ALICE, "STX", 20n);
    expect((await portfolioOf(t, ALICE))?.tier).toBe("Aggressive");
    const stats = await t.query(api.liquidity.getTierStats, {});
    const stx = (tier: string) => stats.find((s) => s.tier === tier && s.token === "STX");
    expect(stx("Aggressive")).toMatchObject({ totalCapital: 20n, providerCount: 1n });
    expect(stx("Balanced")).toMatchObject({ totalCapital: 0n, providerCount: 0n });
  });

  it("refuses more than all of a token there can be (INVALID_AMOUNT): 2^63 - 1 µSTX, or more sats than 21 million BTC", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    const stxMessage = await expectPoolError(
      alice.mutation(api.liquidity.requestCommitCapital, { amount: 2n ** 63n - 1n, token: "STX", tier: "Balanced" }),
      "INVALID_AMOUNT",
    );
    expect(stxMessage).toBe("9223372036854775807 µSTX is more than all the STX there can be (1818000000000000 µSTX)");
    await expectPoolError(
      alice.mutation(api.liquidity.requestCommitCapital, { amount: 2_100_000_000_000_001n, token: "sBTC", tier: "Balanced" }),
      "INVALID_AMOUNT",
    );
    expect(await t.run(async (ctx) => await ctx.db.query("tierChoices").collect())).toEqual([]);
    // The whole supply is a (theoretical) deposit.
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 2_100_000_000_000_000n, token: "sBTC", tier: "Balanced" });
  });

  it("refuses more than the per-provider maximum (PROVIDER_LIMIT_EXCEEDED), counting what the provider holds", async () => {
    const t = await seededBackend();
    vi.stubEnv("MAX_PROVIDER_CAPITAL_USTX", "10000");
    const alice = t.withIdentity({ subject: ALICE });
    await expectPoolError(
      alice.mutation(api.liquidity.requestCommitCapital, { amount: 10_001n, token: "STX", tier: "Balanced" }),
      "PROVIDER_LIMIT_EXCEEDED",
    );
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 7_000n, token: "STX", tier: "Balanced" });
    await deposit(t, ALICE, "STX", 7_000n);
    const message = await expectPoolError(
      alice.mutation(api.liquidity.requestCommitCapital, { amount: 3_001n, token: "STX", tier: "Balanced" }),
      "PROVIDER_LIMIT_EXCEEDED",
    );
    expect(message).toBe("a provider may hold at most 10000 µSTX in the pool; you hold 7000 µSTX, so at most 3000 µSTX more fits");
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 3_000n, token: "STX", tier: "Balanced" });
    // The maximum is per token: sBTC has none here.
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n ** 12n, token: "sBTC", tier: "Balanced" });
    // Another provider has their own room.
    await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 10_000n, token: "STX", tier: "Balanced" });

    vi.stubEnv("MAX_PROVIDER_CAPITAL_SATS", "a lot");
    expect(
      await expectPoolError(alice.mutation(api.liquidity.requestCommitCapital, { amount: 1n, token: "STX", tier: "Balanced" }), "CONFIGURATION_MISSING"),
    ).toContain("MAX_PROVIDER_CAPITAL_SATS");
  });

  it("refuses a caller who is not signed in (NOT_AUTHENTICATED)", async () => {
    const t = await seededBackend();
    await expectPoolError(
      t.mutation(api.liquidity.requestCommitCapital, { amount: 1n, token: "STX", tier: "Balanced" }),
      "NOT_AUTHENTICATED",
    );
  });

  it("refuses zero and negative amounts (INVALID_AMOUNT) and records nothing", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    for (const amount of [0n, -5n]) {
      await expectPoolError(
        alice.mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier: "Balanced" }),
        "INVALID_AMOUNT",
      );
    }
    expect(await portfolioOf(t, ALICE)).toBeNull();
  });

  it("refuses an unknown token or tier at argument validation, recording nothing", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    const badToken = { amount: 1n, token: "ETH", tier: "Balanced" } as unknown as {
      amount: bigint;
      token: "STX";
      tier: "Balanced";
    };
    await expect(alice.mutation(api.liquidity.requestCommitCapital, badToken)).rejects.toThrow(/ArgumentValidationError|Validator/);
    const badTier = { amount: 1n, token: "STX", tier: "Reckless" } as unknown as typeof badToken;
    await expect(alice.mutation(api.liquidity.requestCommitCapital, badTier)).rejects.toThrow(/ArgumentValidationError|Validator/);
    expect(await portfolioOf(t, ALICE)).toBeNull();
  });

  it("refuses a deposit over the tier's capacity (TIER_CAPACITY_EXCEEDED) and says how much fits", async () => {
    const t = await seededBackend();
    await patchTierConfig(t, "Balanced", { capacityLimitUstx: 10_000n });
    await t
      .withIdentity({ subject: BOB })
      .mutation(api.liquidity.requestCommitCapital, { amount: 7_000n, token: "STX", tier: "Balanced" });
    await deposit(t, BOB, "STX", 7_000n);

    const message = await expectPoolError(
      t
        .withIdentity({ subject: ALICE })
        .mutation(api.liquidity.requestCommitCapital, { amount: 3_001n, token: "STX", tier: "Balanced" }),
      "TIER_CAPACITY_EXCEEDED",
    );
    expect(message).toContain("at most 3000 µSTX more fits");
    expect(await portfolioOf(t, ALICE)).toBeNull();
    // Exactly filling the capacity is allowed; other tokens have no limit.
    await t
      .withIdentity({ subject: ALICE })
      .mutation(api.liquidity.requestCommitCapital, { amount: 3_000n, token: "STX", tier: "Balanced" });
  });

  it("keeps a provider with capital in their tier (TIER_MISMATCH)", async () => {
    const t = await seededBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n, token: "STX", tier: "Balanced" });
    // Before any capital arrives the tier can still change.
    await alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n, token: "STX", tier: "Aggressive" });
    await deposit(t, ALICE, "STX", 10n);
    await expectPoolError(
      alice.mutation(api.liquidity.requestCommitCapital, { amount: 10n, token: "sBTC", tier: "Conservative" }),
      "TIER_MISMATCH",
    );
    expect((await portfolioOf(t, ALICE))?.tier).toBe("Aggressive");
  });

  it("fails with CONFIGURATION_MISSING, naming the variable, when the vault is not configured", async () => {
    const t = await seededBackend();
    vi.stubEnv("VAULT_CONTRACT_ID", "");
    const message = await expectPoolError(
      t
        .withIdentity({ subject: ALICE })
        .mutation(api.liquidity.requestCommitCapital, { amount: 1n, token: "STX", tier: "Balanced" }),
      "CONFIGURATION_MISSING",
    );
    expect(message).toContain("VAULT_CONTRACT_ID");
  });
});

describe("deposits are credited only from synced events", () => {
  it("credits a funds-deposited event to the depositor and mirrors the vault's totals", async () => {
    const t = await seededBackend();
    await t
      .withIdentity({ subject: ALICE })
      .mutation(api.liquidity.requestCommitCapital, { amount: 5_000n, token: "sBTC", tier: "Balanced" });
    expect(await deposit(t, ALICE, "sBTC", 5_000n)).toBe("applied");

    expect(balanceIn(await portfolioOf(t, ALICE), "sBTC")).toEqual({
      token: "sBTC",
      total: 5_000n,
      locked: 0n,
      reserved: 0n,
      available: 5_000n,
      accruedYield: 0n,
    });
    const sbtcStats = (await t.query(api.liquidity.getPoolStats, {})).find((s) => s.token === "sBTC");
    expect(sbtcStats).toMatchObject({
      totalBalanceOnChain: 5_000n,
      totalLockedOnChain: 0n,
      totalCapital: 5_000n,
      totalAvailable: 5_000n,
      providerCount: 1n,
    });
  });

  it("applies the same event once: a replay is a duplicate and changes nothing", async () => {
    const t = await seededBackend();
    const event = depositEvent(ALICE, "STX", 900n, { totalBalance: 900n, totalLocked: 0n });
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("duplicate");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").total).toBe(900n);
    const ledgerRows = await t.run(async (ctx) => (await ctx.db.query("balanceLedger").collect()).length);
    expect(ledgerRows).toBe(1);
  });

  it("credits a deposit made straight to the contract to a new provider in the default (Conservative) tier", async () => {
    const t = await seededBackend();
    await deposit(t, CAROL, "STX", 123n);
    const portfolio = await portfolioOf(t, CAROL);
    expect(portfolio?.tier).toBe("Conservative");
    expect(balanceIn(portfolio, "STX").total).toBe(123n);
  });

  it("records an event the books refuse as unmatched and keeps none of its effects' writes (a zero-amount deposit)", async () => {
    const t = await seededBackend();
    await t.withIdentity({ subject: CAROL }).mutation(api.liquidity.requestCommitCapital, { amount: 5n, token: "STX", tier: "Aggressive" });
    const before = await snapshot(t);

    const zero = depositEvent(CAROL, "STX", 0n, { totalBalance: 0n, totalLocked: 0n });
    // The effects created the provider in the chosen tier (using up the choice) before the
    // ledger refused the amount: the sub-transaction takes all of that back.
    expect(await t.mutation(internal.vaultEvents.apply, { event: zero })).toBe("unmatched");
    const after = await snapshot(t);
    expect(after.providers).toEqual([]);
    expect(after.providerBalances).toEqual([]);
    expect(after.balanceLedger).toEqual([]);
    expect(after.tierChoices).toEqual(before.tierChoices);
    expect(after.vaultEvents?.map((e) => [e.txid, e.status])).toEqual([[zero.txid, "unmatched"]]);
    expect(after.alerts?.map((a) => [a.kind, a.message])).toEqual([
      ["event-unmatched", "vault event funds-deposited could not be applied: amount must be positive, got 0"],
    ]);
    // Nor does a zero amount (which the vault never prints) make a record of the provider for checkpoints.
    expect(after.providerRecords).toEqual([]);
    expect(after.vaultFlowTotals).toEqual(before.vaultFlowTotals);
    // The same event again is a duplicate; a real deposit afterwards still finds the choice.
    expect(await t.mutation(internal.vaultEvents.apply, { event: zero })).toBe("duplicate");
    await deposit(t, CAROL, "STX", 5n);
    expect((await portfolioOf(t, CAROL))?.tier).toBe("Aggressive");
  });

  it("applies the rest of a batch when one event in it is refused", async () => {
    const t = await seededBackend();
    const events = [
      depositEvent(ALICE, "STX", 10n, { totalBalance: 10n, totalLocked: 0n }),
      depositEvent(BOB, "STX", 0n, { totalBalance: 10n, totalLocked: 0n }),
      depositEvent(CAROL, "STX", 7n, { totalBalance: 17n, totalLocked: 0n }),
    ];
    expect(await t.mutation(internal.eventSync.applyBatch, { events })).toEqual({ applied: 2, duplicate: 0, unmatched: 1, recorded: 0 });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").total).toBe(10n);
    expect(await portfolioOf(t, BOB)).toBeNull();
    expect(balanceIn(await portfolioOf(t, CAROL), "STX").total).toBe(7n);
  });
});

describe("getProviderPortfolio", () => {
  it("shows the signed-in provider their own portfolio only", async () => {
    const t = await seededBackend();
    await deposit(t, ALICE, "STX", 100n, 100n);
    await deposit(t, BOB, "STX", 250n, 350n);
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").total).toBe(100n);
    expect(balanceIn(await portfolioOf(t, BOB), "STX").total).toBe(250n);
    expect((await portfolioOf(t, ALICE))?.principal).toBe(ALICE);
  });

  it("is null for a signed-in address that never committed", async () => {
    const t = await seededBackend();
    expect(await portfolioOf(t, CAROL)).toBeNull();
  });

  it("is null for a caller who is not signed in, as a dApp's useQuery expects before sign-in", async () => {
    const t = await seededBackend();
    expect(await t.query(api.liquidity.getProviderPortfolio, {})).toBeNull();
  });

  it("refuses a session whose subject is not a Stacks address (NOT_AUTHENTICATED)", async () => {
    const t = await seededBackend();
    await expectPoolError(
      t.withIdentity({ subject: "user_123" }).query(api.liquidity.getProviderPortfolio, {}),
      "NOT_AUTHENTICATED",
    );
  });
});

describe("requestWithdrawal", () => {
  async function fundedBackend(): Promise<Backend> {
    const t = await seededBackend();
    await t
      .withIdentity({ subject: ALICE })
      .mutation(api.liquidity.requestCommitCapital, { amount: 10_000n, token: "STX", tier: "Balanced" });
    await deposit(t, ALICE, "STX", 10_000n);
    return t;
  }

  it("reserves the amount and returns a withdraw-funds call with a voucher the backend key signed for this vault", async () => {
    const t = await fundedBackend();
    const { call, voucher } = await t
      .withIdentity({ subject: ALICE })
      .action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX" });

    expect(voucher.amount).toBe(4_000n);
    expect(voucher.token).toBe("STX");
    expect(voucher.expiresAt).toBe(1_050n); // tip 1,000 + VOUCHER_TTL_BLOCKS 50
    // The provider's first voucher: the vault refuses nonce 0 (a new provider's last redeemed one).
    expect(voucher.nonce).toBe(1n);

    expect(call.contract).toBe(VAULT);
    expect(call.functionName).toBe(VAULT_FUNCTIONS.withdrawFunds);
    const [amount, token, nonce, expiresAt, signature] = call.functionArgs.map(decode);
    expect([amount, token, nonce, expiresAt]).toEqual([
      Cl.uint(4_000n),
      Cl.none(),
      Cl.uint(1n),
      Cl.uint(1_050n),
    ]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "stx-postcondition", address: VAULT, condition: "eq", amount: "4000" },
    ]);

    // The signature recovers to the backend key (the vault's signer) over exactly this voucher, bound to this vault.
    if (signature?.type !== "buffer") throw new Error("signature argument is not a buffer");
    const signedBy = (vault: string) =>
      getAddressFromPublicKey(
        publicKeyFromSignatureRsv(
          withdrawalVoucherHash(
            { vault, provider: ALICE, amount: 4_000n, tokenContract: null, nonce: 1n, expiresAt: 1_050n },
            0x80000000n,
          ),
          signature.value,
        ),
        "testnet",
      );
    expect(signedBy(VAULT)).toBe(SIGNER_ADDRESS);
    expect(signedBy(`${SIGNER_ADDRESS}.liquidity-pool`)).not.toBe(SIGNER_ADDRESS);

    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({
      total: 10_000n,
      reserved: 4_000n,
      available: 6_000n,
    });
    expect((await portfolioOf(t, ALICE))?.pendingWithdrawals).toEqual([
      { token: "STX", amount: 4_000n, nonce: 1n, expiresAtBlock: 1_050n },
    ]);
  });

  it("issues each provider's nonces from 1 up, one above the highest issued, whatever became of it", async () => {
    const t = await fundedBackend();
    await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 500n, token: "STX", tier: "Balanced" });
    await deposit(t, BOB, "STX", 500n, 10_500n);
    const alice = t.withIdentity({ subject: ALICE });
    const bob = t.withIdentity({ subject: BOB });
    const nonceOf = async (who: typeof alice, amount: bigint) =>
      (await who.action(api.liquidity.requestWithdrawal, { amount, token: "STX" })).voucher.nonce;

    expect(await nonceOf(alice, 100n)).toBe(1n);
    expect(await nonceOf(alice, 100n)).toBe(2n);
    expect(await nonceOf(bob, 100n)).toBe(1n);
    // A cancelled voucher's nonce is not reused: the next one is above it.
    await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: ALICE, nonce: 2n });
    expect(await nonceOf(alice, 100n)).toBe(3n);
    // A refused request takes no nonce.
    await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000_000n, token: "STX" }), "INSUFFICIENT_AVAILABLE_BALANCE");
    expect(await nonceOf(alice, 100n)).toBe(4n);
    expect((await portfolioOf(t, ALICE))?.pendingWithdrawals.map((w) => w.nonce).sort()).toEqual([1n, 3n, 4n]);
    expect((await portfolioOf(t, BOB))?.pendingWithdrawals.map((w) => w.nonce)).toEqual([1n]);
  });

  it("issues a nonce above the last one the vault redeemed, even one this database never issued (a restored or new deployment)", async () => {
    const t = await fundedBackend();
    // A voucher with nonce 7, signed before this database existed, redeemed on chain and synced.
    await t.mutation(internal.vaultEvents.apply, {
      event: withdrawalEvent(ALICE, "STX", 1_000n, 7n, { totalBalance: 9_000n, totalLocked: 0n }),
    });
    const alice = t.withIdentity({ subject: ALICE });
    expect((await alice.action(api.liquidity.requestWithdrawal, { amount: 100n, token: "STX" })).voucher.nonce).toBe(8n);
    expect((await alice.action(api.liquidity.requestWithdrawal, { amount: 100n, token: "STX" })).voucher.nonce).toBe(9n);
  });

  it("gives concurrent requests of one provider different nonces", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    const vouchers = await Promise.all(
      Array.from({ length: 5 }, () => alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX" })),
    );
    expect(vouchers.map((v) => v.voucher.nonce).sort((a, b) => (a < b ? -1 : 1))).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 5_000n, available: 5_000n });
  });

  describe("with an idempotency key", () => {
    const KEY = "3f1c2a9e-withdraw-1";

    it("answers a retry with the identical voucher and reserves nothing new, even after the tip moved", async () => {
      const t = await fundedBackend();
      const alice = t.withIdentity({ subject: ALICE });
      const first = await alice.action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX", idempotencyKey: KEY });
      stubChainTip(1_030);
      const retry = await alice.action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX", idempotencyKey: KEY });

      expect(retry).toEqual(first);
      expect(retry.voucher).toEqual({ token: "STX", amount: 4_000n, nonce: 1n, expiresAt: 1_050n });
      expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 4_000n, available: 6_000n });
      // Without the key, or with another key, it is another withdrawal.
      const other = await alice.action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX", idempotencyKey: "another" });
      expect(other.voucher).toEqual({ token: "STX", amount: 4_000n, nonce: 2n, expiresAt: 1_080n });
      expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 8_000n, available: 2_000n });
    });

    it("gives concurrent requests with one key one reservation and one voucher", async () => {
      const t = await fundedBackend();
      const alice = t.withIdentity({ subject: ALICE });
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => alice.action(api.liquidity.requestWithdrawal, { amount: 1_500n, token: "STX", idempotencyKey: KEY })),
      );
      expect(new Set(answers.map((a) => JSON.stringify(a.call, (_k, x) => (typeof x === "bigint" ? `${x}` : x)))).size).toBe(1);
      expect(answers.map((a) => a.voucher.nonce)).toEqual([1n, 1n, 1n, 1n]);
      expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 1_500n, available: 8_500n });
      const reservations = await t.run(async (ctx) => await ctx.db.query("withdrawalReservations").collect());
      expect(reservations.map((r) => [r.nonce, r.amount, r.idempotencyKey])).toEqual([[1n, 1_500n, KEY]]);
    });

    it("is one provider's: another provider's request with the same key is their own withdrawal", async () => {
      const t = await fundedBackend();
      await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 500n, token: "STX", tier: "Balanced" });
      await deposit(t, BOB, "STX", 500n, 10_500n);
      await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY });
      const bob = await t.withIdentity({ subject: BOB }).action(api.liquidity.requestWithdrawal, { amount: 200n, token: "STX", idempotencyKey: KEY });
      expect(bob.voucher).toMatchObject({ amount: 200n, nonce: 1n });
      expect(balanceIn(await portfolioOf(t, BOB), "STX").reserved).toBe(200n);
      expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(1_000n);
    });

    it("refuses the key reused for another amount or token, or after its reservation was cancelled (INVALID_REQUEST), changing nothing", async () => {
      const t = await fundedBackend();
      const alice = t.withIdentity({ subject: ALICE });
      await alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY });
      const message = await expectPoolError(
        alice.action(api.liquidity.requestWithdrawal, { amount: 1_001n, token: "STX", idempotencyKey: KEY }),
        "INVALID_REQUEST",
      );
      expect(message).toBe(`idempotency key ${KEY} was used for a withdrawal of 1000 STX: use a new key for another withdrawal`);
      await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "sBTC", idempotencyKey: KEY }), "INVALID_REQUEST");
      expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(1_000n);

      await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: ALICE, nonce: 1n });
      expect(
        await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX", idempotencyKey: KEY }), "INVALID_REQUEST"),
      ).toBe(`the withdrawal with idempotency key ${KEY} was cancelled before its voucher was handed out: use a new key`);
      expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
    });

    it("refuses a malformed key (INVALID_REQUEST) before reserving", async () => {
      const t = await fundedBackend();
      const alice = t.withIdentity({ subject: ALICE });
      for (const idempotencyKey of ["", "a".repeat(65), "has space", "semi;colon"]) {
        await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX", idempotencyKey }), "INVALID_REQUEST");
      }
      expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
      const { voucher } = await alice.action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX", idempotencyKey: "a".repeat(64) });
      expect(voucher.nonce).toBe(1n);
    });
  });

  it("cancels a reservation by provider and nonce: another provider's voucher with the same nonce stays", async () => {
    const t = await fundedBackend();
    await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 500n, token: "STX", tier: "Balanced" });
    await deposit(t, BOB, "STX", 500n, 10_500n);
    await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX" });
    await t.withIdentity({ subject: BOB }).action(api.liquidity.requestWithdrawal, { amount: 200n, token: "STX" });

    await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: BOB, nonce: 1n });
    expect(balanceIn(await portfolioOf(t, BOB), "STX")).toMatchObject({ reserved: 0n, available: 500n });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 1_000n, available: 9_000n });
    // Cancelling again, or a nonce never issued, changes nothing.
    await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: BOB, nonce: 1n });
    await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: ALICE, nonce: 9n });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(1_000n);
  });

  it("refuses more than the available balance (INSUFFICIENT_AVAILABLE_BALANCE), saying how much is possible", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.action(api.liquidity.requestWithdrawal, { amount: 7_000n, token: "STX" });
    const message = await expectPoolError(
      alice.action(api.liquidity.requestWithdrawal, { amount: 3_001n, token: "STX" }),
      "INSUFFICIENT_AVAILABLE_BALANCE",
    );
    expect(message).toContain("at most 3000 µSTX can be withdrawn");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(7_000n);
  });

  it("refuses a token the provider holds none of (INSUFFICIENT_AVAILABLE_BALANCE)", async () => {
    const t = await fundedBackend();
    await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "sBTC" }),
      "INSUFFICIENT_AVAILABLE_BALANCE",
    );
  });

  it("refuses an address that is not a provider (UNKNOWN_PROVIDER)", async () => {
    const t = await fundedBackend();
    await expectPoolError(
      t.withIdentity({ subject: CAROL }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      "UNKNOWN_PROVIDER",
    );
  });

  it("refuses zero (INVALID_AMOUNT) and anonymous callers (NOT_AUTHENTICATED)", async () => {
    const t = await fundedBackend();
    await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 0n, token: "STX" }),
      "INVALID_AMOUNT",
    );
    await expectPoolError(t.action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }), "NOT_AUTHENTICATED");
  });

  it("fails with CHAIN_UNAVAILABLE and reserves nothing when the chain tip cannot be read", async () => {
    const t = await fundedBackend();
    vi.stubGlobal("fetch", vi.fn(async () => new Response("busy", { status: 503 })));
    await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      "CHAIN_UNAVAILABLE",
    );
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
  });

  it("rejects a malformed /v2/info answer (CHAIN_UNAVAILABLE)", async () => {
    const t = await fundedBackend();
    vi.stubGlobal("fetch", vi.fn(async () => Response.json({ stacks_tip_height: "soon" })));
    await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      "CHAIN_UNAVAILABLE",
    );
  });

  it.each([
    ["absent", ""],
    ["not hex", "z".repeat(64)],
    ["zero (no secp256k1 key)", "00".repeat(32)],
    ["the group order n (out of range)", "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"],
    ["above the group order", "ff".repeat(32)],
  ])("fails with CONFIGURATION_MISSING naming the signer key, not showing it, and reserves nothing when it is %s", async (_, key) => {
    const t = await fundedBackend();
    vi.stubEnv("SIGNER_PRIVATE_KEY", key);
    const message = await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      "CONFIGURATION_MISSING",
    );
    expect(message).toBe("SIGNER_PRIVATE_KEY is missing or not a hex secp256k1 private key");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
  });

  it("refuses more than the vault's outflow window has free (OUTFLOW_LIMITED) before reserving anything", async () => {
    const t = await fundedBackend();
    stubChainTip(1_000, 2_500n);
    const message = await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 2_501n, token: "STX" }),
      "OUTFLOW_LIMITED",
    );
    expect(message).toBe(
      "2501 µSTX does not fit the vault's outflow window: 2500 µSTX fits now; the window reopens at burn block 244 with 2500 µSTX of room at today's balance, " +
        "and a whole window allows no more: withdraw in parts of at most 2500 µSTX, one per window",
    );
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
    const { voucher } = await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 2_500n, token: "STX" });
    expect(voucher).toMatchObject({ amount: 2_500n, nonce: 1n });
  });

  it("signs no voucher once the hot keys are revoked (CONFIGURATION_MISSING), nor anything after a shutdown (VAULT_SHUT_DOWN)", async () => {
    const t = await fundedBackend();
    const at = { eventIndex: 0, blockHeight: 20n, blockHash: `0x${"cc".repeat(32)}` };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"a1".repeat(32)}`, kind: "hot-keys-revoked" }] });
    const revoked = await expectPoolError(
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      "CONFIGURATION_MISSING",
    );
    expect(revoked).toBe("SIGNER_PRIVATE_KEY does not hold the vault's signer role (held by nobody: the hot keys were revoked); no voucher can be signed");
    // A new signer takes the role: the configured key is not it.
    await t.mutation(internal.eventSync.applyBatch, {
      events: [{ ...at, txid: `0x${"a2".repeat(32)}`, kind: "role-set", role: "signer", previous: null, who: BOB }],
    });
    expect(
      await expectPoolError(t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }), "CONFIGURATION_MISSING"),
    ).toBe(`SIGNER_PRIVATE_KEY does not hold the vault's signer role (held by ${BOB}); no voucher can be signed`);
    // The configured signer's own principal takes it back: vouchers again.
    await t.mutation(internal.eventSync.applyBatch, {
      events: [{ ...at, txid: `0x${"a3".repeat(32)}`, kind: "role-set", role: "signer", previous: BOB, who: SIGNER_ADDRESS }],
    });
    expect((await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" })).voucher.nonce).toBe(1n);

    const shutdown = { stxAssets: 10_000n, stxLiabilities: 10_000n, sbtcAssets: 0n, sbtcLiabilities: 0n, by: BOB };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"a4".repeat(32)}`, kind: "shutdown", ...shutdown }] });
    for (const call of [
      t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }),
      t.withIdentity({ subject: ALICE }).mutation(api.liquidity.requestCommitCapital, { amount: 1n, token: "STX", tier: "Balanced" }),
    ]) {
      expect(await expectPoolError(call, "VAULT_SHUT_DOWN")).toBe(
        "the vault was shut down in block 20: providers leave through claim-exit (see getProviderPortfolio's exit figures)",
      );
    }
    // The portfolio shows what the exit pays: the record's in − out (no checkpoint), nothing claimed yet.
    expect((await portfolioOf(t, ALICE))?.exit).toEqual({
      shutDownAtBlock: 20n,
      claims: [
        { token: "STX", owed: 10_000n, pays: 10_000n, claimed: null },
        { token: "sBTC", owed: 0n, pays: 0n, claimed: null },
      ],
    });
  });

  it("reserves nothing when a revocation or a shutdown is synced between the request's checks and its reservation", async () => {
    const t = await fundedBackend();
    const at = { eventIndex: 0, blockHeight: 20n, blockHash: `0x${"cc".repeat(32)}` };
    const reserve = () =>
      t.mutation(internal.liquidity.reserveWithdrawal, { provider: ALICE, token: "STX", amount: 1n, expiresAtBlock: 1_000n, signer: SIGNER_ADDRESS });
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"b1".repeat(32)}`, kind: "hot-keys-revoked" }] });
    await expectPoolError(reserve(), "CONFIGURATION_MISSING");
    await t.mutation(internal.eventSync.applyBatch, {
      events: [{ ...at, txid: `0x${"b2".repeat(32)}`, kind: "role-set", role: "signer", previous: null, who: SIGNER_ADDRESS }],
    });
    const shutdown = { stxAssets: 10_000n, stxLiabilities: 10_000n, sbtcAssets: 0n, sbtcLiabilities: 0n, by: BOB };
    await t.mutation(internal.eventSync.applyBatch, { events: [{ ...at, txid: `0x${"b3".repeat(32)}`, kind: "shutdown", ...shutdown }] });
    await expectPoolError(reserve(), "VAULT_SHUT_DOWN");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(0n);
  });

  it("matches a synced withdrawal to the reservation of the same provider and nonce only", async () => {
    const t = await fundedBackend();
    await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 500n, token: "STX", tier: "Balanced" });
    await deposit(t, BOB, "STX", 500n, 10_500n);
    await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 300n, token: "STX" });
    await t.withIdentity({ subject: BOB }).action(api.liquidity.requestWithdrawal, { amount: 300n, token: "STX" });

    // Bob redeems his nonce 1: Alice's nonce 1, same amount, is not touched.
    const event = withdrawalEvent(BOB, "STX", 300n, 1n, { totalBalance: 10_200n, totalLocked: 0n });
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    expect(balanceIn(await portfolioOf(t, BOB), "STX")).toMatchObject({ total: 200n, reserved: 0n, available: 200n });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ total: 10_000n, reserved: 300n, available: 9_700n });
    expect((await portfolioOf(t, ALICE))?.pendingWithdrawals.map((w) => w.nonce)).toEqual([1n]);
  });

  it("frees the provider's unredeemed lower-nonce reservations when a later voucher's withdrawal syncs, and no others", async () => {
    const t = await fundedBackend();
    await t.withIdentity({ subject: BOB }).mutation(api.liquidity.requestCommitCapital, { amount: 500n, token: "STX", tier: "Balanced" });
    await deposit(t, BOB, "STX", 500n, 10_500n);
    const alice = t.withIdentity({ subject: ALICE });
    for (const amount of [1_000n, 2_000n, 3_000n, 500n]) {
      await alice.action(api.liquidity.requestWithdrawal, { amount, token: "STX" }); // nonces 1, 2, 3, 4
    }
    await t.withIdentity({ subject: BOB }).action(api.liquidity.requestWithdrawal, { amount: 100n, token: "STX" });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 6_500n, available: 3_500n });

    // Alice redeems nonce 3 first: the vault now refuses her nonces 1 and 2, so their reservations go too.
    const event = withdrawalEvent(ALICE, "STX", 3_000n, 3n, { totalBalance: 7_500n, totalLocked: 0n });
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({
      total: 7_000n,
      reserved: 500n,
      available: 6_500n,
    });
    expect((await portfolioOf(t, ALICE))?.pendingWithdrawals).toEqual([
      { token: "STX", amount: 500n, nonce: 4n, expiresAtBlock: 1_050n },
    ]);
    const statuses = await t.run(async (ctx) =>
      (await ctx.db.query("withdrawalReservations").collect()).map((r) => [r.provider, r.nonce, r.status]),
    );
    expect(statuses).toEqual([
      [ALICE, 1n, "superseded"],
      [ALICE, 2n, "superseded"],
      [ALICE, 3n, "redeemed"],
      [ALICE, 4n, "active"],
      [BOB, 1n, "active"],
    ]);
    expect(balanceIn(await portfolioOf(t, BOB), "STX")).toMatchObject({ reserved: 100n });
    // The next voucher still goes above every nonce issued.
    expect((await alice.action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" })).voucher.nonce).toBe(5n);
  });

  it("holds at most 25 unredeemed vouchers per provider (VOUCHER_LIMIT_REACHED), so one synced withdrawal frees every earlier one", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    const keyed = { amount: 10n, token: "STX" as const, idempotencyKey: "first-request" };
    expect((await alice.action(api.liquidity.requestWithdrawal, keyed)).voucher.nonce).toBe(1n);
    for (let nonce = 2n; nonce <= 25n; nonce += 1n) {
      expect((await alice.action(api.liquidity.requestWithdrawal, { amount: 10n, token: "STX" })).voucher.nonce).toBe(nonce);
    }
    const before = await snapshot(t);
    expect(await expectPoolError(alice.action(api.liquidity.requestWithdrawal, { amount: 10n, token: "STX" }), "VOUCHER_LIMIT_REACHED")).toBe(
      "25 withdrawal vouchers are outstanding: redeem one (which voids every earlier one) or let one expire",
    );
    // A retry of an earlier request is not a new voucher: its own still comes back at the limit.
    expect((await alice.action(api.liquidity.requestWithdrawal, keyed)).voucher.nonce).toBe(1n);
    expect(await snapshot(t)).toEqual(before);
    // Redeeming the newest voids all 24 before it in the same mutation.
    const event = withdrawalEvent(ALICE, "STX", 10n, 25n, { totalBalance: 9_990n, totalLocked: 0n });
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    const statuses = await t.run(async (ctx) => (await ctx.db.query("withdrawalReservations").collect()).map((r) => r.status));
    expect(statuses).toEqual([...Array<string>(24).fill("superseded"), "redeemed"]);
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ total: 9_990n, reserved: 0n, available: 9_990n });
    expect((await alice.action(api.liquidity.requestWithdrawal, { amount: 10n, token: "STX" })).voucher.nonce).toBe(26n);
  });

  it("puts superseded reservations back when the withdrawal that voided them is reversed by a reorg", async () => {
    const t = await fundedBackend();
    const alice = t.withIdentity({ subject: ALICE });
    await alice.action(api.liquidity.requestWithdrawal, { amount: 1_000n, token: "STX" }); // nonce 1
    await alice.action(api.liquidity.requestWithdrawal, { amount: 2_000n, token: "STX" }); // nonce 2
    const event = withdrawalEvent(ALICE, "STX", 2_000n, 2n, { totalBalance: 8_000n, totalLocked: 0n });
    await t.mutation(internal.vaultEvents.apply, { event });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ total: 8_000n, reserved: 0n });

    expect(await t.mutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: 0 })).toBe("reversed");
    // Both vouchers may be redeemable again on the winning fork: both amounts are held again.
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({
      total: 10_000n,
      reserved: 3_000n,
      available: 7_000n,
    });
    expect((await portfolioOf(t, ALICE))?.pendingWithdrawals.map((w) => w.nonce).sort()).toEqual([1n, 2n]);

    // Re-mined: redeemed and superseded once more.
    const again = { ...event, blockHash: `0x${"c".repeat(64)}` };
    expect(await t.mutation(internal.vaultEvents.apply, { event: again })).toBe("applied");
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ total: 8_000n, reserved: 0n, available: 8_000n });
  });

  it("ends the reservation when the withdrawal event syncs: total and reserved both drop", async () => {
    const t = await fundedBackend();
    const { voucher } = await t
      .withIdentity({ subject: ALICE })
      .action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX" });
    const event = withdrawalEvent(ALICE, "STX", 4_000n, voucher.nonce, { totalBalance: 6_000n, totalLocked: 0n });
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    expect(await t.mutation(internal.vaultEvents.apply, { event })).toBe("duplicate");

    const portfolio = await portfolioOf(t, ALICE);
    expect(balanceIn(portfolio, "STX")).toMatchObject({ total: 6_000n, reserved: 0n, available: 6_000n });
    expect(portfolio?.pendingWithdrawals).toEqual([]);
  });

  it("frees an unredeemed reservation once the sync has passed its expiry, not before", async () => {
    const t = await fundedBackend();
    await t.withIdentity({ subject: ALICE }).action(api.liquidity.requestWithdrawal, { amount: 4_000n, token: "STX" });

    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 1_050n });
    expect(await t.mutation(internal.liquidity.expireWithdrawalReservations, {})).toEqual({ expired: 0, hasMore: false });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").reserved).toBe(4_000n);

    await t.mutation(internal.vaultEvents.markSyncedThrough, { height: 1_051n });
    expect(await t.mutation(internal.liquidity.expireWithdrawalReservations, {})).toEqual({ expired: 1, hasMore: false });
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toMatchObject({ reserved: 0n, available: 10_000n });
    expect(await t.mutation(internal.liquidity.expireWithdrawalReservations, {})).toEqual({ expired: 0, hasMore: false });
  });
});

describe("updateProviderBalance", () => {
  async function withAlice(amount: bigint): Promise<Backend> {
    const t = await seededBackend();
    await deposit(t, ALICE, "STX", amount);
    return t;
  }

  const change = (operationId: string, type: "lock" | "release" | "yield_accrual" | "settlement_debit" | "deposit" | "withdrawal", amount: bigint) => ({
    operationId,
    provider: ALICE,
    token: "STX" as const,
    type,
    amount,
  });

  it("applies every change type with exact results, each once per operation id", async () => {
    const t = await withAlice(1_000n);
    const steps = [
      change("op-lock", "lock", 600n),
      change("op-release", "release", 100n),
      change("op-yield", "yield_accrual", 50n),
      change("op-settle", "settlement_debit", 200n),
      change("op-deposit", "deposit", 25n),
      change("op-withdraw", "withdrawal", 75n),
    ];
    for (const step of steps) {
      expect((await t.mutation(internal.liquidity.updateProviderBalance, step)).applied).toBe(true);
      const replay = await t.mutation(internal.liquidity.updateProviderBalance, step);
      expect(replay.applied).toBe(false);
    }
    expect(balanceIn(await portfolioOf(t, ALICE), "STX")).toEqual({
      token: "STX",
      total: 800n,
      locked: 300n,
      reserved: 0n,
      available: 500n,
      accruedYield: 50n,
    });
  });

  it("refuses to lock more than is available (INSUFFICIENT_AVAILABLE_BALANCE), changing nothing", async () => {
    const t = await withAlice(1_000n);
    await expectPoolError(
      t.mutation(internal.liquidity.updateProviderBalance, change("op-1", "lock", 1_001n)),
      "INSUFFICIENT_AVAILABLE_BALANCE",
    );
    expect(balanceIn(await portfolioOf(t, ALICE), "STX").locked).toBe(0n);
    // The failed id was not consumed: it can be used for a valid change.
    expect((await t.mutation(internal.liquidity.updateProviderBalance, change("op-1", "lock", 1_000n))).applied).toBe(true);
  });

  it("refuses to release or pay out more than is locked (INSUFFICIENT_LOCKED_BALANCE)", async () => {
    const t = await withAlice(1_000n);
    await t.mutation(internal.liquidity.updateProviderBalance, change("op-lock", "lock", 10n));
    await expectPoolError(
      t.mutation(internal.liquidity.updateProviderBalance, change("op-2", "release", 11n)),
      "INSUFFICIENT_LOCKED_BALANCE",
    );
    await expectPoolError(
      t.mutation(internal.liquidity.updateProviderBalance, change("op-3", "settlement_debit", 11n)),
      "INSUFFICIENT_LOCKED_BALANCE",
    );
  });

  it("refuses a change for an unknown provider (UNKNOWN_PROVIDER) and a non-positive amount (INVALID_AMOUNT)", async () => {
    const t = await withAlice(1_000n);
    await expectPoolError(
      t.mutation(internal.liquidity.updateProviderBalance, { ...change("op-x", "deposit", 1n), provider: CAROL }),
      "UNKNOWN_PROVIDER",
    );
    await expectPoolError(
      t.mutation(internal.liquidity.updateProviderBalance, change("op-y", "deposit", 0n)),
      "INVALID_AMOUNT",
    );
  });

  it("throws when an operation id is reused for a different change", async () => {
    const t = await withAlice(1_000n);
    await t.mutation(internal.liquidity.updateProviderBalance, change("op-z", "lock", 10n));
    await expect(
      t.mutation(internal.liquidity.updateProviderBalance, change("op-z", "lock", 11n)),
    ).rejects.toThrow(/already applied with different parameters/);
  });
});

describe("pool and tier statistics", () => {
  it("sums providers per tier and token, with utilization in basis points", async () => {
    const t = await seededBackend();
    const commit = async (who: string, tier: "Balanced" | "Aggressive", token: "STX" | "sBTC", amount: bigint) => {
      await t.withIdentity({ subject: who }).mutation(api.liquidity.requestCommitCapital, { amount, token, tier });
      await deposit(t, who, token, amount);
    };
    await commit(ALICE, "Balanced", "STX", 3_000n);
    await commit(BOB, "Balanced", "STX", 1_000n);
    await commit(CAROL, "Aggressive", "sBTC", 500n);
    await t.mutation(internal.liquidity.updateProviderBalance, {
      operationId: "lock-1",
      provider: ALICE,
      token: "STX",
      type: "lock",
      amount: 1_000n,
    });

    const stats = await t.query(api.liquidity.getTierStats, {});
    expect(stats).toHaveLength(6);
    expect(stats.find((s) => s.tier === "Balanced" && s.token === "STX")).toEqual({
      tier: "Balanced",
      token: "STX",
      totalCapital: 4_000n,
      totalLocked: 1_000n,
      totalReserved: 0n,
      totalAvailable: 3_000n,
      totalYieldAccrued: 0n,
      utilizationBps: 2_500n,
      providerCount: 2n,
      activePolicyCount: 0n,
      capacityLimit: null,
    });
    expect(stats.find((s) => s.tier === "Aggressive" && s.token === "sBTC")).toMatchObject({
      totalCapital: 500n,
      providerCount: 1n,
      utilizationBps: 0n,
    });
    expect(stats.find((s) => s.tier === "Conservative" && s.token === "STX")).toMatchObject({
      totalCapital: 0n,
      providerCount: 0n,
    });

    expect(
      await t.query(api.liquidity.getTierAvailability, { tier: "Balanced", requiredCollateral: 3_000n, token: "STX" }),
    ).toEqual({ tier: "Balanced", token: "STX", requiredCollateral: 3_000n, available: 3_000n, sufficient: true });
    expect(
      await t.query(api.liquidity.getTierAvailability, { tier: "Balanced", requiredCollateral: 3_001n, token: "STX" }),
    ).toMatchObject({ available: 3_000n, sufficient: false });
    await expectPoolError(
      t.query(api.liquidity.getTierAvailability, { tier: "Balanced", requiredCollateral: 0n, token: "STX" }),
      "INVALID_AMOUNT",
    );

    await t.action(internal.liquidity.updateTierMetrics, {});
    await t.action(internal.liquidity.updateTierMetrics, {});
    const snapshot = await t.run(async (ctx) =>
      ctx.db
        .query("tierMetrics")
        .withIndex("by_tier_and_token", (q) => q.eq("tierName", "Balanced").eq("token", "STX"))
        .collect(),
    );
    expect(snapshot).toHaveLength(1);
    expect(snapshot[0]).toMatchObject({ totalCapital: 4_000n, totalLocked: 1_000n, utilizationBps: 2_500n, providerCount: 2n });
  });
});

describe("setProviderHealthStatus", () => {
  it("writes only when the status or ratio changes", async () => {
    const t = await seededBackend();
    await deposit(t, ALICE, "STX", 1n);
    const set = (healthStatus: "Healthy" | "Warning", ratio: bigint, checkedAt: number) =>
      t.mutation(internal.liquidity.setProviderHealthStatus, {
        provider: ALICE,
        healthStatus,
        collateralizationRatioBps: ratio,
        checkedAt,
      });
    expect(await set("Warning", 12_000n, 1)).toEqual({ changed: true });
    expect(await set("Warning", 12_000n, 2)).toEqual({ changed: false });
    const portfolio = await portfolioOf(t, ALICE);
    expect(portfolio).toMatchObject({ healthStatus: "Warning", collateralizationRatioBps: 12_000n, lastHealthCheckAt: 1 });
    expect(await set("Healthy", 16_000n, 3)).toEqual({ changed: true });
    await expectPoolError(
      t.mutation(internal.liquidity.setProviderHealthStatus, { provider: CAROL, healthStatus: "Healthy", checkedAt: 1 }),
      "UNKNOWN_PROVIDER",
    );
  });
});
