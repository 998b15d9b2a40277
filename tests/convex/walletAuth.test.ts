/**
 * Sign-in with a Stacks wallet, end to end over the HTTP routes: challenge,
 * wallet signature, session JWT, and the JWKS Convex verifies it with.
 */
import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex } from "@stacks/common";
import { encodeMessage, hashMessage } from "@stacks/encryption";
import {
  AddressVersion,
  getAddressFromPrivateKey,
  privateKeyToPublic,
  publicKeyToAddress,
  randomPrivateKey,
  signMessageHashRsv,
} from "@stacks/transactions";
import fc from "fast-check";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from "vitest";

import { isChallengeRedeemable, JWT_AUDIENCE, verifyWalletSignature } from "../../convex/domain/walletAuth";
import { newBackend } from "./convexTest";

type Backend = ReturnType<typeof newBackend>;

const SITE_URL = "https://happy-otter-123.convex.site";
const NOW = Date.parse("2030-01-02T03:04:05.678Z");
const CHALLENGE_TTL_MS = 5 * 60 * 1000;
const TESTNET_CHAIN_ID = 2147483648;

let privateJwk: JWK & { kid: string };
let publicJwk: JWK;
let otherPrivateJwk: JWK;

beforeAll(async () => {
  const keys = await generateKeyPair("ES256", { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(keys.privateKey);
  privateJwk = { kty, crv, x, y, d, kid: "test-key-1" };
  publicJwk = { kty, crv, x, y };
  const other = await generateKeyPair("ES256", { extractable: true });
  otherPrivateJwk = await exportJWK(other.privateKey);
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  vi.stubEnv("CONVEX_SITE_URL", SITE_URL);
  vi.stubEnv("STACKS_NETWORK", "testnet");
  vi.stubEnv("AUTH_JWT_PRIVATE_KEY", JSON.stringify(privateJwk));
  vi.stubEnv("AUTH_ALLOWED_ORIGINS", undefined);
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------
// Helpers

type Wallet = { privateKey: string; publicKey: string; address: string };

function newWallet(network: "mainnet" | "testnet" = "testnet"): Wallet {
  const privateKey = randomPrivateKey();
  return {
    privateKey,
    publicKey: String(privateKeyToPublic(privateKey)),
    address: getAddressFromPrivateKey(privateKey, network),
  };
}

/** What `stx_signMessage` returns as `signature`: RSV over the Stacks signed-message hash. */
function signMessage(message: string, privateKey: string): string {
  return signMessageHashRsv({ messageHash: bytesToHex(hashMessage(message)), privateKey });
}

async function post(t: Backend, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await t.fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

async function get(t: Backend, path: string) {
  const response = await t.fetch(path, { method: "GET" });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

type Challenge = { nonce: string; message: string; expiresAt: number };

async function requestChallenge(t: Backend, address: string): Promise<Challenge> {
  const response = await post(t, "/auth/challenge", { address });
  expect(response.status).toBe(200);
  return response.body as Challenge;
}

async function verify(t: Backend, body: { nonce: string; signature: string; publicKey: string }) {
  return await post(t, "/auth/verify", body);
}

async function challengeRow(t: Backend, nonce: string) {
  return await t.run(async (ctx) => {
    const row = await ctx.db
      .query("authChallenges")
      .withIndex("by_nonce", (q) => q.eq("nonce", nonce))
      .unique();
    if (row === null) return null;
    const { _id: _ignoredId, _creationTime: _ignoredTime, ...fields } = row;
    return fields;
  });
}

function expectedMessage(address: string, nonce: string, network = "testnet", chainId = TESTNET_CHAIN_ID): string {
  return [
    "BitHedge liquidity pool wants you to sign in with your Stacks account:",
    address,
    "",
    "Sign in to the BitHedge liquidity pool. Signing this message does not send a transaction and costs no fees.",
    "",
    `URI: ${SITE_URL}`,
    `Network: ${network}`,
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    "Issued At: 2030-01-02T03:04:05.678Z",
    "Expiration Time: 2030-01-02T03:09:05.678Z",
  ].join("\n");
}

const CHALLENGE_INVALID = {
  code: "AUTH_CHALLENGE_INVALID",
  message: "the challenge is unknown, already used or expired: request a new one",
};
const SIGNATURE_MISMATCH = {
  code: "AUTH_SIGNATURE_INVALID",
  message: "the signature does not match the challenge message",
};
const KEY_NOT_THE_ADDRESS = {
  code: "AUTH_SIGNATURE_INVALID",
  message: "the public key does not belong to the address that requested the challenge",
};
const KEY_MISSING = {
  code: "CONFIGURATION_MISSING",
  message: "AUTH_JWT_PRIVATE_KEY is missing or not an ES256 (P-256) private JWK with a kid",
};

// ---------------------------------------------------------------------------

describe("sign-in with a Stacks wallet", () => {
  test("a challenge names the app, deployment, address, network, chain id, nonce and expiry, and is stored unused", async () => {
    const t = newBackend();
    const wallet = newWallet();

    const challenge = await requestChallenge(t, wallet.address);

    expect(challenge.nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(challenge).toEqual({
      nonce: challenge.nonce,
      message: expectedMessage(wallet.address, challenge.nonce),
      expiresAt: NOW + CHALLENGE_TTL_MS,
    });
    expect(await challengeRow(t, challenge.nonce)).toEqual({
      address: wallet.address,
      nonce: challenge.nonce,
      message: challenge.message,
      expiresAt: NOW + CHALLENGE_TTL_MS,
    });
  });

  test("each challenge gets a fresh nonce", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const first = await requestChallenge(t, wallet.address);
    const second = await requestChallenge(t, wallet.address);
    expect(second.nonce).not.toBe(first.nonce);
  });

  test("a wallet signature over the challenge gets a one-hour ES256 JWT that verifies against the served JWKS", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const { token, expiresAt } = response.body as { token: string; expiresAt: number };
    const nowSeconds = Math.floor(NOW / 1000);
    expect(expiresAt).toBe((nowSeconds + 3600) * 1000);

    const jwks = await get(t, "/.well-known/jwks.json");
    const verified = await jwtVerify(token, createLocalJWKSet(jwks.body as { keys: JWK[] }), {
      issuer: SITE_URL,
      audience: "bithedge-liquidity-pool",
      algorithms: ["ES256"],
    });
    expect(verified.protectedHeader).toEqual({ alg: "ES256", kid: "test-key-1", typ: "JWT" });
    expect(verified.payload).toEqual({
      sub: wallet.address,
      iss: SITE_URL,
      aud: "bithedge-liquidity-pool",
      iat: nowSeconds,
      exp: nowSeconds + 3600,
    });
    expect(await challengeRow(t, challenge.nonce)).toEqual({
      address: wallet.address,
      nonce: challenge.nonce,
      message: challenge.message,
      expiresAt: NOW + CHALLENGE_TTL_MS,
      usedAt: NOW,
    });
  });

  test("signatures with the legacy message prefix of older wallets are accepted too", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);
    const legacyHash = bytesToHex(sha256(encodeMessage(challenge.message, "\x18Stacks Message Signing:\n")));

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessageHashRsv({ messageHash: legacyHash, privateKey: wallet.privateKey }),
      publicKey: wallet.publicKey,
    });

    expect(response.status).toBe(200);
  });

  test("an address written in lower case after the S is signed in under its canonical form", async () => {
    const t = newBackend();
    const wallet = newWallet();
    // c32 decoding forgives case (and O/I/L look-alikes) after the leading "S".
    const challenge = await requestChallenge(t, `S${wallet.address.slice(1).toLowerCase()}`);
    expect(challenge.message).toBe(expectedMessage(wallet.address, challenge.nonce));

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: `0x${wallet.publicKey.toUpperCase()}`,
    });

    expect(response.status).toBe(200);
    const jwks = await get(t, "/.well-known/jwks.json");
    const { payload } = await jwtVerify(
      (response.body as { token: string }).token,
      createLocalJWKSet(jwks.body as { keys: JWK[] }),
    );
    expect(payload.sub).toBe(wallet.address);
  });

  test("on mainnet the challenge is for a mainnet address and chain id 1", async () => {
    vi.stubEnv("STACKS_NETWORK", "mainnet");
    const t = newBackend();
    const wallet = newWallet("mainnet");

    const challenge = await requestChallenge(t, wallet.address);

    expect(challenge.message).toBe(expectedMessage(wallet.address, challenge.nonce, "mainnet", 1));
    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    });
    expect(response.status).toBe(200);
  });

  test("a signature by another key is refused with 401 AUTH_SIGNATURE_INVALID and burns the challenge", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const attacker = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    const forged = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, attacker.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(forged).toMatchObject({ status: 401, body: SIGNATURE_MISMATCH });
    expect(forged.body).toEqual(SIGNATURE_MISMATCH);
    expect((await challengeRow(t, challenge.nonce))?.usedAt).toBe(NOW);
    // Even the rightful owner cannot use the burnt challenge any more.
    const retry = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    });
    expect(retry).toMatchObject({ status: 401, body: CHALLENGE_INVALID });
  });

  test("a valid signature by the key of another address is refused with 401 AUTH_SIGNATURE_INVALID", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const attacker = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, attacker.privateKey),
      publicKey: attacker.publicKey,
    });

    expect(response.status).toBe(401);
    expect(response.body).toEqual(KEY_NOT_THE_ADDRESS);
    expect((await challengeRow(t, challenge.nonce))?.usedAt).toBe(NOW);
  });

  test("the uncompressed form of the right key is another address and is refused", async () => {
    const t = newBackend();
    const privateKey = randomPrivateKey().slice(0, 64); // no 01 suffix: uncompressed public key
    const uncompressed = String(privateKeyToPublic(privateKey));
    expect(uncompressed).toMatch(/^04[0-9a-f]{128}$/);
    const challenge = await requestChallenge(t, getAddressFromPrivateKey(`${privateKey}01`, "testnet"));

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, privateKey),
      publicKey: uncompressed,
    });

    expect(response).toMatchObject({ status: 401, body: KEY_NOT_THE_ADDRESS });
  });

  test("a signature over a different message is refused", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(`${challenge.message} `, wallet.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(response).toMatchObject({ status: 401, body: SIGNATURE_MISMATCH });
  });

  test("a challenge can be redeemed only once: replaying it is 401 AUTH_CHALLENGE_INVALID", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);
    const body = {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    };

    expect((await verify(t, body)).status).toBe(200);
    const replay = await verify(t, body);

    expect(replay.status).toBe(401);
    expect(replay.body).toEqual(CHALLENGE_INVALID);
  });

  test("of two concurrent redemptions of one challenge exactly one succeeds", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);
    const body = {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    };

    const results = await Promise.all([verify(t, body), verify(t, body)]);

    expect(results.map((result) => result.status).sort()).toEqual([200, 401]);
  });

  test("a challenge is redeemable until the millisecond before it expires", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    vi.setSystemTime(challenge.expiresAt - 1);
    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(response.status).toBe(200);
  });

  test("an expired challenge is 401 AUTH_CHALLENGE_INVALID", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);

    vi.setSystemTime(challenge.expiresAt);
    const response = await verify(t, {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(response.status).toBe(401);
    expect(response.body).toEqual(CHALLENGE_INVALID);
  });

  test("an unknown nonce is 401 AUTH_CHALLENGE_INVALID", async () => {
    const t = newBackend();
    const wallet = newWallet();

    const response = await verify(t, {
      nonce: "ab".repeat(32),
      signature: signMessage("anything", wallet.privateKey),
      publicKey: wallet.publicKey,
    });

    expect(response.status).toBe(401);
    expect(response.body).toEqual(CHALLENGE_INVALID);
  });
});

