/**
 * Audit of the vault against its written interface: roles, money functions,
 * the outflow limit, results/events/errors and withdrawal vouchers. Each test
 * pins one written rule that the other test files leave open: the exact ABI,
 * check order where the written rule implies one, the voucher hash built from
 * first principles, `get-outflow` with any `(some p)`, and that outgoing
 * transfers are bounded by an allowance of exactly the amount of exactly the
 * `sbtc-token` asset.
 */
import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex, utf8ToBytes } from "@stacks/common";
import { Cl, serializeCVBytes, signStructuredData, type ClarityValue } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  acceptRole,
  alice,
  backend,
  BACKEND_KEY,
  bob,
  burnHeight,
  call,
  carol,
  CHAIN_ID,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  heightOfNextCall,
  heldByVault,
  initializeVault,
  lock,
  mallory,
  mintSbtc,
  outflowCV,
  payPremium,
  printedEvents,
  proposeRole,
  providerRecord,
  providerRecordCV,
  readOnly,
  release,
  ROGUE_KEY,
  ROLE_DELAY,
  SBTC,
  SBTC_ARG,
  sbtcBalance,
  settle,
  STX,
  stxBalance,
  totals,
  VAULT,
  voucher,
  withdraw,
} from "./vault";

// ---------------------------------------------------------------------------
// The ABI of the roles and money functions, argument by argument

const U = "uint128";
const OK_BOOL = { type: { response: { ok: "bool", error: U } } };
const TOKEN_TRAIT = { name: "token", type: { optional: "trait_reference" } };
const ROLE_ARG = { name: "role", type: { "string-ascii": { length: 8 } } };
const POLICY_IDS = { name: "policy-ids", type: { list: { type: U, length: 50 } } };

const EXPECTED_PUBLIC: Record<string, { args: unknown[]; outputs: unknown }> = {
  "propose-role": { args: [ROLE_ARG, { name: "who", type: "principal" }], outputs: OK_BOOL },
  "accept-role": { args: [ROLE_ARG], outputs: OK_BOOL },
  "cancel-role": { args: [ROLE_ARG], outputs: OK_BOOL },
  pause: { args: [], outputs: OK_BOOL },
  unpause: { args: [], outputs: OK_BOOL },
  "revoke-hot-keys": { args: [], outputs: OK_BOOL },
  "set-sbtc-token-principal": { args: [{ name: "p", type: "principal" }], outputs: OK_BOOL },
  "set-outflow-limit": {
    args: [
      { name: "limit-bps", type: U },
      { name: "stx-floor", type: U },
      { name: "sbtc-floor", type: U },
    ],
    outputs: OK_BOOL,
  },
  "deposit-funds": { args: [{ name: "amount", type: U }, TOKEN_TRAIT], outputs: OK_BOOL },
  "withdraw-funds": {
    args: [
      { name: "amount", type: U },
      TOKEN_TRAIT,
      { name: "nonce", type: U },
      { name: "expires-at", type: U },
      { name: "signature", type: { buffer: { length: 65 } } },
    ],
    outputs: OK_BOOL,
  },
  "pay-premium": { args: [{ name: "policy-id", type: U }, { name: "amount", type: U }, TOKEN_TRAIT], outputs: OK_BOOL },
  "lock-collateral-aggregate": { args: [POLICY_IDS, { name: "amount", type: U }, TOKEN_TRAIT], outputs: OK_BOOL },
  "release-collateral-aggregate": { args: [POLICY_IDS, { name: "amount", type: U }, TOKEN_TRAIT], outputs: OK_BOOL },
  "settle-policy": {
    args: [
      { name: "policy-id", type: U },
      { name: "buyer", type: "principal" },
      { name: "amount", type: U },
      TOKEN_TRAIT,
    ],
    outputs: OK_BOOL,
  },
};

// Tuple fields appear in the ABI sorted by name.
const tupleType = (fields: Record<string, unknown>) => ({
  tuple: Object.keys(fields)
    .sort()
    .map((name) => ({ name, type: fields[name] })),
});

