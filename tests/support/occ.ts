/**
 * A model of Convex's optimistic concurrency control (OCC), for measuring which
 * concurrent transactions of the backend conflict.
 *
 * Convex runs a mutation against a snapshot and records its read set: every
 * index range it read, and every document it read by id. At commit, if a
 * transaction that committed in between wrote a document whose old or new key
 * in one of those indexes lies inside one of those ranges (or wrote a document
 * read by id), the mutation's reads are stale: it conflicts and is retried.
 *
 * The range a query read is narrower than the range its code asked for when it
 * stopped early: Convex walks the index in the query's order and records the
 * interval up to the last index entry it actually fetched. An ascending
 * `take(3)` over ten entries read the first three and the gap between them,
 * not the other seven; a write beyond the third entry does not touch it.
 *
 * This module records read sets (`recordingDb`), derives write sets from two
 * snapshots (`writesBetween`), and intersects them (`conflicts`). It is used by
 * vitest tests (with convex-test) and by benchmarks run with tsx, so it depends
 * on nothing of either: only on `convex/values` and the real schema.
 */
import { compareValues, convexToJson, jsonToConvex, type JSONValue, type Value } from "convex/values";

import type { DatabaseReader } from "../../convex/_generated/server";
import schema from "../../convex/schema";

// ---------------------------------------------------------------------------
// Documents, snapshots and writes
// ---------------------------------------------------------------------------

/**
 * A stored document. `_creationTime` is always present on a stored document;
 * it is optional in the type only so that documents typed as tests/convex/convexTest.ts's
 * `SnapshotDoc` (which declares `_id` alone) are `Doc`s.
 */
export type Doc = Record<string, unknown> & { readonly _id: string; readonly _creationTime?: number };

/** Every document of every table: table name → its documents. */
export type Snapshot = Record<string, readonly Doc[]>;

/** One document a transaction inserted (`before` null), changed, or deleted (`after` null). */
export type Write = { key: string; table: string; before: Doc | null; after: Doc | null };

/**
 * A document's identity independent of its `_id`: the unique key it is looked
 * up by. Two separately seeded backends then name the same document alike.
 */
export function logicalKeyOf(table: string, doc: Doc): string {
  switch (table) {
    case "providers":
      return `providers:${String(doc.principal)}`;
    case "providerBalances":
      return `providerBalances:${String(doc.provider)}/${String(doc.token)}`;
    case "balanceLedger":
      return `balanceLedger:${String(doc.operationId)}`;
    case "tierTotalShards":
      return `tierTotalShards:${String(doc.tier)}/${String(doc.token)}/${String(doc.shard)}`;
    case "poolMetrics":
      return `poolMetrics:${String(doc.token)}`;
    case "vaultEvents":
      return `vaultEvents:${String(doc.txid)}/${String(doc.eventIndex)}`;
    case "withdrawalReservations":
      return `withdrawalReservations:${String(doc.provider)}/${String(doc.nonce)}`;
    case "providerRecords":
      return `providerRecords:${String(doc.provider)}`;
    case "providerRecordChanges":
      return `providerRecordChanges:${String(doc.operationId)}`;
    case "vaultFlowTotals":
      return `vaultFlowTotals:${String(doc.token)}`;
    default:
      return `${table}:${doc._id}`;
  }
}

function sameDocument(a: Doc, b: Doc): boolean {
  return JSON.stringify(convexToJson(a as Value)) === JSON.stringify(convexToJson(b as Value));
}

/** Documents of `tables` inserted, changed or deleted between two snapshots, by logical key. */
export function writesBetween(before: Snapshot, after: Snapshot, tables: readonly string[]): Map<string, Write> {
  const writes = new Map<string, Write>();
  for (const table of tables) {
    const old = new Map((before[table] ?? []).map((d) => [d._id, d]));
    const now = new Map((after[table] ?? []).map((d) => [d._id, d]));
    for (const id of new Set([...old.keys(), ...now.keys()])) {
      const a = old.get(id) ?? null;
      const b = now.get(id) ?? null;
      if (a !== null && b !== null && sameDocument(a, b)) continue;
      const key = logicalKeyOf(table, (b ?? a) as Doc);
      writes.set(key, { key, table, before: a, after: b });
    }
  }
  return writes;
}

