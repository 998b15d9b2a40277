/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import type * as alerts from "../alerts.js";
import type * as chain_backendTransactions from "../chain/backendTransactions.js";
import type * as chain_chainhookPayload from "../chain/chainhookPayload.js";
import type * as chain_clarityValues from "../chain/clarityValues.js";
import type * as chain_contractCalls from "../chain/contractCalls.js";
import type * as chain_contractLogs from "../chain/contractLogs.js";
import type * as chain_hiroClient from "../chain/hiroClient.js";
import type * as chain_hiroSchemas from "../chain/hiroSchemas.js";
import type * as chain_rateBudget from "../chain/rateBudget.js";
import type * as chain_sendGate from "../chain/sendGate.js";
import type * as chain_vault from "../chain/vault.js";
import type * as chain_vaultEventDecoding from "../chain/vaultEventDecoding.js";
import type * as chain_withdrawalVoucher from "../chain/withdrawalVoucher.js";
import type * as chainTransactions from "../chainTransactions.js";
import type * as chainhooks from "../chainhooks.js";
import type * as checkpoints from "../checkpoints.js";
import type * as config from "../config.js";
import type * as crons from "../crons.js";
import type * as domain_balances from "../domain/balances.js";
import type * as domain_checkpoints from "../domain/checkpoints.js";
import type * as domain_commitments from "../domain/commitments.js";
import type * as domain_errors from "../domain/errors.js";
import type * as domain_fairQueue from "../domain/fairQueue.js";
import type * as domain_health from "../domain/health.js";
import type * as domain_merkleSum from "../domain/merkleSum.js";
import type * as domain_money from "../domain/money.js";
import type * as domain_outflow from "../domain/outflow.js";
import type * as domain_policyMath from "../domain/policyMath.js";
import type * as domain_premiumSplit from "../domain/premiumSplit.js";
import type * as domain_prices from "../domain/prices.js";
import type * as domain_transactionStates from "../domain/transactionStates.js";
import type * as domain_vocabulary from "../domain/vocabulary.js";
import type * as domain_walletAuth from "../domain/walletAuth.js";
import type * as eventSync from "../eventSync.js";
import type * as exit from "../exit.js";
import type * as functions from "../functions.js";
import type * as health from "../health.js";
import type * as http from "../http.js";
import type * as liquidity from "../liquidity.js";
import type * as model_alerts from "../model/alerts.js";
import type * as model_checkpoints_eventHold from "../model/checkpoints/eventHold.js";
import type * as model_checkpoints_exitView from "../model/checkpoints/exitView.js";
import type * as model_checkpoints_providerRecords from "../model/checkpoints/providerRecords.js";
import type * as model_checkpoints_pruning from "../model/checkpoints/pruning.js";
import type * as model_checkpoints_publishing from "../model/checkpoints/publishing.js";
import type * as model_checkpoints_runs from "../model/checkpoints/runs.js";
import type * as model_checkpoints_snapshot from "../model/checkpoints/snapshot.js";
import type * as model_checkpoints_verification from "../model/checkpoints/verification.js";
import type * as model_database from "../model/database.js";
import type * as model_ledger_allocationClocks from "../model/ledger/allocationClocks.js";
import type * as model_ledger_balanceLedger from "../model/ledger/balanceLedger.js";
import type * as model_ledger_portfolio from "../model/ledger/portfolio.js";
import type * as model_ledger_providers from "../model/ledger/providers.js";
import type * as model_ledger_reservations from "../model/ledger/reservations.js";
import type * as model_ledger_tierChoices from "../model/ledger/tierChoices.js";
import type * as model_ledger_tierTotals from "../model/ledger/tierTotals.js";
import type * as model_operations_chainTransactions from "../model/operations/chainTransactions.js";
import type * as model_operations_vaultOperations from "../model/operations/vaultOperations.js";
import type * as model_policies_admission from "../model/policies/admission.js";
import type * as model_policies_allocation from "../model/policies/allocation.js";
import type * as model_policies_policies from "../model/policies/policies.js";
import type * as model_policies_premiums from "../model/policies/premiums.js";
import type * as model_policies_tierConfigs from "../model/policies/tierConfigs.js";
import type * as model_retention from "../model/retention.js";
import type * as model_risk_healthChecks from "../model/risk/healthChecks.js";
import type * as model_risk_priceReadings from "../model/risk/priceReadings.js";
import type * as model_risk_withdrawalLimits from "../model/risk/withdrawalLimits.js";
import type * as model_signInLimits from "../model/signInLimits.js";
import type * as model_sync_governance from "../model/sync/governance.js";
import type * as model_sync_poolMirror from "../model/sync/poolMirror.js";
import type * as model_sync_reconciliation from "../model/sync/reconciliation.js";
import type * as model_sync_reversal from "../model/sync/reversal.js";
import type * as model_sync_syncState from "../model/sync/syncState.js";
import type * as model_sync_vaultEvents from "../model/sync/vaultEvents.js";
import type * as oracle from "../oracle.js";
import type * as oracle_priceSources from "../oracle/priceSources.js";
import type * as policies from "../policies.js";
import type * as providerFunctions from "../providerFunctions.js";
import type * as reconciliation from "../reconciliation.js";
import type * as retention from "../retention.js";
import type * as tierConfigs from "../tierConfigs.js";
import type * as validators from "../validators.js";
import type * as vaultEvents from "../vaultEvents.js";
import type * as vaultOperations from "../vaultOperations.js";
import type * as walletAuth from "../walletAuth.js";

