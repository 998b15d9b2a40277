/**
 * The local Hiro server driven by the real @stacks/transactions client: a
 * deposit from broadcast to events, nonces, read-only calls, fees, blocks;
 * then mempool admission as the node does it (nonce rules, signature and fee
 * checks, replace-by-fee, gaps, drops, payload checks, raw-byte bodies).
 */
import type * as Api from "@stacks/stacks-blockchain-api-types";
import {
  Cl,
  Pc,
  fetchCallReadOnlyFunction,
  fetchFeeEstimateTransaction,
  fetchFeeEstimateTransfer,
  fetchNonce,
  makeSTXTokenTransfer,
  randomPrivateKey,
  privateKeyToAddress,
  serializePayload,
  type StacksTransactionWire,
} from "@stacks/transactions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type { NodeRejection } from "../../devnet/admission";
import type { ApiMempoolTransaction, ApiMinedTransaction } from "../../devnet/apiShapes";
import type { LocalHiroServer } from "../../devnet/hiroServer";
import type { ApiAddressNonces } from "../../devnet/routes/accounts";
import type { ApiCoreNodeInfo } from "../../devnet/routes/chainInfo";
import {
  OPERATOR,
  SIGNER,
  OPERATOR_KEY,
  DEPLOYER,
  SBTC,
  START_TIMEOUT_MS,
  VAULT,
  WALLET_1,
  WALLET_1_KEY,
  broadcast,
  broadcastOk,
  get,
  getJson,
  localNetwork,
  mine,
  post,
  postJson,
  signedCall,
  startServer,
} from "./helpers";

let server: LocalHiroServer;
let url: string;

/** A fresh funded account for the mempool tests, so its nonces start at 0. */
const KEY = randomPrivateKey();
const SENDER = privateKeyToAddress(KEY, "testnet");

beforeAll(async () => {
  server = await startServer();
  url = server.url;
  await post(url, "/_local/fund", { address: SENDER, ustx: "100000000000" });
}, START_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
});

const DEPOSIT = 1_000_000n;
/** The vault's ROLE-DELAY, in burn blocks. */
const ROLE_DELAY = 144;
/** Burn height of a freshly deployed vault, before the start-up hand-over. */
let startBurnHeight = 0;

describe("the vault as set up at start", () => {
  it("hands the operator and signer roles to the backend's two keys after ROLE-DELAY burn blocks; the deployer stays admin and guardian", async () => {
    const roles = server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getRoles, [], WALLET_1).result;
    expect(roles).toEqual(
      Cl.tuple({
        admin: Cl.principal(DEPLOYER),
        guardian: Cl.principal(DEPLOYER),
        operator: Cl.some(Cl.principal(OPERATOR)),
        signer: Cl.some(Cl.principal(SIGNER)),
      }),
    );
    for (const role of ["operator", "signer"]) {
      expect(server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getPendingRole, [Cl.stringAscii(role)], WALLET_1).result).toEqual(Cl.none());
    }
    // The proposals' block, 144 blocks each opening a burn block, and the acceptances' block.
    const tip = server.chain.blocks.tip;
    const genesis = server.chain.blocks.genesisHeight;
    expect(tip.height).toBe(genesis + 1 + ROLE_DELAY + 1);
    startBurnHeight = server.chain.blocks.atHeight(genesis)!.burnBlockHeight;
    expect(server.simnet.burnBlockHeight).toBe(startBurnHeight + ROLE_DELAY);
    expect(tip.burnBlockHeight).toBe(startBurnHeight + ROLE_DELAY);
    // The vault's default outflow limit stands: 1,000 STX of an empty vault.
    const outflow = server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getOutflow, [Cl.none()], WALLET_1).result;
    expect(outflow).toEqual(
      Cl.tuple({
        "window-start": Cl.uint(server.simnet.burnBlockHeight),
        used: Cl.uint(0),
        cap: Cl.uint(1_000_000_000n),
        available: Cl.uint(1_000_000_000n),
      }),
    );
  });
});

