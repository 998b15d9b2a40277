/**
 * Which of the backend's hot-path transactions can conflict with which, under
 * Convex's optimistic concurrency (tests/support/occ.ts has the model).
 *
 * A pool is seeded the same way, at the same frozen clock, on a fresh
 * convex-test backend for every measurement, so documents get the same ids
 * and creation times each time. Each operation is run through the real
 * registered function twice, on two such pools:
 * - once with every mutation's `ctx.db` recording what it reads (nested
 *   mutations too: their reads join their caller's read set on Convex), with
 *   the clock where seeding left it;
 * - once one second later, diffing every table before and after: its writes,
 *   as a transaction that began after the other one and commits while the
 *   other is still running.
 * Operation X's reads against operation Y's writes is then exactly the check
 * Convex makes when Y commits first. Used by tests/convex/contention.test.ts
 * (what must and must not conflict) and bench/conflicts.ts (the figures).
 *
 * The pool: one tier (Conservative) drawing at most 2 backers a policy, so an
 * allocation reads the front of the queue 8 balances deep (2 × SCAN_FACTOR);
 * 20 providers hold 1,000 STX each; policy 1 is backed by the first two;
 * policies 2 and 3 wait to be allocated, and policy 4, large enough that its
 * allocation moves the tier's clock; one provider has deposited since the
 * last admission and waits to join the queue; one provider holds a withdrawal
 * reservation; prices are fresh.
 */
import type { TestConvex } from "convex-test";

import { api, internal } from "../../convex/_generated/api";
import { PRICE_SCALE } from "../../convex/domain/policyMath";
import type schema from "../../convex/schema";
import type { Token, VaultEvent } from "../../convex/validators";
import { conflicts, recordingDb, writesBetween, type ReadLog, type Snapshot, type Write } from "./occ";
import { testnetAddress } from "./poolArbitraries";
import { patchTierConfig } from "./tierConfigs";

/** The key signing the contention pool's vouchers: no role event is synced, so any holds the role. */
const VOUCHER_SIGNER = testnetAddress(999);

export type Backend = TestConvex<typeof schema>;
type ModuleMap = Record<string, () => Promise<unknown>>;

// ---------------------------------------------------------------------------
// Recording the reads of every registered mutation
// ---------------------------------------------------------------------------

let activeLog: ReadLog | null = null;

type RegisteredFunction = ((...args: unknown[]) => unknown) & {
  isMutation?: boolean;
  _handler?: (ctx: { db: unknown }, args: unknown) => unknown;
};

function isRegisteredMutation(value: unknown): value is RegisteredFunction & { _handler: NonNullable<RegisteredFunction["_handler"]> } {
  return typeof value === "function" && (value as RegisteredFunction).isMutation === true && "_handler" in value;
}

/** The same function, whose handler sees a recording `ctx.db` while a measurement is running. */
function recordingMutation(fn: RegisteredFunction & { _handler: NonNullable<RegisteredFunction["_handler"]> }): unknown {
  const handler = fn._handler;
  const recorded = (ctx: { db: unknown }, args: unknown) =>
    activeLog
      ? handler({ ...ctx, db: recordingDb(ctx.db as Parameters<typeof recordingDb>[0], activeLog) }, args)
      : handler(ctx, args);
  return Object.assign((ctx: { db: unknown }, args: unknown) => recorded(ctx, args), fn, { _handler: recorded });
}

/** convex-test's module map with every registered mutation able to record its reads. */
export function withReadRecording(modules: ModuleMap): ModuleMap {
  return Object.fromEntries(
    Object.entries(modules).map(([path, load]) => [
      path,
      async () => {
        const module = (await load()) as Record<string, unknown>;
        return Object.fromEntries(
          Object.entries(module).map(([name, value]) => [name, isRegisteredMutation(value) ? recordingMutation(value) : value]),
        );
      },
    ]),
  );
}

// ---------------------------------------------------------------------------
// A frozen clock: the same seeding gives the same ids and creation times
// ---------------------------------------------------------------------------

