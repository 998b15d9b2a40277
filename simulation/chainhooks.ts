/**
 * Chainhook delivery for the simulation (README "Chainhooks"): the chainhook
 * emulator (devnet/chainhookEmulator.ts) subscribed to the simulation's local
 * chain, POSTing its deliveries to the backend's `POST /chainhooks/vault`
 * through the HTTP bridge (convex-test serves HTTP actions only in-process).
 * The poller (`syncVaultEvents`) still runs every step, as the reconciler.
 *
 * Deliveries are held while a step mines and sent once both of its blocks are
 * on the chain. Sent as each block is mined, a delivery's confirmer could run
 * before the confirming block exists and wait on a wall-clock back-off
 * (convex/chainhooks.ts) — so whether the delivery or the poller applied an
 * event would depend on timing. Held, every delivered block is confirmed when
 * its confirmer first runs, and the run stays deterministic.
 */
import { randomBytes } from "node:crypto";

import { startChainhookEmulator, type ChainhookEmulator, type Post } from "../devnet/chainhookEmulator";
import type { LocalChain } from "../devnet/chain";
import { startConvexHttpBridge } from "./convexHttpBridge";

type HttpBackend = Parameters<typeof startConvexHttpBridge>[0];

export type ChainhookIngest = {
  /** Sends every delivery held since the last call and waits until each is answered; returns how many were sent. */
  deliver(): Promise<number>;
  /** Deliveries that were not taken (non-2xx after every retry). */
  refused(): number;
  /** Vault events the poller put in the books before the first delivery (the deployment's). */
  eventsPolledAtSetup: number;
  /** Stops delivering (what is held goes out first); closing again does nothing more. */
  close(): Promise<void>;
};

/** A consumer secret for one run (a secret is never seeded). */
export function newChainhookSecret(): string {
  return randomBytes(24).toString("hex");
}

export async function startChainhookIngest(options: {
  t: HttpBackend;
  chain: LocalChain;
  vaultContractId: string;
  secret: string;
}): Promise<ChainhookIngest> {
  const bridge = await startConvexHttpBridge(options.t);
  let open = false;
  let held: (() => void)[] = [];
  const release = () => {
    const waiting = held;
    held = [];
    for (const go of waiting) go();
  };
  const post: Post = async (url, init) => {
    if (!open) await new Promise<void>((resolve) => held.push(resolve));
    return await fetch(url, init);
  };
  let emulator: ChainhookEmulator;
  try {
    emulator = startChainhookEmulator({
      chain: options.chain,
      url: `${bridge.url}/chainhooks/vault`,
      secret: options.secret,
      vaultContractId: options.vaultContractId,
      post,
    });
  } catch (error) {
    await bridge.close();
    throw error;
  }
  let sent = 0;
  let closed: Promise<void> | null = null;
  return {
    async deliver() {
      open = true;
      release();
      try {
        await emulator.settled();
      } finally {
        open = false;
      }
      const count = emulator.deliveries.length - sent;
      sent = emulator.deliveries.length;
      return count;
    },
    refused: () => emulator.deliveries.filter((d) => !d.delivered).length,
    eventsPolledAtSetup: 0,
    // Idempotent: a scenario whose backend stops closes it early, and the stack closes it again.
    close() {
      closed ??= (async () => {
        emulator.stop();
        // Whatever is still held goes out now, so that nothing waits on a closed bridge.
        open = true;
        release();
        await emulator.settled();
        await bridge.close();
      })();
      return closed;
    },
  };
}
