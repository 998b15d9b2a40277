/**
 * fast-check arbitraries shared by the pool's model-based properties
 * (tests/convex/accountingProperties.test.ts, tests/convex/collateralProperties.test.ts)
 * and their single-function properties, so that both files draw providers,
 * tokens, tiers, amounts and policy terms from the same spaces.
 *
 * Every amount is a bigint in base units (micro-STX, satoshis); ratios are
 * basis points (docs/architecture.md, "Money and rounding").
 */
import { privateKeyToAddress } from "@stacks/transactions";
import fc from "fast-check";

import type { PolicyType } from "../../convex/domain/policyMath";
import { TIERS, TOKENS, type Tier, type Token } from "../../convex/validators";

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

const addressCache = new Map<number, string>();

/**
 * A real testnet address per seed (the portfolio query only accepts a valid
 * Stacks address as the signed-in provider). Deriving one costs a curve
 * multiplication, so each is derived once.
 */
export function testnetAddress(seed: number): string {
  let address = addressCache.get(seed);
  if (address === undefined) {
    address = privateKeyToAddress(seed.toString(16).padStart(64, "0") + "01", "testnet");
    addressCache.set(seed, address);
  }
  return address;
}

/** The index-th provider of a scenario (0-based): the same principals in every file. */
export function providerAddress(index: number): string {
  return testnetAddress(index + 1);
}

/** An index into a scenario's `count` providers. */
export const providerIndexArb = (count: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: count - 1 });

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

export const tokenArb: fc.Arbitrary<Token> = fc.constantFrom<Token>(...TOKENS);
export const tierArb: fc.Arbitrary<Tier> = fc.constantFrom<Tier>(...TIERS);
export const policyTypeArb: fc.Arbitrary<PolicyType> = fc.constantFrom<PolicyType>("PUT", "CALL");

/** `true` with probability weightTrue / (weightTrue + weightFalse); shrinks to `false`. */
export function sometimesArb(weightTrue: number, weightFalse: number): fc.Arbitrary<boolean> {
  return fc.oneof(
    { withCrossShrink: true },
    { arbitrary: fc.constant(false), weight: weightFalse },
    { arbitrary: fc.constant(true), weight: weightTrue },
  );
}

/** Picks an element of a list the model holds at run time (index modulo its length). */
export const pickArb: fc.Arbitrary<number> = fc.nat();

// ---------------------------------------------------------------------------
// Amounts and ratios
// ---------------------------------------------------------------------------

/** Any basis-point ratio, 0% to 100%. */
export const bpsArb: fc.Arbitrary<bigint> = fc.bigInt(0n, 10_000n);

/** A positive part of a whole in basis points: at least 1 bp, at most all of it. */
export const fractionBpsArb: fc.Arbitrary<bigint> = fc.bigInt(1n, 10_000n);

/** Percent of a limit an amount is drawn at: above 100 is over the limit and must be refused. */
export const limitPercentArb: fc.Arbitrary<number> = fc.integer({ min: 0, max: 140 });

/** `percent`% of `limit`, rounded down, but at least one base unit (zero is not an amount). */
export function amountAt(limit: bigint, percent: number): bigint {
  const scaled = (limit * BigInt(percent)) / 100n;
  return scaled > 0n ? scaled : 1n;
}

/** Any deposit, whatever the token: 1 base unit to 10^9. */
export const anyDepositAmountArb: fc.Arbitrary<bigint> = fc.bigInt(1n, 10n ** 9n);

/** A realistic deposit: 1 to 3,000 STX, or 0.00001 to 0.1 BTC. */
export function depositAmountArb(token: Token): fc.Arbitrary<bigint> {
  return token === "STX" ? fc.bigInt(1_000_000n, 3_000_000_000n) : fc.bigInt(1_000n, 10_000_000n);
}

