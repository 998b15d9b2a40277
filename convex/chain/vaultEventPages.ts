/**
 * Reading the vault's print events page by page, with the transactions they
 * belong to. The Stacks API lists a contract's events newest first; the sync
 * walks back from the tip until it reaches the reorg window's floor.
 *
 * Requests are pipelined one page ahead: while the sync examines a page, the
 * next page and its transactions are already on their way. Against the real
 * API, where a request takes tens of milliseconds, this roughly halves the
 * wall time of a long catch-up. The price is at most one page fetched in vain
 * per run, when the floor turns out to be on the current page.
 */
import type { HiroClient, SmartContractLog } from "./hiroClient";
import type { TransactionInfo } from "./hiroSchemas";

export type EventPage = { offset: number; count: number; logs: SmartContractLog[] };

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
}

/**
 * The contract's event pages, newest first, each yielded once its
 * transactions are in `txs`. The caller stops iterating when it has seen
 * enough; a page requested ahead and then abandoned is discarded quietly.
 */
export async function* vaultEventPages(
  client: Pick<HiroClient, "getContractEvents">,
  txs: TransactionCache,
  contractId: string,
  pageSize: number,
): AsyncGenerator<EventPage> {
  const fetchPage = async (offset: number): Promise<EventPage> => {
    const page = await client.getContractEvents(contractId, { limit: pageSize, offset });
    await txs.load(page.logs.map((log) => log.tx_id));
    return { offset, count: page.count, logs: page.logs };
  };
  const ahead = (offset: number) => {
    const request = fetchPage(offset);
    // Awaited below when the caller wants it; if the caller stops first, its
    // failure must not surface as an unhandled rejection.
    request.catch(() => undefined);
    return request;
  };

  let next = ahead(0);
  for (let offset = 0; ; offset += pageSize) {
    const page = await next;
    const more = page.count === pageSize;
    if (more) next = ahead(offset + pageSize);
    yield page;
    if (!more) return;
  }
}
