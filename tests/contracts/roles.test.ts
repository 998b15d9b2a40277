/**
 * Roles: the two-step hand-over (propose, then accept after ROLE_DELAY burn
 * blocks), the guardian's cancel and revoke, and what each holder may not do.
 */
import { Cl } from "@stacks/transactions";
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
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  handRole,
  initializeVault,
  lock,
  mallory,
  NEXT_SIGNER_KEY,
  nextSigner,
  postCheckpoint,
  printedEvents,
  proposeRole,
  providerRecord,
  providerRecordCV,
  readOnly,
  release,
  ROGUE_KEY,
  ROLE_DELAY,
  ROLES,
  rolesCV,
  settle,
  stxBalance,
  totals,
  voucher,
  withdraw,
  type Role,
} from "./vault";

function pendingRole(role: string) {
  return readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii(role)]);
}

function pendingCV(who: string, eta: bigint) {
  return Cl.some(Cl.tuple({ who: Cl.principal(who), eta: Cl.uint(eta) }));
}

function cancelRole(role: string, sender: string) {
  return call(VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii(role)], sender);
}

const roleSet = (role: Role, previous: string | null, who: string) =>
  Cl.tuple({
    event: Cl.stringAscii("role-set"),
    role: Cl.stringAscii(role),
    previous: previous === null ? Cl.none() : Cl.some(Cl.principal(previous)),
    who: Cl.principal(who),
  });

const HOT_KEYS_REVOKED = Cl.tuple({ event: Cl.stringAscii("hot-keys-revoked") });

describe(VAULT_FUNCTIONS.proposeRole, () => {
  it.each(ROLES)("lets the admin propose a %s, due ROLE_DELAY burn blocks later, printing role-proposed", (role) => {
    const eta = burnHeight() + BigInt(ROLE_DELAY);
    const { result, events } = proposeRole(role, alice);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("role-proposed"),
        role: Cl.stringAscii(role),
        who: Cl.principal(alice),
        eta: Cl.uint(eta),
      }),
    ]);
    expect(pendingRole(role)).toEqual(pendingCV(alice, eta));
    // Nothing changes until the proposal is accepted.
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(
      rolesCV({ admin: deployer, guardian: deployer, operator: deployer, signer: deployer }),
    );
  });

  it("keeps one pending proposal per role, independent of the others", () => {
    const eta = burnHeight() + BigInt(ROLE_DELAY);
    expectOk(proposeRole("guardian", carol).result);
    expectOk(proposeRole("operator", backend).result);
    expect(pendingRole("guardian")).toEqual(pendingCV(carol, eta));
    expect(pendingRole("operator")).toEqual(pendingCV(backend, eta));
    expect(pendingRole("admin")).toBeNone();
    expect(pendingRole("signer")).toBeNone();
  });

  it("replaces the role's pending proposal, with a new eta: only the latest who can accept", () => {
    expectOk(proposeRole("guardian", alice).result);
    simnet.mineEmptyBlocks(10);
    const eta = burnHeight() + BigInt(ROLE_DELAY);
    expectOk(proposeRole("guardian", bob).result);
    expect(pendingRole("guardian")).toEqual(pendingCV(bob, eta));

    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(acceptRole("guardian", alice).result, ERR.NOT_AUTHORIZED);
    expectOk(acceptRole("guardian", bob).result);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: bob, operator: deployer, signer: deployer }));
  });

  it("refuses an unknown role name with ERR-INVALID-ROLE (u220), recording nothing", () => {
    for (const name of ["owner", "", "Admin", "signers", "backend"]) {
      expectErr(proposeRole(name, alice).result, ERR.INVALID_ROLE);
      expect(pendingRole(name)).toBeNone();
    }
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200): outsiders, the guardian, the operator", () => {
    initializeVault();
    handRole("guardian", carol);
    for (const sender of [mallory, carol, backend]) {
      expectErr(proposeRole("operator", sender, sender).result, ERR.NOT_AUTHORIZED);
      expectErr(proposeRole("admin", sender, sender).result, ERR.NOT_AUTHORIZED);
    }
    for (const role of ROLES) expect(pendingRole(role)).toBeNone();
  });
});

