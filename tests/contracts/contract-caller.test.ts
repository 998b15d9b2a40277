/**
 * Role checks compare `contract-caller`, not `tx-sender`. A role holder lured
 * into calling some other contract keeps tx-sender = themselves, but the vault
 * sees that contract as the caller and refuses it; and a contract that holds a
 * role itself (how a role goes to a multisig) acts by calling the vault.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { beforeEach, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  acceptRole,
  alice,
  backend,
  bob,
  call,
  carol,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  heldByVault,
  initializeVault,
  lock,
  mallory,
  postCheckpoint,
  printedEvents,
  proposeRole,
  readOnly,
  ROLE_DELAY,
  ROLES,
  rolesCV,
  SBTC,
  STX,
  stxBalance,
} from "./vault";

const PROXY_NAME = "vault-proxy";
const PROXY = `${deployer}.${PROXY_NAME}`;

// Forwards each privileged call to the vault unchanged. Deployed by the
// deployer, so `.liquidity-pool` names this project's vault.
const PROXY_SOURCE = `
(use-trait sip-010-trait .sip-010-trait.sip-010-trait)

(define-public (pause) (contract-call? .liquidity-pool pause))
(define-public (unpause) (contract-call? .liquidity-pool unpause))
(define-public (revoke-hot-keys) (contract-call? .liquidity-pool revoke-hot-keys))
(define-public (propose-role (role (string-ascii 8)) (who principal))
  (contract-call? .liquidity-pool propose-role role who))
(define-public (accept-role (role (string-ascii 8)))
  (contract-call? .liquidity-pool accept-role role))
(define-public (cancel-role (role (string-ascii 8)))
  (contract-call? .liquidity-pool cancel-role role))
(define-public (set-outflow-limit (limit-bps uint) (stx-floor uint) (sbtc-floor uint))
  (contract-call? .liquidity-pool set-outflow-limit limit-bps stx-floor sbtc-floor))
(define-public (set-sbtc-token-principal (p principal))
  (contract-call? .liquidity-pool set-sbtc-token-principal p))
(define-public (lock-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (contract-call? .liquidity-pool lock-collateral-aggregate policy-ids amount token))
(define-public (release-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (contract-call? .liquidity-pool release-collateral-aggregate policy-ids amount token))
(define-public (settle-policy (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (contract-call? .liquidity-pool settle-policy policy-id buyer amount token))
(define-public (post-checkpoint (root (buff 32)) (stx-sum uint) (sbtc-sum uint) (as-of-seq uint)
    (flows { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }) (leaf-count uint))
  (contract-call? .liquidity-pool post-checkpoint root stx-sum sbtc-sum as-of-seq flows leaf-count))
(define-public (veto-checkpoint) (contract-call? .liquidity-pool veto-checkpoint))
(define-public (shutdown) (contract-call? .liquidity-pool shutdown))
`;

type ProxyCall = { fn: string; args: ClarityValue[] };

const ZERO_FLOWS = Cl.tuple({
  "stx-in": Cl.uint(0n),
  "stx-out": Cl.uint(0n),
  "sbtc-in": Cl.uint(0n),
  "sbtc-out": Cl.uint(0n),
});

/** Arguments each forwarded function would succeed with if the vault let the caller act. */
const PROXIED = {
  pause: { fn: VAULT_FUNCTIONS.pause, args: [] },
  unpause: { fn: VAULT_FUNCTIONS.unpause, args: [] },
  revokeHotKeys: { fn: VAULT_FUNCTIONS.revokeHotKeys, args: [] },
  proposeRole: { fn: VAULT_FUNCTIONS.proposeRole, args: [Cl.stringAscii("operator"), Cl.principal(mallory)] },
  cancelRole: { fn: VAULT_FUNCTIONS.cancelRole, args: [Cl.stringAscii("signer")] },
  setOutflowLimit: { fn: VAULT_FUNCTIONS.setOutflowLimit, args: [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)] },
  lock: { fn: VAULT_FUNCTIONS.lockCollateralAggregate, args: [Cl.list([Cl.uint(9n)]), Cl.uint(1_000n), STX] },
  release: { fn: VAULT_FUNCTIONS.releaseCollateralAggregate, args: [Cl.list([Cl.uint(1n)]), Cl.uint(1_000n), STX] },
  settle: { fn: VAULT_FUNCTIONS.settlePolicy, args: [Cl.uint(1n), Cl.principal(mallory), Cl.uint(1_000n), STX] },
  postCheckpoint: {
    fn: VAULT_FUNCTIONS.postCheckpoint,
    args: [Cl.bufferFromHex("11".repeat(32)), Cl.uint(0n), Cl.uint(0n), Cl.uint(0n), ZERO_FLOWS, Cl.uint(1n)],
  },
  vetoCheckpoint: { fn: VAULT_FUNCTIONS.vetoCheckpoint, args: [] },
  shutdown: { fn: VAULT_FUNCTIONS.shutdown, args: [] },
} satisfies Record<string, ProxyCall>;

