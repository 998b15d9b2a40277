/**
 * The voucher rule (README "Checkpoints"; docs/architecture.md, "Checkpoint → exit"): the backend never
 * reserves (and so never signs) a voucher that would take a provider below
 * zero on the exit formula — their current checkpoint leaf + deposits since −
 * withdrawals since, less their active vouchers; with no checkpoint, their
 * record's in − out. Yield the books credit after a checkpoint becomes
 * withdrawable once the next checkpoint includes it. The property checks that
 * no sequence of deposits, yield, checkpoints, reservations and redemptions
 * ever leaves anyone below zero on the formula, computed here by hand.
 */
import fc from "fast-check";
import { describe, expect, it, test, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { isPoolError } from "../../convex/domain/errors";
import { currentPostedRun } from "../../convex/model/checkpoints/runs";
import type { GovernanceEvent, Token } from "../../convex/validators";
import { ALICE, apply, BOB, creditYield, mineCheckpointCalls, seeded, takeSnapshot, tick, VaultHistory } from "./checkpointFixtures";
import type { Backend } from "./convexTest";
import { SIGNER_ADDRESS } from "./liquidityFixtures";
import { expectPoolError } from "./poolErrors";

const reserve = (t: Backend, provider: string, amount: bigint, token: Token = "STX") =>
  t.mutation(internal.liquidity.reserveWithdrawal, { provider, token, amount, expiresAtBlock: 1_000_000n, signer: SIGNER_ADDRESS });

/** A checkpoint taken, posted and synced (epoch `epoch`): the vault's current checkpoint. */
async function checkpoint(t: Backend, vault: VaultHistory, epoch: bigint) {
  await takeSnapshot(t);
  await tick(t); // tree, post queued
  await mineCheckpointCalls(t, vault, epoch);
  await tick(t); // epoch learnt, leaves queued
}

const LATER_YIELD = "yield credited after the last checkpoint becomes withdrawable once the next checkpoint includes it";

describe("the voucher rule", () => {
  it("before any checkpoint: at most the record's in − out, however much yield the books credit", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    await apply(t, vault.deposit(ALICE, "STX", 10_000n));
    await creditYield(t, ALICE, "STX", 500n, "1");
    const message = await expectPoolError(reserve(t, ALICE, 10_001n), "INSUFFICIENT_AVAILABLE_BALANCE");
    expect(message).toContain("at most 10000 µSTX can be withdrawn now");
    expect(message).toContain(LATER_YIELD);
    expect(await reserve(t, ALICE, 10_000n)).toBe(1n);
  });

  it("yield becomes withdrawable once a checkpoint the vault accepted includes it; later yield waits for the next", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    await apply(t, vault.deposit(ALICE, "STX", 10_000n));
    await creditYield(t, ALICE, "STX", 500n, "1");

    // Snapshot taken, post not yet mined: the vault has no checkpoint, the rule still says 10,000.
    await takeSnapshot(t);
    await tick(t);
    await expectPoolError(reserve(t, ALICE, 10_001n), "INSUFFICIENT_AVAILABLE_BALANCE");
    await mineCheckpointCalls(t, vault, 1n);
    await tick(t);
    expect(await t.run(async (ctx) => (await currentPostedRun(ctx))?.epoch)).toBe(1n);

    // Leaf 10,500; a deposit since adds 1,000; yield since does not count.
    await apply(t, vault.deposit(ALICE, "STX", 1_000n));
    await creditYield(t, ALICE, "STX", 200n, "2");
    expect(await reserve(t, ALICE, 6_000n)).toBe(1n);
    // Available 11,700 − 6,000 = 5,700, but the formula leaves 11,500 − 6,000 = 5,500.
    const message = await expectPoolError(reserve(t, ALICE, 5_501n), "INSUFFICIENT_AVAILABLE_BALANCE");
    expect(message).toContain("at most 5500 µSTX can be withdrawn now");
    expect(message).toContain(LATER_YIELD);
    expect(await reserve(t, ALICE, 5_500n)).toBe(2n);
  });

  it("signs no voucher while the vault's current checkpoint is one the backend did not post (CHECKPOINT_UNKNOWN), until its veto or the backend's next", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    await apply(t, vault.deposit(ALICE, "STX", 10_000n));
    await checkpoint(t, vault, 1n);
    await mineCheckpointCalls(t, vault, 1n); // its leaves: the run is done, the next may start
    await tick(t);
    expect(await reserve(t, ALICE, 1_000n)).toBe(1n);
    const posted = (epoch: bigint): GovernanceEvent => ({
      ...vault.position(30n),
      kind: "checkpoint-posted",
      epoch,
      root: `0x${"ee".repeat(32)}`,
      stxSum: 10_000_000n,
      sbtcSum: 0n,
      asOfSeq: 1n,
      flows: { stxIn: 10_000n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n },
      leafCount: 1n,
    });
    const openUnknown = async () =>
      (await t.run(async (ctx) => await ctx.db.query("alerts").collect())).filter((a) => a.kind === "checkpoint-unknown" && !a.resolved).length;

    // Someone else holding the operator key posts epoch 2, a tree no run built.
    await apply(t, posted(2n));
    expect(await openUnknown()).toBe(1);
    const before = await t.run(async (ctx) => await ctx.db.query("withdrawalReservations").collect());
    expect(await expectPoolError(reserve(t, ALICE, 1_000n), "CHECKPOINT_UNKNOWN")).toBe(
      "the vault's current checkpoint (epoch 2) was not posted by this backend: no voucher is signed " +
        "until the guardian vetoes it or the backend's next checkpoint replaces it",
    );
    expect(await t.run(async (ctx) => await ctx.db.query("withdrawalReservations").collect())).toEqual(before);

    // The guardian vetoes it: epoch 1, the backend's, is current again.
    await apply(t, { ...vault.position(31n), kind: "checkpoint-vetoed", epoch: 2n });
    expect(await openUnknown()).toBe(0);
    expect(await reserve(t, ALICE, 1_000n)).toBe(2n);

    // Another (epoch 3) is not vetoed; the backend's next checkpoint (epoch 4) replaces it.
    await apply(t, posted(3n));
    await expectPoolError(reserve(t, ALICE, 1_000n), "CHECKPOINT_UNKNOWN");
    await checkpoint(t, vault, 4n);
    expect(await openUnknown()).toBe(0);
    expect(await reserve(t, ALICE, 1_000n)).toBe(3n);
  });

  it("a withdrawal redeemed since the checkpoint counts against the leaf once (the out moves and the reservation ends)", async () => {
    const t = await seeded();
    const vault = new VaultHistory();
    await apply(t, vault.deposit(ALICE, "STX", 10_000n));
    await checkpoint(t, vault, 1n);
    expect(await reserve(t, ALICE, 4_000n)).toBe(1n);
    await apply(t, vault.withdrawal(ALICE, "STX", 4_000n, 1n));
    await expectPoolError(reserve(t, ALICE, 6_001n), "INSUFFICIENT_AVAILABLE_BALANCE");
    expect(await reserve(t, ALICE, 6_000n)).toBe(2n);
  });
});

