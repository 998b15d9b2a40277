/**
 * Chainhooks 2.0 deliveries of the vault's print events (README "Chainhooks"):
 * the zod schema of a delivery, and the pure step from a parsed delivery to
 * the vault's prints per block — the `apply` blocks that joined the canonical
 * chain and the `rollback` blocks that left it.
 *
 * The schema follows the payload the published `@hirosystems/chainhooks-client`
 * types describe (its `ChainhookEvent`); tests/types/chainhooksClient.conformance.ts
 * checks at compile time that every delivery those types allow is accepted
 * here and that the fields we read have the types they give. It parses what
 * the backend reads and the envelope around it; fields it does not read are
 * let through, so a field Hiro adds does not refuse every delivery.
 *
 * One thing a delivery does not say is the event's index as the Stacks API
 * numbers it (`event_index`, the position among all of the transaction's
 * events), which is half of the key the books apply each event under. An
 * operation's `operation_identifier.index` counts operations, and a
 * transaction's operations start with its fee and its contract call, and a
 * transfer is two of them (a debit and a credit): the print at event index 1
 * of a SIP-010 transfer is operation 4. So nothing here claims an event index:
 * a delivered print is placed on the chain (event index, block hash) only once
 * the API confirms it, by convex/chainhooks.ts.
 */
import { z } from "zod";

import type { NetworkName } from "../domain/vocabulary";
import type { SyncedEvent } from "../validators";
import { decodeVaultPrint, type Position } from "./vaultEventDecoding";

// ---------------------------------------------------------------------------
// The delivery, as zod parses it

/** The networks Chainhooks serves. */
export const CHAINHOOK_NETWORKS = ["mainnet", "testnet"] as const;
export type ChainhookNetwork = (typeof CHAINHOOK_NETWORKS)[number];

/**
 * Every status a Stacks transaction or operation can have in a delivery: the
 * package's `StacksStatusSchema`, and `problematic_skipped`, which the node's
 * event dispatcher also emits for a transaction a miner skipped. Only
 * `success` is acted on; an unknown status refuses the delivery.
 */
export const CHAINHOOK_STATUSES = [
  "pending",
  "success",
  "problematic_skipped",
  "abort_by_response",
  "abort_by_post_condition",
  "dropped_replace_by_fee",
  "dropped_replace_across_fork",
  "dropped_too_expensive",
  "dropped_problematic",
  "dropped_stale_garbage_collect",
] as const;

const lowerHex = (hex: string) => `0x${hex.replace(/^0x/i, "").toLowerCase()}`;

const hash32 = z
  .string()
  .regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be a 32-byte hex hash")
  .transform(lowerHex);
const clarityHex = z
  .string()
  .regex(/^(0x)?([0-9a-fA-F]{2})+$/, "must be a hex-encoded Clarity value")
  .transform(lowerHex);
const height = z.number().int().nonnegative();
const status = z.enum(CHAINHOOK_STATUSES);

const blockIdentifier = z.object({ index: height, hash: hash32 });
const operationIdentifier = z.object({ index: height, network_index: height.optional() });

/** A print: the value is hex, or `{ hex, repr }` when the hook decodes Clarity values. */
const contractLogOperation = z.object({
  type: z.literal("contract_log"),
  operation_identifier: operationIdentifier,
  status,
  metadata: z.object({
    contract_identifier: z.string().min(1),
    topic: z.string(),
    value: z.union([clarityHex, z.object({ hex: clarityHex, repr: z.string() })]),
  }),
});

/**
 * Every other operation (fee, contract_call, token_transfer, …): the backend
 * reads none of them, so only their envelope is checked, and a type Hiro adds
 * later is still accepted.
 */
const otherOperation = z.object({
  type: z.string().refine((type) => type !== "contract_log", "a contract_log operation must have its own shape"),
  operation_identifier: operationIdentifier,
  status,
});

const transaction = z.object({
  transaction_identifier: z.object({ hash: hash32 }),
  operations: z.array(z.union([contractLogOperation, otherOperation])),
  metadata: z.object({
    status,
    canonical: z.boolean(),
    position: z.object({ index: height }),
  }),
});

const block = z.object({
  block_identifier: blockIdentifier,
  parent_block_identifier: blockIdentifier,
  timestamp: z.number().int().nonnegative(),
  transactions: z.array(transaction),
});

export const chainhookDeliverySchema = z.object({
  chainhook: z.object({ uuid: z.string().min(1), name: z.string().optional() }),
  event: z.object({
    chain: z.literal("stacks"),
    network: z.enum(CHAINHOOK_NETWORKS),
    apply: z.array(block),
    rollback: z.array(block),
  }),
});
export type ChainhookDelivery = z.output<typeof chainhookDeliverySchema>;
/** A delivery as it arrives on the wire (what the package's types describe). */
export type ChainhookDeliveryInput = z.input<typeof chainhookDeliverySchema>;
export type ChainhookContractLogOperation = z.input<typeof contractLogOperation>;
export type ChainhookBlockInput = z.input<typeof block>;

export type ParsedDelivery = { ok: true; delivery: ChainhookDelivery } | { ok: false; problems: string };

/** Parses a delivery's JSON; on failure, the paths of what did not parse (never the values). */
export function parseChainhookDelivery(json: unknown): ParsedDelivery {
  const parsed = chainhookDeliverySchema.safeParse(json);
  if (parsed.success) return { ok: true, delivery: parsed.data };
  const paths = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "body"))];
  return { ok: false, problems: paths.slice(0, 5).join(", ") + (paths.length > 5 ? ", …" : "") };
}

/**
 * The Chainhooks network that serves a deployment's network. Chainhooks has no
 * devnet; the local stack's emulator (devnet/chainhookEmulator.ts) delivers as
 * testnet, whose addresses devnet shares.
 */
