/**
 * Chainhooks ingest end to end, over HTTP: the local chain (simnet behind the
 * Hiro-compatible server) with the chainhook emulator subscribed to it, POSTing
 * real-shaped deliveries to `/chainhooks/vault`. convex-test serves HTTP
 * actions only in-process (`t.fetch`), so a small bridge puts them on a real
 * 127.0.0.1 port (tests/support/convexHttpBridge.ts): the emulator, and this
 * file's own refused requests, go over the wire as Chainhooks' would.
 *
 * Proves: a delivered deposit is credited once it is confirmed and exactly
 * once, whichever of the delivery, a repeated delivery and the poller comes
 * first; a rollback delivery reverses it, and the replacement block's delivery
 * credits it again; a bad secret (401) and a malformed or oversized body
 * (400/413) change nothing; a block of 500 deposits is applied in mutations of
 * at most 25 events; and the registration script's --dry-run.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { STACKS_TESTNET } from "@stacks/network";
import { privateKeyToAddress, randomPrivateKey } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { MAX_DELIVERY_BYTES, type DeliveryAnswer } from "../../convex/chainhooks";
import { depositCall } from "../../convex/chain/contractCalls";
import { readChainConfig } from "../../convex/config";
import * as vaultEventsModel from "../../convex/model/sync/vaultEvents";
import { startChainhookEmulator, type ChainhookEmulator, type DeliveryRecord, type EmulatedDelivery } from "../../devnet/chainhookEmulator";
import type { ChainhooksApi } from "../../scripts/register-chainhook";
import { signPreparedCall } from "../../simulation/wallets";
import { snapshot } from "../convex/convexTest";
import { startConvexHttpBridge, type ConvexHttpBridge } from "../support/convexHttpBridge";
import { newWallet, reorg, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

// Counts the mutations that apply events: each `applyBatch` runs `applyVaultEvents` once.
vi.mock("../../convex/model/sync/vaultEvents", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../convex/model/sync/vaultEvents")>();
  return { ...original, applyVaultEvents: vi.fn(original.applyVaultEvents) };
});
const applyVaultEvents = vi.mocked(vaultEventsModel.applyVaultEvents);

const SECRET = "test-consumer-secret-5f2c9a81d7e4";

let stack: Stack;
let bridge: ConvexHttpBridge;
let emulator: ChainhookEmulator;
let endpoint: string;

beforeAll(async () => {
  stack = await startStack({ CHAINHOOKS_CONSUMER_SECRET: SECRET });
  bridge = await startConvexHttpBridge(stack.t);
  endpoint = `${bridge.url}/chainhooks/vault`;
  emulator = startChainhookEmulator({ chain: stack.server.chain, url: endpoint, secret: SECRET, vaultContractId: VAULT, retryDelayMs: 50 });
  // The event sync is a cron: it has run before any delivery comes (its cursor is where chain order starts).
  await poll();
});

afterAll(async () => {
  emulator?.stop();
  await emulator?.settled();
  if (stack) await confirmersIdle();
  await bridge?.close();
  await stopStack(stack);
});

async function stxTotal(address: string): Promise<bigint> {
  const portfolio = await stack.t.withIdentity({ subject: address }).query(api.liquidity.getProviderPortfolio, {});
  return portfolio?.balances.find((b) => b.token === "STX")?.total ?? 0n;
}

async function deposit(wallet: { key: string; address: string }, amount: bigint): Promise<string> {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier: "Balanced" });
  return await signAndBroadcast(stack.server, call, wallet.key);
}

async function poll() {
  return await stack.t.action(internal.eventSync.syncVaultEvents, {});
}

/** Every delivery sent so far has been answered, and the confirmers it scheduled have finished. */
async function confirmersIdle(): Promise<void> {
  await emulator.settled();
  await vi.waitFor(
    async () => {
      const busy = await stack.t.run(async (ctx) =>
        (await ctx.db.system.query("_scheduled_functions").collect()).filter(
          (job) => job.name.includes("chainhooks") && (job.state.kind === "pending" || job.state.kind === "inProgress"),
        ),
      );
      expect(busy).toEqual([]);
    },
    { timeout: 60_000, interval: 100 },
  );
}

async function scheduledCount(): Promise<number> {
  return await stack.t.run(async (ctx) => (await ctx.db.system.query("_scheduled_functions").collect()).length);
}

