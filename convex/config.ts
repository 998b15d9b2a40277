/**
 * The deployment's configuration: every environment variable the backend
 * reads (README "Configuration"), parsed with zod here and nowhere else.
 * Function handlers read the part they need at the moment they need it (so a
 * change with `npx convex env set` needs no redeploy) and pass it down: the
 * domain and the database helpers never read the environment.
 *
 * A missing or malformed variable is a `CONFIGURATION_MISSING` error that
 * names the variable and never shows its value.
 */
import { STACKS_DEVNET, STACKS_MAINNET, STACKS_TESTNET, type StacksNetwork } from "@stacks/network";
import { z } from "zod";

import { env } from "./_generated/server";
import { DEFAULT_REORG_WINDOW_BURN_BLOCKS } from "./chain/contractLogs";
import type { CommitmentLimits } from "./domain/commitments";
import { poolError } from "./domain/errors";
import { contractIdSchema } from "./domain/principals";
import type { PriceRules } from "./domain/prices";
import { NETWORK_NAMES, type NetworkName } from "./domain/vocabulary";
import { sourcesSchema, type SourceConfig } from "./oracle/priceSources";

export type Environment = Record<string, string | undefined>;

/**
 * The deployment's variables. A deployment's own codegen types `env` with
 * exactly the variables set on it; this module is written for any deployment
 * (optional variables may be unset), so it reads them as plain strings.
 */
const deploymentEnvironment = env as unknown as Environment;

function configurationError(what: string, error: z.ZodError): Error {
  const problems = error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
  return poolError("CONFIGURATION_MISSING", `${what} is incomplete: ${problems}`);
}

// ---------------------------------------------------------------------------
// The network

const networkName = z.enum(NETWORK_NAMES).default("testnet");

/** `STACKS_NETWORK`, testnet when unset. */
export function readNetworkName(environment: Environment = deploymentEnvironment): NetworkName {
  const parsed = networkName.safeParse(environment.STACKS_NETWORK || undefined);
  if (!parsed.success) throw poolError("CONFIGURATION_MISSING", "STACKS_NETWORK must be mainnet, testnet or devnet");
  return parsed.data;
}

const NETWORKS: Record<NetworkName, StacksNetwork> = {
  mainnet: STACKS_MAINNET,
  testnet: STACKS_TESTNET,
  devnet: STACKS_DEVNET,
};

const DEFAULT_API_URL: Record<NetworkName, string> = {
  mainnet: "https://api.hiro.so",
  testnet: "https://api.testnet.hiro.so",
  devnet: "http://127.0.0.1:3999",
};

// ---------------------------------------------------------------------------
// The chain: API, contracts, sync and sending

const contractId = contractIdSchema;

const chainEnvironment = z.object({
  STACKS_NETWORK: networkName,
  STACKS_API_URL: z.url().optional(),
  HIRO_API_KEY: z.string().min(1).optional(),
  VAULT_CONTRACT_ID: contractId,
  SBTC_CONTRACT_ID: contractId,
  /** Blocks a withdrawal voucher stays redeemable (Stacks blocks come every few seconds). */
  VOUCHER_TTL_BLOCKS: z.coerce.bigint().positive().default(120n),
  /** Stacks blocks on top of an event's block before it counts (with SYNC_CONFIRMATIONS_BURN_BLOCKS). */
  SYNC_CONFIRMATIONS: z.coerce.bigint().nonnegative().default(6n),
  /**
   * Burn (Bitcoin) blocks on top of the one an event's tenure is anchored to
   * before it counts. In Nakamoto, signers make a Stacks block final against
   * anything but a Bitcoin reorg, and a Bitcoin reorg takes every tenure of
   * the burn blocks it replaces, however many Stacks blocks they hold; one
   * burn block on top means the tenure is anchored and built upon, so only a
   * reorg two Bitcoin blocks deep (far rarer than a single stale block) can
   * take a credited event back (README "Chain integration").
   */
  SYNC_CONFIRMATIONS_BURN_BLOCKS: z.coerce.bigint().nonnegative().default(1n),
  /**
   * Burn blocks back from the tip inside which applied events are re-checked
   * by block hash (chain/contractLogs.ts DEFAULT_REORG_WINDOW_BURN_BLOCKS), so
   * a reorg deeper than any seen on Bitcoin in years is still caught.
   */
  SYNC_REORG_WINDOW_BURN_BLOCKS: z.coerce.bigint().positive().default(DEFAULT_REORG_WINDOW_BURN_BLOCKS),
  /** Most new events one sync run applies; a longer catch-up continues in the next run. */
  SYNC_MAX_EVENTS_PER_RUN: z.coerce.number().int().positive().default(10_000),
  /** Most a backend transaction may pay in fees, in micro-STX. */
  MAX_FEE_USTX: z.coerce.bigint().positive().default(1_000_000n),
  /** Blocks a broadcast transaction may stay pending before it is replaced with a higher fee. */
  STUCK_AFTER_BLOCKS: z.coerce.bigint().positive().default(20n),
});

