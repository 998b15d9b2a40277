/**
 * The bounds on a commitment (README "Liquidity API"): no amount larger than
 * the token can ever have in circulation, and, when the deployment sets one,
 * no provider holding more than its per-provider maximum. Pure: the caller
 * reads what the provider holds and the configured maximum.
 */
import { poolError, type PoolError } from "./errors";
import { inBaseUnits } from "./money";
import type { Token } from "./vocabulary";

/**
 * Everything of the token there will ever be, in base units: STX's issuance
 * approaches 1,818,000,000 STX (the schedule ends in 2050) and sBTC is backed
 * 1:1 by bitcoin, capped at 21,000,000 BTC. An amount above it is a client's
 * mistake (or a probe), never a deposit.
 */
export const TOKEN_SUPPLY_CAP: Readonly<Record<Token, bigint>> = {
  STX: 1_818_000_000n * 1_000_000n,
  sBTC: 21_000_000n * 100_000_000n,
};

export type CommitmentLimits = Readonly<Partial<Record<Token, bigint>>>;

/** Why the provider may not commit `amount` more, or null when they may. */
export function commitmentRefusal(
  amount: bigint,
  token: Token,
  held: bigint,
  perProviderMax: CommitmentLimits,
): PoolError | null {
  if (amount <= 0n) return poolError("INVALID_AMOUNT", `amount must be a positive number of base units, got ${amount}`);
  const supply = TOKEN_SUPPLY_CAP[token];
  if (amount > supply) {
    return poolError("INVALID_AMOUNT", `${inBaseUnits(amount, token)} is more than all the ${token} there can be (${inBaseUnits(supply, token)})`);
  }
  const max = perProviderMax[token];
  if (max !== undefined && held + amount > max) {
    const room = max > held ? max - held : 0n;
    return poolError(
      "PROVIDER_LIMIT_EXCEEDED",
      `a provider may hold at most ${inBaseUnits(max, token)} in the pool; you hold ${inBaseUnits(held, token)}, so at most ${inBaseUnits(room, token)} more fits`,
    );
  }
  return null;
}