// ---------------------------------------------------------------------------
// Index order
// ---------------------------------------------------------------------------

/**
 * Convex's total order of values, which is the order of index entries:
 * undefined (a missing field) < null < int64 (bigint) < float64 (number) <
 * boolean < string (by UTF-8 bytes) < bytes < array < object, and the natural
 * order within each type. `convex/values` exports the implementation the
 * Convex client and convex-test use; it is wrapped here, not rewritten, so the
 * model cannot drift from the backend it models.
 */
export function compareIndexValues(a: Value | undefined, b: Value | undefined): number {
  return Math.sign(compareValues(a, b));
}

/** A field of a document by its (possibly dotted) index field path; undefined if missing. */
function fieldOf(doc: Doc, fieldPath: string): Value | undefined {
  let value: unknown = doc;
  for (const part of fieldPath.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof ArrayBuffer) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value as Value | undefined;
}

type IndexDefinition = { indexDescriptor: string; fields: string[] };
type TableWithIndexes = { " indexes"(): IndexDefinition[] };

/**
 * The fields each index is declared on, from the real schema (`" indexes"()` is
 * the schema's public accessor for them). Every table also has the system
 * indexes `by_creation_time` and `by_id`. Convex appends `_creationTime` and
 * then `_id` to every user index's fields, so entries with equal fields are
 * ordered by creation.
 */
const INDEX_FIELDS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries(schema.tables as Record<string, TableWithIndexes>).flatMap(([table, definition]) => [
    [`${table}.by_creation_time`, ["_creationTime"]],
    [`${table}.by_id`, ["_id"]],
    ...definition[" indexes"]().map((index): [string, string[]] => [`${table}.${index.indexDescriptor}`, index.fields]),
  ]),
);

function indexFieldsOf(table: string, index: string): readonly string[] {
  const fields = INDEX_FIELDS.get(`${table}.${index}`);
  if (fields === undefined) throw new Error(`recordingDb: no index ${index} on table ${table} in the schema`);
  return fields;
}

/** A document's full key in an index: its index fields, then `_creationTime`, then `_id`. */
export type IndexKey = { values: (Value | undefined)[]; creationTime: number; id: string };

function indexKeyOf(doc: Doc, fields: readonly string[]): IndexKey {
  return { values: fields.map((f) => fieldOf(doc, f)), creationTime: Number(doc._creationTime), id: doc._id };
}

// ---------------------------------------------------------------------------
// Read sets
// ---------------------------------------------------------------------------

export type Order = "asc" | "desc";

/** One bound of an index range, as `withIndex`'s range builder exports it (value decoded). */
export type RangeExpression = { type: "Eq" | "Gt" | "Gte" | "Lt" | "Lte"; fieldPath: string; value: Value | undefined };

/** An index range one query read. */
export type RangeRead = {
  table: string;
  /** A schema index, or the system index `by_creation_time` (a query without `withIndex`) or `by_id`. */
  index: string;
  /** The index's declared fields (`_creationTime` for by_creation_time, `_id` for by_id). */
  fields: readonly string[];
  /** The bounds the code asked for: equalities on a prefix of the fields, then at most a lower and an upper bound. */
  range: RangeExpression[];
  order: Order;
  /**
   * The key of the last document read, where the query stopped early (in
   * `order`: ascending reads cover the bounds up to and including it,
   * descending ones from it); null when the whole range was read.
   */
  readUntil: IndexKey | null;
};

/** A transaction's read set: the index ranges it read and the ids it read by `db.get`. */
export type ReadLog = { ranges: RangeRead[]; ids: Set<string> };

function decodeBoundValue(value: JSONValue): Value | undefined {
  // The range builder encodes an `undefined` bound (a missing field) as {$undefined: null}.
  const isUndefined = typeof value === "object" && value !== null && !Array.isArray(value) && "$undefined" in value;
  return isUndefined ? undefined : jsonToConvex(value);
}

type ExportedRangeExpression = { type: RangeExpression["type"]; fieldPath: string; value: JSONValue };

