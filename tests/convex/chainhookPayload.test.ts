/**
 * Chainhooks deliveries (convex/chain/chainhookPayload.ts): a realistic
 * delivery — operations laid out as Hiro's payload anatomy shows them (the
 * fee, the contract call, a debit and a credit per transfer, then the print),
 * values as hex or as `{ hex, repr }` — decodes to exactly the events the
 * poller decodes from the same prints; other contracts, other topics, failed
 * transactions and undecodable prints are kept apart; wrong shapes are refused.
 */
import { Cl, type ClarityValue } from "@stacks/transactions";
import { describe, expect, it } from "vitest";

import {
  chainhookNetworkFor,
  parseChainhookDelivery,
  placeEvent,
  vaultPrintsOfDelivery,
  type ChainhookDeliveryInput,
} from "../../convex/chain/chainhookPayload";
import { decodeVaultPrint } from "../../convex/chain/vaultEventDecoding";
import { ALICE, BOB, SBTC, VAULT } from "./liquidityFixtures";

const OTHER_CONTRACT = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG.some-token";
const hash = (byte: string) => `0x${byte.repeat(32)}`;
const TX_STX_DEPOSIT = hash("a1");
const TX_FAILED = hash("a2");
const TX_OTHER = hash("a3");
const TX_SBTC_DEPOSIT = hash("a4");
const TX_LOCK = hash("a5");
const BLOCK = { index: 120, hash: hash("b1") };
const ROLLED_BACK = { index: 119, hash: hash("b0") };

const hexOf = (value: ClarityValue) => `0x${Cl.serialize(value)}`;
const print = (name: string, fields: Record<string, ClarityValue>) => Cl.tuple({ event: Cl.stringAscii(name), ...fields });
const totals = (balance: bigint, locked: bigint) => ({ "total-balance": Cl.uint(balance), "total-locked": Cl.uint(locked) });

const STX_DEPOSIT = print("funds-deposited", {
  depositor: Cl.principal(ALICE),
  token: Cl.none(),
  amount: Cl.uint(5_000_000n),
  seq: Cl.uint(7n),
  ...totals(15_000_000n, 2_000_000n),
});
const SBTC_DEPOSIT = print("funds-deposited", {
  depositor: Cl.principal(BOB),
  token: Cl.some(Cl.principal(SBTC)),
  amount: Cl.uint(25_000n),
  seq: Cl.uint(8n),
  ...totals(125_000n, 0n),
});
const LOCKED = print("collateral-locked", { "policy-ids": Cl.list([Cl.uint(4n), Cl.uint(9n)]), token: Cl.none(), amount: Cl.uint(900n), ...totals(15_000_000n, 2_000_900n) });
const PAUSED = print("paused-set", { paused: Cl.bool(false) });
/** A tuple the vault never prints: decodes to nothing. */
const GARBAGE = print("funds-deposited", { depositor: Cl.principal(ALICE) });

type Op = NonNullable<ChainhookDeliveryInput["event"]["apply"][number]["transactions"][number]["operations"]>[number];
const STX = { symbol: "STX", decimals: 6 };
const SBTC_CURRENCY = { symbol: "sbtc-token", decimals: 0, metadata: { asset_identifier: `${SBTC}::sbtc-token`, token_type: "ft" } };

function tx(
  txid: string,
  position: number,
  operations: Op[],
  status: "success" | "abort_by_response" | "problematic_skipped" = "success",
): ChainhookDeliveryInput["event"]["apply"][number]["transactions"][number] {
  return {
    transaction_identifier: { hash: txid },
    operations: operations.map((op, index) => ({ ...op, operation_identifier: { index } })),
    metadata: {
      canonical: true,
      microblock_canonical: true,
      execution_cost: { read_count: 5, read_length: 2441, runtime: 7807, write_count: 2, write_length: 1 },
      fee_rate: "3000",
      nonce: 12,
      type: "contract_call",
      position: { index: position, microblock_identifier: null },
      result: status === "success" ? "0x0703" : { hex: "0x080100000000000000000000000000000066", repr: "(err u102)" },
      sender_address: ALICE,
      sponsor_address: null,
      sponsored: false,
      status,
      vm_error: null,
    } as never,
  };
}