describe("bad input is 400 with a code, never a stack trace", () => {
  const validSignature = "11".repeat(65);
  const validPublicKey = `02${"22".repeat(32)}`;
  const validNonce = "ab".repeat(32);

  test.each([
    ["not JSON", "/auth/challenge", "{address:", "the request body is not JSON"],
    ["an empty body", "/auth/challenge", "", "the request body is not JSON"],
    ["no address", "/auth/challenge", {}, "the request body is malformed: address"],
    ["a non-string address", "/auth/challenge", { address: 42 }, "the request body is malformed: address"],
    ["a JSON array", "/auth/verify", [], "the request body is malformed: body"],
    ["no fields", "/auth/verify", {}, "the request body is malformed: nonce, signature, publicKey"],
    [
      "a short nonce",
      "/auth/verify",
      { nonce: "abcd", signature: validSignature, publicKey: validPublicKey },
      "the request body is malformed: nonce",
    ],
    [
      "a 64-byte signature",
      "/auth/verify",
      { nonce: validNonce, signature: "11".repeat(64), publicKey: validPublicKey },
      "the request body is malformed: signature",
    ],
    [
      "a public key that is not a secp256k1 encoding",
      "/auth/verify",
      { nonce: validNonce, signature: validSignature, publicKey: `05${"22".repeat(32)}` },
      "the request body is malformed: publicKey",
    ],
  ])("%s → 400 INVALID_REQUEST", async (_case, path, body, message) => {
    const t = newBackend();
    const response = await post(t, path, body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: "INVALID_REQUEST", message });
  });

  test("a mainnet address on testnet is 400 INVALID_ADDRESS", async () => {
    const t = newBackend();
    const response = await post(t, "/auth/challenge", { address: newWallet("mainnet").address });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: "INVALID_ADDRESS", message: "not a single-signature testnet address" });
  });

  test("a testnet address on mainnet is 400 INVALID_ADDRESS", async () => {
    vi.stubEnv("STACKS_NETWORK", "mainnet");
    const t = newBackend();
    const response = await post(t, "/auth/challenge", { address: newWallet("testnet").address });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: "INVALID_ADDRESS", message: "not a single-signature mainnet address" });
  });

  test("a multi-signature address is 400 INVALID_ADDRESS: no single wallet key can prove it", async () => {
    const t = newBackend();
    const multiSig = publicKeyToAddress(AddressVersion.TestnetMultiSig, newWallet().publicKey);
    const response = await post(t, "/auth/challenge", { address: multiSig });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: "INVALID_ADDRESS", message: "not a single-signature testnet address" });
  });

  test.each([["not-an-address"], [""], [`${"ST".padEnd(41, "1")}.contract`]])(
    "%j is 400 INVALID_ADDRESS",
    async (address) => {
      const t = newBackend();
      const response = await post(t, "/auth/challenge", { address });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ code: "INVALID_ADDRESS", message: "not a valid Stacks address" });
    },
  );

  test("no challenge is stored for a refused address", async () => {
    const t = newBackend();
    await post(t, "/auth/challenge", { address: newWallet("mainnet").address });
    const rows = await t.run(async (ctx) => await ctx.db.query("authChallenges").take(10));
    expect(rows).toEqual([]);
  });
});

