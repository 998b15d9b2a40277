/**
 * Shared fixtures for the vault's tests: accounts, the backend key, token
 * arguments, and one-line wrappers over the vault's public functions.
 */
import { STACKS_TESTNET } from "@stacks/network";
import { Cl, privateKeyToAddress, type ClarityValue } from "@stacks/transactions";
import { expect } from "vitest";

import {
  VAULT_ERRORS,
  VAULT_FUNCTIONS,
  VAULT_ROLES,
  VAULT_TOTALS,
  type VaultPublicFunction,
  type VaultReadOnlyFunction,
  type VaultRole,
} from "../../convex/chain/vault";
import {
  chainIdOf,
  signWithdrawalVoucher,
  type WithdrawalVoucher,
} from "../../convex/chain/withdrawalVoucher";

export const accounts = simnet.getAccounts();
function account(name: string): string {
  const address = accounts.get(name);
  if (!address) throw new Error(`simnet account ${name} missing from settings/Devnet.toml`);
  return address;
}

export const deployer = account("deployer");
export const alice = account("wallet_1");
export const bob = account("wallet_2");
export const carol = account("wallet_3");
export const mallory = account("wallet_4");

export const VAULT = `${deployer}.liquidity-pool`;
export const SBTC = `${deployer}.sbtc-token`;

/** Simnet runs with the testnet chain id (0x80000000). */
export const CHAIN_ID = chainIdOf(STACKS_TESTNET);

// Fixed test keys (never used outside tests). The backend key holds the
// operator and signer roles after initializeVault;
// the rogue key is a well-formed key that the vault must not trust.
export const BACKEND_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
export const ROGUE_KEY = "389303ac23d19b0a74b24ca882f8bed6c438a62dc0b2dcc8eccf73bb1a90a59701";
export const backend = privateKeyToAddress(BACKEND_KEY, "testnet");
// A second backend key, for tests where the signer role moves to a new key
// and vouchers of the old one must stop working.
export const NEXT_SIGNER_KEY = "0078a7dda474b695524e0f4333d9fbddb0daff75edf75c8eac4d50f9332b040a01";
export const nextSigner = privateKeyToAddress(NEXT_SIGNER_KEY, "testnet");

export const STX = Cl.none();
export const SBTC_ARG = Cl.some(Cl.principal(SBTC));

export const ERR = VAULT_ERRORS;

/** Delays in burn blocks, as the vault fixes them. */
export const OUTFLOW_WINDOW = 144;
export const ROLE_DELAY = 144;
export const CHECKPOINT_VETO_WINDOW = 144;
export const SILENCE = 4320;

export function call(fn: VaultPublicFunction, args: ClarityValue[], sender: string) {
  return simnet.callPublicFn(VAULT, fn, args, sender);
}

export function readOnly(fn: VaultReadOnlyFunction, args: ClarityValue[] = []): ClarityValue {
  return simnet.callReadOnlyFn(VAULT, fn, args, deployer).result;
}

export function expectOk(result: ClarityValue): void {
  expect(result).toBeOk(Cl.bool(true));
}

export function expectErr(result: ClarityValue, code: bigint): void {
  expect(result).toBeErr(Cl.uint(code));
}

export type Role = VaultRole;
export const ROLES: readonly Role[] = VAULT_ROLES;

export function proposeRole(role: string, who: string, sender: string = deployer) {
  return call(VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii(role), Cl.principal(who)], sender);
}

export function acceptRole(role: string, sender: string) {
  return call(VAULT_FUNCTIONS.acceptRole, [Cl.stringAscii(role)], sender);
}

/** Proposes `who` for `role` as the admin (the deployer), waits ROLE_DELAY burn blocks and accepts as `who`. */
export function handRole(role: Role, who: string, admin: string = deployer): void {
  expectOk(proposeRole(role, who, admin).result);
  simnet.mineEmptyBlocks(ROLE_DELAY);
  expectOk(acceptRole(role, who).result);
}

/** The value `get-roles` returns for these holders (`null`: the hot key is revoked). */
export function rolesCV(holders: { admin: string; guardian: string; operator: string | null; signer: string | null }): ClarityValue {
  const optional = (who: string | null) => (who === null ? Cl.none() : Cl.some(Cl.principal(who)));
  return Cl.tuple({
    admin: Cl.principal(holders.admin),
    guardian: Cl.principal(holders.guardian),
    operator: optional(holders.operator),
    signer: optional(holders.signer),
  });
}

/**
 * Points the vault at the local sBTC token and hands the operator and signer
 * roles to the test backend key (the deployer stays admin and guardian).
 * With `limitBps` the outflow limit is set too (10,000 = the whole balance per
 * window, for tests about something else than the limit).
 */
