import { describe, expect, it } from "vitest";

import { internal } from "../../convex/_generated/api";
import { applyBatches } from "../../convex/eventSync";
import type { VaultEvent } from "../../convex/validators";
import { newBackend } from "./convexTest";
import { ALICE, BOB, depositEvent } from "./liquidityFixtures";

const deposit = () => depositEvent(ALICE, "STX", 1n, { totalBalance: 1n, totalLocked: 0n });
const premium = (): VaultEvent => ({ ...deposit(), kind: "premium-paid", policyId: 1n, payer: ALICE });

describe("applyBatches", () => {
  it("keeps chain order, groups up to 25 deposits or withdrawals, and gives each policy event its own mutation", () => {
    const events = [...Array.from({ length: 30 }, deposit), premium(), premium(), deposit()];
    const batches = applyBatches(events);
    expect(batches.map((b) => b.length)).toEqual([25, 5, 1, 1, 1]);
    expect(batches.flat()).toEqual(events);
  });
});

describe("applyBatch", () => {
  const metricsOf = (t: ReturnType<typeof newBackend>) =>
    t.run(async (ctx) =>
      (await ctx.db.query("poolMetrics").collect())
        .map(({ token, totalBalanceOnChain, totalLockedOnChain, lastEventBlockHeight }) => ({
          token,
          totalBalanceOnChain,
          totalLockedOnChain,
          lastEventBlockHeight,
        }))
        .sort((a, b) => a.token.localeCompare(b.token)),
    );

  it("credits every event and mirrors each token's totals once, from its newest event", async () => {
    const t = newBackend();
    const events = [
      depositEvent(ALICE, "STX", 5n, { totalBalance: 5n, totalLocked: 0n }, 10n),
      depositEvent(BOB, "sBTC", 7n, { totalBalance: 7n, totalLocked: 0n }, 10n),
      depositEvent(BOB, "STX", 3n, { totalBalance: 8n, totalLocked: 0n }, 11n),
    ];
    expect(await t.mutation(internal.eventSync.applyBatch, { events })).toEqual({
      applied: 3,
      duplicate: 0,
      unmatched: 0,
      recorded: 0,
    });
    expect(await metricsOf(t)).toEqual([
      { token: "sBTC", totalBalanceOnChain: 7n, totalLockedOnChain: 0n, lastEventBlockHeight: 10n },
      { token: "STX", totalBalanceOnChain: 8n, totalLockedOnChain: 0n, lastEventBlockHeight: 11n },
    ]);
    const totals = await t.run(async (ctx) =>
      (await ctx.db.query("providerBalances").collect()).map((b) => `${b.provider}/${b.token}=${b.total}`).sort(),
    );
    expect(totals).toEqual([`${ALICE}/STX=5`, `${BOB}/STX=3`, `${BOB}/sBTC=7`].sort());
  });

  it("does not let a replayed older event move the mirror back", async () => {
    const t = newBackend();
    const older = depositEvent(ALICE, "STX", 5n, { totalBalance: 5n, totalLocked: 0n }, 10n);
    const newer = depositEvent(ALICE, "STX", 2n, { totalBalance: 7n, totalLocked: 0n }, 12n);
    await t.mutation(internal.eventSync.applyBatch, { events: [older, newer] });
    expect(await t.mutation(internal.eventSync.applyBatch, { events: [older] })).toEqual({
      applied: 0,
      duplicate: 1,
      unmatched: 0,
      recorded: 0,
    });
    expect(await metricsOf(t)).toEqual([
      { token: "STX", totalBalanceOnChain: 7n, totalLockedOnChain: 0n, lastEventBlockHeight: 12n },
    ]);
  });
});

describe("appliedAbove", () => {
  it("pages through the applied events above the floor, oldest first, leaving out reversed ones", async () => {
    const t = newBackend();
    const events = [9n, 10n, 11n, 12n, 13n].map((height) =>
      depositEvent(ALICE, "STX", 1n, { totalBalance: height, totalLocked: 0n }, height),
    );
    await t.mutation(internal.eventSync.applyBatch, { events });
    const reversedOne = events[2]!;
    expect(await t.mutation(internal.eventSync.reverse, { txid: reversedOne.txid, eventIndex: 0 })).toBe("reversed");

    const heights: bigint[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const result: { page: { blockHeight: bigint }[]; isDone: boolean; continueCursor: string } = await t.query(
        internal.eventSync.appliedAbove,
        { floor: 9n, cursor, pageSize: 2 },
      );
      pages++;
      heights.push(...result.page.map((e) => e.blockHeight));
      if (result.isDone) break;
      cursor = result.continueCursor;
    }
    expect(heights).toEqual([10n, 12n, 13n]);
    expect(pages).toBeGreaterThanOrEqual(2);
  });
});
