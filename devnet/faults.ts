/**
 * Injected faults (POST /_local/faults). Two kinds:
 *
 * - by path: the next `times` requests whose path starts with `path` are
 *   delayed by `delayMs`, and/or answered with `status` (429 carries a
 *   Retry-After header, as a rate limiter sends), and/or answered as usual but
 *   with the field at `removeField` (a dotted path into the JSON answer, e.g.
 *   `results.0.tx_id`) taken out — a malformed answer. Control routes under
 *   /_local/ are never faulted.
 * - by transaction: `{ txid, txStatus: "problematic_skipped" }` makes the API
 *   report the transaction, in every block that includes it, as mined but
 *   skipped (Epoch 4.0: included, never executed, fee paid and nonce spent):
 *   `tx_status` `problematic_skipped`, result `(err none)`, no events, and
 *   none of its print events in the contract's event list. Simnet did run it,
 *   so read-only calls still see its effects: this is for testing what an API
 *   client does with the status.
 */
import { z } from "zod";

import type { TxRecord } from "./records";

export const faultRequest = z
  .object({
    path: z.string().startsWith("/"),
    status: z.union([z.literal(429), z.literal(500), z.literal(503)]).optional(),
    times: z.number().int().min(1).max(10_000),
    delayMs: z.number().int().min(0).max(120_000).optional(),
    retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
    removeField: z
      .string()
      .regex(/^[^.]+(\.[^.]+)*$/, "must be a dotted path such as results.0.tx_id")
      .optional(),
  })
  .refine(
    (f) => f.status !== undefined || f.delayMs !== undefined || f.removeField !== undefined,
    "a fault needs a status, a delayMs, a removeField, or several",
  );

export const txStatusFaultRequest = z.object({
  txid: z.string(),
  txStatus: z.literal("problematic_skipped"),
});

export type FaultRequest = z.output<typeof faultRequest>;

type Fault = FaultRequest & { remaining: number };

export class Faults {
  private rules: Fault[] = [];

  add(request: FaultRequest): void {
    this.rules.push({ ...request, remaining: request.times });
  }

  clear(): void {
    this.rules = [];
  }

  /** The fault to apply to a request for `pathname`, consuming one of its uses. */
  take(pathname: string): FaultRequest | null {
    if (pathname.startsWith("/_local/")) return null;
    const rule = this.rules.find((r) => r.remaining > 0 && pathname.startsWith(r.path));
    if (!rule) return null;
    rule.remaining -= 1;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return rule;
  }
}

export function faultBody(status: 429 | 500 | 503): { error: string } {
  switch (status) {
    case 429:
      return { error: "Too Many Requests" };
    case 500:
      return { error: "Internal Server Error" };
    case 503:
      return { error: "Service Unavailable" };
  }
}

/**
 * `body` without the field at `dottedPath` (a copy; `body` is left as is).
 * A path that leads nowhere leaves the copy unchanged.
 */
export function withoutField(body: unknown, dottedPath: string): unknown {
  const copy: unknown = structuredClone(body);
  const keys = dottedPath.split(".");
  const last = keys.pop() as string;
  let node: unknown = copy;
  for (const key of keys) {
    if (typeof node !== "object" || node === null) return copy;
    node = (node as Record<string, unknown>)[key];
  }
  if (typeof node === "object" && node !== null) delete (node as Record<string, unknown>)[last];
  return copy;
}

/**
 * Transactions reported as `problematic_skipped`. Kept with the record
 * itself (weakly), so the mark lives exactly as long as the server that holds
 * the record, and the transaction routes, which take no fault state, can see
 * it through the transaction they present.
 */
const problematicSkipped = new WeakSet<TxRecord>();

export function markProblematicSkipped(record: TxRecord): void {
  problematicSkipped.add(record);
}

export function isProblematicSkipped(record: TxRecord): boolean {
  return problematicSkipped.has(record);
}
