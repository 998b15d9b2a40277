/**
 * Decoding and the stateless admission checks of `POST /v2/transactions`,
 * with the node's rejection shape (stacks-core `MemPoolRejection::into_json`):
 * `{ error: "transaction rejected", reason, reason_data?, txid }`.
 */
import { bytesToHex, utf8ToBytes } from "@stacks/common";
import { ChainId, STACKS_TESTNET, TransactionVersion } from "@stacks/network";
import type { PostCoreNodeTransactionsError } from "@stacks/stacks-blockchain-api-types";
import {
  AnchorMode,
  AuthType,
  PayloadType,
  PostConditionMode,
  addressFromVersionHash,
  addressHashModeToVersion,
  addressToString,
  deserializeTransaction,
  txidFromData,
  wireToPostCondition,
  type PostConditionWire,
  type StacksTransactionWire,
} from "@stacks/transactions";

import { messageOf } from "./errors";
import type { DecodedTx, TxPayload } from "./records";

/** The node leaves `reason_data` out for reasons that carry none (e.g. ConflictingNonceInMempool). */
export type NodeRejection = Omit<PostCoreNodeTransactionsError, "reason_data"> &
  Partial<Pick<PostCoreNodeTransactionsError, "reason_data">>;

/** stacks-core's MINIMUM_TX_FEE_RATE_PER_BYTE: the minimum relay fee is one microSTX per byte. */
export const MIN_FEE_PER_BYTE = 1n;

export function rejection(txid: string, reason: string, reasonData?: Record<string, unknown>): NodeRejection {
  const body: NodeRejection = { error: "transaction rejected", reason, txid };
  if (reasonData) body.reason_data = reasonData;
  return body;
}

export type DecodeResult = { ok: true; tx: DecodedTx } | { ok: false; rejection: NodeRejection };

function anchorModeName(mode: AnchorMode): DecodedTx["anchorMode"] {
  switch (mode) {
    case AnchorMode.OnChainOnly:
      return "on_chain_only";
    case AnchorMode.OffChainOnly:
      return "off_chain_only";
    default:
      return "any";
  }
}

function postConditionModeName(mode: PostConditionMode): DecodedTx["postConditionMode"] {
  switch (mode) {
    case PostConditionMode.Allow:
      return "allow";
    case PostConditionMode.Originator:
      return "originator";
    default:
      return "deny";
  }
}

export function originAddress(wire: StacksTransactionWire): string {
  const condition = wire.auth.spendingCondition;
  const version = addressHashModeToVersion(condition.hashMode, STACKS_TESTNET);
  return addressToString(addressFromVersionHash(version, condition.signer));
}

function payloadOf(wire: StacksTransactionWire): TxPayload | string {
  const payload = wire.payload;
  switch (payload.payloadType) {
    case PayloadType.ContractCall:
      return {
        kind: "contract_call",
        contractId: `${addressToString(payload.contractAddress)}.${payload.contractName.content}`,
        functionName: payload.functionName.content,
        args: payload.functionArgs,
      };
    case PayloadType.TokenTransfer: {
      const recipient = payload.recipient;
      if (recipient.type !== "address" && recipient.type !== "contract") return "token transfer recipient is not a principal";
      const memo = utf8ToBytes(payload.memo.content);
      const padded = new Uint8Array(34);
      padded.set(memo.slice(0, 34));
      return { kind: "token_transfer", recipient: recipient.value, amount: payload.amount, memoHex: `0x${bytesToHex(padded)}` };
    }
    default:
      return `payload type ${PayloadType[payload.payloadType]} is not supported by the local server (contract calls and STX transfers only)`;
  }
}

/**
 * Why the node would not even read these bytes as a transaction, or null.
 * stacks-core decodes the body while parsing the request, before any mempool
 * check, and a failure there is answered as a `text/plain` 400
 * "Failed to decode: ..." (`net/api/posttransaction.rs`, `net/http/mod.rs`),
 * not as a JSON rejection; routes/transactions.ts answers it that way.
 */
export function undecodableTransaction(raw: Uint8Array): string | null {
  try {
    deserializeTransaction(raw);
    return null;
  } catch (error) {
    return `Failed to deserialize posted transaction: ${messageOf(error)}`;
  }
}

/**
 * Deserializes raw transaction bytes and checks what needs no chain state:
 * network (version and chain id), origin signature, minimum fee, payload type.
 * Bytes that do not deserialize at all are answered over HTTP before this
 * runs (`undecodableTransaction`); the JSON Deserialization rejection here is
 * for in-process submissions.
 */
export function decodeTransaction(raw: Uint8Array): DecodeResult {
  let wire: StacksTransactionWire;
  try {
    wire = deserializeTransaction(raw);
  } catch (error) {
    return { ok: false, rejection: rejection(txidFromData(raw), "Deserialization", { message: messageOf(error) }) };
  }
  const txid = wire.txid();
  if (wire.serializeBytes().length !== raw.length) {
    return { ok: false, rejection: rejection(txid, "Deserialization", { message: "trailing bytes after the transaction" }) };
  }
  if (wire.transactionVersion !== TransactionVersion.Testnet || wire.chainId !== ChainId.Testnet) {
    return { ok: false, rejection: rejection(txid, "BadTransactionVersion") };
  }
  if (wire.auth.authType !== AuthType.Standard) {
    return {
      ok: false,
      rejection: rejection(txid, "ServerFailureOther", { message: "sponsored transactions are not supported by the local server" }),
    };
  }
  try {
    wire.verifyOrigin();
  } catch (error) {
    return { ok: false, rejection: rejection(txid, "SignatureValidation", { message: messageOf(error) }) };
  }
  const fee = wire.auth.spendingCondition.fee;
  const minimumFee = BigInt(raw.length) * MIN_FEE_PER_BYTE;
  if (fee < minimumFee) {
    return { ok: false, rejection: rejection(txid, "FeeTooLow", { expected: Number(minimumFee), actual: Number(fee) }) };
  }
  const payload = payloadOf(wire);
  if (typeof payload === "string") return { ok: false, rejection: rejection(txid, "ServerFailureOther", { message: payload }) };
  const postConditions = wire.postConditions.values.map((pc) => wireToPostCondition(pc as PostConditionWire));
  const unsupported = postConditions.find((pc) => pc.type === "staking-postcondition" || pc.type === "pox-postcondition");
  if (unsupported) {
    return {
      ok: false,
      rejection: rejection(txid, "ServerFailureOther", { message: `${unsupported.type} is not supported by the local server` }),
    };
  }
  return {
    ok: true,
    tx: {
      txid,
      raw,
      wire,
      sender: originAddress(wire),
      nonce: wire.auth.spendingCondition.nonce,
      fee,
      anchorMode: anchorModeName(wire.anchorMode),
      postConditionMode: postConditionModeName(wire.postConditionMode),
      postConditions,
      payload,
    },
  };
}
