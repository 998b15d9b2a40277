/**
 * Chainhooks 2.0: the primary ingest of the vault's print events, with the
 * event sync (eventSync.ts) as the reconciler (README "Chainhooks").
 *
 *   POST /chainhooks/vault   a delivery: `{ chainhook, event: { chain, network, apply, rollback } }`
 *
 * A delivery is authenticated (`Authorization: Bearer <CHAINHOOKS_CONSUMER_SECRET>`,
 * compared in constant time), bounded in size, and parsed whole with zod
 * before anything changes: 401, 413 or 400 otherwise, with nothing changed.
 *
 * What a delivery may change, and when:
 *
 * - A `rollback` block is acted on at once: the vault events the books applied
 *   from it are reversed through the same path as the poller's re-check
 *   (`reverseVaultEvent`) — once the API no longer has that block at its
 *   height. While the API still shows it there (it has not seen the fork yet),
 *   nothing is reversed: the poller's re-check reverses it when the API does.
 *   Asking the API first means a repeated or late rollback can never undo an
 *   application that is still on the chain.
 *
 * - An `apply` block's prints count only under the same rule as the poller's:
 *   SYNC_CONFIRMATIONS Stacks blocks and SYNC_CONFIRMATIONS_BURN_BLOCKS burn
 *   blocks deep below the lower of the node's tip and the API indexer's, in a
 *   successful transaction of the canonical chain. The books credit money only after the confirmed on-chain
 *   event (docs/architecture.md, "Deposit"), so a delivered block is not
 *   applied at once and left to rollbacks: it is kept, as received, in the
 *   arguments of a scheduled confirmer, which applies it once the tip is deep
 *   enough and the API still has that block at its height. A block that left
 *   the chain meanwhile is dropped: the winning fork's block comes in a
 *   delivery of its own.
 *
 * - The books move in chain order, as the poller moves them: a block is
 *   applied only once every vault event between the poller's cursor and it is
 *   in the books (its own delivery's confirmer, or the poller, puts it there).
 *   Blocks come in bursts, and each confirmer backs off on its own, so without
 *   this a withdrawal could meet the books before the one a block earlier.
 *
 *   The confirmer backs off while it waits (1 s doubling to 15 s) and gives up
 *   after CONFIRM_ATTEMPTS, some ten minutes, by when the poller has applied
 *   the same events.
 *
 * The books key every event by (txid, event index) as the API numbers it (the
 * index among all of the transaction's events); a delivery numbers operations
 * instead (convex/chain/chainhookPayload.ts). The confirmer therefore finds
 * each delivered print in the vault's v2 logs, walked up from the poller's position (same
 * transaction, same value), takes its index and block from there, and decodes
 * it with `decodeVaultPrint` at that place: the very event the poller builds.
 * Both apply through `internal.eventSync.applyBatch` in the batches of
 * `applyBatches`, so a delivery repeated, or also seen by the poller, applies
 * once. A block whose prints the API does not list as delivered waits, and is
 * left to the poller if it never does.
 */
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import type { ActionCtx } from "./_generated/server";
import { httpAction, internalAction, internalMutation, internalQuery } from "./functions";
import {
  chainhookNetworkFor,
  normalizeHex,
  parseChainhookDelivery,
  placeEvent,
  sameHash,
  vaultPrintsOfDelivery,
  type DeliveredBlock,
} from "./chain/chainhookPayload";
import { hiroClientFor, type ChainBlock, type HiroClient } from "./chain/hiroClient";
import { decodeVaultPrint } from "./chain/vault";
import { isConfirmed, logsAbove, readConfirmationRule, type WalkStart } from "./chain/contractLogs";
import { readChainConfig, readChainhookSecret } from "./config";
import { isPoolError, type ErrorCode } from "./domain/errors";
import { applyBatches } from "./eventSync";
import { reverseVaultEvent } from "./model/sync/reversal";
import type { SyncedEvent } from "./validators";

/**
 * Largest delivery accepted. A block full of vault transactions is well under
 * it (each transaction is a few kilobytes of JSON); a larger body is refused
 * before it is read, and its events reach the books through the poller.
 */
export const MAX_DELIVERY_BYTES = 4 * 1024 * 1024;
/** Vault events one transaction can print that a rollback looks at (one per vault call). */
const MAX_EVENTS_PER_TX = 100;
/** The confirmer's checks of a block, the first included: with the delays below, about ten minutes. */
export const CONFIRM_ATTEMPTS = 45;
const CONFIRM_FIRST_DELAY_MS = 1_000;
const CONFIRM_MAX_DELAY_MS = 15_000;
/** The API's logs pages the confirmer reads at most (LOGS_PAGE_SIZE each), up from the poller's position. */
const MAX_PAGES = 100;