/** When every measurement's seeding happens. */
export const SEEDED_AT = Date.UTC(2026, 11, 1);
/** How much later the writing transaction begins. */
export const WRITER_STARTS_LATER_MS = 1_000;

async function atFrozenTime<T>(at: number, run: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => at;
  try {
    return await run();
  } finally {
    Date.now = realNow;
  }
}

// ---------------------------------------------------------------------------
// The seeded pool
// ---------------------------------------------------------------------------

export const PROVIDERS = Array.from({ length: 20 }, (_, i) => testnetAddress(700 + i));
/** Backers of policy 1: the first two in the queue when it was allocated. */
export const BACKERS = PROVIDERS.slice(0, 2);
/** The balances an allocation of policy 2 reads: the next eight in the queue. */
export const FRONT = PROVIDERS.slice(2, 10);
/**
 * Providers queued beyond the front, one per operation, so that what two
 * operations share is what the design makes them share, not a provider both
 * happen to touch. Their tier shards differ (checked by the test).
 */
export const ACTORS = {
  committer: PROVIDERS[15]!,
  checked: PROVIDERS[16]!,
  requester: PROVIDERS[17]!,
  depositor: PROVIDERS[18]!,
  withdrawer: PROVIDERS[19]!,
  newcomer: testnetAddress(799),
  newCommitter: testnetAddress(797),
};
const BUYER = testnetAddress(798);
/** A provider whose first deposit is synced but not yet admitted to the queue. */
export const JOINER = testnetAddress(796);

const STX = 1_000_000n;
const DEPOSIT = 1_000n * STX;
/** Room left in the Conservative tier's capacity for commitments (only commitments check it). */
const CAPACITY = 1_000_000n * STX;

/** An event's place on chain: its own transaction, in the block at `height`. */
function at(txid: number, height: bigint) {
  return {
    txid: `0x${txid.toString(16).padStart(64, "0")}`,
    eventIndex: 0,
    blockHeight: height,
    blockHash: `0x${height.toString(16).padStart(64, "b")}`,
  };
}

const totals = { totalBalance: 21_000n * DEPOSIT, totalLocked: 0n };

export function depositOf(txid: number, depositor: string, amount: bigint, seq: bigint): VaultEvent {
  return { ...at(txid, 10n + seq), kind: "funds-deposited", token: "STX", amount, depositor, seq, ...totals };
}

function withdrawalOf(txid: number, provider: string, amount: bigint, nonce: bigint, seq: bigint): VaultEvent {
  return { ...at(txid, 10n + seq), kind: "funds-withdrawn", token: "STX", amount, provider, nonce, seq, ...totals };
}

function premiumOf(txid: number, policyId: bigint, amount: bigint): VaultEvent {
  return { ...at(txid, 200n), kind: "premium-paid", token: "STX", amount, policyId, payer: BUYER, ...totals };
}

/** 0.00002 BTC protected at $48,000 with BTC at $60,000 and STX at $2: 0.48 STX of collateral. */
function policyTerms(policyId: bigint) {
  return {
    policyId,
    buyer: BUYER,
    policyType: "PUT" as const,
    protectedAmountSats: 2_000n,
    strikePriceUsd: 48_000n * PRICE_SCALE,
    premium: 10_000n,
    expiresAtBlock: 10_000n,
    collateralToken: "STX" as Token,
    btcPriceUsd: 60_000n * PRICE_SCALE,
    stxPriceUsd: 2n * PRICE_SCALE,
  };
}

/**
 * 0.004 BTC protected at $48,000: 96 STX of collateral, enough to lift its
 * backers past the tier's clock, so its allocation moves the clock (policies
 * 2 and 3 draw on balances behind it and leave it where it is).
 */
function clockMovingPolicyTerms(policyId: bigint) {
  return { ...policyTerms(policyId), protectedAmountSats: 400_000n };
}

/**
 * Seeds the pool described at the top. The caller has configured the chain
 * environment (network, vault, signer key), as for any test of the backend.
 */
