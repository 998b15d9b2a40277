/**
 * A provider's exit as the vault would measure it (README "Checkpoints"):
 * their leaf and proof in the current checkpoint, what `claim-exit` would owe
 * and pay per token, and the voucher rule that keeps every provider at or
 * above zero on that formula.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader } from "../database";
import {
  exitBalance,
  exitBasis,
  exitPayout,
  owedOnExit,
  shutdownTermsNow,
  voucherRoom,
  type ExitBasis,
  type ExitTerms,
} from "../../domain/checkpoints";
import { TOKENS, type Token } from "../../validators";
import { exitClaimOf, shutdownOf } from "../sync/governance";
import { findPoolMirror } from "../sync/poolMirror";
import { findProviderRecord, readVaultFlows, recordFlowsOf } from "./providerRecords";
import { currentPostedRun, runsInForce, type CheckpointRun } from "./runs";
import type { StoredProofStep } from "./publishing";

export async function leafOf(ctx: Reader, run: CheckpointRun, provider: string): Promise<Doc<"checkpointLeaves"> | null> {
  return await ctx.db
    .query("checkpointLeaves")
    .withIndex("by_run_and_provider", (q) => q.eq("runId", run._id).eq("provider", provider))
    .unique();
}

/** The exit formula for `provider` in `token` under `run` (null: no checkpoint), before the vault's floor at 0. */
async function exitBalanceUnder(
  ctx: Reader,
  token: Token,
  record: Doc<"providerRecords"> | null,
  run: CheckpointRun | null,
): Promise<bigint> {
  const leaf = run && record ? await leafOf(ctx, run, record.provider) : null;
  const basis = exitBasis(record, leaf !== null, run);
  return exitBalance(token, basis, recordFlowsOf(record), leaf);
}

/**
 * How much more `provider` may be promised in `token` by a voucher under the
 * voucher rule: their exit formula less what their active vouchers hold
 * (`reserved`), under every checkpoint that is current or may become so
 * any moment (runs.ts `runsInForce`): the least of them. With no checkpoint,
 * the formula is the record's in − out.
 */
export async function exitVoucherRoom(ctx: Reader, provider: string, token: Token, reserved: bigint): Promise<bigint> {
  const record = await findProviderRecord(ctx, provider);
  let room: bigint | null = null;
  for (const run of await runsInForce(ctx)) {
    const candidate = voucherRoom(await exitBalanceUnder(ctx, token, record, run), reserved);
    if (room === null || candidate < room) room = candidate;
  }
  return room ?? 0n;
}

/** The vault's exit terms, from the synced `shutdown` event (model/sync/governance.ts); null while it runs. */
export async function exitTermsOf(ctx: Reader): Promise<Record<Token, ExitTerms> | null> {
  const shutdown = await shutdownOf(ctx);
  if (!shutdown) return null;
  return {
    STX: { assets: shutdown.stxAssets, liabilities: shutdown.stxLiabilities },
    sBTC: { assets: shutdown.sbtcAssets, liabilities: shutdown.sbtcLiabilities },
  };
}

/**
 * The terms a shutdown would fix now, from the synced books: the vault's
 * holdings as its last synced event reported them, and what it owes under the
 * current checkpoint and the flows since. What a claim would pay were the
 * vault shut down now: all it is owed while the vault holds what it owes,
 * else the same share for everyone (after a theft within the outflow limit,
 * say).
 */
async function shutdownTermsIfNow(ctx: Reader, run: CheckpointRun | null): Promise<Record<Token, ExitTerms>> {
  const flows = await readVaultFlows(ctx);
  const checkpoint =
    run && run.stxSum !== undefined && run.sbtcSum !== undefined ? { stxSum: run.stxSum, sbtcSum: run.sbtcSum, flows: run.flows } : null;
  const terms = {} as Record<Token, ExitTerms>;
  for (const token of TOKENS) {
    const held = (await findPoolMirror(ctx, token))?.totalBalanceOnChain ?? 0n;
    terms[token] = shutdownTermsNow(token, held, flows, checkpoint);
  }
  return terms;
}

/** Runs whose proofs are offered: every leaf is on chain, so anyone can check the proof against the events. */
const PROVABLE: readonly CheckpointRun["status"][] = ["published", "verified"];

export type ExitView = {
  provider: string;
  checkpoint: {
    epoch: bigint;
    root: string;
    stxSum: bigint;
    sbtcSum: bigint;
    asOfSeq: bigint;
    leafCount: bigint;
    status: CheckpointRun["status"];
  } | null;
  basis: ExitBasis;
  leaf: { index: bigint; stx: bigint; sbtc: bigint; stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint } | null;
  proof: StoredProofStep[] | null;
  shutDown: boolean;
  /**
   * Per token: what the exit formula owes; what claim-exit pays — after a
   * shutdown under its terms, before one under the terms a shutdown would fix
   * now (pro rata when the vault holds less than it owes); and what was paid
   * once claimed.
   */
  claims: { token: Token; owed: bigint; pays: bigint; claimed: bigint | null }[];
};

/**
 * The provider's exit today: under the vault's current checkpoint as the
 * backend knows it, their leaf (when they have one) and its proof (once the
 * checkpoint is fully published or verified), and per token what `claim-exit`
 * would owe and pay — all of it, or the pro-rata share of the shutdown's terms
 * when the vault is shut down short.
 */
export async function exitViewOf(ctx: Reader, provider: string): Promise<ExitView> {
  const run = await currentPostedRun(ctx);
  const record = await findProviderRecord(ctx, provider);
  const leafRow = run && record ? await leafOf(ctx, run, provider) : null;
  const basis = exitBasis(record, leafRow !== null, run);
  const fixed = await exitTermsOf(ctx);
  const terms = fixed ?? (await shutdownTermsIfNow(ctx, run));
  const claims = [];
  for (const token of TOKENS) {
    const owed = owedOnExit(token, basis, recordFlowsOf(record), leafRow);
    const claimed = (await exitClaimOf(ctx, provider, token))?.paid ?? null;
    // A claim is made once: afterwards the vault pays nothing more.
    claims.push({ token, owed, pays: claimed === null ? exitPayout(owed, terms[token]) : 0n, claimed });
  }
  return {
    provider,
    checkpoint:
      run && run.epoch !== undefined && run.root !== undefined
        ? {
            epoch: run.epoch,
            root: run.root,
            stxSum: run.stxSum ?? 0n,
            sbtcSum: run.sbtcSum ?? 0n,
            asOfSeq: run.asOfSeq,
            leafCount: run.leafCount,
            status: run.status,
          }
        : null,
    basis,
    leaf: leafRow
      ? {
          index: leafRow.index,
          stx: leafRow.stx,
          sbtc: leafRow.sbtc,
          stxIn: leafRow.stxIn,
          stxOut: leafRow.stxOut,
          sbtcIn: leafRow.sbtcIn,
          sbtcOut: leafRow.sbtcOut,
        }
      : null,
    proof: leafRow && run && PROVABLE.includes(run.status) ? (leafRow.proof ?? null) : null,
    shutDown: fixed !== null,
    claims,
  };
}
