/**
 * The price oracle against a local HTTP fixture server, over real HTTP: the
 * three kinds of source in convex/oracle/priceSources.ts (CoinGecko simple
 * price, Coinbase spot, the plain JSON feed) are imitated on 127.0.0.1 under
 * their own path prefixes, and the oracle is pointed at them through the
 * environment (ORACLE_SOURCES and the ORACLE_* rules), as a deployment is.
 *
 * Each case runs `internal.oracle.refreshPrices` in convex-test, then reads
 * `internal.oracle.getCurrentPrices` and the `oraclePrices` / `alerts` tables.
 *
 * Only `Date` is faked (so `observedAt` and ages are exact); sockets and the
 * client's 5 s timeout run on real timers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { convexTest } from "convex-test";
import { ConvexError } from "convex/values";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import schema from "../../convex/schema";

const modules = import.meta.glob(["../../convex/**/*.ts", "../../convex/**/*.js", "!../../convex/**/*.d.ts"]);

type Asset = "BTC" | "STX";
type Kind = "coingecko" | "coinbase" | "json";

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const NOW_SECONDS = NOW / 1000;
const MAX_AGE_MS = 120_000;

// ---------------------------------------------------------------------------
// The fixture server
// ---------------------------------------------------------------------------

/** What the fixture answers one request with. `body` is sent as JSON unless `raw` is given. */
type Reply = { status?: number; body?: unknown; raw?: string; contentType?: string; delayMs?: number };
/** Answers a request under one source's prefix; `asset` is undefined for CoinGecko (one answer holds both). */
type Route = (asset: Asset | undefined, pathAndQuery: string) => Reply;

let server: Server;
let origin: string;
const routes = new Map<string, Route>();
const requests: string[] = [];
const headers: Record<string, string | string[] | undefined>[] = [];
const pending = new Set<NodeJS.Timeout>();

function handle(request: IncomingMessage, response: ServerResponse): void {
  const url = request.url ?? "/";
  requests.push(url);
  headers.push(request.headers);
  const [, prefix = "", ...rest] = url.split("/");
  const pathAndQuery = `/${rest.join("/")}`;
  const route = routes.get(prefix);
  const asset = /(?:\/v2\/prices\/|\/price\/)(BTC|STX)\b/.exec(pathAndQuery)?.[1] as Asset | undefined;
  const reply: Reply = route ? route(asset, pathAndQuery) : { status: 404, body: { error: "no such source" } };
  const send = () => {
    pending.delete(timer);
    const text = reply.raw ?? JSON.stringify(reply.body);
    response.writeHead(reply.status ?? 200, { "content-type": reply.contentType ?? "application/json" });
    response.end(text);
  };
  const timer = setTimeout(send, reply.delayMs ?? 0);
  pending.add(timer);
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const timer of pending) clearTimeout(timer);
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  routes.clear();
  requests.length = 0;
  headers.length = 0;
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

// ---------------------------------------------------------------------------
// Sources and answers
// ---------------------------------------------------------------------------

type Source = { name: string; kind: Kind; route: Route; apiKeyHeader?: string; apiKey?: string };

/** Registers the sources on the fixture server and configures the oracle to ask them, in this order. */
function configure(sources: Source[], rules: { minSources?: number; maxSpreadBps?: number } = {}): void {
  for (const source of sources) routes.set(source.name, source.route);
  vi.stubEnv(
    "ORACLE_SOURCES",
    JSON.stringify(
      sources.map(({ name, kind, apiKeyHeader, apiKey }) => ({ name, kind, baseUrl: `${origin}/${name}`, apiKeyHeader, apiKey })),
    ),
  );
  vi.stubEnv("ORACLE_MIN_SOURCES", String(rules.minSources ?? 2));
  vi.stubEnv("ORACLE_MAX_AGE_MS", String(MAX_AGE_MS));
  vi.stubEnv("ORACLE_MAX_SPREAD_BPS", String(rules.maxSpreadBps ?? 200));
}

type Price = string | number;

