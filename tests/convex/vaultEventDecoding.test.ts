/**
 * Decoding the vault's printed tuples, built here exactly as the vault prints
 * them (contracts/liquidity-pool.clar): money events with their flow `seq`,
 * every governance event, and what is refused. Then every kind through the
 * sync's apply mutation: governance events are recorded once and move no
 * money in the books.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import { internal } from "../../convex/_generated/api";
import { decodeVaultPrint, type Decoded } from "../../convex/chain/vaultEventDecoding";
import { applyBatches } from "../../convex/eventSync";
import type { GovernanceEvent, SyncedEvent } from "../../convex/validators";
import { newBackend } from "./convexTest";
import { ALICE, SIGNER_ADDRESS, BOB, DEPLOYER, depositEvent, SBTC } from "./liquidityFixtures";

const POSITION = { txid: `0x${"ab".repeat(32)}`, eventIndex: 3, blockHeight: 77n, blockHash: `0x${"cd".repeat(32)}` };
const ROOT = `0x${"5e".repeat(32)}`;

function decode(value: ClarityValue): Decoded {
  return decodeVaultPrint(`0x${Cl.serialize(value)}`, POSITION, SBTC);
}

const print = (name: string, fields: Record<string, ClarityValue>) => Cl.tuple({ event: Cl.stringAscii(name), ...fields });

const flows = Cl.tuple({ "stx-in": Cl.uint(9_000n), "stx-out": Cl.uint(1_000n), "sbtc-in": Cl.uint(70n), "sbtc-out": Cl.uint(0n) });
const leafTuple = (provider: string, stx: bigint) =>
  Cl.tuple({
    provider: Cl.principal(provider),
    stx: Cl.uint(stx),
    sbtc: Cl.uint(5n),
    "stx-in": Cl.uint(stx + 100n),
    "stx-out": Cl.uint(100n),
    "sbtc-in": Cl.uint(5n),
    "sbtc-out": Cl.uint(0n),
  });
const leafOf = (provider: string, stx: bigint) => ({
  provider,
  stx,
  sbtc: 5n,
  stxIn: stx + 100n,
  stxOut: 100n,
  sbtcIn: 5n,
  sbtcOut: 0n,
});

/** Each governance event the vault prints, and what the decoder must make of it. */
const GOVERNANCE: [string, ClarityValue, GovernanceEvent][] = [
  [
    "sbtc-token-principal-set",
    print("sbtc-token-principal-set", { token: Cl.principal(SBTC) }),
    { ...POSITION, kind: "sbtc-token-principal-set", tokenContract: SBTC },
  ],
  [
    "role-proposed",
    print("role-proposed", { role: Cl.stringAscii("operator"), who: Cl.principal(SIGNER_ADDRESS), eta: Cl.uint(146n) }),
    { ...POSITION, kind: "role-proposed", role: "operator", who: SIGNER_ADDRESS, eta: 146n },
  ],
  [
    "role-set (with a previous holder)",
    print("role-set", {
      role: Cl.stringAscii("signer"),
      previous: Cl.some(Cl.principal(DEPLOYER)),
      who: Cl.principal(SIGNER_ADDRESS),
    }),
    { ...POSITION, kind: "role-set", role: "signer", previous: DEPLOYER, who: SIGNER_ADDRESS },
  ],
  [
    "role-set (after the hot keys were revoked)",
    print("role-set", { role: Cl.stringAscii("operator"), previous: Cl.none(), who: Cl.principal(SIGNER_ADDRESS) }),
    { ...POSITION, kind: "role-set", role: "operator", previous: null, who: SIGNER_ADDRESS },
  ],
  [
    "role-cancelled",
    print("role-cancelled", { role: Cl.stringAscii("guardian") }),
    { ...POSITION, kind: "role-cancelled", role: "guardian" },
  ],
  ["paused-set", print("paused-set", { paused: Cl.bool(true) }), { ...POSITION, kind: "paused-set", paused: true }],
  ["hot-keys-revoked", print("hot-keys-revoked", {}), { ...POSITION, kind: "hot-keys-revoked" }],
  [
    "outflow-limit-set",
    print("outflow-limit-set", { "limit-bps": Cl.uint(500n), "stx-floor": Cl.uint(1_000_000_000n), "sbtc-floor": Cl.uint(0n) }),
    { ...POSITION, kind: "outflow-limit-set", limitBps: 500n, stxFloor: 1_000_000_000n, sbtcFloor: 0n },
  ],
  [
    "checkpoint-posted",
    print("checkpoint-posted", {
      epoch: Cl.uint(4n),
      root: Cl.bufferFromHex(ROOT.slice(2)),
      "stx-sum": Cl.uint(8_000n),
      "sbtc-sum": Cl.uint(70n),
      "as-of-seq": Cl.uint(12n),
      flows,
      "leaf-count": Cl.uint(2n),
    }),
    {
      ...POSITION,
      kind: "checkpoint-posted",
      epoch: 4n,
      root: ROOT,
      stxSum: 8_000n,
      sbtcSum: 70n,
      asOfSeq: 12n,
      flows: { stxIn: 9_000n, stxOut: 1_000n, sbtcIn: 70n, sbtcOut: 0n },
      leafCount: 2n,
    },
  ],
  [
    "checkpoint-vetoed",
    print("checkpoint-vetoed", { epoch: Cl.uint(4n) }),
    { ...POSITION, kind: "checkpoint-vetoed", epoch: 4n },
  ],
  [
    "checkpoint-leaves",
    print("checkpoint-leaves", {
      epoch: Cl.uint(4n),
      offset: Cl.uint(100n),
      leaves: Cl.list([leafTuple(ALICE, 3_000n), leafTuple(BOB, 5_000n)]),
    }),
    {
      ...POSITION,
      kind: "checkpoint-leaves",
      epoch: 4n,
      offset: 100n,
      leaves: [leafOf(ALICE, 3_000n), leafOf(BOB, 5_000n)],
    },
  ],
  [
    "shutdown",
    print("shutdown", {
      by: Cl.principal(DEPLOYER),
      "stx-assets": Cl.uint(8_000n),
      "stx-liabilities": Cl.uint(8_100n),
      "sbtc-assets": Cl.uint(70n),
      "sbtc-liabilities": Cl.uint(70n),
    }),
    {
      ...POSITION,
      kind: "shutdown",
      by: DEPLOYER,
      stxAssets: 8_000n,
      stxLiabilities: 8_100n,
      sbtcAssets: 70n,
      sbtcLiabilities: 70n,
    },
  ],
  [
    "exit-claimed (STX)",
    print("exit-claimed", { provider: Cl.principal(ALICE), token: Cl.none(), owed: Cl.uint(3_000n), paid: Cl.uint(2_962n) }),
    { ...POSITION, kind: "exit-claimed", provider: ALICE, token: "STX", owed: 3_000n, paid: 2_962n },
  ],
  [
    "exit-claimed (sBTC)",
    print("exit-claimed", {
      provider: Cl.principal(BOB),
      token: Cl.some(Cl.principal(SBTC)),
      owed: Cl.uint(5n),
      paid: Cl.uint(5n),
    }),
    { ...POSITION, kind: "exit-claimed", provider: BOB, token: "sBTC", owed: 5n, paid: 5n },
  ],
];

