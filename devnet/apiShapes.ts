/**
 * Response bodies in the Hiro API's shapes, each checked at compile time with
 * `satisfies` against the current API's published response types
 * (@stacks/blockchain-api-client, by operation id).
 */
import type { OperationResponse } from "@stacks/blockchain-api-client";
import { Cl, abiFunctionToString, getTypeString, hexToCV, type ClarityAbiFunction, type PostCondition } from "@stacks/transactions";

import { hexRepr } from "./clarity";
import type { TxView } from "./chain";
import type { ChainEvent } from "./events";
import { isProblematicSkipped } from "./faults";
import type { BlockRecord, Inclusion, TxRecord } from "./records";

const MICROBLOCK_SEQUENCE_NONE = 2147483647;

/** The transaction types this server serves (README of devnet/, "Limitations"). */
type Served = "contract_call" | "token_transfer";
type FoundTransaction = Extract<OperationResponse["get_tx_list_details"][string], { found: true }>["result"];
/** GET /extended/v1/tx/multiple (and the deprecated /extended/v1/tx/{id}): a mined transaction. */
export type ApiMinedTransaction = Extract<FoundTransaction, { block_height: number; tx_type: Served }>;
/** The same routes: a transaction not mined (pending or dropped). */
export type ApiMempoolTransaction = Extract<Exclude<FoundTransaction, { block_height: number }>, { tx_type: Served }>;
export type ApiTransactionEvent = OperationResponse["get_contract_events_by_id"]["results"][number];
export type ApiNakamotoBlock = OperationResponse["get_block"];
export type ApiBlockV1 = OperationResponse["get_block_by_height"];
type ApiV3Transaction = OperationResponse["get_transaction"];
/** GET /extended/v3/transactions/{tx_id}: a mined transaction. */
export type ApiV3MinedTransaction = Extract<ApiV3Transaction, { block: unknown; type: Served }>;
/** The same route: a transaction not mined. */
export type ApiV3MempoolTransaction = Extract<ApiV3Transaction, { receipt_time: number; type: Served }>;
/** Heavy fields of the v3 route, sent only when asked for with `include`. */
export const V3_INCLUDE_FIELDS = ["function_args", "source_code", "post_conditions", "result"] as const;
export type V3IncludeField = (typeof V3_INCLUDE_FIELDS)[number];

type ApiPostCondition = ApiMinedTransaction["post_conditions"][number];
type ApiPrincipal = ApiPostCondition["principal"];
type FungibleCode = Extract<ApiPostCondition, { type: "stx" }>["condition_code"];

export type AbiLookup = (contractId: string, functionName: string) => ClarityAbiFunction | undefined;

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function principalOf(address: string): ApiPrincipal {
  if (address === "origin") return { type_id: "principal_origin" };
  const [contractAddress, contractName] = address.split(".");
  if (contractName !== undefined) {
    return { type_id: "principal_contract", address: contractAddress as string, contract_name: contractName };
  }
  return { type_id: "principal_standard", address };
}

function assetOf(asset: string): { asset_name: string; contract_address: string; contract_name: string } {
  const [contractId = "", assetName = ""] = asset.split("::");
  const [contractAddress = "", contractName = ""] = contractId.split(".");
  return { asset_name: assetName, contract_address: contractAddress, contract_name: contractName };
}

const FUNGIBLE_CODES: Record<string, FungibleCode> = {
  eq: "sent_equal_to",
  gt: "sent_greater_than",
  gte: "sent_greater_than_or_equal_to",
  lt: "sent_less_than",
  lte: "sent_less_than_or_equal_to",
};

function fungibleCode(condition: string): FungibleCode {
  const code = FUNGIBLE_CODES[condition];
  if (!code) throw new Error(`unknown fungible condition ${condition}`);
  return code;
}

export function apiPostCondition(pc: PostCondition): ApiPostCondition {
  switch (pc.type) {
    case "stx-postcondition":
      return {
        type: "stx",
        condition_code: fungibleCode(pc.condition),
        amount: BigInt(pc.amount).toString(),
        principal: principalOf(pc.address),
      } satisfies Extract<ApiPostCondition, { type: "stx" }>;
    case "ft-postcondition":
      return {
        type: "fungible",
        condition_code: fungibleCode(pc.condition),
        amount: BigInt(pc.amount).toString(),
        asset: assetOf(pc.asset),
        principal: principalOf(pc.address),
      } satisfies Extract<ApiPostCondition, { type: "fungible" }>;
    case "nft-postcondition":
      return {
        type: "non_fungible",
        condition_code: pc.condition === "sent" ? "sent" : pc.condition === "not-sent" ? "not_sent" : "maybe_sent",
        asset_value: hexRepr(pc.assetId),
        asset: assetOf(pc.asset),
        principal: principalOf(pc.address),
      } satisfies Extract<ApiPostCondition, { type: "non_fungible" }>;
    default:
      throw new Error(`post-condition type ${pc.type} is not supported`);
  }
}

