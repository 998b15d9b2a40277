/**
 * Sign-in with a Stacks wallet: the HTTP endpoints and the challenge table
 * (README "Sign-in with a Stacks wallet"). The rules live in `domain/walletAuth.ts`; this file reads
 * its configuration (`config.ts`), stores challenges and turns outcomes into HTTP responses.
 *
 *   POST /auth/challenge                 { address }                     → { nonce, message, expiresAt }
 *   POST /auth/verify                    { nonce, signature, publicKey } → { token, expiresAt }
 *   GET  /.well-known/jwks.json          the public key Convex verifies session tokens with
 *   GET  /.well-known/openid-configuration
 *
 * Errors are `{ code, message }`: 400 for a malformed body or address, 401 for
 * a challenge or signature that does not check out, 413 for a body over
 * 4 KiB, 429 (with `Retry-After`) past the challenge limits
 * (model/auth/signInLimits.ts), 500 for missing configuration or an unexpected
 * failure (details only in the server log).
 */
import { v } from "convex/values";
import type { z } from "zod";

import { internal } from "./_generated/api";
import { readAuthSigningKey, readIssuer, readNetworkName } from "./config";
import { httpAction, internalMutation } from "./functions";
import { isPoolError, poolError } from "./domain/errors";
import { takeSignInTokens } from "./model/auth/signInLimits";
import { networkNameValidator } from "./validators";
import {
  authHttpError,
  buildSignInMessage,
  canonicalSignInAddress,
  CHALLENGE_TTL_MS,
  challengeRequestSchema,
  isChallengeRedeemable,
  issueSessionToken,
  jwksOf,
  loadSigningKey,
  newNonce,
  openIdConfigurationOf,
  verifyRequestSchema,
  verifyWalletSignature,
  type AuthHttpError,
} from "./domain/walletAuth";

// ---------------------------------------------------------------------------
// Challenges

/**
 * Stores a challenge, unless the address or the client is past its limit
 * (model/auth/signInLimits.ts): then nothing is stored and the answer says when to
 * retry. The tokens are taken in this transaction, so a limit can be neither
 * raced past nor used up by a request that fails.
 */
export const createChallenge = internalMutation({
  args: {
    address: v.string(),
    nonce: v.string(),
    uri: v.string(),
    network: networkNameValidator,
    /** The caller's IP address as the platform saw it; null when unknown (one shared bucket). */
    client: v.union(v.string(), v.null()),
  },
  returns: v.union(
    v.object({ issued: v.literal(true), nonce: v.string(), message: v.string(), expiresAt: v.number() }),
    v.object({ issued: v.literal(false), retryAt: v.number() }),
  ),
  handler: async (ctx, { address, nonce, uri, network, client }) => {
    const limit = await takeSignInTokens(ctx, { address, client });
    if (!limit.ok) return { issued: false as const, retryAt: limit.retryAt };
    const existing = await ctx.db
      .query("authChallenges")
      .withIndex("by_nonce", (q) => q.eq("nonce", nonce))
      .unique();
    // 32 random bytes do not collide; if they ever do, refuse rather than let
    // two sign-ins share one challenge.
    if (existing !== null) throw new Error("challenge nonce already issued");
    const issuedAt = Date.now();
    const expiresAt = issuedAt + CHALLENGE_TTL_MS;
    const message = buildSignInMessage({ address, nonce, uri, network, issuedAt, expiresAt });
    await ctx.db.insert("authChallenges", { address, nonce, message, expiresAt });
    return { issued: true as const, nonce, message, expiresAt };
  },
});

/**
 * Redeems a challenge: it must exist, be unused and unexpired; it is marked
 * used in the same transaction, so of two concurrent redemptions only one
 * succeeds.
 */
export const consumeChallenge = internalMutation({
  args: { nonce: v.string() },
  returns: v.object({ address: v.string(), message: v.string() }),
  handler: async (ctx, { nonce }) => {
    const challenge = await ctx.db
      .query("authChallenges")
      .withIndex("by_nonce", (q) => q.eq("nonce", nonce))
      .unique();
    const now = Date.now();
    if (challenge === null || !isChallengeRedeemable(challenge, now)) {
      throw poolError("AUTH_CHALLENGE_INVALID", "the challenge is unknown, already used or expired: request a new one");
    }
    await ctx.db.patch("authChallenges", challenge._id, { usedAt: now });
    return { address: challenge.address, message: challenge.message };
  },
});

// ---------------------------------------------------------------------------
// HTTP endpoints

