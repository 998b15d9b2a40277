/**
 * convex/chain/vault.ts against the contract itself: its function names are
 * the ABI's, its error codes, event names and sBTC asset name the source's,
 * every argument builder gives arguments the contract accepts, and every
 * reader reads the contract's real answers.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import {
  parseVaultReadOnly,
  SBTC_ASSET_NAME,
  VAULT_ARGS,
  VAULT_ERRORS,
  VAULT_EVENTS,
  VAULT_FUNCTIONS,
  VAULT_PUBLIC_FUNCTIONS,
  VAULT_READ_ONLY_FUNCTIONS,
  VAULT_ROLES,
  VAULT_TOTALS,
  type VaultReadOnlyFunction,
} from "../../convex/chain/vault";
import {
  alice,
  backend,
  bob,
  call,
  deployer,
  expectOk,
  initializeVault,
  mintSbtc,
  printedEvents,
  SBTC,
  VAULT,
  voucher,
} from "./vault";

const source = simnet.getContractSource(VAULT) ?? "";
const abi = simnet.getContractsInterfaces().get(VAULT);
const sorted = (names: Iterable<string>) => [...names].sort();
const namesWithAccess = (access: string) => sorted(abi?.functions.filter((f) => f.access === access).map((f) => f.name) ?? []);

const read = <Fn extends VaultReadOnlyFunction>(functionName: Fn, args: ClarityValue[] = []) =>
  parseVaultReadOnly(functionName, simnet.callReadOnlyFn(VAULT, functionName, args, deployer).result);

describe("the names are the contract's", () => {
  it("public and read-only functions: exactly the ABI's", () => {
    expect(sorted(Object.values(VAULT_PUBLIC_FUNCTIONS))).toEqual(namesWithAccess("public"));
    expect(sorted(Object.values(VAULT_READ_ONLY_FUNCTIONS))).toEqual(namesWithAccess("read_only"));
  });

  it("error codes: exactly the source's ERR- constants", () => {
    const declared = [...source.matchAll(/\(define-constant ERR-([A-Z-]+) \(err u(\d+)\)\)/g)].map(([, name, code]) => [
      name!.replaceAll("-", "_"),
      BigInt(code!),
    ]);
    expect(declared).toHaveLength(Object.keys(VAULT_ERRORS).length);
    expect(Object.fromEntries(declared)).toEqual(VAULT_ERRORS);
  });

  it("events: exactly the names the source prints", () => {
    const printed = new Set([...source.matchAll(/event: "([a-z-]+)"/g)].map(([, name]) => name!));
    expect(sorted(Object.values(VAULT_EVENTS))).toEqual(sorted(printed));
  });

  it("roles and the sBTC asset name: the source's", () => {
    const roleCheck = source.match(/\(define-private \(is-role-name[^\n]*\n([^\n]*)/)?.[1] ?? "";
    expect(sorted([...roleCheck.matchAll(/"([a-z]+)"/g)].map(([, role]) => role!))).toEqual(sorted(VAULT_ROLES));
    expect(source).toContain(`(define-constant SBTC-ASSET-NAME "${SBTC_ASSET_NAME}")`);
  });
});

describe("the builders' arguments are what the contract takes, and the readers read its answers", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    mintSbtc(alice, 5_000n);
  });

  it("deposit, premium, lock, release, settle and withdraw in both tokens", () => {
    for (const [token, tokenContract] of [["STX", null], ["sBTC", SBTC]] as const) {
      const names = VAULT_TOTALS[token];
      expectOk(call(VAULT_FUNCTIONS.depositFunds, VAULT_ARGS.depositFunds({ amount: 3_000n, tokenContract }), alice).result);
      expectOk(call(VAULT_FUNCTIONS.payPremium, VAULT_ARGS.payPremium({ policyId: 1n, amount: 500n, tokenContract }), alice).result);
      const collateral = { policyIds: [1n, 2n], amount: 1_000n, tokenContract };
      expectOk(call(VAULT_FUNCTIONS.lockCollateralAggregate, VAULT_ARGS.lockCollateralAggregate(collateral), backend).result);
      expect(read(names.locked)).toBe(1_000n);
      expectOk(call(VAULT_FUNCTIONS.releaseCollateralAggregate, VAULT_ARGS.releaseCollateralAggregate(collateral), backend).result);
      expectOk(call(VAULT_FUNCTIONS.lockCollateralAggregate, VAULT_ARGS.lockCollateralAggregate(collateral), backend).result);
      const settlement = { policyId: 1n, buyer: bob, amount: 400n, tokenContract };
      expectOk(call(VAULT_FUNCTIONS.settlePolicy, VAULT_ARGS.settlePolicy(settlement), backend).result);
      const signed = voucher({ provider: alice, amount: 100n, token, nonce: token === "STX" ? 1n : 2n });
      const { result, events } = call(VAULT_FUNCTIONS.withdrawFunds, VAULT_ARGS.withdrawFunds({ ...signed, tokenContract }), alice);
      expectOk(result);
      expect(printedEvents(events)[0]).toMatchObject({ value: { event: Cl.stringAscii(VAULT_EVENTS.fundsWithdrawn) } });
      // 3,000 in, 500 premium, 400 settled, 100 withdrawn; 600 of the lock still held.
      expect({ balance: read(names.balance), locked: read(names.locked) }).toEqual({ balance: 3_000n, locked: 600n });
      expect(read(VAULT_FUNCTIONS.getOutflow, VAULT_ARGS.getOutflow({ tokenContract }))).toMatchObject({ used: 500n });
    }
    expect(read(VAULT_FUNCTIONS.getProviderRecord, VAULT_ARGS.getProviderRecord({ provider: alice }))).toEqual({
      nonce: 2n,
      stxIn: 3_000n,
      stxOut: 100n,
      sbtcIn: 3_000n,
      sbtcOut: 100n,
      createdSeq: 1n,
    });
    expect(read(VAULT_FUNCTIONS.getFlows)).toEqual({ seq: 4n, stxIn: 3_000n, stxOut: 100n, sbtcIn: 3_000n, sbtcOut: 100n });
  });

  it("roles, switches and the rest of the read-onlies", () => {
    expect(read(VAULT_FUNCTIONS.getRoles)).toEqual({ admin: deployer, guardian: deployer, operator: backend, signer: backend });
    expect(read(VAULT_FUNCTIONS.getPendingRole, VAULT_ARGS.getPendingRole({ role: "operator" }))).toBeNull();
    expect(read(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBe(SBTC);
    expect(read(VAULT_FUNCTIONS.isPaused)).toBe(false);
    expect(read(VAULT_FUNCTIONS.isShutDown)).toBe(false);
    expect(read(VAULT_FUNCTIONS.getCheckpoint)).toBeNull();
    expect(read(VAULT_FUNCTIONS.getExitTerms)).toBeNull();
    expect(read(VAULT_FUNCTIONS.getExitClaim, VAULT_ARGS.getExitClaim({ provider: alice, tokenContract: null }))).toBeNull();
    expect(read(VAULT_FUNCTIONS.getProviderRecord, VAULT_ARGS.getProviderRecord({ provider: bob }))).toBeNull();
  });
});
