/**
 * The expected books of the pool, for the model-based properties of the
 * Convex backend (tests/convex/accountingProperties.test.ts and
 * tests/convex/collateralProperties.test.ts): what the database must hold,
 * in exact bigint base units, after any sequence of operations. The checks
 * that compare the real database with it are in poolChecks.ts.
 *
 * The model follows the rules as README.md and docs/architecture.md state
 * them, computed here on its own: a premium's fee rounds down and the rest is
 * split by largest remainder, ties to the earlier backer; a payout is split
 * the same way over what each backer still has locked; required collateral
 * rounds up ("Money and rounding"). Where the backend is free to choose
 * (which providers back a policy), the model checks the choice against the
 * rules and then follows it.
 */
import { expect } from "vitest";

import type { Balance } from "../../convex/domain/balances";
import { isPoolError, type ErrorCode } from "../../convex/domain/errors";
import type { PolicyType } from "../../convex/domain/policyMath";
import type { PolicyStatus } from "../../convex/domain/vocabulary";
import { DEFAULT_TIER_CONFIGS } from "../../convex/model/policies/tierConfigs";
import { TIERS, TOKENS, type Tier, type Token, type VaultEvent } from "../../convex/validators";

// ---------------------------------------------------------------------------
// Exact arithmetic, independent of convex/domain/money.ts
// ---------------------------------------------------------------------------

export function sum(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return s;
}

/** ceil(a / b) for a ≥ 0, b > 0. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  return a === 0n ? 0n : (a - 1n) / b + 1n;
}

/** |part − total × weight / weightSum| < 1, in exact integers. */
export function withinOneUnit(part: bigint, total: bigint, weight: bigint, weightSum: bigint): boolean {
  const diff = part * weightSum - total * weight;
  return (diff < 0n ? -diff : diff) < weightSum;
}

/**
 * `total` split in proportion to `weights` by the largest-remainder rule
 * (docs/architecture.md, "Money and rounding"): everyone gets their share
 * rounded down, then the units left over go one each to the largest
 * remainders, ties to the earlier weight. Zero weights get zero.
 */
export function largestRemainder(total: bigint, weights: readonly bigint[]): bigint[] {
  const weightSum = sum(weights);
  if (weightSum === 0n) return weights.map(() => 0n);
  const parts = weights.map((w) => (total * w) / weightSum);
  const leftover = Number(total - sum(parts)); // fewer than weights.length units
  const byRemainder = weights
    .map((w, index) => ({ index, remainder: (total * w) % weightSum }))
    .sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  for (const { index } of byRemainder.slice(0, leftover)) parts[index] = parts[index]! + 1n;
  return parts;
}

const SATS_PER_BTC = 100_000_000n;
const USTX_PER_STX = 1_000_000n;

/** Prices are USD with 8 decimals. */
export type Prices = { btcUsd: bigint; stxUsd: bigint };

/**
 * The collateral a policy needs (README "Policy collateral lifecycle"),
 * rounded up at each conversion: a PUT covers strike × amount, a CALL the
 * protected BTC itself (1:1 in sBTC, its value in STX).
 */
export function expectedRequiredCollateral(
  policyType: PolicyType,
  sats: bigint,
  strikeUsd: bigint,
  token: Token,
  prices: Prices,
): bigint {
  if (policyType === "CALL" && token === "sBTC") return sats;
  const usd = ceilDiv(sats * (policyType === "PUT" ? strikeUsd : prices.btcUsd), SATS_PER_BTC);
  return token === "sBTC" ? ceilDiv(usd * SATS_PER_BTC, prices.btcUsd) : ceilDiv(usd * USTX_PER_STX, prices.stxUsd);
}

// ---------------------------------------------------------------------------
// Outcomes of calls
// ---------------------------------------------------------------------------

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode };

