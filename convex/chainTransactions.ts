/**
 * Sending and following backend-signed vault transactions (lock, release,
 * settle, checkpoints), signed with OPERATOR_PRIVATE_KEY as the vault's
 * operator.
 *
 * `send` (cron) first asks the vault what may go (chain/sendGate.ts: nothing
 * after a shutdown or while the operator key does not hold the role, no lock
 * while paused, settlements paced by the outflow window), then signs those
 * pending transactions with nonces from the one
 * allocator, a fee from the node's estimate within MAX_FEE_USTX (or, when
 * the node has no estimate, its transfer rate × the length), and
 * broadcasts them; a nonce rejection resyncs the counter from the API.
 * `follow` (cron) checks broadcast transactions, all in one lookup:
 * confirmed, failed (what they held is released), or stuck/dropped past
 * STUCK_AFTER_BLOCKS — replaced with the same nonce and a higher fee.
 *
 * Rate-limited by the Stacks API (README, "Rate limits"), either run stops
 * where it is and reports the wait; its next cron tick (30 s) is the retry.
 * Neither schedules a run of its own: one started besides the cron's could
 * overlap a tick, and two senders (or followers) working the same rows would
 * race for the same nonce (or the same replacement). Every step is a row, so
 * stopping midway loses nothing.
 *
 * Durability comes from the database: every step is recorded in
 * `chainTransactions` before and after it runs, and the crons pick up
 * whatever a crashed run left, so no in-memory queue is needed.
 *
 * Each mutation below names the event it applies; where that event takes the
 * row is the transition table of `domain/transactionStates.ts`
 * (docs/transaction-states.md), applied by the model.
 */
import { pick } from "convex-helpers";
import { literals } from "convex-helpers/validators";
import { v } from "convex/values";

