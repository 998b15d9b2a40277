/**
 * `--scenario stolen-key` (README "Security model"): a thief holding both of
 * the backend's hot keys — the operator key it sends with and the signer key
 * it signs vouchers with (simulation/stack.ts) — drains the vault mid-market
 * as fast as the vault lets it, and the guardian's watcher stops it.
 *
 * - The vault runs with a real outflow limit (the vault's default unless
 *   `--outflow-limit` says otherwise): the cap is what bounds the theft.
 * - The watcher is the tools' own round (tools/watchRound.ts, what
 *   `npm run watch` runs each interval) with the guardian's key (the devnet
 *   deployer holds admin and guardian), run after every block: through the
 *   market (where it must stay quiet) and through the theft.
 * - The theft, one block, computed the way the vault computes its window
 *   (README "Outflow limit"): per token, a self-signed voucher withdrawing
 *   half the window's room, then every free unit locked and the rest of the
 *   room settled to itself, then one more unit (refused u213: both keys
 *   together take one cap).
 * - The watcher sees the burst and revokes the hot keys; the thief tries
 *   again (operator u200, voucher u211), and again once burn blocks have
 *   opened a new window.
 */
import { STACKS_TESTNET } from "@stacks/network";
import { Pc } from "@stacks/transactions";

import { HiroClient } from "../../convex/chain/hiroClient";
import {
  SBTC_ASSET_NAME,
  VAULT_ARGS,
  VAULT_FUNCTIONS,
  VAULT_READ_ONLY_FUNCTIONS as F,
  type TokenContract,
} from "../../convex/chain/vault";
import { chainIdOf, signWithdrawalVoucher } from "../../convex/chain/withdrawalVoucher";
import type { Token } from "../../convex/validators";
import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import { watchRound, type WatchOptions, type WatchSummary } from "../../tools/watchRound";
import { KeySigner, networkOfContract } from "../../tools/vaultTransactions";
import { chainBalance, TOKENS } from "../books";
import type { OutflowLimit } from "../options";
import { KeyHolder, outcomeOf, printsOf, readOnly, vaultPrints, type VaultCallSpec } from "../vaultChain";
import type { Rng } from "../rng";
import type { Stack } from "../stack";
import { newWallet } from "../wallets";
import type { IncidentContext, IncidentRun } from "./incident";
import type { ChainCall, OutflowView, StolenKeyResult, Verdict, WatchRecord } from "./results";

const USTX = 1_000_000n;
/** A policy id no policy has: the thief's settlements name it. */
const THIEF_POLICY = 999_999n;
/** The watcher's default burst threshold: `used` at 80% of the cap revokes. */
const BURST_BPS = 8_000n;

/** The thief strikes halfway through, once every policy is sold and before the first expiry. */
export function theftStep(plan: { steps: number; policies: { registrationStep: number }[] }): number {
  const lastSale = Math.max(1, ...plan.policies.map((p) => p.registrationStep));
  return Math.min(plan.steps - 1, Math.max(lastSale + 1, Math.round(0.5 * plan.steps)));
}

/** The window's cap on `balance`: max(floor, balance × bps / 10,000), as the vault computes it. */
function capOn(balance: bigint, limit: OutflowLimit, token: Token): bigint {
  const share = (balance * limit.limitBps) / 10_000n;
  const floor = token === "STX" ? limit.stxFloor : limit.sbtcFloor;
  return share > floor ? share : floor;
}

/**
 * The most one window lets out, with both keys: a voucher (signer key) withdrawing half the window's
 * room from the free balance, then (operator key) every unit still free locked and settled to itself
 * up to what room is left. Both draw on the one window; the cap shrinks with the balance each move
 * takes, so the second move is computed on the first's, as the vault computes it.
 */
export function theftPlan(pool: { balance: bigint; locked: bigint }, window: OutflowView, limit: OutflowLimit, token: Token) {
  const free = pool.balance - pool.locked;
  const half = window.available / 2n;
  const withdraw = free < half ? free : half;
  const balanceAfter = pool.balance - withdraw;
  const roomAfter = capOn(balanceAfter, limit, token) - (window.used + withdraw);
  const lock = balanceAfter - pool.locked;
  const settle = roomAfter <= 0n ? 0n : roomAfter < balanceAfter ? roomAfter : balanceAfter;
  return { withdraw, lock, settle };
}

const outflowOf = (view: { windowStart: bigint; used: bigint; cap: bigint; available: bigint }): OutflowView => ({
  windowStart: view.windowStart,
  used: view.used,
  cap: view.cap,
  available: view.available,
});

