import { describe, expect, it } from "vitest";

import type { HiroClient, SmartContractLog } from "../../convex/chain/hiroClient";
import type { TransactionInfo } from "../../convex/chain/hiroSchemas";
import {
  MAX_PAGES_AHEAD,
  TransactionCache,
  vaultEventPages,
  type EventPage,
} from "../../convex/chain/vaultEventPages";

const CONTRACT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.liquidity-pool";

function log(n: number): SmartContractLog {
  return {
    event_index: 0,
    event_type: "smart_contract_log",
    tx_id: `0x${n.toString(16).padStart(64, "0")}`,
    contract_log: { contract_id: CONTRACT, topic: "print", value: { hex: "0x00", repr: "" } },
  } as SmartContractLog;
}

/** A fake API with `total` events, newest first; records every request in order. */
function fakeApi(total: number, options: { failAtOffset?: number } = {}) {
  const requests: string[] = [];
  const client = {
    getContractEvents: async (_id: string, page: { limit: number; offset: number }) => {
      requests.push(`events@${page.offset}`);
      await Promise.resolve();
      if (page.offset === options.failAtOffset) throw new Error(`page ${page.offset} failed`);
      const logs = Array.from({ length: Math.max(0, Math.min(page.limit, total - page.offset)) }, (_, i) =>
        log(total - page.offset - i),
      );
      return { limit: page.limit, offset: page.offset, count: logs.length, logs };
    },
    getTransactions: async (txids: readonly string[]) => {
      requests.push(`txs×${txids.length}`);
      await Promise.resolve();
      return new Map(txids.map((txid) => [txid, { tx_id: txid } as unknown as TransactionInfo]));
    },
  } satisfies Pick<HiroClient, "getContractEvents" | "getTransactions">;
  return { client, requests };
}

async function collect(pages: AsyncGenerator<EventPage>, stopAfter = Infinity): Promise<EventPage[]> {
  const seen: EventPage[] = [];
  for await (const page of pages) {
    seen.push(page);
    if (seen.length >= stopAfter) break;
  }
  return seen;
}

describe("vaultEventPages", () => {
  it("yields every page newest first, each with its transactions already loaded", async () => {
    const { client, requests } = fakeApi(5);
    const txs = new TransactionCache(client);
    const pages = await collect(vaultEventPages(client, txs, CONTRACT, 2));
    expect(pages.map((p) => [p.offset, p.count])).toEqual([
      [0, 2],
      [2, 2],
      [4, 1],
    ]);
    expect(pages.flatMap((p) => p.logs.map((l) => Number.parseInt(l.tx_id.slice(2), 16)))).toEqual([5, 4, 3, 2, 1]);
    // Transactions were fetched with their page, so these lookups make no request.
    const before = requests.length;
    for (const l of pages.flatMap((p) => p.logs)) expect(await txs.get(l.tx_id)).toEqual({ tx_id: l.tx_id });
    expect(requests.length).toBe(before);
  });

  it("requests the first page at once, before the caller asks for it", async () => {
    const { client, requests } = fakeApi(3);
    const pages = vaultEventPages(client, new TransactionCache(client), CONTRACT, 2);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(requests).toEqual(["events@0", "txs×2"]);
    expect((await pages.next()).value).toMatchObject({ offset: 0, count: 2 });
    await pages.return(undefined);
  });

  it("reads ahead one page, then two, then four while pages come back full", async () => {
    const { client, requests } = fakeApi(100);
    const pages = vaultEventPages(client, new TransactionCache(client), CONTRACT, 2);
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    const eventRequests = () => requests.filter((r) => r.startsWith("events@"));

    expect((await pages.next()).value).toMatchObject({ offset: 0, count: 2 });
    await settle();
    // The caller holds page 0; pages 1 and 2 are already requested.
    expect(eventRequests()).toEqual(["events@0", "events@2", "events@4"]);

    expect((await pages.next()).value).toMatchObject({ offset: 2 });
    await settle();
    expect(eventRequests()).toEqual(["events@0", "events@2", "events@4", "events@6", "events@8", "events@10"]);

    expect((await pages.next()).value).toMatchObject({ offset: 4 });
    await settle();
    // Never more than MAX_PAGES_AHEAD in flight.
    expect(MAX_PAGES_AHEAD).toBe(4);
    expect(eventRequests().at(-1)).toBe("events@12");
    await pages.return(undefined);
  });

  it("requests nothing beyond a page that reaches the floor", async () => {
    const { client, requests } = fakeApi(100);
    const reachesFloor = (page: EventPage) => page.offset >= 2;
    const pages = await collect(vaultEventPages(client, new TransactionCache(client), CONTRACT, 2, reachesFloor), 2);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(pages.map((p) => p.offset)).toEqual([0, 2]);
    // Page 0 did not reach the floor, so pages 1 and 2 were requested; page 1 did, so no more.
    expect(requests.filter((r) => r.startsWith("events@"))).toEqual(["events@0", "events@2", "events@4"]);
  });

  it("stops asking after a short page, and a caller that stops early hears nothing of pages fetched ahead", async () => {
    const { client, requests } = fakeApi(10, { failAtOffset: 2 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const pages = await collect(vaultEventPages(client, new TransactionCache(client), CONTRACT, 2), 1);
      expect(pages.map((p) => p.offset)).toEqual([0]);
      await new Promise((resolve) => setTimeout(resolve, 10));
      // Page 1 failed and page 2 arrived after the caller had left.
      expect(requests.filter((r) => r.startsWith("events@"))).toEqual(["events@0", "events@2", "events@4"]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }

    const short = fakeApi(3);
    await collect(vaultEventPages(short.client, new TransactionCache(short.client), CONTRACT, 2));
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Page 0 was full, so pages 1 and 2 went out together; page 1 was short: the end.
    expect(short.requests.filter((r) => r.startsWith("events@"))).toEqual(["events@0", "events@2", "events@4"]);
  });

  it("surfaces the failure of a page the caller does ask for", async () => {
    const { client } = fakeApi(10, { failAtOffset: 2 });
    await expect(collect(vaultEventPages(client, new TransactionCache(client), CONTRACT, 2))).rejects.toThrow("page 2 failed");
  });
});

describe("TransactionCache", () => {
  it("looks each transaction up once, in one batch for the ones it does not know", async () => {
    const { client, requests } = fakeApi(0);
    const txs = new TransactionCache(client);
    await txs.load(["0xa", "0xb", "0xa"]);
    await txs.load(["0xb", "0xc"]);
    expect(await txs.get("0xc")).toEqual({ tx_id: "0xc" });
    expect(requests).toEqual(["txs×2", "txs×1"]);
  });
});
