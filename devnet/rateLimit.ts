/**
 * A rate limiter in front of the local server, as Hiro's gateway puts one in
 * front of the API (README, "Rate limits"), so the backend's request budget
 * and its rescheduling are tested over HTTP.
 *
 * Off by default, like a self-hosted API: no limit, no rate-limit headers.
 * `POST /_local/rate-limit {"limit": n, "windowSeconds": 60}` sets a limit of
 * `n` requests per fixed window (60 s unless given), starting now; every
 * answer then carries the headers Hiro documents — `ratelimit-limit`,
 * `ratelimit-remaining`, `ratelimit-reset` (a Unix timestamp, as the docs
 * describe it), and with a 60 s window the Stacks service's
 * `x-ratelimit-limit-stacks-minute`, `x-ratelimit-remaining-stacks-minute`,
 * `x-ratelimit-cost-stacks` — and a
 * request past the limit is answered 429 with `Retry-After` (seconds until
 * the window resets). `{"limit": null}` turns it off.
 *
 * Every request is counted by path, limit or not, from the last
 * POST /_local/rate-limit: `GET /_local/rate-limit` answers the setting, the
 * window and the counts, so a test can tell how many requests a job made.
 * Control routes under /_local/ are neither limited nor counted.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import { z } from "zod";

import { HttpError, parseJsonBody, readBody } from "./http";

export const rateLimitRequest = z.object({
  /** Requests per window; null: no limit (and no rate-limit headers). */
  limit: z.number().int().min(0).max(1_000_000).nullable(),
  /** The window's length; a test that must not see a window end mid-run makes it long. */
  windowSeconds: z.number().int().min(1).max(86_400).default(60),
});
export type RateLimitRequest = z.input<typeof rateLimitRequest>;

export type RateLimitState = {
  limit: number | null;
  windowSeconds: number;
  /** Requests answered (or refused with 429) in the current window. */
  used: number;
  /** Unix seconds. */
  resetAt: number;
  /** Requests by path since the last configuration, 429s included. */
  requests: Record<string, number>;
};

export class RateLimiter {
  private limit: number | null = null;
  private windowMs = 60_000;
  private windowStart: number;
  private used = 0;
  private requests = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {
    this.windowStart = now();
  }

  configure(setting: z.output<typeof rateLimitRequest>): void {
    this.limit = setting.limit;
    this.windowMs = setting.windowSeconds * 1000;
    this.windowStart = this.now();
    this.used = 0;
    this.requests.clear();
  }

  private resetAtMs(): number {
    return this.windowStart + this.windowMs;
  }

  get state(): RateLimitState {
    return {
      limit: this.limit,
      windowSeconds: this.windowMs / 1000,
      used: this.used,
      resetAt: Math.ceil(this.resetAtMs() / 1000),
      requests: Object.fromEntries(this.requests),
    };
  }

  /**
   * Counts a request to `pathname`: whether it may be served, and the headers
   * its answer carries (none without a limit).
   */
  admit(pathname: string): { allowed: boolean; headers: Record<string, string> } {
    const now = this.now();
    this.requests.set(pathname, (this.requests.get(pathname) ?? 0) + 1);
    if (this.limit === null) return { allowed: true, headers: {} };
    if (now >= this.resetAtMs()) {
      // Fixed windows, back to back from the configuration.
      this.windowStart += Math.floor((now - this.windowStart) / this.windowMs) * this.windowMs;
      this.used = 0;
    }
    const allowed = this.used < this.limit;
    if (allowed) this.used += 1;
    const remaining = String(Math.max(0, this.limit - this.used));
    const headers: Record<string, string> = {
      "ratelimit-limit": String(this.limit),
      "ratelimit-remaining": remaining,
      "ratelimit-reset": String(Math.ceil(this.resetAtMs() / 1000)),
    };
    if (this.windowMs === 60_000) {
      // The Stacks service's per-minute window, only when the window is one.
      headers["x-ratelimit-cost-stacks"] = "1";
      headers["x-ratelimit-limit-stacks-minute"] = String(this.limit);
      headers["x-ratelimit-remaining-stacks-minute"] = remaining;
    }
    if (!allowed) headers["retry-after"] = String(Math.max(1, Math.ceil((this.resetAtMs() - now) / 1000)));
    return { allowed, headers };
  }
}

type Handle = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * `handle` behind the limiter: serves /_local/rate-limit itself, refuses a
 * request past the limit with 429, and adds the rate-limit headers to every
 * other answer (set on the response before `handle` writes its head, which
 * keeps them).
 */
export function withRateLimit(handle: Handle, limiter: RateLimiter = new RateLimiter()): Handle {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (/^\/_local\/rate-limit\/?$/.test(url.pathname)) {
      try {
        if (req.method === "POST") limiter.configure(parseJsonBody(rateLimitRequest, await readBody(req)));
        else if (req.method !== "GET") throw new HttpError(404, { error: `no route for ${req.method} ${url.pathname}` });
        answer(res, 200, limiter.state);
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        answer(res, error.status, error.body);
      }
      return;
    }
    if (url.pathname.startsWith("/_local/")) return await handle(req, res);
    const { allowed, headers } = limiter.admit(url.pathname);
    if (!allowed) {
      answer(res, 429, { error: "Too Many Requests" }, headers);
      return;
    }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    await handle(req, res);
  };
}
