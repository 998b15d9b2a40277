/**
 * The vault as someone with only a key and the chain sees it — the incident
 * scenarios' thief, stranger and wallets acting without the backend, and the
 * checks that must not lean on the backend or on the tools they judge:
 *
 * - vault calls signed with a key and broadcast to the local node, and how
 *   each ended (its block, `(ok …)` or `(err uN)`);
 * - read-only answers, through simnet's own view;
 * - the vault's print events, in chain order, decoded here from the printed
 *   tuples (not by the backend's decoder, nor by the tools').
 */
import { createNetwork } from "@stacks/network";
import {
  broadcastTransaction,
  Cl,
  ClarityType,
  makeContractCall,
  privateKeyToAddress,
  type ClarityValue,
  type PostCondition,
} from "@stacks/transactions";

import { parseVaultReadOnly, type VaultPublicFunction, type VaultReadOnlyFunction, type VaultReadOnlyResult } from "../convex/chain/vault";
import type { Token } from "../convex/validators";
import type { Stack } from "./stack";
import { WALLET_FEE } from "./wallets";

// ---------------------------------------------------------------------------
// Calls

export type VaultCallSpec = { functionName: VaultPublicFunction; args: ClarityValue[]; postConditions: PostCondition[] };

/** Hands out consecutive nonces to one key, so several of its calls can go into one block. */
export class KeyHolder {
  readonly address: string;
  private nonce: bigint | null = null;

  constructor(
    private readonly stack: Stack,
    private readonly key: string,
  ) {
    this.address = privateKeyToAddress(key, "testnet");
  }

  /** Signs `call` (deny mode) with the next nonce and broadcasts it; returns the txid (0x…). Throws if the node refuses it. */
  async send(call: VaultCallSpec): Promise<string> {
    const { server, vault } = this.stack;
    // A nonce spent by a call the node refused is not spent: start again from the chain's.
    this.nonce ??= server.chain.nextNonce(this.address);
    const [contractAddress, contractName] = vault.split(".") as [string, string];
    const transaction = await makeContractCall({
      contractAddress,
      contractName,
      functionName: call.functionName,
      functionArgs: call.args,
      senderKey: this.key,
      network: networkOf(server.url),
      nonce: this.nonce,
      fee: WALLET_FEE,
      postConditionMode: "deny",
      postConditions: call.postConditions,
    });
    const result = await broadcastTransaction({ transaction, network: networkOf(server.url) });
    if ("error" in result) {
      this.nonce = null;
      throw new Error(`${call.functionName} from ${this.address} refused by the node: ${JSON.stringify(result)}`);
    }
    this.nonce++;
    return `0x${result.txid.replace(/^0x/, "")}`;
  }
}

function networkOf(url: string) {
  return createNetwork({ network: "testnet", client: { baseUrl: url } });
}

export type CallOutcome = { mined: boolean; height: number | null; ok: boolean; result: string };

/** How a broadcast call ended: `(ok …)`, `(err uN)`, a post-condition abort, or not mined. */
export function outcomeOf(stack: Stack, txid: string): CallOutcome {
  const view = stack.server.chain.txView(txid.replace(/^0x/, ""));
  const inclusion = view?.inclusion;
  if (!inclusion || !view.block) return { mined: false, height: null, ok: false, result: "not mined" };
  const printed = Cl.prettyPrint(inclusion.result);
  const result = inclusion.status === "abort_by_post_condition" ? `${printed}, aborted by a post-condition (${inclusion.vmError ?? ""})` : printed;
  return { mined: true, height: view.block.height, ok: inclusion.status === "success", result };
}

// ---------------------------------------------------------------------------
// Read-only answers

/** A read-only of the vault, evaluated by simnet at the tip, parsed exactly. */
export function readOnly<Fn extends VaultReadOnlyFunction>(stack: Stack, functionName: Fn, args: ClarityValue[] = []): VaultReadOnlyResult<Fn> {
  const { simnet } = stack.server;
  return parseVaultReadOnly(functionName, simnet.callReadOnlyFn(stack.vault, functionName, args, simnet.deployer).result);
}

// ---------------------------------------------------------------------------
// Print events

export type ChainLeaf = { provider: string; stx: bigint; sbtc: bigint; stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };

export type VaultPrint =
  | { kind: "funds-deposited" | "funds-withdrawn"; provider: string; token: Token; amount: bigint; seq: bigint; height: number }
  | { kind: "settlement-paid"; buyer: string; token: Token; amount: bigint; height: number }
  | { kind: "checkpoint-posted"; epoch: bigint; asOfSeq: bigint; stxSum: bigint; sbtcSum: bigint; leafCount: bigint; height: number }
  | { kind: "checkpoint-vetoed"; epoch: bigint; height: number }
  | { kind: "checkpoint-leaves"; epoch: bigint; offset: bigint; leaves: ChainLeaf[]; height: number }
  | { kind: "shutdown"; by: string; assets: Record<Token, bigint>; liabilities: Record<Token, bigint>; height: number }
  | { kind: "exit-claimed"; provider: string; token: Token; owed: bigint; paid: bigint; height: number }
  | { kind: "hot-keys-revoked"; height: number }
  | { kind: "other"; event: string; height: number };

