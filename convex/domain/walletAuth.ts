/**
 * Sign-in with a Stacks wallet (README "Sign-in with a Stacks wallet"), framework-free: the
 * challenge message, the wallet-signature check, and the session JWT that
 * Convex accepts through the `customJwt` provider in `convex/auth.config.ts`.
 *
 * The flow: the backend hands out a one-time challenge for an address; the
 * wallet signs its message (`stx_signMessage`); the backend checks the
 * signature, that the public key is the address's key, and issues an ES256
 * JWT whose subject is the address. Every configuration value is a parameter
 * here: the Convex layer reads it with `convex/config.ts`.
 */
import { bytesToHex } from "@stacks/common";
import { verifyMessageSignatureRsv } from "@stacks/encryption";
import { networkFromName, type StacksNetworkName } from "@stacks/network";
import { addressToString, createAddress, getAddressFromPublicKey, validateStacksAddress } from "@stacks/transactions";
import { importJWK, jwtVerify, SignJWT, type CryptoKey } from "jose";
import { z } from "zod";

import { poolError, type ErrorCode } from "./errors";
import type { NetworkName } from "./vocabulary";

/** The app name the wallet shows the user; also part of what is signed. */
export const SIGN_IN_APP_NAME = "BitHedge liquidity pool";
/** The JWT audience, and the `applicationID` Convex checks it against. */
export const JWT_AUDIENCE = "bithedge-liquidity-pool";
export const JWT_ALGORITHM = "ES256";
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;
export const SESSION_TTL_SECONDS = 60 * 60;
/** 32 random bytes: unguessable, and never repeats in practice. */
export const NONCE_BYTES = 32;

/** The chain id the network's transactions carry (1 on mainnet, 0x80000000 on testnet and devnets). */
export function chainIdForNetwork(network: NetworkName): number {
  return networkFromName(network satisfies StacksNetworkName).chainId;
}

// ---------------------------------------------------------------------------
// The signing key

