/** The post-condition checker on its own, against the rules of stacks-core. */
import { Cl, Pc, type PostCondition } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import type { ChainEvent } from "../../devnet/events";
import { checkPostConditions, type PostConditionModeName } from "../../devnet/postConditions";

const VAULT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.liquidity-pool";
const ALICE = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
const BOB = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
const TOKEN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.sbtc-token::sbtc-token" as const;

const stxSent = (sender: string, amount: bigint): ChainEvent => ({ kind: "stx_transfer", sender, recipient: VAULT, amount, memo: "" });
const ftSent = (sender: string, amount: bigint): ChainEvent => ({ kind: "ft_transfer", assetId: TOKEN, sender, recipient: VAULT, amount });

function check(mode: PostConditionModeName, postConditions: PostCondition[], events: ChainEvent[]) {
  return checkPostConditions({ mode, postConditions, origin: ALICE, events }).ok;
}

describe("checkPostConditions", () => {
  it("compares what each principal sent with every comparator", () => {
    const sent = [stxSent(ALICE, 100n)];
    expect(check("deny", [Pc.principal(ALICE).willSendEq(100).ustx()], sent)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willSendEq(99).ustx()], sent)).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendGt(99).ustx()], sent)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willSendGt(100).ustx()], sent)).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendGte(100).ustx()], sent)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willSendLt(100).ustx()], sent)).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendLt(101).ustx()], sent)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willSendLte(100).ustx()], sent)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willSendLte(99).ustx()], sent)).toBe(false);
  });

  it("sums transfers and burns, and resolves the origin principal", () => {
    const events: ChainEvent[] = [stxSent(ALICE, 60n), { kind: "stx_burn", sender: ALICE, amount: 40n }];
    expect(check("deny", [Pc.origin().willSendEq(100).ustx()], events)).toBe(true);
  });

  it("fails a condition on a principal that sent nothing (an erroring call moved nothing)", () => {
    expect(check("deny", [Pc.principal(ALICE).willSendEq(100).ustx()], [])).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendLte(100).ustx()], [])).toBe(true);
  });

  it("in deny mode refuses any movement no condition names, per principal and asset", () => {
    expect(check("deny", [], [stxSent(ALICE, 1n)])).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendEq(5).ustx()], [stxSent(ALICE, 5n), ftSent(ALICE, 5n)])).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendEq(5).ustx()], [stxSent(ALICE, 5n), stxSent(BOB, 5n)])).toBe(false);
    expect(
      check("deny", [Pc.principal(ALICE).willSendEq(5).ustx(), Pc.principal(ALICE).willSendEq(5).ft("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.sbtc-token", "sbtc-token")], [
        stxSent(ALICE, 5n),
        ftSent(ALICE, 5n),
      ]),
    ).toBe(true);
  });

  it("in allow mode checks only the listed conditions, in originator mode guards only the origin", () => {
    expect(check("allow", [], [stxSent(ALICE, 1n), stxSent(BOB, 1n)])).toBe(true);
    expect(check("allow", [Pc.principal(ALICE).willSendEq(2).ustx()], [stxSent(ALICE, 1n)])).toBe(false);
    expect(check("originator", [], [stxSent(BOB, 1n)])).toBe(true);
    expect(check("originator", [], [stxSent(ALICE, 1n)])).toBe(false);
  });

  it("handles NFT sent / not-sent conditions by value", () => {
    const nft = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.nft::ticket" as const;
    const moved: ChainEvent[] = [{ kind: "nft_transfer", assetId: nft, sender: ALICE, recipient: BOB, valueHex: `0x${Cl.serialize(Cl.uint(1))}` }];
    expect(check("deny", [Pc.principal(ALICE).willSendAsset().nft(nft, Cl.uint(1))], moved)).toBe(true);
    expect(check("deny", [Pc.principal(ALICE).willNotSendAsset().nft(nft, Cl.uint(1))], moved)).toBe(false);
    expect(check("deny", [Pc.principal(ALICE).willSendAsset().nft(nft, Cl.uint(2))], moved)).toBe(false);
    expect(check("deny", [], moved)).toBe(false);
  });
});