function rangeOf(built: unknown): RangeExpression[] {
  // `rangeExpressions` is what Convex serializes the range to for the backend.
  // Were it ever missing, an empty range (the whole index) is the conservative reading.
  const exported = (built as { rangeExpressions?: ExportedRangeExpression[] }).rangeExpressions ?? [];
  return exported.map((e) => ({ type: e.type, fieldPath: e.fieldPath, value: decodeBoundValue(e.value) }));
}

type QueryShape = Omit<RangeRead, "readUntil">;

type PageResult = { page: Doc[]; isDone: boolean };
type PageOptions = { numItems: number; cursor: string | null; endCursor?: string | null };

/** The parts of Convex's query objects the recorder understands. */
type QueryLike = {
  order(order: Order): QueryLike;
  filter(predicate: unknown): QueryLike;
  take(n: number): Promise<Doc[]>;
  first(): Promise<Doc | null>;
  unique(): Promise<Doc | null>;
  collect(): Promise<Doc[]>;
  paginate(options: PageOptions): Promise<PageResult>;
  [Symbol.asyncIterator](): AsyncIterator<Doc>;
};
type QueryInitializerLike = {
  withIndex(index: string, range?: (q: unknown) => unknown): QueryLike;
  fullTableScan(): QueryLike;
};
type TableReaderLike = { get(id: string): Promise<Doc | null>; query(): QueryInitializerLike };

/**
 * `handlers` in front of a Convex object: any other method of the object
 * throws, so that a read the recorder does not model (a full table scan, a
 * search) fails the measurement instead of passing unrecorded.
 */
function onlyRecorded<T extends object>(what: string, target: object, handlers: T): T {
  return new Proxy(handlers, {
    get(own, prop) {
      if (prop in own) return Reflect.get(own, prop) as unknown;
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return () => {
        throw new Error(`recordingDb: ${String(prop)} on ${what} is not modelled`);
      };
    },
  });
}

/** Records a read of the whole range now (conservative if the query then throws), to be narrowed once it returns. */
function record(log: ReadLog, shape: QueryShape): RangeRead {
  const read: RangeRead = { ...shape, range: [...shape.range], readUntil: null };
  log.ranges.push(read);
  return read;
}

/**
 * Where a query asked for `limit` documents stopped: at the last one, if it
 * got them all; if fewer came back it ran to the end of the range (an empty
 * or short result proves the rest of the range holds nothing, so all of it
 * was read). A `.filter()` does not change this: filters run on the entries
 * the index walk yields, and the walk stops at the entry that completed the
 * result, which is the last one returned.
 */
function stoppedAt(docs: readonly Doc[], limit: number, fields: readonly string[]): IndexKey | null {
  const last = docs[docs.length - 1];
  return docs.length >= limit && last !== undefined ? indexKeyOf(last, fields) : null;
}

function recordingQuery(shape: QueryShape, query: QueryLike, log: ReadLog): QueryLike {
  const what = `${shape.table}.${shape.index}`;
  return onlyRecorded(what, query, {
    order: (order: Order) => recordingQuery({ ...shape, order }, query.order(order), log),
    // Filters narrow the result, not the range: they run after the index read.
    filter: (predicate: unknown) => recordingQuery(shape, query.filter(predicate), log),
    take: async (n: number) => {
      const read = record(log, shape);
      const docs = await query.take(n);
      read.readUntil = stoppedAt(docs, n, shape.fields);
      return docs;
    },
    first: async () => {
      const read = record(log, shape);
      const doc = await query.first();
      read.readUntil = stoppedAt(doc === null ? [] : [doc], 1, shape.fields);
      return doc;
    },
    // unique() takes 2: when it returns, fewer than 2 came back, so it read the
    // whole range; when it throws, the whole range is the conservative record.
    unique: async () => {
      record(log, shape);
      return await query.unique();
    },
    collect: async () => {
      record(log, shape);
      return await query.collect();
    },
    // Iteration may stop early, but the recorder cannot see where: whole range.
    [Symbol.asyncIterator]: () => {
      record(log, shape);
      return query[Symbol.asyncIterator]();
    },
    paginate: async (options: PageOptions) => {
      // The page's lower end is recorded as the start of the range even when a
      // cursor is given: the cursor's position is opaque here, so the recorded
      // range is a superset of the one read (conservative).
      const read = record(log, shape);
      const result = await query.paginate(options);
      // A page that is done ran to the end of the range. One that is not done
      // but came back short (a maximumRowsRead/Bytes limit, with filters) or that
      // was bounded by an endCursor stopped somewhere the recorder cannot see:
      // keep the whole range.
      const openEnded = !result.isDone && (options.endCursor ?? null) === null;
      read.readUntil = openEnded ? stoppedAt(result.page, options.numItems, shape.fields) : null;
      return result;
    },
  });
}