// ---------------------------------------------------------------------------
// Property: nobody ever below zero on the formula

type Step =
  | { kind: "deposit"; who: number; amount: bigint }
  | { kind: "yield"; who: number; amount: bigint }
  | { kind: "reserve"; who: number; percent: number }
  | { kind: "redeem"; pick: number }
  | { kind: "checkpoint" };

const WHO = [ALICE, BOB] as const;
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("deposit" as const), who: fc.nat({ max: 1 }), amount: fc.bigInt({ min: 1n, max: 1_000_000n }) }),
  fc.record({ kind: fc.constant("yield" as const), who: fc.nat({ max: 1 }), amount: fc.bigInt({ min: 1n, max: 100_000n }) }),
  fc.record({ kind: fc.constant("reserve" as const), who: fc.nat({ max: 1 }), percent: fc.integer({ min: 1, max: 120 }) }),
  fc.record({ kind: fc.constant("redeem" as const), pick: fc.nat() }),
  fc.constant({ kind: "checkpoint" as const }),
);

/** The exit formula less active vouchers, from the tables, computed here rather than by the model. */
async function headroom(t: Backend, provider: string): Promise<bigint> {
  return await t.run(async (ctx) => {
    const record = await ctx.db.query("providerRecords").withIndex("by_provider", (q) => q.eq("provider", provider)).unique();
    const balance = await ctx.db
      .query("providerBalances")
      .withIndex("by_provider_and_token", (q) => q.eq("provider", provider).eq("token", "STX"))
      .unique();
    const run = await currentPostedRun(ctx);
    const leaf = run
      ? await ctx.db.query("checkpointLeaves").withIndex("by_run_and_provider", (q) => q.eq("runId", run._id).eq("provider", provider)).unique()
      : null;
    const inNow = record?.stxIn ?? 0n;
    const outNow = record?.stxOut ?? 0n;
    const exit = leaf ? leaf.stx + (inNow - leaf.stxIn) - (outNow - leaf.stxOut) : inNow - outNow;
    return exit - (balance?.reserved ?? 0n);
  });
}

