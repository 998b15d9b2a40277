/**
 * Withdrawal reservations: the amount promised to a signed voucher is held
 * (reserved) from the moment the voucher is signed until its withdrawal event
 * is synced (redeemed) or it can no longer be redeemed (superseded by a later
 * voucher of the same provider, or expired).
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import { poolError } from "../../domain/errors";
import type { Token } from "../../validators";
import { applyBalanceChange, requirePositiveAmount } from "./balanceLedger";
import { findProviderRecord } from "../checkpoints/providerRecords";
import { requireProvider } from "./providers";
import { readSyncValue, SYNC_KEYS } from "../sync/syncState";
import type { PriceFreshness } from "../risk/priceReadings";
import { assertWithdrawalAllowed } from "../risk/withdrawalLimits";

export type ReservationRequest = {
  provider: string;
  token: Token;
  amount: bigint;
  expiresAtBlock: bigint;
  /** The client's key for the request (README "Liquidity API"): the same key is the same withdrawal. */
  idempotencyKey?: string;
};

/** Why a reservation's voucher can no longer be handed out again, by its status. */
const ENDED: Record<Exclude<Doc<"withdrawalReservations">["status"], "active">, string> = {
  redeemed: "was redeemed: its withdrawal is on the chain",
  expired: "expired before it was redeemed",
  superseded: "can never be redeemed: a later voucher of the same provider was redeemed first",
  cancelled: "was cancelled before its voucher was handed out",
};

/**
 * The reservation a request with this key already made, if any. A key names
 * one withdrawal: reusing it for another amount or token is refused, and so
 * is replaying one whose voucher the vault can no longer pay (redeemed,
 * expired — also when the synced chain has passed its expiry before the
 * sweep freed it — superseded, or cancelled): the client asks again with a
 * new key and gets a voucher that works.
 */
export async function reservationForKey(
  ctx: Reader,
  request: { provider: string; token: Token; amount: bigint; idempotencyKey: string },
): Promise<Doc<"withdrawalReservations"> | null> {
  const existing = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_and_idempotency_key", (q) => q.eq("provider", request.provider).eq("idempotencyKey", request.idempotencyKey))
    .unique();
  if (!existing) return null;
  if (existing.token !== request.token || existing.amount !== request.amount) {
    throw poolError(
      "INVALID_REQUEST",
      `idempotency key ${request.idempotencyKey} was used for a withdrawal of ${existing.amount} ${existing.token}: use a new key for another withdrawal`,
    );
  }
  const syncedThrough = await readSyncValue(ctx, SYNC_KEYS.vaultEventsSyncedThroughHeight);
  const pastExpiry = existing.status === "active" && syncedThrough !== null && existing.expiresAtBlock < syncedThrough;
  const ended = existing.status !== "active" ? ENDED[existing.status] : pastExpiry ? ENDED.expired : null;
  if (ended !== null) {
    throw poolError("INVALID_REQUEST", `the withdrawal with idempotency key ${request.idempotencyKey} ${ended}: use a new key`);
  }
  return existing;
}

/**
 * Most vouchers a provider may hold unredeemed at once. A synced withdrawal
 * sets aside every earlier one in its own mutation (they can never be
 * redeemed), and this bound is what keeps that work — and undoing it after a
 * reorg — to a fixed number of documents.
 */
export const MAX_OUTSTANDING_VOUCHERS = 25;

/** Refuses a new voucher while the provider already holds the most they may (VOUCHER_LIMIT_REACHED). */
export async function assertVoucherSlot(ctx: Reader, provider: string): Promise<void> {
  const outstanding = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_status_and_nonce", (q) => q.eq("provider", provider).eq("status", "active"))
    .take(MAX_OUTSTANDING_VOUCHERS);
  if (outstanding.length >= MAX_OUTSTANDING_VOUCHERS) {
    throw poolError(
      "VOUCHER_LIMIT_REACHED",
      `${MAX_OUTSTANDING_VOUCHERS} withdrawal vouchers are outstanding: redeem one (which voids every earlier one) or let one expire`,
    );
  }
}

const reservationOperation = (provider: string, nonce: bigint, step: "reserve" | "unreserve") =>
  `reservation:${provider}:${nonce}:${step}`;

export async function findReservation(
  ctx: Writer,
  provider: string,
  nonce: bigint,
): Promise<Doc<"withdrawalReservations"> | null> {
  return await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_and_nonce", (q) => q.eq("provider", provider).eq("nonce", nonce))
    .unique();
}

/**
 * The provider's next voucher nonce: one above the highest this backend ever
 * issued them, whatever became of it, and above the last one the vault
 * redeemed (the synced record's `nonce`, a new provider's being 0), which the
 * vault requires. The two differ when vouchers were redeemed that this
 * database never issued: a deployment restored from a backup, or a new one
 * taking over a vault. Read inside the reservation's mutation: two concurrent
 * requests of one provider conflict on this index range, and Convex reruns
 * the later one, which then takes the next nonce.
 */
async function nextVoucherNonce(ctx: Writer, provider: string): Promise<bigint> {
  const last = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_and_nonce", (q) => q.eq("provider", provider))
    .order("desc")
    .first();
  const redeemed = (await findProviderRecord(ctx, provider))?.nonce ?? 0n;
  const issued = last?.nonce ?? 0n;
  return (issued > redeemed ? issued : redeemed) + 1n;
}

