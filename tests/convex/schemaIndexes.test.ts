/**
 * Every index of the schema is read by some function: an index nothing reads
 * still costs a write on every insert and patch of its table, and storage.
 */
/// <reference types="vite/client" />
import { describe, expect, test } from "vitest";

import schema from "../../convex/schema";

const sources = import.meta.glob(["../../convex/**/*.ts", "!../../convex/_generated/**", "!../../convex/schema.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

/** Indexes read by a library rather than by this repository's code. */
const READ_BY_LIBRARIES = new Set(["rateLimits.name" /* convex-helpers' rate limiter */]);

function indexesOf(table: unknown): string[] {
  return (table as { indexes: { indexDescriptor: string }[] }).indexes.map((index) => index.indexDescriptor);
}

describe("schema indexes", () => {
  test("each index is read by a query of its own table", () => {
    // `.query("table")` then, possibly over a few lines, `.withIndex("index"`: an index name two
    // tables share is counted only for the table it is read on.
    const read = new Set<string>();
    for (const code of Object.values(sources)) {
      for (const m of code.matchAll(/\.query\(\s*"(\w+)"\s*\)\s*\.withIndex\(\s*"(\w+)"/g)) read.add(`${m[1]}.${m[2]}`);
    }
    const unread = Object.entries(schema.tables).flatMap(([table, definition]) =>
      indexesOf(definition)
        .map((index) => `${table}.${index}`)
        .filter((name) => !READ_BY_LIBRARIES.has(name) && !read.has(name)),
    );
    expect(unread).toEqual([]);
  });
});
