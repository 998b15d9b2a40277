/**
 * Which hot-path transactions can conflict under Convex's optimistic
 * concurrency, measured on the real functions (tests/support/contention.ts:
 * the pool and the operations; tests/support/occ.ts: the model of read and
 * write sets). `npm run bench:conflicts` prints the same measurement as
 * figures.
 *
 * The design this holds to (docs/architecture.md, "Concurrency"): a balance
 * change reads only its provider's documents and writes one tier shard of its
 * own; an allocation reads the front of its tier's queue and the clock, and
 * writes its backers and its policy's shard; sweeps read in queries (health)
 * or only what existed before they began (the batch cron).
 */
import { convexTest } from "convex-test";
import { beforeAll, describe, expect, test } from "vitest";

import schema from "../../convex/schema";
import { policyShardOf, shardOf } from "../../convex/model/ledger/tierTotals";
import { describeRead } from "../support/occ";
import {
  ACTORS,
  BACKERS,
  conflictsAmong,
  FRONT,
  measure,
  OPERATIONS,
  withReadRecording,
  type Conflict,
  type Measured,
} from "../support/contention";
import { modules, snapshot, TABLES } from "./convexTest";
import { configureChain } from "./liquidityFixtures";

const setup = {
  newBackend: () => convexTest(schema, withReadRecording(modules)),
  tables: TABLES,
  snapshot,
};

let measured: Measured[] = [];
let found: Conflict[] = [];

beforeAll(async () => {
  configureChain();
  measured = [];
  for (const operation of OPERATIONS) measured.push(await measure(setup, operation));
  found = conflictsAmong(measured);
}, 300_000);

const writesOf = (name: string) => [...measured.find((m) => m.operation.name === name)!.writes.keys()];
const between = (names: readonly string[]) => found.filter((c) => names.includes(c.reader) && names.includes(c.writer));
const involving = (name: string) => found.filter((c) => c.reader === name || c.writer === name);
const shard = (n: number) => `tierTotalShards:Conservative/STX/${n}`;

const SYNC = ["deposit (queued provider)", "deposit (new provider)", "withdrawal synced", "premium yield (policy 1)"];
/** The money path of one tier, with one allocation: behind the clock (policy 2) or moving it (policy 4). */
const HOT = [...SYNC, "withdrawal request", "allocation (policy 2)"];
const HOT_MOVING_THE_CLOCK = [...SYNC, "withdrawal request", "allocation moving the clock (policy 4)"];

