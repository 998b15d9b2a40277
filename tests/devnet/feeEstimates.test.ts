/**
 * The local server's fee endpoints answer as a Stacks node does
 * (stacks-core `net/api/postfeerate.rs`, `getstxtransfercost.rs`,
 * `cost_estimates/mod.rs`): a contract call is estimated only once its
 * function has been sampled from a mined block — before that, 400
 * NoEstimateAvailable; a node without an estimator refuses every estimate
 * with a JSON string; GET /v2/fees/transfer is a bare integer rate per byte.
 */
import {
  Cl,
  makeContractCall,
  makeSTXTokenTransfer,
  randomPrivateKey,
  privateKeyToAddress,
  serializePayload,
  type ClarityValue,
} from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { ApiMinedTransaction } from "../../devnet/apiShapes";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import type { FeeEstimatorResponse } from "../../devnet/routes/fees";
import {
  OPERATOR_KEY,
  START_TIMEOUT_MS,
  VAULT,
  broadcastOk,
  get,
  localNetwork,
  mine,
  post,
  signedCall,
  startServer,
} from "./helpers";

let server: LocalHiroServer;
let url: string;

const KEY = randomPrivateKey();
const SENDER = privateKeyToAddress(KEY, "testnet");

/** The node's exact body when it has no cost samples for a payload. */
const NO_ESTIMATE = {
  error: "Estimation could not be performed",
  reason: "NoEstimateAvailable",
  reason_data: { message: "No estimate available for the provided payload." },
};

beforeAll(async () => {
  server = await startServer();
  url = server.url;
  await post(url, "/_local/fund", { address: SENDER, ustx: "100000000000" });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
});

type Answer = { status: number; type: string | null; text: string };

async function answer(path: string, init?: RequestInit): Promise<Answer> {
  const response = await fetch(`${url}${path}`, init);
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

/** POST /v2/fees/transaction for a call's payload, as the backend and @stacks/transactions ask. */
async function estimate(functionName: string, args: ClarityValue[], nonce: bigint): Promise<Answer> {
  const transaction = await signedCall(url, { functionName, args, senderKey: KEY, nonce });
  return await answer("/v2/fees/transaction", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ transaction_payload: serializePayload(transaction.payload), estimated_len: transaction.serializeBytes().length }),
  });
}

const deposit = (amount: bigint) => [Cl.uint(amount), Cl.none()];