/** A premium as the vault reports it: 1 to 10^7 base units. */
export const premiumAmountArb: fc.Arbitrary<bigint> = fc.bigInt(1n, 10_000_000n);

/** Amounts for pure splitting functions: up to 10^15 (a billion STX, ten million BTC). */
export const largeAmountArb: fc.Arbitrary<bigint> = fc.bigInt(0n, 10n ** 15n);

/** A USD price with 8 decimals, up to $10M. */
export const priceUsdArb: fc.Arbitrary<bigint> = fc.bigInt(1n, 10n ** 15n);

/** Protected BTC in sats, up to 21M BTC. */
export const protectedSatsArb: fc.Arbitrary<bigint> = fc.bigInt(1n, 21n * 10n ** 14n);

// ---------------------------------------------------------------------------
// Vault events and policies
// ---------------------------------------------------------------------------

/** A `funds-deposited` event's content: which provider, in which token, how much. */
export type DepositSpec = { p: number; token: Token; amount: bigint };

export function depositArb(
  providerCount: number,
  amount: (token: Token) => fc.Arbitrary<bigint> = () => anyDepositAmountArb,
): fc.Arbitrary<DepositSpec> {
  return fc
    .record({ p: providerIndexArb(providerCount), token: tokenArb })
    .chain(({ p, token }) => amount(token).map((value): DepositSpec => ({ p, token, amount: value })));
}

/** Each of `providerCount` providers' first deposit in STX and in sBTC (0 = none). */
export function initialDepositsArb(providerCount: number): fc.Arbitrary<[bigint, bigint][]> {
  return fc.array(
    fc.tuple(fc.oneof(fc.constant(0n), depositAmountArb("STX")), fc.oneof(fc.constant(0n), depositAmountArb("sBTC"))),
    { minLength: providerCount, maxLength: providerCount },
  );
}

/**
 * A `premium-paid` event's content. Now and then it names no policy of ours,
 * is paid in the other token than the policy's collateral, or its block
 * leaves the chain and the transaction is mined again in another.
 */
export type PremiumSpec = { pick: number; amount: bigint; otherToken: boolean; unknownPolicy: boolean; reorged: boolean };

export const premiumArb: fc.Arbitrary<PremiumSpec> = fc.record({
  pick: pickArb,
  amount: premiumAmountArb,
  otherToken: sometimesArb(1, 5),
  unknownPolicy: sometimesArb(1, 4),
  reorged: sometimesArb(1, 3),
});

/** The terms of a policy a buyer asks for; `cancelIfRefused` cancels it when no collateral backs it. */
export type PolicySpec = { policyType: PolicyType; token: Token; sats: bigint; cancelIfRefused: boolean };

export const policyArb: fc.Arbitrary<PolicySpec> = fc.record({
  policyType: policyTypeArb,
  token: tokenArb,
  sats: fc.bigInt(1_000n, 2_000_000n),
  cancelIfRefused: fc.boolean(),
});

/**
 * Whom a reservation, lock or release is for: mostly a balance the model
 * holds that can take it (`held`, chosen by `pick`), so that most of them
 * succeed and the state gets interesting; sometimes any provider and token,
 * unknown providers and empty balances included.
 */
export type TargetSpec = { held: boolean; pick: number; p: number; token: Token };

export function targetArb(providerCount: number): fc.Arbitrary<TargetSpec> {
  return fc.record({ held: sometimesArb(4, 1), pick: pickArb, p: providerIndexArb(providerCount), token: tokenArb });
}

// ---------------------------------------------------------------------------
// Command mixes
// ---------------------------------------------------------------------------

/**
 * `fc.commands` picks each command from its arbitraries with equal weight;
 * listing an arbitrary `weight` times gives it that weight.
 */
export function weighted<T>(...entries: [fc.Arbitrary<T>, number][]): fc.Arbitrary<T>[] {
  return entries.flatMap(([arbitrary, weight]) => Array.from({ length: weight }, () => arbitrary));
}