describe("configuration", () => {
  test("without AUTH_JWT_PRIVATE_KEY the endpoints answer 500 CONFIGURATION_MISSING", async () => {
    vi.stubEnv("AUTH_JWT_PRIVATE_KEY", undefined);
    const t = newBackend();

    const challenge = await post(t, "/auth/challenge", { address: newWallet().address });
    const jwks = await get(t, "/.well-known/jwks.json");

    expect(challenge).toMatchObject({ status: 500, body: KEY_MISSING });
    expect(challenge.body).toEqual(KEY_MISSING);
    expect(jwks).toMatchObject({ status: 500, body: KEY_MISSING });
  });

  test("a key that goes missing between challenge and verify does not burn the challenge", async () => {
    const t = newBackend();
    const wallet = newWallet();
    const challenge = await requestChallenge(t, wallet.address);
    const body = {
      nonce: challenge.nonce,
      signature: signMessage(challenge.message, wallet.privateKey),
      publicKey: wallet.publicKey,
    };

    vi.stubEnv("AUTH_JWT_PRIVATE_KEY", undefined);
    const failed = await verify(t, body);
    expect(failed.status).toBe(500);
    expect(failed.body).toEqual(KEY_MISSING);
    expect((await challengeRow(t, challenge.nonce))?.usedAt).toBeUndefined();

    vi.stubEnv("AUTH_JWT_PRIVATE_KEY", JSON.stringify(privateJwk));
    expect((await verify(t, body)).status).toBe(200);
  });

  test.each([
    ["not JSON", () => "{not json"],
    ["a public JWK (no d)", () => JSON.stringify({ ...publicJwk, kid: "k" })],
    ["a JWK without a kid", () => JSON.stringify({ ...privateJwk, kid: undefined })],
    ["an RSA-shaped JWK", () => JSON.stringify({ kty: "RSA", n: "abc", e: "AQAB", d: "xyz", kid: "k" })],
    ["x/y of one key with d of another", () => JSON.stringify({ ...privateJwk, d: otherPrivateJwk.d })],
  ])("a key that is %s is 500 CONFIGURATION_MISSING without echoing the key", async (_case, key) => {
    const raw = key();
    vi.stubEnv("AUTH_JWT_PRIVATE_KEY", raw);
    const t = newBackend();

    const response = await t.fetch("/.well-known/jwks.json");
    const text = await response.text();

    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toEqual(KEY_MISSING);
    expect(text).not.toContain(privateJwk.d);
    expect(text).not.toContain(String(otherPrivateJwk.d));
  });

  test("an unknown STACKS_NETWORK is 500 CONFIGURATION_MISSING", async () => {
    vi.stubEnv("STACKS_NETWORK", "regtest");
    const t = newBackend();
    const response = await post(t, "/auth/challenge", { address: newWallet().address });
    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      code: "CONFIGURATION_MISSING",
      message: "STACKS_NETWORK must be mainnet, testnet or devnet",
    });
  });

  test("STACKS_NETWORK defaults to testnet; devnet uses testnet addresses and chain id", async () => {
    vi.stubEnv("STACKS_NETWORK", undefined);
    const t = newBackend();
    const wallet = newWallet();
    const defaulted = await requestChallenge(t, wallet.address);
    expect(defaulted.message).toBe(expectedMessage(wallet.address, defaulted.nonce));

    vi.stubEnv("STACKS_NETWORK", "devnet");
    const devnet = await requestChallenge(t, wallet.address);
    expect(devnet.message).toBe(expectedMessage(wallet.address, devnet.nonce, "devnet", TESTNET_CHAIN_ID));
  });

  test("without CONVEX_SITE_URL there is no issuer: 500 CONFIGURATION_MISSING", async () => {
    vi.stubEnv("CONVEX_SITE_URL", undefined);
    const t = newBackend();
    const expected = {
      code: "CONFIGURATION_MISSING",
      message: "CONVEX_SITE_URL is not set to the deployment's site URL",
    };
    expect(await post(t, "/auth/challenge", { address: newWallet().address })).toMatchObject({
      status: 500,
      body: expected,
    });
    expect(await get(t, "/.well-known/openid-configuration")).toMatchObject({ status: 500, body: expected });
  });
});