describe("POST /v2/fees/transaction", () => {
  it("answers NoEstimateAvailable for a function never mined, and estimates it once a call of it is mined, even an aborted one", async () => {
    const none = await estimate(VAULT_FUNCTIONS.depositFunds, deposit(1_000n), 0n);
    expect(none).toEqual({ status: 400, type: "application/json", text: JSON.stringify(NO_ESTIMATE) });

    // Mined but aborted (a zero deposit is refused by the vault): the node's estimator learns from
    // every mined receipt (stacks-core cost_estimates `notify_block`), so the function is sampled.
    const refused = await signedCall(url, { functionName: VAULT_FUNCTIONS.depositFunds, args: deposit(0n), senderKey: KEY, nonce: 0n });
    await broadcastOk(url, refused);
    await mine(url);
    expect((await get<ApiMinedTransaction>(url, `/extended/v1/tx/0x${refused.txid()}`)).tx_status).toBe("abort_by_response");
    const sampled = await estimate(VAULT_FUNCTIONS.depositFunds, deposit(5n), 1n);
    expect(sampled.status).toBe(200);
    const fees = (JSON.parse(sampled.text) as { estimations: { fee: number }[] }).estimations.map((e) => e.fee);
    expect(fees).toHaveLength(3);

    // Another function of the same contract is still unsampled (only the backend calls it).
    expect(await estimate(VAULT_FUNCTIONS.lockCollateralAggregate, [Cl.list([Cl.uint(1)]), Cl.uint(1), Cl.none()], 1n)).toEqual(none);
  });

  it("refuses a request it cannot read as the node does: a text/plain 400 'Failed to decode: …', check by check", async () => {
    const post = (body: string, type = "application/json") =>
      answer("/v2/fees/transaction", { method: "POST", headers: { "content-type": type }, body });
    const refusal = (text: string) => ({ status: 400, type: expect.stringMatching(/^text\/plain/), text: `Failed to decode: ${text}` });
    expect(await post("")).toEqual(refusal("Invalid Http request: invalid body length for FeeRateEstimate (0)"));
    expect(await post(JSON.stringify({ transaction_payload: "00" }), "text/plain")).toEqual(refusal("Invalid content-type: expected application/json"));
    expect((await post("{not json")).text).toMatch(/^Failed to decode: Failed to parse JSON body: /);
    expect(await post(JSON.stringify({ transaction_payload: "zz" }))).toEqual(refusal("Bad hex string supplied for transaction payload"));
    expect(await post(JSON.stringify({ transaction_payload: "0x0" }))).toEqual(refusal("Bad hex string supplied for transaction payload"));
    const garbage = await post(JSON.stringify({ transaction_payload: "0xff00" }));
    expect(garbage).toMatchObject({ status: 400, type: expect.stringMatching(/^text\/plain/) });
    expect(garbage.text).toMatch(/^Failed to decode: Failed to deserialize transaction payload: /);
  });

  it("always estimates an STX transfer, which a node samples all the time", async () => {
    const transfer = await makeSTXTokenTransfer({
      recipient: privateKeyToAddress(randomPrivateKey(), "testnet"),
      amount: 1n,
      senderKey: KEY,
      network: localNetwork(url),
      fee: 1_000n,
      nonce: 9n,
    });
    const response = await answer("/v2/fees/transaction", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transaction_payload: serializePayload(transfer.payload) }),
    });
    expect(response.status).toBe(200);
  });

  it("answers a node without a fee estimator: the bare JSON string, even for a sampled function", async () => {
    await post(url, "/_local/fee-estimator", { supported: false });
    try {
      expect(await estimate(VAULT_FUNCTIONS.depositFunds, deposit(5n), 2n)).toEqual({
        status: 400,
        type: "application/json",
        text: JSON.stringify("Fee estimation not supported on this node"),
      });
      // Such a node prices a transfer at the minimum rate.
      expect(await answer("/v2/fees/transfer")).toEqual({ status: 200, type: "application/json", text: "1" });
    } finally {
      await post(url, "/_local/fee-estimator", { supported: true });
    }
    expect((await estimate(VAULT_FUNCTIONS.depositFunds, deposit(5n), 2n)).status).toBe(200);
  });
});

describe("GET /v2/fees/transfer", () => {
  it("answers a bare JSON integer, micro-STX per byte, or NoEstimateAvailable when the estimator has none", async () => {
    expect(await answer("/v2/fees/transfer")).toEqual({ status: 200, type: "application/json", text: "1" });
    const state = await post<FeeEstimatorResponse>(url, "/_local/fee-estimator", { transferRate: 7 });
    expect(state).toMatchObject({ supported: true, transferRate: 7 });
    expect(await answer("/v2/fees/transfer")).toEqual({ status: 200, type: "application/json", text: "7" });
    await post(url, "/_local/fee-estimator", { transferRate: null });
    expect(await answer("/v2/fees/transfer")).toEqual({ status: 400, type: "application/json", text: JSON.stringify(NO_ESTIMATE) });
    await post(url, "/_local/fee-estimator", { transferRate: 1 });
  });
});

describe("@stacks/transactions against the node's refusal", () => {
  it("prices an unsampled call at the transfer rate × its length, the library's own fallback", async () => {
    await post(url, "/_local/fee-estimator", { transferRate: 3 });
    try {
      // The backend's key calls lock: an operator function no one else calls, so never sampled here.
      const transaction = await makeContractCall({
        contractAddress: VAULT.split(".")[0]!,
        contractName: VAULT.split(".")[1]!,
        functionName: VAULT_FUNCTIONS.lockCollateralAggregate,
        functionArgs: [Cl.list([Cl.uint(1)]), Cl.uint(1), Cl.none()],
        senderKey: OPERATOR_KEY,
        network: localNetwork(url),
        nonce: 2n,
        postConditionMode: "deny",
      });
      expect(transaction.auth.spendingCondition.fee).toBe(3n * BigInt(transaction.serializeBytes().length));
    } finally {
      await post(url, "/_local/fee-estimator", { transferRate: 1 });
    }
  });
});
