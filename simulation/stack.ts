/**
 * The whole pool on one machine, in-process (docs/architecture.md, "The local stack"): the local
 * Hiro-compatible server over simnet, the local price feed, and the Convex
 * functions in convex-test, configured through the environment exactly as a
 * deployment is (`npx convex env set …`), pointing at both over HTTP.
 */
import { bytesToHex } from "@stacks/common";
import { privateKeyToAddress } from "@stacks/transactions";
import { convexTest } from "convex-test";
import { exportJWK, generateKeyPair } from "jose";

import { internal } from "../convex/_generated/api";
import schema from "../convex/schema";
import { startLocalHiroServer, type LocalHiroServer } from "../devnet/hiroServer";
import { newChainhookSecret, startChainhookIngest, type ChainhookIngest } from "./chainhooks";
import { convexModules } from "./convexModules";
import type { ExpectedAlert } from "./invariants";
import { UNBOUNDED_OUTFLOW_LIMIT, type OutflowLimit } from "./options";
import { startPriceFeed, type PriceFeed } from "./priceFeed";
import type { Rng } from "./rng";

function newBackend() {
  return convexTest(schema, convexModules());
}
export type Backend = ReturnType<typeof newBackend>;

/** A secp256k1 private key (compressed form) from the seeded generator. */
export function privateKeyFrom(rng: Rng): string {
  for (;;) {
    const hex = bytesToHex(rng.bytes(32));
    // Valid keys are in [1, n − 1]; anything else (astronomically rare) is drawn again.
    const n = BigInt(`0x${hex}`);
    if (n > 0n && n < 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n) return `${hex}01`;
  }
}

export type Stack = {
  server: LocalHiroServer;
  feed: PriceFeed;
  t: Backend;
  vault: string;
  sbtc: string;
  operatorAddress: string;
  signerAddress: string;
  /**
   * The backend's hot keys (OPERATOR_PRIVATE_KEY, SIGNER_PRIVATE_KEY). Only the `stolen-key`
   * scenario's thief reads them: holding both is the theft the vault must bound.
   */
  keys: { operator: string; signer: string };
  /** The outflow limit the admin set at deployment. */
  outflowLimit: OutflowLimit;
  /**
   * The alerts the set-up's own governance events raise once synced (README "Alerts"): the
   * admin's `outflow-limit-set`, and the proposal and hand-over of the hot roles to the backend's
   * keys. Expected, so not an invariant failure; anything else is.
   */
  setUpAlerts: ExpectedAlert[];
  /** The deployment's site URL (issuer of sign-in tokens). */
  siteUrl: string;
  /** Chainhook delivery to `POST /chainhooks/vault` (simulation/chainhooks.ts); null when the poller is the only ingest. */
  chainhooks: ChainhookIngest | null;
  close(): Promise<void>;
};

export type StackOptions = {
  /** Blocks a withdrawal voucher stays redeemable. */
  voucherTtlBlocks: bigint;
  /** Blocks on top of an event before it counts. */
  syncConfirmations: bigint;
  /** Vault events also reach the books through chainhook deliveries (default: the poller only). */
  chainhooks?: boolean;
  /** The outflow limit the admin sets at deployment (default: one that never binds). */
  outflowLimit?: OutflowLimit;
};

export const DEFAULT_STACK_OPTIONS: StackOptions = { voucherTtlBlocks: 120n, syncConfirmations: 1n };

