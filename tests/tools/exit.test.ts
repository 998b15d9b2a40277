/**
 * The exit tool (tools/exit.ts) with the backend gone: a pool of four
 * providers in STX and sBTC, a checkpoint with yield in its leaves, deposits
 * and withdrawals after it, one record created after it, and a settlement
 * paid out after it — so at shutdown the vault is short of STX and every
 * STX claim is paid the same share, while sBTC is paid in full. Each provider
 * claims with the tool alone and receives exactly what the contract's rule
 * gives; a second run sends nothing.
 */
import { execFile } from "node:child_process";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { sendsExactly, VAULT_ARGS, VAULT_FUNCTIONS, VAULT_READ_ONLY_FUNCTIONS as F } from "../../convex/chain/vault";
import type { Token } from "../../convex/domain/vocabulary";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import { runExit } from "../../tools/exit";
import {
  ADMIN_KEY,
  balanceOf,
  capture,
  deposit,
  honestLeaves,
  keyFile,
  newWallet,
  OPERATOR_KEY,
  payPremium,
  postCheckpoint,
  publishLeaves,
  read,
  SATS,
  STX,
  startToolServer,
  VAULT,
  vaultCallOk,
  vaultEvents,
  withdraw,
  type Wallet,
} from "./toolFixtures";

let server: LocalHiroServer;
let p1: Wallet, p2: Wallet, p3: Wallet, p4: Wallet, buyer: Wallet;

/**
 * What each provider is owed, worked out by hand from the story below:
 * leaf + deposits since − withdrawals since (P4: deposits − withdrawals).
 */
const OWED: Record<string, Record<Token, bigint>> = {};
/** The shutdown's STX terms: assets 1,860 STX (1,910 tracked − the 50 STX settlement) against 1,910 STX of liabilities. */
const STX_ASSETS = STX(1_860n);
const STX_LIABILITIES = STX(1_910n);

async function exitTool(wallet: Wallet, withKey: boolean) {
  const cli = capture();
  const args = ["--api", server.url, "--vault", VAULT, "--provider", wallet.address, ...(withKey ? ["--key-file", keyFile(wallet.key)] : [])];
  const code = await runExit(args, { out: cli.out, wait: () => server.mine(1) });
  return { code, text: cli.text() };
}

beforeAll(async () => {
  server = await startToolServer();
  [p1, p2, p3, p4, buyer] = [
    await newWallet(server, SATS(100_000_000n)),
    await newWallet(server, SATS(100_000_000n)),
    await newWallet(server, SATS(100_000_000n)),
    await newWallet(server, SATS(100_000_000n)),
    await newWallet(server),
  ];
  // Before the checkpoint: seq 1-4, and a 10 STX premium the books give P1 6 and P2 4.
  await deposit(server, p1, "STX", STX(1_000n));
  await deposit(server, p1, "sBTC", SATS(50_000_000n));
  await deposit(server, p2, "STX", STX(500n));
  await deposit(server, p3, "sBTC", SATS(30_000_000n));
  await payPremium(server, buyer, 7n, STX(10n));
  const leaves = await honestLeaves(server, [p1.address, p2.address, p3.address], { [p1.address]: STX(6n), [p2.address]: STX(4n) });
  const { epoch } = await postCheckpoint(server, leaves);
  await publishLeaves(server, epoch, 0n, leaves.slice(0, 2));
  await publishLeaves(server, epoch, 2n, leaves.slice(2));
  await server.advanceBurnBlocks(144); // the checkpoint stands
  // After it: more deposits and withdrawals, and a record that did not exist at the checkpoint.
  await deposit(server, p1, "STX", STX(200n));
  await withdraw(server, p2, "STX", STX(100n));
  await deposit(server, p3, "sBTC", SATS(10_000_000n));
  await withdraw(server, p3, "sBTC", SATS(5_000_000n));
  await deposit(server, p4, "STX", STX(300n));
  await deposit(server, p4, "sBTC", SATS(20_000_000n));
  OWED[p1.address] = { STX: STX(1_006n + 200n), sBTC: SATS(50_000_000n) };
  OWED[p2.address] = { STX: STX(504n - 100n), sBTC: 0n };
  OWED[p3.address] = { STX: 0n, sBTC: SATS(30_000_000n + 10_000_000n - 5_000_000n) };
  OWED[p4.address] = { STX: STX(300n), sBTC: SATS(20_000_000n) };
});

afterAll(async () => {
  await server?.close();
});

