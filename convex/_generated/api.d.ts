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
import type * as chain_config from "../chain/config.js";
import type * as chain_contractCalls from "../chain/contractCalls.js";
import type * as chain_hiroClient from "../chain/hiroClient.js";
import type * as chain_hiroSchemas from "../chain/hiroSchemas.js";
import type * as chain_vaultEventDecoding from "../chain/vaultEventDecoding.js";
import type * as chain_vaultEventPages from "../chain/vaultEventPages.js";
import type * as chain_withdrawalVoucher from "../chain/withdrawalVoucher.js";
import type * as chainTransactions from "../chainTransactions.js";
import type * as crons from "../crons.js";
import type * as eventSync from "../eventSync.js";
import type * as health from "../health.js";
import type * as http from "../http.js";
import type * as liquidity from "../liquidity.js";
import type * as model_alerts from "../model/alerts.js";
import type * as model_allocation from "../model/allocation.js";
import type * as model_balances from "../model/balances.js";
import type * as model_chainTransactions from "../model/chainTransactions.js";
import type * as model_errors from "../model/errors.js";
import type * as model_fairQueue from "../model/fairQueue.js";
import type * as model_health from "../model/health.js";
import type * as model_healthChecks from "../model/healthChecks.js";
import type * as model_ledger from "../model/ledger.js";
import type * as model_money from "../model/money.js";
import type * as model_oracleConfig from "../model/oracleConfig.js";
import type * as model_policies from "../model/policies.js";
import type * as model_policyMath from "../model/policyMath.js";
import type * as model_portfolio from "../model/portfolio.js";
import type * as model_premiums from "../model/premiums.js";
import type * as model_priceReadings from "../model/priceReadings.js";
import type * as model_prices from "../model/prices.js";
import type * as model_providers from "../model/providers.js";
import type * as model_reconciliation from "../model/reconciliation.js";
import type * as model_reservations from "../model/reservations.js";
import type * as model_reversal from "../model/reversal.js";
import type * as model_settlementGrace from "../model/settlementGrace.js";
import type * as model_syncState from "../model/syncState.js";
import type * as model_tierConfigs from "../model/tierConfigs.js";
import type * as model_tierTotals from "../model/tierTotals.js";
import type * as model_vaultEvents from "../model/vaultEvents.js";
import type * as model_vaultOperations from "../model/vaultOperations.js";
import type * as model_walletAuth from "../model/walletAuth.js";
import type * as model_withdrawalPolicy from "../model/withdrawalPolicy.js";
import type * as oracle from "../oracle.js";
import type * as oracle_priceSources from "../oracle/priceSources.js";
import type * as policies from "../policies.js";
import type * as providerFunctions from "../providerFunctions.js";
import type * as reconciliation from "../reconciliation.js";
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
  "chain/config": typeof chain_config;
  "chain/contractCalls": typeof chain_contractCalls;
  "chain/hiroClient": typeof chain_hiroClient;
  "chain/hiroSchemas": typeof chain_hiroSchemas;
  "chain/vaultEventDecoding": typeof chain_vaultEventDecoding;
  "chain/vaultEventPages": typeof chain_vaultEventPages;
  "chain/withdrawalVoucher": typeof chain_withdrawalVoucher;
  chainTransactions: typeof chainTransactions;
  crons: typeof crons;
  eventSync: typeof eventSync;
  health: typeof health;
  http: typeof http;
  liquidity: typeof liquidity;
  "model/alerts": typeof model_alerts;
  "model/allocation": typeof model_allocation;
  "model/balances": typeof model_balances;
  "model/chainTransactions": typeof model_chainTransactions;
  "model/errors": typeof model_errors;
  "model/fairQueue": typeof model_fairQueue;
  "model/health": typeof model_health;
  "model/healthChecks": typeof model_healthChecks;
  "model/ledger": typeof model_ledger;
  "model/money": typeof model_money;
  "model/oracleConfig": typeof model_oracleConfig;
  "model/policies": typeof model_policies;
  "model/policyMath": typeof model_policyMath;
  "model/portfolio": typeof model_portfolio;
  "model/premiums": typeof model_premiums;
  "model/priceReadings": typeof model_priceReadings;
  "model/prices": typeof model_prices;
  "model/providers": typeof model_providers;
  "model/reconciliation": typeof model_reconciliation;
  "model/reservations": typeof model_reservations;
  "model/reversal": typeof model_reversal;
  "model/settlementGrace": typeof model_settlementGrace;
  "model/syncState": typeof model_syncState;
  "model/tierConfigs": typeof model_tierConfigs;
  "model/tierTotals": typeof model_tierTotals;
  "model/vaultEvents": typeof model_vaultEvents;
  "model/vaultOperations": typeof model_vaultOperations;
  "model/walletAuth": typeof model_walletAuth;
  "model/withdrawalPolicy": typeof model_withdrawalPolicy;
  oracle: typeof oracle;
  "oracle/priceSources": typeof oracle_priceSources;
  policies: typeof policies;
  providerFunctions: typeof providerFunctions;
  reconciliation: typeof reconciliation;
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
