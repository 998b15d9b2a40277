/**
 * Coded errors for everything a caller can get wrong. Each code is stable and
 * documented in the README; the message is for people.
 *
 * The domain throws a plain `PoolError`; the function builders in
 * `convex/functions.ts` turn it into the `ConvexError` a client receives, so
 * this file (like all of `convex/domain`) depends on nothing of Convex.
 */

export const ERROR_CODES = [
  "NOT_AUTHENTICATED",
  "INVALID_AMOUNT",
  "INVALID_ADDRESS",
  "UNKNOWN_PROVIDER",
  "TIER_MISMATCH",
  "TIER_CAPACITY_EXCEEDED",
  /** More than the deployment's per-provider maximum (MAX_PROVIDER_CAPITAL_*); the message says how much fits. */
  "PROVIDER_LIMIT_EXCEEDED",
  "INSUFFICIENT_AVAILABLE_BALANCE",
  "INSUFFICIENT_LOCKED_BALANCE",
  "INSUFFICIENT_RESERVED_BALANCE",
  "INSUFFICIENT_TOTAL_BALANCE",
  "TIER_NOT_CONFIGURED",
  "TIER_INSUFFICIENT_CAPITAL",
  "ALLOCATION_FANOUT_EXCEEDED",
  "UNKNOWN_POLICY",
  "POLICY_ALREADY_EXISTS",
  "INVALID_POLICY",
  "INVALID_POLICY_STATE",
  "SETTLEMENT_EXCEEDS_BACKING",
  "CONFIGURATION_MISSING",
  "CHAIN_UNAVAILABLE",
  /**
   * Vault events wait: a checkpoint snapshot holds them so that no balance
   * changes between its pages (README "Checkpoints"). The sync and the
   * chainhook confirmer stop and try again later; nothing was applied.
   */
  "EVENTS_HELD",
  /** The vault's outflow window has no room for the amount now (the message says how much fits and when it reopens). */
  "OUTFLOW_LIMITED",
  /** The vault's current checkpoint was not posted by this backend: no voucher is signed until it is vetoed or replaced. */
  "CHECKPOINT_UNKNOWN",
  /** The provider holds the most unredeemed withdrawal vouchers allowed at once. */
  "VOUCHER_LIMIT_REACHED",
  /** The vault is shut down: providers leave through `claim-exit`, nothing new is taken on. */
  "VAULT_SHUT_DOWN",
  "PRICE_UNAVAILABLE",
  "AUTH_CHALLENGE_INVALID",
  "AUTH_SIGNATURE_INVALID",
  /** Too many sign-in challenges for the address or the client: retry after the `Retry-After` seconds. */
  "RATE_LIMITED",
  /** An HTTP request body that does not parse. */
  "INVALID_REQUEST",
  /** An unexpected failure; details only in the server log. */
  "INTERNAL_ERROR",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type PoolErrorData = { code: ErrorCode; message: string };

/** A refused request: its `data` is exactly what the client sees. */
export class PoolError extends Error {
  readonly data: PoolErrorData;

  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "PoolError";
    this.data = { code, message };
  }
}

export function poolError(code: ErrorCode, message: string): PoolError {
  return new PoolError(code, message);
}

/**
 * A coded pool error, whether still the domain's `PoolError` or already the
 * `ConvexError` a function boundary made of it (as seen by an action that ran
 * a mutation, or by a client).
 */
export function isPoolError(error: unknown, code?: ErrorCode): error is Error & { data: PoolErrorData } {
  if (!(error instanceof Error)) return false;
  const data = (error as { data?: unknown }).data as Partial<PoolErrorData> | undefined;
  if (typeof data !== "object" || data === null) return false;
  return (
    typeof data.code === "string" &&
    (ERROR_CODES as readonly string[]).includes(data.code) &&
    typeof data.message === "string" &&
    (code === undefined || data.code === code)
  );
}
