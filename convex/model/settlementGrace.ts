/**
 * The settlement grace: how many blocks past its expiry a policy stays
 * Active before the pool releases its collateral. An in-the-money policy is
 * settled by the policy flow calling `requestSettlement`; if the expiry sweep
 * ran first at the expiry block itself, the buyer's payout would be released
 * back to the backers. The grace gives the policy flow that time.
 */
import { z } from "zod";

import { poolError } from "../domain/errors";

/**
 * At Nakamoto's few seconds per Stacks block, 144 blocks are 10–25 minutes:
 * many runs of a cron-driven policy flow.
 */
export const DEFAULT_SETTLEMENT_GRACE_BLOCKS = 144n;

const graceEnvironment = z.object({
  SETTLEMENT_GRACE_BLOCKS: z.coerce.bigint().nonnegative().default(DEFAULT_SETTLEMENT_GRACE_BLOCKS),
});

export function readSettlementGraceBlocks(env: Record<string, string | undefined>): bigint {
  const parsed = graceEnvironment.safeParse(env);
  if (!parsed.success) {
    throw poolError("CONFIGURATION_MISSING", "SETTLEMENT_GRACE_BLOCKS must be a whole number of blocks");
  }
  return parsed.data.SETTLEMENT_GRACE_BLOCKS;
}