describe(VAULT_FUNCTIONS.acceptRole, () => {
  it("hands each of the four roles over, printing role-set with the previous holder", () => {
    for (const [role, who] of [
      ["guardian", carol],
      ["operator", backend],
      ["signer", nextSigner],
      ["admin", alice],
    ] as const) {
      expectOk(proposeRole(role, who).result);
    }
    simnet.mineEmptyBlocks(ROLE_DELAY);

    expect(printedEvents(acceptRole("guardian", carol).events)).toEqual([roleSet("guardian", deployer, carol)]);
    expect(printedEvents(acceptRole("operator", backend).events)).toEqual([roleSet("operator", deployer, backend)]);
    expect(printedEvents(acceptRole("signer", nextSigner).events)).toEqual([roleSet("signer", deployer, nextSigner)]);
    expect(printedEvents(acceptRole("admin", alice).events)).toEqual([roleSet("admin", deployer, alice)]);

    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: alice, guardian: carol, operator: backend, signer: nextSigner }));
    for (const role of ROLES) expect(pendingRole(role)).toBeNone();
  });

  it("refuses before eta with ERR-TIMELOCK (u214): one burn block before fails, exactly at eta succeeds", () => {
    const eta = burnHeight() + BigInt(ROLE_DELAY);
    expectOk(proposeRole("guardian", carol).result);
    expectErr(acceptRole("guardian", carol).result, ERR.TIMELOCK);

    simnet.mineEmptyBlocks(ROLE_DELAY - 1);
    expect(burnHeight()).toBe(eta - 1n);
    expectErr(acceptRole("guardian", carol).result, ERR.TIMELOCK);
    expect(pendingRole("guardian")).toEqual(pendingCV(carol, eta));

    simnet.mineEmptyBlocks(1);
    expect(burnHeight()).toBe(eta);
    expectOk(acceptRole("guardian", carol).result);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: deployer, signer: deployer }));
  });

  it("lets only the proposed principal accept: anyone else, the admin included, gets ERR-NOT-AUTHORIZED (u200)", () => {
    expectOk(proposeRole("operator", backend).result);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(acceptRole("operator", mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(acceptRole("operator", deployer).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: deployer, operator: deployer, signer: deployer }));
    expectOk(acceptRole("operator", backend).result);
  });

  it("clears the proposal: a second accept finds nothing pending (u220)", () => {
    handRole("guardian", carol);
    expect(pendingRole("guardian")).toBeNone();
    expectErr(acceptRole("guardian", carol).result, ERR.INVALID_ROLE);
  });

  it("refuses with ERR-INVALID-ROLE (u220) when nothing is pending for the role or the name is unknown", () => {
    expectOk(proposeRole("operator", backend).result);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(acceptRole("signer", backend).result, ERR.INVALID_ROLE);
    expectErr(acceptRole("owner", backend).result, ERR.INVALID_ROLE);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: deployer, operator: deployer, signer: deployer }));
  });
});

describe(VAULT_FUNCTIONS.cancelRole, () => {
  beforeEach(() => handRole("guardian", carol));

  it("lets the admin drop a pending proposal, printing role-cancelled; the proposed principal can no longer accept", () => {
    expectOk(proposeRole("operator", mallory).result);
    const { result, events } = cancelRole("operator", deployer);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("role-cancelled"), role: Cl.stringAscii("operator") }),
    ]);
    expect(pendingRole("operator")).toBeNone();
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(acceptRole("operator", mallory).result, ERR.INVALID_ROLE);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: deployer, signer: deployer }));
  });

  it("lets the guardian drop a pending proposal: the answer to a proposal made with a stolen admin key", () => {
    expectOk(proposeRole("admin", mallory).result);
    const { result, events } = cancelRole("admin", carol);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("role-cancelled"), role: Cl.stringAscii("admin") }),
    ]);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expectErr(acceptRole("admin", mallory).result, ERR.INVALID_ROLE);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: deployer, signer: deployer }));
  });

  it("refuses with ERR-INVALID-ROLE (u220) when nothing is pending, or the name is unknown", () => {
    expectErr(cancelRole("signer", deployer).result, ERR.INVALID_ROLE);
    expectErr(cancelRole("signer", carol).result, ERR.INVALID_ROLE);
    expectErr(cancelRole("owner", carol).result, ERR.INVALID_ROLE);
  });

  it("refuses anyone but the admin or guardian with ERR-NOT-AUTHORIZED (u200), the proposed principal and the operator included", () => {
    initializeVault();
    expectOk(proposeRole("signer", mallory).result);
    expectErr(cancelRole("signer", mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(cancelRole("signer", backend).result, ERR.NOT_AUTHORIZED);
    expectErr(cancelRole("signer", alice).result, ERR.NOT_AUTHORIZED);
    expect(pendingRole("signer")).not.toBeNone();
  });
});

