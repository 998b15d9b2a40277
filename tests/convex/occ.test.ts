/**
 * The OCC model of tests/support/occ.ts against convex-test and the real
 * schema: for each kind of read, which concurrent writes invalidate it.
 *
 * Each case seeds a fresh backend, records one read, then applies one write
 * on the same backend and asserts the exact list of conflicting documents.
 * Ten balances P01..P10 sit in Conservative/STX with allocationKey 1..10
 * (inserted in that order, so creation order agrees with key order); one
 * Balanced/STX and one Conservative/sBTC balance sit just outside that prefix.
 */
import { describe, expect, test } from "vitest";

import type { Id } from "../../convex/_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../../convex/_generated/server";
import type { Tier, Token } from "../../convex/validators";
import {
  compareIndexValues,
  conflicts,
  describeRead,
  recordingDb,
  writesBetween,
  type RangeRead,
  type ReadLog,
} from "../support/occ";
import { newBackend, snapshot, TABLES } from "./convexTest";

function balance(provider: string, allocationKey: number, tier: Tier = "Conservative", token: Token = "STX") {
  return {
    provider,
    token,
    tier,
    shard: 0,
    allocationKey,
    total: 100n,
    locked: 0n,
    reserved: 0n,
    available: 100n,
    accruedYield: 0n,
    updatedAt: 0,
  };
}

function provider(principal: string, activeBackings: bigint) {
  return {
    principal,
    tier: "Conservative" as const,
    healthStatus: "Healthy" as const,
    putObligationUsd: 0n,
    callProtectedSats: 0n,
    activeBackings,
    createdAt: 0,
  };
}

const name = (i: number) => `P${String(i).padStart(2, "0")}`;
const key = (provider: string, token: Token = "STX") => `providerBalances:${provider}/${token}`;

type Seeded = {
  /** P01..P10 by number: `p[3]` is P03. */
  p: Record<number, Id<"providerBalances">>;
  balanced: Id<"providerBalances">;
  providers: Record<"PA" | "PB" | "PC", Id<"providers">>;
  /** The cursor after a first page of 3 in allocation order (a function may paginate once, so it is made apart). */
  cursorAfter3: string;
};

async function seed(db: DatabaseWriter): Promise<Omit<Seeded, "cursorAfter3">> {
  const p: Record<number, Id<"providerBalances">> = {};
  for (let i = 1; i <= 10; i++) p[i] = await db.insert("providerBalances", balance(name(i), i));
  const balanced = await db.insert("providerBalances", balance("B01", 1, "Balanced"));
  await db.insert("providerBalances", balance("S01", 1, "Conservative", "sBTC"));
  const providers = {
    PA: await db.insert("providers", provider("PA", 0n)),
    PB: await db.insert("providers", provider("PB", 0n)),
    PC: await db.insert("providers", provider("PC", 2n)),
  };
  return { p, balanced, providers };
}

const allocationOrder = (db: DatabaseReader) =>
  db
    .query("providerBalances")
    .withIndex("by_tier_token_allocation_key", (q) => q.eq("tier", "Conservative").eq("token", "STX"));

type Read = (db: DatabaseReader, s: Seeded) => Promise<unknown>;
type Write = (db: DatabaseWriter, s: Seeded) => Promise<unknown>;

/** On a fresh seeded backend: record `read`, apply `write`, and return the log and the writes that hit it. */
async function measure(read: Read, write: Write): Promise<{ log: ReadLog; hit: string[] }> {
  const t = newBackend();
  const seeded: Seeded = {
    ...(await t.run(async (ctx) => await seed(ctx.db))),
    cursorAfter3: await t.run(
      async (ctx) => (await allocationOrder(ctx.db).paginate({ numItems: 3, cursor: null })).continueCursor,
    ),
  };
  const log: ReadLog = { ranges: [], ids: new Set() };
  await t.run(async (ctx) => {
    await read(recordingDb(ctx.db, log), seeded);
  });
  const before = await snapshot(t);
  await t.run(async (ctx) => {
    await write(ctx.db, seeded);
  });
  return { log, hit: conflicts(writesBetween(before, await snapshot(t), TABLES), log) };
}

async function conflictsOf(read: Read, write: Write): Promise<string[]> {
  return (await measure(read, write)).hit;
}

