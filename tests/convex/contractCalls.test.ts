import { Cl, Pc } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import { readChainConfig } from "../../convex/config";
import { depositCall, premiumCall, withdrawCall } from "../../convex/chain/contractCalls";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import { ALICE, BOB, SBTC, VAULT } from "./liquidityFixtures";

const config = readChainConfig({ STACKS_NETWORK: "testnet", VAULT_CONTRACT_ID: VAULT, SBTC_CONTRACT_ID: SBTC });

describe("user-signed vault calls decode back to exactly what was asked", () => {
  it(`${VAULT_FUNCTIONS.payPremium}: policy id, amount and token, with the payer sending exactly the premium`, () => {
    const call = premiumCall(config, BOB, 42n, "sBTC", 1_234n);
    expect(call).toMatchObject({ contract: VAULT, functionName: VAULT_FUNCTIONS.payPremium, postConditionMode: "deny", network: "testnet" });
    expect(call.functionArgs.map((hex) => Cl.deserialize(hex))).toEqual([
      Cl.uint(42n),
      Cl.uint(1_234n),
      Cl.some(Cl.principal(SBTC)),
    ]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "ft-postcondition", address: BOB, condition: "eq", amount: "1234", asset: `${SBTC}::sbtc-token` },
    ]);
  });

  it(`${VAULT_FUNCTIONS.depositFunds} in STX: the depositor sends exactly the amount of STX`, () => {
    const call = depositCall(config, ALICE, "STX", 5n);
    expect(call.functionArgs.map((hex) => Cl.deserialize(hex))).toEqual([Cl.uint(5n), Cl.none()]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "stx-postcondition", address: ALICE, condition: "eq", amount: "5" },
    ]);
  });

  it(`${VAULT_FUNCTIONS.withdrawFunds} in sBTC: the vault sends exactly the amount of the sBTC asset`, () => {
    const signature = "ab".repeat(65);
    const call = withdrawCall(config, { token: "sBTC", amount: 77n, nonce: 9n, expiresAt: 500n, signature });
    expect(call.functionArgs.map((hex) => Cl.deserialize(hex))).toEqual([
      Cl.uint(77n),
      Cl.some(Cl.principal(SBTC)),
      Cl.uint(9n),
      Cl.uint(500n),
      Cl.bufferFromHex(signature),
    ]);
    expect(call.postConditions.map((hex) => Pc.fromHex(hex))).toEqual([
      { type: "ft-postcondition", address: VAULT, condition: "eq", amount: "77", asset: `${SBTC}::sbtc-token` },
    ]);
  });

  it("refuses a configuration without the vault contract (CONFIGURATION_MISSING)", () => {
    expect(() => readChainConfig({ SBTC_CONTRACT_ID: SBTC })).toThrow(/VAULT_CONTRACT_ID/);
  });
});