const id = { index: 0 };
const fee = (address: string): Op => ({ type: "fee", operation_identifier: id, status: "success", account: { address }, amount: { value: "-3000", currency: STX }, metadata: { sponsored: false } }) as Op;
const call = (address: string, fn: string): Op =>
  ({ type: "contract_call", operation_identifier: id, status: "success", account: { address }, metadata: { contract_identifier: VAULT, function_name: fn, args: [] } }) as Op;
const transfer = (from: string, to: string, value: bigint, currency: object): Op[] => [
  { type: "token_transfer", operation_identifier: id, status: "success", account: { address: from }, amount: { value: `-${value}`, currency } } as Op,
  { type: "token_transfer", operation_identifier: id, status: "success", account: { address: to }, amount: { value: `${value}`, currency } } as Op,
];
const log = (contract: string, value: string | { hex: string; repr: string }, topic = "print", status = "success"): Op =>
  ({ type: "contract_log", operation_identifier: id, status, metadata: { contract_identifier: contract, topic, value } }) as Op;

/** A fresh delivery each time, sharing no object (tests spoil it in place), as it comes off the wire. */
function delivery(): ChainhookDeliveryInput {
  return JSON.parse(JSON.stringify({
    chainhook: { uuid: "be4ab3ed-b606-4fe0-97c4-6c0b1ac9b185", name: "bithedge-vault-testnet" },
    event: {
      chain: "stacks",
      network: "testnet",
      apply: [
        {
          block_identifier: BLOCK,
          parent_block_identifier: ROLLED_BACK,
          timestamp: 1757977309,
          // Listed out of block order on purpose: the decoder orders by position.
          transactions: [
            tx(TX_SBTC_DEPOSIT, 3, [
              fee(BOB),
              call(BOB, "deposit-funds"),
              ...transfer(BOB, VAULT, 25_000n, SBTC_CURRENCY),
              // decode_clarity_values: the value comes as { hex, repr }, in upper case here.
              log(VAULT, { hex: hexOf(SBTC_DEPOSIT).toUpperCase().replace(/^0X/, "0x"), repr: "(tuple ...)" }),
            ]),
            tx(TX_STX_DEPOSIT, 0, [fee(ALICE), call(ALICE, "deposit-funds"), ...transfer(ALICE, VAULT, 5_000_000n, STX), log(VAULT, hexOf(STX_DEPOSIT))]),
            // Aborted: its print never happened.
            tx(TX_FAILED, 1, [fee(ALICE), call(ALICE, "deposit-funds"), log(VAULT, hexOf(STX_DEPOSIT), "print", "abort_by_response")], "abort_by_response"),
            // Another contract's print, and a log of the vault under another topic.
            tx(TX_OTHER, 2, [fee(ALICE), log(OTHER_CONTRACT, hexOf(STX_DEPOSIT)), log(VAULT, hexOf(PAUSED), "not-print")]),
            // Two vault prints in one transaction, one of which does not decode.
            tx(TX_LOCK, 4, [fee(ALICE), call(ALICE, "lock-collateral-aggregate"), log(VAULT, hexOf(LOCKED)), log(VAULT, hexOf(GARBAGE))]),
          ],
        },
        // A block without a vault print: left out.
        {
          block_identifier: { index: 121, hash: hash("b2") },
          parent_block_identifier: BLOCK,
          timestamp: 1757977311,
          transactions: [tx(hash("a6"), 0, [fee(ALICE), log(OTHER_CONTRACT, hexOf(PAUSED))])],
        },
      ],
      rollback: [
        {
          block_identifier: ROLLED_BACK,
          parent_block_identifier: { index: 118, hash: hash("af") },
          timestamp: 1757977300,
          transactions: [tx(hash("a7"), 0, [fee(ALICE), call(ALICE, "pause"), log(VAULT, hexOf(PAUSED))])],
        },
      ],
    },
  } satisfies ChainhookDeliveryInput)) as ChainhookDeliveryInput;
}