/** CoinGecko simple price: both assets in one answer, `last_updated_at` in seconds. */
function coingecko(name: string, btc: Price, stx: Price, updatedAt: number | undefined = NOW_SECONDS - 30): Source {
  const entry = (usd: Price) => (updatedAt === undefined ? { usd } : { usd, last_updated_at: updatedAt });
  return { name, kind: "coingecko", route: () => ({ body: { bitcoin: entry(btc), blockstack: entry(stx) } }) };
}

/** Coinbase spot: one asset per request, no timestamp (the oracle uses the time it fetched). */
function coinbase(name: string, prices: Record<Asset, Price>): Source {
  return {
    name,
    kind: "coinbase",
    route: (asset) => ({ body: { data: { amount: prices[asset!], base: asset, currency: "USD" } } }),
  };
}

/** The plain JSON feed: one asset per request, `timestamp` in ms. */
function feed(name: string, prices: Record<Asset, Price>, timestamp = NOW - 5_000): Source {
  return { name, kind: "json", route: (asset) => ({ body: { asset, priceUsd: prices[asset!], timestamp } }) };
}

/** A source of `kind` answering every request with `reply`. */
function answering(name: string, kind: Kind, reply: Route): Source {
  return { name, kind, route: reply };
}

const GOOD_STX = { coingecko: "1.8523", coinbase: "1.85", feed: "1.8601" } as const;

// ---------------------------------------------------------------------------
// Reading the outcome
// ---------------------------------------------------------------------------

function newBackend() {
  return convexTest(schema, modules);
}
type Backend = ReturnType<typeof newBackend>;

async function refresh(t: Backend) {
  return await t.action(internal.oracle.refreshPrices, {});
}

async function priceRows(t: Backend, asset?: Asset) {
  const rows = await t.run(async (ctx) => ctx.db.query("oraclePrices").collect());
  return rows
    .filter((r) => asset === undefined || r.asset === asset)
    .map(({ asset: a, source, priceUsd, observedAt }) => ({ asset: a, source, priceUsd, observedAt }));
}

async function alerts(t: Backend) {
  const rows = await t.run(async (ctx) => ctx.db.query("alerts").collect());
  return rows.map(({ kind, message }) => ({ kind, message }));
}

async function currentPrices(t: Backend) {
  return await t.query(internal.oracle.getCurrentPrices, {});
}

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

describe("refreshPrices against three good sources", () => {
  it("stores each source's answer under its name and the exact median of the three", async () => {
    configure([
      coingecko("gecko", 67012.5, 1.8523),
      coinbase("base", { BTC: "67010.00", STX: GOOD_STX.coinbase }),
      feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed }),
    ]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });

    expect(await priceRows(t)).toEqual([
      // Per-source answers, each asset in source order, then the medians.
      { asset: "BTC", source: "gecko", priceUsd: 6_701_250_000_000n, observedAt: NOW - 30_000 },
      { asset: "BTC", source: "base", priceUsd: 6_701_000_000_000n, observedAt: NOW },
      { asset: "BTC", source: "feed", priceUsd: 6_702_025_000_000n, observedAt: NOW - 5_000 },
      { asset: "STX", source: "gecko", priceUsd: 185_230_000n, observedAt: NOW - 30_000 },
      { asset: "STX", source: "base", priceUsd: 185_000_000n, observedAt: NOW },
      { asset: "STX", source: "feed", priceUsd: 186_010_000n, observedAt: NOW - 5_000 },
      { asset: "BTC", source: "median", priceUsd: 6_701_250_000_000n, observedAt: NOW },
      { asset: "STX", source: "median", priceUsd: 185_230_000n, observedAt: NOW },
    ]);
    expect(await currentPrices(t)).toEqual({
      available: true,
      btcUsd: 6_701_250_000_000n,
      stxUsd: 185_230_000n,
      observedAt: NOW,
    });
    expect(await alerts(t)).toEqual([]);

    // Each source was asked at its documented path (CoinGecko once per asset).
    expect([...requests].sort()).toEqual(
      [
        "/gecko/api/v3/simple/price?ids=bitcoin,blockstack&vs_currencies=usd&include_last_updated_at=true",
        "/gecko/api/v3/simple/price?ids=bitcoin,blockstack&vs_currencies=usd&include_last_updated_at=true",
        "/base/v2/prices/BTC-USD/spot",
        "/base/v2/prices/STX-USD/spot",
        "/feed/price/BTC",
        "/feed/price/STX",
      ].sort(),
    );
  });
});