/** The one range `read` records (on a fresh backend, with no write). */
async function rangeOf(read: Read): Promise<RangeRead> {
  const { log } = await measure(read, async () => {});
  expect(log.ranges).toHaveLength(1);
  return log.ranges[0] as RangeRead;
}

// Writes, by what they do to the seeded documents.
const touch =
  (i: number): Write =>
  (db, s) =>
    db.patch("providerBalances", s.p[i] as Id<"providerBalances">, { total: 200n });
const moveKey =
  (i: number, allocationKey: number): Write =>
  (db, s) =>
    db.patch("providerBalances", s.p[i] as Id<"providerBalances">, { allocationKey });
const insertAt =
  (allocationKey: number, tier: Tier = "Conservative", token: Token = "STX"): Write =>
  (db) =>
    db.insert("providerBalances", balance("NEW", allocationKey, tier, token));

describe("take(n): the range read ends at the last document returned", () => {
  const take3: Read = (db) => allocationOrder(db).take(3);

  test("the read is recorded with its bounds, its order and where it stopped", async () => {
    const read = await rangeOf(take3);
    expect(read).toMatchObject({
      table: "providerBalances",
      index: "by_tier_token_allocation_key",
      fields: ["tier", "token", "allocationKey"],
      range: [
        { type: "Eq", fieldPath: "tier", value: "Conservative" },
        { type: "Eq", fieldPath: "token", value: "STX" },
      ],
      order: "asc",
      readUntil: { values: ["Conservative", "STX", 3] },
    });
    expect(describeRead(read)).toBe("providerBalances.by_tier_token_allocation_key [Conservative, STX, ..≤ 3]");
  });

  test.each<[string, Write, string[]]>([
    ["a write to the 2nd document", touch(2), [key("P02")]],
    ["a write to the 3rd (last read) document", touch(3), [key("P03")]],
    ["the 8th document's key moved below the 3rd's", moveKey(8, 2.5), [key("P08")]],
    ["a write to the 8th document that keeps it beyond the cut", moveKey(8, 9.5), []],
    ["the 4th document's key made equal to the 3rd's (it stays later in creation order)", moveKey(4, 3), []],
    ["an insert beyond the cut", insertAt(11), []],
    ["an insert below the cut", insertAt(0.5), [key("NEW")]],
    ["an insert equal on the index fields to the cut, created after it", insertAt(3), []],
  ])("ascending take(3) of 10: %s", async (_case, write, expected) => {
    expect(await conflictsOf(take3, write)).toEqual(expected);
  });

  const take3Desc: Read = (db) => allocationOrder(db).order("desc").take(3);

  test("a descending read is cut at its last (lowest) document", async () => {
    const read = await rangeOf(take3Desc);
    expect(read).toMatchObject({ order: "desc", readUntil: { values: ["Conservative", "STX", 8] } });
    expect(describeRead(read)).toBe("providerBalances.by_tier_token_allocation_key [Conservative, STX, ≥ 8..] desc");
  });

  test.each<[string, Write, string[]]>([
    ["a write to the 9th document", touch(9), [key("P09")]],
    ["the 3rd document's key moved above the 8th's", moveKey(3, 8.5), [key("P03")]],
    ["a write to the 3rd document that keeps it beyond the cut", moveKey(3, 2.5), []],
    ["an insert beyond the cut", insertAt(5), []],
    ["an insert above the cut", insertAt(20), [key("NEW")]],
    // Descending, a newer entry with equal fields comes before the cut in read order.
    ["an insert equal on the index fields to the cut, created after it", insertAt(8), [key("NEW")]],
  ])("descending take(3) of 10: %s", async (_case, write, expected) => {
    expect(await conflictsOf(take3Desc, write)).toEqual(expected);
  });

  const take20: Read = (db) => allocationOrder(db).take(20);

  test.each<[string, Write, string[]]>([
    ["an insert at the far end of the prefix", insertAt(1_000), [key("NEW")]],
    ["an insert in another tier", insertAt(5, "Balanced"), []],
    ["an insert of another token", insertAt(5, "Conservative", "sBTC"), []],
    ["a write to a balance in another tier", (db, s) => db.patch("providerBalances", s.balanced, { total: 1n }), []],
    [
      "a balance moved into the tier",
      (db, s) => db.patch("providerBalances", s.balanced, { tier: "Conservative" }),
      [key("B01")],
    ],
  ])("take(20) of 10 read the whole range: %s", async (_case, write, expected) => {
    expect(await conflictsOf(take20, write)).toEqual(expected);
  });

  test("filters do not narrow the range: documents filtered out before the last one returned were read", async () => {
    const fifth: Read = (db) =>
      allocationOrder(db)
        .filter((q) => q.eq(q.field("provider"), "P05"))
        .first();
    expect((await rangeOf(fifth)).readUntil).toMatchObject({ values: ["Conservative", "STX", 5] });
    expect(await conflictsOf(fifth, touch(3))).toEqual([key("P03")]);
    expect(await conflictsOf(fifth, touch(6))).toEqual([]);
  });
});