describe("a deposit from broadcast to events", () => {
  let txid: string;

  it("is accepted as pending with the node's and the API's shapes", async () => {
    // A node estimates a call only once it has sampled its function from mined blocks; this
    // chain has mined no deposit yet, so the estimator is told it has seen them (a live node
    // has: every provider deposits). Without samples the library falls back to the transfer rate.
    await post(url, "/_local/fee-estimator", { sampled: [{ contractId: VAULT, functionName: VAULT_FUNCTIONS.depositFunds }] });
    // No nonce, no fee: makeContractCall asks /extended/v1/address/{a}/nonces and /v2/fees/transaction.
    const transaction = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(DEPOSIT), Cl.none()],
      senderKey: WALLET_1_KEY,
      postConditions: [Pc.principal(WALLET_1).willSendEq(DEPOSIT).ustx()],
      fee: "estimate",
    });
    expect(transaction.auth.spendingCondition.nonce).toBe(0n);
    // The medium estimation: 4 microSTX per byte of the estimated length.
    expect(transaction.auth.spendingCondition.fee).toBeGreaterThanOrEqual(4n * BigInt(transaction.serializeBytes().length));
    txid = await broadcastOk(url, transaction);

    const pending = await get<ApiMempoolTransaction>(url, `/extended/v1/tx/0x${txid}`);
    expect(pending).toMatchObject({
      tx_id: `0x${txid}`,
      tx_status: "pending",
      tx_type: "contract_call",
      nonce: 0,
      sender_address: WALLET_1,
      sponsored: false,
      post_condition_mode: "deny",
      contract_call: { contract_id: VAULT, function_name: VAULT_FUNCTIONS.depositFunds },
    });
    expect(typeof pending.receipt_time).toBe("number");
    expect(pending).not.toHaveProperty("block_height");

    const nonces = await get<ApiAddressNonces>(url, `/extended/v1/address/${WALLET_1}/nonces`);
    expect(nonces).toEqual({
      last_executed_tx_nonce: null,
      last_mempool_tx_nonce: 0,
      possible_next_nonce: 1,
      detected_missing_nonces: [],
      detected_mempool_nonces: [0],
    });
  });

  it("succeeds once mined, with result, arguments, post-conditions and events", async () => {
    const { blocks } = await mine(url);
    expect(blocks).toHaveLength(1);
    const block = blocks[0] as { height: number; hash: string };
    const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
    expect(tx).toMatchObject({
      tx_id: `0x${txid}`,
      tx_status: "success",
      tx_type: "contract_call",
      canonical: true,
      block_height: block.height,
      block_hash: block.hash,
      tx_index: 0,
      tx_result: { hex: "0x0703", repr: "(ok true)" },
      event_count: 2,
      microblock_canonical: true,
      is_unanchored: false,
      vm_error: null,
      contract_call: {
        contract_id: VAULT,
        function_name: VAULT_FUNCTIONS.depositFunds,
        function_signature: "(define-public (deposit-funds (amount uint) (token (optional trait_reference))))",
        function_args: [
          { hex: Cl.serialize(Cl.uint(DEPOSIT)).replace(/^/, "0x"), repr: "u1000000", name: "amount", type: "uint" },
          { hex: "0x09", repr: "none", name: "token", type: "(optional trait_reference)" },
        ],
      },
      post_conditions: [
        { type: "stx", condition_code: "sent_equal_to", amount: "1000000", principal: { type_id: "principal_standard", address: WALLET_1 } },
      ],
    });
    if (tx.tx_type !== "contract_call") throw new Error("expected a contract call");
    expect(tx.execution_cost_runtime).toBeGreaterThan(0);
    expect(tx.events[0]).toMatchObject({
      event_index: 0,
      event_type: "stx_asset",
      tx_id: `0x${txid}`,
      asset: { asset_event_type: "transfer", sender: WALLET_1, recipient: VAULT, amount: "1000000" },
    });
    expect(tx.events[1]).toMatchObject({ event_index: 1, event_type: "smart_contract_log" });
  });

  it("publishes the vault's print event with the exact tuple", async () => {
    const page = await get<Api.TransactionEventsResponse>(url, `/extended/v1/contract/${VAULT}/events?limit=50`);
    expect(page.limit).toBe(50);
    expect(page.offset).toBe(0);
    const newest = page.results[0] as Api.TransactionEventSmartContractLog;
    expect(newest).toMatchObject({ event_index: 1, event_type: "smart_contract_log", tx_id: `0x${txid}` });
    expect(newest.contract_log.contract_id).toBe(VAULT);
    expect(newest.contract_log.topic).toBe("print");
    expect(Cl.deserialize(newest.contract_log.value.hex)).toEqual(
      Cl.tuple({
        event: Cl.stringAscii("funds-deposited"),
        depositor: Cl.principal(WALLET_1),
        token: Cl.none(),
        amount: Cl.uint(DEPOSIT),
        seq: Cl.uint(1),
        "total-balance": Cl.uint(DEPOSIT),
        "total-locked": Cl.uint(0),
      }),
    );
    expect(newest.contract_log.value.repr).toBe(
      `(tuple (amount u1000000) (depositor '${WALLET_1}) (event "funds-deposited") (seq u1) (token none) (total-balance u1000000) (total-locked u0))`,
    );
    // The oldest events are the configuration calls made at start-up, oldest last.
    const events = page.results.map((e) => Cl.deserialize((e as Api.TransactionEventSmartContractLog).contract_log.value.hex));
    expect(events.slice(1).reverse()).toEqual([
      Cl.tuple({ event: Cl.stringAscii("sbtc-token-principal-set"), token: Cl.principal(SBTC) }),
      ...([["operator", OPERATOR], ["signer", SIGNER]] as const).map(([role, who]) =>
        Cl.tuple({
          event: Cl.stringAscii("role-proposed"),
          role: Cl.stringAscii(role),
          who: Cl.principal(who),
          eta: Cl.uint(startBurnHeight + ROLE_DELAY),
        }),
      ),
      ...([["operator", OPERATOR], ["signer", SIGNER]] as const).map(([role, who]) =>
        Cl.tuple({
          event: Cl.stringAscii("role-set"),
          role: Cl.stringAscii(role),
          previous: Cl.some(Cl.principal(DEPLOYER)),
          who: Cl.principal(who),
        }),
      ),
    ]);
  });

  it("advances the nonces", async () => {
    const nonces = await get<ApiAddressNonces>(url, `/extended/v1/address/${WALLET_1}/nonces`);
    expect(nonces).toMatchObject({ last_executed_tx_nonce: 0, last_mempool_tx_nonce: null, possible_next_nonce: 1, detected_missing_nonces: [] });
    expect(await fetchNonce({ address: WALLET_1, network: localNetwork(url) })).toBe(1n);
  });

  it("answers read-only calls as the node does", async () => {
    const [contractAddress, contractName] = VAULT.split(".") as [string, string];
    const total = await fetchCallReadOnlyFunction({
      contractAddress,
      contractName,
      functionName: VAULT_FUNCTIONS.getTotalStxBalance,
      functionArgs: [],
      senderAddress: WALLET_1,
      network: localNetwork(url),
    });
    expect(total).toEqual(Cl.uint(DEPOSIT));

    const raw = await post<Api.ReadOnlyFunctionSuccessResponse>(url, `/v2/contracts/call-read/${contractAddress}/${contractName}/get-provider-record`, {
      sender: WALLET_1,
      arguments: [`0x${Cl.serialize(Cl.principal(WALLET_1))}`],
    });
    const record = Cl.some(
      Cl.tuple({
        nonce: Cl.uint(0),
        "stx-in": Cl.uint(DEPOSIT),
        "stx-out": Cl.uint(0),
        "sbtc-in": Cl.uint(0),
        "sbtc-out": Cl.uint(0),
        "created-seq": Cl.uint(1),
      }),
    );
    expect(raw).toEqual({ okay: true, result: `0x${Cl.serialize(record)}` });

    const missing = await post<Api.ReadOnlyFunctionSuccessResponse>(url, `/v2/contracts/call-read/${contractAddress}/${contractName}/no-such-fn`, {
      sender: WALLET_1,
      arguments: [],
    });
    expect(missing.okay).toBe(false);
    expect(missing.cause).toMatch(/no-such-fn/);
    const badBody = await postJson(url, `/v2/contracts/call-read/${contractAddress}/${contractName}/is-paused`, { sender: WALLET_1 });
    expect(badBody.status).toBe(400);
  });

  it("reports the tip and the blocks", async () => {
    const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
    const info = await get<ApiCoreNodeInfo>(url, "/v2/info");
    expect(info.stacks_tip_height).toBe(tx.block_height);
    expect(`0x${info.stacks_tip}`).toBe(tx.block_hash);
    expect(info.network_id).toBe(0x80000000);
    const v2 = await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${tx.block_height}`);
    expect(v2).toMatchObject({ height: tx.block_height, hash: tx.block_hash, canonical: true, tx_count: 1 });
    expect(await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${tx.block_hash}`)).toEqual(v2);
    const v1 = await get<Api.Block>(url, `/extended/v1/block/by_height/${tx.block_height}`);
    expect(v1).toMatchObject({ height: tx.block_height, hash: tx.block_hash, canonical: true, txs: [tx.tx_id] });
    const parent = await get<Api.NakamotoBlock>(url, `/extended/v2/blocks/${tx.block_height - 1}`);
    expect(v2.parent_block_hash).toBe(parent.hash);
    expect((await getJson(url, "/extended/v2/blocks/999999")).status).toBe(404);
  });
});

