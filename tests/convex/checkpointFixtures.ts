/**
 * Fixtures for the checkpoint tests in convex-test: a small vault history
 * (deposits and withdrawals with their flow `seq`), and the chain's side of a
 * checkpoint played by hand — the `checkpoint-posted` and `checkpoint-leaves`
 * events the sync would record once the queued transactions are mined.
 */
import { hexToBytes } from "@stacks/common";

import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import type { MutationCtx } from "../../convex/_generated/server";
import type { ProofStep, SumNode } from "../../convex/domain/merkleSum";
import { copySnapshotPage } from "../../convex/model/checkpoints/snapshot";
import type { GovernanceEvent, Token, VaultEvent } from "../../convex/validators";
import { newBackend, type Backend } from "./convexTest";

export { ALICE, BOB, CAROL } from "./liquidityFixtures";

/** A backend with the tiers seeded. */
export async function seeded(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return t;
}

/**
 * The vault's side of a history: every deposit or withdrawal takes the next
 * `seq` and moves the token's total balance, as the vault's events report.
 */
export class VaultHistory {
  seq = 0n;
  private tx = 0;
  private readonly balance: Record<Token, bigint> = { STX: 0n, sBTC: 0n };

  constructor(private readonly tag = "a") {}

  position(blockHeight = 10n) {
    this.tx += 1;
    const txid = `0x${this.tag}-${this.tx}`;
    return { txid, eventIndex: 0, blockHeight, blockHash: `0x${blockHeight.toString(16).padStart(64, "b")}` };
  }

  deposit(depositor: string, token: Token, amount: bigint): VaultEvent {
    this.seq += 1n;
    this.balance[token] += amount;
    return {
      ...this.position(),
      kind: "funds-deposited",
      depositor,
      token,
      amount,
      seq: this.seq,
      totalBalance: this.balance[token],
      totalLocked: 0n,
    };
  }

  withdrawal(provider: string, token: Token, amount: bigint, nonce: bigint): VaultEvent {
    this.seq += 1n;
    this.balance[token] -= amount;
    return {
      ...this.position(),
      kind: "funds-withdrawn",
      provider,
      token,
      amount,
      nonce,
      seq: this.seq,
      totalBalance: this.balance[token],
      totalLocked: 0n,
    };
  }
}

export async function apply(t: Backend, event: VaultEvent | GovernanceEvent) {
  return await t.mutation(internal.vaultEvents.apply, { event });
}

/** Yield credited in the books only (as a premium's split does): the record does not move. */
export async function creditYield(t: Backend, provider: string, token: Token, amount: bigint, id: string) {
  await t.mutation(internal.liquidity.updateProviderBalance, {
    operationId: `test-yield:${id}`,
    provider,
    token,
    type: "yield_accrual",
    amount,
  });
}

/** A whole snapshot through the job's own mutations, `pageSize` records a page. */
export async function takeSnapshot(t: Backend, pageSize = 500): Promise<Id<"checkpointRuns">> {
  const begun = await t.mutation(internal.checkpoints.beginRun, {});
  if (!begun.started) throw new Error(`snapshot not started: ${begun.reason}`);
  for (;;) {
    const page = await t.run(async (ctx) => await copySnapshotPage(ctx as unknown as MutationCtx, begun.runId, Date.now(), pageSize));
    if ("failed" in page) throw new Error(page.failed);
    if (page.done) break;
  }
  const finished = await t.mutation(internal.checkpoints.finishRunSnapshot, { runId: begun.runId });
  if ("failed" in finished) throw new Error(finished.failed);
  return begun.runId;
}

/** The pending checkpoint transactions the job queued, oldest first. */
export async function queuedCheckpointCalls(t: Backend) {
  return await t.run(async (ctx) =>
    (await ctx.db.query("chainTransactions").collect()).filter((tx) => tx.checkpointCall !== undefined && tx.status === "pending"),
  );
}

/** What the chain would do with them: each mined successfully, and its event recorded by the sync. */
export async function mineCheckpointCalls(t: Backend, history: VaultHistory, epoch: bigint): Promise<number> {
  const calls = await queuedCheckpointCalls(t);
  for (const tx of calls) {
    await t.run(async (ctx) => {
      await ctx.db.patch("chainTransactions", tx._id, { status: "confirmed", txid: `0xmined${tx._id}` });
    });
    const call = tx.checkpointCall!;
    const event: GovernanceEvent =
      call.kind === "post"
        ? {
            ...history.position(20n),
            kind: "checkpoint-posted",
            epoch,
            root: call.root,
            stxSum: call.stxSum,
            sbtcSum: call.sbtcSum,
            asOfSeq: call.asOfSeq,
            flows: call.flows,
            leafCount: call.leafCount,
          }
        : { ...history.position(21n), kind: "checkpoint-leaves", epoch: call.epoch, offset: call.offset, leaves: call.leaves };
    await apply(t, event);
  }
  return calls.length;
}

/** Runs the checkpoint job's tick until it has nothing more to do this round. */
export async function tick(t: Backend) {
  return await t.action(internal.checkpoints.run, {});
}

/** A stored proof, as the merkleSum verifier takes it. */
export function proofSteps(proof: readonly { hash: string; stx: bigint; sbtc: bigint; isLeft: boolean }[]): ProofStep[] {
  return proof.map((step) => ({ hash: hexToBytes(step.hash.replace(/^0x/, "")), stx: step.stx, sbtc: step.sbtc, isLeft: step.isLeft }));
}

export function rootNode(checkpoint: { root: string; stxSum: bigint; sbtcSum: bigint }): SumNode {
  return { hash: hexToBytes(checkpoint.root.replace(/^0x/, "")), stx: checkpoint.stxSum, sbtc: checkpoint.sbtcSum };
}