/** Each money event's own fields, beside its token and totals. */
const MONEY_EVENT_FIELDS: Record<string, Record<string, ClarityValue>> = {
  "funds-deposited": { depositor: Cl.principal(ALICE), seq: Cl.uint(1n) },
  "funds-withdrawn": { provider: Cl.principal(ALICE), nonce: Cl.uint(1n), seq: Cl.uint(1n) },
  "premium-paid": { "policy-id": Cl.uint(1n), payer: Cl.principal(ALICE) },
  "collateral-locked": { "policy-ids": Cl.list([Cl.uint(1n)]) },
  "collateral-released": { "policy-ids": Cl.list([Cl.uint(1n)]) },
  "settlement-paid": { "policy-id": Cl.uint(1n), buyer: Cl.principal(ALICE) },
};

const totals = (amount: bigint) => ({
  amount: Cl.uint(amount),
  "total-balance": Cl.uint(10_000n),
  "total-locked": Cl.uint(2_000n),
});

describe("decodeVaultPrint: money events", () => {
  it("decodes funds-deposited and funds-withdrawn with their flow seq", () => {
    expect(decode(print("funds-deposited", { depositor: Cl.principal(ALICE), token: Cl.none(), seq: Cl.uint(7n), ...totals(500n) }))).toEqual({
      kind: "money",
      event: {
        ...POSITION,
        kind: "funds-deposited",
        depositor: ALICE,
        token: "STX",
        amount: 500n,
        seq: 7n,
        totalBalance: 10_000n,
        totalLocked: 2_000n,
      },
    });
    const withdrawn = print("funds-withdrawn", {
      provider: Cl.principal(BOB),
      token: Cl.some(Cl.principal(SBTC)),
      nonce: Cl.uint(3n),
      seq: Cl.uint(8n),
      ...totals(40n),
    });
    expect(decode(withdrawn)).toEqual({
      kind: "money",
      event: {
        ...POSITION,
        kind: "funds-withdrawn",
        provider: BOB,
        token: "sBTC",
        amount: 40n,
        nonce: 3n,
        seq: 8n,
        totalBalance: 10_000n,
        totalLocked: 2_000n,
      },
    });
  });

  it("refuses a deposit or withdrawal without seq (the version 1 shape)", () => {
    const v1 = decode(print("funds-deposited", { depositor: Cl.principal(ALICE), token: Cl.none(), ...totals(500n) }));
    expect(v1.kind).toBe("malformed");
  });

  it.each(Object.entries(MONEY_EVENT_FIELDS))("refuses %s with a zero amount, which the vault never prints (u208)", (name, fields) => {
    expect(decode(print(name, { ...fields, token: Cl.none(), ...totals(0n) }))).toEqual({
      kind: "malformed",
      reason: "unexpected tuple: a zero amount, which the vault never prints (u208)",
    });
  });

  it("refuses a tuple with a field the vault does not print", () => {
    const extra = decode(print("premium-paid", { "policy-id": Cl.uint(1n), payer: Cl.principal(ALICE), token: Cl.none(), memo: Cl.uint(1n), ...totals(5n) }));
    expect(extra.kind).toBe("malformed");
  });
});

