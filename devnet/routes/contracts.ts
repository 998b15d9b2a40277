/**
 * GET /extended/v2/smart-contracts/{contract_id}/logs and the deprecated
 * GET /extended/v1/contract/{contract_id}/events (Hiro API), and
 * POST /v2/contracts/call-read/{address}/{contract}/{function} (stacks-node RPC).
 *
 * Logs: the contract's print events in canonical blocks, newest first (block
 * height, microblock sequence, tx index, event index, all descending, as the
 * API's `getSmartContractEvents` query orders them), as of the block the
 * API's indexer has reached (POST /_local/indexer-lag). v2 pages by cursor
 * exactly as the API does (devnet/contractLogIndex.ts): `limit` 1–100
 * (0 or absent: 20), `offset` -1000–1000 from the cursor's row (negative:
 * the database's 500), `cursor` = `block_height:microblock_sequence:tx_index:
 * event_index`; `next_cursor` is the top of the next newer full page (null
 * when fewer than `limit` newer rows exist), `prev_cursor` the top of the next
 * older one, and a cursor with nothing at or below it is a 404 "Cursor not
 * found"; an unknown contract is an empty 200. v1 pages by offset, `limit`
 * up to 50, and is deprecated (devnet/deprecation.ts). A transaction
 * reported as `problematic_skipped` (devnet/faults.ts) never ran, so its
 * prints are listed by neither.
 */
import type { OperationResponse } from "@stacks/blockchain-api-client";
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { hexToCV, type ClarityValue } from "@stacks/transactions";
import { z } from "zod";

import { cvHex, hexRepr } from "../clarity";
import { contractLogIndexOf, formatPosition, parsePosition, type IndexedLog } from "../contractLogIndex";
import { messageOf } from "../errors";
import { HttpError, badRequest, json, parseJsonBody, parseQuery, type Route } from "../http";
import { ADDRESS, CONTRACT_ID, CONTRACT_NAME, SEGMENT, type ServerContext } from "./context";
import { notFound, validationError } from "./transactionsV3";

export const MAX_EVENTS_LIMIT = 50;

/** The v2 logs route's limits (the API's Event resource: default 20, max 100; offset up to 10 pages either way). */
export const LOGS_DEFAULT_LIMIT = 20;
export const MAX_LOGS_LIMIT = 100;
export const MAX_LOGS_OFFSET = 1000;

type ContractEventsPage = OperationResponse["get_contract_events_by_id"];
type ContractLog = Extract<ContractEventsPage["results"][number], { event_type: "smart_contract_log" }>;
export type ContractLogsPage = OperationResponse["get_smart_contract_logs"];

function apiLog(log: IndexedLog): ContractLog {
  return {
    event_index: log.eventIndex,
    event_type: "smart_contract_log",
    tx_id: `0x${log.txid}`,
    contract_log: { contract_id: log.contractId, topic: log.topic, value: hexRepr(hexToCV(log.valueHex)) },
  };
}

/** An integer query parameter as the API's schema reads it, refused in the API's 400 format. */
function integerParam(url: URL, name: string, range: { min: number; max: number }): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  if (!/^-?\d+$/.test(raw)) throw validationError(`querystring/${name} must be integer`);
  const value = Number(raw);
  if (value > range.max) throw validationError(`querystring/${name} must be <= ${range.max}`);
  if (value < range.min) throw validationError(`querystring/${name} must be >= ${range.min}`);
  return value;
}

const CURSOR_PATTERN = "^[0-9]+:[0-9]+:[0-9]+:[0-9]+$";

const eventsQuery = z.object({
  limit: z.coerce.number().int().min(0).optional(),
  offset: z.coerce.number().int().min(0).default(0),
});

const readOnlyBody = z.object({
  sender: z.string().min(1),
  arguments: z.array(z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, "must be a hex-serialized Clarity value")),
});

export function contractRoutes({ chain }: ServerContext): Route[] {
  const logIndex = contractLogIndexOf(chain);
  return [
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v2/smart-contracts/${SEGMENT}/logs/?$`),
      handle: ({ params, url }) => {
        const contractId = params[0] as string;
        // The API's schema: a limit of 0 counts as none (`getPagingQueryLimit`).
        const limit = integerParam(url, "limit", { min: 0, max: MAX_LOGS_LIMIT }) || LOGS_DEFAULT_LIMIT;
        const offset = integerParam(url, "offset", { min: -MAX_LOGS_OFFSET, max: MAX_LOGS_OFFSET }) ?? 0;
        const given = url.searchParams.get("cursor");
        const cursor = given === null ? null : parsePosition(given);
        if (given !== null && cursor === null) throw validationError(`querystring/cursor must match pattern "${CURSOR_PATTERN}"`);
        // The schema lets a negative offset through to SQL's OFFSET, which Postgres refuses.
        if (offset < 0) {
          throw new HttpError(500, { statusCode: 500, error: "Internal Server Error", message: "OFFSET must not be negative" });
        }
        const page = logIndex.page(contractId, { limit, offset, cursor, indexedHeight: chain.indexedTip.height });
        const top = page.results[0];
        if (cursor && !top) throw notFound("Cursor not found");
        return json(200, {
          limit,
          offset,
          total: page.total,
          next_cursor: page.next ? formatPosition(page.next) : null,
          prev_cursor: page.prev ? formatPosition(page.prev) : null,
          cursor: top ? formatPosition(top) : null,
          results: page.results.map(apiLog),
        } satisfies ContractLogsPage);
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/contract/${CONTRACT_ID}/events/?$`),
      handle: ({ params, url }) => {
        const contractId = params[0] as string;
        const query = parseQuery(eventsQuery, url);
        const limit = query.limit || 20;
        if (limit > MAX_EVENTS_LIMIT) throw badRequest(`'limit' must be equal to or less than ${MAX_EVENTS_LIMIT}`);
        const results: ContractLog[] = [];
        const { logs, shown, end } = logIndex.visible(contractId, chain.indexedTip.height);
        for (let i = end - 1, index = 0; i >= 0 && results.length < limit; i--) {
          const log = logs[i] as IndexedLog;
          if (!shown(log) || index++ < query.offset) continue;
          results.push(apiLog(log));
        }
        return json(200, { limit, offset: query.offset, results } satisfies ContractEventsPage);
      },
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v2/contracts/call-read/${ADDRESS}/${CONTRACT_NAME}/${SEGMENT}/?$`),
      handle: async ({ params, body }) => {
        const [address, contractName, functionName] = params as [string, string, string];
        const request = parseJsonBody(readOnlyBody, body);
        let args: ClarityValue[];
        try {
          args = request.arguments.map((arg) => hexToCV(arg));
        } catch (error) {
          throw badRequest(`could not deserialize an argument: ${messageOf(error)}`);
        }
        const response = await chain.exclusive((): Api.ReadOnlyFunctionSuccessResponse => {
          try {
            const { result } = chain.simnet.callReadOnlyFn(`${address}.${contractName}`, functionName, args, request.sender);
            return { okay: true, result: cvHex(result) };
          } catch (error) {
            return { okay: false, cause: messageOf(error) };
          }
        });
        return json(200, response);
      },
    },
  ];
}
