/**
 * The tools' pure parts, on events written by hand: books rebuilt from
 * flows, the balance bound, published leaves placed by index, the checkpoint
 * verdict in the cases the local chain does not reach (inflated in/out, an
 * API that has not shown every flow), the exit's owed and paid figures, the
 * command lines, and the key never showing.
 */
import { inspect } from "node:util";

import { STACKS_TESTNET } from "@stacks/network";
import { describe, expect, it } from "vitest";

import { buildMerkleSumTree, type ExitLeaf } from "../../convex/domain/merkleSum";
import { balanceBound, contiguousSeq, flowEventsOf, flowsAsOf, recordsAsOf } from "../../tools/chainBooks";
import type { ChainEvent } from "../../tools/chainEvents";
import { checkCheckpoint } from "../../tools/checkpointCheck";
import { hexOf, publishedLeaves, type Checkpoint } from "../../tools/checkpointTree";
import { formatAmount, UsageError } from "../../tools/cliOptions";
import { owedFor, paidFor } from "../../tools/exitClaim";
import { KeySigner } from "../../tools/vaultTransactions";
import { parseWatchCommand } from "../../tools/watch";

const A = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
const B = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
const C = "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC";
const VAULT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.liquidity-pool";

let index = 0;
const at = () => ({ txid: `0x${(++index).toString(16).padStart(64, "0")}`, eventIndex: 0, blockHeight: BigInt(index), blockHash: "0xb" });

/** Money events carry the token's balance after them; these builders track it. */
function ledger() {
  const balance = { STX: 0n, sBTC: 0n };
  const events: ChainEvent[] = [];
  let seq = 0n;
  const api = {
    events,
    deposit(who: string, token: "STX" | "sBTC", amount: bigint) {
      balance[token] += amount;
      events.push({ ...at(), kind: "funds-deposited", depositor: who, token, amount, seq: ++seq, totalBalance: balance[token], totalLocked: 0n });
      return api;
    },
    withdraw(who: string, token: "STX" | "sBTC", amount: bigint) {
      balance[token] -= amount;
      events.push({ ...at(), kind: "funds-withdrawn", provider: who, token, amount, nonce: seq, seq: ++seq, totalBalance: balance[token], totalLocked: 0n });
      return api;
    },
    premium(amount: bigint) {
      balance.STX += amount;
      events.push({ ...at(), kind: "premium-paid", policyId: 1n, payer: C, token: "STX", amount, totalBalance: balance.STX, totalLocked: 0n });
      return api;
    },
    settle(amount: bigint) {
      balance.STX -= amount;
      events.push({ ...at(), kind: "settlement-paid", policyId: 1n, buyer: C, token: "STX", amount, totalBalance: balance.STX, totalLocked: 0n });
      return api;
    },
    post(checkpoint: Checkpoint) {
      const { epoch, root, stxSum, sbtcSum, asOfSeq, flows, leafCount } = checkpoint;
      events.push({ ...at(), kind: "checkpoint-posted", epoch, root, stxSum, sbtcSum, asOfSeq, flows, leafCount });
      return api;
    },
    publish(epoch: bigint, offset: bigint, leaves: ExitLeaf[]) {
      events.push({ ...at(), kind: "checkpoint-leaves", epoch, offset, leaves });
      return api;
    },
  };
  return api;
}

function leaf(provider: string, stx: bigint, stxIn: bigint, overrides: Partial<ExitLeaf> = {}): ExitLeaf {
  return { provider, stx, sbtc: 0n, stxIn, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n, ...overrides };
}

function checkpointOver(leaves: ExitLeaf[], asOfSeq: bigint, flows: Checkpoint["flows"], overrides: Partial<Checkpoint> = {}): Checkpoint {
  const tree = buildMerkleSumTree(leaves);
  return {
    epoch: 1n,
    root: hexOf(tree.root.hash),
    stxSum: tree.root.stx,
    sbtcSum: tree.root.sbtc,
    asOfSeq,
    flows,
    leafCount: BigInt(leaves.length),
    postedAt: 1_000n,
    ...overrides,
  };
}

