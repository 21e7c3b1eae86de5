/**
 * A set-associative, write-back, write-allocate data cache with LRU replacement, indexed by
 * host-physical line number (address / 64). Both data accesses and page-walk references go
 * through the hierarchy (ChampSim's page-table walker also issues its reads to the data caches).
 *
 * Layout: one block of 2 * ways 32-bit words per set, `[tags... | stamps...]`, so that a lookup and
 * the victim choice on a miss touch one contiguous 128 B run of host memory for 16 ways (simulating
 * big caches is dominated by the host's own cache misses on these arrays):
 *   tag     line number / sets (the bits above the set index), -1 when invalid
 *   stamp   last-use time for LRU, 32 bits (0: never used); renumbered per set when the clock would wrap
 *   dirty   written since fill (a separate byte array, touched only on writes and evictions)
 * An eviction of a dirty line is a write-back, counted by the owner (the vCPU) against the tier
 * that holds the line.
 */
const STAMP_LIMIT = 0xffffffff;

export class DataCache {
  readonly sets: number;
  readonly ways: number;
  /** Tags, indexed `set * 2 * ways + way`. */
  private readonly tag: Int32Array;
  /** Stamps over the same buffer, indexed `set * 2 * ways + ways + way`. */
  private readonly stamp: Uint32Array;
  /** Dirty bits, indexed `set * ways + way`. */
  private readonly dirty: Uint8Array;
  private clock = 0;
  /** sets - 1 for a power-of-two set count (index by mask, exact below 2^53), else -1. */
  private readonly setMask: number;
  /** Line number of the last dirty victim, or -1: read by the caller right after `access`. */
  evictedDirtyLine = -1;
  hits = 0;
  misses = 0;

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
    const words = new ArrayBuffer(lines * 8);
    this.tag = new Int32Array(words);
    this.stamp = new Uint32Array(words);
    this.dirty = new Uint8Array(lines);
    this.clear();
  }

  /** Look up a line; on a miss, fill it (evicting the LRU way). Returns whether it hit. */
  access(lineNumber: number, write: boolean): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    // Tags stay below 2^31 for any host of less than 2^31 * sets * 64 bytes.
    const tag = (lineNumber - set) / this.sets;
    const ways = this.ways;
    const base = set * 2 * ways;
    const end = base + ways;
    const tags = this.tag;
    const stamps = this.stamp;
    if (++this.clock === STAMP_LIMIT) this.renumber();
    this.evictedDirtyLine = -1;
    // One pass: find the tag and, in case it misses, the least recently used way (invalid ways
    // have stamp 0 and so come first).
    let victim = base;
    let oldest = STAMP_LIMIT;
    for (let i = base; i < end; i++) {
      if (tags[i] === tag) {
        stamps[i + ways] = this.clock;
        if (write) this.dirty[set * ways + (i - base)] = 1;
        this.hits++;
        return true;
      }
      const st = stamps[i + ways];
      if (st < oldest) {
        oldest = st;
        victim = i;
      }
    }
    this.misses++;
    const d = set * ways + (victim - base);
    if (tags[victim] !== -1 && this.dirty[d]) this.evictedDirtyLine = tags[victim] * this.sets + set;
    tags[victim] = tag;
    stamps[victim + ways] = this.clock;
    this.dirty[d] = write ? 1 : 0;
    return false;
  }

  /** Whether a line is present (no LRU update). */
  contains(lineNumber: number): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tag = (lineNumber - set) / this.sets;
    const base = set * 2 * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.tag[i] === tag) return true;
    return false;
  }

  clear(): void {
    const ways = this.ways;
    for (let set = 0; set < this.sets; set++) {
      this.tag.fill(-1, set * 2 * ways, set * 2 * ways + ways);
      this.stamp.fill(0, set * 2 * ways + ways, set * 2 * ways + 2 * ways);
    }
    this.dirty.fill(0);
  }

  /** Replace stamps by their rank within each set (same LRU order), so the 32-bit clock can restart. */
  private renumber(): void {
    const ways = this.ways;
    const order: number[] = [];
    for (let set = 0; set < this.sets; set++) {
      const base = set * 2 * ways;
      order.length = 0;
      for (let w = 0; w < ways; w++) order.push(base + w);
      order.sort((a, b) => this.stamp[a + ways] - this.stamp[b + ways]);
      // Invalid ways keep stamp 0 so that they stay the first victims.
      for (let r = 0; r < order.length; r++) this.stamp[order[r] + ways] = this.tag[order[r]] === -1 ? 0 : r + 1;
    }
    this.clock = ways + 1;
  }
}
