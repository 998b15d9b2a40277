/// <reference types="vite/client" />
/**
 * The in-memory Convex backend for tests: every module under convex/, with
 * the real schema.
 */
import { convexTest } from "convex-test";

import schema from "../../convex/schema";

export const modules = import.meta.glob(["../../convex/**/*.ts", "../../convex/**/*.js", "!../../convex/**/*.d.ts"]);

export function newBackend() {
  return convexTest(schema, modules);
}

export type Backend = ReturnType<typeof newBackend>;

export const TABLES = Object.keys(schema.tables) as (keyof typeof schema.tables)[];

export type SnapshotDoc = Record<string, unknown> & { _id: string };
export type Snapshot = Record<string, SnapshotDoc[]>;

/** Every document of every table of the schema: what "changed nothing" is checked against. */
export async function snapshot(t: Backend): Promise<Snapshot> {
  return await t.run(async (ctx) => {
    const all: Snapshot = {};
    for (const table of TABLES) all[table] = (await ctx.db.query(table).collect()) as unknown as SnapshotDoc[];
    return all;
  });
}
