/**
 * The liquidity API (README "Liquidity API"). Thin: validation of arguments, identity
 * and orchestration here; the rules live in convex/model/.
 */
import { omit, pick } from "convex-helpers";
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import schema from "./schema";
import { internalAction, internalMutation, internalQuery, query } from "./functions";
import { signWithdrawalVoucher, chainIdOf } from "./chain/withdrawalVoucher";
import { backendAddress } from "./chain/backendTransactions";
import { hiroClientFor } from "./chain/hiroClient";
import { readOutflowWindow } from "./chain/sendGate";
import { priceFreshnessAt, readChainConfig, readCommitmentLimits, readHotKey } from "./config";
import { movesTotal } from "./domain/balances";
import { commitmentRefusal } from "./domain/commitments";
import { contractCallValidator, depositCall, withdrawCall } from "./chain/contractCalls";
import { poolError } from "./domain/errors";
import { inBaseUnits } from "./domain/money";
import { describeOutflowLimit, outflowRoom } from "./domain/outflow";
import { applyBalanceChange, findBalance, requirePositiveAmount } from "./model/ledger/balanceLedger";
import { poolStats, providerPortfolio, tierStats } from "./model/ledger/portfolio";
import * as policies from "./model/policies/policies";
import { assertMayJoinTier, findProvider, requireProvider } from "./model/ledger/providers";
import { assertWithdrawalAllowed } from "./model/risk/withdrawalLimits";
import { recordTierChoice } from "./model/ledger/tierChoices";
import * as reservations from "./model/ledger/reservations";
import { assertEventsNotHeld } from "./model/checkpoints/eventHold";
import { assertVaultRunning, assertVoucherSignable } from "./model/sync/governance";
import { readSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import { capacityLimitOf, getTierConfig } from "./model/policies/tierConfigs";
import { availableCapital, readTierTotals } from "./model/ledger/tierTotals";
import { syncPoolBalances } from "./model/sync/poolMirror";
import { optionalProviderQuery, providerAction, providerMutation } from "./providerFunctions";
import {
  balanceChangeTypeValidator,
  healthStatusValidator,
  TIERS,
  TOKENS,
  tierValidator,
  tokenValidator,
  vaultEventValidator,
} from "./validators";

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

const balanceView = v.object({
  ...pick(schema.tables.providerBalances.validator.fields, ["token", "total", "locked", "reserved", "accruedYield"]),
  /** total − locked − reserved. */
  available: v.int64(),
});

const portfolioView = v.object({
  principal: v.string(),
  tier: tierValidator,
  healthStatus: healthStatusValidator,
  collateralizationRatioBps: v.union(v.int64(), v.null()),
  lastHealthCheckAt: v.union(v.number(), v.null()),
  balances: v.array(balanceView),
  pendingWithdrawals: v.array(v.object(pick(schema.tables.withdrawalReservations.validator.fields, ["token", "amount", "nonce", "expiresAtBlock"]))),
  /** Null while the vault runs; after its shutdown, what `claim-exit` owes and pays this provider per token. */
  exit: v.union(
    v.object({
      shutDownAtBlock: v.int64(),
      claims: v.array(v.object({ token: tokenValidator, owed: v.int64(), pays: v.int64(), claimed: v.union(v.int64(), v.null()) })),
    }),
    v.null(),
  ),
});

/**
 * The signed-in provider's own portfolio, or null when signed out or before
 * their first commitment. There is deliberately no public per-principal variant: balances
 * and health of a named address are private to that address.
 */
export const getProviderPortfolio = optionalProviderQuery({
  args: {},
  returns: v.union(portfolioView, v.null()),
  // Signed out is null, not an error: a dApp's `useQuery` renders before the wallet signs in.
  handler: async (ctx) => (ctx.provider === null ? null : await providerPortfolio(ctx, ctx.provider)),
});

export const getPoolStats = query({
  args: {},
  returns: v.array(
    v.object({
      token: tokenValidator,
      totalBalanceOnChain: v.int64(),
      totalLockedOnChain: v.int64(),
      lastSyncedAt: v.union(v.number(), v.null()),
      totalCapital: v.int64(),
      totalLocked: v.int64(),
      totalReserved: v.int64(),
      totalAvailable: v.int64(),
      totalYieldAccrued: v.int64(),
      providerCount: v.int64(),
    }),
  ),
  handler: async (ctx) => await poolStats(ctx),
});

const tierStatsView = v.object({
  tier: tierValidator,
  token: tokenValidator,
  totalCapital: v.int64(),
  totalLocked: v.int64(),
  totalReserved: v.int64(),
  totalAvailable: v.int64(),
  totalYieldAccrued: v.int64(),
  utilizationBps: v.int64(),
  providerCount: v.int64(),
  activePolicyCount: v.int64(),
  capacityLimit: v.union(v.int64(), v.null()),
});

export const getTierStats = query({
  args: {},
  returns: v.array(tierStatsView),
  handler: async (ctx) => {
    const stats = [];
    for (const tier of TIERS) for (const token of TOKENS) stats.push(await tierStats(ctx, tier, token));
    return stats;
  },
});

/** Whether a tier has enough available capital to back `requiredCollateral`. */
export const getTierAvailability = query({
  args: { tier: tierValidator, requiredCollateral: v.int64(), token: tokenValidator },
  returns: v.object({
    tier: tierValidator,
    token: tokenValidator,
    requiredCollateral: v.int64(),
    available: v.int64(),
    sufficient: v.boolean(),
  }),
  handler: async (ctx, { tier, requiredCollateral, token }) => {
    requirePositiveAmount(requiredCollateral);
    const available = availableCapital(await readTierTotals(ctx, tier, token));
    return { tier, token, requiredCollateral, available, sufficient: available >= requiredCollateral };
  },
});

// ---------------------------------------------------------------------------
// Actions (provider-facing, user-signed transactions)
// ---------------------------------------------------------------------------

/**
 * Prepares a deposit: checks the amount (the token's supply, the
 * per-provider maximum), the tier's capacity and the provider's tier, notes
 * the chosen tier for their first deposit, and returns the `deposit-funds`
 * call for the wallet. Nothing else is recorded, and no provider is created:
 * the deposit counts only once its `funds-deposited` event is synced. A
 * mutation (it makes no outside call), so a client's retry is safe.
 */
export const requestCommitCapital = providerMutation({
  args: { amount: v.int64(), token: tokenValidator, tier: tierValidator },
  returns: v.object({ tier: tierValidator, call: contractCallValidator }),
  handler: async (ctx, { amount, token, tier }) => {
    const config = readChainConfig();
    const provider = await findProvider(ctx, ctx.provider);
    const held = provider ? ((await findBalance(ctx, ctx.provider, token))?.total ?? 0n) : 0n;
    const refusal = commitmentRefusal(amount, token, held, readCommitmentLimits());
    if (refusal) throw refusal;
    await assertVaultRunning(ctx);
    await assertMayJoinTier(ctx, provider, tier);
    const limit = capacityLimitOf(await getTierConfig(ctx, tier), token);
    if (limit !== undefined) {
      const { capital } = await readTierTotals(ctx, tier, token);
      if (capital + amount > limit) {
        throw poolError(
          "TIER_CAPACITY_EXCEEDED",
          `tier ${tier} holds ${inBaseUnits(capital, token)} of its ${inBaseUnits(limit, token)} capacity; at most ${inBaseUnits(limit - capital > 0n ? limit - capital : 0n, token)} more fits`,
        );
      }
    }
    await recordTierChoice(ctx, ctx.provider, tier, Date.now());
    return { tier, call: depositCall(config, ctx.provider, token, amount) };
  },
});

/**
 * Prepares a withdrawal: reserves the amount against the provider's available
 * balance (which also issues the provider's next voucher nonce), signs a
 * SIP-018 voucher with the signer key and returns the `withdraw-funds` call.
 * The reservation ends when the withdrawal event is synced, when a later
 * voucher of the provider is redeemed first, or when the voucher expires.
 */
const withdrawalRequestValidator = v.object({
  call: contractCallValidator,
  voucher: v.object({ token: tokenValidator, amount: v.int64(), nonce: v.int64(), expiresAt: v.int64() }),
});

export const requestWithdrawal = providerAction({
  args: { amount: v.int64(), token: tokenValidator, idempotencyKey: v.optional(v.string()) },
  returns: withdrawalRequestValidator,
  handler: async (ctx, { amount, token, idempotencyKey }): Promise<Infer<typeof withdrawalRequestValidator>> => {
    requirePositiveAmount(amount);
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw poolError("INVALID_REQUEST", "idempotencyKey must be 1 to 64 letters, digits, '-' or '_'");
    }
    const config = readChainConfig();
    const signerKey = readHotKey("signer");
    const signerAddress = backendAddress(config, signerKey);
    const keyed = idempotencyKey === undefined ? null : { provider: ctx.provider, token, amount, idempotencyKey };
    const sign = (nonce: bigint, expiresAt: bigint) => {
      const voucher = { vault: config.vaultContractId, provider: ctx.provider, amount, tokenContract: token === "STX" ? null : config.sbtcContractId, nonce, expiresAt };
      const signature = signWithdrawalVoucher(voucher, chainIdOf(config.network), signerKey);
      return { call: withdrawCall(config, { token, amount, nonce, expiresAt, signature }), voucher: { token, amount, nonce, expiresAt } };
    };
    // Everything the books alone decide comes before any request to the Stacks API: a vault
    // that takes no voucher (shut down, or the signer key holds no role), an earlier request
    // with the same key (its voucher again, deterministic signatures, nothing new reserved),
    // an unknown provider, an amount over what they may withdraw.
    const earlier: KeyedReservation | null = await ctx.runQuery(internal.liquidity.prepareWithdrawal, {
      provider: ctx.provider,
      token,
      amount,
      idempotencyKey,
      signer: signerAddress,
    });
    if (earlier) return sign(earlier.nonce, earlier.expiresAtBlock);
    // A voucher for more than the outflow window lets out now is never issued: the vault would refuse it (u213).
    const client = hiroClientFor(config, { maxAttempts: 2 });
    const window = await readOutflowWindow(client, config, token);
    const room = outflowRoom(window, amount);
    if (!room.fits) throw poolError("OUTFLOW_LIMITED", describeOutflowLimit(amount, token, window, room));
    const tip = await client.getTipHeight();
    let expiresAt = tip + config.voucherTtlBlocks;
    const nonce: bigint = await ctx.runMutation(internal.liquidity.reserveWithdrawal, {
      provider: ctx.provider,
      token,
      amount,
      expiresAtBlock: expiresAt,
      idempotencyKey,
      signer: signerAddress,
    });
    if (keyed) {
      // A concurrent retry may have reserved first: its voucher is this one.
      const first: KeyedReservation | null = await ctx.runQuery(internal.liquidity.withdrawalForKey, keyed);
      expiresAt = first?.expiresAtBlock ?? expiresAt;
    }
    try {
      return sign(nonce, expiresAt);
    } catch (error) {
      await ctx.runMutation(internal.liquidity.cancelWithdrawalReservation, { provider: ctx.provider, nonce });
      throw error;
    }
  },
});

