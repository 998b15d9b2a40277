/**
 * The one path by which a provider's balance changes. Every change carries an
 * operation id (an on-chain event's txid and index, an allocation, a
 * reservation); applying the same id twice changes nothing the second time,
 * so every caller is idempotent by construction. Each change also moves the
 * tier's totals by exactly the same amounts, in the same transaction: in the
 * provider's shard, or in the policy's for what a policy does (tierTotals.ts).
 *
 * A change reads only the provider's own documents and writes one shard: no
 * tier-wide document (the allocation clock, other shards) is read, so changes
 * of different providers never conflict with each other or with an
 * allocation that does not draw on them.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import type { BalanceChangeType, Token } from "../../validators";
import { applyBalanceChangeTo, availableOf, balanceDelta, ZERO_BALANCE, type Balance } from "../../domain/balances";
import { poolError } from "../../domain/errors";
import { keyAfterBalanceChange } from "../../domain/fairQueue";
import { requireProvider } from "./providers";
import { addToTierTotals, policyShardOf, shardOf } from "./tierTotals";

export type BalanceChange = {
  operationId: string;
  provider: string;
  token: Token;
  type: BalanceChangeType;
  amount: bigint;
};

export type BalanceChangeResult = { applied: boolean; balance: Balance };

/** A change a policy makes to one of its backers (lock, release, settlement, yield) is counted in the policy's shard. */
export type ChangeOrigin = { policyId: bigint };

function balanceOf(doc: Doc<"providerBalances"> | null): Balance {
  if (!doc) return { ...ZERO_BALANCE };
  return { total: doc.total, locked: doc.locked, reserved: doc.reserved, accruedYield: doc.accruedYield };
}

export async function findBalance(
  ctx: Reader,
  provider: string,
  token: Token,
): Promise<Doc<"providerBalances"> | null> {
  return await ctx.db
    .query("providerBalances")
    .withIndex("by_provider_and_token", (q) => q.eq("provider", provider).eq("token", token))
    .unique();
}

export async function applyBalanceChange(
  ctx: Writer,
  change: BalanceChange,
  origin?: ChangeOrigin,
): Promise<BalanceChangeResult> {
  const previous = await ctx.db
    .query("balanceLedger")
    .withIndex("by_operation", (q) => q.eq("operationId", change.operationId))
    .unique();
  const balanceDoc = await findBalance(ctx, change.provider, change.token);
  if (previous) {
    const same =
      previous.provider === change.provider &&
      previous.token === change.token &&
      previous.type === change.type &&
      previous.amount === change.amount;
    if (!same) {
      // Same id, different change: a caller bug that must not pass silently.
      throw new Error(`operation ${change.operationId} was already applied with different parameters`);
    }
    return { applied: false, balance: balanceOf(balanceDoc) };
  }

  // A balance row exists only for a known provider (providers are never
  // deleted) and carries its tier; the provider is looked up for a first balance only.
  const tier = balanceDoc?.tier ?? (await requireProvider(ctx, change.provider)).tier;
  const before = balanceOf(balanceDoc);
  const after = applyBalanceChangeTo(before, change.type, change.amount);
  const now = Date.now();
  const shard = balanceDoc?.shard ?? shardOf(change.provider);
  // Available capital is the balance's weight in the tier's fair queue (domain/fairQueue.ts).
  const allocationKey = keyAfterBalanceChange(balanceDoc?.allocationKey, availableOf(before), availableOf(after));
  if (balanceDoc) {
    await ctx.db.patch("providerBalances", balanceDoc._id, {
      ...after,
      available: availableOf(after),
      allocationKey,
      updatedAt: now,
    });
  } else {
    await ctx.db.insert("providerBalances", {
      provider: change.provider,
      token: change.token,
      tier,
      shard,
      allocationKey,
      ...after,
      available: availableOf(after),
      updatedAt: now,
    });
  }
  const totalsShard = origin ? policyShardOf(origin.policyId) : shard;
  await addToTierTotals(
    ctx,
    { tier, token: change.token, shard: totalsShard },
    balanceDelta(before, after),
    providerCountDelta(before, after),
  );
  await ctx.db.insert("balanceLedger", { ...change, appliedAt: now });
  return { applied: true, balance: after };
}

/** A provider counts in a tier while they hold capital there. */
function providerCountDelta(before: Balance, after: Balance): bigint {
  if (before.total === 0n && after.total > 0n) return 1n;
  if (before.total > 0n && after.total === 0n) return -1n;
  return 0n;
}

/** Throws INVALID_AMOUNT unless the amount is a positive number of base units. */
export function requirePositiveAmount(amount: bigint): void {
  if (amount <= 0n) throw poolError("INVALID_AMOUNT", `amount must be a positive number of base units, got ${amount}`);
}
