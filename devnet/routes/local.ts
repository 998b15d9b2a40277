/**
 * Test controls under /_local/ (not part of any real API): mining, letting
 * burn blocks pass, reorgs, dropping pending transactions, a miner minimum
 * fee, fault injection (by path, or a transaction reported as
 * `problematic_skipped`), switching the deprecated API routes off, an API
 * indexer lagging the node, and funding.
 */
import { Cl, ClarityType, validateStacksAddress } from "@stacks/transactions";
import { z } from "zod";

import type { LocalChain } from "../chain";
import { normalizeHash } from "../clarity";
import { deprecatedRoutesRequest, type DeprecatedRoutes, type DeprecatedRoutesSetting } from "../deprecation";
import { faultRequest, markProblematicSkipped, txStatusFaultRequest, type Faults } from "../faults";
import { HttpError, badRequest, json, parseJsonBody, type Reply, type Route } from "../http";
import type { BlockRecord } from "../records";
import type { ServerContext } from "./context";

export type BlockRef = { height: number; hash: string };
export type MineResponse = { blocks: BlockRef[]; tip: BlockRef };
export type BurnBlocksResponse = MineResponse & { burnBlockHeight: number };
export type ReorgResponse = { orphaned: BlockRef[]; replacements: BlockRef[]; tip: BlockRef };
export type BalanceResponse = { address: string; balance: string };
export type MinFeeResponse = { ustx: string };
export type TxStatusFaultResponse = { txid: string; tx_status: "problematic_skipped" };
export type DeprecatedRoutesResponse = DeprecatedRoutesSetting;
/** `blocks`: how far the API's indexer is behind; `indexedTip`: the newest block every /extended/* answer shows. */
export type IndexerLagResponse = { blocks: number; indexedTip: BlockRef; tip: BlockRef };

const principal = z.string().refine((p) => {
  const [address, name] = p.split(".");
  return validateStacksAddress(address ?? "") && (name === undefined || /^[a-zA-Z][a-zA-Z0-9_-]{0,127}$/.test(name));
}, "must be a Stacks principal");
const amount = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform((v) => BigInt(v));

const mineRequest = z.object({ count: z.number().int().min(1).max(1000).default(1) });
const burnBlocksRequest = z.object({ count: z.number().int().min(1).max(10_000) });
const reorgRequest = z.object({ depth: z.number().int().min(1), reinclude: z.boolean().default(false) });
const dropRequest = z.object({ txid: z.string() });
const minFeeRequest = z.object({ ustx: amount });
const fundRequest = z.object({ address: principal, ustx: amount });
const mintSbtcRequest = z.object({ address: principal, sats: amount });
const indexerLagRequest = z.object({ blocks: z.number().int().min(0).max(100_000) });

function ref(block: BlockRecord): BlockRef {
  return { height: block.height, hash: `0x${block.hash}` };
}

export function localRoutes({ chain, faults }: ServerContext, { deprecatedRoutes }: { deprecatedRoutes: DeprecatedRoutes }): Route[] {
  return [
    ...blockRoutes(chain),
    ...mempoolRoutes(chain),
    ...faultRoutes(chain, faults, deprecatedRoutes),
    ...fundingRoutes(chain),
  ];
}

/** Mining, letting burn blocks pass, and reorgs. */
function blockRoutes(chain: LocalChain): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/_local\/mine\/?$/,
      handle: async ({ body }) => {
        const { count } = parseJsonBody(mineRequest, body);
        const blocks = await chain.mine(count);
        return json(200, { blocks: blocks.map(ref), tip: ref(chain.blocks.tip) } satisfies MineResponse);
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/burn-blocks\/?$/,
      handle: async ({ body }) => {
        const { count } = parseJsonBody(burnBlocksRequest, body);
        const blocks = await chain.advanceBurnBlocks(count);
        return json(200, {
          blocks: blocks.map(ref),
          tip: ref(chain.blocks.tip),
          burnBlockHeight: chain.simnet.burnBlockHeight,
        } satisfies BurnBlocksResponse);
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/reorg\/?$/,
      handle: async ({ body }) => {
        const { depth, reinclude } = parseJsonBody(reorgRequest, body);
        if (depth > chain.blocks.reorgableDepth) {
          throw badRequest(`depth ${depth} exceeds the ${chain.blocks.reorgableDepth} blocks mined since start`);
        }
        const { orphaned, replacements } = await chain.reorg(depth, reinclude);
        return json(200, {
          orphaned: orphaned.map(ref),
          replacements: replacements.map(ref),
          tip: ref(chain.blocks.tip),
        } satisfies ReorgResponse);
      },
    },
  ];
}

