/**
 * Accounting properties of the Convex backend, end to end through the real
 * functions in convex-test:
 *
 * 1. Model-based: for any sequence of commands — deposits, withdrawal
 *    reservations, synced withdrawals, cancellations, locks, releases, tier
 *    commitments and replays — over a few providers in different tiers and
 *    both tokens, each command asserts its exact outcome (the new balances or
 *    the error code) against an in-test model of the books, and after every
 *    step the database equals the model, every balance splits into
 *    non-negative available + locked + reserved, the sharded tier totals equal
 *    the sums over the providers' balance documents, the pool totals equal the
 *    sums over tiers and match the vault's own (mirrored) totals, and every
 *    refused or duplicate operation leaves every table exactly as it was. The
 *    model, its checks and the commands shared with the collateral properties
 *    are in tests/support/ (poolModel.ts, poolChecks.ts, poolCommands.ts).
 * 2. Deposits of two providers in different shards write disjoint documents,
 *    except the per-token pool mirror and flow totals that every synced
 *    deposit writes (the event sync is one sequential writer), and neither
 *    writes another document the other reads; withdrawal reservations share
 *    nothing at all.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { MutationCtx } from "../../convex/_generated/server";
import { readPriceRules } from "../../convex/config";
import type { Balance } from "../../convex/domain/balances";
import { reserveWithdrawal } from "../../convex/model/ledger/reservations";
import { shardOf } from "../../convex/model/ledger/tierTotals";
import { applyVaultEvent, effectsInCallerTransaction, operationIdOf } from "../../convex/model/sync/vaultEvents";
import { TOKENS, type Tier, type Token, type VaultEvent } from "../../convex/validators";
import { conflicts, logicalKeyOf, recordingDb, writesBetween, type ReadLog, type Write } from "../support/occ";
import {
  amountAt,
  anyDepositAmountArb,
  depositArb,
  limitPercentArb,
  pickArb,
  providerAddress,
  providerIndexArb,
  targetArb,
  testnetAddress,
  tierArb,
  weighted,
  type TargetSpec,
} from "../support/poolArbitraries";
import {
  changed,
  checkNow,
  CommitCommand,
  DepositCommand,
  expectRefused,
  expectSeen,
  expectUnchanged,
  newPool,
  PoolCommand,
  ReplayEventCommand,
  requestCommit,
  saw,
  unchangedStep,
  type Pool,
  type PoolReal,
} from "../support/poolCommands";
import type { PoolModel } from "../support/poolModel";
import { newBackend, snapshot, TABLES } from "./convexTest";
import { configureChain, SIGNER_ADDRESS } from "./liquidityFixtures";

type Backend = ReturnType<typeof newBackend>;

// ---------------------------------------------------------------------------
// Property 1: any sequence of commands
// ---------------------------------------------------------------------------

const PROVIDER_COUNT = 4;
const PROVIDERS: readonly string[] = Array.from({ length: PROVIDER_COUNT }, (_, i) => providerAddress(i));

/** A reservation's voucher expiry: far beyond any height a scenario reaches. */
const VOUCHER_EXPIRY = 1_000_000n;

/**
 * The balance a reservation, lock or release is for: a `held` target takes
 * the `pick`-th balance that can take it, if any; else provider `p` in
 * `token`, known or not.
 */
function resolve(m: PoolModel, target: TargetSpec, usable: (b: Balance) => boolean): { provider: string; token: Token } {
  if (target.held) {
    const candidates = [...m.balances.entries()].filter(([, b]) => usable(b));
    const hit = candidates[target.pick % Math.max(candidates.length, 1)];
    if (hit) {
      const [provider, token] = hit[0].split("/") as [string, Token];
      return { provider, token };
    }
  }
  return { provider: m.principal(target.p), token: target.token };
}

const targetText = (target: TargetSpec) =>
  `${target.held ? `held#${target.pick}` : "any"} else p${target.p}/${target.token}`;

