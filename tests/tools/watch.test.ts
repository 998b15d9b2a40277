/**
 * The guardian's watcher (tools/watch.ts) against the local Hiro-compatible
 * server: one vault through a correct checkpoint, three wrong ones vetoed
 * inside their window, an unexpected role proposal cancelled, a wrong
 * checkpoint and a proposal only reported without the guardian's key, and a
 * thief holding the operator key stopped after one outflow window's cap.
 * The last test is what an unvetoed wrong checkpoint means for a provider:
 * after shutdown the exit tool refuses its tree and sends nothing.
 *
 * The rounds with the guardian's key share one event history, as the
 * long-running watcher's rounds do: after the first, each re-reads only the
 * tail of the logs, and every verdict must still be exactly right.
 */
import { Cl } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { sendsExactly, VAULT_ARGS, VAULT_FUNCTIONS, VAULT_READ_ONLY_FUNCTIONS as F } from "../../convex/chain/vault";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import { runExit } from "../../tools/exit";
import { EventHistory } from "../../tools/chainEvents";
import { runWatch } from "../../tools/watch";
import { describeRefresh, watchRound, type WatchOptions, type WatchSummary } from "../../tools/watchRound";
import { KeySigner, networkOfContract } from "../../tools/vaultTransactions";
import {
  ADMIN_KEY,
  capture,
  clientFor,
  DEPLOYER,
  deposit,
  errorCode,
  honestLeaves,
  keyFile,
  newWallet,
  OPERATOR,
  OPERATOR_KEY,
  payPremium,
  postCheckpoint,
  publishLeaves,
  read,
  SATS,
  sbtcOf,
  STX,
  stxOf,
  SBTC,
  startToolServer,
  VAULT,
  vaultCall,
  vaultCallOk,
  vaultEvents,
  type Wallet,
} from "./toolFixtures";

let server: LocalHiroServer;
let providers: Wallet[];
let buyer: Wallet;
/** Yield the books credited from the premium: the leaves' balances above in − out. */
let yieldOf: Record<string, bigint>;
const NEW_SIGNER = "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC";
const STRANGER = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";

const guardian = () => new KeySigner(ADMIN_KEY, networkOfContract(VAULT));

function options(overrides: Partial<WatchOptions> = {}): WatchOptions {
  return {
    vault: VAULT,
    expectRoles: [
      { role: "operator", who: OPERATOR },
      { role: "signer", who: NEW_SIGNER },
    ],
    burstBps: 8_000n,
    vetoMargin: 6n,
    maxFee: 1_000_000n,
    follow: { wait: () => server.mine(1), maxPolls: 5 },
    ...overrides,
  };
}

/** The history every round with the key carries over, as tools/watch.ts's loop does. */
const history = new EventHistory(VAULT);

/** One round with the guardian's key (the deployer is admin and guardian). */
async function watchWithKey(overrides: Partial<WatchOptions> = {}): Promise<WatchSummary> {
  return await watchRound(clientFor(server), guardian(), options(overrides), () => undefined, history);
}

function actions(summary: WatchSummary) {
  return summary.findings.flatMap((f) => (f.action ? [{ kind: f.kind, functionName: f.action.functionName, outcome: f.action.outcome }] : []));
}

async function currentEpoch(): Promise<bigint | null> {
  return (await read(server, F.getCheckpoint))?.epoch ?? null;
}

beforeAll(async () => {
  server = await startServerWithPool();
});

afterAll(async () => {
  await server?.close();
});

/** Three providers (STX and sBTC) and a premium, all before the first checkpoint. */
async function startServerWithPool(): Promise<LocalHiroServer> {
  const s = await startToolServer();
  providers = [await newWallet(s, SATS(100_000_000n)), await newWallet(s, SATS(100_000_000n)), await newWallet(s, SATS(100_000_000n))];
  buyer = await newWallet(s);
  const [p1, p2, p3] = providers as [Wallet, Wallet, Wallet];
  await deposit(s, p1, "STX", STX(2_000n));
  await deposit(s, p1, "sBTC", SATS(50_000_000n));
  await deposit(s, p2, "STX", STX(1_000n));
  await deposit(s, p3, "sBTC", SATS(30_000_000n));
  // A premium the books split 6:4 between the two STX backers: leaves above in − out, sums at the vault's balance.
  await payPremium(s, buyer, 1n, STX(10n));
  yieldOf = { [p1.address]: STX(6n), [p2.address]: STX(4n) };
  return s;
}