export function stolenKey({ stack, plan, rng, progress }: IncidentContext): IncidentRun {
  const watch = guardianWatcher(stack);
  const theftAfter = theftStep(plan);
  const market = { rounds: 0, alarms: [] as WatchRecord[] };

  const script = {
    lastStep: theftAfter,
    // The guardian's watcher after every block of the market: it must find nothing to act on.
    async afterBlock() {
      const round = await watch();
      market.rounds++;
      if (round.findings.some((f) => f.severity !== "info" || f.action !== null)) market.alarms.push(round);
    },
  };

  async function finish(): Promise<StolenKeyResult> {
    progress("a thief with the operator and signer keys drains the vault");
    // The backend's crons are not run from here on (the guardian's watcher is the defence under
    // test): chainhook deliveries stop too, so none reaches a backend that no longer runs.
    await stack.chainhooks?.close();
    const thief = await armThief(stack, rng);
    const recorder = callRecorder(stack, watch);
    const rounds: WatchRecord[] = [];
    const theft = await stealOneWindow(stack, thief, recorder, rounds);

    progress("the hot keys are revoked; the thief tries again");
    await tryAgain(thief, recorder, rounds, "after revocation");
    // A new outflow window: the cap would let the thief take as much again, if its keys still counted.
    await stack.server.advanceBurnBlocks(144);
    await tryAgain(thief, recorder, rounds, "next window");

    const revoked = printsOf(vaultPrints(stack), "hot-keys-revoked")[0] ?? null;
    const roles = readOnly(stack, F.getRoles);
    const tokens = tokensTaken(stack, thief, theft);
    const verdicts = theftVerdicts({ tokens, theft, calls: recorder.calls, revoked, roles, market });
    return {
      kind: "stolen-key",
      theftAfterStep: theftAfter,
      outflowLimit: stack.outflowLimit,
      thief: { operator: stack.operatorAddress, signer: stack.signerAddress, wallet: thief.address },
      tokens,
      calls: recorder.calls,
      marketRounds: market,
      rounds,
      revokedAtHeight: revoked?.height ?? null,
      rolesAfter: { operator: roles.operator, signer: roles.signer },
      verdicts,
      ok: verdicts.every((v) => v.ok),
    };
  }

  return { script, finish: () => finish() };
}

type Watch = () => Promise<WatchRecord>;

/** One round of the guardian's watcher (the tools' own), recorded with the block it looked at. */
function guardianWatcher(stack: Stack): Watch {
  const { server } = stack;
  const client = new HiroClient({ baseUrl: server.url, maxAttempts: 2, baseDelayMs: 10 });
  const guardian = new KeySigner(DEVNET_KEYS.deployer, networkOfContract(stack.vault));
  const options: WatchOptions = {
    vault: stack.vault,
    // The backend's own keys are the only expected holders of the hot roles.
    expectRoles: [
      { role: "operator", who: stack.operatorAddress },
      { role: "signer", who: stack.signerAddress },
    ],
    burstBps: BURST_BPS,
    vetoMargin: 6n,
    maxFee: 1_000_000n,
    // The watcher follows what it sends until mined: here a block is mined between two looks.
    follow: { wait: () => server.mine(1), maxPolls: 5 },
  };
  return async function watch(): Promise<WatchRecord> {
    const summary: WatchSummary = await watchRound(client, guardian, options, (line) => console.log(line));
    return {
      height: server.simnet.blockHeight,
      burnHeight: summary.burnHeight,
      findings: summary.findings.map((f) => ({
        severity: f.severity,
        kind: f.kind,
        message: f.message,
        action: f.action ? { functionName: f.action.functionName, outcome: f.action.outcome, ...(f.action.detail ? { detail: f.action.detail } : {}) } : null,
      })),
    };
  };
}

const tokenContractOf = (stack: Stack, token: Token): TokenContract => (token === "STX" ? null : stack.sbtc);

/** What the vault says of a token: its balance, what is locked, and the outflow window. */
function vaultReads(stack: Stack) {
  return {
    balanceOf: (token: Token) => readOnly(stack, token === "STX" ? F.getTotalStxBalance : F.getTotalSbtcBalance),
    lockedOf: (token: Token) => readOnly(stack, token === "STX" ? F.getTotalStxLocked : F.getTotalSbtcLocked),
    windowOf: (token: Token) => outflowOf(readOnly(stack, F.getOutflow, VAULT_ARGS.getOutflow({ tokenContract: tokenContractOf(stack, token) }))),
  };
}

type Thief = Awaited<ReturnType<typeof armThief>>;

/** The thief: a wallet of its own (a little STX for fees) and both hot keys, with the calls it builds and what it watches. */
async function armThief(stack: Stack, rng: Rng) {
  const thiefWallet = newWallet(rng.fork("thief"));
  // Fees are checked at admission (the local node never takes them): the thief's wallet holds a little STX.
  await stack.server.fund(thiefWallet.address, 100n * USTX);
  const operator = new KeyHolder(stack, stack.keys.operator);
  const wallet = new KeyHolder(stack, thiefWallet.key);
  const held = (token: Token) => chainBalance(stack, thiefWallet.address, token);
  const startHeld = { STX: held("STX"), sBTC: held("sBTC") };
  return { address: thiefWallet.address, operator, wallet, held, startHeld, ...vaultReads(stack), ...thiefCalls(stack, thiefWallet.address) };
}