describe("books from flows", () => {
  it("records and flows as of a seq, a record's created-seq being its first flow, even a withdrawal", () => {
    const { events } = ledger().deposit(A, "STX", 100n).withdraw(B, "sBTC", 7n).deposit(A, "sBTC", 30n).withdraw(A, "STX", 40n);
    const flows = flowEventsOf(events);
    expect([...recordsAsOf(flows, 3n).values()]).toEqual([
      { provider: A, createdSeq: 1n, stxIn: 100n, stxOut: 0n, sbtcIn: 30n, sbtcOut: 0n },
      { provider: B, createdSeq: 2n, stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 7n },
    ]);
    expect(flowsAsOf(flows, 4n)).toEqual({ stxIn: 100n, stxOut: 40n, sbtcIn: 30n, sbtcOut: 7n });
    expect(flowsAsOf(flows, 0n)).toEqual({ stxIn: 0n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n });
  });

  it("trusts the flows only up to the first gap or repeated seq", () => {
    const { events } = ledger().deposit(A, "STX", 1n).deposit(A, "STX", 1n).deposit(A, "STX", 1n).deposit(A, "STX", 1n);
    const flows = flowEventsOf(events);
    expect(contiguousSeq(flows)).toBe(4n);
    expect(contiguousSeq(flows.filter((f) => f.seq !== 3n))).toBe(2n);
    expect(contiguousSeq([...flows, { ...flows[1]! }].sort((a, b) => Number(a.seq - b.seq)))).toBe(1n);
  });

  it("bounds the sums by the most the vault held between as-of-seq and the next flow or the post", () => {
    const books = ledger().deposit(A, "STX", 100n).premium(10n).deposit(B, "STX", 50n).premium(5n).settle(8n);
    const asOf = checkpointOver([leaf(A, 100n, 100n), leaf(B, 50n, 50n)], 2n, { stxIn: 150n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n });
    books.post(asOf).deposit(C, "STX", 1_000n);
    // 160 after B's deposit, 165 after the premium, 157 after the settlement: the most is 165; C's later deposit is outside.
    expect(balanceBound(books.events, 2n, 1n)).toEqual({ stx: 165n, sbtc: 0n });
    expect(balanceBound(books.events, 1n, 1n)).toEqual({ stx: 110n, sbtc: 0n });
    expect(balanceBound(books.events, 3n, 9n)).toBeNull(); // neither a later flow nor that checkpoint's post seen yet
  });
});

describe("published leaves", () => {
  const leaves = [leaf(A, 10n, 10n), leaf(B, 20n, 20n), leaf(C, 30n, 30n)];

  it("places batches by offset, takes a repeat that agrees, and waits for a missing index", () => {
    const { events } = ledger().publish(1n, 0n, leaves.slice(0, 2)).publish(1n, 1n, leaves.slice(1, 2)).publish(2n, 2n, leaves.slice(2));
    expect(publishedLeaves(events, 1n, 3n)).toEqual({ leaves: null, known: leaves.slice(0, 2), published: 2n, missing: 1n, problems: [] });
  });

  it("keeps the first leaf of an index published twice differently, and refuses leaves past the count", () => {
    const { events } = ledger()
      .publish(1n, 0n, leaves)
      .publish(1n, 1n, [leaf(A, 999n, 20n)])
      .publish(1n, 3n, [leaf(B, 1n, 1n)]);
    const placed = publishedLeaves(events, 1n, 3n);
    expect(placed.leaves).toEqual(leaves);
    expect(placed.problems).toEqual([
      `index 1 was published twice with different leaves (${B}, then ${A} in tx ${events[1]!.txid})`,
      `a leaf of ${B} was published at index 3, past the leaf count 3 (tx ${events[2]!.txid})`,
    ]);
  });
});

describe("the checkpoint verdict", () => {
  const flows = { stxIn: 150n, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n };
  const base = () => ledger().deposit(A, "STX", 100n).deposit(B, "STX", 50n);

  it("finds a leaf whose in/out differ from the record, even with root and sums consistent", () => {
    const leaves = [leaf(A, 100n, 100n), leaf(B, 50n, 80n)];
    const checkpoint = checkpointOver(leaves, 2n, flows);
    const { events } = base().post(checkpoint).publish(1n, 0n, leaves);
    const verdict = checkCheckpoint({ checkpoint, events, burnHeight: 1_010n, vetoMargin: 6n });
    expect(verdict).toEqual({
      epoch: 1n,
      status: "wrong",
      problems: [`${B}'s leaf stx-in is 80, the chain says 50`],
      waitingFor: [],
      vetoClosesAt: 1_144n,
      vetoable: true,
    });
  });

  it("finds flows that are not the chain's, and a leaf for someone with no record yet", () => {
    const leaves = [leaf(A, 100n, 100n), leaf(C, 0n, 0n)];
    const checkpoint = checkpointOver(leaves, 1n, { ...flows, stxIn: 100n, sbtcOut: 3n });
    const { events } = base().post(checkpoint).publish(1n, 0n, leaves);
    expect(checkCheckpoint({ checkpoint, events, burnHeight: 1_010n, vetoMargin: 6n }).problems).toEqual([
      "the checkpoint's flows sbtc-out is 3, the chain says 0",
      "the leaf count is 2, but 1 provider records existed at seq 1",
      `a leaf for ${C}, who had no record at seq 1`,
    ]);
  });

  it("is pending, not wrong, while the API has not shown every flow up to as-of-seq, until the window is about to close", () => {
    const leaves = [leaf(A, 100n, 100n), leaf(B, 50n, 50n)];
    const checkpoint = checkpointOver(leaves, 2n, flows);
    const events = base().post(checkpoint).publish(1n, 0n, leaves).events.filter((e) => !(e.kind === "funds-deposited" && e.seq === 2n));
    expect(checkCheckpoint({ checkpoint, events, burnHeight: 1_010n, vetoMargin: 6n })).toMatchObject({
      status: "pending",
      problems: [],
      waitingFor: ["the flows up to seq 2 (the API shows them through seq 1)"],
    });
    expect(checkCheckpoint({ checkpoint, events, burnHeight: 1_138n, vetoMargin: 6n })).toMatchObject({ status: "wrong", vetoable: true });
    expect(checkCheckpoint({ checkpoint, events, burnHeight: 1_144n, vetoMargin: 6n })).toMatchObject({ status: "wrong", vetoable: false });
  });
});

