/**
 * A set-associative, write-back, write-allocate data cache with LRU replacement, indexed by
 * host-physical line number (address / 64). Both data accesses and page-walk references go
 * through the hierarchy (ChampSim's page-table walker also issues its reads to the data caches).
 *
 * Layout: flat arrays indexed `set * ways + way`, sized so that one set of tags and one set of
 * stamps each fit a host cache line for 16 ways (simulating big caches is dominated by the host's
 * own cache misses):
 *   tag[i]    line number / sets (the bits above the set index), -1 when invalid
 *   stamp[i]  last-use time for LRU, 32 bits (0: never used); renumbered per set when the clock would wrap
 *   dirty[i]  written since fill
 * An eviction of a dirty line is a write-back, counted by the owner (the vCPU) against the tier
 * that holds the line.
 */
const STAMP_LIMIT = 0xffffffff;

export class DataCache {
  readonly sets: number;
  readonly ways: number;
  private readonly tag: Int32Array;
  private readonly stamp: Uint32Array;
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
    this.tag = new Int32Array(lines).fill(-1);
    this.stamp = new Uint32Array(lines);
    this.dirty = new Uint8Array(lines);
  }

  /** Look up a line; on a miss, fill it (evicting the LRU way). Returns whether it hit. */
  access(lineNumber: number, write: boolean): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    // Tags stay below 2^31 for any host of less than 2^31 * sets * 64 bytes.
    const tag = (lineNumber - set) / this.sets;
    const base = set * this.ways;
    const end = base + this.ways;
    const tags = this.tag;
    const stamps = this.stamp;
    if (++this.clock === STAMP_LIMIT) this.renumber();
    this.evictedDirtyLine = -1;
    for (let i = base; i < end; i++) {
      if (tags[i] === tag) {
        stamps[i] = this.clock;
        if (write) this.dirty[i] = 1;
        this.hits++;
        return true;
      }
    }
    // Miss: the least recently used way; invalid ways have stamp 0 and so come first.
    let victim = base;
    let oldest = stamps[base];
    for (let i = base + 1; i < end; i++) {
      if (stamps[i] < oldest) {
        oldest = stamps[i];
        victim = i;
      }
    }
    this.misses++;
    if (tags[victim] !== -1 && this.dirty[victim]) this.evictedDirtyLine = tags[victim] * this.sets + set;
    tags[victim] = tag;
    stamps[victim] = this.clock;
    this.dirty[victim] = write ? 1 : 0;
    return false;
  }

  /** Whether a line is present (no LRU update). */
  contains(lineNumber: number): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tag = (lineNumber - set) / this.sets;
    for (let i = set * this.ways; i < (set + 1) * this.ways; i++) if (this.tag[i] === tag) return true;
    return false;
  }

  clear(): void {
    this.tag.fill(-1);
    this.stamp.fill(0);
    this.dirty.fill(0);
  }

  /** Replace stamps by their rank within each set (same LRU order), so the 32-bit clock can restart. */
  private renumber(): void {
    const order: number[] = [];
    for (let set = 0; set < this.sets; set++) {
      const base = set * this.ways;
      order.length = 0;
      for (let w = 0; w < this.ways; w++) order.push(base + w);
      order.sort((a, b) => this.stamp[a] - this.stamp[b]);
      // Invalid ways keep stamp 0 so that they stay the first victims.
      for (let r = 0; r < order.length; r++) this.stamp[order[r]] = this.tag[order[r]] === -1 ? 0 : r + 1;
    }
    this.clock = this.ways + 1;
  }
}
