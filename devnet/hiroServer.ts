/**
 * A local stand-in for the Stacks node RPC and the Hiro API, backed by
 * Clarinet's simnet, on 127.0.0.1. It serves exactly the endpoints the
 * backend uses, in the real shapes, so the backend's own fetch client runs
 * against it unchanged (docs/architecture.md, "The local stack"). See devnet/README.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

import { STACKS_TESTNET } from "@stacks/network";
import { Cl, ClarityType, makeContractCall, privateKeyToAddress, type ClarityValue } from "@stacks/transactions";

import { VAULT_FUNCTIONS } from "../convex/chain/vault";
import { LocalChain } from "./chain";
import { DeprecatedRoutes, GONE_BODY, WARNING_HEADER } from "./deprecation";
import { DEVNET_KEYS } from "./devnetAccounts";
import { messageOf } from "./errors";
import { Faults, faultBody, withoutField } from "./faults";
import { HttpError, matchRoute, readBody, type Reply, type Route } from "./http";
import { withRateLimit } from "./rateLimit";
import type { BlockRecord } from "./records";
import { accountRoutes } from "./routes/accounts";
import { chainInfoRoutes } from "./routes/chainInfo";
import { abiLookup, type ServerContext } from "./routes/context";
import { contractRoutes } from "./routes/contracts";
import { feeRoutes } from "./routes/fees";
import { localRoutes } from "./routes/local";
import { transactionRoutes } from "./routes/transactions";
import { noteBroadcast, transactionV3Routes } from "./routes/transactionsV3";
import type { ReadonlySimnet } from "./simnetSession";

export type LocalHiroServerOptions = {
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 3999 (the backend's devnet default). */
  port?: number;
  /** Default: the repository's Clarinet.toml. */
  manifestPath?: string;
  /** Mine a block every this many milliseconds (empty blocks too). Off by default: mine with `mine()` or POST /_local/mine. */
  autoMineMs?: number;
  /** Configure the vault after deployment, with transactions signed by the devnet deployer key. */
  deploy?: VaultSetup;
  /**
   * Undoing a post-condition abort or a reorg rebuilds simnet, and opening a
   * session takes seconds: with this set, a spare session (about 100 MB) is
   * kept ready after each rebuild. Default false.
   */
  spareSession?: boolean;
  /**
   * The Hiro API's deprecated routes this server serves (v1 contract events,
   * v1 transaction, v1 nonces, v1 blocks): `enabled` (default) answers them
   * with the API's `Warning: 299` header; `gone` answers them 410 Gone, as the
   * API does once it switches them off. Changeable at run time with
   * POST /_local/deprecated-routes.
   */
  deprecatedRoutes?: "enabled" | "gone";
  /**
   * The API's indexer this many Stacks blocks behind the node from the start
   * (after the vault's set-up): /extended/* answers show the chain as of that
   * block, /v2/* the tip. Changeable with POST /_local/indexer-lag. Default 0.
   */
  indexerLagBlocks?: number;
};

/** What `startLocalHiroServer` sets up in the vault after deployment, as its admin (the deployer) would. */
export type VaultSetup = {
  /** Point the vault at the local `sbtc-token`. */
  sbtcPrincipal: boolean;
  /**
   * The backend's operator key (it sends lock, release, settle, checkpoints
   * and leaves). Its principal is given the operator role the way the vault
   * allows: the deployer (admin) proposes it, ROLE-DELAY burn blocks pass, and
   * the key accepts the role with a transaction of its own (its nonce 0).
   */
  operatorKey?: string;
  /** The backend's signer key (vouchers only), given the signer role the same way. */
  signerKey?: string;
  /**
   * `set-outflow-limit` by the admin. Absent (the default), the vault's own
   * default stands — 1,000 bps of the balance per 144 burn blocks, floors
   * 1,000 STX and 0.1 sBTC — so tests about the limit see the real one. Here
   * burn blocks pass only through `advanceBurnBlocks`, so without them one
   * outflow window covers every block mined; a run that pays out more than one
   * window's cap in total (the simulation) sets a limit that fits it.
   */
  outflowLimit?: { limitBps: bigint; stxFloor: bigint; sbtcFloor: bigint };
};

