/**
 * How capital enters and moves in a tier's allocation queue without any
 * balance change reading the tier's clock (convex/domain/fairQueue.ts,
 * convex/model/policies/admission.ts).
 */
import { describe, expect, test } from "vitest";

import { internal } from "../../convex/_generated/api";
import { effectiveKey, JOINING, keyAfterBalanceChange, NEVER, rescaledKey } from "../../convex/domain/fairQueue";
import { findBalance } from "../../convex/model/ledger/balanceLedger";
import { readClock } from "../../convex/model/ledger/allocationClocks";
import { ACTORS, depositOf, FRONT, JOINER, PROVIDERS, seedPool } from "../support/contention";
import { patchTierConfig } from "../support/tierConfigs";
import { newBackend, type Backend } from "./convexTest";
import { configureChain, SIGNER_ADDRESS } from "./liquidityFixtures";

async function keyOf(t: Backend, provider: string): Promise<number> {
  const balance = await t.run(async (ctx) => await findBalance(ctx, provider, "STX"));
  if (!balance) throw new Error(`${provider} holds no STX`);
  return balance.allocationKey;
}

async function clockOf(t: Backend): Promise<number> {
  return await t.run(async (ctx) => await readClock(ctx, "Conservative", "STX"));
}

describe("keys without the clock (domain)", () => {
  test("a balance that becomes available is JOINING; one emptied is NEVER; a queued one keeps its key whatever its capital does", () => {
    expect(keyAfterBalanceChange(undefined, 0n, 5n)).toBe(JOINING);
    expect(keyAfterBalanceChange(NEVER, 0n, 5n)).toBe(JOINING);
    expect(keyAfterBalanceChange(2.5, 0n, 5n)).toBe(JOINING);
    expect(keyAfterBalanceChange(2.5, 10n, 0n)).toBe(NEVER);
    expect(keyAfterBalanceChange(2.5, 10n, 40n)).toBe(2.5);
    expect(keyAfterBalanceChange(2.5, 10n, 1n)).toBe(2.5);
    expect(keyAfterBalanceChange(JOINING, 10n, 30n)).toBe(JOINING);
  });

  test("a joining balance stands at the clock; any other where its key says", () => {
    expect(effectiveKey(JOINING, 3.25)).toBe(3.25);
    expect(effectiveKey(1.5, 3.25)).toBe(1.5);
    expect(effectiveKey(4, 3.25)).toBe(4);
  });

  test("after an allocation, a backer behind the clock keeps its key; one ahead keeps its lead in collateral; an emptied one is NEVER", () => {
    expect(rescaledKey(1.5, 100n, 50n, 2)).toBe(1.5);
    // Lead 1 over 100 units is 100 units of collateral: over 50 units it is a lead of 2.
    expect(rescaledKey(3, 100n, 50n, 2)).toBe(4);
    expect(rescaledKey(3, 100n, 0n, 2)).toBe(NEVER);
    // Never as far as JOINING, however small the capital left.
    expect(rescaledKey(3, 10n ** 18n, 1n, 2)).toBeLessThan(JOINING);
  });
});

describe("joining the queue (backend)", () => {
  test("a newcomer beyond an allocation's window backs nothing and stays JOINING until admission gives it the clock", async () => {
    configureChain();
    const t = newBackend();
    await seedPool(t); // 20 providers, 2 backers a policy (window of 8), policy 1 allocated
    const clock = await clockOf(t);
    expect(clock).toBeGreaterThan(0);

    await t.mutation(internal.vaultEvents.apply, { event: depositOf(500, ACTORS.newcomer, 50_000_000n, 500n) });
    expect(await keyOf(t, ACTORS.newcomer)).toBe(JOINING);

    const allocations = await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 2n });
    expect(allocations.map((a) => a.provider).every((p) => FRONT.includes(p))).toBe(true);
    expect(await keyOf(t, ACTORS.newcomer)).toBe(JOINING);

    // The newcomer, and the provider the pool was seeded with waiting to join.
    expect(await t.mutation(internal.policies.admitJoiningCapital, {})).toEqual({ admitted: 2, more: false });
    expect(await keyOf(t, ACTORS.newcomer)).toBe(await clockOf(t));
    expect(await keyOf(t, JOINER)).toBe(await clockOf(t));
    // Nothing left to admit: a second run changes nothing.
    expect(await t.mutation(internal.policies.admitJoiningCapital, {})).toEqual({ admitted: 0, more: false });
  });

  test("an allocation whose window reaches joining balances admits them at the clock it found, or takes them as backers", async () => {
    configureChain();
    const t = newBackend();
    await seedPool(t);
    await patchTierConfig(t, "Conservative", { maxBackersPerPolicy: 25 }); // a window of 100: the whole tier
    const clock = await clockOf(t);
    await t.mutation(internal.vaultEvents.apply, { event: depositOf(500, ACTORS.newcomer, 50_000_000n, 500n) });

    const allocations = await t.mutation(internal.liquidity.allocatePolicyCollateral, { policyId: 2n });
    const backers = allocations.map((a) => a.provider);
    const newcomerKey = await keyOf(t, ACTORS.newcomer);
    if (backers.includes(ACTORS.newcomer)) expect(newcomerKey).toBeGreaterThan(clock);
    else expect(newcomerKey).toBe(clock);
    expect(newcomerKey).not.toBe(JOINING);
    expect(await t.mutation(internal.policies.admitJoiningCapital, {})).toEqual({ admitted: 0, more: false });
  });

  test("a deposit leaves a queued balance's key where it was, and a balance emptied and refilled joins again", async () => {
    configureChain();
    const t = newBackend();
    await seedPool(t);
    const queued = PROVIDERS[12]!;
    const before = await keyOf(t, queued);
    await t.mutation(internal.vaultEvents.apply, { event: depositOf(501, queued, 7_000_000n, 501n) });
    expect(await keyOf(t, queued)).toBe(before);

    // Everything reserved for a withdrawal: nothing available, never offered a policy.
    const all = 1_000_000_000n + 7_000_000n;
    const nonce = await t.mutation(internal.liquidity.reserveWithdrawal, {
      provider: queued,
      token: "STX",
      amount: all,
      expiresAtBlock: 1_000_000n,
      signer: SIGNER_ADDRESS,
    });
    expect(await keyOf(t, queued)).toBe(NEVER);
    // The voucher is given up: the capital is available again and joins at the next admission.
    await t.mutation(internal.liquidity.cancelWithdrawalReservation, { provider: queued, nonce });
    expect(await keyOf(t, queued)).toBe(JOINING);
    await t.mutation(internal.policies.admitJoiningCapital, {});
    expect(await keyOf(t, queued)).toBe(await clockOf(t));
  });
});
