/**
 * Every event the vault ever printed, read from a Stacks API alone (README
 * "Operations: the watcher and the exit"). The tools trust no database: what
 * they check, and what a provider claims, is rebuilt from these events and the
 * vault's read-only answers, nothing else.
 *
 * The walk is the event sync's own (`logsAbove`: the cursor-paged v2 logs
 * from the vault's first print upward, each page's transactions placed in one
 * request) and each print is decoded by the sync's decoder, so a tuple the
 * backend would refuse is refused here too. Each run starts from the first
 * event: a tool that keeps no state across runs (no file, no database) cannot
 * be misled by a reorg it missed while it was not running.
 *
 * Within one run the watcher (tools/watch.ts) keeps an `EventHistory` in
 * memory, so a round does not walk the whole history again — 100,000 events
 * are 1,000 logs pages and as many transactions requests, far beyond the
 * API's anonymous rate limit every 30 s. Each `refresh`:
 *
 * - Resume point. It keeps the held events up to the last one that is both
 *   more than `reorgWindowBurnBlocks` burn blocks (default 6, the backend's
 *   SYNC_REORG_WINDOW_BURN_BLOCKS) below the burn block of the newest event
 *   held, and before the first row the previous read could not place (a
 *   transaction the API had not placed in a canonical block then: it is not
 *   kept, and read again). It drops the rest and walks `logsAbove` from the
 *   log cursor of the last event kept (the anchor).
 *
 * - Why burn blocks. In Nakamoto a Stacks block signed by the signers is
 *   final against anything but a Bitcoin reorg, and a Bitcoin reorg takes
 *   whole tenures, however many Stacks blocks they hold (about a hundred in
 *   ten minutes): a window counted in Stacks blocks would cover seconds. Six
 *   burn blocks is the depth the backend's sync re-checks (Bitcoin's customary
 *   finality); counted back from the newest event held rather than from the
 *   tip, it is never shallower than the sync's (the newest event is at or
 *   below the tip) and needs no tip request. A reorg inside the window costs
 *   nothing extra: the window's events are read again anyway and replace the
 *   held ones, whatever moved, vanished or appeared.
 *
 * - Reorgs below the window. Before walking, the anchor's transaction is
 *   looked up (one request): it must still be in a canonical block with the
 *   same block hash, at the same cursor, with the same outcome. A Stacks
 *   block's hash commits to its parent (the header names it), so the anchor's
 *   block still canonical means every block below it is too, and every event
 *   kept is still where it was. If it is not, the refresh becomes a full read
 *   from the first event — the window only keeps the common, shallow reorgs
 *   cheap; correctness rests on the anchor's hash.
 *
 * - Full reads. The first refresh, a refresh after the vault's sBTC contract
 *   changed (decoding depends on it), one whose window reaches down to the
 *   first event, one whose anchor moved, and every `fullEvery`-th refresh
 *   (default 120: an hour of 30 s rounds) as a belt-and-braces check read
 *   from the first event. A refresh that fails (the API down, rate-limited)
 *   changes nothing held: the next one starts from the same place.
 *
 * `malformed` and `unplaced` mean what they mean for a full read, and a
 * refresh returns exactly what a fresh full read would at that moment (the
 * tests hold it to that). `readVaultEvents` is a fresh history's first
 * refresh: the exit tool reads once per run.
 */
import {
  compareLogCursors,
  cursorAt,
  DEFAULT_REORG_WINDOW_BURN_BLOCKS,
  logsAbove,
  placementOf,
  type PlacedLog,
} from "../convex/chain/contractLogs";
import { LOGS_PAGE_TXS, type HiroClient } from "../convex/chain/hiroClient";
import { decodeVaultPrint, type Decoded } from "../convex/chain/vault";

export type MoneyEvent = Extract<Decoded, { kind: "money" }>["event"];
export type GovernanceEvent = Extract<Decoded, { kind: "governance" }>["event"];
/** A decoded print with its place on the chain (txid, event index, block). */
export type ChainEvent = MoneyEvent | GovernanceEvent;
/** The event of one kind: `EventOf<"shutdown">`. */
export type EventOf<K extends ChainEvent["kind"]> = Extract<ChainEvent, { kind: K }>;

export type VaultEventLog = {
  /** Oldest first: the vault's order of execution. */
  events: ChainEvent[];
  /** Prints the decoder refused: a vault of another version, or an API answering nonsense. */
  malformed: { txid: string; eventIndex: number; reason: string }[];
  /**
   * Prints whose transaction the API could not place in a canonical block at
   * the moment of reading (its indexer between two updates): left out, so the
   * books may be short of them until the next read.
   */
  unplaced: number;
};

export type LogsClient = Pick<HiroClient, "getContractLogs" | "getPlacedTransactions">;

/** A full read every this many refreshes: an hour of rounds 30 s apart. */
export const DEFAULT_FULL_EVERY = 120;

