/**
 * What the market's people do with their wallets: sign in (challenge →
 * `stx_signMessage` → session token), and sign the contract calls the backend
 * prepares exactly as `@stacks/connect` would — arguments and deny-mode
 * post-conditions as given — then broadcast them to the node.
 */
import { bytesToHex } from "@stacks/common";
import { hashMessage } from "@stacks/encryption";
import { createNetwork, type StacksNetwork } from "@stacks/network";
import {
  broadcastTransaction,
  Cl,
  makeContractCall,
  privateKeyToAddress,
  privateKeyToPublic,
  signMessageHashRsv,
} from "@stacks/transactions";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { z } from "zod";

import type { ContractCall } from "../convex/chain/contractCalls";
import type { Rng } from "./rng";
import { privateKeyFrom, type Backend, type Stack } from "./stack";

export type Wallet = {
  key: string;
  address: string;
  /** The next nonce this wallet will use: the wallet keeps count, as a wallet does. */
  nonce: bigint;
};

export function newWallet(rng: Rng): Wallet {
  const key = privateKeyFrom(rng);
  return { key, address: privateKeyToAddress(key, "testnet"), nonce: 0n };
}

/** A signed-in session: the Convex client with the wallet's session token. */
export type Session = ReturnType<Backend["withIdentity"]>;

const challengeSchema = z.object({ nonce: z.string(), message: z.string(), expiresAt: z.number() });
const tokenSchema = z.object({ token: z.string(), expiresAt: z.number() });
const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

async function postJson(t: Pick<Backend, "fetch">, route: string, body: unknown): Promise<unknown> {
  const response = await t.fetch(route, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json: unknown = await response.json();
  if (!response.ok) throw new Error(`${route} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * Sign-in with a Stacks wallet over the deployment's real HTTP routes: the
 * challenge, the wallet's signature of it, the session JWT, checked against
 * the JWKS the deployment serves — exactly what Convex does with the token.
 * convex-test cannot take a JWT, so the verified token's claims become the
 * session's identity.
 */
export async function signIn(stack: Stack, wallet: Wallet): Promise<Session> {
  // Each wallet signs in from its own device, as people do: the challenge limit is per client
  // address (README "Sign-in with a Stacks wallet"), and a market of wallets behind one address would hit it.
  const device = stack.t.withRequestMetadata({ ip: `wallet:${wallet.address}` });
  const challenge = challengeSchema.parse(await postJson(device, "/auth/challenge", { address: wallet.address }));
  const signature = signMessageHashRsv({
    messageHash: bytesToHex(hashMessage(challenge.message)),
    privateKey: wallet.key,
  });
  const publicKey = String(privateKeyToPublic(wallet.key));
  const { token } = tokenSchema.parse(
    await postJson(stack.t, "/auth/verify", { nonce: challenge.nonce, signature, publicKey }),
  );
  const jwksResponse = await stack.t.fetch("/.well-known/jwks.json", { method: "GET" });
  const jwks = jwksSchema.parse(await jwksResponse.json());
  const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: jwks.keys as JWK[] }), {
    issuer: stack.siteUrl,
    audience: "bithedge-liquidity-pool",
    algorithms: ["ES256"],
  });
  if (payload.sub !== wallet.address) throw new Error(`session token names ${payload.sub}, not ${wallet.address}`);
  return stack.t.withIdentity({
    subject: payload.sub,
    issuer: stack.siteUrl,
    tokenIdentifier: `${stack.siteUrl}|${payload.sub}`,
  });
}

const networks = new Map<string, StacksNetwork>();
function networkFor(url: string): StacksNetwork {
  let network = networks.get(url);
  if (!network) {
    network = createNetwork({ network: "testnet", client: { baseUrl: url } });
    networks.set(url, network);
  }
  return network;
}

/** The flat fee wallets offer (the local node checks it at admission and never debits it). */
export const WALLET_FEE = 10_000n;

/**
 * Signs a call the backend prepared exactly as `@stacks/connect` would have the
 * wallet sign it: its contract, function, arguments, post-condition mode and
 * post-conditions as given, nothing added.
 */
export async function signPreparedCall(
  call: ContractCall,
  signer: { senderKey: string; network: StacksNetwork; fee: bigint; nonce: bigint },
) {
  const [contractAddress, contractName] = call.contract.split(".") as [string, string];
  return await makeContractCall({
    contractAddress,
    contractName,
    functionName: call.functionName,
    functionArgs: call.functionArgs.map((hex) => Cl.deserialize(hex)),
    postConditionMode: call.postConditionMode,
    postConditions: call.postConditions,
    ...signer,
  });
}

/** Signs the prepared call as is, broadcasts it, and returns the txid (0x…). Throws if the node refuses it. */
export async function signAndBroadcast(stack: Stack, call: ContractCall, wallet: Wallet): Promise<string> {
  const network = networkFor(stack.server.url);
  const transaction = await signPreparedCall(call, { senderKey: wallet.key, network, fee: WALLET_FEE, nonce: wallet.nonce });
  const result = await broadcastTransaction({ transaction, network });
  if ("error" in result) throw new Error(`broadcast of ${call.functionName} rejected: ${JSON.stringify(result)}`);
  wallet.nonce += 1n;
  return `0x${result.txid.replace(/^0x/, "")}`;
}
