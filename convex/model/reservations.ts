/**
 * Withdrawal reservations: the amount promised to a signed voucher is held
 * (reserved) from the moment the voucher is signed until its withdrawal event
 * is synced (redeemed) or it can no longer be redeemed (expired).
 */
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import type { Token } from "../validators";
import { applyBalanceChange, requirePositiveAmount } from "./ledger";
import { requireProvider } from "./providers";
import { assertWithdrawalAllowed } from "./withdrawalPolicy";

export type ReservationRequest = {
  provider: string;
  token: Token;
  amount: bigint;
  nonce: bigint;
  expiresAtBlock: bigint;
};

export async function findReservationByNonce(
  ctx: MutationCtx,
  nonce: bigint,
): Promise<Doc<"withdrawalReservations"> | null> {
  return await ctx.db
    .query("withdrawalReservations")
    .withIndex("by_nonce", (q) => q.eq("nonce", nonce))
    .unique();
}

export async function reserveWithdrawal(ctx: MutationCtx, request: ReservationRequest): Promise<void> {
  requirePositiveAmount(request.amount);
  const provider = await requireProvider(ctx, request.provider);
  if (await findReservationByNonce(ctx, request.nonce)) {
    // 63 random bits: a repeat is (almost) never chance; refusing keeps nonces one-time.
    throw new Error(`voucher nonce ${request.nonce} is already taken`);
  }
  await assertWithdrawalAllowed(ctx, provider, request.token, request.amount);
  await applyBalanceChange(ctx, {
    operationId: `reservation:${request.nonce}:reserve`,
    provider: request.provider,
    token: request.token,
    type: "reserve",
    amount: request.amount,
  });
  await ctx.db.insert("withdrawalReservations", { ...request, status: "active", createdAt: Date.now() });
}

/** Frees a reservation that was never redeemed (signing failed, or the voucher expired). */
export async function cancelReservation(
  ctx: MutationCtx,
  reservation: Doc<"withdrawalReservations">,
  status: "expired" | "cancelled",
): Promise<void> {
  if (reservation.status !== "active") return;
  await applyBalanceChange(ctx, {
    operationId: `reservation:${reservation.nonce}:unreserve`,
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
 * one of our reservations, the reservation is consumed with it.
 */
export async function applyWithdrawal(
  ctx: MutationCtx,
  withdrawal: { operationId: string; provider: string; token: Token; amount: bigint; nonce: bigint },
): Promise<void> {
  const reservation = await findReservationByNonce(ctx, withdrawal.nonce);
  const redeems =
    reservation !== null &&
    reservation.status === "active" &&
    reservation.provider === withdrawal.provider &&
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
}

/**
 * Expires up to `limit` active reservations whose vouchers cannot be redeemed
 * any more: their expiry is below the height through which vault events have
 * been synced, so had the voucher been used, its event would already be here.
 */
export async function expireReservations(
  ctx: MutationCtx,
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
