/**
 * Reading the vault's print logs upward from a known position, page by page,
 * through the cursor-paged GET /extended/v2/smart-contracts/{id}/logs
 * (README "Chain integration"). The route lists newest first; its
 * `next_cursor` is the top of the next newer full page, so a walk that starts
 * at the last position the sync processed reads each newer row once, in
 * chain order, with memory for one page only and one logs request plus one
 * transactions request per page, however long the backlog.
 *
 * Rows carry neither a block nor a place in it: each page's transactions are
 * looked up in one GET /extended/v1/tx/multiple, which gives every row its
 * block, burn block, position (its cursor) and whether it counts.
 *
 * The chain may move under the walk (a reorg replaces blocks between two
 * requests; an API node behind a balancer answers from another height), so
 * nothing is taken on trust: rows at or below the last position are passed
 * over, and a page that does not reach down to it — rows may be missing in
 * between — is not used: the walk asks again from the last position.
 */
import type { ChainTip, ContractLogsPage, HiroClient } from "./hiroClient";
import { poolError } from "../domain/errors";
import { ranSuccessfully, type PlacedTransactionInfo } from "./hiroSchemas";

/** The route's largest page. */
export const LOGS_PAGE_SIZE = 100;
/** The route's largest `offset`: ten pages, how far one request can jump down. */
const MAX_OFFSET = 1000;
/** Pages asked again from the last position in a row before the walk gives up: the chain kept moving under it. */
const MAX_REANCHORS = 8;

/** An event's place in the API's order: `block_height:microblock_sequence:tx_index:event_index`. */
export type LogPosition = [blockHeight: number, microblockSequence: number, txIndex: number, eventIndex: number];

export function parseLogCursor(cursor: string): LogPosition {
  const parts = cursor.split(":").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw poolError("CHAIN_UNAVAILABLE", `not an event cursor: ${cursor}`);
  }
  return parts as LogPosition;
}

export function formatLogCursor(position: LogPosition): string {
  return position.join(":");
}

/** Negative, zero or positive as `a` comes before, at or after `b` in chain order. */
export function compareLogCursors(a: string, b: string): number {
  const x = parseLogCursor(a);
  const y = parseLogCursor(b);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return 0;
}

/** Where a transaction stands, as far as the API knows: its block, burn block and place in the block. */
export type Placement = {
  blockHeight: bigint;
  blockHash: string;
  /** The burn block the block's tenure is anchored to. */
  burnBlockHeight: bigint;
  txIndex: number;
  microblockSequence: number;
  /** In a block of the canonical chain. */
  canonical: boolean;
  /** Ran to `(ok …)`: an aborted or `problematic_skipped` transaction's events never happened. */
  succeeded: boolean;
};

/** A transaction's placement; null while it is not mined (pending, dropped, or back in the mempool after a reorg) or unknown. */
export function placementOf(tx: PlacedTransactionInfo | null | undefined): Placement | null {
  if (!tx || !("block_height" in tx)) return null;
  return {
    blockHeight: BigInt(tx.block_height),
    blockHash: tx.block_hash,
    burnBlockHeight: BigInt(tx.burn_block_height),
    txIndex: tx.tx_index,
    microblockSequence: tx.microblock_sequence,
    canonical: tx.canonical,
    succeeded: ranSuccessfully(tx.tx_status),
  };
}

/** The log cursor of event `eventIndex` of a transaction placed at `at`. */
export function cursorAt(at: Placement, eventIndex: number): string {
  return formatLogCursor([Number(at.blockHeight), at.microblockSequence, at.txIndex, eventIndex]);
}

/** One print of the contract, with its transaction's placement (null: the API does not show it mined). */
export type PlacedLog = {
  txid: string;
  eventIndex: number;
  topic: string;
  hex: string;
  at: Placement | null;
  /** Its log cursor, when placed. */
  cursor: string | null;
};

/**
 * The confirmation rule (README "Chain integration"): counted against the
 * lower of the node's tip and the tip the API's indexer has reached, in
 * Stacks blocks and in burn blocks.
 */
export type ConfirmationRule = {
  /** The highest Stacks block height that counts. */
  throughHeight: bigint;
  /** The highest burn block height whose tenures count. */
  throughBurnHeight: bigint;
};

