/**
 * The checkpoint job in convex-test, with the chain's side played by hand
 * (tests/integration/checkpoints.test.ts runs it against the local chain):
 *
 * - the snapshot is consistent: while it holds vault events, applying or
 *   reversing one is refused with EVENTS_HELD and changes nothing (the sync
 *   and the chainhook confirmer then try again), and the leaves are the
 *   balances and records as of the run's as-of-seq, in ascending principal
 *   order, however many pages it took;
 * - a hold that expired voids its run, and the events flow again;
 * - the tree, the post, the publications and the verification against the
 *   recorded events; a tampered leaf raises `checkpoint-mismatch`.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import type { MutationCtx } from "../../convex/_generated/server";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { compareLeafOrder } from "../../convex/domain/checkpoints";
import { buildMerkleSumTree, verifyMerkleSumProof } from "../../convex/domain/merkleSum";
import { SNAPSHOT_HOLD_MS } from "../../convex/model/checkpoints/eventHold";
import { copySnapshotPage } from "../../convex/model/checkpoints/snapshot";
import {
  ALICE,
  apply,
  BOB,
  CAROL,
  creditYield,
  mineCheckpointCalls,
  proofSteps,
  queuedCheckpointCalls,
  rootNode,
  seeded,
  takeSnapshot,
  tick,
  VaultHistory,
} from "./checkpointFixtures";
import type { Backend } from "./convexTest";
import { testnetAddress } from "../support/poolArbitraries";
import { expectPoolError } from "./poolErrors";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

async function leavesOf(t: Backend, runId: Id<"checkpointRuns">) {
  return await t.run(async (ctx) =>
    (await ctx.db.query("checkpointLeaves").withIndex("by_run_and_index", (q) => q.eq("runId", runId)).collect()).map(
      ({ index, provider, stx, sbtc, stxIn, stxOut, sbtcIn, sbtcOut }) => ({ index, provider, stx, sbtc, stxIn, stxOut, sbtcIn, sbtcOut }),
    ),
  );
}

async function balancesOf(t: Backend) {
  return await t.run(async (ctx) => {
    const rows = await ctx.db.query("providerBalances").collect();
    const by: Record<string, { stx: bigint; sbtc: bigint }> = {};
    for (const row of rows) {
      const entry = by[row.provider] ?? { stx: 0n, sbtc: 0n };
      if (row.token === "STX") entry.stx = row.total;
      else entry.sbtc = row.total;
      by[row.provider] = entry;
    }
    return by;
  });
}

/** Alice, Bob and Carol with deposits, a withdrawal and (Bob) yield the record does not show. */
async function pool(): Promise<{ t: Backend; vault: VaultHistory }> {
  const t = await seeded();
  const vault = new VaultHistory();
  await apply(t, vault.deposit(CAROL, "STX", 9_000n));
  await apply(t, vault.deposit(ALICE, "STX", 5_000n));
  await apply(t, vault.deposit(BOB, "sBTC", 300n));
  await apply(t, vault.deposit(ALICE, "sBTC", 70n));
  await apply(t, vault.withdrawal(ALICE, "STX", 1_200n, 1n));
  await creditYield(t, BOB, "sBTC", 25n, "bob-1");
  return { t, vault };
}