type KeyedReservation = { nonce: bigint; expiresAtBlock: bigint };

/** A client's idempotency key: a UUID or any short token of its own. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** The reservation an earlier request with this idempotency key made (see `reservationForKey`). */
export const withdrawalForKey = internalQuery({
  args: { provider: v.string(), token: tokenValidator, amount: v.int64(), idempotencyKey: v.string() },
  returns: v.union(v.object({ nonce: v.int64(), expiresAtBlock: v.int64() }), v.null()),
  handler: async (ctx, request) => {
    const reservation = await reservations.reservationForKey(ctx, request);
    return reservation ? { nonce: reservation.nonce, expiresAtBlock: reservation.expiresAtBlock } : null;
  },
});

/**
 * What `requestWithdrawal` checks in the books before it asks the chain:
 * refuses a withdrawal the vault would refuse whatever the amount (after a
 * shutdown, or with a signer that is not the vault's) — a keyed retry too —
 * then returns the earlier request's reservation for the same key, if any,
 * and otherwise refuses an unknown provider or an amount over their limit.
 * `reserveWithdrawal` checks the same again in its own transaction.
 */
export const prepareWithdrawal = internalQuery({
  args: {
    provider: v.string(),
    token: tokenValidator,
    amount: v.int64(),
    idempotencyKey: v.optional(v.string()),
    signer: v.string(),
  },
  returns: v.union(v.object({ nonce: v.int64(), expiresAtBlock: v.int64() }), v.null()),
  handler: async (ctx, { provider: principal, token, amount, idempotencyKey, signer }) => {
    await assertVoucherSignable(ctx, signer);
    if (idempotencyKey !== undefined) {
      const earlier = await reservations.reservationForKey(ctx, { provider: principal, token, amount, idempotencyKey });
      if (earlier) return { nonce: earlier.nonce, expiresAtBlock: earlier.expiresAtBlock };
    }
    const provider = await requireProvider(ctx, principal);
    await assertWithdrawalAllowed(ctx, provider, token, amount, priceFreshnessAt(Date.now()));
    await reservations.assertVoucherSlot(ctx, principal);
    return null;
  },
});

