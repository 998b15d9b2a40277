/**
 * The exit, as providers and mirrors see it (README "Checkpoints"):
 *
 *   api.exit.getExitProof   the signed-in provider's leaf and Merkle-sum proof in the
 *                           vault's current checkpoint, and per token what
 *                           `claim-exit` would pay today
 *   GET /exit/checkpoint    the current checkpoint and every leaf, as JSON, for
 *                           anyone who wants to mirror it (bigints as decimal strings)
 */
import { pick } from "convex-helpers";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import { httpAction, internalQuery } from "./functions";
import schema from "./schema";
import { checkpointRunStatusValidator, proofStepValidator, tokenValidator } from "./validators";
import { exitViewOf } from "./model/checkpoints/exitView";
import { exitLeafOf, leafPage } from "./model/checkpoints/publishing";
import { currentPostedRun } from "./model/checkpoints/runs";
import { optionalProviderQuery } from "./providerFunctions";

const amounts = pick(schema.tables.checkpointLeaves.validator.fields, ["stx", "sbtc", "stxIn", "stxOut", "sbtcIn", "sbtcOut"]);

const checkpointView = v.object({
  epoch: v.int64(),
  root: v.string(),
  stxSum: v.int64(),
  sbtcSum: v.int64(),
  asOfSeq: v.int64(),
  leafCount: v.int64(),
  /**
   * How far it got: `publishing` (leaves still going on chain), `published` (all on chain),
   * `verified` (rebuilt from the chain and equal to what was posted) or `mismatch` (it was not).
   */
  status: checkpointRunStatusValidator,
});

const exitProofView = v.object({
  provider: v.string(),
  /** The vault's current checkpoint as the backend knows it; null before the first. */
  checkpoint: v.union(checkpointView, v.null()),
  /**
   * What the exit is measured against: "leaf" (their leaf in the checkpoint), "record" (their
   * record is newer than the checkpoint, or there is none: claim without a leaf), "none".
   */
  basis: v.union(v.literal("leaf"), v.literal("record"), v.literal("none")),
  /** The provider's leaf (its position in published order, and its amounts); null without one. */
  leaf: v.union(v.object({ index: v.int64(), ...amounts }), v.null()),
  /**
   * The leaf's proof for `verify-exit-proof` / `claim-exit`, siblings from the leaf up; null
   * until the checkpoint is fully published (or without a leaf).
   */
  proof: v.union(v.array(proofStepValidator), v.null()),
  shutDown: v.boolean(),
  /** Per token: `owed` by the exit formula, and what a claim `pays` (pro rata when the vault is shut down short). */
  /** `claimed`: what the vault paid this provider's claim in the token, once synced (then `pays` is 0). */
  claims: v.array(v.object({ token: tokenValidator, owed: v.int64(), pays: v.int64(), claimed: v.union(v.int64(), v.null()) })),
});

/**
 * The signed-in provider's exit: leaf, proof, and what `claim-exit` would pay
 * today per token, and what a synced claim paid. Null when signed out. The
 * vault never pays more than it still holds.
 */
export const getExitProof = optionalProviderQuery({
  args: {},
  returns: v.union(exitProofView, v.null()),
  handler: async (ctx) => (ctx.provider === null ? null : await exitViewOf(ctx, ctx.provider)),
});

// ---------------------------------------------------------------------------
// GET /exit/checkpoint

/** The current checkpoint's header, or null before the first is posted. */
export const currentCheckpoint = internalQuery({
  args: {},
  returns: v.union(v.object({ runId: v.id("checkpointRuns"), checkpoint: checkpointView }), v.null()),
  handler: async (ctx) => {
    const run = await currentPostedRun(ctx);
    if (!run || run.epoch === undefined || run.root === undefined) return null;
    return {
      runId: run._id,
      checkpoint: {
        epoch: run.epoch,
        root: run.root,
        stxSum: run.stxSum ?? 0n,
        sbtcSum: run.sbtcSum ?? 0n,
        asOfSeq: run.asOfSeq,
        leafCount: run.leafCount,
        status: run.status,
      },
    };
  },
});

/** Leaves read per query for the HTTP listing: 1,000 × ~200 bytes. */
const HTTP_LEAF_PAGE = 1_000;

export const checkpointLeaves = internalQuery({
  args: { runId: v.id("checkpointRuns"), from: v.int64() },
  returns: v.array(v.object({ index: v.int64(), provider: v.string(), ...amounts })),
  handler: async (ctx, { runId, from }) =>
    (await leafPage(ctx, runId, from, HTTP_LEAF_PAGE)).map((row) => ({ index: row.index, ...exitLeafOf(row) })),
});

/** Every bigint as a decimal string: JSON has no integers beyond 2^53. */
function jsonWithBigints(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

function answer(status: number, body: unknown): Response {
  return new Response(jsonWithBigints(body), {
    status,
    headers: { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-store" },
  });
}

/**
 * `GET /exit/checkpoint`: `{ checkpoint: {epoch, root, stxSum, sbtcSum, asOfSeq, leafCount, status}, leaves: [{index, provider, stx, sbtc, stxIn, stxOut, sbtcIn, sbtcOut}] }`,
 * leaves in published order, read a page per query; 404 before the first checkpoint.
 */
export const getCheckpoint = httpAction(async (ctx) => {
  const current = await ctx.runQuery(internal.exit.currentCheckpoint, {});
  if (!current) return answer(404, { code: "NOT_FOUND", message: "no checkpoint has been posted yet" });
  const leaves = [];
  for (let from = 0n; from < current.checkpoint.leafCount; ) {
    const page = await ctx.runQuery(internal.exit.checkpointLeaves, { runId: current.runId, from });
    if (page.length === 0) break;
    leaves.push(...page);
    from += BigInt(page.length);
  }
  return answer(200, { checkpoint: current.checkpoint, leaves });
});
