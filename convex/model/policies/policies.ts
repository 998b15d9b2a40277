/**
 * The pool's registry of the policies it backs, and their collateral
 * lifecycle: Pending → Active (backed and locked) → Expired (released) |
 * Exercised (settlement sent) → Settled (paid, confirmed on chain);
 * Pending → Cancelled when it could not be backed.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Writer, Reader } from "../database";
import type { Tier, Token } from "../../validators";
import { allocateCollateral, type Allocation } from "./allocation";
import { poolError } from "../../domain/errors";
import { applyBalanceChange } from "../ledger/balanceLedger";
import { splitProportionally } from "../../domain/money";
import { requiredCollateral, satsToUsd, tierForStrike, type PolicyType, type Prices } from "../../domain/policyMath";
import { addExposure } from "../ledger/providers";
import { getTierConfig, MAX_BACKERS_PER_POLICY } from "./tierConfigs";
import { addActivePolicies } from "../ledger/tierTotals";
import { queueVaultOperation } from "../operations/vaultOperations";
import { assertVaultRunning } from "../sync/governance";

export type PolicyRegistration = {
  policyId: bigint;
  buyer: string;
  policyType: PolicyType;
  protectedAmountSats: bigint;
  strikePriceUsd: bigint;
  premium: bigint;
  expiresAtBlock: bigint;
  collateralToken: Token;
  prices: Prices;
};

/** Most backers one policy can have; bounds every per-policy loop below. */
export const MAX_BACKERS_READ = MAX_BACKERS_PER_POLICY;

export async function findPolicy(ctx: Reader, policyId: bigint): Promise<Doc<"policies"> | null> {
  return await ctx.db
    .query("policies")
    .withIndex("by_policy_id", (q) => q.eq("policyId", policyId))
    .unique();
}

export async function requirePolicy(ctx: Reader, policyId: bigint): Promise<Doc<"policies">> {
  const policy = await findPolicy(ctx, policyId);
  if (!policy) throw poolError("UNKNOWN_POLICY", `no policy ${policyId}`);
  return policy;
}

function requireStatus(policy: Doc<"policies">, ...allowed: Doc<"policies">["status"][]): void {
  if (!allowed.includes(policy.status)) {
    throw poolError(
      "INVALID_POLICY_STATE",
      `policy ${policy.policyId} is ${policy.status}; expected ${allowed.join(" or ")}`,
    );
  }
}

export async function backingOf(ctx: Reader, policyId: bigint): Promise<Doc<"policyBacking">[]> {
  return await ctx.db
    .query("policyBacking")
    .withIndex("by_policy", (q) => q.eq("policyId", policyId))
    .take(MAX_BACKERS_READ);
}

/** Registers a policy as Pending: its tier from the strike's distance, its collateral at the given prices. */
export async function registerPolicy(ctx: Writer, p: PolicyRegistration): Promise<Doc<"policies">> {
  for (const [name, value] of [
    ["protected amount", p.protectedAmountSats],
    ["strike price", p.strikePriceUsd],
    ["BTC price", p.prices.btcUsd],
    ["STX price", p.prices.stxUsd],
  ] as const) {
    if (value <= 0n) throw poolError("INVALID_POLICY", `${name} must be positive, got ${value}`);
  }
  if (p.premium < 0n || p.policyId < 0n) throw poolError("INVALID_POLICY", "premium and policy id must not be negative");
  await assertVaultRunning(ctx);
  if (await findPolicy(ctx, p.policyId)) throw poolError("POLICY_ALREADY_EXISTS", `policy ${p.policyId} exists`);

  const tierConfigs = await ctx.db.query("tierConfigs").take(10);
  const tier: Tier = tierForStrike(tierConfigs, p.policyType, p.strikePriceUsd, p.prices.btcUsd);
  const now = Date.now();
  const id = await ctx.db.insert("policies", {
    policyId: p.policyId,
    buyer: p.buyer,
    policyType: p.policyType,
    protectedAmountSats: p.protectedAmountSats,
    strikePriceUsd: p.strikePriceUsd,
    premium: p.premium,
    expiresAtBlock: p.expiresAtBlock,
    tier,
    collateralToken: p.collateralToken,
    requiredCollateral: requiredCollateral(p, p.collateralToken, p.prices),
    status: "Pending",
    premiumsReceived: 0n,
    createdAt: now,
    updatedAt: now,
  });
  return (await ctx.db.get("policies", id))!;
}

