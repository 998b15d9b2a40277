/**
 * `--scenario backend-outage` (README "The simulation"): the backend stops for
 * good mid-market, and every provider still gets out with nothing but the
 * chain and the exit tool.
 *
 * 1. The market runs as in the default scenario, with the backend's
 *    checkpoint job (`internal.checkpoints.run`, a cron) ticking every step
 *    before the backend sends: the first checkpoint once the first deposits
 *    are synced. No burn blocks pass in a market on their own, so once every
 *    policy is sold (all premiums in) CHECKPOINT_INTERVAL_BURN_BLOCKS (144, the
 *    vault's veto window too) pass, and the job posts, publishes and verifies
 *    a second checkpoint: leaves with the yield in them.
 * 2. The backend keeps going through the first expiries (settlements paid
 *    after the checkpoint, which its leaves do not know of), then a provider
 *    asks it for a withdrawal voucher and keeps it, and the backend stops: no
 *    Convex function runs again, no chainhook is delivered.
 * 3. On chain alone: the held voucher is redeemed (signed before, still
 *    valid), two providers and a newcomer (a record newer than the
 *    checkpoint, so no leaf) deposit with wallet-built calls.
 * 4. SILENCE (4,320 burn blocks) after the current checkpoint: a stranger's
 *    `shutdown` fails at posted-at + SILENCE (u200) and goes through one burn
 *    block later.
 * 5. Every provider runs the exit tool (`runExit`, what `npm run exit` runs)
 *    with its own key file; what each must receive is computed independently
 *    (exitInvariants.ts) and compared with what its wallet received.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { ConvexError } from "convex/values";

import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { depositCall } from "../../convex/chain/contractCalls";
import { VAULT_FUNCTIONS, VAULT_READ_ONLY_FUNCTIONS as F } from "../../convex/chain/vault";
import { readChainConfig } from "../../convex/config";
import { CHECKPOINT_VETO_WINDOW } from "../../convex/domain/checkpoints";
import type { Token } from "../../convex/validators";
import { runExit } from "../../tools/exit";
import { chainBalance, TOKENS } from "../books";
import type { MarketOutcome } from "../market";
import type { MarketPlan, ProviderPlan } from "../plan";
import type { TokenAmounts } from "../results";
import type { Stack } from "../stack";
import { KeyHolder, outcomeOf, printsOf, readOnly, vaultPrints } from "../vaultChain";
import { newWallet, signAndBroadcast, type Wallet } from "../wallets";
import { exitTotals, exitVerdicts, expectedExits } from "./exitInvariants";
import type { IncidentContext, IncidentRun } from "./incident";
import type { BackendOutageResult, ChainCall, CheckpointRecord, ExitRow, Verdict } from "./results";

/** The vault's SILENCE: burn blocks without a checkpoint after which anyone may shut it down. */
export const SILENCE = 4_320n;
/** The checkpoint job's interval (CHECKPOINT_INTERVAL_BURN_BLOCKS, default) — never under the vault's veto window. */
const CHECKPOINT_INTERVAL = 144n > CHECKPOINT_VETO_WINDOW ? 144n : CHECKPOINT_VETO_WINDOW;
/** The share of their available balance the provider holding a voucher asks for. */
const HELD_VOUCHER_BPS = 2_500n;
const USTX = 1_000_000n;

/**
 * When things happen, from the plan: burn blocks pass after the last sale (every premium paid); the
 * backend stops three quarters through, but not before the second checkpoint has had its three steps
 * (post, publish, verify) nor before the first expiry has been settled.
 */
export function outageSchedule(plan: { steps: number; policies: { registrationStep: number; expiryStep: number }[] }) {
  const lastSale = Math.max(1, ...plan.policies.map((p) => p.registrationStep));
  const firstExpiry = Math.min(plan.steps - 1, ...plan.policies.map((p) => p.expiryStep));
  const stopAfter = Math.min(plan.steps - 1, Math.max(lastSale + 4, firstExpiry + 1, Math.round(0.75 * plan.steps)));
  return { burnBlocksAfter: lastSale, stopAfter };
}