describe(VAULT_FUNCTIONS.revokeHotKeys, () => {
  const POOL = 10_000_000n;

  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    handRole("guardian", carol);
    expectOk(deposit(alice, POOL).result);
    expectOk(lock(backend, [1n], 4_000_000n).result);
  });

  it("lets the guardian drop the operator and signer at once, printing hot-keys-revoked", () => {
    const { result, events } = call(VAULT_FUNCTIONS.revokeHotKeys, [], carol);
    expectOk(result);
    expect(printedEvents(events)).toEqual([HOT_KEYS_REVOKED]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: null, signer: null }));
  });

  it("lets the admin revoke too", () => {
    const { result, events } = call(VAULT_FUNCTIONS.revokeHotKeys, [], deployer);
    expectOk(result);
    expect(printedEvents(events)).toEqual([HOT_KEYS_REVOKED]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: null, signer: null }));
  });

  it("refuses anyone else, the hot keys themselves included, with ERR-NOT-AUTHORIZED (u200)", () => {
    expectErr(call(VAULT_FUNCTIONS.revokeHotKeys, [], mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.revokeHotKeys, [], backend).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: deployer, guardian: carol, operator: backend, signer: backend }));
  });

  it("makes every operator call fail with u200 afterwards, for the old holder and everyone else", () => {
    expectOk(call(VAULT_FUNCTIONS.revokeHotKeys, [], carol).result);
    for (const sender of [backend, deployer, carol]) {
      expectErr(lock(sender, [2n], 1n).result, ERR.NOT_AUTHORIZED);
      expectErr(release(sender, [1n], 1n).result, ERR.NOT_AUTHORIZED);
      expectErr(settle(sender, 1n, sender, 1n).result, ERR.NOT_AUTHORIZED);
      expectErr(postCheckpoint(sender).result, ERR.NOT_AUTHORIZED);
      expectErr(call(VAULT_FUNCTIONS.publishLeaves, [Cl.uint(1n), Cl.uint(0n), Cl.list([])], sender).result, ERR.NOT_AUTHORIZED);
    }
    expect(totals("STX")).toEqual({ balance: POOL, locked: 4_000_000n });
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
  });

  it("makes every voucher fail with u211 afterwards, those signed before the revocation included", () => {
    const signedBefore = voucher({ provider: alice, amount: 1_000n, nonce: 1n });
    expectOk(call(VAULT_FUNCTIONS.revokeHotKeys, [], carol).result);
    expectErr(withdraw(signedBefore).result, ERR.INVALID_SIGNATURE);
    expectErr(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 2n })).result, ERR.INVALID_SIGNATURE);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 3n, signingKey: ROGUE_KEY })).result,
      ERR.INVALID_SIGNATURE,
    );
    expect(totals("STX").balance).toBe(POOL);
    expect(providerRecord(alice)).toEqual(providerRecordCV({ stxIn: POOL, createdSeq: 1n }));
  });

  it("gives the hot roles new holders only through propose and accept, with previous none", () => {
    expectOk(call(VAULT_FUNCTIONS.revokeHotKeys, [], carol).result);
    expectOk(proposeRole("operator", backend).result);
    expectOk(proposeRole("signer", nextSigner).result);
    expectErr(acceptRole("operator", backend).result, ERR.TIMELOCK);
    expectErr(lock(backend, [2n], 1n).result, ERR.NOT_AUTHORIZED);

    simnet.mineEmptyBlocks(ROLE_DELAY);
    expect(printedEvents(acceptRole("operator", backend).events)).toEqual([roleSet("operator", null, backend)]);
    expect(printedEvents(acceptRole("signer", nextSigner).events)).toEqual([roleSet("signer", null, nextSigner)]);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(
      rolesCV({ admin: deployer, guardian: carol, operator: backend, signer: nextSigner }),
    );

    expectOk(lock(backend, [2n], 1n).result);
    expectErr(
      withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 1n, signingKey: BACKEND_KEY })).result,
      ERR.INVALID_SIGNATURE,
    );
    expectOk(withdraw(voucher({ provider: alice, amount: 1_000n, nonce: 1n, signingKey: NEXT_SIGNER_KEY })).result);
    expect(totals("STX")).toEqual({ balance: POOL - 1_000n, locked: 4_000_001n });
  });
});