describe("the exit's figures", () => {
  const record = { stxIn: 1_500n, stxOut: 700n, sbtcIn: 10n, sbtcOut: 0n };

  it("owes the leaf moved by the flows since, or without a leaf in − out, never below zero", () => {
    // 1,200 at the checkpoint, + (1,500 − 1,000) in since, − (700 − 200) out since.
    expect(owedFor(record, leaf(A, 1_200n, 1_000n, { stxOut: 200n }), "STX")).toBe(1_200n);
    // 0 + 500 − 700: floored.
    expect(owedFor(record, leaf(A, 0n, 1_000n), "STX")).toBe(0n);
    expect(owedFor(record, null, "STX")).toBe(800n);
    expect(owedFor({ ...record, sbtcOut: 25n }, null, "sBTC")).toBe(0n);
  });

  it("pays in full, pro rata rounded down when short, and never more than the vault holds", () => {
    expect(paidFor(1_206n, { assets: 1_910n, liabilities: 1_910n }, 5_000n)).toBe(1_206n);
    expect(paidFor(1_206n, { assets: 1_860n, liabilities: 1_910n }, 5_000n)).toBe(1_174n);
    expect(paidFor(1_206n, { assets: 1_910n, liabilities: 1_910n }, 99n)).toBe(99n);
  });

  it("shows amounts exactly, from the integer", () => {
    expect(formatAmount("STX", 1_174_429_319n)).toBe("1174.429319 STX (1174429319 µSTX)");
    expect(formatAmount("sBTC", 5n)).toBe("0.00000005 sBTC (5 sats)");
    expect(formatAmount("STX", 0n)).toBe("0 STX (0 µSTX)");
  });
});

describe("the command lines and the key", () => {
  it("parses the watcher's flags, with the defaults, and refuses a malformed role", () => {
    expect(parseWatchCommand(["--api", "http://127.0.0.1:3999/", "--vault", VAULT, "--expect-role", `operator:${A}`, "--expect-role", `signer:${VAULT}`])).toEqual({
      api: "http://127.0.0.1:3999",
      vault: VAULT,
      once: false,
      "interval-ms": 60_000n,
      "expect-role": [
        { role: "operator", who: A },
        { role: "signer", who: VAULT },
      ],
      "burst-bps": 8_000n,
      "veto-margin": 6n,
      "max-fee": 1_000_000n,
    });
    expect(() => parseWatchCommand(["--api", "http://x", "--vault", VAULT, "--expect-role", `boss:${A}`])).toThrow(new UsageError(`--expect-role: boss:${A} is not <admin|guardian|operator|signer>:<principal>`));
    expect(() => parseWatchCommand(["--api", "http://x", "--vault", VAULT, "--burst-bps", "0.5"])).toThrow(UsageError);
    expect(() => parseWatchCommand(["--api", "http://x"])).toThrow(UsageError);
  });

  it("never shows the key: not in its errors, its JSON or its inspection", () => {
    const key = "7287ba251d44a4d3fd9276c88ce34c5c52a038955511cccaf77e61068649c17801";
    const signer = new KeySigner(key, STACKS_TESTNET);
    expect(signer.address).toBe("ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5");
    expect(JSON.stringify({ signer })).toBe(`{"signer":{"address":"${A}"}}`);
    expect(inspect(signer, { showHidden: true, depth: 5 })).not.toContain(key.slice(0, 20));
    expect(() => new KeySigner(key.slice(0, 40), STACKS_TESTNET)).toThrow("the key file does not hold a hex private key (64 hex digits, optionally followed by 01)");
  });
});