type EventOf<T extends ApiTransactionEvent["event_type"]> = Extract<ApiTransactionEvent, { event_type: T }>;

export function apiEvent(event: ChainEvent, eventIndex: number, txid: string): ApiTransactionEvent {
  const base = { event_index: eventIndex, tx_id: `0x${txid}` };
  switch (event.kind) {
    case "print":
      return {
        ...base,
        event_type: "smart_contract_log",
        contract_log: { contract_id: event.contractId, topic: event.topic, value: hexRepr(hexToCV(event.valueHex)) },
      } satisfies EventOf<"smart_contract_log">;
    case "stx_transfer":
      return {
        ...base,
        event_type: "stx_asset",
        // The API sends a memo only when the transfer carried one.
        asset: {
          asset_event_type: "transfer",
          sender: event.sender,
          recipient: event.recipient,
          amount: event.amount.toString(),
          ...(event.memo ? { memo: `0x${event.memo}` } : {}),
        },
      } satisfies EventOf<"stx_asset">;
    case "stx_mint":
      return {
        ...base,
        event_type: "stx_asset",
        asset: { asset_event_type: "mint", sender: "", recipient: event.recipient, amount: event.amount.toString() },
      } satisfies EventOf<"stx_asset">;
    case "stx_burn":
      return {
        ...base,
        event_type: "stx_asset",
        asset: { asset_event_type: "burn", sender: event.sender, recipient: "", amount: event.amount.toString() },
      } satisfies EventOf<"stx_asset">;
    case "stx_lock":
      return {
        ...base,
        event_type: "stx_lock",
        stx_lock_event: { locked_amount: event.lockedAmount.toString(), unlock_height: event.unlockHeight, locked_address: event.lockedAddress },
      } satisfies EventOf<"stx_lock">;
    case "ft_transfer":
    case "ft_mint":
    case "ft_burn":
      return {
        ...base,
        event_type: "fungible_token_asset",
        asset: {
          asset_event_type: assetEventType(event.kind),
          asset_id: event.assetId,
          sender: "sender" in event ? event.sender : "",
          recipient: "recipient" in event ? event.recipient : "",
          amount: event.amount.toString(),
        },
      } satisfies EventOf<"fungible_token_asset">;
    case "nft_transfer":
    case "nft_mint":
    case "nft_burn":
      return {
        ...base,
        event_type: "non_fungible_token_asset",
        asset: {
          asset_event_type: assetEventType(event.kind),
          asset_id: event.assetId,
          sender: "sender" in event ? event.sender : "",
          recipient: "recipient" in event ? event.recipient : "",
          value: hexRepr(hexToCV(event.valueHex)),
        },
      } satisfies EventOf<"non_fungible_token_asset">;
  }
}

function assetEventType(kind: `${"ft" | "nft"}_${"transfer" | "mint" | "burn"}`): "transfer" | "mint" | "burn" {
  return kind.endsWith("transfer") ? "transfer" : kind.endsWith("mint") ? "mint" : "burn";
}

/**
 * What a block's inclusion of a transaction amounts to, as the API reports
 * it. A transaction marked `problematic_skipped` (POST /_local/faults) was
 * included but never executed: result `(err none)`, no events, no vm_error,
 * as the API stores such a transaction.
 */
export type Execution = {
  status: Inclusion["status"] | "problematic_skipped";
  result: { hex: string; repr: string };
  events: ChainEvent[];
  vmError: string | null;
};

const SKIPPED_RESULT = hexRepr(Cl.error(Cl.none()));

export function executionOf(record: TxRecord, inclusion: Inclusion): Execution {
  if (isProblematicSkipped(record)) return { status: "problematic_skipped", result: SKIPPED_RESULT, events: [], vmError: null };
  return { status: inclusion.status, result: hexRepr(inclusion.result), events: inclusion.events, vmError: inclusion.vmError };
}

/** The mempool status the API shows for a transaction not (or no longer) in a block. */
function mempoolStatusOf(record: TxRecord): ApiMempoolTransaction["tx_status"] {
  return record.mempoolStatus === "mined" ? "pending" : record.mempoolStatus;
}

function baseTransaction(record: TxRecord): Pick<
  ApiMempoolTransaction,
  "tx_id" | "nonce" | "fee_rate" | "sender_address" | "sponsored" | "post_condition_mode" | "post_conditions" | "anchor_mode"
> {
  return {
    tx_id: `0x${record.txid}`,
    nonce: Number(record.nonce),
    fee_rate: record.fee.toString(),
    sender_address: record.sender,
    sponsored: false,
    post_condition_mode: record.postConditionMode,
    post_conditions: record.postConditions.map(apiPostCondition),
    anchor_mode: record.anchorMode,
  };
}