export type LocalHiroServer = {
  /** e.g. http://127.0.0.1:3999 */
  url: string;
  /** Read-only view of the chain state (always the current simnet session). */
  simnet: ReadonlySimnet;
  chain: LocalChain;
  mine(count?: number): Promise<BlockRecord[]>;
  /** Lets `count` burn blocks pass, each with an empty Stacks block (see POST /_local/burn-blocks). */
  advanceBurnBlocks(count: number): Promise<BlockRecord[]>;
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

function handler(chain: LocalChain, routes: Route[], faults: Faults, deprecatedRoutes: DeprecatedRoutes) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A deprecated route's every answer carries the API's Warning header, a 410 and an error included.
    let warning: Record<string, string> = {};
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
      const deprecation = deprecatedRoutes.judge(method, url.pathname);
      if (deprecation) warning = { warning: WARNING_HEADER };
      if (deprecation?.gone) {
        send(res, { status: 410, body: GONE_BODY, headers: warning });
        return;
      }
      const body = method === "POST" ? await readBody(req) : Buffer.alloc(0);
      const reply = await matched.route.handle({ method, url, params: matched.params, headers: req.headers, body });
      // The v3 mempool shape tells at which height a transaction arrived.
      if (method === "POST" && /^\/v2\/transactions\/?$/.test(url.pathname) && reply.status === 200 && typeof reply.body === "string") {
        noteBroadcast(chain, reply.body);
      }
      const served = fault?.removeField && reply.text === undefined ? { ...reply, body: withoutField(reply.body, fault.removeField) } : reply;
      send(res, { ...served, headers: { ...served.headers, ...warning } });
    } catch (error) {
      if (error instanceof HttpError) send(res, { status: error.status, body: error.body, headers: warning });
      else send(res, { status: 500, body: { error: messageOf(error) }, headers: warning });
    }
  };
}

type ConfigurationCall = { functionName: string; args: ClarityValue[]; senderKey: string };

const CONFIGURATION_FEE = 10_000n;