// ---------------------------------------------------------------------------
// Internal mutations
// ---------------------------------------------------------------------------

/** Reserves the amount for a new voucher; returns the voucher's nonce (the provider's next). */
export const reserveWithdrawal = internalMutation({
  args: {
    provider: v.string(),
    token: tokenValidator,
    amount: v.int64(),
    expiresAtBlock: v.int64(),
    idempotencyKey: v.optional(v.string()),
    /** The address of the key that will sign the voucher. */
    signer: v.string(),
  },
  returns: v.int64(),
  handler: async (ctx, { signer, ...request }) => {
    // Again here: a shutdown or a revocation may have been synced since prepareWithdrawal.
    await assertVoucherSignable(ctx, signer);
    return await reservations.reserveWithdrawal(ctx, request, priceFreshnessAt(Date.now()));
  },
});

export const cancelWithdrawalReservation = internalMutation({
  args: { provider: v.string(), nonce: v.int64() },
  returns: v.null(),
  handler: async (ctx, { provider, nonce }) => {
    const reservation = await reservations.findReservation(ctx, provider, nonce);
    if (reservation) await reservations.cancelReservation(ctx, reservation, "cancelled");
    return null;
  },
});

const EXPIRY_PAGE_SIZE = 100;

/**
 * Frees reservations whose vouchers expired before the synced height. Runs
 * from a cron; a full page schedules the next one, so no transaction touches
 * more than a page.
 */
