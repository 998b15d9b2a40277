/**
 * Every event the vault ever printed, read from a Stacks API alone (README
 * "Operations: the watcher and the exit"). The tools trust no database: what
 * they check, and what a provider claims, is rebuilt from these events and the
 * vault's read-only answers, nothing else.
 *
 * The walk is the event sync's own (`logsAbove`: the cursor-paged v2 logs
 * from the vault's first print upward, each page's transactions placed in one
 * request) and each print is decoded by the sync's decoder, so a tuple the
 * backend would refuse is refused here too. Each run reads from the first
 * event: a tool that keeps no state cannot be misled by a reorg it missed.
 */
import { logsAbove } from "../convex/chain/contractLogs";
import type { HiroClient } from "../convex/chain/hiroClient";
import { decodeVaultPrint, type Decoded } from "../convex/chain/vault";

export type MoneyEvent = Extract<Decoded, { kind: "money" }>["event"];
export type GovernanceEvent = Extract<Decoded, { kind: "governance" }>["event"];
/** A decoded print with its place on the chain (txid, event index, block). */
export type ChainEvent = MoneyEvent | GovernanceEvent;
/** The event of one kind: `EventOf<"shutdown">`. */
export type EventOf<K extends ChainEvent["kind"]> = Extract<ChainEvent, { kind: K }>;

export type VaultEventLog = {
  /** Oldest first: the vault's order of execution. */
  events: ChainEvent[];
  /** Prints the decoder refused: a vault of another version, or an API answering nonsense. */
  malformed: { txid: string; eventIndex: number; reason: string }[];
  /**
   * Prints whose transaction the API could not place in a canonical block at
   * the moment of reading (its indexer between two updates): left out, so the
   * books may be short of them until the next read.
   */
  unplaced: number;
};

type LogsClient = Pick<HiroClient, "getContractLogs" | "getPlacedTransactions">;

/**
 * Reads and decodes every print of `vaultContractId`. `sbtcContractId` is the
 * vault's configured sBTC (null before it has one: no event can name sBTC then).
 */
export async function readVaultEvents(client: LogsClient, vaultContractId: string, sbtcContractId: string | null): Promise<VaultEventLog> {
  const log: VaultEventLog = { events: [], malformed: [], unplaced: 0 };
  for await (const rows of logsAbove(client, vaultContractId, { after: null })) {
    for (const row of rows) {
      // Only successful transactions in canonical blocks happened; the rest never moved anything.
      if (row.at === null || !row.at.canonical || !row.at.succeeded) {
        log.unplaced++;
        continue;
      }
      const position = { txid: row.txid, eventIndex: row.eventIndex, blockHeight: row.at.blockHeight, blockHash: row.at.blockHash };
      const decoded = decodeVaultPrint(row.hex, position, sbtcContractId ?? "");
      if (decoded.kind === "malformed") log.malformed.push({ txid: row.txid, eventIndex: row.eventIndex, reason: decoded.reason });
      else log.events.push(decoded.event);
    }
  }
  return log;
}

export function eventsOfKind<K extends ChainEvent["kind"]>(events: readonly ChainEvent[], kind: K): EventOf<K>[] {
  return events.filter((event): event is EventOf<K> => event.kind === kind);
}
