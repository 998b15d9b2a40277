/**
 * fast-check commands for the pool's model-based properties, and the steps
 * they share: each command checks the model can take it (`check`), calls the
 * real Convex functions through convex-test, asserts the exact outcome the
 * model expects (new balances or the error code), updates the model and then
 * checks the books (`run`). Commands used by both
 * tests/convex/accountingProperties.test.ts and
 * tests/convex/collateralProperties.test.ts live here; each file defines the
 * ones only it uses.
 *
 * Commands are immutable: fast-check replays and shrinks the same instances,
 * so everything a run resolves (which reservation, which policy) is looked up
 * in the model at run time from the command's own parameters.
 */
import fc from "fast-check";
import { expect } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import type { ErrorCode } from "../../convex/domain/errors";
import type { Tier, Token } from "../../convex/validators";
import { newBackend, snapshot, type Backend, type Snapshot } from "../convex/convexTest";
import { configureChain } from "../convex/liquidityFixtures";
import { checkBooks, expectMoneyAsModelled, readMoney } from "./poolChecks";
import { outcomeOf, PoolModel, VaultChain } from "./poolModel";

// ---------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------

export type PoolReal = {
  t: Backend;
  chain: VaultChain;
  /** The database as the last step left it, when known. */
  snap: Snapshot | null;
  /**
   * Check every book and invariant after every step; otherwise each step
   * still asserts its exact outcome and the money tables against the model,
   * and the property checks everything once the commands are done.
   */
  everyStep: boolean;
  /** How often each outcome happened over a property's runs, so that a vacuous pass fails. */
  seen: Record<string, number>;
};

export type Pool = { model: PoolModel; real: PoolReal };

/** A fresh backend with the default tiers, and an empty model over `principals`. */
export async function newPool(principals: readonly string[], options: { everyStep: boolean; seen: Record<string, number> }): Promise<Pool> {
  // Asking to commit builds the wallet's deposit call, which names the vault.
  configureChain();
  const t = newBackend();
  await t.mutation(internal.tierConfigs.seedDefaults, {});
  return {
    model: new PoolModel(principals),
    real: { t, chain: new VaultChain(), snap: null, everyStep: options.everyStep, seen: options.seen },
  };
}

export function saw(r: PoolReal, what: string): void {
  r.seen[what] = (r.seen[what] ?? 0) + 1;
}