export function chainhookNetworkFor(network: NetworkName): ChainhookNetwork {
  return network === "mainnet" ? "mainnet" : "testnet";
}

// ---------------------------------------------------------------------------
// The vault's prints in a delivery

/** One vault print as delivered: its transaction, its place in the block and the transaction, its value. */
export type DeliveredPrint = {
  /** 0x-prefixed lowercase */
  txid: string;
  /** The transaction's index in the block. */
  txIndex: number;
  /** The print's index among the transaction's operations: not the API's event index (see above). */
  operationIndex: number;
  /** The printed Clarity value, 0x-prefixed lowercase hex. */
  hex: string;
};

/** Every field of a synced event but its place on the chain. */
export type UnplacedEvent = SyncedEvent extends infer E ? (E extends unknown ? Omit<E, keyof Position> : never) : never;

export type DeliveredEvent = DeliveredPrint & { event: UnplacedEvent };
export type DeliveredRejection = DeliveredPrint & { reason: string };

export type DeliveredBlock = {
  height: bigint;
  /** As delivered, 0x-prefixed lowercase: the block's hash or its index block hash (see convex/chainhooks.ts). */
  hash: string;
  parentHash: string;
  /** Every print of the vault in successful transactions, in block order. */
  prints: DeliveredPrint[];
  /** The prints that decode, in the same order. */
  events: DeliveredEvent[];
  /** The prints that do not decode (the poller records these as rejected once they are confirmed). */
  rejected: DeliveredRejection[];
};

export type VaultDelivery = {
  uuid: string;
  network: ChainhookNetwork;
  /** Blocks that joined the canonical chain, as delivered (oldest first). */
  apply: DeliveredBlock[];
  /** Blocks that left it, as delivered (newest first). */
  rollback: DeliveredBlock[];
};

/** Where an unplaced event is decoded: a placeholder, stripped again before anyone sees it. */
const NOWHERE: Position = { txid: "", eventIndex: 0, blockHeight: 0n, blockHash: "" };

function withoutPosition(event: SyncedEvent): UnplacedEvent {
  const { txid: _txid, eventIndex: _eventIndex, blockHeight: _blockHeight, blockHash: _blockHash, ...rest } = event;
  return rest as UnplacedEvent;
}

/** An unplaced event at its place on the chain: exactly what the poller decodes from the same print there. */
export function placeEvent(event: UnplacedEvent, position: Position): SyncedEvent {
  return { ...event, ...position } as SyncedEvent;
}

function blockPrints(delivered: ChainhookDelivery["event"]["apply"][number], vaultContractId: string, sbtcContractId: string): DeliveredBlock {
  const prints: DeliveredPrint[] = [];
  const events: DeliveredEvent[] = [];
  const rejected: DeliveredRejection[] = [];
  const transactions = [...delivered.transactions].sort((a, b) => a.metadata.position.index - b.metadata.position.index);
  for (const tx of transactions) {
    // An aborted transaction's events never happened. (Its `canonical` flag is not read: in a
    // rollback block it describes the block as it was, and the books ask the API anyway.)
    if (tx.metadata.status !== "success") continue;
    const operations = [...tx.operations].sort((a, b) => a.operation_identifier.index - b.operation_identifier.index);
    for (const operation of operations) {
      if (operation.type !== "contract_log" || !("metadata" in operation)) continue;
      const log = operation as z.output<typeof contractLogOperation>;
      if (log.status !== "success") continue;
      if (log.metadata.contract_identifier !== vaultContractId || log.metadata.topic !== "print") continue;
      const hex = typeof log.metadata.value === "string" ? log.metadata.value : log.metadata.value.hex;
      const print: DeliveredPrint = {
        txid: tx.transaction_identifier.hash,
        txIndex: tx.metadata.position.index,
        operationIndex: log.operation_identifier.index,
        hex,
      };
      prints.push(print);
      const decoded = decodeVaultPrint(hex, NOWHERE, sbtcContractId);
      if (decoded.kind === "malformed") rejected.push({ ...print, reason: decoded.reason });
      else events.push({ ...print, event: withoutPosition(decoded.event) });
    }
  }
  return {
    height: BigInt(delivered.block_identifier.index),
    hash: delivered.block_identifier.hash,
    parentHash: delivered.parent_block_identifier.hash,
    prints,
    events,
    rejected,
  };
}

/**
 * The vault's prints in a delivery, per block: only `print` logs of
 * `vaultContractId` in successful transactions. Blocks without one
 * are left out. Apply blocks come oldest first, rollback blocks newest first
 * (the order each is acted on), whatever order they were delivered in.
 */
export function vaultPrintsOfDelivery(delivery: ChainhookDelivery, vaultContractId: string, sbtcContractId: string): VaultDelivery {
  const of = (blocks: ChainhookDelivery["event"]["apply"]) =>
    blocks.map((b) => blockPrints(b, vaultContractId, sbtcContractId)).filter((b) => b.prints.length > 0);
  const byHeight = (a: DeliveredBlock, b: DeliveredBlock) => (a.height < b.height ? -1 : a.height > b.height ? 1 : 0);
  return {
    uuid: delivery.chainhook.uuid,
    network: delivery.event.network,
    apply: of(delivery.event.apply).sort(byHeight),
    rollback: of(delivery.event.rollback).sort((a, b) => byHeight(b, a)),
  };
}

/** Whether two block hashes name the same block (case and 0x aside). */
export function sameHash(a: string, b: string): boolean {
  return lowerHex(a) === lowerHex(b);
}

/** A hex string as deliveries and the API are compared: 0x-prefixed, lowercase. */
export const normalizeHex = lowerHex;
