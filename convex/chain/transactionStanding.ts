/**
 * Where a backend-signed transaction stands, as the Hiro API reports it
 * (`GET /extended/v1/tx/multiple`): the one reading of `tx_status`,
 * `canonical`, `tx_result` and `fee_rate` the send and follow loops act on,
 * so that API files never parse the API's shapes themselves.
 */
import { isDropped, ranSuccessfully, type TransactionInfo } from "./hiroSchemas";

export type TransactionStanding =
  /** The API does not know the txid: never seen, or long gone. */
  | { kind: "unknown" }
  /** In the mempool, waiting to be mined. */
  | { kind: "pending"; fee: bigint | null }
  /** Dropped from the mempool (replaced, stale, …): it will not be mined unless sent again. */
  | { kind: "dropped" }
  /**
   * Mined, on the canonical chain or on a fork (`canonical: false`, after a
   * reorg). `outcome` names the status and the vault's result, e.g.
   * `abort_by_response (err u213)`.
   */
  | { kind: "mined"; canonical: boolean; succeeded: boolean; outcome: string; fee: bigint | null };

/** The fee the API reports, in micro-STX; null if it is not a whole number. */
function feeOf(info: TransactionInfo): bigint | null {
  return /^\d+$/.test(info.fee_rate) ? BigInt(info.fee_rate) : null;
}

export function standingOf(info: TransactionInfo | null | undefined): TransactionStanding {
  if (!info) return { kind: "unknown" };
  if ("block_height" in info) {
    return {
      kind: "mined",
      canonical: info.canonical,
      succeeded: ranSuccessfully(info.tx_status),
      outcome: `${info.tx_status} ${info.tx_result.repr}`,
      fee: feeOf(info),
    };
  }
  return isDropped(info.tx_status) ? { kind: "dropped" } : { kind: "pending", fee: feeOf(info) };
}

/** Whether it can still confirm: pending, or mined on the canonical chain. */
export function mayStillConfirm(standing: TransactionStanding): boolean {
  return standing.kind === "pending" || (standing.kind === "mined" && standing.canonical);
}
