/**
 * A thin client for the Stacks node RPC and Hiro API endpoints the backend
 * uses. Every response is parsed with zod (chain/hiroSchemas.ts) before use.
 * Rate limits (429, honouring Retry-After), server errors (5xx), timeouts and
 * network failures are retried with exponential backoff and jitter; other
 * client errors are not. A wait longer than one backoff is not slept: the
 * client throws RateLimitedError and the job reschedules itself (README, "Rate
 * limits"); the same once the API's rate-limit headers leave less than a
 * reserve of requests (chain/rateBudget.ts). Works unchanged against the real
 * API and against the local simnet-backed server (devnet/), given a base URL
 * and optional API key.
 */
import { Cl, serializeCV, type ClarityValue } from "@stacks/transactions";
import type { z } from "zod";

import { PoolError, poolError } from "../domain/errors";
import {
  apiStatusSchema,
  blockSchema,
  broadcastAcceptedSchema,
  broadcastRejectionSchema,
  contractLogsPageSchema,
  coreInfoSchema,
  feeEstimateSchema,
  goneSchema,
  noncesSchema,
  placedTransactionListSchema,
  readOnlyResponseSchema,
  transactionListSchema,
  type PlacedTransactionInfo,
  type TransactionInfo,
} from "./hiroSchemas";
import type { ChainConfig } from "../config";
import { saysNoFeeEstimate, transferFeeRateSchema } from "./backendTransactions";
import { RateBudget, retryAfterMs } from "./rateBudget";

/** Transactions asked for per GET /extended/v1/tx/multiple request. */
const TX_LOOKUP_BATCH = 50;

/**
 * Routes as the API names them, for errors and alerts: one route is one
 * condition, whatever contract, page or transaction a request was for.
 */
const ROUTES = {
  contractLogs: "/extended/v2/smart-contracts/{contract_id}/logs",
  status: "/extended",
  txMultiple: "/extended/v1/tx/multiple",
  nonces: "/extended/v3/principals/{principal}/nonces",
  block: "/extended/v2/blocks/{height_or_hash}",
  callRead: "/v2/contracts/call-read/{address}/{contract}/{function}",
} as const;

export type HiroClientOptions = {
  baseUrl: string;
  apiKey?: string;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  timeoutMs?: number;
  baseDelayMs?: number;
  /** The longest backoff, and the longest wait slept inside one call: a longer one throws RateLimitedError. */
  maxDelayMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** The clock the rate-limit budget is read against (ms since the epoch). */
  now?: () => number;
};

export type ContractLogsPage = z.infer<typeof contractLogsPageSchema>;
/** A tip as a node or the API's indexer sees it. */
/** A Stacks block as the chain layer reads it: its height, both hashes, and the burn block its tenure is anchored to. */
export type ChainBlock = { height: bigint; hash: string; indexBlockHash: string; burnBlockHeight: bigint };

export type ChainTip = { stacksHeight: bigint; burnHeight: bigint };

/**
 * Transactions asked for per request by `getPlacedTransactions`: a full logs
 * page's worth (100, the route's largest page), in one request. A hundred
 * `tx_id=0x…` parameters make a URL of about 7.4 KB, inside the 8 KB request
 * line common servers accept.
 */
export const LOGS_PAGE_TXS = 100;

export type BroadcastResult =
  | { accepted: true; txid: string }
  | { accepted: false; reason: string; reasonData: unknown; message: string };

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/**
 * The API has switched a route off: it answers 410 Gone,
 * `{"error":"Gone","message":"This endpoint has been disabled. …"}`, to every
 * request, so retrying cannot help; the backend has to move to the route that
 * replaces it (README, "Chain integration"). A CHAIN_UNAVAILABLE error that
 * names the route, told apart so the crons can raise one `api-route-gone` alert.
 */