describe("fees", () => {
  it("estimates a contract call in three tiers and a transfer per byte", async () => {
    const transaction = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(5), Cl.none()],
      senderKey: WALLET_1_KEY,
      nonce: 99n,
    });
    const estimations = await fetchFeeEstimateTransaction({
      payload: serializePayload(transaction.payload),
      estimatedLength: transaction.serializeBytes().length,
      network: localNetwork(url),
    });
    expect(estimations).toHaveLength(3);
    const fees = estimations.map((e) => e.fee);
    expect(fees[0]).toBeGreaterThanOrEqual(transaction.serializeBytes().length);
    expect([...fees].sort((a, b) => a - b)).toEqual(fees);
    expect(await fetchFeeEstimateTransfer({ transaction: 180, client: { baseUrl: url } })).toBe(180n);
    const badHex = await fetch(`${url}/v2/fees/transaction`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transaction_payload: "zz" }),
    });
    expect({ status: badHex.status, text: await badHex.text() }).toEqual({ status: 400, text: "Failed to decode: Bad hex string supplied for transaction payload" });
  });
});

describe("other transactions", () => {
  it("executes an STX transfer", async () => {
    const recipient = privateKeyToAddress(randomPrivateKey(), "testnet");
    const transaction = await makeSTXTokenTransfer({
      recipient,
      amount: 12_345n,
      senderKey: WALLET_1_KEY,
      network: localNetwork(url),
      fee: 1_000n,
    });
    const txid = await broadcastOk(url, transaction);
    await mine(url);
    const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
    expect(tx).toMatchObject({
      tx_type: "token_transfer",
      tx_status: "success",
      token_transfer: { recipient_address: recipient, amount: "12345" },
      event_count: 1,
    });
    expect(server.simnet.getAssetsMap().get("STX")?.get(recipient)).toBe(12_345n);
  });

  it("runs operator calls as the operator key, which holds the operator role (contract-caller is the signer)", async () => {
    await post(url, "/_local/fund", { address: OPERATOR, ustx: "1000000000" });
    const transaction = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.lockCollateralAggregate,
      args: [Cl.list([Cl.uint(1)]), Cl.uint(400_000), Cl.none()],
      senderKey: OPERATOR_KEY,
      // Nonce 0 was the operator's accept-role transaction at start-up.
      nonce: 1n,
    });
    const txid = await broadcastOk(url, transaction);
    await mine(url);
    const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
    expect(tx).toMatchObject({ tx_status: "success", tx_result: { repr: "(ok true)" }, event_count: 1 });
    expect(server.simnet.callReadOnlyFn(VAULT, VAULT_FUNCTIONS.getTotalStxLocked, [], WALLET_1).result).toEqual(Cl.uint(400_000));
  });

  it("deposits sBTC minted by /_local/mint-sbtc under a fungible-token post-condition", async () => {
    const minted = await post<{ balance: string }>(url, "/_local/mint-sbtc", { address: WALLET_1, sats: 50_000 });
    expect(minted.balance).toBe("50000");
    const transaction = await signedCall(url, {
      functionName: VAULT_FUNCTIONS.depositFunds,
      args: [Cl.uint(20_000), Cl.some(Cl.principal(SBTC))],
      senderKey: WALLET_1_KEY,
      postConditions: [Pc.principal(WALLET_1).willSendEq(20_000).ft(SBTC as `${string}.${string}`, "sbtc-token")],
    });
    const txid = await broadcastOk(url, transaction);
    await mine(url);
    const tx = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${txid}`);
    expect(tx).toMatchObject({
      tx_status: "success",
      post_conditions: [
        {
          type: "fungible",
          condition_code: "sent_equal_to",
          amount: "20000",
          asset: { contract_address: SBTC.split(".")[0], contract_name: "sbtc-token", asset_name: "sbtc-token" },
        },
      ],
    });
    if (tx.tx_type !== "contract_call") throw new Error("expected a contract call");
    expect(tx.events[0]).toMatchObject({
      event_type: "fungible_token_asset",
      asset: { asset_event_type: "transfer", asset_id: `${SBTC}::sbtc-token`, sender: WALLET_1, recipient: VAULT, amount: "20000" },
    });
  });
});

describe("unknown things", () => {
  it("answers 404 for unknown routes and transactions, 400 for malformed ids", async () => {
    expect(await getJson(url, "/extended/v1/nothing")).toMatchObject({ status: 404, body: { error: expect.any(String) } });
    expect((await postJson(url, "/v2/info", {})).status).toBe(404);
    const unknown = "ab".repeat(32);
    expect(await getJson(url, `/extended/v1/tx/0x${unknown}`)).toEqual({
      status: 404,
      headers: expect.anything(),
      body: { error: `could not find transaction by ID 0x${unknown}` },
    });
    expect((await getJson(url, "/extended/v1/tx/0x1234")).status).toBe(400);
    expect((await getJson(url, "/extended/v1/address/not-an-address/nonces")).status).toBe(400);
  });

  it("offers simnet for reads only", () => {
    expect(server.simnet.getAccounts().size).toBeGreaterThan(0);
    expect(() => (server.simnet as unknown as { callPublicFn: unknown }).callPublicFn).toThrow(/not available/);
  });
});

// --- mempool admission -------------------------------------------------

function deposit(amount: bigint, nonce: bigint, fee = 10_000n): Promise<StacksTransactionWire> {
  return signedCall(url, {
    functionName: VAULT_FUNCTIONS.depositFunds,
    args: [Cl.uint(amount), Cl.none()],
    senderKey: KEY,
    postConditions: [Pc.principal(SENDER).willSendEq(amount).ustx()],
    nonce,
    fee,
  });
}

async function rejected(transaction: StacksTransactionWire): Promise<NodeRejection> {
  const result = await broadcast(url, transaction);
  if (!("error" in result)) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return result as unknown as NodeRejection;
}

async function nonces(): Promise<ApiAddressNonces> {
  return await get<ApiAddressNonces>(url, `/extended/v1/address/${SENDER}/nonces`);
}

describe("nonces", () => {
  it("rejects a nonce already used with the node's BadNonce shape", async () => {
    const first = await deposit(100n, 0n);
    await broadcastOk(url, first);
    await mine(url);
    const again = await deposit(200n, 0n);
    expect(await rejected(again)).toEqual({
      error: "transaction rejected",
      reason: "BadNonce",
      reason_data: { expected: 1, actual: 0, is_origin: true, principal: SENDER },
      txid: again.txid(),
    });
  });

  it("keeps a transaction behind a nonce gap pending until the gap is filled", async () => {
    const later = await deposit(300n, 2n);
    const laterId = await broadcastOk(url, later);
    expect(await nonces()).toEqual({
      last_executed_tx_nonce: 0,
      last_mempool_tx_nonce: 2,
      possible_next_nonce: 3,
      detected_missing_nonces: [1],
      detected_mempool_nonces: [2],
    });
    await mine(url);
    expect((await get<ApiMempoolTransaction>(url, `/extended/v1/tx/${laterId}`)).tx_status).toBe("pending");

    const gap = await deposit(400n, 1n);
    const gapId = await broadcastOk(url, gap);
    const { blocks } = await mine(url);
    const filled = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${gapId}`);
    const after = await get<ApiMinedTransaction>(url, `/extended/v1/tx/${laterId}`);
    expect(filled).toMatchObject({ tx_status: "success", block_height: blocks[0]?.height, tx_index: 0 });
    expect(after).toMatchObject({ tx_status: "success", block_height: blocks[0]?.height, tx_index: 1 });
    expect(await nonces()).toMatchObject({ last_executed_tx_nonce: 2, possible_next_nonce: 3, detected_missing_nonces: [] });
  });

  it("refuses more than 25 chained nonces", async () => {
    const far = await deposit(1n, 3n + 25n);
    expect(await rejected(far)).toMatchObject({ reason: "TooMuchChaining", reason_data: { actual: 28, expected: 27, is_origin: true } });
  });
});

