/**
 * A thin client for the Stacks node RPC and Hiro API endpoints the backend
 * uses. Every response is parsed with zod (chain/hiroSchemas.ts) before use.
 * Rate limits (429, honouring Retry-After), server errors (5xx), timeouts and
 * network failures are retried with exponential backoff and jitter; other
 * client errors are not. Works unchanged against the real API and against the
 * local simnet-backed server (devnet/), given a base URL and optional API key.
 */
import { Cl, serializeCV, type ClarityValue } from "@stacks/transactions";
import type { z } from "zod";

import { poolError } from "../domain/errors";
import {
  blockSchema,
  broadcastAcceptedSchema,
  broadcastRejectionSchema,
  contractEventsPageSchema,
  coreInfoSchema,
  feeEstimateSchema,
  noncesSchema,
  readOnlyResponseSchema,
  smartContractLogSchema,
  transactionListSchema,
  transactionSchema,
  type TransactionInfo,
} from "./hiroSchemas";
import type { ChainConfig } from "../config";

/** Transactions asked for per GET /extended/v1/tx/multiple request. */
const TX_LOOKUP_BATCH = 50;

export type HiroClientOptions = {
  baseUrl: string;
  apiKey?: string;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  timeoutMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
};

export type SmartContractLog = z.infer<typeof smartContractLogSchema>;

export type BroadcastResult =
  | { accepted: true; txid: string }
  | { accepted: false; reason: string; reasonData: unknown; message: string };

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
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

  constructor(private readonly options: HiroClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.maxAttempts = options.maxAttempts ?? 5;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** One request with retries; returns the response of the last attempt that was not retryable. */
  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.options.apiKey) headers.set("x-api-key", this.options.apiKey);
    let lastError: Retryable | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        const response = await this.fetchImpl(`${this.baseUrl}${path}`, {
          ...init,
          headers,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (!RETRYABLE_STATUS.has(response.status)) return response;
        const retryAfter = Number(response.headers.get("retry-after"));
        lastError = new Retryable(
          `${path} answered ${response.status}`,
          Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
        );
      } catch (error) {
        lastError = new Retryable(`${path} failed: ${(error as Error).name}`);
      }
      if (attempt < this.maxAttempts) {
        const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await this.sleep(Math.min(this.maxDelayMs, lastError.retryAfterMs ?? jittered));
      }
    }
    throw poolError("CHAIN_UNAVAILABLE", `Stacks API unavailable after ${this.maxAttempts} attempts: ${lastError?.message}`);
  }

  private async json<S extends z.ZodType>(schema: S, path: string, init?: RequestInit): Promise<z.infer<S>> {
    const response = await this.request(path, init);
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} answered ${response.status}`);
    return parse(schema, await response.json(), path);
  }

  async getTipHeight(): Promise<bigint> {
    return BigInt((await this.json(coreInfoSchema, "/v2/info")).stacks_tip_height);
  }

  /** One page of a contract's print events (newest first, as the Hiro API orders them). */
  async getContractEvents(contractId: string, page: { limit: number; offset: number }) {
    const body = await this.json(
      contractEventsPageSchema,
      `/extended/v1/contract/${contractId}/events?limit=${page.limit}&offset=${page.offset}`,
    );
    const logs = body.results.filter((r): r is SmartContractLog => r.event_type === "smart_contract_log");
    return { limit: body.limit, offset: body.offset, count: body.results.length, logs };
  }

  /** A transaction's status; null when the API does not know it (never seen, or long dropped). */
  async getTransaction(txid: string): Promise<TransactionInfo | null> {
    const response = await this.request(`/extended/v1/tx/${txid}`);
    if (response.status === 404) return null;
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API tx ${txid} answered ${response.status}`);
    return parse(transactionSchema, await response.json(), `tx ${txid}`);
  }

  /**
   * Several transactions in one request (GET /extended/v1/tx/multiple),
   * `BATCH` at a time; a txid the API does not know maps to null.
   */
  async getTransactions(txids: readonly string[]): Promise<Map<string, TransactionInfo | null>> {
    const found = new Map<string, TransactionInfo | null>();
    for (let i = 0; i < txids.length; i += TX_LOOKUP_BATCH) {
      const batch = txids.slice(i, i + TX_LOOKUP_BATCH);
      const query = batch.map((txid) => `tx_id=${encodeURIComponent(txid)}`).join("&");
      const list = await this.json(transactionListSchema, `/extended/v1/tx/multiple?${query}`);
      for (const txid of batch) {
        const entry = list[txid] ?? list[txid.toLowerCase()];
        found.set(txid, entry?.found ? entry.result : null);
      }
    }
    return found;
  }

  async getBlock(height: bigint) {
    const response = await this.request(`/extended/v2/blocks/${height}`);
    if (response.status === 404) return null;
    if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API block ${height} answered ${response.status}`);
    return parse(blockSchema, await response.json(), `block ${height}`);
  }

  async getNextNonce(address: string): Promise<bigint> {
    const body = await this.json(noncesSchema, `/extended/v1/address/${address}/nonces`);
    return BigInt(body.possible_next_nonce);
  }

  /** Fee estimates (low, medium, high) in micro-STX for a serialized payload. */
  async estimateFees(payloadHex: string, estimatedLength: number): Promise<bigint[]> {
    const body = await this.json(feeEstimateSchema, "/v2/fees/transaction", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transaction_payload: payloadHex, estimated_len: estimatedLength }),
    });
    return body.estimations.map((e) => BigInt(Math.ceil(e.fee)));
  }

  async broadcast(transactionBytes: Uint8Array): Promise<BroadcastResult> {
    const response = await this.request("/v2/transactions", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(transactionBytes).buffer as ArrayBuffer,
    });
    const body: unknown = await response.json().catch(() => null);
    if (response.ok) {
      const txid = parse(broadcastAcceptedSchema, body, "broadcast");
      return { accepted: true, txid: txid.startsWith("0x") ? txid : `0x${txid}` };
    }
    if (response.status === 400) {
      const rejection = parse(broadcastRejectionSchema, body, "broadcast rejection");
      return {
        accepted: false,
        reason: rejection.reason ?? "Unknown",
        reasonData: rejection.reason_data,
        message: rejection.error,
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
    const body = await this.json(readOnlyResponseSchema, `/v2/contracts/call-read/${address}/${name}/${functionName}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sender, arguments: args.map((arg) => `0x${serializeCV(arg)}`) }),
    });
    if (!body.okay) throw poolError("CHAIN_UNAVAILABLE", `read-only ${functionName} failed: ${body.cause}`);
    return body.result;
  }

  /** A read-only call's result, deserialized. */
  async callReadOnly(contractId: string, functionName: string, args: ClarityValue[] = [], sender?: string): Promise<ClarityValue> {
    return Cl.deserialize(await this.callReadOnlyHex(contractId, functionName, args, sender));
  }
}

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${what} answered an unexpected shape`);
  return parsed.data;
}

/** A client for the configured API; interactive paths ask for fewer attempts so a user is not kept waiting. */
export function hiroClientFor(config: Pick<ChainConfig, "apiUrl" | "apiKey">, options: { maxAttempts?: number } = {}): HiroClient {
  return new HiroClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, ...options });
}