describe("first() and unique()", () => {
  const first: Read = (db) => allocationOrder(db).first();

  test.each<[string, Write, string[]]>([
    ["a write to the document returned", touch(1), [key("P01")]],
    ["a write to the next document", touch(2), []],
    ["an insert before it", insertAt(0.5), [key("NEW")]],
    ["the 5th document's key moved before it", moveKey(5, 0.5), [key("P05")]],
  ])("first(): %s", async (_case, write, expected) => {
    expect(await conflictsOf(first, write)).toEqual(expected);
  });

  const unique: Read = (db) =>
    db
      .query("providerBalances")
      .withIndex("by_provider_and_token", (q) => q.eq("provider", "P03").eq("token", "STX"))
      .unique();

  test("unique() reads its whole range (it asked for 2 and got 1)", async () => {
    const read = await rangeOf(unique);
    expect(read.readUntil).toBeNull();
    expect(describeRead(read)).toBe("providerBalances.by_provider_and_token [P03, STX]");
  });

  test.each<[string, Write, string[]]>([
    ["a write to the document", touch(3), [key("P03")]],
    ["a write to another provider's", touch(4), []],
    [
      "an insert of the same provider's other token",
      (db) => db.insert("providerBalances", balance("P03", 1, "Conservative", "sBTC")),
      [],
    ],
    ["an insert of a second P03/STX", (db) => db.insert("providerBalances", balance("P03", 1)), [key("P03")]],
  ])("unique() on by_provider_and_token: %s", async (_case, write, expected) => {
    expect(await conflictsOf(unique, write)).toEqual(expected);
  });
});

describe("paginate", () => {
  const notDone: Read = async (db) => {
    const result = await allocationOrder(db).paginate({ numItems: 4, cursor: null });
    expect(result.isDone).toBe(false);
  };
  const done: Read = async (db) => {
    const result = await allocationOrder(db).paginate({ numItems: 20, cursor: null });
    expect(result.isDone).toBe(true);
  };
  /** The second page of 3: read past P03 from the cursor, up to P06. */
  const secondPage: Read = async (db, s) => {
    const result = await allocationOrder(db).paginate({ numItems: 3, cursor: s.cursorAfter3 });
    expect(result.page.map((b) => b.provider)).toEqual(["P04", "P05", "P06"]);
  };

  test.each<[string, Read, Write, string[]]>([
    ["not done: the last document of the page", notDone, touch(4), [key("P04")]],
    ["not done: the next document", notDone, touch(5), []],
    ["not done: an insert after the page", notDone, insertAt(4.5), []],
    ["not done: an insert before the page's end", notDone, insertAt(0), [key("NEW")]],
    ["done: an insert at the end of the range", done, insertAt(1_000), [key("NEW")]],
    // Conservative: the recorder cannot see a cursor's position, so a page is
    // recorded from the start of the range.
    ["from a cursor: a document before the cursor (conservative)", secondPage, touch(1), [key("P01")]],
    ["from a cursor: the page's last document", secondPage, touch(6), [key("P06")]],
    ["from a cursor: the next document", secondPage, touch(7), []],
  ])("paginate %s", async (_case, read, write, expected) => {
    expect(await conflictsOf(read, write)).toEqual(expected);
  });
});