describe("the watcher", () => {
  it("passes a correct checkpoint, pending while its leaves are still being published, and does nothing", async () => {
    const leaves = await honestLeaves(server, providers.map((p) => p.address), yieldOf);
    const { epoch } = await postCheckpoint(server, leaves);
    await publishLeaves(server, epoch, 0n, leaves.slice(0, 2));

    const pending = await watchWithKey();
    expect(pending.checkpoint).toMatchObject({ epoch, status: "pending", problems: [], waitingFor: ["2 of 3 leaves published"] });
    expect(pending.events).toMatchObject({ mode: "full", reason: "first" });
    expect(describeRefresh(pending.events!)).toMatch(/^\[watch\] events: \d+ held, \d+ read this round in \d+ requests \(full read: first read\)$/);
    expect(actions(pending)).toEqual([]);

    await publishLeaves(server, epoch, 2n, leaves.slice(2));
    // Through the command line, as a guardian runs it: --once prints the lines and a JSON summary.
    const cli = capture();
    const nonceBefore = server.chain.nextNonce(DEPLOYER);
    const code = await runWatch(
      ["--api", server.url, "--vault", VAULT, "--guardian-key-file", keyFile(ADMIN_KEY), "--once", "--expect-role", `operator:${OPERATOR}`],
      { out: cli.out, wait: () => server.mine(1) },
    );
    expect(code).toBe(0);
    const summary = JSON.parse(cli.lines.at(-1) as string) as { checkpoint: { epoch: string; status: string }; findings: { action?: unknown }[] };
    expect(summary.checkpoint).toMatchObject({ epoch: String(epoch), status: "ok" });
    expect(summary.findings.filter((f) => f.action)).toEqual([]);
    expect(cli.text()).toContain(`checkpoint epoch ${epoch} checks out`);
    // --once reads the whole history, and says so.
    expect(cli.text()).toMatch(/\[watch\] events: \d+ held, \d+ read this round in \d+ requests \(full read: first read\)/);
    expect(server.chain.nextNonce(DEPLOYER)).toBe(nonceBefore);
    // Let it stand: the next checkpoints are posted over it, and a veto falls back to it.
    await server.advanceBurnBlocks(144);
  });

  it("vetoes a checkpoint that omits a provider, inside its window", async () => {
    const standing = await currentEpoch();
    const all = await honestLeaves(server, providers.map((p) => p.address), yieldOf);
    const leaves = all.slice(0, 2); // the third provider left out; root, sums and count consistent with the rest
    const { epoch } = await postCheckpoint(server, leaves);
    await publishLeaves(server, epoch, 0n, leaves);

    const summary = await watchWithKey();
    // The history carried over: only the tail was read again, from a block below the 144 burn blocks passed.
    expect(summary.events).toMatchObject({ mode: "tail", reason: null, moved: 0 });
    expect(summary.events!.read).toBeLessThan(summary.events!.held);
    expect(describeRefresh(summary.events!)).toMatch(/^\[watch\] events: \d+ held, \d+ read this round in \d+ requests \(tail re-read from block \d+\)$/);
    expect(summary.checkpoint?.status).toBe("wrong");
    expect(summary.checkpoint?.problems).toEqual([
      `the leaf count is 2, but 3 provider records existed at seq 4`,
      `the record of ${providers[2]!.address} (created at seq 4) has no leaf`,
    ]);
    expect(actions(summary)).toEqual([{ kind: "checkpoint", functionName: "veto-checkpoint", outcome: "confirmed" }]);
    expect(await currentEpoch()).toBe(standing);
    const vetoed = (await vaultEvents(server)).filter((e) => e.kind === "checkpoint-vetoed");
    expect(vetoed.map((e) => e.kind === "checkpoint-vetoed" && e.epoch)).toEqual([epoch]);
  });

  it("vetoes a checkpoint that inflates a leaf, its sums consistent with the inflated leaf", async () => {
    const standing = await currentEpoch();
    const leaves = await honestLeaves(server, providers.map((p) => p.address), yieldOf);
    leaves[1] = { ...leaves[1]!, stx: leaves[1]!.stx + STX(100n) };
    const { epoch } = await postCheckpoint(server, leaves);
    await publishLeaves(server, epoch, 0n, leaves);

    const summary = await watchWithKey();
    // Root, sums, count, records and flows all agree with the published leaves: only what the vault held gives it away.
    expect(summary.checkpoint?.problems).toEqual([
      `the STX sum ${STX(3_110n)} is more than the vault held (${STX(3_010n)}) when the books were taken`,
    ]);
    expect(actions(summary)).toEqual([{ kind: "checkpoint", functionName: "veto-checkpoint", outcome: "confirmed" }]);
    expect(await currentEpoch()).toBe(standing);
    const vetoed = (await vaultEvents(server)).filter((e) => e.kind === "checkpoint-vetoed");
    expect(vetoed.at(-1)).toMatchObject({ kind: "checkpoint-vetoed", epoch });
  });

  it("waits for leaves still being published, and vetoes them still missing as the veto window closes", async () => {
    const standing = await currentEpoch();
    const leaves = await honestLeaves(server, providers.map((p) => p.address), yieldOf);
    const { epoch, postedAt } = await postCheckpoint(server, leaves);
    await publishLeaves(server, epoch, 0n, leaves.slice(0, 1));

    expect((await watchWithKey()).checkpoint?.status).toBe("pending");
    // 6 burn blocks (the margin) before the window closes: a checkpoint no one could check must not stand.
    const burn = BigInt(server.simnet.burnBlockHeight);
    await server.advanceBurnBlocks(Number(postedAt + 144n - 6n - burn));
    const summary = await watchWithKey();
    expect(summary.checkpoint?.status).toBe("wrong");
    expect(summary.checkpoint?.problems).toEqual([
      `still not checkable 6 burn blocks before the veto window closes: waiting for 1 of 3 leaves published`,
    ]);
    expect(actions(summary)).toEqual([{ kind: "checkpoint", functionName: "veto-checkpoint", outcome: "confirmed" }]);
    expect(await currentEpoch()).toBe(standing);
  });

  it("cancels a role proposal for an unexpected principal and leaves an expected one", async () => {
    await vaultCallOk(server, ADMIN_KEY, VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii("operator"), Cl.principal(STRANGER)]);
    await vaultCallOk(server, ADMIN_KEY, VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii("signer"), Cl.principal(NEW_SIGNER)]);

    const summary = await watchWithKey();
    expect(actions(summary)).toEqual([{ kind: "role", functionName: "cancel-role", outcome: "confirmed" }]);
    expect(await read(server, F.getPendingRole, VAULT_ARGS.getPendingRole({ role: "operator" }))).toBeNull();
    expect(await read(server, F.getPendingRole, VAULT_ARGS.getPendingRole({ role: "signer" }))).toMatchObject({ who: NEW_SIGNER });
    const cancelled = (await vaultEvents(server)).filter((e) => e.kind === "role-cancelled");
    expect(cancelled).toMatchObject([{ kind: "role-cancelled", role: "operator" }]);
  });

  it("without the guardian's key reports a wrong checkpoint and a proposal, and sends nothing", async () => {
    const leaves = await honestLeaves(server, providers.map((p) => p.address), yieldOf);
    const { epoch } = await postCheckpoint(server, leaves);
    // The published set differs from the committed tree by one unit in one leaf.
    const tampered = leaves.map((leaf, i) => (i === 1 ? { ...leaf, stx: leaf.stx + 1n } : leaf));
    await publishLeaves(server, epoch, 0n, tampered);
    await vaultCallOk(server, ADMIN_KEY, VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii("admin"), Cl.principal(STRANGER)]);
    const nonceBefore = server.chain.nextNonce(DEPLOYER);
    const heightBefore = server.simnet.blockHeight;

    const cli = capture();
    const code = await runWatch(["--api", server.url, "--vault", VAULT, "--once", "--expect-role", `signer:${NEW_SIGNER}`], { out: cli.out });
    expect(code).toBe(1);
    const summary = JSON.parse(cli.lines.at(-1) as string) as WatchSummary;
    const reported = summary.findings.filter((f) => f.action).map((f) => ({ kind: f.kind, functionName: f.action!.functionName, outcome: f.action!.outcome }));
    expect(reported).toEqual([
      { kind: "checkpoint", functionName: "veto-checkpoint", outcome: "reported-only" },
      { kind: "role", functionName: "cancel-role", outcome: "reported-only" },
    ]);
    expect(summary.checkpoint?.problems[0]).toMatch(/^the published leaves hash to root 0x[0-9a-f]{64}, the checkpoint says 0x/);
    expect(cli.text()).toContain("no guardian key given: reported only");
    // Nothing sent, nothing mined, nothing changed.
    expect(server.chain.nextNonce(DEPLOYER)).toBe(nonceBefore);
    expect(server.chain.mempool.pendingCount).toBe(0);
    expect(server.simnet.blockHeight).toBe(heightBefore);
    expect(await currentEpoch()).toBe(epoch);
    expect(await read(server, F.getPendingRole, VAULT_ARGS.getPendingRole({ role: "admin" }))).toMatchObject({ who: STRANGER });

    // Nobody vetoed: once the window has closed the guardian can only say so (the proposal it still cancels).
    await server.advanceBurnBlocks(144);
    const late = await watchWithKey();
    expect(late.findings.find((f) => f.kind === "checkpoint")?.message).toMatch(new RegExp(`^checkpoint epoch ${epoch} is wrong and its veto window closed`));
    expect(actions(late)).toEqual([{ kind: "role", functionName: "cancel-role", outcome: "confirmed" }]);
    expect(await currentEpoch()).toBe(epoch);
  });

  it("revokes the hot keys of a thief draining with the operator key: at most one window's cap is taken", async () => {
    const thief = OPERATOR;
    const before = { stx: stxOf(server, thief), sbtc: sbtcOf(server, thief) };
    const caps: Record<"stx" | "sbtc", bigint> = { stx: 0n, sbtc: 0n };
    for (const [token, contract] of [["stx", null], ["sbtc", SBTC]] as const) {
      const totals = token === "stx" ? [F.getTotalStxBalance, F.getTotalStxLocked] as const : [F.getTotalSbtcBalance, F.getTotalSbtcLocked] as const;
      const free = (await read(server, totals[0])) - (await read(server, totals[1]));
      // Lock everything free, then settle to itself as much as the vault lets through.
      await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.lockCollateralAggregate, VAULT_ARGS.lockCollateralAggregate({ policyIds: [99n], amount: free, tokenContract: contract }));
      const window = await read(server, F.getOutflow, VAULT_ARGS.getOutflow({ tokenContract: contract }));
      caps[token] = window.available;
      await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.settlePolicy, VAULT_ARGS.settlePolicy({ policyId: 99n, buyer: thief, amount: window.available, tokenContract: contract }), [
        sendsExactly(VAULT, contract, window.available),
      ]);
      const more = await vaultCall(server, OPERATOR_KEY, VAULT_FUNCTIONS.settlePolicy, VAULT_ARGS.settlePolicy({ policyId: 99n, buyer: thief, amount: 1n, tokenContract: contract }), [
        sendsExactly(VAULT, contract, 1n),
      ]);
      expect(errorCode(more)).toBe("(err u213)");
    }
    expect(caps).toEqual({ stx: STX(1_000n), sbtc: SATS(10_000_000n) }); // the default floors: 1,000 STX and 0.1 sBTC

    const summary = await watchWithKey();
    expect(summary.events?.mode).toBe("tail");
    expect(actions(summary)).toEqual([{ kind: "outflow", functionName: "revoke-hot-keys", outcome: "confirmed" }]);
    expect(await read(server, F.getRoles)).toMatchObject({ operator: null, signer: null });

    // A new window opens, and the thief finds the key worthless.
    await server.advanceBurnBlocks(144);
    const settle = await vaultCall(server, OPERATOR_KEY, VAULT_FUNCTIONS.settlePolicy, VAULT_ARGS.settlePolicy({ policyId: 99n, buyer: thief, amount: 1n, tokenContract: null }), [
      sendsExactly(VAULT, null, 1n),
    ]);
    const release = await vaultCall(server, OPERATOR_KEY, VAULT_FUNCTIONS.releaseCollateralAggregate, VAULT_ARGS.releaseCollateralAggregate({ policyIds: [99n], amount: 1n, tokenContract: null }));
    expect([errorCode(settle), errorCode(release)]).toEqual(["(err u200)", "(err u200)"]);
    const taken = { stx: stxOf(server, thief) - before.stx, sbtc: sbtcOf(server, thief) - before.sbtc };
    expect(taken).toEqual(caps);
    // The next round sees the burst with nothing left to revoke.
    const after = await watchWithKey();
    expect(actions(after)).toEqual([]);
    expect(after.findings.find((f) => f.kind === "outflow")).toBeUndefined();
  });

  it("leaves a provider's exit refused, and nothing sent, when a wrong tree stood unvetoed", async () => {
    await vaultCallOk(server, ADMIN_KEY, VAULT_FUNCTIONS.shutdown, []);
    const p1 = providers[0]!;
    const before = { stx: stxOf(server, p1.address), sbtc: sbtcOf(server, p1.address), nonce: server.chain.nextNonce(p1.address) };
    const cli = capture();
    const code = await runExit(["--api", server.url, "--vault", VAULT, "--provider", p1.address, "--key-file", keyFile(p1.key)], {
      out: cli.out,
      wait: () => server.mine(1),
    });
    expect(code).toBe(3);
    expect(cli.text()).toMatch(/REFUSED: the leaves published for checkpoint epoch \d+ do not rebuild its tree \(the published leaves hash to root/);
    expect({ stx: stxOf(server, p1.address), sbtc: sbtcOf(server, p1.address), nonce: server.chain.nextNonce(p1.address) }).toEqual(before);
    expect(server.chain.mempool.pendingCount).toBe(0);
    expect((await vaultEvents(server)).filter((e) => e.kind === "exit-claimed")).toEqual([]);
  });
});