/** The vault calls the thief makes: vouchers it signs itself with the signer key, and locks and settlements to itself. */
function thiefCalls(stack: Stack, thief: string) {
  const { server } = stack;
  const tokenContract = (token: Token) => tokenContractOf(stack, token);
  const sendsAtMost = (token: Token, amount: bigint) => {
    const sends = Pc.principal(stack.vault).willSendLte(amount);
    return token === "STX" ? sends.ustx() : sends.ft(stack.sbtc as `${string}.${string}`, SBTC_ASSET_NAME);
  };
  let voucherNonce = readOnly(stack, F.getProviderRecord, VAULT_ARGS.getProviderRecord({ provider: thief }))?.nonce ?? 0n;
  /** A voucher the thief signs itself with the signer key, for its own wallet. */
  const voucherCall = (token: Token, amount: bigint): VaultCallSpec => {
    voucherNonce++;
    const expiresAt = BigInt(server.simnet.blockHeight) + 20n;
    const signature = signWithdrawalVoucher(
      { vault: stack.vault, provider: thief, amount, tokenContract: tokenContract(token), nonce: voucherNonce, expiresAt },
      chainIdOf(STACKS_TESTNET),
      stack.keys.signer,
    );
    return {
      functionName: VAULT_FUNCTIONS.withdrawFunds,
      args: VAULT_ARGS.withdrawFunds({ amount, tokenContract: tokenContract(token), nonce: voucherNonce, expiresAt, signature }),
      postConditions: [sendsAtMost(token, amount)],
    };
  };
  const lockCall = (token: Token, amount: bigint): VaultCallSpec => ({
    functionName: VAULT_FUNCTIONS.lockCollateralAggregate,
    args: VAULT_ARGS.lockCollateralAggregate({ policyIds: [THIEF_POLICY], amount, tokenContract: tokenContract(token) }),
    postConditions: [],
  });
  const settleCall = (token: Token, amount: bigint): VaultCallSpec => ({
    functionName: VAULT_FUNCTIONS.settlePolicy,
    args: VAULT_ARGS.settlePolicy({ policyId: THIEF_POLICY, buyer: thief, amount, tokenContract: tokenContract(token) }),
    postConditions: [sendsAtMost(token, amount)],
  });
  return { voucherCall, lockCall, settleCall };
}

type Phase = StolenKeyResult["calls"][number]["phase"];
type CallRecorder = ReturnType<typeof callRecorder>;

/** Sends the thief's calls, and records how each ended once mined. */
function callRecorder(stack: Stack, watch: Watch) {
  const calls: StolenKeyResult["calls"] = [];
  type Sent = { phase: Phase; what: string; who: string; token: Token; amount: bigint; txid: string; functionName: string };
  let sent: Sent[] = [];
  const send = async (holder: KeyHolder, phase: Sent["phase"], what: string, token: Token, amount: bigint, call: VaultCallSpec) => {
    const txid = await holder.send(call);
    sent.push({ phase, what, who: holder.address, token, amount, txid, functionName: call.functionName });
  };
  /** Mines what was sent in one block, records how each call ended, and lets the watcher look. */
  const mineAndWatch = async (rounds: WatchRecord[]) => {
    await stack.server.mine(1);
    for (const s of sent) calls.push({ ...s, ...outcomeOf(stack, s.txid) } satisfies ChainCall & { phase: Sent["phase"] });
    sent = [];
    rounds.push(await watch());
  };
  return { calls, send, mineAndWatch };
}

type TheftWindow = Awaited<ReturnType<typeof stealOneWindow>>;

/** The theft, with the vault's totals and outflow windows before and after it. */
async function stealOneWindow(stack: Stack, thief: Thief, { send, mineAndWatch }: CallRecorder, rounds: WatchRecord[]) {
  const { operator, wallet, voucherCall, lockCall, settleCall, windowOf, balanceOf, lockedOf } = thief;
  const before = {} as Record<Token, { window: OutflowView; balance: bigint; locked: bigint }>;
  for (const token of TOKENS) before[token] = { window: windowOf(token), balance: balanceOf(token), locked: lockedOf(token) };

  // The theft: everything in one block, before any watcher round can see it.
  for (const token of TOKENS) {
    const move = theftPlan(before[token], before[token].window, stack.outflowLimit, token);
    if (move.withdraw > 0n) await send(wallet, "theft", "voucher it signed itself", token, move.withdraw, voucherCall(token, move.withdraw));
  }
  for (const token of TOKENS) {
    const move = theftPlan(before[token], before[token].window, stack.outflowLimit, token);
    if (move.lock > 0n) await send(operator, "theft", "lock every free unit", token, move.lock, lockCall(token, move.lock));
    if (move.settle > 0n) await send(operator, "theft", "settle to itself", token, move.settle, settleCall(token, move.settle));
    await send(operator, "theft", "one unit more", token, 1n, settleCall(token, 1n));
  }
  const theftHeight = stack.server.simnet.blockHeight + 1;
  await mineAndWatch(rounds);
  const after = {} as Record<Token, { window: OutflowView; balance: bigint }>;
  for (const token of TOKENS) after[token] = { window: windowOf(token), balance: balanceOf(token) };
  return { before, after, theftHeight };
}

