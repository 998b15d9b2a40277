/**
 * Backend-signed vault transactions end to end, against the local
 * Hiro-compatible server over real HTTP (docs/architecture.md, "Flows";
 * docs/transaction-states.md): a policy's lock and its settlement, from the
 * queued vault operation through pending → broadcast → confirmed to the
 * synced event. Shared setup in backendTransactionsFixtures.ts; the first
 * test relies on a fresh chain (nothing locked yet, the operator's nonce 1 next).
 */
import { describe, expect, it } from "vitest";

import { internal } from "../../convex/_generated/api";
import {
  apiTx,
  backedPolicy,
  batch,
  counter,
  expectQuiet,
  follow,
  localPost,
  middleEstimate,
  MIN_FEE,
  opsOf,
  policyDoc,
  proRata,
  providersWith,
  row,
  send,
  sendAndConfirm,
  stack,
  STX,
  stxBalanceOf,
  stxLockedOnChain,
  sync,
  useBackendStack,
} from "./backendTransactionsFixtures";
import { OPERATOR_ADDRESS, DEPLOYER, mine, newWallet, VAULT } from "./stack";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";

useBackendStack();

describe("backend-signed vault transactions: end to end", () => {
  it("locks a policy's collateral end to end: queued, batched, signed in deny mode, confirmed, synced", async () => {
    expect(await stxLockedOnChain()).toBe(0n);
    await providersWith("Balanced", [STX(1_000), STX(1_000), STX(1_000)]);
    const buyer = await newWallet(stack.server);

    // 0.001 BTC at a $54,000 strike is $54 of protection: 27 STX at $2.
    const { policyId, registered, allocations } = await backedPolicy("Balanced", 100_000n, buyer.address);
    expect(registered).toEqual({ tier: "Balanced", requiredCollateral: STX(27), status: "Pending" });
    expect(allocations.reduce((sum, a) => sum + a.amount, 0n)).toBe(STX(27));
    expect((await policyDoc(policyId))?.status).toBe("Active");
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status, op.amount])).toEqual([["lock", "queued", STX(27)]]);

    const [txId, ...more] = await batch();
    expect(more).toEqual([]);
    expect(await row(txId!)).toMatchObject({
      functionName: VAULT_FUNCTIONS.lockCollateralAggregate,
      status: "pending",
      policyIds: [policyId],
      token: "STX",
      amount: STX(27),
      attempts: 0,
    });
    expect((await opsOf(policyId))[0]).toMatchObject({ status: "submitted", chainTransactionId: txId });

    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(txId!);
    // The counter starts from the chain: nonce 0 was the operator's accept-role call at start-up.
    expect(sent).toMatchObject({ status: "broadcast", nonce: 1n, fee: MIN_FEE, attempts: 1 });
    expect(sent.txid).toMatch(/^0x[0-9a-f]{64}$/);
    expect(sent.fee! <= 1_000_000n).toBe(true); // MAX_FEE_USTX (default)
    expect(await counter()).toBe(2n);

    // What the node received: signed by the backend key, deny mode, no post-condition (a lock moves nothing).
    const pending = await apiTx(sent.txid!);
    expect(pending).toMatchObject({
      tx_id: sent.txid,
      tx_status: "pending",
      sender_address: OPERATOR_ADDRESS,
      nonce: 1,
      fee_rate: "1000",
      post_condition_mode: "deny",
      post_conditions: [],
      contract_call: { contract_id: VAULT, function_name: VAULT_FUNCTIONS.lockCollateralAggregate },
    });
    expect(pending.contract_call?.function_args?.map((a) => a.repr)).toEqual([`(list u${policyId})`, "u27000000", "none"]);

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect((await row(txId!)).status).toBe("confirmed");
    expect((await apiTx(sent.txid!)).tx_status).toBe("success");

    const synced = await sync();
    expect(synced.applied).toBe(1);
    expect(await stxLockedOnChain()).toBe(STX(27));
    expect((await opsOf(policyId))[0]).toMatchObject({ kind: "lock", status: "confirmed" });
    await expectQuiet();
  });

  it("settles a policy end to end: the buyer is paid exactly, backers are debited pro rata, the rest is released next", async () => {
    const backers = await providersWith("Conservative", [STX(100), STX(300)]);
    const buyer = await newWallet(stack.server);
    // 0.001 BTC at a $50,000 strike: $50, 25 STX.
    const { policyId, registered, allocations } = await backedPolicy("Conservative", 100_000n, buyer.address);
    expect(registered.requiredCollateral).toBe(STX(25));
    const lockIds = await batch();
    await sendAndConfirm(lockIds);
    const lockedBefore = await stxLockedOnChain();
    const buyerBefore = stack.server.chain.stxBalance(buyer.address);
    const backersBefore = await Promise.all(backers.map(stxBalanceOf));

    const payout = STX(10);
    await stack.t.mutation(internal.liquidity.requestSettlement, { policyId, settlementAmount: payout });
    expect((await policyDoc(policyId))?.status).toBe("Exercised");
    const [settleId, ...more] = await batch();
    expect(more).toEqual([]);
    expect(await row(settleId!)).toMatchObject({
      functionName: VAULT_FUNCTIONS.settlePolicy,
      policyIds: [policyId],
      buyer: buyer.address,
      amount: payout,
      status: "pending",
    });

    // A node estimates a call only from mined samples of it, and this fresh chain has mined no
    // settlement; a live vault's node has. Without one the backend pays its fallback fee
    // (README, "Chain integration"; tests/integration/feeFallback.test.ts).
    await localPost("/_local/fee-estimator", { sampled: [{ contractId: VAULT, functionName: VAULT_FUNCTIONS.settlePolicy }] });
    expect(await send()).toEqual({ broadcast: 1, rejected: 0 });
    const sent = await row(settleId!);
    // Deny mode, and the one post-condition names exactly the payout leaving the vault.
    const onNode = await apiTx(sent.txid!);
    expect(onNode).toMatchObject({ post_condition_mode: "deny", sender_address: OPERATOR_ADDRESS });
    // A settlement is longer than a lock: the node's middle estimate is above the floor.
    expect(sent.fee).toBe(await middleEstimate(sent));
    expect(sent.fee! > MIN_FEE).toBe(true);
    expect(onNode.fee_rate).toBe(sent.fee!.toString());
    expect(onNode.post_conditions).toEqual([
      {
        type: "stx",
        condition_code: "sent_equal_to",
        amount: payout.toString(),
        principal: { type_id: "principal_contract", address: DEPLOYER, contract_name: "liquidity-pool" },
      },
    ]);

    await mine(stack.server);
    expect(await follow()).toEqual({ confirmed: 1, failed: 0, replaced: 0 });
    expect(stack.server.chain.stxBalance(buyer.address) - buyerBefore).toBe(payout);
    expect(await stxLockedOnChain()).toBe(lockedBefore - payout);

    const synced = await sync();
    expect(synced.applied).toBe(1);
    const settled = await policyDoc(policyId);
    expect(settled).toMatchObject({ status: "Settled", settledAmount: payout });
    // Each backer pays its share of the payout, by its allocation, and nothing stays locked for the policy.
    const allocated = backers.map((b) => allocations.find((a) => a.provider === b.address)?.amount ?? 0n);
    expect(allocated.reduce((a, b) => a + b, 0n)).toBe(STX(25));
    const debits = proRata(payout, allocated);
    const backersAfter = await Promise.all(backers.map(stxBalanceOf));
    backers.forEach((_, i) => {
      expect(backersAfter[i]!.total).toBe(backersBefore[i]!.total - debits[i]!);
      expect(backersAfter[i]!.locked).toBe(backersBefore[i]!.locked - allocated[i]!);
    });
    // (by kind: lock, release, settle)
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status, op.amount])).toEqual([
      ["lock", "confirmed", STX(25)],
      ["release", "queued", STX(15)],
      ["settle", "confirmed", payout],
    ]);

    // The remainder still locked on chain for the policy goes out as the next batch.
    const [releaseId, ...others] = await batch();
    expect(others).toEqual([]);
    expect(await row(releaseId!)).toMatchObject({
      functionName: VAULT_FUNCTIONS.releaseCollateralAggregate,
      policyIds: [policyId],
      amount: STX(15),
    });
    await sendAndConfirm([releaseId!]);
    expect(await stxLockedOnChain()).toBe(lockedBefore - STX(25));
    expect((await opsOf(policyId)).find((op) => op.kind === "release")?.status).toBe("confirmed");
    await expectQuiet();
  });
});