describe("contention on the hot path of one tier", () => {
  test("the measured pool is the one described: distinct shards per actor, policy 2's backers from the front, policy 1's yield to others", () => {
    const actorShards = Object.values(ACTORS).map(shardOf);
    expect(new Set(actorShards).size).toBe(actorShards.length);
    const allocation = writesOf("allocation (policy 2)");
    const locked = allocation.filter((k) => k.startsWith("balanceLedger:policy:2:lock:")).map((k) => k.split(":").at(-1));
    expect(locked).toHaveLength(2);
    for (const backer of locked) expect(FRONT).toContain(backer);
    // The reads of a money event's effects, which run in a nested mutation, are part of the event's read set.
    const depositReads = measured.find((m) => m.operation.name === "deposit (queued provider)")!.reads.ranges.map(describeRead);
    expect(depositReads).toContain(`providerBalances.by_provider_and_token [${ACTORS.depositor}, STX]`);
    const paid = writesOf("premium yield (policy 1)").filter((k) => k.startsWith("providerBalances:"));
    expect(paid.sort()).toEqual(BACKERS.map((b) => `providerBalances:${b}/STX`).sort());
  });

  test("deposits, withdrawals (requested and synced), yield and an allocation never conflict, except on the event sync's own per-token mirror", () => {
    const expected: Conflict[] = [];
    for (const reader of SYNC) {
      for (const writer of SYNC) {
        if (reader === writer) continue;
        // Both move the vault's flows (deposits and withdrawals) or only its totals (a premium).
        const flows = reader !== "premium yield (policy 1)" && writer !== "premium yield (policy 1)";
        expected.push({ reader, writer, documents: flows ? ["poolMetrics:STX", "vaultFlowTotals:STX"] : ["poolMetrics:STX"] });
      }
    }
    // The event sync applies one event at a time from one writer: those four never run concurrently.
    expect(between(HOT)).toEqual(expected);
    // An allocation that moves the tier's clock too: no balance change reads the clock.
    expect(between(HOT_MOVING_THE_CLOCK)).toEqual(expected);
  });

  test("each balance change writes one tier shard: the provider's own, or the policy's for what a policy does", () => {
    expect(writesOf("deposit (queued provider)").filter((k) => k.startsWith("tierTotalShards:"))).toEqual([shard(shardOf(ACTORS.depositor))]);
    expect(writesOf("withdrawal request").filter((k) => k.startsWith("tierTotalShards:"))).toEqual([shard(shardOf(ACTORS.requester))]);
    expect(writesOf("premium yield (policy 1)").filter((k) => k.startsWith("tierTotalShards:"))).toEqual([shard(policyShardOf(1n))]);
    expect(writesOf("allocation (policy 2)").filter((k) => k.startsWith("tierTotalShards:"))).toEqual([shard(policyShardOf(2n))]);
  });

  test("the health sweep's mutation, the batch cron, the reconciliation's record and the tier-metrics write conflict with nothing (the sweeps read the books in queries)", () => {
    expect(involving("health sweep page")).toEqual([]);
    expect(involving("tier metrics write")).toEqual([]);
    expect(writesOf("tier metrics write").map((k) => k.split(":")[0])).toEqual(["tierMetrics"]);
    expect(involving("vault operations batch")).toEqual([]);
    expect(involving("reconciliation record")).toEqual([]);
    expect(writesOf("reconciliation record").map((k) => k.split(":")[0])).toEqual(["reconciliations"]);
    // The batch did take the operation queued before it began (policy 1's lock).
    expect(writesOf("vault operations batch").some((k) => k.startsWith("chainTransactions:"))).toBe(true);
  });

  test("what can still conflict, and why: the queue's front between allocations, the clock and joining between admission and allocation or a newcomer, the tier's sum for a capacity check", () => {
    const outsideSync = found.filter((c) => !(SYNC.includes(c.reader) && SYNC.includes(c.writer)));
    const allocationBackers = writesOf("allocation (policy 2)").filter((k) => k.startsWith("providerBalances:") || k.startsWith("providers:"));
    const clockMover = "allocation moving the clock (policy 4)";
    const clock = writesOf(clockMover).filter((k) => k.startsWith("allocationClocks:"));
    expect(clock).toHaveLength(1);
    expect(writesOf("allocation (policy 2)").filter((k) => k.startsWith("allocationClocks:"))).toEqual([]);
    const capacityCheck = "commitment (capacity-limited tier)";
    const shardWriters: [string, number][] = [
      ["deposit (queued provider)", shardOf(ACTORS.depositor)],
      ["deposit (new provider)", shardOf(ACTORS.newcomer)],
      ["withdrawal synced", shardOf(ACTORS.withdrawer)],
      ["premium yield (policy 1)", policyShardOf(1n)],
      ["withdrawal request", shardOf(ACTORS.requester)],
      ["allocation (policy 2)", policyShardOf(2n)],
      ["allocation (policy 3)", policyShardOf(3n)],
      [clockMover, policyShardOf(4n)],
    ];
    const allocations = ["allocation (policy 2)", "allocation (policy 3)", clockMover];
    // Allocations of one tier draw on the same front of its queue: they take turns; one that moves the
    // clock also makes the others, which read it, run again.
    const betweenAllocations = allocations.flatMap((reader) =>
      allocations
        .filter((writer) => writer !== reader)
        .map((writer) => ({ reader, writer, documents: [...(writer === clockMover ? clock : []), ...allocationBackers].sort() })),
    );
    expect(outsideSync).toEqual([
      // A commitment to a tier with a capacity reads the tier's sum: it retries when a shard moves; it writes
      // nothing anyone else reads, so nobody waits for it.
      ...shardWriters.map(([writer, n]) => ({ reader: capacityCheck, writer, documents: [shard(n)] })),
      ...betweenAllocations,
      // Admission gives joining balances the clock: a newcomer's deposit joins, and an allocation that
      // moves the clock makes the cron run again (never the other way round: admission writes only joining balances).
      { reader: "admission", writer: "deposit (new provider)", documents: [`providerBalances:${ACTORS.newcomer}/STX`] },
      { reader: "admission", writer: clockMover, documents: clock },
    ]);
    expect(involving("commitment (no capacity)")).toEqual([]);
  });
});