// ---------------------------------------------------------------------------
// Rollbacks

/**
 * Reverses the vault events applied from `blockHeight` by these transactions,
 * unless they are in `keepHash`, the block the API now has at that height.
 */
export const reverseRolledBack = internalMutation({
  args: { blockHeight: v.int64(), keepHash: v.union(v.string(), v.null()), txids: v.array(v.string()) },
  returns: v.number(),
  handler: async (ctx, { blockHeight, keepHash, txids }) => {
    let reversed = 0;
    for (const txid of txids) {
      const records = await ctx.db
        .query("vaultEvents")
        .withIndex("by_tx_and_index", (q) => q.eq("txid", txid))
        .take(MAX_EVENTS_PER_TX);
      for (const record of records) {
        if (record.status === "reversed" || record.blockHeight !== blockHeight) continue;
        if (keepHash !== null && sameHash(record.blockHash, keepHash)) continue;
        if ((await reverseVaultEvent(ctx, record)) === "reversed") reversed++;
      }
    }
    return reversed;
  },
});

/** The block at a height, as the API has it: its hash and its index block hash (deliveries name a block by either). */
function isBlock(apiBlock: ChainBlock | null, deliveredHash: string): boolean {
  return apiBlock !== null && (sameHash(apiBlock.hash, deliveredHash) || sameHash(apiBlock.indexBlockHash, deliveredHash));
}

/**
 * The transactions of a block's prints, in the batches `applyBatches` makes of
 * their events (a reversal touches what the application touched): a
 * transaction printing a policy event alone, up to 25 others together.
 */
function rollbackBatches(block: DeliveredBlock): string[][] {
  const placed = block.events.map((e) =>
    placeEvent(e.event, { txid: e.txid, eventIndex: e.operationIndex, blockHeight: block.height, blockHash: block.hash }),
  );
  const seen = new Set<string>();
  const batches: string[][] = [];
  for (const batch of applyBatches(placed)) {
    const txids = [...new Set(batch.map((e) => e.txid))].filter((txid) => !seen.has(txid));
    txids.forEach((txid) => seen.add(txid));
    if (txids.length > 0) batches.push(txids);
  }
  return batches;
}

async function rollBack(
  ctx: ActionCtx,
  client: HiroClient,
  blocks: DeliveredBlock[],
): Promise<{ reversed: number; apiBehind: number }> {
  let reversed = 0;
  let apiBehind = 0;
  for (const block of blocks) {
    const now = await client.getBlock(block.height);
    if (isBlock(now, block.hash)) {
      // The API has not seen the fork yet; the poller's re-check reverses these when it does.
      apiBehind += block.events.length;
      continue;
    }
    for (const txids of rollbackBatches(block)) {
      reversed += await ctx.runMutation(internal.chainhooks.reverseRolledBack, {
        blockHeight: block.height,
        keepHash: now?.hash ?? null,
        txids,
      });
    }
  }
  return { reversed, apiBehind };
}

// ---------------------------------------------------------------------------
// Confirming and applying a delivered block

const deliveredPrintValidator = v.object({ txid: v.string(), hex: v.string() });
const confirmArgs = {
  block: v.object({ height: v.int64(), hash: v.string() }),
  prints: v.array(deliveredPrintValidator),
  attempt: v.number(),
};
type ConfirmArgs = { block: { height: bigint; hash: string }; prints: Infer<typeof deliveredPrintValidator>[]; attempt: number };

const confirmResult = v.object({
  outcome: v.union(
    /** Applied what the API confirmed (some may have been duplicates). */
    v.literal("applied"),
    /** Not confirmed yet (not deep enough, an earlier block not applied, the API behind or unreachable): checked again later. */
    v.literal("waiting"),
    /** The block is no longer at its height: nothing applied. */
    v.literal("orphaned"),
    /** The poller has already synced past the block: nothing left to do. */
    v.literal("synced"),
    /** Out of attempts: the poller applies these events. */
    v.literal("gave-up"),
  ),
  applied: v.number(),
  duplicate: v.number(),
  unmatched: v.number(),
  recorded: v.number(),
  rejected: v.number(),
  /** `applyBatch` mutations run. */
  mutations: v.number(),
});
type ConfirmResult = Infer<typeof confirmResult>;