describe("the snapshot", () => {
  it("holds vault events between its pages: an event applied meanwhile waits (EVENTS_HELD, nothing changes); the leaves are the books at as-of-seq", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { t, vault } = await pool();
    const expected = await balancesOf(t);
    const begun = await t.mutation(internal.checkpoints.beginRun, {});
    if (!begun.started) throw new Error(begun.reason);
    expect(begun.asOfSeq).toBe(5n);

    // One record a page: three pages, with events arriving between them.
    const late = vault.deposit(BOB, "STX", 4_000n);
    const firstPage = await t.run(async (ctx) => await copySnapshotPage(ctx as unknown as MutationCtx, begun.runId, Date.now(), 1));
    expect(firstPage).toEqual({ copied: 1, done: false });
    const before = await t.run(async (ctx) => ({
      events: (await ctx.db.query("vaultEvents").collect()).length,
      records: await ctx.db.query("providerRecords").collect(),
      balances: await ctx.db.query("providerBalances").collect(),
    }));
    await expectPoolError(apply(t, late), "EVENTS_HELD");
    await expectPoolError(t.mutation(internal.eventSync.applyBatch, { events: [late] }), "EVENTS_HELD");
    await expectPoolError(t.mutation(internal.eventSync.reverse, { txid: late.txid, eventIndex: 0 }), "EVENTS_HELD");
    // A change made by hand to a total waits as well.
    const byHand = { operationId: "manual:alice-credit", provider: ALICE, token: "STX" as const, amount: 10n };
    await expectPoolError(t.mutation(internal.liquidity.updateProviderBalance, { ...byHand, type: "deposit" }), "EVENTS_HELD");
    await expectPoolError(t.mutation(internal.liquidity.updateProviderBalance, { ...byHand, type: "yield_accrual" }), "EVENTS_HELD");
    const after = await t.run(async (ctx) => ({
      events: (await ctx.db.query("vaultEvents").collect()).length,
      records: await ctx.db.query("providerRecords").collect(),
      balances: await ctx.db.query("providerBalances").collect(),
    }));
    expect(after).toEqual(before);

    for (;;) {
      const page = await t.run(async (ctx) => await copySnapshotPage(ctx as unknown as MutationCtx, begun.runId, Date.now(), 1));
      if ("failed" in page) throw new Error(page.failed);
      if (page.done) break;
      await expectPoolError(apply(t, late), "EVENTS_HELD");
    }
    expect(await t.mutation(internal.checkpoints.finishRunSnapshot, { runId: begun.runId })).toEqual({ ok: true });

    // Released: the late deposit is applied now, after the snapshot.
    expect(await apply(t, late)).toBe("applied");

    const leaves = await leavesOf(t, begun.runId);
    const providers = [ALICE, BOB, CAROL].sort(compareLeafOrder);
    expect(leaves.map((l) => l.provider)).toEqual(providers);
    expect(leaves.map((l) => l.index)).toEqual([0n, 1n, 2n]);
    const records: Record<string, bigint[]> = { [ALICE]: [5_000n, 1_200n, 70n, 0n], [BOB]: [0n, 0n, 300n, 0n], [CAROL]: [9_000n, 0n, 0n, 0n] };
    for (const leaf of leaves) {
      const [stxIn, stxOut, sbtcIn, sbtcOut] = records[leaf.provider]!;
      expect(leaf).toMatchObject({ ...expected[leaf.provider], stxIn, stxOut, sbtcIn, sbtcOut });
    }
    // Bob's yield is in his leaf (325 sats), not in his record (300 in).
    expect(leaves.find((l) => l.provider === BOB)).toMatchObject({ sbtc: 325n, sbtcIn: 300n });
    const run = await t.query(internal.checkpoints.getRunStatus, { runId: begun.runId });
    expect(run).toMatchObject({ status: "snapshotted", asOfSeq: 5n, leafCount: 3n });
  });

  it("is refused while another run is active, and before any record exists", async () => {
    const empty = await seeded();
    expect(await empty.mutation(internal.checkpoints.beginRun, {})).toMatchObject({ started: false });
    const { t } = await pool();
    await takeSnapshot(t);
    expect(await t.mutation(internal.checkpoints.beginRun, {})).toMatchObject({ started: false });
  });

  it("a hold past its expiry voids the run (alerted) and lets events through again", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { t, vault } = await pool();
    const begun = await t.mutation(internal.checkpoints.beginRun, {});
    if (!begun.started) throw new Error(begun.reason);
    const late = vault.deposit(CAROL, "STX", 1n);
    await expectPoolError(apply(t, late), "EVENTS_HELD");

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + SNAPSHOT_HOLD_MS + 1);
    expect(await apply(t, late)).toBe("applied");
    const page = await t.run(async (ctx) => await copySnapshotPage(ctx as unknown as MutationCtx, begun.runId, Date.now(), 1));
    expect(page).toMatchObject({ failed: expect.stringContaining("expired") });
    expect(await t.query(internal.checkpoints.getRunStatus, { runId: begun.runId })).toMatchObject({ status: "failed" });
    const alerts = await t.run(async (ctx) => await ctx.db.query("alerts").collect());
    expect(alerts.map((a) => a.kind)).toContain("checkpoint-failed");
  });
});

