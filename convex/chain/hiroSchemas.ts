/**
 * zod schemas for the Stacks node / Hiro API responses the backend reads.
 * Each parses only the fields we use, and a compile-time check ties those
 * fields to the official API types (@stacks/stacks-blockchain-api-types), so
 * a field we rely on cannot silently drift from the real API.
 */
import type {
  AddressNonces,
  ContractCallTransaction,
  CoreNodeInfoResponse,
  MempoolContractCallTransaction,
  MempoolTransactionStatus,
  NakamotoBlock,
  ReadOnlyFunctionSuccessResponse,
  TransactionEventSmartContractLog,
  TransactionFeeEstimateResponse,
  TransactionStatus,
} from "@stacks/stacks-blockchain-api-types";
import { z } from "zod";

/**
 * Compile-time: every field we parse exists in the official type, with a type
 * the official one accepts. `conforms<false>()` does not compile.
 */
type Conforms<Ours, Official> = [keyof Ours] extends [keyof Official]
  ? Ours extends Pick<Official, keyof Ours & keyof Official>
    ? true
    : false
  : false;
function conforms<_Check extends true>(): void {}

export const coreInfoSchema = z.object({
  stacks_tip_height: z.number().int().nonnegative(),
  burn_block_height: z.number().int().nonnegative(),
});
conforms<Conforms<z.infer<typeof coreInfoSchema>, CoreNodeInfoResponse>>();

export const smartContractLogSchema = z.object({
  event_index: z.number().int().nonnegative(),
  event_type: z.literal("smart_contract_log"),
  tx_id: z.string().regex(/^0x[0-9a-f]{64}$/),
  contract_log: z.object({
    contract_id: z.string(),
    topic: z.string(),
    value: z.object({ hex: z.string().regex(/^0x[0-9a-f]*$/), repr: z.string() }),
  }),
});
conforms<Conforms<z.infer<typeof smartContractLogSchema>, TransactionEventSmartContractLog>>();

export const contractEventsPageSchema = z.object({
  limit: z.number().int(),
  offset: z.number().int(),
  // Other event types can appear for a contract; the sync keeps only print logs.
  results: z.array(z.union([smartContractLogSchema, z.object({ event_type: z.string() }).loose()])),
});

const confirmedStatus = z.enum(["success", "abort_by_response", "abort_by_post_condition"]);
const mempoolStatus = z.enum([
  "pending",
  "dropped_replace_by_fee",
  "dropped_replace_across_fork",
  "dropped_too_expensive",
  "dropped_stale_garbage_collect",
  "dropped_problematic",
]);
conforms<Conforms<{ s: z.infer<typeof confirmedStatus> }, { s: TransactionStatus }>>();
conforms<Conforms<{ s: z.infer<typeof mempoolStatus> }, { s: MempoolTransactionStatus }>>();

export const minedTransactionSchema = z.object({
  tx_id: z.string(),
  tx_status: confirmedStatus,
  nonce: z.number().int().nonnegative(),
  fee_rate: z.string(),
  sender_address: z.string(),
  block_height: z.number().int().nonnegative(),
  block_hash: z.string(),
  tx_index: z.number().int().nonnegative(),
  canonical: z.boolean(),
  tx_result: z.object({ hex: z.string(), repr: z.string() }),
});
conforms<Conforms<z.infer<typeof minedTransactionSchema>, ContractCallTransaction>>();

export const mempoolTransactionSchema = z.object({
  tx_id: z.string(),
  tx_status: mempoolStatus,
  nonce: z.number().int().nonnegative(),
  fee_rate: z.string(),
  sender_address: z.string(),
});
conforms<Conforms<z.infer<typeof mempoolTransactionSchema>, MempoolContractCallTransaction>>();

export const transactionSchema = z.union([minedTransactionSchema, mempoolTransactionSchema]);
export type TransactionInfo = z.infer<typeof transactionSchema>;

/** GET /extended/v1/tx/multiple: each requested txid, found or not (TransactionList). */
export const transactionListSchema = z.record(
  z.string(),
  z.union([
    z.object({ found: z.literal(true), result: transactionSchema }),
    z.object({ found: z.literal(false), result: z.object({ tx_id: z.string() }) }),
  ]),
);

export const noncesSchema = z.object({
  possible_next_nonce: z.number().int().nonnegative(),
  last_executed_tx_nonce: z.number().int().nullable(),
  last_mempool_tx_nonce: z.number().int().nullable(),
  detected_missing_nonces: z.array(z.number().int()),
});
conforms<Conforms<Omit<z.infer<typeof noncesSchema>, "last_executed_tx_nonce" | "last_mempool_tx_nonce">, AddressNonces>>();

export const feeEstimateSchema = z.object({
  estimations: z.array(z.object({ fee: z.number().nonnegative(), fee_rate: z.number().optional() })).min(1),
});
conforms<Conforms<z.infer<typeof feeEstimateSchema>, TransactionFeeEstimateResponse>>();

export const readOnlyResponseSchema = z.union([
  z.object({ okay: z.literal(true), result: z.string().regex(/^0x[0-9a-f]*$/) }),
  z.object({ okay: z.literal(false), cause: z.string() }),
]);
conforms<Conforms<{ okay: boolean; result: string; cause: string }, ReadOnlyFunctionSuccessResponse>>();

export const blockSchema = z.object({
  height: z.number().int().nonnegative(),
  hash: z.string(),
  index_block_hash: z.string(),
  canonical: z.boolean(),
});
conforms<Conforms<z.infer<typeof blockSchema>, NakamotoBlock>>();

/** What a node answers when it refuses a broadcast. */
export const broadcastRejectionSchema = z.object({
  error: z.string(),
  reason: z.string().optional(),
  reason_data: z.unknown().optional(),
  txid: z.string().optional(),
});
export const broadcastAcceptedSchema = z.string().regex(/^(0x)?[0-9a-f]{64}$/);