export function backendOutage(context: IncidentContext): IncidentRun {
  const { stack, plan, progress } = context;
  const schedule = outageSchedule(plan);
  const ticks: BackendOutageResult["ticks"] = [];
  const runs = new Map<string, number>();
  const { t } = stack;

  const script = {
    lastStep: schedule.stopAfter,
    burnBlocksAfter: new Map([[schedule.burnBlocksAfter, Number(CHECKPOINT_INTERVAL)]]),
    // The checkpoint job's cron, as it runs on a deployment: one tick per step, before the sender.
    async beforeSend(step: number) {
      const tick = await t.action(internal.checkpoints.run, {});
      if (tick.runId !== undefined && !runs.has(tick.runId)) runs.set(tick.runId, step);
      const last = ticks.at(-1);
      // A long run of "not due" is one line.
      if (tick.outcome === "not-due" && last?.outcome === "not-due") return;
      ticks.push({ step, outcome: tick.outcome, ...(tick.detail ? { detail: tick.detail } : {}) });
    },
  };

  async function finish(market: MarketOutcome): Promise<BackendOutageResult> {
    // What the backend knew of its checkpoints, read while it is still there.
    const checkpoints = await checkpointRecords(stack, runs);

    progress("a provider takes a voucher from the backend, and the backend stops");
    const held = await takeVoucher(plan, market);
    // The backend stops for good: no Convex function runs again, and no chainhook is delivered.
    await stack.chainhooks?.close();

    const onChain = await flowsWithoutBackend(context, held);
    const silence = await shutdownAfterSilence(context, onChain.calls);
    const exit = await exitAfterShutdown(context, onChain.newcomer, silence.current);
    const verdicts = outageVerdicts(checkpoints, onChain, silence, exit);
    return {
      kind: "backend-outage",
      ticks,
      checkpoints,
      burnBlocksPassed: [...script.burnBlocksAfter].map(([afterStep, count]) => ({ afterStep, count })),
      stoppedAfterStep: schedule.stopAfter,
      heldVoucher: held.token === null ? null : { provider: held.call?.wallet.address ?? "", token: held.token, amount: held.amount ?? 0n, call: onChain.heldCall, refusals: held.refusals },
      calls: onChain.calls,
      silence: { epoch: silence.current?.epoch ?? null, postedAtBurn: silence.postedAt, shutdownAllowedAfterBurn: silence.allowedAfter, burnHeightAtShutdown: silence.burnAtShutdown },
      shutdownBy: exit.shutdownPrint?.by ?? "",
      exits: exit.rows,
      totals: exit.totals,
      verdicts,
      ok: verdicts.every((v) => v.ok),
    };
  }

  return { script, finish };
}

/** The runs the job started, as the backend stored them, with their posts as the chain recorded them. */
async function checkpointRecords(stack: Stack, runs: ReadonlyMap<string, number>): Promise<CheckpointRecord[]> {
  const { t, server } = stack;
  const posted = printsOf(vaultPrints(stack), "checkpoint-posted");
  const records: CheckpointRecord[] = [];
  for (const [runId, step] of runs) {
    const run = await t.query(internal.checkpoints.getRunStatus, { runId: runId as Id<"checkpointRuns"> });
    if (!run || run.epoch === null) continue;
    const print = posted.find((p) => p.epoch === run.epoch);
    const burn = print ? (server.chain.blocks.atHeight(print.height)?.burnBlockHeight ?? 0) : 0;
    records.push({
      epoch: run.epoch,
      step,
      postedAtBurn: BigInt(burn),
      asOfSeq: run.asOfSeq,
      leafCount: run.leafCount,
      sums: { STX: print?.stxSum ?? 0n, sBTC: print?.sbtcSum ?? 0n },
      status: run.status,
    });
  }
  return records;
}

type HeldVoucher = Awaited<ReturnType<typeof takeVoucher>>;

/**
 * The last thing the backend does: a provider asks for a withdrawal voucher (a quarter of what
 * they have available, in their first token) and keeps the signed call. The first provider the
 * backend agrees to (health, the voucher rule, the window) is the one.
 */
async function takeVoucher(plan: MarketPlan, market: MarketOutcome) {
  const refusals: string[] = [];
  for (const p of plan.providers) {
    const token = firstToken(p);
    const session = market.sessionOf(p.wallet.address);
    const portfolio = await session.query(api.liquidity.getProviderPortfolio, {});
    const available = portfolio?.balances.find((b) => b.token === token)?.available ?? 0n;
    const amount = (available * HELD_VOUCHER_BPS) / 10_000n;
    if (amount <= 0n) continue;
    try {
      const prepared = await session.action(api.liquidity.requestWithdrawal, { amount, token });
      return { token, amount, call: { call: prepared.call, wallet: p.wallet }, refusals };
    } catch (error) {
      if (!(error instanceof ConvexError)) throw error;
      const data = error.data as { code?: string; message?: string };
      refusals.push(`${p.wallet.address.slice(0, 8)}… ${token}: ${data.code ?? "refused"}`);
    }
  }
  return { token: null, amount: null, call: null, refusals };
}

type FlowsWithoutBackend = Awaited<ReturnType<typeof flowsWithoutBackend>>;

