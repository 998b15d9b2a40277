/**
 * GET /v2/info (stacks-node RPC), the Hiro API's status, GET /extended, with
 * the chain tip its indexer has reached (`chain_tip`), and its block lookups:
 * /extended/v2/blocks/{height_or_hash}, and the deprecated
 * /extended/v1/block/by_height/{height} and /extended/v1/block/{hash}
 * (devnet/deprecation.ts). By height: the canonical block. By hash: v2
 * only a canonical block, as the API's v2 store filters `canonical = true`
 * (an orphaned one is 404 "Block not found"); v1 any block, so an orphaned
 * one answers with `canonical: false`. The node's
 * answer is the tip; the API's answers stop at the indexed tip
 * (POST /_local/indexer-lag), above which a block is not found.
 */
import { createHash } from "node:crypto";

import type { OperationResponse } from "@stacks/blockchain-api-client";
import type * as Api from "@stacks/stacks-blockchain-api-types";

import { apiBlockV1, apiNakamotoBlock } from "../apiShapes";
import { normalizeHash } from "../clarity";
import { HttpError, badRequest, json, type Route } from "../http";
import type { BlockRecord } from "../records";
import { SEGMENT, type ServerContext } from "./context";

/** A devnet node's peer network: testnet chain id, regtest burnchain. */
const NETWORK_ID = 2147483648;
const PARENT_NETWORK_ID = 3669344250;
const PEER_VERSION = 4207599116;

/** The node reports `exit_at_block_height: null` when no exit is scheduled; the type package says number. */
export type ApiCoreNodeInfo = Omit<Api.CoreNodeInfoResponse, "exit_at_block_height"> & { exit_at_block_height: number | null };
export type ApiStatus = OperationResponse["get_status"];

function consensusHash(burnHeight: number): string {
  return createHash("sha256").update(`bithedge-local-consensus|${burnHeight}`).digest("hex").slice(0, 40);
}

export function chainInfoRoutes({ chain }: ServerContext): Route[] {
  /** The indexed block of that height (canonical) or hash (any, or only canonical); undefined if there is none. */
  const findBlock = (id: string, { canonicalOnly }: { canonicalOnly: boolean }): BlockRecord | undefined => {
    let block: BlockRecord | undefined;
    if (/^\d+$/.test(id)) {
      block = chain.blocks.atHeight(Number(id));
    } else {
      const hash = normalizeHash(id);
      if (!hash) throw badRequest(`Invalid block height or hash: ${id}`);
      block = chain.blocks.withHash(hash);
    }
    if (!block || block.height > chain.indexedTip.height) return undefined;
    if (canonicalOnly && chain.blocks.atHeight(block.height) !== block) return undefined;
    return block;
  };
  // The v1 routes find orphaned blocks by hash too; their 404 is the API's v1 body.
  const blockFor = (id: string): BlockRecord => {
    const block = findBlock(id, { canonicalOnly: false });
    if (!block) throw new HttpError(404, { error: `cannot find block by height or hash ${id}` });
    return block;
  };
  // v2 looks only at canonical blocks, by height or hash (`pg-store-v2.ts` getBlock); its 404 is fastify's.
  const canonicalBlockFor = (id: string): BlockRecord => {
    const block = findBlock(id, { canonicalOnly: true });
    if (!block) throw new HttpError(404, { statusCode: 404, error: "Not Found", message: "Block not found" });
    return block;
  };
  return [
    {
      method: "GET",
      pattern: /^\/extended\/?$/,
      handle: () => {
        const tip = chain.indexedTip;
        const status: ApiStatus = { server_version: "stacks-blockchain-api local (bithedge devnet/hiroServer.ts)", status: "ready" };
        // The API leaves chain_tip out while it has indexed nothing above genesis.
        if (tip.height > 0) {
          status.chain_tip = {
            block_height: tip.height,
            block_hash: `0x${tip.hash}`,
            index_block_hash: `0x${tip.indexBlockHash}`,
            burn_block_height: tip.burnBlockHeight,
          };
        }
        return json(200, status);
      },
    },
    {
      method: "GET",
      pattern: /^\/v2\/info\/?$/,
      handle: () => {
        const tip = chain.blocks.tip;
        const burnHeight = chain.simnet.burnBlockHeight;
        return json(200, {
          peer_version: PEER_VERSION,
          pox_consensus: consensusHash(burnHeight),
          burn_block_height: burnHeight,
          stable_pox_consensus: consensusHash(Math.max(0, burnHeight - 1)),
          stable_burn_block_height: Math.max(0, burnHeight - 1),
          server_version: "stacks-node local (bithedge devnet/hiroServer.ts on clarinet-sdk simnet)",
          network_id: NETWORK_ID,
          parent_network_id: PARENT_NETWORK_ID,
          stacks_tip_height: tip.height,
          stacks_tip: tip.hash,
          stacks_tip_consensus_hash: consensusHash(tip.burnBlockHeight),
          unanchored_tip: tip.indexBlockHash,
          exit_at_block_height: null,
        } satisfies ApiCoreNodeInfo);
      },
    },
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v2/blocks/${SEGMENT}/?$`),
      handle: ({ params }) => json(200, apiNakamotoBlock(canonicalBlockFor(params[0] as string))),
    },
    {
      method: "GET",
      pattern: /^\/extended\/v1\/block\/by_height\/(\d+)\/?$/,
      handle: ({ params }) => json(200, apiBlockV1(blockFor(params[0] as string))),
    },
    {
      method: "GET",
      pattern: new RegExp(`^/extended/v1/block/(?!by_height/)${SEGMENT}/?$`),
      handle: ({ params }) => {
        const id = params[0] as string;
        if (!normalizeHash(id)) throw badRequest(`Invalid block hash: ${id}`);
        return json(200, apiBlockV1(blockFor(id)));
      },
    },
  ];
}
