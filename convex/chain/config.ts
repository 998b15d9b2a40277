/**
 * Chain configuration, from the Convex deployment's environment (never from
 * code): which network, which API, which contracts, which key. Parsed with zod
 * so a missing or malformed variable fails loudly, by name, without its value.
 */
import { STACKS_DEVNET, STACKS_MAINNET, STACKS_TESTNET, type StacksNetwork } from "@stacks/network";
import { validateStacksAddress } from "@stacks/transactions";
import { z } from "zod";

import { env as deploymentEnv } from "../_generated/server";
import { poolError } from "../domain/errors";
import { HiroClient } from "./hiroClient";

export type StacksNetworkName = "mainnet" | "testnet" | "devnet";

const DEFAULT_API_URL: Record<StacksNetworkName, string> = {
  mainnet: "https://api.hiro.so",
  testnet: "https://api.testnet.hiro.so",
  devnet: "http://127.0.0.1:3999",
};

const contractId = z
  .string()
  .regex(/^[A-Z0-9]+\.[a-zA-Z][a-zA-Z0-9-]{0,39}$/, "must be <address>.<contract-name>")
  .refine((id) => validateStacksAddress(id.split(".")[0] ?? ""), "has an invalid address");

const chainEnvironment = z.object({
  STACKS_NETWORK: z.enum(["mainnet", "testnet", "devnet"]).default("testnet"),
  STACKS_API_URL: z.url().optional(),
  HIRO_API_KEY: z.string().min(1).optional(),
  VAULT_CONTRACT_ID: contractId,
  SBTC_CONTRACT_ID: contractId,
  /** Blocks a withdrawal voucher stays redeemable (Stacks blocks come every few seconds). */
  VOUCHER_TTL_BLOCKS: z.coerce.bigint().positive().default(120n),
  /** Blocks on top of an event's block before it counts. */
  SYNC_CONFIRMATIONS: z.coerce.bigint().nonnegative().default(6n),
  /** How far back applied events are re-checked for reorgs. */
  SYNC_REORG_WINDOW: z.coerce.bigint().positive().default(64n),
  /** Most new events one sync run applies; a longer catch-up continues in the next run. */
  SYNC_MAX_EVENTS_PER_RUN: z.coerce.number().int().positive().default(10_000),
  /** Most a backend transaction may pay in fees, in micro-STX. */
  MAX_FEE_USTX: z.coerce.bigint().positive().default(1_000_000n),
  /** Blocks a broadcast transaction may stay pending before it is replaced with a higher fee. */
  STUCK_AFTER_BLOCKS: z.coerce.bigint().positive().default(20n),
});

export type ChainConfig = {
  networkName: StacksNetworkName;
  network: StacksNetwork;
  apiUrl: string;
  apiKey: string | undefined;
  vaultContractId: string;
  sbtcContractId: string;
  voucherTtlBlocks: bigint;
  syncConfirmations: bigint;
  syncReorgWindow: bigint;
  syncMaxEventsPerRun: number;
  maxFeeUstx: bigint;
  stuckAfterBlocks: bigint;
};

const NETWORKS: Record<StacksNetworkName, StacksNetwork> = {
  mainnet: STACKS_MAINNET,
  testnet: STACKS_TESTNET,
  devnet: STACKS_DEVNET,
};

function configurationError(error: z.ZodError): Error {
  const problems = error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
  return poolError("CONFIGURATION_MISSING", `chain configuration is incomplete: ${problems}`);
}

export function readChainConfig(env: Record<string, string | undefined> = deploymentEnv): ChainConfig {
  const parsed = chainEnvironment.safeParse(env);
  if (!parsed.success) throw configurationError(parsed.error);
  const e = parsed.data;
  return {
    networkName: e.STACKS_NETWORK,
    network: NETWORKS[e.STACKS_NETWORK],
    apiUrl: (e.STACKS_API_URL ?? DEFAULT_API_URL[e.STACKS_NETWORK]).replace(/\/+$/, ""),
    apiKey: e.HIRO_API_KEY,
    vaultContractId: e.VAULT_CONTRACT_ID,
    sbtcContractId: e.SBTC_CONTRACT_ID,
    voucherTtlBlocks: e.VOUCHER_TTL_BLOCKS,
    syncConfirmations: e.SYNC_CONFIRMATIONS,
    syncReorgWindow: e.SYNC_REORG_WINDOW,
    syncMaxEventsPerRun: e.SYNC_MAX_EVENTS_PER_RUN,
    maxFeeUstx: e.MAX_FEE_USTX,
    stuckAfterBlocks: e.STUCK_AFTER_BLOCKS,
  };
}

/** A client for the configured API; interactive paths ask for fewer attempts so a user is not kept waiting. */
export function hiroClientFor(config: ChainConfig, options: { maxAttempts?: number } = {}): HiroClient {
  return new HiroClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, ...options });
}

/**
 * The backend's key, which holds both of the vault's hot roles for now: the
 * operator (it sends lock, release and settle) and the signer (it signs
 * withdrawal vouchers). Read at the moment of signing and handed straight to
 * the signing function: never logged, returned or stored.
 */
export function readBackendPrivateKey(env: Record<string, string | undefined> = deploymentEnv): string {
  const key = env.BACKEND_PRIVATE_KEY;
  if (!key || !/^[0-9a-fA-F]{64}(01)?$/.test(key)) {
    throw poolError("CONFIGURATION_MISSING", "BACKEND_PRIVATE_KEY is missing or not a hex secp256k1 private key");
  }
  return key;
}
