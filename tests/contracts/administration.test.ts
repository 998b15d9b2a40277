import { Cl, type ClarityValue } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import {
  alice,
  backend,
  call,
  carol,
  deployer,
  deposit,
  ERR,
  expectErr,
  expectOk,
  flowsCV,
  handRole,
  initializeVault,
  mallory,
  printedEvents,
  readOnly,
  ROLES,
  rolesCV,
  SBTC,
  STX,
  totals,
  voucher,
  withdraw,
} from "./vault";

function setOutflowLimit(limitBps: bigint, stxFloor: bigint, sbtcFloor: bigint, sender: string) {
  return call(VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(limitBps), Cl.uint(stxFloor), Cl.uint(sbtcFloor)], sender);
}

function outflowCap(token: "STX" | "sBTC"): ClarityValue {
  const outflow = readOnly(VAULT_FUNCTIONS.getOutflow, [token === "STX" ? STX : Cl.some(Cl.principal(SBTC))]);
  const cap = outflow.type === "tuple" ? outflow.value.cap : undefined;
  if (!cap) throw new Error(`${VAULT_FUNCTIONS.getOutflow} returned no cap`);
  return cap;
}

describe("initial state", () => {
  it("starts empty, unpaused, not shut down, with no sBTC principal and no flows", () => {
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxBalance)).toBeUint(0n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalSbtcBalance)).toBeUint(0n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalStxLocked)).toBeUint(0n);
    expect(readOnly(VAULT_FUNCTIONS.getTotalSbtcLocked)).toBeUint(0n);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeNone();
    expect(readOnly(VAULT_FUNCTIONS.isPaused)).toBeBool(false);
    expect(readOnly(VAULT_FUNCTIONS.isShutDown)).toBeBool(false);
    expect(readOnly(VAULT_FUNCTIONS.getFlows)).toEqual(flowsCV({}));
    expect(readOnly(VAULT_FUNCTIONS.getProviderRecord, [Cl.principal(alice)])).toBeNone();
    expect(readOnly(VAULT_FUNCTIONS.getCheckpoint)).toBeNone();
  });

  it("gives all four roles to the deployer, the hot ones as (some deployer), with nothing pending", () => {
    expect(readOnly(VAULT_FUNCTIONS.getRoles)).toEqual(
      rolesCV({ admin: deployer, guardian: deployer, operator: deployer, signer: deployer }),
    );
    for (const role of ROLES) {
      expect(readOnly(VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii(role)])).toBeNone();
    }
  });

  it("uses the default outflow limit: 1,000 bps with floors of 1,000 STX and 0.1 sBTC", () => {
    // An empty pool's share is 0, so the cap is the floor.
    expect(outflowCap("STX")).toEqual(Cl.uint(1_000_000_000n));
    expect(outflowCap("sBTC")).toEqual(Cl.uint(10_000_000n));
  });
});

describe(VAULT_FUNCTIONS.setSbtcTokenPrincipal, () => {
  it("lets the admin set the sBTC contract once and prints it", () => {
    const { result, events } = call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer);
    expectOk(result);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(SBTC));
    expect(printedEvents(events)).toEqual([
      Cl.tuple({ event: Cl.stringAscii("sbtc-token-principal-set"), token: Cl.principal(SBTC) }),
    ]);
  });

  it("refuses a second call with ERR-ALREADY-INITIALIZED (u204), keeping the first value", () => {
    expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer).result);
    const other = `${deployer}.sip-010-trait`;
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(other)], deployer).result, ERR.ALREADY_INITIALIZED);
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], deployer).result, ERR.ALREADY_INITIALIZED);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(SBTC));
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200), whatever the principal", () => {
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], mallory).result, ERR.NOT_AUTHORIZED);
    // Authorization is checked before the argument, so outsiders learn nothing from the error.
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(alice)], mallory).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeNone();
  });

  it("refuses the guardian and the operator when they are not the admin (u200)", () => {
    handRole("guardian", carol);
    handRole("operator", backend);
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], carol).result, ERR.NOT_AUTHORIZED);
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(SBTC)], backend).result, ERR.NOT_AUTHORIZED);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeNone();
  });

  it("refuses a standard (non-contract) principal with ERR-INVALID-TOKEN-CONTRACT (u202)", () => {
    expectErr(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(alice)], deployer).result, ERR.INVALID_TOKEN_CONTRACT);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeNone();
  });

  it("accepts a contract principal of another network: simnet deploys the real sBTC contracts at their mainnet address", () => {
    const mainnetSbtc = "SM3VDXK3WZZSA84XXFKAFAF15NNZX32CTSG82JFQ4.sbtc-token";
    expectOk(call(VAULT_FUNCTIONS.setSbtcTokenPrincipal, [Cl.principal(mainnetSbtc)], deployer).result);
    expect(readOnly(VAULT_FUNCTIONS.getSbtcTokenPrincipal)).toBeSome(Cl.principal(mainnetSbtc));
  });
});