type PayloadFields =
  | Pick<Extract<ApiMinedTransaction, { tx_type: "contract_call" }>, "tx_type" | "contract_call">
  | Pick<Extract<ApiMinedTransaction, { tx_type: "token_transfer" }>, "tx_type" | "token_transfer">;

function payloadFields(record: TxRecord, abiOf: AbiLookup): PayloadFields {
  const payload = record.payload;
  if (payload.kind === "token_transfer") {
    return {
      tx_type: "token_transfer",
      token_transfer: { recipient_address: payload.recipient, amount: payload.amount.toString(), memo: payload.memoHex },
    };
  }
  const fn = abiOf(payload.contractId, payload.functionName);
  return {
    tx_type: "contract_call",
    contract_call: {
      contract_id: payload.contractId,
      function_name: payload.functionName,
      function_signature: fn ? abiFunctionToString(fn) : "",
      function_args: payload.args.map((arg, i) => {
        const abiArg = fn?.args[i];
        return { ...hexRepr(arg), name: abiArg?.name ?? "", type: abiArg ? getTypeString(abiArg.type) : "" };
      }),
    },
  };
}

/** GET /extended/v1/tx/multiple and /extended/v1/tx/{txid}: the mined shape once executed, the mempool shape before. */
export function apiTransaction(
  view: TxView,
  abiOf: AbiLookup,
  page: { eventLimit: number; eventOffset: number },
): ApiMinedTransaction | ApiMempoolTransaction {
  const { record, inclusion, block } = view;
  if (!inclusion || !block) {
    return {
      ...baseTransaction(record),
      ...payloadFields(record, abiOf),
      tx_status: mempoolStatusOf(record),
      replaced_by_tx_id: record.replacedBy === null ? null : `0x${record.replacedBy}`,
      receipt_time: record.receiptTime,
      receipt_time_iso: iso(record.receiptTime),
    } satisfies ApiMempoolTransaction;
  }
  const execution = executionOf(record, inclusion);
  return {
    ...baseTransaction(record),
    ...payloadFields(record, abiOf),
    block_hash: `0x${block.hash}`,
    block_height: block.height,
    block_time: block.time,
    block_time_iso: iso(block.time),
    burn_block_height: block.burnBlockHeight,
    burn_block_time: block.time,
    burn_block_time_iso: iso(block.time),
    parent_burn_block_time: block.time,
    parent_burn_block_time_iso: iso(block.time),
    canonical: block.canonical,
    tx_index: inclusion.txIndex,
    tx_status: execution.status,
    tx_result: execution.result,
    event_count: execution.events.length,
    parent_block_hash: `0x${block.parentHash}`,
    is_unanchored: false,
    microblock_hash: "0x",
    microblock_sequence: MICROBLOCK_SEQUENCE_NONE,
    microblock_canonical: true,
    execution_cost_read_count: inclusion.costs.readCount,
    execution_cost_read_length: inclusion.costs.readLength,
    execution_cost_runtime: inclusion.costs.runtime,
    execution_cost_write_count: inclusion.costs.writeCount,
    execution_cost_write_length: inclusion.costs.writeLength,
    vm_error: execution.vmError,
    // Only the page's events are decoded: a list of transactions asks for each one's page.
    events: execution.events
      .slice(page.eventOffset, page.eventOffset + page.eventLimit)
      .map((event, i) => apiEvent(event, page.eventOffset + i, record.txid)),
  } satisfies ApiMinedTransaction;
}

type V3PayloadFields =
  | Pick<Extract<ApiV3MinedTransaction, { type: "contract_call" }>, "type" | "contract_call">
  | Pick<Extract<ApiV3MinedTransaction, { type: "token_transfer" }>, "type" | "token_transfer">;

/** The memo's text as the API prints it: its bytes up to the zero padding. */
function memoRepr(memoHex: string): string {
  const bytes = Buffer.from(memoHex.replace(/^0x/, ""), "hex");
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString("utf8");
}

function v3PayloadFields(record: TxRecord, include: readonly V3IncludeField[]): V3PayloadFields {
  const payload = record.payload;
  if (payload.kind === "token_transfer") {
    const empty = /^(0x)?0*$/.test(payload.memoHex);
    return {
      type: "token_transfer",
      token_transfer: {
        recipient: payload.recipient,
        amount: payload.amount.toString(),
        memo: empty ? null : { hex: payload.memoHex, repr: memoRepr(payload.memoHex) },
      },
    };
  }
  return {
    type: "contract_call",
    contract_call: {
      contract_id: payload.contractId,
      function_name: payload.functionName,
      ...(include.includes("function_args") ? { function_args: payload.args.map((arg) => hexRepr(arg)) } : {}),
    },
  };
}

