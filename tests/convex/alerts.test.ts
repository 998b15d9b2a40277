import { afterEach, describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { raiseAlert, raiseAlertOnce, resolveAlerts } from "../../convex/model/alerts";
import { newBackend } from "./convexTest";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("alerts", () => {
  it("lists open alerts newest first and resolves one at a time", async () => {
    const t = newBackend();
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.useFakeTimers();
    for (const [i, kind] of ["event-unmatched", "transaction-failed", "reconciliation-mismatch"].entries()) {
      vi.setSystemTime(Date.UTC(2026, 10, 25, 12, 0, i));
      await t.run(async (ctx) => await raiseAlert(ctx, kind, `${kind} happened`, { n: BigInt(i) }));
    }
    const open = await t.query(internal.alerts.listOpen, {});
    expect(open.map((a) => [a.kind, a.message, a.details])).toEqual([
      ["reconciliation-mismatch", "reconciliation-mismatch happened", '{"n":"2"}'],
      ["transaction-failed", "transaction-failed happened", '{"n":"1"}'],
      ["event-unmatched", "event-unmatched happened", '{"n":"0"}'],
    ]);
    expect(await t.query(internal.alerts.listOpen, { limit: 1 })).toHaveLength(1);

    expect(await t.mutation(internal.alerts.resolve, { id: open[1]!._id })).toBe(true);
    expect(await t.mutation(internal.alerts.resolve, { id: open[1]!._id })).toBe(false);
    expect((await t.query(internal.alerts.listOpen, {})).map((a) => a.kind)).toEqual([
      "reconciliation-mismatch",
      "event-unmatched",
    ]);
  });

  it("raises a lasting condition once per subject, and again after it was resolved", async () => {
    const t = newBackend();
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    await t.run(async (ctx) => {
      await raiseAlertOnce(ctx, "price-unavailable", "BTC", "BTC/USD is unavailable");
      await raiseAlertOnce(ctx, "price-unavailable", "BTC", "BTC/USD is unavailable, still");
      await raiseAlertOnce(ctx, "price-unavailable", "STX", "STX/USD is unavailable");
    });
    expect((await t.query(internal.alerts.listOpen, {})).map((a) => a.message)).toEqual([
      "STX/USD is unavailable",
      "BTC/USD is unavailable",
    ]);
    expect(log).toHaveBeenCalledTimes(2);

    await t.run(async (ctx) => {
      await resolveAlerts(ctx, "price-unavailable", "BTC");
      await raiseAlertOnce(ctx, "price-unavailable", "BTC", "BTC/USD is unavailable again");
    });
    const all = await t.run(async (ctx) => await ctx.db.query("alerts").collect());
    expect(all.map((a) => [a.message, a.resolved])).toEqual([
      ["BTC/USD is unavailable", true],
      ["STX/USD is unavailable", false],
      ["BTC/USD is unavailable again", false],
    ]);
  });

  it("a lasting reconciliation mismatch is one open alert until a run matches; a new mismatch after that is raised again", async () => {
    const t = newBackend();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const run = (onChainBalance: bigint) =>
      t.mutation(internal.reconciliation.record, {
        onChain: [{ token: "STX", balance: onChainBalance, locked: 0n }],
        expected: [{ token: "STX", balance: 90n, locked: 0n, complete: true }],
        syncedThroughHeight: 30n,
      });
    const mismatches = async () =>
      (await t.run(async (ctx) => await ctx.db.query("alerts").collect()))
        .filter((a) => a.kind === "reconciliation-mismatch")
        .map((a) => [a.resolved, JSON.parse(a.details!).onChainBalance]);
    for (let i = 0; i < 3; i++) expect(await run(100n)).toEqual(["mismatch"]);
    expect(await mismatches()).toEqual([[false, "100"]]);
    expect(await run(90n)).toEqual(["match"]);
    expect(await mismatches()).toEqual([[true, "100"]]);
    expect(await run(95n)).toEqual(["mismatch"]);
    expect(await mismatches()).toEqual([
      [true, "100"],
      [false, "95"],
    ]);
  });
});
