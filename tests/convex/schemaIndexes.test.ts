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
  test("each index is named in a withIndex of some module", () => {
    const code = Object.values(sources).join("\n");
    const unread = Object.entries(schema.tables).flatMap(([table, definition]) =>
      indexesOf(definition)
        .filter((index) => !READ_BY_LIBRARIES.has(`${table}.${index}`))
        .filter((index) => !new RegExp(`withIndex\\(\\s*"${index}"`).test(code))
        .map((index) => `${table}.${index}`),
    );
    expect(unread).toEqual([]);
  });
});
