/**
 * A local stand-in for the Stacks node RPC and the Hiro API, backed by
 * Clarinet's simnet, on 127.0.0.1. It serves exactly the endpoints the
 * backend uses, in the real shapes, so the backend's own fetch client runs
 * against it unchanged (DESIGN §8). See devnet/README.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

import { STACKS_TESTNET } from "@stacks/network";
import { Cl, ClarityType, makeContractCall, privateKeyToAddress } from "@stacks/transactions";

import { LocalChain } from "./chain";
import { DEVNET_KEYS } from "./devnetAccounts";
import { messageOf } from "./errors";
import { Faults, faultBody } from "./faults";
import { HttpError, matchRoute, readBody, type Reply, type Route } from "./http";
import type { BlockRecord } from "./records";
import { accountRoutes } from "./routes/accounts";
import { chainInfoRoutes } from "./routes/chainInfo";
import { abiLookup, type ServerContext } from "./routes/context";
import { contractRoutes } from "./routes/contracts";
import { feeRoutes } from "./routes/fees";
import { localRoutes } from "./routes/local";
import { transactionRoutes } from "./routes/transactions";
import type { ReadonlySimnet } from "./simnetSession";

export type LocalHiroServerOptions = {
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 3999 (the backend's devnet default). */
  port?: number;
  /** Default: the repository's Clarinet.toml. */
  manifestPath?: string;
  /** Mine a block every this many milliseconds (empty blocks too). Off by default: mine with `mine()` or POST /_local/mine. */
  autoMineMs?: number;
  /** Configure the vault after deployment, with transactions signed by the devnet deployer key. */
  deploy?: { sbtcPrincipal: boolean; backendPrincipal?: string };
  /**
   * Undoing a post-condition abort or a reorg rebuilds simnet, and opening a
   * session takes seconds: with this set, a spare session (about 100 MB) is
   * kept ready after each rebuild. Default false.
   */
  spareSession?: boolean;
};

export type LocalHiroServer = {
  /** e.g. http://127.0.0.1:3999 */
  url: string;
  /** Read-only view of the chain state (always the current simnet session). */
  simnet: ReadonlySimnet;
  chain: LocalChain;
  mine(count?: number): Promise<BlockRecord[]>;
  fund(address: string, ustx: bigint): Promise<void>;
  mintSbtc(address: string, sats: bigint): Promise<void>;
  /** Miners skip transactions paying less than `ustx` (0: off); see POST /_local/min-fee. */
  setMinerMinFee(ustx: bigint): Promise<void>;
  close(): Promise<void>;
};

const DEFAULT_MANIFEST = fileURLToPath(new URL("../Clarinet.toml", import.meta.url));

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  const text = reply.text ?? JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": reply.text !== undefined ? "text/plain; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

function handler(routes: Route[], faults: Faults) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const method = req.method ?? "GET";
      const fault = faults.take(url.pathname);
      if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      if (fault?.status) {
        const headers: Record<string, string> = fault.status === 429 ? { "retry-after": String(fault.retryAfterSeconds) } : {};
        send(res, { status: fault.status, body: faultBody(fault.status), headers });
        return;
      }
      const matched = matchRoute(routes, method, url.pathname);
      if (!matched) {
        send(res, { status: 404, body: { error: `no route for ${method} ${url.pathname}` } });
        return;
      }
      const body = method === "POST" ? await readBody(req) : Buffer.alloc(0);
      send(res, await matched.route.handle({ method, url, params: matched.params, headers: req.headers, body }));
    } catch (error) {
      if (error instanceof HttpError) send(res, { status: error.status, body: error.body });
      else send(res, { status: 500, body: { error: messageOf(error) } });
    }
  };
}

/** Signs and mines the vault's configuration calls as the devnet deployer. */
async function configureVault(chain: LocalChain, deploy: NonNullable<LocalHiroServerOptions["deploy"]>): Promise<void> {
  const deployer = chain.simnet.deployer;
  if (privateKeyToAddress(DEVNET_KEYS.deployer, "testnet") !== deployer) {
    throw new Error(`the manifest's deployer ${deployer} is not the devnet deployer key's address`);
  }
  const calls: { functionName: string; arg: string }[] = [];
  if (deploy.sbtcPrincipal) calls.push({ functionName: "set-sbtc-token-principal", arg: `${deployer}.sbtc-token` });
  if (deploy.backendPrincipal) calls.push({ functionName: "set-backend-principal", arg: deploy.backendPrincipal });
  if (calls.length === 0) return;
  let nonce = chain.nextNonce(deployer);
  const txids: string[] = [];
  for (const call of calls) {
    const transaction = await makeContractCall({
      contractAddress: deployer,
      contractName: "liquidity-pool",
      functionName: call.functionName,
      functionArgs: [Cl.principal(call.arg)],
      senderKey: DEVNET_KEYS.deployer,
      network: STACKS_TESTNET,
      fee: 10_000n,
      nonce: nonce++,
      postConditionMode: "deny",
    });
    const submitted = await chain.submit(transaction.serializeBytes());
    if (!submitted.ok) throw new Error(`vault configuration ${call.functionName} rejected: ${submitted.rejection.reason}`);
    txids.push(submitted.txid);
  }
  await chain.mine(1);
  for (const txid of txids) {
    const inclusion = chain.txView(txid)?.inclusion;
    if (inclusion?.status !== "success" || inclusion.result.type !== ClarityType.ResponseOk) {
      throw new Error(`vault configuration transaction 0x${txid} did not succeed`);
    }
  }
}

export async function startLocalHiroServer(options: LocalHiroServerOptions = {}): Promise<LocalHiroServer> {
  const chain = await LocalChain.open(options.manifestPath ?? DEFAULT_MANIFEST, { keepSpareSession: options.spareSession });
  if (options.deploy) await configureVault(chain, options.deploy);

  const faults = new Faults();
  const context: ServerContext = { chain, faults, abiOf: abiLookup(chain) };
  const routes = [
    ...transactionRoutes(context),
    ...contractRoutes(context),
    ...accountRoutes(context),
    ...feeRoutes(context),
    ...chainInfoRoutes(context),
    ...localRoutes(context),
  ];
  const handle = handler(routes, faults);
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3999, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const autoMine = options.autoMineMs;
  if (autoMine !== undefined && autoMine > 0) {
    const tick = () => {
      timer = setTimeout(() => {
        chain
          .mine(1)
          .catch((error: unknown) => console.error("[local-hiro] auto-mine failed:", error))
          .finally(() => {
            if (!stopped) tick();
          });
      }, autoMine);
    };
    tick();
  }

  return {
    url: `http://127.0.0.1:${port}`,
    simnet: chain.simnet,
    chain,
    mine: (count = 1) => chain.mine(count),
    fund: (address, ustx) => chain.fund(address, ustx),
    mintSbtc: (address, sats) => chain.mintFungible(`${chain.simnet.deployer}.sbtc-token.sbtc-token`, address, sats),
    setMinerMinFee: (ustx) => chain.setMinerMinFee(ustx),
    close: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      await chain.exclusive(() => undefined);
    },
  };
}
