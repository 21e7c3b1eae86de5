/**
 * YCSB's request distributions, re-implemented from YCSB's Java sources so that the skew matches
 * what YCSB drives (https://github.com/brianfrankcooper/YCSB/tree/master/core/src/main/java/site/ycsb/generator):
 *
 * - `ZipfianGenerator`: Gray et al., "Quickly Generating Billion-Record Synthetic Databases",
 *   SIGMOD 1994, exactly as YCSB's ZipfianGenerator.nextLong (rank 0 most popular), including the
 *   incremental zeta when the item count grows and YCSB's use of the constructor's item count in
 *   eta.
 * - `ScrambledZipfianGenerator`: a zipfian over 10^10 items with the precomputed
 *   zeta(10^10, 0.99) = 26.46902820178302, folded onto [min, max] by `fnvhash64(rank) % itemcount`,
 *   so popular keys are scattered over the key space. (YCSB later raised ITEM_COUNT to 10^16 while
 *   keeping this zeta; we keep the consistent pair 10^10 / 26.469.)
 * - `SkewedLatestGenerator`: `max - zipfian(max)`, favouring the most recently inserted keys.
 * - `UniformLongGenerator`.
 *
 * All randomness comes from the `Rng` passed in; nothing is allocated per draw.
 */
import type { Rng } from '../base/rng.ts';
import { fnvHashMod } from './fnv.ts';

/** YCSB's ZipfianGenerator.ZIPFIAN_CONSTANT. */
export const ZIPFIAN_CONSTANT = 0.99;
/** ScrambledZipfianGenerator.ITEM_COUNT (YCSB 0.x, consistent with ZETAN below). */
export const SCRAMBLED_ITEM_COUNT = 10_000_000_000;
/** ScrambledZipfianGenerator.ZETAN = zeta(10^10, 0.99). */
export const SCRAMBLED_ZETAN = 26.46902820178302;

/** Items summed exactly before switching to the Euler-Maclaurin tail in `zeta`. */
const ZETA_EXACT_LIMIT = 1_000_000;

/**
 * zeta(n, theta) = sum_{i=1..n} i^-theta, incrementally from `st` items with sum `initial`
 * (YCSB zetastatic). Exact summation up to 10^6 items; beyond that the remainder is the
 * Euler-Maclaurin approximation (integral + end corrections), accurate to ~1e-12 relative, so
 * huge item counts (10^10) need no minutes-long loop.
 */
export function zeta(n: number, theta: number, st = 0, initial = 0): number {
  let sum = initial;
  const exactEnd = Math.min(n, Math.max(st, ZETA_EXACT_LIMIT));
  for (let i = st; i < exactEnd; i++) sum += 1 / Math.pow(i + 1, theta);
  if (n > exactEnd) {
    // sum_{i=a+1..n} f(i) with f(x) = x^-theta, a = exactEnd.
    const a = exactEnd;
    const f = (x: number): number => Math.pow(x, -theta);
    const df = (x: number): number => -theta * Math.pow(x, -theta - 1);
    const integral =
      theta === 1 ? Math.log(n / a) : (Math.pow(n, 1 - theta) - Math.pow(a, 1 - theta)) / (1 - theta);
    sum += integral + (f(n) - f(a)) / 2 + (df(n) - df(a)) / 12;
  }
  return sum;
}

/** Gray et al.'s zipfian over [base, base + items - 1]; rank 0 (value `base`) is the most popular. */
export class ZipfianGenerator {
  readonly base: number;
  readonly items: number;
  readonly theta: number;
  private readonly zeta2theta: number;
  private readonly alpha: number;
  private readonly halfPowTheta: number;
  private zetan: number;
  private eta: number;
  private countForZeta: number;

  constructor(
    private readonly rng: Rng,
    min: number,
    max: number,
    theta = ZIPFIAN_CONSTANT,
    zetan?: number,
  ) {
    this.items = max - min + 1;
    this.base = min;
    this.theta = theta;
    this.zeta2theta = zeta(2, theta);
    this.alpha = 1 / (1 - theta);
    this.halfPowTheta = Math.pow(0.5, theta);
    this.zetan = zetan ?? zeta(this.items, theta);
    this.countForZeta = this.items;
    this.eta = (1 - Math.pow(2 / this.items, 1 - theta)) / (1 - this.zeta2theta / this.zetan);
  }

  /** Next value for the constructor's item count. */
  next(): number {
    return this.nextFor(this.items);
  }

  /**
   * Next value for `itemCount` items (YCSB nextLong(itemcount)). A larger count extends zeta
   * incrementally; like YCSB (allowitemcountdecrease=false) a smaller one keeps the old zeta.
   */
  nextFor(itemCount: number): number {
    if (itemCount > this.countForZeta) {
      this.zetan = zeta(itemCount, this.theta, this.countForZeta, this.zetan);
      this.countForZeta = itemCount;
      // YCSB recomputes eta with the constructor's `items`, not `itemCount`; kept for fidelity.
      this.eta = (1 - Math.pow(2 / this.items, 1 - this.theta)) / (1 - this.zeta2theta / this.zetan);
    }
    const u = this.rng.nextFloat();
    const uz = u * this.zetan;
    if (uz < 1) return this.base;
    if (uz < 1 + this.halfPowTheta) return this.base + 1;
    return this.base + Math.floor(itemCount * Math.pow(this.eta * u - this.eta + 1, this.alpha));
  }
}

/** Zipfian with the popular items scattered over [min, max] by FNV-64 (YCSB ScrambledZipfianGenerator). */
export class ScrambledZipfianGenerator {
  readonly min: number;
  readonly itemCount: number;
  private readonly gen: ZipfianGenerator;

  constructor(rng: Rng, min: number, max: number, theta = ZIPFIAN_CONSTANT) {
    this.min = min;
    this.itemCount = max - min + 1;
    // YCSB: new ZipfianGenerator(0, ITEM_COUNT, constant, ZETAN) for 0.99, else zeta computed.
    this.gen =
      theta === ZIPFIAN_CONSTANT
        ? new ZipfianGenerator(rng, 0, SCRAMBLED_ITEM_COUNT, theta, SCRAMBLED_ZETAN)
        : new ZipfianGenerator(rng, 0, SCRAMBLED_ITEM_COUNT, theta);
  }

  next(): number {
    return this.min + fnvHashMod(this.gen.next(), this.itemCount);
  }
}

/** Favours the most recent keys of a growing sequence (YCSB SkewedLatestGenerator). */
export class SkewedLatestGenerator {
  private readonly zipfian: ZipfianGenerator;

  /** `lastValue` is the basis counter's last value at construction (recordcount - 1 in YCSB). */
  constructor(rng: Rng, lastValue: number, theta = ZIPFIAN_CONSTANT) {
    // YCSB: new ZipfianGenerator(basis.lastValue()) == ZipfianGenerator(0, lastValue - 1).
    this.zipfian = new ZipfianGenerator(rng, 0, lastValue - 1, theta);
  }

  /** Next key given the basis counter's current last value. */
  next(lastValue: number): number {
    return lastValue - this.zipfian.nextFor(lastValue);
  }
}

/** Uniform integer in [lo, hi] (YCSB UniformLongGenerator). */
export class UniformLongGenerator {
  private readonly span: number;
  constructor(
    private readonly rng: Rng,
    private readonly lo: number,
    hi: number,
  ) {
    this.span = hi - lo + 1;
  }
  next(): number {
    return this.lo + this.rng.nextInt(this.span);
  }
}