/** Reserves the amount for a new voucher and returns the voucher's nonce. */
export async function reserveWithdrawal(
  ctx: Writer,
  request: ReservationRequest,
  freshness: PriceFreshness,
): Promise<bigint> {
  requirePositiveAmount(request.amount);
  if (request.idempotencyKey !== undefined) {
    // A retry that raced the first request past its look-up: the first one's voucher.
    const existing = await reservationForKey(ctx, { ...request, idempotencyKey: request.idempotencyKey });
    if (existing) return existing.nonce;
  }
  const provider = await requireProvider(ctx, request.provider);
  await assertWithdrawalAllowed(ctx, provider, request.token, request.amount, freshness);
  await assertVoucherSlot(ctx, request.provider);
  const nonce = await nextVoucherNonce(ctx, request.provider);
  await applyBalanceChange(ctx, {
    operationId: reservationOperation(request.provider, nonce, "reserve"),
    provider: request.provider,
    token: request.token,
    type: "reserve",
    amount: request.amount,
  });
  await ctx.db.insert("withdrawalReservations", { ...request, nonce, status: "active", createdAt: Date.now() });
  return nonce;
}

/** Frees a reservation that was never redeemed (signing failed, or the voucher expired). */
export async function cancelReservation(
  ctx: Writer,
  reservation: Doc<"withdrawalReservations">,
  status: "expired" | "cancelled",
): Promise<void> {
  if (reservation.status !== "active") return;
  await applyBalanceChange(ctx, {
    operationId: reservationOperation(reservation.provider, reservation.nonce, "unreserve"),
    provider: reservation.provider,
    token: reservation.token,
    type: "unreserve",
    amount: reservation.amount,
  });
  await ctx.db.patch("withdrawalReservations", reservation._id, { status });
}

/**
 * Applies a synced `funds-withdrawn` event. The chain is the source of truth:
 * the provider's total drops by what left the vault. When the event redeems
 * one of our reservations, the reservation is consumed with it; the
 * provider's active reservations with a lower nonce can never be redeemed now
 * (the vault refuses a nonce at or below the last redeemed one), so they are
 * freed too. Their changes carry the event's operation id as a prefix, so a
 * reorg that reverses the event takes them back with it.
 */
export async function applyWithdrawal(
  ctx: Writer,
  withdrawal: { operationId: string; provider: string; token: Token; amount: bigint; nonce: bigint },
): Promise<void> {
  const reservation = await findReservation(ctx, withdrawal.provider, withdrawal.nonce);
  const redeems =
    reservation !== null &&
    reservation.status === "active" &&
    reservation.token === withdrawal.token &&
    reservation.amount === withdrawal.amount;
  if (reservation && redeems) {
    await applyBalanceChange(ctx, {
      operationId: `${withdrawal.operationId}:unreserve`,
      provider: withdrawal.provider,
      token: withdrawal.token,
      type: "unreserve",
      amount: withdrawal.amount,
    });
    await ctx.db.patch("withdrawalReservations", reservation._id, { status: "redeemed" });
  }
  await applyBalanceChange(ctx, {
    operationId: withdrawal.operationId,
    provider: withdrawal.provider,
    token: withdrawal.token,
    type: "withdrawal",
    amount: withdrawal.amount,
  });
  const earlier = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_provider_status_and_nonce", (q) =>
      q.eq("provider", withdrawal.provider).eq("status", "active").lt("nonce", withdrawal.nonce),
    )
    .take(MAX_OUTSTANDING_VOUCHERS);
  for (const voided of earlier) {
    await applyBalanceChange(ctx, {
      operationId: `${withdrawal.operationId}:supersede:${voided.nonce}`,
      provider: voided.provider,
      token: voided.token,
      type: "unreserve",
      amount: voided.amount,
    });
    await ctx.db.patch("withdrawalReservations", voided._id, {
      status: "superseded",
      supersededBy: withdrawal.operationId,
    });
  }
}

/**
 * Undoes what `applyWithdrawal` did to reservations, for a withdrawal whose
 * block left the canonical chain (the balance changes are reversed from the
 * ledger by the caller): its reservation and the ones it superseded are
 * active again, since their vouchers may be redeemable again.
 */
export async function reopenReservations(
  ctx: Writer,
  withdrawal: { operationId: string; provider: string; nonce: bigint },
): Promise<void> {
  const reservation = await findReservation(ctx, withdrawal.provider, withdrawal.nonce);
  if (reservation?.status === "redeemed") await ctx.db.patch("withdrawalReservations", reservation._id, { status: "active" });
  const superseded = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_superseded_by", (q) => q.eq("supersededBy", withdrawal.operationId))
    .take(MAX_OUTSTANDING_VOUCHERS);
  for (const voided of superseded) {
    await ctx.db.patch("withdrawalReservations", voided._id, { status: "active", supersededBy: undefined });
  }
}

/**
 * Expires up to `limit` active reservations whose vouchers cannot be redeemed
 * any more: their expiry is below the height through which vault events have
 * been synced, so had the voucher been used, its event would already be here.
 */
export async function expireReservations(
  ctx: Writer,
  syncedThroughHeight: bigint,
  limit: number,
): Promise<{ expired: number; hasMore: boolean }> {
  const due = await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_status_and_expiry", (q) => q.eq("status", "active").lt("expiresAtBlock", syncedThroughHeight))
    .take(limit + 1);
  const batch = due.slice(0, limit);
  for (const reservation of batch) await cancelReservation(ctx, reservation, "expired");
  return { expired: batch.length, hasMore: due.length > limit };
}
