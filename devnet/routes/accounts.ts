/**
 * An account's nonces (Hiro API), computed as the Hiro API computes them:
 * GET /extended/v3/principals/{principal}/nonces, and the deprecated
 * GET /extended/v1/address/{principal}/nonces it replaces (same figures,
 * other names).
 */
import type { OperationResponse } from "@stacks/blockchain-api-client";
import { validateStacksAddress } from "@stacks/transactions";

import type { LocalChain } from "../chain";
import { badRequest, json, type Route } from "../http";
import { SEGMENT, type ServerContext } from "./context";
import { validationError } from "./transactionsV3";

/** GET /extended/v1/address/{principal}/nonces (deprecated). */
export type ApiAddressNonces = OperationResponse["get_account_nonces"];
/** GET /extended/v3/principals/{principal}/nonces. */
export type ApiPrincipalNonces = OperationResponse["get_principal_nonces"];

/** The v3 route's principal parameter: a standard address only (contracts have no nonces). */
const ADDRESS_PATTERN = "^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{28,41}$";

type Nonces = {
  lastExecuted: number | null;
  lastMempool: number | null;
  possibleNext: number;
  missing: number[];
  mempool: number[];
};

function noncesOf(chain: LocalChain, principal: string): Nonces {
  const executed = chain.lastExecutedNonce(principal);
  const lastExecuted = executed === null ? null : Number(executed);
  const mempool = chain.mempool.pendingNonces(principal).map(Number);
  const lastMempool = mempool.length > 0 ? Math.max(...mempool) : null;
  const possibleNext = lastExecuted === null && lastMempool === null ? 0 : Math.max(lastExecuted ?? 0, lastMempool ?? 0) + 1;
  const missing: number[] = [];
  if (lastExecuted !== null && lastMempool !== null) {
    for (let nonce = lastMempool - 1; nonce > lastExecuted; nonce--) {
      if (!mempool.includes(nonce)) missing.push(nonce);
    }
  }
  return { lastExecuted, lastMempool, possibleNext, missing, mempool };
}

export function accountRoutes({ chain }: ServerContext): Route[] {
  return [
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v3/principals/${SEGMENT}/nonces/?$`),
      handle: ({ params }) => {
        const principal = params[0] as string;
        if (!new RegExp(ADDRESS_PATTERN).test(principal)) {
          throw validationError(`params/principal must match pattern "${ADDRESS_PATTERN}"`);
        }
        const nonces = noncesOf(chain, principal);
        return json(200, {
          next_nonce: nonces.possibleNext,
          last_confirmed_nonce: nonces.lastExecuted,
          mempool: { last_nonce: nonces.lastMempool, pending_nonces: nonces.mempool, missing_nonces: nonces.missing },
        } satisfies ApiPrincipalNonces);
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/address/${SEGMENT}/nonces/?$`),
      handle: ({ params }) => {
        const principal = params[0] as string;
        if (principal.includes(".") || !validateStacksAddress(principal)) {
          throw badRequest(`invalid STX address "${principal}"`);
        }
        const nonces = noncesOf(chain, principal);
        return json(200, {
          last_executed_tx_nonce: nonces.lastExecuted,
          last_mempool_tx_nonce: nonces.lastMempool,
          possible_next_nonce: nonces.possibleNext,
          detected_missing_nonces: nonces.missing,
          detected_mempool_nonces: nonces.mempool,
        } satisfies ApiAddressNonces);
      },
    },
  ];
}
