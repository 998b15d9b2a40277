/**
 * What the vault should hold, from the off-chain books, to compare with its
 * read-only totals (README "Chain integration"). Every unit in the vault belongs to a provider
 * (their total), to the protocol (fees), or is an unallocated premium. Locked
 * collateral on chain differs from the providers' locked sums only by the
 * collateral instructions not yet confirmed on chain: a lock not yet there
 * is locked off-chain only, a release not yet there is still locked on chain.
 */
import type { Reader } from "../database";
import type { Token } from "../../validators";
import { readPoolTotals } from "../ledger/tierTotals";

/** Unconfirmed collateral operations read per kind; past this the check reports itself incomplete. */
export const MAX_IN_FLIGHT_READ = 2_000;

export type Expected = { balance: bigint; locked: bigint; complete: boolean };

async function inFlight(ctx: Reader, kind: "lock" | "release", token: Token) {
  let sum = 0n;
  let count = 0;
  for (const status of ["queued", "submitted"] as const) {
    const ops = await ctx.db
      .query("vaultOperations")
      .withIndex("by_status_kind_token", (q) => q.eq("status", status).eq("kind", kind).eq("token", token))
      .take(MAX_IN_FLIGHT_READ);
    count += ops.length;
    for (const op of ops) sum += op.amount;
  }
  return { sum, complete: count < MAX_IN_FLIGHT_READ };
}

export async function expectedVaultTotals(ctx: Reader, token: Token): Promise<Expected> {
  const { capital, locked } = await readPoolTotals(ctx, token);
  const account = await ctx.db
    .query("protocolAccounts")
    .withIndex("by_token", (q) => q.eq("token", token))
    .unique();
  const locks = await inFlight(ctx, "lock", token);
  const releases = await inFlight(ctx, "release", token);
  return {
    balance: capital + (account?.feesAccrued ?? 0n) + (account?.unallocatedPremiums ?? 0n),
    locked: locked - locks.sum + releases.sum,
    complete: locks.complete && releases.complete,
  };
}