export type EventHistoryOptions = {
  /** Burn blocks below the newest held event's whose events are read again every refresh (0: none, the anchor check alone). */
  reorgWindowBurnBlocks?: bigint;
  /** Every this many refreshes one reads from the first event (1: every one). */
  fullEvery?: number;
};

/** Why a refresh read from the first event. */
export type FullReadReason =
  | "first" // nothing held yet
  | "scheduled" // every `fullEvery` refreshes
  | "window" // the reorg window (or an unplaced print) reaches down to the first event held
  | "anchor-moved" // the last event kept is no longer where it was: a reorg below the window
  | "sbtc-changed"; // the vault's sBTC contract is not the one the held events were decoded with

/** What one refresh cost and found. */
export type RefreshReport = {
  mode: "full" | "tail";
  /** Set for a full read. */
  reason: FullReadReason | null;
  /** For a tail read: the last event kept, above which the logs were read again. */
  from: { cursor: string; blockHeight: bigint; burnBlockHeight: bigint } | null;
  /** Held rows dropped to be read again (the window, and from the first unplaced row on). */
  dropped: number;
  /** Rows the walk returned: events, malformed, failed and unplaced prints alike. */
  read: number;
  /** Dropped rows the re-read did not find again in the same block: what a reorg inside the window moved or took. */
  moved: number;
  /** Requests to the API: logs pages and transactions lookups (retries not counted). */
  requests: number;
  /** Events held after the refresh. */
  held: number;
};

/** A placed print in a canonical block, as held: where it is, and what it decoded to. */
type HeldRow = {
  txid: string;
  eventIndex: number;
  cursor: string;
  blockHash: string;
  blockHeight: bigint;
  burnBlockHeight: bigint;
  succeeded: boolean;
  /** "failed": its transaction did not run to `(ok …)`, so the print never happened (counted as unplaced, as a full read does). */
  outcome: { kind: "event"; event: ChainEvent } | { kind: "malformed"; reason: string } | { kind: "failed" };
};

const rowKey = (row: { txid: string; eventIndex: number; blockHash: string }) => `${row.txid}:${row.eventIndex}:${row.blockHash}`;

/** `client`, counting the requests made through it. */
function counting(client: LogsClient): { client: LogsClient; requests: () => number } {
  let requests = 0;
  return {
    client: {
      getContractLogs: (contractId, page) => {
        requests++;
        return client.getContractLogs(contractId, page);
      },
      getPlacedTransactions: (txids) => {
        requests += Math.ceil(txids.length / LOGS_PAGE_TXS);
        return client.getPlacedTransactions(txids);
      },
    },
    requests: () => requests,
  };
}

/**
 * The vault's events, held in memory across the watcher's rounds and brought
 * up to date by `refresh` (see the top of this file for the rules).
 */
export class EventHistory {
  readonly reorgWindowBurnBlocks: bigint;
  readonly fullEvery: number;
  private rows: HeldRow[] = [];
  /** Rows of the last read that could not be placed (not held). */
  private unplacedRows = 0;
  /** How many held rows precede the first row the last read could not place; null when it placed every row. */
  private placedThrough: number | null = null;
  /** The sBTC contract the held rows were decoded with; undefined before the first refresh. */
  private sbtcContractId: string | null | undefined = undefined;
  /** Refreshes since the last full read, that one included. */
  private sinceFull = 0;

  constructor(
    readonly vaultContractId: string,
    options: EventHistoryOptions = {},
  ) {
    this.reorgWindowBurnBlocks = options.reorgWindowBurnBlocks ?? DEFAULT_REORG_WINDOW_BURN_BLOCKS;
    this.fullEvery = options.fullEvery ?? DEFAULT_FULL_EVERY;
    if (this.reorgWindowBurnBlocks < 0n) throw new RangeError("reorgWindowBurnBlocks must not be negative");
    if (!Number.isSafeInteger(this.fullEvery) || this.fullEvery < 1) throw new RangeError("fullEvery must be a whole number of at least 1");
  }

  /** What is held now, as a full read would have returned it. */
  get log(): VaultEventLog {
    const log: VaultEventLog = { events: [], malformed: [], unplaced: this.unplacedRows };
    for (const row of this.rows) {
      if (row.outcome.kind === "event") log.events.push(row.outcome.event);
      else if (row.outcome.kind === "malformed") log.malformed.push({ txid: row.txid, eventIndex: row.eventIndex, reason: row.outcome.reason });
      else log.unplaced++;
    }
    return log;
  }