/** Sets (or, undefined, unsets) variables in process.env — what `env` of convex/_generated/server reads — and returns how to put them back. */
function setEnvironment(values: Record<string, string | undefined>): () => void {
  const previous = new Map(Object.keys(values).map((name) => [name, process.env[name]]));
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/**
 * No burn blocks pass during a market (the local chain's burn height only
 * moves when told to), so the vault's outflow window never rolls over and its
 * default cap (the 1,000 STX / 0.1 sBTC floors) would hold for the whole run:
 * a crash's settlements would be paced over windows that never come. So the
 * simulated vault lets the whole balance out per window unless a scenario asks
 * for a real limit (`--outflow-limit`; `stolen-key` runs with the vault's default).
 */
export const SIMULATION_OUTFLOW_LIMIT = UNBOUNDED_OUTFLOW_LIMIT;

/**
 * What the set-up's governance events raise in the backend's alerts table (convex/model/sync/governance.ts),
 * each named by its kind and a text only that alert carries.
 */
function setUpAlertsOf(limit: OutflowLimit, operator: string, signer: string): ExpectedAlert[] {
  return [
    { kind: "outflow-limit-set", mentions: `${limit.limitBps} bps per window, floors ${limit.stxFloor} µSTX and ${limit.sbtcFloor} sats` },
    ...[operator, signer].flatMap((who) => [
      { kind: "role-proposed", mentions: who },
      { kind: "role-set", mentions: who },
    ]),
  ];
}

export async function startStack(rng: Rng, options: StackOptions = DEFAULT_STACK_OPTIONS): Promise<Stack> {
  const operatorKey = privateKeyFrom(rng.fork("backend-key"));
  const operatorAddress = privateKeyToAddress(operatorKey, "testnet");
  const signerKey = privateKeyFrom(rng.fork("signer-key"));
  const signerAddress = privateKeyToAddress(signerKey, "testnet");
  const outflowLimit = options.outflowLimit ?? SIMULATION_OUTFLOW_LIMIT;
  const server = await startLocalHiroServer({
    port: 0,
    deploy: { sbtcPrincipal: true, operatorKey, signerKey, outflowLimit },
  });
  let feed: PriceFeed | undefined;
  let chainhooks: ChainhookIngest | null = null;
  let restoreEnvironment = () => {};
  try {
    // The backend pays fees for locks, releases and settlements (the local node admits by fee, never debits it).
    await server.fund(operatorAddress, 1_000_000_000n);
    feed = await startPriceFeed(rng.fork("price-feed"));
    const deployer = server.simnet.deployer;
    const vault = `${deployer}.liquidity-pool`;
    const sbtc = `${deployer}.sbtc-token`;
    const siteUrl = "https://local-simulation.convex.site";
    // The sign-in key is generated per run (a signing key is never seeded).
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const { kty, crv, x, y, d } = await exportJWK(privateKey);
    const chainhookSecret = options.chainhooks ? newChainhookSecret() : undefined;
    restoreEnvironment = setEnvironment({
      STACKS_NETWORK: "testnet",
      STACKS_API_URL: server.url,
      VAULT_CONTRACT_ID: vault,
      SBTC_CONTRACT_ID: sbtc,
      OPERATOR_PRIVATE_KEY: operatorKey,
      SIGNER_PRIVATE_KEY: signerKey,
      VOUCHER_TTL_BLOCKS: options.voucherTtlBlocks.toString(),
      SYNC_CONFIRMATIONS: options.syncConfirmations.toString(),
      // No burn blocks pass during a run (see above): confirmations count Stacks blocks alone.
      SYNC_CONFIRMATIONS_BURN_BLOCKS: "0",
      STUCK_AFTER_BLOCKS: "6",
      ORACLE_SOURCES: JSON.stringify(feed.sources),
      ORACLE_MIN_SOURCES: "2",
      ORACLE_MAX_SPREAD_BPS: "200",
      // The oracle refreshes once per step, and a price's age is wall-clock time. A step of a large
      // pool takes minutes here (step 0 of 1,000 providers: every sign-in and first deposit through
      // convex-test), and with a deployment's 2 minutes the step's own health sweep would find its
      // price stale. An hour is longer than any step takes locally.
      ORACLE_MAX_AGE_MS: "3600000",
      // The desk settles every in-the-money policy at the step it is due, before the expiry sweep
      // runs, so the simulation needs no settlement grace: collateral is released at expiry.
      SETTLEMENT_GRACE_BLOCKS: "0",
      CONVEX_SITE_URL: siteUrl,
      AUTH_JWT_PRIVATE_KEY: JSON.stringify({ kty, crv, x, y, d, kid: "simulation-1" }),
      AUTH_ALLOWED_ORIGINS: "*",
      CHAINHOOKS_CONSUMER_SECRET: chainhookSecret,
      // Whatever the shell has set must not leak into the run.
      HIRO_API_KEY: undefined,
      HEALTH_WEBHOOK_URL: undefined,
      MAX_FEE_USTX: undefined,
      // The checkpoint job (run by the backend-outage scenario) at its default interval, 144 burn blocks.
      CHECKPOINT_INTERVAL_BURN_BLOCKS: undefined,
    });
    const t = newBackend();
    await t.mutation(internal.tierConfigs.seedDefaults, {});
    if (chainhookSecret !== undefined) {
      chainhooks = await startChainhookIngest({ t, chain: server.chain, vaultContractId: vault, secret: chainhookSecret });
      // The event sync is a cron: it has run before the first delivery comes, and its cursor is where
      // a delivered block's chain order starts (convex/chainhooks.ts). The hook is registered after
      // the deployment, so the deployment's own events reach the books this way: one block confirms
      // them (else the first delivered block would wait on them, for the poller of its step).
      await server.mine(1);
      const synced = await t.action(internal.eventSync.syncVaultEvents, {});
      chainhooks.eventsPolledAtSetup = synced.applied + synced.unmatched + synced.recorded;
    }
    const openFeed = feed;
    const openChainhooks = chainhooks;
    return {
      server,
      feed: openFeed,
      t,
      vault,
      sbtc,
      operatorAddress,
      signerAddress,
      keys: { operator: operatorKey, signer: signerKey },
      outflowLimit,
      setUpAlerts: setUpAlertsOf(outflowLimit, operatorAddress, signerAddress),
      siteUrl,
      chainhooks: openChainhooks,
      close: async () => {
        await openChainhooks?.close();
        restoreEnvironment();
        await openFeed.close();
        await server.close();
      },
    };
  } catch (error) {
    await chainhooks?.close();
    restoreEnvironment();
    await feed?.close();
    await server.close();
    throw error;
  }
}
