/**
 * The vault's provider records and flow totals, mirrored from synced events
 * (README "Checkpoints"). The vault keeps, per depositor, cumulative in and out
 * per token, the last redeemed voucher nonce and the flow `seq` at which the
 * record appeared; and globally `{seq, stx-in, stx-out, sbtc-in, sbtc-out}`.
 * A checkpoint's leaves carry each record's flows, and the exit formula moves a
 * leaf by the flows since, so the backend needs both exactly as the vault has
 * them at any applied `seq`.
 *
 * Every change is a row in `providerRecordChanges` keyed by the event's
 * operation id: applying an event twice changes nothing the second time, a
 * reorg reverses exactly what it did, and the records and flows as of any
 * applied `seq` can be read back. A record follows the chain even when the
 * books could not place the event (an "unmatched" withdrawal): the vault's
 * record changed all the same.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import type { RecordFlows } from "../../domain/checkpoints";
import { TOKENS, type Token, type VaultEvent } from "../../validators";

type Deposit = Extract<VaultEvent, { kind: "funds-deposited" }>;
type Withdrawal = Extract<VaultEvent, { kind: "funds-withdrawn" }>;

export type ProviderRecord = RecordFlows & { provider: string; nonce: bigint; createdSeq: bigint };
export type VaultFlows = RecordFlows & { seq: bigint };

const ZERO_FLOWS: RecordFlows = { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };

/** The record field a change moves. */
function fieldOf(token: Token, direction: "in" | "out"): keyof RecordFlows {
  if (token === "STX") return direction === "in" ? "stxIn" : "stxOut";
  return direction === "in" ? "sbtcIn" : "sbtcOut";
}

export async function findProviderRecord(ctx: Reader, provider: string): Promise<Doc<"providerRecords"> | null> {
  return await ctx.db
    .query("providerRecords")
    .withIndex("by_provider", (q) => q.eq("provider", provider))
    .unique();
}

async function findChange(ctx: Reader, operationId: string): Promise<Doc<"providerRecordChanges"> | null> {
  return await ctx.db
    .query("providerRecordChanges")
    .withIndex("by_operation", (q) => q.eq("operationId", operationId))
    .unique();
}

async function findFlowTotals(ctx: Reader, token: Token): Promise<Doc<"vaultFlowTotals"> | null> {
  return await ctx.db
    .query("vaultFlowTotals")
    .withIndex("by_token", (q) => q.eq("token", token))
    .unique();
}

/** Moves the token's flow total by `delta` (signed) in one direction. */
async function moveFlowTotals(ctx: Writer, token: Token, direction: "in" | "out", delta: bigint): Promise<void> {
  const totals = await findFlowTotals(ctx, token);
  const field = direction === "in" ? "totalIn" : "totalOut";
  if (!totals) {
    await ctx.db.insert("vaultFlowTotals", { token, totalIn: 0n, totalOut: 0n, [field]: delta });
  } else {
    await ctx.db.patch("vaultFlowTotals", totals._id, { [field]: totals[field] + delta });
  }
}

type Change = { operationId: string; provider: string; token: Token; direction: "in" | "out"; amount: bigint; seq: bigint; nonce?: bigint };

async function applyChange(ctx: Writer, change: Change): Promise<void> {
  // Idempotent by operation id: the sync may hand the same event over again.
  if (await findChange(ctx, change.operationId)) return;
  const record = await findProviderRecord(ctx, change.provider);
  const field = fieldOf(change.token, change.direction);
  // A withdrawal stores its voucher's nonce, as the vault does; a deposit leaves it.
  const nonce = change.nonce ?? record?.nonce ?? 0n;
  if (!record) {
    // The vault creates the record on a provider's first flow, at that flow's seq.
    await ctx.db.insert("providerRecords", {
      provider: change.provider,
      nonce,
      ...ZERO_FLOWS,
      [field]: change.amount,
      createdSeq: change.seq,
    });
  } else {
    await ctx.db.patch("providerRecords", record._id, { [field]: record[field] + change.amount, nonce });
  }
  await moveFlowTotals(ctx, change.token, change.direction, change.amount);
  const { nonce: voucherNonce, ...flow } = change;
  await ctx.db.insert(
    "providerRecordChanges",
    voucherNonce === undefined ? flow : { ...flow, nonce: voucherNonce, previousNonce: record?.nonce ?? 0n },
  );
}

/** A synced `funds-deposited`: the depositor's record `<token>-in` and the vault's flows grow by the amount. */
export async function recordDeposit(ctx: Writer, event: Deposit, operationId: string): Promise<void> {
  await applyChange(ctx, {
    operationId,
    provider: event.depositor,
    token: event.token,
    direction: "in",
    amount: event.amount,
    seq: event.seq,
  });
}

