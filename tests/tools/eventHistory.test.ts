/**
 * The watcher's in-memory event history (tools/chainEvents.ts `EventHistory`)
 * against the local Hiro-compatible server: a refresh re-reads only the tail
 * of the logs, yet ends with exactly the events a fresh full read returns —
 * after new events, after a reorg inside the reorg window (blocks replaced by
 * empty ones, re-mined elsewhere, or re-included with new hashes), after a
 * reorg below it, and after a print the API could not place. Requests are
 * counted at the HTTP level: the logs route and the transactions route.
 */
import { STACKS_TESTNET } from "@stacks/network";
import { makeContractCall } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { readChainConfig } from "../../convex/config";
import { DEFAULT_REORG_WINDOW_BURN_BLOCKS } from "../../convex/chain/contractLogs";
import { HiroClient } from "../../convex/chain/hiroClient";
import { sendsExactly, VAULT_ARGS, VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import {
  EventHistory,
  readVaultEvents,
  type LogsClient,
  type RefreshReport,
  type VaultEventLog,
} from "../../tools/chainEvents";
import { fullEveryOf, parseWatchCommand } from "../../tools/watch";
import { describeRefresh } from "../../tools/watchRound";
import { DEPLOYER, newWallet, SBTC, startToolServer, VAULT, type Wallet } from "./toolFixtures";

let server: LocalHiroServer;
let wallets: Wallet[];

/** Requests by route, made through `probe.client`; `hidden` txids the transactions route shows as not mined. */
type Probe = { client: LogsClient; logs: number; txs: number; hidden: Set<string>; failAfter: number | null; reset(): void };

function probe(): Probe {
  const p: Probe = {
    client: undefined as unknown as LogsClient,
    logs: 0,
    txs: 0,
    hidden: new Set(),
    failAfter: null,
    reset() {
      p.logs = 0;
      p.txs = 0;
    },
  };
  const hiro = new HiroClient({
    baseUrl: server.url,
    maxAttempts: 1,
    fetch: (input, init) => {
      const url = String(input);
      if (url.includes("/logs?")) p.logs++;
      if (url.includes("/tx/multiple?")) p.txs++;
      if (p.failAfter !== null && p.logs + p.txs > p.failAfter) return Promise.reject(new Error("connection reset"));
      return fetch(input, init);
    },
  });
  p.client = {
    getContractLogs: (contractId, page) => hiro.getContractLogs(contractId, page),
    // The API's indexer between two updates: a hidden transaction answers as if still pending.
    getPlacedTransactions: async (txids) => {
      const found = await hiro.getPlacedTransactions(txids);
      for (const txid of p.hidden) if (found.has(txid)) found.set(txid, null);
      return found;
    },
  };
  return p;
}

/** What a fresh full read returns now, and what it cost. */
async function fullRead(): Promise<{ log: VaultEventLog; logs: number; txs: number }> {
  const p = probe();
  const log = await readVaultEvents(p.client, VAULT, SBTC);
  return { log, logs: p.logs, txs: p.txs };
}

/**
 * `perWallet` one-µSTX deposits from each wallet, all mined in one block:
 * one print each. Returns the txids in the order sent, as the API writes them (0x…).
 */
async function depositMany(perWallet: number, from: Wallet[] = wallets): Promise<string[]> {
  const txids: string[] = [];
  for (const wallet of from) {
    const first = server.chain.nextNonce(wallet.address);
    for (let i = 0; i < perWallet; i++) {
      const tx = await makeContractCall({
        contractAddress: DEPLOYER,
        contractName: "liquidity-pool",
        functionName: VAULT_FUNCTIONS.depositFunds,
        functionArgs: VAULT_ARGS.depositFunds({ amount: 1n, tokenContract: null }),
        senderKey: wallet.key,
        network: STACKS_TESTNET,
        nonce: first + BigInt(i),
        fee: 10_000n,
        postConditionMode: "deny",
        postConditions: [sendsExactly(wallet.address, null, 1n)],
      });
      const submitted = await server.chain.submit(tx.serializeBytes());
      if (!submitted.ok) throw new Error(`deposit refused: ${JSON.stringify(submitted)}`);
      txids.push(`0x${tx.txid()}`);
    }
  }
  await server.mine(1);
  for (const txid of txids) expect(server.chain.txView(txid.slice(2))?.inclusion?.status).toBe("success");
  return txids;
}

/** The events as compared: everything a full read gives, in order. */
function same(log: VaultEventLog) {
  return { events: log.events, malformed: log.malformed, unplaced: log.unplaced };
}

beforeAll(async () => {
  server = await startToolServer();
  wallets = [];
  for (let i = 0; i < 10; i++) wallets.push(await newWallet(server));
});

afterAll(async () => {
  await server?.close();
});

/** The block a transaction is in now (canonical). */
function blockOf(txid: string) {
  const view = server.chain.txView(txid.replace(/^0x/, ""));
  if (!view?.block) throw new Error(`${txid} is not mined`);
  return view.block;
}

/** A refresh through `p`, which must end with exactly what a fresh full read returns now. */
async function refreshMatchingFullRead(history: EventHistory, p: Probe): Promise<RefreshReport & { logs: number; txs: number }> {
  p.reset();
  const { log, report } = await history.refresh(p.client, SBTC);
  const cost = { logs: p.logs, txs: p.txs };
  const full = await readVaultEvents(p.client, VAULT, SBTC);
  expect(same(log)).toEqual(same(full));
  expect(report.held).toBe(full.events.length);
  expect(report.requests).toBe(cost.logs + cost.txs);
  return { ...report, ...cost };
}

describe("the event history", () => {
  let history: EventHistory;
  /** The last deposit of the first 300, then the one deposit 7 burn blocks later. */
  let lastOld: string;
  let firstNew: string;

  it("re-reads only the pages above the reorg window, and ends with what a full read gives", async () => {
    await depositMany(25); // 250 prints in one block
    lastOld = (await depositMany(5)).at(-1) as string; // 50 more in the next
    await server.advanceBurnBlocks(7);
    firstNew = (await depositMany(1, wallets.slice(0, 1)))[0] as string;
    const p = probe();
    history = new EventHistory(VAULT);

    // The first refresh reads everything: the cost of a full read, to the request.
    const fresh = await fullRead();
    expect(fresh.log.events.length).toBe(306); // the set-up's 5 prints, 300 deposits, 1 more
    const first = await refreshMatchingFullRead(history, p);
    expect(first).toMatchObject({ mode: "full", reason: "first", from: null, read: 306, held: 306, logs: fresh.logs, txs: fresh.txs });
    expect({ logs: fresh.logs, txs: fresh.txs }).toEqual({ logs: 10, txs: 4 });

    // Nothing new: the anchor's transaction (1), the page at it and the newest page (2 logs), its transactions (1).
    const anchor = blockOf(lastOld);
    const quiet = await refreshMatchingFullRead(history, p);
    expect(quiet).toMatchObject({ mode: "tail", reason: null, dropped: 1, read: 1, moved: 0, held: 306, logs: 2, txs: 2 });
    expect(quiet.from).toMatchObject({ blockHeight: BigInt(anchor.height), burnBlockHeight: BigInt(anchor.burnBlockHeight) });

    // 130 new prints: the one in the window read again and the new ones, two pages (3 logs, 2 + 1 transactions requests).
    await depositMany(13);
    const tail = await refreshMatchingFullRead(history, p);
    expect(tail).toMatchObject({ mode: "tail", dropped: 1, read: 131, moved: 0, held: 436, logs: 3, txs: 3 });
    const again = await fullRead();
    expect({ logs: again.logs, txs: again.txs }).toEqual({ logs: 12, txs: 5 });
    expect(describeRefresh(tail)).toBe(`[watch] events: 436 held, 131 read this round in 6 requests (tail re-read from block ${anchor.height})`);
  });

  it("ends with a fresh full read's events after a reorg inside the window, re-reading only the tail", async () => {
    const p = probe();
    const tip = blockOf(firstNew); // the 130 deposits are in the block on top of it: the tip
    expect(server.chain.blocks.tip.height).toBe(tip.height + 1);

    // The tip replaced by an empty block: its 130 deposits go back to the mempool and out of the logs.
    await server.chain.reorg(1, false);
    const orphaned = await refreshMatchingFullRead(history, p);
    expect(orphaned).toMatchObject({ mode: "tail", dropped: 131, read: 1, moved: 130, held: 306 });

    // Mined again in the next block, at a new height.
    await server.mine(1);
    const remined = await refreshMatchingFullRead(history, p);
    expect(remined).toMatchObject({ mode: "tail", dropped: 1, read: 131, moved: 0, held: 436 });

    // The same transactions in a replacement block: same place, a new block hash.
    const before = history.log.events.at(-1)!.blockHash;
    await server.chain.reorg(1, true);
    const rehashed = await refreshMatchingFullRead(history, p);
    expect(rehashed).toMatchObject({ mode: "tail", dropped: 131, read: 131, moved: 130, held: 436 });
    const after = history.log.events.at(-1)!.blockHash;
    expect(after).not.toBe(before);
    expect(after).toBe(`0x${server.chain.blocks.tip.hash}`);
    expect(describeRefresh(rehashed)).toMatch(/; 130 held events moved or gone: a reorg inside the window\)$/);
  });

  it("reads everything again when the last event kept left its block: a reorg below the window", async () => {
    const p = probe();
    const anchor = blockOf(lastOld);
    // Every block from the anchor's up, replaced (same transactions, new hashes): deeper than the window.
    await server.chain.reorg(server.chain.blocks.tip.height - anchor.height + 1, true);
    expect(blockOf(lastOld).hash).not.toBe(anchor.hash);
    const fresh = await fullRead();
    const report = await refreshMatchingFullRead(history, p);
    // One request to find the anchor moved, then the full read's own.
    expect(report).toMatchObject({ mode: "full", reason: "anchor-moved", from: null, read: 436, logs: fresh.logs, txs: fresh.txs + 1 });
    const tail = await refreshMatchingFullRead(history, p);
    expect(tail).toMatchObject({ mode: "tail", read: 131 });
  });

  it("reads again a print the API could not place, even below the window", async () => {
    const p = probe();
    // x, then v in the next block, 7 burn blocks, then y: x and v are below y's window; x is not placed yet.
    const [x] = await depositMany(1, wallets.slice(1, 2));
    const [v] = await depositMany(1, wallets.slice(2, 3));
    await server.advanceBurnBlocks(7);
    await depositMany(1, wallets.slice(2, 3));
    p.hidden.add(x!);
    const hidden = await refreshMatchingFullRead(history, p); // a full read through the same API says the same
    expect(hidden).toMatchObject({ mode: "tail" });
    expect(history.log.unplaced).toBe(1);
    expect(history.log.events.some((e) => e.txid === x)).toBe(false);

    // Placed now: the refresh resumes below x, though the window alone would have kept v and resumed above x.
    p.hidden.clear();
    const placed = await refreshMatchingFullRead(history, p);
    expect(placed).toMatchObject({ mode: "tail", dropped: 2, read: 3, moved: 0 });
    expect(history.log.unplaced).toBe(0);
    expect(history.log.events.slice(-3).map((e) => e.txid).slice(0, 2)).toEqual([x, v]);
    expect(BigInt(blockOf(x!).height)).toBeGreaterThan((placed.from as { blockHeight: bigint }).blockHeight);
  });

  it("reads again an unplaced print at the tail with no reorg window at all", async () => {
    const p = probe();
    const tailOnly = new EventHistory(VAULT, { reorgWindowBurnBlocks: 0n });
    // Two prints in one block, the first not placed yet: the second is held, the first must not be passed over.
    const [z, w] = await depositMany(1, wallets.slice(3, 5));
    p.hidden.add(z!);
    await refreshMatchingFullRead(tailOnly, p);
    expect(tailOnly.log).toMatchObject({ unplaced: 1 });
    expect(tailOnly.log.events.at(-1)?.txid).toBe(w);

    p.hidden.clear();
    const report = await refreshMatchingFullRead(tailOnly, p);
    expect(report).toMatchObject({ mode: "tail", dropped: 1, read: 2, moved: 0 });
    expect(tailOnly.log.events.slice(-2).map((e) => e.txid)).toEqual([z, w]);

    // Nothing new, nothing unplaced, no window: the anchor is the newest event, and nothing is read again.
    expect(await refreshMatchingFullRead(tailOnly, p)).toMatchObject({ mode: "tail", dropped: 0, read: 0 });
  });

  it("reads everything again every `fullEvery` refreshes", async () => {
    const p = probe();
    const every3 = new EventHistory(VAULT, { fullEvery: 3 });
    const modes: string[] = [];
    for (let round = 1; round <= 7; round++) {
      if (round % 2 === 0) await depositMany(1, wallets.slice(5, 6));
      const fresh = await fullRead();
      const report = await refreshMatchingFullRead(every3, p);
      modes.push(report.reason ?? report.mode);
      if (report.mode === "full") expect({ logs: report.logs, txs: report.txs }).toEqual({ logs: fresh.logs, txs: fresh.txs });
      else expect(report.logs + report.txs).toBeLessThan(fresh.logs + fresh.txs);
    }
    expect(modes).toEqual(["first", "tail", "tail", "scheduled", "tail", "tail", "scheduled"]);
  });

  it("keeps what it held when a refresh fails, and goes on from there", async () => {
    const p = probe();
    await history.refresh(p.client, SBTC);
    const held = history.log;
    await depositMany(1, wallets.slice(6, 7));
    p.failAfter = 2; // the anchor check and one logs page, then the connection drops
    await expect(history.refresh(p.client, SBTC)).rejects.toThrow(/unavailable/);
    expect(history.log).toEqual(held);
    p.failAfter = null;
    expect(await refreshMatchingFullRead(history, p)).toMatchObject({ mode: "tail" });
  });

  it("reads everything again when the vault's sBTC contract is not the one it decoded with", async () => {
    const p = probe();
    const before = history.log.events.length;
    const { report } = await history.refresh(p.client, null);
    expect(report).toMatchObject({ mode: "full", reason: "sbtc-changed" });
    expect((await history.refresh(p.client, SBTC)).report).toMatchObject({ mode: "full", reason: "sbtc-changed", held: before });
  });

  it("re-reads by default the burn blocks the backend's sync re-checks", () => {
    const config = readChainConfig({ STACKS_NETWORK: "testnet", VAULT_CONTRACT_ID: VAULT, SBTC_CONTRACT_ID: SBTC });
    expect(DEFAULT_REORG_WINDOW_BURN_BLOCKS).toBe(config.syncReorgWindowBurnBlocks);
    expect(new EventHistory(VAULT)).toMatchObject({ reorgWindowBurnBlocks: 6n, fullEvery: 120 });
  });

  it("is read in full about once an hour by the watch command, or every --full-every rounds", () => {
    const base = ["--api", "http://127.0.0.1:3999", "--vault", VAULT];
    expect(fullEveryOf(parseWatchCommand(base))).toBe(60);
    expect(fullEveryOf(parseWatchCommand([...base, "--interval-ms", "30000"]))).toBe(120);
    expect(fullEveryOf(parseWatchCommand([...base, "--interval-ms", "7000000"]))).toBe(1);
    expect(fullEveryOf(parseWatchCommand([...base, "--full-every", "5"]))).toBe(5);
    expect(() => parseWatchCommand([...base, "--full-every", "0"])).toThrow(/--full-every: between 1 and 1000000/);
  });
});
