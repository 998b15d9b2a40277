/**
 * A provider's balance in one token and the rules of every change to it.
 *
 * available = total - locked - reserved. Nothing may make any part negative
 * or let locked + reserved exceed total; a change that would is refused with a
 * coded error and leaves the balance as it was.
 */
import type { BalanceChangeType } from "./vocabulary";
import { poolError } from "./errors";

export type Balance = {
  total: bigint;
  locked: bigint;
  reserved: bigint;
  accruedYield: bigint;
};

export const ZERO_BALANCE: Balance = { total: 0n, locked: 0n, reserved: 0n, accruedYield: 0n };

export function availableOf(balance: Balance): bigint {
  return balance.total - balance.locked - balance.reserved;
}

function requireAvailable(balance: Balance, amount: bigint, action: string): void {
  const available = availableOf(balance);
  if (available < amount) {
    throw poolError(
      "INSUFFICIENT_AVAILABLE_BALANCE",
      `cannot ${action} ${amount}: only ${available} is available`,
    );
  }
}

function requireLocked(balance: Balance, amount: bigint, action: string): void {
  if (balance.locked < amount) {
    throw poolError("INSUFFICIENT_LOCKED_BALANCE", `cannot ${action} ${amount}: only ${balance.locked} is locked`);
  }
}

/** The balance after one change. Pure; throws a coded error when the change is not allowed. */
export function applyBalanceChangeTo(balance: Balance, type: BalanceChangeType, amount: bigint): Balance {
  if (amount <= 0n) throw poolError("INVALID_AMOUNT", `amount must be positive, got ${amount}`);
  switch (type) {
    case "deposit":
      return { ...balance, total: balance.total + amount };
    case "yield_accrual":
      return { ...balance, total: balance.total + amount, accruedYield: balance.accruedYield + amount };
    case "withdrawal":
      requireAvailable(balance, amount, "withdraw");
      return { ...balance, total: balance.total - amount };
    case "lock":
      requireAvailable(balance, amount, "lock");
      return { ...balance, locked: balance.locked + amount };
    case "release":
      requireLocked(balance, amount, "release");
      return { ...balance, locked: balance.locked - amount };
    case "settlement_debit":
      // A payout is taken from the collateral locked for the policy.
      requireLocked(balance, amount, "pay out");
      return { ...balance, total: balance.total - amount, locked: balance.locked - amount };
    case "reserve":
      requireAvailable(balance, amount, "reserve");
      return { ...balance, reserved: balance.reserved + amount };
    case "unreserve":
      if (balance.reserved < amount) {
        throw poolError(
          "INSUFFICIENT_RESERVED_BALANCE",
          `cannot free ${amount} of reservations: only ${balance.reserved} is reserved`,
        );
      }
      return { ...balance, reserved: balance.reserved - amount };
    case "yield_reversal":
      requireAvailable(balance, amount, "take back yield of");
      if (balance.accruedYield < amount) {
        throw poolError("INSUFFICIENT_TOTAL_BALANCE", `cannot take back ${amount} of yield: only ${balance.accruedYield} accrued`);
      }
      return { ...balance, total: balance.total - amount, accruedYield: balance.accruedYield - amount };
    case "settlement_reversal":
      return { ...balance, total: balance.total + amount, locked: balance.locked + amount };
  }
}

/**
 * Whether a change moves a balance's total, which a checkpoint leaf carries:
 * locks, releases and reservations only move parts of it.
 */
export function movesTotal(type: BalanceChangeType): boolean {
  return !(type === "lock" || type === "release" || type === "reserve" || type === "unreserve");
}

/** The change that undoes `type` (for reversing the effects of a reorged event). */
export function inverseOf(type: BalanceChangeType): BalanceChangeType {
  const inverse: Record<BalanceChangeType, BalanceChangeType> = {
    deposit: "withdrawal",
    withdrawal: "deposit",
    lock: "release",
    release: "lock",
    reserve: "unreserve",
    unreserve: "reserve",
    yield_accrual: "yield_reversal",
    yield_reversal: "yield_accrual",
    settlement_debit: "settlement_reversal",
    settlement_reversal: "settlement_debit",
  };
  return inverse[type];
}

/** Field-wise difference `after - before`, for keeping the tier sums in step. */
export function balanceDelta(before: Balance, after: Balance): Balance {
  return {
    total: after.total - before.total,
    locked: after.locked - before.locked,
    reserved: after.reserved - before.reserved,
    accruedYield: after.accruedYield - before.accruedYield,
  };
}