export class RouteGoneError extends PoolError {
  constructor(
    readonly route: string,
    readonly apiMessage: string | undefined,
  ) {
    super("CHAIN_UNAVAILABLE", `Stacks API route ${route} is switched off (410 Gone)${apiMessage ? `: ${apiMessage}` : ""}`);
  }
}

/** The switched-off route behind `error`, if that is what it is. */
export function routeGoneOf(error: unknown): RouteGoneError | null {
  return error instanceof RouteGoneError ? error : null;
}

async function routeGone(route: string, response: Response): Promise<RouteGoneError> {
  const body = goneSchema.safeParse(await response.json().catch(() => null));
  return new RouteGoneError(route, body.success ? body.data.message : undefined);
}

/**
 * The API asks for a longer wait than an action should sleep: a 429 whose
 * Retry-After (or, without one, whose rate-limit headers) is longer than one
 * backoff, or a budget with less than its reserve left (chain/rateBudget.ts).
 * A CHAIN_UNAVAILABLE error carrying the wait, so a cron can run again after
 * it instead of sleeping (README, "Rate limits").
 */
export class RateLimitedError extends PoolError {
  constructor(
    readonly route: string,
    readonly retryAfterMs: number,
    why: "429" | "budget",
  ) {
    super(
      "CHAIN_UNAVAILABLE",
      why === "429"
        ? `Stacks API rate limit: ${route} answered 429, retry in ${Math.ceil(retryAfterMs / 1000)} s`
        : `Stacks API rate limit: less than the reserve left, ${route} held back for ${Math.ceil(retryAfterMs / 1000)} s`,
    );
  }
}

/** The rate limit behind `error`, if that is what it is. */
export function rateLimitedOf(error: unknown): RateLimitedError | null {
  return error instanceof RateLimitedError ? error : null;
}

/**
 * Requests that go out whatever the budget: the reserve is kept for them. A
 * broadcast is a transaction already signed with its nonce; holding it back
 * would leave the nonce unused and every later transaction behind it.
 */
function isEssential(path: string, init: RequestInit): boolean {
  return init.method === "POST" && /^\/v2\/transactions\/?$/.test(path);
}

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly rateLimited = false,
  ) {
    super(message);
  }
}

export class HiroClient {
  private readonly baseUrl: string;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  /** What the API's rate-limit headers left, over every answer this client has had. */
  readonly budget = new RateBudget();

  constructor(private readonly options: HiroClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.maxAttempts = options.maxAttempts ?? 5;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
  }

  /** One attempt: the response, or why it is worth another. */
  private async attempt(path: string, init: RequestInit, headers: Headers): Promise<Response | Retryable> {
    try {
      const response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        ...init,
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const now = this.now();
      this.budget.observe(response.headers, now);
      if (!RETRYABLE_STATUS.has(response.status)) return response;
      const retryAfter = retryAfterMs(response.headers, now) ?? undefined;
      if (response.status !== 429) return new Retryable(`${path} answered ${response.status}`, retryAfter);
      // A 429 without Retry-After still says in its rate-limit headers when the window resets.
      return new Retryable(`${path} answered 429`, retryAfter ?? (this.budget.waitMs(now) || undefined), true);
    } catch (error) {
      return new Retryable(`${path} failed: ${(error as Error).name}`);
    }
  }

  /**
   * Waits until the budget allows a non-essential request: in the action when
   * the wait is short, else by throwing RateLimitedError for the job to run
   * again later (README, "Rate limits").
   */
  private async waitForBudget(route: string): Promise<void> {
    const wait = this.budget.waitMs(this.now());
    if (wait === 0) return;
    if (wait > this.maxDelayMs) throw new RateLimitedError(route, wait, "budget");
    await this.sleep(wait);
  }

