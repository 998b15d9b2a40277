/**
 * Chainhooks 2.0 for the local stack: Hiro's service cannot reach a local
 * chain, so this stands in for it (README "Chainhooks"). Subscribed to a
 * LocalChain, it POSTs the deliveries a hook filtering the vault's
 * `contract_log` events would receive:
 *
 * - an `apply` delivery for every mined block holding a transaction that
 *   printed from the vault, carrying those transactions whole (all their
 *   operations, as the real service does);
 * - on a fork, one delivery with the orphaned blocks that had been delivered
 *   in `rollback` (newest first) and the replacements that match in `apply`.
 *
 * Each delivery carries `Authorization: Bearer <secret>` and is retried on a
 * non-2xx answer or a network error, a bounded number of times, with
 * exponential backoff; deliveries go out one at a time, in chain order.
 * It can be switched off (nothing is queued while it is) and on again.
 *
 * The payload follows the published `@hirosystems/chainhooks-client` types
 * and the payload anatomy Hiro documents: operations are numbered in order —
 * the fee, the contract call, then each event's operations (a transfer is a
 * debit and a credit) — so an operation's index is not the API's event index,
 * exactly as the backend must expect from the real service. A block is named
 * by its index block hash, as the real service names it.
 */
import { getTypeString, type ClarityValue } from "@stacks/transactions";

import type { ChainhookDeliveryInput, ChainhookNetwork } from "../convex/chain/chainhookPayload";
import type { ChainChange, LocalChain } from "./chain";
import { cvHex, clarityRepr } from "./clarity";
import type { ChainEvent } from "./events";
import type { BlockRecord, Inclusion, TxRecord } from "./records";

type Status = "success" | "abort_by_response" | "abort_by_post_condition";
type Amount = {
  value: string;
  currency: { symbol: string; decimals: number; metadata?: { asset_identifier: string | null; token_type: "ft" | "nft" } };
};
type OperationId = { index: number };
type Operation =
  | { type: "fee"; operation_identifier: OperationId; status: Status; account: { address: string }; amount: Amount; metadata: { sponsored: boolean } }
  | {
      type: "contract_call";
      operation_identifier: OperationId;
      status: Status;
      account: { address: string };
      metadata: { contract_identifier: string; function_name: string; args: { hex: string; repr: string; name: string; type: string }[] };
    }
  | {
      type: "token_transfer" | "token_mint" | "token_burn";
      operation_identifier: OperationId;
      status: Status;
      account: { address: string };
      amount: Amount;
    }
  | {
      type: "stx_lock";
      operation_identifier: OperationId;
      status: Status;
      account: { address: string };
      amount: Amount;
      metadata: { unlock_height: number; locked_address: string; contract_name: string };
    }
  | {
      type: "contract_log";
      operation_identifier: OperationId;
      status: Status;
      metadata: { contract_identifier: string; topic: string; value: string };
    };

export type EmulatedTransaction = {
  transaction_identifier: { hash: string };
  operations: Operation[];
  metadata: {
    canonical: boolean;
    microblock_canonical: boolean;
    execution_cost: { read_count: number; read_length: number; runtime: number; write_count: number; write_length: number };
    fee_rate: string;
    nonce: number;
    type: "contract_call";
    position: { index: number; microblock_identifier: null };
    result: string;
    sender_address: string;
    sponsor_address: null;
    sponsored: false;
    status: Status;
    vm_error: string | null;
  };
};
export type EmulatedBlock = {
  block_identifier: { index: number; hash: string };
  parent_block_identifier: { index: number; hash: string };
  timestamp: number;
  transactions: EmulatedTransaction[];
};
export type EmulatedDelivery = {
  chainhook: { uuid: string; name: string };
  event: { chain: "stacks"; network: ChainhookNetwork; apply: EmulatedBlock[]; rollback: EmulatedBlock[] };
};
// Whatever the emulator sends, the backend's schema must accept.
const _accepted = (delivery: EmulatedDelivery): ChainhookDeliveryInput => delivery;

/** What came of one delivery. */
export type DeliveryRecord = {
  payload: EmulatedDelivery;
  attempts: number;
  /** The last answer's status; 0 when the request itself failed. */
  status: number;
  delivered: boolean;
  /** The last answer's body. */
  answer: string;
};

export type Post = (url: string, init: { method: "POST"; headers: Record<string, string>; body: string }) => Promise<Response>;

