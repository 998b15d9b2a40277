/**
 * The consistent snapshot of the books a checkpoint commits (README
 * "Checkpoints"): every provider record's leaf — the provider's total balance
 * per token in the books and the record's cumulative in/out — all as of one
 * applied flow `seq`.
 *
 * 1. `beginSnapshot` creates the run, fixes `as-of-seq` and the flows at the
 *    newest applied change, and takes the event hold (eventHold.ts): from then
 *    on no balance and no record changes until it is released.
 * 2. `copySnapshotPage` copies one page of records, in the leaf order
 *    (ascending principal, the `by_provider` index), with their balances read
 *    in one index range, into `checkpointLeaves`. Each page checks the hold is
 *    still the run's: a hold that expired (a crashed or stalled job) voids the
 *    run instead of letting pages from two different moments mix.
 * 3. `finishSnapshot` checks the leaves add up — their in/out to the flows, their
 *    balances to the pool's totals in the books (so no balance without a record
 *    was left out) — and releases the hold.
 */
import type { Id } from "../../_generated/dataModel";
import type { Writer } from "../database";
import { TOKENS } from "../../validators";
import { readPoolTotals } from "../ledger/tierTotals";
import { holdsEvents, releaseHold, takeHold } from "./eventHold";
import { readVaultFlows } from "./providerRecords";
import { activeRun, failRun, getRun, moveRun } from "./runs";

/**
 * Records copied per transaction: each reads its record, and the page's
 * balances come in one index range (≤ 2 per record), so a page reads about
 * 3 × 500 documents, writes 500 and uses 3 index ranges (bench/checkpoint-costs.ts).
 */
export const SNAPSHOT_PAGE = 500;

const ZERO_SUMS = { stx: 0n, sbtc: 0n, stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };

export type BeginOutcome =
  | { started: true; runId: Id<"checkpointRuns">; asOfSeq: bigint }
  | { started: false; reason: string };

/** Starts a run and holds vault events; refused while another run is active or before any record exists. */
export async function beginSnapshot(ctx: Writer, now: number): Promise<BeginOutcome> {
  const active = await activeRun(ctx);
  if (active) return { started: false, reason: `run ${active._id} is ${active.status}` };
  const flows = await readVaultFlows(ctx);
  if (flows.seq === 0n) return { started: false, reason: "no provider record yet: a checkpoint needs at least one leaf" };
  const { seq, ...totals } = flows;
  const runId = await ctx.db.insert("checkpointRuns", {
    status: "snapshotting",
    asOfSeq: seq,
    flows: totals,
    leafCount: 0n,
    startedAt: now,
    pruned: false,
  });
  if (!(await takeHold(ctx, runId, now))) throw new Error("an unexpired event hold exists without an active run");
  return { started: true, runId, asOfSeq: seq };
}

export type PageOutcome = { copied: number; done: boolean } | { failed: string };