describe("disagreeing sources", () => {
  it("one outlier among three beyond the spread refuses the price: no median, an alert, the answers kept", async () => {
    configure([
      coingecko("gecko", 67000, 1.8523),
      coinbase("base", { BTC: "67010", STX: GOOD_STX.coinbase }),
      feed("feed", { BTC: "70000", STX: GOOD_STX.feed }),
    ]);
    const t = newBackend();

    // Median 67,010; (70,000 − 67,000) / 67,010 = 447.69… bps, rounded up: 448 > 200.
    // The rule refuses on max − min; it does not drop the lone outlier although the other two agree.
    expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: "BTC/USD is unavailable: sources disagree by 448 bps (max 200)" },
    ]);
    expect(await priceRows(t, "BTC")).toEqual([
      { asset: "BTC", source: "gecko", priceUsd: 6_700_000_000_000n, observedAt: NOW - 30_000 },
      { asset: "BTC", source: "base", priceUsd: 6_701_000_000_000n, observedAt: NOW },
      { asset: "BTC", source: "feed", priceUsd: 7_000_000_000_000n, observedAt: NOW - 5_000 },
    ]);
    expect(await currentPrices(t)).toEqual({ available: false, reason: "no BTC/USD price yet" });
  });

  it("a spread of exactly the limit is accepted; one unit (1e-8 USD) more is refused", async () => {
    const sources = (high: string) => [
      coingecko("gecko", "99000", 1.8523),
      coinbase("base", { BTC: "100000", STX: GOOD_STX.coinbase }),
      feed("feed", { BTC: high, STX: GOOD_STX.feed }),
    ];
    configure(sources("101000"));
    const t = newBackend();
    // (101,000 − 99,000) / 100,000 = exactly 200 bps.
    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });
    expect(await currentPrices(t)).toMatchObject({ available: true, btcUsd: 10_000_000_000_000n });

    configure(sources("101000.00000001"));
    vi.setSystemTime(NOW + 60_000);
    expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: "BTC/USD is unavailable: sources disagree by 201 bps (max 200)" },
    ]);
    // The earlier median still counts until it is ORACLE_MAX_AGE_MS old.
    expect(await currentPrices(t)).toMatchObject({ available: true, btcUsd: 10_000_000_000_000n, observedAt: NOW });
  });
});

describe("price-unavailable alerts", () => {
  it("are raised when a price becomes unavailable, not on every refresh while it stays so, and resolved when it is back", async () => {
    const sources = (high: string) => [
      coingecko("gecko", "99000", 1.8523),
      coinbase("base", { BTC: "100000", STX: GOOD_STX.coinbase }),
      feed("feed", { BTC: high, STX: GOOD_STX.feed }),
    ];
    const openAndResolved = async (t: Backend) =>
      (await t.run(async (ctx) => ctx.db.query("alerts").collect())).map(({ kind, message, resolved }) => ({
        kind,
        message,
        resolved,
      }));
    const disagreeing = { kind: "price-unavailable", message: "BTC/USD is unavailable: sources disagree by 1000 bps (max 200)" };
    const t = newBackend();

    configure(sources("109000"));
    // Refreshes 10 s apart, so every answer stays fresh (the CoinGecko fixture is stamped NOW − 30 s).
    for (let run = 0; run < 3; run++) {
      vi.setSystemTime(NOW + run * 10_000);
      expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    }
    expect(await openAndResolved(t)).toEqual([{ ...disagreeing, resolved: false }]);

    configure(sources("100500"));
    vi.setSystemTime(NOW + 30_000);
    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });
    expect(await openAndResolved(t)).toEqual([{ ...disagreeing, resolved: true }]);

    configure(sources("109000"));
    vi.setSystemTime(NOW + 40_000);
    expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    expect(await openAndResolved(t)).toEqual([
      { ...disagreeing, resolved: true },
      { ...disagreeing, resolved: false },
    ]);
  });
});

