/**
 * Signing, sending and following the tools' own vault calls: the guardian's
 * `veto-checkpoint`, `cancel-role` and `revoke-hot-keys`, and a provider's
 * `claim-exit`. Always deny mode, so a call moves no asset its post-conditions
 * do not name; priced like the backend's calls (the node's estimate, or its
 * transfer rate × length when it has none: chain/backendTransactions.ts),
 * and sent through the same HiroClient.
 *
 * The private key lives in one private field of a KeySigner: it is never
 * printed, logged, serialized or handed back.
 */
import { readFileSync } from "node:fs";

import { STACKS_MAINNET, STACKS_TESTNET, type StacksNetwork } from "@stacks/network";
import {
  Cl,
  ClarityType,
  estimateTransactionByteLength,
  makeContractCall,
  privateKeyToAddress,
  serializePayload,
  serializeTransactionBytes,
  validateStacksAddress,
  type ClarityValue,
  type PostCondition,
} from "@stacks/transactions";

import { feeForCall, type SignedVaultTransaction } from "../convex/chain/backendTransactions";
import { clarityFromHex } from "../convex/chain/clarityValues";
import type { HiroClient } from "../convex/chain/hiroClient";
import type { VaultPublicFunction } from "../convex/chain/vault";

/** The backend's own fee floor (convex/chainTransactions.ts): the least a node relays in practice. */
export const MIN_FEE_USTX = 1_000n;

/** A call of the vault's, ready to sign. */
export type VaultCall = { functionName: VaultPublicFunction; args: ClarityValue[]; postConditions: PostCondition[] };

/** The network a contract lives on, from its address's version (SP/SM mainnet, ST/SN testnet and devnets). */
export function networkOfContract(contractId: string): StacksNetwork {
  const address = contractId.split(".")[0] ?? "";
  if (!validateStacksAddress(address)) throw new Error(`${contractId} is not a contract id (<address>.<name>)`);
  return address.startsWith("SP") || address.startsWith("SM") ? STACKS_MAINNET : STACKS_TESTNET;
}

/** A hex secp256k1 private key, 32 bytes, optionally with the 01 suffix of a compressed key. */
const PRIVATE_KEY = /^(0x)?([0-9a-fA-F]{64}(01)?)$/;

/** A key and the address it signs for. The key itself is unreachable from outside. */
export class KeySigner {
  readonly #privateKey: string;
  readonly address: string;

  constructor(
    privateKey: string,
    readonly network: StacksNetwork,
  ) {
    const match = PRIVATE_KEY.exec(privateKey.trim());
    // The message never quotes the input: it may be most of a key.
    if (!match?.[2]) throw new Error("the key file does not hold a hex private key (64 hex digits, optionally followed by 01)");
    this.#privateKey = match[2].toLowerCase();
    this.address = privateKeyToAddress(this.#privateKey, network);
  }

  /** Reads the key from a file holding only its hex. */
  static fromFile(path: string, network: StacksNetwork): KeySigner {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`cannot read the key file ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
    return new KeySigner(text, network);
  }

  /** Signs `call` to `contractId` with an explicit nonce and fee (no network access). */
  async sign(contractId: string, call: VaultCall, nonce: bigint, fee: bigint): Promise<SignedVaultTransaction> {
    const [contractAddress, contractName] = contractId.split(".") as [string, string];
    const transaction = await makeContractCall({
      contractAddress,
      contractName,
      functionName: call.functionName,
      functionArgs: call.args,
      senderKey: this.#privateKey,
      network: this.network,
      nonce,
      fee,
      postConditionMode: "deny",
      postConditions: call.postConditions,
    });
    return {
      bytes: serializeTransactionBytes(transaction),
      txid: `0x${transaction.txid()}`,
      payloadHex: serializePayload(transaction.payload),
      byteLength: estimateTransactionByteLength(transaction),
    };
  }

  /** Nothing of the key in logs or JSON. */
  toJSON(): { address: string } {
    return { address: this.address };
  }
}

export type SendResult =
  | { accepted: true; txid: string; nonce: bigint; fee: bigint }
  | { accepted: false; reason: string; message: string };

type SendClient = Pick<HiroClient, "broadcast" | "estimateFees" | "getTransferFeeRate">;

/** Prices, signs and broadcasts one call with the given nonce. */
export async function sendVaultCall(
  client: SendClient,
  signer: KeySigner,
  contractId: string,
  call: VaultCall,
  options: { nonce: bigint; maxFee: bigint },
): Promise<SendResult> {
  const draft = await signer.sign(contractId, call, options.nonce, 0n);
  const fee = await feeForCall(client, draft, MIN_FEE_USTX, options.maxFee);
  const signed = await signer.sign(contractId, call, options.nonce, fee);
  const result = await client.broadcast(signed.bytes);
  if (!result.accepted) return { accepted: false, reason: result.reason, message: result.message };
  return { accepted: true, txid: result.txid, nonce: options.nonce, fee };
}

export type Followed =
  | { state: "success"; result: ClarityValue; repr: string; blockHeight: bigint }
  | { state: "failed"; status: string; repr: string }
  | { state: "dropped"; status: string }
  | { state: "unconfirmed" };

export type FollowOptions = {
  /** Waits between two looks; the tests mine a block in it. */
  wait: () => Promise<unknown>;
  /** Looks before giving up (the transaction may still be mined later). */
  maxPolls: number;
};

/** Looks the transaction up until it is mined (or dropped), waiting in between. */
export async function followTransaction(client: Pick<HiroClient, "getTransaction">, txid: string, options: FollowOptions): Promise<Followed> {
  for (let poll = 0; poll < options.maxPolls; poll++) {
    await options.wait();
    const tx = await client.getTransaction(txid);
    if (tx === null || tx.tx_status === "pending") continue;
    if (!("block_height" in tx)) return { state: "dropped", status: tx.tx_status };
    if (!tx.canonical) continue;
    if (tx.tx_status !== "success") return { state: "failed", status: tx.tx_status, repr: tx.tx_result.repr };
    return { state: "success", result: clarityFromHex(tx.tx_result.hex), repr: tx.tx_result.repr, blockHeight: BigInt(tx.block_height) };
  }
  return { state: "unconfirmed" };
}

/** `(ok uN)` → N; anything else → null. */
export function okUint(result: ClarityValue): bigint | null {
  if (result.type !== ClarityType.ResponseOk) return null;
  const inner = result.value;
  return inner.type === ClarityType.UInt ? BigInt(inner.value) : null;
}

/** The hex of each argument, as a wallet or `stx_callContract` takes them. */
export function argsHex(args: readonly ClarityValue[]): string[] {
  return args.map((arg) => `0x${Cl.serialize(arg)}`);
}
