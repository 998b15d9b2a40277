/**
 * Premiums become yield (docs/architecture.md, "Premium → yield"). A premium counts only once its
 * `premium-paid` event is synced; the protocol fee (basis points, rounded
 * down) goes to the protocol account and the rest is split among the policy's
 * backers in proportion to their original allocation, in exact integer parts.
 */
import type { Writer } from "../database";
import type { Token } from "../../validators";
import { raiseAlert } from "../alerts";
import { poolError } from "../../domain/errors";
import { applyBalanceChange } from "../ledger/balanceLedger";
import { splitPremium } from "../../domain/premiumSplit";
import { backingOf, findPolicy } from "./policies";
import { getTierConfig } from "./tierConfigs";

/** What a premium added outside the balance ledger; a reorg takes exactly this back. */
export type PremiumOffLedger = { feesAccrued: bigint; unallocatedPremiums: bigint; premiumsReceived: bigint };

/** Adds to (or, with negative amounts, takes from) the protocol's account for `token`. */
async function adjustProtocolAccount(
  ctx: Writer,
  token: Token,
  delta: { feesAccrued?: bigint; unallocatedPremiums?: bigint },
): Promise<void> {
  const account = await ctx.db
    .query("protocolAccounts")
    .withIndex("by_token", (q) => q.eq("token", token))
    .unique();
  const next = {
    feesAccrued: (account?.feesAccrued ?? 0n) + (delta.feesAccrued ?? 0n),
    unallocatedPremiums: (account?.unallocatedPremiums ?? 0n) + (delta.unallocatedPremiums ?? 0n),
  };
  if (next.feesAccrued < 0n || next.unallocatedPremiums < 0n) {
    throw poolError("INSUFFICIENT_TOTAL_BALANCE", `the ${token} protocol account cannot go below zero`);
  }
  if (account) await ctx.db.patch("protocolAccounts", account._id, next);
  else await ctx.db.insert("protocolAccounts", { token, ...next });
}

/**
 * Takes back what a premium added outside the ledger (its backers' yield is
 * in the ledger and reversed there). Checks everything before writing.
 */
export async function reversePremiumOffLedger(
  ctx: Writer,
  premium: { policyId: bigint; token: Token },
  added: PremiumOffLedger,
): Promise<void> {
  const policy = added.premiumsReceived > 0n ? await findPolicy(ctx, premium.policyId) : null;
  if (policy && policy.premiumsReceived < added.premiumsReceived) {
    throw poolError("INSUFFICIENT_TOTAL_BALANCE", `policy ${premium.policyId} has received less than the premium to take back`);
  }
  await adjustProtocolAccount(ctx, premium.token, {
    feesAccrued: -added.feesAccrued,
    unallocatedPremiums: -added.unallocatedPremiums,
  });
  if (policy) {
    await ctx.db.patch("policies", policy._id, {
      premiumsReceived: policy.premiumsReceived - added.premiumsReceived,
      updatedAt: Date.now(),
    });
  }
}

/** Credits a synced premium; returns what it added outside the balance ledger. */
export async function distributePremium(
  ctx: Writer,
  premium: { operationId: string; policyId: bigint; token: Token; amount: bigint },
): Promise<PremiumOffLedger> {
  const policy = await findPolicy(ctx, premium.policyId);
  const backers = policy ? (await backingOf(ctx, premium.policyId)).filter((b) => b.originalAllocation > 0n) : [];
  if (!policy || backers.length === 0) {
    // The money is in the vault and belongs to no provider: keep it visible.
    await adjustProtocolAccount(ctx, premium.token, { unallocatedPremiums: premium.amount });
    await raiseAlert(ctx, "premium-unallocated", `premium for policy ${premium.policyId} has no backers to pay`, premium);
    return { feesAccrued: 0n, unallocatedPremiums: premium.amount, premiumsReceived: 0n };
  }
  const config = await getTierConfig(ctx, policy.tier);
  const split = splitPremium(
    premium.amount,
    config.protocolFeeBps,
    backers.map((b) => ({ provider: b.provider, allocation: b.originalAllocation })),
  );
  for (const part of split.parts) {
    await applyBalanceChange(ctx, {
      operationId: `${premium.operationId}:yield:${part.provider}`,
      provider: part.provider,
      token: premium.token,
      type: "yield_accrual",
      amount: part.amount,
    }, { policyId: premium.policyId });
  }
  if (split.protocolFee > 0n) await adjustProtocolAccount(ctx, premium.token, { feesAccrued: split.protocolFee });
  await ctx.db.patch("policies", policy._id, {
    premiumsReceived: policy.premiumsReceived + premium.amount,
    updatedAt: Date.now(),
  });
  return { feesAccrued: split.protocolFee, unallocatedPremiums: 0n, premiumsReceived: premium.amount };
}