describe("stale answers", () => {
  it("all stale: no price, a price-unavailable alert, and readers see unavailable once the last median is older than ORACLE_MAX_AGE_MS", async () => {
    // CoinGecko and two JSON feeds: the kinds that carry a timestamp (a Coinbase spot answer is always "now").
    const updatedAt = NOW;
    const stamped = (name: string, btc: string, stx: string): Source => ({
      name,
      kind: "json",
      route: (asset) => ({ body: { asset, priceUsd: asset === "BTC" ? btc : stx, timestamp: updatedAt } }),
    });
    const gecko: Source = {
      name: "gecko",
      kind: "coingecko",
      route: () => ({
        body: {
          bitcoin: { usd: 67012.5, last_updated_at: updatedAt / 1000 },
          blockstack: { usd: 1.8523, last_updated_at: updatedAt / 1000 },
        },
      }),
    };
    configure([gecko, stamped("feed", "67010", "1.85"), stamped("feed2", "67020.25", "1.8601")]);
    const t = newBackend();

    // A good refresh at NOW.
    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });

    // The sources stop updating; the oracle asks again just past the age limit.
    vi.setSystemTime(NOW + MAX_AGE_MS);
    expect(await currentPrices(t)).toMatchObject({ available: true, observedAt: NOW }); // exactly the limit: still good
    vi.setSystemTime(NOW + MAX_AGE_MS + 1);
    expect(await refresh(t)).toEqual({ available: [], unavailable: ["BTC", "STX"] });

    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: "BTC/USD is unavailable: 0 fresh answers, 2 needed" },
      { kind: "price-unavailable", message: "STX/USD is unavailable: 0 fresh answers, 2 needed" },
    ]);
    // The stale answers are still recorded, with their own (old) times; no new median.
    const btc = await priceRows(t, "BTC");
    expect(btc.filter((r) => r.source === "median")).toEqual([
      { asset: "BTC", source: "median", priceUsd: 6_701_250_000_000n, observedAt: NOW },
    ]);
    expect(btc.filter((r) => r.source !== "median").map((r) => [r.source, r.observedAt])).toEqual([
      ["gecko", NOW],
      ["feed", NOW],
      ["feed2", NOW],
      ["gecko", NOW],
      ["feed", NOW],
      ["feed2", NOW],
    ]);
    expect(await currentPrices(t)).toEqual({ available: false, reason: "BTC/USD is stale (120 s old)" });
  });
});

describe("a source that does not answer in time", () => {
  it("is given up on after the 5 s client timeout; the other sources' answers are used", async () => {
    const SLOW_MS = 30_000; // far past the timeout: the client gives up at 5 s whatever this is
    configure([
      coingecko("gecko", 67012.5, 1.8523),
      answering("slow", "coinbase", (asset) => ({
        delayMs: SLOW_MS,
        body: { data: { amount: "67011", base: asset, currency: "USD" } },
      })),
      answering("feed", "json", (asset) => ({
        delayMs: asset === "STX" ? SLOW_MS : 0,
        body: { asset, priceUsd: asset === "BTC" ? "67020.25" : "1.8601", timestamp: NOW - 5_000 },
      })),
    ]);
    const t = newBackend();

    const started = performance.now();
    const result = await refresh(t);
    const elapsed = performance.now() - started;

    // BTC: gecko and feed answered; the median of two is the lower one.
    // STX: only gecko answered in time.
    expect(result).toEqual({ available: ["BTC"], unavailable: ["STX"] });
    expect(await priceRows(t, "BTC")).toEqual([
      { asset: "BTC", source: "gecko", priceUsd: 6_701_250_000_000n, observedAt: NOW - 30_000 },
      { asset: "BTC", source: "feed", priceUsd: 6_702_025_000_000n, observedAt: NOW - 5_000 },
      { asset: "BTC", source: "median", priceUsd: 6_701_250_000_000n, observedAt: NOW },
    ]);
    expect(await alerts(t)).toEqual([
      {
        kind: "price-unavailable",
        message: "STX/USD is unavailable: 1 fresh answers, 2 needed; slow: timeout; feed: timeout",
      },
    ]);
    // The slow source was asked (and ignored for not answering, not for a bad path).
    expect(requests).toContain("/slow/v2/prices/BTC-USD/spot");
    expect(requests).toContain("/feed/price/STX");
    // Given up at the 5 s timeout, not after the fixture's 30 s.
    expect(elapsed).toBeGreaterThanOrEqual(4_900);
    expect(elapsed).toBeLessThan(SLOW_MS);
  }, 20_000);
});