const nothing = { applied: 0, duplicate: 0, unmatched: 0, recorded: 0, rejected: 0, mutations: 0 };

function confirmDelay(attempt: number): number {
  return Math.min(CONFIRM_MAX_DELAY_MS, CONFIRM_FIRST_DELAY_MS * 2 ** attempt);
}

async function checkAgainLater(ctx: ActionCtx, args: ConfirmArgs, why: string): Promise<ConfirmResult> {
  if (args.attempt + 1 >= CONFIRM_ATTEMPTS) {
    console.warn(`chainhooks: block ${args.block.height} not confirmed after ${CONFIRM_ATTEMPTS} checks (${why}); the event sync applies its events`);
    return { outcome: "gave-up", ...nothing };
  }
  await ctx.scheduler.runAfter(confirmDelay(args.attempt), internal.chainhooks.confirmDeliveredBlock, {
    ...args,
    attempt: args.attempt + 1,
  });
  return { outcome: "waiting", ...nothing };
}

/** A vault print as the API lists it: the transaction, its event index and its block, as the API names them. */
type ApiPrint = { txid: string; eventIndex: number; hex: string; blockHeight: bigint; blockHash: string; txIndex: number };

/**
 * The vault's prints in successful, canonical transactions of the blocks
 * above `floor` up to `height`, as the API lists them, walking the v2 logs up
 * from the poller's position (chain/contractLogs.ts): one page, and one
 * transactions request, per LOGS_PAGE_SIZE events. Incomplete when more than
 * MAX_PAGES pages lie between the poller's position and the block.
 */
async function apiPrintsBetween(
  client: HiroClient,
  vaultContractId: string,
  from: WalkStart,
  floor: bigint,
  height: bigint,
): Promise<{ prints: ApiPrint[]; complete: boolean }> {
  // Keyed: a walk that re-anchors (the chain moved under it) may yield a row twice.
  const prints = new Map<string, ApiPrint>();
  const listed = () => [...prints.values()];
  let pages = 0;
  for await (const rows of logsAbove(client, vaultContractId, from)) {
    for (const { at, txid, eventIndex, hex } of rows) {
      // Not mined as the API sees it (yet, or any more): not a print of any block.
      if (at === null || at.blockHeight <= floor) continue;
      if (at.blockHeight > height) return { prints: listed(), complete: true };
      if (!at.canonical || !at.succeeded) continue;
      prints.set(`${txid}:${eventIndex}`, { txid, eventIndex, hex, blockHeight: at.blockHeight, blockHash: at.blockHash, txIndex: at.txIndex });
    }
    if (++pages >= MAX_PAGES) return { prints: listed(), complete: false };
  }
  return { prints: listed(), complete: true };
}

/** Of these events, how many the books do not have at that place (a reversed one counts as missing). */
export const unappliedCount = internalQuery({
  args: { positions: v.array(v.object({ txid: v.string(), eventIndex: v.number(), blockHash: v.string() })) },
  returns: v.number(),
  handler: async (ctx, { positions }) => {
    let missing = 0;
    for (const { txid, eventIndex, blockHash } of positions) {
      const record = await ctx.db
        .query("vaultEvents")
        .withIndex("by_tx_and_index", (q) => q.eq("txid", txid).eq("eventIndex", eventIndex))
        .unique();
      if (!record || record.status === "reversed" || !sameHash(record.blockHash, blockHash)) missing++;
    }
    return missing;
  },
});
/** Positions checked per query. */
const CHECK_BATCH = 500;

/**
 * The API's prints of the block, each paired with the delivered print of the
 * same transaction and value; null unless the two lists pair up exactly.
 */
function pairWithApi(delivered: readonly { txid: string; hex: string }[], api: readonly ApiPrint[]): ApiPrint[] | null {
  const unpaired = [...api];
  for (const print of delivered) {
    const at = unpaired.findIndex((p) => normalizeHex(p.txid) === print.txid && normalizeHex(p.hex) === print.hex);
    if (at < 0) return null;
    unpaired.splice(at, 1);
  }
  return unpaired.length === 0 ? [...api] : null;
}