/**
 * Backs a Pending policy with providers of its tier and queues the on-chain
 * lock; the policy becomes Active. Fails with a coded error, changing
 * nothing, when the tier cannot cover it.
 */
export async function activatePolicy(ctx: Writer, policyId: bigint): Promise<Allocation[]> {
  const policy = await requirePolicy(ctx, policyId);
  requireStatus(policy, "Pending");
  // A shut-down vault locks nothing more: its `locked` no longer counts.
  await assertVaultRunning(ctx);
  const config = await getTierConfig(ctx, policy.tier);
  const allocations = await allocateCollateral(ctx, {
    policyId,
    tier: policy.tier,
    token: policy.collateralToken,
    required: policy.requiredCollateral,
    maxBackers: config.maxBackersPerPolicy,
    obligation: obligationOf(policy),
  });
  await ctx.db.patch("policies", policy._id, { status: "Active", updatedAt: Date.now() });
  await addActivePolicies(ctx, policy.tier, policy.collateralToken, policyId, 1n);
  await queueVaultOperation(ctx, {
    kind: "lock",
    policyId,
    token: policy.collateralToken,
    amount: policy.requiredCollateral,
  });
  return allocations;
}

export async function cancelPolicy(ctx: Writer, policyId: bigint): Promise<void> {
  const policy = await requirePolicy(ctx, policyId);
  requireStatus(policy, "Pending");
  await ctx.db.patch("policies", policy._id, { status: "Cancelled", updatedAt: Date.now() });
}

/**
 * What the policy obliges its backers to pay at most: a PUT, strike × amount
 * in USD (rounded up); a CALL, the protected BTC itself (valued at each check).
 */
export function obligationOf(policy: Pick<Doc<"policies">, "policyType" | "protectedAmountSats" | "strikePriceUsd">) {
  return policy.policyType === "PUT"
    ? { putObligationUsd: satsToUsd(policy.protectedAmountSats, policy.strikePriceUsd), callProtectedSats: 0n }
    : { putObligationUsd: 0n, callProtectedSats: policy.protectedAmountSats };
}

/** Releases whatever is still locked for the policy from every backer; returns the amount released. */
async function releaseBacking(ctx: Writer, policy: Doc<"policies">, reason: string): Promise<bigint> {
  let released = 0n;
  for (const backing of await backingOf(ctx, policy.policyId)) {
    if (!backing.active) continue;
    await addExposure(ctx, backing.provider, {
      putObligationUsd: -backing.putObligationUsd,
      callProtectedSats: -backing.callProtectedSats,
      activeBackings: -1n,
    });
    if (backing.allocated > 0n) {
      await applyBalanceChange(ctx, {
        operationId: `policy:${policy.policyId}:${reason}:release:${backing.provider}`,
        provider: backing.provider,
        token: backing.token,
        type: "release",
        amount: backing.allocated,
      }, { policyId: policy.policyId });
      released += backing.allocated;
    }
    await ctx.db.patch("policyBacking", backing._id, { allocated: 0n, active: false });
  }
  return released;
}

/**
 * Ends an Active policy without a payout (expiry): frees its backers'
 * collateral and queues `release-collateral-aggregate`.
 */
export async function releasePolicy(ctx: Writer, policyId: bigint): Promise<bigint> {
  const policy = await requirePolicy(ctx, policyId);
  requireStatus(policy, "Active");
  const released = await releaseBacking(ctx, policy, "expiry");
  await ctx.db.patch("policies", policy._id, { status: "Expired", updatedAt: Date.now() });
  await addActivePolicies(ctx, policy.tier, policy.collateralToken, policyId, -1n);
  await queueVaultOperation(ctx, { kind: "release", policyId, token: policy.collateralToken, amount: released });
  return released;
}

