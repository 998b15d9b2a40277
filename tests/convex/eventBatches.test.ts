import { describe, expect, it } from "vitest";

import { applyBatches } from "../../convex/eventSync";
import type { VaultEvent } from "../../convex/validators";
import { ALICE, depositEvent } from "./liquidityFixtures";

const deposit = () => depositEvent(ALICE, "STX", 1n, { totalBalance: 1n, totalLocked: 0n });
const premium = (): VaultEvent => ({ ...deposit(), kind: "premium-paid", policyId: 1n, payer: ALICE });

describe("applyBatches", () => {
  it("keeps chain order, groups up to 25 deposits or withdrawals, and gives each policy event its own mutation", () => {
    const events = [...Array.from({ length: 30 }, deposit), premium(), premium(), deposit()];
    const batches = applyBatches(events);
    expect(batches.map((b) => b.length)).toEqual([25, 5, 1, 1, 1]);
    expect(batches.flat()).toEqual(events);
  });
});
