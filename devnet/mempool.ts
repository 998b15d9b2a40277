/**
 * Every transaction the server accepted, and the pending ones by sender and
 * nonce, with the node's nonce rules: a nonce below the account's next nonce
 * is refused (BadNonce), at most 25 may be chained ahead (TooMuchChaining),
 * gaps are allowed (the later transactions wait), and a transaction with the
 * same sender and nonce as a pending one replaces it only with a strictly
 * higher fee (replace-by-fee; otherwise ConflictingNonceInMempool).
 */
import { rejection, type NodeRejection } from "./admission";
import type { DecodedTx, TxRecord } from "./records";

/** stacks-core's MAXIMUM_MEMPOOL_TX_CHAINING. */
export const MAX_MEMPOOL_CHAINING = 25n;

/** BadNonce below the account's next nonce, TooMuchChaining too far above it. */
export function nonceRejection(tx: DecodedTx, nextNonce: bigint): NodeRejection | null {
  if (tx.nonce < nextNonce) {
    return rejection(tx.txid, "BadNonce", {
      expected: Number(nextNonce),
      actual: Number(tx.nonce),
      principal: tx.sender,
      is_origin: true,
    });
  }
  if (tx.nonce >= nextNonce + MAX_MEMPOOL_CHAINING) {
    return rejection(tx.txid, "TooMuchChaining", {
      message: "Nonce would exceed chaining limit in mempool",
      expected: Number(nextNonce + MAX_MEMPOOL_CHAINING - 1n),
      actual: Number(tx.nonce),
      principal: tx.sender,
      is_origin: true,
    });
  }
  return null;
}

export type AdmitResult = { ok: true; record: TxRecord; replaced: TxRecord | null } | { ok: false; rejection: NodeRejection };

export class Mempool {
  private readonly records = new Map<string, TxRecord>();
  /** sender -> nonce -> txid of the pending transaction */
  private readonly pending = new Map<string, Map<bigint, string>>();
  private seq = 0;

  get(txid: string): TxRecord | undefined {
    return this.records.get(txid);
  }

  all(): IterableIterator<TxRecord> {
    return this.records.values();
  }

  /** Pending nonces of `sender`, ascending. */
  pendingNonces(sender: string): bigint[] {
    return [...(this.pending.get(sender)?.keys() ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  get pendingCount(): number {
    let count = 0;
    for (const bySender of this.pending.values()) count += bySender.size;
    return count;
  }

  /**
   * Admits `tx` given the sender's next nonce on the canonical chain. A
   * transaction the server has seen before (dropped, or orphaned by a reorg)
   * keeps its record and becomes pending again.
   */
  admit(tx: DecodedTx, nextNonce: bigint, now: number): AdmitResult {
    const principal = tx.sender;
    const nonceProblem = nonceRejection(tx, nextNonce);
    if (nonceProblem) return { ok: false, rejection: nonceProblem };
    const bySender = this.pending.get(principal) ?? new Map<bigint, string>();
    const conflictId = bySender.get(tx.nonce);
    const conflict = conflictId === undefined ? undefined : this.records.get(conflictId);
    if (conflict && tx.fee <= conflict.fee) {
      return { ok: false, rejection: rejection(tx.txid, "ConflictingNonceInMempool") };
    }
    const record: TxRecord = this.records.get(tx.txid) ?? {
      ...tx,
      receiptTime: now,
      receiptSeq: 0,
      mempoolStatus: "pending",
      replacedBy: null,
      inclusions: [],
    };
    record.receiptSeq = ++this.seq;
    record.mempoolStatus = "pending";
    record.replacedBy = null;
    if (conflict) {
      conflict.mempoolStatus = "dropped_replace_by_fee";
      conflict.replacedBy = tx.txid;
    }
    bySender.set(tx.nonce, tx.txid);
    this.pending.set(principal, bySender);
    this.records.set(tx.txid, record);
    return { ok: true, record, replaced: conflict ?? null };
  }

  private unindex(record: TxRecord): void {
    const bySender = this.pending.get(record.sender);
    if (bySender?.get(record.nonce) === record.txid) bySender.delete(record.nonce);
    if (bySender?.size === 0) this.pending.delete(record.sender);
  }

  /** Drops a pending transaction (the node's garbage collection); false if it is not pending. */
  drop(txid: string): boolean {
    const record = this.records.get(txid);
    if (!record || record.mempoolStatus !== "pending") return false;
    this.unindex(record);
    record.mempoolStatus = "dropped_stale_garbage_collect";
    return true;
  }

  markMined(record: TxRecord): void {
    this.unindex(record);
    record.mempoolStatus = "mined";
  }

  /**
   * The pending transactions a miner can include now, in nonce order per
   * sender (no gaps from each sender's next nonce) and otherwise in order of
   * arrival. A transaction paying less than `minFee` is skipped, as a miner
   * on a congested network skips cheap ones; it stays pending, and so does
   * every later nonce of its sender, which cannot run before it.
   */
  ready(nextNonceOf: (sender: string) => bigint, minFee = 0n): TxRecord[] {
    const queues: TxRecord[][] = [];
    for (const [sender, bySender] of this.pending) {
      const queue: TxRecord[] = [];
      for (let nonce = nextNonceOf(sender); bySender.has(nonce); nonce++) {
        const record = this.records.get(bySender.get(nonce) as string);
        if (!record || record.fee < minFee) break;
        queue.push(record);
      }
      if (queue.length > 0) queues.push(queue);
    }
    const out: TxRecord[] = [];
    for (;;) {
      let best: TxRecord[] | undefined;
      for (const queue of queues) {
        const head = queue[0];
        if (head && (!best || head.receiptSeq < (best[0] as TxRecord).receiptSeq)) best = queue;
      }
      if (!best) return out;
      out.push(best.shift() as TxRecord);
    }
  }
}