describe("key discovery", () => {
  test("the JWKS serves the public half of the key with kid, alg and use, and never d", async () => {
    const t = newBackend();
    const response = await get(t, "/.well-known/jwks.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.body).toEqual({
      keys: [{ ...publicJwk, kid: "test-key-1", alg: "ES256", use: "sig" }],
    });
  });

  test("the OpenID configuration names the issuer and the JWKS URL", async () => {
    const t = newBackend();
    const response = await get(t, "/.well-known/openid-configuration");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      issuer: SITE_URL,
      jwks_uri: `${SITE_URL}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ["ES256"],
    });
  });

  test("auth.config.ts accepts exactly these tokens: issuer, JWKS and application id from the environment", async () => {
    vi.resetModules();
    const { default: authConfig } = await import("../../convex/auth.config");
    expect(authConfig).toEqual({
      providers: [
        {
          type: "customJwt",
          applicationID: "bithedge-liquidity-pool",
          issuer: SITE_URL,
          jwks: `${SITE_URL}/.well-known/jwks.json`,
          algorithm: "ES256",
        },
      ],
    });
    expect(authConfig.providers[0]).toMatchObject({ applicationID: JWT_AUDIENCE });
  });

  test("auth.config.ts refuses to load without CONVEX_SITE_URL", async () => {
    vi.stubEnv("CONVEX_SITE_URL", undefined);
    vi.resetModules();
    await expect(import("../../convex/auth.config")).rejects.toThrow(
      "CONVEX_SITE_URL is not set: it is the issuer of wallet sign-in tokens",
    );
  });
});

describe("CORS on the sign-in routes", () => {
  const ORIGIN = "https://app.bithedge.example";

  test("a preflight from any origin is allowed by default", async () => {
    const t = newBackend();
    const response = await t.fetch("/auth/verify", {
      method: "OPTIONS",
      headers: { Origin: ORIGIN, "Access-Control-Request-Method": "POST" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(response.headers.get("access-control-allow-methods")).toBe("POST");
    expect(response.headers.get("access-control-allow-headers")).toBe("Content-Type");
  });

  test("responses, errors included, carry the allowed origin", async () => {
    const t = newBackend();
    const ok = await post(t, "/auth/challenge", { address: newWallet().address }, { Origin: ORIGIN });
    const bad = await post(t, "/auth/verify", {}, { Origin: ORIGIN });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(bad.status).toBe(400);
    expect(bad.headers.get("access-control-allow-origin")).toBe(ORIGIN);
  });

  test("with AUTH_ALLOWED_ORIGINS set, only the listed origins are allowed", async () => {
    vi.stubEnv("AUTH_ALLOWED_ORIGINS", ` ${ORIGIN} , https://staging.bithedge.example`);
    const t = newBackend();

    const allowed = await post(t, "/auth/challenge", { address: newWallet().address }, { Origin: ORIGIN });
    const other = await post(t, "/auth/challenge", { address: newWallet().address }, { Origin: "https://evil.example" });

    expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("bounded bodies", () => {
  const TOO_LARGE = { code: "INVALID_REQUEST", message: "the request body is too large" };

  test.each(["/auth/challenge", "/auth/verify"])("a body over 4 KiB to %s is 413 and stores nothing", async (path) => {
    const t = newBackend();
    const response = await post(t, path, JSON.stringify({ address: newWallet().address, pad: "x".repeat(5000) }));
    expect(response.status).toBe(413);
    expect(response.body).toEqual(TOO_LARGE);
    expect(await t.run(async (ctx) => await ctx.db.query("authChallenges").take(1))).toEqual([]);
  });

  test("a declared Content-Length over 4 KiB is refused before the body is read", async () => {
    const t = newBackend();
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ address: newWallet().address })));
        controller.close();
      },
    }, { highWaterMark: 0 }); // pulled only when read
    const response = await t.fetch("/auth/challenge", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Content-Length": "100000" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(TOO_LARGE);
    expect(pulls).toBe(0);
  });

  test("a body with no length is read only until it passes 4 KiB, however long it goes on", async () => {
    const t = newBackend();
    let pulls = 0;
    // An endless body: reading it whole, as request.text() does, would never finish.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const response = await t.fetch("/auth/challenge", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(pulls).toBeLessThanOrEqual(8);
  });
});