const EXPECTED_READ_ONLY: Record<string, { args: unknown[]; outputs: unknown }> = {
  "get-roles": {
    args: [],
    outputs: {
      type: tupleType({ admin: "principal", guardian: "principal", operator: { optional: "principal" }, signer: { optional: "principal" } }),
    },
  },
  "get-pending-role": { args: [ROLE_ARG], outputs: { type: { optional: tupleType({ who: "principal", eta: U }) } } },
  "is-paused": { args: [], outputs: { type: "bool" } },
  "is-shut-down": { args: [], outputs: { type: "bool" } },
  "get-sbtc-token-principal": { args: [], outputs: { type: { optional: "principal" } } },
  "get-total-stx-balance": { args: [], outputs: { type: U } },
  "get-total-sbtc-balance": { args: [], outputs: { type: U } },
  "get-total-stx-locked": { args: [], outputs: { type: U } },
  "get-total-sbtc-locked": { args: [], outputs: { type: U } },
  "get-provider-record": {
    args: [{ name: "provider", type: "principal" }],
    outputs: {
      type: {
        optional: tupleType({ nonce: U, "stx-in": U, "stx-out": U, "sbtc-in": U, "sbtc-out": U, "created-seq": U }),
      },
    },
  },
  "get-flows": { args: [], outputs: { type: tupleType({ seq: U, "stx-in": U, "stx-out": U, "sbtc-in": U, "sbtc-out": U }) } },
  "get-outflow": {
    args: [{ name: "token", type: { optional: "principal" } }],
    outputs: { type: tupleType({ "window-start": U, used: U, cap: U, available: U }) },
  },
  "get-withdrawal-voucher-hash": {
    args: [
      { name: "provider", type: "principal" },
      { name: "amount", type: U },
      { name: "token", type: { optional: "principal" } },
      { name: "nonce", type: U },
      { name: "expires-at", type: U },
    ],
    outputs: { type: { buffer: { length: 32 } } },
  },
};

describe("ABI of the roles and money functions", () => {
  const abi = simnet.getContractsInterfaces().get(VAULT);
  const fn = (name: string) => abi?.functions.find((f) => f.name === name);

  it.each(Object.entries(EXPECTED_PUBLIC))("public %s takes exactly the written arguments and returns (response bool uint)", (name, expected) => {
    const found = fn(name);
    expect(found?.access).toBe("public");
    expect({ args: found?.args, outputs: found?.outputs }).toEqual(expected);
  });

  it.each(Object.entries(EXPECTED_READ_ONLY))("read-only %s takes exactly the written arguments and returns a plain value", (name, expected) => {
    const found = fn(name);
    expect(found?.access).toBe("read_only");
    expect({ args: found?.args, outputs: found?.outputs }).toEqual(expected);
  });

  it("declares the four delays and every error code u200..u220", () => {
    const constants = new Set(abi?.variables.filter((v) => v.access === "constant").map((v) => v.name));
    for (const name of ["OUTFLOW-WINDOW", "ROLE-DELAY", "CHECKPOINT-VETO-WINDOW", "SILENCE"]) {
      expect(constants.has(name)).toBe(true);
    }
    const source = simnet.getContractSource(VAULT) ?? "";
    expect(source).toContain("(define-constant OUTFLOW-WINDOW u144)");
    expect(source).toContain("(define-constant ROLE-DELAY u144)");
    expect(source).toContain("(define-constant CHECKPOINT-VETO-WINDOW u144)");
    expect(source).toContain("(define-constant SILENCE u4320)");
    const codes = [...source.matchAll(/\(define-constant ERR-[A-Z-]+ \(err u(\d+)\)\)/g)].map(([, code]) => Number(code));
    expect(codes.sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => 200 + i));
  });
});

// ---------------------------------------------------------------------------
// Roles