/** One unit of each token, each way the thief has: a settlement, a lock, a voucher; mined in one block. */
async function tryAgain(thief: Thief, { send, mineAndWatch }: CallRecorder, rounds: WatchRecord[], phase: Phase) {
  const { operator, wallet, voucherCall, lockCall, settleCall } = thief;
  for (const token of TOKENS) {
    await send(operator, phase, "settle to itself", token, 1n, settleCall(token, 1n));
    await send(operator, phase, "lock", token, 1n, lockCall(token, 1n));
    await send(wallet, phase, "voucher it signed itself", token, 1n, voucherCall(token, 1n));
  }
  await mineAndWatch(rounds);
}

/** Per token: the window before and after the theft, what the thief took, and the vault's balance throughout. */
function tokensTaken(stack: Stack, { held, startHeld, balanceOf }: Thief, { before, after }: TheftWindow): StolenKeyResult["tokens"] {
  const tokens = {} as StolenKeyResult["tokens"];
  for (const token of TOKENS) {
    tokens[token] = {
      before: before[token].window,
      after: after[token].window,
      taken: held(token) - startHeld[token],
      vaultBefore: before[token].balance,
      vaultAfter: balanceOf(token),
      vaultHeldAfter: chainBalance(stack, stack.vault, token),
    };
  }
  return tokens;
}

function theftVerdicts({
  tokens,
  theft: { after, theftHeight },
  calls,
  revoked,
  roles,
  market,
}: {
  tokens: StolenKeyResult["tokens"];
  theft: TheftWindow;
  calls: StolenKeyResult["calls"];
  revoked: { height: number } | null;
  roles: { operator: string | null; signer: string | null };
  market: StolenKeyResult["marketRounds"];
}): Verdict[] {
  const afterRevocation = calls.filter((c) => c.phase !== "theft");
  const theftCalls = calls.filter((c) => c.phase === "theft");
  return [
    {
      name: "the thief took at most one outflow window's cap per token",
      ok: TOKENS.every((t) => tokens[t].taken <= tokens[t].before.available && tokens[t].before.used + tokens[t].taken <= tokens[t].before.cap),
      detail: TOKENS.map((t) => `${t}: took ${tokens[t].taken} of a cap of ${tokens[t].before.cap} (${tokens[t].before.used} used before)`).join("; "),
    },
    {
      name: "the vault refused the unit past the cap (u213)",
      ok: theftCalls.filter((c) => c.what === "one unit more").every((c) => !c.ok && c.result === "(err u213)"),
      detail: theftCalls
        .filter((c) => c.what === "one unit more")
        .map((c) => `${c.token}: ${c.result}`)
        .join(", "),
    },
    {
      name: "the watcher revoked the hot keys in the block after the theft",
      ok: revoked !== null && revoked.height === theftHeight + 1 && roles.operator === null && roles.signer === null,
      detail: revoked ? `theft in block ${theftHeight}, hot-keys-revoked in block ${revoked.height}` : "never revoked",
    },
    {
      name: "after revocation every call of the thief failed, in the next window too",
      ok: afterRevocation.length > 0 && afterRevocation.every((c) => !c.ok && (c.result === "(err u200)" || c.result === "(err u211)")),
      detail: [...new Set(afterRevocation.map((c) => `${c.functionName} ${c.result}`))].join(", "),
    },
    {
      name: "nothing left the vault after the theft block, and it holds what it tracks",
      ok: TOKENS.every((t) => tokens[t].vaultAfter === after[t].balance && tokens[t].vaultHeldAfter === tokens[t].vaultAfter),
      detail: TOKENS.map((t) => `${t}: ${after[t].balance} after the theft, ${tokens[t].vaultAfter} at the end, held ${tokens[t].vaultHeldAfter}`).join("; "),
    },
    {
      name: "the watcher raised no alarm through the normal market",
      ok: market.alarms.length === 0 && market.rounds > 0,
      detail: `${market.rounds} rounds, ${market.alarms.length} with a warning, alert or action`,
    },
  ];
}
