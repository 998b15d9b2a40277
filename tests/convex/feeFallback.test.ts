/**
 * The backend's fee when the node has no estimate (README, "Chain
 * integration"): the transfer fee rate (at least 1 µSTX per byte) times the
 * signed transaction's length, within [floor, MAX_FEE_USTX] — exact values and
 * fast-check properties; and how the client reads the node's refusals
 * (NoEstimateAvailable, "Fee estimation not supported on this node",
 * text/plain broadcast refusals), with a stub fetch. The same behaviour over
 * HTTP against the local server: tests/integration/feeFallback.test.ts.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import { chooseFee, fallbackFee, feeForCall, MIN_FEE_RATE_PER_BYTE, saysNoFeeEstimate } from "../../convex/chain/backendTransactions";
import { HiroClient } from "../../convex/chain/hiroClient";

const FLOOR = 1_000n;
const CAP = 1_000_000n;

const NO_ESTIMATE = JSON.stringify({
  error: "Estimation could not be performed",
  reason: "NoEstimateAvailable",
  reason_data: { message: "No estimate available for the provided payload." },
});
const NOT_SUPPORTED = JSON.stringify("Fee estimation not supported on this node");

describe("fallbackFee", () => {
  test("is the rate times the length when that lies within the bounds", () => {
    expect(fallbackFee(5n, 269, FLOOR, CAP)).toBe(1_345n);
    expect(fallbackFee(1n, 1_151, FLOOR, CAP)).toBe(1_151n);
  });

  test("uses the minimum rate, 1 µSTX per byte, when the node has no transfer rate or a lower one", () => {
    expect(MIN_FEE_RATE_PER_BYTE).toBe(1n);
    expect(fallbackFee(null, 1_151, FLOOR, CAP)).toBe(1_151n);
    expect(fallbackFee(0n, 1_151, FLOOR, CAP)).toBe(1_151n);
  });

  test("never goes below the floor nor above the cap (the cap wins over a floor above it)", () => {
    expect(fallbackFee(1n, 269, FLOOR, CAP)).toBe(FLOOR);
    expect(fallbackFee(null, 0, FLOOR, CAP)).toBe(FLOOR);
    expect(fallbackFee(100n, 269, FLOOR, 5_000n)).toBe(5_000n);
    expect(fallbackFee(10n, 269, 3_000n, 2_000n)).toBe(2_000n);
  });

  const rate = fc.option(fc.bigInt({ min: 0n, max: 10_000n }), { nil: null });
  const length = fc.integer({ min: 0, max: 2_000_000 });
  const bounds = fc
    .tuple(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }))
    .map(([a, b]) => (a <= b ? { floor: a, cap: b } : { floor: b, cap: a }));

  test("property: within [floor, cap], and exactly max(rate, 1) × length when that is", () => {
    fc.assert(
      fc.property(rate, length, bounds, (r, len, { floor, cap }) => {
        const fee = fallbackFee(r, len, floor, cap);
        expect(fee >= floor && fee <= cap).toBe(true);
        const wanted = (r !== null && r > 1n ? r : 1n) * BigInt(len);
        if (wanted >= floor && wanted <= cap) expect(fee).toBe(wanted);
      }),
    );
  });

  test("property: monotone in the length (and in the rate)", () => {
    fc.assert(
      fc.property(rate, length, length, bounds, (r, a, b, { floor, cap }) => {
        const [short, long] = a <= b ? [a, b] : [b, a];
        expect(fallbackFee(r, short, floor, cap) <= fallbackFee(r, long, floor, cap)).toBe(true);
        const higher = (r ?? 0n) + 1n;
        expect(fallbackFee(r, short, floor, cap) <= fallbackFee(higher, short, floor, cap)).toBe(true);
      }),
    );
  });
});

describe("feeForCall", () => {
  const draft = { bytes: new Uint8Array(1_345), txid: "0x00", payloadHex: "00", byteLength: 1_345 };

  test("takes the node's middle estimate when there is one, and never asks for the transfer rate", async () => {
    const client = {
      estimateFees: async () => [2_000n, 3_000n, 9_000n],
      getTransferFeeRate: async (): Promise<bigint | null> => {
        throw new Error("not asked");
      },
    };
    expect(await feeForCall(client, draft, FLOOR, CAP)).toBe(3_000n);
    expect(chooseFee([2_000n, 3_000n, 9_000n], FLOOR, CAP)).toBe(3_000n);
  });

  test("falls back to the transfer rate × the signed length when the node has no estimate", async () => {
    const client = { estimateFees: async () => null, getTransferFeeRate: async () => 3n };
    expect(await feeForCall(client, draft, FLOOR, CAP)).toBe(4_035n);
    const noRate = { estimateFees: async () => null, getTransferFeeRate: async () => null };
    expect(await feeForCall(noRate, draft, FLOOR, CAP)).toBe(1_345n);
  });
});

describe("the node's refusals", () => {
  test("saysNoFeeEstimate recognises exactly the two 'no estimate' bodies", () => {
    expect(saysNoFeeEstimate(NO_ESTIMATE)).toBe(true);
    expect(saysNoFeeEstimate(NOT_SUPPORTED)).toBe(true);
    const databaseError = JSON.stringify({
      error: "Estimation could not be performed",
      reason: "DatabaseError",
      reason_data: { message: "Sqlite error from estimator: locked" },
    });
    expect(saysNoFeeEstimate(databaseError)).toBe(false);
    expect(saysNoFeeEstimate("Failed to decode: Bad hex string supplied for transaction payload")).toBe(false);
    expect(saysNoFeeEstimate(JSON.stringify("something else"))).toBe(false);
  });

  /** A client whose every request gets `status` with `body` (and `type` as content type). */
  function answering(status: number, body: string, type = "application/json"): HiroClient {
    return new HiroClient({
      baseUrl: "http://node.invalid",
      maxAttempts: 1,
      fetch: async () => new Response(body, { status, headers: { "content-type": type } }),
    });
  }

  test("estimateFees: null for either refusal, a CHAIN_UNAVAILABLE for any other 400", async () => {
    expect(await answering(400, NO_ESTIMATE).estimateFees("00", 10)).toBeNull();
    expect(await answering(400, NOT_SUPPORTED).estimateFees("00", 10)).toBeNull();
    await expect(answering(400, "Failed to decode: Bad hex string supplied for transaction payload", "text/plain").estimateFees("00", 10)).rejects.toMatchObject({
      data: { code: "CHAIN_UNAVAILABLE" },
    });
  });

  test("getTransferFeeRate: the bare integer, null for NoEstimateAvailable, CHAIN_UNAVAILABLE for anything else", async () => {
    expect(await answering(200, "7").getTransferFeeRate()).toBe(7n);
    expect(await answering(400, NO_ESTIMATE).getTransferFeeRate()).toBeNull();
    await expect(answering(200, "1.5").getTransferFeeRate()).rejects.toMatchObject({ data: { code: "CHAIN_UNAVAILABLE" } });
    await expect(answering(200, JSON.stringify({ fee_rate: 7 })).getTransferFeeRate()).rejects.toMatchObject({ data: { code: "CHAIN_UNAVAILABLE" } });
  });

  test("broadcast: a text/plain 400 is a refusal, Unparseable, with the text cut to 300 characters", async () => {
    const decode = "Failed to decode: Failed to deserialize posted transaction: Could not parse 255 as TransactionVersion";
    expect(await answering(400, decode, "text/plain").broadcast(new Uint8Array([0xff]))).toEqual({
      accepted: false,
      reason: "Unparseable",
      reasonData: undefined,
      message: decode,
    });
    const long = await answering(400, `Failed to decode: ${"x".repeat(10_000)}`, "text/plain").broadcast(new Uint8Array([0xff]));
    expect(long).toMatchObject({ accepted: false, reason: "Unparseable" });
    if (long.accepted) throw new Error("expected a refusal");
    expect(long.message).toHaveLength(300);
    expect(long.message.startsWith("Failed to decode: xxx")).toBe(true);
    // A mempool refusal keeps its reason and data, as before.
    const rejection = { txid: "ab".repeat(32), error: "transaction rejected", reason: "FeeTooLow", reason_data: { expected: 250, actual: 10 } };
    expect(await answering(400, JSON.stringify(rejection)).broadcast(new Uint8Array([1]))).toEqual({
      accepted: false,
      reason: "FeeTooLow",
      reasonData: { expected: 250, actual: 10 },
      message: "transaction rejected",
    });
  });
});