function viaProxy({ fn, args }: ProxyCall, sender: string) {
  return simnet.callPublicFn(PROXY, fn, args, sender);
}

/** Everything a privileged call could change, read through the vault's read-only functions. */
function vaultState() {
  return {
    roles: readOnly(VAULT_FUNCTIONS.getRoles),
    pending: ROLES.map((role) => readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii(role)])),
    paused: readOnly(VAULT_FUNCTIONS.isPaused),
    shutDown: readOnly(VAULT_FUNCTIONS.isShutDown),
    sbtc: readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal),
    stx: [readOnly(VAULT_FUNCTIONS.getTotalStxBalance), readOnly(VAULT_FUNCTIONS.getTotalStxLocked)],
    outflow: readOnly(VAULT_FUNCTIONS.getOutflow, [STX]),
    checkpoint: readOnly(VAULT_FUNCTIONS.getCheckpoint),
    held: heldByVault("STX"),
    mallory: stxBalance(mallory),
  };
}

function expectRefusedThroughProxy(calls: ProxyCall[], sender: string): void {
  const before = vaultState();
  for (const proxied of calls) {
    const { result, events } = viaProxy(proxied, sender);
    expect({ fn: proxied.fn, result }).toEqual({ fn: proxied.fn, result: Cl.error(Cl.uint(ERR.NOT_AUTHORIZED)) });
    expect(printedEvents(events)).toEqual([]);
  }
  expect(vaultState()).toEqual(before);
}

/** The admin proposes the proxy for `role`; after ROLE_DELAY the proxy accepts through its forwarder. */
function handRoleToProxy(role: (typeof ROLES)[number]): void {
  expectOk(proposeRole(role, PROXY).result);
  simnet.mineEmptyBlocks(ROLE_DELAY);
  // The proxy's own caller does not matter: the vault sees the proxy.
  expectOk(viaProxy({ fn: VAULT_FUNCTIONS.acceptRole, args: [Cl.stringAscii(role)] }, bob).result);
}

beforeEach(() => {
  // A guardian apart from the admin, so each holder is tried on its own.
  initializeVault();
  expectOk(proposeRole("guardian", carol).result);
  simnet.mineEmptyBlocks(ROLE_DELAY);
  expectOk(acceptRole("guardian", carol).result);
  expect(simnet.deployContract(PROXY_NAME, PROXY_SOURCE, { clarityVersion: 4 }, deployer).result).toBeBool(true);
  expectOk(deposit(alice, 10_000_000n).result);
  expectOk(lock(backend, [1n], 5_000_000n).result);
});

describe("a role holder calling through another contract", () => {
  it("the admin gets ERR-NOT-AUTHORIZED (u200) from every admin function, and nothing changes", () => {
    expectOk(call(VAULT_FUNCTIONS.pause, [], carol).result);
    expectOk(proposeRole("signer", mallory).result);
    expectRefusedThroughProxy(
      [
        PROXIED.unpause,
        PROXIED.pause,
        PROXIED.proposeRole,
        PROXIED.cancelRole,
        PROXIED.setOutflowLimit,
        PROXIED.revokeHotKeys,
        PROXIED.shutdown,
        { fn: VAULT_FUNCTIONS.setSbtcTokenPrincipal, args: [Cl.principal(`${deployer}.sip-010-trait`)] },
      ],
      deployer,
    );
    // The same calls, made directly, are the admin's to make.
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], deployer).result);
    expectOk(call(VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii("signer")], deployer).result);
  });

  it("the guardian gets u200 from pause, cancel-role, revoke-hot-keys and veto-checkpoint, and nothing changes", () => {
    expectOk(postCheckpoint(backend).result);
    expectOk(proposeRole("signer", mallory).result);
    expectRefusedThroughProxy(
      [PROXIED.pause, PROXIED.cancelRole, PROXIED.revokeHotKeys, PROXIED.vetoCheckpoint],
      carol,
    );
    expectOk(call(VAULT_FUNCTIONS.vetoCheckpoint, [], carol).result);
    expectOk(call(VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii("signer")], carol).result);
    expectOk(call(VAULT_FUNCTIONS.pause, [], carol).result);
    expectOk(call(VAULT_FUNCTIONS.revokeHotKeys, [], carol).result);
  });

  it("the operator gets u200 from lock, release, settle and post-checkpoint, and nothing moves", () => {
    expectRefusedThroughProxy(
      [PROXIED.lock, PROXIED.release, PROXIED.settle, PROXIED.postCheckpoint],
      backend,
    );
    const before = stxBalance(mallory);
    expectOk(call(VAULT_FUNCTIONS.settlePolicy, PROXIED.settle.args, backend).result);
    expect(stxBalance(mallory)).toBe(before + 1_000n);
  });
});

