/**
 * Scheduled jobs. Each one works in bounded pages and reschedules itself
 * while work remains, so no single transaction grows with the pool.
 */
import { cronJobs } from "convex/server";

import { internal } from "./_generated/api";

const crons = cronJobs();

// Chain integration: sync the vault's events, send and follow backend transactions, reconcile.
crons.interval("sync vault events", { seconds: 30 }, internal.eventSync.syncVaultEvents, {});
crons.interval("send vault transactions", { seconds: 30 }, internal.chainTransactions.send, {});
crons.interval("follow vault transactions", { seconds: 30 }, internal.chainTransactions.follow, {});
crons.interval("reconcile vault totals", { minutes: 10 }, internal.reconciliation.reconcile, {});
// Checkpoints: one step of the current run a minute; a new run every CHECKPOINT_INTERVAL_BURN_BLOCKS.
crons.interval("checkpoint the books", { minutes: 1 }, internal.checkpoints.run, {});

// Prices and collateral health.
crons.interval("refresh oracle prices", { minutes: 1 }, internal.oracle.refreshPrices, {});
crons.interval("sweep collateral health", { minutes: 5 }, internal.health.sweep, { cursor: null });

crons.interval("expire withdrawal reservations", { minutes: 1 }, internal.liquidity.expireWithdrawalReservations, {});
crons.interval("expire policies", { minutes: 1 }, internal.policies.expirePolicies, {});
crons.interval("admit joining capital", { minutes: 1 }, internal.policies.admitJoiningCapital, {});
crons.interval("batch vault operations", { seconds: 30 }, internal.vaultOperations.batch, {});
crons.interval("refresh tier metrics", { minutes: 5 }, internal.liquidity.updateTierMetrics, {});
// Retention (README "Retention"): old prices, resolved alerts, reconciliations, cleared
// health notifications, expired sign-in challenges and refilled rate-limit buckets.
crons.interval("apply retention", { minutes: 15 }, internal.retention.run, {});

export default crons;
