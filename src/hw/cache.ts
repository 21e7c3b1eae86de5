/**
 * A set-associative, write-back, write-allocate data cache with LRU replacement, indexed by
 * host-physical line number (address / 64). Both data accesses and page-walk references go
 * through the hierarchy (ChampSim's page-table walker also issues its reads to the data caches).
 *
 * Layout: each set is a ring of `ways` 32-bit words in recency order, starting at `front[set]`
 * (most recently used first). A word is `tag * 2 + dirty`, -1 for an invalid way; invalid ways sit
 * at the tail, so they are the first victims. The tag is the line number / sets (the bits above the
 * set index).
 *
 * Why a recency ring rather than a last-use stamp per way: finding the LRU victim by stamps is a
 * search for a minimum whose branches the host cannot predict, and it is the hot spot of every
 * experiment (each line and each page-walk reference passes up to three levels). In the ring a hit
 * in the most recently used way (the common case for L1D) is the first compare, a hit at rank r
 * shifts the r words before it by one, and a miss moves the ring's start back by one way onto the
 * tail, the victim, so nothing shifts at all. It also halves the state (no stamps) and needs no
 * clock, so nothing wraps.
 *
 * An eviction of a dirty line is a write-back, counted by the owner (the vCPU) against the tier
 * that holds the line.
 *
 * The words and fronts live in one region of the arena (arena.ts), behind a header, so that the
 * WebAssembly access path (wasm/datacache.ts: `dataAccess`, `dataAbsorbWriteBack` and VCpu's
 * `throughCaches`) works on the same state; this class stays the reference and the fallback.
 */
import { arena } from './arena.ts';

/** Tags must fit in 30 bits so that `tag * 2 + dirty` stays a non-negative 32-bit integer. */
const TAG_LIMIT = 2 ** 30;

/**
 * The region's header, read by wasm/datacache.ts: i32 at +0 sets, +4 ways, +8 setMask (-1: index
 * by modulo), +12 byte offset of `word` (i32[sets * ways]), +16 byte offset of `front`
 * (u8[sets]), +20 setShift (log2(sets) for a power-of-two set count, else -1); f64 at +24
 * setInverse, +32 latency, +40 evictedDirtyLine (-1 none). The arrays
 * follow from `HEADER_BYTES` (one host cache line), `word` first.
 */
const HDR_I32_SETS = 0;
const HDR_I32_WAYS = 1;
const HDR_I32_SET_MASK = 2;
const HDR_I32_WORD = 3;
const HDR_I32_FRONT = 4;
const HDR_I32_SET_SHIFT = 5;
const HDR_F64_SET_INVERSE = 3;
const HDR_F64_LATENCY = 4;
const HDR_F64_EVICTED = 5;
const HEADER_BYTES = 64;