export type ChainConfig = {
  networkName: NetworkName;
  network: StacksNetwork;
  apiUrl: string;
  apiKey: string | undefined;
  vaultContractId: string;
  sbtcContractId: string;
  voucherTtlBlocks: bigint;
  syncConfirmations: bigint;
  syncConfirmationsBurnBlocks: bigint;
  syncReorgWindowBurnBlocks: bigint;
  syncMaxEventsPerRun: number;
  maxFeeUstx: bigint;
  stuckAfterBlocks: bigint;
};

/** Whether `apiUrl` is Hiro's hosted API (api.hiro.so and the like), not one run by the deployment itself. */
function isHiroHosted(apiUrl: string): boolean {
  const host = new URL(apiUrl).hostname.toLowerCase();
  return host === "hiro.so" || host.endsWith(".hiro.so");
}

export function readChainConfig(environment: Environment = deploymentEnvironment): ChainConfig {
  const parsed = chainEnvironment.safeParse(environment);
  if (!parsed.success) throw configurationError("chain configuration", parsed.error);
  const e = parsed.data;
  const apiUrl = (e.STACKS_API_URL ?? DEFAULT_API_URL[e.STACKS_NETWORK]).replace(/\/+$/, "");
  // Without a key, Hiro's API allows a few dozen requests a minute per IP, shared with every
  // other deployment behind the same egress: too few for the crons (README, "Rate limits").
  // A self-hosted API has no such limit.
  if (e.STACKS_NETWORK === "mainnet" && e.HIRO_API_KEY === undefined && isHiroHosted(apiUrl)) {
    throw poolError(
      "CONFIGURATION_MISSING",
      "HIRO_API_KEY is required on mainnet when STACKS_API_URL is Hiro's API (unset, or a hiro.so host); set it, or point STACKS_API_URL at a self-hosted API",
    );
  }
  return {
    networkName: e.STACKS_NETWORK,
    network: NETWORKS[e.STACKS_NETWORK],
    apiUrl,
    apiKey: e.HIRO_API_KEY,
    vaultContractId: e.VAULT_CONTRACT_ID,
    sbtcContractId: e.SBTC_CONTRACT_ID,
    voucherTtlBlocks: e.VOUCHER_TTL_BLOCKS,
    syncConfirmations: e.SYNC_CONFIRMATIONS,
    syncConfirmationsBurnBlocks: e.SYNC_CONFIRMATIONS_BURN_BLOCKS,
    syncReorgWindowBurnBlocks: e.SYNC_REORG_WINDOW_BURN_BLOCKS,
    syncMaxEventsPerRun: e.SYNC_MAX_EVENTS_PER_RUN,
    maxFeeUstx: e.MAX_FEE_USTX,
    stuckAfterBlocks: e.STUCK_AFTER_BLOCKS,
  };
}

