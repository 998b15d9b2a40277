/**
 * The deployment's HTTP routes. Handlers live with their domain; this file
 * only wires paths to them.
 */
import { httpRouter } from "convex/server";
import { corsRouter } from "convex-helpers/server/cors";

import { receiveVaultDelivery } from "./chainhooks";
import { readAllowedOrigins } from "./config";
import { getCheckpoint } from "./exit";
import { jwks, openIdConfiguration, requestChallenge, verifyChallenge } from "./walletAuth";

const http = httpRouter();

// Browsers call the sign-in endpoints from the dApp's origin. Origins are read
// per request so a change to AUTH_ALLOWED_ORIGINS needs no redeploy.
const cors = corsRouter(http, {
  allowedOrigins: async () => readAllowedOrigins(),
  allowedHeaders: ["Content-Type"],
});
cors.route({ path: "/auth/challenge", method: "POST", handler: requestChallenge });
cors.route({ path: "/auth/verify", method: "POST", handler: verifyChallenge });

// Fetched server-to-server by Convex to verify session tokens.
http.route({ path: "/.well-known/jwks.json", method: "GET", handler: jwks });
http.route({ path: "/.well-known/openid-configuration", method: "GET", handler: openIdConfiguration });
http.route({ path: "/chainhooks/vault", method: "POST", handler: receiveVaultDelivery });
http.route({ path: "/exit/checkpoint", method: "GET", handler: getCheckpoint });

export default http;
