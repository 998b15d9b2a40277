/**
 * GET /extended/v1/contract/{contract_id}/events (Hiro API) and
 * POST /v2/contracts/call-read/{address}/{contract}/{function} (stacks-node RPC).
 *
 * Events: the contract's print events in canonical blocks, newest first
 * (block height, tx index, event index descending, as the Hiro API's
 * `getSmartContractEvents` query orders them); `limit` defaults to 20 and may
 * not exceed 50, as on the Hiro API. A transaction reported as
 * `problematic_skipped` (devnet/faults.ts) never ran, so its prints are not
 * listed. The route is deprecated (devnet/deprecation.ts).
 */
import type { OperationResponse } from "@stacks/blockchain-api-client";
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { hexToCV, type ClarityValue } from "@stacks/transactions";
import { z } from "zod";

import { cvHex, hexRepr } from "../clarity";
import { messageOf } from "../errors";
import { isProblematicSkipped } from "../faults";
import { badRequest, json, parseJsonBody, parseQuery, type Route } from "../http";
import { ADDRESS, CONTRACT_ID, CONTRACT_NAME, SEGMENT, type ServerContext } from "./context";

export const MAX_EVENTS_LIMIT = 50;

type ContractEventsPage = OperationResponse["get_contract_events_by_id"];
type ContractLog = Extract<ContractEventsPage["results"][number], { event_type: "smart_contract_log" }>;

const eventsQuery = z.object({
  limit: z.coerce.number().int().min(0).optional(),
  offset: z.coerce.number().int().min(0).default(0),
});

const readOnlyBody = z.object({
  sender: z.string().min(1),
  arguments: z.array(z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, "must be a hex-serialized Clarity value")),
});

export function contractRoutes({ chain }: ServerContext): Route[] {
  return [
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/contract/${CONTRACT_ID}/events/?$`),
      handle: ({ params, url }) => {
        const contractId = params[0] as string;
        const query = parseQuery(eventsQuery, url);
        const limit = query.limit || 20;
        if (limit > MAX_EVENTS_LIMIT) throw badRequest(`'limit' must be equal to or less than ${MAX_EVENTS_LIMIT}`);
        const results: ContractLog[] = [];
        let index = 0;
        for (const log of chain.contractLogs(contractId)) {
          if (results.length >= limit) break;
          const record = chain.mempool.get(log.txid);
          if (record && isProblematicSkipped(record)) continue;
          if (index++ < query.offset) continue;
          results.push({
            event_index: log.eventIndex,
            event_type: "smart_contract_log",
            tx_id: `0x${log.txid}`,
            contract_log: { contract_id: log.contractId, topic: log.topic, value: hexRepr(hexToCV(log.valueHex)) },
          });
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
