/** How a premium is shared: the protocol's fee first, the rest among the policy's backers. */
import { bpsOf, splitProportionally } from "./money";

export type PremiumSplit = { protocolFee: bigint; parts: { provider: string; amount: bigint }[] };

/** Pure: the protocol's fee and each backer's part; everything sums to `premium`. */
export function splitPremium(
  premium: bigint,
  protocolFeeBps: bigint,
  backers: readonly { provider: string; allocation: bigint }[],
): PremiumSplit {
  const protocolFee = bpsOf(premium, protocolFeeBps);
  const shares = splitProportionally(
    premium - protocolFee,
    backers.map((b) => b.allocation),
  );
  return {
    protocolFee,
    parts: backers.map((b, i) => ({ provider: b.provider, amount: shares[i] ?? 0n })).filter((p) => p.amount > 0n),
  };
}
