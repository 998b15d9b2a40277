/**
 * Event sync throughput: how fast `internal.eventSync.syncVaultEvents` applies
 * vault events read over HTTP from the local Hiro-compatible server, and how
 * many documents it writes per event.
 *
 *   npx tsx bench/sync.ts   (npm run bench:sync; BENCH_PROVIDERS=50 BENCH_DEPOSITS=20 BENCH_PREMIUMS=100 are the defaults)
 *
 * Goal: at least 500 events per second locally, and the same number of
 * documents written per event however many events came before it.
 *
 * How: the local server (devnet/hiroServer.ts, simnet behind real HTTP) runs
 * in this process; wallets sign real `deposit-funds` and `pay-premium` calls,
 * many per block (each sender chains up to 20). The backend is convex-test
 * (the in-memory Convex runtime the tests use), configured through the
 * environment like a deployment, and runs the real sync action over HTTP.
 * Phases, each followed by one measured sync run:
 *   1. first deposit of every provider (new providers);
 *   2. BENCH_DEPOSITS more deposits per provider (existing providers);
 *   3. premiums for policies backed by those providers (each premium is
 *      split among the policy's backers);
 *   4. the deposits of phase 2 again, on top of everything before;
 *   5. the same once more, with the local server answering every request
 *      REMOTE_RTT_MS late, as a remote API would.
 * Each run starts once a burn block has passed over the phase's blocks (the
 * default confirmation rule: one Stacks block and one burn block on top).
 * Between phases the chain moves past the reorg window
 * (SYNC_REORG_WINDOW_BURN_BLOCKS burn blocks) and an extra sync, also
 * measured, re-checks the events still inside it: the next phase's run then
 * reads only its own events, as the cron does when blocks are minutes apart.
 *
 * Then the catch-up (BENCH_CATCH_UP, default "10000,100000"; "0" skips it):
 * on a fresh local server, after a first sync has recorded its position,
 * backlogs of those sizes (1,000 deposits a block, a burn block every 10
 * blocks, as after an outage) are synced by the real action, run after run
 * (each applies at most SYNC_MAX_EVENTS_PER_RUN and schedules the next), with
 * `applyBatch` only counting: convex-test's database scans every document per
 * query, so writing 100,000 events' books would measure it, not the walk.
 * Figures: requests per event (goal ≤ 1/50 + a constant per run), the
 * process's peak heap above its level before the catch-up (goal: the same at
 * both sizes) and events per second.
 *
 * Instrumentation (no change to convex/):
 * - `fetch` is wrapped: requests and wall time per endpoint;
 * - `eventSync.applyBatch` is wrapped in the modules map given to
 *   convex-test: its handler runs with `ctx.db` behind a counting proxy
 *   (writes: insert / patch / replace / delete; reads: documents returned)
 *   and is timed.
 * Results are printed and written to bench/results/sync.md.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

import { STACKS_TESTNET } from "@stacks/network";
import { privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { convexTest } from "convex-test";

import { internal } from "../convex/_generated/api";
import { internalMutation, type MutationCtx } from "../convex/_generated/server";
import { readChainConfig, type ChainConfig } from "../convex/config";
import { depositCall, premiumCall, type ContractCall } from "../convex/chain/contractCalls";
import * as eventSyncModule from "../convex/eventSync";
import schema from "../convex/schema";
import { startLocalHiroServer, type LocalHiroServer } from "../devnet/hiroServer";
import { convexModules, type ModuleMap } from "../simulation/convexModules";
import { signPreparedCall } from "../simulation/wallets";
import { countingDb, newCounts, type Counts } from "./support/countingDb";
import { clip, coveredOutsideMs, type Interval } from "./support/intervals";
import { mdTable, textTable, writeReport } from "./support/report";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

const PROVIDERS = Number(process.env.BENCH_PROVIDERS ?? 50);
const DEPOSITS_PER_PROVIDER = Number(process.env.BENCH_DEPOSITS ?? 20);
/** Deposits in each of phases 2, 4 and 5. */
const DEPOSITS = PROVIDERS * DEPOSITS_PER_PROVIDER;
/**
 * Premiums are few by default: each is split among ~25 backers, and
 * convex-test scans every document of the database for every query, so its
 * cost grows with the database (see "Where the time goes").
 */
const PREMIUMS = Number(process.env.BENCH_PREMIUMS ?? 100);
const POLICIES = 10;
/** stacks-core lets a sender chain 25 transactions in the mempool; stay under it. */
const PER_SENDER_PER_BLOCK = 20;
const GOAL_EVENTS_PER_SECOND = 500;
const REORG_WINDOW_BURN_BLOCKS = 6; // the default of SYNC_REORG_WINDOW_BURN_BLOCKS
/** Backlog sizes of the catch-up measurement; "0" skips it. */
const CATCH_UP_SIZES = (process.env.BENCH_CATCH_UP ?? "10000,100000")
  .split(",")
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
/** Latency of every API request in phase 5, as a remote API would answer. */
const REMOTE_RTT_MS = 50;

const BACKEND_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

// Simnet echoes every Clarity `print` through console.log; keep the output readable.
const realLog = console.log.bind(console);
console.log = (...args: unknown[]) => {
  if (args.length === 1 && typeof args[0] === "string" && /\([a-z0-9-]+:\d+\)\s*$/.test(args[0])) return;
  realLog(...args);
};

// ---------------------------------------------------------------------------
// Instrumentation
// ---------------------------------------------------------------------------

type Probe = {
  requests: Map<string, { count: number; ms: number }>;
  /** When each request was in flight; requests overlap each other and the mutations. */
  httpIntervals: Interval[];
  /** When each applyBatch handler ran. */
  applyIntervals: Interval[];
  applyMs: number;
  applyCalls: number;
  /** What applyBatch read and wrote (support/countingDb.ts); a lookup is a `db.get` or a query started. */
  db: Counts;
  /** Documents in the whole database when the run started. */
  databaseDocs: number;
};

