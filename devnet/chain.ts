/**
 * The local chain: simnet (through SimnetSession), the mempool, the blocks and
 * the transactions' executions. Every operation runs under one lock, so HTTP
 * requests, the auto-miner and restores never interleave.
 */
import { validateContractCall, type ClarityAbi } from "@stacks/transactions";

import { decodeTransaction, rejection, type NodeRejection } from "./admission";
import { BlockStore } from "./blockStore";
import { messageOf } from "./errors";
import { Mempool, nonceRejection } from "./mempool";
import { Miner } from "./miner";
import { ZERO_COSTS, type BlockRecord, type Inclusion, type TxRecord } from "./records";
import { SimnetSession, type ReadonlySimnet } from "./simnetSession";

export type SubmitResult = { ok: true; txid: string } | { ok: false; rejection: NodeRejection };

export type TxView = { record: TxRecord; inclusion: Inclusion | null; block: BlockRecord | null };

export type ContractLog = { txid: string; eventIndex: number; contractId: string; topic: string; valueHex: string };

/**
 * What changed on the chain, for subscribers such as the chainhook emulator
 * (devnet/chainhookEmulator.ts): blocks mined on the tip, or the top blocks
 * replaced by a fork (the orphans stay readable with `canonical: false`).
 */
export type ChainChange =
  | { kind: "mined"; blocks: BlockRecord[] }
  | { kind: "reorg"; orphaned: BlockRecord[]; replacements: BlockRecord[] };
export type ChainListener = (change: ChainChange) => void;

function u128Hex(value: bigint): string {
  return `0x${value.toString(16).padStart(32, "0")}`;
}

export class LocalChain {
  readonly mempool = new Mempool();
  private readonly miner: Miner;
  private lock: Promise<unknown> = Promise.resolve();
  /** journal checkpoint before each mined block, by block hash */
  private readonly checkpoints = new Map<string, number>();
  /** records that were executed at least once, by sender */
  private readonly executedBySender = new Map<string, TxRecord[]>();
  /** the least fee, in micro-STX, a transaction must pay to be mined (0: every ready one is) */
  private minFeeUstx = 0n;
  private readonly listeners = new Set<ChainListener>();
  private interfaces: ReturnType<ReadonlySimnet["getContractsInterfaces"]> | undefined;
  /** How many Stacks blocks the API's indexer is behind the node (0: in step); see `indexedTip`. */
  private indexerLagBlocks = 0;

  private constructor(
    private readonly session: SimnetSession,
    readonly blocks: BlockStore,
    /** next nonce of accounts that spent nonces before the server started (the contract deployments) */
    private readonly genesisNonces: Map<string, bigint>,
  ) {
    this.miner = new Miner(session);
  }

  static async open(manifestPath: string, options: { keepSpareSession?: boolean } = {}): Promise<LocalChain> {
    const session = await SimnetSession.open(manifestPath, { keepSpare: options.keepSpareSession });
    const view = session.view;
    const genesisNonces = new Map<string, bigint>();
    for (const contractId of view.getContractsInterfaces().keys()) {
      const address = contractId.split(".")[0] as string;
      if (address === view.deployer || [...view.getAccounts().values()].includes(address)) {
        genesisNonces.set(address, (genesisNonces.get(address) ?? 0n) + 1n);
      }
    }
    const blocks = new BlockStore(session.tipHeight, Number(view.getBlockTime()), view.burnBlockHeight);
    return new LocalChain(session, blocks, genesisNonces);
  }

  get simnet(): ReadonlySimnet {
    return this.session.view;
  }

