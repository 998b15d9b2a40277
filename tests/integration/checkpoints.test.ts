/**
 * Checkpoints end to end, over real HTTP (README "Checkpoints"): providers
 * deposit (and one withdraws with a voucher) on the local chain, the sync
 * applies it, the checkpoint job takes its snapshot and queues
 * `post-checkpoint`, the backend sender signs and broadcasts it with the
 * operator key, the chain mines it, the sync records `checkpoint-posted`, the
 * job publishes the leaves, and once the sync has recorded them it verifies
 * the checkpoint from the chain's own events. Then the vault's read-only
 * `verify-exit-proof` accepts the leaf and proof `api.exit.getExitProof`
 * returns, `GET /exit/checkpoint` (through a real port) lists every leaf, and
 * a checkpoint whose stored leaf was tampered with before publishing raises
 * `checkpoint-mismatch`.
 */
import { hexToBytes } from "@stacks/common";
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { hiroClientFor } from "../../convex/chain/hiroClient";
import { readVault, VAULT_ARGS, VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { readChainConfig } from "../../convex/config";
import { compareLeafOrder } from "../../convex/domain/checkpoints";
import type schema from "../../convex/schema";
import { startConvexHttpBridge, type ConvexHttpBridge } from "../support/convexHttpBridge";
import { mine, newWallet, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

let stack: Stack;
let bridge: ConvexHttpBridge;
const backend = () => stack.t as unknown as TestConvex<typeof schema>;

beforeAll(async () => {
  stack = await startStack({ CHECKPOINT_INTERVAL_BURN_BLOCKS: "144" });
  bridge = await startConvexHttpBridge(stack.t);
});

afterAll(async () => {
  await bridge?.close();
  await stopStack(stack);
});

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
const checkpointJob = () => stack.t.action(internal.checkpoints.run, {});
const client = () => hiroClientFor(readChainConfig(process.env as Record<string, string>));

/** What the crons do between two checkpoint ticks: send, mine, follow, sync. */
async function chainRound(expectSent: number) {
  expect(await stack.t.action(internal.chainTransactions.send, {})).toMatchObject({ broadcast: expectSent, rejected: 0 });
  await mine(stack.server);
  expect(await stack.t.action(internal.chainTransactions.follow, {})).toMatchObject({ confirmed: expectSent, failed: 0 });
  await mine(stack.server);
  await sync();
}

async function deposit(wallet: { key: string; address: string }, amount: bigint) {
  const { call } = await stack.t
    .withIdentity({ subject: wallet.address })
    .mutation(api.liquidity.requestCommitCapital, { amount, token: "STX", tier: "Balanced" });
  await signAndBroadcast(stack.server, call, wallet.key);
}

describe("a checkpoint cycle on the local chain", () => {
  let providers: { key: string; address: string }[];

  it("posts, publishes and verifies a checkpoint of every provider's balance and record", async () => {
    providers = [await newWallet(stack.server), await newWallet(stack.server), await newWallet(stack.server)];
    await deposit(providers[0]!, 5_000_000_000n);
    await deposit(providers[1]!, 2_000_000_000n);
    await deposit(providers[2]!, 750_000_000n);
    await mine(stack.server);
    await sync();
    // One voucher withdrawal, so a record has an out.
    const { call } = await stack.t
      .withIdentity({ subject: providers[0]!.address })
      .action(api.liquidity.requestWithdrawal, { amount: 1_000_000_000n, token: "STX" });
    await signAndBroadcast(stack.server, call, providers[0]!.key);
    await mine(stack.server, 3);
    await sync();

    const first = await checkpointJob();
    expect(first).toMatchObject({ outcome: "post-queued" });
    const runId = first.runId!;
    expect(await stack.t.query(internal.checkpoints.getRunStatus, { runId })).toMatchObject({ status: "posting", asOfSeq: 4n, leafCount: 3n });

    await chainRound(1); // post-checkpoint mined, checkpoint-posted synced
    const onChain = await readVault(client(), VAULT, VAULT_FUNCTIONS.getCheckpoint);
    expect(onChain).toMatchObject({ epoch: 1n, asOfSeq: 4n, leafCount: 3n, stxSum: 6_750_000_000n, sbtcSum: 0n });
    // The backend knows its own checkpoint: no checkpoint-unknown alert (raised for a post no run made).
    const alertKinds = await backend().run(async (ctx) => (await ctx.db.query("alerts").collect()).map((a) => a.kind));
    expect(alertKinds).not.toContain("checkpoint-unknown");

    expect(await checkpointJob()).toMatchObject({ outcome: "publishing" });
    await chainRound(1); // publish-leaves mined, checkpoint-leaves synced
    expect(await checkpointJob()).toMatchObject({ outcome: "verified", runId });
    expect(await stack.t.query(internal.checkpoints.getRunStatus, { runId })).toMatchObject({ status: "verified", epoch: 1n });

    // Not due again inside the interval (nor inside the veto window).
    expect(await checkpointJob()).toMatchObject({ outcome: "not-due" });
  });

  it("the vault's verify-exit-proof accepts the leaf and proof getExitProof returns", async () => {
    for (const provider of providers) {
      const view = await stack.t.withIdentity({ subject: provider.address }).query(api.exit.getExitProof, {});
      expect(view).toMatchObject({ basis: "leaf", checkpoint: { epoch: 1n, status: "verified" } });
      const { index: _index, ...amounts } = view!.leaf!;
      const leaf = { provider: provider.address, ...amounts };
      const proof = view!.proof!.map((step) => ({ ...step, hash: hexToBytes(step.hash.slice(2)) }));
      const args = VAULT_ARGS.verifyExitProof({ provider: provider.address, leaf, proof });
      expect(await readVault(client(), VAULT, VAULT_FUNCTIONS.verifyExitProof, args)).toBe(true);
      // A leaf one micro-STX richer does not verify.
      const richer = VAULT_ARGS.verifyExitProof({ provider: provider.address, leaf: { ...leaf, stx: leaf.stx + 1n }, proof });
      expect(await readVault(client(), VAULT, VAULT_FUNCTIONS.verifyExitProof, richer)).toBe(false);
    }
    const alice = await stack.t.withIdentity({ subject: providers[0]!.address }).query(api.exit.getExitProof, {});
    expect(alice?.leaf).toMatchObject({ stx: 4_000_000_000n, stxIn: 5_000_000_000n, stxOut: 1_000_000_000n });
    expect(alice?.claims).toEqual([
      { token: "STX", owed: 4_000_000_000n, pays: 4_000_000_000n, claimed: null },
      { token: "sBTC", owed: 0n, pays: 0n, claimed: null },
    ]);
  });

  it("GET /exit/checkpoint lists the current checkpoint and every leaf, bigints as decimal strings", async () => {
    const response = await fetch(`${bridge.url}/exit/checkpoint`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { checkpoint: Record<string, string>; leaves: Record<string, string>[] };
    expect(body.checkpoint).toMatchObject({ epoch: "1", asOfSeq: "4", leafCount: "3", stxSum: "6750000000", status: "verified" });
    expect(body.leaves.map((l) => l.provider)).toEqual(providers.map((p) => p.address).sort(compareLeafOrder));
    expect(body.leaves.map((l) => l.index)).toEqual(["0", "1", "2"]);
    const alice = body.leaves.find((l) => l.provider === providers[0]!.address);
    expect(alice).toEqual({
      index: expect.any(String),
      provider: providers[0]!.address,
      stx: "4000000000",
      sbtc: "0",
      stxIn: "5000000000",
      stxOut: "1000000000",
      sbtcIn: "0",
      sbtcOut: "0",
    });
  });

  it("a leaf tampered with before publishing makes the published checkpoint fail verification: checkpoint-mismatch", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await stack.server.advanceBurnBlocks(144);
    await deposit(providers[2]!, 250_000_000n);
    await mine(stack.server);
    await sync();

    const queued = await checkpointJob();
    expect(queued).toMatchObject({ outcome: "post-queued" });
    const runId = queued.runId!;
    await backend().run(async (ctx) => {
      const leaf = await ctx.db
        .query("checkpointLeaves")
        .withIndex("by_run_and_provider", (q) => q.eq("runId", runId).eq("provider", providers[1]!.address))
        .unique();
      await ctx.db.patch("checkpointLeaves", leaf!._id, { stx: leaf!.stx + 1_000_000n });
    });
    await chainRound(1);
    expect(await checkpointJob()).toMatchObject({ outcome: "publishing" });
    await chainRound(1);
    expect(await checkpointJob()).toMatchObject({ outcome: "mismatch", runId });
    const alerts = await backend().run(async (ctx) => await ctx.db.query("alerts").collect());
    expect(alerts.filter((a) => a.kind === "checkpoint-mismatch").map((a) => a.message)).toEqual([
      expect.stringContaining("checkpoint epoch 2 does not verify from its published leaves"),
    ]);
    // The exit view offers no proof of a checkpoint that did not verify.
    const view = await stack.t.withIdentity({ subject: providers[1]!.address }).query(api.exit.getExitProof, {});
    expect(view).toMatchObject({ checkpoint: { epoch: 2n, status: "mismatch" }, proof: null });
  });
});
