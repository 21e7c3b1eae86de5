/**
 * The seeded generator. Every random choice in a run flows from one of these, so the same config and
 * seed give byte-identical results. Built on pure-rand's xoroshiro128+ (mutable `next()`, no
 * allocation per draw); independent streams come from `fork(label)`, which derives a child seed
 * from the parent seed and a label rather than from the parent's position, so adding a draw in one
 * component never shifts another component's stream.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

type Generator = ReturnType<typeof xoroshiro128plus>;

/** FNV-1a over a string, 32-bit: turns a label into a seed component. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private readonly gen: Generator;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.gen = xoroshiro128plus(this.seed);
  }

  /** An independent stream for a named component (e.g. `rng.fork('vm17/ycsb')`). */
  fork(label: string): Rng {
    return new Rng(Math.imul(this.seed ^ hashLabel(label), 0x9e3779b1) ^ hashLabel(label + '#'));
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    return this.gen.next() >>> 0;
  }

  /** Uniform double in [0, 1) with 53 bits of randomness. */
  nextFloat(): number {
    const hi = this.gen.next() >>> 5; // 27 bits
    const lo = this.gen.next() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n) for n up to 2^53. */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /** Uniform integer in [lo, hi] inclusive. */
  nextRange(lo: number, hi: number): number {
    return lo + this.nextInt(hi - lo + 1);
  }

  /** Exponentially distributed value with the given mean (for inter-arrival times). */
  nextExponential(mean: number): number {
    return -Math.log(1 - this.nextFloat()) * mean;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }
}
