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
