/**
 * The fair queue behind policy allocation (model/policies/allocation.ts): weighted
 * fair queuing, in its fluid form, with each balance's available capital as
 * its weight.
 *
 * Each balance of a tier carries `allocationKey`, the virtual time up to
 * which it has been served: collateral it has backed, divided by its
 * available capital. A policy is offered to the K balances furthest behind
 * (lowest keys, one indexed read) and split among them so that their keys
 * rise to a common level — those furthest behind give the most. Over many
 * policies every balance's key advances at the same pace, which is exactly
 * "collateral backed in proportion to available capital", and no provider is
 * ever more than one policy's share ahead of the others: deterministic, with
 * no sampling noise for small providers and no bias against large ones.
 *
 * The tier's clock is the level the last policy raised its backers to; a
 * balance that becomes available (first funded, or freed from zero) joins the
 * queue at the clock. Only allocations move the clock, and a balance change
 * must not read it (every allocation writes it, so every deposit would
 * conflict with every allocation): the change marks the balance JOINING
 * instead, a key past every served key, and the balance takes the clock's
 * value when it is admitted: by the next allocation whose window reaches it,
 * or by the admission job (model/policies/admission.ts). Until an allocation
 * moves the clock that is exactly where it would have joined.
 *
 * A balance that is already queued keeps its key when its capital changes.
 * Keeping its lead over the clock exact in collateral (lead × old capital =
 * new lead × new capital) would need the clock again; allocation itself,
 * which holds the clock, does rescale its backers' leads. So a deposit by a
 * balance ahead of the queue makes it wait a little longer than its share, a
 * withdrawal a little less: by at most its lead, which is one policy's share.
 *
 * Keys are priorities, not money: floats are used for them (and for the
 * water level), never for an amount that is paid or recorded.
 */
import { splitProportionally } from "./money";

/** The key of a balance with nothing available: it is never offered a policy. */
export const NEVER = Number.MAX_VALUE;

/**
 * The key of a balance that became available and waits to be admitted at the
 * clock: below NEVER, above every key a balance can be served to.
 */
export const JOINING = Number.MAX_VALUE / 2;

/** Served keys stay below this, so they never reach JOINING. */
const MAX_SERVED_KEY = Number.MAX_VALUE / 4;

/** A balance's key after a change of its available capital from `before` to `after`, made without the clock. */
export function keyAfterBalanceChange(key: number | undefined, before: bigint, after: bigint): number {
  if (after <= 0n) return NEVER;
  if (key === undefined || key === NEVER || before <= 0n) return JOINING;
  return key;
}

/** Where a balance stands in the queue when the clock reads `clock`: a joining balance joins at it. */
export function effectiveKey(key: number, clock: number): number {
  return key === JOINING ? clock : key;
}

/**
 * A backer's key after an allocation served it and its available capital
 * went from `before` to `after`, with the clock as that allocation left it.
 */
export function rescaledKey(key: number, before: bigint, after: bigint, clock: number): number {
  if (after <= 0n) return NEVER;
  // A balance behind the clock keeps its place (it is owed policies); one ahead keeps its lead in collateral.
  if (key <= clock) return key;
  return Math.min(MAX_SERVED_KEY, clock + ((key - clock) * Number(before)) / Number(after));
}

export type QueueMember = { key: number; available: bigint };

/**
 * The water level L at which members' shares `available × min(1, L − key)`
 * (for keys below L) add up to `required`. Needs Σ available ≥ required.
 */
export function waterLevel(members: readonly QueueMember[], required: bigint): number {
  const need = Number(required);
  const filled = (level: number) =>
    members.reduce((sum, m) => sum + Number(m.available) * Math.min(1, Math.max(0, level - m.key)), 0);
  let low = Math.min(...members.map((m) => m.key));
  let high = Math.max(...members.map((m) => m.key)) + 1;
  for (let i = 0; i < 200 && high - low > 0; i++) {
    const mid = (low + high) / 2;
    if (mid === low || mid === high) break;
    if (filled(mid) >= need) high = mid;
    else low = mid;
  }
  return high;
}

export type Allocation = { provider: string; amount: bigint };

/** Pure: parts of `required` for `candidates`, proportional to their available capital. */
export function allocateProportionally(
  required: bigint,
  candidates: readonly { provider: string; available: bigint }[],
): Allocation[] {
  const parts = splitProportionally(
    required,
    candidates.map((c) => c.available),
  );
  return candidates
    .map((c, i) => ({ provider: c.provider, amount: parts[i] ?? 0n }))
    .filter((a) => a.amount > 0n);
}

/**
 * Pure: exact parts of `required` for queue members, by water-filling. Each
 * part is at most the member's available capital and the parts sum to
 * `required`. Needs Σ available ≥ required.
 */
export function waterFill(required: bigint, members: readonly { key: number; available: bigint }[]): bigint[] {
  const level = waterLevel(members, required);
  // Float shares only weigh the split; the parts themselves are exact integers.
  const weights = members.map((m) => {
    const share = Number(m.available) * Math.min(1, Math.max(0, level - m.key));
    const whole = BigInt(Math.floor(share));
    return whole < m.available ? whole : m.available;
  });
  const parts = weights.some((w) => w > 0n)
    ? splitProportionally(required, weights)
    : splitProportionally(
        required,
        members.map((m) => m.available),
      );
  // Rounding may push a part past its member's capital by a unit or two: move it to members with room.
  let excess = 0n;
  parts.forEach((part, i) => {
    const cap = members[i]!.available;
    if (part > cap) {
      excess += part - cap;
      parts[i] = cap;
    }
  });
  for (let i = 0; excess > 0n && i < parts.length; i++) {
    const room = members[i]!.available - parts[i]!;
    const moved = room < excess ? room : excess;
    parts[i] = parts[i]! + moved;
    excess -= moved;
  }
  return parts;
}