/** Copies the next page of leaves (see the top of this file). */
export async function copySnapshotPage(
  ctx: Writer,
  runId: Id<"checkpointRuns">,
  now: number,
  pageSize: number = SNAPSHOT_PAGE,
): Promise<PageOutcome> {
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "snapshotting") return { failed: `run ${runId} is not snapshotting` };
  if (!(await holdsEvents(ctx, runId, now))) {
    const reason = "the event hold expired before the snapshot finished";
    await failRun(ctx, runId, reason);
    return { failed: reason };
  }
  const page = await ctx.db
    .query("providerRecords")
    .withIndex("by_provider")
    .paginate({ numItems: pageSize, cursor: run.snapshotCursor ?? null });
  const records = page.page;
  const balances = new Map<string, { stx: bigint; sbtc: bigint }>();
  for (const record of records) balances.set(record.provider, { stx: 0n, sbtc: 0n });
  if (records.length > 0) {
    const first = records[0]!.provider;
    const last = records[records.length - 1]!.provider;
    // Every balance of these providers, and any other provider's in between, in one range.
    const rows = await ctx.db
      .query("providerBalances")
      .withIndex("by_provider_and_token", (q) => q.gte("provider", first).lte("provider", last))
      .take(2 * records.length + 1);
    for (const row of rows) {
      const leaf = balances.get(row.provider);
      if (!leaf) {
        const reason = `${row.provider} holds a balance but has no provider record: backfill the records (internal.checkpoints.backfillProviderRecords)`;
        await failRun(ctx, runId, reason);
        return { failed: reason };
      }
      if (row.token === "STX") leaf.stx = row.total;
      else leaf.sbtc = row.total;
    }
  }
  const sums = { ...(run.leafSums ?? ZERO_SUMS) };
  for (const [i, record] of records.entries()) {
    const { stx, sbtc } = balances.get(record.provider)!;
    sums.stx += stx;
    sums.sbtc += sbtc;
    sums.stxIn += record.stxIn;
    sums.stxOut += record.stxOut;
    sums.sbtcIn += record.sbtcIn;
    sums.sbtcOut += record.sbtcOut;
    await ctx.db.insert("checkpointLeaves", {
      runId,
      index: run.leafCount + BigInt(i),
      provider: record.provider,
      stx,
      sbtc,
      stxIn: record.stxIn,
      stxOut: record.stxOut,
      sbtcIn: record.sbtcIn,
      sbtcOut: record.sbtcOut,
    });
  }
  await ctx.db.patch("checkpointRuns", runId, {
    snapshotCursor: page.continueCursor,
    leafCount: run.leafCount + BigInt(records.length),
    leafSums: sums,
  });
  return { copied: records.length, done: page.isDone };
}

/**
 * Ends the snapshot: what the leaves add up to (kept on the run page by page)
 * must equal the flows fixed at the start and the pool's totals in the books,
 * else the run fails. Either way the hold is released.
 */
export async function finishSnapshot(ctx: Writer, runId: Id<"checkpointRuns">, now: number): Promise<{ ok: true } | { failed: string }> {
  const run = await getRun(ctx, runId);
  if (!run || run.status !== "snapshotting") return { failed: `run ${runId} is not snapshotting` };
  if (!(await holdsEvents(ctx, runId, now))) {
    const reason = "the event hold expired before the snapshot finished";
    await failRun(ctx, runId, reason);
    return { failed: reason };
  }
  const problems: string[] = [];
  const { flows } = run;
  const sums = run.leafSums ?? ZERO_SUMS;
  if (sums.stxIn !== flows.stxIn || sums.stxOut !== flows.stxOut || sums.sbtcIn !== flows.sbtcIn || sums.sbtcOut !== flows.sbtcOut) {
    problems.push(`the records add up to in/out ${sums.stxIn}/${sums.stxOut} STX, ${sums.sbtcIn}/${sums.sbtcOut} sBTC, the flows to ${flows.stxIn}/${flows.stxOut}, ${flows.sbtcIn}/${flows.sbtcOut}`);
  }
  for (const token of TOKENS) {
    const books = (await readPoolTotals(ctx, token)).capital;
    const leaves = token === "STX" ? sums.stx : sums.sbtc;
    if (books !== leaves) problems.push(`the leaves hold ${leaves} ${token}, the books ${books}`);
  }
  if (run.leafCount === 0n) problems.push("no leaf");
  if (problems.length > 0) {
    const reason = `the snapshot does not add up: ${problems.join("; ")}`;
    await failRun(ctx, runId, reason);
    return { failed: reason };
  }
  await moveRun(ctx, runId, ["snapshotting"], "snapshotted");
  await releaseHold(ctx, runId);
  return { ok: true };
}

/** A run stuck in its snapshot past its hold (the job crashed): failed, so a new one can start. */
export async function abandonStalledSnapshot(ctx: Writer, now: number): Promise<boolean> {
  const run = await activeRun(ctx);
  if (!run || run.status !== "snapshotting" || (await holdsEvents(ctx, run._id, now))) return false;
  return await failRun(ctx, run._id, "the event hold expired before the snapshot finished");
}