describe("roles: check order and edge cases", () => {
  it("accept-role by a principal who was not proposed fails u200 even before eta (u200 is checked before u214)", () => {
    expectOk(proposeRole("operator", backend).result);
    expectErr(acceptRole("operator", mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(acceptRole("operator", backend).result, ERR.TIMELOCK);
  });

  it("accept-role of an unknown role name fails u220", () => {
    expectErr(acceptRole("owner", alice).result, ERR.INVALID_ROLE);
    expectErr(acceptRole("", alice).result, ERR.INVALID_ROLE);
  });

  it("get-pending-role of an unknown role name is none", () => {
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("owner")])).toBeNone();
  });

  it("propose-role eta counts from the burn height of the proposal, also later in the chain", () => {
    simnet.mineEmptyBlocks(37);
    const eta = burnHeight() + BigInt(ROLE_DELAY);
    expectOk(proposeRole("signer", carol).result);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("signer")])).toBeSome(
      Cl.tuple({ who: Cl.principal(carol), eta: Cl.uint(eta) }),
    );
    simnet.mineEmptyBlocks(ROLE_DELAY - 1);
    expectErr(acceptRole("signer", carol).result, ERR.TIMELOCK);
    simnet.mineEmptyBlocks(1);
    const { result, events } = acceptRole("signer", carol);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("role-set"),
        role: Cl.stringAscii("signer"),
        previous: Cl.some(Cl.principal(deployer)),
        who: Cl.principal(carol),
      }),
    ]);
  });

  it("pause is accepted twice in a row and unpause on an unpaused vault, each printing paused-set", () => {
    expect(printedEvents(call(VAULT_FUNCTIONS.pause, [], deployer).events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("paused-set"), paused: Cl.bool(true) }),
    ]);
    expectOk(call(VAULT_FUNCTIONS.pause, [], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
  });
});

describe("set-sbtc-token-principal: any contract principal", () => {
  it("accepts a contract principal with no contract deployed behind it", () => {
    const p = `${alice}.not-deployed`;
    expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(p)], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(p));
  });

  it("accepts the mainnet sBTC contract principal (a contract principal; the written rule names no network)", () => {
    const mainnetSbtc = "SM3VDXK3WZZSA84XXFKAFAF15NNZX32CTSG82JFQ4.sbtc-token";
    expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(mainnetSbtc)], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(mainnetSbtc));
  });
});

// ---------------------------------------------------------------------------
// Money functions

describe("zero amounts fail u208 in every money function and both tokens", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, 1_000n).result);
    mintSbtc(alice, 1_000n);
    expectOk(deposit(alice, 1_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 500n).result);
    expectOk(lock(backend, [1n], 500n, "sBTC").result);
  });

  it.each(["STX", "sBTC"] as const)("%s: deposit, premium, lock, release, settle, withdraw", (token) => {
    expectErr(deposit(alice, 0n, token).result, ERR.INVALID_AMOUNT);
    expectErr(payPremium(alice, 1n, 0n, token).result, ERR.INVALID_AMOUNT);
    expectErr(lock(backend, [1n], 0n, token).result, ERR.INVALID_AMOUNT);
    expectErr(release(backend, [1n], 0n, token).result, ERR.INVALID_AMOUNT);
    expectErr(settle(backend, 1n, bob, 0n, token).result, ERR.INVALID_AMOUNT);
    const signed = voucher({ provider: alice, amount: 1n, token, nonce: 1n });
    expectErr(withdraw({ ...signed, amount: 0n }).result, ERR.INVALID_AMOUNT);
    expect(totals(token)).toEqual({ balance: 1_000n, locked: 500n });
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({ seq: 2n, stxIn: 1_000n, sbtcIn: 1_000n }));
  });
});

// ---------------------------------------------------------------------------
// Outflow limit

function outflowOf(token: ClarityValue): ClarityValue {
  return readOnly(VAULT_FUNCTIONS.getOutflow, [token]);
}

describe("get-outflow with (some p) reads the sBTC window, whatever p is", () => {
  it("before sBTC is configured: the sBTC floor for any (some p)", () => {
    for (const p of [SBTC, alice, `${deployer}.anything`]) {
      expect(outflowOf(Cl.some(Cl.principal(p)))).toEqual(outflowCV({ windowStart: 0n, used: 0n, cap: 10_000_000n, available: 10_000_000n }));
    }
    expect(outflowOf(STX)).toEqual(outflowCV({ windowStart: 0n, used: 0n, cap: 1_000_000_000n, available: 1_000_000_000n }));
  });

  it("after an sBTC withdrawal: every (some p) shows that window, none shows the untouched STX one", () => {
    initializeVault();
    const start = burnHeight();
    mintSbtc(alice, 300_000_000n);
    expectOk(deposit(alice, 300_000_000n, "sBTC").result);
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000_000n, token: "sBTC", nonce: 1n })).result);
    // 10% of the 299,000,000 left.
    const sbtcView = outflowCV({ windowStart: start, used: 1_000_000n, cap: 29_900_000n, available: 28_900_000n });
    for (const p of [SBTC, alice, `${deployer}.anything`, VAULT]) {
      expect(outflowOf(Cl.some(Cl.principal(p)))).toEqual(sbtcView);
    }
    expect(outflowOf(STX)).toEqual(outflowCV({ windowStart: start, used: 0n, cap: 1_000_000_000n, available: 1_000_000_000n }));
  });
});