describe("replace-by-fee", () => {
  it("replaces a pending transaction only with a higher fee", async () => {
    const original = await deposit(500n, 3n, 10_000n);
    const originalId = await broadcastOk(url, original);
    const sameFee = await deposit(501n, 3n, 10_000n);
    expect(await rejected(sameFee)).toEqual({ error: "transaction rejected", reason: "ConflictingNonceInMempool", txid: sameFee.txid() });

    const replacement = await deposit(502n, 3n, 20_000n);
    const replacementId = await broadcastOk(url, replacement);
    expect((await get<ApiMempoolTransaction>(url, `/extended/v1/tx/${originalId}`)).tx_status).toBe("dropped_replace_by_fee");
    expect(await nonces()).toMatchObject({ last_mempool_tx_nonce: 3, detected_mempool_nonces: [3] });

    await mine(url);
    expect(await get<ApiMinedTransaction>(url, `/extended/v1/tx/${replacementId}`)).toMatchObject({
      tx_status: "success",
      fee_rate: "20000",
      contract_call: { function_args: [{ repr: "u502" }, { repr: "none" }] },
    });
    expect((await get<ApiMempoolTransaction>(url, `/extended/v1/tx/${originalId}`)).tx_status).toBe("dropped_replace_by_fee");
  });
});