  /**
   * One request with retries; returns the response of the last attempt that
   * was not retryable. A 410 (the route is switched off) throws RouteGoneError,
   * naming `route` (by default the path without its query); a 429 asking for a
   * longer wait than one backoff throws RateLimitedError at once.
   */
  private async request(path: string, init: RequestInit = {}, route: string = path.split("?")[0] ?? path): Promise<Response> {
    const headers = new Headers(init.headers);
    // The API key lifts the anonymous per-IP limit (README, "Rate limits").
    if (this.options.apiKey) headers.set("x-api-key", this.options.apiKey);
    const essential = isEssential(path, init);
    let lastError: Retryable | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (!essential) await this.waitForBudget(route);
      const outcome = await this.attempt(path, init, headers);
      if (outcome instanceof Response) {
        if (outcome.status === 410) throw await routeGone(route, outcome);
        return outcome;
      }
      lastError = outcome;
      // Sleeping out a long Retry-After would hold the action (and its cron) for nothing.
      if (outcome.rateLimited && outcome.retryAfterMs !== undefined && outcome.retryAfterMs > this.maxDelayMs) {
        throw new RateLimitedError(route, outcome.retryAfterMs, "429");
      }
      if (attempt < this.maxAttempts) {
        const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await this.sleep(Math.min(this.maxDelayMs, lastError.retryAfterMs ?? jittered));
      }
    }
    throw poolError("CHAIN_UNAVAILABLE", `Stacks API unavailable after ${this.maxAttempts} attempts: ${lastError?.message}`);
  }

  private async json<S extends z.ZodType>(schema: S, path: string, init?: RequestInit, route?: string): Promise<z.infer<S>> {
    const response = await this.request(path, init, route);
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} answered ${response.status}`);
    return parse(schema, await response.json(), route ?? path);
  }

  async getTipHeight(): Promise<bigint> {
    return BigInt((await this.json(coreInfoSchema, "/v2/info")).stacks_tip_height);
  }

  /** The node's tip (GET /v2/info): its Stacks block height and its burn block height. */
  async getNodeTip(): Promise<ChainTip> {
    const info = await this.json(coreInfoSchema, "/v2/info");
    return { stacksHeight: BigInt(info.stacks_tip_height), burnHeight: BigInt(info.burn_block_height) };
  }

  /**
   * The block the API's indexer has reached (GET /extended, `chain_tip`),
   * which may lag the node's tip: every /extended/* answer is as of it.
   * Null while the API has indexed nothing.
   */
  async getIndexerTip(): Promise<ChainTip | null> {
    const tip = (await this.json(apiStatusSchema, "/extended", undefined, ROUTES.status)).chain_tip;
    return tip ? { stacksHeight: BigInt(tip.block_height), burnHeight: BigInt(tip.burn_block_height) } : null;
  }

  /**
   * One page of a contract's print logs, newest first
   * (GET /extended/v2/smart-contracts/{id}/logs; README "Chain integration"):
   * up to `limit` (at most 100) rows at or below `cursor` — or below the
   * newest row — after skipping `offset` of them. Null for the API's 404
   * "Cursor not found": a cursor was given and nothing is at or below it.
   */
  async getContractLogs(contractId: string, page: { limit: number; cursor?: string; offset?: number }): Promise<ContractLogsPage | null> {
    const query = new URLSearchParams({ limit: String(page.limit) });
    if (page.cursor !== undefined) query.set("cursor", page.cursor);
    if (page.offset) query.set("offset", String(page.offset));
    const path = `/extended/v2/smart-contracts/${contractId}/logs?${query}`;
    const response = await this.request(path, {}, ROUTES.contractLogs);
    if (response.status === 404 && page.cursor !== undefined) {
      const body = goneSchema.safeParse(await response.json().catch(() => null));
      if (body.success && body.data.message === "Cursor not found") return null;
    }
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${ROUTES.contractLogs} answered ${response.status}`);
    return parse(contractLogsPageSchema, await response.json(), ROUTES.contractLogs);
  }

  /**
   * Transactions with their whole place on the chain (block, burn block,
   * position in the block), `LOGS_PAGE_TXS` per GET /extended/v1/tx/multiple
   * request: one request for the transactions of a full logs page. A txid the
   * API does not know maps to null.
   */
  async getPlacedTransactions(txids: readonly string[]): Promise<Map<string, PlacedTransactionInfo | null>> {
    return await this.lookUpTransactions(placedTransactionListSchema, txids, LOGS_PAGE_TXS);
  }

  /**
   * A transaction's status; null when the API does not know it (never seen,
   * or long dropped). Asked through GET /extended/v1/tx/multiple, the route
   * lists use: GET /extended/v1/tx/{tx_id} is deprecated and may be switched off.
   */
  async getTransaction(txid: string): Promise<TransactionInfo | null> {
    return (await this.getTransactions([txid])).get(txid) ?? null;
  }

  /**
   * Several transactions in one request (GET /extended/v1/tx/multiple),
   * `BATCH` at a time; a txid the API does not know maps to null.
   */
  async getTransactions(txids: readonly string[]): Promise<Map<string, TransactionInfo | null>> {
    return await this.lookUpTransactions(transactionListSchema, txids, TX_LOOKUP_BATCH);
  }

  /**
   * GET /extended/v1/tx/multiple, `batchSize` txids a request. `event_limit=1`:
   * the backend reads no transaction's events (they come from the logs), and
   * the API sends 20 of each unless asked (0 also means 20).
   */
  private async lookUpTransactions<T>(
    schema: z.ZodType<Record<string, { found: true; result: T } | { found: false; result: { tx_id: string } }>>,
    txids: readonly string[],
    batchSize: number,
  ): Promise<Map<string, T | null>> {
    const found = new Map<string, T | null>();
    for (let i = 0; i < txids.length; i += batchSize) {
      const batch = txids.slice(i, i + batchSize);
      const query = batch.map((txid) => `tx_id=${encodeURIComponent(txid)}`).join("&");
      const list = await this.json(schema, `/extended/v1/tx/multiple?${query}&event_limit=1`, undefined, ROUTES.txMultiple);
      for (const txid of batch) {
        const entry = list[txid] ?? list[txid.toLowerCase()];
        found.set(txid, entry?.found ? entry.result : null);
      }
    }
    return found;
  }

  /** The canonical block at `height` (GET /extended/v2/blocks/{height}); null where the API has none. */
  async getBlock(height: bigint): Promise<ChainBlock | null> {
    const response = await this.request(`/extended/v2/blocks/${height}`, {}, ROUTES.block);
    if (response.status === 404) return null;
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API block ${height} answered ${response.status}`);
    const block = parse(blockSchema, await response.json(), `block ${height}`);
    return { height: BigInt(block.height), hash: block.hash, indexBlockHash: block.index_block_hash, burnBlockHeight: BigInt(block.burn_block_height) };
  }

  /** The nonce for `address`'s next transaction, confirmed and mempool nonces counted (the v1 nonces route is deprecated). */
  async getNextNonce(address: string): Promise<bigint> {
    const body = await this.json(noncesSchema, `/extended/v3/principals/${address}/nonces`, undefined, ROUTES.nonces);
    return BigInt(body.next_nonce);
  }

  /**
   * Fee estimates (low, medium, high) in micro-STX for a serialized payload;
   * null when the node has none to give — no cost samples yet for the called
   * function (400 NoEstimateAvailable) or no estimator at all (400 "Fee
   * estimation not supported on this node"). README, "Chain integration".
   */
  async estimateFees(payloadHex: string, estimatedLength: number): Promise<bigint[] | null> {
    const path = "/v2/fees/transaction";
    const response = await this.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transaction_payload: payloadHex, estimated_len: estimatedLength }),
    });
    if (response.status === 400 && saysNoFeeEstimate(await response.text())) return null;
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} answered ${response.status}`);
    const body = parse(feeEstimateSchema, await response.json().catch(() => null), path);
    return body.estimations.map((e) => BigInt(Math.ceil(e.fee)));
  }

  /**
   * The node's fee rate for an STX transfer, in micro-STX per byte (GET
   * /v2/fees/transfer, a bare JSON integer); null when the node has no
   * estimate for it either (the same 400 as `estimateFees`).
   */
  async getTransferFeeRate(): Promise<bigint | null> {
    const path = "/v2/fees/transfer";
    const response = await this.request(path);
    if (response.status === 400 && saysNoFeeEstimate(await response.text())) return null;
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} answered ${response.status}`);
    return BigInt(parse(transferFeeRateSchema, await response.json().catch(() => null), path));
  }

  async broadcast(transactionBytes: Uint8Array): Promise<BroadcastResult> {
    const response = await this.request("/v2/transactions", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(transactionBytes).buffer as ArrayBuffer,
    });
    const text = await response.text().catch(() => "");
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      // A text/plain refusal, or a body cut short; handled below.
    }
    if (response.ok) {
      const txid = parse(broadcastAcceptedSchema, body, "broadcast");
      return { accepted: true, txid: txid.startsWith("0x") ? txid : `0x${txid}` };
    }
    if (response.status === 400) {
      const rejection = broadcastRejectionSchema.safeParse(body);
      if (rejection.success) {
        return {
          accepted: false,
          reason: rejection.data.reason ?? "Unknown",
          reasonData: rejection.data.reason_data,
          message: rejection.data.error,
        };
      }
      // The node answers a mempool refusal as JSON, but a request it could not read at all as
      // text/plain ("Failed to decode: ..."): still a refusal of this transaction, not an outage.
      // README, "Chain integration". The text is kept short: it ends up in the row and its alert.
      const maxLength = 300;
      const message = text.trim();
      return {
        accepted: false,
        reason: "Unparseable",
        reasonData: undefined,
        message: message.length > maxLength ? `${message.slice(0, maxLength - 1)}…` : message,
      };
    }
    throw poolError("CHAIN_UNAVAILABLE", `broadcast answered ${response.status}`);
  }

  /**
   * A read-only call's result as the node returns it: the hex of a Clarity
   * value, for chain/vault.ts to parse exactly. `sender` (tx-sender during the
   * call) defaults to the contract's own deployer.
   */
  async callReadOnlyHex(contractId: string, functionName: string, args: ClarityValue[] = [], sender?: string): Promise<string> {
    const [address, name] = contractId.split(".");
    sender ??= address;
    const body = await this.json(
      readOnlyResponseSchema,
      `/v2/contracts/call-read/${address}/${name}/${functionName}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sender, arguments: args.map((arg) => `0x${serializeCV(arg)}`) }),
      },
      ROUTES.callRead,
    );
    if (!body.okay) throw poolError("CHAIN_UNAVAILABLE", `read-only ${functionName} failed: ${body.cause}`);
    return body.result;
  }

  /** A read-only call's result, deserialized. */
  async callReadOnly(contractId: string, functionName: string, args: ClarityValue[] = [], sender?: string): Promise<ClarityValue> {
    return Cl.deserialize(await this.callReadOnlyHex(contractId, functionName, args, sender));
  }
}

/** Issues shown in an error message, at most: enough to see what broke, not the whole answer. */
const ISSUES_SHOWN = 3;

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, ISSUES_SHOWN).map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
    const more = parsed.error.issues.length > ISSUES_SHOWN ? `; and ${parsed.error.issues.length - ISSUES_SHOWN} more` : "";
    throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${what} answered an unexpected shape (${issues.join("; ")}${more})`);
  }
  return parsed.data;
}

/** A client for the configured API; interactive paths ask for fewer attempts so a user is not kept waiting. */
export function hiroClientFor(config: Pick<ChainConfig, "apiUrl" | "apiKey">, options: { maxAttempts?: number } = {}): HiroClient {
  return new HiroClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, ...options });
}
