/**
 * Owns the simnet instance behind the server and makes it rewindable.
 *
 * Simnet commits every call and has no snapshot/rollback API (clarinet-sdk
 * 3.21; post-conditions in simnet only arrived in 3.24). A Stacks node rolls
 * back a transaction whose post-conditions fail, so this class keeps a journal
 * of every state change it made (mined blocks, mints) and can `restore` an
 * earlier point by replaying the journal into a fresh simnet session. Replays
 * are deterministic: same deployment plan, same blocks in the same order, so
 * the same heights and the same state (block *times* are simnet's wall-clock
 * times of the replay).
 *
 * Everyone else sees simnet through `view`, a read-only facade that always
 * points at the current session; mutating simnet directly would bypass the
 * journal, the mempool and the block records, so the facade does not offer it.
 */
import { getSDK, tx, type ParsedTransactionResult, type Simnet, type Tx } from "@stacks/clarinet-sdk";

import { messageOf } from "./errors";

export type ReadonlySimnet = Pick<
  Simnet,
  | "callReadOnlyFn"
  | "getAssetsMap"
  | "getDataVar"
  | "getMapEntry"
  | "getAccounts"
  | "getContractsInterfaces"
  | "getContractSource"
  | "getBlockTime"
  | "stacksBlockHeight"
  | "burnBlockHeight"
  | "blockHeight"
  | "deployer"
  | "currentEpoch"
>;

const READONLY_KEYS = new Set<string>([
  "callReadOnlyFn",
  "getAssetsMap",
  "getDataVar",
  "getMapEntry",
  "getAccounts",
  "getContractsInterfaces",
  "getContractSource",
  "getBlockTime",
  "stacksBlockHeight",
  "burnBlockHeight",
  "blockHeight",
  "deployer",
  "currentEpoch",
]);

export type SimnetCall =
  | { kind: "contract-call"; contractId: string; functionName: string; args: Parameters<typeof tx.callPublicFn>[2]; sender: string }
  | { kind: "stx-transfer"; amount: bigint; recipient: string; sender: string };

export type MintEntry =
  | { kind: "mint-stx"; recipient: string; amount: bigint }
  | { kind: "mint-ft"; asset: string; recipient: string; amount: bigint };

/** "burn-block": an empty Stacks block that opens a new burn block (burn height + 1). */
type JournalEntry = { kind: "block"; calls: SimnetCall[] } | { kind: "burn-block" } | MintEntry;

export type BlockAttempt =
  | { ok: true; results: ParsedTransactionResult[] }
  | { ok: false; error: string };