describe("db.get and queries without an index", () => {
  const get: Read = (db, s) => db.get(s.p[2] as Id<"providerBalances">);

  test.each<[string, Write, string[]]>([
    ["a write to the document read", touch(2), [key("P02")]],
    ["its deletion", (db, s) => db.delete(s.p[2] as Id<"providerBalances">), [key("P02")]],
    ["a write to another document", touch(3), []],
  ])("db.get(id): %s", async (_case, write, expected) => {
    const { log, hit } = await measure(get, write);
    expect(log.ranges).toEqual([]);
    expect(hit).toEqual(expected);
  });

  const oldest: Read = (db) => db.query("providerBalances").first();

  test("a query without withIndex reads by_creation_time", async () => {
    const read = await rangeOf(oldest);
    expect(read).toMatchObject({ index: "by_creation_time", fields: ["_creationTime"], range: [], order: "asc" });
  });

  test.each<[string, Write, string[]]>([
    ["a write to the oldest document", touch(1), [key("P01")]],
    ["a write to the next", touch(2), []],
    ["an insert (created after the cut)", insertAt(0), []],
  ])("query(t).first(): %s", async (_case, write, expected) => {
    expect(await conflictsOf(oldest, write)).toEqual(expected);
  });

  test("query(t).collect() reads the whole table", async () => {
    expect(await conflictsOf((db) => db.query("providerBalances").collect(), insertAt(0))).toEqual([key("NEW")]);
  });

  test("reads the model does not cover throw", async () => {
    const t = newBackend();
    const log: ReadLog = { ranges: [], ids: new Set() };
    await t.run(async (ctx) => {
      const db = recordingDb(ctx.db, log);
      expect(() => db.query("providerBalances").fullTableScan()).toThrow(/fullTableScan.*not modelled/);
      expect(() => db.query("providerBalances").withSearchIndex("x" as never, () => ({}) as never)).toThrow(
        /withSearchIndex.*not modelled/,
      );
    });
  });
});

describe("lower and upper bounds", () => {
  const backing: Read = (db) =>
    db
      .query("providers")
      .withIndex("by_active_backings", (q) => q.gt("activeBackings", 0n))
      .collect();
  const idle: Read = (db) =>
    db
      .query("providers")
      .withIndex("by_active_backings", (q) => q.lt("activeBackings", 1n))
      .collect();
  const backings =
    (who: "PA" | "PC", activeBackings: bigint): Write =>
    (db, s) =>
      db.patch("providers", s.providers[who], { activeBackings });
  const other =
    (who: "PA" | "PC"): Write =>
    (db, s) =>
      db.patch("providers", s.providers[who], { createdAt: 1 });

  test("bounds are recorded and rendered", async () => {
    expect(describeRead(await rangeOf(backing))).toBe("providers.by_active_backings [> 0..]");
    expect(describeRead(await rangeOf(idle))).toBe("providers.by_active_backings [..< 1]");
  });

  test.each<[string, Read, Write, string[]]>([
    ["gt 0: a provider staying at 0", backing, other("PA"), []],
    ["gt 0: a provider going 0 → 1", backing, backings("PA", 1n), ["providers:PA"]],
    ["gt 0: a provider going 2 → 0", backing, backings("PC", 0n), ["providers:PC"]],
    ["lt 1: a provider staying at 2", idle, other("PC"), []],
    ["lt 1: a provider going 2 → 3", idle, backings("PC", 3n), []],
    ["lt 1: a provider going 2 → 0", idle, backings("PC", 0n), ["providers:PC"]],
    ["lt 1: a provider at 0 changing elsewhere", idle, other("PA"), ["providers:PA"]],
  ])("%s", async (_case, read, write, expected) => {
    expect(await conflictsOf(read, write)).toEqual(expected);
  });
});

describe("index order", () => {
  test("undefined < null < int64 < float64 < boolean < string, and the natural order within a type", () => {
    const ascending = [undefined, null, -1n, 0n, 1n, -0.5, 0, 2.5, false, true, "", "A", "a", "b"];
    for (const [i, a] of ascending.entries()) {
      for (const [j, b] of ascending.entries()) {
        expect(compareIndexValues(a, b), `${String(a)} vs ${String(b)}`).toBe(Math.sign(i - j));
      }
    }
  });
});