function newProbe(): Probe {
  return {
    requests: new Map(),
    httpIntervals: [],
    applyIntervals: [],
    applyMs: 0,
    applyCalls: 0,
    db: newCounts(),
    databaseDocs: 0,
  };
}

/** What the sync run being measured has done so far; replaced at the start of each run. */
let probe = newProbe();

function endpointOf(url: string): string {
  const { pathname } = new URL(url);
  if (pathname.startsWith("/extended/v1/tx/multiple")) return "GET /extended/v1/tx/multiple";
  if (pathname.startsWith("/extended/v1/tx/")) return "GET /extended/v1/tx/{txid}";
  if (pathname.includes("/events")) return "GET /extended/v1/contract/{id}/events";
  if (pathname.endsWith("/logs")) return "GET /extended/v2/smart-contracts/{id}/logs";
  if (pathname === "/extended") return "GET /extended";
  return pathname;
}

const realFetch = globalThis.fetch;
/** Called after every answered request of the sync (the catch-up samples the heap there). */
let afterRequest: (endpoint: string) => void = () => undefined;

globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const started = performance.now();
  let answered = false;
  try {
    const response = await realFetch(input, init);
    answered = true;
    return response;
  } finally {
    // A request that got no answer (a kept-alive socket the server closed while idle) is retried
    // by the client: counted apart, so each figure counts the requests the API answered.
    const key = answered ? endpointOf(url) : "no answer (retried)";
    const entry = probe.requests.get(key) ?? { count: 0, ms: 0 };
    const ended = performance.now();
    entry.count += 1;
    entry.ms += ended - started;
    probe.httpIntervals.push([started, ended]);
    probe.requests.set(key, entry);
    if (answered) afterRequest(key);
  }
};

type Handler = (ctx: MutationCtx, args: { events: unknown[] }) => Promise<unknown>;

/** eventSync with `applyBatch` counted and timed; everything else as it is. */
function instrumentedEventSync() {
  const original = eventSyncModule.applyBatch as unknown as { _handler: Handler };
  const applyBatch = internalMutation({
    handler: async (ctx, args: { events: unknown[] }) => {
      const started = performance.now();
      try {
        return await original._handler({ ...ctx, db: countingDb(ctx.db, probe.db) }, args);
      } finally {
        const ended = performance.now();
        probe.applyMs += ended - started;
        probe.applyIntervals.push([started, ended]);
        probe.applyCalls += 1;
      }
    },
  });
  return { ...eventSyncModule, applyBatch };
}

/** The convex modules with `eventSync.ts` served instrumented. */
function withInstrumentedSync(modules: ModuleMap): ModuleMap {
  return { ...modules, "./convex/eventSync.ts": () => Promise.resolve(instrumentedEventSync()) };
}

// ---------------------------------------------------------------------------
// Setup: the local server, the backend, the wallets
// ---------------------------------------------------------------------------

function newBackend() {
  return convexTest(schema, convexModules(withInstrumentedSync));
}

type SyncResult = { applied: number; duplicate: number; unmatched: number; waitingForConfirmations: number };

type Run = {
  phase: string;
  events: number;
  result: SyncResult;
  ms: number;
  /** When the run started and ended (performance.now()). */
  span: Interval;
  probe: Probe;
};

/** Everything the phases share: the chain, the backend reading it, and the sync runs measured so far. */
type Bench = { server: LocalHiroServer; t: ReturnType<typeof newBackend>; config: ChainConfig; runs: Run[] };

/** The local server with the vault deployed, and the backend configured through the environment as a deployment is. */
async function setUp(): Promise<Bench> {
  const server = await startLocalHiroServer({ port: 0, deploy: { sbtcPrincipal: true, operatorKey: BACKEND_KEY, signerKey: BACKEND_KEY } });
  Object.assign(process.env, {
    STACKS_NETWORK: "testnet",
    STACKS_API_URL: server.url,
    VAULT_CONTRACT_ID: `${DEPLOYER}.liquidity-pool`,
    SBTC_CONTRACT_ID: `${DEPLOYER}.sbtc-token`,
    OPERATOR_PRIVATE_KEY: BACKEND_KEY,
    SIGNER_PRIVATE_KEY: BACKEND_KEY,
    SYNC_CONFIRMATIONS: "1",
  });
  const config = readChainConfig(process.env);
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return { server, t, config, runs: [] };
}

type Wallet = { key: string; address: string; nonce: bigint };

