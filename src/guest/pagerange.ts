/**
 * The physical page-range allocator, after OSv's `page_range_allocator` (core/mempool.cc,
 * ucat.md §2.3): free memory is a set of ranges of whole 4 KiB frames, kept in 16 order lists
 * (list k holds ranges of [2^k, 2^(k+1)) frames) plus one list for ranges of 2^16 frames and more
 * (OSv keeps those in an rb-tree multiset and takes the largest: worst fit). Allocation takes the
 * front of the smallest non-empty list whose ranges are surely large enough and splits it; when
 * none is, it scans the list one order below (OSv's contiguous fallback). Freeing coalesces with
 * both neighbours in O(1) (OSv uses boundary tags and a bitmap; we use two maps keyed by a range's
 * first and last frame, so memory is proportional to the number of free ranges, not of frames).
 *
 * Two additions of ours:
 * - ranges never coalesce across memory-map regions, so a range has one memory type;
 * - chunk mode (UCat's multi-grained design, ucat.md §1.4, our reconstruction): when a free makes a
 *   whole 2 MiB-aligned chunk free, the chunk goes back to the 2 MiB allocator via `onChunkFree`,
 *   so 4 KiB allocations stay packed in few large pages.
 *
 * Not modelled: OSv's per-CPU L1 page pools and the global L2 batch pool (they change which frame
 * a single-page allocation gets, not how many frames are used).
 */
import { InvariantError } from '../base/assert.ts';
import type { RegionTable } from './memmap.ts';

/** Order lists 0..15 plus the list of huge ranges (>= 2^16 frames). */
const ORDERS = 17;
const HUGE_ORDER = 16;
export const CHUNK_FRAMES = 512;

export function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

function orderOf(len: number): number {
  const o = 31 - Math.clz32(len);
  return o > HUGE_ORDER ? HUGE_ORDER : o;
}

export class PageRangeAllocator {
  // Range records, struct of arrays; a record id indexes them.
  private start = new Float64Array(64);
  private len = new Float64Array(64);
  private next = new Int32Array(64);
  private prev = new Int32Array(64);
  private order = new Int8Array(64);
  private region = new Int32Array(64);
  private recCount = 0;
  private freeRecs: number[] = [];
  private readonly heads = new Int32Array(ORDERS).fill(-1);
  private readonly byStart = new Map<number, number>();
  private readonly byEnd = new Map<number, number>();
  /** Free frames held in ranges. */
  freeFrames = 0;
  /** Chunk mode: called with the first frame of each 2 MiB chunk that became wholly free. */
  onChunkFree: ((gfn: number) => void) | null = null;

  constructor(private readonly regions: RegionTable) {}

  /** Add frames [gfn, gfn+n) as free memory (boot, or a chunk handed down by the 2 MiB allocator). */
  addFree(gfn: number, n: number): void {
    this.release(gfn, n, false);
  }

  /** Allocate `n` contiguous frames; returns the first frame or -1. */
  alloc(n: number): number {
    const exact = ceilLog2(n);
    for (let o = exact > HUGE_ORDER ? HUGE_ORDER : exact; o < ORDERS; o++) {
      let r = this.heads[o];
      if (r < 0) continue;
      if (o === HUGE_ORDER) {
        // OSv: the largest huge range (worst fit).
        let best = r;
        for (let q = this.next[r]; q >= 0; q = this.next[q]) if (this.len[q] > this.len[best]) best = q;
        if (this.len[best] < n) return -1;
        r = best;
      }
      return this.take(r, this.start[r], n);
    }
    // Contiguous fallback: a range of the order below may still be long enough.
    if (exact > 0 && exact <= HUGE_ORDER) {
      for (let r = this.heads[exact - 1]; r >= 0; r = this.next[r]) if (this.len[r] >= n) return this.take(r, this.start[r], n);
    }
    return -1;
  }

  /**
   * Allocate `n` frames whose first frame `a` satisfies (a + offset) % align === 0 (OSv
   * `alloc_aligned(size, offset, alignment)`, used for 2 MiB pages and aligned malloc). Returns the
   * first frame or -1. Scans the lists that can hold `n` frames, lowest order first.
   */
  allocAligned(n: number, align: number, offset = 0): number {
    for (let o = Math.min(orderOf(n), HUGE_ORDER); o < ORDERS; o++) {
      for (let r = this.heads[o]; r >= 0; r = this.next[r]) {
        const s = this.start[r];
        const a = Math.ceil((s + offset) / align) * align - offset;
        const first = a < s ? a + align : a;
        if (first + n <= s + this.len[r]) return this.take(r, first, n);
      }
    }
    return -1;
  }

  /** Give back frames [gfn, gfn+n). */
  free(gfn: number, n: number): void {
    this.release(gfn, n, true);
  }