import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import { type ActionCtx } from "./_generated/server";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { backendAddress, feeForCall, signVaultCall } from "./chain/backendTransactions";
import { hiroClientFor, rateLimitedOf, type HiroClient } from "./chain/hiroClient";
import { mayStillConfirm, standingOf } from "./chain/transactionStanding";
import { alertingRouteGone } from "./eventSync";
import { describeOutflowWait, oversizedSettlements, planSend, readOutflowWindow, readVaultGate, settlementTokens, stopOf } from "./chain/sendGate";
import type { OutflowWindow } from "./domain/outflow";
import { TOKENS, type Token } from "./domain/vocabulary";
import { readChainConfig, readHotKey } from "./config";
import { raiseAlertOnce, resolveAlerts } from "./model/alerts";
import * as chainTransactions from "./model/operations/chainTransactions";
import { VAULT_SHUT_DOWN } from "./model/sync/governance";
import { readSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import schema from "./schema";
import { chainTransactionStatusValidator, tokenValidator } from "./validators";

const SEND_BATCH = 10;
/** Pending rows looked at per run: more than are sent, so held settlements or locks do not starve the rest. */
const PENDING_READ = 50;
const FOLLOW_BATCH = 25;
/** The least fee the backend offers, in micro-STX, whatever the estimate. */
const MIN_FEE = 1_000n;

const transactionView = v.object({
  _id: v.id("chainTransactions"),
  ...pick(schema.tables.chainTransactions.validator.fields, [
    "functionName",
    "policyIds",
    "token",
    "amount",
    "buyer",
    "nonce",
    "fee",
    "txid",
    "broadcastAtHeight",
    "status",
    "attempts",
    "checkpointCall",
    "createdAt",
  ]),
});

export const listByStatus = internalQuery({
  args: { status: chainTransactionStatusValidator, limit: v.number() },
  returns: v.array(transactionView),
  handler: async (ctx, { status, limit }) => {
    const rows = await ctx.db
      .query("chainTransactions")
      .withIndex("by_status", (q) => q.eq("status", status))
      .take(limit);
    return rows.map((tx) => ({
      _id: tx._id,
      functionName: tx.functionName,
      policyIds: tx.policyIds,
      token: tx.token,
      amount: tx.amount,
      buyer: tx.buyer,
      nonce: tx.nonce,
      fee: tx.fee,
      txid: tx.txid,
      broadcastAtHeight: tx.broadcastAtHeight,
      status: tx.status,
      attempts: tx.attempts,
      checkpointCall: tx.checkpointCall,
      createdAt: tx.createdAt,
    }));
  },
});

export const claimNonce = internalMutation({
  args: { id: v.id("chainTransactions") },
  returns: v.int64(),
  handler: async (ctx, { id }) => await chainTransactions.claimNonce(ctx, id),
});

export const resyncNonce = internalMutation({
  args: { chainNext: v.int64() },
  returns: v.null(),
  handler: async (ctx, { chainNext }) => {
    const pending = await ctx.db
      .query("chainTransactions")
      .withIndex("by_status", (q) => q.eq("status", "pending"))
      .take(100);
    await chainTransactions.resyncNonce(ctx, chainNext, pending);
    return null;
  },
});

/** The events after which the node holds a version of the row (the model's BroadcastEvent). */
const broadcastEventValidator = literals("broadcast-accepted", "found-on-node", "replacement-accepted");

export const markBroadcast = internalMutation({
  args: {
    id: v.id("chainTransactions"),
    event: broadcastEventValidator,
    txid: v.string(),
    fee: v.int64(),
    atHeight: v.int64(),
  },
  returns: v.null(),
  handler: async (ctx, { id, event, ...sent }) => {
    await chainTransactions.markBroadcast(ctx, id, event, sent);
    return null;
  },
});

export const recordSigned = internalMutation({
  args: { id: v.id("chainTransactions"), txid: v.string() },
  returns: v.null(),
  handler: async (ctx, { id, txid }) => {
    await chainTransactions.recordSigned(ctx, id, txid);
    return null;
  },
});

export const releaseDeadNonce = internalMutation({
  args: { id: v.id("chainTransactions") },
  returns: v.null(),
  handler: async (ctx, { id }) => {
    await chainTransactions.releaseDeadNonce(ctx, id);
    return null;
  },
});

export const signedTxidsOf = internalQuery({
  args: { id: v.id("chainTransactions") },
  returns: v.array(v.string()),
  handler: async (ctx, { id }) => (await ctx.db.get("chainTransactions", id))?.signedTxids ?? [],
});

export const markStuckAtFeeCap = internalMutation({
  args: { id: v.id("chainTransactions"), maxFee: v.int64() },
  returns: v.null(),
  handler: async (ctx, { id, maxFee }) => {
    await chainTransactions.markStuckAtFeeCap(ctx, id, maxFee);
    return null;
  },
});

export const splitSettlement = internalMutation({
  args: { id: v.id("chainTransactions"), part: v.int64() },
  returns: v.union(v.id("chainTransactions"), v.null()),
  handler: async (ctx, { id, part }) => await chainTransactions.splitSettlement(ctx, id, part),
});

export const markAttemptFailed = internalMutation({
  args: { id: v.id("chainTransactions"), reason: v.string() },
  returns: v.null(),
  handler: async (ctx, { id, reason }) => {
    await chainTransactions.markAttemptFailed(ctx, id, reason);
    return null;
  },
});

export const markConfirmed = internalMutation({
  args: { id: v.id("chainTransactions") },
  returns: v.null(),
  handler: async (ctx, { id }) => {
    await chainTransactions.markConfirmed(ctx, id);
    return null;
  },
});

/** `follow`: mined, and failed on chain. */
export const markAborted = internalMutation({
  args: { id: v.id("chainTransactions"), reason: v.string() },
  returns: v.null(),
  handler: async (ctx, { id, reason }) => {
    await chainTransactions.markAborted(ctx, id, reason);
    return null;
  },
});

/**
 * Gives a pending or broadcast transaction up by hand (`npx convex run
 * chainTransactions:markFailed`): what it held is let go as for any failure.
 */
export const markFailed = internalMutation({
  args: { id: v.id("chainTransactions"), reason: v.string() },
  returns: v.null(),
  handler: async (ctx, { id, reason }) => {
    await chainTransactions.markAbandoned(ctx, id, reason);
    return null;
  },
});

type Sendable = Parameters<typeof signVaultCall>[1];

/** Signs and broadcasts one transaction with its nonce; returns what the node said. */
async function signAndBroadcast(
  ctx: ActionCtx,
  client: HiroClient,
  tx: Sendable & { _id: Id<"chainTransactions"> },
  nonce: bigint,
  feeFloor: bigint,
): Promise<{ accepted: true; txid: string; fee: bigint } | { accepted: false; reason: string; message: string }> {
  const config = readChainConfig();
  const privateKey = readHotKey("operator");
  // Price the transaction itself (the node's estimate, or the fallback when it has none), then
  // sign it again with the chosen fee.
  const draft = await signVaultCall(config, tx, { nonce, fee: 0n, privateKey });
  const fee = await feeForCall(client, draft, feeFloor, config.maxFeeUstx);
  const signed = await signVaultCall(config, tx, { nonce, fee, privateKey });
  await ctx.runMutation(internal.chainTransactions.recordSigned, { id: tx._id, txid: signed.txid });
  const result = await client.broadcast(signed.bytes);
  return result.accepted ? { accepted: true, txid: result.txid, fee } : { accepted: false, reason: result.reason, message: result.message };
}

/**
 * Runs a cron's work, which counts what it does into `counts`. Rate-limited,
 * the run ends there with what it did so far and the wait (see the top of this
 * file); anything else is thrown on.
 */
async function untilRateLimited<C extends object>(counts: C, work: () => Promise<C>): Promise<C & { rateLimitedForMs?: number }> {
  try {
    return await work();
  } catch (error) {
    const limited = rateLimitedOf(error);
    if (!limited) throw error;
    console.warn(`[rate-limited] ${limited.data.message}; the next cron run retries`);
    return { ...counts, rateLimitedForMs: limited.retryAfterMs };
  }
}

const VAULT_PAUSED = "vault-paused";
/** The operator key does not hold the vault's operator role (subject "vault"): nothing is sent. */
const OPERATOR_NOT_AUTHORIZED = "operator-not-authorized";
/** Settlements of a token wait for the vault's outflow window (subject: the token). */
const OUTFLOW_LIMIT_REACHED = "outflow-limit-reached";

/**
 * What the send gate held this run, told to operators once per condition and
 * resolved when it ends (chain/sendGate.ts).
 */
export const noteSendGate = internalMutation({
  args: {
    stop: v.union(literals("shut-down", "operator-not-authorized"), v.null()),
    operator: v.union(v.string(), v.null()),
    pending: v.number(),
    heldByPause: v.number(),
    outflowWaits: v.array(v.object({ token: tokenValidator, message: v.string() })),
  },
  returns: v.null(),
  handler: async (ctx, { stop, operator, pending, heldByPause, outflowWaits }) => {
    if (stop === "shut-down") {
      await raiseAlertOnce(ctx, VAULT_SHUT_DOWN, "vault", `the vault is shut down: ${pending} backend transaction(s) will never be sent`);
      return null;
    }
    if (stop === "operator-not-authorized") {
      const holder = operator === null ? "nobody (the hot keys were revoked)" : operator;
      await raiseAlertOnce(
        ctx,
        OPERATOR_NOT_AUTHORIZED,
        "vault",
        `the vault's operator role is held by ${holder}, not by OPERATOR_PRIVATE_KEY: ${pending} backend transaction(s) held until it is`,
      );
      return null;
    }
    await resolveAlerts(ctx, OPERATOR_NOT_AUTHORIZED, "vault");
    if (heldByPause > 0) {
      await raiseAlertOnce(ctx, VAULT_PAUSED, "vault", `the vault is paused: ${heldByPause} lock(s) held until it is unpaused`);
    } else {
      await resolveAlerts(ctx, VAULT_PAUSED, "vault");
    }
    const waiting = new Map(outflowWaits.map((w) => [w.token, w.message]));
    for (const token of TOKENS) {
      const message = waiting.get(token);
      if (message === undefined) await resolveAlerts(ctx, OUTFLOW_LIMIT_REACHED, token);
      else await raiseAlertOnce(ctx, OUTFLOW_LIMIT_REACHED, token, message);
    }
    return null;
  },
});

/** Set when the Stacks API rate-limited the run: how long it asked to wait (see the top of this file). */
const rateLimitedForMs = v.optional(v.number());

export const send = internalAction({
  args: {},
  returns: v.object({ broadcast: v.number(), rejected: v.number(), rateLimitedForMs }),
  handler: (ctx) => alertingRouteGone(ctx, async () => {
    const counts = { broadcast: 0, rejected: 0 };
    return await untilRateLimited(counts, () => sendPending(ctx, counts));
  }),
});

async function sendPending(ctx: ActionCtx, counts: { broadcast: number; rejected: number }) {
  const config = readChainConfig();
  const client = hiroClientFor(config);
  const queue = await ctx.runQuery(internal.chainTransactions.listByStatus, { status: "pending", limit: PENDING_READ });
  if (queue.length === 0) {
    // Nothing waits: whatever the gate held before is over (a settlement given up, say).
    await ctx.runMutation(internal.chainTransactions.noteSendGate, { stop: null, operator: null, pending: 0, heldByPause: 0, outflowWaits: [] });
    return counts;
  }
  // The vault decides what may go (chain/sendGate.ts): nothing after a shutdown or while the
  // operator key does not hold the role; no lock while paused; settlements within the window.
  const sender = backendAddress(config, readHotKey("operator"));
  const gate = await readVaultGate(client, config.vaultContractId);
  const stop = stopOf(gate, sender);
  const windows = new Map<Token, OutflowWindow>();
  if (stop === null) for (const token of settlementTokens(queue)) windows.set(token, await readOutflowWindow(client, config, token));
  // A settlement over a whole window's cap goes in parts of the cap, one a window (chain/sendGate.ts).
  for (const { tx, part } of oversizedSettlements(queue, windows)) {
    if ((await ctx.runMutation(internal.chainTransactions.splitSettlement, { id: tx._id, part })) !== null) tx.amount = part;
  }
  const plan = planSend(queue, gate, windows);
  await ctx.runMutation(internal.chainTransactions.noteSendGate, {
    stop,
    operator: gate.operator,
    pending: queue.length,
    heldByPause: plan.heldByPause,
    outflowWaits: plan.outflowWaits.map((wait) => ({ token: wait.token, message: describeOutflowWait(wait) })),
  });
  const pending = stop === null ? plan.send.slice(0, SEND_BATCH) : [];
  if (pending.length === 0) return counts;
  const [tip, chainNext] = await Promise.all([client.getTipHeight(), client.getNextNonce(sender)]);
  const counter = await ctx.runQuery(internal.chainTransactions.nextNonce, {});
  const inFlight = await ctx.runQuery(internal.chainTransactions.listByStatus, { status: "broadcast", limit: 100 });
  const heldAhead = inFlight.some((b) => b.nonce !== undefined && b.nonce >= chainNext);
  // Follow the chain: on the first run; when it moved past us (another signer, a lost update);
  // and when we are ahead of it with nothing in flight to explain the gap (a transaction that
  // gave up before reaching the node left its nonce unused, and every later one would wait on it).
  if (counter === null || counter < chainNext || (counter > chainNext && !heldAhead)) {
    await ctx.runMutation(internal.chainTransactions.resyncNonce, { chainNext });
  }

  for (const tx of pending) {
    const nonce = await ctx.runMutation(internal.chainTransactions.claimNonce, { id: tx._id });
    const outcome = await signAndBroadcast(ctx, client, tx, nonce, MIN_FEE);
    if (outcome.accepted) {
      await ctx.runMutation(internal.chainTransactions.markBroadcast, {
        id: tx._id,
        event: "broadcast-accepted",
        txid: outcome.txid,
        fee: outcome.fee,
        atHeight: tip,
      });
      counts.broadcast++;
      continue;
    }
    counts.rejected++;
    if (outcome.reason === "BadNonce" || outcome.reason === "ConflictingNonceInMempool") {
      // Did an earlier signed version of this very transaction reach the node (e.g. before a crash)?
      const signedTxids = await ctx.runQuery(internal.chainTransactions.signedTxidsOf, { id: tx._id });
      const known = [...(await client.getTransactions(signedTxids)).entries()].map(([txid, info]) => [txid, standingOf(info)] as const);
      const landed = known.find(([, standing]) => standing.kind === "pending" || standing.kind === "mined");
      if (landed) {
        // The fee is that version's, as the API reports it (the row may hold a later attempt's).
        const [txid, standing] = landed;
        const reported = standing.kind === "pending" || standing.kind === "mined" ? standing.fee : null;
        const fee = reported ?? tx.fee ?? MIN_FEE;
        await ctx.runMutation(internal.chainTransactions.markBroadcast, {
          id: tx._id,
          event: "found-on-node",
          txid,
          fee,
          atHeight: tip,
        });
        continue;
      }
      // None did: the nonce is dead for this transaction; it gets a fresh one next run.
      await ctx.runMutation(internal.chainTransactions.releaseDeadNonce, { id: tx._id });
      await ctx.runMutation(internal.chainTransactions.resyncNonce, { chainNext: await client.getNextNonce(sender) });
    }
    await ctx.runMutation(internal.chainTransactions.markAttemptFailed, {
      id: tx._id,
      reason: `${outcome.reason}: ${outcome.message}`,
    });
  }
  return counts;
}

export const nextNonce = internalQuery({
  args: {},
  returns: v.union(v.int64(), v.null()),
  handler: async (ctx) => await readSyncValue(ctx, SYNC_KEYS.backendNextNonce),
});

/** Ascending; a row without a nonce (not signed yet) sorts last. */
function compareNonces(a: bigint | undefined, b: bigint | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A replacement must pay more than the original; 50% more clears every node's replace-by-fee rule. */
function replacementFee(previous: bigint): bigint {
  return previous + previous / 2n + 1n;
}

/** Whether the API shows `txid` as something that can still confirm: pending, or mined on the canonical chain. */
async function stillConfirmable(client: HiroClient, txid: string | undefined): Promise<boolean> {
  return mayStillConfirm(standingOf(txid ? await client.getTransaction(txid) : null));
}

export const follow = internalAction({
  args: {},
  returns: v.object({ confirmed: v.number(), failed: v.number(), replaced: v.number(), rateLimitedForMs }),
  handler: (ctx) => alertingRouteGone(ctx, async () => {
    const counts = { confirmed: 0, failed: 0, replaced: 0 };
    return await untilRateLimited(counts, () => followBroadcast(ctx, counts));
  }),
});

async function followBroadcast(ctx: ActionCtx, counts: { confirmed: number; failed: number; replaced: number }) {
  const config = readChainConfig();
  const client = hiroClientFor(config);
  const broadcast = await ctx.runQuery(internal.chainTransactions.listByStatus, {
    status: "broadcast",
    limit: FOLLOW_BATCH,
  });
  if (broadcast.length === 0) return counts;
  const tip = await client.getTipHeight();
  // Every transaction of the run in one GET /extended/v1/tx/multiple (50 to a request), not
  // one request each: the API's rate limit counts requests (README, "Rate limits"). A
  // refused replacement is still looked up afresh below, as a block may land meanwhile.
  const known = await client.getTransactions(broadcast.flatMap((tx) => (tx.txid ? [tx.txid] : [])));
  // In nonce order: a transaction waiting behind an earlier one that is still
  // unmined is not stuck on its own fee, and raising it would pay for nothing.
  const byNonce = [...broadcast].sort((a, b) => compareNonces(a.nonce, b.nonce));
  let behindUnmined = false;
  for (const tx of byNonce) {
    const standing = standingOf(tx.txid ? known.get(tx.txid) : null);
    if (standing.kind === "mined" && standing.canonical) {
      if (standing.succeeded) {
        await ctx.runMutation(internal.chainTransactions.markConfirmed, { id: tx._id });
        counts.confirmed++;
      } else {
        // The outcome names the vault's refusal, e.g. (err u213): the outflow window is full. A call
        // that errs with a "vault sends" post-condition is reported as a post-condition abort.
        await ctx.runMutation(internal.chainTransactions.markAborted, { id: tx._id, reason: standing.outcome });
        counts.failed++;
      }
      continue;
    }
    const dropped = standing.kind === "dropped";
    const stuck =
      !behindUnmined && tx.broadcastAtHeight !== undefined && tip - tx.broadcastAtHeight >= config.stuckAfterBlocks;
    behindUnmined = true;
    // Unknown to the API right after broadcast is normal; only a long silence counts.
    if ((dropped || stuck) && tx.nonce !== undefined) {
      // Same nonce, higher fee: the node replaces the stuck one (or re-admits a dropped one).
      const floor = replacementFee(tx.fee ?? MIN_FEE);
      if (floor > config.maxFeeUstx && !dropped) {
        // Already at the cap: wait it out, and tell an operator (once).
        await ctx.runMutation(internal.chainTransactions.markStuckAtFeeCap, { id: tx._id, maxFee: config.maxFeeUstx });
        continue;
      }
      const outcome = await signAndBroadcast(ctx, client, tx, tx.nonce, floor);
      if (outcome.accepted) {
        await ctx.runMutation(internal.chainTransactions.markBroadcast, {
          id: tx._id,
          event: "replacement-accepted",
          txid: outcome.txid,
          fee: outcome.fee,
          atHeight: tip,
        });
        counts.replaced++;
      } else if (!(await stillConfirmable(client, tx.txid))) {
        // A refusal counts only when the version on the node can no longer confirm. If it is
        // still pending, or was mined meanwhile (a block can land while the replacement is
        // priced, and the node then refuses its nonce), nothing failed: the row keeps following
        // it rather than spending an attempt, possibly its last.
        await ctx.runMutation(internal.chainTransactions.markAttemptFailed, {
          id: tx._id,
          reason: `replacement rejected: ${outcome.reason}`,
        });
      }
    }
  }
  return counts;
}
