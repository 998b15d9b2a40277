/**
 * Event sync: a cron-driven action that reads the vault's print events from
 * the Stacks API, keeps only successful transactions in canonical blocks at
 * least SYNC_CONFIRMATIONS deep, decodes them, and applies them in chain
 * order through internal mutations that are idempotent by (txid, event
 * index). Governance events are recorded in the same order and the same way,
 * without touching the books. Applied events still inside the reorg window are re-checked each
 * run; one whose block left the canonical chain is reversed, one still in
 * place is skipped without a mutation when the page walk meets it again.
 *
 * Overlapping runs are harmless: every application is idempotent, and the
 * cursor only moves forward.
 */
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import { type ActionCtx } from "./_generated/server";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { hiroClientFor, routeGoneOf } from "./chain/hiroClient";
import { readChainConfig } from "./config";
import { decodeVaultPrint, VAULT_EVENTS } from "./chain/vault";
import { reachesHeight, TransactionCache, vaultEventPages, vaultPrints, type EventPage } from "./chain/vaultEventPages";
import { API_ROUTE_GONE, raiseAlert, raiseAlertOnce } from "./model/alerts";
import { reverseVaultEvent } from "./model/sync/reversal";
import { readSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import { applyVaultEvents } from "./model/sync/vaultEvents";
import { syncedEventValidator, type SyncedEvent } from "./validators";

const PAGE_SIZE = 50;
/**
 * Deposits and withdrawals touch a handful of documents each, and a
 * governance event one, so 25 share a mutation. (A withdrawal that supersedes
 * earlier vouchers frees at most 25 more reservations.) An event about a
 * policy (premium, settlement, lock, release) can touch every backer — up to
 * 13 index reads per backer and 100 backers — so each gets a mutation of its
 * own, keeping every transaction well inside Convex's 4,096 index ranges.
 */
const APPLY_BATCH = 25;
const POLICY_EVENTS: ReadonlySet<string> = new Set([
  VAULT_EVENTS.premiumPaid,
  VAULT_EVENTS.collateralLocked,
  VAULT_EVENTS.collateralReleased,
  VAULT_EVENTS.settlementPaid,
]);
const isCheap = (event: SyncedEvent) => !POLICY_EVENTS.has(event.kind);

/** Splits events, in order, into batches: runs of cheap events up to APPLY_BATCH, policy events alone. */
export function applyBatches(events: readonly SyncedEvent[]): SyncedEvent[][] {
  const batches: SyncedEvent[][] = [];
  for (const event of events) {
    const last = batches.at(-1);
    if (last && isCheap(event) && isCheap(last[0]!) && last.length < APPLY_BATCH) last.push(event);
    else batches.push([event]);
  }
  return batches;
}
/** Applied events read per query while the reorg window is re-checked. */
const RECHECK_PAGE = 500;

export const cursor = internalQuery({
  args: {},
  returns: v.object({ syncedThrough: v.union(v.int64(), v.null()) }),
  handler: async (ctx) => ({ syncedThrough: await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight) }),
});

const appliedPosition = v.object({
  txid: v.string(),
  eventIndex: v.number(),
  blockHeight: v.int64(),
  blockHash: v.string(),
});

/** One page of the events applied above `floor`, oldest first: the ones a reorg could still take back. */
export const appliedAbove = internalQuery({
  args: { floor: v.int64(), cursor: v.union(v.string(), v.null()), pageSize: v.optional(v.number()) },
  returns: v.object({ page: v.array(appliedPosition), isDone: v.boolean(), continueCursor: v.string() }),
  handler: async (ctx, { floor, cursor, pageSize = RECHECK_PAGE }) => {
    const result = await ctx.db
      .query("vaultEvents")
      .withIndex("by_block_height", (q) => q.gt("blockHeight", floor))
      .paginate({ numItems: pageSize, cursor });
    return {
      page: result.page
        .filter((e) => e.status !== "reversed")
        .map((e) => ({ txid: e.txid, eventIndex: e.eventIndex, blockHeight: e.blockHeight, blockHash: e.blockHash })),
      isDone: result.isDone,
      continueCursor: result.continueCursor,
    };
  },
});

/** One `api-route-gone` alert per switched-off route, however many runs meet it. */
export const noteRouteGone = internalMutation({
  args: { route: v.string(), message: v.string() },
  returns: v.null(),
  handler: async (ctx, { route, message }) => {
    await raiseAlertOnce(ctx, API_ROUTE_GONE, route, message);
    return null;
  },
});

/**
 * Runs a cron's work against the Stacks API. A route the API has switched off
 * (410 Gone) fails every run the same way and no retry can help, so the first
 * run that meets it alerts an operator, once per route; every run still fails
 * with the coded CHAIN_UNAVAILABLE error that names the route.
 */
export async function alertingRouteGone<T>(ctx: ActionCtx, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const gone = routeGoneOf(error);
    if (gone) await ctx.runMutation(internal.eventSync.noteRouteGone, { route: gone.route, message: gone.data.message });
    throw error;
  }
}