/** Reserves part of an available balance for a withdrawal voucher; over the available balance it is refused. */
class ReserveCommand extends PoolCommand {
  constructor(
    readonly target: TargetSpec,
    readonly percent: number,
  ) {
    super();
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const { provider, token } = resolve(m, this.target, (b) => b.total - b.locked - b.reserved > 0n);
    const available = m.available(provider, token);
    const amount = amountAt(available, this.percent);
    const call = () =>
      r.t.mutation(internal.liquidity.reserveWithdrawal, { provider, token, amount, expiresAtBlock: VOUCHER_EXPIRY, signer: SIGNER_ADDRESS });
    if (!m.providers.has(provider) || amount > available) {
      await expectRefused(r, call, m.providers.has(provider) ? "INSUFFICIENT_AVAILABLE_BALANCE" : "UNKNOWN_PROVIDER");
      saw(r, "reservationRefused");
      return await unchangedStep(m, r);
    }
    const nonce = await call();
    // The provider's next nonce, one above the highest ever issued to them.
    expect(nonce).toBe(m.reserve(provider, token, amount));
    saw(r, "reserved");
    await changed(m, r);
  }

  toString(): string {
    return `Reserve(${targetText(this.target)}, ${this.percent}% of available)`;
  }
}

/** The `pick`-th active reservation, redeemed on chain (a synced withdrawal) or cancelled (signing failed). */
class EndReservationCommand extends PoolCommand {
  constructor(
    readonly how: "withdraw" | "cancel",
    readonly pick: number,
  ) {
    super();
  }

  override check(m: Readonly<PoolModel>): boolean {
    return [...m.reservations.values()].some((r) => r.status === "active");
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const active = [...m.reservations.values()].filter((res) => res.status === "active");
    const reservation = active[this.pick % active.length]!;
    if (this.how === "cancel") {
      await r.t.mutation(internal.liquidity.cancelWithdrawalReservation, {
        provider: reservation.provider,
        nonce: reservation.nonce,
      });
      m.cancelReservation(reservation);
      saw(r, "cancelled");
      return await changed(m, r);
    }
    const event = m.withdrawalEvent(r.chain.next(), reservation);
    expect(await r.t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
    // Redeemed, and the provider's lower nonces superseded (README "Withdrawal reservations and voucher nonces").
    m.applyWithdrawal(reservation, event);
    saw(r, "withdrawn");
    await changed(m, r);
  }

  toString(): string {
    return `${this.how === "withdraw" ? "Withdraw" : "Cancel"}(active#${this.pick})`;
  }
}

/** Locks part of an available balance, or releases part of a locked one, straight through `updateProviderBalance`. */
class DirectLockCommand extends PoolCommand {
  constructor(
    readonly type: "lock" | "release",
    readonly target: TargetSpec,
    readonly percent: number,
  ) {
    super();
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const lock = this.type === "lock";
    const { provider, token } = resolve(m, this.target, (b) => (lock ? b.total - b.locked - b.reserved > 0n : b.locked > 0n));
    const limit = lock ? m.available(provider, token) : m.balance(provider, token).locked;
    const amount = amountAt(limit, this.percent);
    // Applied operations are numbered, so that every new one has an id of its own.
    const op = { operationId: `test:${this.type}:${m.directOps.length}`, provider, token, type: this.type, amount };
    const call = () => r.t.mutation(internal.liquidity.updateProviderBalance, op);
    if (!m.providers.has(provider) || amount > limit) {
      const code = !m.providers.has(provider)
        ? "UNKNOWN_PROVIDER"
        : lock
          ? "INSUFFICIENT_AVAILABLE_BALANCE"
          : "INSUFFICIENT_LOCKED_BALANCE";
      await expectRefused(r, call, code);
      saw(r, `${this.type}Refused`);
      return await unchangedStep(m, r);
    }
    const result = await call();
    m.changeDirectLock(op);
    expect(result).toEqual({ applied: true, balance: m.balance(provider, token) });
    saw(r, this.type);
    await changed(m, r);
  }

  toString(): string {
    return `${this.type === "lock" ? "Lock" : "Release"}(${targetText(this.target)}, ${this.percent}% of the limit)`;
  }
}

/** A lock or release already applied, sent again: the same change is a no-op; a different one under the same id is a caller bug, refused loudly. */
class ReplayBalanceOpCommand extends PoolCommand {
  constructor(
    readonly pick: number,
    readonly tamper: boolean,
  ) {
    super();
  }