export type ChainhookEmulatorOptions = {
  chain: LocalChain;
  /** Where deliveries go, e.g. `<CONVEX_SITE_URL>/chainhooks/vault`. */
  url: string;
  /** The consumer secret, sent as `Authorization: Bearer <secret>`. */
  secret: string;
  vaultContractId: string;
  network?: ChainhookNetwork;
  uuid?: string;
  name?: string;
  /** Tries per delivery, the first included (default 5). */
  maxAttempts?: number;
  /** Wait before the second try; doubles for each further one (default 100 ms). */
  retryDelayMs?: number;
  /** How a delivery is sent (default: fetch). */
  post?: Post;
  /** Start switched on (default true). */
  enabled?: boolean;
};

export type ChainhookEmulator = {
  readonly deliveries: readonly DeliveryRecord[];
  /** Stops or resumes deliveries; changes while off are not delivered later (as a paused hook's are not). */
  setEnabled(enabled: boolean): void;
  /** Sends a delivery again, as the real service may (at-least-once). */
  redeliver(payload: EmulatedDelivery): Promise<DeliveryRecord>;
  /** The `apply` delivery of a block as the chain has it now (null when it holds no vault print), e.g. to send one the emulator did not. */
  applyDeliveryOf(block: BlockRecord): EmulatedDelivery | null;
  /** Resolves once every queued delivery has been answered or given up. */
  settled(): Promise<void>;
  /** Unsubscribes from the chain (queued deliveries still go out). */
  stop(): void;
};

function costsOf(inclusion: Inclusion): EmulatedTransaction["metadata"]["execution_cost"] {
  const c = inclusion.costs;
  return { read_count: c.readCount, read_length: c.readLength, runtime: c.runtime, write_count: c.writeCount, write_length: c.writeLength };
}

const STX: Amount["currency"] = { symbol: "STX", decimals: 6 };
const MAX_REMEMBERED_BLOCKS = 1_000;

function assetCurrency(assetId: string, tokenType: "ft" | "nft"): Amount["currency"] {
  return { symbol: assetId.split("::")[1] ?? "", decimals: 0, metadata: { asset_identifier: assetId, token_type: tokenType } };
}

/** The operations of one chain event, numbered from `next`. */
function eventOperations(event: ChainEvent, status: Status, next: () => OperationId): Operation[] {
  const transfer = (sender: string, recipient: string, value: string, currency: Amount["currency"]): Operation[] => [
    { type: "token_transfer", operation_identifier: next(), status, account: { address: sender }, amount: { value: `-${value}`, currency } },
    { type: "token_transfer", operation_identifier: next(), status, account: { address: recipient }, amount: { value, currency } },
  ];
  const one = (type: "token_mint" | "token_burn", address: string, value: string, currency: Amount["currency"]): Operation[] => [
    { type, operation_identifier: next(), status, account: { address }, amount: { value: type === "token_burn" ? `-${value}` : value, currency } },
  ];
  switch (event.kind) {
    case "stx_transfer":
      return transfer(event.sender, event.recipient, event.amount.toString(), STX);
    case "ft_transfer":
      return transfer(event.sender, event.recipient, event.amount.toString(), assetCurrency(event.assetId, "ft"));
    case "nft_transfer":
      return transfer(event.sender, event.recipient, "1", assetCurrency(event.assetId, "nft"));
    case "stx_mint":
      return one("token_mint", event.recipient, event.amount.toString(), STX);
    case "ft_mint":
      return one("token_mint", event.recipient, event.amount.toString(), assetCurrency(event.assetId, "ft"));
    case "nft_mint":
      return one("token_mint", event.recipient, "1", assetCurrency(event.assetId, "nft"));
    case "stx_burn":
      return one("token_burn", event.sender, event.amount.toString(), STX);
    case "ft_burn":
      return one("token_burn", event.sender, event.amount.toString(), assetCurrency(event.assetId, "ft"));
    case "nft_burn":
      return one("token_burn", event.sender, "1", assetCurrency(event.assetId, "nft"));
    case "stx_lock":
      return [
        {
          type: "stx_lock",
          operation_identifier: next(),
          status,
          account: { address: event.lockedAddress },
          amount: { value: event.lockedAmount.toString(), currency: STX },
          metadata: { unlock_height: event.unlockHeight, locked_address: event.lockedAddress, contract_name: "pox-4" },
        },
      ];
    case "print":
      return [
        {
          type: "contract_log",
          operation_identifier: next(),
          status,
          metadata: { contract_identifier: event.contractId, topic: event.topic, value: event.valueHex },
        },
      ];
  }
}

