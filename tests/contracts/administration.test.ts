import { Cl } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import {
  alice,
  backend,
  bob,
  call,
  deployer,
  ERR,
  expectErr,
  expectOk,
  mallory,
  printedEvents,
  readOnly,
  SBTC,
} from "./vault";

describe("initial state", () => {
  it("starts empty, unpaused, with the deployer as admin and backend and no sBTC principal", () => {
    expect(readOnly("get-total-stx-balance")).toBeUint(0n);
    expect(readOnly("get-total-sbtc-balance")).toBeUint(0n);
    expect(readOnly("get-total-stx-locked")).toBeUint(0n);
    expect(readOnly("get-total-sbtc-locked")).toBeUint(0n);
    expect(readOnly("get-contract-admin")).toBePrincipal(deployer);
    expect(readOnly("get-backend-principal")).toBePrincipal(deployer);
    expect(readOnly("get-sbtc-token-principal")).toBeNone();
    expect(readOnly("is-paused")).toBeBool(false);
    expect(readOnly("is-voucher-used", [Cl.uint(0)])).toBeBool(false);
  });
});

describe("set-sbtc-token-principal", () => {
  it("lets the admin set the sBTC contract once and prints it", () => {
    const { result, events } = call("set-sbtc-token-principal", [Cl.principal(SBTC)], deployer);
    expectOk(result);
    expect(readOnly("get-sbtc-token-principal")).toBeSome(Cl.principal(SBTC));
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("sbtc-token-principal-set"), token: Cl.principal(SBTC) }),
    ]);
  });

  it("refuses a second call with ERR-ALREADY-INITIALIZED (u204), keeping the first value", () => {
    expectOk(call("set-sbtc-token-principal", [Cl.principal(SBTC)], deployer).result);
    const other = `${deployer}.sip-010-trait`;
    expectErr(call("set-sbtc-token-principal", [Cl.principal(other)], deployer).result, ERR.ALREADY_INITIALIZED);
    expect(readOnly("get-sbtc-token-principal")).toBeSome(Cl.principal(SBTC));
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200), whatever the principal", () => {
    expectErr(call("set-sbtc-token-principal", [Cl.principal(SBTC)], mallory).result, ERR.NOT_AUTHORIZED);
    // Authorization is checked before the argument, so outsiders learn nothing from the error.
    expectErr(call("set-sbtc-token-principal", [Cl.principal(alice)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("get-sbtc-token-principal")).toBeNone();
  });

  it("refuses a standard (non-contract) principal with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    expectErr(call("set-sbtc-token-principal", [Cl.principal(alice)], deployer).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(readOnly("get-sbtc-token-principal")).toBeNone();
  });

  it("refuses a contract principal of another network with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    const mainnetSbtc = "SM3VDXK3WZZSA84XXFKAFAF15NNZX32CTSG82JFQ4.sbtc-token";
    expectErr(
      call("set-sbtc-token-principal", [Cl.principal(mainnetSbtc)], deployer).result,
      ERR.INVALID_TOKEN_CONTRACT,
    );
  });
});

describe("set-backend-principal", () => {
  it("lets the admin rotate the backend key and prints the previous and new principal", () => {
    const { result, events } = call("set-backend-principal", [Cl.principal(backend)], deployer);
    expectOk(result);
    expect(readOnly("get-backend-principal")).toBePrincipal(backend);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("backend-principal-set"),
        previous: Cl.principal(deployer),
        backend: Cl.principal(backend),
      }),
    ]);

    expectOk(call("set-backend-principal", [Cl.principal(bob)], deployer).result);
    expect(readOnly("get-backend-principal")).toBePrincipal(bob);
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200), even the backend itself", () => {
    expectOk(call("set-backend-principal", [Cl.principal(backend)], deployer).result);
    expectErr(call("set-backend-principal", [Cl.principal(mallory)], mallory).result, ERR.NOT_AUTHORIZED);
    expectErr(call("set-backend-principal", [Cl.principal(mallory)], backend).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("get-backend-principal")).toBePrincipal(backend);
  });
});

describe("set-paused", () => {
  it("lets the admin pause and unpause, printing each change", () => {
    const paused = call("set-paused", [Cl.bool(true)], deployer);
    expectOk(paused.result);
    expect(readOnly("is-paused")).toBeBool(true);
    expect(printedEvents(paused.events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("paused-set"), paused: Cl.bool(true) }),
    ]);

    expectOk(call("set-paused", [Cl.bool(false)], deployer).result);
    expect(readOnly("is-paused")).toBeBool(false);
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200)", () => {
    expectErr(call("set-paused", [Cl.bool(true)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("is-paused")).toBeBool(false);
  });
});

describe("set-contract-admin", () => {
  it("hands administration over: the new admin acts, the old one no longer can", () => {
    const { result, events } = call("set-contract-admin", [Cl.principal(alice)], deployer);
    expectOk(result);
    expect(readOnly("get-contract-admin")).toBePrincipal(alice);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("contract-admin-set"),
        previous: Cl.principal(deployer),
        admin: Cl.principal(alice),
      }),
    ]);

    expectErr(call("set-paused", [Cl.bool(true)], deployer).result, ERR.NOT_AUTHORIZED);
    expectOk(call("set-paused", [Cl.bool(true)], alice).result);
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200)", () => {
    expectErr(call("set-contract-admin", [Cl.principal(mallory)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly("get-contract-admin")).toBePrincipal(deployer);
  });
});
