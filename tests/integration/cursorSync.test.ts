/**
 * The event sync's walk up the vault's logs against the local server, over
 * real HTTP, where the chain moves as the real one does (README "Chain
 * integration"): a reorg lands between two page requests, the API's indexer
 * lags the node, confirmations count burn blocks, a reorg is deeper than 64
 * Stacks blocks inside one burn block, and orphaned transactions go back to
 * the mempool. Every scenario checks the books against what was deposited:
 * no event lost, none applied twice.
 */
import { STACKS_TESTNET } from "@stacks/network";
import { privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { depositCall } from "../../convex/chain/contractCalls";
import { readChainConfig } from "../../convex/config";
import { signPreparedCall } from "../../simulation/wallets";
import { mine, reorg, startStack, stopStack, type Stack } from "./stack";

let stack: Stack;
const realFetch = globalThis.fetch;

beforeAll(async () => {
  stack = await startStack();
  await mine(stack.server);
  await sync();
});

afterAll(async () => {
  await stopStack(stack);
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.stubEnv("SYNC_CONFIRMATIONS_BURN_BLOCKS", "0");
});

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});

/** Syncs until a run finds nothing new (a capped run schedules the next; here they run in turn). */
async function syncUntilQuiet(): Promise<void> {
  for (let run = 0; run < 10; run++) {
    const result = await sync();
    if (result.applied === 0 && result.reversed === 0 && !result.catchingUp) return;
  }
  throw new Error("the sync kept finding events");
}