function parsed(input: unknown = delivery()) {
  const result = parseChainhookDelivery(input);
  if (!result.ok) throw new Error(`refused: ${result.problems}`);
  return result.delivery;
}

describe("vaultPrintsOfDelivery", () => {
  it("finds the vault's prints of successful transactions, in block order, with where each was delivered", () => {
    const decoded = vaultPrintsOfDelivery(parsed(), VAULT, SBTC);
    expect(decoded.uuid).toBe("be4ab3ed-b606-4fe0-97c4-6c0b1ac9b185");
    expect(decoded.network).toBe("testnet");
    expect(decoded.apply).toHaveLength(1);
    const [block] = decoded.apply;
    expect(block).toMatchObject({ height: 120n, hash: BLOCK.hash, parentHash: ROLLED_BACK.hash });
    expect(block?.prints).toEqual([
      // Operation 4: after the fee, the call and the transfer's debit and credit. The API numbers the same print event 1.
      { txid: TX_STX_DEPOSIT, txIndex: 0, operationIndex: 4, hex: hexOf(STX_DEPOSIT) },
      { txid: TX_SBTC_DEPOSIT, txIndex: 3, operationIndex: 4, hex: hexOf(SBTC_DEPOSIT) },
      { txid: TX_LOCK, txIndex: 4, operationIndex: 2, hex: hexOf(LOCKED) },
      { txid: TX_LOCK, txIndex: 4, operationIndex: 3, hex: hexOf(GARBAGE) },
    ]);
    expect(block?.rejected).toEqual([
      { txid: TX_LOCK, txIndex: 4, operationIndex: 3, hex: hexOf(GARBAGE), reason: expect.stringMatching(/unexpected tuple/) },
    ]);
  });

  it("decodes each print to exactly the event the poller decodes from the same print at the same place", () => {
    const [block] = vaultPrintsOfDelivery(parsed(), VAULT, SBTC).apply;
    const events = block!.events;
    expect(events.map((e) => e.event)).toEqual([
      {
        kind: "funds-deposited",
        depositor: ALICE,
        token: "STX",
        amount: 5_000_000n,
        seq: 7n,
        totalBalance: 15_000_000n,
        totalLocked: 2_000_000n,
      },
      { kind: "funds-deposited", depositor: BOB, token: "sBTC", amount: 25_000n, seq: 8n, totalBalance: 125_000n, totalLocked: 0n },
      { kind: "collateral-locked", policyIds: [4n, 9n], token: "STX", amount: 900n, totalBalance: 15_000_000n, totalLocked: 2_000_900n },
    ]);
    // Placed where the API lists it (its event index, its block hash), it is the poller's event.
    for (const [i, e] of events.entries()) {
      const position = { txid: e.txid, eventIndex: i + 1, blockHeight: 120n, blockHash: hash("c1") };
      const poller = decodeVaultPrint(e.hex, position, SBTC);
      expect(poller.kind).not.toBe("malformed");
      expect(placeEvent(e.event, position)).toEqual("event" in poller ? poller.event : null);
    }
  });

  it("lists rollback blocks newest first and apply blocks oldest first, whatever order they came in", () => {
    const input = delivery();
    const [first] = input.event.apply;
    const second = { ...first!, block_identifier: { index: 125, hash: hash("b5") }, parent_block_identifier: { index: 124, hash: hash("b4") } };
    input.event.apply = [second, first!];
    const older = { ...input.event.rollback[0]!, block_identifier: { index: 117, hash: hash("9f") } };
    input.event.rollback = [older, input.event.rollback[0]!];
    const decoded = vaultPrintsOfDelivery(parsed(input), VAULT, SBTC);
    expect(decoded.apply.map((b) => b.height)).toEqual([120n, 125n]);
    expect(decoded.rollback.map((b) => b.height)).toEqual([119n, 117n]);
    expect(decoded.rollback[0]?.events.map((e) => e.event.kind)).toEqual(["paused-set"]);
  });

  it("keeps nothing of a delivery for another contract", () => {
    const decoded = vaultPrintsOfDelivery(parsed(), OTHER_CONTRACT.replace("some-token", "other"), SBTC);
    expect(decoded).toMatchObject({ apply: [], rollback: [] });
  });
});