/** On chain alone: the held voucher redeemed, deposits of a third of the providers and of a newcomer, all in one block. */
async function flowsWithoutBackend({ stack, plan, rng, progress }: IncidentContext, held: HeldVoucher) {
  const { server } = stack;
  progress("on chain alone: the held voucher, deposits");
  const calls: ChainCall[] = [];
  const newcomer = newWallet(rng.fork("newcomer"));
  await server.fund(newcomer.address, 10_000n * USTX);
  await server.mintSbtc(newcomer.address, 5_000_000n);
  const pending: { what: string; who: string; token: Token | null; amount: bigint | null; txid: string; functionName: string }[] = [];
  if (held.call) {
    const txid = await signAndBroadcast(stack, held.call.call, held.call.wallet);
    pending.push({ what: "voucher signed before the outage, redeemed after", who: held.call.wallet.address, token: held.token, amount: held.amount, txid, functionName: VAULT_FUNCTIONS.withdrawFunds });
  }
  const config = readChainConfig();
  const deposit = async (wallet: Wallet, token: Token, amount: bigint, what: string) => {
    const txid = await signAndBroadcast(stack, depositCall(config, wallet.address, token, amount), wallet);
    pending.push({ what, who: wallet.address, token, amount, txid, functionName: VAULT_FUNCTIONS.depositFunds });
  };
  for (const p of plan.providers.filter((x) => x.index % 3 === 1)) {
    const token = firstToken(p);
    const amount = p.deposits[token] / 10n;
    // New money from outside (the faucet): the wallet's spare STX pays no deposit this size.
    if (token === "STX") await server.fund(p.wallet.address, amount);
    else await server.mintSbtc(p.wallet.address, amount);
    await deposit(p.wallet, token, amount, "deposit with the backend gone");
  }
  await deposit(newcomer, "STX", 5_000n * USTX, "a newcomer's deposit (record newer than the checkpoint)");
  await deposit(newcomer, "sBTC", 2_000_000n, "a newcomer's deposit (record newer than the checkpoint)");
  await server.mine(1);
  for (const call of pending) calls.push({ ...call, ...outcomeOf(stack, call.txid) });
  const heldCall = held.call ? (calls.find((c) => c.functionName === VAULT_FUNCTIONS.withdrawFunds) ?? null) : null;
  return { calls, newcomer, heldCall };
}

type ShutdownAfterSilence = Awaited<ReturnType<typeof shutdownAfterSilence>>;

/** SILENCE passes after the current checkpoint; a stranger tries `shutdown` at posted-at + SILENCE, then one burn block later. */
async function shutdownAfterSilence({ stack, rng, progress }: IncidentContext, calls: ChainCall[]) {
  const { server } = stack;
  progress("SILENCE passes; a stranger shuts the vault down");
  const current = readOnly(stack, F.getCheckpoint);
  const postedAt = current?.postedAt ?? 0n;
  const allowedAfter = postedAt + SILENCE;
  const toWait = allowedAfter - BigInt(server.simnet.burnBlockHeight);
  if (toWait > 0n) await server.advanceBurnBlocks(Number(toWait));
  const stranger = new KeyHolder(stack, newWallet(rng.fork("stranger")).key);
  await server.fund(stranger.address, 100n * USTX);
  const shutdown = async (what: string) => {
    const txid = await stranger.send({ functionName: VAULT_FUNCTIONS.shutdown, args: [], postConditions: [] });
    await server.mine(1);
    const call: ChainCall = { what, who: stranger.address, functionName: VAULT_FUNCTIONS.shutdown, token: null, amount: null, txid, ...outcomeOf(stack, txid) };
    calls.push(call);
    return call;
  };
  const early = await shutdown(`shutdown at posted-at + SILENCE (burn ${server.simnet.burnBlockHeight})`);
  await server.advanceBurnBlocks(1);
  const burnAtShutdown = BigInt(server.simnet.burnBlockHeight);
  const late = await shutdown(`shutdown one burn block later (burn ${burnAtShutdown})`);
  return { current, postedAt, allowedAfter, burnAtShutdown, stranger: stranger.address, early, late };
}

type ExitAfterShutdown = Awaited<ReturnType<typeof exitAfterShutdown>>;

