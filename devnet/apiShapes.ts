/**
 * Response bodies in the Hiro API's shapes, each checked at compile time
 * against @stacks/stacks-blockchain-api-types with `satisfies`.
 */
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { abiFunctionToString, getTypeString, hexToCV, type ClarityAbiFunction, type PostCondition } from "@stacks/transactions";

import { hexRepr } from "./clarity";
import type { TxView } from "./chain";
import type { ChainEvent } from "./events";
import type { BlockRecord, TxRecord } from "./records";

const MICROBLOCK_SEQUENCE_NONE = 2147483647;

/**
 * Fields the live API returns that the 7.14.1 type package does not declare:
 * `vm_error` (why an aborted transaction failed) and the `originator`
 * post-condition mode and `maybe_sent` NFT code of @stacks/transactions 7.6.
 */
type ApiPostCondition =
  | Api.PostCondition
  | (Omit<Api.PostConditionNonFungible, "condition_code"> & { condition_code: "maybe_sent" });
type PostConditionFields = {
  post_condition_mode: Api.PostConditionMode | "originator";
  post_conditions: ApiPostCondition[];
};
type WithPostConditions<T> = T extends unknown ? Omit<T, "post_condition_mode" | "post_conditions"> & PostConditionFields : never;
export type ApiMinedTransaction = WithPostConditions<Api.ContractCallTransaction | Api.TokenTransferTransaction> & {
  vm_error: string | null;
};
export type ApiMempoolTransaction = WithPostConditions<Api.MempoolContractCallTransaction | Api.MempoolTokenTransferTransaction>;

export type AbiLookup = (contractId: string, functionName: string) => ClarityAbiFunction | undefined;

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function principalOf(address: string): Api.PostConditionPrincipal {
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

const FUNGIBLE_CODES: Record<string, Api.PostConditionFungibleConditionCode> = {
  eq: "sent_equal_to",
  gt: "sent_greater_than",
  gte: "sent_greater_than_or_equal_to",
  lt: "sent_less_than",
  lte: "sent_less_than_or_equal_to",
};

function fungibleCode(condition: string): Api.PostConditionFungibleConditionCode {
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
      } satisfies Api.PostConditionStx;
    case "ft-postcondition":
      return {
        type: "fungible",
        condition_code: fungibleCode(pc.condition),
        amount: BigInt(pc.amount).toString(),
        asset: assetOf(pc.asset),
        principal: principalOf(pc.address),
      } satisfies Api.PostConditionFungible;
    case "nft-postcondition":
      return {
        type: "non_fungible",
        condition_code: pc.condition === "sent" ? "sent" : pc.condition === "not-sent" ? "not_sent" : "maybe_sent",
        asset_value: hexRepr(pc.assetId),
        asset: assetOf(pc.asset),
        principal: principalOf(pc.address),
      };
    default:
      throw new Error(`post-condition type ${pc.type} is not supported`);
  }
}

export function apiEvent(event: ChainEvent, eventIndex: number, txid: string): Api.TransactionEvent {
  const base = { event_index: eventIndex, tx_id: `0x${txid}` };
  switch (event.kind) {
    case "print":
      return {
        ...base,
        event_type: "smart_contract_log",
        contract_log: { contract_id: event.contractId, topic: event.topic, value: hexRepr(hexToCV(event.valueHex)) },
      } satisfies Api.TransactionEventSmartContractLog;
    case "stx_transfer":
      return {
        ...base,
        event_type: "stx_asset",
        asset: { asset_event_type: "transfer", sender: event.sender, recipient: event.recipient, amount: event.amount.toString(), memo: event.memo ? `0x${event.memo}` : "0x" },
      } satisfies Api.TransactionEventStxAsset;
    case "stx_mint":
      return {
        ...base,
        event_type: "stx_asset",
        asset: { asset_event_type: "mint", recipient: event.recipient, amount: event.amount.toString() },
      } satisfies Api.TransactionEventStxAsset;
    case "stx_burn":
      return {
        ...base,
        event_type: "stx_asset",
        asset: { asset_event_type: "burn", sender: event.sender, amount: event.amount.toString() },
      } satisfies Api.TransactionEventStxAsset;
    case "stx_lock":
      return {
        ...base,
        event_type: "stx_lock",
        stx_lock_event: { locked_amount: event.lockedAmount.toString(), unlock_height: event.unlockHeight, locked_address: event.lockedAddress },
      } satisfies Api.TransactionEventStxLock;
    case "ft_transfer":
    case "ft_mint":
    case "ft_burn":
      return {
        ...base,
        event_type: "fungible_token_asset",
        asset: {
          asset_event_type: event.kind.slice(3),
          asset_id: event.assetId,
          sender: "sender" in event ? event.sender : "",
          recipient: "recipient" in event ? event.recipient : "",
          amount: event.amount.toString(),
        },
      } satisfies Api.TransactionEventFungibleAsset;
    case "nft_transfer":
    case "nft_mint":
    case "nft_burn":
      return {
        ...base,
        event_type: "non_fungible_token_asset",
        asset: {
          asset_event_type: event.kind.slice(4),
          asset_id: event.assetId,
          sender: "sender" in event ? event.sender : "",
          recipient: "recipient" in event ? event.recipient : "",
          value: hexRepr(hexToCV(event.valueHex)),
        },
      } satisfies Api.TransactionEventNonFungibleAsset;
  }
}

function baseTransaction(record: TxRecord): Omit<Api.BaseTransaction, "post_condition_mode" | "post_conditions"> & PostConditionFields {
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

function payloadFields(
  record: TxRecord,
  abiOf: AbiLookup,
): Api.ContractCallTransactionMetadata | Api.TokenTransferTransactionMetadata {
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

/** GET /extended/v1/tx/{txid}: the mined shape once executed, the mempool shape before. */
export function apiTransaction(
  view: TxView,
  abiOf: AbiLookup,
  page: { eventLimit: number; eventOffset: number },
): ApiMinedTransaction | ApiMempoolTransaction {
  const { record, inclusion, block } = view;
  if (!inclusion || !block) {
    const mempoolStatus = record.mempoolStatus === "mined" ? "pending" : record.mempoolStatus;
    return {
      ...baseTransaction(record),
      ...payloadFields(record, abiOf),
      tx_status: mempoolStatus,
      receipt_time: record.receiptTime,
      receipt_time_iso: iso(record.receiptTime),
    } satisfies ApiMempoolTransaction;
  }
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
    tx_status: inclusion.status,
    tx_result: hexRepr(inclusion.result),
    event_count: inclusion.events.length,
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
    vm_error: inclusion.vmError,
    events: inclusion.events
      .map((event, index) => apiEvent(event, index, record.txid))
      .slice(page.eventOffset, page.eventOffset + page.eventLimit),
  } satisfies ApiMinedTransaction;
}

/** GET /extended/v2/blocks/{height_or_hash} */
export function apiNakamotoBlock(block: BlockRecord): Api.NakamotoBlock {
  return {
    canonical: block.canonical,
    height: block.height,
    hash: `0x${block.hash}`,
    block_time: block.time,
    block_time_iso: iso(block.time),
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
  } satisfies Api.NakamotoBlock;
}

/** GET /extended/v1/block/by_height/{height} and /extended/v1/block/{hash} */
export function apiBlockV1(block: BlockRecord): Api.Block {
  return {
    canonical: block.canonical,
    height: block.height,
    hash: `0x${block.hash}`,
    block_time: block.time,
    block_time_iso: iso(block.time),
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
  } satisfies Api.Block;
}
