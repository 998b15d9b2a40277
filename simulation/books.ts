/**
 * Reading both sides of the pool for the checks and the report: the chain
 * (simnet, through its read-only view: the vault's read-only totals and real
 * token holdings, and wallets' balances) and the off-chain books (the Convex
 * tables, read whole — the simulation is small, and reading everything is
 * what makes the checks independent of the backend's own aggregates).
 */
import { ClarityType, type ClarityValue } from "@stacks/transactions";

import type { Doc } from "../convex/_generated/dataModel";
import type { Token } from "../convex/validators";
import type { Stack } from "./stack";
import { VAULT_FUNCTIONS } from "../convex/chain/vault";

export const TOKENS: readonly Token[] = ["STX", "sBTC"];

export type VaultTotals = {
  /** `get-total-*-balance` */
  balance: bigint;
  /** `get-total-*-locked` */
  locked: bigint;
  /** What the vault contract really holds of the token. */
  held: bigint;
};

function uint(value: ClarityValue, what: string): bigint {
  if (value.type !== ClarityType.UInt) throw new Error(`${what} is not a uint`);
  return BigInt(value.value);
}

/** The asset map key of a token on simnet. */
function assetKey(stack: Stack, token: Token): string {
  if (token === "STX") return "STX";
  const key = [...stack.server.simnet.getAssetsMap().keys()].find((k) => k.endsWith(".sbtc-token.sbtc-token"));
  return key ?? ".sbtc-token.sbtc-token";
}

/** A principal's balance of `token` on the chain. */
export function chainBalance(stack: Stack, principal: string, token: Token): bigint {
  return stack.server.simnet.getAssetsMap().get(assetKey(stack, token))?.get(principal) ?? 0n;
}

export function readVaultTotals(stack: Stack): Record<Token, VaultTotals> {
  const simnet = stack.server.simnet;
  const read = (fn: string) => uint(simnet.callReadOnlyFn(stack.vault, fn, [], simnet.deployer).result, fn);
  return {
    STX: {
      balance: read(VAULT_FUNCTIONS.getTotalStxBalance),
      locked: read(VAULT_FUNCTIONS.getTotalStxLocked),
      held: chainBalance(stack, stack.vault, "STX"),
    },
    sBTC: {
      balance: read(VAULT_FUNCTIONS.getTotalSbtcBalance),
      locked: read(VAULT_FUNCTIONS.getTotalSbtcLocked),
      held: chainBalance(stack, stack.vault, "sBTC"),
    },
  };
}

export type Books = {
  providers: Doc<"providers">[];
  balances: Doc<"providerBalances">[];
  ledger: Doc<"balanceLedger">[];
  shards: Doc<"tierTotalShards">[];
  policies: Doc<"policies">[];
  backing: Doc<"policyBacking">[];
  operations: Doc<"vaultOperations">[];
  protocol: Doc<"protocolAccounts">[];
  events: Doc<"vaultEvents">[];
  transactions: Doc<"chainTransactions">[];
  reservations: Doc<"withdrawalReservations">[];
  notifications: Doc<"healthNotifications">[];
  alerts: Doc<"alerts">[];
  reconciliations: Doc<"reconciliations">[];
};

/** Every table the checks need, in one transaction (a consistent snapshot). */
export async function readBooks(stack: Stack): Promise<Books> {
  return await stack.t.run(async (ctx) => ({
    providers: await ctx.db.query("providers").collect(),
    balances: await ctx.db.query("providerBalances").collect(),
    ledger: await ctx.db.query("balanceLedger").collect(),
    shards: await ctx.db.query("tierTotalShards").collect(),
    policies: await ctx.db.query("policies").collect(),
    backing: await ctx.db.query("policyBacking").collect(),
    operations: await ctx.db.query("vaultOperations").collect(),
    protocol: await ctx.db.query("protocolAccounts").collect(),
    events: await ctx.db.query("vaultEvents").collect(),
    transactions: await ctx.db.query("chainTransactions").collect(),
    reservations: await ctx.db.query("withdrawalReservations").collect(),
    notifications: await ctx.db.query("healthNotifications").collect(),
    alerts: await ctx.db.query("alerts").collect(),
    reconciliations: await ctx.db.query("reconciliations").collect(),
  }));
}

export function sum<T>(items: readonly T[], of: (item: T) => bigint): bigint {
  return items.reduce((total, item) => total + of(item), 0n);
}

/** A provider's balance document in a token, or zeros. */
export function balanceIn(books: Books, provider: string, token: Token) {
  return (
    books.balances.find((b) => b.provider === provider && b.token === token) ?? {
      total: 0n,
      locked: 0n,
      reserved: 0n,
      available: 0n,
      accruedYield: 0n,
    }
  );
}