/** Every provider (and the newcomer) exits with the exit tool; what each received is set against what each must receive. */
async function exitAfterShutdown({ stack, plan, progress }: IncidentContext, newcomer: Wallet, current: ShutdownAfterSilence["current"]) {
  progress("every provider exits with the exit tool");
  const providers = [
    ...plan.providers.map((p) => ({ wallet: p.wallet, label: p.tier })),
    { wallet: newcomer, label: "newcomer" },
  ];
  const exits = await exitEveryone(stack, providers);
  const prints = vaultPrints(stack);
  const shutdownPrint = printsOf(prints, "shutdown").at(-1);
  const terms = shutdownPrint
    ? { assets: shutdownPrint.assets, liabilities: shutdownPrint.liabilities }
    : { assets: { STX: 0n, sBTC: 0n }, liabilities: { STX: 0n, sBTC: 0n } };
  const expected = expectedExits(
    { checkpoint: current ? { epoch: current.epoch, asOfSeq: current.asOfSeq } : null, prints },
    terms,
    providers.map((p) => ({ address: p.wallet.address, label: p.label })),
  );
  const claims = printsOf(prints, "exit-claimed");
  const rows: ExitRow[] = expected.map((row) => {
    const measured = exits.get(row.address);
    const claimed = {} as ExitRow["claimed"];
    for (const token of TOKENS) {
      const claim = claims.find((c) => c.provider === row.address && c.token === token);
      claimed[token] = claim ? { owed: claim.owed, paid: claim.paid } : null;
    }
    return { ...row, paid: measured?.paid ?? { STX: 0n, sBTC: 0n }, claimed, exitCode: measured?.code ?? -1 };
  });
  const vaultAfter = { STX: chainBalance(stack, stack.vault, "STX"), sBTC: chainBalance(stack, stack.vault, "sBTC") };
  const totals = exitTotals(rows, terms, vaultAfter);
  return { shutdownPrint, rows, totals };
}

function outageVerdicts(
  checkpoints: readonly CheckpointRecord[],
  { calls, heldCall }: FlowsWithoutBackend,
  { current, allowedAfter, burnAtShutdown, stranger, early, late }: ShutdownAfterSilence,
  { shutdownPrint, rows, totals }: ExitAfterShutdown,
): Verdict[] {
  const lastPosted = checkpoints.at(-1);
  return [
    {
      name: "the backend posted, published and verified a checkpoint during the market",
      ok: checkpoints.some((c) => c.status === "verified"),
      detail: checkpoints.map((c) => `epoch ${c.epoch} at step ${c.step}: ${c.status}`).join("; ") || "none posted",
    },
    {
      name: "the exits went by the last checkpoint the backend posted",
      ok: current !== null && lastPosted !== undefined && current.epoch === lastPosted.epoch,
      detail: `current epoch ${current?.epoch ?? "none"}, last posted ${lastPosted?.epoch ?? "none"}`,
    },
    {
      name: "after the backend stopped, flows went on on chain: deposits, and a voucher signed before",
      ok: calls.filter((c) => c.functionName !== VAULT_FUNCTIONS.shutdown).every((c) => c.ok) && heldCall !== null,
      detail: calls
        .filter((c) => c.functionName !== VAULT_FUNCTIONS.shutdown)
        .map((c) => `${c.functionName} ${c.ok ? "ok" : c.result}`)
        .join(", "),
    },
    {
      name: "a stranger could not shut down at posted-at + SILENCE, and could one burn block later",
      ok: !early.ok && early.result === "(err u200)" && late.ok && shutdownPrint?.by === stranger,
      detail: `at burn ${allowedAfter}: ${early.result}; at burn ${burnAtShutdown}: ${late.result}`,
    },
    ...exitVerdicts(rows, totals),
  ];
}

/** Each provider runs the exit tool with its own key file; what its wallet received is measured around it. */
async function exitEveryone(stack: Stack, providers: { wallet: Wallet; label: string }[]) {
  const { server } = stack;
  const dir = mkdtempSync(path.join(tmpdir(), "bithedge-exit-"));
  const measured = new Map<string, { paid: TokenAmounts; code: number }>();
  try {
    for (const [i, { wallet }] of providers.entries()) {
      const keyFile = path.join(dir, `provider-${i}.key`);
      writeFileSync(keyFile, `${wallet.key}\n`, { mode: 0o600 });
      const before = { STX: chainBalance(stack, wallet.address, "STX"), sBTC: chainBalance(stack, wallet.address, "sBTC") };
      const code = await runExit(["--api", server.url, "--vault", stack.vault, "--provider", wallet.address, "--key-file", keyFile], {
        out: (line) => console.log(line),
        // The tool looks at a sent claim every 5 s: here a block is mined in between instead.
        wait: () => server.mine(1),
      });
      const paid = { STX: chainBalance(stack, wallet.address, "STX") - before.STX, sBTC: chainBalance(stack, wallet.address, "sBTC") - before.sBTC };
      measured.set(wallet.address, { paid, code });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return measured;
}

function firstToken(p: ProviderPlan): Token {
  return p.deposits.STX > 0n ? "STX" : "sBTC";
}