type Fields = Record<string, ClarityValue>;

function fieldsOf(value: ClarityValue): Fields {
  if (value.type !== ClarityType.Tuple) throw new Error(`a vault print is a tuple, not ${value.type}`);
  return value.value;
}

function field(fields: Fields, name: string): ClarityValue {
  const value = fields[name];
  if (value === undefined) throw new Error(`the print has no ${name}`);
  return value;
}

function uintOf(fields: Fields, name: string): bigint {
  const value = field(fields, name);
  if (value.type !== ClarityType.UInt) throw new Error(`${name} is not a uint`);
  return BigInt(value.value);
}

function principalOf(fields: Fields, name: string): string {
  const value = field(fields, name);
  if (value.type !== ClarityType.PrincipalStandard && value.type !== ClarityType.PrincipalContract) throw new Error(`${name} is not a principal`);
  return value.value;
}

/** `token`: none is STX, (some sbtc) is sBTC. */
function tokenOf(fields: Fields): Token {
  return field(fields, "token").type === ClarityType.OptionalNone ? "STX" : "sBTC";
}

function stringOf(fields: Fields, name: string): string {
  const value = field(fields, name);
  if (value.type !== ClarityType.StringASCII) throw new Error(`${name} is not a string`);
  return value.value;
}

function leafOf(value: ClarityValue): ChainLeaf {
  const f = fieldsOf(value);
  return {
    provider: principalOf(f, "provider"),
    stx: uintOf(f, "stx"),
    sbtc: uintOf(f, "sbtc"),
    stxIn: uintOf(f, "stx-in"),
    stxOut: uintOf(f, "stx-out"),
    sbtcIn: uintOf(f, "sbtc-in"),
    sbtcOut: uintOf(f, "sbtc-out"),
  };
}

function decodePrint(valueHex: string, height: number): VaultPrint {
  const f = fieldsOf(Cl.deserialize(valueHex));
  const event = stringOf(f, "event");
  switch (event) {
    case "funds-deposited":
      return { kind: event, provider: principalOf(f, "depositor"), token: tokenOf(f), amount: uintOf(f, "amount"), seq: uintOf(f, "seq"), height };
    case "funds-withdrawn":
      return { kind: event, provider: principalOf(f, "provider"), token: tokenOf(f), amount: uintOf(f, "amount"), seq: uintOf(f, "seq"), height };
    case "settlement-paid":
      return { kind: event, buyer: principalOf(f, "buyer"), token: tokenOf(f), amount: uintOf(f, "amount"), height };
    case "checkpoint-posted":
      return {
        kind: event,
        epoch: uintOf(f, "epoch"),
        asOfSeq: uintOf(f, "as-of-seq"),
        stxSum: uintOf(f, "stx-sum"),
        sbtcSum: uintOf(f, "sbtc-sum"),
        leafCount: uintOf(f, "leaf-count"),
        height,
      };
    case "checkpoint-vetoed":
      return { kind: event, epoch: uintOf(f, "epoch"), height };
    case "checkpoint-leaves": {
      const leaves = field(f, "leaves");
      if (leaves.type !== ClarityType.List) throw new Error("leaves is not a list");
      return { kind: event, epoch: uintOf(f, "epoch"), offset: uintOf(f, "offset"), leaves: leaves.value.map(leafOf), height };
    }
    case "shutdown":
      return {
        kind: event,
        by: principalOf(f, "by"),
        assets: { STX: uintOf(f, "stx-assets"), sBTC: uintOf(f, "sbtc-assets") },
        liabilities: { STX: uintOf(f, "stx-liabilities"), sBTC: uintOf(f, "sbtc-liabilities") },
        height,
      };
    case "exit-claimed":
      return { kind: event, provider: principalOf(f, "provider"), token: tokenOf(f), owed: uintOf(f, "owed"), paid: uintOf(f, "paid"), height };
    case "hot-keys-revoked":
      return { kind: event, height };
    default:
      return { kind: "other", event, height };
  }
}

/** Every print of the vault on the canonical chain, oldest first (only successful transactions print). */
export function vaultPrints(stack: Stack): VaultPrint[] {
  const { chain } = stack.server;
  const prints: VaultPrint[] = [];
  for (const log of chain.contractLogs(stack.vault)) {
    const height = chain.txView(log.txid)?.block?.height ?? -1;
    prints.push(decodePrint(log.valueHex, height));
  }
  return prints.reverse();
}

export function printsOf<K extends VaultPrint["kind"]>(prints: readonly VaultPrint[], kind: K): Extract<VaultPrint, { kind: K }>[] {
  return prints.filter((p): p is Extract<VaultPrint, { kind: K }> => p.kind === kind);
}
