/**
 * What the benches' seeds share: principals for made-up providers, queue
 * positions spread over [0, 1), and inserts into any table. Seeds insert
 * documents directly, in batches, because convex-test scans every document on
 * every query and seeding thousands of providers through the ledger would
 * take hours.
 */

/** A syntactically plausible principal; the ledger treats principals as opaque strings. `tag` tells the benches' pools apart. */
export function benchPrincipal(i: number, tag = "BENCHPROVIDER"): string {
  return `SP${i.toString(36).toUpperCase().padStart(10, "0")}${tag}`;
}

/** A spread of queue positions (`allocationKey`) in [0, 1): Knuth's multiplicative hash of `n`. */
export function spreadKey(n: number): number {
  return ((n * 2654435761) % 4294967296) / 4294967296;
}

export type Insert = (table: string, doc: Record<string, unknown>) => Promise<string>;

/** Writes go through `any` tables: the seeds clone documents whose exact shape is the ledger's business. */
export function inserter(ctx: unknown): Insert {
  const db = (ctx as { db: { insert: Insert } }).db;
  return (table, doc) => db.insert(table, doc);
}