describe("a zero cap stops settlements too", () => {
  it("limit-bps 0 with zero floors: settle fails u213 in both tokens, nothing moves", () => {
    initializeVault();
    expectOk(deposit(alice, 1_000_000n).result);
    mintSbtc(alice, 1_000_000n);
    expectOk(deposit(alice, 1_000_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 10n).result);
    expectOk(lock(backend, [1n], 10n, "sBTC").result);
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(0n), Cl.uint(0n), Cl.uint(0n)], deployer).result);
    expectErr(settle(backend, 1n, bob, 1n).result, ERR.OUTFLOW_LIMIT);
    expectErr(settle(backend, 1n, bob, 1n, "sBTC").result, ERR.OUTFLOW_LIMIT);
    expect(totals("STX")).toEqual({ balance: 1_000_000n, locked: 10n });
    expect(totals("sBTC")).toEqual({ balance: 1_000_000n, locked: 10n });
  });
});

// ---------------------------------------------------------------------------
// Vouchers

const SIMNET_CHAIN_ID = 0x80000000n;

function domainCV(chainId: bigint) {
  return Cl.tuple({
    name: Cl.stringAscii("bithedge-liquidity-pool"),
    version: Cl.stringAscii("2"),
    "chain-id": Cl.uint(chainId),
  });
}

function messageCV(provider: string, amount: bigint, token: string | null, nonce: bigint, expiresAt: bigint, vault = VAULT) {
  return Cl.tuple({
    action: Cl.stringAscii("withdraw"),
    vault: Cl.principal(vault),
    provider: Cl.principal(provider),
    token: token === null ? Cl.none() : Cl.some(Cl.principal(token)),
    amount: Cl.uint(amount),
    nonce: Cl.uint(nonce),
    "expires-at": Cl.uint(expiresAt),
  });
}

/** sha256("SIP018" || sha256(consensus(domain)) || sha256(consensus(message))), built byte by byte. */
function writtenHash(message: ClarityValue, domain: ClarityValue = domainCV(SIMNET_CHAIN_ID)): string {
  const prefix = utf8ToBytes("SIP018");
  const domainHash = sha256(serializeCVBytes(domain));
  const messageHash = sha256(serializeCVBytes(message));
  const preimage = new Uint8Array(prefix.length + 64);
  preimage.set(prefix, 0);
  preimage.set(domainHash, prefix.length);
  preimage.set(messageHash, prefix.length + 32);
  return bytesToHex(sha256(preimage));
}

function onChainHash(provider: string, amount: bigint, token: string | null, nonce: bigint, expiresAt: bigint) {
  return readOnly(VAULT_FUNCTIONS.getWithdrawalVoucherHash, [
    Cl.principal(provider),
    Cl.uint(amount),
    token === null ? Cl.none() : Cl.some(Cl.principal(token)),
    Cl.uint(nonce),
    Cl.uint(expiresAt),
  ]);
}

