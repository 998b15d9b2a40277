/**
 * `npm run devnet:local`: the local Hiro-compatible server in the foreground.
 *
 *   --port <n>               LOCAL_HIRO_PORT            default 3999
 *   --auto-mine-ms <n>       LOCAL_HIRO_AUTO_MINE_MS    default 2000 (0 = mine only on POST /_local/mine)
 *   --backend-principal <p>  LOCAL_HIRO_BACKEND_PRINCIPAL  hand the vault's backend role to <p>
 *   --no-sbtc                                           leave the vault's sBTC token unset
 *   --manifest <path>        LOCAL_HIRO_MANIFEST        default ./Clarinet.toml of the repository
 */
import { parseArgs } from "node:util";

import { z } from "zod";

import { startLocalHiroServer } from "./hiroServer";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "auto-mine-ms": { type: "string" },
    "backend-principal": { type: "string" },
    "no-sbtc": { type: "boolean", default: false },
    manifest: { type: "string" },
  },
});

const settings = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(3999),
    autoMineMs: z.coerce.number().int().min(0).default(2000),
    backendPrincipal: z.string().min(1).optional(),
    manifestPath: z.string().min(1).optional(),
  })
  .parse({
    port: values.port ?? process.env.LOCAL_HIRO_PORT,
    autoMineMs: values["auto-mine-ms"] ?? process.env.LOCAL_HIRO_AUTO_MINE_MS,
    backendPrincipal: values["backend-principal"] ?? process.env.LOCAL_HIRO_BACKEND_PRINCIPAL,
    manifestPath: values.manifest ?? process.env.LOCAL_HIRO_MANIFEST,
  });

const server = await startLocalHiroServer({
  port: settings.port,
  manifestPath: settings.manifestPath,
  autoMineMs: settings.autoMineMs,
  deploy: { sbtcPrincipal: !values["no-sbtc"], backendPrincipal: settings.backendPrincipal },
  spareSession: true,
});

const deployer = server.simnet.deployer;
console.log(`local Hiro API + Stacks node RPC on ${server.url}`);
console.log(`  vault: ${deployer}.liquidity-pool   sBTC: ${deployer}.sbtc-token`);
console.log(`  tip height ${server.chain.blocks.tip.height}; ${settings.autoMineMs > 0 ? `mining every ${settings.autoMineMs} ms` : "mining on POST /_local/mine"}`);
console.log(`  STACKS_NETWORK=devnet STACKS_API_URL=${server.url}`);

const stop = () => {
  void server.close().finally(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