async function confirmAndApply(ctx: ActionCtx, args: ConfirmArgs): Promise<ConfirmResult> {
  const config = readChainConfig();
  const height = args.block.height;
  const { syncedThrough } = await ctx.runQuery(internal.eventSync.cursor, {});
  if (syncedThrough !== null && height <= syncedThrough) return { outcome: "synced", ...nothing };

  // 1. Confirmed under the poller's rule: deep enough in Stacks blocks and in burn blocks,
  //    counted from the lower of the node's tip and the API indexer's, and still the block
  //    at its height.
  const client = hiroClientFor(config);
  const { rule } = await readConfirmationRule(client, { blocks: config.syncConfirmations, burnBlocks: config.syncConfirmationsBurnBlocks });
  if (rule === null) return await checkAgainLater(ctx, args, "the API has indexed nothing yet");
  if (height > rule.throughHeight) return await checkAgainLater(ctx, args, "not deep enough");
  const apiBlock = await client.getBlock(height);
  if (!apiBlock || !isBlock(apiBlock, args.block.hash)) return { outcome: "orphaned", ...nothing };
  if (!isConfirmed({ blockHeight: height, burnBlockHeight: apiBlock.burnBlockHeight }, rule)) {
    return await checkAgainLater(ctx, args, "not deep enough in burn blocks");
  }

  // 2. In chain order: every event of the blocks between the poller's cursor and this one is
  //    in the books first (a later withdrawal must not meet the books before an earlier one).
  //    Until then the block waits; those blocks' own deliveries or the poller apply them.
  const position = await ctx.runQuery(internal.eventSync.position, {});
  const from: WalkStart = { after: position?.cursor ?? null };
  const { prints, complete } = await apiPrintsBetween(client, config.vaultContractId, from, syncedThrough ?? -1n, height);
  if (!complete) return await checkAgainLater(ctx, args, "too far ahead of the event sync");
  const decode = ({ hex, txid, eventIndex, blockHeight, blockHash }: ApiPrint) =>
    decodeVaultPrint(hex, { txid, eventIndex, blockHeight, blockHash }, config.sbtcContractId);
  const earlier = prints.filter((p) => p.blockHeight < height && decode(p).kind !== "malformed");
  for (let i = 0; i < earlier.length; i += CHECK_BATCH) {
    const positions = earlier.slice(i, i + CHECK_BATCH).map(({ txid, eventIndex, blockHash }) => ({ txid, eventIndex, blockHash }));
    if ((await ctx.runQuery(internal.chainhooks.unappliedCount, { positions })) > 0) {
      return await checkAgainLater(ctx, args, "an earlier block is not applied yet");
    }
  }

  // 3. The delivered prints, where the API lists them, decoded there: the events the poller builds.
  //    Only the whole block: if the API does not list every delivered print (yet), or lists one
  //    the delivery lacks, the block waits, and once the poller has passed it, it is done.
  const inBlock = prints.filter((p) => p.blockHeight === height && sameHash(p.blockHash, apiBlock.hash));
  const paired = pairWithApi(args.prints, inBlock);
  if (paired === null) return await checkAgainLater(ctx, args, "the API and the delivery disagree on the block's prints");
  paired.sort((a, b) => a.txIndex - b.txIndex || a.eventIndex - b.eventIndex);
  const result: ConfirmResult = { outcome: "applied", ...nothing };
  const events: SyncedEvent[] = [];
  for (const print of paired) {
    const decoded = decode(print);
    if (decoded.kind !== "malformed") {
      events.push(decoded.event);
      continue;
    }
    const recorded = await ctx.runMutation(internal.eventSync.recordRejected, {
      txid: print.txid,
      eventIndex: print.eventIndex,
      blockHeight: height,
      reason: decoded.reason,
      hex: print.hex,
    });
    if (recorded) result.rejected++;
  }
  for (const batch of applyBatches(events)) {
    const counts = await ctx.runMutation(internal.eventSync.applyBatch, { events: batch });
    result.mutations++;
    result.applied += counts.applied;
    result.duplicate += counts.duplicate;
    result.unmatched += counts.unmatched;
    result.recorded += counts.recorded;
  }
  return result;
}

/** Applies a delivered block once it is confirmed (see the top of this file); scheduled by the delivery. */
export const confirmDeliveredBlock = internalAction({
  args: confirmArgs,
  returns: confirmResult,
  handler: async (ctx, args): Promise<ConfirmResult> => {
    try {
      return await confirmAndApply(ctx, args);
    } catch (error) {
      // The API is down or slow, or a checkpoint snapshot holds events: the block waits, like a
      // block not deep enough.
      if (isPoolError(error, "CHAIN_UNAVAILABLE") || isPoolError(error, "EVENTS_HELD")) {
        return await checkAgainLater(ctx, args, error.data.message);
      }
      throw error;
    }
  },
});