export class DataCache {
  readonly sets: number;
  readonly ways: number;
  /** Per set, `ways` words in recency order (see the header), indexed `set * ways + rank`. */
  private readonly word: Int32Array;
  /** Per set, the offset (0..ways-1) of its most recently used way. */
  private readonly front: Uint8Array;
  /** sets - 1 for a power-of-two set count (index by mask, exact below 2^53), else -1. */
  private readonly setMask: number;
  /**
   * 1 / sets, exact for a power-of-two set count: the tag is the line number over the set count,
   * and a multiplication is several times quicker than the division it replaces (which the
   * profile showed as the slowest instruction of a lookup).
   */
  private readonly setInverse: number;
  /** Byte offset of this cache's region in the arena (layout: `HDR_*` above). */
  readonly base: number;
  /** The header's f64 slots (`HDR_F64_*`): `evictedDirtyLine` is shared with the WebAssembly path. */
  private readonly hdr: Float64Array;

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
    this.setInverse = 1 / this.sets;
    if (ways > 255) throw new Error(`${name}: ${ways} ways; at most 255 are modelled`);
    const frontAt = HEADER_BYTES + lines * 4;
    const regionBytes = frontAt + this.sets;
    const base = arena.alloc(regionBytes);
    arena.releaseWith(this, [base, regionBytes]);
    this.base = base;
    const buf = arena.memory.buffer;
    const h32 = new Int32Array(buf, base, HEADER_BYTES / 4);
    h32[HDR_I32_SETS] = this.sets;
    h32[HDR_I32_WAYS] = ways;
    h32[HDR_I32_SET_MASK] = this.setMask;
    h32[HDR_I32_WORD] = base + HEADER_BYTES;
    h32[HDR_I32_FRONT] = base + frontAt;
    h32[HDR_I32_SET_SHIFT] = this.setMask >= 0 ? Math.log2(this.sets) : -1;
    this.hdr = new Float64Array(buf, base, HEADER_BYTES / 8);
    this.hdr[HDR_F64_SET_INVERSE] = this.setInverse;
    this.hdr[HDR_F64_LATENCY] = latency;
    this.hdr[HDR_F64_EVICTED] = -1;
    this.word = new Int32Array(buf, base + HEADER_BYTES, lines);
    this.front = new Uint8Array(buf, base + frontAt, this.sets);
    this.clear();
  }

  /** Line number of the last dirty victim, or -1: read by the caller right after `access`. */
  get evictedDirtyLine(): number {
    return this.hdr[HDR_F64_EVICTED];
  }
  set evictedDirtyLine(line: number) {
    this.hdr[HDR_F64_EVICTED] = line;
  }

  /** Look up a line; on a miss, fill it (evicting the LRU way). Returns whether it hit. */
  access(lineNumber: number, write: boolean): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tagValue = this.tagOf(lineNumber, set);
    // A line beyond the modelled memory can never have been filled: refuse it before the lookup,
    // so that the tag compared below is a 32-bit integer (the host compares integers, not doubles).
    if (tagValue >= TAG_LIMIT) throw new Error(`${this.name}: line ${lineNumber} is beyond the modelled host memory (tag over 30 bits)`);
    const tag = tagValue | 0;
    const ways = this.ways;
    const base = set * ways;
    const words = this.word;
    const f = this.front[set];
    this.evictedDirtyLine = -1;
    // An invalid word (-1) never matches: tags are non-negative.
    const first = words[base + f];
    if (first >> 1 === tag) {
      if (write) words[base + f] = first | 1;
      return true;
    }
    // A hit on the second most recently used way (two lines of a set in turn: a stack and a heap
    // line, a line and its walk reference): the raise below comes to swapping the two words.
    const next = f + 1 === ways ? base : base + f + 1;
    const second = words[next];
    if (second >> 1 === tag) {
      words[next] = first;
      words[base + f] = write ? second | 1 : second;
      return true;
    }
    const end = base + ways;
    for (let i = base; i < end; i++) {
      const w = words[i];
      if (w >> 1 === tag) {
        // Raise it to the front: the more recent words move one way along the ring. Two straight
        // runs (the ring wraps at most once between the front and the hit) instead of a wrap test
        // per word.
        const front = base + f;
        if (i < front) {
          for (let j = i; j > base; j--) words[j] = words[j - 1];
          words[base] = words[end - 1];
          for (let j = end - 1; j > front; j--) words[j] = words[j - 1];
        } else {
          for (let j = i; j > front; j--) words[j] = words[j - 1];
        }
        words[front] = write ? w | 1 : w;
        return true;
      }
    }
    // Miss: the tail (least recently used, or invalid) becomes the front.
    const tail = f === 0 ? ways - 1 : f - 1;
    const victim = words[base + tail];
    if (victim !== -1 && (victim & 1) !== 0) this.evictedDirtyLine = (victim >> 1) * this.sets + set;
    this.front[set] = tail;
    words[base + tail] = tag * 2 + (write ? 1 : 0);
    return false;
  }

  /**
   * A dirty line written back into this level from the level above: marks it dirty if present (no
   * LRU update, as a write-back is not a use). Returns whether it was present; when it is not, the
   * write-back goes on to the next level.
   */
  absorbWriteBack(lineNumber: number): boolean {
    const set = this.setMask >= 0 ? lineNumber & this.setMask : lineNumber % this.sets;
    const tagValue = this.tagOf(lineNumber, set);
    if (tagValue >= TAG_LIMIT) return false; // never filled (see `access`)
    const tag = tagValue | 0;
    const base = set * this.ways;
    const end = base + this.ways;
    const words = this.word;
    for (let i = base; i < end; i++) {
      const w = words[i];
      if (w >> 1 === tag) {
        words[i] = w | 1;
        return true;
      }
    }
    return false;
  }

  /** The line's tag (the bits above its set index), as a double: exact below 2^53. */
  private tagOf(lineNumber: number, set: number): number {
    return this.setMask >= 0 ? (lineNumber - set) * this.setInverse : (lineNumber - set) / this.sets;
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