describe("a contract holding a role", () => {
  it("accepts a role through its forwarder, printing role-set with the contract as who", () => {
    expectOk(proposeRole("guardian", PROXY).result);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    // The proposed contract accepts by calling; a person named in its place cannot.
    expectErr(acceptRole("guardian", deployer).result, ERR.NOT_AUTHORIZED);
    const { result, events } = viaProxy({ fn: VAULT_FUNCTIONS.acceptRole, args: [Cl.stringAscii("guardian")] }, bob);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("role-set"),
        role: Cl.stringAscii("guardian"),
        previous: Cl.some(Cl.principal(carol)),
        who: Cl.contractPrincipal(deployer, PROXY_NAME),
      }),
    ]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: PROXY, operator: backend, signer: backend }));
  });

  it("as admin, unpauses, sets the outflow limit, proposes roles and shuts down; the previous admin no longer can", () => {
    handRoleToProxy("admin");
    expectOk(call(VAULT_FUNCTIONS.pause, [], carol).result);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], deployer).result, ERR.NOT_AUTHORIZED);

    expectOk(viaProxy(PROXIED.unpause, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
    expectOk(viaProxy(PROXIED.setOutflowLimit, bob).result);
    expectOk(viaProxy(PROXIED.proposeRole, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("operator")])).not.toBeNone();
    expectOk(viaProxy({ fn: VAULT_FUNCTIONS.cancelRole, args: [Cl.stringAscii("operator")] }, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("operator")])).toBeNone();
    expectOk(viaProxy(PROXIED.shutdown, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(true);
  });

  it("as guardian, pauses, cancels proposals, vetoes a fresh checkpoint and revokes the hot keys", () => {
    handRoleToProxy("guardian");
    expectErr(call(VAULT_FUNCTIONS.revokeHotKeys, [], carol).result, ERR.NOT_AUTHORIZED);
    expectOk(viaProxy(PROXIED.pause, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expectOk(proposeRole("signer", mallory).result);
    expectOk(viaProxy(PROXIED.cancelRole, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii("signer")])).toBeNone();
    expectOk(postCheckpoint(backend).result);
    expectOk(viaProxy(PROXIED.vetoCheckpoint, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
    expectOk(viaProxy(PROXIED.revokeHotKeys, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: PROXY, operator: null, signer: null }));
  });

  it("as operator, locks, releases, settles and posts checkpoints; the previous operator no longer can", () => {
    handRoleToProxy("operator");
    expectErr(lock(backend, [2n], 1n).result, ERR.NOT_AUTHORIZED);
    const before = stxBalance(mallory);

    expectOk(viaProxy(PROXIED.lock, bob).result);
    expectOk(viaProxy(PROXIED.release, bob).result);
    expectOk(viaProxy(PROXIED.settle, bob).result);
    expect(stxBalance(mallory)).toBe(before + 1_000n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxBalance)).toBeUint(10_000_000n - 1_000n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxLocked)).toBeUint(5_000_000n - 1_000n);
    expectOk(viaProxy(PROXIED.postCheckpoint, bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).not.toBeNone();
  });

  it("as admin, passes the admin check of set-sbtc-token-principal and meets its set-once rule (u204)", () => {
    handRoleToProxy("admin");
    expectErr(
      viaProxy({ fn: VAULT_FUNCTIONS.setSbtcTokenPrincipal, args: [Cl.principal(SBTC)] }, bob).result,
      ERR.ALREADY_INITIALIZED,
    );
  });
});
