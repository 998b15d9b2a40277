/**
 * The market's script, drawn up front from the seed: who provides what in
 * which tier, who buys which policy when, when each policy expires, who
 * withdraws when, and the price path. What depends on the live pool (which
 * token a policy is backed in, how large it is) is decided at run time from
 * draws made here, so one seed always plays out the same way.
 *
 * The schedule keeps each step's money flows apart where the end-to-end
 * checks need it: policies are all sold before the first one expires, and no
 * withdrawal or top-up falls on a step where a policy expires, so a
 * settlement step moves the buyers' and backers' balances by the settlement
 * alone.
 */
import type { PolicyType } from "../convex/domain/policyMath";
import type { Tier, Token } from "../convex/validators";
import type { SimulationOptions } from "./options";
import type { Rng } from "./rng";
import { marketOf, pricePath, type PricePoint } from "./scenarios";
import { newWallet, type Wallet } from "./wallets";

export const TIER_ORDER: readonly Tier[] = ["Conservative", "Balanced", "Aggressive"];

const USTX = 1_000_000n;
const SATS = 100_000_000n;

export type ProviderPlan = {
  index: number;
  wallet: Wallet;
  tier: Tier;
  /** First deposit per token (0 = none). */
  deposits: Record<Token, bigint>;
  /** A second deposit in the first token the provider holds, at `topUpStep`; 0 = none. */
  topUp: bigint;
};

export type BuyerPlan = { index: number; wallet: Wallet; fundedUstx: bigint; fundedSats: bigint };

export type PolicyPlan = {
  policyId: bigint;
  buyer: number;
  policyType: PolicyType;
  /** The tier the strike is chosen for; another one if this tier has no capital. */
  tier: Tier;
  /** Picks the collateral token among those the tier can back it in (STX first, then sBTC). */
  tokenDraw: number;
  /** Share of the tier's available capital the policy asks for. */
  shareBps: bigint;
  /** Where in the backing tier's strike band the strike lies (0..1). */
  strikeDraw: number;
  /** Where in the backing tier's premium band the premium lies (0..1). */
  premiumDraw: number;
  registrationStep: number;
  /** The step at which it is due; beyond the run for long-dated policies. */
  expiryStep: number;
};

export type WithdrawalPlan = {
  step: number;
  /** Which providers: "first-two" mid-run, "worst-health" at the bottom of a crash, "every-third" near the end. */
  who: "first-two" | "worst-health" | "every-third";
  /** Share of the available balance asked for, bps. */
  shareBps: bigint;
};

export type MarketPlan = {
  steps: number;
  providers: ProviderPlan[];
  buyers: BuyerPlan[];
  policies: PolicyPlan[];
  withdrawals: WithdrawalPlan[];
  topUpStep: number;
  prices: PricePoint[];
};

/** A point of a band [low, high] (bps) by a draw in [0, 1). */
export function inBand([low, high]: readonly [number, number], draw: number): bigint {
  return BigInt(low + Math.floor(draw * (high - low + 1)));
}

/** Strike distance bands (bps of spot) well inside each tier's range, so rounding never moves a policy across. */
export const STRIKE_BANDS: Record<Tier, [number, number]> = {
  Conservative: [1_600, 2_200],
  Balanced: [600, 1_300],
  Aggressive: [50, 400],
};

/** Premium rates (bps of the protected value): the riskier the tier, the dearer. */
export const PREMIUM_BANDS: Record<Tier, [number, number]> = {
  Conservative: [80, 150],
  Balanced: [150, 300],
  Aggressive: [300, 600],
};

/** The nearest step to `target` in [from, to] not in `taken` (null if there is none). */
function freeStepNear(target: number, from: number, to: number, taken: ReadonlySet<number>): number | null {
  for (let d = 0; d <= to - from; d++) {
    for (const s of [target - d, target + d]) if (s >= from && s <= to && !taken.has(s)) return s;
  }
  return null;
}