function recordingInitializer(table: string, initializer: QueryInitializerLike, log: ReadLog): QueryLike {
  // A query with no index reads the table in creation order: the by_creation_time index, all of it.
  const scan = (): QueryLike =>
    recordingQuery(
      { table, index: "by_creation_time", fields: indexFieldsOf(table, "by_creation_time"), range: [], order: "asc" },
      initializer.fullTableScan(),
      log,
    );
  const handlers = {
    withIndex: (index: string, rangeFn?: (q: unknown) => unknown) => {
      const fields = indexFieldsOf(table, index);
      let range: RangeExpression[] = [];
      const query = initializer.withIndex(index, (q) => {
        const built = rangeFn ? rangeFn(q) : q;
        range = rangeOf(built);
        return built;
      });
      return recordingQuery({ table, index, fields, range, order: "asc" }, query, log);
    },
    order: (order: Order) => scan().order(order),
    filter: (predicate: unknown) => scan().filter(predicate),
    take: (n: number) => scan().take(n),
    first: () => scan().first(),
    unique: () => scan().unique(),
    collect: () => scan().collect(),
    paginate: (options: PageOptions) => scan().paginate(options),
    [Symbol.asyncIterator]: () => scan()[Symbol.asyncIterator](),
  };
  return onlyRecorded(`${table} (query)`, initializer, handlers);
}

/**
 * `db` with every index range and every document id it reads recorded in
 * `log`, with the extent each query actually read (see `RangeRead.readUntil`).
 * Ranges are read from the range builder's `rangeExpressions`, which is how the
 * Convex runtime itself serializes them. Writes pass through unrecorded (they
 * are measured by snapshot diff), and so do system tables (`db.system`), which
 * no snapshot holds.
 */
export function recordingDb<Db extends DatabaseReader>(db: Db, log: ReadLog): Db {
  const recordGet = (get: (...args: unknown[]) => Promise<unknown>) => (...args: unknown[]) => {
    // db.get(id) or db.get(table, id).
    log.ids.add(String(args[args.length - 1]));
    return get(...args);
  };
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const method = (...args: unknown[]) => Reflect.apply(value, target, args) as unknown;
      if (prop === "query") {
        return (table: string) => recordingInitializer(table, method(table) as QueryInitializerLike, log);
      }
      if (prop === "get") return recordGet(method as (...args: unknown[]) => Promise<unknown>);
      if (prop === "table") {
        // db.table(name).get(id) / .query(): the same reads, table first.
        return (table: string) => {
          const reader = method(table) as TableReaderLike;
          return new Proxy(reader, {
            get(r, p) {
              if (p === "get") return recordGet((id) => r.get(String(id)));
              if (p === "query") return () => recordingInitializer(table, r.query(), log);
              const v = Reflect.get(r, p, r) as unknown;
              return typeof v === "function" ? v.bind(r) : v;
            },
          });
        };
      }
      return method;
    },
  });
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

const SATISFIES: Record<RangeExpression["type"], (cmp: number) => boolean> = {
  Eq: (cmp) => cmp === 0,
  Gt: (cmp) => cmp > 0,
  Gte: (cmp) => cmp >= 0,
  Lt: (cmp) => cmp < 0,
  Lte: (cmp) => cmp <= 0,
};

function withinBounds(doc: Doc, range: readonly RangeExpression[]): boolean {
  return range.every((e) => SATISFIES[e.type](compareIndexValues(fieldOf(doc, e.fieldPath), e.value)));
}

