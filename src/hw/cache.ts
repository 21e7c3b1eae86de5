/**
 * A set-associative, write-back, write-allocate data cache with LRU replacement, indexed by
 * host-physical line number (address / 64). Both data accesses and page-walk references go
 * through the hierarchy (ChampSim's page-table walker also issues its reads to the data caches).
 *
 * Layout: each set is a run of `ways` 32-bit words kept in recency order, most recently used first
 * (a move-to-front list). A word is `tag * 2 + dirty`, -1 for an invalid way; invalid ways sit at
 * the tail, so they are the first victims. The tag is the line number / sets (the bits above the
 * set index).
 *
 * Why recency order rather than a last-use stamp per way: finding the LRU victim by stamps is a
 * search for a minimum whose branches the host cannot predict, and it is the hot spot of every
 * experiment (each line and each page-walk reference passes up to three levels). In recency order
 * the victim is the last word, a hit in the most recently used way (the common case for L1D) is
 * the first compare, and the move-to-front shift is a loop of fixed, predictable length. It also
 * halves the state (no stamps) and needs no clock, so nothing wraps.
 *
 * An eviction of a dirty line is a write-back, counted by the owner (the vCPU) against the tier
 * that holds the line.
 */
/** Tags must fit in 30 bits so that `tag * 2 + dirty` stays a non-negative 32-bit integer. */
const TAG_LIMIT = 2 ** 30;

export class DataCache {
  readonly sets: number;
  readonly ways: number;
  /** Per set, `ways` words in recency order (see the header), indexed `set * ways + rank`. */
  private readonly word: Int32Array;
  /** sets - 1 for a power-of-two set count (index by mask, exact below 2^53), else -1. */
  private readonly setMask: number;
  /** Line number of the last dirty victim, or -1: read by the caller right after `access`. */
  evictedDirtyLine = -1;

  constructor(
    readonly name: string,
    bytes: number,
    ways: number,
    readonly latency: number,
  ) {
    const lines = bytes / 64;
    if (!Number.isInteger(lines) || lines % ways !== 0) throw new Error(`${name}: ${bytes} B is not a whole number of ${ways}-way sets of 64 B lines`);
    this.sets = lines / ways;
    this.ways = ways;
    this.setMask = (this.sets & (this.sets - 1)) === 0 ? this.sets - 1 : -1;
    this.word = new Int32Array(lines);
    this.clear();
  }

  /** Look up a line; on a miss, fill it (evicting the LRU way). Returns whether it hit. */
  access(lineNumber: number, write: boolean): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tag = (lineNumber - set) / this.sets;
    const base = set * this.ways;
    const end = base + this.ways;
    const words = this.word;
    this.evictedDirtyLine = -1;
    // An invalid word (-1) never matches: tags are non-negative.
    const first = words[base];
    if (first >> 1 === tag) {
      // The most recently used way: no reordering.
      if (write) words[base] = first | 1;
      return true;
    }
    for (let i = base + 1; i < end; i++) {
      const w = words[i];
      if (w >> 1 === tag) {
        for (let j = i; j > base; j--) words[j] = words[j - 1];
        words[base] = write ? w | 1 : w;
          return true;
      }
    }
    if (tag >= TAG_LIMIT) throw new Error(`${this.name}: line ${lineNumber} is beyond the modelled host memory (tag over 30 bits)`);
    const victim = words[end - 1];
    if (victim !== -1 && (victim & 1) !== 0) this.evictedDirtyLine = (victim >> 1) * this.sets + set;
    for (let j = end - 1; j > base; j--) words[j] = words[j - 1];
    words[base] = tag * 2 + (write ? 1 : 0);
    return false;
  }

  /** Whether a line is present (no LRU update). */
  contains(lineNumber: number): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tag = (lineNumber - set) / this.sets;
    const base = set * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.word[i] !== -1 && this.word[i] >> 1 === tag) return true;
    return false;
  }

  clear(): void {
    this.word.fill(-1);
  }
}
