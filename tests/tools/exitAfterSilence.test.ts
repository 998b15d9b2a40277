/**
 * The exit when the backend has gone silent: SILENCE (4,320) burn blocks after
 * the last checkpoint a stranger shuts the vault down (not one block earlier),
 * and every provider — with a leaf, with flows after the checkpoint, or with
 * a record newer than it — takes exactly what it is owed with the exit tool.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS, VAULT_READ_ONLY_FUNCTIONS as F } from "../../convex/chain/vault";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import { runExit } from "../../tools/exit";
import {
  balanceOf,
  capture,
  deposit,
  errorCode,
  honestLeaves,
  keyFile,
  newWallet,
  postCheckpoint,
  publishLeaves,
  read,
  SATS,
  STX,
  startToolServer,
  VAULT,
  vaultCall,
  vaultCallOk,
  vaultEvents,
  withdraw,
  type Wallet,
} from "./toolFixtures";

const SILENCE = 4_320n;

let server: LocalHiroServer;
let q1: Wallet, q2: Wallet, q3: Wallet, stranger: Wallet;
let postedAt: bigint;

beforeAll(async () => {
  server = await startToolServer();
  [q1, q2, q3, stranger] = [await newWallet(server, SATS(50_000_000n)), await newWallet(server), await newWallet(server, SATS(50_000_000n)), await newWallet(server)];
  await deposit(server, q1, "STX", STX(400n));
  await deposit(server, q1, "sBTC", SATS(20_000_000n));
  await deposit(server, q2, "STX", STX(100n));
  const leaves = await honestLeaves(server, [q1.address, q2.address]);
  const posted = await postCheckpoint(server, leaves);
  postedAt = posted.postedAt;
  await publishLeaves(server, posted.epoch, 0n, leaves);
  // After the checkpoint, and then nothing from the backend.
  await deposit(server, q2, "STX", STX(50n));
  await withdraw(server, q1, "sBTC", SATS(5_000_000n));
  await deposit(server, q3, "sBTC", SATS(10_000_000n));
});

afterAll(async () => {
  await server?.close();
});

describe("the exit after SILENCE", () => {
  it("lets a stranger shut down only once SILENCE burn blocks have passed since the checkpoint", async () => {
    await server.advanceBurnBlocks(Number(postedAt + SILENCE - BigInt(server.simnet.burnBlockHeight)));
    // At posted-at + SILENCE the backend may still speak; one block later anyone may end it.
    expect(errorCode(await vaultCall(server, stranger.key, VAULT_FUNCTIONS.shutdown, []))).toBe("(err u200)");
    await server.advanceBurnBlocks(1);
    await vaultCallOk(server, stranger.key, VAULT_FUNCTIONS.shutdown, []);
    const shutdown = (await vaultEvents(server)).find((e) => e.kind === "shutdown");
    expect(shutdown).toMatchObject({ by: stranger.address, stxAssets: STX(550n), stxLiabilities: STX(550n), sbtcAssets: SATS(25_000_000n), sbtcLiabilities: SATS(25_000_000n) });
  });

  it("pays every provider exactly what it is owed through the exit tool", async () => {
    const owed: [Wallet, bigint, bigint][] = [
      [q1, STX(400n), SATS(15_000_000n)], // a leaf, and a withdrawal since
      [q2, STX(150n), 0n], // a leaf, and a deposit since
      [q3, 0n, SATS(10_000_000n)], // a record newer than the checkpoint: no leaf
    ];
    for (const [wallet, stx, sbtc] of owed) {
      const before = { stx: balanceOf(server, "STX", wallet.address), sbtc: balanceOf(server, "sBTC", wallet.address) };
      const cli = capture();
      const code = await runExit(["--api", server.url, "--vault", VAULT, "--provider", wallet.address, "--key-file", keyFile(wallet.key)], {
        out: cli.out,
        wait: () => server.mine(1),
      });
      expect(code, cli.text()).toBe(0);
      expect(cli.text()).toContain(`shut down by ${stranger.address}`);
      expect({ stx: balanceOf(server, "STX", wallet.address) - before.stx, sbtc: balanceOf(server, "sBTC", wallet.address) - before.sbtc }).toEqual({ stx, sbtc });
    }
    expect([await read(server, F.getTotalStxBalance), await read(server, F.getTotalSbtcBalance)]).toEqual([0n, 0n]);
  });
});
