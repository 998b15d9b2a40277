/**
 * A confirmed backend-signed lock whose block leaves the canonical chain
 * ("reorged" in docs/transaction-states.md), against the local
 * Hiro-compatible server over real HTTP. Shared setup in
 * backendTransactionsFixtures.ts.
 */
import { describe, expect, it } from "vitest";

import {
  backedPolicy,
  batch,
  follow,
  localPost,
  opsOf,
  providersWith,
  send,
  sendAndConfirm,
  stack,
  STX,
  stxLockedOnChain,
  sync,
  useBackendStack,
} from "./backendTransactionsFixtures";
import { mine, newWallet } from "./stack";

useBackendStack();

describe("backend-signed vault transactions: reorgs", () => {
  // When the block holding a confirmed lock leaves the canonical chain, the sync
  // reverses its event and reopens the transaction, and the follower sends it
  // again on the winning fork. Runs last.
  it("sends a confirmed lock again when its block leaves the canonical chain", async () => {
    await providersWith("Balanced", [STX(100)]);
    const buyer = await newWallet(stack.server);
    const { policyId, registered } = await backedPolicy("Balanced", 100_000n, buyer.address);
    const lockedBefore = await stxLockedOnChain();
    const [lockId] = await batch();
    await sendAndConfirm([lockId!]);
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);

    expect((await localPost("/_local/reorg", { depth: 2 })).status).toBe(200);
    expect(await stxLockedOnChain()).toBe(lockedBefore);
    expect((await sync()).reversed).toBe(1);

    // What the crons would do next, a few rounds.
    for (let round = 0; round < 3; round++) {
      await batch();
      await send();
      await mine(stack.server, 3);
      await follow();
      await sync();
    }
    expect(await stxLockedOnChain()).toBe(lockedBefore + registered.requiredCollateral);
    expect((await opsOf(policyId)).map((op) => [op.kind, op.status])).toEqual([["lock", "confirmed"]]);
  });
});
