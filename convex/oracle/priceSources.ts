/**
 * Price sources: HTTP endpoints answering BTC/USD and STX/USD, each with the
 * zod schema of its response. The list and base URLs come from the
 * environment (`ORACLE_SOURCES`, JSON), never from code, so a deployment picks
 * its providers and a test points them at a local fixture server.
 *
 *   ORACLE_SOURCES='[{"name":"coingecko","kind":"coingecko","baseUrl":"https://api.coingecko.com"}, …]'
 *
 * Strings are parsed as exact decimals. Numbers in JSON answers have already
 * been read as doubles by `response.json()`; they are taken from their
 * shortest decimal text, exact to about 15 significant digits (every real
 * BTC or STX price), and never go through arithmetic of ours.
 */
import { z } from "zod";

import { parseUsdDecimal, type PriceAnswer } from "../domain/prices";

export type Asset = "BTC" | "STX";

const decimal = z.union([z.string(), z.number().nonnegative().transform((n) => String(n))]);

/** What each kind of source is asked, and how its answer is read. */
const KINDS = {
  /** CoinGecko simple price: /api/v3/simple/price?ids=bitcoin,blockstack&vs_currencies=usd&include_last_updated_at=true */
  coingecko: {
    path: () => "/api/v3/simple/price?ids=bitcoin,blockstack&vs_currencies=usd&include_last_updated_at=true",
    schema: z.object({
      bitcoin: z.object({ usd: decimal, last_updated_at: z.number().int().optional() }),
      blockstack: z.object({ usd: decimal, last_updated_at: z.number().int().optional() }),
    }),
    read: (body: unknown, asset: Asset, fetchedAt: number) => {
      const parsed = KINDS.coingecko.schema.parse(body);
      const entry = asset === "BTC" ? parsed.bitcoin : parsed.blockstack;
      return { price: entry.usd, observedAt: entry.last_updated_at ? entry.last_updated_at * 1000 : fetchedAt };
    },
  },
  /** Coinbase spot: /v2/prices/BTC-USD/spot → { data: { amount: "67000.01" } } */
  coinbase: {
    path: (asset: Asset) => `/v2/prices/${asset}-USD/spot`,
    schema: z.object({ data: z.object({ amount: decimal, base: z.string(), currency: z.literal("USD") }) }),
    read: (body: unknown, asset: Asset, fetchedAt: number) => {
      const parsed = KINDS.coinbase.schema.parse(body);
      if (parsed.data.base !== asset) throw new Error(`answer is for ${parsed.data.base}, not ${asset}`);
      return { price: parsed.data.amount, observedAt: fetchedAt };
    },
  },
  /** A plain JSON feed: /price/{asset} → { asset, priceUsd: "…", timestamp (ms) } — e.g. an internal price service. */
  json: {
    path: (asset: Asset) => `/price/${asset}`,
    schema: z.object({ asset: z.enum(["BTC", "STX"]), priceUsd: decimal, timestamp: z.number().int().nonnegative() }),
    read: (body: unknown, asset: Asset) => {
      const parsed = KINDS.json.schema.parse(body);
      if (parsed.asset !== asset) throw new Error(`answer is for ${parsed.asset}, not ${asset}`);
      return { price: parsed.priceUsd, observedAt: parsed.timestamp };
    },
  },
} as const;

export const sourceConfigSchema = z.object({
  name: z.string().min(1),
  kind: z.enum(["coingecko", "coinbase", "json"]),
  baseUrl: z.url(),
  apiKeyHeader: z.string().optional(),
  apiKey: z.string().optional(),
});
export type SourceConfig = z.infer<typeof sourceConfigSchema>;

export const sourcesSchema = z.array(sourceConfigSchema).min(1);

export type SourceOutcome = { source: string; asset: Asset } & (
  | { ok: true; answer: PriceAnswer }
  | { ok: false; error: string }
);

const TIMEOUT_MS = 5_000;

/** Asks one source for one asset; every failure becomes an outcome, never a throw. */
export async function askSource(
  source: SourceConfig,
  asset: Asset,
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
): Promise<SourceOutcome> {
  const kind = KINDS[source.kind];
  const headers: Record<string, string> = { accept: "application/json" };
  if (source.apiKeyHeader && source.apiKey) headers[source.apiKeyHeader] = source.apiKey;
  try {
    const response = await fetchImpl(`${source.baseUrl.replace(/\/+$/, "")}${kind.path(asset)}`, {
      headers,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!response.ok) return { source: source.name, asset, ok: false, error: `HTTP ${response.status}` };
    const fetchedAt = Date.now();
    const { price, observedAt } = kind.read(await response.json(), asset, fetchedAt);
    return { source: source.name, asset, ok: true, answer: { source: source.name, priceUsd: parseUsdDecimal(price), observedAt } };
  } catch (error) {
    const reason = error instanceof z.ZodError ? "malformed answer" : (error as Error).name === "TimeoutError" ? "timeout" : (error as Error).message;
    return { source: source.name, asset, ok: false, error: reason };
  }
}
