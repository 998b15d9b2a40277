/**
 * zod schemas for the Stacks node / Hiro API responses the backend reads.
 * Each parses only the fields we use, and a compile-time check ties those
 * fields to the published response types, so a field we rely on cannot
 * silently drift from the real API:
 *
 * - the Hiro API's own routes (`/extended/...`) against the types of
 *   @stacks/blockchain-api-client, generated from the current API's OpenAPI
 *   description (operation ids such as `get_tx_list_details`);
 * - the node RPC it proxies (`/v2/...`), which that package does not
 *   describe, against @stacks/stacks-blockchain-api-types (frozen at 7.14,
 *   the last package that types the node's answers).
 *
 * Status lists are checked both ways: every status the API documents is
 * accepted (README, "Chain integration").
 */
import type { OperationResponse, paths } from "@stacks/blockchain-api-client";
import type {
  CoreNodeInfoResponse,
  ReadOnlyFunctionSuccessResponse,
  TransactionFeeEstimateResponse,
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
/** Compile-time: the same set of values both ways (for enumerations we must accept in full). */
type Same<Ours, Official> = [Ours] extends [Official] ? ([Official] extends [Ours] ? true : false) : false;
function conforms<_Check extends true>(): void {}

// The published response types we check against, by operation id.
type TxLookupEntry = OperationResponse["get_tx_list_details"][string];
type FoundTransaction = Extract<TxLookupEntry, { found: true }>["result"];
/** Every mined transaction type (contract call, transfer, deploy, coinbase, ...). */
type OfficialMinedTransaction = Extract<FoundTransaction, { block_height: number }>;
type OfficialMempoolTransaction = Exclude<FoundTransaction, OfficialMinedTransaction>;
type OfficialContractEvent = OperationResponse["get_contract_events_by_id"]["results"][number];
type OfficialContractLogsPage = OperationResponse["get_smart_contract_logs"];
type OfficialStatus = OperationResponse["get_status"];
type OfficialContractLog = Extract<OfficialContractEvent, { event_type: "smart_contract_log" }>;
type OfficialNonces = OperationResponse["get_principal_nonces"];
type OfficialNakamotoBlock = OperationResponse["get_block"];
/** The 4XX body every API route declares (a 410 from a switched-off route included). */
type OfficialClientError = paths["/extended/v2/smart-contracts/{contract_id}/logs"]["get"]["responses"]["4XX"]["content"]["application/json"];

export const coreInfoSchema = z.object({
  stacks_tip_height: z.number().int().nonnegative(),
  burn_block_height: z.number().int().nonnegative(),
});
conforms<Conforms<z.infer<typeof coreInfoSchema>, CoreNodeInfoResponse>>();

const txid = z.string().regex(/^0x[0-9a-f]{64}$/, "must be a 0x-prefixed lowercase 32-byte hex txid");

export const smartContractLogSchema = z.object({
  event_index: z.number().int().nonnegative(),
  event_type: z.literal("smart_contract_log"),
  tx_id: txid,
  contract_log: z.object({
    contract_id: z.string(),
    topic: z.string(),
    value: z.object({ hex: z.string().regex(/^0x[0-9a-f]*$/), repr: z.string() }),
  }),
});
conforms<Conforms<z.infer<typeof smartContractLogSchema>, OfficialContractLog>>();

/** An event position, `block_height:microblock_sequence:tx_index:event_index`, as the API's cursors spell it. */
export const LOG_CURSOR_PATTERN = /^[0-9]+:[0-9]+:[0-9]+:[0-9]+$/;
const logCursor = z.string().regex(LOG_CURSOR_PATTERN, "must be block_height:microblock_sequence:tx_index:event_index");

/**
 * GET /extended/v2/smart-contracts/{id}/logs: newest first; `cursor` is the
 * position of results[0], `next_cursor` the top of the next newer full page,
 * `prev_cursor` the top of the next older one (README "Chain integration").
 * Only print logs are listed, so every element must be a complete one.
 */
export const contractLogsPageSchema = z.object({
  limit: z.number().int(),
  offset: z.number().int(),
  total: z.number().int().nonnegative(),
  next_cursor: logCursor.nullable(),
  prev_cursor: logCursor.nullable(),
  cursor: logCursor.nullable(),
  results: z.array(smartContractLogSchema),
});
conforms<Conforms<z.infer<typeof contractLogsPageSchema>, OfficialContractLogsPage>>();

/**
 * GET /extended: the block the API's indexer has reached. `chain_tip` is
 * left out (or null) while it has indexed nothing.
 */
export const apiStatusSchema = z.object({
  chain_tip: z
    .object({
      block_height: z.number().int().nonnegative(),
      block_hash: z.string(),
      burn_block_height: z.number().int().nonnegative(),
    })
    .nullish(),
});
// `chain_tip` is checked field by field: the schema keeps fewer of its fields than the published object has.
conforms<[keyof z.infer<typeof apiStatusSchema>] extends [keyof OfficialStatus] ? true : false>();
conforms<Conforms<NonNullable<z.infer<typeof apiStatusSchema>["chain_tip"]>, NonNullable<OfficialStatus["chain_tip"]>>>();

/**
 * Mined: ran (`success`), aborted, or — from Epoch 4.0 — `problematic_skipped`:
 * included in a block but never executed (fee paid, nonce spent, no events).
 */
export const MINED_TX_STATUSES = ["success", "abort_by_response", "abort_by_post_condition", "problematic_skipped"] as const;
/** Not mined: waiting, or dropped from the mempool for one of these reasons. */
export const MEMPOOL_TX_STATUSES = [
  "pending",
  "dropped_replace_by_fee",
  "dropped_replace_across_fork",
  "dropped_too_expensive",
  "dropped_stale_garbage_collect",
  "dropped_problematic",
] as const;
export type MinedTxStatus = (typeof MINED_TX_STATUSES)[number];
export type MempoolTxStatus = (typeof MEMPOOL_TX_STATUSES)[number];
conforms<Same<MinedTxStatus, OfficialMinedTransaction["tx_status"]>>();
conforms<Same<MempoolTxStatus, OfficialMempoolTransaction["tx_status"]>>();

/** Only `success` ran: an aborted or skipped transaction's events never happened. */
export function ranSuccessfully(status: MinedTxStatus): boolean {
  return status === "success";
}

/** Dropped from the mempool: it will not be mined unless sent again. */
export function isDropped(status: MempoolTxStatus): boolean {
  return status !== "pending";
}

export const minedTransactionSchema = z.object({
  tx_id: z.string(),
  tx_status: z.enum(MINED_TX_STATUSES),
  nonce: z.number().int().nonnegative(),
  fee_rate: z.string(),
  sender_address: z.string(),
  block_height: z.number().int().nonnegative(),
  block_hash: z.string(),
  tx_index: z.number().int().nonnegative(),
  canonical: z.boolean(),
  tx_result: z.object({ hex: z.string(), repr: z.string() }),
});
conforms<Conforms<z.infer<typeof minedTransactionSchema>, OfficialMinedTransaction>>();

export const mempoolTransactionSchema = z.object({
  tx_id: z.string(),
  tx_status: z.enum(MEMPOOL_TX_STATUSES),
  nonce: z.number().int().nonnegative(),
  fee_rate: z.string(),
  sender_address: z.string(),
});
conforms<Conforms<z.infer<typeof mempoolTransactionSchema>, OfficialMempoolTransaction>>();

export const transactionSchema = z.union([minedTransactionSchema, mempoolTransactionSchema]);
export type TransactionInfo = z.infer<typeof transactionSchema>;

/**
 * A mined transaction with its whole place on the chain, as the event sync
 * needs it: the burn block its tenure is anchored to (confirmations and the
 * reorg window count burn blocks), and the microblock sequence that, with
 * the block height, tx index and event index, makes an event's log cursor.
 */
export const placedTransactionSchema = minedTransactionSchema.extend({
  burn_block_height: z.number().int().nonnegative(),
  microblock_sequence: z.number().int().nonnegative(),
});
conforms<Conforms<z.infer<typeof placedTransactionSchema>, OfficialMinedTransaction>>();
export type PlacedTransactionInfo = z.infer<typeof placedTransactionSchema> | z.infer<typeof mempoolTransactionSchema>;

/** GET /extended/v1/tx/multiple read for the event sync: mined transactions with their place. */
export const placedTransactionListSchema = z.record(
  z.string(),
  z.discriminatedUnion("found", [
    z.object({ found: z.literal(true), result: z.union([placedTransactionSchema, mempoolTransactionSchema]) }),
    z.object({ found: z.literal(false), result: z.object({ tx_id: z.string() }) }),
  ]),
);

/** GET /extended/v1/tx/multiple: each requested txid, found or not. */
export const transactionListSchema = z.record(
  z.string(),
  z.discriminatedUnion("found", [
    z.object({ found: z.literal(true), result: transactionSchema }),
    z.object({ found: z.literal(false), result: z.object({ tx_id: z.string() }) }),
  ]),
);
conforms<Same<z.infer<typeof transactionListSchema>[string]["found"], TxLookupEntry["found"]>>();

/** GET /extended/v3/principals/{principal}/nonces (a standard address only). */
export const noncesSchema = z.object({
  next_nonce: z.number().int().nonnegative(),
  last_confirmed_nonce: z.number().int().nonnegative().nullable(),
  mempool: z.object({
    last_nonce: z.number().int().nonnegative().nullable(),
    pending_nonces: z.array(z.number().int().nonnegative()),
    missing_nonces: z.array(z.number().int().nonnegative()),
  }),
});
conforms<Conforms<z.infer<typeof noncesSchema>, OfficialNonces>>();

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
  /** The burn block whose tenure holds it: confirmations count in burn blocks. */
  burn_block_height: z.number().int().nonnegative(),
});
conforms<Conforms<z.infer<typeof blockSchema>, OfficialNakamotoBlock>>();

/**
 * What the API answers on a route it has switched off: 410 with
 * `{ "error": "Gone", "message": "This endpoint has been disabled. …" }`
 * (the API's 4XX body). A 410 whose body is something else is still a 410.
 */
export const goneSchema = z.object({ error: z.string(), message: z.string().optional() });
conforms<Conforms<z.infer<typeof goneSchema>, OfficialClientError>>();

/** What a node answers when it refuses a broadcast. */
export const broadcastRejectionSchema = z.object({
  error: z.string(),
  reason: z.string().optional(),
  reason_data: z.unknown().optional(),
  txid: z.string().optional(),
});
export const broadcastAcceptedSchema = z.string().regex(/^(0x)?[0-9a-f]{64}$/);