describe("decodeVaultPrint: governance events", () => {
  it.each(GOVERNANCE)("decodes %s exactly, as a governance event", (_name, printed, expected) => {
    expect(decode(printed)).toEqual({ kind: "governance", event: expected });
  });

  it("refuses the version 1 role events, which the vault no longer prints", () => {
    expect(decode(print("backend-principal-set", { principal: Cl.principal(SIGNER_ADDRESS) }))).toEqual({
      kind: "malformed",
      reason: expect.stringMatching(/^unexpected tuple/),
    });
    expect(decode(print("contract-admin-set", { admin: Cl.principal(DEPLOYER) })).kind).toBe("malformed");
  });

  it("refuses a governance tuple of the wrong shape, an unknown exit token, and numbers beyond int64", () => {
    expect(decode(print("paused-set", { paused: Cl.uint(1n) })).kind).toBe("malformed");
    expect(decode(print("role-set", { role: Cl.stringAscii("operator"), who: Cl.principal(BOB) })).kind).toBe("malformed");
    expect(
      decode(print("exit-claimed", { provider: Cl.principal(ALICE), token: Cl.some(Cl.principal(`${BOB}.fake-sbtc`)), owed: Cl.uint(1n), paid: Cl.uint(1n) })),
    ).toEqual({ kind: "malformed", reason: `unknown token ${BOB}.fake-sbtc` });
    expect(
      decode(print("outflow-limit-set", { "limit-bps": Cl.uint(1_000n), "stx-floor": Cl.uint(2n ** 64n), "sbtc-floor": Cl.uint(0n) })),
    ).toEqual({ kind: "malformed", reason: "amount beyond int64" });
  });
});