/** Signs each call with its sender's key, mines them in one block and requires every one to succeed. */
async function runConfiguration(chain: LocalChain, calls: ConfigurationCall[]): Promise<void> {
  if (calls.length === 0) return;
  const nonces = new Map<string, bigint>();
  const txids: string[] = [];
  for (const call of calls) {
    const sender = privateKeyToAddress(call.senderKey, "testnet");
    const nonce = nonces.get(sender) ?? chain.nextNonce(sender);
    nonces.set(sender, nonce + 1n);
    const transaction = await makeContractCall({
      contractAddress: chain.simnet.deployer,
      contractName: "liquidity-pool",
      functionName: call.functionName,
      functionArgs: call.args,
      senderKey: call.senderKey,
      network: STACKS_TESTNET,
      fee: CONFIGURATION_FEE,
      nonce,
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

/** Burn height at which a proposed role can be accepted (`get-pending-role`). */
function roleEta(chain: LocalChain, role: string): number {
  const { result } = chain.simnet.callReadOnlyFn(`${chain.simnet.deployer}.liquidity-pool`, VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii(role)], chain.simnet.deployer);
  if (result.type !== ClarityType.OptionalSome || result.value.type !== ClarityType.Tuple) {
    throw new Error(`no pending proposal for the ${role} role`);
  }
  const eta = result.value.value.eta;
  if (eta?.type !== ClarityType.UInt) throw new Error(`the ${role} proposal has no eta`);
  return Number(eta.value);
}

/**
 * Sets the vault up as its admin (the devnet deployer) would, with real
 * transactions, so their events are in the vault's event list like on a
 * devnet: the sBTC token, the outflow limit, and the backend's operator and
 * signer roles (proposed, then accepted by each key once ROLE-DELAY burn
 * blocks have passed).
 */
async function configureVault(chain: LocalChain, deploy: VaultSetup): Promise<void> {
  const deployer = chain.simnet.deployer;
  if (privateKeyToAddress(DEVNET_KEYS.deployer, "testnet") !== deployer) {
    throw new Error(`the manifest's deployer ${deployer} is not the devnet deployer key's address`);
  }
  const holders = (["operator", "signer"] as const).flatMap((role) => {
    const key = role === "operator" ? deploy.operatorKey : deploy.signerKey;
    return key === undefined ? [] : [{ role, key, address: privateKeyToAddress(key, "testnet") }];
  });
  const admin = DEVNET_KEYS.deployer;
  const asAdmin: ConfigurationCall[] = [];
  if (deploy.sbtcPrincipal) {
    asAdmin.push({ functionName: VAULT_FUNCTIONS.setSbtcTokenPrincipal, args: [Cl.principal(`${deployer}.sbtc-token`)], senderKey: admin });
  }
  if (deploy.outflowLimit) {
    const { limitBps, stxFloor, sbtcFloor } = deploy.outflowLimit;
    asAdmin.push({ functionName: VAULT_FUNCTIONS.setOutflowLimit, args: [Cl.uint(limitBps), Cl.uint(stxFloor), Cl.uint(sbtcFloor)], senderKey: admin });
  }
  for (const { role, address } of holders) {
    asAdmin.push({ functionName: VAULT_FUNCTIONS.proposeRole, args: [Cl.stringAscii(role), Cl.principal(address)], senderKey: admin });
  }
  await runConfiguration(chain, asAdmin);
  if (holders.length === 0) return;

  const wait = Math.max(...holders.map(({ role }) => roleEta(chain, role))) - chain.simnet.burnBlockHeight;
  if (wait > 0) await chain.advanceBurnBlocks(wait);
  // Each holder pays the fee of its acceptance (the local node checks it at admission and never debits it).
  for (const { address } of holders) {
    if (chain.stxBalance(address) < CONFIGURATION_FEE) await chain.fund(address, CONFIGURATION_FEE);
  }
  await runConfiguration(
    chain,
    holders.map(({ role, key }) => ({ functionName: VAULT_FUNCTIONS.acceptRole, args: [Cl.stringAscii(role)], senderKey: key })),
  );
}

export async function startLocalHiroServer(options: LocalHiroServerOptions = {}): Promise<LocalHiroServer> {
  const chain = await LocalChain.open(options.manifestPath ?? DEFAULT_MANIFEST, { keepSpareSession: options.spareSession });
  if (options.deploy) await configureVault(chain, options.deploy);
  if (options.indexerLagBlocks) await chain.setIndexerLag(options.indexerLagBlocks);

  const faults = new Faults();
  const deprecatedRoutes = new DeprecatedRoutes(options.deprecatedRoutes);
  const context: ServerContext = { chain, faults, abiOf: abiLookup(chain) };
  const routes = [
    ...transactionRoutes(context),
    ...transactionV3Routes(context),
    ...contractRoutes(context),
    ...accountRoutes(context),
    ...feeRoutes(context),
    ...chainInfoRoutes(context),
    ...localRoutes(context, { deprecatedRoutes }),
  ];
  const handle = withRateLimit(handler(chain, routes, faults, deprecatedRoutes));
  const server = createServer((req, res) => void handle(req, res));
  // Idle keep-alive connections live a minute, as behind the API's load balancer. The clients (and
  // the simnet's synchronous work, which blocks this process's event loop for seconds) share the
  // process: with Node's 5 s default, the server could close a socket a client is about to reuse.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
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
    advanceBurnBlocks: (count) => chain.advanceBurnBlocks(count),
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