export async function seedPool(t: Backend): Promise<void> {
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  await patchTierConfig(t, "Conservative", { maxBackersPerPolicy: 2, capacityLimitUstx: CAPACITY });
  const now = Date.now();
  await t.mutation(internal.oracle.recordPrices, {
    answers: [],
    aggregates: [
      { asset: "BTC", priceUsd: 60_000n * PRICE_SCALE, observedAt: now },
      { asset: "STX", priceUsd: 2n * PRICE_SCALE, observedAt: now },
    ],
    unavailable: [],
  });
  for (const [i, provider] of PROVIDERS.entries()) {
    await t.mutation(internal.vaultEvents.apply, { event: depositOf(i + 1, provider, DEPOSIT, BigInt(i + 1)) });
  }
  await t.mutation(internal.policies.admitJoiningCapital, {});
  // Deposited after the last admission: waits to join the queue (the admission cron gives it the clock).
  await t.mutation(internal.vaultEvents.apply, { event: depositOf(PROVIDERS.length + 1, JOINER, DEPOSIT, BigInt(PROVIDERS.length + 1)) });
  for (const policyId of [1n, 2n, 3n]) await t.mutation(internal.policies.registerPolicy, policyTerms(policyId));
  await t.mutation(internal.policies.registerPolicy, clockMovingPolicyTerms(4n));
  await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 1n });
  await t.mutation(internal.liquidity.reserveWithdrawal, {
    provider: ACTORS.withdrawer,
    token: "STX",
    amount: 5n * STX,
    expiresAtBlock: 1_000_000n,
    signer: VOUCHER_SIGNER,
  });
}

// ---------------------------------------------------------------------------
// The operations of the hot path
// ---------------------------------------------------------------------------

/** Who runs an operation: the event sync applies events one at a time, so two of its operations never overlap. */
export type Runner = "event sync" | "provider" | "policy flow" | "cron";

export type Operation = { name: string; runner: Runner; run: (t: Backend) => Promise<unknown> };

async function providerId(t: Backend, principal: string) {
  return await t.run(async (ctx) => {
    const provider = await ctx.db
      .query("providers")
      .withIndex("by_principal", (q) => q.eq("principal", principal))
      .unique();
    if (!provider) throw new Error(`${principal} not seeded`);
    return provider._id;
  });
}

/** A tier-metrics snapshot as the cron's query reads it (its figures do not matter here). */
const TIER_SNAPSHOT = {
  tierName: "Conservative" as const,
  token: "STX" as const,
  totalCapital: 20_000n * STX,
  totalLocked: 0n,
  totalReserved: 0n,
  totalAvailable: 20_000n * STX,
  utilizationBps: 0n,
  providerCount: 20n,
  activePolicyCount: 1n,
  totalYieldAccrued: 0n,
};