/**
 * Burn blocks back from the newest event inside which events are read again
 * and re-checked by block hash, by default: six, Bitcoin's customary depth of
 * finality, whatever the number of Stacks blocks in those tenures. The
 * backend's sync (SYNC_REORG_WINDOW_BURN_BLOCKS) and the watcher share it.
 */
export const DEFAULT_REORG_WINDOW_BURN_BLOCKS = 6n;

export function confirmationRule(
  node: ChainTip,
  indexer: ChainTip,
  confirmations: { blocks: bigint; burnBlocks: bigint },
): ConfirmationRule {
  const stacks = node.stacksHeight < indexer.stacksHeight ? node.stacksHeight : indexer.stacksHeight;
  const burn = node.burnHeight < indexer.burnHeight ? node.burnHeight : indexer.burnHeight;
  return { throughHeight: stacks - confirmations.blocks, throughBurnHeight: burn - confirmations.burnBlocks };
}

/**
 * The confirmation rule as of now: the node's tip, and the rule counted from
 * the lower of the node's and the API indexer's tips (null while the API has
 * indexed nothing), with that lower burn height. The event sync and the
 * chainhook confirmer both read it here, so a delivered block counts exactly
 * when the poller would count it.
 */
export async function readConfirmationRule(
  client: Pick<HiroClient, "getNodeTip" | "getIndexerTip">,
  confirmations: { blocks: bigint; burnBlocks: bigint },
): Promise<{ node: ChainTip; rule: ConfirmationRule | null; burnTip: bigint }> {
  const [node, indexer] = await Promise.all([client.getNodeTip(), client.getIndexerTip()]);
  if (indexer === null) return { node, rule: null, burnTip: node.burnHeight };
  const burnTip = node.burnHeight < indexer.burnHeight ? node.burnHeight : indexer.burnHeight;
  return { node, rule: confirmationRule(node, indexer, confirmations), burnTip };
}

export function isConfirmed(at: Pick<Placement, "blockHeight" | "burnBlockHeight">, rule: ConfirmationRule): boolean {
  return at.blockHeight <= rule.throughHeight && at.burnBlockHeight <= rule.throughBurnHeight;
}

type LogsClient = Pick<HiroClient, "getContractLogs" | "getPlacedTransactions">;

/**
 * The contract's lowest page: its `prev_cursor` is null. Found by jumping
 * down MAX_OFFSET rows a request while that many older rows exist, then
 * paging down the rest: about one request per thousand events, once, for a
 * deployment that has never synced.
 */
async function bottomPage(client: LogsClient, contractId: string): Promise<ContractLogsPage | null> {
  const newest = await client.getContractLogs(contractId, { limit: 1 });
  if (!newest?.cursor) return null;
  let cursor = newest.cursor;
  for (;;) {
    const deeper = await client.getContractLogs(contractId, { limit: 1, cursor, offset: MAX_OFFSET });
    if (!deeper?.cursor) break;
    cursor = deeper.cursor;
  }
  let page = await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor });
  while (page?.prev_cursor) page = await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor: page.prev_cursor });
  return page;
}

/** A page that may leave rows out between `last` and its lowest row: the row below it is above `last`. */
function leavesGap(page: ContractLogsPage, last: string | null): boolean {
  if (page.prev_cursor === null) return false;
  return last === null || compareLogCursors(page.prev_cursor, last) > 0;
}

/** The page's rows, oldest first, each placed by one transactions request; those at or below `last` left out. */
async function placedRows(client: LogsClient, contractId: string, page: ContractLogsPage, last: string | null): Promise<PlacedLog[]> {
  if (page.cursor === null || (last !== null && compareLogCursors(page.cursor, last) <= 0)) return [];
  const prints = page.results.filter((log) => log.contract_log.contract_id === contractId && log.contract_log.topic === "print");
  const txs = await client.getPlacedTransactions([...new Set(prints.map((log) => log.tx_id))]);
  const rows: PlacedLog[] = [];
  for (const log of prints.reverse()) {
    const at = placementOf(txs.get(log.tx_id));
    const cursor = at ? cursorAt(at, log.event_index) : null;
    if (cursor !== null && last !== null && compareLogCursors(cursor, last) <= 0) continue;
    rows.push({ txid: log.tx_id, eventIndex: log.event_index, topic: log.contract_log.topic, hex: log.contract_log.value.hex, at, cursor });
  }
  return rows;
}

