/**
 * POST /v2/fees/transaction and GET /v2/fees/transfer (stacks-node RPC).
 *
 * No cost model runs here: the three estimations are 2, 4 and 8 microSTX per
 * byte of the transaction (`estimated_len`, else the payload plus a
 * single-signature envelope), always above the 1 microSTX/byte minimum relay
 * fee that POST /v2/transactions enforces. `estimated_cost` is zero.
 */
import { hexToBytes } from "@stacks/common";
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { deserializePayload } from "@stacks/transactions";
import { z } from "zod";

import { messageOf } from "../errors";
import { badRequest, json, parseJsonBody, type Route } from "../http";
import type { ServerContext } from "./context";

/** Version, chain id, single-sig auth, anchor mode, post-condition mode and list length: what a payload is wrapped in. */
const SINGLE_SIG_ENVELOPE_BYTES = 1 + 4 + 1 + 1 + 20 + 8 + 8 + 1 + 65 + 1 + 1 + 4;
const FEE_RATES = [2, 4, 8] as const;

const feeRequest = z.object({
  transaction_payload: z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, "must be hex"),
  estimated_len: z.number().int().positive().optional(),
});

export function feeRoutes(_context: ServerContext): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/v2\/fees\/transaction\/?$/,
      handle: ({ body }) => {
        const request = parseJsonBody(feeRequest, body);
        const payload = hexToBytes(request.transaction_payload.replace(/^0x/, ""));
        try {
          deserializePayload(payload);
        } catch (error) {
          throw badRequest(`could not deserialize transaction_payload: ${messageOf(error)}`);
        }
        const length = Math.max(request.estimated_len ?? 0, payload.length + SINGLE_SIG_ENVELOPE_BYTES);
        return json(200, {
          estimated_cost: { read_count: 0, read_length: 0, runtime: 0, write_count: 0, write_length: 0 },
          estimated_cost_scalar: length,
          cost_scalar_change_by_byte: 0,
          estimations: FEE_RATES.map((rate) => ({ fee_rate: rate, fee: rate * length })),
        } satisfies Api.TransactionFeeEstimateResponse);
      },
    },
    {
      method: "GET",
      pattern: /^\/v2\/fees\/transfer\/?$/,
      // microSTX per byte, as a bare JSON number
      handle: () => json(200, 1 satisfies number),
    },
  ];
}
