/**
 * Reconciliation (README "Chain integration"): a cron compares the vault's read-only totals
 * with the off-chain books and records the result; any difference raises an
 * alert (a row in `alerts` and a log line).
 *
 * The chain is read at its tip while the books are at the synced height, so
 * the comparison runs only when no vault event is waiting between the two;
 * otherwise it is recorded as skipped rather than as a false alarm.
 *
 * Rate-limited by the Stacks API (README, "Rate limits"), a run records
 * nothing and returns no outcome; it runs again when the wait is over if that
 * comes before the next 10-minute tick, else the tick is the retry.
 */
import { v, type Infer } from "convex/values";

import { internal } from "./_generated/api";
import { internalAction, internalMutation, internalQuery } from "./functions";
import { hiroClientFor, rateLimitedOf } from "./chain/hiroClient";
import { readChainConfig } from "./config";
import { readVaultTotals } from "./chain/vault";
import { rescheduleAfterRateLimit } from "./eventSync";
import { newestLogHeight } from "./chain/contractLogs";
import { raiseAlertOnce, resolveAlerts } from "./model/alerts";
import { expectedVaultTotals } from "./model/sync/reconciliation";
import { readSyncValue, SYNC_KEYS } from "./model/sync/syncState";
import schema from "./schema";
import { TOKENS, tokenValidator } from "./validators";

/** The vault's totals and the books disagree (subject: the token). */
const RECONCILIATION_MISMATCH = "reconciliation-mismatch";

const onChainTotals = v.object({ token: tokenValidator, balance: v.int64(), locked: v.int64() });
const outcomeValidator = schema.tables.reconciliations.validator.fields.status;
type Outcome = Infer<typeof outcomeValidator>;

const expectedTotals = v.object({ token: tokenValidator, balance: v.int64(), locked: v.int64(), complete: v.boolean() });

/**
 * What the books say the vault holds, per token, and how far they are synced.
 * A query: it reads the whole pool's tier-total shards and the unconfirmed
 * collateral operations at one consistent moment, and, taking no part in
 * write conflicts, never makes a deposit or an allocation retry, nor retries
 * for one.
 */
export const expected = internalQuery({
  args: {},
  returns: v.object({ totals: v.array(expectedTotals), syncedThroughHeight: v.int64() }),
  handler: async (ctx) => {
    const totals = [];
    for (const token of TOKENS) totals.push({ token, ...(await expectedVaultTotals(ctx, token)) });
    return { totals, syncedThroughHeight: (await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight)) ?? 0n };
  },
});

/** Records the comparison (and a mismatch alert); reads nothing the hot path writes. */
export const record = internalMutation({
  args: {
    onChain: v.array(onChainTotals),
    expected: v.array(expectedTotals),
    syncedThroughHeight: v.int64(),
    skippedReason: v.optional(v.string()),
  },
  returns: v.array(outcomeValidator),
  handler: async (ctx, { onChain, expected: books, syncedThroughHeight, skippedReason }): Promise<Outcome[]> => {
    const outcomes: Outcome[] = [];
    for (const chain of onChain) {
      const expected = books.find((b) => b.token === chain.token);
      if (!expected) throw new Error(`no expected totals for ${chain.token}`);
      const reason = skippedReason ?? (expected.complete ? undefined : "too many unconfirmed collateral operations");
      const matches = chain.balance === expected.balance && chain.locked === expected.locked;
      const status: Outcome = reason ? "skipped" : matches ? "match" : "mismatch";
      await ctx.db.insert("reconciliations", {
        token: chain.token,
        status,
        reason,
        onChainBalance: chain.balance,
        onChainLocked: chain.locked,
        expectedBalance: expected.balance,
        expectedLocked: expected.locked,
        syncedThroughHeight,
        checkedAt: Date.now(),
      });
      // A lasting mismatch is one alert (its first figures), open until a run matches again.
      if (status === "mismatch") {
        await raiseAlertOnce(ctx, RECONCILIATION_MISMATCH, chain.token, `vault ${chain.token} totals differ from the books`, {
          onChainBalance: chain.balance,
          expectedBalance: expected.balance,
          onChainLocked: chain.locked,
          expectedLocked: expected.locked,
        });
      }
      if (status === "match") await resolveAlerts(ctx, RECONCILIATION_MISMATCH, chain.token);
      outcomes.push(status);
    }
    return outcomes;
  },
});

export const reconcile = internalAction({
  args: {},
  returns: v.array(outcomeValidator),
  handler: async (ctx): Promise<Outcome[]> => {
    const config = readChainConfig();
    const client = hiroClientFor(config);
    const onChain = [];
    let synced: { syncedThrough: bigint | null };
    let newest: bigint | null;
    try {
      for (const token of TOKENS) onChain.push({ token, ...(await readVaultTotals(client, config.vaultContractId, token)) });

      // The newest vault event tells whether the books can be behind the chain's tip.
      synced = await ctx.runQuery(internal.eventSync.cursor, {});
      newest = await newestLogHeight(client, config.vaultContractId);
    } catch (error) {
      const limited = rateLimitedOf(error);
      if (!limited) throw error;
      await rescheduleAfterRateLimit(ctx, internal.reconciliation.reconcile, limited);
      return [];
    }
    const behind = newest !== null && (synced.syncedThrough === null || newest > synced.syncedThrough);
    const books = await ctx.runQuery(internal.reconciliation.expected, {});
    return await ctx.runMutation(internal.reconciliation.record, {
      onChain,
      expected: books.totals,
      syncedThroughHeight: books.syncedThroughHeight,
      skippedReason: behind ? "vault events above the synced height are not applied yet" : undefined,
    });
  },
});