describe("malformed answers", () => {
  const FEED_OK = feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed });

  it.each<[string, Source, string]>([
    ["CoinGecko answer of the wrong shape", answering("bad", "coingecko", () => ({ body: { bitcoin: { price: 67000 } } })), "malformed answer"],
    [
      "Coinbase negative price (number)",
      answering("bad", "coinbase", (asset) => ({ body: { data: { amount: -67000, base: asset, currency: "USD" } } })),
      "malformed answer",
    ],
    [
      "Coinbase negative price (string)",
      answering("bad", "coinbase", (asset) => ({ body: { data: { amount: "-67000.00", base: asset, currency: "USD" } } })),
      "not a non-negative decimal: -67000.00",
    ],
    [
      "Coinbase quote in another currency",
      answering("bad", "coinbase", (asset) => ({ body: { data: { amount: "61000", base: asset, currency: "EUR" } } })),
      "malformed answer",
    ],
    [
      "JSON feed non-numeric string",
      answering("bad", "json", (asset) => ({ body: { asset, priceUsd: "sixty-seven thousand", timestamp: NOW } })),
      "not a non-negative decimal: sixty-seven thousand",
    ],
    [
      "JSON feed price with a thousands separator",
      answering("bad", "json", (asset) => ({ body: { asset, priceUsd: "67,012.50", timestamp: NOW } })),
      "not a non-negative decimal: 67,012.50",
    ],
    [
      "JSON feed number beyond float range (1e400 parses to Infinity)",
      answering("bad", "json", (asset) => ({ raw: `{"asset":"${asset}","priceUsd":1e400,"timestamp":${NOW}}` })),
      "malformed answer",
    ],
    [
      "an HTML error page with status 200",
      answering("bad", "json", () => ({ raw: "<!DOCTYPE html><html><body>Bad gateway</body></html>", contentType: "text/html" })),
      `Unexpected token '<', "<!DOCTYPE "... is not valid JSON`,
    ],
    ["an empty body", answering("bad", "json", () => ({ raw: "" })), "Unexpected end of JSON input"],
    ["HTTP 502", answering("bad", "coinbase", () => ({ status: 502, body: { error: "upstream" } })), "HTTP 502"],
  ])("%s: the source is ignored and named in the alert", async (_label, bad, error) => {
    configure([bad, FEED_OK]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: [], unavailable: ["BTC", "STX"] });
    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: `BTC/USD is unavailable: 1 fresh answers, 2 needed; bad: ${error}` },
      { kind: "price-unavailable", message: `STX/USD is unavailable: 1 fresh answers, 2 needed; bad: ${error}` },
    ]);
    // Only the good feed's answers are recorded.
    expect((await priceRows(t)).map((r) => r.source)).toEqual(["feed", "feed"]);
    expect(await currentPrices(t)).toEqual({ available: false, reason: "no BTC/USD price yet" });
  });

  it("malformed sources are skipped and the good ones still make a price", async () => {
    configure([
      answering("gecko", "coingecko", () => ({ body: { bitcoin: { price: 67000 } } })),
      answering("html", "coinbase", () => ({ raw: "<html>maintenance</html>", contentType: "text/html" })),
      coinbase("base", { BTC: "67010.00", STX: GOOD_STX.coinbase }),
      FEED_OK,
    ]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });
    expect(await currentPrices(t)).toEqual({
      available: true,
      btcUsd: 6_701_000_000_000n, // lower of the two good answers
      stxUsd: 185_000_000n,
      observedAt: NOW,
    });
    expect((await priceRows(t, "BTC")).map((r) => r.source)).toEqual(["base", "feed", "median"]);
    expect(await alerts(t)).toEqual([]);
  });

  it("a zero price is recorded as that source's answer but never counts towards a median", async () => {
    configure([feed("zero", { BTC: "0", STX: "0.00" }), FEED_OK]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: [], unavailable: ["BTC", "STX"] });
    // Not a failure of the source, so the alert names no source: only the count.
    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: "BTC/USD is unavailable: 1 fresh answers, 2 needed" },
      { kind: "price-unavailable", message: "STX/USD is unavailable: 1 fresh answers, 2 needed" },
    ]);
    expect(await priceRows(t, "BTC")).toEqual([
      { asset: "BTC", source: "zero", priceUsd: 0n, observedAt: NOW - 5_000 },
      { asset: "BTC", source: "feed", priceUsd: 6_702_025_000_000n, observedAt: NOW - 5_000 },
    ]);
  });
});