  override check(m: Readonly<PoolModel>): boolean {
    return m.directOps.length > 0;
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const applied = m.directOps[this.pick % m.directOps.length]!;
    await expectUnchanged(r, async () => {
      if (this.tamper) {
        await expect(
          r.t.mutation(internal.liquidity.updateProviderBalance, { ...applied, amount: applied.amount + 1n }),
        ).rejects.toThrow(`operation ${applied.operationId} was already applied with different parameters`);
      } else {
        expect(await r.t.mutation(internal.liquidity.updateProviderBalance, applied)).toEqual({
          applied: false,
          balance: m.balance(applied.provider, applied.token),
        });
      }
    });
    saw(r, this.tamper ? "tamperRefused" : "opReplayed");
    await unchangedStep(m, r);
  }

  toString(): string {
    return `ReplayBalanceOp(#${this.pick}${this.tamper ? ", tampered" : ""})`;
  }
}

const target = targetArb(PROVIDER_COUNT);
/** The mix of commands: most of them change the books, about one in six is refused or repeated. */
const accountingCommands = fc.commands(
  weighted<PoolCommand>(
    [depositArb(PROVIDER_COUNT, () => anyDepositAmountArb).map((d) => new DepositCommand(d.p, d.token, d.amount, null)), 4],
    [fc.tuple(target, limitPercentArb).map(([tg, pct]) => new ReserveCommand(tg, pct)), 3],
    [pickArb.map((pick) => new EndReservationCommand("withdraw", pick)), 2],
    [pickArb.map((pick) => new EndReservationCommand("cancel", pick)), 1],
    [fc.tuple(target, limitPercentArb).map(([tg, pct]) => new DirectLockCommand("lock", tg, pct)), 3],
    [fc.tuple(target, limitPercentArb).map(([tg, pct]) => new DirectLockCommand("release", tg, pct)), 2],
    [fc.tuple(providerIndexArb(PROVIDER_COUNT), tierArb).map(([p, tier]) => new CommitCommand(p, tier)), 1],
    [pickArb.map((pick) => new ReplayEventCommand(pick)), 1],
    [fc.tuple(pickArb, fc.boolean()).map(([pick, tamper]) => new ReplayBalanceOpCommand(pick, tamper)), 1],
  ),
  { maxCommands: 40, size: "max" },
);

/** Some providers commit to a tier first; the others first appear through a deposit. */
const initialTiersArb = fc.array(fc.option(tierArb, { nil: undefined }), {
  minLength: PROVIDER_COUNT,
  maxLength: PROVIDER_COUNT,
});

async function accountingPool(initialTiers: (Tier | undefined)[], seen: Record<string, number>): Promise<Pool> {
  const pool = await newPool(PROVIDERS, { everyStep: true, seen });
  for (const [i, tier] of initialTiers.entries()) {
    if (tier === undefined) continue;
    const provider = PROVIDERS[i]!;
    await requestCommit(pool.real, provider, tier, 1n, "STX");
    pool.model.commit(provider, tier);
  }
  await checkNow(pool.model, pool.real);
  return pool;
}

describe("accounting over any sequence of commands", () => {
  test("each command has the exact outcome the model predicts; balances, tier totals, pool totals and the model stay equal after every step; refusals and replays change nothing", async () => {
    const seen: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(initialTiersArb, accountingCommands, async (initialTiers, cmds) => {
        const pool = await accountingPool(initialTiers, seen);
        await fc.asyncModelRun(() => pool, cmds);
      }),
      { numRuns: 25 },
    );
    expectSeen(seen, [
      "deposited",
      "reserved",
      "reservationRefused",
      "withdrawn",
      "cancelled",
      "lock",
      "lockRefused",
      "release",
      "releaseRefused",
      "tierChosen",
      "commitmentRefused",
      "replayed",
      "opReplayed",
      "tamperRefused",
    ]);
  }, 120_000);
});

// ---------------------------------------------------------------------------
// Property 2: who writes and reads what
// ---------------------------------------------------------------------------

const A = testnetAddress(101);
/** The first of a few candidate addresses whose shard differs from A's. */
const B = [102, 103, 104, 105].map(testnetAddress).find((p) => shardOf(p) !== shardOf(A)) as string;
const NEW_A = testnetAddress(201);
const NEW_B = [202, 203, 204, 205].map(testnetAddress).find((p) => shardOf(p) !== shardOf(NEW_A)) as string;
const OTHERS = [301, 302, 303].map(testnetAddress);

