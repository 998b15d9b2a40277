/**
 * Fixtures for the local Hiro server tests: a server per test file, the
 * devnet keys, signed vault calls and small typed HTTP helpers.
 */
import { createNetwork, type StacksNetwork } from "@stacks/network";
import {
  broadcastTransaction,
  makeContractCall,
  privateKeyToAddress,
  type ClarityValue,
  type PostCondition,
  type StacksTransactionWire,
  type TxBroadcastResult,
} from "@stacks/transactions";
import { expect } from "vitest";

import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import { startLocalHiroServer, type LocalHiroServer } from "../../devnet/hiroServer";

export const DEPLOYER = privateKeyToAddress(DEVNET_KEYS.deployer, "testnet");
export const WALLET_1_KEY = DEVNET_KEYS.wallet_1;
export const WALLET_1 = privateKeyToAddress(WALLET_1_KEY, "testnet");
export const VAULT = `${DEPLOYER}.liquidity-pool`;
export const SBTC = `${DEPLOYER}.sbtc-token`;
/** Same fixed test key as tests/contracts/vault.ts: the vault's backend principal. */
export const OPERATOR_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
export const OPERATOR = privateKeyToAddress(OPERATOR_KEY, "testnet");
export const SIGNER_KEY = "b6a6b4e9b5f0c2d7a8e3f1c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e401";
export const SIGNER = privateKeyToAddress(SIGNER_KEY, "testnet");

/** Starting simnet compiles its wasm and deploys the contracts: several seconds. */
export const START_TIMEOUT_MS = 60_000;

export async function startServer(options: { spareSession?: boolean } = {}): Promise<LocalHiroServer> {
  return await startLocalHiroServer({ port: 0, deploy: { sbtcPrincipal: true, operatorKey: OPERATOR_KEY, signerKey: SIGNER_KEY }, ...options });
}

/** A devnet network whose client talks to the local server (how @stacks/network 7 takes a custom URL). */
export function localNetwork(url: string): StacksNetwork {
  return createNetwork({ network: "devnet", client: { baseUrl: url } });
}

export type VaultCall = {
  functionName: string;
  args: ClarityValue[];
  senderKey: string;
  postConditions?: PostCondition[];
  postConditionMode?: "allow" | "deny";
  /** Omitted: the library asks the server's nonces endpoint. */
  nonce?: bigint;
  /** Default 10 000 microSTX; "estimate": the library asks the server's fee endpoint. */
  fee?: bigint | "estimate";
  contract?: string;
};

/** A signed contract call, built and signed by @stacks/transactions against the local server. */
export async function signedCall(url: string, call: VaultCall): Promise<StacksTransactionWire> {
  const [contractAddress, contractName] = (call.contract ?? VAULT).split(".") as [string, string];
  return await makeContractCall({
    contractAddress,
    contractName,
    functionName: call.functionName,
    functionArgs: call.args,
    senderKey: call.senderKey,
    network: localNetwork(url),
    postConditionMode: call.postConditionMode ?? "deny",
    postConditions: call.postConditions ?? [],
    ...(call.nonce === undefined ? {} : { nonce: call.nonce }),
    ...(call.fee === "estimate" ? {} : { fee: call.fee ?? 10_000n }),
  });
}

export async function broadcast(url: string, transaction: StacksTransactionWire): Promise<TxBroadcastResult> {
  return await broadcastTransaction({ transaction, network: localNetwork(url) });
}

/** Broadcasts and expects acceptance; returns the 0x-less txid. */
export async function broadcastOk(url: string, transaction: StacksTransactionWire): Promise<string> {
  const result = await broadcast(url, transaction);
  if (!("txid" in result) || "error" in result) throw new Error(`broadcast rejected: ${JSON.stringify(result)}`);
  expect(result.txid).toBe(transaction.txid());
  return result.txid;
}

export type HttpResult = { status: number; headers: Headers; body: unknown };

export async function getJson(url: string, path: string, init?: RequestInit): Promise<HttpResult> {
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

export async function postJson(url: string, path: string, body: unknown): Promise<HttpResult> {
  return await getJson(url, path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** The JSON body of a 200 answer, typed as the caller expects. */
export async function get<T>(url: string, path: string): Promise<T> {
  const result = await getJson(url, path);
  expect(result.status, `GET ${path}: ${JSON.stringify(result.body)}`).toBe(200);
  return result.body as T;
}

export async function post<T>(url: string, path: string, body: unknown): Promise<T> {
  const result = await postJson(url, path, body);
  expect(result.status, `POST ${path}: ${JSON.stringify(result.body)}`).toBe(200);
  return result.body as T;
}

export async function mine(url: string, count = 1): Promise<{ blocks: { height: number; hash: string }[] }> {
  return await post(url, "/_local/mine", { count });
}
