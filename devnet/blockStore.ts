/**
 * The block list: one record per Stacks block height, canonical or orphaned,
 * with deterministic fake hashes. A reorg replaces the top blocks with new
 * ones at the same heights (new hashes); the old ones stay, non-canonical.
 */
import { createHash } from "node:crypto";

import { ZERO_COSTS, type BlockRecord, type ExecutionCosts } from "./records";

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function burnBlockHashAt(burnHeight: number): string {
  return sha256Hex(`bithedge-local-burn-block|${burnHeight}`);
}

export class BlockStore {
  private readonly byHash = new Map<string, BlockRecord>();
  /** canonical block at each height */
  private readonly chain: BlockRecord[] = [];
  private fork = 0;

  /**
   * Heights 0..genesisHeight are the blocks simnet mined while deploying the
   * contracts; they get records (without transactions) so every height the
   * API reports resolves to a block.
   */
  constructor(
    readonly genesisHeight: number,
    genesisTime: number,
    burnBlockHeight: number,
  ) {
    for (let height = 0; height <= genesisHeight; height++) {
      this.push({ height, time: genesisTime, burnBlockHeight, txids: [], costs: ZERO_COSTS });
    }
  }

  private push(input: { height: number; time: number; burnBlockHeight: number; txids: string[]; costs: ExecutionCosts }): BlockRecord {
    const parent = this.chain[input.height - 1];
    const hash = sha256Hex(`bithedge-local-stacks-block|${input.height}|fork-${this.fork}`);
    const block: BlockRecord = {
      height: input.height,
      hash,
      indexBlockHash: sha256Hex(`index|${hash}`),
      parentHash: parent?.hash ?? "0".repeat(64),
      parentIndexBlockHash: parent?.indexBlockHash ?? "0".repeat(64),
      burnBlockHeight: input.burnBlockHeight,
      burnBlockHash: burnBlockHashAt(input.burnBlockHeight),
      time: input.time,
      canonical: true,
      txids: input.txids,
      costs: input.costs,
    };
    this.byHash.set(hash, block);
    this.chain[input.height] = block;
    return block;
  }

  get tip(): BlockRecord {
    const tip = this.chain[this.chain.length - 1];
    if (!tip) throw new Error("block store is empty");
    return tip;
  }

  append(input: { time: number; burnBlockHeight: number; txids: string[]; costs: ExecutionCosts }): BlockRecord {
    return this.push({ ...input, height: this.tip.height + 1 });
  }

  /** The canonical block at `height`. */
  atHeight(height: number): BlockRecord | undefined {
    return this.chain[height];
  }

  /** Any block, canonical or orphaned, by hash (lowercase hex, no 0x). */
  withHash(hash: string): BlockRecord | undefined {
    return this.byHash.get(hash);
  }

  /** Canonical blocks from the tip down to the first mined one (newest first). */
  *canonicalFromTip(): Generator<BlockRecord> {
    for (let height = this.chain.length - 1; height >= 0; height--) {
      const block = this.chain[height];
      if (block) yield block;
    }
  }

  /** How many blocks above genesis a reorg may replace. */
  get reorgableDepth(): number {
    return this.tip.height - this.genesisHeight;
  }

  /**
   * Orphans the top `depth` blocks and puts new canonical blocks at the same
   * heights, holding `txidsFor(orphan)` (the same transactions when they are
   * re-included on the winning fork, none otherwise).
   */
  reorg(depth: number, txidsFor: (orphan: BlockRecord) => string[]): { orphaned: BlockRecord[]; replacements: BlockRecord[] } {
    if (!Number.isInteger(depth) || depth < 1 || depth > this.reorgableDepth) {
      throw new RangeError(`reorg depth must be between 1 and ${this.reorgableDepth}`);
    }
    this.fork += 1;
    const firstHeight = this.tip.height - depth + 1;
    const orphaned = this.chain.slice(firstHeight);
    const replacements: BlockRecord[] = [];
    for (const orphan of orphaned) {
      orphan.canonical = false;
      const txids = txidsFor(orphan);
      replacements.push(
        this.push({
          height: orphan.height,
          time: orphan.time,
          burnBlockHeight: orphan.burnBlockHeight,
          txids,
          costs: txids.length > 0 ? orphan.costs : ZERO_COSTS,
        }),
      );
    }
    return { orphaned, replacements };
  }
}
