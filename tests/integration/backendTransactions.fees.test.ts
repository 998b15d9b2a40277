/**
 * Replacing backend-signed vault transactions that are dropped or stuck, with
 * the same nonce and a higher fee, against the local Hiro-compatible server
 * over real HTTP (docs/transaction-states.md, "replacement-accepted" and
 * "stuck-at-fee-cap"). Shared setup in backendTransactionsFixtures.ts.
 */
import { describe, expect, it, vi } from "vitest";

import { readChainConfig } from "../../convex/config";
import { HiroClient } from "../../convex/chain/hiroClient";
import { MAX_SEND_ATTEMPTS } from "../../convex/model/operations/chainTransactions";
import {
  alertsOfKind,
  apiTx,
  backedPolicy,
  batch,
  expectQuiet,
  follow,
  localPost,
  middleEstimate,
  MIN_FEE,
  opsOf,
  pendingRow,
  providersWith,
  replacementFee,
  row,
  send,
  stack,
  STX,
  stxLockedOnChain,
  sync,
  tipHeight,
  useBackendStack,
  whileMinersWant,
  withFeeCap,
} from "./backendTransactionsFixtures";
import { mine, newWallet } from "./stack";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

useBackendStack({ funded: true });

describe("backend-signed vault transactions: stuck, dropped and replaced", () => {
  it("replaces a dropped transaction with the same nonce and a higher fee, keeping the old txid", async () => {
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const first = await row(id);
    expect((await localPost("/_local/drop", { txid: first.txid })).status).toBe(200);
    await mine(stack.server, 3); // past STUCK_AFTER_BLOCKS: nothing to mine, the node forgot it
    expect((await apiTx(first.txid!)).tx_status).toBe("dropped_stale_garbage_collect");

    expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
    const replaced = await row(id);
    expect(replaced).toMatchObject({
      status: "broadcast",
      nonce: first.nonce,
      fee: replacementFee(MIN_FEE),
      replacedTxids: [first.txid],
      attempts: 2,
    });
    expect(replaced.txid).not.toBe(first.txid);
    expect(await apiTx(replaced.txid!)).toMatchObject({ tx_status: "pending", nonce: Number(first.nonce), fee_rate: "1501" });

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await row(id)).status).toBe("confirmed");
    expect((await apiTx(replaced.txid!)).tx_status).toBe("success");
    await sync();
    await expectQuiet();
  });

  it("replaces a lock stuck below the miners' minimum fee after STUCK_AFTER_BLOCKS, with the same nonce and 1.5× + 1 the fee", async () => {
    const stuckAfter = readChainConfig(process.env).stuckAfterBlocks;
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const lockedBefore = await stxLockedOnChain();
    const [lockId] = await batch();

    // The replacement's fee exactly meets the minimum; the first fee (the floor) does not.
    await whileMinersWant(replacementFee(MIN_FEE), async () => {
      const sentAt = tipHeight();
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      const first = await row(lockId!);
      // A lock is short: the node's middle estimate is below the floor, so the floor is paid.
      expect(await middleEstimate(first)).toBeLessThan(MIN_FEE);
      expect(first).toMatchObject({ status: "broadcast", fee: MIN_FEE, broadcastAtHeight: sentAt, attempts: 1 });

      // Before the deadline: pending, left alone.
      await mine(stack.server, Number(stuckAfter) - 1);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
      expect(await row(lockId!)).toMatchObject({ status: "broadcast", txid: first.txid, fee: MIN_FEE, attempts: 1 });
      expect(await apiTx(first.txid!)).toMatchObject({ tx_status: "pending", fee_rate: "1000" });
      expect(await stxLockedOnChain()).toBe(lockedBefore);

      // At the deadline: the same call, same nonce, 1.5× + 1 the fee, replacing the stuck one on the node.
      await mine(stack.server, 1);
      expect(tipHeight() - sentAt).toBe(stuckAfter);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      const replaced = await row(lockId!);
      expect(replaced).toMatchObject({
        status: "broadcast",
        nonce: first.nonce,
        fee: 1_501n,
        broadcastAtHeight: tipHeight(),
        replacedTxids: [first.txid],
        attempts: 2,
      });
      expect(replaced.txid).not.toBe(first.txid);
      expect(replaced.signedTxids).toEqual([first.txid, replaced.txid]);
      expect(await apiTx(first.txid!)).toMatchObject({ tx_status: "dropped_replace_by_fee", nonce: Number(first.nonce) });
      expect(await apiTx(replaced.txid!)).toMatchObject({
        tx_status: "pending",
        nonce: Number(first.nonce),
        fee_rate: "1501",
        contract_call: { function_name: VAULT_FUNCTIONS.lockCollateralAggregate },
      });

      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
      expect((await row(lockId!)).status).toBe("confirmed");
      expect((await apiTx(replaced.txid!)).tx_status).toBe("success");
      expect((await apiTx(first.txid!)).tx_status).toBe("dropped_replace_by_fee");
    });
    // Locked once, by the replacement alone.
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await sync()).applied).toBe(1);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
    await expectQuiet();
  });

  it("raises the fee of the earliest stuck nonce only: the ones behind it wait, then get their turn", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const firstId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 3n);
    const secondId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 4n);
    await whileMinersWant(replacementFee(MIN_FEE), async () => {
      expect(await send()).toEqual({ broadcast: 2, rejected: 0 });
      const [first, second] = [await row(firstId), await row(secondId)];
      expect(second.nonce).toBe(first.nonce! + 1n);
      expect([first.fee, second.fee]).toEqual([MIN_FEE, MIN_FEE]);

      // Both are past the deadline, but the second only waits behind the first.
      await mine(stack.server, stuckAfter);
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      expect(await row(firstId)).toMatchObject({ fee: 1_501n, replacedTxids: [first.txid] });
      expect(await row(secondId)).toMatchObject({ txid: second.txid, fee: MIN_FEE, attempts: 1 });

      // The first is mined; the second is now the earliest, long past its deadline, and stuck on its own fee.
      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 1 });
      expect(await row(secondId)).toMatchObject({ status: "broadcast", fee: 1_501n, replacedTxids: [second.txid] });
      await mine(stack.server);
      expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    });
    expect([(await row(firstId)).status, (await row(secondId)).status]).toEqual(["confirmed", "confirmed"]);
    expect(await stxLockedOnChain()).toBe(lockedBefore + 7n);
    await sync();
    await expectQuiet();
  });

  it("leaves a stuck transaction as it is when the replacement fee would exceed MAX_FEE_USTX", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 7n);
    // The cap allows the first fee (the floor) but not 1.5× + 1 of it.
    const cap = replacementFee(MIN_FEE) - 1n;
    const first = await withFeeCap(cap, () =>
      whileMinersWant(replacementFee(MIN_FEE), async () => {
        expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
        const sent = await row(id);
        expect(sent).toMatchObject({ status: "broadcast", fee: MIN_FEE, attempts: 1 });

        // Well past the deadline, and checked on every block: it keeps waiting at its fee.
        for (let block = 0; block < 2 * stuckAfter; block++) {
          await mine(stack.server, 1);
          expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
        }
        const waiting = await row(id);
        expect(waiting).toMatchObject({
          status: "broadcast",
          txid: sent.txid,
          nonce: sent.nonce,
          fee: MIN_FEE,
          broadcastAtHeight: sent.broadcastAtHeight,
          attempts: 1,
        });
        expect(waiting.replacedTxids).toBeUndefined();
        expect(waiting.signedTxids).toEqual([sent.txid]);
        expect(waiting.stuckAtFeeCapSince).toEqual(expect.any(Number));
        expect(await apiTx(sent.txid!)).toMatchObject({ tx_status: "pending", fee_rate: "1000" });
        // Operators hear of it once, however many runs find it still waiting.
        const alerts = await alertsOfKind("transaction-stuck-at-fee-cap");
        expect(alerts).toHaveLength(1);
        expect(alerts[0]!.message).toBe(
          `lock-collateral-aggregate ${sent.txid} is stuck at fee 1000 µSTX; a replacement would exceed MAX_FEE_USTX ${cap}`,
        );
        return sent;
      }),
    );

    // Once miners take it again, the very transaction first broadcast is confirmed.
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await row(id)).toMatchObject({ status: "confirmed", txid: first.txid, fee: MIN_FEE, attempts: 1 });
    expect((await apiTx(first.txid!)).tx_status).toBe("success");
    expect(await stxLockedOnChain()).toBe(lockedBefore + 7n);
    await sync();
    await expectQuiet();
  });

  it("keeps following a transaction mined while its replacement was being signed, rather than counting a failed attempt", async () => {
    const stuckAfter = Number(readChainConfig(process.env).stuckAfterBlocks);
    const lockedBefore = await stxLockedOnChain();
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;
    const id = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, 11n);
    // Miners want more than three replacements pay (1,000 → 1,501 → 2,252 → 3,379).
    const last = await whileMinersWant(5_000n, async () => {
      expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
      for (let replacement = 1; replacement <= 3; replacement++) {
        await mine(stack.server, stuckAfter);
        expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 1 });
      }
      await mine(stack.server, stuckAfter);
      return await row(id);
    });
    expect(last).toMatchObject({ status: "broadcast", fee: 3_379n, attempts: MAX_SEND_ATTEMPTS - 1 });
    expect(last.replacedTxids).toHaveLength(3);

    // Stuck again; but while the fourth replacement is being priced, congestion clears and
    // a block takes the version on the node, so the node refuses the replacement's nonce.
    const estimateFees = HiroClient.prototype.estimateFees;
    const estimate = vi.spyOn(HiroClient.prototype, "estimateFees");
    estimate.mockImplementationOnce(async function (this: HiroClient, ...args) {
      await mine(stack.server, 1);
      return await estimateFees.apply(this, args);
    });
    try {
      expect(await follow()).toEqual({ confirmed: 0, failed: 0, replaced: 0 });
    } finally {
      estimate.mockRestore();
    }
    expect((await apiTx(last.txid!)).tx_status).toBe("success");
    expect(await stxLockedOnChain()).toBe(lockedBefore + 11n);

    // The refused replacement changed nothing: the row follows the mined version to confirmation.
    const after = await row(id);
    expect(after).toMatchObject({ status: "broadcast", txid: last.txid, fee: 3_379n, attempts: MAX_SEND_ATTEMPTS - 1 });
    expect(after.error).toBeUndefined();
    expect(after.signedTxids).toHaveLength(5); // four accepted versions and the refused one
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await row(id)).toMatchObject({ status: "confirmed", txid: last.txid });
    expect(await alertsOfKind("transaction-failed")).toHaveLength(alertsBefore);
    await mine(stack.server);
    await sync();
    await expectQuiet();
  });
});