export const expireWithdrawalReservations = internalMutation({
  args: {},
  returns: v.object({ expired: v.number(), hasMore: v.boolean() }),
  handler: async (ctx) => {
    const syncedThrough = await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight);
    if (syncedThrough === null) return { expired: 0, hasMore: false };
    const result = await reservations.expireReservations(ctx, syncedThrough, EXPIRY_PAGE_SIZE);
    if (result.hasMore) await ctx.scheduler.runAfter(0, internal.liquidity.expireWithdrawalReservations, {});
    return result;
  },
});

/**
 * The one way a provider's balance changes. Idempotent: the same
 * `operationId` applied twice changes nothing the second time. A change of a
 * total waits, like a synced event, while a checkpoint snapshot holds the
 * books (EVENTS_HELD): the snapshot must see them still between its pages.
 */
export const updateProviderBalance = internalMutation({
  args: {
    operationId: v.string(),
    provider: v.string(),
    token: tokenValidator,
    type: balanceChangeTypeValidator,
    amount: v.int64(),
  },
  returns: v.object({
    applied: v.boolean(),
    balance: v.object({ total: v.int64(), locked: v.int64(), reserved: v.int64(), accruedYield: v.int64() }),
  }),
  handler: async (ctx, change) => {
    if (movesTotal(change.type)) await assertEventsNotHeld(ctx);
    return await applyBalanceChange(ctx, change);
  },
});

/** Mirrors the vault's totals from a synced event. Idempotent: the mirror is set, not added to. */
export const syncPoolBalancesFromEvent = internalMutation({
  args: { event: vaultEventValidator },
  returns: v.null(),
  handler: async (ctx, { event }) => {
    await syncPoolBalances(ctx, event);
    return null;
  },
});

const tierSnapshot = v.object(omit(schema.tables.tierMetrics.validator.fields, ["updatedAt"]));

/**
 * Refreshes the `tierMetrics` snapshots from the live shards. Idempotent.
 * The shards are read in a query and the snapshots written by a mutation that
 * reads nothing else: every deposit, withdrawal, yield and allocation writes a
 * shard, and a mutation reading them all would conflict with each of them.
 */