/**
 * A backend in a fixed state: A, B and three others hold STX and sBTC in the
 * Conservative tier (the default) and Balanced. Seeding is deterministic, and
 * convex-test numbers documents with a counter, so two seeded backends hold
 * the same documents under the same ids: each deposit below is measured from
 * exactly the same starting state.
 */
async function seededBackend(): Promise<Backend> {
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  configureChain();
  await t.withIdentity({ subject: OTHERS[2] as string }).mutation(api.liquidity.requestCommitCapital, {
    amount: 1n,
    token: "STX",
    tier: "Balanced",
  });
  let height = 0n;
  for (const principal of [A, B, ...OTHERS]) {
    for (const tk of TOKENS) {
      height += 1n;
      const event: VaultEvent = {
        kind: "funds-deposited",
        txid: `0xseed${height}`,
        eventIndex: 0,
        blockHeight: height,
        blockHash: `0xseedblock${height}`,
        token: tk,
        amount: 1_000_000n,
        totalBalance: 1_000_000n * height,
        totalLocked: 0n,
        depositor: principal,
        seq: height,
      };
      await t.mutation(internal.vaultEvents.apply, { event });
    }
  }
  return t;
}

function depositOf(depositor: string, txid: string): VaultEvent {
  return {
    kind: "funds-deposited",
    txid,
    eventIndex: 0,
    blockHeight: 100n,
    blockHash: "0xblock100",
    token: "STX",
    amount: 250_000n,
    totalBalance: 999_999_999n,
    totalLocked: 0n,
    depositor,
    seq: 1_000n,
  };
}

/** Writes of `run` measured on a fresh seeded backend, by snapshot diff. */
async function writesOf(run: (t: Backend) => Promise<unknown>): Promise<Map<string, Write>> {
  const t = await seededBackend();
  const before = await snapshot(t);
  await run(t);
  return writesBetween(before, await snapshot(t), TABLES);
}

/** Reads of `run` (given a recording ctx) measured on a fresh seeded backend. */
async function readsOf(run: (ctx: MutationCtx) => Promise<unknown>): Promise<ReadLog> {
  const t = await seededBackend();
  const log: ReadLog = { ranges: [], ids: new Set() };
  await t.run(async (ctx) => {
    await run({ ...ctx, db: recordingDb(ctx.db as MutationCtx["db"], log) } as unknown as MutationCtx);
  });
  return log;
}