export function planMarket(options: SimulationOptions, rng: Rng): MarketPlan {
  const steps = options.blocks;
  const walletRng = rng.fork("wallets");
  const providerRng = rng.fork("providers");
  const policyRng = rng.fork("policies");

  const providers: ProviderPlan[] = Array.from({ length: options.providers }, (_, index) => {
    const tier = TIER_ORDER[index % 3] as Tier;
    // Within a tier: STX only, sBTC only, both, then again — every tier holds both tokens from 6 providers up.
    const holding = Math.floor(index / 3) % 3;
    const stx = holding === 1 ? 0n : BigInt(providerRng.int(20_000, 200_000)) * USTX;
    const sats = holding === 0 ? 0n : (BigInt(providerRng.int(50, 300)) * SATS) / 100n;
    return {
      index,
      wallet: newWallet(walletRng),
      tier,
      deposits: { STX: stx, sBTC: sats },
      topUp: 0n,
    };
  });
  // A few providers add to their position mid-run.
  for (const provider of providers.filter((_, i) => i % 5 === 4)) {
    provider.topUp = provider.deposits.STX > 0n ? BigInt(providerRng.int(5_000, 30_000)) * USTX : SATS / 4n;
  }

  const buyerCount = Math.max(2, Math.ceil(options.policies / 4));
  const buyers: BuyerPlan[] = Array.from({ length: buyerCount }, (_, index) => ({
    index,
    wallet: newWallet(walletRng),
    fundedUstx: 2_000_000n * USTX,
    fundedSats: 20n * SATS,
  }));

  // Policies are sold over the first third of the run (before a crash starts) and expire from
  // the bottom of a crash on: the crash meets the pool fully committed.
  const regStart = 1;
  const regEnd = Math.max(regStart + 1, Math.round(0.35 * steps));
  const expiryFrom = Math.max(regEnd + 2, Math.round(0.55 * steps) + 1);
  const expiryTo = steps - 3;
  // Policies ask for a share of what their tier has available; with many policies each asks for less,
  // so that the tiers fill up towards the desk's limit over the whole selling period (‰).
  const sizeScale = BigInt(Math.min(1_000, Math.round((1_000 * 20) / options.policies)));
  const policies: PolicyPlan[] = Array.from({ length: options.policies }, (_, j) => {
    const tier = TIER_ORDER[j % 3] as Tier;
    // One policy in seven is long-dated: it is still running when the run ends.
    const longDated = j % 7 === 6;
    // Each tier's first policy is a large PUT backed in sBTC where the tier holds sBTC — as much as the
    // desk's utilization limit allows: the position a BTC crash hurts.
    const first = j < 3;
    const typeDraw = policyRng.next();
    const tokenDraw = policyRng.next();
    return {
      policyId: BigInt(1_000 + j),
      buyer: j % buyerCount,
      policyType: !first && typeDraw < 0.2 ? "CALL" : "PUT",
      tier,
      tokenDraw: first ? 0.999 : tokenDraw,
      shareBps: ((first ? 10_000n : BigInt(policyRng.int(2_500, 4_500))) * sizeScale) / 1_000n,
      strikeDraw: policyRng.next(),
      premiumDraw: policyRng.next(),
      registrationStep: regStart + Math.floor((j * (regEnd - regStart + 1)) / options.policies),
      expiryStep: longDated ? steps + 50 : policyRng.int(expiryFrom, expiryTo),
    };
  });

  const expirySteps = new Set(policies.map((p) => p.expiryStep));
  const withdrawals: WithdrawalPlan[] = [];
  const mid = freeStepNear(Math.round(0.25 * steps), 1, steps - 2, expirySteps);
  if (mid !== null) withdrawals.push({ step: mid, who: "first-two", shareBps: 1_000n });
  if (marketOf(options.scenario) !== "calm") {
    // At the bottom of the crash, before the first policy expires: the provider in the worst health tries to leave.
    const bottom = freeStepNear(Math.round(0.53 * steps), regEnd + 1, steps - 3, expirySteps);
    if (bottom !== null) withdrawals.push({ step: bottom, who: "worst-health", shareBps: 9_000n });
  }
  withdrawals.push({ step: steps - 2, who: "every-third", shareBps: 4_000n });

  const topUpStep = freeStepNear(Math.round(0.2 * steps), 1, regEnd, expirySteps) ?? 1;

  return {
    steps,
    providers,
    buyers,
    policies,
    withdrawals,
    topUpStep,
    prices: pricePath(options.scenario, steps, rng.fork("prices")),
  };
}
