/**
 * What a provider may withdraw. This is the single seam where collateral
 * health joins the rule: today a withdrawal may take at most the available
 * balance (total - locked - reserved); the health check (DESIGN §5 "Health")
 * adds its limit here, at current oracle prices, without touching callers.
 */
import type { QueryCtx } from "../_generated/server";
import type { Token } from "../validators";
import { availableOf, type Balance } from "./balances";
import { poolError } from "./errors";

export type WithdrawalLimit = { maxWithdrawable: bigint; reason: "available-balance" };

export async function withdrawalLimit(
  _ctx: QueryCtx,
  _provider: string,
  _token: Token,
  balance: Balance,
): Promise<WithdrawalLimit> {
  return { maxWithdrawable: availableOf(balance), reason: "available-balance" };
}

/** Refuses, saying how much could be withdrawn, when `amount` is over the limit. */
export async function assertWithdrawalAllowed(
  ctx: QueryCtx,
  provider: string,
  token: Token,
  balance: Balance,
  amount: bigint,
): Promise<void> {
  const limit = await withdrawalLimit(ctx, provider, token, balance);
  if (amount > limit.maxWithdrawable) {
    throw poolError(
      "INSUFFICIENT_AVAILABLE_BALANCE",
      `cannot withdraw ${amount} ${token}: at most ${limit.maxWithdrawable} can be withdrawn now`,
    );
  }
}