describe("voucher hash and signature, built from the written definition only", () => {
  it("simnet's chain id is the testnet one", () => {
    expect(CHAIN_ID).toBe(SIMNET_CHAIN_ID);
  });

  it.each([
    ["STX", null],
    ["sBTC", SBTC],
  ] as const)("get-withdrawal-voucher-hash (provider amount token nonce expires-at) equals the SIP-018 hash, %s", (_, token) => {
    const cases: [string, bigint, bigint, bigint][] = [
      [alice, 1n, 1n, 0n],
      [bob, 123_456_789n, 42n, 999n],
      [`${deployer}.some-contract`, 2n ** 128n - 1n, 2n ** 128n - 1n, 2n ** 128n - 1n],
    ];
    for (const [provider, amount, nonce, expiresAt] of cases) {
      expect(onChainHash(provider, amount, token, nonce, expiresAt)).toBeBuff(
        writtenHash(messageCV(provider, amount, token, nonce, expiresAt)),
      );
    }
  });

  it("the hash changes with the domain version, the domain name, the chain id, the action and the vault", () => {
    const actual = onChainHash(alice, 5n, null, 1n, 10n);
    const message = messageCV(alice, 5n, null, 1n, 10n);
    expect(actual).toBeBuff(writtenHash(message));
    expect(actual).not.toBeBuff(writtenHash(message, domainCV(1n)));
    expect(actual).not.toBeBuff(writtenHash(message, Cl.tuple({ ...domainCV(SIMNET_CHAIN_ID).value, version: Cl.stringAscii("1") })));
    expect(actual).not.toBeBuff(writtenHash(message, Cl.tuple({ ...domainCV(SIMNET_CHAIN_ID).value, name: Cl.stringAscii("bithedge") })));
    expect(actual).not.toBeBuff(writtenHash(messageCV(alice, 5n, null, 1n, 10n, `${deployer}.liquidity-pool-v1`)));
    const wrongAction = Cl.tuple({ ...messageCV(alice, 5n, null, 1n, 10n).value, action: Cl.stringAscii("withdrawal") });
    expect(actual).not.toBeBuff(writtenHash(wrongAction));
  });

  it("a voucher signed with signStructuredData from @stacks/transactions redeems (STX and sBTC)", () => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, 10_000n).result);
    mintSbtc(alice, 10_000n);
    expectOk(deposit(alice, 10_000n, "sBTC").result);
    const expiresAt = heightOfNextCall() + 10n;

    const stxSig = signStructuredData({
      message: messageCV(alice, 4_000n, null, 7n, expiresAt),
      domain: domainCV(SIMNET_CHAIN_ID),
      privateKey: BACKEND_KEY,
    });
    const before = stxBalance(alice);
    const { result, events } = call(
      VAULT_FUNCTIONS.withdrawFunds,
      [Cl.uint(4_000n), STX, Cl.uint(7n), Cl.uint(expiresAt), Cl.bufferFromHex(stxSig)],
      alice,
    );
    expectOk(result);
    expect(stxBalance(alice)).toBe(before + 4_000n);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        provider: Cl.principal(alice),
        token: Cl.none(),
        amount: Cl.uint(4_000n),
        nonce: Cl.uint(7n),
        seq: Cl.uint(3n),
        "total-balance": Cl.uint(6_000n),
        "total-locked": Cl.uint(0n),
      }),
    ]);

    const sbtcSig = signStructuredData({
      message: messageCV(alice, 2_500n, SBTC, 8n, expiresAt),
      domain: domainCV(SIMNET_CHAIN_ID),
      privateKey: BACKEND_KEY,
    });
    expectOk(
      call(VAULT_FUNCTIONS.withdrawFunds, [Cl.uint(2_500n), SBTC_ARG, Cl.uint(8n), Cl.uint(expiresAt), Cl.bufferFromHex(sbtcSig)], alice)
        .result,
    );
    expect(sbtcBalance(alice)).toBe(2_500n);
    expect(providerRecord(alice)).toEqual(
      providerRecordCV({ nonce: 8n, stxIn: 10_000n, stxOut: 4_000n, sbtcIn: 10_000n, sbtcOut: 2_500n, createdSeq: 1n }),
    );
  });
});

