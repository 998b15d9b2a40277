/**
 * The whole pool end to end, through `runSimulation`: a small market (4
 * providers, 4 policies, a BTC crash) on the local Hiro-compatible server,
 * the local price feed and the Convex functions. Exact balances are checked
 * on both sides at the key steps — after the first deposits, around every
 * settlement — and every invariant must hold after every step.
 *
 * The market runs twice: with the poller as the only ingest of vault events,
 * and with chainhook deliveries (README "Chainhooks") bringing them in, the
 * poller reconciling. Both runs pass the same checks, and both sides — chain
 * and books — are equal between them at every step.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { api } from "../../convex/_generated/api";
import { splitProportionally } from "../../convex/domain/money";
import { chainBalance, readVaultTotals } from "../../simulation/books";
import { simulationOptionsSchema } from "../../simulation/options";
import { planMarket } from "../../simulation/plan";
import type { SimulationResult } from "../../simulation/results";
import { createRng } from "../../simulation/rng";
import { runSimulation } from "../../simulation/simulation";

const OPTIONS = { providers: 4, policies: 4, scenario: "crash", seed: 42, blocks: 12 } as const;

const out = mkdtempSync(path.join(tmpdir(), "bithedge-simulation-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

type Token = "STX" | "sBTC";
const TOKENS: Token[] = ["STX", "sBTC"];

describe("the pool simulated end to end", () => {
  it("the same seed plans the same market: wallets, policies, schedule and price path", () => {
    const options = simulationOptionsSchema.parse({ ...OPTIONS, out: null });
    const a = planMarket(options, createRng(42).fork("plan"));
    const b = planMarket(options, createRng(42).fork("plan"));
    const c = planMarket(options, createRng(43).fork("plan"));
    expect(b).toEqual(a);
    expect(c.providers.map((p) => p.wallet.address)).not.toEqual(a.providers.map((p) => p.wallet.address));
    expect(a.providers.map((p) => p.tier)).toEqual(["Conservative", "Balanced", "Aggressive", "Conservative"]);
    // Every policy is sold before the first one expires.
    const lastSale = Math.max(...a.policies.map((p) => p.registrationStep));
    expect(Math.min(...a.policies.map((p) => p.expiryStep))).toBeGreaterThan(lastSale);
  });

  const results = new Map<"off" | "on", SimulationResult>();

  it.each(["off", "on"] as const)(
    "keeps chain and books equal to the unit through deposits, a crash, settlements, expiries and withdrawals (chainhooks %s)",
    async (chainhooks) => {
      let depositsChecked = false;
      let settlementsChecked = 0;
      const reportDir = path.join(out, chainhooks);

      const result: SimulationResult = await runSimulation(
        { ...OPTIONS, out: reportDir, chainhooks: chainhooks === "on" },
        {
          async afterDeposits(ctx) {
            // Each provider, asking through their own session, holds exactly what they deposited, in their tier.
            for (const provider of ctx.plan.providers) {
              const portfolio = await ctx
                .sessionOf(provider.wallet.address)
                .query(api.liquidity.getProviderPortfolio, {});
              expect(portfolio?.tier).toBe(provider.tier);
              for (const token of TOKENS) {
                expect(portfolio?.balances.find((b) => b.token === token)).toMatchObject({
                  total: provider.deposits[token],
                  locked: 0n,
                  reserved: 0n,
                  available: provider.deposits[token],
                  accruedYield: 0n,
                });
              }
            }
            // The vault's read-only totals are the sums, and it really holds them.
            const vault = readVaultTotals(ctx.stack);
            for (const token of TOKENS) {
              const deposited = ctx.plan.providers.reduce((sum, p) => sum + p.deposits[token], 0n);
              expect(deposited).toBeGreaterThan(0n);
              expect(vault[token]).toEqual({ balance: deposited, locked: 0n, held: deposited });
            }
            depositsChecked = true;
          },

          afterSettlements(ctx, checkpoint) {
            // Buyers: their wallets moved by exactly the payouts (nothing else of theirs moved in a settlement step).
            for (const buyer of checkpoint.buyers) {
              const owed = checkpoint.settlements
                .filter((s) => s.buyer === buyer.address && s.token === buyer.token)
                .reduce((sum, s) => sum + s.payout, 0n);
              expect(owed).toBeGreaterThan(0n);
              expect(buyer.after - buyer.before).toBe(owed);
              expect(chainBalance(ctx.stack, buyer.address, buyer.token)).toBe(buyer.after);
            }
            // Backers: each debited exactly their share of each payout, by allocation (largest remainder), and no more.
            const expected = new Map<string, bigint>();
            for (const s of checkpoint.settlements) {
              const parts = splitProportionally(
                s.payout,
                s.backing.map((b) => b.allocated),
              );
              s.backing.forEach((b, i) => {
                const key = `${b.provider}/${s.token}`;
                expected.set(key, (expected.get(key) ?? 0n) + (parts[i] ?? 0n));
              });
            }
            for (const backer of checkpoint.backers) {
              const share = expected.get(`${backer.address}/${backer.token}`) ?? 0n;
              expect(backer.debited).toBe(share);
              expect(backer.totalBefore - backer.totalAfter).toBe(share);
            }
            // The vault paid exactly the payouts out of its balance.
            for (const token of TOKENS) {
              const paid = checkpoint.settlements.filter((s) => s.token === token).reduce((sum, s) => sum + s.payout, 0n);
              expect(checkpoint.vaultBefore[token].balance - checkpoint.vaultAfter[token].balance).toBe(paid);
              expect(checkpoint.vaultAfter[token].held).toBe(checkpoint.vaultAfter[token].balance);
            }
            settlementsChecked++;
          },
        },
      );

      expect(depositsChecked).toBe(true);
      expect(settlementsChecked).toBeGreaterThan(0);

      // Every invariant held after every step.
      const failed = result.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);
      expect(failed).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.invariants.length).toBe(11);
      expect(result.timeline).toHaveLength(OPTIONS.blocks);
      for (const token of TOKENS) {
        expect(result.reconciliation[token]).toEqual({ match: OPTIONS.blocks, mismatch: 0, skipped: 0, final: "match" });
      }

      // The money, to the unit: premiums = yield + fees; payouts = what the settlements requested = what buyers received.
      for (const token of TOKENS) {
        const yieldCredited = result.providers.reduce((sum, p) => sum + p.yieldEarned[token], 0n);
        expect(yieldCredited + result.totals.protocolFees[token] + result.totals.unallocatedPremiums[token]).toBe(
          result.totals.premiums[token],
        );
        const requested = result.policies
          .filter((p) => p.token === token && p.status === "Settled")
          .reduce((sum, p) => sum + p.payout, 0n);
        expect(result.totals.payouts[token]).toBe(requested);
        const received = result.buyers.reduce(
          (sum, b) => sum + b.finalOnChain[token] - b.funded[token] + b.premiumsPaid[token],
          0n,
        );
        expect(received).toBe(requested);
        const debited = result.providers.reduce((sum, p) => sum + p.settlementDebits[token], 0n);
        expect(debited).toBe(requested);
      }
      expect(result.totals.unallocatedPremiums).toEqual({ STX: 0n, sBTC: 0n });

      // The final state: the chain's totals are the books' (providers + fees), and nothing is locked without backing.
      const last = result.timeline[result.timeline.length - 1]!;
      for (const token of TOKENS) {
        expect(last.vault[token].balance).toBe(last.books[token].capital + result.totals.protocolFees[token]);
        expect(last.vault[token].locked).toBe(last.books[token].locked);
        expect(last.vault[token].held).toBe(last.vault[token].balance);
      }

      // The crash did what crashes do: margin calls, in-the-money PUTs paid; every due policy ended.
      expect(result.health.marginCallNotifications).toBeGreaterThan(0);
      expect(result.policies.filter((p) => p.status === "Settled").length).toBeGreaterThan(0);
      for (const p of result.policies.filter((x) => x.expiryStep < OPTIONS.blocks)) {
        expect(["Settled", "Expired"]).toContain(p.status);
      }
      // Withdrawals went through vouchers and were redeemed on chain.
      expect(result.withdrawals.filter((w) => w.outcome === "redeemed").length).toBeGreaterThan(0);
      expect(result.withdrawals.filter((w) => w.outcome === "pending")).toEqual([]);
      // Only the set-up's own governance alerts: the outflow limit, and the hot roles proposed and set.
      expect(result.alerts.filter((a) => !a.setUp)).toEqual([]);
      expect(result.alerts.map((a) => a.kind).sort()).toEqual(["outflow-limit-set", "role-proposed", "role-proposed", "role-set", "role-set"]);

      // The report.
      expect(result.summaryPath).toBe(path.join(reportDir, "summary.md"));
      const summary = readFileSync(path.join(reportDir, "summary.md"), "utf8");
      expect(summary).toContain("**All invariants hold.**");
      const html = readFileSync(path.join(reportDir, "report.html"), "utf8");
      expect(html.match(/<svg /g)?.length).toBeGreaterThanOrEqual(8);
      expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
      expect(existsSync(path.join(reportDir, "run.log"))).toBe(true);

      // Which ingest brought the events in: with chainhooks on, every event of the market came by
      // delivery (each step's blocks are delivered before the poller runs), and the poller found none left.
      if (chainhooks === "off") {
        expect(result.ingest).toMatchObject({ chainhooks: false, deliveries: 0, eventsByDelivery: 0 });
        expect(result.ingest.eventsByPoller).toBeGreaterThan(0);
      } else {
        expect(result.ingest).toMatchObject({ chainhooks: true, refusedDeliveries: 0 });
        expect(result.ingest.deliveries).toBeGreaterThan(0);
        expect(result.ingest.eventsByDelivery).toBeGreaterThan(0);
        expect(result.timeline.map((s) => s.activity.eventsByPoller)).toEqual(result.timeline.map(() => 0));
      }
      results.set(chainhooks, result);
    },
  );

  it("ends every step with the same chain and books whether events came by delivery or by the poller", () => {
    const off = results.get("off");
    const on = results.get("on");
    expect(off && on).toBeTruthy();
    // Every vault event is in the books once, whichever way it came.
    expect(on!.ingest.eventsByDelivery + on!.ingest.eventsByPoller).toBe(off!.ingest.eventsByPoller);
    const sides = (r: SimulationResult) =>
      r.timeline.map(({ step, vault, books, tiers, health, reconciliation, failedChecks }) => ({
        step,
        vault,
        books,
        tiers,
        health,
        reconciliation,
        failedChecks,
      }));
    expect(sides(on!)).toEqual(sides(off!));
    expect(on!.providers).toEqual(off!.providers);
    expect(on!.buyers).toEqual(off!.buyers);
    expect(on!.totals).toEqual(off!.totals);
    // With chainhooks on, one block confirms the deployment before the market (simulation/stack.ts):
    // the same policies expire one block higher.
    expect(on!.policies.map((p) => ({ ...p, expiresAtBlock: p.expiresAtBlock - 1n }))).toEqual(off!.policies);
    expect(on!.withdrawals).toEqual(off!.withdrawals);
  });
});

/**
 * The backend-outage scenario, small (README "The simulation"): the checkpoint
 * job posts and verifies checkpoints during the market, the backend stops for
 * good, flows go on on chain (a voucher signed before, deposits, a newcomer),
 * SILENCE passes, a stranger shuts the vault down and every provider exits
 * with the exit tool. Each payout is recomputed here from the run's leaves,
 * flows and terms, and the flows after the outage from the plan itself.
 */
