/**
 * GET /extended/v3/transactions/{tx_id} (Hiro API), the replacement of the
 * deprecated GET /extended/v1/tx/{tx_id}: a mined transaction with its block,
 * or the mempool entry (pending or dropped); heavy fields only with
 * `?include=` (repeated or comma-separated: function_args, source_code,
 * post_conditions, result). Errors in the API's own format:
 * 400 `{ statusCode, code: "FST_ERR_VALIDATION", error, message }` for a
 * malformed id or include, 404 `{ statusCode, error: "Not Found", message:
 * "Transaction not found" }`.
 */
import { HttpError, json, type Route } from "../http";
import { apiTransactionV3, V3_INCLUDE_FIELDS, type V3IncludeField } from "../apiShapes";
import type { LocalChain } from "../chain";
import type { TxRecord } from "../records";
import { SEGMENT, type ServerContext } from "./context";

/** The API's tx_id parameter pattern (0x optional, either case). */
const TX_ID_PATTERN = "^(0x)?[a-fA-F0-9]{64}$";

/** A request the API's schema validation refuses, in its answer's format. */
export function validationError(message: string): HttpError {
  return new HttpError(400, { statusCode: 400, code: "FST_ERR_VALIDATION", error: "Bad Request", message });
}

export function notFound(message: string): HttpError {
  return new HttpError(404, { statusCode: 404, error: "Not Found", message });
}

function includeFields(url: URL): V3IncludeField[] {
  const asked = url.searchParams.getAll("include").flatMap((value) => value.split(","));
  const fields: V3IncludeField[] = [];
  for (const [index, field] of asked.entries()) {
    if (!(V3_INCLUDE_FIELDS as readonly string[]).includes(field)) {
      throw validationError(`querystring/include/${index} must be equal to one of the allowed values`);
    }
    if (fields.includes(field as V3IncludeField)) {
      throw validationError("querystring/include must NOT have duplicate items");
    }
    fields.push(field as V3IncludeField);
  }
  return fields;
}

/**
 * The chain's height when each transaction arrived over POST /v2/transactions
 * (the records keep their receipt time on the wall clock, while block times
 * are simnet's own clock, so the two cannot be matched afterwards).
 */
const receiptHeights = new WeakMap<TxRecord, number>();

/** Called by the server for every accepted broadcast (`txid` as the node answers it, no 0x). */
export function noteBroadcast(chain: LocalChain, txid: string): void {
  const record = chain.mempool.get(txid.replace(/^0x/, "").toLowerCase());
  if (record && !receiptHeights.has(record)) receiptHeights.set(record, chain.blocks.tip.height);
}

/** A transaction the server submitted itself (the vault's set-up) arrived at the current tip, as far as it can tell. */
function receiptHeight(chain: LocalChain, record: TxRecord): number {
  return receiptHeights.get(record) ?? chain.blocks.tip.height;
}

export function transactionV3Routes({ chain }: ServerContext): Route[] {
  return [
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v3/transactions/${SEGMENT}/?$`),
      handle: ({ params, url }) => {
        const id = params[0] as string;
        if (!new RegExp(TX_ID_PATTERN).test(id)) throw validationError(`params/tx_id must match pattern "${TX_ID_PATTERN}"`);
        const include = includeFields(url);
        const view = chain.txView(id.replace(/^0x/, "").toLowerCase());
        if (!view) throw notFound("Transaction not found");
        return json(200, apiTransactionV3(view, include, receiptHeight(chain, view.record)));
      },
    },
  ];
}