describe("the exit tool", () => {
  it("before shutdown prints what is owed and exits non-zero, sending nothing", async () => {
    const { code, text } = await exitTool(p1, true);
    expect(code).toBe(2);
    expect(text).toContain("[exit] STX: owed 1206 STX (1206000000 µSTX)\n");
    expect(text).toContain("[exit] sBTC: owed 0.5 sBTC (50000000 sats)\n");
    expect(text).toContain(`REFUSED: ${VAULT} is not shut down: claim-exit fails (u216)`);
    expect(server.chain.mempool.pendingCount).toBe(0);
  });

  it("after the operator paid some STX away and the admin shut down, pays every provider exactly its share", async () => {
    // A settlement after the checkpoint: the vault holds less than the books owe.
    await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.lockCollateralAggregate, VAULT_ARGS.lockCollateralAggregate({ policyIds: [7n], amount: STX(50n), tokenContract: null }));
    await vaultCallOk(server, OPERATOR_KEY, VAULT_FUNCTIONS.settlePolicy, VAULT_ARGS.settlePolicy({ policyId: 7n, buyer: buyer.address, amount: STX(50n), tokenContract: null }), [
      sendsExactly(VAULT, null, STX(50n)),
    ]);
    await vaultCallOk(server, ADMIN_KEY, VAULT_FUNCTIONS.shutdown, []);
    expect(await read(server, F.getExitTerms)).toEqual({
      stxAssets: STX_ASSETS,
      stxLiabilities: STX_LIABILITIES,
      sbtcAssets: SATS(105_000_000n),
      sbtcLiabilities: SATS(105_000_000n),
    });

    const expectedPaid = (wallet: Wallet, token: Token) =>
      token === "STX" ? (OWED[wallet.address]!.STX * STX_ASSETS) / STX_LIABILITIES : OWED[wallet.address]!.sBTC;
    for (const wallet of [p1, p2, p3, p4]) {
      const before = { STX: balanceOf(server, "STX", wallet.address), sBTC: balanceOf(server, "sBTC", wallet.address) };
      const { code, text } = await exitTool(wallet, true);
      expect(code, text).toBe(0);
      const received = { STX: balanceOf(server, "STX", wallet.address) - before.STX, sBTC: balanceOf(server, "sBTC", wallet.address) - before.sBTC };
      expect(received).toEqual({ STX: expectedPaid(wallet, "STX"), sBTC: expectedPaid(wallet, "sBTC") });
      for (const token of ["STX", "sBTC"] as const) {
        if (received[token] > 0n) expect(text).toMatch(new RegExp(`\\[exit\\] ${token}: claimed, paid .*\\(${received[token]} (µSTX|sats)\\) in tx 0x`));
        else expect(text).toContain(`[exit] ${token}: nothing owed: no claim sent`);
      }
    }
    // The figures in full: 1,206 × 1,860 / 1,910 STX and so on, rounded down; sBTC in full.
    const claims = (await vaultEvents(server)).filter((e) => e.kind === "exit-claimed");
    expect(claims.map((e) => e.kind === "exit-claimed" && [e.provider, e.token, e.owed, e.paid])).toEqual([
      [p1.address, "STX", STX(1_206n), 1_174_429_319n],
      [p1.address, "sBTC", SATS(50_000_000n), SATS(50_000_000n)],
      [p2.address, "STX", STX(404n), 393_424_083n],
      [p3.address, "sBTC", SATS(35_000_000n), SATS(35_000_000n)],
      [p4.address, "STX", STX(300n), 292_146_596n],
      [p4.address, "sBTC", SATS(20_000_000n), SATS(20_000_000n)],
    ]);
    // Every claim took the same share, so what is left is rounding dust.
    expect(await read(server, F.getTotalStxBalance)).toBe(STX_ASSETS - 1_174_429_319n - 393_424_083n - 292_146_596n);
    expect(await read(server, F.getTotalSbtcBalance)).toBe(0n);
  });

  it("a second run sees the exit-claimed events and sends nothing", async () => {
    const before = { stx: balanceOf(server, "STX", p1.address), sbtc: balanceOf(server, "sBTC", p1.address), nonce: server.chain.nextNonce(p1.address) };
    const { code, text } = await exitTool(p1, true);
    expect(code).toBe(0);
    expect(text).toMatch(/\[exit\] {3}already claimed: paid 1174\.429319 STX \(1174429319 µSTX\) in tx 0x[0-9a-f]{64}/);
    expect(text).toContain("[exit] STX: already claimed (the vault's exit-claimed says 1174429319 paid): nothing sent, a second claim would fail u218");
    expect(text).toContain("[exit] sBTC: already claimed (the vault's exit-claimed says 50000000 paid): nothing sent, a second claim would fail u218");
    expect({ stx: balanceOf(server, "STX", p1.address), sbtc: balanceOf(server, "sBTC", p1.address), nonce: server.chain.nextNonce(p1.address) }).toEqual(before);
    expect(server.chain.mempool.pendingCount).toBe(0);
  });

  it("refuses a provider with no record", async () => {
    const stranger = await newWallet(server);
    const { code, text } = await exitTool(stranger, true);
    expect(code).toBe(4);
    expect(text).toContain(`REFUSED: ${stranger.address} has no provider record in ${VAULT}: there is nothing to claim`);
  });

  it("runs as `npm run exit` and prints the exact call without a key", async () => {
    // Asynchronously: the local server answering the tool lives in this process.
    const fresh = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile("npm", ["run", "--silent", "exit", "--", "--api", server.url, "--vault", VAULT, "--provider", p2.address], { timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
      );
    });
    expect(fresh.status, fresh.stderr).toBe(0);
    // P2's sBTC was never claimed (nothing owed): the tool shows the call that would claim it.
    expect(fresh.stdout).toContain("[exit] sBTC: owed 0 sBTC (0 sats); claim-exit pays 0 sBTC (0 sats)");
    expect(fresh.stdout).toMatch(/\[exit\] {3}call: claim-exit 0x0a061a[0-9a-f]+ 0x0a0c[0-9a-f]+ 0x0b[0-9a-f]+/);
    expect(fresh.stdout).toContain("no key given: nothing sent");
  });
});