/** The backend's two hot keys: each holds one of the vault's hot roles. */
export const HOT_KEY_VARIABLES = {
  /** Sends lock, release, settle, checkpoints and leaves: the vault's operator. */
  operator: "OPERATOR_PRIVATE_KEY",
  /** Signs withdrawal vouchers and sends nothing: the vault's signer. */
  signer: "SIGNER_PRIVATE_KEY",
} as const;
export type HotKeyRole = keyof typeof HOT_KEY_VARIABLES;

/**
 * One of the backend's hot keys (README "Key custody"), read at the moment of
 * signing and handed straight to the signing function: never logged,
 * returned or stored. Two keys, so that a thief of either can do only what
 * its role allows, bounded by the vault's outflow window.
 */
export function readHotKey(role: HotKeyRole, environment: Environment = deploymentEnvironment): string {
  const variable = HOT_KEY_VARIABLES[role];
  const key = environment[variable];
  if (!key || !/^[0-9a-fA-F]{64}(01)?$/.test(key) || !isSecp256k1Scalar(BigInt(`0x${key.slice(0, 64)}`))) {
    throw poolError("CONFIGURATION_MISSING", `${variable} is missing or not a hex secp256k1 private key`);
  }
  return key;
}

/** The order of secp256k1's group: a private key is a scalar in [1, n − 1]. */
const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const isSecp256k1Scalar = (scalar: bigint): boolean => scalar > 0n && scalar < SECP256K1_ORDER;

// ---------------------------------------------------------------------------
// The oracle

const priceRulesEnvironment = z.object({
  ORACLE_MAX_AGE_MS: z.coerce.number().int().positive().default(120_000),
  ORACLE_MIN_SOURCES: z.coerce.number().int().positive().default(2),
  ORACLE_MAX_SPREAD_BPS: z.coerce.bigint().nonnegative().default(200n),
});

export type OracleConfig = { sources: SourceConfig[]; rules: PriceRules };

/** Price rules alone: what readers of stored prices need (no source list). */
export function readPriceRules(environment: Environment = deploymentEnvironment): PriceRules {
  const parsed = priceRulesEnvironment.safeParse(environment);
  if (!parsed.success) {
    throw poolError(
      "CONFIGURATION_MISSING",
      "oracle rules (ORACLE_MAX_AGE_MS, ORACLE_MIN_SOURCES, ORACLE_MAX_SPREAD_BPS) are malformed",
    );
  }
  return {
    maxAgeMs: parsed.data.ORACLE_MAX_AGE_MS,
    minSources: parsed.data.ORACLE_MIN_SOURCES,
    maxSpreadBps: parsed.data.ORACLE_MAX_SPREAD_BPS,
  };
}

/** The freshness every price read at `now` must pass: the configured maximum age. */
export function priceFreshnessAt(now: number, environment: Environment = deploymentEnvironment): { now: number; maxAgeMs: number } {
  return { now, maxAgeMs: readPriceRules(environment).maxAgeMs };
}

export function readOracleConfig(environment: Environment = deploymentEnvironment): OracleConfig {
  const raw = z.string().min(2).safeParse(environment.ORACLE_SOURCES);
  if (!raw.success) throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES is missing or malformed");
  let sources: unknown;
  try {
    sources = JSON.parse(raw.data);
  } catch {
    throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES is not JSON");
  }
  const list = sourcesSchema.safeParse(sources);
  if (!list.success) throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES does not list valid sources");
  return { sources: list.data, rules: readPriceRules(environment) };
}

// ---------------------------------------------------------------------------
// Policies and collateral health

/**
 * At Nakamoto's few seconds per Stacks block, 144 blocks are 10–25 minutes:
 * many runs of a cron-driven policy flow (README "Policies").
 */
export const DEFAULT_SETTLEMENT_GRACE_BLOCKS = 144n;

/**
 * `SETTLEMENT_GRACE_BLOCKS`: how many blocks past its expiry a policy stays
 * Active before its collateral is released. An in-the-money policy is settled
 * by the policy flow calling `requestSettlement`; if the expiry sweep ran at
 * the expiry block itself, the buyer's payout would go back to the backers.
 */
