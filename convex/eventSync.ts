/**
 * Event sync: a cron-driven action that walks the vault's print logs upward
 * from the last event it processed (GET /extended/v2/smart-contracts/{id}/logs,
 * chain/contractLogs.ts), keeps only successful transactions in canonical
 * blocks that are confirmed — SYNC_CONFIRMATIONS Stacks blocks and
 * SYNC_CONFIRMATIONS_BURN_BLOCKS burn blocks deep, counted against the lower
 * of the node's tip and the API indexer's tip — decodes them, and applies them
 * in chain order through internal mutations that are idempotent by (txid,
 * event index), recording its position after every page. Governance events
 * are recorded in the same order and the same way, without touching the
 * books. Applied events whose burn block is inside the reorg window
 * (SYNC_REORG_WINDOW_BURN_BLOCKS) are re-checked by block hash each run; one
 * whose block left the canonical chain is reversed, and the walk steps back
 * below the window to meet the events of the winning fork (README "Chain
 * integration").
 *
 * Overlapping runs are harmless: every application is idempotent, and the
 * position only moves forward, except when a run steps back on purpose.
 */
import { getFunctionName, type FunctionReference } from "convex/server";
import { pick } from "convex-helpers";
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import schema from "./schema";
import { type ActionCtx } from "./_generated/server";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { hiroClientFor, rateLimitedOf, routeGoneOf, type HiroClient, type RateLimitedError } from "./chain/hiroClient";
import { readChainConfig } from "./config";
import { decodeVaultPrint, VAULT_EVENTS } from "./chain/vault";
import {
  cursorAt,
  isConfirmed,
  logsAbove,
  pageStillAt,
  placementOf,
  readConfirmationRule,
  type ConfirmationRule,
  type PlacedLog,
  type WalkStart,
} from "./chain/contractLogs";
import { isPoolError } from "./domain/errors";
import { API_ROUTE_GONE, raiseAlert, raiseAlertOnce } from "./model/alerts";
import { reverseVaultEvent } from "./model/sync/reversal";
import { readSyncPosition, readSyncValue, SYNC_KEYS, writeSyncPosition, type SyncPosition } from "./model/sync/syncState";
import { applyVaultEvents } from "./model/sync/vaultEvents";
import { effectsInSubTransaction } from "./vaultEvents";
import { syncedEventValidator, type SyncedEvent } from "./validators";

/**
 * Deposits and withdrawals touch a handful of documents each, and a
 * governance event one, so 25 share a mutation. (A withdrawal that supersedes
 * earlier vouchers frees at most 25 more reservations: no provider holds
 * more.) An event about a policy (premium, settlement, lock, release) can
 * touch every backer — up to 13 index reads per backer and 100 backers — so
 * each gets a mutation of its own, keeping every transaction well inside
 * Convex's 4,096 index ranges.
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
/** Applied events read per query while the reorg window is re-checked: a transactions request's worth. */
const RECHECK_PAGE = 100;

export const cursor = internalQuery({
  args: {},
  returns: v.object({ syncedThrough: v.union(v.int64(), v.null()) }),
  handler: async (ctx) => ({ syncedThrough: await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight) }),
});

const appliedPosition = v.object(pick(schema.tables.vaultEvents.validator.fields, ["txid", "eventIndex", "blockHeight", "blockHash"]));

const syncPositionValidator = v.object({ cursor: v.string(), txid: v.string(), eventIndex: v.number() });

/** Where the walk stands (null before the first event is processed). */
export const position = internalQuery({
  args: {},
  returns: v.union(syncPositionValidator, v.null()),
  handler: async (ctx) => await readSyncPosition(ctx, SYNC_KEYS.vaultEventsPosition),
});

/** Moves the walk's position forward; `rewind` sets it where it is told, a null one back to the first event. */
export const recordPosition = internalMutation({
  args: { position: v.union(syncPositionValidator, v.null()), rewind: v.optional(v.boolean()) },
  returns: v.null(),
  handler: async (ctx, { position, rewind }) => {
    await writeSyncPosition(ctx, SYNC_KEYS.vaultEventsPosition, position, rewind ?? false);
    return null;
  },
});

