/**
 * The Stacks API's request budget, read from its rate-limit headers
 * (README, "Rate limits"). The limits Hiro documents disagree with each other
 * and change with the plan and the API key, so nothing here assumes a number:
 * every answer says how many requests are left in its window and when the
 * window starts afresh, and the client holds back non-essential requests once
 * fewer than a reserve are left, instead of running into 429s.
 *
 * The headers read, as the API sends them:
 * - `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`: the window
 *   that binds first. Hiro documents `ratelimit-reset` as a Unix timestamp;
 *   the IETF RateLimit draft, and other gateways, send seconds until the
 *   reset. Both are read: a value past 1e9 can only be a timestamp.
 * - `x-ratelimit-{limit,remaining}-stacks-{second,minute}`: the Stacks
 *   service's own windows, with no reset time of their own; each starts afresh
 *   within its length of any answer, so that length bounds the wait. The
 *   monthly quota (`-stacks-month`) is not budgeted: a reserve of it would stop
 *   the sync for the rest of the month while requests are still left; once it
 *   is spent, the API's 429 says how long to wait.
 * - `retry-after` on a 429: seconds, or an HTTP date.
 *
 * Pure: the caller passes the time in.
 */
import { z } from "zod";

/** One rate-limit window as of the last answer that described it. */
export type RateWindow = {
  /** `ratelimit`, or the Stacks service window: `stacks-second`, `stacks-minute`. */
  name: string;
  /** Requests per window; null when the answer did not say. */
  limit: number | null;
  remaining: number;
  /** When the window starts afresh, in ms since the epoch. */
  resetAtMs: number;
};

/**
 * Requests kept back in every window for what cannot wait (a broadcast, a
 * user's withdrawal): a tenth of the window's limit, and never fewer than
 * two. Several requests of one run can be in flight at once (the sync reads
 * pages ahead), so the budget has to stop before the last one, not at it.
 */
export const RESERVE_FRACTION = 0.1;
export const RESERVE_MIN = 2;

/** How long a Stacks service window can take to start afresh. */
const SERVICE_WINDOWS = { second: 1_000, minute: 60_000 } as const;

/** A ratelimit-reset above this is a Unix timestamp (2001-09-09), below it seconds from now. */
const TIMESTAMP_FLOOR = 1e9;

const count = z
  .string()
  .trim()
  .regex(/^\d+$/)
  .transform((value) => Number(value));
const seconds = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/)
  .transform((value) => Number(value));

function header<T>(schema: z.ZodType<T, string>, headers: Headers, name: string): T | null {
  const value = headers.get(name);
  if (value === null) return null;
  // A malformed header says nothing about the budget: it is passed over, not a failed request.
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** The reserve of a window: requests left for what cannot wait. */
export function reserveOf(window: Pick<RateWindow, "limit">): number {
  return window.limit === null ? RESERVE_MIN : Math.max(RESERVE_MIN, Math.ceil(window.limit * RESERVE_FRACTION));
}

/** The rate-limit windows an answer describes; none when it carries no rate-limit headers (a self-hosted API). */
export function readRateWindows(headers: Headers, nowMs: number): RateWindow[] {
  const windows: RateWindow[] = [];
  const remaining = header(count, headers, "ratelimit-remaining");
  const reset = header(seconds, headers, "ratelimit-reset");
  if (remaining !== null && reset !== null) {
    windows.push({
      name: "ratelimit",
      limit: header(count, headers, "ratelimit-limit"),
      remaining,
      resetAtMs: reset > TIMESTAMP_FLOOR ? reset * 1000 : nowMs + reset * 1000,
    });
  }
  for (const [period, lengthMs] of Object.entries(SERVICE_WINDOWS)) {
    const left = header(count, headers, `x-ratelimit-remaining-stacks-${period}`);
    if (left === null) continue;
    windows.push({
      name: `stacks-${period}`,
      limit: header(count, headers, `x-ratelimit-limit-stacks-${period}`),
      remaining: left,
      resetAtMs: nowMs + lengthMs,
    });
  }
  return windows;
}

/**
 * How long a non-essential request should wait, in ms: 0 when every window
 * still has more than its reserve left (or has started afresh since), else
 * until the last of the exhausted windows resets.
 */
export function waitForBudget(windows: readonly RateWindow[], nowMs: number): number {
  let wait = 0;
  for (const window of windows) {
    if (window.resetAtMs <= nowMs || window.remaining >= reserveOf(window)) continue;
    wait = Math.max(wait, window.resetAtMs - nowMs);
  }
  return Math.ceil(wait);
}

const httpDate = z
  .string()
  .transform((value) => Date.parse(value))
  .refine((ms) => Number.isFinite(ms));

/** A 429's `Retry-After` in ms from now (seconds or an HTTP date); null when absent, zero or malformed. */
export function retryAfterMs(headers: Headers, nowMs: number): number | null {
  const delaySeconds = header(seconds, headers, "retry-after");
  if (delaySeconds !== null) return delaySeconds > 0 ? Math.ceil(delaySeconds * 1000) : null;
  const at = header(httpDate, headers, "retry-after");
  return at !== null && at > nowMs ? at - nowMs : null;
}

/**
 * The budget as the last answers left it. Each window is replaced by the
 * newest answer that describes it; a window no answer mentions any more is
 * kept until it resets.
 */
export class RateBudget {
  private windows = new Map<string, RateWindow>();

  observe(headers: Headers, nowMs: number): void {
    for (const window of readRateWindows(headers, nowMs)) this.windows.set(window.name, window);
  }

  /** See `waitForBudget`. */
  waitMs(nowMs: number): number {
    return waitForBudget([...this.windows.values()], nowMs);
  }

  /** The windows as last seen, for errors and tests. */
  get current(): RateWindow[] {
    return [...this.windows.values()];
  }
}