function toSimnetTx(call: SimnetCall): Tx {
  if (call.kind === "contract-call") return tx.callPublicFn(call.contractId, call.functionName, call.args, call.sender);
  // simnet's block-level STX transfer takes a JS number.
  if (call.amount > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("STX transfer amount too large for simnet");
  return tx.transferSTX(Number(call.amount), call.recipient, call.sender);
}

function applyMint(simnet: Simnet, entry: MintEntry): void {
  if (entry.kind === "mint-stx") simnet.mintSTX(entry.recipient, entry.amount);
  else simnet.mintFT(entry.asset, entry.recipient, entry.amount);
}

/**
 * A fresh simnet session with the manifest's deployment plan applied. Not
 * `initSimnet`: it memoizes one module-wide instance, which concurrent servers
 * (or a restore racing a start) would then share.
 */
async function openSimnet(manifestPath: string): Promise<Simnet> {
  const simnet = await getSDK({ trackCosts: true, trackCoverage: false });
  await simnet.initSession(process.cwd(), manifestPath, null);
  return simnet;
}

export class SimnetSession {
  private current: Simnet;
  private readonly journal: JournalEntry[] = [];
  /** A fresh session opened ahead of the next restore (opening one takes seconds). */
  private spare: Promise<Simnet> | null = null;
  readonly view: ReadonlySimnet;

  private constructor(
    simnet: Simnet,
    private readonly manifestPath: string,
    /** Keep a fresh session ready after a restore, so the next restore skips the seconds-long open (about 100 MB). */
    private readonly keepSpare: boolean,
  ) {
    this.current = simnet;
    this.view = new Proxy({} as ReadonlySimnet, {
      get: (_target, prop) => {
        if (typeof prop === "string" && READONLY_KEYS.has(prop)) {
          const value: unknown = Reflect.get(this.current, prop);
          return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(this.current) : value;
        }
        if (typeof prop === "string" && prop in this.current) {
          throw new Error(
            `simnet.${prop} is not available through the local Hiro server: change chain state with transactions, /_local/fund or /_local/mint-sbtc`,
          );
        }
        // Anything else (symbols, `then`, `toJSON`, ...) is absent, so the view can be printed and awaited.
        return undefined;
      },
    });
  }

  static async open(manifestPath: string, options: { keepSpare?: boolean } = {}): Promise<SimnetSession> {
    return new SimnetSession(await openSimnet(manifestPath), manifestPath, options.keepSpare ?? false);
  }

  get tipHeight(): number {
    return this.current.stacksBlockHeight;
  }

  /** A point `restore` can return to. */
  checkpoint(): number {
    return this.journal.length;
  }

  /**
   * Mines one simnet block holding `calls`. If a call hits a runtime error
   * simnet throws after committing the calls before it (and the block), so
   * the caller should `restore` and mine those calls one per block.
   */
  mineBlock(calls: SimnetCall[]): BlockAttempt {
    this.journal.push({ kind: "block", calls });
    try {
      return { ok: true, results: this.current.mineBlock(calls.map(toSimnetTx)) };
    } catch (error) {
      return { ok: false, error: messageOf(error) };
    }
  }

  /**
   * Mines an empty Stacks block in a new burn block: the only way burn height
   * moves here (`mineBlock` keeps it), which delays counted in burn blocks need.
   */
  mineEmptyBurnBlock(): void {
    this.journal.push({ kind: "burn-block" });
    this.current.mineEmptyBlocks(1);
  }

  /** Credits STX or a fungible token out of thin air (no block, no event), like a genesis allocation. */
  mint(entry: MintEntry): void {
    this.journal.push(entry);
    applyMint(this.current, entry);
  }

  /** The mints made since `checkpoint`, to re-apply after restoring it. */
  mintsSince(checkpoint: number): MintEntry[] {
    return this.journal
      .slice(checkpoint)
      .filter((entry): entry is MintEntry => entry.kind === "mint-stx" || entry.kind === "mint-ft");
  }

  /**
   * Rebuilds simnet as it was at `checkpoint` by replaying the journal into a
   * fresh session. The old session is dropped, not freed: wasm-bindgen's
   * `free()` called through clarinet-sdk's Proxy skips its finalization
   * registry and double-frees; garbage collection finalizes it instead. With
   * `keepSpare`, a spare session is opened after each restore for the next one.
   */
  async restore(checkpoint: number): Promise<void> {
    this.journal.length = checkpoint;
    const spare = this.spare;
    this.spare = null;
    const fresh = await (spare ? spare.catch(() => openSimnet(this.manifestPath)) : openSimnet(this.manifestPath));
    for (const entry of this.journal) {
      if (entry.kind === "block") {
        try {
          fresh.mineBlock(entry.calls.map(toSimnetTx));
        } catch {
          // A block whose only call hit a runtime error: simnet still mined it, empty.
        }
      } else if (entry.kind === "burn-block") {
        fresh.mineEmptyBlocks(1);
      } else {
        applyMint(fresh, entry);
      }
    }
    this.current = fresh;
    if (this.keepSpare) {
      this.spare = openSimnet(this.manifestPath);
      // A failed spare is replaced by a fresh open at the next restore.
      this.spare.catch(() => undefined);
    }
  }
}