/**
 * Asks the vault to pay the buyer. Nothing is debited yet: the backers pay
 * when the `settlement-paid` event is confirmed (applySettlement).
 */
export async function requestSettlement(ctx: Writer, policyId: bigint, amount: bigint): Promise<void> {
  const policy = await requirePolicy(ctx, policyId);
  requireStatus(policy, "Active");
  if (amount <= 0n) throw poolError("INVALID_AMOUNT", `settlement must be positive, got ${amount}`);
  const backed = (await backingOf(ctx, policyId)).reduce((sum, b) => sum + (b.active ? b.allocated : 0n), 0n);
  if (amount > backed) {
    throw poolError("SETTLEMENT_EXCEEDS_BACKING", `policy ${policyId} is backed by ${backed}; cannot pay ${amount}`);
  }
  await ctx.db.patch("policies", policy._id, { status: "Exercised", exercisedAmount: amount, updatedAt: Date.now() });
  await queueVaultOperation(ctx, {
    kind: "settle",
    policyId,
    token: policy.collateralToken,
    amount,
    buyer: policy.buyer,
  });
}

/**
 * A confirmed `settlement-paid`: each backer pays a part proportional to
 * their allocation (exact parts summing to the payout). A settlement larger
 * than the vault's outflow window lets out at once is paid in parts, each its
 * own event (chain/sendGate.ts): until the parts add up to what was asked
 * (`exercisedAmount`), the policy stays Exercised with the rest of its backing
 * locked. With the last part — or the only one, or a payout the backend never
 * asked for — the rest of the backing is released and the policy is Settled;
 * what remains locked on chain for it is released by a queued
 * `release-collateral-aggregate`.
 */
export async function applySettlement(
  ctx: Writer,
  settlement: { operationId: string; policyId: bigint; amount: bigint },
): Promise<{ released: bigint; complete: boolean }> {
  // Every check comes before the first write, so a refused event leaves nothing half-applied.
  const policy = await requirePolicy(ctx, settlement.policyId);
  requireStatus(policy, "Exercised", "Active");
  const backing = (await backingOf(ctx, settlement.policyId)).filter((b) => b.active);
  const backed = backing.reduce((sum, b) => sum + b.allocated, 0n);
  if (settlement.amount <= 0n || settlement.amount > backed) {
    throw poolError(
      "SETTLEMENT_EXCEEDS_BACKING",
      `settlement of ${settlement.amount} for policy ${settlement.policyId} does not fit its backing of ${backed}`,
    );
  }
  const parts = splitProportionally(
    settlement.amount,
    backing.map((b) => b.allocated),
  );
  for (const [i, b] of backing.entries()) {
    const part = parts[i] ?? 0n;
    if (part > 0n) {
      await applyBalanceChange(ctx, {
        operationId: `${settlement.operationId}:debit:${b.provider}`,
        provider: b.provider,
        token: b.token,
        type: "settlement_debit",
        amount: part,
      }, { policyId: settlement.policyId });
      await ctx.db.patch("policyBacking", b._id, { allocated: b.allocated - part });
    }
  }
  const paid = (policy.settledAmount ?? 0n) + settlement.amount;
  const complete = policy.status === "Active" || policy.exercisedAmount === undefined || paid >= policy.exercisedAmount;
  if (!complete) {
    await ctx.db.patch("policies", policy._id, { settledAmount: paid, updatedAt: Date.now() });
    return { released: 0n, complete };
  }
  const refreshed = { ...policy, status: "Settled" as const };
  const released = await releaseBacking(ctx, refreshed, "settlement");
  await ctx.db.patch("policies", policy._id, { status: "Settled", settledAmount: paid, updatedAt: Date.now() });
  await addActivePolicies(ctx, policy.tier, policy.collateralToken, settlement.policyId, -1n);
  await queueVaultOperation(ctx, {
    kind: "release",
    policyId: settlement.policyId,
    token: policy.collateralToken,
    amount: released,
  });
  return { released, complete };
}