/**
 * Whether `doc`'s key lies on the read side of where the read stopped.
 *
 * A document written by another transaction may be one the reader never saw:
 * its `_creationTime` and `_id` are unknown to the reader (and, measured on a
 * separate backend, not comparable with the reader's). So the index fields
 * decide first; only a document equal on all of them to the last one read is
 * placed by `_creationTime`, and even then conservatively: it is inside unless
 * it is strictly beyond the last one read (newer, ascending; older,
 * descending). `_id`, the final tie-break, is never trusted to exclude.
 */
function withinExtent(doc: Doc, read: RangeRead): boolean {
  const until = read.readUntil;
  if (until === null) return true;
  const direction = read.order === "asc" ? 1 : -1;
  for (const [i, field] of read.fields.entries()) {
    const cmp = compareIndexValues(fieldOf(doc, field), until.values[i]);
    if (cmp !== 0) return cmp * direction < 0;
  }
  if (doc._id === until.id || read.fields.includes("_creationTime") || doc._creationTime === undefined) return true;
  return Math.sign(doc._creationTime - until.creationTime) * direction <= 0;
}

/**
 * Whether a version of a document lies in the range a query read: within the
 * bounds the code asked for, and within the part of them actually read.
 */
export function inRange(doc: Doc, read: RangeRead): boolean {
  return withinBounds(doc, read.range) && withinExtent(doc, read);
}

/**
 * The writes of one transaction that would invalidate the reads of another
 * (an OCC conflict), by logical key, sorted: a write to a document read by id,
 * or one whose old or new version lies in a range read.
 */
export function conflicts(writes: ReadonlyMap<string, Write>, reads: ReadLog): string[] {
  const hit: string[] = [];
  for (const w of writes.values()) {
    const versions = [w.before, w.after].filter((d): d is Doc => d !== null);
    // A point read by id can only hit a document that existed before: nobody
    // else can know a new document's id. (Ids of documents inserted in two
    // separately seeded backends coincide, so they must not be compared.)
    const byId = w.before !== null && reads.ids.has(w.before._id);
    const byRange = reads.ranges.some((r) => r.table === w.table && versions.some((d) => inRange(d, r)));
    if (byId || byRange) hit.push(w.key);
  }
  return hit.sort();
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

function renderValue(value: Value | undefined): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string" || typeof value === "number" || typeof value === "bigint") return String(value);
  return JSON.stringify(convexToJson(value));
}

/** The key read up to, past the equality prefix the bounds already show. */
function renderKeyTail(key: IndexKey, from: number): string {
  const tail = key.values.slice(from);
  if (tail.length === 0) return `_creationTime ${key.creationTime}`;
  return tail.length === 1 ? renderValue(tail[0]) : `(${tail.map(renderValue).join(", ")})`;
}

const SYMBOL: Record<Exclude<RangeExpression["type"], "Eq">, string> = { Gt: ">", Gte: "≥", Lt: "<", Lte: "≤" };

function renderBound(e: RangeExpression | undefined): string {
  return e === undefined || e.type === "Eq" ? "" : `${SYMBOL[e.type]} ${renderValue(e.value)}`;
}

/**
 * A read as text, e.g. `providerBalances.by_tier_token_allocation_key
 * [Conservative, STX, ..≤ 4.25]`: the equality prefix, then the interval read
 * on the next field (the asked-for bounds, with the end where the read
 * stopped), and `desc` for a descending read.
 */
export function describeRead(read: RangeRead): string {
  const equalities = read.range.filter((e) => e.type === "Eq");
  let lower = renderBound(read.range.find((e) => e.type === "Gt" || e.type === "Gte"));
  let upper = renderBound(read.range.find((e) => e.type === "Lt" || e.type === "Lte"));
  if (read.readUntil !== null) {
    const until = renderKeyTail(read.readUntil, equalities.length);
    if (read.order === "asc") upper = `≤ ${until}`;
    else lower = `≥ ${until}`;
  }
  const parts = equalities.map((e) => renderValue(e.value));
  if (lower !== "" || upper !== "") parts.push(`${lower}..${upper}`);
  return `${read.table}.${read.index} [${parts.join(", ")}]${read.order === "desc" ? " desc" : ""}`;
}
