/**
 * Fixtures for the liquidity API tests: providers, chain configuration, and
 * synced vault events.
 */
import { Cl, privateKeyToAddress } from "@stacks/transactions";
import { vi } from "vitest";

import type { Token, VaultEvent } from "../../convex/validators";

export const ALICE = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
export const BOB = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
export const CAROL = "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC";
export const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
export const VAULT = `${DEPLOYER}.liquidity-pool`;
export const SBTC = `${DEPLOYER}.sbtc-token`;

/** A test-only backend key (never used elsewhere). */
export const SIGNER_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
export const SIGNER_ADDRESS = privateKeyToAddress(SIGNER_KEY, "testnet");

export const API_URL = "http://127.0.0.1:3999";

/** Points the backend at a devnet-like chain through the environment, as a deployment would. */
export function configureChain(): void {
  vi.stubEnv("STACKS_NETWORK", "testnet");
  vi.stubEnv("STACKS_API_URL", API_URL);
  vi.stubEnv("VAULT_CONTRACT_ID", VAULT);
  vi.stubEnv("SBTC_CONTRACT_ID", SBTC);
  vi.stubEnv("SIGNER_PRIVATE_KEY", SIGNER_KEY);
  vi.stubEnv("VOUCHER_TTL_BLOCKS", "50");
}

/** Room in the vault's outflow window the stubbed chain reports (`get-outflow`): more than any test withdraws. */
export const STUB_OUTFLOW_ROOM = 10n ** 15n;

/** A `get-outflow` answer: the window's start, what it used, its cap and what is still free. */
export type StubOutflowWindow = { windowStart: bigint; used: bigint; cap: bigint; available: bigint };

/**
 * Answers /v2/info with the given tip height and the vault's `get-outflow`
 * with `outflow`: a fresh window of that much room, or the window given;
 * every other request fails the test. Returns the URLs asked, in order.
 */
export function stubChainTip(height: number, outflow: bigint | StubOutflowWindow = STUB_OUTFLOW_ROOM): string[] {
  const window = typeof outflow === "bigint" ? { windowStart: 100n, used: 0n, cap: outflow, available: outflow } : outflow;
  const requests: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: string | URL | Request) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      requests.push(url);
      const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
      if (url === `${API_URL}/v2/info`) return json({ stacks_tip_height: height, burn_block_height: Number(window.windowStart) });
      if (url.startsWith(`${API_URL}/v2/contracts/call-read/`) && url.includes("/get-outflow")) {
        const tuple = Cl.tuple({
          "window-start": Cl.uint(window.windowStart),
          used: Cl.uint(window.used),
          cap: Cl.uint(window.cap),
          available: Cl.uint(window.available),
        });
        return json({ okay: true, result: `0x${Cl.serialize(tuple)}` });
      }
      throw new Error(`unexpected request to ${url}`);
    }),
  );
  return requests;
}

let txCounter = 0;

/** A fresh, unique transaction id. */
export function nextTxid(): string {
  txCounter += 1;
  return `0x${txCounter.toString(16).padStart(64, "0")}`;
}

let seqCounter = 0n;

/** The vault's flow counter: every deposit or withdrawal takes the next value. */
function nextSeq(): bigint {
  seqCounter += 1n;
  return seqCounter;
}

const position = (blockHeight: bigint) => ({
  txid: nextTxid(),
  eventIndex: 0,
  blockHeight,
  blockHash: `0x${blockHeight.toString(16).padStart(64, "b")}`,
});

export function depositEvent(
  depositor: string,
  token: Token,
  amount: bigint,
  totals: { totalBalance: bigint; totalLocked: bigint },
  blockHeight = 10n,
): VaultEvent {
  return { ...position(blockHeight), kind: "funds-deposited", depositor, token, amount, seq: nextSeq(), ...totals };
}

export function withdrawalEvent(
  provider: string,
  token: Token,
  amount: bigint,
  nonce: bigint,
  totals: { totalBalance: bigint; totalLocked: bigint },
  blockHeight = 20n,
): VaultEvent {
  return { ...position(blockHeight), kind: "funds-withdrawn", provider, token, amount, nonce, seq: nextSeq(), ...totals };
}