  /** Take [first, first+n) out of range `r`, reinserting what is left on either side. */
  private take(r: number, first: number, n: number): number {
    const s = this.start[r];
    const end = s + this.len[r];
    const reg = this.region[r];
    this.remove(r);
    if (first > s) this.insert(s, first - s, reg);
    if (first + n < end) this.insert(first + n, end - first - n, reg);
    this.freeFrames -= n;
    return first;
  }

  private release(gfn: number, n: number, returnChunks: boolean): void {
    const reg = this.regions.indexOf(gfn);
    if (reg < 0 || !this.regions.contains(reg, gfn, n))
      throw new InvariantError(`page free of frames ${gfn}+${n} outside one RAM region`);
    if (this.byStart.has(gfn) || this.byEnd.has(gfn + n - 1)) throw new InvariantError(`double free of frames ${gfn}+${n}`);
    this.freeFrames += n;
    let s = gfn;
    let len = n;
    const before = this.byEnd.get(gfn - 1);
    if (before !== undefined && this.region[before] === reg) {
      s = this.start[before];
      len += this.len[before];
      this.remove(before);
    }
    const after = this.byStart.get(gfn + n);
    if (after !== undefined && this.region[after] === reg) {
      len += this.len[after];
      this.remove(after);
    }
    if (returnChunks && this.onChunkFree !== null) {
      const c0 = Math.ceil(s / CHUNK_FRAMES) * CHUNK_FRAMES;
      const c1 = Math.floor((s + len) / CHUNK_FRAMES) * CHUNK_FRAMES;
      if (c1 > c0) {
        if (c0 > s) this.insert(s, c0 - s, reg);
        if (s + len > c1) this.insert(c1, s + len - c1, reg);
        this.freeFrames -= c1 - c0;
        for (let c = c0; c < c1; c += CHUNK_FRAMES) this.onChunkFree(c);
        return;
      }
    }
    this.insert(s, len, reg);
  }

  private insert(s: number, len: number, reg: number): void {
    let r = this.freeRecs.pop();
    if (r === undefined) {
      r = this.recCount++;
      if (r >= this.start.length) this.grow();
    }
    const o = orderOf(len);
    this.start[r] = s;
    this.len[r] = len;
    this.order[r] = o;
    this.region[r] = reg;
    // push_front, as OSv's intrusive lists do.
    const h = this.heads[o];
    this.next[r] = h;
    this.prev[r] = -1;
    if (h >= 0) this.prev[h] = r;
    this.heads[o] = r;
    this.byStart.set(s, r);
    this.byEnd.set(s + len - 1, r);
  }

  private remove(r: number): void {
    const o = this.order[r];
    const p = this.prev[r];
    const q = this.next[r];
    if (p >= 0) this.next[p] = q;
    else this.heads[o] = q;
    if (q >= 0) this.prev[q] = p;
    this.byStart.delete(this.start[r]);
    this.byEnd.delete(this.start[r] + this.len[r] - 1);
    this.freeRecs.push(r);
  }

  private grow(): void {
    const n = this.start.length * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.start = f64(this.start);
    this.len = f64(this.len);
    this.next = i32(this.next);
    this.prev = i32(this.prev);
    this.region = i32(this.region);
    const o = new Int8Array(n);
    o.set(this.order);
    this.order = o;
  }

  /** Number of free ranges (fragmentation of free memory). */
  rangeCount(): number {
    return this.byStart.size;
  }

  /** Free frames per memory type, by scanning the ranges (for statistics, not hot paths). */
  freeFramesByType(out: number[]): void {
    for (const r of this.byStart.values()) out[this.regions.type[this.region[r]]] += this.len[r];
  }

  /** Whole-structure check: lists and maps agree, no overlap, counts balance. */
  checkInvariants(): void {
    let total = 0;
    let listed = 0;
    for (let o = 0; o < ORDERS; o++) {
      for (let r = this.heads[o]; r >= 0; r = this.next[r]) {
        listed++;
        if (this.order[r] !== o || orderOf(this.len[r]) !== o) throw new InvariantError(`range ${r} in wrong order list`);
        if (this.byStart.get(this.start[r]) !== r) throw new InvariantError(`range ${r} missing from start map`);
        if (this.byEnd.get(this.start[r] + this.len[r] - 1) !== r) throw new InvariantError(`range ${r} missing from end map`);
        total += this.len[r];
      }
    }
    if (listed !== this.byStart.size || listed !== this.byEnd.size) throw new InvariantError('range lists and maps disagree');
    if (total !== this.freeFrames) throw new InvariantError(`free frames ${this.freeFrames} != ranges total ${total}`);
    const starts = [...this.byStart.keys()].sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) {
      const p = this.byStart.get(starts[i - 1])!;
      if (starts[i - 1] + this.len[p] > starts[i]) throw new InvariantError('free ranges overlap');
    }
  }
}