export const OPERATIONS: readonly Operation[] = [
  {
    name: "deposit (queued provider)",
    runner: "event sync",
    run: (t) => t.mutation(internal.vaultEvents.apply, { event: depositOf(101, ACTORS.depositor, 50n * STX, 100n) }),
  },
  {
    name: "deposit (new provider)",
    runner: "event sync",
    run: (t) => t.mutation(internal.vaultEvents.apply, { event: depositOf(102, ACTORS.newcomer, 50n * STX, 100n) }),
  },
  {
    name: "withdrawal synced",
    runner: "event sync",
    run: (t) => t.mutation(internal.vaultEvents.apply, { event: withdrawalOf(103, ACTORS.withdrawer, 5n * STX, 1n, 100n) }),
  },
  {
    name: "premium yield (policy 1)",
    runner: "event sync",
    run: (t) => t.mutation(internal.vaultEvents.apply, { event: premiumOf(104, 1n, 10_000n) }),
  },
  {
    name: "withdrawal request",
    runner: "provider",
    run: (t) =>
      t.mutation(internal.liquidity.reserveWithdrawal, {
        provider: ACTORS.requester,
        token: "STX",
        amount: 7n * STX,
        expiresAtBlock: 1_000_000n,
        signer: VOUCHER_SIGNER,
      }),
  },
  {
    name: "commitment (no capacity)",
    runner: "provider",
    run: (t) =>
      t.withIdentity({ subject: ACTORS.newCommitter }).mutation(api.liquidity.requestCommitCapital, {
        amount: 50n * STX,
        token: "STX",
        tier: "Balanced",
      }),
  },
  {
    name: "commitment (capacity-limited tier)",
    runner: "provider",
    run: (t) =>
      t.withIdentity({ subject: ACTORS.committer }).mutation(api.liquidity.requestCommitCapital, {
        amount: 50n * STX,
        token: "STX",
        tier: "Conservative",
      }),
  },
  {
    name: "allocation (policy 2)",
    runner: "policy flow",
    run: (t) => t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 2n }),
  },
  {
    name: "allocation (policy 3)",
    runner: "policy flow",
    run: (t) => t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 3n }),
  },
  {
    name: "allocation moving the clock (policy 4)",
    runner: "policy flow",
    run: (t) => t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 4n }),
  },
  {
    name: "health sweep page",
    runner: "cron",
    run: async (t) => await t.mutation(internal.health.recordPage, { providers: [await providerId(t, ACTORS.checked)], firstPage: false }),
  },
  { name: "vault operations batch", runner: "cron", run: (t) => t.mutation(internal.vaultOperations.batch, {}) },
  { name: "admission", runner: "cron", run: (t) => t.mutation(internal.policies.admitJoiningCapital, {}) },
  {
    // The shards are read in a query (internal.liquidity.readTierSnapshots); the mutation only writes.
    name: "tier metrics write",
    runner: "cron",
    run: (t) => t.mutation(internal.liquidity.writeTierMetrics, { snapshots: [TIER_SNAPSHOT], updatedAt: 0 }),
  },
  {
    // The books are read in a query (internal.reconciliation.expected); the mutation only records.
    name: "reconciliation record",
    runner: "cron",
    run: (t) =>
      t.mutation(internal.reconciliation.record, {
        onChain: [{ token: "STX", balance: 21_000n * DEPOSIT, locked: 0n }],
        expected: [{ token: "STX", balance: 21_000n * DEPOSIT, locked: 0n, complete: true }],
        syncedThroughHeight: 30n,
      }),
  },
];

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

export type Measured = {
  operation: Operation;
  reads: ReadLog;
  /** The state the reads were made in: to count the documents inside each range. */
  before: Snapshot;
  writes: Map<string, Write>;
};

export type Setup = {
  newBackend: () => Backend;
  tables: readonly string[];
  snapshot: (t: Backend) => Promise<Snapshot>;
};

async function seeded(setup: Setup): Promise<Backend> {
  const t = setup.newBackend();
  await atFrozenTime(SEEDED_AT, () => seedPool(t));
  return t;
}

/** One operation's read set (at the seeded time) and write set (a second later), each on a freshly seeded pool. */
export async function measure(setup: Setup, operation: Operation): Promise<Measured> {
  const reader = await seeded(setup);
  const before = await setup.snapshot(reader);
  const reads: ReadLog = { ranges: [], ids: new Set() };
  await atFrozenTime(SEEDED_AT, async () => {
    activeLog = reads;
    try {
      await operation.run(reader);
    } finally {
      activeLog = null;
    }
  });

  const writer = await seeded(setup);
  const writes = await atFrozenTime(SEEDED_AT + WRITER_STARTS_LATER_MS, async () => {
    const start = await setup.snapshot(writer);
    await operation.run(writer);
    return writesBetween(start, await setup.snapshot(writer), setup.tables);
  });
  return { operation, reads, before, writes };
}

export type Conflict = {
  /** The transaction whose reads went stale, and the one whose commit made them so. */
  reader: string;
  writer: string;
  documents: string[];
};

/** Every ordered pair of distinct operations where the writer's commit invalidates the reader's reads. */
export function conflictsAmong(measured: readonly Measured[]): Conflict[] {
  const found: Conflict[] = [];
  for (const reader of measured) {
    for (const writer of measured) {
      if (reader === writer) continue;
      const documents = conflicts(writer.writes, reader.reads);
      if (documents.length > 0) found.push({ reader: reader.operation.name, writer: writer.operation.name, documents });
    }
  }
  return found;
}
