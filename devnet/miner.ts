/**
 * Turns a list of ready transactions into executed blocks on simnet, the way
 * a Stacks miner would: each transaction runs as its signer, in order, and
 * its post-conditions are checked on what it actually moved. A transaction
 * that succeeded but broke a post-condition must leave no trace, so the block
 * is undone (simnet restored from its journal) and mined again without it;
 * the transaction is still reported in the block as `abort_by_post_condition`.
 * A runtime error makes simnet throw part-way through a block, so such a
 * batch is undone and mined one transaction per block instead.
 */
import type { ParsedTransactionResult } from "@stacks/clarinet-sdk";
import { Cl, ClarityType, type ClarityValue } from "@stacks/transactions";

import { normalizeSimnetEvents, type ChainEvent } from "./events";
import { checkPostConditions } from "./postConditions";
import { ZERO_COSTS, type ExecutionCosts, type TxRecord, type TxStatus } from "./records";
import type { SimnetCall, SimnetSession } from "./simnetSession";

export type TxOutcome = {
  record: TxRecord;
  status: TxStatus;
  result: ClarityValue;
  events: ChainEvent[];
  costs: ExecutionCosts;
  vmError: string | null;
};

export type MinedBlock = {
  /** journal checkpoint before this block: restoring it undoes the block */
  checkpoint: number;
  /** simnet's block time for the block, unix seconds */
  time: number;
  outcomes: TxOutcome[];
};

function callOf(record: TxRecord): SimnetCall {
  const payload = record.payload;
  if (payload.kind === "contract_call") {
    return {
      kind: "contract-call",
      contractId: payload.contractId,
      functionName: payload.functionName,
      args: payload.args,
      sender: record.sender,
    };
  }
  return { kind: "stx-transfer", amount: payload.amount, recipient: payload.recipient, sender: record.sender };
}

function costsOf(result: ParsedTransactionResult): ExecutionCosts {
  const total = result.costs?.total;
  if (!total) return ZERO_COSTS;
  return {
    readCount: total.readCount,
    readLength: total.readLength,
    runtime: total.runtime,
    writeCount: total.writeCount,
    writeLength: total.writeLength,
  };
}

/** The outcome of one executed call, and whether simnet kept effects the node would have rolled back. */
function judge(record: TxRecord, result: ParsedTransactionResult): { outcome: TxOutcome; mustUndo: boolean } {
  const events = normalizeSimnetEvents(result.events);
  const committed = result.result.type === ClarityType.ResponseOk;
  // stacks-core checks post-conditions on contract calls and deployments, not on STX transfers.
  const verdict =
    record.payload.kind === "token_transfer"
      ? ({ ok: true } as const)
      : checkPostConditions({
          mode: record.postConditionMode,
          postConditions: record.postConditions,
          origin: record.sender,
          events,
        });
  const base = { record, result: result.result, costs: costsOf(result) };
  if (!verdict.ok) {
    return {
      outcome: { ...base, status: "abort_by_post_condition", events: [], vmError: verdict.reason },
      mustUndo: committed,
    };
  }
  return {
    outcome: committed
      ? { ...base, status: "success", events, vmError: null }
      : { ...base, status: "abort_by_response", events: [], vmError: null },
    mustUndo: false,
  };
}

export class Miner {
  constructor(private readonly session: SimnetSession) {}

  private blockTime(): number {
    return Number(this.session.view.getBlockTime());
  }

  /** Mines `candidates` into one block (several if one of them hits a runtime error). */
  async mine(candidates: TxRecord[]): Promise<MinedBlock[]> {
    const checkpoint = this.session.checkpoint();
    const undone = new Map<string, TxOutcome>();
    for (;;) {
      const included = candidates.filter((record) => !undone.has(record.txid));
      const attempt = this.session.mineBlock(included.map(callOf));
      if (!attempt.ok) {
        await this.session.restore(checkpoint);
        return await this.mineOnePerBlock(candidates);
      }
      const outcomes = new Map<string, TxOutcome>();
      let mustUndo = false;
      included.forEach((record, index) => {
        const judged = judge(record, attempt.results[index] as ParsedTransactionResult);
        if (judged.mustUndo) {
          undone.set(record.txid, judged.outcome);
          mustUndo = true;
        } else {
          outcomes.set(record.txid, judged.outcome);
        }
      });
      if (!mustUndo) {
        return [
          {
            checkpoint,
            time: this.blockTime(),
            outcomes: candidates.map((record) => (undone.get(record.txid) ?? outcomes.get(record.txid)) as TxOutcome),
          },
        ];
      }
      await this.session.restore(checkpoint);
    }
  }

  private async mineOnePerBlock(candidates: TxRecord[]): Promise<MinedBlock[]> {
    const blocks: MinedBlock[] = [];
    for (const record of candidates) {
      const checkpoint = this.session.checkpoint();
      const attempt = this.session.mineBlock([callOf(record)]);
      let outcome: TxOutcome;
      if (!attempt.ok) {
        // Simnet mined the block without the call's effects, as the node includes a failed transaction.
        outcome = {
          record,
          status: "abort_by_response",
          result: Cl.error(Cl.none()),
          events: [],
          costs: ZERO_COSTS,
          vmError: attempt.error,
        };
      } else {
        const judged = judge(record, attempt.results[0] as ParsedTransactionResult);
        outcome = judged.outcome;
        if (judged.mustUndo) {
          await this.session.restore(checkpoint);
          this.session.mineBlock([]);
        }
      }
      blocks.push({ checkpoint, time: this.blockTime(), outcomes: [outcome] });
    }
    return blocks;
  }
}