describe("challenge limits", () => {
  async function challengeFrom(t: Backend, address: string, ip: string | null) {
    const client = ip === null ? t : t.withRequestMetadata({ ip });
    return await post(client as Backend, "/auth/challenge", { address });
  }

  async function storedChallenges(t: Backend): Promise<number> {
    return (await t.run(async (ctx) => await ctx.db.query("authChallenges").collect())).length;
  }

  test("an address gets 5 challenges at once, then 429 with Retry-After and nothing stored, then one a minute", async () => {
    const t = newBackend();
    const wallet = newWallet();
    for (let i = 0; i < 5; i++) expect((await challengeFrom(t, wallet.address, `198.51.100.${i}`)).status).toBe(200);

    const refused = await challengeFrom(t, wallet.address, "198.51.100.99");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("60");
    expect(refused.body).toEqual({ code: "RATE_LIMITED", message: "too many sign-in challenges: retry in 60 s" });
    expect(await storedChallenges(t)).toBe(5);

    // Another address is not held back by this one.
    expect((await challengeFrom(t, newWallet().address, "198.51.100.99")).status).toBe(200);

    vi.setSystemTime(NOW + 60_000);
    expect((await challengeFrom(t, wallet.address, "198.51.100.99")).status).toBe(200);
    expect((await challengeFrom(t, wallet.address, "198.51.100.99")).status).toBe(429);
  });

  test("a client gets 30 challenges at once whatever the addresses; another client is not held back", async () => {
    const t = newBackend();
    for (let i = 0; i < 30; i++) expect((await challengeFrom(t, newWallet().address, "203.0.113.7")).status).toBe(200);

    const refused = await challengeFrom(t, newWallet().address, "203.0.113.7");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("2");
    expect(await storedChallenges(t)).toBe(30);

    expect((await challengeFrom(t, newWallet().address, "203.0.113.8")).status).toBe(200);
  });

  test("requests with no client address share one bucket", async () => {
    const t = newBackend();
    for (let i = 0; i < 30; i++) expect((await challengeFrom(t, newWallet().address, null)).status).toBe(200);
    expect((await challengeFrom(t, newWallet().address, null)).status).toBe(429);
  });

  test("a request refused by the address limit uses none of the client's tokens", async () => {
    const t = newBackend();
    const wallet = newWallet();
    for (let i = 0; i < 5; i++) await challengeFrom(t, wallet.address, `198.51.100.${i}`);
    for (let i = 0; i < 40; i++) expect((await challengeFrom(t, wallet.address, "203.0.113.9")).status).toBe(429);
    for (let i = 0; i < 30; i++) expect((await challengeFrom(t, newWallet().address, "203.0.113.9")).status).toBe(200);
  });
});

describe("the signature check (model)", () => {
  test("never throws on hostile input: random signatures, under the right key or a random one, are just not valid", () => {
    const wallet = newWallet();
    const randomKey = fc
      .tuple(fc.constantFrom(0x02, 0x03), fc.uint8Array({ minLength: 32, maxLength: 32 }))
      .map(([prefix, body]) => bytesToHex(Uint8Array.of(prefix, ...body)));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 65, maxLength: 65 }),
        fc.oneof(fc.constant(wallet.publicKey), randomKey),
        (signature, publicKey) => {
          const result = verifyWalletSignature({
            message: "hello",
            address: wallet.address,
            network: "testnet",
            signature: bytesToHex(signature),
            publicKey,
          });
          expect(result.valid).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a challenge is redeemable once, strictly before its expiry", () => {
    expect(isChallengeRedeemable({ expiresAt: 1000 }, 999)).toBe(true);
    expect(isChallengeRedeemable({ expiresAt: 1000 }, 1000)).toBe(false);
    expect(isChallengeRedeemable({ expiresAt: 1000, usedAt: 500 }, 999)).toBe(false);
  });
});
