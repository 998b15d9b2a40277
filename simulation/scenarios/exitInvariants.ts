/**
 * What every provider must receive when they exit after a shutdown, computed
 * here from the chain alone — the vault's print events, decoded by
 * simulation/vaultChain.ts — and not from the exit tool's plan or lines, nor
 * from the backend (the tool and the backend are what is being judged):
 *
 *   owed  = leaf.<t> + Σ deposits since − Σ withdrawals since, floored at 0
 *           ("since": flows with seq > the checkpoint's as-of-seq), or
 *           Σ deposits − Σ withdrawals for a record newer than the checkpoint;
 *   share = owed when assets ≥ liabilities, else ⌊owed × assets / liabilities⌋
 *           (the terms the `shutdown` event fixed).
 *
 * Then the verdicts, to the unit: each provider's wallet moved by its share;
 * the claims add up to the liabilities; the total paid never exceeds the
 * assets; and the vault is left holding only the rounding dust (fewer base
 * units than there were claims) when it was short, or exactly what no claim
 * owns (assets − liabilities: protocol fees, premiums after the checkpoint)
 * when it was not. Pure: facts in, rows and verdicts out; bigint throughout.
 */
import type { Token } from "../../convex/validators";
import { TOKENS } from "../books";
import type { TokenAmounts } from "../results";
import { printsOf, type ChainLeaf, type VaultPrint } from "../vaultChain";
import type { ExitRow, ExitTotals, Verdict } from "./results";

/** The facts of the chain an exit is judged by. */
export type ExitFacts = {
  /** The current checkpoint (`get-checkpoint`) at shutdown; null if none ever stood. */
  checkpoint: { epoch: bigint; asOfSeq: bigint } | null;
  prints: readonly VaultPrint[];
};

const zero = (): TokenAmounts => ({ STX: 0n, sBTC: 0n });

/** The current epoch's leaves as first published, by provider. */
export function leavesOf(prints: readonly VaultPrint[], epoch: bigint): Map<string, ChainLeaf> {
  const byIndex = new Map<bigint, ChainLeaf>();
  for (const batch of printsOf(prints, "checkpoint-leaves")) {
    if (batch.epoch !== epoch) continue;
    batch.leaves.forEach((leaf, i) => {
      const index = batch.offset + BigInt(i);
      if (!byIndex.has(index)) byIndex.set(index, leaf);
    });
  }
  const leaves = new Map<string, ChainLeaf>();
  for (const leaf of byIndex.values()) if (!leaves.has(leaf.provider)) leaves.set(leaf.provider, leaf);
  return leaves;
}

/** A provider's deposits and withdrawals, all and since `asOfSeq`, and the seq of their first flow. */
function flowsOf(prints: readonly VaultPrint[], provider: string, asOfSeq: bigint) {
  const all = { in: zero(), out: zero() };
  const since = { in: zero(), out: zero() };
  let createdSeq: bigint | null = null;
  for (const p of prints) {
    if ((p.kind !== "funds-deposited" && p.kind !== "funds-withdrawn") || p.provider !== provider) continue;
    createdSeq ??= p.seq;
    const side = p.kind === "funds-deposited" ? "in" : "out";
    all[side][p.token] += p.amount;
    if (p.seq > asOfSeq) since[side][p.token] += p.amount;
  }
  return { all, since, createdSeq };
}

const floorAt0 = (value: bigint) => (value > 0n ? value : 0n);

/** The share of `owed` the terms pay: all of it, or ⌊owed × assets / liabilities⌋ when the vault is short. */
export function shareOf(owed: bigint, assets: bigint, liabilities: bigint): bigint {
  return assets >= liabilities ? owed : (owed * assets) / liabilities;
}

export type ShutdownTerms = { assets: TokenAmounts; liabilities: TokenAmounts };

/** Each provider's row: leaf, flows since, owed and expected share; `paid` and the claim left to the caller. */
export function expectedExits(
  facts: ExitFacts,
  terms: ShutdownTerms,
  providers: readonly { address: string; label: string }[],
): Omit<ExitRow, "paid" | "claimed" | "exitCode">[] {
  const asOfSeq = facts.checkpoint?.asOfSeq ?? 0n;
  const leaves = facts.checkpoint ? leavesOf(facts.prints, facts.checkpoint.epoch) : new Map<string, ChainLeaf>();
  return providers.map(({ address, label }) => {
    const flows = flowsOf(facts.prints, address, asOfSeq);
    const leaf = leaves.get(address) ?? null;
    const needsLeaf = facts.checkpoint !== null && flows.createdSeq !== null && flows.createdSeq <= asOfSeq;
    const owed = zero();
    const expected = zero();
    const flowsSince = { STX: { in: 0n, out: 0n }, sBTC: { in: 0n, out: 0n } };
    for (const token of TOKENS) {
      if (leaf) {
        flowsSince[token] = { in: flows.since.in[token], out: flows.since.out[token] };
        owed[token] = floorAt0((token === "STX" ? leaf.stx : leaf.sbtc) + flows.since.in[token] - flows.since.out[token]);
      } else {
        flowsSince[token] = { in: flows.all.in[token], out: flows.all.out[token] };
        owed[token] = floorAt0(flows.all.in[token] - flows.all.out[token]);
      }
      expected[token] = shareOf(owed[token], terms.assets[token], terms.liabilities[token]);
    }
    return {
      address,
      label,
      createdSeq: flows.createdSeq,
      needsLeaf,
      leaf: leaf ? { STX: leaf.stx, sBTC: leaf.sbtc } : null,
      flowsSince,
      owed,
      expected,
    };
  });
}

