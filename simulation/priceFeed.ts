/**
 * A local price feed on 127.0.0.1: several price sources of the oracle's
 * "json" kind behind one HTTP server, each under its own path prefix
 * (`/<source>/price/{BTC|STX}` → `{ asset, priceUsd: "…", timestamp }`), so
 * the backend's real oracle code path — HTTP, zod, exact decimals, median,
 * spread — runs against the scenario's prices.
 *
 * Each source quotes the scenario's price moved by its own small skew (a few
 * basis points), the way real exchanges disagree slightly, well inside the
 * oracle's allowed spread.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { Rng } from "./rng";

export type Prices = { btcUsd: bigint; stxUsd: bigint };

export type PriceSourceConfig = { name: string; kind: "json"; baseUrl: string };

export type PriceFeed = {
  /** For ORACLE_SOURCES. */
  sources: PriceSourceConfig[];
  /** The scenario's current prices (USD with 8 decimals); each source quotes them with its skew. */
  setPrices(prices: Prices): void;
  /** Requests answered so far. */
  requests(): number;
  close(): Promise<void>;
};

const PRICE_SCALE = 100_000_000n;

/** USD with 8 decimals as the decimal text the json kind serves. */
export function usdText(value: bigint): string {
  const whole = value / PRICE_SCALE;
  const fraction = (value % PRICE_SCALE).toString().padStart(8, "0");
  return `${whole}.${fraction}`;
}

export async function startPriceFeed(rng: Rng, sourceCount = 3): Promise<PriceFeed> {
  const names = Array.from({ length: sourceCount }, (_, i) => `feed-${String.fromCharCode(97 + i)}`);
  // Skews in basis points, e.g. −4..+4: the median and spread checks have something to do.
  const skewBps = new Map(names.map((name) => [name, BigInt(rng.int(-4, 4))]));
  let current: Prices | null = null;
  let served = 0;

  const server: Server = createServer((req, res) => {
    const match = /^\/(feed-[a-z])\/price\/(BTC|STX)$/.exec(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    const skew = match ? skewBps.get(match[1] as string) : undefined;
    if (req.method !== "GET" || !match || skew === undefined || current === null) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "no such price" }));
      return;
    }
    served++;
    const asset = match[2] as "BTC" | "STX";
    const base = asset === "BTC" ? current.btcUsd : current.stxUsd;
    const quoted = base + (base * skew) / 10_000n;
    const body = JSON.stringify({ asset, priceUsd: usdText(quoted), timestamp: Date.now() });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    sources: names.map((name) => ({ name, kind: "json", baseUrl: `${url}/${name}` })),
    setPrices: (prices) => {
      current = { ...prices };
    },
    requests: () => served,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