const base64url = (bytes: number) => z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$`));

/** A P-256 private JWK, as `scripts/generate-auth-key.ts` prints it. */
const privateJwkSchema = z.object({
  kty: z.literal("EC"),
  crv: z.literal("P-256"),
  x: base64url(32),
  y: base64url(32),
  d: base64url(32),
  kid: z.string().min(1).max(128),
  alg: z.literal(JWT_ALGORITHM).optional(),
  use: z.literal("sig").optional(),
});

export type PublicJwk = {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  kid: string;
  alg: typeof JWT_ALGORITHM;
  use: "sig";
};

export type SigningKey = {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: PublicJwk;
};

const KEY_INVALID_MESSAGE = "AUTH_JWT_PRIVATE_KEY is missing or not an ES256 (P-256) private JWK with a kid";

/**
 * Parses `AUTH_JWT_PRIVATE_KEY`. Every failure is the same CONFIGURATION_MISSING
 * error with a fixed message: parser and crypto errors are dropped because
 * they can quote the input, and the input is the secret.
 */
export async function loadSigningKey(raw: string | undefined): Promise<SigningKey> {
  if (!raw) throw poolError("CONFIGURATION_MISSING", KEY_INVALID_MESSAGE);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw poolError("CONFIGURATION_MISSING", KEY_INVALID_MESSAGE);
  }
  const parsed = privateJwkSchema.safeParse(json);
  if (!parsed.success) throw poolError("CONFIGURATION_MISSING", KEY_INVALID_MESSAGE);
  const { kty, crv, x, y, d, kid } = parsed.data;
  const publicJwk: PublicJwk = { kty, crv, x, y, kid, alg: JWT_ALGORITHM, use: "sig" };
  try {
    const privateKey = await importJWK({ kty, crv, x, y, d }, JWT_ALGORITHM);
    const publicKey = await importJWK({ kty, crv, x, y }, JWT_ALGORITHM);
    if (privateKey instanceof Uint8Array) throw new Error("not an asymmetric key");
    // The JWKS is derived from x/y, the tokens are signed with d: if they do not
    // belong together every token would fail verification in production, so
    // refuse the key now rather than issue tokens nobody can verify.
    const probe = await new SignJWT({}).setProtectedHeader({ alg: JWT_ALGORITHM }).sign(privateKey);
    await jwtVerify(probe, publicKey, { algorithms: [JWT_ALGORITHM] });
    return { kid, privateKey, publicJwk };
  } catch {
    throw poolError("CONFIGURATION_MISSING", KEY_INVALID_MESSAGE);
  }
}

/** The JWKS document Convex fetches to verify session tokens. */
export function jwksOf(key: SigningKey): { keys: PublicJwk[] } {
  return { keys: [key.publicJwk] };
}

/** The OpenID discovery document, for tools that start from the issuer. */
export function openIdConfigurationOf(issuer: string): {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
} {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    id_token_signing_alg_values_supported: [JWT_ALGORITHM],
  };
}

// ---------------------------------------------------------------------------
// Addresses

/** Whether a session's subject names a Stacks address (any network, any kind). */
export function isStacksAddress(subject: string): boolean {
  return validateStacksAddress(subject);
}

/**
 * Checks that `address` is a single-signature address of `network` and returns
 * it in canonical c32 form (c32 decoding forgives case and look-alike letters;
 * the session subject must not). Multi-signature and contract principals are
 * refused: no single wallet key can prove them.
 */
export function canonicalSignInAddress(address: string, network: NetworkName): string {
  if (!validateStacksAddress(address)) {
    throw poolError("INVALID_ADDRESS", "not a valid Stacks address");
  }
  const decoded = createAddress(address);
  if (decoded.version !== networkFromName(network).addressVersion.singleSig) {
    throw poolError("INVALID_ADDRESS", `not a single-signature ${network} address`);
  }
  return addressToString(decoded);
}

// ---------------------------------------------------------------------------
// The challenge

export type SignInMessageFields = {
  address: string;
  nonce: string;
  /** The deployment's site URL: binds the signature to this backend. */
  uri: string;
  network: NetworkName;
  issuedAt: number;
  expiresAt: number;
};

/**
 * The text the wallet shows and signs. It names the app, the deployment, the
 * account, the chain, the one-time nonce and the expiry, so a signature is
 * good for this sign-in only and cannot be replayed on another app, backend
 * or network.
 */
export function buildSignInMessage(fields: SignInMessageFields): string {
  return [
    `${SIGN_IN_APP_NAME} wants you to sign in with your Stacks account:`,
    fields.address,
    "",
    `Sign in to the ${SIGN_IN_APP_NAME}. Signing this message does not send a transaction and costs no fees.`,
    "",
    `URI: ${fields.uri}`,
    `Network: ${fields.network}`,
    `Chain ID: ${chainIdForNetwork(fields.network)}`,
    `Nonce: ${fields.nonce}`,
    `Issued At: ${new Date(fields.issuedAt).toISOString()}`,
    `Expiration Time: ${new Date(fields.expiresAt).toISOString()}`,
  ].join("\n");
}

export function newNonce(random: (bytes: Uint8Array) => Uint8Array): string {
  return bytesToHex(random(new Uint8Array(NONCE_BYTES)));
}

/** A challenge may be redeemed once, strictly before it expires. */
export function isChallengeRedeemable(challenge: { expiresAt: number; usedAt?: number }, now: number): boolean {
  return challenge.usedAt === undefined && now < challenge.expiresAt;
}

// ---------------------------------------------------------------------------
// Request bodies

const hex = (pattern: string) => new RegExp(`^(?:0x)?(?:${pattern})$`);
const stripHexPrefix = (value: string) => value.replace(/^0x/, "").toLowerCase();

export const challengeRequestSchema = z.object({
  // Content is checked by canonicalSignInAddress, which answers INVALID_ADDRESS.
  address: z.string().max(128),
});

export const verifyRequestSchema = z.object({
  nonce: z.string().regex(new RegExp(`^[0-9a-f]{${NONCE_BYTES * 2}}$`)),
  /** 65-byte recoverable signature, r || s || v, as `stx_signMessage` returns it. */
  signature: z.string().regex(hex("[0-9a-fA-F]{130}")).transform(stripHexPrefix),
  /** The signer's secp256k1 public key, compressed (wallets) or uncompressed. */
  publicKey: z.string().regex(hex("0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128}")).transform(stripHexPrefix),
});
export type VerifyRequest = z.infer<typeof verifyRequestSchema>;

// ---------------------------------------------------------------------------
// The wallet's signature

/**
 * Checks a `stx_signMessage` signature: `publicKey` must be the key of
 * `address` on `network` (an address is the hash160 of the exact key bytes),
 * and `signature` must be its signature over the Stacks signed-message hash of
 * `message` (`hashMessage`: sha256 of "\x17Stacks Signed Message:\n" ||
 * varint length || message; `verifyMessageSignatureRsv` also accepts the
 * legacy "\x18Stacks Message Signing:\n" prefix older wallets used). Never
 * throws on malformed input: a bad signature is simply not valid.
 */
export function verifyWalletSignature(input: {
  message: string;
  address: string;
  network: NetworkName;
  signature: string;
  publicKey: string;
}): { valid: true } | { valid: false; reason: string } {
  let signerAddress: string;
  try {
    signerAddress = getAddressFromPublicKey(input.publicKey, input.network);
  } catch {
    return { valid: false, reason: "the public key is malformed" };
  }
  if (signerAddress !== input.address) {
    return { valid: false, reason: "the public key does not belong to the address that requested the challenge" };
  }
  let valid = false;
  try {
    valid = verifyMessageSignatureRsv({
      message: input.message,
      signature: input.signature,
      publicKey: input.publicKey,
    });
  } catch {
    valid = false;
  }
  return valid ? { valid: true } : { valid: false, reason: "the signature does not match the challenge message" };
}

// ---------------------------------------------------------------------------
// The session token

/**
 * Issues the session JWT: `sub` is the Stacks address, `aud` the app id Convex
 * checks, valid for an hour from `now` (a new session needs a new wallet
 * signature, so a stolen token is good for at most that long).
 */
export async function issueSessionToken(input: {
  address: string;
  issuer: string;
  key: SigningKey;
  now: number;
}): Promise<{ token: string; expiresAt: number }> {
  const issuedAt = Math.floor(input.now / 1000);
  const expiresAtSeconds = issuedAt + SESSION_TTL_SECONDS;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: JWT_ALGORITHM, kid: input.key.kid, typ: "JWT" })
    .setSubject(input.address)
    .setIssuer(input.issuer)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAtSeconds)
    .sign(input.key.privateKey);
  return { token, expiresAt: expiresAtSeconds * 1000 };
}

// ---------------------------------------------------------------------------
// HTTP errors

/**
 * Codes the auth endpoints answer with: the pool's codes, plus two for the
 * HTTP layer itself (a body that is not the expected JSON, and an unexpected
 * failure, whose details stay in the server log).
 */
export type AuthHttpErrorCode = ErrorCode;
export type AuthHttpError = { status: number; body: { code: AuthHttpErrorCode; message: string } };

const STATUS_BY_CODE: Partial<Record<AuthHttpErrorCode, number>> = {
  INVALID_REQUEST: 400,
  INVALID_ADDRESS: 400,
  AUTH_CHALLENGE_INVALID: 401,
  AUTH_SIGNATURE_INVALID: 401,
  RATE_LIMITED: 429,
  CONFIGURATION_MISSING: 500,
};

export function authHttpError(code: AuthHttpErrorCode, message: string): AuthHttpError {
  return { status: STATUS_BY_CODE[code] ?? 500, body: { code, message } };
}