/** One page of the events applied above `floor` (a Stacks height), oldest first. */
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

/**
 * One page of the applied events, newest first by block height: the re-check
 * reads down from the newest until it meets one still in place whose burn
 * block has left the reorg window.
 */
export const appliedNewestFirst = internalQuery({
  args: { cursor: v.union(v.string(), v.null()), pageSize: v.optional(v.number()) },
  returns: v.object({ page: v.array(appliedPosition), isDone: v.boolean(), continueCursor: v.string() }),
  handler: async (ctx, { cursor, pageSize = RECHECK_PAGE }) => {
    const result = await ctx.db
      .query("vaultEvents")
      .withIndex("by_block_height")
      .order("desc")
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

/**
 * The longest wait after which a rate-limited run schedules itself; past it
 * (an exhausted monthly quota), the cron's own ticks are the retry.
 */
const MAX_RESCHEDULE_MS = 10 * 60_000;

/** Scheduled-function names, with or without the module's extension. */
const sameFunction = (a: string, b: string) => a.replace(/\.js:/, ":") === b.replace(/\.js:/, ":");

/** Whether a run of `name` is scheduled and not started yet. */
export const runPending = internalQuery({
  args: { name: v.string() },
  returns: v.boolean(),
  handler: async (ctx, { name }) => {
    // Only jobs created within the longest reschedule can be a rescheduled run still waiting.
    const since = Date.now() - MAX_RESCHEDULE_MS;
    const jobs = ctx.db.system
      .query("_scheduled_functions")
      .withIndex("by_creation_time", (q) => q.gte("_creationTime", since))
      .order("desc");
    for await (const job of jobs) if (job.state.kind === "pending" && sameFunction(job.name, name)) return true;
    return false;
  },
});

/**
 * A run the Stacks API rate-limited (README, "Rate limits"): schedules `job`
 * at the end of the wait instead of sleeping through it. Every cron tick that
 * meets the limit meanwhile comes here too, so a run already waiting is not
 * doubled: they would all start at the same moment and spend the new window
 * together. Returns the delay scheduled, or null when none was.
 */
export async function rescheduleAfterRateLimit(
  ctx: ActionCtx,
  job: FunctionReference<"action", "internal", Record<string, never>>,
  limited: RateLimitedError,
): Promise<number | null> {
  console.warn(`[rate-limited] ${getFunctionName(job)}: ${limited.data.message}`);
  if (limited.retryAfterMs > MAX_RESCHEDULE_MS) return null;
  if (await ctx.runQuery(internal.eventSync.runPending, { name: getFunctionName(job) })) return null;
  await ctx.scheduler.runAfter(limited.retryAfterMs, job, {});
  return limited.retryAfterMs;
}

export const applyBatch = internalMutation({
  args: { events: v.array(syncedEventValidator) },
  returns: v.object({ applied: v.number(), duplicate: v.number(), unmatched: v.number(), recorded: v.number() }),
  handler: async (ctx, { events }) => await applyVaultEvents(ctx, events, effectsInSubTransaction(ctx)),
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

type AppliedPosition = { txid: string; eventIndex: number; blockHeight: bigint; blockHash: string };

/** An applied event's place on the chain: the same key means the same application. */
const appliedKey = (e: { txid: string; eventIndex: number; blockHash: string }) => `${e.txid}:${e.eventIndex}:${e.blockHash}`;

type Recheck = {
  reversed: number;
  /** Applied events inside the window still in place: the walk meets them again when it steps back, and skips them. */
  stillApplied: Set<string>;
  /**
   * The newest applied event still in place whose burn block is at or below
   * the window's floor: a reorg inside the window cannot have touched it or
   * anything before it, so a walk that must step back starts there. Null when
   * there is none (every applied event is inside the window, or none exists):
   * the walk then starts from the vault's first event.
   */
  floor: SyncPosition | null;
};

/**
 * Re-checks the applied events whose burn block is above `burnFloor`, newest
 * first, a page at a time (one transactions request per page): one whose
 * transaction is no longer successful in the same canonical block (same
 * block hash) is reversed. Stops at the first one still in place at or below
 * the floor: Stacks heights follow burn heights on the canonical chain, so
 * everything below it is outside the window too.
 */
async function recheckReorgWindow(ctx: ActionCtx, client: HiroClient, burnFloor: bigint): Promise<Recheck> {
  const recheck: Recheck = { reversed: 0, stillApplied: new Set(), floor: null };
  let cursor: string | null = null;
  for (;;) {
    const applied: { page: AppliedPosition[]; isDone: boolean; continueCursor: string } = await ctx.runQuery(
      internal.eventSync.appliedNewestFirst,
      { cursor },
    );
    const txs = await client.getPlacedTransactions([...new Set(applied.page.map((e) => e.txid))]);
    for (const event of applied.page) {
      const at = placementOf(txs.get(event.txid));
      const inPlace = at !== null && at.canonical && at.succeeded && at.blockHash === event.blockHash;
      if (!inPlace) {
        const outcome = await ctx.runMutation(internal.eventSync.reverse, { txid: event.txid, eventIndex: event.eventIndex });
        if (outcome === "reversed") recheck.reversed++;
        continue;
      }
      if (at.burnBlockHeight <= burnFloor) {
        recheck.floor = { cursor: cursorAt(at, event.eventIndex), txid: event.txid, eventIndex: event.eventIndex };
        return recheck;
      }
      recheck.stillApplied.add(appliedKey(event));
    }
    if (applied.isDone) return recheck;
    cursor = applied.continueCursor;
  }
}

/** Where the walk starts this run, and whether it stepped back from the stored position. */
async function startOfWalk(
  ctx: ActionCtx,
  client: HiroClient,
  contractId: string,
  recheck: Recheck,
): Promise<{ start: WalkStart; steppedBack: boolean }> {
  const stored = await ctx.runQuery(internal.eventSync.position, {});
  const back = { start: { after: recheck.floor?.cursor ?? null }, steppedBack: true };
  // Events were reversed: their transactions may be mined again anywhere above the floor.
  if (recheck.reversed > 0 || stored === null) return back;
  // The stored event is still where it was: the page at its position leads up from it; else step back.
  const page = await pageStillAt(client, contractId, stored);
  return page ? { start: { after: stored.cursor, page }, steppedBack: false } : back;
}

type Walk = {
  collected: number;
  totals: { applied: number; duplicate: number; unmatched: number; recorded: number };
  rejected: number;
  waiting: number;
  /** The run stopped at SYNC_MAX_EVENTS_PER_RUN; the rest waits for the run it schedules. */
  capped: boolean;
  /** Every vault event at or below this height has been dealt with (null: nothing more is known than before). */
  seenThrough: bigint | null;
};

/** What a page's rows come to: the events to apply, in order, and where the walk got. */
type PageOutcome = { events: SyncedEvent[]; position: SyncPosition | null; stop: "unplaced" | "unconfirmed" | "capped" | null; stopHeight: bigint | null };

/**
 * Goes through a page's rows in chain order, up to the first that cannot
 * count yet: its transaction is not (or no longer) in a canonical block as
 * the API sees it, or it is not confirmed — everything after it is newer.
 */
async function readPage(
  ctx: ActionCtx,
  rows: readonly PlacedLog[],
  scope: { sbtcContractId: string; rule: ConfirmationRule; stillApplied: ReadonlySet<string>; room: number },
  walk: Walk,
): Promise<PageOutcome> {
  const outcome: PageOutcome = { events: [], position: null, stop: null, stopHeight: null };
  for (const [index, row] of rows.entries()) {
    const at = row.at;
    if (at === null || !at.canonical || row.cursor === null) {
      outcome.stop = "unplaced";
      walk.waiting += rows.length - index;
      return outcome;
    }
    if (!isConfirmed(at, scope.rule)) {
      outcome.stop = "unconfirmed";
      outcome.stopHeight = at.blockHeight;
      walk.waiting += rows.length - index;
      return outcome;
    }
    if (outcome.events.length >= scope.room) {
      outcome.stop = "capped";
      outcome.stopHeight = at.blockHeight;
      return outcome;
    }
    outcome.position = { cursor: row.cursor, txid: row.txid, eventIndex: row.eventIndex };
    // An aborted or skipped transaction's prints never happened: passed over.
    if (!at.succeeded) continue;
    const place = { txid: row.txid, eventIndex: row.eventIndex, blockHeight: at.blockHeight, blockHash: at.blockHash };
    // Re-checked and still in place: applying it again would change nothing.
    if (scope.stillApplied.has(appliedKey(place))) {
      walk.totals.duplicate++;
      continue;
    }
    const decoded = decodeVaultPrint(row.hex, place, scope.sbtcContractId);
    if (decoded.kind === "money" || decoded.kind === "governance") outcome.events.push(decoded.event);
    if (decoded.kind === "malformed") {
      const recorded = await ctx.runMutation(internal.eventSync.recordRejected, {
        txid: row.txid,
        eventIndex: row.eventIndex,
        blockHeight: at.blockHeight,
        reason: decoded.reason,
        hex: row.hex,
      });
      if (recorded) walk.rejected++;
    }
  }
  return outcome;
}

/**
 * Walks up from `start` page by page: applies each page's confirmed events
 * in chain order, then records the position, so a crash or a timeout loses
 * at most one page's work (which the next run repeats, idempotently).
 */
async function walkAndApply(
  ctx: ActionCtx,
  client: HiroClient,
  start: WalkStart,
  scope: { vaultContractId: string; sbtcContractId: string; rule: ConfirmationRule; stillApplied: ReadonlySet<string>; maxEvents: number },
): Promise<Walk> {
  const walk: Walk = {
    collected: 0,
    totals: { applied: 0, duplicate: 0, unmatched: 0, recorded: 0 },
    rejected: 0,
    waiting: 0,
    capped: false,
    seenThrough: null,
  };
  let lastHeight: bigint | null = null;
  for await (const rows of logsAbove(client, scope.vaultContractId, start)) {
    const page = await readPage(ctx, rows, { ...scope, room: scope.maxEvents - walk.collected }, walk);
    for (const events of applyBatches(page.events)) {
      const counts = await ctx.runMutation(internal.eventSync.applyBatch, { events });
      walk.totals.applied += counts.applied;
      walk.totals.duplicate += counts.duplicate;
      walk.totals.unmatched += counts.unmatched;
      walk.totals.recorded += counts.recorded;
    }
    walk.collected += page.events.length;
    if (page.position) {
      await ctx.runMutation(internal.eventSync.recordPosition, { position: page.position });
      lastHeight = BigInt(page.position.cursor.split(":")[0] as string);
    }
    if (page.stop === null) continue;
    walk.capped = page.stop === "capped";
    // Everything below the block of the first event left is dealt with; when that block is not
    // known, everything below the last one processed (the event left may share its block).
    const below = page.stopHeight ?? lastHeight;
    walk.seenThrough = below === null ? null : below - 1n;
    return walk;
  }
  // The walk reached the newest event: everything the confirmation rule lets count is dealt with.
  walk.seenThrough = scope.rule.throughHeight;
  return walk;
}

const syncResult = v.object({
  /** The lower of the node's tip and the API indexer's tip, in Stacks blocks: what confirmations count from. */
  indexedTipHeight: v.optional(v.int64()),
  /** Absent when the run was rate-limited before it read the tip. */
  tipHeight: v.optional(v.int64()),
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
  /** The API rate-limited the run for this long: it stopped there (its counts are not reported) and runs again after the wait (README, "Rate limits"). */
  rateLimitedForMs: v.optional(v.number()),
  /**
   * A checkpoint snapshot held vault events (EVENTS_HELD, README "Checkpoints"): the run
   * stopped at the first page it could not apply, recorded no position past it, and the next
   * cron run carries on from there.
   */
  heldForCheckpoint: v.optional(v.boolean()),
});

export const syncVaultEvents = internalAction({
  args: {},
  returns: syncResult,
  handler: (ctx): Promise<Infer<typeof syncResult>> => syncRateLimited(ctx, () => alertingRouteGone(ctx, async () => {
    const config = readChainConfig();
    const client = hiroClientFor(config);
    // Confirmations count from the lower of the node's tip and the block the API's indexer has
    // reached: the logs and the transactions come from the indexer, which may lag the node.
    const confirmations = { blocks: config.syncConfirmations, burnBlocks: config.syncConfirmationsBurnBlocks };
    const { node, rule, burnTip } = await readConfirmationRule(client, confirmations);
    const { syncedThrough: before } = await ctx.runQuery(internal.eventSync.cursor, {});
    const counts = { applied: 0, duplicate: 0, unmatched: 0, recorded: 0, rejected: 0, reversed: 0, waitingForConfirmations: 0 };
    if (rule === null) return { tipHeight: node.stacksHeight, syncedThrough: before ?? 0n, catchingUp: false, ...counts };

    // 1. Applied events whose burn block is inside the reorg window must still be in the same block.
    const recheck = await recheckReorgWindow(ctx, client, burnTip - config.syncReorgWindowBurnBlocks);

    // 2. From the last event processed, if it is still where it was; else from below the window.
    const { start, steppedBack } = await startOfWalk(ctx, client, config.vaultContractId, recheck);
    if (steppedBack) await ctx.runMutation(internal.eventSync.recordPosition, { position: recheck.floor, rewind: true });

    // 3. Up, page by page, applying the confirmed events in chain order.
    const walk = await walkAndApply(ctx, client, start, {
      vaultContractId: config.vaultContractId,
      sbtcContractId: config.sbtcContractId,
      rule,
      stillApplied: recheck.stillApplied,
      maxEvents: config.syncMaxEventsPerRun,
    });

    // 4. The synced height only moves forward; a capped run schedules the next at once.
    const seenThrough = walk.seenThrough ?? before ?? 0n;
    const nowSyncedThrough = seenThrough > 0n ? seenThrough : 0n;
    await ctx.runMutation(internal.vaultEvents.markSyncedThrough, { height: nowSyncedThrough });
    if (walk.capped) await ctx.scheduler.runAfter(0, internal.eventSync.syncVaultEvents, {});
    const { syncedThrough } = await ctx.runQuery(internal.eventSync.cursor, {});
    return {
      tipHeight: node.stacksHeight,
      indexedTipHeight: rule.throughHeight + config.syncConfirmations,
      syncedThrough: syncedThrough ?? nowSyncedThrough,
      catchingUp: walk.capped,
      ...counts,
      ...walk.totals,
      rejected: walk.rejected,
      reversed: recheck.reversed,
      waitingForConfirmations: walk.waiting,
    };
  })),
});

/**
 * The sync, rate-limited: it stops where it is (overlapping and repeated runs are harmless, see
 * the top of this file) and runs again after the wait. Held by a checkpoint snapshot
 * (EVENTS_HELD), it stops where it is too, and the next cron run is the retry.
 */
async function syncRateLimited(ctx: ActionCtx, run: () => Promise<Infer<typeof syncResult>>): Promise<Infer<typeof syncResult>> {
  try {
    return await run();
  } catch (error) {
    const nothing = { applied: 0, duplicate: 0, unmatched: 0, recorded: 0, rejected: 0, reversed: 0, waitingForConfirmations: 0 };
    if (isPoolError(error, "EVENTS_HELD")) {
      // Every page before the held one is applied and its position recorded; the rest waits.
      const { syncedThrough } = await ctx.runQuery(internal.eventSync.cursor, {});
      return { syncedThrough: syncedThrough ?? 0n, ...nothing, catchingUp: false, heldForCheckpoint: true };
    }
    const limited = rateLimitedOf(error);
    if (!limited) throw error;
    await rescheduleAfterRateLimit(ctx, internal.eventSync.syncVaultEvents, limited);
    const { syncedThrough } = await ctx.runQuery(internal.eventSync.cursor, {});
    return { syncedThrough: syncedThrough ?? 0n, ...nothing, catchingUp: false, rateLimitedForMs: limited.retryAfterMs };
  }
}
