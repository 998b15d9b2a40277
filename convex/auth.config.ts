/**
 * Convex accepts the session tokens `POST /auth/verify` issues (see
 * `walletAuth.ts`): ES256 JWTs whose issuer is this deployment's site URL and
 * whose audience is the app id, checked against the JWKS the deployment
 * serves itself. `ctx.auth.getUserIdentity().subject` is then the wallet's
 * Stacks address.
 */
import type { AuthConfig } from "convex/server";

// The deployment evaluates this file when functions are pushed, outside any
// function, and reports variables read here that are unset; CONVEX_SITE_URL is
// built in. The typed `env` of `_generated/server` is for function code.
// eslint-disable-next-line @convex-dev/no-process-env
const siteUrl = process.env.CONVEX_SITE_URL;
if (!siteUrl) throw new Error("CONVEX_SITE_URL is not set: it is the issuer of wallet sign-in tokens");

export default {
  providers: [
    {
      type: "customJwt",
      // Must equal JWT_AUDIENCE in domain/walletAuth.ts (a test checks it).
      applicationID: "bithedge-liquidity-pool",
      issuer: siteUrl,
      jwks: `${siteUrl}/.well-known/jwks.json`,
      algorithm: "ES256",
    },
  ],
} satisfies AuthConfig;
