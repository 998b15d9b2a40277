/**
 * Reading the vault's print events page by page, with the transactions they
 * belong to, newest first from the tip down to a floor, through the
 * deprecated offset-paged GET /extended/v1/contract/{id}/events. The chainhook
 * confirmer (convex/chainhooks.ts) reads this way; the event sync walks up
 * the cursor-paged v2 logs instead (chain/contractLogs.ts, README "Chain
 * integration").
 *
 * Pages are requested ahead, concurrently: against the real API, where every
 * request takes tens of milliseconds, a long catch-up is bounded by latency,
 * not by the work per event.
 */
import type { HiroClient, SmartContractLog } from "./hiroClient";
import { ranSuccessfully, type TransactionInfo } from "./hiroSchemas";

export type EventPage = { offset: number; count: number; logs: SmartContractLog[] };

/** One `print` of the vault: its transaction, its place in it, and the printed value's hex. */
export type VaultPrint = { txid: string; eventIndex: number; hex: string };

/** The page's print events of `contractId` (a contract's page can hold other event types, or another contract's). */
export function vaultPrints(page: EventPage, contractId: string): VaultPrint[] {
  return page.logs
    .filter((log) => log.contract_log.contract_id === contractId && log.contract_log.topic === "print")
    .map((log) => ({ txid: log.tx_id, eventIndex: log.event_index, hex: log.contract_log.value.hex }));
}

/** Where a mined transaction stands: its block, its place in the block, and whether it counts. */
export type Inclusion = {
  blockHeight: bigint;
  blockHash: string;
  txIndex: number;
  /** In a block of the canonical chain. */
  canonical: boolean;
  /**
   * Ran to `(ok …)`. An aborted transaction's events never happened, nor did
   * those of one mined as `problematic_skipped` (included, never executed).
   */
  succeeded: boolean;
};

/** A transaction's inclusion; null while it is not mined, or when the API does not know it. */
export function inclusionOf(tx: TransactionInfo | null | undefined): Inclusion | null {
  if (!tx || !("block_height" in tx)) return null;
  return {
    blockHeight: BigInt(tx.block_height),
    blockHash: tx.block_hash,
    txIndex: tx.tx_index,
    canonical: tx.canonical,
    succeeded: ranSuccessfully(tx.tx_status),
  };
}

/** Transactions looked up in batches, each at most once per sync run. */
export class TransactionCache {
  private readonly known = new Map<string, TransactionInfo | null>();

  constructor(private readonly client: Pick<HiroClient, "getTransactions">) {}

  async load(txids: readonly string[]): Promise<void> {
    const missing = [...new Set(txids)].filter((txid) => !this.known.has(txid));
    if (missing.length === 0) return;
    for (const [txid, info] of await this.client.getTransactions(missing)) this.known.set(txid, info);
  }

  async get(txid: string): Promise<TransactionInfo | null> {
    await this.load([txid]);
    return this.known.get(txid) ?? null;
  }

  /** The transaction if already loaded (null: the API does not know it), undefined if not asked yet. */
  peek(txid: string): TransactionInfo | null | undefined {
    return this.known.get(txid);
  }

  async inclusion(txid: string): Promise<Inclusion | null> {
    return inclusionOf(await this.get(txid));
  }
}

/** Whether any event on the page is in a block at or below `height`, as far as its transactions are loaded. */
export function reachesHeight(page: EventPage, txs: TransactionCache, height: bigint): boolean {
  return page.logs.some((log) => {
    const at = inclusionOf(txs.peek(log.tx_id));
    return at !== null && at.blockHeight <= height;
  });
}

/** The block height of the contract's newest event; null when it has none, or its transaction is not mined. */
export async function newestEventHeight(
  client: Pick<HiroClient, "getContractEvents" | "getTransaction">,
  contractId: string,
): Promise<bigint | null> {
  const newest = await client.getContractEvents(contractId, { limit: 1, offset: 0 });
  const log = newest.logs[0];
  if (!log) return null;
  return inclusionOf(await client.getTransaction(log.tx_id))?.blockHeight ?? null;
}

/**
 * How far ahead pages are requested, at most. The read-ahead starts at one
 * page and doubles with every full page that does not reach the caller's
 * floor, so a routine run (one page) costs one request pair while a long
 * catch-up runs this many pages concurrently.
 */
export const MAX_PAGES_AHEAD = 4;

/**
 * The contract's event pages, newest first, each yielded once its
 * transactions are in `txs`. The first page is requested at once, so the
 * caller can do other work while it arrives. `reachesFloor(page)` says
 * whether a page goes back far enough that no older page is needed; pages
 * beyond one that does are not requested. The caller may stop iterating at
 * any time: a page requested ahead and then abandoned is discarded quietly.
 *
 * Offsets count from the newest event, so an event added while the walk is
 * under way shifts older ones to the next page: a page may repeat events of
 * the one before it (the sync applies each once), never skip one.
 */
export function vaultEventPages(
  client: Pick<HiroClient, "getContractEvents">,
  txs: TransactionCache,
  contractId: string,
  pageSize: number,
  reachesFloor: (page: EventPage) => boolean = () => false,
): AsyncGenerator<EventPage> {
  const fetchPage = async (offset: number): Promise<EventPage> => {
    const page = await client.getContractEvents(contractId, { limit: pageSize, offset });
    await txs.load(page.logs.map((log) => log.tx_id));
    return { offset, count: page.count, logs: page.logs };
  };
  const inFlight: Promise<EventPage>[] = [];
  let nextOffset = 0;
  const request = () => {
    const page = fetchPage(nextOffset);
    // Awaited below when the caller gets that far; if it stops first, the
    // page's failure must not surface as an unhandled rejection.
    page.catch(() => undefined);
    inFlight.push(page);
    nextOffset += pageSize;
  };

  request();
  async function* walk(): AsyncGenerator<EventPage> {
    let ahead = 1;
    for (;;) {
      const next = inFlight.shift();
      if (!next) return;
      const page = await next;
      const last = page.count < pageSize;
      if (!last && !reachesFloor(page)) {
        ahead = Math.min(MAX_PAGES_AHEAD, ahead * 2);
        while (inFlight.length < ahead) request();
      }
      yield page;
      if (last) return;
    }
  }
  return walk();
}