describe("voucher checks in the written order: signer (u211), then expiry (u209), then nonce (u210)", () => {
  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    expectOk(deposit(alice, 10_000n).result);
  });

  it("a voucher that is expired AND not signed by the signer fails u211", () => {
    const forged = voucher({ provider: alice, amount: 1n, nonce: 1n, expiresAt: heightOfNextCall(), signingKey: ROGUE_KEY });
    simnet.mineEmptyBlocks(1);
    expectErr(withdraw(forged).result, ERR.INVALID_SIGNATURE);
  });

  it("a voucher that reuses a redeemed nonce AND is not signed by the signer fails u211", () => {
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 5n })).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 5n, signingKey: ROGUE_KEY })).result, ERR.INVALID_SIGNATURE);
  });

  it("a forged voucher with nonce 0 for a new provider fails u211", () => {
    expectErr(withdraw(voucher({ provider: carol, amount: 1n, nonce: 0n, signingKey: ROGUE_KEY })).result, ERR.INVALID_SIGNATURE);
  });

  it("a genuine voucher that is expired AND reuses a nonce fails u209 (expiry before nonce)", () => {
    expectOk(withdraw(voucher({ provider: alice, amount: 1n, nonce: 5n })).result);
    const stale = voucher({ provider: alice, amount: 1n, nonce: 5n, expiresAt: heightOfNextCall() });
    simnet.mineEmptyBlocks(1);
    expectErr(withdraw(stale).result, ERR.VOUCHER_EXPIRED);
  });

  it("a genuine voucher over the free balance fails u201 only after the voucher checks pass", () => {
    expectOk(lock(backend, [1n], 9_000n).result);
    expectErr(withdraw(voucher({ provider: alice, amount: 1_001n, nonce: 1n })).result, ERR.INSUFFICIENT_BALANCE);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 1_001n, nonce: 1n, signingKey: ROGUE_KEY })).result,
      ERR.INVALID_SIGNATURE,
    );
  });
});

// ---------------------------------------------------------------------------
// Transfers out: an allowance of exactly the amount, of exactly the sbtc-token asset

const TRAIT_READ_ONLYS = `
(define-read-only (get-name) (ok "sBTC"))
(define-read-only (get-symbol) (ok "sBTC"))
(define-read-only (get-decimals) (ok u8))
(define-read-only (get-total-supply) (ok u0))
(define-read-only (get-token-uri) (ok none))
`;

const isContract = `(match (principal-destruct? sender) parts (is-some (get name parts)) wrong false)`;

/**
 * A SIP-010 token whose `transfer` moves `moved` of `asset` (and runs `after`
 * once it has): each hostile token below differs from an honest one in one of those.
 */
function tokenSource({ asset = "sbtc-token", moved = "amount", after = "true" }: { asset?: string; moved?: string; after?: string }) {
  return `
(define-fungible-token ${asset})
(define-public (transfer (amount uint) (sender principal) (recipient principal) (memo (optional (buff 34))))
  (begin
    (asserts! (or (is-eq tx-sender sender) (is-eq contract-caller sender)) (err u4))
    (try! (ft-transfer? ${asset} ${moved} sender recipient))
    ${after}
    (ok true)))
(define-public (mint (amount uint) (recipient principal)) (ft-mint? ${asset} amount recipient))
(define-read-only (get-balance (who principal)) (ok (ft-get-balance ${asset} who)))
${TRAIT_READ_ONLYS}`;
}

/** Takes one unit more than asked whenever a contract pays. */
const GREEDY_TOKEN = tokenSource({ moved: `(if ${isContract} (+ amount u1) amount)` });

/** Its asset is not named sbtc-token. */
const OTHER_ASSET_TOKEN = tokenSource({ asset: "other-token" });

/** Moves the sBTC asked for, and one micro-STX of the paying contract besides. */
const STX_SKIMMING_TOKEN = tokenSource({ after: `(if ${isContract} (try! (stx-transfer? u1 sender recipient)) true)` });

