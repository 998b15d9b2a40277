/**
 * Coded errors for everything a caller can get wrong. Each code is stable and
 * documented in the README; the message is for people.
 */
import { ConvexError } from "convex/values";

export const ERROR_CODES = [
  "NOT_AUTHENTICATED",
  "INVALID_AMOUNT",
  "INVALID_ADDRESS",
  "UNKNOWN_PROVIDER",
  "TIER_MISMATCH",
  "TIER_CAPACITY_EXCEEDED",
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
  "PRICE_UNAVAILABLE",
  "AUTH_CHALLENGE_INVALID",
  "AUTH_SIGNATURE_INVALID",
  /** An HTTP request body that does not parse. */
  "INVALID_REQUEST",
  /** An unexpected failure; details only in the server log. */
  "INTERNAL_ERROR",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type PoolErrorData = { code: ErrorCode; message: string };

export function poolError(code: ErrorCode, message: string): ConvexError<PoolErrorData> {
  return new ConvexError({ code, message });
}

export function isPoolError(error: unknown, code?: ErrorCode): error is ConvexError<PoolErrorData> {
  if (!(error instanceof ConvexError)) return false;
  const data = error.data as Partial<PoolErrorData> | undefined;
  return typeof data?.code === "string" && (code === undefined || data.code === code);
}
