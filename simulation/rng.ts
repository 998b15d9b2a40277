/**
 * The simulation's only source of randomness: a seeded PRNG (sfc32, seeded
 * through splitmix32), so that one seed always gives the same market — the
 * same wallets, policies, amounts and schedule.
 *
 * The backend itself draws randomness in two places, neither of which moves
 * money: `Math.random` for retry jitter in the Hiro client (the run injects no
 * faults, and `withSeededMathRandom` seeds it anyway), and
 * `crypto.getRandomValues` for voucher and sign-in nonces — security
 * randomness that is deliberately left alone. Only those nonces (and so some
 * txids) differ between two runs with one seed; every figure is the same.
 */

export type Rng = {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** Uniform bigint in [min, max], both inclusive. */
  bigint(min: bigint, max: bigint): bigint;
  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** A child generator with its own stream: adding draws to one part of the run does not shift another. */
  fork(label: string): Rng;
};

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(seed: number, label: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createRng(seed: number): Rng {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const nextUint32 = (): number => {
    // sfc32
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) nextUint32();

  const rng: Rng = {
    next: () => nextUint32() / 4294967296,
    int: (min, max) => {
      if (max < min) throw new RangeError(`empty range [${min}, ${max}]`);
      return min + Math.floor(rng.next() * (max - min + 1));
    },
    bigint: (min, max) => {
      if (max < min) throw new RangeError(`empty range [${min}, ${max}]`);
      const span = max - min + 1n;
      // 128 random bits reduced modulo the span: the bias is negligible for the spans used here.
      let r = 0n;
      for (let i = 0; i < 4; i++) r = (r << 32n) | BigInt(nextUint32());
      return min + (r % span);
    },
    pick: (items) => {
      if (items.length === 0) throw new RangeError("pick from nothing");
      return items[rng.int(0, items.length - 1)] as (typeof items)[number];
    },
    shuffle: (items) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [copy[i], copy[j]] = [copy[j] as (typeof copy)[number], copy[i] as (typeof copy)[number]];
      }
      return copy;
    },
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const word = nextUint32();
        for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (word >>> (8 * k)) & 0xff;
      }
      return out;
    },
    fork: (label) => createRng(hashLabel(seed, label)),
  };
  return rng;
}

/**
 * Runs `work` with `Math.random` drawn from `rng`, then puts the real one
 * back. The replacement is assigned to `globalThis.Math` (not to
 * `Math.random`), which is how convex-test lets a global be replaced for the
 * functions it runs.
 */
export async function withSeededMathRandom<T>(rng: Rng, work: () => Promise<T>): Promise<T> {
  const original = globalThis.Math;
  const seeded = Object.create(original) as Math;
  Object.defineProperty(seeded, "random", { value: () => rng.next(), enumerable: false });
  globalThis.Math = seeded;
  try {
    return await work();
  } finally {
    globalThis.Math = original;
  }
}