describe("an answer for the wrong asset", () => {
  it.each<[string, Source, string]>([
    [
      "Coinbase answers BTC-USD with base ETH",
      answering("wrong", "coinbase", (asset) => ({
        body: { data: { amount: asset === "BTC" ? "3500" : GOOD_STX.coinbase, base: asset === "BTC" ? "ETH" : asset, currency: "USD" } },
      })),
      "answer is for ETH, not BTC",
    ],
    [
      "the JSON feed answers /price/BTC with STX",
      answering("wrong", "json", () => ({
        body: { asset: "STX", priceUsd: GOOD_STX.feed, timestamp: NOW - 5_000 },
      })),
      "answer is for STX, not BTC",
    ],
  ])("%s: ignored; the others make the price, and the alert names it when too few remain", async (_label, wrong, error) => {
    configure([coingecko("gecko", 67012.5, 1.8523), wrong, feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed })]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });
    expect((await priceRows(t, "BTC")).map((r) => [r.source, r.priceUsd])).toEqual([
      ["gecko", 6_701_250_000_000n],
      ["feed", 6_702_025_000_000n],
      ["median", 6_701_250_000_000n],
    ]);
    expect((await priceRows(t, "STX")).map((r) => r.source)).toEqual(["gecko", "wrong", "feed", "median"]);

    // With three answers required, BTC has only two.
    configure([coingecko("gecko", 67012.5, 1.8523), wrong, feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed })], {
      minSources: 3,
    });
    vi.setSystemTime(NOW + 60_000);
    expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    expect(await alerts(t)).toEqual([
      { kind: "price-unavailable", message: `BTC/USD is unavailable: 2 fresh answers, 3 needed; wrong: ${error}` },
    ]);
  });
});