export const updateTierMetrics = internalAction({
  args: {},
  returns: v.null(),
  handler: async (ctx) => {
    const snapshots = await ctx.runQuery(internal.liquidity.readTierSnapshots, {});
    await ctx.runMutation(internal.liquidity.writeTierMetrics, { snapshots, updatedAt: Date.now() });
    return null;
  },
});

export const readTierSnapshots = internalQuery({
  args: {},
  returns: v.array(tierSnapshot),
  handler: async (ctx) => {
    const snapshots: Infer<typeof tierSnapshot>[] = [];
    for (const tier of TIERS) {
      for (const token of TOKENS) {
        const stats = await tierStats(ctx, tier, token);
        snapshots.push({
          tierName: tier,
          token,
          totalCapital: stats.totalCapital,
          totalLocked: stats.totalLocked,
          totalReserved: stats.totalReserved,
          totalAvailable: stats.totalAvailable,
          utilizationBps: stats.utilizationBps,
          providerCount: stats.providerCount,
          activePolicyCount: stats.activePolicyCount,
          totalYieldAccrued: stats.totalYieldAccrued,
          capacityLimit: stats.capacityLimit ?? undefined,
        });
      }
    }
    return snapshots;
  },
});

export const writeTierMetrics = internalMutation({
  args: { snapshots: v.array(tierSnapshot), updatedAt: v.number() },
  returns: v.null(),
  handler: async (ctx, { snapshots, updatedAt }) => {
    for (const snapshot of snapshots) {
      const existing = await ctx.db
        .query("tierMetrics")
        .withIndex("by_tier_and_token", (q) => q.eq("tierName", snapshot.tierName).eq("token", snapshot.token))
        .unique();
      if (existing) await ctx.db.replace("tierMetrics", existing._id, { ...snapshot, updatedAt });
      else await ctx.db.insert("tierMetrics", { ...snapshot, updatedAt });
    }
    return null;
  },
});

// ---------------------------------------------------------------------------
// Policy collateral (internal: called by the policy flow and the crons)
// ---------------------------------------------------------------------------

/**
 * Backs a registered (Pending) policy with providers of its tier, locks their
 * collateral and queues the on-chain lock. Fails with a coded error, changing
 * nothing, when the tier cannot cover it.
 */
export const allocatePolicyCollateral = internalMutation({
  args: { policyId: v.int64() },
  returns: v.array(v.object({ provider: v.string(), amount: v.int64() })),
  handler: async (ctx, { policyId }) => await policies.activatePolicy(ctx, policyId),
});

/** Releases an Active policy's backing from every backer and queues the on-chain release. */
export const requestCollateralRelease = internalMutation({
  args: { policyId: v.int64() },
  returns: v.object({ released: v.int64() }),
  handler: async (ctx, { policyId }) => ({ released: await policies.releasePolicy(ctx, policyId) }),
});

/**
 * Queues `settle-policy` paying the policy's buyer. Backers are debited only
 * when the settlement event is confirmed. Refused when larger than the
 * policy's backing.
 */
export const requestSettlement = internalMutation({
  args: { policyId: v.int64(), settlementAmount: v.int64() },
  returns: v.null(),
  handler: async (ctx, { policyId, settlementAmount }) => {
    await policies.requestSettlement(ctx, policyId, settlementAmount);
    return null;
  },
});

/** Records a provider's health; writes only when something changed. */
export const setProviderHealthStatus = internalMutation({
  args: {
    provider: v.string(),
    healthStatus: healthStatusValidator,
    collateralizationRatioBps: v.optional(v.int64()),
    checkedAt: v.number(),
  },
  returns: v.object({ changed: v.boolean() }),
  handler: async (ctx, { provider, healthStatus, collateralizationRatioBps, checkedAt }) => {
    const doc = await requireProvider(ctx, provider);
    const changed =
      doc.healthStatus !== healthStatus || doc.collateralizationRatioBps !== collateralizationRatioBps;
    if (changed) {
      await ctx.db.patch("providers", doc._id, { healthStatus, collateralizationRatioBps, lastHealthCheckAt: checkedAt });
    }
    return { changed };
  },
});
