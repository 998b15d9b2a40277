/**
 * The local stack for integration tests: the simnet-backed Hiro-compatible
 * server on 127.0.0.1, and the Convex functions in convex-test configured
 * (through the environment, as a deployment is) to talk to it over HTTP.
 */
import { createNetwork } from "@stacks/network";
import { broadcastTransaction, fetchNonce, privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { convexTest } from "convex-test";
import { vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import type { ContractCall } from "../../convex/chain/contractCalls";
import schema from "../../convex/schema";
import { startLocalHiroServer, type LocalHiroServer } from "../../devnet/hiroServer";
import { signPreparedCall } from "../../simulation/wallets";

export const modules = import.meta.glob(["../../convex/**/*.ts", "../../convex/**/*.js", "!../../convex/**/*.d.ts"]);

export const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
export const VAULT = `${DEPLOYER}.liquidity-pool`;
export const SBTC = `${DEPLOYER}.sbtc-token`;
export const OPERATOR_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
export const OPERATOR_ADDRESS = privateKeyToAddress(OPERATOR_KEY, "testnet");
export const SIGNER_KEY = "b6a6b4e9b5f0c2d7a8e3f1c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e401";
export const SIGNER_ADDRESS = privateKeyToAddress(SIGNER_KEY, "testnet");

export type Stack = { server: LocalHiroServer; t: ReturnType<typeof convexTest> };

export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const server = await startLocalHiroServer({ port: 0, deploy: { sbtcPrincipal: true, operatorKey: OPERATOR_KEY, signerKey: SIGNER_KEY } });
  await server.mine(1);
  await server.fund(OPERATOR_ADDRESS, 1_000_000_000n);
  const settings: Record<string, string> = {
    STACKS_NETWORK: "testnet",
    STACKS_API_URL: server.url,
    VAULT_CONTRACT_ID: VAULT,
    SBTC_CONTRACT_ID: SBTC,
    OPERATOR_PRIVATE_KEY: OPERATOR_KEY,
    SIGNER_PRIVATE_KEY: SIGNER_KEY,
    SYNC_CONFIRMATIONS: "1",
    // The local chain's burn height moves only when told to (advanceBurnBlocks): count Stacks blocks alone.
    SYNC_CONFIRMATIONS_BURN_BLOCKS: "0",
    STUCK_AFTER_BLOCKS: "3",
    ...env,
  };
  for (const [name, value] of Object.entries(settings)) vi.stubEnv(name, value);
  const t = convexTest(schema, modules);
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return { server, t };
}

export async function stopStack(stack: Stack | undefined): Promise<void> {
  vi.unstubAllEnvs();
  await stack?.server.close();
}

/** A fresh wallet with STX (and optionally sBTC) on the local chain. */
export async function newWallet(server: LocalHiroServer, sats = 0n) {
  const key = randomPrivateKey();
  const address = privateKeyToAddress(key, "testnet");
  await server.fund(address, 100_000_000_000n);
  if (sats > 0n) await server.mintSbtc(address, sats);
  return { key, address };
}

/** What a wallet does with a call the backend prepared: sign it as is and broadcast it. */
export async function signAndBroadcast(server: LocalHiroServer, call: ContractCall, senderKey: string): Promise<string> {
  const network = createNetwork({ network: "testnet", client: { baseUrl: server.url } });
  const sender = privateKeyToAddress(senderKey, "testnet");
  const nonce = await fetchNonce({ address: sender, network });
  const transaction = await signPreparedCall(call, { senderKey, network, fee: 10_000n, nonce });
  const result = await broadcastTransaction({ transaction, network });
  if ("error" in result) throw new Error(`broadcast rejected: ${JSON.stringify(result)}`);
  return `0x${result.txid.replace(/^0x/, "")}`;
}

/** Mines `count` blocks: with SYNC_CONFIRMATIONS=1, an event counts once one block is on top of it. */
export async function mine(server: LocalHiroServer, count = 2): Promise<void> {
  await server.mine(count);
}

/**
 * Replaces the last `depth` blocks with new ones through the server's test
 * control, over HTTP; with `reinclude`, the orphaned transactions are mined
 * again in the replacements (as a real fork usually does).
 */
export async function reorg(server: LocalHiroServer, depth: number, reinclude = false): Promise<void> {
  const response = await fetch(`${server.url}/_local/reorg`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ depth, reinclude }),
  });
  if (!response.ok) throw new Error(`reorg refused: ${await response.text()}`);
}