/** The value of a call, or the code of the coded pool error it failed with; anything else is rethrown. */
export async function outcomeOf<T>(call: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call };
  } catch (error) {
    if (isPoolError(error)) return { ok: false, code: error.data.code };
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Positions on chain
// ---------------------------------------------------------------------------

export type Position = { txid: string; eventIndex: number; blockHeight: bigint; blockHash: string };

/** Unique positions for a scenario's events, one block each, in chain order. */
export class VaultChain {
  private height = 0n;

  next(): Position {
    this.height += 1n;
    return {
      txid: `0x${this.height.toString(16).padStart(64, "0")}`,
      eventIndex: 0,
      blockHeight: this.height,
      blockHash: `0x${this.height.toString(16).padStart(64, "a")}`,
    };
  }

  /** The same transaction mined again, after a reorg, in a new block at the tip. */
  remined(event: VaultEvent): VaultEvent {
    this.height += 1n;
    return { ...event, blockHeight: this.height, blockHash: `0x${this.height.toString(16).padStart(64, "f")}` };
  }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/** Who buys every policy of the scenarios. */
export const BUYER = "ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP";

/** A provider with no commitment whose deposit reaches the vault lands in the safest tier (README "Liquidity API"). */
export const DEFAULT_TIER: Tier = "Conservative";

export type ModelBalance = Balance & { tier: Tier };
export type ModelReservation = {
  provider: string;
  token: Token;
  amount: bigint;
  nonce: bigint;
  status: "active" | "redeemed" | "cancelled" | "superseded";
};
/** A lock or release applied straight through `updateProviderBalance` (not for a policy). */
export type DirectBalanceOp = { operationId: string; provider: string; token: Token; type: "lock" | "release"; amount: bigint };
export type ModelBacking = { provider: string; originalAllocation: bigint; allocated: bigint; active: boolean };
export type ModelPolicy = {
  policyId: bigint;
  policyType: PolicyType;
  tier: Tier;
  collateralToken: Token;
  requiredCollateral: bigint;
  status: PolicyStatus;
  premiumsReceived: bigint;
  settledAmount: bigint | undefined;
  /** In the order the backend wrote the rows, which is the order splits go by. */
  backing: ModelBacking[];
};
export type ModelVaultOperation = {
  kind: "lock" | "release" | "settle";
  policyId: bigint;
  token: Token;
  amount: bigint;
  buyer: string | undefined;
  status: "queued" | "confirmed";
};
/** What a synced premium did: its parts, so that a reorg can take exactly them back. */
export type PremiumEffect = {
  event: Extract<VaultEvent, { kind: "premium-paid" }>;
  fee: bigint;
  unallocated: bigint;
  parts: { provider: string; amount: bigint }[];
};

type Money = Record<Token, bigint>;
const zeroes = (): Money => ({ STX: 0n, sBTC: 0n });

export class PoolModel {
  /** principal -> tier */
  readonly providers = new Map<string, Tier>();
  /** Tiers asked for, not yet acted on by a synced deposit. */
  readonly tierChoices = new Map<string, Tier>();
  /** `${principal}/${token}` -> balance, created by the first change that succeeds */
  readonly balances = new Map<string, ModelBalance>();
  /** `${principal}/${token}` -> what is locked by direct locks and releases (the rest is policy backing) */
  readonly directLocks = new Map<string, bigint>();
  /** `${principal}/${nonce}` -> reservation: voucher nonces are per provider, from 1 up. */
  readonly reservations = new Map<string, ModelReservation>();
  readonly directOps: DirectBalanceOp[] = [];
  /** policy id -> policy, in registration order */
  readonly policies = new Map<bigint, ModelPolicy>();
  readonly vaultOperations: ModelVaultOperation[] = [];
  readonly protocol: Record<Token, { feesAccrued: bigint; unallocatedPremiums: bigint }> = {
    STX: { feesAccrued: 0n, unallocatedPremiums: 0n },
    sBTC: { feesAccrued: 0n, unallocatedPremiums: 0n },
  };
  /** The vault's own totals and flow counter, as its events report them. */
  readonly vault = { balance: zeroes(), locked: zeroes(), seq: 0n };
  /** The totals the last synced event of each token reported (the pool mirror). */
  readonly mirror: Partial<Record<Token, { totalBalance: bigint; totalLocked: bigint }>> = {};
  /** Every event the backend applied, once per (txid, index), in the order first applied. */
  readonly appliedEvents: VaultEvent[] = [];
  /** Money into and out of the vault, per token. */
  readonly flows = {
    deposits: zeroes(),
    withdrawals: zeroes(),
    premiums: zeroes(),
    payouts: zeroes(),
  };
  readonly feeBps: Record<Tier, bigint>;
  readonly maxBackers: Record<Tier, number>;
  ledgerRows = 0;
  nextPolicyId = 1n;

  /** `principals`: every provider a scenario may name, known to the backend or not. */
  constructor(readonly principals: readonly string[]) {
    const config = (tier: Tier) => DEFAULT_TIER_CONFIGS.find((c) => c.tier === tier)!;
    this.feeBps = Object.fromEntries(TIERS.map((t) => [t, config(t).protocolFeeBps])) as Record<Tier, bigint>;
    this.maxBackers = Object.fromEntries(TIERS.map((t) => [t, config(t).maxBackersPerPolicy])) as Record<Tier, number>;
  }

  principal(index: number): string {
    return this.principals[index % this.principals.length]!;
  }

  // --- balances -------------------------------------------------------------

  balance(provider: string, token: Token): Balance {
    const b = this.balances.get(`${provider}/${token}`);
    return b
      ? { total: b.total, locked: b.locked, reserved: b.reserved, accruedYield: b.accruedYield }
      : { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n };
  }

  available(provider: string, token: Token): bigint {
    const b = this.balance(provider, token);
    return b.total - b.locked - b.reserved;
  }

  /** Applies an allowed change, one ledger row; a new balance takes the provider's tier at that moment. */
  change(provider: string, token: Token, delta: Partial<Balance>): void {
    const key = `${provider}/${token}`;
    const tier = this.providers.get(provider);
    if (tier === undefined) throw new Error(`model: unknown provider ${provider}`);
    const before = this.balances.get(key) ?? { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n, tier };
    const after = {
      tier: before.tier,
      total: before.total + (delta.total ?? 0n),
      locked: before.locked + (delta.locked ?? 0n),
      reserved: before.reserved + (delta.reserved ?? 0n),
      accruedYield: before.accruedYield + (delta.accruedYield ?? 0n),
    };
    if (after.locked < 0n || after.reserved < 0n || after.total - after.locked - after.reserved < 0n) {
      throw new Error(`model: ${key} would go negative`);
    }
    this.balances.set(key, after);
    this.ledgerRows += 1;
  }

  /** A lock or release straight on a balance, not for a policy. */
  changeDirectLock(op: DirectBalanceOp): void {
    const signed = op.type === "lock" ? op.amount : -op.amount;
    this.change(op.provider, op.token, { locked: signed });
    const key = `${op.provider}/${op.token}`;
    this.directLocks.set(key, (this.directLocks.get(key) ?? 0n) + signed);
    // The vault's aggregate lock follows the providers' locks (its event would say so).
    this.vault.locked[op.token] += signed;
    this.directOps.push(op);
  }

  /** Whether the provider holds anything (total, locked or reserved) in any token. */
  holdsCapital(provider: string): boolean {
    return TOKENS.some((token) => {
      const b = this.balances.get(`${provider}/${token}`);
      return b !== undefined && (b.total > 0n || b.locked > 0n || b.reserved > 0n);
    });
  }

  // --- commitments ----------------------------------------------------------

  /**
   * What asking to commit to `tier` does (README "Liquidity API"): refused
   * while the provider holds capital in another tier; else it notes the choice
   * for their next deposit, which changes nothing when they already are in
   * that tier with no other choice pending.
   */
  commitOutcome(provider: string, tier: Tier): "noted" | "unchanged" | "refused" {
    const current = this.providers.get(provider);
    if (current !== undefined && current !== tier && this.holdsCapital(provider)) return "refused";
    return current === tier && !this.tierChoices.has(provider) ? "unchanged" : "noted";
  }

  commit(provider: string, tier: Tier): void {
    if (this.providers.get(provider) === tier) this.tierChoices.delete(provider);
    else this.tierChoices.set(provider, tier);
  }

  /** A synced deposit places its depositor: a new one in their chosen tier (else the default), an empty one moves to a newly chosen tier. */
  private joinChosenTier(depositor: string): void {
    const choice = this.tierChoices.get(depositor);
    this.tierChoices.delete(depositor);
    const current = this.providers.get(depositor);
    if (current === undefined) {
      this.providers.set(depositor, choice ?? DEFAULT_TIER);
    } else if (choice !== undefined && choice !== current && !this.holdsCapital(depositor)) {
      // Their empty balances (and lifetime yield) move with them.
      this.providers.set(depositor, choice);
      for (const token of TOKENS) {
        const b = this.balances.get(`${depositor}/${token}`);
        if (b) this.balances.set(`${depositor}/${token}`, { ...b, tier: choice });
      }
    }
  }

  // --- vault events -----------------------------------------------------------

  private record(event: VaultEvent): void {
    const at = this.appliedEvents.findIndex((e) => e.txid === event.txid && e.eventIndex === event.eventIndex);
    if (at >= 0) this.appliedEvents[at] = event;
    else this.appliedEvents.push(event);
    this.mirror[event.token] = { totalBalance: event.totalBalance, totalLocked: event.totalLocked };
  }

  depositEvent(position: Position, depositor: string, token: Token, amount: bigint): Extract<VaultEvent, { kind: "funds-deposited" }> {
    return {
      kind: "funds-deposited",
      ...position,
      token,
      amount,
      totalBalance: this.vault.balance[token] + amount,
      totalLocked: this.vault.locked[token],
      depositor,
      seq: this.vault.seq + 1n,
    };
  }

  applyDeposit(event: Extract<VaultEvent, { kind: "funds-deposited" }>): void {
    this.joinChosenTier(event.depositor);
    this.change(event.depositor, event.token, { total: event.amount });
    this.vault.balance[event.token] += event.amount;
    this.vault.seq += 1n;
    this.flows.deposits[event.token] += event.amount;
    this.record(event);
  }

  /** The provider's next voucher nonce: one above the highest issued to them. */
  nextNonce(provider: string): bigint {
    let highest = 0n;
    for (const r of this.reservations.values()) if (r.provider === provider && r.nonce > highest) highest = r.nonce;
    return highest + 1n;
  }

  reserve(provider: string, token: Token, amount: bigint): bigint {
    const nonce = this.nextNonce(provider);
    this.change(provider, token, { reserved: amount });
    this.reservations.set(`${provider}/${nonce}`, { provider, token, amount, nonce, status: "active" });
    return nonce;
  }

  cancelReservation(reservation: ModelReservation): void {
    this.change(reservation.provider, reservation.token, { reserved: -reservation.amount });
    reservation.status = "cancelled";
  }

  withdrawalEvent(position: Position, reservation: ModelReservation): VaultEvent {
    return {
      kind: "funds-withdrawn",
      ...position,
      token: reservation.token,
      amount: reservation.amount,
      totalBalance: this.vault.balance[reservation.token] - reservation.amount,
      totalLocked: this.vault.locked[reservation.token],
      provider: reservation.provider,
      nonce: reservation.nonce,
      seq: this.vault.seq + 1n,
    };
  }

  /** The voucher of `reservation` redeemed on chain. */
  applyWithdrawal(reservation: ModelReservation, event: VaultEvent): void {
    // Two ledger rows: the reservation is freed, then the money leaves.
    this.change(reservation.provider, reservation.token, { reserved: -reservation.amount });
    this.change(reservation.provider, reservation.token, { total: -reservation.amount });
    reservation.status = "redeemed";
    // The vault now refuses the provider's lower nonces: their reservations are freed, one row each.
    for (const earlier of this.reservations.values()) {
      if (earlier.provider === reservation.provider && earlier.status === "active" && earlier.nonce < reservation.nonce) {
        this.change(earlier.provider, earlier.token, { reserved: -earlier.amount });
        earlier.status = "superseded";
      }
    }
    this.vault.balance[reservation.token] -= reservation.amount;
    this.vault.seq += 1n;
    this.flows.withdrawals[reservation.token] += reservation.amount;
    this.record(event);
  }

  premiumEvent(position: Position, policyId: bigint, token: Token, amount: bigint): Extract<VaultEvent, { kind: "premium-paid" }> {
    return {
      kind: "premium-paid",
      ...position,
      policyId,
      payer: BUYER,
      token,
      amount,
      totalBalance: this.vault.balance[token] + amount,
      totalLocked: this.vault.locked[token],
    };
  }

  /**
   * A synced premium (README "Policy collateral lifecycle"): the tier's fee,
   * rounded down, to the protocol; the rest to the policy's backers in
   * proportion to what each first locked for it, in the token paid. A premium
   * no backer can take (an unknown policy, or one never backed) stays in the
   * protocol account as unallocated.
   */
  applyPremium(event: Extract<VaultEvent, { kind: "premium-paid" }>): PremiumEffect {
    const policy = this.policies.get(event.policyId);
    const backers = policy?.backing.filter((b) => b.originalAllocation > 0n) ?? [];
    let effect: PremiumEffect;
    if (!policy || backers.length === 0) {
      effect = { event, fee: 0n, unallocated: event.amount, parts: [] };
    } else {
      const fee = (event.amount * this.feeBps[policy.tier]) / 10_000n;
      const shares = largestRemainder(
        event.amount - fee,
        backers.map((b) => b.originalAllocation),
      );
      const parts = backers.map((b, i) => ({ provider: b.provider, amount: shares[i]! })).filter((p) => p.amount > 0n);
      effect = { event, fee, unallocated: 0n, parts };
    }
    this.addPremium(effect, 1n);
    this.vault.balance[event.token] += event.amount;
    this.flows.premiums[event.token] += event.amount;
    this.record(event);
    return effect;
  }

  /** Its block left the chain: every part, the fee and the policy's count taken back, one reversal row per part. */
  reversePremium(effect: PremiumEffect): void {
    this.addPremium(effect, -1n);
    this.vault.balance[effect.event.token] -= effect.event.amount;
    this.flows.premiums[effect.event.token] -= effect.event.amount;
  }

  private addPremium(effect: PremiumEffect, sign: bigint): void {
    const { token, amount, policyId } = effect.event;
    for (const part of effect.parts) this.change(part.provider, token, { total: sign * part.amount, accruedYield: sign * part.amount });
    this.protocol[token].feesAccrued += sign * effect.fee;
    this.protocol[token].unallocatedPremiums += sign * effect.unallocated;
    const policy = this.policies.get(policyId);
    if (policy && effect.unallocated === 0n) policy.premiumsReceived += sign * amount;
  }

  // --- policies ---------------------------------------------------------------

  register(policy: Omit<ModelPolicy, "status" | "premiumsReceived" | "settledAmount" | "backing">): ModelPolicy {
    const registered: ModelPolicy = { ...policy, status: "Pending", premiumsReceived: 0n, settledAmount: undefined, backing: [] };
    this.policies.set(policy.policyId, registered);
    return registered;
  }

  /** Available capital of the tier's balances in `token`, largest first. */
  tierAvailability(tier: Tier, token: Token): bigint[] {
    return [...this.balances.entries()]
      .filter(([key, b]) => b.tier === tier && key.endsWith(`/${token}`))
      .map(([, b]) => b.total - b.locked - b.reserved)
      .filter((a) => a > 0n)
      .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  /**
   * Whether a policy needing `required` can be backed (README "Policy
   * collateral lifecycle"): refused with TIER_INSUFFICIENT_CAPITAL when the
   * whole tier holds less; with ALLOCATION_FANOUT_EXCEEDED when no
   * `maxBackers` balances together hold enough (the tier's largest take
   * what the front of its queue cannot); otherwise backed.
   */
  allocationRefusal(tier: Tier, token: Token, required: bigint): ErrorCode | null {
    const available = this.tierAvailability(tier, token);
    if (sum(available) < required) return "TIER_INSUFFICIENT_CAPITAL";
    if (sum(available.slice(0, this.maxBackers[tier])) < required) return "ALLOCATION_FANOUT_EXCEEDED";
    return null;
  }

  /** Checks an allocation the backend chose against the rules, then follows it. */
  applyAllocation(policy: ModelPolicy, allocations: readonly { provider: string; amount: bigint }[]): void {
    expect(allocations.length, `policy ${policy.policyId}: number of backers`).toBeGreaterThan(0);
    expect(allocations.length, `policy ${policy.policyId}: number of backers`).toBeLessThanOrEqual(this.maxBackers[policy.tier]);
    expect(new Set(allocations.map((a) => a.provider)).size, "one part per backer").toBe(allocations.length);
    expect(sum(allocations.map((a) => a.amount)), `policy ${policy.policyId}: parts vs requirement`).toBe(policy.requiredCollateral);
    for (const a of allocations) {
      expect(this.providers.get(a.provider), `backer ${a.provider}'s tier`).toBe(policy.tier);
      expect(a.amount > 0n && a.amount <= this.available(a.provider, policy.collateralToken), `part ${a.amount} of ${a.provider}`).toBe(
        true,
      );
    }
    for (const a of allocations) {
      this.change(a.provider, policy.collateralToken, { locked: a.amount });
      policy.backing.push({ provider: a.provider, originalAllocation: a.amount, allocated: a.amount, active: true });
    }
    policy.status = "Active";
    this.queue({ kind: "lock", policyId: policy.policyId, token: policy.collateralToken, amount: policy.requiredCollateral });
  }

  private queue(op: Omit<ModelVaultOperation, "status" | "buyer"> & { buyer?: string }): void {
    if (op.amount > 0n) this.vaultOperations.push({ buyer: undefined, ...op, status: "queued" });
  }

  /** Frees whatever is still locked for the policy, one release row per backer with something locked. */
  private releaseBacking(policy: ModelPolicy): bigint {
    let released = 0n;
    for (const b of policy.backing) {
      if (!b.active) continue;
      if (b.allocated > 0n) {
        this.change(b.provider, policy.collateralToken, { locked: -b.allocated });
        released += b.allocated;
      }
      b.allocated = 0n;
      b.active = false;
    }
    return released;
  }

  /** Expiry of an Active policy: everything released, and the release queued for the vault. */
  expire(policy: ModelPolicy): bigint {
    const released = this.releaseBacking(policy);
    policy.status = "Expired";
    this.queue({ kind: "release", policyId: policy.policyId, token: policy.collateralToken, amount: released });
    return released;
  }

  backed(policy: ModelPolicy): bigint {
    return sum(policy.backing.filter((b) => b.active).map((b) => b.allocated));
  }

  requestSettlement(policy: ModelPolicy, amount: bigint): void {
    policy.status = "Exercised";
    this.queue({ kind: "settle", policyId: policy.policyId, token: policy.collateralToken, amount, buyer: BUYER });
  }

  settlementEvent(position: Position, policy: ModelPolicy, amount: bigint): Extract<VaultEvent, { kind: "settlement-paid" }> {
    return {
      kind: "settlement-paid",
      ...position,
      policyId: policy.policyId,
      buyer: BUYER,
      token: policy.collateralToken,
      amount,
      totalBalance: this.vault.balance[policy.collateralToken] - amount,
      totalLocked: this.vault.locked[policy.collateralToken],
    };
  }

  /**
   * The synced payout (README "Policy collateral lifecycle"): each backer
   * pays a part in proportion to what they have locked for the policy
   * (largest remainder), the rest of their backing is released and queued
   * for release on chain, and the policy is Settled. Returns the parts.
   */
  applySettlement(policy: ModelPolicy, event: Extract<VaultEvent, { kind: "settlement-paid" }>): bigint[] {
    const backing = policy.backing.filter((b) => b.active);
    const parts = largestRemainder(
      event.amount,
      backing.map((b) => b.allocated),
    );
    for (const [i, b] of backing.entries()) {
      const part = parts[i]!;
      if (part === 0n) continue;
      this.change(b.provider, policy.collateralToken, { total: -part, locked: -part });
      b.allocated -= part;
    }
    const released = this.releaseBacking(policy);
    policy.status = "Settled";
    policy.settledAmount = event.amount;
    for (const op of this.vaultOperations) if (op.kind === "settle" && op.policyId === policy.policyId) op.status = "confirmed";
    this.queue({ kind: "release", policyId: policy.policyId, token: policy.collateralToken, amount: released });
    this.vault.balance[event.token] -= event.amount;
    this.flows.payouts[event.token] += event.amount;
    this.record(event);
    return parts;
  }
}