describe("the backend outage, end to end", () => {
  const OUTAGE = { providers: 4, policies: 4, scenario: "backend-outage", seed: 42, blocks: 12, chainhooks: false } as const;

  it("pays every provider exactly its leaf plus its flows since, pro rata when the vault is short", async () => {
    const reportDir = path.join(out, "outage");
    const result = await runSimulation({ ...OUTAGE, out: reportDir });
    expect(result.invariants.filter((i) => !i.ok)).toEqual([]);
    const incident = result.incident;
    if (incident?.kind !== "backend-outage") throw new Error("no backend-outage result");
    expect(incident.verdicts.filter((v) => !v.ok)).toEqual([]);
    expect(incident.verdicts).toHaveLength(9);
    expect(result.ok).toBe(true);

    // Two checkpoints, the second after the burn blocks that made it due; the exits went by it.
    expect(incident.checkpoints.map((c) => ({ epoch: c.epoch, status: c.status }))).toEqual([
      { epoch: 1n, status: "verified" },
      { epoch: 2n, status: "verified" },
    ]);
    expect(incident.checkpoints[1]!.postedAtBurn - incident.checkpoints[0]!.postedAtBurn).toBe(144n);
    expect(incident.silence.epoch).toBe(2n);
    expect(incident.silence.burnHeightAtShutdown).toBe(incident.checkpoints[1]!.postedAtBurn + 4_320n + 1n);
    // The market ended where the backend stopped.
    expect(result.timeline).toHaveLength(incident.stoppedAfterStep + 1);

    // The flows after the outage, from the plan: a tenth of the first deposit of every provider with index % 3 = 1,
    // the held voucher's withdrawal, and the newcomer's deposits with no leaf.
    const plan = planMarket(simulationOptionsSchema.parse({ ...OUTAGE, out: null }), createRng(OUTAGE.seed).fork("plan"));
    const held = incident.heldVoucher!;
    expect(held.call?.result).toBe("(ok true)");
    for (const p of plan.providers) {
      const row = incident.exits.find((x) => x.address === p.wallet.address)!;
      expect(row.leaf).not.toBeNull();
      const token: Token = p.deposits.STX > 0n ? "STX" : "sBTC";
      const depositedSince = p.index % 3 === 1 ? p.deposits[token] / 10n : 0n;
      const withdrawnSince = held.provider === p.wallet.address ? held.amount : 0n;
      expect(row.flowsSince[token].in).toBeGreaterThanOrEqual(depositedSince);
      expect(row.flowsSince[held.token].out).toBeGreaterThanOrEqual(withdrawnSince);
    }
    const newcomer = incident.exits.find((x) => x.label === "newcomer")!;
    expect(newcomer).toMatchObject({ leaf: null, needsLeaf: false, owed: { STX: 5_000_000_000n, sBTC: 2_000_000n } });

    // Every payout, to the unit: owed from the leaf and the flows since; the share by the shutdown's terms.
    const paid = { STX: 0n, sBTC: 0n };
    for (const row of incident.exits) {
      expect(row.exitCode).toBe(0);
      for (const token of TOKENS) {
        const { in: inSince, out: outSince } = row.flowsSince[token];
        const base = row.leaf ? row.leaf[token] : 0n;
        const owed = base + inSince > outSince ? base + inSince - outSince : 0n;
        const { assets, liabilities } = incident.totals[token];
        const share = assets >= liabilities ? owed : (owed * assets) / liabilities;
        expect({ provider: row.address, token, owed: row.owed[token], paid: row.paid[token] }).toEqual({
          provider: row.address,
          token,
          owed,
          paid: share,
        });
        expect(row.claimed[token]?.paid ?? 0n).toBe(share);
        paid[token] += share;
      }
    }
    for (const token of TOKENS) {
      const t = incident.totals[token];
      expect(t.owed).toBe(t.liabilities);
      expect(t.paid).toBe(paid[token]);
      expect(t.paid).toBeLessThanOrEqual(t.assets);
      expect(t.vaultAfter).toBe(t.assets - t.paid);
      if (t.short) expect(t.vaultAfter).toBeLessThan(BigInt(t.claims));
    }
    // Settlements paid after the checkpoint left the vault short: the pro-rata path ran.
    expect(TOKENS.some((token) => incident.totals[token].short)).toBe(true);

    const summary = readFileSync(path.join(reportDir, "summary.md"), "utf8");
    expect(summary).toContain("## Backend outage: every provider's exit");
    expect(summary).toContain("| provider | tier | leaf | flows since | owed | paid | = share |");
    expect(summary).not.toContain("❌");
  });
});
