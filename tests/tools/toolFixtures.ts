/**
 * Fixtures for the watcher and exit tool tests: the local Hiro-compatible
 * server with the vault's roles handed to the operator and signer keys,
 * signed vault calls mined one block at a time, honest and crooked
 * checkpoints posted and published with the operator key (as the backend's
 * checkpoint job would), vouchers, and exact token balances.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { STACKS_TESTNET } from "@stacks/network";
import { Cl, makeContractCall, privateKeyToAddress, randomPrivateKey, type ClarityValue, type PostCondition } from "@stacks/transactions";
import { expect } from "vitest";

import { HiroClient } from "../../convex/chain/hiroClient";
import { readVault, sendsExactly, VAULT_ARGS, VAULT_FUNCTIONS, VAULT_READ_ONLY_FUNCTIONS as F, type VaultReadOnlyFunction } from "../../convex/chain/vault";
import { chainIdOf, signWithdrawalVoucher } from "../../convex/chain/withdrawalVoucher";
import { buildMerkleSumTree, publishedLeafCV, type ExitLeaf } from "../../convex/domain/merkleSum";
import type { Token } from "../../convex/domain/vocabulary";
import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import { startLocalHiroServer, type LocalHiroServer } from "../../devnet/hiroServer";
import type { Inclusion } from "../../devnet/records";
import { readVaultEvents, type ChainEvent } from "../../tools/chainEvents";

export const ADMIN_KEY = DEVNET_KEYS.deployer;
export const DEPLOYER = privateKeyToAddress(ADMIN_KEY, "testnet");
export const VAULT = `${DEPLOYER}.liquidity-pool`;
export const SBTC = `${DEPLOYER}.sbtc-token`;
export const OPERATOR_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
export const OPERATOR = privateKeyToAddress(OPERATOR_KEY, "testnet");
export const SIGNER_KEY = "b6a6b4e9b5f0c2d7a8e3f1c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e401";

export const STX = (whole: bigint) => whole * 1_000_000n;
export const SATS = (sats: bigint) => sats;

export async function startToolServer(): Promise<LocalHiroServer> {
  const server = await startLocalHiroServer({ port: 0, deploy: { sbtcPrincipal: true, operatorKey: OPERATOR_KEY, signerKey: SIGNER_KEY } });
  await server.fund(OPERATOR, STX(1_000n));
  await server.mine(1);
  return server;
}

export type Wallet = { key: string; address: string };

export async function newWallet(server: LocalHiroServer, sats = 0n): Promise<Wallet> {
  const key = randomPrivateKey();
  const address = privateKeyToAddress(key, "testnet");
  await server.fund(address, STX(100_000n));
  if (sats > 0n) await server.mintSbtc(address, sats);
  return { key, address };
}

export function stxOf(server: LocalHiroServer, who: string): bigint {
  return server.simnet.getAssetsMap().get("STX")?.get(who) ?? 0n;
}

export function sbtcOf(server: LocalHiroServer, who: string): bigint {
  return server.simnet.getAssetsMap().get(".sbtc-token.sbtc-token")?.get(who) ?? 0n;
}

export function balanceOf(server: LocalHiroServer, token: Token, who: string): bigint {
  return token === "STX" ? stxOf(server, who) : sbtcOf(server, who);
}

export const tokenContract = (token: Token): string | null => (token === "STX" ? null : SBTC);

/**
 * Signs `functionName(args)` with `senderKey` (deny mode), mines it alone in
 * a block, and returns how it ran. The local node never debits fees, so STX
 * balances move by exactly what the vault moves.
 */
export async function vaultCall(
  server: LocalHiroServer,
  senderKey: string,
  functionName: string,
  args: ClarityValue[],
  postConditions: PostCondition[] = [],
): Promise<Inclusion> {
  const sender = privateKeyToAddress(senderKey, "testnet");
  const transaction = await makeContractCall({
    contractAddress: DEPLOYER,
    contractName: "liquidity-pool",
    functionName,
    functionArgs: args,
    senderKey,
    network: STACKS_TESTNET,
    nonce: server.chain.nextNonce(sender),
    fee: 10_000n,
    postConditionMode: "deny",
    postConditions,
  });
  const submitted = await server.chain.submit(transaction.serializeBytes());
  if (!submitted.ok) throw new Error(`${functionName} refused by the node: ${JSON.stringify(submitted)}`);
  await server.mine(1);
  const inclusion = server.chain.txView(transaction.txid())?.inclusion;
  if (!inclusion) throw new Error(`${functionName} was not mined`);
  return inclusion;
}

/** `vaultCall` that must end `(ok …)`. */
export async function vaultCallOk(...args: Parameters<typeof vaultCall>): Promise<Inclusion> {
  const inclusion = await vaultCall(...args);
  expect({ call: args[2], status: inclusion.status, result: Cl.prettyPrint(inclusion.result) }).toMatchObject({ call: args[2], status: "success" });
  return inclusion;
}

/** The `(err uN)` a call ended with. */
export function errorCode(inclusion: Inclusion): string {
  return Cl.prettyPrint(inclusion.result);
}

export async function deposit(server: LocalHiroServer, wallet: Wallet, token: Token, amount: bigint): Promise<void> {
  const contract = tokenContract(token);
  await vaultCallOk(server, wallet.key, VAULT_FUNCTIONS.depositFunds, VAULT_ARGS.depositFunds({ amount, tokenContract: contract }), [
    sendsExactly(wallet.address, contract, amount),
  ]);
}