describe("admin hand-over", () => {
  beforeEach(() => {
    initializeVault();
    handRole("admin", alice);
  });

  it("moves every admin power to the new admin; the old one gets ERR-NOT-AUTHORIZED (u200)", () => {
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: alice, guardian: deployer, operator: backend, signer: backend }));
    expectErr(proposeRole("operator", deployer).result, ERR.NOT_AUTHORIZED);
    expectErr(
      call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], deployer).result,
      ERR.NOT_AUTHORIZED,
    );
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], deployer).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);
    expect(pendingRole("operator")).toBeNone();

    expectOk(proposeRole("operator", bob, alice).result);
    expectOk(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(10_000n), Cl.uint(0n), Cl.uint(0n)], alice).result);
  });

  it("leaves the old admin, still guardian, able to pause but no longer to unpause", () => {
    expectOk(call(VAULT_FUNCTIONS.pause, [], deployer).result);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], deployer).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expectOk(call(VAULT_FUNCTIONS.unpause, [], alice).result);
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
  });

  it("lets the new admin hand the role on again, and take the guardian role away from the old admin", () => {
    expectOk(proposeRole("guardian", carol, alice).result);
    simnet.mineEmptyBlocks(ROLE_DELAY);
    expect(printedEvents(acceptRole("guardian", carol).events)).toEqual([roleSet("guardian", deployer, carol)]);
    expectErr(call(VAULT_FUNCTIONS.pause, [], deployer).result, ERR.NOT_AUTHORIZED);
    handRole("admin", bob, alice);
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(rolesCV({ admin: bob, guardian: carol, operator: backend, signer: backend }));
    expectErr(proposeRole("signer", alice, alice).result, ERR.NOT_AUTHORIZED);
  });
});

describe("the guardian", () => {
  const POOL = 10_000_000n;

  beforeEach(() => {
    initializeVault({ limitBps: 10_000n });
    handRole("guardian", carol);
    expectOk(deposit(alice, POOL).result);
    expectOk(lock(backend, [1n], 4_000_000n).result);
    expectOk(call(VAULT_FUNCTIONS.pause, [], carol).result);
  });

  it("cannot propose roles, unpause, set the outflow limit, configure sBTC or shut down (u200)", () => {
    expectErr(proposeRole("admin", carol, carol).result, ERR.NOT_AUTHORIZED);
    expectErr(proposeRole("operator", carol, carol).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.unpause, [], carol).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(0n), Cl.uint(0n), Cl.uint(0n)], carol).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.shutdown, [], carol).result, ERR.NOT_AUTHORIZED);
    expect(pendingRole("admin")).toBeNone();
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(true);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);
  });

  it("cannot move money: lock, release, settle and post-checkpoint fail u200, a voucher from any key but the signer u211", () => {
    expectOk(call(VAULT_FUNCTIONS.unpause, [], deployer).result);
    const before = stxBalance(carol);
    expectErr(lock(carol, [2n], 1n).result, ERR.NOT_AUTHORIZED);
    expectErr(release(carol, [1n], 4_000_000n).result, ERR.NOT_AUTHORIZED);
    expectErr(settle(carol, 1n, carol, 4_000_000n).result, ERR.NOT_AUTHORIZED);
    expectErr(postCheckpoint(carol).result, ERR.NOT_AUTHORIZED);
    expectErr(
      withdraw(voucher({ provider: carol, amount: 1_000n, nonce: 1n, signingKey: ROGUE_KEY })).result,
      ERR.INVALID_SIGNATURE,
    );
    expect(stxBalance(carol)).toBe(before);
    expect(totals("STX")).toEqual({ balance: POOL, locked: 4_000_000n });
    expect(providerRecord(carol)).toBeNone();
  });
});