/** Dropping a pending transaction, and the miner's minimum fee. */
function mempoolRoutes(chain: LocalChain): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/_local\/drop\/?$/,
      handle: async ({ body }) => {
        const txid = normalizeHash(parseJsonBody(dropRequest, body).txid);
        if (!txid) throw badRequest("txid must be a 32-byte hex hash");
        if (!(await chain.drop(txid))) throw new HttpError(409, { error: `transaction 0x${txid} is not pending` });
        return json(200, { txid: `0x${txid}`, tx_status: "dropped_stale_garbage_collect" });
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/min-fee\/?$/,
      handle: async ({ body }) => {
        const { ustx } = parseJsonBody(minFeeRequest, body);
        await chain.setMinerMinFee(ustx);
        return json(200, { ustx: chain.minerMinFee.toString() } satisfies MinFeeResponse);
      },
    },
  ];
}

/** A degraded API: injected faults, the deprecated routes switched off, an indexer lagging the node. */
function faultRoutes(chain: LocalChain, faults: Faults, deprecatedRoutes: DeprecatedRoutes): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/_local\/faults\/?$/,
      handle: ({ body }) => {
        if ("txid" in parseJsonBody(z.looseObject({}), body)) return markSkipped(chain, body);
        faults.add(parseJsonBody(faultRequest, body));
        return json(200, { ok: true });
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/faults\/clear\/?$/,
      handle: () => {
        faults.clear();
        return json(200, { ok: true });
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/deprecated-routes\/?$/,
      handle: ({ body }) => {
        deprecatedRoutes.set(parseJsonBody(deprecatedRoutesRequest, body));
        return json(200, deprecatedRoutes.current satisfies DeprecatedRoutesResponse);
      },
    },
    {
      // The API's indexer `blocks` Stacks blocks behind the node: every /extended/* answer (logs, transactions,
      // blocks, the status's chain_tip) shows the chain as of that block, while /v2/* shows the tip.
      method: "POST",
      pattern: /^\/_local\/indexer-lag\/?$/,
      handle: async ({ body }) => {
        const { blocks } = parseJsonBody(indexerLagRequest, body);
        await chain.setIndexerLag(blocks);
        return json(200, { blocks: chain.indexerLag, indexedTip: ref(chain.indexedTip), tip: ref(chain.blocks.tip) } satisfies IndexerLagResponse);
      },
    },
  ];
}

/** A fault naming a transaction: it is reported as `problematic_skipped`. */
function markSkipped(chain: LocalChain, body: Buffer): Reply {
  const { txid: given, txStatus } = parseJsonBody(txStatusFaultRequest, body);
  const txid = normalizeHash(given);
  if (!txid) throw badRequest("txid must be a 32-byte hex hash");
  const record = chain.mempool.get(txid);
  if (!record) throw new HttpError(404, { error: `transaction 0x${txid} is unknown` });
  markProblematicSkipped(record);
  return json(200, { txid: `0x${txid}`, tx_status: txStatus } satisfies TxStatusFaultResponse);
}

/** Funding an address with STX, and minting it sBTC. */
function fundingRoutes(chain: LocalChain): Route[] {
  const sbtcContract = `${chain.simnet.deployer}.sbtc-token`;
  return [
    {
      method: "POST",
      pattern: /^\/_local\/fund\/?$/,
      handle: async ({ body }) => {
        const { address, ustx } = parseJsonBody(fundRequest, body);
        await chain.fund(address, ustx);
        return json(200, { address, balance: chain.stxBalance(address).toString() } satisfies BalanceResponse);
      },
    },
    {
      method: "POST",
      pattern: /^\/_local\/mint-sbtc\/?$/,
      handle: async ({ body }) => {
        const { address, sats } = parseJsonBody(mintSbtcRequest, body);
        await chain.mintFungible(`${sbtcContract}.sbtc-token`, address, sats);
        const { result } = chain.simnet.callReadOnlyFn(sbtcContract, "get-balance", [Cl.principal(address)], address);
        const balance = result.type === ClarityType.ResponseOk && result.value.type === ClarityType.UInt ? BigInt(result.value.value) : 0n;
        return json(200, { address, balance: balance.toString() } satisfies BalanceResponse);
      },
    },
  ];
}