// ---------------------------------------------------------------------------
// The HTTP endpoint

/** The answer to a delivery that was taken (any 2xx tells Chainhooks it arrived). */
export type DeliveryAnswer = {
  /** Vault prints of apply blocks now waiting for their confirmations. */
  staged: number;
  /** Applied vault events reversed because their block was rolled back. */
  reversed: number;
  /** Rolled-back prints whose block the API still has (left to the poller's re-check). */
  rollbackPending: number;
};

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
  });
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * Whether the request carries `Bearer <secret>`. Both sides are hashed and the
 * digests compared in full, so the time taken says nothing about how much of
 * the secret a guess got right, nor about its length.
 */
async function presentsSecret(authorization: string | null, secret: string): Promise<boolean> {
  const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? "")?.[1];
  const [given, expected] = await Promise.all([sha256(presented ?? ""), sha256(secret)]);
  let difference = presented === undefined ? 1 : 0;
  for (let i = 0; i < expected.length; i++) difference |= (given[i] ?? 0) ^ (expected[i] ?? 0);
  return difference === 0;
}

/** The body as text, or a 413 once it is known to exceed the limit (by its declared length first). */
async function readBounded(request: Request): Promise<string> {
  const tooLarge = () => new Refusal(413, "INVALID_REQUEST", `the delivery is larger than ${MAX_DELIVERY_BYTES} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && (!/^\d+$/.test(declared.trim()) || Number(declared) > MAX_DELIVERY_BYTES)) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_DELIVERY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function takeDelivery(ctx: ActionCtx, request: Request): Promise<DeliveryAnswer> {
  if (!(await presentsSecret(request.headers.get("authorization"), readChainhookSecret()))) {
    throw new Refusal(401, "NOT_AUTHENTICATED", "missing or wrong chainhook secret");
  }
  const text = await readBounded(request);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Refusal(400, "INVALID_REQUEST", "the delivery is not JSON");
  }
  const parsed = parseChainhookDelivery(json);
  if (!parsed.ok) throw new Refusal(400, "INVALID_REQUEST", `the delivery is malformed: ${parsed.problems}`);
  const config = readChainConfig();
  const network = chainhookNetworkFor(config.networkName);
  if (parsed.delivery.event.network !== network) {
    throw new Refusal(400, "INVALID_REQUEST", `the delivery is for ${parsed.delivery.event.network}, this deployment syncs ${network}`);
  }
  const delivery = vaultPrintsOfDelivery(parsed.delivery, config.vaultContractId, config.sbtcContractId);

  // Rollbacks first: a delivery may roll a block back and apply its replacement.
  const { reversed, apiBehind } =
    delivery.rollback.length > 0 ? await rollBack(ctx, hiroClientFor(config), delivery.rollback) : { reversed: 0, apiBehind: 0 };

  let staged = 0;
  for (const block of delivery.apply) {
    await ctx.scheduler.runAfter(0, internal.chainhooks.confirmDeliveredBlock, {
      block: { height: block.height, hash: block.hash },
      prints: block.prints.map(({ txid, hex }) => ({ txid, hex })),
      attempt: 0,
    });
    staged += block.prints.length;
  }
  return { staged, reversed, rollbackPending: apiBehind };
}

const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  CONFIGURATION_MISSING: 500,
  // Chainhooks retries a delivery that fails: the API may answer by then, a checkpoint snapshot
  // holding events (a rollback waits for it) will be over.
  CHAIN_UNAVAILABLE: 503,
  EVENTS_HELD: 503,
};

export const receiveVaultDelivery = httpAction(async (ctx, request) => {
  try {
    return answer(200, await takeDelivery(ctx, request));
  } catch (error) {
    if (error instanceof Refusal) {
      const challenge: Record<string, string> = error.status === 401 ? { "WWW-Authenticate": "Bearer" } : {};
      return answer(error.status, { code: error.code, message: error.message }, challenge);
    }
    if (isPoolError(error)) return answer(STATUS_OF_CODE[error.data.code] ?? 500, error.data);
    // The message only: never the body, the environment or a stack.
    console.error("chainhooks: delivery failed:", error instanceof Error ? error.message : String(error));
    return answer(500, { code: "INTERNAL_ERROR", message: "internal error" });
  }
});
