/**
 * POST /v2/fees/transaction and GET /v2/fees/transfer (stacks-node RPC), and
 * the test control POST /_local/fee-estimator.
 *
 * No cost model runs here: the three estimations are 2, 4 and 8 microSTX per
 * byte of the transaction (`estimated_len`, else the payload plus a
 * single-signature envelope), always above the 1 microSTX/byte minimum relay
 * fee that POST /v2/transactions enforces. `estimated_cost` is zero. As a
 * node does, a contract call is estimated only once its (contract, function)
 * has been sampled from a mined block; before that the answer is the node's
 * 400 NoEstimateAvailable (feeEstimator.ts). STX transfers are always
 * estimated: a real node samples them all the time.
 */
import { hexToBytes } from "@stacks/common";
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { PayloadType, addressToString, deserializePayload, type PayloadWire } from "@stacks/transactions";
import { z } from "zod";

import { messageOf } from "../errors";
import { ESTIMATION_NOT_SUPPORTED, LocalFeeEstimator, NO_ESTIMATE_AVAILABLE, type FeeEstimatorState } from "../feeEstimator";
import { json, parseJsonBody, undecodable, type Reply, type Route } from "../http";
import type { ServerContext } from "./context";

/** Version, chain id, single-sig auth, anchor mode, post-condition mode and list length: what a payload is wrapped in. */
const SINGLE_SIG_ENVELOPE_BYTES = 1 + 4 + 1 + 1 + 20 + 8 + 8 + 1 + 65 + 1 + 1 + 4;
const FEE_RATES = [2, 4, 8] as const;

/** serde's view of the body; the payload's hex is checked after, as the node does. */
const feeRequest = z.object({
  transaction_payload: z.string(),
  estimated_len: z.number().int().nonnegative().nullish(),
});
const HEX = /^([0-9a-fA-F]{2})*$/;


type FeeRequest = { payload: Uint8Array; decoded: PayloadWire; estimatedLength: number | null | undefined };

/** The request as the node reads it, check by check, or the node's refusal of the first check it fails. */
function feeRequestOf(contentType: string | undefined, body: Buffer): FeeRequest | Reply {
  if (body.length === 0) return undecodable("Invalid Http request: invalid body length for FeeRateEstimate (0)");
  if (contentType?.split(";")[0]?.trim().toLowerCase() !== "application/json") {
    return undecodable("Invalid content-type: expected application/json");
  }
  let parsed: z.infer<typeof feeRequest>;
  try {
    parsed = feeRequest.parse(JSON.parse(body.toString("utf8")));
  } catch (error) {
    return undecodable(`Failed to parse JSON body: ${messageOf(error)}`);
  }
  const hex = parsed.transaction_payload.replace(/^0x/, "");
  if (!HEX.test(hex)) return undecodable("Bad hex string supplied for transaction payload");
  const payload = hexToBytes(hex);
  try {
    return { payload, decoded: deserializePayload(payload), estimatedLength: parsed.estimated_len };
  } catch (error) {
    return undecodable(`Failed to deserialize transaction payload: ${messageOf(error)}`);
  }
}

const estimatorRequest = z.object({
  /** false: a node without a fee estimator. */
  supported: z.boolean().optional(),
  /** What GET /v2/fees/transfer answers (micro-STX per byte); null: NoEstimateAvailable. */
  transferRate: z.number().int().min(1).max(1_000_000).nullable().optional(),
  /** Pairs to treat as sampled, as a long-running node that saw them mined would. */
  sampled: z.array(z.object({ contractId: z.string().min(1), functionName: z.string().min(1) })).optional(),
});

export type FeeEstimatorResponse = FeeEstimatorState;

function calledFunction(payload: PayloadWire): { contractId: string; functionName: string } | null {
  if (payload.payloadType !== PayloadType.ContractCall) return null;
  return {
    contractId: `${addressToString(payload.contractAddress)}.${payload.contractName.content}`,
    functionName: payload.functionName.content,
  };
}

export function feeRoutes({ chain }: ServerContext): Route[] {
  const estimator = new LocalFeeEstimator(chain);
  return [
    {
      method: "POST",
      pattern: /^\/v2\/fees\/transaction\/?$/,
      handle: ({ headers, body }) => {
        const request = feeRequestOf(headers["content-type"], body);
        if (!("payload" in request)) return request;
        const { payload, decoded } = request;
        if (!estimator.isSupported) return json(400, ESTIMATION_NOT_SUPPORTED);
        const called = calledFunction(decoded);
        if (called && !estimator.hasSamples(called.contractId, called.functionName)) return json(400, NO_ESTIMATE_AVAILABLE);
        const length = Math.max(request.estimatedLength ?? 0, payload.length + SINGLE_SIG_ENVELOPE_BYTES);
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
      // microSTX per byte, as a bare JSON integer
      handle: () => {
        const rate = estimator.transferFeeRate;
        return rate === null ? json(400, NO_ESTIMATE_AVAILABLE) : json(200, rate satisfies number);
      },
    },
    {
      // Test control (not part of any real API): what the estimator supports, knows and answers.
      method: "POST",
      pattern: /^\/_local\/fee-estimator\/?$/,
      handle: ({ body }) => {
        estimator.configure(parseJsonBody(estimatorRequest, body));
        return json(200, estimator.state satisfies FeeEstimatorResponse);
      },
    },
  ];
}