/** Per token: the terms, what the claims owe and were paid, and what the vault holds after them. */
export function exitTotals(rows: readonly ExitRow[], terms: ShutdownTerms, vaultAfter: TokenAmounts): Record<Token, ExitTotals> {
  const totals = {} as Record<Token, ExitTotals>;
  for (const token of TOKENS) {
    const owed = rows.reduce((s, r) => s + r.owed[token], 0n);
    const paid = rows.reduce((s, r) => s + r.paid[token], 0n);
    totals[token] = {
      assets: terms.assets[token],
      liabilities: terms.liabilities[token],
      short: terms.assets[token] < terms.liabilities[token],
      owed,
      paid,
      claims: rows.filter((r) => r.owed[token] > 0n).length,
      vaultAfter: vaultAfter[token],
    };
  }
  return totals;
}

const fmt = (token: Token, value: bigint) => `${value} ${token === "STX" ? "µSTX" : "sats"}`;

/** The exit's invariants, each with what it compared. */
export function exitVerdicts(rows: readonly ExitRow[], totals: Record<Token, ExitTotals>): Verdict[] {
  const verdict = (name: string, problems: string[], passDetail: string): Verdict =>
    problems.length === 0 ? { name, ok: true, detail: passDetail } : { name, ok: false, detail: problems.slice(0, 5).join("; ") };
  const short = (address: string) => `${address.slice(0, 8)}…`;

  const payoutProblems: string[] = [];
  for (const r of rows) {
    for (const token of TOKENS) {
      if (r.paid[token] !== r.expected[token]) {
        payoutProblems.push(`${short(r.address)} ${token}: wallet moved by ${r.paid[token]}, expected ${r.expected[token]} (owed ${r.owed[token]})`);
      }
      if ((r.claimed[token]?.paid ?? 0n) !== r.paid[token]) {
        payoutProblems.push(`${short(r.address)} ${token}: exit-claimed says ${r.claimed[token]?.paid ?? "nothing"}, wallet moved by ${r.paid[token]}`);
      }
    }
  }
  const leafProblems = rows.flatMap((r) => (r.needsLeaf && r.leaf === null ? [`${short(r.address)} has a record within the checkpoint but no leaf`] : []));
  const toolProblems = rows.flatMap((r) => (r.exitCode === 0 ? [] : [`${short(r.address)}: the exit tool ended with status ${r.exitCode}`]));
  const each = (of: (token: Token, t: ExitTotals) => string | null) => TOKENS.flatMap((token) => of(token, totals[token]) ?? []);

  return [
    verdict(
      "every provider received exactly its owed amount, or its pro-rata share when the vault is short",
      [...leafProblems, ...payoutProblems],
      `${rows.length} providers × 2 tokens, to the unit`,
    ),
    verdict(
      "the claims owed add up to the liabilities the vault fixed at shutdown",
      each((token, t) => (t.owed === t.liabilities ? null : `${token}: claims owe ${fmt(token, t.owed)}, liabilities ${fmt(token, t.liabilities)}`)),
      TOKENS.map((token) => `${token} ${fmt(token, totals[token].owed)}`).join(", "),
    ),
    verdict(
      "the total paid never exceeds the assets",
      each((token, t) => (t.paid <= t.assets ? null : `${token}: paid ${fmt(token, t.paid)} > assets ${fmt(token, t.assets)}`)),
      TOKENS.map((token) => `${token} ${fmt(token, totals[token].paid)} of ${fmt(token, totals[token].assets)}`).join(", "),
    ),
    verdict(
      "the vault ends holding only the rounding dust (short) or what no claim owns (not short)",
      each((token, t) => {
        const left = t.assets - t.paid;
        if (t.vaultAfter !== left) return `${token}: the vault holds ${fmt(token, t.vaultAfter)}, assets − paid is ${fmt(token, left)}`;
        if (t.short && left >= BigInt(Math.max(1, t.claims))) return `${token}: ${fmt(token, left)} left after ${t.claims} pro-rata claims is more than rounding`;
        if (!t.short && left !== t.assets - t.liabilities) return `${token}: ${fmt(token, left)} left, assets − liabilities is ${fmt(token, t.assets - t.liabilities)}`;
        return null;
      }),
      TOKENS.map((token) => `${token} ${fmt(token, totals[token].vaultAfter)} left (${totals[token].short ? "short: dust" : "not short: unowned"})`).join(", "),
    ),
    verdict("every provider's exit tool run ended with status 0", toolProblems, `${rows.length} runs`),
  ];
}
