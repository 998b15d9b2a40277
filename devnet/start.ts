/**
 * `npm run devnet:local`: the local Hiro-compatible server in the foreground.
 *
 *   --port <n>               LOCAL_HIRO_PORT            default 3999
 *   --auto-mine-ms <n>       LOCAL_HIRO_AUTO_MINE_MS    default 2000 (0 = mine only on POST /_local/mine)
 *   --operator-key <hex>     LOCAL_HIRO_OPERATOR_KEY    hand the vault's operator role to this key's
 *                                                      principal (proposed by the deployer, accepted with
 *                                                      this key after ROLE-DELAY burn blocks)
 *   --signer-key <hex>       LOCAL_HIRO_SIGNER_KEY      the same for the signer role
 *   --outflow-limit <bps>:<stx-floor>:<sbtc-floor>
 *                            LOCAL_HIRO_OUTFLOW_LIMIT   set-outflow-limit after deployment (default: the
 *                                                      vault's own, 1000:1000000000:10000000)
 *   --deprecated-routes <enabled|gone>
 *                            LOCAL_HIRO_DEPRECATED_ROUTES  the Hiro API's deprecated routes (v1 contract events,
 *                                                      transaction, nonces, blocks): served with the API's
 *                                                      Warning header (enabled, the default), or 410 Gone as
 *                                                      once the API switches them off
 *   --indexer-lag <blocks>   LOCAL_HIRO_INDEXER_LAG     the API's indexer this many Stacks blocks behind the
 *                                                      node (default 0; POST /_local/indexer-lag changes it)
 *   --chainhook-url <url>    LOCAL_HIRO_CHAINHOOK_URL   deliver the vault's blocks as Chainhooks 2.0 would, to
 *                                                      e.g. <CONVEX_SITE_URL>/chainhooks/vault (the emulator)
 *   --chainhook-secret <s>   LOCAL_HIRO_CHAINHOOK_SECRET  the consumer secret it sends (Authorization: Bearer);
 *                                                      required with --chainhook-url
 *   --no-sbtc                                           leave the vault's sBTC token unset
 *   --manifest <path>        LOCAL_HIRO_MANIFEST        default ./Clarinet.toml of the repository
 */
import { parseArgs } from "node:util";

import { z } from "zod";

import { startChainhookEmulator } from "./chainhookEmulator";
import { startLocalHiroServer } from "./hiroServer";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "auto-mine-ms": { type: "string" },
    "operator-key": { type: "string" },
    "signer-key": { type: "string" },
    "outflow-limit": { type: "string" },
    "deprecated-routes": { type: "string" },
    "indexer-lag": { type: "string" },
    "chainhook-url": { type: "string" },
    "chainhook-secret": { type: "string" },
    "no-sbtc": { type: "boolean", default: false },
    manifest: { type: "string" },
  },
});

const uint = z.string().regex(/^\d+$/).transform((v) => BigInt(v));
const privateKey = z.string().regex(/^[0-9a-fA-F]{64}(01)?$/, "must be a hex secp256k1 private key");

const settings = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(3999),
    autoMineMs: z.coerce.number().int().min(0).default(2000),
    operatorKey: privateKey.optional(),
    signerKey: privateKey.optional(),
    outflowLimit: z
      .string()
      .transform((v) => v.split(":"))
      .pipe(z.tuple([uint, uint, uint]))
      .transform(([limitBps, stxFloor, sbtcFloor]) => ({ limitBps, stxFloor, sbtcFloor }))
      .optional(),
    manifestPath: z.string().min(1).optional(),
    deprecatedRoutes: z.enum(["enabled", "gone"]).default("enabled"),
    indexerLag: z.coerce.number().int().min(0).default(0),
    chainhookUrl: z.url().optional(),
    chainhookSecret: z.string().min(16, "must be at least 16 characters").optional(),
  })
  .refine((s) => (s.chainhookUrl === undefined) === (s.chainhookSecret === undefined), {
    message: "--chainhook-url and --chainhook-secret go together",
  })
  .parse({
    port: values.port ?? process.env.LOCAL_HIRO_PORT,
    autoMineMs: values["auto-mine-ms"] ?? process.env.LOCAL_HIRO_AUTO_MINE_MS,
    operatorKey: values["operator-key"] ?? process.env.LOCAL_HIRO_OPERATOR_KEY,
    signerKey: values["signer-key"] ?? process.env.LOCAL_HIRO_SIGNER_KEY,
    outflowLimit: values["outflow-limit"] ?? process.env.LOCAL_HIRO_OUTFLOW_LIMIT,
    manifestPath: values.manifest ?? process.env.LOCAL_HIRO_MANIFEST,
    deprecatedRoutes: values["deprecated-routes"] ?? process.env.LOCAL_HIRO_DEPRECATED_ROUTES,
    indexerLag: values["indexer-lag"] ?? process.env.LOCAL_HIRO_INDEXER_LAG,
    chainhookUrl: values["chainhook-url"] ?? process.env.LOCAL_HIRO_CHAINHOOK_URL,
    chainhookSecret: values["chainhook-secret"] ?? process.env.LOCAL_HIRO_CHAINHOOK_SECRET,
  });

const server = await startLocalHiroServer({
  port: settings.port,
  manifestPath: settings.manifestPath,
  autoMineMs: settings.autoMineMs,
  deploy: { sbtcPrincipal: !values["no-sbtc"], operatorKey: settings.operatorKey, signerKey: settings.signerKey, outflowLimit: settings.outflowLimit },
  spareSession: true,
  deprecatedRoutes: settings.deprecatedRoutes,
  indexerLagBlocks: settings.indexerLag,
});

const deployer = server.simnet.deployer;
console.log(`local Hiro API + Stacks node RPC on ${server.url}`);
console.log(`  vault: ${deployer}.liquidity-pool   sBTC: ${deployer}.sbtc-token`);
console.log(`  tip height ${server.chain.blocks.tip.height}; ${settings.autoMineMs > 0 ? `mining every ${settings.autoMineMs} ms` : "mining on POST /_local/mine"}`);
console.log(`  STACKS_NETWORK=devnet STACKS_API_URL=${server.url}`);
if (settings.deprecatedRoutes === "gone") console.log("  deprecated API routes answer 410 Gone");

// The secret is never printed; only where deliveries go.
const emulator =
  settings.chainhookUrl && settings.chainhookSecret
    ? startChainhookEmulator({
        chain: server.chain,
        url: settings.chainhookUrl,
        secret: settings.chainhookSecret,
        vaultContractId: `${deployer}.liquidity-pool`,
      })
    : null;
if (emulator) console.log(`  chainhook deliveries to ${settings.chainhookUrl}`);

const stop = () => {
  emulator?.stop();
  void server.close().finally(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