describe("posting, publishing and verifying", () => {
  it("builds the tree in leaf order, queues post-checkpoint, then the leaves once the epoch is synced, and verifies them from the recorded events", async () => {
    const { t, vault } = await pool();
    const runId = await takeSnapshot(t);
    expect(await tick(t)).toMatchObject({ outcome: "post-queued", runId });

    const [post] = await queuedCheckpointCalls(t);
    const leaves = (await leavesOf(t, runId)).map(({ index: _index, ...leaf }) => leaf);
    const tree = buildMerkleSumTree(leaves);
    expect(post?.functionName).toBe(VAULT_FUNCTIONS.postCheckpoint);
    expect(post?.checkpointCall).toMatchObject({
      kind: "post",
      stxSum: tree.root.stx,
      sbtcSum: tree.root.sbtc,
      asOfSeq: 5n,
      flows: { stxIn: 14_000n, stxOut: 1_200n, sbtcIn: 370n, sbtcOut: 0n },
      leafCount: 3n,
    });
    expect(post?.amount).toBe(0n);
    // Every stored proof verifies against the root.
    const stored = await t.run(async (ctx) => await ctx.db.query("checkpointLeaves").collect());
    for (const row of stored) {
      const leaf = leaves[Number(row.index)]!;
      expect(verifyMerkleSumProof(tree.root, leaf, proofSteps(row.proof ?? []))).toBe(true);
    }

    expect(await tick(t)).toMatchObject({ outcome: "waiting-for-post" });
    expect(await mineCheckpointCalls(t, vault, 7n)).toBe(1);
    expect(await tick(t)).toMatchObject({ outcome: "publishing" });
    const publications = await queuedCheckpointCalls(t);
    expect(publications.map((tx) => tx.checkpointCall)).toEqual([{ kind: "leaves", runId, epoch: 7n, offset: 0n, leaves }]);

    expect(await mineCheckpointCalls(t, vault, 7n)).toBe(1);
    expect(await tick(t)).toMatchObject({ outcome: "verified", runId });
    expect(await t.query(internal.checkpoints.getRunStatus, { runId })).toMatchObject({ status: "verified", epoch: 7n });
    const verifiedRoot = rootNode({ root: post!.checkpointCall!.kind === "post" ? post!.checkpointCall!.root : "", stxSum: tree.root.stx, sbtcSum: tree.root.sbtc });
    expect(verifiedRoot.hash).toEqual(tree.root.hash);
  });

  it("publishes 100 leaves a transaction, at most 10 unconfirmed at a time", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    const many = Array.from({ length: 1_050 }, (_, i) => testnetAddress(10_000 + i));
    await t.run(async (ctx) => {
      // 1,050 records straight in the mirror (the books agree: every balance is zero).
      for (const [i, provider] of many.entries()) {
        await ctx.db.insert("providerRecords", { provider, nonce: 0n, stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n, createdSeq: BigInt(i + 1) });
        await ctx.db.insert("providerRecordChanges", {
          operationId: `seed:${i}`,
          provider,
          token: "STX",
          direction: "in",
          amount: 0n,
          seq: BigInt(i + 1),
        });
      }
    });
    const runId = await takeSnapshot(t);
    await tick(t);
    await mineCheckpointCalls(t, vault, 1n);
    expect(await tick(t)).toMatchObject({ outcome: "publishing" });
    const first = await queuedCheckpointCalls(t);
    expect(first.map((tx) => (tx.checkpointCall?.kind === "leaves" ? [tx.checkpointCall.offset, tx.checkpointCall.leaves.length] : null))).toEqual(
      Array.from({ length: 10 }, (_, i) => [BigInt(i * 100), 100]),
    );
    await mineCheckpointCalls(t, vault, 1n);
    expect(await tick(t)).toMatchObject({ outcome: "publishing" });
    const second = await queuedCheckpointCalls(t);
    expect(second.map((tx) => (tx.checkpointCall?.kind === "leaves" ? [tx.checkpointCall.offset, tx.checkpointCall.leaves.length] : null))).toEqual([[1_000n, 50]]);
    await mineCheckpointCalls(t, vault, 1n);
    expect(await tick(t)).toMatchObject({ outcome: "verified", runId });
  }, 60_000);

  it("a leaf tampered with before it is published raises checkpoint-mismatch", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { t, vault } = await pool();
    const runId = await takeSnapshot(t);
    await tick(t);
    await mineCheckpointCalls(t, vault, 2n);
    // Someone changes Carol's stored leaf before the leaves go out.
    await t.run(async (ctx) => {
      const leaf = await ctx.db
        .query("checkpointLeaves")
        .withIndex("by_run_and_provider", (q) => q.eq("runId", runId).eq("provider", CAROL))
        .unique();
      await ctx.db.patch("checkpointLeaves", leaf!._id, { stx: leaf!.stx + 1_000n });
    });
    expect(await tick(t)).toMatchObject({ outcome: "publishing" });
    await mineCheckpointCalls(t, vault, 2n);
    expect(await tick(t)).toMatchObject({ outcome: "mismatch", runId });
    const alerts = await t.run(async (ctx) => await ctx.db.query("alerts").collect());
    const mismatch = alerts.find((a) => a.kind === "checkpoint-mismatch");
    expect(mismatch?.message).toContain("checkpoint epoch 2 does not verify");
  });

  it("a failed post-checkpoint fails the run (alerted), so the next tick can start another", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { t } = await pool();
    const runId = await takeSnapshot(t);
    await tick(t);
    const [post] = await queuedCheckpointCalls(t);
    await t.run(async (ctx) => {
      await ctx.db.patch("chainTransactions", post!._id, { status: "failed", error: "abort_by_response (err u219)" });
    });
    expect(await tick(t)).toMatchObject({ outcome: "post-failed", runId });
    expect(await t.query(internal.checkpoints.getRunStatus, { runId })).toMatchObject({ status: "failed" });
    expect(await t.mutation(internal.checkpoints.beginRun, {})).toMatchObject({ started: true });
  });

  it("a veto of the epoch ends the run", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { t, vault } = await pool();
    const runId = await takeSnapshot(t);
    await tick(t);
    await mineCheckpointCalls(t, vault, 3n);
    await apply(t, { ...vault.position(22n), kind: "checkpoint-vetoed", epoch: 3n });
    expect(await tick(t)).toMatchObject({ outcome: "vetoed", runId });
    expect(await t.query(internal.checkpoints.getRunStatus, { runId })).toMatchObject({ status: "vetoed" });
  });
});
