/** GET /extended/v1/address/{principal}/nonces (Hiro API), computed as the Hiro API computes it. */
import type * as Api from "@stacks/stacks-blockchain-api-types";
import { validateStacksAddress } from "@stacks/transactions";

import { badRequest, json, type Route } from "../http";
import { SEGMENT, type ServerContext } from "./context";

/**
 * The live API returns `null` for the last nonces of an account without
 * transactions; the type package declares them as numbers only (its generator
 * drops `nullable`, see the API's own "force cast" comment).
 */
export type ApiAddressNonces = Omit<Api.AddressNonces, "last_executed_tx_nonce" | "last_mempool_tx_nonce"> & {
  last_executed_tx_nonce: number | null;
  last_mempool_tx_nonce: number | null;
};

export function accountRoutes({ chain }: ServerContext): Route[] {
  return [
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/address/${SEGMENT}/nonces/?$`),
      handle: ({ params }) => {
        const principal = params[0] as string;
        if (principal.includes(".") || !validateStacksAddress(principal)) {
          throw badRequest(`invalid STX address "${principal}"`);
        }
        const executed = chain.lastExecutedNonce(principal);
        const lastExecuted = executed === null ? null : Number(executed);
        const mempoolNonces = chain.mempool.pendingNonces(principal).map(Number);
        const lastMempool = mempoolNonces.length > 0 ? Math.max(...mempoolNonces) : null;
        const possibleNext = lastExecuted === null && lastMempool === null ? 0 : Math.max(lastExecuted ?? 0, lastMempool ?? 0) + 1;
        const missing: number[] = [];
        if (lastExecuted !== null && lastMempool !== null) {
          for (let nonce = lastMempool - 1; nonce > lastExecuted; nonce--) {
            if (!mempoolNonces.includes(nonce)) missing.push(nonce);
          }
        }
        return json(200, {
          last_executed_tx_nonce: lastExecuted,
          last_mempool_tx_nonce: lastMempool,
          possible_next_nonce: possibleNext,
          detected_missing_nonces: missing,
          detected_mempool_nonces: mempoolNonces,
        } satisfies ApiAddressNonces);
      },
    },
  ];
}
