/**
 * Backend-signed vault transactions that do not go through, against the local
 * Hiro-compatible server over real HTTP (docs/transaction-states.md): held
 * while the vault is paused, aborted on chain ("aborted"), refused until
 * MAX_SEND_ATTEMPTS ("gave-up"), and what a failed one lets go of. Shared
 * setup in backendTransactionsFixtures.ts.
 */
import { describe, expect, it, vi } from "vitest";

import { internal } from "../../convex/_generated/api";
import { MAX_SEND_ATTEMPTS } from "../../convex/model/operations/chainTransactions";
import {
  alertsOfKind,
  apiTx,
  backedPolicy,
  batch,
  expectQuiet,
  follow,
  opsOf,
  pendingRow,
  policyDoc,
  providersWith,
  row,
  send,
  setCounter,
  setPaused,
  spendBackendNonce,
  stack,
  STX,
  stxBalanceOnChain,
  stxLockedOnChain,
  sync,
  useBackendStack,
} from "./backendTransactionsFixtures";
import { mine, newWallet } from "./stack";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

useBackendStack();

describe("backend-signed vault transactions: failures", () => {
  it("holds locks while the vault is paused, tells operators once, and sends them when it is unpaused", async () => {
    await providersWith("Aggressive", [STX(1_000)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Aggressive", 100_000n, buyer.address);
    const [lockId] = await batch();
    const lockedBefore = await stxLockedOnChain();

    await setPaused(true);
    try {
      await mine(stack.server);
      for (let run = 0; run < 3; run++) expect(await send()).toEqual({ broadcast: 0, rejected: 0 });
      expect(await row(lockId!)).toMatchObject({ status: "pending", attempts: 0 });
      expect((await row(lockId!)).signedTxids).toBeUndefined();
      const held = await alertsOfKind("vault-paused");
      expect(held.map((a) => [a.message, a.resolved])).toEqual([
        ["the vault is paused: 1 lock(s) held until it is unpaused", false],
      ]);
    } finally {
      await setPaused(false);
    }
    await mine(stack.server);
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    expect((await alertsOfKind("vault-paused")).map((a) => a.resolved)).toEqual([true]);
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "submitted"]]);
    await sync();
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
    await expectQuiet();
  });

  it("marks a lock that aborts on chain (more than the vault holds unlocked) failed, with an alert", async () => {
    const onChainAvailable = (await stxBalanceOnChain()) - (await stxLockedOnChain());
    const lockId = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate, onChainAvailable + 1n);
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 0, failed: 1, replaced: 0 });
    const failed = await row(lockId);
    // The reason carries the vault's refusal: u205, the lock exceeds what is unlocked.
    expect(failed).toMatchObject({ status: "failed", error: "abort_by_response (err u205)" });
    expect(await apiTx(failed.txid!)).toMatchObject({ tx_status: "abort_by_response" });
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toMatch(/^lock-collateral-aggregate for policies .* failed: abort_by_response \(err u205\)$/);
    await sync();
    await expectQuiet();
  });

  it("lets go of a settlement that aborts on chain: failed, its operation failed, the policy Active again, an alert", async () => {
    // A policy whose lock never reached the chain (it gave up before being sent): settling
    // it asks the vault for more than it holds locked (ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED).
    await providersWith("Aggressive", [STX(1_000)]);
    const buyer = await newWallet(stack.server);
    // 0.01 BTC at $58,000: 290 STX, more than everything locked on chain.
    const { policyId } = await backedPolicy("Aggressive", 1_000_000n, buyer.address);
    const [lockId] = await batch();
    await stack.t.mutation(internal.chainTransactions.markFailed, { id: lockId!, reason: "never sent (test)" });
    const payout = STX(200);
    expect(await stxLockedOnChain()).toBeLessThan(payout);
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;

    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
    const [settleId] = await batch();
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 0, failed: 1, replaced: 0 });

    // The call erred (u206), so its "vault sends exactly 200 STX" post-condition was unmet too.
    const failed = await row(settleId!);
    expect(failed).toMatchObject({ status: "failed", error: "abort_by_post_condition (err u206)" });
    expect(stack.server.chain.stxBalance(buyer.address)).toBe(buyerBefore);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([
      ["lock", "failed"],
      ["settle", "failed"],
    ]);
    expect((await policyDoc(policyId))?.status).toBe("Active");
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toBe(`settle-policy for policies ${policyId} failed: abort_by_post_condition (err u206)`);
    await sync();
    await expectQuiet();
  });

  it(`gives up after ${MAX_SEND_ATTEMPTS} refused broadcasts: failed, with an alert`, async () => {
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const [lockId] = await batch();
    const alertsBefore = (await alertsOfKind("transaction-failed")).length;
    // A fee cap below the node's 1 µSTX/byte minimum: every broadcast is refused with FeeTooLow.
    vi.stubEnv("MAX_FEE_USTX", "10");
    try {
      for (let attempt = 1; attempt < MAX_SEND_ATTEMPTS; attempt++) {
        expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
        expect(await row(lockId!)).toMatchObject({ status: "pending", attempts: attempt });
      }
      expect((await row(lockId!)).error).toMatch(/^FeeTooLow: /);
      expect(await send()).toEqual({ broadcast: 0, rejected: 1 });
    } finally {
      vi.stubEnv("MAX_FEE_USTX", "1000000");
    }
    const failed = await row(lockId!);
    expect(failed).toMatchObject({ status: "failed", attempts: MAX_SEND_ATTEMPTS });
    expect(failed.error).toMatch(new RegExp(`^gave up after ${MAX_SEND_ATTEMPTS} attempts: FeeTooLow: `));
    expect(failed.txid).toBeUndefined();
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "failed"]]);
    const alerts = await alertsOfKind("transaction-failed");
    expect(alerts).toHaveLength(alertsBefore + 1);
    expect(alerts.at(-1)?.message).toMatch(
      new RegExp(`^lock-collateral-aggregate for policies ${policyId} failed: gave up after ${MAX_SEND_ATTEMPTS} attempts`),
    );
    // The failed row held a nonce the node never saw: put the counter back (see the next test).
    await setCounter(failed.nonce!);
    await expectQuiet();
  });

  // Regression: a transaction that gave up before the node accepted it used to keep
  // its nonce while the counter was only resynced when *behind* the chain, so the
  // next transaction waited behind the gap forever.
  it("still confirms the next transaction after one gave up before reaching the node", async () => {
    const gaveUp = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    vi.stubEnv("MAX_FEE_USTX", "10");
    try {
      for (let attempt = 1; attempt <= MAX_SEND_ATTEMPTS; attempt++) await send();
    } finally {
      vi.stubEnv("MAX_FEE_USTX", "1000000");
    }
    const abandoned = await row(gaveUp);
    const next = await pendingRow(VAULT_FUNCTIONS.lockCollateralAggregate);
    try {
      expect(abandoned.status).toBe("failed");
      await send();
      await mine(stack.server);
      await follow();
      expect((await row(next)).status).toBe("confirmed");
    } finally {
      // Fill the gap by hand so the chain and the counter agree again.
      const current = await row(next);
      if (current.status === "broadcast" && abandoned.nonce !== undefined) {
        await spendBackendNonce(abandoned.nonce);
        await mine(stack.server);
        await follow();
      }
      await sync();
    }
  });
});