export function readSettlementGraceBlocks(environment: Environment = deploymentEnvironment): bigint {
  const parsed = z.coerce
    .bigint()
    .nonnegative()
    .default(DEFAULT_SETTLEMENT_GRACE_BLOCKS)
    .safeParse(environment.SETTLEMENT_GRACE_BLOCKS);
  if (!parsed.success) {
    throw poolError("CONFIGURATION_MISSING", "SETTLEMENT_GRACE_BLOCKS must be a whole number of blocks");
  }
  return parsed.data;
}

/** The vault's CHECKPOINT-VETO-WINDOW: a checkpoint a day, and never more often than the veto window allows. */
export const DEFAULT_CHECKPOINT_INTERVAL_BURN_BLOCKS = 144n;

/**
 * `CHECKPOINT_INTERVAL_BURN_BLOCKS`: how many burn blocks after the current
 * checkpoint was posted the checkpoint job commits the books again (README
 * "Checkpoints"). Never sooner than the vault's veto window, whatever it says:
 * the vault refuses a checkpoint while the current one may be vetoed.
 */
export function readCheckpointIntervalBurnBlocks(environment: Environment = deploymentEnvironment): bigint {
  const parsed = z.coerce
    .bigint()
    .positive()
    .default(DEFAULT_CHECKPOINT_INTERVAL_BURN_BLOCKS)
    .safeParse(environment.CHECKPOINT_INTERVAL_BURN_BLOCKS || undefined);
  if (!parsed.success) {
    throw poolError("CONFIGURATION_MISSING", "CHECKPOINT_INTERVAL_BURN_BLOCKS must be a positive whole number of burn blocks");
  }
  return parsed.data;
}

/**
 * `CHAINHOOKS_CONSUMER_SECRET`: the consumer secret Chainhooks sends as
 * `Authorization: Bearer <secret>` with every delivery (README "Chainhooks").
 * `CHAINHOOK_SECRET`, the name earlier versions read, is still taken when the
 * new one is unset. Read per request, so a rotated secret needs no redeploy;
 * compared, never logged or returned.
 */
