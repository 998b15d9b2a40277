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
 * The tier's clock is the level the last policy raised its backers to. When a
 * balance's available capital changes, its lead over the clock keeps its
 * meaning in collateral (lead × old capital = new lead × new capital); a newly
 * funded balance joins at the clock.
 *
 * Keys are priorities, not money: floats are used for them (and for the
 * water level), never for an amount that is paid or recorded.
 */
import { splitProportionally } from "./money";

/** The key of a balance with nothing available: it is never offered a policy. */
export const NEVER = Number.MAX_VALUE;

/** A balance's key after its available capital went from `before` to `after`. */
export function rescaledKey(key: number | undefined, before: bigint, after: bigint, clock: number): number {
  if (after <= 0n) return NEVER;
  if (key === undefined || key === NEVER || before <= 0n) return clock;
  // A balance behind the clock keeps its place (it is owed policies); one ahead keeps its lead in collateral.
  if (key <= clock) return key;
  return clock + ((key - clock) * Number(before)) / Number(after);
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
