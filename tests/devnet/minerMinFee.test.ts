/**
 * The miner minimum fee (POST /_local/min-fee): a valid transaction paying
 * less stays pending, as on a congested network, and so does every later
 * nonce of its sender; other senders are mined as usual; replace-by-fee at
 * the minimum, or lowering the minimum, gets it mined.
 */
import { Cl, Pc, privateKeyToAddress, randomPrivateKey, type StacksTransactionWire } from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { ApiMempoolTransaction, ApiMinedTransaction } from "../../devnet/apiShapes";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import type { ApiAddressNonces } from "../../devnet/routes/accounts";
import type { MinFeeResponse } from "../../devnet/routes/local";
import { START_TIMEOUT_MS, broadcastOk, get, mine, post, postJson, signedCall, startServer } from "./helpers";

let server: LocalHiroServer;
let url: string;

/** Two fresh funded accounts, so their nonces start at 0. */
const CHEAP_KEY = randomPrivateKey();
const CHEAP = privateKeyToAddress(CHEAP_KEY, "testnet");
const OTHER_KEY = randomPrivateKey();
const OTHER = privateKeyToAddress(OTHER_KEY, "testnet");

const MIN_FEE = 5_000n;
/** What each account is funded with; the local chain never debits fees (devnet/README.md). */
const FUNDED = 100_000_000_000n;

beforeAll(async () => {
  server = await startServer();
  url = server.url;
  for (const address of [CHEAP, OTHER]) await post(url, "/_local/fund", { address, ustx: FUNDED.toString() });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
});

function deposit(senderKey: string, amount: bigint, nonce: bigint, fee: bigint): Promise<StacksTransactionWire> {
  const sender = privateKeyToAddress(senderKey, "testnet");
  return signedCall(url, {
    functionName: VAULT_FUNCTIONS.depositFunds,
    args: [Cl.uint(amount), Cl.none()],
    senderKey,
    postConditions: [Pc.principal(sender).willSendEq(amount).ustx()],
    nonce,
    fee,
  });
}

const tx = <T>(txid: string) => get<T>(url, `/extended/v1/tx/${txid}`);

/** The cheap sender's stuck nonce 0 and its nonce 1 waiting behind it (the tests run in order). */
let stuckId: string;
let behindId: string;

describe("a miner minimum fee", () => {
  it("keeps a cheaper transaction and its sender's later nonces pending, and mines everyone else", async () => {
    expect(await post<MinFeeResponse>(url, "/_local/min-fee", { ustx: MIN_FEE.toString() })).toEqual({ ustx: "5000" });
    expect(server.chain.minerMinFee).toBe(MIN_FEE);

    stuckId = await broadcastOk(url, await deposit(CHEAP_KEY, 100n, 0n, MIN_FEE - 1n));
    behindId = await broadcastOk(url, await deposit(CHEAP_KEY, 200n, 1n, 10_000n));
    const otherId = await broadcastOk(url, await deposit(OTHER_KEY, 300n, 0n, MIN_FEE));
    const { blocks } = await mine(url, 3);

    expect(await tx<ApiMinedTransaction>(otherId)).toMatchObject({ tx_status: "success", block_height: blocks[0]?.height, tx_index: 0 });
    expect(await tx<ApiMempoolTransaction>(stuckId)).toMatchObject({ tx_status: "pending", nonce: 0, fee_rate: "4999" });
    expect(await tx<ApiMempoolTransaction>(behindId)).toMatchObject({ tx_status: "pending", nonce: 1 });
    expect(await get<ApiAddressNonces>(url, `/extended/v1/address/${CHEAP}/nonces`)).toEqual({
      last_executed_tx_nonce: null,
      last_mempool_tx_nonce: 1,
      possible_next_nonce: 2,
      detected_missing_nonces: [],
      detected_mempool_nonces: [0, 1],
    });
    expect(server.chain.stxBalance(CHEAP)).toBe(FUNDED);
    expect(server.chain.stxBalance(OTHER)).toBe(FUNDED - 300n);
  });

  it("mines the replacement of a stuck transaction that pays the minimum, and the nonces behind it", async () => {
    const replacementId = await broadcastOk(url, await deposit(CHEAP_KEY, 101n, 0n, MIN_FEE));
    const { blocks } = await mine(url);

    expect(await tx<ApiMinedTransaction>(replacementId)).toMatchObject({
      tx_status: "success",
      nonce: 0,
      fee_rate: "5000",
      block_height: blocks[0]?.height,
      tx_index: 0,
      contract_call: { function_args: [{ repr: "u101" }, { repr: "none" }] },
    });
    expect(await tx<ApiMinedTransaction>(behindId)).toMatchObject({
      tx_status: "success",
      nonce: 1,
      block_height: blocks[0]?.height,
      tx_index: 1,
    });
    expect((await tx<ApiMempoolTransaction>(stuckId)).tx_status).toBe("dropped_replace_by_fee");
    expect(await get<ApiAddressNonces>(url, `/extended/v1/address/${CHEAP}/nonces`)).toMatchObject({
      last_executed_tx_nonce: 1,
      possible_next_nonce: 2,
      detected_mempool_nonces: [],
    });
    expect(server.chain.stxBalance(CHEAP)).toBe(FUNDED - 101n - 200n);
  });

  it("mines a waiting cheap transaction once the minimum is lowered", async () => {
    const cheapId = await broadcastOk(url, await deposit(CHEAP_KEY, 400n, 2n, 1_000n));
    await mine(url);
    expect((await tx<ApiMempoolTransaction>(cheapId)).tx_status).toBe("pending");

    await server.setMinerMinFee(0n);
    expect(server.chain.minerMinFee).toBe(0n);
    await mine(url);
    expect(await tx<ApiMinedTransaction>(cheapId)).toMatchObject({ tx_status: "success", nonce: 2, fee_rate: "1000" });
  });

  it("validates the request body", async () => {
    for (const body of [{}, { ustx: -1 }, { ustx: "5e3" }, { ustx: 1.5 }, { fee: 5000 }]) {
      expect((await postJson(url, "/_local/min-fee", body)).status, JSON.stringify(body)).toBe(400);
    }
    expect(server.chain.minerMinFee).toBe(0n);
  });
});