/**
 * The logs page at a stored event's cursor, when that event is still the one
 * there (same transaction, same event index): a walk can lead up from it.
 * Null when it left the chain: the page's top is another event, or nothing
 * is left at or below the cursor.
 */
export async function pageStillAt(
  client: Pick<HiroClient, "getContractLogs">,
  contractId: string,
  at: { cursor: string; txid: string; eventIndex: number },
): Promise<ContractLogsPage | null> {
  const page = await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor: at.cursor });
  const top = page?.results[0];
  return page && page.cursor === at.cursor && top?.tx_id === at.txid && top.event_index === at.eventIndex ? page : null;
}

export type WalkStart = {
  /** The cursor of the last event already processed; null: from the contract's first event. */
  after: string | null;
  /** The page at `after`, if already read (its next_cursor leads up). */
  page?: ContractLogsPage | null;
};

/**
 * The contract's prints above `start.after`, oldest first, a page at a time
 * (at most LOGS_PAGE_SIZE rows, and one transactions request, per page). The
 * caller stops whenever it likes, and must stop at a row it cannot place
 * (`at` null or not canonical): the walk goes on from the last placed row of
 * a page, so it must have dealt with every row of a page before asking for
 * the next, whose rows all come after them.
 */
export async function* logsAbove(client: LogsClient, contractId: string, start: WalkStart): AsyncGenerator<PlacedLog[]> {
  let last = start.after;
  let first = start.page !== undefined ? start.page : last === null ? null : await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor: last });
  // Nothing at or below `last` (or no position yet): every row is above it, from the contract's first one.
  first ??= await bottomPage(client, contractId);
  if (first === null) return;
  let page: ContractLogsPage = first;
  /** The rows of the page before, to drop if a page repeats one whose transaction could not be placed. */
  let previous = new Set<string>();
  for (let reanchors = 0; ; ) {
    const rows = (await placedRows(client, contractId, page, last)).filter((row) => !previous.has(`${row.txid}:${row.eventIndex}`));
    if (rows.length > 0) {
      yield rows;
      const placed = rows.filter((row) => row.cursor !== null);
      last = placed.length > 0 ? (placed.at(-1) as PlacedLog).cursor : last;
      previous = new Set(rows.map((row) => `${row.txid}:${row.eventIndex}`));
    }
    const newer: string | null = page.next_cursor;
    let next: ContractLogsPage | null = newer === null
      ? await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE })
      : await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor: newer });
    if (next !== null && next.cursor === null) return; // no rows at all any more
    if (next === null || leavesGap(next, last)) {
      // The page does not reach down to the last position (the chain moved, or more than a page
      // of new rows arrived): ask again from the last position, whose next_cursor leads up.
      if (++reanchors > MAX_REANCHORS) throw poolError("CHAIN_UNAVAILABLE", "the vault's logs kept moving while the sync paged through them");
      next = last === null ? await bottomPage(client, contractId) : await client.getContractLogs(contractId, { limit: LOGS_PAGE_SIZE, cursor: last });
      if (next === null) next = await bottomPage(client, contractId);
      if (next === null) return;
      page = next;
      continue;
    }
    reanchors = 0;
    page = next;
    if (newer === null) {
      // The newest page: what is above the last position on it is all there is.
      const rowsOfNewest = (await placedRows(client, contractId, page, last)).filter((row) => !previous.has(`${row.txid}:${row.eventIndex}`));
      if (rowsOfNewest.length > 0) yield rowsOfNewest;
      return;
    }
  }
}

/** The block height of the contract's newest print; null when it has none, or its transaction is not mined. */
export async function newestLogHeight(client: LogsClient, contractId: string): Promise<bigint | null> {
  const newest = await client.getContractLogs(contractId, { limit: 1 });
  const log = newest?.results[0];
  if (!log) return null;
  return placementOf((await client.getPlacedTransactions([log.tx_id])).get(log.tx_id))?.blockHeight ?? null;
}
