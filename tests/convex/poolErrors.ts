import { ConvexError } from "convex/values";
import { expect } from "vitest";

import type { ErrorCode } from "../../convex/domain/errors";

/** Awaits a call that must fail with a coded pool error, and returns its message. */
export async function expectPoolError(call: Promise<unknown>, code: ErrorCode): Promise<string> {
  const outcome = await call.then(
    () => ({ failed: false as const }),
    (error: unknown) => ({ failed: true as const, error }),
  );
  expect(outcome.failed, `expected the call to fail with ${code}`).toBe(true);
  if (!outcome.failed) return "";
  expect(outcome.error).toBeInstanceOf(ConvexError);
  const data = (outcome.error as ConvexError<{ code: string; message: string }>).data;
  expect(data.code).toBe(code);
  return data.message;
}