async function local(path: string, body: object): Promise<Response> {
  const response = await realFetch(`${stack.server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return response;
}

type Wallet = { key: string; address: string; nonce: bigint; deposited: bigint };

async function wallets(count: number): Promise<Wallet[]> {
  const out: Wallet[] = [];
  for (let i = 0; i < count; i++) {
    const key = randomPrivateKey();
    const address = privateKeyToAddress(key, "testnet");
    await stack.server.fund(address, 100_000_000_000n);
    out.push({ key, address, nonce: 0n, deposited: 0n });
  }
  return out;
}

/** Signs and broadcasts a deposit of `amount` from `wallet` (not mined). */
async function deposit(wallet: Wallet, amount: bigint): Promise<string> {
  const call = depositCall(readChainConfig(process.env), wallet.address, "STX", amount);
  const tx = await signPreparedCall(call, { senderKey: wallet.key, network: STACKS_TESTNET, fee: 1_000n, nonce: wallet.nonce++ });
  const response = await realFetch(`${stack.server.url}/v2/transactions`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.from(tx.serializeBytes()),
  });
  if (!response.ok) throw new Error(`deposit rejected: ${await response.text()}`);
  wallet.deposited += amount;
  return `0x${tx.txid()}`;
}

async function stxTotal(address: string): Promise<bigint> {
  const portfolio = await stack.t.withIdentity({ subject: address }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX")?.total ?? 0n;
}

/** Each wallet's deposits are in the books exactly once, and each of its deposit events is applied once. */
async function expectBooked(ws: readonly Wallet[]): Promise<void> {
  for (const w of ws) expect(await stxTotal(w.address)).toBe(w.deposited);
  const addresses = new Set(ws.map((w) => w.address));
  const applied = await stack.t.run(async (ctx) =>
    (await ctx.db.query("vaultEvents").collect()).filter(
      (e) => e.status === "applied" && e.event.kind === "funds-deposited" && addresses.has(e.event.depositor),
    ),
  );
  expect(applied).toHaveLength(ws.reduce((n, w) => n + Number(w.nonce), 0));
  expect(new Set(applied.map((e) => `${e.txid}:${e.eventIndex}`)).size).toBe(applied.length);
}

const isLogsRequest = (url: string) => /\/extended\/v2\/smart-contracts\/[^/]+\/logs|\/extended\/v1\/contract\/[^/]+\/events/.test(url);
const urlOf = (input: string | URL | Request) => (typeof input === "string" ? input : input instanceof URL ? input.href : input.url);

/** Counts the backend's requests by route while `work` runs; `before(n, url)` runs ahead of the n-th logs request. */
async function counting<T>(
  work: () => Promise<T>,
  before: (logsRequest: number) => Promise<void> = async () => undefined,
): Promise<{ result: T; logs: number; txMultiple: number; all: number }> {
  const counts = { logs: 0, txMultiple: 0, all: 0 };
  vi.stubGlobal("fetch", async (input: string | URL | Request, init?: RequestInit) => {
    const url = urlOf(input);
    if (url.startsWith(stack.server.url) && !url.includes("/_local/")) {
      counts.all++;
      if (isLogsRequest(url)) await before(++counts.logs);
      if (url.includes("/extended/v1/tx/multiple")) counts.txMultiple++;
    }
    return await realFetch(input, init);
  });
  try {
    return { result: await work(), ...counts };
  } finally {
    vi.unstubAllGlobals();
  }
}

describe("the sync's walk up the vault's logs", () => {
  it("loses no event and applies none twice when a reorg lands between two page requests", async () => {
    const ws = await wallets(3);
    // 240 deposits, one per block: the page walk spans 240 blocks.
    for (let i = 0; i < 240; i++) {
      await deposit(ws[i % 3]!, BigInt(1_000 + i));
      await stack.server.mine(1);
    }
    await mine(stack.server);

    // The third logs request of the run finds the top three blocks replaced by empty ones.
    const run = await counting(sync, async (n) => {
      if (n === 3) await local("/_local/reorg", { depth: 3 });
    });
    expect(run.logs).toBeGreaterThan(3);

    // The orphaned deposits went back to the mempool; the next blocks mine them again.
    await mine(stack.server);
    await syncUntilQuiet();
    await expectBooked(ws);
  });

  it("loses no event while the API's indexer lags the node, and applies none before the indexer shows it confirmed", async () => {
    const [early, late] = await wallets(2);
    // The indexer has the deposit's block but no block on top of it yet; the node has one.
    await deposit(early!, 4_321n);
    await stack.server.mine(1);
    await stack.server.mine(1);
    await local("/_local/indexer-lag", { blocks: 1 });
    const notYet = await sync();
    expect(notYet.applied).toBe(0);
    expect(await stxTotal(early!.address)).toBe(0n);

    // A deposit the indexer does not show at all while the node is 90 blocks further.
    await deposit(late!, 8_765n);
    await stack.server.mine(1);
    await stack.server.mine(90);
    await local("/_local/indexer-lag", { blocks: 91 });
    await sync();
    expect(await stxTotal(late!.address)).toBe(0n);

    // The indexer catches up: both are applied then, once.
    await local("/_local/indexer-lag", { blocks: 0 });
    await mine(stack.server, 1);
    await syncUntilQuiet();
    await expectBooked([early!, late!]);
  });

  it("catches up on N events with about N/100 logs requests and as many transaction lookups", async () => {
    // The events applied so far leave the reorg window, so its re-check costs one lookup.
    await stack.server.advanceBurnBlocks(7);
    await syncUntilQuiet();
    const ws = await wallets(25);
    const N = 500;
    for (let i = 0; i < N; i++) await deposit(ws[i % 25]!, BigInt(2_000 + i));
    await stack.server.mine(1);
    await mine(stack.server);

    const run = await counting(sync);
    expect(run.result.applied).toBe(N);
    // A page of 100 events costs one logs request and one /extended/v1/tx/multiple; the rest is constant:
    // the page at the stored position and the newest page, the re-check's lookup, the two tips.
    expect(run.logs).toBeLessThanOrEqual(N / 100 + 2);
    expect(run.txMultiple).toBeLessThanOrEqual(N / 100 + 2);
    expect(run.all / N).toBeLessThanOrEqual(1 / 50 + 8 / N);
    await expectBooked(ws);
  });

  it("counts confirmations in burn blocks: an event many Stacks blocks deep in the same burn block does not count yet", async () => {
    vi.stubEnv("SYNC_CONFIRMATIONS_BURN_BLOCKS", "1");
    const [w] = await wallets(1);
    await deposit(w!, 5_555n);
    await stack.server.mine(1);
    await stack.server.mine(10);
    const deepButSameBurnBlock = await sync();
    expect(deepButSameBurnBlock.applied).toBe(0);
    expect(deepButSameBurnBlock.waitingForConfirmations).toBeGreaterThanOrEqual(1);
    expect(await stxTotal(w!.address)).toBe(0n);

    // One burn block on top of the deposit's: it counts.
    await stack.server.advanceBurnBlocks(1);
    const confirmed = await sync();
    expect(confirmed.applied).toBe(1);
    await expectBooked([w!]);
  });

  it("re-checks by block hash across a reorg deeper than 64 Stacks blocks in one burn block, and the orphaned transaction comes back from the mempool", async () => {
    const [w] = await wallets(1);
    const txid = await deposit(w!, 7_777n);
    await mine(stack.server);
    await sync();
    expect(await stxTotal(w!.address)).toBe(7_777n);

    // 70 more Stacks blocks, no burn block: the deposit's tenure is still inside the reorg window.
    await stack.server.mine(70);
    await sync();
    await reorg(stack.server, 73);
    // The API reports the orphaned transaction as back in the mempool.
    const list = (await (await realFetch(`${stack.server.url}/extended/v1/tx/multiple?tx_id=${txid}`)).json()) as Record<
      string,
      { found: boolean; result: { tx_status: string; block_height?: number } }
    >;
    expect(list[txid]).toMatchObject({ found: true, result: { tx_status: "pending" } });
    expect(list[txid]?.result.block_height).toBeUndefined();

    const afterReorg = await sync();
    expect(afterReorg.reversed).toBe(1);
    expect(await stxTotal(w!.address)).toBe(0n);

    // The node mines it again from its mempool, without a new broadcast: it counts once.
    await mine(stack.server);
    await syncUntilQuiet();
    await expectBooked([w!]);
  });
});