async function recordsOf(txid: string) {
  return await stack.t.run(async (ctx) => (await ctx.db.query("vaultEvents").collect()).filter((e) => e.txid === txid));
}

function answerOf(delivery: DeliveryRecord | undefined): DeliveryAnswer {
  expect(delivery?.delivered).toBe(true);
  return JSON.parse(delivery!.answer) as DeliveryAnswer;
}

/** The event index the API gives a transaction's vault print (what the books key on). */
function apiEventIndex(txid: string): number {
  for (const log of stack.server.chain.contractLogs(VAULT)) if (`0x${log.txid}` === txid) return log.eventIndex;
  throw new Error(`no vault print of ${txid}`);
}

describe("POST /chainhooks/vault", () => {
  it("credits a delivered deposit once it is confirmed, once, though the delivery repeats and the poller sees it too", async () => {
    const wallet = await newWallet(stack.server);
    const txid = await deposit(wallet, 5_000_000n);

    await stack.server.mine(1);
    await emulator.settled();
    const delivery = emulator.deliveries.at(-1)!;
    expect(answerOf(delivery)).toEqual({ staged: 1, reversed: 0, rollbackPending: 0 });
    // As from the real service: the print is operation 4 (fee, call, debit, credit), the API's event 1.
    const logOp = delivery.payload.event.apply[0]!.transactions[0]!.operations.find((op) => op.type === "contract_log");
    expect(logOp?.operation_identifier.index).toBe(4);
    expect(apiEventIndex(txid)).toBe(1);
    // No block on top yet (SYNC_CONFIRMATIONS=1): nothing counts.
    expect(await stxTotal(wallet.address)).toBe(0n);

    await stack.server.mine(1);
    await confirmersIdle();
    expect(await stxTotal(wallet.address)).toBe(5_000_000n);
    const [record] = await recordsOf(txid);
    expect(record).toMatchObject({ status: "applied", eventIndex: 1 });

    // Chainhooks delivers at least once: the same delivery again is a duplicate, applied by no one.
    applyVaultEvents.mockClear();
    await emulator.redeliver(delivery.payload);
    await confirmersIdle();
    expect(applyVaultEvents).toHaveBeenCalledTimes(1);
    expect(await applyVaultEvents.mock.results[0]!.value).toEqual({ applied: 0, duplicate: 1, unmatched: 0, recorded: 0 });
    // The poller reads the same event: already applied.
    expect(await poll()).toMatchObject({ applied: 0, reversed: 0 });
    expect(await stxTotal(wallet.address)).toBe(5_000_000n);
    expect(await recordsOf(txid)).toHaveLength(1);
    const ledger = await stack.t.run(async (ctx) =>
      (await ctx.db.query("balanceLedger").collect()).filter((row) => row.provider === wallet.address),
    );
    expect(ledger.map((row) => [row.type, row.amount])).toEqual([["deposit", 5_000_000n]]);
  });

  it("credits once when the poller has applied the event before the delivery arrives", async () => {
    const wallet = await newWallet(stack.server);
    emulator.setEnabled(false);
    const txid = await deposit(wallet, 1_234n);
    const [block] = await stack.server.mine(2);
    emulator.setEnabled(true);
    expect(await poll()).toMatchObject({ applied: 1 });
    // Delivered late (a retried delivery, a replayed block): the books already have it.
    expect(answerOf(await emulator.redeliver(emulator.applyDeliveryOf(block!)!))).toMatchObject({ staged: 1 });
    await confirmersIdle();
    expect(await stxTotal(wallet.address)).toBe(1_234n);
    expect(await recordsOf(txid)).toHaveLength(1);
  });

  it("reverses a deposit whose block is rolled back, and credits it again from the block that replaced it", async () => {
    const wallet = await newWallet(stack.server);
    const txid = await deposit(wallet, 777n);
    await stack.server.mine(2);
    await confirmersIdle();
    expect(await stxTotal(wallet.address)).toBe(777n);
    const orphanHash = (await recordsOf(txid))[0]?.blockHash;

    // A fork replaces the deposit's block and the one on top; the deposit is mined again in the replacement.
    await reorg(stack.server, 2, true);
    await emulator.settled();
    const fork = emulator.deliveries.at(-1)!;
    expect(fork.payload.event.rollback).toHaveLength(1);
    expect(fork.payload.event.apply).toHaveLength(1);
    // The rollback is undone at once; the replacement waits for its confirmation like any block.
    expect(answerOf(fork)).toEqual({ staged: 1, reversed: 1, rollbackPending: 0 });
    const alerts = await stack.t.run(async (ctx) => ctx.db.query("alerts").collect());
    expect(alerts.some((a) => a.kind === "reorg-reversed" && (a.details ?? "").includes(txid))).toBe(true);

    await confirmersIdle();
    expect(await stxTotal(wallet.address)).toBe(777n);
    const records = await recordsOf(txid);
    expect(records).toHaveLength(1);
    const replacementHash = `0x${stack.server.chain.txView(txid.slice(2))!.block!.hash}`;
    expect(replacementHash).not.toBe(orphanHash);
    expect(records[0]).toMatchObject({ status: "applied", blockHash: replacementHash });
    // Credited, taken back, credited again: each once.
    const ledger = await stack.t.run(async (ctx) =>
      (await ctx.db.query("balanceLedger").collect()).filter((row) => row.provider === wallet.address),
    );
    expect(ledger.map((row) => [row.operationId.split(":")[0], row.amount])).toEqual([
      ["event", 777n],
      ["reversal", 777n],
      ["event", 777n],
    ]);
    // The poller agrees: nothing to reverse, nothing new.
    expect(await poll()).toMatchObject({ applied: 0, reversed: 0 });
  });

  it("acts only on what the API confirms: a stale rollback undoes nothing, a stale block applies nothing", async () => {
    const wallet = await newWallet(stack.server);
    await deposit(wallet, 4_321n);
    const [block] = await stack.server.mine(2);
    await confirmersIdle();
    expect(await stxTotal(wallet.address)).toBe(4_321n);
    const applied = emulator.applyDeliveryOf(block!)!;

    // A rollback of a block the API still has (a late or misrouted delivery): nothing is reversed.
    const staleRollback = await emulator.redeliver({ ...applied, event: { ...applied.event, apply: [], rollback: applied.event.apply } });
    expect(answerOf(staleRollback)).toEqual({ staged: 0, reversed: 0, rollbackPending: 1 });
    expect(await stxTotal(wallet.address)).toBe(4_321n);

    // After a fork, the orphaned block delivered again is not applied: it is no longer at its height.
    await reorg(stack.server, 2, true);
    await confirmersIdle();
    applyVaultEvents.mockClear();
    await emulator.redeliver(applied);
    await confirmersIdle();
    expect(applyVaultEvents).not.toHaveBeenCalled();
    expect(await stxTotal(wallet.address)).toBe(4_321n);
  });

  it("applies blocks in chain order: a block waits until the events before it are in the books", async () => {
    const first = await newWallet(stack.server);
    const second = await newWallet(stack.server);
    // The first deposit's block is not delivered (a delivery lost, say); the second's is.
    emulator.setEnabled(false);
    await deposit(first, 100n);
    const [missed] = await stack.server.mine(1);
    emulator.setEnabled(true);
    await deposit(second, 200n);
    await stack.server.mine(2);
    await emulator.settled();
    // Confirmed, but behind an event the books do not have: it waits.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect([await stxTotal(first.address), await stxTotal(second.address)]).toEqual([0n, 0n]);

    // The missing block arrives (a replay): both apply, in chain order.
    await emulator.redeliver(emulator.applyDeliveryOf(missed!)!);
    await confirmersIdle();
    expect([await stxTotal(first.address), await stxTotal(second.address)]).toEqual([100n, 200n]);
    const appliedAt = await stack.t.run(async (ctx) =>
      Promise.all(
        [first, second].map(async (w) => (await ctx.db.query("balanceLedger").collect()).find((row) => row.provider === w.address)!.appliedAt),
      ),
    );
    expect(appliedAt[0]).toBeLessThanOrEqual(appliedAt[1]!);
  });

  it("refuses a missing or wrong secret with 401 and changes nothing", async () => {
    await confirmersIdle();
    const payload = emulator.deliveries.find((d) => d.payload.event.apply.length > 0)!.payload;
    const before = await snapshot(stack.t);
    const scheduled = await scheduledCount();
    for (const authorization of [undefined, "Bearer wrong-secret-000000000000", `Basic ${SECRET}`, SECRET, `Bearer ${SECRET}x`, `Bearer  `]) {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify(payload),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
      expect(await response.json()).toMatchObject({ code: "NOT_AUTHENTICATED" });
    }
    // An emulator holding the wrong secret retries a bounded number of times, then gives up.
    const impostor = startChainhookEmulator({
      chain: stack.server.chain,
      url: endpoint,
      secret: "not-the-secret-1234567890",
      vaultContractId: VAULT,
      maxAttempts: 3,
      retryDelayMs: 10,
      enabled: false,
    });
    const refused = await impostor.redeliver(payload);
    impostor.stop();
    expect(refused).toMatchObject({ delivered: false, status: 401, attempts: 3 });
    expect(await snapshot(stack.t)).toEqual(before);
    expect(await scheduledCount()).toBe(scheduled);
  });

  it("refuses a malformed or oversized body with 400/413 and changes nothing", async () => {
    await confirmersIdle();
    const valid = emulator.deliveries.find((d) => d.payload.event.apply.length > 0)!.payload;
    const before = await snapshot(stack.t);
    const scheduled = await scheduledCount();
    const send = (body: string) =>
      fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` }, body });

    const spoiled = structuredClone(valid) as EmulatedDelivery;
    (spoiled.event.apply[0]!.transactions[0]!.operations.find((op) => op.type === "contract_log")!.metadata as { value: string }).value = "0xnothex";
    const bodies: [string, string, number][] = [
      ["not JSON", "{ apply: [", 400],
      ["not a delivery", JSON.stringify({ event: {} }), 400],
      ["a delivery with one bad print", JSON.stringify(spoiled), 400],
      ["a delivery for mainnet", JSON.stringify({ ...valid, event: { ...valid.event, network: "mainnet" } }), 400],
      ["a body over the limit", JSON.stringify({ ...valid, padding: "x".repeat(MAX_DELIVERY_BYTES) }), 413],
    ];
    for (const [what, body, status] of bodies) {
      const response = await send(body);
      expect({ what, status: response.status }).toEqual({ what, status });
      expect(await response.json()).toMatchObject({ code: "INVALID_REQUEST" });
    }
    expect(await snapshot(stack.t)).toEqual(before);
    expect(await scheduledCount()).toBe(scheduled);
  });

  it("applies a block of 500 deposits in bounded mutations", async () => {
    await confirmersIdle();
    const config = readChainConfig(process.env);
    const wallets = [];
    for (let i = 0; i < 25; i++) {
      const key = randomPrivateKey();
      const address = privateKeyToAddress(key, "testnet");
      await stack.server.fund(address, 100_000_000_000n);
      wallets.push({ key, address });
    }
    // 20 deposits per wallet (the mempool chains at most 25 per sender), all in one block.
    const txs: Uint8Array[] = [];
    for (const wallet of wallets) {
      for (let nonce = 0n; nonce < 20n; nonce++) {
        const call = depositCall(config, wallet.address, "STX", 1_000n + nonce);
        txs.push((await signPreparedCall(call, { senderKey: wallet.key, network: STACKS_TESTNET, fee: 1_000n, nonce })).serializeBytes());
      }
    }
    for (let i = 0; i < txs.length; i += 50) {
      const answers = await Promise.all(
        txs.slice(i, i + 50).map((bytes) =>
          fetch(`${stack.server.url}/v2/transactions`, {
            method: "POST",
            headers: { "content-type": "application/octet-stream" },
            body: new Uint8Array(bytes).buffer as ArrayBuffer,
          }),
        ),
      );
      expect(answers.every((response) => response.ok)).toBe(true);
    }
    applyVaultEvents.mockClear();
    const [block] = await stack.server.mine(1);
    expect(block?.txids).toHaveLength(500);
    await emulator.settled();
    expect(answerOf(emulator.deliveries.at(-1))).toEqual({ staged: 500, reversed: 0, rollbackPending: 0 });

    await stack.server.mine(1);
    await confirmersIdle();
    const sizes = applyVaultEvents.mock.calls.map(([, events]) => events.length);
    expect(sizes).toEqual(Array(20).fill(25));
    const totals = await Promise.all(wallets.map((w) => stxTotal(w.address)));
    expect(totals).toEqual(wallets.map(() => 20n * 1_000n + 190n));
    expect(await poll()).toMatchObject({ applied: 0 });
  });
});

describe("npm run chainhook:register -- --dry-run", () => {
  it("prints the definition and calls nothing", async () => {
    const { stdout } = await promisify(execFile)("npx", ["tsx", "scripts/register-chainhook.ts", "--dry-run"], {
      env: {
        ...process.env,
        STACKS_NETWORK: "testnet",
        VAULT_CONTRACT_ID: VAULT,
        CONVEX_SITE_URL: "https://happy-otter-123.convex.site",
        // A key that would be refused, and no client installed or needed: a dry run must not use either.
        HIRO_API_KEY: "unused",
      },
    });
    expect(JSON.parse(stdout)).toEqual({
      name: "bithedge-liquidity-pool-testnet",
      version: "1",
      chain: "stacks",
      network: "testnet",
      filters: { events: [{ type: "contract_log", contract_identifier: VAULT }] },
      action: { type: "http_post", url: "https://happy-otter-123.convex.site/chainhooks/vault" },
      options: {
        enable_on_registration: true,
        decode_clarity_values: false,
        include_contract_abi: false,
        include_contract_source_code: false,
        include_post_conditions: false,
        include_raw_transactions: false,
        include_block_signatures: false,
        include_block_metadata: false,
      },
    });
  });

  const REGISTRATION_ENV = { STACKS_NETWORK: "mainnet", VAULT_CONTRACT_ID: VAULT, CONVEX_SITE_URL: "https://x.convex.site/", HIRO_API_KEY: "k" };

  /** The script's I/O with a stand-in Chainhooks client that lists `registered` and records each call. */
  function fakeChainhooks(registered: Awaited<ReturnType<ChainhooksApi["getChainhooks"]>>["results"] = []) {
    const calls: string[] = [];
    const out: string[] = [];
    const io = {
      out: (line: string) => out.push(line),
      err: (line: string) => out.push(`ERR ${line}`),
      loadClient: async () => ({
        CHAINHOOKS_BASE_URL: { mainnet: "https://chainhooks.invalid/mainnet", testnet: "https://chainhooks.invalid/testnet" },
        ChainhooksClient: class {
          constructor(config: { baseUrl: string }) {
            calls.push(`new ${config.baseUrl}`);
          }
          async registerChainhook() {
            calls.push("register");
            return { uuid: "uuid-new", status: { status: "new", enabled: true } };
          }
          async getChainhooks() {
            calls.push("list");
            return { total: registered.length, results: registered };
          }
          async getConsumerSecret() {
            return { secret: "s" };
          }
          async rotateConsumerSecret() {
            return { secret: "s" };
          }
        },
      }),
    };
    return { io, calls, out };
  }

  it("asks the client for nothing on a dry run, and registers once through it otherwise", async () => {
    const { run } = await import("../../scripts/register-chainhook");
    const { io, calls, out } = fakeChainhooks();
    expect(await run(["--dry-run"], REGISTRATION_ENV, io)).toBe(0);
    expect(calls).toEqual([]);
    expect(await run([], REGISTRATION_ENV, io)).toBe(0);
    expect(calls).toEqual(["new https://chainhooks.invalid/mainnet", "list", "register"]);
    expect(out.some((line) => line.includes("registered: uuid-new"))).toBe(true);
    expect(out.some((line) => line.includes("npx convex env set CHAINHOOKS_CONSUMER_SECRET"))).toBe(true);
  });

  it("registers nothing when a hook on the vault's prints already delivers to the deployment, however the service echoes its filters", async () => {
    const { run } = await import("../../scripts/register-chainhook");
    // Echoed with another key order and a default the service added.
    const echoed = { events: [{ contract_identifier: VAULT, type: "contract_log", topic: null }] };
    const { io, calls, out } = fakeChainhooks([
      { uuid: "uuid-1", definition: { network: "mainnet", filters: echoed, action: { url: "https://x.convex.site/chainhooks/vault" } }, status: { enabled: true } },
    ]);
    expect(await run([], REGISTRATION_ENV, io)).toBe(0);
    expect(calls).toEqual(["new https://chainhooks.invalid/mainnet", "list"]);
    expect(out).toContain("already registered: uuid-1 (enabled)");
  });
});
