/**
 * Every contract's print events on the canonical chain, in chain order, for
 * the cursor-paged GET /extended/v2/smart-contracts/{id}/logs. Walking the
 * blocks from the tip for every page would make a long catch-up quadratic
 * here, so the index is kept per contract, ascending by position, and brought
 * in step with the block store whenever it is read: new blocks are appended,
 * and blocks a reorg replaced are cut off at the fork point first.
 *
 * A position is the API's event cursor, `block_height:microblock_sequence:
 * tx_index:event_index`; every block here is anchored, so its microblock
 * sequence is the API's I32_MAX (a Nakamoto chain has no microblocks).
 */
import type { LocalChain } from "./chain";
import { isProblematicSkipped } from "./faults";
import type { TxRecord } from "./records";

/** The microblock sequence the API stores for a transaction in an anchored block. */
export const ANCHORED_MICROBLOCK_SEQUENCE = 2147483647;

export type LogPosition = { blockHeight: number; microblockSequence: number; txIndex: number; eventIndex: number };

export type IndexedLog = LogPosition & { txid: string; contractId: string; topic: string; valueHex: string; record: TxRecord };

export function comparePositions(a: LogPosition, b: LogPosition): number {
  return a.blockHeight - b.blockHeight || a.microblockSequence - b.microblockSequence || a.txIndex - b.txIndex || a.eventIndex - b.eventIndex;
}

export function formatPosition(p: LogPosition): string {
  return `${p.blockHeight}:${p.microblockSequence}:${p.txIndex}:${p.eventIndex}`;
}

/** `block_height:microblock_sequence:tx_index:event_index`, as the API's cursor pattern allows it; null otherwise. */
export function parsePosition(cursor: string): LogPosition | null {
  if (!/^[0-9]+:[0-9]+:[0-9]+:[0-9]+$/.test(cursor)) return null;
  const [blockHeight, microblockSequence, txIndex, eventIndex] = cursor.split(":").map(Number) as [number, number, number, number];
  return { blockHeight, microblockSequence, txIndex, eventIndex };
}

/** One page as the API's `getSmartContractEvents` query selects it (pg-store-v2). */
export type LogsPage = {
  total: number;
  /** newest first */
  results: IndexedLog[];
  /** the `limit`-th row newer than results[0]: the top of the next newer full page */
  next: LogPosition | null;
  /** the row right below the page: the top of the next older page */
  prev: LogPosition | null;
};

export class ContractLogIndex {
  /** The hash of the block indexed at each height (canonical when it was indexed). */
  private readonly hashes: string[] = [];
  private readonly byContract = new Map<string, IndexedLog[]>();

  constructor(private readonly chain: LocalChain) {}

  /** Brings the index in step with the canonical chain: cuts off replaced blocks, appends new ones. */
  private refresh(): void {
    const blocks = this.chain.blocks;
    let same = this.hashes.length - 1;
    while (same >= 0 && blocks.atHeight(same)?.hash !== this.hashes[same]) same--;
    if (same < this.hashes.length - 1) {
      this.hashes.length = same + 1;
      for (const logs of this.byContract.values()) {
        while (logs.length > 0 && (logs.at(-1) as IndexedLog).blockHeight > same) logs.pop();
      }
    }
    for (let height = same + 1; height <= blocks.tip.height; height++) {
      const block = blocks.atHeight(height);
      if (!block) continue;
      this.hashes[height] = block.hash;
      block.txids.forEach((txid, txIndex) => {
        const record = this.chain.mempool.get(txid);
        const inclusion = record?.inclusions.find((inc) => inc.blockHash === block.hash);
        if (!record || !inclusion) return;
        inclusion.events.forEach((event, eventIndex) => {
          if (event.kind !== "print") return;
          const logs = this.byContract.get(event.contractId) ?? [];
          logs.push({
            blockHeight: height,
            microblockSequence: ANCHORED_MICROBLOCK_SEQUENCE,
            txIndex,
            eventIndex,
            txid,
            contractId: event.contractId,
            topic: event.topic,
            valueHex: event.valueHex,
            record,
          });
          this.byContract.set(event.contractId, logs);
        });
      });
    }
  }

  /**
   * The contract's logs the API lists: in canonical blocks at or below
   * `indexedHeight` (the API's indexer may lag the node), minus those of a
   * transaction reported `problematic_skipped` (devnet/faults.ts), which never ran.
   */
  visible(contractId: string, indexedHeight: number): { logs: IndexedLog[]; shown: (log: IndexedLog) => boolean; end: number } {
    this.refresh();
    const logs = this.byContract.get(contractId) ?? [];
    // One past the last row at or below the indexed height.
    const end = upperBound(logs, { blockHeight: indexedHeight, microblockSequence: Infinity, txIndex: Infinity, eventIndex: Infinity });
    return { logs, shown: (log) => !isProblematicSkipped(log.record), end };
  }

  /**
   * The page the API's query selects: the page's top is the row `offset`
   * places below the newest row at or below `cursor` (or below the newest
   * row), and the page is up to `limit` rows from there down.
   */
  page(contractId: string, query: { limit: number; offset: number; cursor: LogPosition | null; indexedHeight: number }): LogsPage {
    const { logs, shown, end } = this.visible(contractId, query.indexedHeight);
    let total = 0;
    for (let i = 0; i < end; i++) if (shown(logs[i] as IndexedLog)) total++;
    const empty: LogsPage = { total, results: [], next: null, prev: null };

    // The newest shown row at or below the cursor, then `offset` shown rows further down.
    let top = (query.cursor ? Math.min(end, upperBound(logs, query.cursor)) : end) - 1;
    for (let skipped = -1; top >= 0; top--) {
      if (!shown(logs[top] as IndexedLog)) continue;
      if (++skipped === query.offset) break;
    }
    if (top < 0) return empty;

    const results: IndexedLog[] = [];
    let below = top;
    for (; below >= 0 && results.length < query.limit; below--) {
      const log = logs[below] as IndexedLog;
      if (shown(log)) results.push(log);
    }
    // The next shown row below the page is the `limit`-th row older than its top.
    let prev: IndexedLog | null = null;
    if (results.length === query.limit) {
      for (; below >= 0 && prev === null; below--) if (shown(logs[below] as IndexedLog)) prev = logs[below] as IndexedLog;
    }
    // The `limit`-th shown row newer than the top.
    let next: IndexedLog | null = null;
    for (let i = top + 1, newer = 0; i < end; i++) {
      if (!shown(logs[i] as IndexedLog)) continue;
      if (++newer === query.limit) {
        next = logs[i] as IndexedLog;
        break;
      }
    }
    return { total, results, next, prev };
  }
}

/** The index of the first row after `position` (rows ascending by position). */
function upperBound(logs: readonly LogPosition[], position: LogPosition): number {
  let low = 0;
  let high = logs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (comparePositions(logs[mid] as LogPosition, position) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

const indexes = new WeakMap<LocalChain, ContractLogIndex>();

/** The chain's log index, built on first use and kept as long as the chain. */
export function contractLogIndexOf(chain: LocalChain): ContractLogIndex {
  let index = indexes.get(chain);
  if (!index) {
    index = new ContractLogIndex(chain);
    indexes.set(chain, index);
  }
  return index;
}