describe("parseChainhookDelivery", () => {
  it("accepts a transaction the node skipped as problematic, and applies none of its prints", () => {
    const input = delivery();
    input.event.apply[0]!.transactions.push(
      tx(hash("a8"), 5, [fee(ALICE), log(VAULT, hexOf(STX_DEPOSIT), "print", "problematic_skipped")], "problematic_skipped"),
    );
    // The same prints as the delivery without it: the skipped transaction's print never happened.
    expect(vaultPrintsOfDelivery(parsed(input), VAULT, SBTC)).toEqual(vaultPrintsOfDelivery(parsed(), VAULT, SBTC));
  });

  it("accepts fields and operation types it does not read", () => {
    const input = delivery() as unknown as { event: { apply: { transactions: { operations: object[] }[]; metadata?: object }[] } };
    input.event.apply[0]!.metadata = { canonical: true, tenure_height: 5 };
    input.event.apply[0]!.transactions[0]!.operations.push({ type: "some_future_operation", operation_identifier: { index: 9 }, status: "success" });
    expect(parseChainhookDelivery(input).ok).toBe(true);
  });

  const refused: [string, (d: ReturnType<typeof delivery>) => unknown][] = [
    ["not an object", () => "apply"],
    ["a bitcoin delivery", (d) => ({ ...d, event: { ...d.event, chain: "bitcoin" } })],
    ["an unknown network", (d) => ({ ...d, event: { ...d.event, network: "devnet" } })],
    ["no rollback list", (d) => ({ ...d, event: { ...d.event, rollback: undefined } })],
    ["no chainhook uuid", (d) => ({ ...d, chainhook: { name: "x" } })],
    ["a block hash that is not a hash", (d) => ((d.event.apply[0]!.block_identifier.hash = "0x1234"), d)],
    ["a negative block height", (d) => ((d.event.apply[0]!.block_identifier.index = -1), d)],
    ["a txid that is not a hash", (d) => ((d.event.apply[0]!.transactions[0]!.transaction_identifier.hash = "tx"), d)],
    ["an unknown transaction status", (d) => (((d.event.apply[0]!.transactions[0]!.metadata as { status: string }).status = "done"), d)],
    ["a transaction without a position", (d) => (delete (d.event.apply[0]!.transactions[0]!.metadata as { position?: unknown }).position, d)],
    [
      "a print without a value",
      (d) => (delete (d.event.apply[0]!.transactions[0]!.operations[4] as { metadata: { value?: unknown } }).metadata.value, d),
    ],
    ["a print whose value is not hex", (d) => (((d.event.apply[0]!.transactions[1]!.operations[4] as { metadata: { value: unknown } }).metadata.value = "0xzz"), d)],
    ["an operation without an index", (d) => (delete (d.event.apply[0]!.transactions[1]!.operations[0] as { operation_identifier?: unknown }).operation_identifier, d)],
  ];
  it.each(refused)("refuses %s, naming where", (_what, spoil) => {
    const result = parseChainhookDelivery(spoil(delivery()));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.length).toBeGreaterThan(0);
  });

  it("names the paths that did not parse, never the values", () => {
    const d = delivery();
    d.event.apply[0]!.block_identifier.hash = "secret-looking-value";
    const result = parseChainhookDelivery(d);
    expect(result).toEqual({ ok: false, problems: "event.apply.0.block_identifier.hash" });
  });
});

describe("chainhookNetworkFor", () => {
  it("maps a deployment's network to the Chainhooks network that serves it (devnet: the local emulator's testnet)", () => {
    expect(chainhookNetworkFor("mainnet")).toBe("mainnet");
    expect(chainhookNetworkFor("testnet")).toBe("testnet");
    expect(chainhookNetworkFor("devnet")).toBe("testnet");
  });
});