test("no sequence of deposits, yield, checkpoints, reservations and redemptions takes anyone below zero on the exit formula; a refused reservation is over the formula or the available balance", async () => {
  vi.spyOn(console, "error").mockImplementation(() => {});
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 14 }), async (steps) => {
      const t = await seeded();
      const vault = new VaultHistory();
      let epoch = 0n;
      const active: { who: string; amount: bigint; nonce: bigint }[] = [];
      let yields = 0;
      for (const step of steps) {
        switch (step.kind) {
          case "deposit":
            await apply(t, vault.deposit(WHO[step.who]!, "STX", step.amount));
            break;
          case "yield": {
            const who = WHO[step.who]!;
            const known = await t.run(async (ctx) => await ctx.db.query("providerBalances").collect());
            if (!known.some((b) => b.provider === who)) break;
            await creditYield(t, who, "STX", step.amount, String(++yields));
            break;
          }
          case "reserve": {
            const who = WHO[step.who]!;
            const room = await headroom(t, who);
            const available = await t.run(async (ctx) => {
              const b = await ctx.db.query("providerBalances").withIndex("by_provider_and_token", (q) => q.eq("provider", who).eq("token", "STX")).unique();
              return b ? b.available : 0n;
            });
            const base = room < available ? room : available;
            const amount = base > 0n ? (base * BigInt(step.percent)) / 100n + 1n : 1n;
            try {
              const nonce = await reserve(t, who, amount);
              active.push({ who, amount, nonce });
              expect(amount <= room && amount <= available).toBe(true);
            } catch (error) {
              if (!isPoolError(error)) throw error;
              expect(amount > room || amount > available).toBe(true);
            }
            break;
          }
          case "redeem": {
            const voucher = active.splice(step.pick % Math.max(active.length, 1), 1)[0];
            if (voucher) await apply(t, vault.withdrawal(voucher.who, "STX", voucher.amount, voucher.nonce));
            // A redeemed nonce supersedes the provider's lower ones: they leave the active list too.
            for (let i = active.length - 1; i >= 0; i--) {
              if (voucher && active[i]!.who === voucher.who && active[i]!.nonce < voucher.nonce) active.splice(i, 1);
            }
            break;
          }
          case "checkpoint": {
            const started = await t.mutation(internal.checkpoints.beginRun, {});
            if (!started.started) break;
            for (;;) {
              const page = await t.mutation(internal.checkpoints.copyPage, { runId: started.runId });
              if ("failed" in page || page.done) break;
            }
            await t.mutation(internal.checkpoints.finishRunSnapshot, { runId: started.runId });
            await tick(t);
            epoch += 1n;
            await mineCheckpointCalls(t, vault, epoch);
            await tick(t); // publishing
            await mineCheckpointCalls(t, vault, epoch);
            await tick(t); // verified
            break;
          }
        }
        for (const who of WHO) expect(await headroom(t, who)).toBeGreaterThanOrEqual(0n);
      }
    }),
    { numRuns: 20 },
  );
}, 120_000);