export function readChainhookSecret(environment: Environment = deploymentEnvironment): string {
  const configured = environment.CHAINHOOKS_CONSUMER_SECRET ?? environment.CHAINHOOK_SECRET;
  const parsed = z.string().regex(/^\S{16,}$/).safeParse(configured);
  if (!parsed.success) {
    throw poolError(
      "CONFIGURATION_MISSING",
      "CHAINHOOKS_CONSUMER_SECRET is missing or not a secret (16 or more characters, no spaces)",
    );
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------
// Commitments

const providerMaximum = z.coerce.bigint().positive().optional();
const commitmentEnvironment = z.object({
  MAX_PROVIDER_CAPITAL_USTX: providerMaximum,
  MAX_PROVIDER_CAPITAL_SATS: providerMaximum,
});

/**
 * `MAX_PROVIDER_CAPITAL_USTX` / `MAX_PROVIDER_CAPITAL_SATS`: the most one
 * provider may hold in the pool, in base units; unset means no maximum but the
 * token's supply (README "Liquidity API").
 */
export function readCommitmentLimits(environment: Environment = deploymentEnvironment): CommitmentLimits {
  const parsed = commitmentEnvironment.safeParse({
    MAX_PROVIDER_CAPITAL_USTX: environment.MAX_PROVIDER_CAPITAL_USTX || undefined,
    MAX_PROVIDER_CAPITAL_SATS: environment.MAX_PROVIDER_CAPITAL_SATS || undefined,
  });
  if (!parsed.success) throw configurationError("per-provider maximum", parsed.error);
  return {
    ...(parsed.data.MAX_PROVIDER_CAPITAL_USTX !== undefined ? { STX: parsed.data.MAX_PROVIDER_CAPITAL_USTX } : {}),
    ...(parsed.data.MAX_PROVIDER_CAPITAL_SATS !== undefined ? { sBTC: parsed.data.MAX_PROVIDER_CAPITAL_SATS } : {}),
  };
}

/** `HEALTH_WEBHOOK_URL`: where margin calls are posted; none when unset or not a URL. */
export function readHealthWebhookUrl(environment: Environment = deploymentEnvironment): string | undefined {
  const parsed = z.url().safeParse(environment.HEALTH_WEBHOOK_URL);
  return parsed.success ? parsed.data : undefined;
}

// ---------------------------------------------------------------------------
// Wallet sign-in

/** `CONVEX_SITE_URL`: the JWT issuer and the origin the JWKS is served from. */
export function readIssuer(environment: Environment = deploymentEnvironment): string {
  const parsed = z.url({ protocol: /^https?$/ }).safeParse(environment.CONVEX_SITE_URL);
  if (!parsed.success) {
    throw poolError("CONFIGURATION_MISSING", "CONVEX_SITE_URL is not set to the deployment's site URL");
  }
  // Used exactly as given: Convex compares `iss` with the issuer in
  // auth.config.ts, built from the same variable, character for character.
  return parsed.data;
}

/** `AUTH_ALLOWED_ORIGINS`: comma-separated origins for CORS, "*" when unset. */
export function readAllowedOrigins(environment: Environment = deploymentEnvironment): string[] {
  const origins = (environment.AUTH_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin.length > 0);
  return origins.length > 0 ? origins : ["*"];
}

/**
 * `AUTH_JWT_PRIVATE_KEY`, still as text: `loadSigningKey` in
 * domain/walletAuth.ts parses and checks it.
 */
export function readAuthSigningKey(environment: Environment = deploymentEnvironment): string | undefined {
  return environment.AUTH_JWT_PRIVATE_KEY;
}

// ---------------------------------------------------------------------------
// Retention (README "Retention")

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

/** A period in days or hours: positive, fractions allowed (a test deployment may want minutes). */
const period = (fallback: number) => z.coerce.number().positive().finite().default(fallback);

const retentionEnvironment = z.object({
  RETENTION_ORACLE_PRICES_DAYS: period(7),
  RETENTION_RESOLVED_ALERTS_DAYS: period(90),
  RETENTION_RECONCILIATIONS_DAYS: period(30),
  RETENTION_HEALTH_NOTIFICATIONS_DAYS: period(30),
  RETENTION_EXPIRED_CHALLENGES_HOURS: period(1),
  RETENTION_TIER_CHOICES_DAYS: period(7),
});

/** How long each pruned table keeps its rows, in milliseconds. */
export type RetentionConfig = {
  oraclePricesMs: number;
  resolvedAlertsMs: number;
  reconciliationsMs: number;
  healthNotificationsMs: number;
  expiredChallengesMs: number;
  /** A tier chosen with no deposit synced since (README "Liquidity API"). */
  tierChoicesMs: number;
};

export function readRetentionConfig(environment: Environment = deploymentEnvironment): RetentionConfig {
  // An empty string is unset, as `npx convex env set X ""` leaves it.
  const present = Object.fromEntries(
    Object.keys(retentionEnvironment.shape).map((name) => [name, environment[name] || undefined]),
  );
  const parsed = retentionEnvironment.safeParse(present);
  if (!parsed.success) throw configurationError("retention configuration", parsed.error);
  const e = parsed.data;
  return {
    oraclePricesMs: e.RETENTION_ORACLE_PRICES_DAYS * DAY_MS,
    resolvedAlertsMs: e.RETENTION_RESOLVED_ALERTS_DAYS * DAY_MS,
    reconciliationsMs: e.RETENTION_RECONCILIATIONS_DAYS * DAY_MS,
    healthNotificationsMs: e.RETENTION_HEALTH_NOTIFICATIONS_DAYS * DAY_MS,
    expiredChallengesMs: e.RETENTION_EXPIRED_CHALLENGES_HOURS * HOUR_MS,
    tierChoicesMs: e.RETENTION_TIER_CHOICES_DAYS * DAY_MS,
  };
}