export function initializeVault(options: { limitBps?: bigint } = {}): void {
  expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer).result);
  for (const role of ["operator", "signer"] as const) {
    expectOk(call(VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii(role), Cl.principal(backend)], deployer).result);
  }
  simnet.mineEmptyBlocks(ROLE_DELAY);
  for (const role of ["operator", "signer"] as const) {
    expectOk(call(VAULT_FUNCTIONS.acceptRole, [Cl.stringAscii(role)], backend).result);
  }
  if (options.limitBps !== undefined) {
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(options.limitBps), Cl.uint(0), Cl.uint(0)], deployer).result);
  }
}

export type CheckpointInput = {
  root?: string;
  stxSum?: bigint;
  sbtcSum?: bigint;
  asOfSeq?: bigint;
  flows?: { stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };
  leafCount?: bigint;
};

/** Sends `post-checkpoint`; the defaults (a zero root, sums and flows, one leaf) pass the vault's checks at any time. */
export function postCheckpoint(sender: string, checkpoint: CheckpointInput = {}) {
  const flows = checkpoint.flows ?? { stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };
  return call(
    VAULT_FUNCTIONS.postCheckpoint,
    [
      Cl.bufferFromHex(checkpoint.root ?? "00".repeat(32)),
      Cl.uint(checkpoint.stxSum ?? 0n),
      Cl.uint(checkpoint.sbtcSum ?? 0n),
      Cl.uint(checkpoint.asOfSeq ?? 0n),
      Cl.tuple({
        "stx-in": Cl.uint(flows.stxIn),
        "stx-out": Cl.uint(flows.stxOut),
        "sbtc-in": Cl.uint(flows.sbtcIn),
        "sbtc-out": Cl.uint(flows.sbtcOut),
      }),
      Cl.uint(checkpoint.leafCount ?? 1n),
    ],
    sender,
  );
}

/** The burn height a call made now executes at: simnet calls do not advance it, only mined empty blocks do. */
export function burnHeight(): bigint {
  return BigInt(simnet.burnBlockHeight);
}

export type ProviderRecord = {
  nonce: bigint;
  stxIn: bigint;
  stxOut: bigint;
  sbtcIn: bigint;
  sbtcOut: bigint;
  createdSeq: bigint;
};

/** The `(some …)` that `get-provider-record` returns; fields not given are 0. */
export function providerRecordCV(record: Partial<ProviderRecord> & { createdSeq: bigint }): ClarityValue {
  return Cl.some(
    Cl.tuple({
      nonce: Cl.uint(record.nonce ?? 0n),
      "stx-in": Cl.uint(record.stxIn ?? 0n),
      "stx-out": Cl.uint(record.stxOut ?? 0n),
      "sbtc-in": Cl.uint(record.sbtcIn ?? 0n),
      "sbtc-out": Cl.uint(record.sbtcOut ?? 0n),
      "created-seq": Cl.uint(record.createdSeq),
    }),
  );
}

export function providerRecord(provider: string): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(provider)]);
}

export type Flows = { seq: bigint; stxIn: bigint; stxOut: bigint; sbtcIn: bigint; sbtcOut: bigint };

/** The value `get-flows` returns; fields not given are 0. */
export function flowsCV(flows: Partial<Flows>): ClarityValue {
  return Cl.tuple({
    seq: Cl.uint(flows.seq ?? 0n),
    "stx-in": Cl.uint(flows.stxIn ?? 0n),
    "stx-out": Cl.uint(flows.stxOut ?? 0n),
    "sbtc-in": Cl.uint(flows.sbtcIn ?? 0n),
    "sbtc-out": Cl.uint(flows.sbtcOut ?? 0n),
  });
}

/** Deploys a copy of the local sBTC token under another name: the same code at another principal, which the vault must refuse. */
export function deployLookAlikeSbtc(name = "fake-sbtc"): string {
  const source = simnet.getContractSource(SBTC);
  if (!source) throw new Error("sbtc-token source missing");
  expect(simnet.deployContract(name, source, { clarityVersion: 4 }, deployer).result).toBeBool(true);
  return `${deployer}.${name}`;
}

export function mintSbtc(recipient: string, amount: bigint): void {
  const { result } = simnet.callPublicFn(SBTC, "mint", [Cl.uint(amount), Cl.principal(recipient)], deployer);
  expect(result).toBeOk(Cl.bool(true));
}

export function tokenArg(token: "STX" | "sBTC"): ClarityValue {
  return token === "STX" ? STX : SBTC_ARG;
}

/** A `get-outflow` answer: the window's start, what it used, its cap and what is still free. */
export type OutflowView = { windowStart: bigint; used: bigint; cap: bigint; available: bigint };

/** `get-outflow` as the vault returns it for `view`. */
export function outflowCV(view: OutflowView): ClarityValue {
  return Cl.tuple({
    "window-start": Cl.uint(view.windowStart),
    used: Cl.uint(view.used),
    cap: Cl.uint(view.cap),
    available: Cl.uint(view.available),
  });
}