const voucherNonces = new Map<string, bigint>();

/** A withdrawal with a voucher from the signer key, as the backend would sign it. */
export async function withdraw(server: LocalHiroServer, wallet: Wallet, token: Token, amount: bigint): Promise<void> {
  const contract = tokenContract(token);
  const nonce = (voucherNonces.get(wallet.address) ?? 0n) + 1n;
  voucherNonces.set(wallet.address, nonce);
  const expiresAt = BigInt(server.simnet.blockHeight) + 50n;
  const signature = signWithdrawalVoucher(
    { vault: VAULT, provider: wallet.address, amount, tokenContract: contract, nonce, expiresAt },
    chainIdOf(STACKS_TESTNET),
    SIGNER_KEY,
  );
  await vaultCallOk(
    server,
    wallet.key,
    VAULT_FUNCTIONS.withdrawFunds,
    VAULT_ARGS.withdrawFunds({ amount, tokenContract: contract, nonce, expiresAt, signature }),
    [sendsExactly(VAULT, contract, amount)],
  );
}

export async function payPremium(server: LocalHiroServer, buyer: Wallet, policyId: bigint, amount: bigint): Promise<void> {
  await vaultCallOk(server, buyer.key, VAULT_FUNCTIONS.payPremium, VAULT_ARGS.payPremium({ policyId, amount, tokenContract: null }), [
    sendsExactly(buyer.address, null, amount),
  ]);
}

export function clientFor(server: LocalHiroServer): HiroClient {
  return new HiroClient({ baseUrl: server.url, maxAttempts: 2, baseDelayMs: 10 });
}

export async function read<Fn extends VaultReadOnlyFunction>(server: LocalHiroServer, functionName: Fn, args: ClarityValue[] = []) {
  return await readVault(clientFor(server), VAULT, functionName, args);
}

/** Every event the vault printed, as the tools read them. */
export async function vaultEvents(server: LocalHiroServer): Promise<ChainEvent[]> {
  return (await readVaultEvents(clientFor(server), VAULT, SBTC)).events;
}

/**
 * The leaves the backend would write now: each provider's book balance (in −
 * out, plus the yield given) and their record's cumulative in/out.
 */
export async function honestLeaves(server: LocalHiroServer, providers: string[], yieldOf: Record<string, bigint> = {}): Promise<ExitLeaf[]> {
  const leaves: ExitLeaf[] = [];
  for (const provider of providers) {
    const record = await read(server, F.getProviderRecord, [Cl.principal(provider)]);
    if (record === null) throw new Error(`${provider} has no record`);
    leaves.push({
      provider,
      stx: record.stxIn - record.stxOut + (yieldOf[provider] ?? 0n),
      sbtc: record.sbtcIn - record.sbtcOut,
      stxIn: record.stxIn,
      stxOut: record.stxOut,
      sbtcIn: record.sbtcIn,
      sbtcOut: record.sbtcOut,
    });
  }
  return leaves;
}

export type Posted = { epoch: bigint; postedAt: bigint; leaves: ExitLeaf[] };

/**
 * Posts a checkpoint over `leaves` (their tree's root and sums, the vault's
 * flows now) with the operator key; `commit` overrides what is posted
 * (a crooked root, count or flows).
 */
export async function postCheckpoint(
  server: LocalHiroServer,
  leaves: ExitLeaf[],
  commit: Partial<{ root: Uint8Array; stxSum: bigint; sbtcSum: bigint; leafCount: bigint }> = {},
): Promise<Posted> {
  const tree = buildMerkleSumTree(leaves);
  const flows = await read(server, F.getFlows);
  await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.postCheckpoint, [
    Cl.buffer(commit.root ?? tree.root.hash),
    Cl.uint(commit.stxSum ?? tree.root.stx),
    Cl.uint(commit.sbtcSum ?? tree.root.sbtc),
    Cl.uint(flows.seq),
    Cl.tuple({ "stx-in": Cl.uint(flows.stxIn), "stx-out": Cl.uint(flows.stxOut), "sbtc-in": Cl.uint(flows.sbtcIn), "sbtc-out": Cl.uint(flows.sbtcOut) }),
    Cl.uint(commit.leafCount ?? BigInt(leaves.length)),
  ]);
  const checkpoint = await read(server, F.getCheckpoint);
  if (checkpoint === null) throw new Error("no checkpoint after posting one");
  return { epoch: checkpoint.epoch, postedAt: checkpoint.postedAt, leaves };
}

export async function publishLeaves(server: LocalHiroServer, epoch: bigint, offset: bigint, leaves: ExitLeaf[]): Promise<void> {
  await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.publishLeaves, [Cl.uint(epoch), Cl.uint(offset), Cl.list(leaves.map(publishedLeafCV))]);
}

/** A file holding `key` in hex, as the tools read keys. */
export function keyFile(key: string): string {
  const dir = mkdtempSync(join(tmpdir(), "bithedge-tools-"));
  const path = join(dir, "key.hex");
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return path;
}

/** Lines a tool printed, and a way to find them. */
export function capture(): { out: (line: string) => void; lines: string[]; text: () => string } {
  const lines: string[] = [];
  return { out: (line) => lines.push(...line.split("\n")), lines, text: () => lines.join("\n") };
}