/** A synced `funds-withdrawn`: the record's `<token>-out` grows and its nonce becomes the voucher's. */
export async function recordWithdrawal(ctx: Writer, event: Withdrawal, operationId: string): Promise<void> {
  await applyChange(ctx, {
    operationId,
    provider: event.provider,
    token: event.token,
    direction: "out",
    amount: event.amount,
    seq: event.seq,
    nonce: event.nonce,
  });
}

/**
 * Undoes what the event with this operation id did to its record and to the
 * flows (its block left the canonical chain). Nothing to undo is not an error:
 * the event may not have been a deposit or withdrawal, or was undone already.
 * A record whose every change is undone is deleted, as the vault never had it;
 * otherwise it keeps the seq of its oldest remaining change and, when the
 * undone withdrawal set its nonce, the nonce before it.
 */
export async function reverseRecordChange(ctx: Writer, operationId: string): Promise<void> {
  const change = await findChange(ctx, operationId);
  if (!change) return;
  const record = await findProviderRecord(ctx, change.provider);
  await ctx.db.delete("providerRecordChanges", change._id);
  await moveFlowTotals(ctx, change.token, change.direction, -change.amount);
  if (!record) return;
  const oldest = await ctx.db
    .query("providerRecordChanges")
    .withIndex("by_provider_and_seq", (q) => q.eq("provider", change.provider))
    .first();
  if (!oldest) {
    await ctx.db.delete("providerRecords", record._id);
    return;
  }
  const field = fieldOf(change.token, change.direction);
  const restoresNonce = change.nonce !== undefined && record.nonce === change.nonce;
  await ctx.db.patch("providerRecords", record._id, {
    [field]: record[field] - change.amount,
    createdSeq: oldest.seq,
    ...(restoresNonce ? { nonce: change.previousNonce ?? 0n } : {}),
  });
}

/** A record's flows (zero before it exists) as a plain value. */
export function recordFlowsOf(record: Doc<"providerRecords"> | null): RecordFlows {
  return record ? { stxIn: record.stxIn, stxOut: record.stxOut, sbtcIn: record.sbtcIn, sbtcOut: record.sbtcOut } : { ...ZERO_FLOWS };
}

/** The vault's flows as the synced events have them: the totals per token, and the newest applied `seq` (0 before any). */
export async function readVaultFlows(ctx: Reader): Promise<VaultFlows> {
  const flows: VaultFlows = { seq: 0n, ...ZERO_FLOWS };
  for (const token of TOKENS) {
    const totals = await findFlowTotals(ctx, token);
    if (!totals) continue;
    flows[fieldOf(token, "in")] = totals.totalIn;
    flows[fieldOf(token, "out")] = totals.totalOut;
  }
  const newest = await ctx.db.query("providerRecordChanges").withIndex("by_seq").order("desc").first();
  flows.seq = newest?.seq ?? 0n;
  return flows;
}

/** Changes read at most when a record is looked at as of an earlier seq: more is a request to page, refused. */
const MAX_CHANGES_SINCE = 1_000;

/**
 * A provider's record as it stood once every applied change up to `seq` (and
 * none after) was in: the current record less the changes above `seq`. Null
 * when the record did not exist yet.
 */
export async function providerRecordAsOf(ctx: Reader, provider: string, seq: bigint): Promise<ProviderRecord | null> {
  const record = await findProviderRecord(ctx, provider);
  if (!record || record.createdSeq > seq) return null;
  const later = await ctx.db
    .query("providerRecordChanges")
    .withIndex("by_provider_and_seq", (q) => q.eq("provider", provider).gt("seq", seq))
    .take(MAX_CHANGES_SINCE + 1);
  if (later.length > MAX_CHANGES_SINCE) throw new RangeError(`more than ${MAX_CHANGES_SINCE} changes of ${provider} since seq ${seq}`);
  const asOf: ProviderRecord = {
    provider,
    nonce: record.nonce,
    stxIn: record.stxIn,
    stxOut: record.stxOut,
    sbtcIn: record.sbtcIn,
    sbtcOut: record.sbtcOut,
    createdSeq: record.createdSeq,
  };
  // Oldest first: the first later withdrawal's previous nonce is the nonce as of `seq`.
  let nonceSet = false;
  for (const change of later) {
    asOf[fieldOf(change.token, change.direction)] -= change.amount;
    if (!nonceSet && change.previousNonce !== undefined) {
      asOf.nonce = change.previousNonce;
      nonceSet = true;
    }
  }
  return asOf;
}
