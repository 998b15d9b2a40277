/**
 * The vault's governance events through the real sync, over HTTP: the vault
 * is driven through every governance call it has (roles, pause, the outflow
 * limit, a checkpoint with its leaves and a veto, revoking the hot keys,
 * shutdown and an exit claim), and each event it prints is decoded and
 * recorded once, as printed, without touching the books or failing the sync.
 * Acting on them (alerts, stopping after shutdown, exit bookkeeping) is later
 * work: the books still show the provider's deposit after their exit.
 */
import { createNetwork } from "@stacks/network";
import { Cl, makeContractCall, Pc, privateKeyToAddress, randomPrivateKey, type ClarityValue, type PostCondition } from "@stacks/transactions";
import type { TestConvex } from "convex-test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { api, internal } from "../../convex/_generated/api";
import { VAULT_FUNCTIONS } from "../../convex/chain/vault";
import type schema from "../../convex/schema";
import type { GovernanceEvent } from "../../convex/validators";
import { DEVNET_KEYS } from "../../devnet/devnetAccounts";
import { expectPoolError } from "../convex/poolErrors";
import { DEPLOYER, OPERATOR_ADDRESS, OPERATOR_KEY, SIGNER_ADDRESS, mine, newWallet, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

let stack: Stack;
const backend = () => stack.t as unknown as TestConvex<typeof schema>;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stopStack(stack);
});

const sync = () => stack.t.action(internal.eventSync.syncVaultEvents, {});
const DEPOSIT = 5_000_000_000n;
const ROOT = "5e".repeat(32);

/** Signs a vault call with `senderKey`, broadcasts it, mines it and requires `(ok …)`. */
async function vaultCall(senderKey: string, functionName: string, args: ClarityValue[], postConditions: PostCondition[] = []) {
  const network = createNetwork({ network: "testnet", client: { baseUrl: stack.server.url } });
  const sender = privateKeyToAddress(senderKey, "testnet");
  const transaction = await makeContractCall({
    contractAddress: DEPLOYER,
    contractName: "liquidity-pool",
    functionName,
    functionArgs: args,
    senderKey,
    network,
    nonce: stack.server.chain.nextNonce(sender),
    fee: 10_000n,
    postConditionMode: "deny",
    postConditions,
  });
  const response = await fetch(`${stack.server.url}/v2/transactions`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.from(transaction.serializeBytes()),
  });
  if (!response.ok) throw new Error(`${functionName} rejected: ${await response.text()}`);
  await mine(stack.server, 1);
  const mined = stack.server.chain.txView(transaction.txid())?.inclusion;
  expect({ functionName, status: mined?.status, result: mined?.result.type }).toEqual({
    functionName,
    status: "success",
    result: "ok",
  });
}

async function books() {
  return await backend().run(async (ctx) => ({
    balances: await ctx.db.query("providerBalances").collect(),
    ledger: await ctx.db.query("balanceLedger").collect(),
    mirror: await ctx.db.query("poolMetrics").collect(),
    alerts: await ctx.db.query("alerts").collect(),
    rejected: await ctx.db.query("rejectedEvents").collect(),
  }));
}

async function recordedEvents(): Promise<Omit<GovernanceEvent, "txid" | "eventIndex" | "blockHeight" | "blockHash">[]> {
  const stored = await backend().run(async (ctx) => await ctx.db.query("vaultEvents").withIndex("by_block_height").collect());
  return stored
    .filter((e) => e.status === "recorded")
    .map(({ event }) => {
      const { txid: _txid, eventIndex: _index, blockHeight: _height, blockHash: _hash, ...printed } = event;
      return printed as Omit<GovernanceEvent, "txid" | "eventIndex" | "blockHeight" | "blockHash">;
    });
}

