/**
 * A counting `ctx.db` for the benchmarks: wraps a mutation's database so that
 * the documents it reads and writes can be reported.
 * - docs read: documents returned by `get`, and by `collect`, `take`,
 *   `first`, `unique`, `paginate` and async iteration of a query;
 * - docs written: `insert`, `patch`, `replace` and `delete` calls;
 * - lookups: `get` calls and queries started.
 * `runCounted` runs a function in one convex-test transaction with its
 * `ctx.db` counted this way.
 */
import type { TestConvex } from "convex-test";

import type { MutationCtx } from "../../convex/_generated/server";
import type schema from "../../convex/schema";

export type Counts = {
  docsRead: number;
  docsWritten: number;
  /** Ids of the documents read / written: a document patched twice is written twice but is one document. */
  readIds: Set<string>;
  writtenIds: Set<string>;
  lookups: number;
  lookupTables: Map<string, number>;
  readTables: Map<string, number>;
  writtenTables: Map<string, number>;
};

export function newCounts(): Counts {
  return {
    docsRead: 0,
    docsWritten: 0,
    readIds: new Set(),
    writtenIds: new Set(),
    lookups: 0,
    lookupTables: new Map(),
    readTables: new Map(),
    writtenTables: new Map(),
  };
}

export function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

const TERMINALS = new Set(["collect", "take", "first", "unique", "paginate"]);
const CHAINING = new Set(["withIndex", "withSearchIndex", "fullTableScan", "order", "filter"]);

function recordRead(counts: Counts, table: string, docs: unknown[]): void {
  counts.docsRead += docs.length;
  if (docs.length > 0) bump(counts.readTables, table, docs.length);
  for (const doc of docs) counts.readIds.add((doc as { _id: string })._id);
}

/** A query on `table` whose results are counted as read, however they are taken (terminal or iteration). */
function countingQuery(table: string, query: object, counts: Counts): object {
  return new Proxy(query, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const name = String(prop);
      if (CHAINING.has(name)) return (...args: unknown[]) => countingQuery(table, value.apply(target, args), counts);
      if (TERMINALS.has(name)) {
        return async (...args: unknown[]) => {
          const result = (await value.apply(target, args)) as unknown;
          if (Array.isArray(result)) recordRead(counts, table, result);
          else if (name === "paginate") recordRead(counts, table, (result as { page: unknown[] }).page);
          else recordRead(counts, table, result === null ? [] : [result]);
          return result;
        };
      }
      if (prop === Symbol.asyncIterator) {
        return () => {
          const inner = value.call(target) as AsyncIterator<unknown>;
          return {
            async next() {
              const step = await inner.next();
              if (!step.done) recordRead(counts, table, [step.value]);
              return step;
            },
          };
        };
      }
      return value.bind(target);
    },
  });
}

/** The document a patch / replace / delete names: `(table, id, …)`, or the older `(id, …)` without a table. */
function writeTarget(prop: "patch" | "replace" | "delete", args: unknown[]): { table: string; id: string } {
  const withTable = args.length === (prop === "delete" ? 2 : 3);
  return withTable ? { table: String(args[0]), id: String(args[1]) } : { table: "?", id: String(args[0]) };
}

export function countingDb(db: MutationCtx["db"], counts: Counts): MutationCtx["db"] {
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      switch (prop) {
        case "query":
          return (table: string) => {
            counts.lookups += 1;
            bump(counts.lookupTables, table, 1);
            return countingQuery(table, value.call(target, table), counts);
          };
        case "get":
          return async (...args: unknown[]) => {
            counts.lookups += 1;
            bump(counts.lookupTables, args.length === 2 ? String(args[0]) : "?", 1);
            const doc = (await value.apply(target, args)) as unknown;
            recordRead(counts, args.length === 2 ? String(args[0]) : "?", doc === null ? [] : [doc]);
            return doc;
          };
        case "insert":
        case "patch":
        case "replace":
        case "delete":
          return async (...args: unknown[]) => {
            counts.docsWritten += 1;
            bump(counts.writtenTables, prop === "insert" ? String(args[0]) : writeTarget(prop, args).table, 1);
            const result = (await value.apply(target, args)) as unknown;
            counts.writtenIds.add(String(prop === "insert" ? result : writeTarget(prop, args).id));
            return result;
          };
        default:
          return value.bind(target);
      }
    },
  });
}

/**
 * Runs `run` in one transaction of the convex-test backend `t`, with its
 * `ctx.db` counted; `after` then reads more of the same transaction (its
 * metrics, say) with the uncounted ctx.
 */
export async function runCounted<T, A>(
  t: TestConvex<typeof schema>,
  run: (ctx: MutationCtx) => Promise<T>,
  after: (ctx: MutationCtx) => Promise<A>,
): Promise<{ counts: Counts; result: T; after: A }> {
  const counts = newCounts();
  // t.run returns Convex values only: the counts and the result stay out here.
  let out: { result: T; after: A } | undefined;
  await t.run(async (ctx) => {
    const result = await run({ ...ctx, db: countingDb(ctx.db as MutationCtx["db"], counts) } as unknown as MutationCtx);
    out = { result, after: await after(ctx as unknown as MutationCtx) };
  });
  return { counts, ...out! };
}
