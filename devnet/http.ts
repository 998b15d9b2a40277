/** A small router over node:http: JSON bodies parsed with zod, JSON answers, 404 for the rest. */
import type { IncomingMessage } from "node:http";

import { z } from "zod";

export type Reply = {
  status: number;
  /** serialized with JSON.stringify unless `text` is set */
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
};

export type RequestContext = {
  method: string;
  url: URL;
  /** capture groups of the route pattern, URI-decoded */
  params: string[];
  headers: IncomingMessage["headers"];
  body: Buffer;
};

export type Route = {
  method: "GET" | "POST";
  pattern: RegExp;
  handle: (ctx: RequestContext) => Reply | Promise<Reply>;
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === "object" && body && "error" in body ? String(body.error) : `HTTP ${status}`);
  }
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

export function badRequest(error: string): HttpError {
  return new HttpError(400, { error });
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

/** Parses a JSON request body with `schema`; an empty body parses as `{}`. */
export function parseJsonBody<S extends z.ZodType>(schema: S, body: Buffer): z.output<S> {
  let value: unknown = {};
  if (body.length > 0) {
    try {
      value = JSON.parse(body.toString("utf8"));
    } catch {
      throw badRequest("request body is not valid JSON");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(`invalid request body: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * A request a Stacks node cannot read: its text/plain 400 `Failed to decode: …`
 * (stacks-core `net/http/mod.rs`, `Error::DecodeError`), as POST /v2/transactions
 * and POST /v2/fees/transaction answer it.
 */
export function undecodable(message: string): Reply {
  return { status: 400, text: `Failed to decode: ${message}` };
}

/** Parses the query string with `schema` (single values only). */
export function parseQuery<S extends z.ZodType>(schema: S, url: URL): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams.entries()));
  if (!parsed.success) throw badRequest(`invalid query: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export function matchRoute(routes: Route[], method: string, pathname: string): { route: Route; params: string[] } | null {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(pathname);
    if (match) return { route, params: match.slice(1).map((p) => decodeURIComponent(p ?? "")) };
  }
  return null;
}

export const MAX_BODY_BYTES = 2 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, { error: "request body too large" });
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