/** The options with their defaults filled in. */
type EmulatorSettings = {
  url: string;
  secret: string;
  network: ChainhookNetwork;
  maxAttempts: number;
  retryDelayMs: number;
  post: Post;
  envelope: EmulatedDelivery["chainhook"];
};

function settingsOf(options: ChainhookEmulatorOptions): EmulatorSettings {
  return {
    url: options.url,
    secret: options.secret,
    network: options.network ?? "testnet",
    maxAttempts: options.maxAttempts ?? 5,
    retryDelayMs: options.retryDelayMs ?? 100,
    post: options.post ?? ((target, init) => fetch(target, init)),
    envelope: { uuid: options.uuid ?? "00000000-0000-4000-8000-000000000000", name: options.name ?? "bithedge-vault-local" },
  };
}

/** The contract call's own operation: the called function and its arguments, named and typed from the contract's ABI. */
function contractCallOperation(chain: LocalChain, record: TxRecord, status: Status, next: () => OperationId): Operation | null {
  if (record.payload.kind !== "contract_call") return null;
  const { contractId, functionName, args } = record.payload;
  const abi = chain.simnet.getContractsInterfaces().get(contractId)?.functions.find((f) => f.name === functionName)?.args ?? [];
  return {
    type: "contract_call",
    operation_identifier: next(),
    status,
    account: { address: record.sender },
    metadata: {
      contract_identifier: contractId,
      function_name: functionName,
      args: args.map((arg: ClarityValue, i) => ({
        hex: cvHex(arg),
        repr: clarityRepr(arg),
        name: abi[i]?.name ?? "",
        type: abi[i] ? getTypeString(abi[i].type) : "",
      })),
    },
  };
}

function transactionOf(chain: LocalChain, record: TxRecord, inclusion: Inclusion): EmulatedTransaction {
  const status = inclusion.status;
  let index = 0;
  const next = () => ({ index: index++ });
  const operations: Operation[] = [
    {
      type: "fee",
      operation_identifier: next(),
      status,
      account: { address: record.sender },
      amount: { value: `-${record.fee}`, currency: STX },
      metadata: { sponsored: false },
    },
  ];
  const call = contractCallOperation(chain, record, status, next);
  if (call) operations.push(call);
  for (const event of inclusion.events) operations.push(...eventOperations(event, status, next));
  return {
    transaction_identifier: { hash: `0x${record.txid}` },
    operations,
    metadata: {
      canonical: true,
      microblock_canonical: true,
      execution_cost: costsOf(inclusion),
      fee_rate: record.fee.toString(),
      nonce: Number(record.nonce),
      type: "contract_call",
      position: { index: inclusion.txIndex, microblock_identifier: null },
      result: cvHex(inclusion.result),
      sender_address: record.sender,
      sponsor_address: null,
      sponsored: false,
      status,
      vm_error: inclusion.vmError,
    },
  };
}

/** The block as a hook on the vault's prints sees it; null when none of its transactions printed from the vault. */
function blockOf(chain: LocalChain, vaultContractId: string, block: BlockRecord): EmulatedBlock | null {
  const transactions: EmulatedTransaction[] = [];
  for (const txid of block.txids) {
    const record = chain.mempool.get(txid);
    const inclusion = record?.inclusions.find((i) => i.blockHash === block.hash);
    if (!record || !inclusion) continue;
    const printsFromVault = inclusion.events.some((e) => e.kind === "print" && e.contractId === vaultContractId);
    if (printsFromVault) transactions.push(transactionOf(chain, record, inclusion));
  }
  if (transactions.length === 0) return null;
  return {
    block_identifier: { index: block.height, hash: `0x${block.indexBlockHash}` },
    parent_block_identifier: { index: block.height - 1, hash: `0x${block.parentIndexBlockHash}` },
    timestamp: block.time,
    transactions,
  };
}

