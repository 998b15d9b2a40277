/**
 * What the local node's fee estimator knows, and how it refuses.
 *
 * A Stacks node estimates a contract call's cost from samples of that
 * (contract, function) taken from mined blocks; for a pair it has never seen
 * mined it answers POST /v2/fees/transaction with a 400 NoEstimateAvailable
 * (stacks-core `cost_estimates/mod.rs`). Here a pair is sampled once a
 * transaction calling it has executed successfully in any block the server
 * mined, canonical or since orphaned (the estimator saw the block either way).
 * A node with no estimator configured refuses every estimate with a JSON
 * string instead, and answers GET /v2/fees/transfer with the minimum rate.
 * Tests reach the rest through POST /_local/fee-estimator (routes/fees.ts).
 */
import type { LocalChain } from "./chain";

/** The node's body for a payload it has no samples for (stacks-core `EstimatorError::NoEstimateAvailable`). */
export const NO_ESTIMATE_AVAILABLE = {
  error: "Estimation could not be performed",
  reason: "NoEstimateAvailable",
  reason_data: { message: "No estimate available for the provided payload." },
} as const;

/** The node's body when no fee estimator is configured: a bare JSON string. */
export const ESTIMATION_NOT_SUPPORTED = "Fee estimation not supported on this node";

/** stacks-core's MINIMUM_TX_FEE_RATE_PER_BYTE, what GET /v2/fees/transfer answers without an estimator. */
export const MINIMUM_FEE_RATE_PER_BYTE = 1;

export type FeeEstimatorState = {
  /** false: a node without a fee estimator. */
  supported: boolean;
  /** What GET /v2/fees/transfer answers, in micro-STX per byte; null: NoEstimateAvailable. */
  transferRate: number | null;
  /** Pairs marked sampled through the control, as `contract.function`. */
  seeded: string[];
};

function pairKey(contractId: string, functionName: string): string {
  return `${contractId}.${functionName}`;
}

export class LocalFeeEstimator {
  private supported = true;
  private transferRate: number | null = MINIMUM_FEE_RATE_PER_BYTE;
  /** Pairs sampled before this server's chain began (a long-running node saw them mined elsewhere). */
  private readonly seeded = new Set<string>();

  constructor(private readonly chain: LocalChain) {}

  get isSupported(): boolean {
    return this.supported;
  }

  /** The rate GET /v2/fees/transfer answers; null when the node has no estimate for it. */
  get transferFeeRate(): number | null {
    return this.supported ? this.transferRate : MINIMUM_FEE_RATE_PER_BYTE;
  }

  /**
   * Whether a call to `functionName` of `contractId` has been mined (or
   * seeded). Like the node's estimator, which learns from every mined receipt,
   * an aborted call counts too.
   */
  hasSamples(contractId: string, functionName: string): boolean {
    if (this.seeded.has(pairKey(contractId, functionName))) return true;
    for (const record of this.chain.mempool.all()) {
      const payload = record.payload;
      if (payload.kind !== "contract_call" || payload.contractId !== contractId || payload.functionName !== functionName) continue;
      if (record.inclusions.length > 0) return true;
    }
    return false;
  }

  configure(change: { supported?: boolean; transferRate?: number | null; sampled?: { contractId: string; functionName: string }[] }): void {
    if (change.supported !== undefined) this.supported = change.supported;
    if (change.transferRate !== undefined) this.transferRate = change.transferRate;
    for (const pair of change.sampled ?? []) this.seeded.add(pairKey(pair.contractId, pair.functionName));
  }

  get state(): FeeEstimatorState {
    return { supported: this.supported, transferRate: this.transferRate, seeded: [...this.seeded].sort() };
  }
}