  /**
   * Brings the history up to date and returns it with what it cost.
   * `sbtcContractId` is the vault's configured sBTC (null before it has one:
   * no event can name sBTC then).
   */
  async refresh(client: LogsClient, sbtcContractId: string | null): Promise<{ log: VaultEventLog; report: RefreshReport }> {
    const counted = counting(client);
    let reason: FullReadReason | null = this.fullReadDue(sbtcContractId);
    let keep = 0;
    if (reason === null) {
      keep = this.resumeIndex();
      if (keep === 0) reason = "window";
      else if (!(await this.stillInPlace(counted.client, this.rows[keep - 1] as HeldRow))) reason = "anchor-moved";
    }
    if (reason !== null) keep = 0;
    const anchor = keep > 0 ? (this.rows[keep - 1] as HeldRow) : null;

    // Read into new arrays: a refresh that throws leaves the history as it was.
    const rows = this.rows.slice(0, keep);
    const dropped = this.rows.slice(keep);
    let unplaced = 0;
    let placedThrough: number | null = null;
    let read = 0;
    for await (const page of logsAbove(counted.client, this.vaultContractId, { after: anchor?.cursor ?? null })) {
      for (const row of page) {
        read++;
        const held = heldRow(row, sbtcContractId);
        if (held === null) {
          unplaced++;
          placedThrough ??= rows.length;
          continue;
        }
        // Never behind the anchor: logsAbove leaves out what is at or below `after`.
        if (anchor !== null && compareLogCursors(held.cursor, anchor.cursor) <= 0) continue;
        rows.push(held);
      }
    }

    const found = new Set(rows.slice(keep).map(rowKey));
    const moved = dropped.filter((row) => !found.has(rowKey(row))).length;
    this.rows = rows;
    this.unplacedRows = unplaced;
    this.placedThrough = placedThrough;
    this.sbtcContractId = sbtcContractId;
    this.sinceFull = reason !== null ? 1 : this.sinceFull + 1;
    const log = this.log;
    return {
      log,
      report: {
        mode: reason !== null ? "full" : "tail",
        reason,
        from: anchor && { cursor: anchor.cursor, blockHeight: anchor.blockHeight, burnBlockHeight: anchor.burnBlockHeight },
        dropped: dropped.length,
        read,
        moved: reason !== null ? 0 : moved,
        requests: counted.requests(),
        held: log.events.length,
      },
    };
  }

  private fullReadDue(sbtcContractId: string | null): FullReadReason | null {
    if (this.sbtcContractId === undefined) return "first";
    if (this.sbtcContractId !== sbtcContractId) return "sbtc-changed";
    if (this.sinceFull >= this.fullEvery) return "scheduled";
    return null;
  }

  /** How many held rows to keep: those below the reorg window and before the first unplaced row. */
  private resumeIndex(): number {
    const newest = this.rows.at(-1);
    if (newest === undefined) return 0;
    const floor = newest.burnBlockHeight - this.reorgWindowBurnBlocks;
    let keep = this.placedThrough ?? this.rows.length;
    while (keep > 0 && (this.rows[keep - 1] as HeldRow).burnBlockHeight > floor) keep--;
    return keep;
  }

  /** Whether the anchor's transaction is still in the same canonical block, at the same place, with the same outcome. */
  private async stillInPlace(client: LogsClient, anchor: HeldRow): Promise<boolean> {
    const at = placementOf((await client.getPlacedTransactions([anchor.txid])).get(anchor.txid));
    return (
      at !== null &&
      at.canonical &&
      at.blockHash === anchor.blockHash &&
      at.succeeded === anchor.succeeded &&
      cursorAt(at, anchor.eventIndex) === anchor.cursor
    );
  }
}

/** A walked row as held; null when the API did not place it in a canonical block (not held: read again next time). */
function heldRow(row: PlacedLog, sbtcContractId: string | null): HeldRow | null {
  if (row.at === null || row.cursor === null || !row.at.canonical) return null;
  const place = {
    txid: row.txid,
    eventIndex: row.eventIndex,
    cursor: row.cursor,
    blockHash: row.at.blockHash,
    blockHeight: row.at.blockHeight,
    burnBlockHeight: row.at.burnBlockHeight,
    succeeded: row.at.succeeded,
  };
  // Only successful transactions happened; a failed one's prints never moved anything.
  if (!row.at.succeeded) return { ...place, outcome: { kind: "failed" } };
  const position = { txid: row.txid, eventIndex: row.eventIndex, blockHeight: row.at.blockHeight, blockHash: row.at.blockHash };
  const decoded = decodeVaultPrint(row.hex, position, sbtcContractId ?? "");
  return { ...place, outcome: decoded.kind === "malformed" ? { kind: "malformed", reason: decoded.reason } : { kind: "event", event: decoded.event } };
}

/**
 * Reads and decodes every print of `vaultContractId` from the first: a fresh
 * history's first refresh. `sbtcContractId` is the vault's configured sBTC
 * (null before it has one: no event can name sBTC then).
 */
export async function readVaultEvents(client: LogsClient, vaultContractId: string, sbtcContractId: string | null): Promise<VaultEventLog> {
  return (await new EventHistory(vaultContractId).refresh(client, sbtcContractId)).log;
}

export function eventsOfKind<K extends ChainEvent["kind"]>(events: readonly ChainEvent[], kind: K): EventOf<K>[] {
  return events.filter((event): event is EventOf<K> => event.kind === kind);
}