describe("dropping", () => {
  it("drops a pending transaction as garbage-collected and frees its nonce", async () => {
    const doomed = await deposit(600n, 4n);
    const doomedId = await broadcastOk(url, doomed);
    const dropped = await post<{ tx_status: string }>(url, "/_local/drop", { txid: `0x${doomedId}` });
    expect(dropped.tx_status).toBe("dropped_stale_garbage_collect");
    expect((await get<ApiMempoolTransaction>(url, `/extended/v1/tx/${doomedId}`)).tx_status).toBe("dropped_stale_garbage_collect");
    expect(await nonces()).toMatchObject({ last_mempool_tx_nonce: null, possible_next_nonce: 4, detected_mempool_nonces: [] });
    expect((await postJson(url, "/_local/drop", { txid: doomedId })).status).toBe(409);
    await mine(url);
    expect((await get<ApiMempoolTransaction>(url, `/extended/v1/tx/${doomedId}`)).tx_status).toBe("dropped_stale_garbage_collect");
    // The same nonce can be used again.
    await broadcastOk(url, await deposit(601n, 4n));
  });
});

describe("stateless checks", () => {
  it("rejects a transaction whose signature does not match its contents", async () => {
    const transaction = await deposit(700n, 5n);
    transaction.setFee(50_000n); // changes the signed bytes after signing
    const rejection = await rejected(transaction);
    expect(rejection).toMatchObject({ error: "transaction rejected", reason: "SignatureValidation", txid: transaction.txid() });
    expect(rejection.reason_data?.message).toEqual(expect.any(String));
  });

  it("rejects a fee below one microSTX per byte", async () => {
    const transaction = await deposit(700n, 5n, 10n);
    expect(await rejected(transaction)).toEqual({
      error: "transaction rejected",
      reason: "FeeTooLow",
      reason_data: { expected: transaction.serializeBytes().length, actual: 10 },
      txid: transaction.txid(),
    });
  });

  it("refuses bytes that are not a transaction as the node does: a text/plain 400, not a JSON rejection", async () => {
    const response = await fetch(`${url}/v2/transactions`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array([1, 2, 3, 4]),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await response.text()).toBe("Failed to decode: Failed to deserialize posted transaction: Could not parse 1 as TransactionVersion");
  });

  it("rejects calls to missing functions and ill-typed arguments", async () => {
    const readOnly = await signedCall(url, { functionName: VAULT_FUNCTIONS.getTotalStxBalance, args: [], senderKey: KEY, nonce: 5n });
    expect((await rejected(readOnly)).reason).toBe("NoSuchPublicFunction");
    const illTyped = await signedCall(url, { functionName: VAULT_FUNCTIONS.depositFunds, args: [Cl.int(5), Cl.none()], senderKey: KEY, nonce: 5n });
    expect(await rejected(illTyped)).toMatchObject({ reason: "BadFunctionArgument", reason_data: { message: expect.stringMatching(/uint/) } });
    const noContract = await signedCall(url, { functionName: "f", args: [], senderKey: KEY, nonce: 5n, contract: `${SENDER}.nothing` });
    expect((await rejected(noContract)).reason).toBe("NoSuchContract");
  });

  it("rejects a sender who cannot pay the fee", async () => {
    const poorKey = randomPrivateKey();
    const transaction = await signedCall(url, { functionName: VAULT_FUNCTIONS.pause, args: [], senderKey: poorKey, nonce: 0n });
    expect(await rejected(transaction)).toMatchObject({
      reason: "NotEnoughFunds",
      reason_data: { expected: `0x${(10_000).toString(16).padStart(32, "0")}`, actual: `0x${"0".repeat(32)}` },
    });
  });
});

