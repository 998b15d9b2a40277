/**
 * Prints a new ES256 (P-256) private JWK for wallet sign-in tokens, with a
 * `kid` (its RFC 7638 thumbprint). Put it in the Convex deployment, never in
 * the repository:
 *
 *   npx convex env set AUTH_JWT_PRIVATE_KEY "$(npx tsx scripts/generate-auth-key.ts)"
 *
 * Only the key goes to stdout, so the command above captures nothing else.
 * The JWKS the deployment serves is derived from it. Rotating the key signs
 * everyone out (sessions last at most an hour): they sign in again.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";

import { JWT_ALGORITHM, loadSigningKey } from "../convex/domain/walletAuth";

async function main(): Promise<void> {
  const { privateKey } = await generateKeyPair(JWT_ALGORITHM, { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x, y });
  const jwk = JSON.stringify({ kty, crv, x, y, d, kid, alg: JWT_ALGORITHM, use: "sig" });
  // Check it with the same parser the deployment uses before handing it out.
  await loadSigningKey(jwk);
  process.stdout.write(`${jwk}\n`);
  process.stderr.write(
    "Set it with: npx convex env set AUTH_JWT_PRIVATE_KEY '<the line above>' (keep it secret: anyone holding it can sign in as anyone)\n",
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