export const applyBatch = internalMutation({
  args: { events: v.array(syncedEventValidator) },
  returns: v.object({ applied: v.number(), duplicate: v.number(), unmatched: v.number(), recorded: v.number() }),
  handler: async (ctx, { events }) => await applyVaultEvents(ctx, events),
});

export const reverse = internalMutation({
  args: { txid: v.string(), eventIndex: v.number() },
  returns: v.union(v.literal("reversed"), v.literal("not-applied")),
  handler: async (ctx, key) => await reverseVaultEvent(ctx, key),
});

export const recordRejected = internalMutation({
  args: {
    txid: v.string(),
    eventIndex: v.number(),
    blockHeight: v.int64(),
    reason: v.string(),
    hex: v.string(),
  },
  returns: v.boolean(),
  handler: async (ctx, rejected) => {
    const existing = await ctx.db
      .query("rejectedEvents")
      .withIndex("by_tx_and_index", (q) => q.eq("txid", rejected.txid).eq("eventIndex", rejected.eventIndex))
      .unique();
    if (existing) return false;
    await ctx.db.insert("rejectedEvents", { ...rejected, recordedAt: Date.now() });
    await raiseAlert(ctx, "event-malformed", `vault print event could not be decoded: ${rejected.reason}`, {
      txid: rejected.txid,
      eventIndex: rejected.eventIndex,
    });
    return true;
  },
});

type Ordered = { event: SyncedEvent; txIndex: number };

const minBigint = (a: bigint, b: bigint) => (a < b ? a : b);
type AppliedPosition = { txid: string; eventIndex: number; blockHeight: bigint; blockHash: string };

/** An applied event's place on the chain: the same key means the same application. */
const appliedKey = (e: { txid: string; eventIndex: number; blockHash: string }) => `${e.txid}:${e.eventIndex}:${e.blockHash}`;

/**
 * Re-checks every applied event above `floor`, a page at a time: one whose
 * transaction is no longer successful in the same canonical block is
 * reversed. Returns the keys of those still in place.
 */
async function recheckReorgWindow(
  ctx: ActionCtx,
  txs: TransactionCache,
  floor: bigint,
): Promise<{ reversed: number; stillApplied: Set<string> }> {
  let reversed = 0;
  const stillApplied = new Set<string>();
  let cursor: string | null = null;
  for (;;) {
    const applied: { page: AppliedPosition[]; isDone: boolean; continueCursor: string } = await ctx.runQuery(
      internal.eventSync.appliedAbove,
      { floor, cursor },
    );
    await txs.load(applied.page.map((e) => e.txid));
    for (const event of applied.page) {
      const at = await txs.inclusion(event.txid);
      const stillThere = at !== null && at.canonical && at.succeeded && at.blockHash === event.blockHash;
      if (stillThere) {
        stillApplied.add(appliedKey(event));
        continue;
      }
      const outcome = await ctx.runMutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: event.eventIndex });
      if (outcome === "reversed") reversed++;
    }
    if (applied.isDone) return { reversed, stillApplied };
    cursor = applied.continueCursor;
  }
}

type Walk = {
  /** Newest first, as the pages list them; at most `maxEvents`, the oldest ones. */
  collected: Ordered[];
  rejected: number;
  waiting: number;
  known: number;
  /** Lowest block height of the new events left for a later run (too many for this one), if any. */
  deferredFrom: bigint | null;
};

/**
 * Walks the event pages down to `floor`: keeps the confirmed events of
 * successful canonical transactions not applied yet, records undecodable
 * ones, and counts those still waiting for confirmations and those already
 * applied (re-checked in place, or repeated by a later page).
 */