  /**
   * Calls `listener` after every change of the chain, inside the chain's lock,
   * so it sees the chain exactly as the change left it. It must only read and
   * queue (anything that waits for the chain would wait for itself). Returns
   * the unsubscribe function.
   */
  onChange(listener: ChainListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(change: ChainChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        // A subscriber's bug must not undo or block the chain's own work.
        console.error(`chain listener failed: ${messageOf(error)}`);
      }
    }
  }

  /** Runs `work` alone: no other chain operation starts until it settles. */
  exclusive<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  canonicalInclusion(record: TxRecord): Inclusion | null {
    return record.inclusions.find((inclusion) => this.blocks.withHash(inclusion.blockHash)?.canonical) ?? null;
  }

  /** The highest nonce of `sender` executed on the canonical chain, if any. */
  lastExecutedNonce(sender: string): bigint | null {
    let last: bigint | null = null;
    for (const record of this.executedBySender.get(sender) ?? []) {
      if (this.canonicalInclusion(record) && (last === null || record.nonce > last)) last = record.nonce;
    }
    const genesis = this.genesisNonces.get(sender);
    if (last === null && genesis !== undefined) last = genesis - 1n;
    return last;
  }

  nextNonce(sender: string): bigint {
    const last = this.lastExecutedNonce(sender);
    return last === null ? 0n : last + 1n;
  }

  stxBalance(principal: string): bigint {
    return this.session.view.getAssetsMap().get("STX")?.get(principal) ?? 0n;
  }

  /** POST /v2/transactions: decode, check against chain state, admit to the mempool. */
  submit(raw: Uint8Array): Promise<SubmitResult> {
    return this.exclusive(() => {
      const decoded = decodeTransaction(raw);
      if (!decoded.ok) return decoded;
      const tx = decoded.tx;
      const existing = this.mempool.get(tx.txid);
      if (existing && (existing.mempoolStatus === "pending" || this.canonicalInclusion(existing))) {
        // The node answers a transaction it already has with its txid.
        return { ok: true, txid: tx.txid };
      }
      const nextNonce = this.nextNonce(tx.sender);
      const nonceProblem = nonceRejection(tx, nextNonce);
      if (nonceProblem) return { ok: false, rejection: nonceProblem };
      const balance = this.stxBalance(tx.sender);
      const spend = tx.fee + (tx.payload.kind === "token_transfer" ? tx.payload.amount : 0n);
      if (balance < spend) {
        return { ok: false, rejection: rejection(tx.txid, "NotEnoughFunds", { expected: u128Hex(spend), actual: u128Hex(balance) }) };
      }
      const payloadRejection = this.checkPayload(tx.txid, tx.sender, tx.payload, tx.wire.payload);
      if (payloadRejection) return { ok: false, rejection: payloadRejection };
      const admitted = this.mempool.admit(tx, nextNonce, Math.floor(Date.now() / 1000));
      return admitted.ok ? { ok: true, txid: tx.txid } : admitted;
    });
  }

  private checkPayload(
    txid: string,
    sender: string,
    payload: TxRecord["payload"],
    wirePayload: TxRecord["wire"]["payload"],
  ): NodeRejection | null {
    if (payload.kind === "token_transfer") {
      if (payload.amount <= 0n) return rejection(txid, "TransferAmountMustBePositive");
      if (payload.recipient === sender) return rejection(txid, "TransferRecipientCannotEqualSender", { recipient: payload.recipient });
      return null;
    }
    // Building every interface takes milliseconds, and the server deploys nothing after it starts: built once.
    this.interfaces ??= this.session.view.getContractsInterfaces();
    const contract = this.interfaces.get(payload.contractId);
    if (!contract) return rejection(txid, "NoSuchContract");
    const fn = contract.functions.find((f) => f.name === payload.functionName);
    if (!fn || fn.access !== "public") return rejection(txid, "NoSuchPublicFunction");
    try {
      validateContractCall(wirePayload as Parameters<typeof validateContractCall>[0], contract as unknown as ClarityAbi);
    } catch (error) {
      return rejection(txid, "BadFunctionArgument", { message: messageOf(error) });
    }
    return null;
  }

  /** Mines `count` blocks from the mempool (empty blocks when nothing is ready). */
  mine(count = 1): Promise<BlockRecord[]> {
    return this.exclusive(async () => {
      const mined: BlockRecord[] = [];
      for (let i = 0; i < count; i++) {
        const candidates = this.mempool.ready((sender) => this.nextNonce(sender), this.minFeeUstx);
        for (const executed of await this.miner.mine(candidates)) {
          const block = this.blocks.append({
            time: Math.max(executed.time, this.blocks.tip.time),
            burnBlockHeight: this.session.view.burnBlockHeight,
            txids: executed.outcomes.map((o) => o.record.txid),
            costs: executed.outcomes.reduce(
              (sum, o) => ({
                readCount: sum.readCount + o.costs.readCount,
                readLength: sum.readLength + o.costs.readLength,
                runtime: sum.runtime + o.costs.runtime,
                writeCount: sum.writeCount + o.costs.writeCount,
                writeLength: sum.writeLength + o.costs.writeLength,
              }),
              { readCount: 0, readLength: 0, runtime: 0, writeCount: 0, writeLength: 0 },
            ),
          });
          this.checkpoints.set(block.hash, executed.checkpoint);
          executed.outcomes.forEach((outcome, txIndex) => {
            const { record, ...execution } = outcome;
            record.inclusions.push({ blockHash: block.hash, txIndex, ...execution });
            this.mempool.markMined(record);
            const executedList = this.executedBySender.get(record.sender) ?? [];
            if (!executedList.includes(record)) executedList.push(record);
            this.executedBySender.set(record.sender, executedList);
          });
          mined.push(block);
        }
        if (this.blocks.tip.height !== this.session.tipHeight) {
          throw new Error(`block records (${this.blocks.tip.height}) and simnet (${this.session.tipHeight}) disagree on the tip height`);
        }
      }
      if (mined.length > 0) this.notify({ kind: "mined", blocks: mined });
      return mined;
    });
  }

  /**
   * Lets `count` burn blocks pass, each with one empty Stacks block: what the
   * vault's delays in burn blocks (role hand-over, outflow window, checkpoint
   * veto) wait for. Transactions in the mempool are not mined by it.
   */
  advanceBurnBlocks(count: number): Promise<BlockRecord[]> {
    return this.exclusive(() => {
      const mined: BlockRecord[] = [];
      for (let i = 0; i < count; i++) {
        const checkpoint = this.session.checkpoint();
        this.session.mineEmptyBurnBlock();
        const block = this.blocks.append({
          time: Math.max(Number(this.session.view.getBlockTime()), this.blocks.tip.time),
          burnBlockHeight: this.session.view.burnBlockHeight,
          txids: [],
          costs: ZERO_COSTS,
        });
        this.checkpoints.set(block.hash, checkpoint);
        mined.push(block);
      }
      if (this.blocks.tip.height !== this.session.tipHeight) {
        throw new Error(`block records (${this.blocks.tip.height}) and simnet (${this.session.tipHeight}) disagree on the tip height`);
      }
      if (mined.length > 0) this.notify({ kind: "mined", blocks: mined });
      return mined;
    });
  }

  /**
   * Replaces the top `depth` blocks with a new fork at the same heights.
   * With `reinclude` the new blocks carry the same transactions (same order,
   * same results and events, new block hashes), so simnet's state is already
   * right. Without it the new blocks are empty and simnet is restored to the
   * state before the orphaned blocks (mints made since are re-applied); the
   * orphaned transactions go back into the mempool, pending, as a node and
   * the API put them (the next block mines them again, nonces permitting);
   * the orphaned blocks stay readable by hash with `canonical: false`.
   */
  reorg(depth: number, reinclude: boolean): Promise<{ orphaned: BlockRecord[]; replacements: BlockRecord[] }> {
    return this.exclusive(async () => {
      if (!Number.isInteger(depth) || depth < 1 || depth > this.blocks.reorgableDepth) {
        throw new RangeError(`reorg depth must be between 1 and ${this.blocks.reorgableDepth}`);
      }
      const firstOrphan = this.blocks.atHeight(this.blocks.tip.height - depth + 1) as BlockRecord;
      const newCheckpoints: number[] = [];
      if (!reinclude) {
        const checkpoint = this.checkpoints.get(firstOrphan.hash);
        if (checkpoint === undefined) throw new Error(`no journal checkpoint for block ${firstOrphan.height}`);
        const mints = this.session.mintsSince(checkpoint);
        // The replacements keep the orphans' burn heights, so burn blocks that passed still pass.
        const opensBurnBlock = Array.from({ length: depth }, (_, i) => {
          const orphan = this.blocks.atHeight(firstOrphan.height + i) as BlockRecord;
          return orphan.burnBlockHeight > (this.blocks.atHeight(orphan.height - 1)?.burnBlockHeight ?? 0);
        });
        await this.session.restore(checkpoint);
        for (let i = 0; i < depth; i++) {
          newCheckpoints.push(this.session.checkpoint());
          if (opensBurnBlock[i]) this.session.mineEmptyBurnBlock();
          else this.session.mineBlock([]);
        }
        for (const mint of mints) this.session.mint(mint);
      }
      const result = this.blocks.reorg(depth, (orphan) => (reinclude ? orphan.txids : []));
      result.replacements.forEach((replacement, i) => {
        const orphan = result.orphaned[i] as BlockRecord;
        this.checkpoints.set(replacement.hash, reinclude ? (this.checkpoints.get(orphan.hash) as number) : (newCheckpoints[i] as number));
        for (const txid of replacement.txids) {
          const record = this.mempool.get(txid);
          const old = record?.inclusions.find((inclusion) => inclusion.blockHash === orphan.hash);
          if (record && old) record.inclusions.push({ ...old, blockHash: replacement.hash });
        }
      });
      if (!reinclude) this.returnToMempool(result.orphaned);
      this.notify({ kind: "reorg", orphaned: result.orphaned, replacements: result.replacements });
      return result;
    });
  }

  /**
   * The transactions of orphaned blocks that no canonical block holds, back
   * to pending in chain order, so each sender's nonces line up again. One
   * whose nonce a replacement already took stays as it is.
   */
  private returnToMempool(orphaned: readonly BlockRecord[]): void {
    const now = Math.floor(Date.now() / 1000);
    for (const block of orphaned) {
      for (const txid of block.txids) {
        const record = this.mempool.get(txid);
        if (record && !this.canonicalInclusion(record)) this.mempool.admit(record, this.nextNonce(record.sender), now);
      }
    }
  }

  /**
   * Miners skip transactions paying less than `ustx` in total (not per byte),
   * as on a congested network: they stay pending, valid and admitted, until
   * replaced by fee, dropped, or the minimum is lowered. 0 turns it off.
   */
  setMinerMinFee(ustx: bigint): Promise<void> {
    return this.exclusive(() => {
      if (ustx < 0n) throw new RangeError("the miner minimum fee cannot be negative");
      this.minFeeUstx = ustx;
    });
  }

  /** The miner minimum fee in micro-STX (0 when off). */
  get minerMinFee(): bigint {
    return this.minFeeUstx;
  }

  drop(txid: string): Promise<boolean> {
    return this.exclusive(() => this.mempool.drop(txid));
  }

  fund(address: string, ustx: bigint): Promise<void> {
    return this.exclusive(() => this.session.mint({ kind: "mint-stx", recipient: address, amount: ustx }));
  }

  mintFungible(asset: string, address: string, amount: bigint): Promise<void> {
    return this.exclusive(() => this.session.mint({ kind: "mint-ft", asset, recipient: address, amount }));
  }

  /**
   * A transaction as the API shows it: its canonical execution in a block the
   * indexer has reached, else the mempool entry. A transaction whose block
   * left the canonical chain is back in the mempool, `pending`, as the API's
   * re-org handling puts it (`restoreMempoolTxs`); one mined in a block the
   * indexer has not reached yet is still pending to the API.
   */
  txView(txid: string): TxView | null {
    const record = this.mempool.get(txid);
    if (!record) return null;
    const inclusion = this.canonicalInclusion(record);
    const block = inclusion ? (this.blocks.withHash(inclusion.blockHash) ?? null) : null;
    if (!inclusion || !block || block.height > this.indexedTip.height) return { record, inclusion: null, block: null };
    return { record, inclusion, block };
  }

  /**
   * The newest block the API's indexer has processed: the canonical block
   * `indexerLag` blocks below the node's tip. Every /extended/* answer shows
   * the chain as of this block, while the node's own /v2/* routes show the tip.
   */
  get indexedTip(): BlockRecord {
    return this.blocks.atHeight(Math.max(0, this.blocks.tip.height - this.indexerLagBlocks)) ?? this.blocks.tip;
  }

  get indexerLag(): number {
    return this.indexerLagBlocks;
  }

  /** Makes the API's indexer lag the node by `blocks` Stacks blocks (0: in step again). */
  setIndexerLag(blocks: number): Promise<void> {
    return this.exclusive(() => {
      if (!Number.isInteger(blocks) || blocks < 0) throw new RangeError("the indexer lag is a whole number of blocks");
      this.indexerLagBlocks = blocks;
    });
  }

  /**
   * The print events of `contractId` in canonical blocks, newest first: the
   * Hiro API orders contract logs by block height, tx index and event index,
   * all descending.
   */
  *contractLogs(contractId: string): Generator<ContractLog> {
    for (const block of this.blocks.canonicalFromTip()) {
      for (let i = block.txids.length - 1; i >= 0; i--) {
        const txid = block.txids[i] as string;
        const inclusion = this.mempool.get(txid)?.inclusions.find((inc) => inc.blockHash === block.hash);
        if (!inclusion) continue;
        for (let eventIndex = inclusion.events.length - 1; eventIndex >= 0; eventIndex--) {
          const event = inclusion.events[eventIndex];
          if (event?.kind === "print" && event.contractId === contractId) {
            yield { txid, eventIndex, contractId, topic: event.topic, valueHex: event.valueHex };
          }
        }
      }
    }
  }
}
