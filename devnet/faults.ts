/**
 * Injected faults (POST /_local/faults): the next `times` requests whose path
 * starts with `path` are delayed by `delayMs` and/or answered with `status`
 * (429 carries a Retry-After header, as a rate limiter sends). Control routes
 * under /_local/ are never faulted.
 */
import { z } from "zod";

export const faultRequest = z
  .object({
    path: z.string().startsWith("/"),
    status: z.union([z.literal(429), z.literal(500), z.literal(503)]).optional(),
    times: z.number().int().min(1).max(10_000),
    delayMs: z.number().int().min(0).max(120_000).optional(),
    retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
  })
  .refine((f) => f.status !== undefined || f.delayMs !== undefined, "a fault needs a status, a delayMs, or both");

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