export function deposit(sender: string, amount: bigint, token: "STX" | "sBTC" = "STX") {
  return call(VAULT_FUNCTIONS.depositFunds, [Cl.uint(amount), tokenArg(token)], sender);
}

export function payPremium(sender: string, policyId: bigint, amount: bigint, token: "STX" | "sBTC" = "STX") {
  return call(VAULT_FUNCTIONS.payPremium, [Cl.uint(policyId), Cl.uint(amount), tokenArg(token)], sender);
}

export function lock(sender: string, policyIds: bigint[], amount: bigint, token: "STX" | "sBTC" = "STX") {
  return call(
    VAULT_FUNCTIONS.lockCollateralAggregate,
    [Cl.list(policyIds.map((id) => Cl.uint(id))), Cl.uint(amount), tokenArg(token)],
    sender,
  );
}

export function release(sender: string, policyIds: bigint[], amount: bigint, token: "STX" | "sBTC" = "STX") {
  return call(
    VAULT_FUNCTIONS.releaseCollateralAggregate,
    [Cl.list(policyIds.map((id) => Cl.uint(id))), Cl.uint(amount), tokenArg(token)],
    sender,
  );
}

export function settle(sender: string, policyId: bigint, buyer: string, amount: bigint, token: "STX" | "sBTC" = "STX") {
  return call(VAULT_FUNCTIONS.settlePolicy, [Cl.uint(policyId), Cl.principal(buyer), Cl.uint(amount), tokenArg(token)], sender);
}

/** The `stacks-block-height` the next simnet call executes at: simnet mines each call in a new block. */
export function heightOfNextCall(): bigint {
  return BigInt(simnet.stacksBlockHeight + 1);
}

export type VoucherInput = {
  provider: string;
  amount: bigint;
  token?: "STX" | "sBTC";
  nonce: bigint;
  expiresAt?: bigint;
  signingKey?: string;
  /** The vault the voucher is bound to; this vault unless told otherwise. */
  vault?: string;
};

/** A voucher for `provider`, signed by the backend key unless told otherwise; expires 100 blocks ahead by default. */
export function voucher(input: VoucherInput): WithdrawalVoucher & { signature: string } {
  const body: WithdrawalVoucher = {
    vault: input.vault ?? VAULT,
    provider: input.provider,
    amount: input.amount,
    tokenContract: (input.token ?? "STX") === "STX" ? null : SBTC,
    nonce: input.nonce,
    expiresAt: input.expiresAt ?? BigInt(simnet.stacksBlockHeight + 100),
  };
  return { ...body, signature: signWithdrawalVoucher(body, CHAIN_ID, input.signingKey ?? BACKEND_KEY) };
}

/** Sends `withdraw-funds` for a voucher, as `sender` (the voucher's provider unless told otherwise). */
export function withdraw(
  signed: WithdrawalVoucher & { signature: string },
  sender: string = signed.provider,
  token: ClarityValue = signed.tokenContract === null ? STX : SBTC_ARG,
) {
  return call(
    VAULT_FUNCTIONS.withdrawFunds,
    [
      Cl.uint(signed.amount),
      token,
      Cl.uint(signed.nonce),
      Cl.uint(signed.expiresAt),
      Cl.bufferFromHex(signed.signature),
    ],
    sender,
  );
}

export type Totals = { balance: bigint; locked: bigint };

export function totals(token: "STX" | "sBTC"): Totals {
  return {
    balance: uintOf(readOnly(VAULT_TOTALS[token].balance)),
    locked: uintOf(readOnly(VAULT_TOTALS[token].locked)),
  };
}

export function uintOf(value: ClarityValue): bigint {
  if (value.type !== "uint") throw new Error(`expected uint, got ${value.type}`);
  return BigInt(value.value);
}

/** What the vault really holds of a token, from simnet's asset map. */
export function heldByVault(token: "STX" | "sBTC"): bigint {
  const assets = simnet.getAssetsMap();
  const key = token === "STX" ? "STX" : ".sbtc-token.sbtc-token";
  return assets.get(key)?.get(VAULT) ?? 0n;
}

export function stxBalance(who: string): bigint {
  return simnet.getAssetsMap().get("STX")?.get(who) ?? 0n;
}

export function sbtcBalance(who: string): bigint {
  return simnet.getAssetsMap().get(".sbtc-token.sbtc-token")?.get(who) ?? 0n;
}

/** The data tuple printed by the vault in a call's events. */
export function printedEvents(events: { event: string; data: { value?: ClarityValue } }[]): ClarityValue[] {
  return events
    .filter((e) => e.event === "print_event")
    .map((e) => {
      if (!e.data.value) throw new Error("print event without a value");
      return e.data.value;
    });
}