/**
 * GET /extended/v3/transactions/{tx_id}: mined or mempool, heavy fields only
 * when asked for (`include`), as the API's v3 serializer builds it.
 * `receiptBlockHeight`: the chain's height when the transaction arrived.
 */
export function apiTransactionV3(
  view: TxView,
  include: readonly V3IncludeField[],
  receiptBlockHeight: number,
): ApiV3MinedTransaction | ApiV3MempoolTransaction {
  const { record, inclusion, block } = view;
  const common = {
    tx_id: `0x${record.txid}`,
    sender: { address: record.sender, nonce: Number(record.nonce) },
    sponsor: null,
    fee_rate: record.fee.toString(),
    ...(include.includes("post_conditions") ? { post_conditions: record.postConditions.map(apiPostCondition) } : {}),
    ...v3PayloadFields(record, include),
  };
  if (!inclusion || !block) {
    return {
      ...common,
      receipt_time: record.receiptTime,
      receipt_block_height: receiptBlockHeight,
      status: mempoolStatusOf(record),
      replaced_by_tx_id: record.replacedBy === null ? null : `0x${record.replacedBy}`,
    } satisfies ApiV3MempoolTransaction;
  }
  const execution = executionOf(record, inclusion);
  return {
    ...common,
    block: { height: block.height, hash: `0x${block.hash}`, index_hash: `0x${block.indexBlockHash}`, time: block.time, tx_index: inclusion.txIndex },
    bitcoin_block: { height: block.burnBlockHeight, time: block.time },
    status: execution.status,
    parent_block: { hash: `0x${block.parentHash}`, index_hash: `0x${block.parentIndexBlockHash}` },
    event_count: execution.events.length,
    execution_cost: {
      read_count: inclusion.costs.readCount,
      read_length: inclusion.costs.readLength,
      runtime: inclusion.costs.runtime,
      write_count: inclusion.costs.writeCount,
      write_length: inclusion.costs.writeLength,
    },
    vm_error: execution.vmError,
    ...(include.includes("result") ? { result: execution.result } : {}),
  } satisfies ApiV3MinedTransaction;
}

/**
 * GET /extended/v2/blocks/{height_or_hash}. `tenure_height`: simnet has no
 * tenures, and a tenure starts with a burn block, so the burn height stands in.
 */
export function apiNakamotoBlock(block: BlockRecord): ApiNakamotoBlock {
  return {
    canonical: block.canonical,
    height: block.height,
    hash: `0x${block.hash}`,
    block_time: block.time,
    block_time_iso: iso(block.time),
    tenure_height: block.burnBlockHeight,
    index_block_hash: `0x${block.indexBlockHash}`,
    parent_block_hash: `0x${block.parentHash}`,
    parent_index_block_hash: `0x${block.parentIndexBlockHash}`,
    burn_block_time: block.time,
    burn_block_time_iso: iso(block.time),
    burn_block_hash: `0x${block.burnBlockHash}`,
    burn_block_height: block.burnBlockHeight,
    miner_txid: `0x${"0".repeat(64)}`,
    tx_count: block.txids.length,
    execution_cost_read_count: block.costs.readCount,
    execution_cost_read_length: block.costs.readLength,
    execution_cost_runtime: block.costs.runtime,
    execution_cost_write_count: block.costs.writeCount,
    execution_cost_write_length: block.costs.writeLength,
  } satisfies ApiNakamotoBlock;
}

/** GET /extended/v1/block/by_height/{height} and /extended/v1/block/{hash} (both deprecated) */
export function apiBlockV1(block: BlockRecord): ApiBlockV1 {
  return {
    canonical: block.canonical,
    height: block.height,
    hash: `0x${block.hash}`,
    block_time: block.time,
    block_time_iso: iso(block.time),
    tenure_height: block.burnBlockHeight,
    index_block_hash: `0x${block.indexBlockHash}`,
    parent_block_hash: `0x${block.parentHash}`,
    burn_block_time: block.time,
    burn_block_time_iso: iso(block.time),
    burn_block_hash: `0x${block.burnBlockHash}`,
    burn_block_height: block.burnBlockHeight,
    miner_txid: `0x${"0".repeat(64)}`,
    parent_microblock_hash: "0x",
    parent_microblock_sequence: -1,
    txs: block.txids.map((txid) => `0x${txid}`),
    microblocks_accepted: [],
    microblocks_streamed: [],
    execution_cost_read_count: block.costs.readCount,
    execution_cost_read_length: block.costs.readLength,
    execution_cost_runtime: block.costs.runtime,
    execution_cost_write_count: block.costs.writeCount,
    execution_cost_write_length: block.costs.writeLength,
    microblock_tx_count: {},
  } satisfies ApiBlockV1;
}