/** Every outcome in `expected` happened at least once. */
export function expectSeen(seen: Record<string, number>, expected: readonly string[]): void {
  for (const what of expected) expect(seen[what] ?? 0, `no run exercised ${what}`).toBeGreaterThan(0);
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

/** Checks the whole database against the model now (`portfolios: false`: without each provider's own view). */
export async function checkNow(m: PoolModel, r: PoolReal, options = { portfolios: true }): Promise<void> {
  r.snap = await snapshot(r.t);
  await checkBooks(m, r.t, r.snap, options);
}

/** Balances, policies, backing and protocol accounts exactly as the model has them, now (mid-step). */
export async function expectMoneyAsModelledNow(m: PoolModel, r: PoolReal): Promise<void> {
  expectMoneyAsModelled(m, await readMoney(r.t));
}

/** Ends a step the model says changed the books. */
export async function changed(m: PoolModel, r: PoolReal): Promise<void> {
  if (!r.everyStep) {
    r.snap = null;
    expectMoneyAsModelled(m, await readMoney(r.t));
    return;
  }
  const snap = await snapshot(r.t);
  if (r.snap) expect(snap, "a step that changes the books changed nothing").not.toEqual(r.snap);
  r.snap = snap;
  await checkBooks(m, r.t, snap);
}

/**
 * Runs `call`, which the model says changes nothing (a refusal, a duplicate,
 * a no-op), and checks that every table is exactly as before. `midStep`: the
 * step already changed something, so the state before is read afresh.
 */
export async function expectUnchanged(r: PoolReal, call: () => Promise<void>, midStep = false): Promise<void> {
  const before = !midStep && r.snap ? r.snap : await snapshot(r.t);
  await call();
  const after = await snapshot(r.t);
  expect(after, "a refused or repeated operation changed the database").toEqual(before);
  if (!midStep) r.snap = after;
}

/** Runs `call`, which the model says must fail with `code` and change nothing. */
export async function expectRefused(r: PoolReal, call: () => Promise<unknown>, code: ErrorCode, midStep = false): Promise<void> {
  await expectUnchanged(
    r,
    async () => {
      expect(await outcomeOf(call())).toEqual({ ok: false, code });
    },
    midStep,
  );
}

/** Ends a step that changed nothing: the books are still what the model says. */
export async function unchangedStep(m: PoolModel, r: PoolReal): Promise<void> {
  if (r.everyStep && r.snap) await checkBooks(m, r.t, r.snap);
}

// ---------------------------------------------------------------------------
// Operations shared by both files
// ---------------------------------------------------------------------------

/** A `funds-deposited` event synced: the provider's total rises, the vault's balance and flow counter too. */
export async function syncDeposit(m: PoolModel, r: PoolReal, provider: string, token: Token, amount: bigint): Promise<void> {
  const event = m.depositEvent(r.chain.next(), provider, token, amount);
  expect(await r.t.mutation(internal.vaultEvents.apply, { event })).toBe("applied");
  m.applyDeposit(event);
}

/** A signed-in provider asks to commit (README "Liquidity API", `requestCommitCapital`). */
export function requestCommit(r: PoolReal, provider: string, tier: Tier, amount: bigint, token: Token) {
  return r.t.withIdentity({ subject: provider }).mutation(api.liquidity.requestCommitCapital, { amount, token, tier });
}

/**
 * A provider asks to commit to a tier before depositing; the tier applies at
 * their next synced deposit. Returns false when refused: the tier is fixed
 * while they hold capital in another.
 */
export async function commitTo(m: PoolModel, r: PoolReal, provider: string, tier: Tier, amount: bigint, token: Token): Promise<boolean> {
  const call = () => requestCommit(r, provider, tier, amount, token);
  const outcome = m.commitOutcome(provider, tier);
  if (outcome === "refused") {
    await expectRefused(r, call, "TIER_MISMATCH");
    return false;
  }
  await call();
  if (outcome === "noted") m.commit(provider, tier);
  return true;
}

// ---------------------------------------------------------------------------
// Commands shared by both files
// ---------------------------------------------------------------------------

export abstract class PoolCommand implements fc.AsyncCommand<PoolModel, PoolReal> {
  check(_m: Readonly<PoolModel>): boolean {
    return true;
  }
  abstract run(m: PoolModel, r: PoolReal): Promise<void>;
  abstract toString(): string;
}

/**
 * A deposit: straight to the vault (`commitTier` null; an unknown depositor
 * becomes a provider in the default tier), or through the backend, which
 * first records the provider's tier choice and refuses it while they hold
 * capital in another (then nothing is deposited).
 */
export class DepositCommand extends PoolCommand {
  constructor(
    readonly p: number,
    readonly token: Token,
    readonly amount: bigint,
    readonly commitTier: Tier | null,
  ) {
    super();
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const provider = m.principal(this.p);
    if (this.commitTier !== null && !(await commitTo(m, r, provider, this.commitTier, this.amount, this.token))) {
      saw(r, "commitmentRefused");
      return await unchangedStep(m, r);
    }
    await syncDeposit(m, r, provider, this.token, this.amount);
    saw(r, "deposited");
    await changed(m, r);
  }

  toString(): string {
    return `Deposit(p${this.p}, ${this.amount}n ${this.token}${this.commitTier ? `, via ${this.commitTier}` : ""})`;
  }
}

/** A commitment to a tier on its own (the amount is only checked against the tier's capacity). */
export class CommitCommand extends PoolCommand {
  constructor(
    readonly p: number,
    readonly tier: Tier,
  ) {
    super();
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const provider = m.principal(this.p);
    const call = () => requestCommit(r, provider, this.tier, 1n, "STX");
    switch (m.commitOutcome(provider, this.tier)) {
      case "refused":
        await expectRefused(r, call, "TIER_MISMATCH");
        saw(r, "commitmentRefused");
        return await unchangedStep(m, r);
      case "unchanged":
        await expectUnchanged(r, async () => {
          await call();
        });
        return await unchangedStep(m, r);
      case "noted":
        await call();
        // Acted on at the provider's next synced deposit (a new provider joins it; an empty one moves to it).
        m.commit(provider, this.tier);
        saw(r, "tierChosen");
        return await changed(m, r);
    }
  }

  toString(): string {
    return `Commit(p${this.p}, ${this.tier})`;
  }
}

/** An event the backend already applied, synced again (a replayed page): a duplicate, changing nothing. */
export class ReplayEventCommand extends PoolCommand {
  constructor(readonly pick: number) {
    super();
  }

  override check(m: Readonly<PoolModel>): boolean {
    return m.appliedEvents.length > 0;
  }

  async run(m: PoolModel, r: PoolReal): Promise<void> {
    const event = m.appliedEvents[this.pick % m.appliedEvents.length]!;
    await expectUnchanged(r, async () => {
      expect(await r.t.mutation(internal.vaultEvents.apply, { event })).toBe("duplicate");
    });
    saw(r, "replayed");
    await unchangedStep(m, r);
  }

  toString(): string {
    return `ReplayEvent(#${this.pick})`;
  }
}
