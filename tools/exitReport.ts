/**
 * The exit plan as the lines a provider reads: the vault's exit terms, the
 * checkpoint and whether its tree holds up, their record, leaf and proof,
 * and per token what is owed, what `claim-exit` pays and the exact call.
 */
import { Cl } from "@stacks/transactions";

import type { Token } from "../convex/domain/vocabulary";
import { formatAmount } from "./cliOptions";
import type { ExitTerms } from "./exitClaim";
import type { ExitPlan, TokenExit } from "./exitPlan";
import { argsHex } from "./vaultTransactions";

/** "pays in full" or "pays 93.75% (pro rata)", the share rounded down to 0.01%. */
function shareOf(terms: ExitTerms): string {
  if (terms.assets >= terms.liabilities) return "claims are paid in full";
  const bps = (terms.assets * 10_000n) / terms.liabilities;
  return `the vault is short: every claim is paid ${bps / 100n}.${(bps % 100n).toString().padStart(2, "0")}% of what it is owed (pro rata)`;
}

function termsLines(plan: ExitPlan): string[] {
  if (!plan.shutdown) return [`[exit] ${plan.vault} is not shut down`];
  const by = plan.shutdown.by ? ` by ${plan.shutdown.by}` : "";
  const tx = plan.shutdown.txid ? ` in tx ${plan.shutdown.txid}` : "";
  return [
    `[exit] ${plan.vault} was shut down${by}${tx}`,
    ...(["STX", "sBTC"] as Token[]).map((token) => {
      const terms = plan.shutdown!.terms[token];
      return `[exit]   ${token}: assets ${formatAmount(token, terms.assets)}, liabilities ${formatAmount(token, terms.liabilities)}: ${shareOf(terms)}`;
    }),
  ];
}

function checkpointLines(plan: ExitPlan): string[] {
  const { checkpoint, tree, record } = plan;
  if (!checkpoint || !tree) return ["[exit] no checkpoint was ever posted: every record claims its deposits less its withdrawals, without a leaf"];
  const head = `[exit] checkpoint epoch ${checkpoint.epoch} (as-of-seq ${checkpoint.asOfSeq}, ${checkpoint.leafCount} leaves, root ${checkpoint.root})`;
  const state = tree.matches
    ? "the published leaves rebuild its tree: root and both sums match"
    : `its published leaves do NOT rebuild it: ${[tree.leaves === null ? `${tree.published} of ${checkpoint.leafCount} published` : "", ...tree.problems].filter(Boolean).join("; ")}`;
  const lines = [`${head}: ${state}`];
  if (record && !plan.needsLeaf) lines.push(`[exit] the record was created at seq ${record.createdSeq}, after the checkpoint: it claims without a leaf`);
  if (plan.leaf) {
    const { leaf, proof, index } = plan.leaf;
    lines.push(
      `[exit] leaf #${index}: ${formatAmount("STX", leaf.stx)} and ${formatAmount("sBTC", leaf.sbtc)} at the checkpoint ` +
        `(stx-in ${leaf.stxIn}, stx-out ${leaf.stxOut}, sbtc-in ${leaf.sbtcIn}, sbtc-out ${leaf.sbtcOut}); proof of ${proof.length} steps, accepted by the vault's verify-exit-proof`,
    );
  }
  return lines;
}

function recordLine(plan: ExitPlan): string[] {
  const r = plan.record;
  if (!r) return [];
  return [`[exit] record of ${r.provider}: created at seq ${r.createdSeq}; stx-in ${r.stxIn}, stx-out ${r.stxOut}, sbtc-in ${r.sbtcIn}, sbtc-out ${r.sbtcOut}`];
}

function tokenLines(token: TokenExit): string[] {
  if (token.owed === null) return [`[exit] ${token.token}: what is owed cannot be known from this checkpoint`];
  const pays = token.pays === null ? "" : `; claim-exit pays ${formatAmount(token.token, token.pays)}`;
  const lines = [`[exit] ${token.token}: owed ${formatAmount(token.token, token.owed)}${pays}`];
  if (token.claimed) {
    lines.push(`[exit]   already claimed: paid ${formatAmount(token.token, token.claimed.paid)}${token.claimed.txid ? ` in tx ${token.claimed.txid}` : ""}`);
  } else if (token.call) {
    lines.push(`[exit]   call: ${token.call.functionName} ${argsHex(token.call.args).join(" ")}`);
    lines.push(`[exit]   (token, leaf, proof: ${token.call.args.map((arg) => shorten(Cl.prettyPrint(arg))).join(", ")}; deny mode, the vault sends at most ${token.owed})`);
  }
  return lines;
}

function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function describeExit(plan: ExitPlan): string[] {
  return [
    ...termsLines(plan),
    ...recordLine(plan),
    ...(plan.record ? checkpointLines(plan) : []),
    ...plan.tokens.flatMap(tokenLines),
    ...plan.warnings.map((warning) => `[exit] WARNING ${warning}`),
  ];
}
