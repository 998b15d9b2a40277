/**
 * POST /v2/transactions (stacks-node RPC), GET /extended/v1/tx/{txid} and
 * GET /extended/v1/tx/multiple?tx_id=… (Hiro API, `src/api/routes/v1/tx.ts`).
 *
 * The node takes either the raw transaction bytes (`application/octet-stream`)
 * or `{ tx: hex, attachment?: hex }` as JSON, which is what `broadcastTransaction`
 * of @stacks/transactions 7 sends. It answers 200 with the txid as a JSON
 * string (hex, no 0x), 400 with the JSON rejection object when the mempool
 * refuses the transaction, and a `text/plain` 400 "Failed to decode: ..."
 * when the request itself cannot be read (no body, a wrong content type, a
 * body that is not a transaction), with stacks-core's messages
 * (`net/api/posttransaction.rs`).
 */
import { hexToBytes } from "@stacks/common";
import type { OperationResponse } from "@stacks/blockchain-api-client";
import { z } from "zod";

import { undecodableTransaction } from "../admission";
import { apiTransaction } from "../apiShapes";
import { normalizeHash } from "../clarity";
import { HttpError, badRequest, json, parseQuery, undecodable, type Reply, type Route } from "../http";
import { SEGMENT, type ServerContext } from "./context";

/** GET /extended/v1/tx/multiple as the API publishes it: found or not, keyed by txid. */
type TransactionList = OperationResponse["get_tx_list_details"];
type FoundTransaction = Extract<TransactionList[string], { found: true }>["result"];

const hexString = z.string().regex(/^(0x)?([0-9a-fA-F]{2})*$/, "must be hex");
/** serde's view of the body: strings, whose hex is checked after (tx first, as the node does). */
const jsonBroadcast = z.object({ tx: z.string(), attachment: z.string().nullish() });

const eventPage = z.object({
  event_limit: z.coerce.number().int().min(0).max(100).default(20),
  event_offset: z.coerce.number().int().min(0).default(0),
});


/** The transaction bytes of a broadcast request, or the node's text/plain refusal of the request. */
function rawTransaction(contentType: string | undefined, body: Buffer): Uint8Array | Reply {
  if (body.length === 0) return undecodable("Invalid Http request: expected non-zero-length body for PostTransaction");
  if (contentType === undefined) return undecodable("Missing Content-Type for transaction");
  const type = contentType.split(";")[0]?.trim().toLowerCase();
  if (type === "application/octet-stream") return new Uint8Array(body);
  if (type === "application/json") {
    let value: unknown;
    try {
      value = JSON.parse(body.toString("utf8"));
    } catch {
      return undecodable("Failed to parse body");
    }
    const parsed = jsonBroadcast.safeParse(value);
    if (!parsed.success) return undecodable("Failed to parse body");
    const { tx, attachment } = parsed.data;
    if (!hexString.safeParse(tx).success) return undecodable("Failed to parse tx");
    if (attachment != null && !hexString.safeParse(attachment).success) return undecodable("Failed to parse attachment");
    return hexToBytes(tx.replace(/^0x/, ""));
  }
  return undecodable("Wrong Content-Type for transaction; expected application/json or application/octet-stream");
}

export function transactionRoutes({ chain, abiOf }: ServerContext): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/v2\/transactions\/?$/,
      handle: async ({ headers, body }) => {
        const raw = rawTransaction(headers["content-type"], body);
        if (!(raw instanceof Uint8Array)) return raw;
        const unreadable = undecodableTransaction(raw);
        if (unreadable) return undecodable(unreadable);
        const result = await chain.submit(raw);
        return result.ok ? json(200, result.txid) : json(400, result.rejection);
      },
    },
    {
      // Several transactions at once, keyed by txid (TransactionList), as the Hiro API answers:
      // `tx_id` repeated or comma-separated, each with its first `event_limit` (default 20) events.
      method: "GET",
      pattern: /^\/extended\/v1\/tx\/multiple\/?$/,
      handle: ({ url }) => {
        const ids = url.searchParams.getAll("tx_id").flatMap((value) => value.split(","));
        const page = parseQuery(eventPage, url);
        // The API caps neither the ids nor the URL's length (its gateway may): neither does this.
        if (ids.length === 0) throw badRequest("querystring must have required property 'tx_id'");
        const list: TransactionList = {};
        for (const id of ids) {
          const txid = normalizeHash(id);
          if (!txid) throw badRequest(`Invalid tx_id: ${id}`);
          const view = chain.txView(txid);
          list[`0x${txid}`] = view
            ? { found: true, result: apiTransaction(view, abiOf, { eventLimit: page.event_limit, eventOffset: page.event_offset }) as FoundTransaction }
            : { found: false, result: { tx_id: `0x${txid}` } };
        }
        return json(200, list);
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/tx/${SEGMENT}/?$`),
      handle: ({ params, url }) => {
        const txid = normalizeHash(params[0] ?? "");
        if (!txid) throw badRequest(`Invalid tx_id: ${params[0]}`);
        const page = parseQuery(eventPage, url);
        const view = chain.txView(txid);
        if (!view) throw new HttpError(404, { error: `could not find transaction by ID 0x${txid}` });
        return json(200, apiTransaction(view, abiOf, { eventLimit: page.event_limit, eventOffset: page.event_offset }));
      },
    },
  ];
}