describe("governance events through the sync's apply mutation", () => {
  const events = (): SyncedEvent[] =>
    GOVERNANCE.map(([, , event], i) => ({ ...event, txid: `0x${"f".repeat(56)}${(i + 1).toString(16).padStart(8, "0")}`, eventIndex: 0 }));

  it("are cheap: they share batches with deposits", () => {
    const mixed = [depositEvent(ALICE, "STX", 1n, { totalBalance: 1n, totalLocked: 0n }), ...events()];
    expect(applyBatches(mixed).map((b) => b.length)).toEqual([mixed.length]);
  });

  it("records every kind once, as printed, and changes no balance, ledger row or pool mirror (only alerts and the vault's state)", async () => {
    const t = newBackend();
    await t.mutation(internal.tierConfigs.seedDefaults, {});
    const deposit = depositEvent(ALICE, "STX", 10_000n, { totalBalance: 10_000n, totalLocked: 0n });
    await t.mutation(internal.eventSync.applyBatch, { events: [deposit] });
    const books = () =>
      t.run(async (ctx) => ({
        balances: await ctx.db.query("providerBalances").collect(),
        ledger: await ctx.db.query("balanceLedger").collect(),
        mirror: await ctx.db.query("poolMetrics").collect(),
        providers: await ctx.db.query("providers").collect(),
        alerts: await ctx.db.query("alerts").collect(),
      }));
    const { alerts: alertsBefore, ...before } = await books();

    const governance = events();
    expect(await t.mutation(internal.eventSync.applyBatch, { events: governance })).toEqual({
      applied: 0,
      duplicate: 0,
      unmatched: 0,
      recorded: governance.length,
    });
    const { alerts, ...after } = await books();
    expect(after).toEqual(before);
    expect(alertsBefore).toEqual([]);
    expect(alerts.map((a) => a.kind)).toEqual([
      "role-proposed",
      "role-set",
      "role-set",
      "paused-set",
      "hot-keys-revoked",
      "outflow-limit-set",
      "checkpoint-unknown",
      "checkpoint-vetoed",
      "vault-shut-down",
    ]);
    const stored = await t.run(async (ctx) => (await ctx.db.query("vaultEvents").collect()).slice(1));
    expect(stored.map((e) => ({ txid: e.txid, status: e.status, event: e.event }))).toEqual(
      governance.map((event) => ({ txid: event.txid, status: "recorded", event })),
    );

    // A second sync of the same events finds them all recorded already.
    expect(await t.mutation(internal.eventSync.applyBatch, { events: governance })).toEqual({
      applied: 0,
      duplicate: governance.length,
      unmatched: 0,
      recorded: 0,
    });
  });

  it("leaves a recorded event as reversed when its block leaves the chain, with no change to the books", async () => {
    const t = newBackend();
    const [event] = events();
    await t.mutation(internal.vaultEvents.apply, { event: event! });
    expect(await t.mutation(internal.eventSync.reverse, { txid: event!.txid, eventIndex: 0 })).toBe("reversed");
    const stored = await t.run(async (ctx) => ctx.db.query("vaultEvents").collect());
    expect(stored.map((e) => e.status)).toEqual(["reversed"]);
    expect(await t.run(async (ctx) => ctx.db.query("balanceLedger").collect())).toEqual([]);
    // Mined again on the winning fork: recorded again.
    expect(await t.mutation(internal.vaultEvents.apply, { event: { ...event!, blockHash: `0x${"e".repeat(64)}` } })).toBe(
      "recorded",
    );
  });
});