describe(VAULT_FUNCTIONS.setOutflowLimit, () => {
  it("lets the admin set the limit and both floors, printing outflow-limit-set", () => {
    const { result, events } = setOutflowLimit(2_500n, 5_000n, 700n, deployer);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("outflow-limit-set"),
        "limit-bps": Cl.uint(2_500n),
        "stx-floor": Cl.uint(5_000n),
        "sbtc-floor": Cl.uint(700n),
      }),
    ]);
    // Empty pool: the caps are the new floors.
    expect(outflowCap("STX")).toEqual(Cl.uint(5_000n));
    expect(outflowCap("sBTC")).toEqual(Cl.uint(700n));

    // 25% of 100,000 = 25,000 is above the floor, so it becomes the cap.
    expectOk(deposit(alice, 100_000n).result);
    expect(outflowCap("STX")).toEqual(Cl.uint(25_000n));
  });

  it("accepts exactly 10,000 bps (the whole balance per window)", () => {
    expectOk(deposit(alice, 100_000n).result);
    expectOk(setOutflowLimit(10_000n, 0n, 0n, deployer).result);
    expect(outflowCap("STX")).toEqual(Cl.uint(100_000n));
  });

  it("refuses more than 10,000 bps with ERR-INVALID-AMOUNT (u208), keeping the old limit", () => {
    expectErr(setOutflowLimit(10_001n, 0n, 0n, deployer).result, ERR.INVALID_AMOUNT);
    expect(outflowCap("STX")).toEqual(Cl.uint(1_000_000_000n));
  });

  it("accepts a zero limit and zero floors, which stop every withdrawal (u213)", () => {
    initializeVault();
    expectOk(deposit(alice, 100_000n).result);
    const { result, events } = setOutflowLimit(0n, 0n, 0n, deployer);
    expectOk(result);
    expect(printedEvents(events)).toEqual([
      Cl.tuple({
        event: Cl.stringAscii("outflow-limit-set"),
        "limit-bps": Cl.uint(0n),
        "stx-floor": Cl.uint(0n),
        "sbtc-floor": Cl.uint(0n),
      }),
    ]);
    expect(outflowCap("STX")).toEqual(Cl.uint(0n));
    expect(outflowCap("sBTC")).toEqual(Cl.uint(0n));
    expectErr(withdraw(voucher({ provider: alice, amount: 1n, nonce: 1n })).result, ERR.OUTFLOW_LIMIT);
    expect(totals("STX").balance).toBe(100_000n);
  });

  it("refuses anyone but the admin with ERR-NOT-AUTHORIZED (u200): outsiders, the guardian, the operator", () => {
    initializeVault();
    handRole("guardian", carol);
    for (const sender of [mallory, carol, backend]) {
      expectErr(setOutflowLimit(10_000n, 0n, 0n, sender).result, ERR.NOT_AUTHORIZED);
    }
    expect(outflowCap("STX")).toEqual(Cl.uint(1_000_000_000n));
  });
});