/**
 * A utility for referencing Convex functions in your app's API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
declare const fullApi: ApiFromModules<{
  alerts: typeof alerts;
  "chain/backendTransactions": typeof chain_backendTransactions;
  "chain/chainhookPayload": typeof chain_chainhookPayload;
  "chain/clarityValues": typeof chain_clarityValues;
  "chain/contractCalls": typeof chain_contractCalls;
  "chain/contractLogs": typeof chain_contractLogs;
  "chain/hiroClient": typeof chain_hiroClient;
  "chain/hiroSchemas": typeof chain_hiroSchemas;
  "chain/rateBudget": typeof chain_rateBudget;
  "chain/sendGate": typeof chain_sendGate;
  "chain/vault": typeof chain_vault;
  "chain/vaultEventDecoding": typeof chain_vaultEventDecoding;
  "chain/withdrawalVoucher": typeof chain_withdrawalVoucher;
  chainTransactions: typeof chainTransactions;
  chainhooks: typeof chainhooks;
  checkpoints: typeof checkpoints;
  config: typeof config;
  crons: typeof crons;
  "domain/balances": typeof domain_balances;
  "domain/checkpoints": typeof domain_checkpoints;
  "domain/commitments": typeof domain_commitments;
  "domain/errors": typeof domain_errors;
  "domain/fairQueue": typeof domain_fairQueue;
  "domain/health": typeof domain_health;
  "domain/merkleSum": typeof domain_merkleSum;
  "domain/money": typeof domain_money;
  "domain/outflow": typeof domain_outflow;
  "domain/policyMath": typeof domain_policyMath;
  "domain/premiumSplit": typeof domain_premiumSplit;
  "domain/prices": typeof domain_prices;
  "domain/transactionStates": typeof domain_transactionStates;
  "domain/vocabulary": typeof domain_vocabulary;
  "domain/walletAuth": typeof domain_walletAuth;
  eventSync: typeof eventSync;
  exit: typeof exit;
  functions: typeof functions;
  health: typeof health;
  http: typeof http;
  liquidity: typeof liquidity;
  "model/alerts": typeof model_alerts;
  "model/checkpoints/eventHold": typeof model_checkpoints_eventHold;
  "model/checkpoints/exitView": typeof model_checkpoints_exitView;
  "model/checkpoints/providerRecords": typeof model_checkpoints_providerRecords;
  "model/checkpoints/pruning": typeof model_checkpoints_pruning;
  "model/checkpoints/publishing": typeof model_checkpoints_publishing;
  "model/checkpoints/runs": typeof model_checkpoints_runs;
  "model/checkpoints/snapshot": typeof model_checkpoints_snapshot;
  "model/checkpoints/verification": typeof model_checkpoints_verification;
  "model/database": typeof model_database;
  "model/ledger/allocationClocks": typeof model_ledger_allocationClocks;
  "model/ledger/balanceLedger": typeof model_ledger_balanceLedger;
  "model/ledger/portfolio": typeof model_ledger_portfolio;
  "model/ledger/providers": typeof model_ledger_providers;
  "model/ledger/reservations": typeof model_ledger_reservations;
  "model/ledger/tierChoices": typeof model_ledger_tierChoices;
  "model/ledger/tierTotals": typeof model_ledger_tierTotals;
  "model/operations/chainTransactions": typeof model_operations_chainTransactions;
  "model/operations/vaultOperations": typeof model_operations_vaultOperations;
  "model/policies/admission": typeof model_policies_admission;
  "model/policies/allocation": typeof model_policies_allocation;
  "model/policies/policies": typeof model_policies_policies;
  "model/policies/premiums": typeof model_policies_premiums;
  "model/policies/tierConfigs": typeof model_policies_tierConfigs;
  "model/retention": typeof model_retention;
  "model/risk/healthChecks": typeof model_risk_healthChecks;
  "model/risk/priceReadings": typeof model_risk_priceReadings;
  "model/risk/withdrawalLimits": typeof model_risk_withdrawalLimits;
  "model/signInLimits": typeof model_signInLimits;
  "model/sync/governance": typeof model_sync_governance;
  "model/sync/poolMirror": typeof model_sync_poolMirror;
  "model/sync/reconciliation": typeof model_sync_reconciliation;
  "model/sync/reversal": typeof model_sync_reversal;
  "model/sync/syncState": typeof model_sync_syncState;
  "model/sync/vaultEvents": typeof model_sync_vaultEvents;
  oracle: typeof oracle;
  "oracle/priceSources": typeof oracle_priceSources;
  policies: typeof policies;
  providerFunctions: typeof providerFunctions;
  reconciliation: typeof reconciliation;
  retention: typeof retention;
  tierConfigs: typeof tierConfigs;
  validators: typeof validators;
  vaultEvents: typeof vaultEvents;
  vaultOperations: typeof vaultOperations;
  walletAuth: typeof walletAuth;
}>;
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;