describe("request bodies", () => {
  it("takes raw bytes as application/octet-stream and answers the txid as a JSON string", async () => {
    const transaction = await deposit(800n, 5n);
    const response = await fetch(`${url}/v2/transactions`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(transaction.serializeBytes()),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.text()).toBe(JSON.stringify(transaction.txid()));
    // Broadcasting the same transaction again is answered with its txid.
    expect(await broadcast(url, transaction)).toEqual({ txid: transaction.txid() });
  });

  it("validates JSON bodies and content types", async () => {
    // Requests the node cannot read are refused before the mempool, in text/plain (posttransaction.rs).
    const refusal = async (init: RequestInit) => {
      const response = await fetch(`${url}/v2/transactions`, { method: "POST", ...init });
      return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
    };
    const json = { "content-type": "application/json" };
    const plain = (text: string) => ({ status: 400, type: "text/plain; charset=utf-8", text: `Failed to decode: ${text}` });
    expect(await refusal({ headers: json, body: JSON.stringify({ tx: "not hex" }) })).toEqual(plain("Failed to parse tx"));
    expect(await refusal({ headers: json, body: "{" })).toEqual(plain("Failed to parse body"));
    expect(await refusal({ headers: json, body: JSON.stringify({ transaction: "00" }) })).toEqual(plain("Failed to parse body"));
    expect(await refusal({ headers: { "content-type": "text/plain" }, body: "01" })).toEqual(
      plain("Wrong Content-Type for transaction; expected application/json or application/octet-stream"),
    );
    expect(await refusal({ headers: { "content-type": "application/octet-stream" } })).toEqual(
      plain("Invalid Http request: expected non-zero-length body for PostTransaction"),
    );
    expect((await postJson(url, "/_local/mine", { count: 0 })).status).toBe(400);
    expect((await postJson(url, "/_local/fund", { address: "nope", ustx: 1 })).status).toBe(400);
    expect((await getJson(url, `/extended/v1/contract/${SENDER}.x/events?limit=abc`)).status).toBe(400);
  });
});

describe("the mempool shape", () => {
  it("reports a pending transaction with receipt time and post-conditions", async () => {
    const pending = await get<Api.MempoolContractCallTransaction>(url, `/extended/v1/tx/${(await deposit(800n, 5n)).txid()}`);
    expect(pending).toMatchObject({
      tx_status: "pending",
      nonce: 5,
      fee_rate: "10000",
      anchor_mode: "any",
      post_conditions: [{ type: "stx", condition_code: "sent_equal_to", amount: "800" }],
    });
    expect(pending.receipt_time_iso).toBe(new Date(pending.receipt_time * 1000).toISOString());
  });
});