export const requestChallenge = httpAction(async (ctx, request) =>
  respond(async () => {
    const body = await readBody(request, challengeRequestSchema);
    const network = readNetworkName();
    const uri = readIssuer();
    // Fail before the wallet prompt, not after the user has signed.
    await loadSigningKey(readAuthSigningKey());
    const address = canonicalSignInAddress(body.address, network);
    const nonce = newNonce((bytes) => crypto.getRandomValues(bytes));
    // The platform's own record of the caller's address, not a header a caller could write.
    const { ip } = await ctx.meta.getRequestMetadata();
    const outcome = await ctx.runMutation(internal.walletAuth.createChallenge, { address, nonce, uri, network, client: ip });
    if (!outcome.issued) throw rateLimited(outcome.retryAt);
    const { nonce: issued, message, expiresAt } = outcome;
    return { nonce: issued, message, expiresAt };
  }),
);

export const verifyChallenge = httpAction(async (ctx, request) =>
  respond(async () => {
    const body = await readBody(request, verifyRequestSchema);
    // Configuration first: a deployment without a usable key must not burn
    // the caller's challenge.
    const network = readNetworkName();
    const issuer = readIssuer();
    const key = await loadSigningKey(readAuthSigningKey());
    // The challenge is burnt before the signature is checked, and stays burnt
    // when the check fails: each nonce buys exactly one attempt, so a signature
    // cannot be ground against a live challenge, and a failed sign-in has to
    // start over with a fresh message for the wallet. (Checking first and
    // burning only on success would leave the challenge open to unlimited
    // guesses for its whole lifetime.)
    const challenge = await ctx.runMutation(internal.walletAuth.consumeChallenge, { nonce: body.nonce });
    const check = verifyWalletSignature({
      message: challenge.message,
      address: challenge.address,
      network,
      signature: body.signature,
      publicKey: body.publicKey,
    });
    if (!check.valid) throw poolError("AUTH_SIGNATURE_INVALID", check.reason);
    return await issueSessionToken({ address: challenge.address, issuer, key, now: Date.now() });
  }),
);

export const jwks = httpAction(async () =>
  respond(async () => jwksOf(await loadSigningKey(readAuthSigningKey())), PUBLIC_CACHE),
);

export const openIdConfiguration = httpAction(async () =>
  respond(async () => openIdConfigurationOf(readIssuer()), PUBLIC_CACHE),
);

// ---------------------------------------------------------------------------
// HTTP plumbing

/** Auth answers (challenges, tokens) are per request: never cache them. */
const NO_STORE = "no-store";
/** Keys and discovery documents change only on rotation. */
const PUBLIC_CACHE = "public, max-age=300";
/** Every valid body is a few hundred bytes. */
const MAX_BODY_BYTES = 4096;

class HttpFailure extends Error {
  constructor(
    readonly failure: AuthHttpError,
    readonly headers: Record<string, string> = {},
  ) {
    super(failure.body.message);
  }
}

function tooLarge(): HttpFailure {
  return new HttpFailure({ ...authHttpError("INVALID_REQUEST", "the request body is too large"), status: 413 });
}

function rateLimited(retryAt: number): HttpFailure {
  const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
  return new HttpFailure(authHttpError("RATE_LIMITED", `too many sign-in challenges: retry in ${seconds} s`), {
    "Retry-After": String(seconds),
  });
}

/**
 * The body as text, never more than MAX_BODY_BYTES of it: a declared length
 * over the limit is refused before a byte is read, and a body without one
 * (chunked) is read only until it passes the limit.
 */
async function readBoundedText(request: Request): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function readBody<Schema extends z.ZodType>(request: Request, schema: Schema): Promise<z.infer<Schema>> {
  const text = await readBoundedText(request);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HttpFailure(authHttpError("INVALID_REQUEST", "the request body is not JSON"));
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "body"))].join(", ");
    throw new HttpFailure(authHttpError("INVALID_REQUEST", `the request body is malformed: ${fields}`));
  }
  return parsed.data;
}

async function respond(run: () => Promise<unknown>, cacheControl: string = NO_STORE): Promise<Response> {
  try {
    return json(200, await run(), cacheControl);
  } catch (error) {
    const failure = toHttpFailure(error);
    return json(failure.status, failure.body, NO_STORE, error instanceof HttpFailure ? error.headers : {});
  }
}

function toHttpFailure(error: unknown): AuthHttpError {
  if (error instanceof HttpFailure) return error.failure;
  if (isPoolError(error)) return authHttpError(error.data.code, error.data.message);
  // Log the message only: no request body, no environment, no stack in the response.
  console.error("wallet auth: unexpected failure:", error instanceof Error ? error.message : String(error));
  return authHttpError("INTERNAL_ERROR", "internal error");
}

function json(status: number, body: unknown, cacheControl: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": cacheControl, ...headers },
  });
}
