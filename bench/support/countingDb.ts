/**
 * A counting `ctx.db` for the benchmarks: wraps a mutation's database so that
 * the documents it reads and writes can be reported.
 * - docs read: documents returned by `get`, and by `collect`, `take`,
 *   `first`, `unique`, `paginate` and async iteration of a query;
 * - docs written: `insert`, `patch`, `replace` and `delete` calls;
 * - lookups: `get` calls and queries started.
 */
import type { MutationCtx } from "../../convex/_generated/server";

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

export function countingDb(db: MutationCtx["db"], counts: Counts): MutationCtx["db"] {
  const read = (table: string, docs: unknown[]) => {
    counts.docsRead += docs.length;
    if (docs.length > 0) bump(counts.readTables, table, docs.length);
    for (const doc of docs) counts.readIds.add((doc as { _id: string })._id);
  };
  const wrapQuery = (table: string, query: object): object =>
    new Proxy(query, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== "function") return value;
        const name = String(prop);
        if (CHAINING.has(name)) return (...args: unknown[]) => wrapQuery(table, value.apply(target, args));
        if (TERMINALS.has(name)) {
          return async (...args: unknown[]) => {
            const result = (await value.apply(target, args)) as unknown;
            if (Array.isArray(result)) read(table, result);
            else if (name === "paginate") read(table, (result as { page: unknown[] }).page);
            else read(table, result === null ? [] : [result]);
            return result;
          };
        }
        if (prop === Symbol.asyncIterator) {
          return () => {
            const inner = value.call(target) as AsyncIterator<unknown>;
            return {
              async next() {
                const step = await inner.next();
                if (!step.done) read(table, [step.value]);
                return step;
              },
            };
          };
        }
        return value.bind(target);
      },
    });
  /** The document a patch / replace / delete names: `(table, id, …)`, or the older `(id, …)` without a table. */
  const writeTarget = (prop: "patch" | "replace" | "delete", args: unknown[]) => {
    const withTable = args.length === (prop === "delete" ? 2 : 3);
    return withTable ? { table: String(args[0]), id: String(args[1]) } : { table: "?", id: String(args[0]) };
  };
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      switch (prop) {
        case "query":
          return (table: string) => {
            counts.lookups += 1;
            bump(counts.lookupTables, table, 1);
            return wrapQuery(table, value.call(target, table));
          };
        case "get":
          return async (...args: unknown[]) => {
            counts.lookups += 1;
            bump(counts.lookupTables, args.length === 2 ? String(args[0]) : "?", 1);
            const doc = (await value.apply(target, args)) as unknown;
            read(args.length === 2 ? String(args[0]) : "?", doc === null ? [] : [doc]);
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
