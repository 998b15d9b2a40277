/**
 * The one nonce allocator of backend-signed vault transactions, against the
 * local Hiro-compatible server over real HTTP (docs/transaction-states.md):
 * distinct nonces for concurrent claims, resyncing the counter when it is
 * behind or ahead of the chain, a nonce another signer used ("BadNonce"), and
 * the version a crash left on the node ("found-on-node"). Shared setup in
 * backendTransactionsFixtures.ts.
 */
import { describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { HiroClient } from "../../convex/chain/hiroClient";
import {
  apiTx,
  backend,
  chainNextNonce,
  counter,
  expectQuiet,
  follow,
  localPost,
  pendingRow,
  row,
  send,
  setCounter,
  spendBackendNonce,
  stack,
  stxLockedOnChain,
  sync,
  useBackendStack,
} from "./backendTransactionsFixtures";
import { mine } from "./stack";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

useBackendStack({ funded: true });

describe("backend-signed vault transactions: nonces", () => {
  it("hands out distinct, gap-free nonces to concurrent claims, and the same nonce to a second claim", async () => {
    const start = (await counter())!;
    const ids = await Promise.all(Array.from({ length: 20 }, () => pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate)));
    const nonces = await Promise.all(
      ids.map((id) => stack.t.mutation(internal.chainTransactions.claimNonce, { id })),
    );
    const sorted = [...nonces].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted).toEqual(Array.from({ length: 20 }, (_, i) => start + BigInt(i)));
    expect(await counter()).toBe(start + 20n);
    const again = await Promise.all(ids.map((id) => stack.t.mutation(internal.chainTransactions.claimNonce, { id })));
    expect(again).toEqual(nonces);
    expect(await counter()).toBe(start + 20n);

    // Never sent: take the rows and their nonces back.
    await backend().run(async (ctx) => {
      for (const id of ids) await ctx.db.delete("chainTransactions", id);
    });
    await setCounter(start);
    await expectQuiet();
  });

  it("resyncs a counter that fell behind the chain before signing, and sends with the chain's nonce", async () => {
    const chainNext = await chainNextNonce();
    await setCounter(chainNext - 1n); // a lost update
    const lock = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    const release = await pendingRow(VAULT_FUNCTIONS.releaseCollateralAggregate);
    expect(await send()).toEqual({ broadcast: 2, rejected: 0 });
    expect((await row(lock)).nonce).toBe(chainNext);
    expect((await row(release)).nonce).toBe(chainNext + 1n);
    expect(await counter()).toBe(chainNext + 2n);
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 2, failed: 0, replaced: 0 });
    await sync();
    await expectQuiet();
  });

  it("answers a BadNonce rejection (another signer used the nonce) by resyncing the counter from the API", async () => {
    const chainNext = await chainNextNonce();
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    // A send that claimed the nonce and died before broadcasting (the fee estimate kept failing).
    await localPost("/_local/faults", { path: "/v2/fees/transaction", status: 500, times: 5 });
    await expect(send()).rejects.toThrow(/unavailable after 5 attempts/);
    expect(await row(id)).toMatchObject({ status: "pending", nonce: chainNext, attempts: 0 });
    // Meanwhile another signer with the backend key takes that nonce.
    await spendBackendNonce(chainNext);

    expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    const rejected = await row(id);
    expect(rejected.status).toBe("pending");
    expect(rejected.attempts).toBe(1);
    expect(rejected.error).toMatch(/^BadNonce: /);
    expect(await counter()).toBe(chainNext + 1n);

    // Cleanup: the row is abandoned (see the next test for what should happen to it).
    await backend().run(async (ctx) => ctx.db.delete("chainTransactions", id));
    await expectQuiet();
  });

  // Regression: a BadNonce means the row's nonce is below the chain's next one;
  // resync used to take back only nonces at or above it, so the row kept its dead
  // nonce, was refused on every run and failed after MAX_SEND_ATTEMPTS.
  it("sends a transaction refused with BadNonce again with a fresh nonce on the next run", async () => {
    const chainNext = await chainNextNonce();
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    await stack.t.mutation(internal.chainTransactions.claimNonce, { id });
    await spendBackendNonce(chainNext);
    try {
      expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      expect((await row(id)).nonce).toBe(chainNext + 1n);
      await mine(stack.server);
      await follow();
      expect((await row(id)).status).toBe("confirmed");
    } finally {
      await backend().run(async (ctx) => {
        const doc = await ctx.db.get("chainTransactions", id);
        if (doc && doc.status !== "confirmed") await ctx.db.delete("chainTransactions", id);
      });
      const next = await chainNextNonce();
      if ((await counter()) !== next) await setCounter(next);
      await sync();
    }
  });

  it("after a crash between broadcast and record, finds the version that reached the node and follows it, with its own fee", async () => {
    const lockedBefore = await stxLockedOnChain();
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 2n);
    // First run: the node's estimate is 4,000; the node accepts the transaction, then the answer is lost.
    const estimate = vi.spyOn(HiroClient.prototype, "estimateFees").mockResolvedValue([3_000n, 4_000n, 5_000n]);
    const broadcastOnce = HiroClient.prototype.broadcast;
    const lost = vi.spyOn(HiroClient.prototype, "broadcast").mockImplementationOnce(async function (this: HiroClient, bytes) {
      await broadcastOnce.call(this, bytes);
      throw new Error("socket hang up");
    });
    try {
      await expect(send()).rejects.toThrow("socket hang up");
    } finally {
      estimate.mockRestore();
      lost.mockRestore();
    }
    const crashed = await row(id);
    expect(crashed).toMatchObject({ status: "pending", attempts: 0 });
    expect(crashed.signedTxids).toHaveLength(1);
    const onNode = crashed.signedTxids![0]!;
    expect(await apiTx(onNode)).toMatchObject({ tx_status: "pending", fee_rate: "4000" });

    // Next run: the estimate is back at the floor, so the new version (fee 1,000) conflicts with the one on
    // the node; the row adopts that one, with the fee it really pays.
    expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    expect(await row(id)).toMatchObject({ status: "broadcast", txid: onNode, fee: 4_000n, nonce: crashed.nonce });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await stxLockedOnChain()).toBe(lockedBefore + 2n);
    await sync();
    await expectQuiet();
  });

  it("resyncs a counter that is ahead of the chain with nothing in flight, so the next transaction is not stuck behind a gap", async () => {
    // A nonce the node never saw (e.g. a transaction that gave up before reaching it)
    // would leave every later transaction waiting; the sender follows the chain instead.
    const chainNext = await chainNextNonce();
    await setCounter(chainNext + 1n);
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(id);
    expect(sent.nonce).toBe(chainNext);
    await mine(stack.server, 1);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await apiTx(sent.txid!)).tx_status).toBe("success");
    await mine(stack.server);
    await sync();
    await expectQuiet();
  });
});
