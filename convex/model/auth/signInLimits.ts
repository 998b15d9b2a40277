/**
 * The limits on `POST /auth/challenge` (README "Sign-in with a Stacks
 * wallet"): token buckets of convex-helpers' rate limiter, kept in the
 * `rateLimits` table and consumed in the transaction that stores the
 * challenge, so a refused request stores nothing and consumes nothing.
 *
 * Why convex-helpers and not the `@convex-dev/rate-limiter` component: a
 * component needs `components` in the generated API, which only a codegen
 * against a deployment writes; this repository's generated code comes from the
 * offline codegen (`npx convex codegen --system-udfs`), which cannot.
 */
import { defineRateLimits } from "convex-helpers/server/rateLimit";

import { clientRateLimitKey } from "../../domain/clientAddress";
import type { Writer } from "../database";

const MINUTE = 60_000;

/**
 * A wallet signs in a few times a day, and retries a failed signature at
 * most a handful of times: 5 at once, then one a minute.
 */
const PER_ADDRESS = { kind: "token bucket", rate: 1, period: MINUTE, capacity: 5 } as const;

/**
 * One client (an IPv4 address, an IPv6 /64: domain/clientAddress.ts) may
 * sign in many wallets — an office behind one NAT, or the simulation's
 * market — but not fill the table: 30 at once, then 30 a minute. Without a client address every request shares this one
 * bucket, which still bounds the table's growth.
 */
const PER_CLIENT = { kind: "token bucket", rate: 30, period: MINUTE, capacity: 30 } as const;

const limits = defineRateLimits({ signInPerAddress: PER_ADDRESS, signInPerClient: PER_CLIENT });

/** How long an untouched bucket takes to fill up again: older than that, its row says nothing a fresh one would not. */
export const SIGN_IN_BUCKET_REFILL_MS = Math.max(
  ...[PER_ADDRESS, PER_CLIENT].map((limit) => (limit.capacity / limit.rate) * limit.period),
);

/** The bucket key of requests that came with no client address. */
export const UNKNOWN_CLIENT = "unknown";

export type SignInLimit = { ok: true } | { ok: false; retryAt: number };

/**
 * Takes one token from the address's bucket and one from the client's, or
 * neither: both are checked before either is consumed, so a request refused
 * for one limit does not use up the other.
 */
export async function takeSignInTokens(ctx: Writer, { address, client }: { address: string; client: string | null }): Promise<SignInLimit> {
  const checks = [
    { name: "signInPerAddress", key: address },
    { name: "signInPerClient", key: client === null ? UNKNOWN_CLIENT : clientRateLimitKey(client) },
  ] as const;
  let retryAt = 0;
  for (const check of checks) {
    const status = await limits.checkRateLimit(ctx, check);
    if (!status.ok) retryAt = Math.max(retryAt, status.retryAt ?? Date.now());
  }
  if (retryAt > 0) return { ok: false, retryAt };
  for (const check of checks) await limits.rateLimit(ctx, check);
  return { ok: true };
}
