/**
 * The off-chain model of the pool (docs/architecture.md). Every amount is `v.int64()` in
 * base units of its token; per-provider money lives here, never on chain.
 */
import { rateLimitTables } from "convex-helpers/server/rateLimit";
import { literals } from "convex-helpers/validators";
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

import { BACKEND_VAULT_FUNCTIONS } from "./chain/vault";
import {
  balanceChangeTypeValidator,
  checkpointCallValidator,
  checkpointRunStatusValidator,
  chainTransactionStatusValidator,
  healthStatusValidator,
  oracleAssetValidator,
  policyStatusValidator,
  policyTypeValidator,
  proofStepValidator,
  reservationStatusValidator,
  tierValidator,
  tokenValidator,
  syncedEventValidator,
} from "./validators";

export default defineSchema({
  /** One per provider (a Stacks principal), created on first commitment or first deposit. */
  providers: defineTable({
    principal: v.string(),
    tier: tierValidator,
    healthStatus: healthStatusValidator,
    /** Collateral / required collateral, in basis points; absent while nothing is backed. */
    collateralizationRatioBps: v.optional(v.int64()),
    lastHealthCheckAt: v.optional(v.number()),
    /**
     * The provider's share of the policies they back (domain/health.ts): PUT
     * obligations in USD (8 decimals) and CALL protected amounts in sats, and
     * how many backings are active. Kept in step by allocation and release.
     */
    putObligationUsd: v.int64(),
    callProtectedSats: v.int64(),
    activeBackings: v.int64(),
    createdAt: v.number(),
  })
    .index("by_principal", ["principal"])
    .index("by_active_backings", ["activeBackings"]),

  /**
   * A provider's money in one token. available = total - locked - reserved
   * (stored alongside, for indexing). Invariant: locked + reserved <= total, all >= 0.
   * `accruedYield` is the lifetime yield credited from premiums (it was added
   * to `total` when credited; withdrawals do not reduce it).
   */
  providerBalances: defineTable({
    provider: v.string(),
    token: tokenValidator,
    tier: tierValidator,
    /** Which tier-total shard this provider's sums are kept in (see model/ledger/tierTotals.ts). */
    shard: v.number(),
    /**
     * This balance's place in its tier's fair queue for backing policies: the
     * virtual time up to which it has been served, in collateral per unit of
     * available capital (see domain/fairQueue.ts). Lowest goes first.
     */
    allocationKey: v.number(),
    total: v.int64(),
    locked: v.int64(),
    reserved: v.int64(),
    /** total - locked - reserved, kept in step by the ledger so allocation can find the largest balances. */
    available: v.int64(),
    accruedYield: v.int64(),
    updatedAt: v.number(),
  })
    .index("by_provider_and_token", ["provider", "token"])
    .index("by_tier_token_allocation_key", ["tier", "token", "allocationKey"])
    .index("by_tier_token_available", ["tier", "token", "available"]),

  /**
   * Every balance change ever applied, keyed by the operation that caused it
   * (an on-chain event, an allocation, a reservation). Applying an operation
   * id a second time is a no-op: this is what makes the internal mutations
   * idempotent.
   */
  balanceLedger: defineTable({
    operationId: v.string(),
    provider: v.string(),
    token: tokenValidator,
    type: balanceChangeTypeValidator,
    amount: v.int64(),
    appliedAt: v.number(),
  }).index("by_operation", ["operationId"]),

  /**
   * Live tier sums, split over shards so that providers in different shards
   * never write the same document (docs/architecture.md, "Scale"). A tier's total is the
   * sum over its shards.
   */
  tierTotalShards: defineTable({
    tier: tierValidator,
    token: tokenValidator,
    shard: v.number(),
    capital: v.int64(),
    locked: v.int64(),
    reserved: v.int64(),
    accruedYield: v.int64(),
    providerCount: v.int64(),
    /** Active policies of this tier and collateral token (a policy counts in the shard its id hashes to). */
    activePolicyCount: v.int64(),
  }).index("by_tier_token_shard", ["tier", "token", "shard"]),

  /**
   * The virtual time of each tier's fair queue (domain/fairQueue.ts): the
   * level the last policy raised its backers to. Written only by allocation
   * and read only by allocation and the admission cron (model/policies/admission.ts):
   * no deposit, withdrawal or yield reads it, so none conflicts with allocation on it.
   */
  allocationClocks: defineTable({
    tier: tierValidator,
    token: tokenValidator,
    now: v.number(),
  }).index("by_tier_and_token", ["tier", "token"]),

  /** A periodic snapshot of each tier, for dashboards (`internal.liquidity.updateTierMetrics`, on a cron). */
  tierMetrics: defineTable({
    tierName: tierValidator,
    token: tokenValidator,
    totalCapital: v.int64(),
    totalLocked: v.int64(),
    totalReserved: v.int64(),
    totalAvailable: v.int64(),
    utilizationBps: v.int64(),
    providerCount: v.int64(),
    activePolicyCount: v.int64(),
    totalYieldAccrued: v.int64(),
    capacityLimit: v.optional(v.int64()),
    updatedAt: v.number(),
  }).index("by_tier_and_token", ["tierName", "token"]),

  /** The vault's own totals as its last synced event reported them. */
  poolMetrics: defineTable({
    token: tokenValidator,
    totalBalanceOnChain: v.int64(),
    totalLockedOnChain: v.int64(),
    lastEventBlockHeight: v.int64(),
    lastSyncedAt: v.number(),
  }).index("by_token", ["token"]),

  /** Per-tier rules, seeded by `internal.tierConfigs.seedDefaults` and editable by operators. */
  tierConfigs: defineTable({
    tier: tierValidator,
    /** Maximum capital the tier accepts, per token; absent = unlimited. */
    capacityLimitUstx: v.optional(v.int64()),
    capacityLimitSats: v.optional(v.int64()),
    /** Share of each premium kept by the protocol. */
    protocolFeeBps: v.int64(),
    /** At or above: Healthy. */
    healthyRatioBps: v.int64(),
    /** Below: MarginCall; between this and healthyRatioBps: Warning. */
    marginCallRatioBps: v.int64(),
    /** A withdrawal must leave the provider at or above this ratio plus the buffer. */
    withdrawalRatioBps: v.int64(),
    withdrawalBufferBps: v.int64(),
    /** Policies whose strike is at least this far out of the money (bps of spot) fall in this tier or a safer one. */
    minStrikeDistanceBps: v.int64(),
    /** How many providers may back one policy. */
    maxBackersPerPolicy: v.number(),
  }).index("by_tier", ["tier"]),

  /** Minimal registry of the policies the pool backs. */
  policies: defineTable({
    policyId: v.int64(),
    buyer: v.string(),
    policyType: policyTypeValidator,
    /** Amount of BTC protected, in sats. */
    protectedAmountSats: v.int64(),
    strikePriceUsd: v.int64(),
    premium: v.int64(),
    expiresAtBlock: v.int64(),
    tier: tierValidator,
    collateralToken: tokenValidator,
    requiredCollateral: v.int64(),
    status: policyStatusValidator,
    /** Premiums synced for this policy so far, in their token. */
    premiumsReceived: v.int64(),
    /**
     * The payout asked for (requestSettlement). Paid in one `settle-policy`, or, when it is
     * larger than the vault's outflow window allows at once, in parts (README "Outflow limit").
     */
    exercisedAmount: v.optional(v.int64()),
    /** What the settlement has paid the buyer so far, from its synced `settlement-paid` events. */
    settledAmount: v.optional(v.int64()),
    createdAt: v.number(),
    updatedAt: v.number(),
  })
    .index("by_policy_id", ["policyId"])
    .index("by_status_and_expiry", ["status", "expiresAtBlock"]),

  /**
   * Which provider backs how much of which policy. `allocated` is what is
   * still locked for the policy; `originalAllocation` what was locked at first.
   */
  policyBacking: defineTable({
    policyId: v.int64(),
    provider: v.string(),
    token: tokenValidator,
    tier: tierValidator,
    originalAllocation: v.int64(),
    allocated: v.int64(),
    /** This backer's part of the policy's obligation (see providers.putObligationUsd). */
    putObligationUsd: v.int64(),
    callProtectedSats: v.int64(),
    active: v.boolean(),
  })
    .index("by_policy", ["policyId"]),

  /**
   * Collateral instructions for the vault waiting to go on chain: the
   * transaction layer's seam. Locks and releases of up to 50 policies of one
   * token are batched into one `lock-collateral-aggregate` /
   * `release-collateral-aggregate`; a settlement is one `settle-policy`.
   */
  vaultOperations: defineTable({
    kind: v.union(v.literal("lock"), v.literal("release"), v.literal("settle")),
    policyId: v.int64(),
    token: tokenValidator,
    amount: v.int64(),
    /** The payee of a settlement. */
    buyer: v.optional(v.string()),
    status: v.union(v.literal("queued"), v.literal("submitted"), v.literal("confirmed"), v.literal("failed")),
    chainTransactionId: v.optional(v.id("chainTransactions")),
    createdAt: v.number(),
  })
    .index("by_status_kind_token", ["status", "kind", "token"])
    .index("by_policy_and_kind", ["policyId", "kind"])
    .index("by_chain_transaction", ["chainTransactionId"]),

  /** What belongs to the protocol rather than to providers: fees, and premiums no policy could take. */
  protocolAccounts: defineTable({
    token: tokenValidator,
    feesAccrued: v.int64(),
    unallocatedPremiums: v.int64(),
  }).index("by_token", ["token"]),

  /** Health changes a provider must hear about: a margin call or warning (with the shortfall), or a recovery. */
  healthNotifications: defineTable({
    provider: v.string(),
    status: healthStatusValidator,
    previousStatus: healthStatusValidator,
    collateralizationRatioBps: v.optional(v.int64()),
    /** What of either token alone would restore Healthy. */
    shortfallUstx: v.int64(),
    shortfallSats: v.int64(),
    cleared: v.boolean(),
    webhook: v.union(v.literal("pending"), v.literal("sent"), v.literal("failed"), v.literal("not-configured")),
    createdAt: v.number(),
  })
    .index("by_provider_and_cleared", ["provider", "cleared"])
    // Retention deletes cleared notifications oldest first (README "Retention").
    .index("by_cleared_and_time", ["cleared", "createdAt"]),

  /** Something an operator must look at: a reconciliation difference, an unmatched event, a failed transaction. */
  alerts: defineTable({
    kind: v.string(),
    message: v.string(),
    details: v.optional(v.string()),
    resolved: v.boolean(),
    createdAt: v.number(),
  })
    .index("by_resolved_and_time", ["resolved", "createdAt"])
    .index("by_kind_and_resolved", ["kind", "resolved"]),

  /**
   * Every vault event synced from the chain, unique by (txid, eventIndex).
   * Money events are "applied" (or "unmatched"); governance events (roles,
   * pause, outflow limit, checkpoints, shutdown, exit claims) are "recorded":
   * kept as printed, with no effect on the books yet.
   */
  vaultEvents: defineTable({
    txid: v.string(),
    eventIndex: v.number(),
    blockHeight: v.int64(),
    blockHash: v.string(),
    event: syncedEventValidator,
    status: v.union(v.literal("applied"), v.literal("unmatched"), v.literal("recorded"), v.literal("reversed")),
    appliedAt: v.number(),
    /**
     * What the event added outside the balance ledger (a premium's protocol
     * fee or unallocated amount, and the policy's premiums received), so that
     * a reorg can take exactly that back.
     */
    offLedger: v.optional(
      v.object({ feesAccrued: v.int64(), unallocatedPremiums: v.int64(), premiumsReceived: v.int64() }),
    ),
    /** A settlement whose block left the chain, its effects kept until it is mined again (or an operator decides). */
    keptThroughReorg: v.optional(v.boolean()),
  })
    .index("by_tx_and_index", ["txid", "eventIndex"])
    .index("by_block_height", ["blockHeight"])
    // The checkpoint job finds a checkpoint's `checkpoint-posted`, `checkpoint-leaves` and
    // `checkpoint-vetoed` events by epoch, and the exit view the `shutdown` event, without
    // reading the event history (README "Checkpoints").
    .index("by_kind_and_epoch", ["event.kind", "event.epoch"]),

  /** Print events of the vault that could not be decoded: recorded once, alerted, skipped. */
  rejectedEvents: defineTable({
    txid: v.string(),
    eventIndex: v.number(),
    blockHeight: v.int64(),
    reason: v.string(),
    hex: v.string(),
    recordedAt: v.number(),
  }).index("by_tx_and_index", ["txid", "eventIndex"]),

  /** Each comparison of the vault's read-only totals with the off-chain sums. */
  reconciliations: defineTable({
    token: tokenValidator,
    status: v.union(v.literal("match"), v.literal("mismatch"), v.literal("skipped")),
    reason: v.optional(v.string()),
    onChainBalance: v.int64(),
    onChainLocked: v.int64(),
    expectedBalance: v.int64(),
    expectedLocked: v.int64(),
    syncedThroughHeight: v.int64(),
    checkedAt: v.number(),
  }).index("by_token_and_time", ["token", "checkedAt"]),

  /** Every transaction the backend prepared or sent, with its fate. */
  chainTransactions: defineTable({
    functionName: literals(...BACKEND_VAULT_FUNCTIONS),
    /** Assigned when the transaction is signed, by the one nonce allocator. */
    nonce: v.optional(v.int64()),
    fee: v.optional(v.int64()),
    buyer: v.optional(v.string()),
    txid: v.optional(v.string()),
    status: chainTransactionStatusValidator,
    policyIds: v.array(v.int64()),
    token: tokenValidator,
    amount: v.int64(),
    error: v.optional(v.string()),
    attempts: v.number(),
    /** Chain height when last broadcast: a transaction pending long after it is stuck. */
    broadcastAtHeight: v.optional(v.int64()),
    /** Earlier txids of this transaction, replaced by higher-fee versions. */
    replacedTxids: v.optional(v.array(v.string())),
    /**
     * Every txid signed for it, recorded before each broadcast: after a crash
     * or a nonce rejection these tell whether one of them reached the node.
     */
    signedTxids: v.optional(v.array(v.string())),
    /** Set when it was found stuck with its replacement fee above MAX_FEE_USTX (operators were alerted once). */
    stuckAtFeeCapSince: v.optional(v.number()),
    /**
     * The arguments of a `post-checkpoint` or `publish-leaves` (README "Checkpoints"); such a
     * call moves no token, so `token` is "STX" and `amount` 0 for it.
     */
    checkpointCall: v.optional(checkpointCallValidator),
    createdAt: v.number(),
    updatedAt: v.number(),
  })
    .index("by_status", ["status"])
    .index("by_txid", ["txid"]),

  /**
   * Amounts promised to a signed withdrawal voucher, held until redeemed,
   * superseded or expired. Unique by (provider, nonce): voucher nonces are per
   * provider and increasing, as the vault requires.
   */
  /**
   * The tier a provider asked to join, until their deposit syncs (then it is
   * used and deleted) or retention prunes it: asking to commit creates no provider.
   */
  tierChoices: defineTable({
    provider: v.string(),
    tier: tierValidator,
    chosenAt: v.number(),
  })
    .index("by_provider", ["provider"])
    .index("by_chosen_at", ["chosenAt"]),

  withdrawalReservations: defineTable({
    provider: v.string(),
    token: tokenValidator,
    amount: v.int64(),
    nonce: v.int64(),
    expiresAtBlock: v.int64(),
    status: reservationStatusValidator,
    /** The synced withdrawal (its ledger operation id) that made this reservation unredeemable. */
    supersededBy: v.optional(v.string()),
    /** The client's key for the request: a retry with it gets this voucher again, and reserves nothing new. */
    idempotencyKey: v.optional(v.string()),
    createdAt: v.number(),
  })
    .index("by_provider_and_nonce", ["provider", "nonce"])
    .index("by_provider_and_idempotency_key", ["provider", "idempotencyKey"])
    .index("by_provider_status_and_nonce", ["provider", "status", "nonce"])
    .index("by_status_and_expiry", ["status", "expiresAtBlock"])
    .index("by_superseded_by", ["supersededBy"]),

  /**
   * The vault's per-depositor record, mirrored from synced `funds-deposited` /
   * `funds-withdrawn` events (README "Checkpoints"): cumulative in and out per
   * token, the last redeemed voucher nonce, and the flow `seq` at which the
   * record appeared. Exactly what `get-provider-record` answers once the sync
   * has caught up.
   */
  providerRecords: defineTable({
    provider: v.string(),
    nonce: v.int64(),
    stxIn: v.int64(),
    stxOut: v.int64(),
    sbtcIn: v.int64(),
    sbtcOut: v.int64(),
    createdSeq: v.int64(),
  }).index("by_provider", ["provider"]),

  /**
   * One row per deposit or withdrawal applied to `providerRecords`, keyed by
   * the event's operation id: applying it again changes nothing, a reorg
   * reversal undoes exactly it, and a record's (or the vault's) flows as of
   * any applied `seq` can be read back from it.
   */
  providerRecordChanges: defineTable({
    operationId: v.string(),
    provider: v.string(),
    token: tokenValidator,
    direction: v.union(v.literal("in"), v.literal("out")),
    amount: v.int64(),
    seq: v.int64(),
    /** A withdrawal's voucher nonce, and the record's nonce before it (restored on reversal). */
    nonce: v.optional(v.int64()),
    previousNonce: v.optional(v.int64()),
  })
    .index("by_operation", ["operationId"])
    .index("by_seq", ["seq"])
    .index("by_provider_and_seq", ["provider", "seq"]),

  /** The vault's flow totals per token (`get-flows`), mirrored with the records; the `seq` is the newest change's. */
  vaultFlowTotals: defineTable({
    token: tokenValidator,
    totalIn: v.int64(),
    totalOut: v.int64(),
  }).index("by_token", ["token"]),

  /**
   * A hold on applying vault events (at most one row): while a checkpoint
   * snapshot copies the books page by page, the sync and the chainhook
   * confirmer find it and stop, so nothing changes a balance between pages.
   * A hold past `expiresAt` is void (a crashed snapshot cannot stop the sync for good).
   */
  eventHolds: defineTable({
    holder: v.literal("checkpoint-snapshot"),
    runId: v.id("checkpointRuns"),
    expiresAt: v.number(),
  }).index("by_holder", ["holder"]),

  /** One checkpoint of the books, from its snapshot to its on-chain verification (README "Checkpoints"). */
  checkpointRuns: defineTable({
    status: checkpointRunStatusValidator,
    /** The newest applied flow `seq` when the snapshot was taken, and the vault's flows then. */
    asOfSeq: v.int64(),
    flows: v.object({ stxIn: v.int64(), stxOut: v.int64(), sbtcIn: v.int64(), sbtcOut: v.int64() }),
    /** Where the snapshot's walk over the records stands (a pagination cursor); leaves copied so far. */
    snapshotCursor: v.optional(v.string()),
    leafCount: v.int64(),
    /** What the copied leaves add up to so far: checked against the flows and the books when the snapshot ends. */
    leafSums: v.optional(
      v.object({ stx: v.int64(), sbtc: v.int64(), stxIn: v.int64(), stxOut: v.int64(), sbtcIn: v.int64(), sbtcOut: v.int64() }),
    ),
    /** The Merkle-sum root over the leaves (0x-hex) and its sums, once built. */
    root: v.optional(v.string()),
    stxSum: v.optional(v.int64()),
    sbtcSum: v.optional(v.int64()),
    postTransactionId: v.optional(v.id("chainTransactions")),
    /** The vault's epoch, from the synced `checkpoint-posted` event that carries this root. */
    epoch: v.optional(v.int64()),
    /** Leaves queued for `publish-leaves` so far (offsets below it have a publication). */
    publishedThrough: v.optional(v.int64()),
    startedAt: v.number(),
    finishedAt: v.optional(v.number()),
    error: v.optional(v.string()),
    /** Its leaves and publications are deleted (an ended run no checkpoint can fall back to). */
    pruned: v.boolean(),
  })
    // The newest run of a status (by creation time), which "by_status_and_pruned" cannot order by.
    // eslint-disable-next-line @convex-dev/no-duplicate-indexes
    .index("by_status", ["status"])
    .index("by_status_and_pruned", ["status", "pruned"])
    .index("by_epoch", ["epoch"]),

  /**
   * A checkpoint's leaves, in published order: ascending provider principal.
   * `proof` is the leaf's Merkle-sum proof in the run's tree (siblings from
   * the leaf up), written when the tree is built.
   */
  checkpointLeaves: defineTable({
    runId: v.id("checkpointRuns"),
    index: v.int64(),
    provider: v.string(),
    stx: v.int64(),
    sbtc: v.int64(),
    stxIn: v.int64(),
    stxOut: v.int64(),
    sbtcIn: v.int64(),
    sbtcOut: v.int64(),
    proof: v.optional(v.array(proofStepValidator)),
  })
    .index("by_run_and_index", ["runId", "index"])
    .index("by_run_and_provider", ["runId", "provider"]),

  /** Each `publish-leaves` transaction queued for a checkpoint: 100 leaves from `offset`. */
  checkpointPublications: defineTable({
    runId: v.id("checkpointRuns"),
    offset: v.int64(),
    count: v.int64(),
    chainTransactionId: v.id("chainTransactions"),
    /** Transactions queued for this batch: a failed one is queued again, up to a limit. */
    attempts: v.number(),
  }).index("by_run_and_offset", ["runId", "offset"]),

  /** Oracle observations (one per source) and their medians (`source: "median"`): USD with 8 decimals. */
  oraclePrices: defineTable({
    asset: oracleAssetValidator,
    priceUsd: v.int64(),
    source: v.string(),
    observedAt: v.number(),
  })
    // Retention walks an asset's prices oldest first (README "Retention").
    .index("by_asset_and_time", ["asset", "observedAt"])
    .index("by_asset_source_and_time", ["asset", "source", "observedAt"]),

  /**
   * What the vault's synced governance events say of it now (one document,
   * model/sync/governance.ts): who holds each hot role as far as the events
   * show (absent: no event about that role synced yet; null: revoked), and its shutdown with the exit
   * terms it fixed.
   */
  vaultState: defineTable({
    key: v.literal("vault"),
    hotRoles: v.optional(
      v.object({ operator: v.optional(v.union(v.string(), v.null())), signer: v.optional(v.union(v.string(), v.null())) }),
    ),
    shutDown: v.optional(
      v.object({
        txid: v.string(),
        eventIndex: v.number(),
        blockHeight: v.int64(),
        by: v.string(),
        stxAssets: v.int64(),
        stxLiabilities: v.int64(),
        sbtcAssets: v.int64(),
        sbtcLiabilities: v.int64(),
      }),
    ),
  }).index("by_key", ["key"]),

  /** Exit claims paid by the vault after its shutdown, from synced `exit-claimed` events (model/sync/governance.ts). */
  exitClaims: defineTable({
    provider: v.string(),
    token: tokenValidator,
    owed: v.int64(),
    paid: v.int64(),
    txid: v.string(),
    eventIndex: v.number(),
    blockHeight: v.int64(),
  }).index("by_provider_and_token", ["provider", "token"]),

  /** Cursors and chain heights of the sync jobs, and monotonic sequences (e.g. the backend's transaction nonce). */
  syncState: defineTable({
    key: v.string(),
    value: v.int64(),
    cursor: v.optional(v.string()),
    updatedAt: v.number(),
  }).index("by_key", ["key"]),

  /**
   * Token buckets of convex-helpers' rate limiter (the sign-in challenge
   * limits, convex/model/auth/signInLimits.ts), with an index on the last refill so that
   * retention can drop buckets that have filled up again (README "Retention").
   */
  rateLimits: rateLimitTables.rateLimits.index("by_ts", ["ts"]),

  /** One-time sign-in challenges for wallet authentication. */
  authChallenges: defineTable({
    address: v.string(),
    nonce: v.string(),
    message: v.string(),
    expiresAt: v.number(),
    usedAt: v.optional(v.number()),
  })
    .index("by_nonce", ["nonce"])
    // The purge walks expired challenges oldest first.
    .index("by_expiresAt", ["expiresAt"]),
});
