/** What the server remembers about transactions and blocks. */
import type { ClarityValue, PostCondition, StacksTransactionWire } from "@stacks/transactions";

import type { ChainEvent } from "./events";
import type { PostConditionModeName } from "./postConditions";

export type TxPayload =
  | { kind: "contract_call"; contractId: string; functionName: string; args: ClarityValue[] }
  | { kind: "token_transfer"; recipient: string; amount: bigint; memoHex: string };

/** A transaction that passed decoding and signature checks. */
export type DecodedTx = {
  /** lowercase hex, no 0x */
  txid: string;
  raw: Uint8Array;
  wire: StacksTransactionWire;
  sender: string;
  nonce: bigint;
  fee: bigint;
  anchorMode: "on_chain_only" | "off_chain_only" | "any";
  postConditionMode: PostConditionModeName;
  postConditions: PostCondition[];
  payload: TxPayload;
};

export type MempoolStatus = "pending" | "mined" | "dropped_replace_by_fee" | "dropped_stale_garbage_collect";

export type ExecutionCosts = {
  readCount: number;
  readLength: number;
  runtime: number;
  writeCount: number;
  writeLength: number;
};

export const ZERO_COSTS: ExecutionCosts = { readCount: 0, readLength: 0, runtime: 0, writeCount: 0, writeLength: 0 };

export type TxStatus = "success" | "abort_by_response" | "abort_by_post_condition";

/** One execution of a transaction in one block (a reorg with re-inclusion adds a second). */
export type Inclusion = {
  blockHash: string;
  txIndex: number;
  status: TxStatus;
  result: ClarityValue;
  /** Events of a successful execution; aborted transactions keep none. */
  events: ChainEvent[];
  costs: ExecutionCosts;
  /** Why the transaction aborted: the post-condition failure or the runtime error. */
  vmError: string | null;
};

export type TxRecord = DecodedTx & {
  /** unix seconds */
  receiptTime: number;
  /** order of arrival, for deterministic block assembly */
  receiptSeq: number;
  mempoolStatus: MempoolStatus;
  replacedBy: string | null;
  inclusions: Inclusion[];
};

export type BlockRecord = {
  height: number;
  /** lowercase hex, no 0x */
  hash: string;
  indexBlockHash: string;
  parentHash: string;
  parentIndexBlockHash: string;
  burnBlockHeight: number;
  burnBlockHash: string;
  /** unix seconds */
  time: number;
  canonical: boolean;
  txids: string[];
  costs: ExecutionCosts;
};