describe("governance events", () => {
  /** The depositor who exits after shutdown. */
  let provider: { key: string; address: string };

  it("records the start-up configuration (sBTC token, role proposals and acceptances) next to a deposit", async () => {
    const wallet = await newWallet(stack.server);
    const { call } = await stack.t
      .withIdentity({ subject: wallet.address })
      .mutation(api.liquidity.requestCommitCapital, { amount: DEPOSIT, token: "STX", tier: "Balanced" });
    await signAndBroadcast(stack.server, call, wallet.key);
    await mine(stack.server);
    expect(await sync()).toMatchObject({ applied: 1, recorded: 5, unmatched: 0, rejected: 0 });
    const eta = BigInt(stack.server.simnet.burnBlockHeight);
    expect(await recordedEvents()).toEqual([
      { kind: "sbtc-token-principal-set", tokenContract: `${DEPLOYER}.sbtc-token` },
      { kind: "role-proposed", role: "operator", who: OPERATOR_ADDRESS, eta },
      { kind: "role-proposed", role: "signer", who: SIGNER_ADDRESS, eta },
      { kind: "role-set", role: "operator", previous: DEPLOYER, who: OPERATOR_ADDRESS },
      { kind: "role-set", role: "signer", previous: DEPLOYER, who: SIGNER_ADDRESS },
    ]);
    provider = wallet;
  });

  it("records every governance event of the vault once and acts on it (alerts, the hot roles, the shutdown), moving no money in the books", async () => {
    const { alerts: alertsBefore, ...before } = await books();
    const admin = DEVNET_KEYS.deployer;
    const stranger = privateKeyToAddress(randomPrivateKey(), "testnet");
    const proposedAt = BigInt(stack.server.simnet.burnBlockHeight);

    await vaultCall(admin, VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(500), Cl.uint(2_000_000_000n), Cl.uint(20_000_000n)]);
    await vaultCall(admin, VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii("guardian"), Cl.principal(stranger)]);
    await vaultCall(admin, VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii("guardian")]);
    await vaultCall(admin, VAULT_FUNCTIONS.pause, []);
    const pausedAt = stack.server.chain.blocks.tip.height;
    await vaultCall(admin, VAULT_FUNCTIONS.unpause, []);
    const flows = { "stx-in": Cl.uint(DEPOSIT), "stx-out": Cl.uint(0), "sbtc-in": Cl.uint(0), "sbtc-out": Cl.uint(0) };
    await vaultCall(OPERATOR_KEY, VAULT_FUNCTIONS.postCheckpoint, [
      Cl.bufferFromHex(ROOT),
      Cl.uint(DEPOSIT),
      Cl.uint(0),
      Cl.uint(1),
      Cl.tuple(flows),
      Cl.uint(1),
    ]);
    const leaf = {
      provider: Cl.principal(provider.address),
      stx: Cl.uint(DEPOSIT),
      sbtc: Cl.uint(0),
      "stx-in": Cl.uint(DEPOSIT),
      "stx-out": Cl.uint(0),
      "sbtc-in": Cl.uint(0),
      "sbtc-out": Cl.uint(0),
    };
    await vaultCall(OPERATOR_KEY, VAULT_FUNCTIONS.publishLeaves, [Cl.uint(1), Cl.uint(0), Cl.list([Cl.tuple(leaf)])]);
    await vaultCall(admin, VAULT_FUNCTIONS.vetoCheckpoint, []);
    await vaultCall(admin, VAULT_FUNCTIONS.revokeHotKeys, []);
    await vaultCall(admin, VAULT_FUNCTIONS.shutdown, []);
    const shutdownHeight = stack.server.chain.blocks.tip.height;
    await vaultCall(provider.key, VAULT_FUNCTIONS.claimExit, [Cl.none(), Cl.none(), Cl.list([])], [Pc.principal(VAULT).willSendEq(DEPOSIT).ustx()]);
    expect(stack.server.chain.stxBalance(VAULT)).toBe(0n);
    await mine(stack.server);

    expect(await sync()).toMatchObject({ applied: 0, unmatched: 0, rejected: 0, recorded: 11 });
    expect((await recordedEvents()).slice(5)).toEqual([
      { kind: "outflow-limit-set", limitBps: 500n, stxFloor: 2_000_000_000n, sbtcFloor: 20_000_000n },
      { kind: "role-proposed", role: "guardian", who: stranger, eta: proposedAt + 144n },
      { kind: "role-cancelled", role: "guardian" },
      { kind: "paused-set", paused: true },
      { kind: "paused-set", paused: false },
      {
        kind: "checkpoint-posted",
        epoch: 1n,
        root: `0x${ROOT}`,
        stxSum: DEPOSIT,
        sbtcSum: 0n,
        asOfSeq: 1n,
        flows: { stxIn: DEPOSIT, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n },
        leafCount: 1n,
      },
      {
        kind: "checkpoint-leaves",
        epoch: 1n,
        offset: 0n,
        leaves: [
          { provider: provider.address, stx: DEPOSIT, sbtc: 0n, stxIn: DEPOSIT, stxOut: 0n, sbtcIn: 0n, sbtcOut: 0n },
        ],
      },
      { kind: "checkpoint-vetoed", epoch: 1n },
      { kind: "hot-keys-revoked" },
      {
        kind: "shutdown",
        by: DEPLOYER,
        stxAssets: DEPOSIT,
        stxLiabilities: DEPOSIT,
        sbtcAssets: 0n,
        sbtcLiabilities: 0n,
      },
      { kind: "exit-claimed", provider: provider.address, token: "STX", owed: DEPOSIT, paid: DEPOSIT },
    ]);
    // Not one of them moved money in the books or was refused by the decoder.
    const { alerts, ...after } = await books();
    expect(after).toEqual(before);
    // Operators heard of each one that needs them, in chain order.
    const newAlerts = alerts.slice(alertsBefore.length).map((a) => [a.kind, a.message, a.resolved]);
    expect(newAlerts).toEqual([
      ["outflow-limit-set", "the admin set the outflow limit to 500 bps per window, floors 2000000000 µSTX and 20000000 sats", false],
      [
        "role-proposed",
        `the admin proposed ${stranger} for the vault's guardian role, acceptable from burn block ${proposedAt + 144n}: ` +
          "if this hand-over was not planned, the guardian must call cancel-role before then",
        true,
      ],
      [
        "paused-set",
        `the vault was paused in block ${pausedAt}: deposits, premiums, withdrawals and locks are refused (u207) ` +
          "until the admin unpauses it; releases and settlements still go",
        true,
      ],
      [
        "checkpoint-unknown",
        `checkpoint epoch 1 (root 0x${ROOT}, as-of-seq 1, 1 leaves, sums ${DEPOSIT} µSTX and 0 sats) was posted, ` +
          "but not by the backend's checkpoint job: someone else holds the operator key — the guardian must " +
          "veto-checkpoint inside its veto window (144 burn blocks) and revoke-hot-keys; no voucher is signed while it is current",
        true,
      ],
      ["checkpoint-vetoed", "checkpoint epoch 1 was vetoed: the previous checkpoint is current again", false],
      [
        "hot-keys-revoked",
        "the vault's operator and signer keys were revoked: no backend transaction is sent and no voucher signed " +
          "until new keys hold both roles (propose-role, accept-role) and OPERATOR_PRIVATE_KEY / SIGNER_PRIVATE_KEY name them",
        false,
      ],
      [
        "vault-shut-down",
        `the vault was shut down by ${DEPLOYER} in block ${shutdownHeight}: nothing more is sent, no commitment or withdrawal ` +
          "is taken on, and providers leave through claim-exit (npm run exit)",
        false,
      ],
    ]);
    const state = await backend().run(async (ctx) => await ctx.db.query("vaultState").unique());
    expect(state).toMatchObject({
      hotRoles: { operator: null, signer: null },
      shutDown: { by: DEPLOYER, stxAssets: DEPOSIT, stxLiabilities: DEPOSIT, sbtcAssets: 0n, sbtcLiabilities: 0n },
    });
    // The provider's portfolio shows the exit: owed by the formula, and the claim the vault paid.
    const asProvider = stack.t.withIdentity({ subject: provider.address });
    expect((await asProvider.query(api.liquidity.getProviderPortfolio, {}))?.exit).toEqual({
      shutDownAtBlock: BigInt(shutdownHeight),
      claims: [
        { token: "STX", owed: DEPOSIT, pays: 0n, claimed: DEPOSIT },
        { token: "sBTC", owed: 0n, pays: 0n, claimed: null },
      ],
    });
    // A shut-down vault takes nothing new on.
    await expectPoolError(asProvider.action(api.liquidity.requestWithdrawal, { amount: 1n, token: "STX" }), "VAULT_SHUT_DOWN");
    await expectPoolError(asProvider.mutation(api.liquidity.requestCommitCapital, { amount: 1n, token: "STX", tier: "Balanced" }), "VAULT_SHUT_DOWN");

    // Another run finds nothing new; nothing is recorded twice.
    expect(await sync()).toMatchObject({ applied: 0, recorded: 0, unmatched: 0, rejected: 0 });
    expect(await recordedEvents()).toHaveLength(16);
  });
});
