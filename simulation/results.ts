/** What a run records: the timeline, every policy, withdrawal and settlement, and the checks. */
import type { PolicyType } from "../convex/domain/policyMath";
import type { HealthStatus, Tier, Token } from "../convex/validators";
import type { VaultTotals } from "./books";
import type { SimulationOptions } from "./options";
import type { Prices } from "./priceFeed";
import type { Phase } from "./scenarios";
import type { IncidentResult } from "./scenarios/results";

export type TokenAmounts = Record<Token, bigint>;

export const zeroAmounts = (): TokenAmounts => ({ STX: 0n, sBTC: 0n });

export type TierTokenFigures = {
  capital: bigint;
  locked: bigint;
  utilizationBps: bigint;
  yieldAccrued: bigint;
  activePolicies: bigint;
};

export type StepActivity = {
  policiesSold: number;
  policiesCancelled: number;
  premiumsPaid: number;
  settlementsRequested: number;
  policiesExpired: number;
  withdrawalsRequested: number;
  withdrawalsRefused: number;
  backendTransactions: number;
  /** Vault events the poller applied. */
  eventsApplied: number;
  /** Chainhook deliveries sent (0 with chainhooks off). */
  deliveries: number;
  /** Vault event records (applied, unmatched or recorded) that came by delivery… */
  eventsByDelivery: number;
  /** …and by the poller. */
  eventsByPoller: number;
};

export type StepSnapshot = {
  step: number;
  /** Chain tip after the step's two blocks. */
  height: bigint;
  phase: Phase;
  /** The scenario's prices (what the feed quotes around). */
  prices: Prices;
  /** The oracle's stored median, as the backend sees it. */
  oracle: Prices | null;
  vault: Record<Token, VaultTotals>;
  books: Record<Token, { capital: bigint; locked: bigint; reserved: bigint; yieldAccrued: bigint }>;
  tiers: Record<Tier, Record<Token, TierTokenFigures>>;
  /** Providers per health status (all providers). */
  health: Record<HealthStatus, number>;
  reconciliation: Record<Token, "match" | "mismatch" | "skipped" | "none">;
  activity: StepActivity;
  /** Invariants that failed at this step (names). */
  failedChecks: string[];
  elapsedMs: number;
};

export type ProviderRecord = {
  address: string;
  tier: Tier;
  deposited: TokenAmounts;
  withdrawn: TokenAmounts;
  yieldEarned: TokenAmounts;
  settlementDebits: TokenAmounts;
  final: Record<Token, { total: bigint; locked: bigint; reserved: bigint; available: bigint }>;
  worstHealth: HealthStatus;
};

export type PolicyRecord = {
  policyId: bigint;
  buyer: string;
  policyType: PolicyType;
  tier: Tier | null;
  token: Token | null;
  protectedAmountSats: bigint;
  strikePriceUsd: bigint;
  premium: bigint;
  requiredCollateral: bigint;
  registrationStep: number;
  expiryStep: number;
  expiresAtBlock: bigint;
  /** Final status in the registry ("Skipped" when the pool had no capital to offer). */
  status: string;
  backers: number;
  payout: bigint;
  /** BTC/USD (oracle) the policy was settled or expired at. */
  settlementPriceUsd: bigint | null;
  note?: string;
};

export type WithdrawalRecord = {
  step: number;
  provider: string;
  token: Token;
  amount: bigint;
  /** "superseded": a later voucher of the same provider was redeemed first, so the vault would refuse this one. */
  outcome: "redeemed" | "refused" | "pending" | "expired" | "superseded";
  reason?: string;
};

export type BuyerRecord = {
  address: string;
  funded: TokenAmounts;
  premiumsPaid: TokenAmounts;
  payoutsReceived: TokenAmounts;
  finalOnChain: TokenAmounts;
};

/** After the first deposits are synced: what each provider put in, and what both sides say. */
export type DepositCheckpoint = {
  step: number;
  providers: {
    address: string;
    tier: Tier;
    deposited: TokenAmounts;
    portfolioTotals: TokenAmounts;
    portfolioTier: Tier | null;
  }[];
  vault: Record<Token, VaultTotals>;
};

/** Around the step in which settlements were paid: buyers' and backers' balances before and after. */
export type SettlementCheckpoint = {
  step: number;
  settlements: {
    policyId: bigint;
    buyer: string;
    token: Token;
    payout: bigint;
    /** The backing at the time of the request: the payout is split in proportion to `allocated`. */
    backing: { provider: string; allocated: bigint }[];
  }[];
  buyers: { address: string; token: Token; before: bigint; after: bigint }[];
  backers: { address: string; token: Token; totalBefore: bigint; totalAfter: bigint; debited: bigint }[];
  vaultBefore: Record<Token, VaultTotals>;
  vaultAfter: Record<Token, VaultTotals>;
};

export type InvariantOutcome = {
  name: string;
  ok: boolean;
  /** Steps at which it was checked and failed. */
  failedSteps: number[];
  detail: string;
};

export type SimulationResult = {
  options: SimulationOptions;
  startedAt: string;
  timing: {
    setupMs: number;
    marketMs: number;
    totalMs: number;
    steps: number;
    chainBlocks: number;
    perStepMs: number;
    perBlockMs: number;
  };
  timeline: StepSnapshot[];
  providers: ProviderRecord[];
  buyers: BuyerRecord[];
  policies: PolicyRecord[];
  withdrawals: WithdrawalRecord[];
  totals: {
    premiums: TokenAmounts;
    protocolFees: TokenAmounts;
    unallocatedPremiums: TokenAmounts;
    yieldByTier: Record<Tier, TokenAmounts>;
    payouts: TokenAmounts;
    deposits: TokenAmounts;
    withdrawals: TokenAmounts;
  };
  health: {
    marginCallNotifications: number;
    warningNotifications: number;
    providersEverInMarginCall: number;
    providersEverInWarning: number;
  };
  reconciliation: Record<Token, { match: number; mismatch: number; skipped: number; final: string }>;
  backendTransactions: Record<string, number>;
  /** How vault events reached the books: chainhook deliveries with the poller as reconciler, or the poller alone. */
  ingest: {
    chainhooks: boolean;
    deliveries: number;
    /** Deliveries the backend did not take (non-2xx after every retry). */
    refusedDeliveries: number;
    eventsByDelivery: number;
    eventsByPoller: number;
    /** Of `eventsByPoller`, those the poller applied before the first delivery (the deployment's, with chainhooks on). */
    eventsPolledAtSetup: number;
  };
  /** Every alert the backend raised; `setUp`: one the set-up's own governance events raise (expected). */
  alerts: { kind: string; message: string; setUp: boolean }[];
  checkpoints: { deposits: DepositCheckpoint | null; settlements: SettlementCheckpoint[] };
  invariants: InvariantOutcome[];
  /** What the incident scenario (backend-outage, stolen-key) played after the market, and its verdicts. */
  incident: IncidentResult | null;
  /** Every invariant held after every step, and every verdict of the incident holds. */
  ok: boolean;
  reportDir: string | null;
  summaryPath: string | null;
};
