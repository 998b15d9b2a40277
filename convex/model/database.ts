/**
 * What a database helper is given: the database, and nothing else of the
 * function's context (no auth, no scheduler, no environment), as the
 * handlers of get-convex/aggregate take `{ db }`. Any query or mutation
 * context can be passed as is.
 */
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";

export type Reader = { db: DatabaseReader };
export type Writer = { db: DatabaseWriter };