/** Deploys a token and a fresh copy of the vault pointed at it (deployer: admin, operator, signer), funded by alice. */
function vaultWithToken(name: string, tokenCode: string) {
  const token = `${deployer}.${name}`;
  const vault = `${deployer}.vault-${name}`;
  expect(simnet.deployContract(name, tokenCode, { clarityVersion: 4 }, deployer).result).toBeBool(true);
  const source = simnet.getContractSource(VAULT);
  if (!source) throw new Error("vault source missing");
  expect(simnet.deployContract(`vault-${name}`, source, { clarityVersion: 4 }, deployer).result).toBeBool(true);
  const v = (fn: string, args: ClarityValue[], sender: string) => simnet.callPublicFn(vault, fn, args, sender);
  expectOk(v(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(token)], deployer).result);
  expectOk(simnet.callPublicFn(token, "mint", [Cl.uint(1_000n), Cl.principal(alice)], deployer).result);
  const tokenArg = Cl.some(Cl.principal(token));
  expectOk(v(VAULT_FUNCTIONS.depositFunds, [Cl.uint(1_000n), tokenArg], alice).result);
  expectOk(v(VAULT_FUNCTIONS.depositFunds, [Cl.uint(1_000n), STX], alice).result);
  expectOk(v(VAULT_FUNCTIONS.lockCollateralAggregate, [Cl.list([Cl.uint(1n)]), Cl.uint(100n), tokenArg], deployer).result);
  expectOk(v(VAULT_FUNCTIONS.lockCollateralAggregate, [Cl.list([Cl.uint(1n)]), Cl.uint(100n), STX], deployer).result);
  const settleIn = (token: ClarityValue, amount: bigint) =>
    v(VAULT_FUNCTIONS.settlePolicy, [Cl.uint(1n), Cl.principal(bob), Cl.uint(amount), token], deployer);
  const read = (fn: string) => simnet.callReadOnlyFn(vault, fn, [], deployer).result;
  return { token, tokenArg, vault, settleIn, read };
}

describe("transfers out are bounded by an allowance of exactly the amount, of exactly the sbtc-token asset", () => {
  it("control: a copy of the honest token behind a fresh vault pays a settlement of exactly the amount", () => {
    const source = simnet.getContractSource(SBTC);
    if (!source) throw new Error("sbtc-token source missing");
    const { token, tokenArg, vault, settleIn, read } = vaultWithToken("honest-token", source);
    expectOk(settleIn(tokenArg, 10n).result);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(990n);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcLocked)).toBeUint(90n);
    const asset = simnet.getAssetsMap().get(`.${token.split(".")[1]}.sbtc-token`);
    expect(asset?.get(vault)).toBe(990n);
    expect(asset?.get(bob)).toBe(10n);
  });

  it("a token that takes one unit more than the amount from the vault fails u203; the vault's totals are untouched", () => {
    const { tokenArg, settleIn, read } = vaultWithToken("greedy-token", GREEDY_TOKEN);
    expectErr(settleIn(tokenArg, 10n).result, ERR.TRANSFER_FAILED);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(1_000n);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcLocked)).toBeUint(100n);
    // STX settlements of the same vault pay.
    expectOk(settleIn(STX, 10n).result);
  });

  it("a token whose asset is not named sbtc-token cannot pay out (u203), though it deposits", () => {
    const { token, tokenArg, vault, settleIn, read } = vaultWithToken("other-asset-token", OTHER_ASSET_TOKEN);
    expectErr(settleIn(tokenArg, 10n).result, ERR.TRANSFER_FAILED);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(1_000n);
    expect(simnet.getAssetsMap().get(`.${token.split(".")[1]}.other-token`)?.get(vault)).toBe(1_000n);
  });

  it("a token that also moves the vault's STX while paying sBTC fails u203: one asset only", () => {
    const { tokenArg, vault, settleIn, read } = vaultWithToken("stx-skimming-token", STX_SKIMMING_TOKEN);
    const heldStx = simnet.getAssetsMap().get("STX")?.get(vault);
    expectErr(settleIn(tokenArg, 10n).result, ERR.TRANSFER_FAILED);
    expect(simnet.getAssetsMap().get("STX")?.get(vault)).toBe(heldStx);
    expect(read(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(1_000n);
  });

  it("the honest sBTC token pays exactly the amount, and the vault's real holding follows its tracked balance", () => {
    initializeVault({ limitBps: 10_000n });
    mintSbtc(alice, 1_000n);
    expectOk(deposit(alice, 1_000n, "sBTC").result);
    expectOk(lock(backend, [1n], 100n, "sBTC").result);
    const { events } = settle(backend, 1n, bob, 10n, "sBTC");
    expect(events.filter((e) => e.event === "ft_transfer_event")).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event: "ft_transfer_event",
      data: { asset_identifier: `${SBTC}::sbtc-token`, amount: "10", sender: VAULT, recipient: bob },
    });
    expect(heldByVault("sBTC")).toBe(990n);
    expect(totals("sBTC")).toEqual({ balance: 990n, locked: 90n });
  });
});