describe("exact decimals, never through float", () => {
  it('"0.00000001" and "92233720368.54775807" (the int64 maximum at 8 decimals) round-trip exactly, per source and as the median', async () => {
    const BIG = "92233720368.54775807";
    const TINY = "0.00000001";
    configure([
      coingecko("gecko", BIG, TINY), // CoinGecko's schema also takes strings
      coinbase("base", { BTC: BIG, STX: TINY }),
      feed("feed", { BTC: BIG, STX: TINY }),
    ]);
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: ["BTC", "STX"], unavailable: [] });
    const rows = await priceRows(t);
    expect(rows.filter((r) => r.asset === "BTC").map((r) => r.priceUsd)).toEqual(Array(4).fill(2n ** 63n - 1n));
    expect(rows.filter((r) => r.asset === "STX").map((r) => r.priceUsd)).toEqual(Array(4).fill(1n));
    expect(await currentPrices(t)).toEqual({ available: true, btcUsd: 9_223_372_036_854_775_807n, stxUsd: 1n, observedAt: NOW });
  });

  it('"12345678901.12345678" round-trips exactly (19 significant digits, more than a double holds)', async () => {
    const PRICE = "12345678901.12345678";
    configure([coinbase("base", { BTC: PRICE, STX: "1.85" }), feed("feed", { BTC: PRICE, STX: "1.85" })]);
    const t = newBackend();
    await refresh(t);
    expect((await priceRows(t, "BTC")).map((r) => r.priceUsd)).toEqual(Array(3).fill(1_234_567_890_112_345_678n));
  });

  it('"123456789012.12345678" does not fit an int64 at 8 decimals: that source is refused, the rest of the refresh stands', async () => {
    configure(
      [
        coingecko("gecko", 67012.5, 1.8523),
        coinbase("base", { BTC: "123456789012.12345678", STX: GOOD_STX.coinbase }),
        feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed }),
      ],
      { minSources: 3 },
    );
    const t = newBackend();

    expect(await refresh(t)).toEqual({ available: ["STX"], unavailable: ["BTC"] });
    expect(await alerts(t)).toEqual([
      {
        kind: "price-unavailable",
        message:
          "BTC/USD is unavailable: 2 fresh answers, 3 needed; base: price beyond int64 at 8 decimals: 123456789012.12345678",
      },
    ]);
    expect((await priceRows(t, "STX")).map((r) => r.source)).toEqual(["gecko", "base", "feed", "median"]);
  });

  it("digits beyond the 8th decimal are cut (rounded down), never rounded up", async () => {
    configure([
      coinbase("base", { BTC: "67012.123456789", STX: "1.999999999" }),
      feed("feed", { BTC: "67012.123456789", STX: "1.999999999" }),
    ]);
    const t = newBackend();
    await refresh(t);
    expect(await currentPrices(t)).toMatchObject({ btcUsd: 6_701_212_345_678n, stxUsd: 199_999_999n });
  });

  it("a JSON number is exact to double precision only: 1e-8 survives, 12345678901.12345678 arrives as 12345678901.123457", async () => {
    // Real CoinGecko answers with JSON numbers. `response.json()` turns them
    // into doubles before the decimal parser sees them: exact for prices of up
    // to 15 significant digits (BTC at $1,000,000.12345678 has 15), not beyond.
    configure(
      [
        {
          name: "gecko",
          kind: "coingecko",
          route: () => ({ raw: `{"bitcoin":{"usd":12345678901.12345678},"blockstack":{"usd":0.00000001}}` }),
        },
        coinbase("base", { BTC: "12345678901.12345678", STX: "0.00000001" }),
      ],
      { minSources: 1 },
    );
    const t = newBackend();
    await refresh(t);
    const gecko = (await priceRows(t)).filter((r) => r.source === "gecko");
    expect(gecko.map((r) => [r.asset, r.priceUsd])).toEqual([
      ["BTC", 1_234_567_890_112_345_700n],
      ["STX", 1n],
    ]);
    // Without last_updated_at, CoinGecko's answer is stamped with the time it was fetched.
    expect(gecko.map((r) => r.observedAt)).toEqual([NOW, NOW]);
  });
});

describe("configuration", () => {
  it("sends a source's API key in its configured header, and only to that source", async () => {
    configure([
      { ...coingecko("gecko", 67012.5, 1.8523), apiKeyHeader: "x-cg-pro-api-key", apiKey: "test-key-123" },
      feed("feed", { BTC: "67020.25", STX: GOOD_STX.feed }),
    ]);
    const t = newBackend();
    await refresh(t);
    const sent = requests.map((url, i) => [url.split("/")[1], headers[i]?.["x-cg-pro-api-key"]]);
    expect(sent.filter(([prefix]) => prefix === "gecko").map(([, key]) => key)).toEqual(["test-key-123", "test-key-123"]);
    expect(sent.filter(([prefix]) => prefix === "feed").map(([, key]) => key)).toEqual([undefined, undefined]);
  });

  it.each([
    ["missing", undefined, "ORACLE_SOURCES is missing or malformed"],
    ["not JSON", "[{name:", "ORACLE_SOURCES is not JSON"],
    ["an empty list", "[]", "ORACLE_SOURCES does not list valid sources"],
    ["an unknown kind", '[{"name":"x","kind":"binance","baseUrl":"http://127.0.0.1:1"}]', "ORACLE_SOURCES does not list valid sources"],
  ])("ORACLE_SOURCES %s: the refresh fails with CONFIGURATION_MISSING and records nothing", async (_label, value, message) => {
    vi.stubEnv("ORACLE_SOURCES", value);
    const t = newBackend();
    const error = await refresh(t).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConvexError);
    expect((error as ConvexError<{ code: string; message: string }>).data).toEqual({ code: "CONFIGURATION_MISSING", message });
    // Nothing stored and, as it stands, no alert either: the failed cron run is the only trace.
    expect(await priceRows(t)).toEqual([]);
    expect(await alerts(t)).toEqual([]);
  });
});