describe("contention between providers", () => {
  test("seeding is deterministic, so every measurement starts from the same documents under the same ids", async () => {
    const [one, two] = [await snapshot(await seededBackend()), await snapshot(await seededBackend())];
    for (const table of TABLES) {
      expect((one[table] ?? []).map((d) => logicalKeyOf(table, d))).toEqual(
        (two[table] ?? []).map((d) => logicalKeyOf(table, d)),
      );
      expect((one[table] ?? []).map((d) => d._id)).toEqual((two[table] ?? []).map((d) => d._id));
    }
  });

  test.each([
    ["existing providers", A, B, false],
    ["first deposits of new providers", NEW_A, NEW_B, true],
  ])(
    "concurrent deposits of different providers do not write the same document (%s), except the pool mirror the single event-sync writer owns",
    async (_case, first, second, isNew) => {
      expect(shardOf(first)).not.toBe(shardOf(second));
      const eventA = depositOf(first, "0xdepositA");
      const eventB = depositOf(second, "0xdepositB");

      // Write sets: the real mutation, diffed against the same starting state.
      const writesA = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventA }));
      const writesB = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventB }));

      const expectedFor = (principal: string, event: VaultEvent) =>
        [
          `vaultEvents:${event.txid}/0`,
          `balanceLedger:${operationIdOf(event)}`,
          `providerBalances:${principal}/STX`,
          `tierTotalShards:Conservative/STX/${shardOf(principal)}`,
          "poolMetrics:STX",
          // The vault's record of the depositor and its flow totals, mirrored (README "Checkpoints").
          `providerRecords:${principal}`,
          `providerRecordChanges:${operationIdOf(event)}`,
          "vaultFlowTotals:STX",
          ...(isNew ? [`providers:${principal}`] : []),
        ].sort();
      expect([...writesA.keys()].sort()).toEqual(expectedFor(first, eventA));
      expect([...writesB.keys()].sort()).toEqual(expectedFor(second, eventB));

      // The only documents both write are poolMetrics(STX) and vaultFlowTotals(STX):
      // the vault's own totals and flows as the synced events report them. They are
      // written by every synced deposit or withdrawal of the token, by design: the
      // event sync applies confirmed events one at a time in chain order from one
      // cron-driven writer (README "Chain integration"), so two deposits are never
      // applied by concurrent mutations and these documents never make a user wait.
      // User-facing mutations (commitments, withdrawal requests) never write them (next test).
      const shared = [...writesA.keys()].filter((k) => writesB.has(k));
      expect(shared.sort()).toEqual(["poolMetrics:STX", "vaultFlowTotals:STX"]);

      // Read/write conflicts, which is what Convex's optimistic concurrency
      // actually checks: does one deposit write a document, or into an index
      // range, that the other read? Reads are recorded on the same model
      // function the mutation runs, from the same starting state.
      const readsA = await readsOf((ctx) => applyVaultEvent(ctx, eventA, effectsInCallerTransaction(ctx)));
      const readsB = await readsOf((ctx) => applyVaultEvent(ctx, eventB, effectsInCallerTransaction(ctx)));
      expect(conflicts(writesA, readsB)).toEqual(["poolMetrics:STX", "vaultFlowTotals:STX"]);
      expect(conflicts(writesB, readsA)).toEqual(["poolMetrics:STX", "vaultFlowTotals:STX"]);
    },
  );

  test("withdrawal requests of providers in different shards touch no common document, and never the pool mirror", async () => {
    expect(shardOf(A)).not.toBe(shardOf(B));
    const requestOf = (provider: string) => ({
      provider,
      token: "STX" as const,
      amount: 1_000n,
      expiresAtBlock: 500n,
    });
    const requestA = requestOf(A);
    const requestB = requestOf(B);
    const writesA = await writesOf((t) => t.mutation(internal.liquidity.reserveWithdrawal, { ...requestA, signer: SIGNER_ADDRESS }));
    const writesB = await writesOf((t) => t.mutation(internal.liquidity.reserveWithdrawal, { ...requestB, signer: SIGNER_ADDRESS }));
    // Each provider's first voucher: both get nonce 1, from their own range of the nonce index.
    const expectedFor = (principal: string) =>
      [
        `balanceLedger:reservation:${principal}:1:reserve`,
        `providerBalances:${principal}/STX`,
        `tierTotalShards:Conservative/STX/${shardOf(principal)}`,
        `withdrawalReservations:${principal}/1`,
      ].sort();
    expect([...writesA.keys()].sort()).toEqual(expectedFor(A));
    expect([...writesB.keys()].sort()).toEqual(expectedFor(B));

    // The same price freshness the mutation passes (the providers back nothing, so no price is read).
    const freshness = { now: Date.now(), maxAgeMs: readPriceRules().maxAgeMs };
    const readsA = await readsOf((ctx) => reserveWithdrawal(ctx, requestA, freshness));
    const readsB = await readsOf((ctx) => reserveWithdrawal(ctx, requestB, freshness));
    expect(conflicts(writesA, readsB)).toEqual([]);
    expect(conflicts(writesB, readsA)).toEqual([]);
  });

  test("providers in the same shard do contend on their tier shard (1 pair in 32), and only there", async () => {
    // Find a principal in A's shard: the cost of exact sharded totals.
    const sameShard = Array.from({ length: 400 }, (_, i) => testnetAddress(1_000 + i)).find(
      (p) => shardOf(p) === shardOf(A) && p !== A,
    ) as string;
    expect(sameShard).toBeDefined();
    const eventA = depositOf(A, "0xdepositA");
    const eventC = depositOf(sameShard, "0xdepositC");
    const writesA = await writesOf((t) => t.mutation(internal.vaultEvents.apply, { event: eventA }));
    const readsC = await readsOf((ctx) => applyVaultEvent(ctx, eventC, effectsInCallerTransaction(ctx)));
    expect(conflicts(writesA, readsC)).toEqual(["poolMetrics:STX", `tierTotalShards:Conservative/STX/${shardOf(A)}`, "vaultFlowTotals:STX"]);
  });
});
