/**
 * POST /v2/transactions (stacks-node RPC), GET /extended/v1/tx/{txid} and
 * GET /extended/v1/tx/multiple?tx_id=… (Hiro API).
 *
 * The node takes either the raw transaction bytes (`application/octet-stream`)
 * or `{ tx: hex, attachment?: hex }` as JSON, which is what `broadcastTransaction`
 * of @stacks/transactions 7 sends. It answers 200 with the txid as a JSON
 * string (hex, no 0x) or 400 with the rejection object.
 */
import { hexToBytes } from "@stacks/common";
import type { TransactionFound, TransactionList } from "@stacks/stacks-blockchain-api-types";
import { z } from "zod";

import { apiTransaction } from "../apiShapes";
import { normalizeHash } from "../clarity";
import { HttpError, badRequest, json, parseJsonBody, parseQuery, type Route } from "../http";
import { SEGMENT, type ServerContext } from "./context";

const hexString = z.string().regex(/^(0x)?([0-9a-fA-F]{2})*$/, "must be hex");
const jsonBroadcast = z.object({ tx: hexString, attachment: hexString.optional() });

const eventPage = z.object({
  event_limit: z.coerce.number().int().min(0).max(100).default(20),
  event_offset: z.coerce.number().int().min(0).default(0),
});

function rawTransaction(contentType: string | undefined, body: Buffer): Uint8Array {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (type === "application/octet-stream") return new Uint8Array(body);
  if (type === "application/json") {
    const { tx } = parseJsonBody(jsonBroadcast, body);
    return hexToBytes(tx.replace(/^0x/, ""));
  }
  throw badRequest(`unsupported content-type ${JSON.stringify(contentType ?? "")}: use application/octet-stream or application/json`);
}

export function transactionRoutes({ chain, abiOf }: ServerContext): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/v2\/transactions\/?$/,
      handle: async ({ headers, body }) => {
        const result = await chain.submit(rawTransaction(headers["content-type"], body));
        return result.ok ? json(200, result.txid) : json(400, result.rejection);
      },
    },
    {
      // Several transactions at once, keyed by txid (TransactionList), as the Hiro API answers.
      method: "GET",
      pattern: /^\/extended\/v1\/tx\/multiple\/?$/,
      handle: ({ url }) => {
        const ids = url.searchParams.getAll("tx_id");
        if (ids.length === 0 || ids.length > 200) throw badRequest("tx_id must be given 1 to 200 times");
        const list: TransactionList = {};
        for (const id of ids) {
          const txid = normalizeHash(id);
          if (!txid) throw badRequest(`Invalid tx_id: ${id}`);
          const view = chain.txView(txid);
          list[`0x${txid}`] = view
            ? { found: true, result: apiTransaction(view, abiOf, { eventLimit: 0, eventOffset: 0 }) as TransactionFound["result"] }
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
