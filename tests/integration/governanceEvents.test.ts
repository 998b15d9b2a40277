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
import { BACKEND_ADDRESS, BACKEND_KEY, DEPLOYER, mine, newWallet, signAndBroadcast, startStack, stopStack, VAULT, type Stack } from "./stack";

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
      .action(api.liquidity.requestCommitCapital, { amount: DEPOSIT, token: "STX", tier: "Balanced" });
    await signAndBroadcast(stack.server, call, wallet.key);
    await mine(stack.server);
    expect(await sync()).toMatchObject({ applied: 1, recorded: 5, unmatched: 0, rejected: 0 });
    const eta = BigInt(stack.server.simnet.burnBlockHeight);
    expect(await recordedEvents()).toEqual([
      { kind: "sbtc-token-principal-set", tokenContract: `${DEPLOYER}.sbtc-token` },
      { kind: "role-proposed", role: "operator", who: BACKEND_ADDRESS, eta },
      { kind: "role-proposed", role: "signer", who: BACKEND_ADDRESS, eta },
      { kind: "role-set", role: "operator", previous: DEPLOYER, who: BACKEND_ADDRESS },
      { kind: "role-set", role: "signer", previous: DEPLOYER, who: BACKEND_ADDRESS },
    ]);
    provider = wallet;
  });

  it("records every governance event of the vault once, applying none of them to the books", async () => {
    const before = await books();
    const admin = DEVNET_KEYS.deployer;
    const stranger = privateKeyToAddress(randomPrivateKey(), "testnet");
    const proposedAt = BigInt(stack.server.simnet.burnBlockHeight);

    await vaultCall(admin, VAULT_FUNCTIONS.setOutflowLimit, [Cl.uint(500), Cl.uint(2_000_000_000n), Cl.uint(20_000_000n)]);
    await vaultCall(admin, VAULT_FUNCTIONS.proposeRole, [Cl.stringAscii("guardian"), Cl.principal(stranger)]);
    await vaultCall(admin, VAULT_FUNCTIONS.cancelRole, [Cl.stringAscii("guardian")]);
    await vaultCall(admin, VAULT_FUNCTIONS.pause, []);
    await vaultCall(admin, VAULT_FUNCTIONS.unpause, []);
    const flows = { "stx-in": Cl.uint(DEPOSIT), "stx-out": Cl.uint(0), "sbtc-in": Cl.uint(0), "sbtc-out": Cl.uint(0) };
    await vaultCall(BACKEND_KEY, VAULT_FUNCTIONS.postCheckpoint, [
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
    await vaultCall(BACKEND_KEY, VAULT_FUNCTIONS.publishLeaves, [Cl.uint(1), Cl.uint(0), Cl.list([Cl.tuple(leaf)])]);
    await vaultCall(admin, VAULT_FUNCTIONS.vetoCheckpoint, []);
    await vaultCall(admin, VAULT_FUNCTIONS.revokeHotKeys, []);
    await vaultCall(admin, VAULT_FUNCTIONS.shutdown, []);
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
    // Not one of them moved money in the books, raised an alert or was refused by the decoder.
    expect(await books()).toEqual(before);

    // Another run finds nothing new; nothing is recorded twice.
    expect(await sync()).toMatchObject({ applied: 0, recorded: 0, unmatched: 0, rejected: 0 });
    expect(await recordedEvents()).toHaveLength(16);
  });
});