async function collectNewEvents(
  ctx: ActionCtx,
  pages: AsyncGenerator<EventPage>,
  txs: TransactionCache,
  scope: {
    vaultContractId: string;
    sbtcContractId: string;
    floor: bigint;
    confirmedThrough: bigint;
    stillApplied: ReadonlySet<string>;
    maxEvents: number;
  },
): Promise<Walk> {
  const walk: Walk = { collected: [], rejected: 0, waiting: 0, known: 0, deferredFrom: null };
  const seen = new Set<string>();
  // Events come newest first and must be applied oldest first: keep the oldest
  // `maxEvents`, and note from which height the newer ones wait for a later run.
  const deferNewest = (keep: number) => {
    for (const { event } of walk.collected.splice(0, Math.max(0, walk.collected.length - keep))) {
      if (walk.deferredFrom === null || event.blockHeight < walk.deferredFrom) walk.deferredFrom = event.blockHeight;
    }
  };
  for await (const page of pages) {
    let reachedFloor = false;
    for (const printed of vaultPrints(page, scope.vaultContractId)) {
      const at = await txs.inclusion(printed.txid);
      if (at === null) continue;
      if (at.blockHeight <= scope.floor) {
        reachedFloor = true;
        continue;
      }
      if (!at.canonical || !at.succeeded) continue;
      if (at.blockHeight > scope.confirmedThrough) {
        walk.waiting++;
        continue;
      }
      const position = { txid: printed.txid, eventIndex: printed.eventIndex, blockHeight: at.blockHeight, blockHash: at.blockHash };
      // Re-checked and still in place, or met on an earlier page: applying it again would change nothing.
      const key = appliedKey(position);
      if (scope.stillApplied.has(key) || seen.has(key)) {
        walk.known++;
        continue;
      }
      seen.add(key);
      const decoded = decodeVaultPrint(printed.hex, position, scope.sbtcContractId);
      if (decoded.kind === "money" || decoded.kind === "governance") {
        walk.collected.push({ event: decoded.event, txIndex: at.txIndex });
        if (walk.collected.length >= 2 * scope.maxEvents) deferNewest(scope.maxEvents);
      }
      if (decoded.kind === "malformed") {
        const recorded = await ctx.runMutation(internal.eventSync.recordRejected, {
          txid: printed.txid,
          eventIndex: printed.eventIndex,
          blockHeight: at.blockHeight,
          reason: decoded.reason,
          hex: printed.hex,
        });
        if (recorded) walk.rejected++;
      }
    }
    if (reachedFloor) break;
  }
  deferNewest(scope.maxEvents);
  return walk;
}

const syncResult = v.object({
  tipHeight: v.int64(),
  syncedThrough: v.int64(),
  applied: v.number(),
  duplicate: v.number(),
  unmatched: v.number(),
  /** Governance events stored as printed (roles, pause, outflow limit, checkpoints, shutdown, exit claims). */
  recorded: v.number(),
  rejected: v.number(),
  reversed: v.number(),
  waitingForConfirmations: v.number(),
  /** More new events remain than one run applies; another run is already scheduled. */
  catchingUp: v.boolean(),
});

export const syncVaultEvents = internalAction({
  args: {},
  returns: syncResult,
  handler: (ctx): Promise<Infer<typeof syncResult>> => alertingRouteGone(ctx, async () => {
    const config = readChainConfig();
    const client = hiroClientFor(config);
    const tip = await client.getTipHeight();
    const confirmedThrough = tip - config.syncConfirmations;
    const { syncedThrough } = await ctx.runQuery(internal.eventSync.cursor, {});
    const floor = syncedThrough === null ? -1n : syncedThrough - config.syncReorgWindow;

    const txs = new TransactionCache(client);
    // The first events page is requested now, and arrives while the reorg window is re-checked.
    const reachesFloor = (page: EventPage) => reachesHeight(page, txs, floor);
    const pages = vaultEventPages(client, txs, config.vaultContractId, PAGE_SIZE, reachesFloor);

    // 1. Applied events still inside the reorg window must still be where we saw them.
    const { reversed, stillApplied } =
      syncedThrough === null ? { reversed: 0, stillApplied: new Set<string>() } : await recheckReorgWindow(ctx, txs, floor);

    // 2. Page through the vault's events, newest first, down to the reorg window's floor.
    const walk = await collectNewEvents(ctx, pages, txs, {
      vaultContractId: config.vaultContractId,
      sbtcContractId: config.sbtcContractId,
      floor,
      confirmedThrough,
      stillApplied,
      maxEvents: config.syncMaxEventsPerRun,
    });
    const { collected, rejected, waiting } = walk;

    // 3. Apply in chain order: block, then transaction, then event.
    collected.sort(
      (a, b) =>
        (a.event.blockHeight === b.event.blockHeight ? 0 : a.event.blockHeight < b.event.blockHeight ? -1 : 1) ||
        a.txIndex - b.txIndex ||
        a.event.eventIndex - b.event.eventIndex,
    );
    const totals = { applied: 0, duplicate: walk.known, unmatched: 0, recorded: 0 };
    for (const events of applyBatches(collected.map((c) => c.event))) {
      const counts = await ctx.runMutation(internal.eventSync.applyBatch, { events });
      totals.applied += counts.applied;
      totals.duplicate += counts.duplicate;
      totals.unmatched += counts.unmatched;
      totals.recorded += counts.recorded;
    }

    // 4. Everything at or below the confirmed height has now been seen — or, in a long
    //    catch-up, everything below the first deferred event; the next run follows at once.
    const seenThrough = walk.deferredFrom === null ? confirmedThrough : minBigint(confirmedThrough, walk.deferredFrom - 1n);
    const nowSyncedThrough = seenThrough > 0n ? seenThrough : 0n;
    await ctx.runMutation(internal.vaultEvents.markSyncedThrough, { height: nowSyncedThrough });
    if (walk.deferredFrom !== null) await ctx.scheduler.runAfter(0, internal.eventSync.syncVaultEvents, {});
    return {
      tipHeight: tip,
      syncedThrough: nowSyncedThrough,
      catchingUp: walk.deferredFrom !== null,
      ...totals,
      rejected,
      reversed,
      waitingForConfirmations: waiting,
    };
  }),
});