async function wallets(server: LocalHiroServer, count: number): Promise<Wallet[]> {
  const out: Wallet[] = [];
  for (let i = 0; i < count; i++) {
    const key = randomPrivateKey();
    const address = privateKeyToAddress(key, "testnet");
    await server.fund(address, 1_000_000_000_000n);
    out.push({ key, address, nonce: 0n });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Load on the chain
// ---------------------------------------------------------------------------

async function signed(call: ContractCall, wallet: Wallet): Promise<Uint8Array> {
  const signer = { senderKey: wallet.key, network: STACKS_TESTNET, fee: 1_000n, nonce: wallet.nonce++ };
  return (await signPreparedCall(call, signer)).serializeBytes();
}

/** POSTs outside the measured fetch; a kept-alive socket the server closed while idle fails once, so it is tried twice. */
async function postToLocalServer(url: string, init: { headers: Record<string, string>; body: BodyInit }): Promise<Response> {
  const post = () => realFetch(url, { method: "POST", ...init });
  return await post().catch(post);
}

/** Broadcasts over HTTP, 50 at a time, then mines one block holding them all. */
async function broadcastAndMine(server: LocalHiroServer, txs: Uint8Array[]): Promise<void> {
  for (let i = 0; i < txs.length; i += 50) {
    await Promise.all(
      txs.slice(i, i + 50).map(async (bytes) => {
        // A re-broadcast is answered with the same txid, so retrying is safe.
        const response = await postToLocalServer(`${server.url}/v2/transactions`, {
          headers: { "content-type": "application/octet-stream" },
          body: new Uint8Array(bytes).buffer as ArrayBuffer,
        });
        if (!response.ok) throw new Error(`broadcast rejected: ${await response.text()}`);
      }),
    );
  }
  const [block] = await server.mine(1);
  progress(`mined ${txs.length} transactions in block ${block?.height}`);
  if (block?.txids.length !== txs.length) {
    throw new Error(`expected ${txs.length} transactions in the block, got ${block?.txids.length}`);
  }
}

/** Tells the local server to answer late (`faults`) or on time again (`faults/clear`). */
async function controlLocalServer(server: LocalHiroServer, route: string, body: unknown): Promise<void> {
  const response = await postToLocalServer(`${server.url}/_local/${route}`, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`/_local/${route} answered ${response.status}: ${await response.text()}`);
}

// ---------------------------------------------------------------------------
// Measuring one sync run
// ---------------------------------------------------------------------------

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const benchStarted = performance.now();
function progress(message: string): void {
  process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(1)} s] ${message}\n`);
}

async function databaseSize(t: Bench["t"]): Promise<number> {
  return await t.run(async (ctx) => {
    let docs = 0;
    const db = ctx.db as unknown as { query(table: string): { collect(): Promise<unknown[]> } };
    for (const table of Object.keys(schema.tables)) docs += (await db.query(table).collect()).length;
    return docs;
  });
}

/** One sync run, as the cron starts it, once a block and a burn block confirm the last one; it must apply exactly `events`. */
async function measureSync(bench: Bench, phase: string, events: number): Promise<Run> {
  await bench.server.advanceBurnBlocks(1); // a Stacks block on top of the last one, in a new burn block
  probe = newProbe();
  probe.databaseDocs = await databaseSize(bench.t);
  const t0 = performance.now();
  const result = (await bench.t.action(internal.eventSync.syncVaultEvents, {})) as SyncResult;
  const t1 = performance.now();
  const run = { phase, events, result, ms: t1 - t0, span: [t0, t1] as const, probe };
  bench.runs.push(run);
  progress(
    `${phase}: ${result.applied} applied, ${result.duplicate} duplicate in ${fmt(run.ms)} ms ` +
      `(${fmt((result.applied / run.ms) * 1000)} events/s)`,
  );
  if (result.applied !== events) throw new Error(`${phase}: expected ${events} applied events, got ${result.applied}`);
  return run;
}

/**
 * Moves the chain past the reorg window and lets a sync (measured) re-check
 * what is still in it, so that the next phase's run reads only its own events.
 */
async function leaveReorgWindow(bench: Bench, phase: string): Promise<void> {
  await bench.server.advanceBurnBlocks(REORG_WINDOW_BURN_BLOCKS + 1);
  await measureSync(bench, `${phase}: re-check of the reorg window (nothing new)`, 0);
}

// ---------------------------------------------------------------------------
// The phases
// ---------------------------------------------------------------------------

/** Phase 1: every provider's first deposit (all in the default tier, Conservative). */
async function firstDeposits(bench: Bench, providers: Wallet[]): Promise<void> {
  const { server, config } = bench;
  await broadcastAndMine(
    server,
    await Promise.all(providers.map((p) => signed(depositCall(config, p.address, "STX", 1_000_000_000n), p))),
  );
  await measureSync(bench, "1. first deposits (new providers)", PROVIDERS);
  await leaveReorgWindow(bench, "1");
}

/** DEPOSITS_PER_PROVIDER deposits of every provider, up to PER_SENDER_PER_BLOCK each per block. */
async function depositRound(bench: Bench, providers: Wallet[]): Promise<void> {
  for (let done = 0; done < DEPOSITS_PER_PROVIDER; done += PER_SENDER_PER_BLOCK) {
    const perSender = Math.min(PER_SENDER_PER_BLOCK, DEPOSITS_PER_PROVIDER - done);
    const txs: Uint8Array[] = [];
    for (const p of providers) {
      for (let i = 0; i < perSender; i++) {
        txs.push(await signed(depositCall(bench.config, p.address, "STX", 1_000_000n + BigInt(i)), p));
      }
    }
    await broadcastAndMine(bench.server, txs);
  }
}

/** Phase 2: deposits of existing providers, many per block. */
async function existingProviderDeposits(bench: Bench, providers: Wallet[]): Promise<void> {
  await depositRound(bench, providers);
  await measureSync(bench, "2. deposits (existing providers)", DEPOSITS);
  await leaveReorgWindow(bench, "2");
}

/** POLICIES policies registered and backed by the providers; returns how many backings they got in all. */
async function registerBackedPolicies(bench: Bench, buyers: Wallet[]): Promise<number> {
  const usd = (dollars: number) => BigInt(dollars) * 100_000_000n;
  let backers = 0;
  for (let i = 0; i < POLICIES; i++) {
    const policyId = BigInt(i + 1);
    await bench.t.mutation(internal.policies.registerPolicy, {
      policyId,
      buyer: buyers[i % buyers.length]!.address,
      policyType: "PUT",
      protectedAmountSats: 100_000n,
      strikePriceUsd: usd(50_000),
      premium: 1_000_000n,
      expiresAtBlock: 1_000_000n,
      collateralToken: "STX",
      btcPriceUsd: usd(60_000),
      stxPriceUsd: usd(2),
    });
    const allocations = await bench.t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId });
    backers += allocations.length;
  }
  progress(`${POLICIES} policies registered and backed`);
  return backers;
}

/** PREMIUMS premium payments, spread over the policies, up to PER_SENDER_PER_BLOCK per buyer and block. */
async function payPremiums(bench: Bench, buyers: Wallet[]): Promise<void> {
  for (let done = 0; done < PREMIUMS; ) {
    const txs: Uint8Array[] = [];
    for (const buyer of buyers) {
      for (let i = 0; i < PER_SENDER_PER_BLOCK && done < PREMIUMS; i++, done++) {
        const policyId = BigInt((done % POLICIES) + 1);
        txs.push(await signed(premiumCall(bench.config, buyer.address, policyId, "STX", 1_000_000n + BigInt(done)), buyer));
      }
    }
    await broadcastAndMine(bench.server, txs);
  }
}

/** Phase 3: premiums for policies backed by those providers, each split among the policy's backers. */
async function premiums(bench: Bench, buyers: Wallet[]): Promise<void> {
  const backers = await registerBackedPolicies(bench, buyers);
  await payPremiums(bench, buyers);
  await measureSync(bench, `3. premiums (${POLICIES} policies, ${fmt(backers / POLICIES, 1)} backers each)`, PREMIUMS);
  await leaveReorgWindow(bench, "3");
}

/** Phase 4: the deposits of phase 2 again, on top of everything. */
async function depositsAgain(bench: Bench, providers: Wallet[]): Promise<void> {
  await depositRound(bench, providers);
  await measureSync(bench, "4. deposits again (after phases 1-3)", DEPOSITS);
  await leaveReorgWindow(bench, "4");
}

/**
 * Phase 5: the same again, read through an API that answers every request
 * after REMOTE_RTT_MS (injected by the local server), as a remote one does.
 */
async function depositsThroughRemoteApi(bench: Bench, providers: Wallet[]): Promise<void> {
  await depositRound(bench, providers);
  await controlLocalServer(bench.server, "faults", { path: "/", delayMs: REMOTE_RTT_MS, times: 10_000 });
  await measureSync(bench, `5. deposits again, ${REMOTE_RTT_MS} ms per request (remote API)`, DEPOSITS);
  await controlLocalServer(bench.server, "faults/clear", {});
}

/** Every phase in order; returns the seconds they took (load generation and sync). */
async function runPhases(bench: Bench): Promise<number> {
  const providers = await wallets(bench.server, PROVIDERS);
  const buyers = await wallets(bench.server, Math.max(1, Math.ceil(PREMIUMS / 50)));
  const started = performance.now();
  await firstDeposits(bench, providers);
  await existingProviderDeposits(bench, providers);
  await premiums(bench, buyers);
  await depositsAgain(bench, providers);
  await depositsThroughRemoteApi(bench, providers);
  return (performance.now() - started) / 1000;
}

// ---------------------------------------------------------------------------
// Catch-up: a long backlog synced run after run
// ---------------------------------------------------------------------------

/** A full garbage collection, so the heap level before a catch-up is what is live. */
const collectGarbage = (() => {
  setFlagsFromString("--expose_gc");
  return runInNewContext("gc") as () => void;
})();

type CatchUp = {
  backlog: number;
  applied: number;
  /** Sync runs: the one started, and those each capped run scheduled. */
  runs: number;
  requests: Map<string, { count: number; ms: number }>;
  ms: number;
  /** Largest live heap (measured after a full collection) above the level before the catch-up, in bytes. */
  peakHeapAbove: number;
  /** Time spent in those collections, left out of `ms`. */
  gcMs: number;
};

/** The heap is measured after a full collection every this many logs pages. */
const HEAP_SAMPLE_EVERY_PAGES = 10;

/** Events applyBatch was given during the catch-up (it counts them and writes nothing). */
let catchUpApplied = 0;

/**
 * The backend for the catch-up: the real sync, with `applyBatch` counting
 * the events it is given and writing nothing (convex-test's database scans
 * every document per query, so books of 100,000 events would measure it).
 */
function catchUpBackend() {
  const applyBatch = internalMutation({
    handler: async (_ctx, { events }: { events: unknown[] }) => {
      catchUpApplied += events.length;
      return { applied: events.length, duplicate: 0, unmatched: 0, recorded: 0 };
    },
  });
  return convexTest(
    schema,
    convexModules((modules) => ({ ...modules, "./convex/eventSync.ts": () => Promise.resolve({ ...eventSyncModule, applyBatch }) })),
  );
}

/** `events` deposits, 1,000 a block (PER_SENDER_PER_BLOCK from each wallet), a burn block every 10 blocks. */
async function backlog(server: LocalHiroServer, config: ChainConfig, senders: Wallet[], events: number): Promise<void> {
  const perBlock = senders.length * PER_SENDER_PER_BLOCK;
  for (let done = 0, block = 0; done < events; block++) {
    const count = Math.min(perBlock, events - done);
    for (let i = 0; i < count; i++) {
      const sender = senders[i % senders.length]!;
      // Submitted in process: the catch-up measures the sync's reads, not the broadcasts.
      const submitted = await server.chain.submit(await signed(depositCall(config, sender.address, "STX", 1_000n + BigInt(i)), sender));
      if (!submitted.ok) throw new Error(`deposit rejected: ${submitted.rejection.reason}`);
    }
    const [mined] = await server.mine(1);
    if (mined?.txids.length !== count) throw new Error(`expected ${count} transactions in the block, got ${mined?.txids.length}`);
    done += count;
    if (block % 10 === 9) await server.advanceBurnBlocks(1);
    if (block % 10 === 9 || done === events) progress(`backlog: ${fmt(done)} of ${fmt(events)} events`);
  }
}

/** Syncs the backlog: one run started as the cron would, then every run the capped ones schedule. */
async function measureCatchUp(server: LocalHiroServer, t: ReturnType<typeof catchUpBackend>, backlogSize: number): Promise<CatchUp> {
  // The local server indexes the new blocks' logs on the first request after them: done before the baseline,
  // so the server's own index (which grows with the chain, not with the sync) is not counted.
  // (A kept-alive socket the server closed while idle fails once: tried twice.)
  const warmUp = () => realFetch(`${server.url}/extended/v2/smart-contracts/${DEPLOYER}.liquidity-pool/logs?limit=1`);
  await warmUp().catch(warmUp);
  probe = newProbe();
  catchUpApplied = 0;
  collectGarbage();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  let gcMs = 0;
  let pages = 0;
  // Garbage comes and goes with collection timing; what a backlog could make grow is what stays live.
  afterRequest = (endpoint) => {
    if (endpoint !== LOGS || ++pages % HEAP_SAMPLE_EVERY_PAGES !== 0) return;
    const before = performance.now();
    collectGarbage();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    gcMs += performance.now() - before;
  };
  const started = performance.now();
  try {
    await t.action(internal.eventSync.syncVaultEvents, {});
    // The scheduled runs start on their own (real timers); wait for every one of them.
    await t.finishAllScheduledFunctions(() => undefined, 10_000);
  } finally {
    afterRequest = () => undefined;
  }
  const ms = performance.now() - started - gcMs;
  const runs = probe.requests.get("GET /extended")?.count ?? 0;
  const result: CatchUp = { backlog: backlogSize, applied: catchUpApplied, runs, requests: probe.requests, ms, peakHeapAbove: peak - baseline, gcMs };
  progress(`catch-up of ${fmt(backlogSize)}: ${fmt(result.applied)} events in ${fmt(runs)} runs, ${fmt(ms / 1000, 1)} s`);
  if (result.applied !== backlogSize) throw new Error(`catch-up: expected ${backlogSize} events applied, got ${result.applied}`);
  return result;
}

/** Each backlog size in turn, on a fresh chain and backend, from the position a first sync recorded. */
async function runCatchUps(sizes: readonly number[]): Promise<CatchUp[]> {
  if (sizes.length === 0) return [];
  const server = await startLocalHiroServer({ port: 0, deploy: { sbtcPrincipal: true, operatorKey: BACKEND_KEY, signerKey: BACKEND_KEY } });
  process.env.STACKS_API_URL = server.url;
  const config = readChainConfig(process.env);
  const t = catchUpBackend();
  try {
    const senders = await wallets(server, 50);
    // The sync has run before the outage: its position is the vault's set-up events.
    await server.advanceBurnBlocks(1);
    await t.action(internal.eventSync.syncVaultEvents, {});
    const results: CatchUp[] = [];
    for (const size of sizes) {
      await backlog(server, config, senders, size);
      await server.advanceBurnBlocks(1); // the confirmations on top of the last block
      results.push(await measureCatchUp(server, t, size));
    }
    return results;
  } finally {
    await server.close();
  }
}

const requestsOf = (c: CatchUp) => [...c.requests.values()].reduce((sum, e) => sum + e.count, 0);
const requestsOn = (c: CatchUp, endpoint: string) => c.requests.get(endpoint)?.count ?? 0;
const LOGS = "GET /extended/v2/smart-contracts/{id}/logs";
const TX_MULTIPLE = "GET /extended/v1/tx/multiple";
/** Requests a run may make beyond a logs page and a transactions request per 100 events: the tips, the re-check, the page at its position, the newest page. */
const REQUESTS_PER_RUN = 10;
const requestsWithinGoal = (c: CatchUp) => requestsOf(c) <= c.backlog / 50 + REQUESTS_PER_RUN * c.runs;
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`;
/** The peak live heap at the largest backlog is within 1.5× (or 32 MB) of the peak at the smallest. */
function heapFlat(catchUps: readonly CatchUp[]): boolean {
  const small = catchUps[0];
  const large = catchUps.at(-1);
  return !small || !large || large.peakHeapAbove <= Math.max(small.peakHeapAbove * 1.5, small.peakHeapAbove + 32 * 1024 * 1024);
}

function catchUpTable(catchUps: readonly CatchUp[]): Table {
  const header = ["Backlog", "Sync runs", "Logs requests", "tx/multiple requests", "Other requests", "Requests/event", "Wall s", "Events/s", "Peak live heap above start"];
  const body = catchUps.map((c) => [
    fmt(c.backlog),
    fmt(c.runs),
    fmt(requestsOn(c, LOGS)),
    fmt(requestsOn(c, TX_MULTIPLE)),
    fmt(requestsOf(c) - requestsOn(c, LOGS) - requestsOn(c, TX_MULTIPLE)),
    fmt(requestsOf(c) / c.backlog, 4),
    fmt(c.ms / 1000, 1),
    fmt((c.applied / c.ms) * 1000),
    mb(c.peakHeapAbove),
  ]);
  return { header, body };
}

function catchUpVerdicts(catchUps: readonly CatchUp[]): string[] {
  if (catchUps.length === 0) return [];
  const passOrFail = (pass: boolean) => (pass ? "PASS" : "FAIL");
  return [
    `Catch-up goal ≤ 1/50 requests per event + a constant (${REQUESTS_PER_RUN}) per run: ` +
      `${passOrFail(catchUps.every(requestsWithinGoal))} (${catchUps.map((c) => `${fmt(requestsOf(c) / c.backlog, 4)} at ${fmt(c.backlog)}`).join(", ")})`,
    `Catch-up goal peak heap flat in the backlog: ${passOrFail(heapFlat(catchUps))} ` +
      `(${catchUps.map((c) => `${mb(c.peakHeapAbove)} at ${fmt(c.backlog)}`).join(", ")})`,
  ];
}

function catchUpMarkdown(catchUps: readonly CatchUp[]): string[] {
  if (catchUps.length === 0) return [];
  return [
    "### Catch-up",
    "",
    "A fresh local server; a first sync records its position; then each backlog (1,000 deposits a block, a burn block " +
      "every 10 blocks) is synced by the real action: one run started, then every run a capped one schedules " +
      "(each applies at most `SYNC_MAX_EVENTS_PER_RUN`, 10,000). `applyBatch` only counts here, so the figures are the " +
      "walk's own: HTTP, zod, Clarity decoding, batching, the position written after every page. **Peak live heap**: " +
      `the process's heap (local server and convex-test included) after a full garbage collection every ${HEAP_SAMPLE_EVERY_PAGES} ` +
      "logs pages, at its largest, above its level after one before the catch-up (the server's log index already " +
      "holding the backlog); the collections' time is left out of the wall time.",
    "",
    mdTable(catchUpTable(catchUps).header, catchUpTable(catchUps).body, (column) => column > 0),
    "",
    ...catchUpVerdicts(catchUps).map((line) => `- ${line.replace(/(PASS|FAIL)/, "**$1**")}`),
    "",
  ];
}

function catchUpSummaryRows(catchUps: readonly CatchUp[]): SummaryRowInput[] {
  return catchUps.flatMap((c): SummaryRowInput[] => [
    {
      area: `catch-up of ${fmt(c.backlog)} events`,
      measure: "requests / event",
      value: fmt(requestsOf(c) / c.backlog, 4),
      goal: `≤ 1/50 + ${REQUESTS_PER_RUN} per run`,
      verdict: verdictOf(requestsWithinGoal(c)),
    },
    { area: `catch-up of ${fmt(c.backlog)} events`, measure: "events/s (applyBatch counting only)", value: fmt((c.applied / c.ms) * 1000) },
    {
      area: `catch-up of ${fmt(c.backlog)} events`,
      measure: "peak live heap above start",
      value: mb(c.peakHeapAbove),
      goal: "flat in the backlog",
      verdict: verdictOf(heapFlat(catchUps)),
    },
  ]);
}

// ---------------------------------------------------------------------------
// Figures of a run
// ---------------------------------------------------------------------------

const perEvent = (r: Run, n: number) => (r.result.applied > 0 ? n / r.result.applied : 0);
const eventsPerSecond = (r: Run) => (r.result.applied / r.ms) * 1000;
/** Events per second of the sync's own pipeline: everything but the time inside applyBatch. */
const pipeline = (r: Run) => (r.result.applied / (r.ms - r.probe.applyMs)) * 1000;
const httpCount = (r: Run) => [...r.probe.requests.values()].reduce((s, e) => s + e.count, 0);
const lookupUs = (r: Run) => (r.probe.applyMs * 1000) / Math.max(1, r.probe.db.lookups);
const multiple = (r: Run) => r.probe.requests.get("GET /extended/v1/tx/multiple");
const byPhase = (runs: readonly Run[], prefix: string) => runs.find((r) => r.phase.startsWith(prefix))!;

/**
 * Wall time with a request in flight and no mutation running. Requests
 * overlap each other (pages are read ahead) and the mutations (convex-test
 * runs them on the same thread, holding up responses that have arrived). A
 * page read ahead and left behind by a run may finish during the next one:
 * clip to the run.
 */
const httpMs = (r: Run) => coveredOutsideMs(clip(r.probe.httpIntervals, r.span), r.probe.applyIntervals);

/** The figures the verdicts and the summary are made of. */
type Totals = {
  runs: readonly Run[];
  /** The runs that applied new events (not the re-checks). */
  measured: Run[];
  totalEvents: number;
  overall: number;
  pipelineRate: number;
  /** Documents written per deposit, phases 2 and 4. */
  depositWrites: number[];
  constantWrites: boolean;
  fastEnough: boolean;
  remote: Run;
};

function totalsOf(runs: readonly Run[]): Totals {
  const measured = runs.filter((r) => r.events > 0);
  const totalEvents = measured.reduce((s, r) => s + r.result.applied, 0);
  const totalMs = measured.reduce((s, r) => s + r.ms, 0);
  const depositWrites = [measured[1]!, measured[3]!].map((r) => perEvent(r, r.probe.db.docsWritten));
  return {
    runs,
    measured,
    totalEvents,
    overall: (totalEvents / totalMs) * 1000,
    pipelineRate: (totalEvents / measured.reduce((sum, r) => sum + r.ms - r.probe.applyMs, 0)) * 1000,
    depositWrites,
    constantWrites: depositWrites.every((w) => w === depositWrites[0]),
    fastEnough: measured.every((r) => eventsPerSecond(r) >= GOAL_EVENTS_PER_SECOND),
    remote: byPhase(runs, "5."),
  };
}

// ---------------------------------------------------------------------------
// The report's tables
// ---------------------------------------------------------------------------

type Table = { header: string[]; body: string[][] };

/** Per event when the run applied any; the run's total, in brackets, for a re-check. */
const perEventOrTotal = (r: Run, n: number) => (r.result.applied > 0 ? fmt(perEvent(r, n), 2) : `(${n})`);

function runsTable(runs: readonly Run[]): Table {
  const header = [
    "Sync run",
    "Applied",
    "Duplicates",
    "Wall ms",
    "Events/s",
    "Events/s w/o applyBatch",
    "Docs written/event",
    "Docs read/event",
    "Index lookups/event",
    "Docs in database",
    "HTTP requests",
    "HTTP ms",
    "applyBatch ms",
    "Other ms",
  ];
  const body = runs.map((r) => [
    r.phase,
    fmt(r.result.applied),
    fmt(r.result.duplicate),
    fmt(r.ms),
    r.result.applied > 0 ? fmt(eventsPerSecond(r)) : "-",
    r.result.applied > 0 ? fmt(pipeline(r)) : "-",
    perEventOrTotal(r, r.probe.db.docsWritten),
    perEventOrTotal(r, r.probe.db.docsRead),
    perEventOrTotal(r, r.probe.db.lookups),
    fmt(r.probe.databaseDocs),
    fmt(httpCount(r)),
    fmt(httpMs(r)),
    fmt(r.probe.applyMs),
    fmt(r.ms - httpMs(r) - r.probe.applyMs),
  ]);
  return { header, body };
}

function endpointsTable(measured: readonly Run[]): Table {
  const body = measured.flatMap((r) =>
    [...r.probe.requests.entries()]
      .sort(([, a], [, b]) => b.ms - a.ms)
      .map(([endpoint, e]) => [r.phase, endpoint, fmt(e.count), fmt(e.ms), fmt(e.ms / e.count, 2)]),
  );
  return { header: ["Sync run", "Endpoint", "Requests", "ms", "ms/request"], body };
}

function writtenTablesTable(measured: readonly Run[]): Table {
  const body = measured.map((r) => [
    r.phase,
    [...r.probe.db.writtenTables.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([table, n]) => `${table} ${fmt(n / r.result.applied, 2)}`)
      .join(", "),
  ]);
  return { header: ["Sync run", "Tables"], body };
}

/** Where the time goes, per applied event, and what the local setup adds. */
function timeTable(measured: readonly Run[]): Table {
  const header = [
    "Sync run",
    "HTTP ms/event",
    "applyBatch ms/event",
    "Other ms/event",
    "Docs in database",
    "applyBatch µs/index lookup",
    "… per 1,000 docs in database",
  ];
  const body = measured.map((r) => [
    r.phase,
    fmt(httpMs(r) / r.result.applied, 2),
    fmt(r.probe.applyMs / r.result.applied, 2),
    fmt((r.ms - httpMs(r) - r.probe.applyMs) / r.result.applied, 2),
    fmt(r.probe.databaseDocs),
    fmt(lookupUs(r)),
    r.probe.databaseDocs >= 1_000 ? fmt((lookupUs(r) / r.probe.databaseDocs) * 1000, 1) : "-",
  ]);
  return { header, body };
}

// ---------------------------------------------------------------------------
// The report's text
// ---------------------------------------------------------------------------

/** What the time-per-event figures mean, with the figures of this run. */
function analysis({ runs, measured, remote }: Totals): string[] {
  const lastDeposits = byPhase(runs, "4.");
  const firstDeposits = byPhase(runs, "2.");
  const premiumRun = byPhase(runs, "3.");
  const depositRuns = [measured[1]!, measured[3]!];
  const requestsPerEvent = httpCount(remote) / remote.result.applied;
  const idle = runs.filter((r) => r.events === 0 && r.result.duplicate >= 1000);
  return [
    `- **HTTP**: ${fmt(httpMs(lastDeposits) / lastDeposits.result.applied, 2)} ms per event in phase 4 ` +
      `(${fmt(multiple(lastDeposits)?.count ?? 0)} \`/extended/v1/tx/multiple\` requests for up to 100 ` +
      "transactions each, and as many logs pages of 100; the local server keeps a per-session ABI cache). The walk " +
      "goes up page by page from the last event it processed, one request after another.",
    `- **convex-test, applyBatch**: the documents and index lookups per event stay the same ` +
      `(${depositRuns.map((r) => fmt(perEvent(r, r.probe.db.lookups), 2)).join(" / ")} lookups per deposit), but the time ` +
      `per lookup grows with the database: ${fmt(lookupUs(firstDeposits))} µs at ${fmt(firstDeposits.probe.databaseDocs)} ` +
      `documents, ${fmt(lookupUs(lastDeposits))} µs at ${fmt(lastDeposits.probe.databaseDocs)}. convex-test evaluates every query ` +
      "by walking every document of the database (`_iterateDocs` in node_modules/convex-test/dist/index.js), so its " +
      "time per event is linear in the database size; Convex itself reads index ranges, so this column says nothing " +
      "about a deployment beyond the constant document counts above. A premium costs about " +
      `${fmt(perEvent(premiumRun, premiumRun.probe.db.lookups), 0)} lookups (one per backer and table), hence its low rate here.`,
    `- **The sync's own pipeline** (HTTP, zod, Clarity decoding, ordering; everything but applyBatch): ` +
      `${fmt(pipeline(lastDeposits))} events/s in phase 4 against the local server, and ` +
      `${fmt(pipeline(remote))} events/s in phase 5, where every request took ${REMOTE_RTT_MS} ms more ` +
      `(${fmt(requestsPerEvent, 3)} requests per event; one after another they would allow at most ` +
      `${fmt(1000 / (requestsPerEvent * REMOTE_RTT_MS))} events/s).`,
    ...(idle.length > 0
      ? [
          `- **Re-checking the reorg window**: a run with nothing new but ${fmt(idle[0]!.result.duplicate)} applied events ` +
            `still inside the window took ${fmt(idle[0]!.ms)} ms with ${fmt(idle[0]!.probe.applyCalls)} applyBatch mutations: ` +
            "every applied event whose burn block is in the window is verified against its transaction (a page of 100 " +
            "at a time, newest first, down to the first one in place below the window).",
        ]
      : []),
  ];
}

/** The goals, each a line ending in PASS or FAIL. */
function verdicts(totals: Totals): string[] {
  const { overall, totalEvents, pipelineRate, remote, depositWrites } = totals;
  const passOrFail = (pass: boolean) => (pass ? "PASS" : "FAIL");
  return [
    `Goal ≥ ${GOAL_EVENTS_PER_SECOND} events/s in every run: ${passOrFail(totals.fastEnough)} (overall ${fmt(overall)} events/s over ${fmt(totalEvents)} events)`,
    `The same without the time inside applyBatch (convex-test's in-memory database, see below): ` +
      `${passOrFail(pipelineRate >= GOAL_EVENTS_PER_SECOND)} (${fmt(pipelineRate)} events/s)`,
    `The same with ${REMOTE_RTT_MS} ms per request (phase 5): ` +
      `${passOrFail(pipeline(remote) >= GOAL_EVENTS_PER_SECOND)} (${fmt(pipeline(remote))} events/s)`,
    `Goal constant documents per event (deposits, phases 2 / 4: ${depositWrites.map((w) => fmt(w, 2)).join(" / ")}): ${passOrFail(totals.constantWrites)}`,
  ];
}

type Report = {
  runs: Table;
  endpoints: Table;
  writtenTables: Table;
  time: Table;
  analysis: string[];
  verdicts: string[];
};

function reportOf(totals: Totals): Report {
  return {
    runs: runsTable(totals.runs),
    endpoints: endpointsTable(totals.measured),
    writtenTables: writtenTablesTable(totals.measured),
    time: timeTable(totals.measured),
    analysis: analysis(totals),
    verdicts: verdicts(totals),
  };
}

function printReport(report: Report): void {
  console.log(`\nEvent sync over HTTP (local server, convex-test), ${PROVIDERS} providers\n`);
  console.log(textTable(report.runs.header, report.runs.body));
  console.log("\nHTTP by endpoint (measured runs):\n");
  console.log(textTable(report.endpoints.header, report.endpoints.body));
  console.log("\nDocuments written per applied event, by table:\n");
  console.log(textTable(report.writtenTables.header, report.writtenTables.body));
  console.log("\nWhere the time goes:\n");
  console.log(textTable(report.time.header, report.time.body));
  console.log(`\n${report.analysis.join("\n")}`);
  console.log(`\n${report.verdicts.join("\n")}`);
}

/** bench/results/sync.md: the same tables and verdicts, with what the columns mean. */
function markdownReport(
  report: Report,
  totals: Totals,
  seconds: { generationAndSync: number; whole: number },
  catchUps: readonly CatchUp[],
): string {
  const figuresRight = (column: number) => column > 0;
  return [
    "## Event sync throughput",
    "",
    `_Generated by \`npx tsx bench/sync.ts\` (\`npm run bench:sync\`) on ${new Date().toISOString().slice(0, 10)}: ` +
      `${PROVIDERS} providers, ${fmt(totals.totalEvents)} events, load generation and sync ${fmt(seconds.generationAndSync, 1)} s, ` +
      `whole run ${fmt(seconds.whole, 1)} s._`,
    "",
    "The real `internal.eventSync.syncVaultEvents` action in convex-test, against the local Hiro-compatible server " +
      "(simnet behind real HTTP on 127.0.0.1). Transactions are real wallet-signed `deposit-funds` / `pay-premium` " +
      `calls, up to ${PER_SENDER_PER_BLOCK} per sender per block. Before each phase's run the chain has moved past the ` +
      `reorg window (${REORG_WINDOW_BURN_BLOCKS} burn blocks) and a sync has re-checked the previous phase's events (the "re-check" rows), ` +
      "so each phase's run reads only its own events.",
    "",
    "- **Docs written/event**: `insert` / `patch` / `replace` / `delete` calls inside `applyBatch`, per applied event; " +
      "**docs read/event**: documents returned to it. (For re-check rows, in brackets: totals.)",
    "- **HTTP ms**: wall time with at least one of the sync's requests in flight and no mutation running; " +
      "**applyBatch ms**: time inside the mutation handlers; **other**: the rest " +
      "(convex-test transaction overhead, zod parsing, Clarity decoding).",
    "",
    mdTable(report.runs.header, report.runs.body, figuresRight),
    "",
    "HTTP by endpoint:",
    "",
    mdTable(report.endpoints.header, report.endpoints.body, (column) => column >= 2),
    "",
    "Documents written per applied event, by table:",
    "",
    mdTable(report.writtenTables.header, report.writtenTables.body),
    "",
    ...report.verdicts.map((line) => `- ${line.replace(/(PASS|FAIL)/, "**$1**")}`),
    "",
    "### Where the time goes",
    "",
    mdTable(report.time.header, report.time.body, figuresRight),
    "",
    ...report.analysis,
    "",
    ...catchUpMarkdown(catchUps),
  ].join("\n");
}

/** The combined table's rows (`npm run bench`, bench/all.ts): the figures and verdicts above. */
function writeSyncSummary(totals: Totals, catchUps: readonly CatchUp[]): void {
  const { measured, pipelineRate, remote, depositWrites } = totals;
  const goal = `≥ ${GOAL_EVENTS_PER_SECOND}/s`;
  const perRun = measured.flatMap((r): SummaryRowInput[] => [
    {
      area: r.phase,
      measure: "events/s (without applyBatch)",
      value: `${fmt(eventsPerSecond(r))} (${fmt(pipeline(r))})`,
      goal,
      verdict: verdictOf(eventsPerSecond(r) >= GOAL_EVENTS_PER_SECOND),
    },
    { area: r.phase, measure: "docs written / event", value: fmt(perEvent(r, r.probe.db.docsWritten), 2) },
  ]);
  writeSummary({
    bench: "sync",
    title: "Event sync throughput over HTTP (local server, convex-test) and documents written per event",
    command: "npm run bench:sync",
    notes: [
      `${PROVIDERS} providers, ${fmt(totals.totalEvents)} events. applyBatch's time is convex-test's in-memory database, which scans whole tables: it grows with the database.`,
    ],
    rows: [
      ...perRun,
      { area: "all runs", measure: "events/s, overall", value: fmt(totals.overall), goal: `${goal} in every run`, verdict: verdictOf(totals.fastEnough) },
      {
        area: "all runs",
        measure: "events/s without applyBatch",
        value: fmt(pipelineRate),
        goal,
        verdict: verdictOf(pipelineRate >= GOAL_EVENTS_PER_SECOND),
      },
      {
        area: `phase 5, ${REMOTE_RTT_MS} ms per request`,
        measure: "events/s without applyBatch",
        value: fmt(pipeline(remote)),
        goal,
        verdict: verdictOf(pipeline(remote) >= GOAL_EVENTS_PER_SECOND),
      },
      {
        area: "deposits, phases 2 / 4",
        measure: "docs written / event",
        value: depositWrites.map((w) => fmt(w, 2)).join(" / "),
        goal: "the same in both",
        verdict: verdictOf(totals.constantWrites),
      },
      ...catchUpSummaryRows(catchUps),
    ],
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const bench = await setUp();
  const generationAndSync = await runPhases(bench);
  await bench.server.close();
  const catchUps = await runCatchUps(CATCH_UP_SIZES);

  const totals = totalsOf(bench.runs);
  const report = reportOf(totals);
  printReport(report);
  if (catchUps.length > 0) {
    console.log("\nCatch-up (applyBatch counting only):\n");
    console.log(textTable(catchUpTable(catchUps).header, catchUpTable(catchUps).body));
    console.log(`\n${catchUpVerdicts(catchUps).join("\n")}`);
  }
  writeReport("sync.md", markdownReport(report, totals, { generationAndSync, whole: (Date.now() - started) / 1000 }, catchUps));
  writeSyncSummary(totals, catchUps);
  console.log(`\nWritten to bench/results/sync.md (${fmt((Date.now() - started) / 1000, 1)} s)`);
}

await main();