/** POSTs one delivery, retrying with exponential backoff; its record is in `deliveries` from the first try on. */
async function send(settings: EmulatorSettings, deliveries: DeliveryRecord[], payload: EmulatedDelivery): Promise<DeliveryRecord> {
  const { url, secret, maxAttempts, retryDelayMs, post } = settings;
  const record: DeliveryRecord = { payload, attempts: 0, status: 0, delivered: false, answer: "" };
  deliveries.push(record);
  const body = JSON.stringify(payload);
  const headers = { "Content-Type": "application/json", Authorization: `Bearer ${secret}` };
  while (record.attempts < maxAttempts) {
    record.attempts++;
    try {
      const response = await post(url, { method: "POST", headers, body });
      record.status = response.status;
      record.answer = await response.text();
      if (response.ok) {
        record.delivered = true;
        return record;
      }
    } catch (error) {
      record.status = 0;
      record.answer = error instanceof Error ? error.message : String(error);
    }
    if (record.attempts < maxAttempts) await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (record.attempts - 1)));
  }
  return record;
}

/** Deliveries go out one at a time, in the order queued. */
function deliveryQueue(sendOne: (payload: EmulatedDelivery) => Promise<DeliveryRecord>) {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    enqueue(payload: EmulatedDelivery): Promise<DeliveryRecord> {
      const sent = queue.then(() => sendOne(payload));
      queue = sent.catch(() => undefined);
      return sent;
    },
    async settled(): Promise<void> {
      for (;;) {
        const current = queue;
        await current;
        if (current === queue) return;
      }
    },
  };
}

type DeliveredBlocks = ReturnType<typeof deliveredBlocks>;

/** Blocks as delivered, by block hash: a rollback names them as they were sent. */
function deliveredBlocks() {
  const delivered = new Map<string, EmulatedBlock>();
  return {
    remember(hash: string, block: EmulatedBlock): void {
      delivered.set(hash, block);
      // Forks deeper than this many delivered blocks are not emulated; the oldest are forgotten.
      if (delivered.size > MAX_REMEMBERED_BLOCKS) delivered.delete(delivered.keys().next().value as string);
    },
    get: (hash: string) => delivered.get(hash),
  };
}

/**
 * The deliveries a chain change calls for: one `apply` per mined block that printed from the vault;
 * on a fork, one with the delivered orphans in `rollback` (newest first) and the replacements in `apply`.
 */
function deliveriesFor(
  change: ChainChange,
  emulate: (block: BlockRecord) => EmulatedBlock | null,
  delivered: DeliveredBlocks,
  deliveryOf: (apply: EmulatedBlock[], rollback: EmulatedBlock[]) => EmulatedDelivery,
): EmulatedDelivery[] {
  const applyOf = (blocks: BlockRecord[]) =>
    blocks.flatMap((block) => {
      const emulated = emulate(block);
      if (emulated) delivered.remember(block.hash, emulated);
      return emulated ? [emulated] : [];
    });
  if (change.kind === "mined") {
    return applyOf(change.blocks).map((block) => deliveryOf([block], []));
  }
  const rollback = [...change.orphaned]
    .reverse()
    .flatMap((orphan) => {
      const sent = delivered.get(orphan.hash);
      return sent ? [sent] : [];
    });
  const apply = applyOf(change.replacements);
  return rollback.length > 0 || apply.length > 0 ? [deliveryOf(apply, rollback)] : [];
}

export function startChainhookEmulator(options: ChainhookEmulatorOptions): ChainhookEmulator {
  const { chain, vaultContractId } = options;
  const settings = settingsOf(options);
  let enabled = options.enabled ?? true;
  const deliveries: DeliveryRecord[] = [];
  const delivered = deliveredBlocks();
  const queue = deliveryQueue((payload) => send(settings, deliveries, payload));
  const emulate = (block: BlockRecord) => blockOf(chain, vaultContractId, block);
  const deliveryOf = (apply: EmulatedBlock[], rollback: EmulatedBlock[]): EmulatedDelivery => ({
    chainhook: settings.envelope,
    event: { chain: "stacks", network: settings.network, apply, rollback },
  });

  // Runs inside the chain's lock (LocalChain.onChange): build the payload now, send it later.
  function onChange(change: ChainChange): void {
    if (!enabled) return;
    for (const payload of deliveriesFor(change, emulate, delivered, deliveryOf)) void queue.enqueue(payload);
  }

  const unsubscribe = chain.onChange(onChange);
  return {
    deliveries,
    setEnabled: (on) => {
      enabled = on;
    },
    redeliver: (payload) => queue.enqueue(payload),
    applyDeliveryOf: (block) => {
      const emulated = emulate(block);
      return emulated ? deliveryOf([emulated], []) : null;
    },
    settled: () => queue.settled(),
    stop: unsubscribe,
  };
}
