/**
 * A set-associative translation cache with LRU replacement, used for L1 DTLBs, the L2 STLB, the
 * nested TLB (guest-physical -> host-physical) and the paging-structure caches. One class, because
 * all of them map a key (a page or table-prefix number tagged with its size) to a number.
 *
 * Layout: flat arrays indexed `set * ways + i`.
 *   key[i]   page number * 4 + size id, or -1 when the way is invalid
 *   value[i] payload (host frame number, or child table index for a paging-structure cache)
 *   flags[i] permission bits of the cached translation (bit 0: writable)
 * `sizeCount` counts valid entries per size so lookups skip sizes the array holds none of.
 *
 * Replacement is true LRU in both of two implementations, chosen by associativity:
 * - up to 16 ways: each set is a ring in recency order starting at `front[set]`, most recently
 *   used first, invalid ways at the tail. A lookup tries the front first (a hit on the most recent
 *   entry is one compare), then scans the set; a hit at rank r shifts the r entries before it by
 *   one. A fill after a miss moves the front back by one way, onto the tail: the least recently
 *   used way is the victim, and nothing moves. This replaces a last-use stamp per way, whose victim
 *   search is a minimum over stamps with branches the host cannot predict. The way a lookup or
 *   insert returns is where the entry is now (the front of its set), valid until the next
 *   operation on the cache.
 * - wider (fully associative L1 DTLBs of 64-72 entries): a hash index from key to way and a
 *   doubly linked recency list per set, so lookup, refresh and victim choice are O(1) instead of a
 *   scan of every way.
 */
import { arena } from './arena.ts';

const SCAN_MAX_WAYS = 16;
const INV_2_32 = 1 / 4294967296;

/**
 * Keys carry an address-space tag (VPID, or EPTP for guest-physical entries) above the page number:
 * key = tag * TAG_SPAN + page number * 4 + size. Page numbers of 48-bit addresses stay below 2^36,
 * so keys stay exact doubles for tags below 2^13. The set index comes from the page number alone,
 * so the entries of different address spaces for the same address compete for the same set.
 */
export const TAG_SPAN = 2 ** 40;
export const MAX_TAGS = 2 ** 13;

/**
 * A cache's region in the arena (read by wasm/translate.ts as well): a header of f64 scalars at
 * `base + 8 * HDR_*`, then from `base + HDR_ARRAYS` one i32 per array, its absolute byte offset (0
 * when empty), in the order of `ARRAY_BYTES`: key (f64), value (f64), flags (u8), sizeCount (i32 x
 * 4), front (u8 per set, scan mode), fingerprint bytes (u8, read as i32 words), and for the indexed
 * mode bucketHead, chainNext, bucketOf, prev, next (i32) and head, tail, fill (i32 per set); then
 * the geometry as i32 (`HDR_GEOMETRY`).
 */
const HDR_VALID = 0;
const HDR_TAG_BASE = 1;
const HDR_MISSED_KEY = 2;
const HDR_MISSED_BUCKET = 3;
const HDR_SETS = 4;
const HDR_WAYS = 5;
const HDR_SET_MASK = 6;
const HDR_INDEXED = 7;
const HDR_HASH_BITS = 8;
const HDR_FP_SHIFT = 9;
const HDR_SLOTS = 10;
const HDR_ARRAYS = HDR_SLOTS * 8;
const ARRAY_BYTES = [8, 8, 1, 4, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4];
/**
 * After the array offsets, the geometry again as i32 (constant; written once): the lookup mode
 * (`MODE_*`), the set mask, the ways, the fingerprint shift, the sets and the hash bits. The
 * WebAssembly walk reads them at each of its lookups and fills, where a double field costs a
 * load and a conversion.
 */
const HDR_GEOMETRY = HDR_ARRAYS + ARRAY_BYTES.length * 4;
const HEADER_BYTES = HDR_GEOMETRY + 24;
/** Power-of-two sets: scan mode without fingerprints, with them, indexed mode; anything else (modulo sets, empty). */
const MODE_SCAN = 0;
const MODE_SCAN_FINGERPRINTS = 1;
const MODE_INDEXED = 2;
const MODE_OTHER = 3;

export class TranslationCache {
  readonly sets: number;
  readonly ways: number;
  readonly key: Float64Array;
  readonly value: Float64Array;
  readonly flags: Uint8Array;
  /** Valid entries per size id (0..3). */
  readonly sizeCount: Int32Array;
  /** Byte offset of this cache's region in the arena (layout: `HDR_*` above). */
  readonly base: number;
  /**
   * The header's scalars (`HDR_*`), shared with the translation path in WebAssembly: `valid`,
   * `tagBase`, and the key the last missing lookup looked for (-1 none). Only `insert` adds keys,
   * so that key stays absent until it is inserted, and that insert (the fill after a miss) can skip
   * its search; both sides must see the same one, or a fill by one side after a miss on the other
   * would skip the search for a key that is present.
   */
  private readonly hdr: Float64Array;
  /** The keys `insert` and `lookup` pass to their bodies (see `insert`). */
  private insertingKey = -1;
  private lookingKey = -1;
  /** sets - 1 when the set count is a power of two (index by mask), else -1 (index by modulo). */
  private readonly setMask: number;
  // Indexed mode (ways > SCAN_MAX_WAYS): a chained hash of key -> way, recency lists.
  private readonly indexed: boolean;
  /**
   * Per bucket, the first way whose key hashes there (-1: none); per way, the next way of its
   * bucket's chain and its bucket. The chains link ways, so the keys stay in `key` alone, an
   * evicted way leaves its chain without hashing its key again, and the fill after a miss links
   * into the bucket the lookup hashed to (`missedBucket`).
   */
  private readonly bucketHead: Int32Array;
  private readonly chainNext: Int32Array;
  private readonly bucketOf: Int32Array;
  private readonly hashBits: number;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  /** Per set: most and least recently used way (global way index), -1 when empty. */
  private readonly head: Int32Array;
  /** Scan mode: per set, the way offset (0..ways-1) of the most recently used entry. */
  private readonly front: Uint8Array;
  private readonly tail: Int32Array;
  /** Per set: ways never used yet (filled in order). */
  private readonly fill: Int32Array;
  /**
   * Scan mode with a multiple of four ways, at least sixteen: one byte per way, a fingerprint of its key
   * (`fingerprintOf`), the same bytes read four at a time through `fpWords` (sets start at a
   * multiple of four ways, so a set is whole words). A scan tests four ways per word for a byte
   * equal to the key's fingerprint and compares full keys only in a word that has one: a miss in a
   * full 16-way set reads four words instead of sixteen keys. Invalid ways may hold any byte (a
   * match is always confirmed on the key). Empty otherwise (`fpShift` -1).
   */
  private readonly fpBytes: Uint8Array;
  private readonly fpWords: Int32Array;
  /** Right shift of a key's low 32 bits to its fingerprint byte (past the size and set bits); -1 without fingerprints. */
  private readonly fpShift: number;
  /** The lookup mode the WebAssembly path reads (`MODE_*`, in the header's geometry). */
  private readonly lookupMode: number;

  /** `mode` forces an implementation (for differential tests); by default it follows associativity. */
  constructor(
    readonly name: string,
    entries: number,
    ways: number,
    mode?: 'scan' | 'indexed',
  ) {
    if (entries <= 0) {
      this.sets = 0;
      this.ways = 0;
    } else {
      if (entries % ways !== 0) throw new Error(`${name}: ${entries} entries is not a multiple of ${ways} ways`);
      this.sets = entries / ways;
      this.ways = ways;
    }
    this.setMask = this.sets > 0 && (this.sets & (this.sets - 1)) === 0 ? this.sets - 1 : -1;
    const n = this.sets * this.ways;
    this.indexed = this.ways > 0 && (mode ? mode === 'indexed' : this.ways > SCAN_MAX_WAYS);
    let bits = 0;
    if (this.indexed) while (1 << bits < n * 4) bits++;
    this.hashBits = bits;
    // Sets of eight ways or fewer gain nothing: the call to the scan out of the front costs what the words save (measured).
    const fingerprinted = !this.indexed && this.ways >= 16 && this.ways % 4 === 0;
    let setBits = 0;
    while (this.setMask >= 0 && 1 << setBits < this.sets) setBits++;
    // The set index is the page number's low bits (power-of-two sets): the same in every key of a
    // set, so the fingerprint takes the bits above them.
    this.fpShift = fingerprinted ? 2 + setBits : -1;

    const ix = this.indexed ? 1 : 0;
    const lengths = [n, n, n, 4, ix ? 0 : this.sets, fingerprinted ? n : 0, ix << bits, ix * n, ix * n, ix * n, ix * n, ix * this.sets, ix * this.sets, ix * this.sets];
    const offsets: number[] = [];
    let bytes = HEADER_BYTES;
    for (let j = 0; j < ARRAY_BYTES.length; j++) {
      offsets.push(bytes);
      bytes += Math.ceil((lengths[j] * ARRAY_BYTES[j]) / 8) * 8;
    }
    const base = arena.alloc(bytes);
    arena.releaseWith(this, [base, bytes]);
    this.base = base;
    const buf = arena.memory.buffer;
    for (let j = 0; j < offsets.length; j++) arena.i32[(base + HDR_ARRAYS) / 4 + j] = lengths[j] > 0 ? base + offsets[j] : 0;
    this.hdr = new Float64Array(buf, base, HDR_SLOTS);
    this.hdr[HDR_MISSED_KEY] = -1;
    this.hdr[HDR_MISSED_BUCKET] = -1;
    this.hdr[HDR_SETS] = this.sets;
    this.hdr[HDR_WAYS] = this.ways;
    this.hdr[HDR_SET_MASK] = this.setMask;
    this.hdr[HDR_INDEXED] = ix;
    this.hdr[HDR_HASH_BITS] = bits;
    this.hdr[HDR_FP_SHIFT] = this.fpShift;
    this.lookupMode = this.setMask < 0 ? MODE_OTHER : this.indexed ? MODE_INDEXED : fingerprinted ? MODE_SCAN_FINGERPRINTS : MODE_SCAN;
    arena.i32.set([this.lookupMode, this.setMask, this.ways, this.fpShift, this.sets, bits], (base + HDR_GEOMETRY) / 4);
    const at = (j: number) => base + offsets[j];
    this.key = new Float64Array(buf, at(0), n).fill(-1);
    this.value = new Float64Array(buf, at(1), n);
    this.flags = new Uint8Array(buf, at(2), n);
    this.sizeCount = new Int32Array(buf, at(3), 4);
    this.front = new Uint8Array(buf, at(4), lengths[4]);
    this.fpBytes = new Uint8Array(buf, at(5), lengths[5]);
    this.fpWords = new Int32Array(buf, at(5), lengths[5] / 4);
    this.bucketHead = new Int32Array(buf, at(6), lengths[6]).fill(-1);
    this.chainNext = new Int32Array(buf, at(7), lengths[7]);
    this.bucketOf = new Int32Array(buf, at(8), lengths[8]);
    this.prev = new Int32Array(buf, at(9), lengths[9]);
    this.next = new Int32Array(buf, at(10), lengths[10]);
    this.head = new Int32Array(buf, at(11), lengths[11]).fill(-1);
    this.tail = new Int32Array(buf, at(12), lengths[12]).fill(-1);
    this.fill = new Int32Array(buf, at(13), lengths[13]);
  }

  /** Valid entries. */
  get valid(): number {
    return this.hdr[HDR_VALID];
  }
  set valid(v: number) {
    this.hdr[HDR_VALID] = v;
  }

  /** Tag of the address space being looked up, times TAG_SPAN (0 untagged; set by the core on a switch). */
  get tagBase(): number {
    return this.hdr[HDR_TAG_BASE];
  }
  set tagBase(v: number) {
    this.hdr[HDR_TAG_BASE] = v;
  }

  /** The fingerprint byte of key `k` (see `fpBytes`). Any function of the key would be exact. */
  private fingerprintOf(k: number): number {
    return ((k | 0) >>> this.fpShift) & 255;
  }

  get entries(): number {
    return this.sets * this.ways;
  }

  /** Whether this cache has `entries` in `ways` ways, in power-of-two sets scanned without fingerprints (the WebAssembly path's MODE_SCAN). */
  isScanned(entries: number, ways: number): boolean {
    return this.lookupMode === MODE_SCAN && this.entries === entries && this.ways === ways;
  }

  private setOf(pageNumber: number): number {
    return this.setMask >= 0 ? pageNumber & this.setMask : pageNumber % this.sets;
  }

  /**
   * Way index holding (pageNumber, size), refreshed as most recently used; -1 on a miss. The scan
   * of a set is here, in the small front the JIT inlines into the walker, so the key (a double
   * above 2^31 for the 4 KiB pages of a 48-bit address space) never crosses a call; the indexed
   * mode's body gets it in a field (a double argument to a call that is not inlined is boxed).
   */
  lookup(pageNumber: number, size: number): number {
    if (this.sizeCount[size] === 0) return -1;
    const k = pageNumber * 4 + size + this.tagBase;
    if (this.indexed) {
      this.lookingKey = k;
      return this.lookupIndexed(this.setOf(pageNumber));
    }
    const set = this.setMask >= 0 ? pageNumber & this.setMask : pageNumber % this.sets;
    const base = set * this.ways;
    const keys = this.key;
    const mru = base + this.front[set];
    if (keys[mru] === k) return mru;
    if (this.fpShift >= 0) {
      this.lookingKey = k;
      return this.scanFingerprints(set);
    }
    const end = base + this.ways;
    for (let i = base; i < end; i++) if (keys[i] === k) return this.raise(set, i);
    this.hdr[HDR_MISSED_KEY] = k;
    return -1;
  }

  /**
   * Scan mode with fingerprints: find `lookingKey` in `set` (the body of `lookup` for wide sets,
   * out of its inlined front, which stays within the JIT's inlining budget at the walker's call
   * sites). Four ways per word: a byte of the word equals the key's fingerprint when x has a zero
   * byte (the borrow can flag a byte above a true zero too; the key compare decides).
   */
  private scanFingerprints(set: number): number {
    const k = this.lookingKey;
    const keys = this.key;
    const base = set * this.ways;
    const pattern = Math.imul(((k | 0) >>> this.fpShift) & 255, 0x01010101);
    const words = this.fpWords;
    const wordEnd = (base + this.ways) >> 2;
    for (let w = base >> 2; w < wordEnd; w++) {
      const x = words[w] ^ pattern;
      if (((x - 0x01010101) & ~x & 0x80808080) !== 0) {
        const i = w << 2;
        if (keys[i] === k) return this.raise(set, i);
        if (keys[i + 1] === k) return this.raise(set, i + 1);
        if (keys[i + 2] === k) return this.raise(set, i + 2);
        if (keys[i + 3] === k) return this.raise(set, i + 3);
      }
    }
    this.hdr[HDR_MISSED_KEY] = k;
    return -1;
  }

  /** Find `lookingKey` in `set` of the indexed mode: the body of `lookup`. */
  private lookupIndexed(set: number): number {
    const k = this.lookingKey;
    const bucket = this.hashSlot(k);
    const keys = this.key;
    const next = this.chainNext;
    for (let i = this.bucketHead[bucket]; i >= 0; i = next[i]) {
      if (keys[i] === k) {
        this.touch(i, set);
        return i;
      }
    }
    this.hdr[HDR_MISSED_KEY] = k;
    this.hdr[HDR_MISSED_BUCKET] = bucket;
    return -1;
  }

  /** Like lookup, but leaves the LRU order alone (for tests and invariant checks). */
  peek(pageNumber: number, size: number): number {
    if (this.sets === 0) return -1;
    const k = pageNumber * 4 + size + this.tagBase;
    if (this.indexed) return this.hashFind(k);
    const base = this.setOf(pageNumber) * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.key[i] === k) return i;
    return -1;
  }

  /**
   * Insert (or refresh) an entry, evicting the set's least recently used way. Returns the way.
   * The common case, the fill after a lookup of the same key missed in a scanned set, is here in
   * the small front the JIT inlines (see `lookup`): the tail way becomes the front. Everything
   * else goes to the body, with the key in a field.
   */
  insert(pageNumber: number, size: number, value: number, flags: number): number {
    if (this.sets === 0) return -1;
    const k = pageNumber * 4 + size + this.tagBase;
    this.insertingKey = k;
    const set = this.setMask >= 0 ? pageNumber & this.setMask : pageNumber % this.sets;
    if (k === this.hdr[HDR_MISSED_KEY] && !this.indexed) return this.fillAfterMiss(set, size, value, flags);
    return this.insertKey(set, size, value, flags);
  }

  /** Scan mode, `insertingKey` known absent from `set`: the tail way becomes the front. */
  private fillAfterMiss(set: number, size: number, value: number, flags: number): number {
    this.hdr[HDR_MISSED_KEY] = -1;
    const f = this.front[set];
    const newFront = f === 0 ? this.ways - 1 : f - 1;
    this.front[set] = newFront;
    const victim = set * this.ways + newFront;
    const prev = this.key[victim];
    if (prev === -1) {
      this.valid++;
      this.sizeCount[size]++;
    } else {
      // Low bits of the key are the size (exact below 2^53). An entry replacing one of its own
      // size, the common case, leaves the counts as they are.
      const prevSize = prev & 3;
      if (prevSize !== size) {
        this.sizeCount[prevSize]--;
        this.sizeCount[size]++;
      }
    }
    const k = this.insertingKey;
    this.key[victim] = k;
    if (this.fpShift >= 0) this.fpBytes[victim] = this.fingerprintOf(k);
    this.value[victim] = value;
    this.flags[victim] = flags;
    return victim;
  }

  /** Insert `insertingKey` (of `size`) into `set`: the body of `insert`. */
  private insertKey(set: number, size: number, value: number, flags: number): number {
    const k = this.insertingKey;
    const knownAbsent = k === this.hdr[HDR_MISSED_KEY];
    if (knownAbsent) this.hdr[HDR_MISSED_KEY] = -1;
    let victim: number;
    if (this.indexed) {
      victim = knownAbsent ? -1 : this.hashFind(k);
      if (victim < 0 && this.fill[set] < this.ways) {
        // A way never used since the last flush: not in the recency list yet.
        victim = set * this.ways + this.fill[set]++;
        this.linkFront(victim, set);
      } else {
        // The entry itself, or the least recently used way (invalidated ways sit at the tail).
        if (victim < 0) victim = this.tail[set];
        this.touch(victim, set);
      }
    } else {
      // The entry itself, raised to the front, or else the least recently used way (the tail;
      // invalid ways sit there), which becomes the front by moving the ring's start back by one.
      const base = set * this.ways;
      const end = base + this.ways;
      const keys = this.key;
      victim = -1;
      if (!knownAbsent) {
        for (let i = base; i < end; i++) {
          if (keys[i] === k) {
            victim = this.raise(set, i);
            break;
          }
        }
      }
      if (victim < 0) {
        const f = this.front[set];
        const newFront = f === 0 ? this.ways - 1 : f - 1;
        this.front[set] = newFront;
        victim = base + newFront;
      }
    }
    const prev = this.key[victim];
    if (prev !== k) {
      if (prev !== -1) {
        this.sizeCount[prev & 3]--; // low bits of the key are the size (exact below 2^53)
        if (this.indexed) this.unchain(victim);
      } else this.valid++;
      this.sizeCount[size]++;
      this.key[victim] = k;
      if (this.indexed) this.chain(victim, knownAbsent ? this.hdr[HDR_MISSED_BUCKET] : this.hashSlot(k));
      else if (this.fpShift >= 0) this.fpBytes[victim] = this.fingerprintOf(k);
    }
    this.value[victim] = value;
    this.flags[victim] = flags;
    return victim;
  }

  /** Drop (pageNumber, size) if present. Returns whether an entry was dropped. */
  invalidate(pageNumber: number, size: number): boolean {
    if (this.sets === 0) return false;
    const i = this.peek(pageNumber, size);
    if (i < 0) return false;
    if (this.indexed) {
      this.unchain(i);
      // Keep the way in its recency list as the least recently used, so it is reused first.
      const set = this.setOf(pageNumber);
      this.unlink(i, set);
      this.linkBack(i, set);
    }
    if (this.indexed) this.key[i] = -1;
    else {
      // Close the gap (ranks after it move up by one) and park the invalid way at the tail, where
      // it is the next victim.
      const set = this.setOf(pageNumber);
      const base = set * this.ways;
      const f = this.front[set];
      const tail = f === 0 ? this.ways - 1 : f - 1;
      let p = i - base;
      while (p !== tail) {
        const q = p === this.ways - 1 ? 0 : p + 1;
        this.copyWay(base + q, base + p);
        p = q;
      }
      this.key[base + tail] = -1;
    }
    this.sizeCount[size]--;
    this.valid--;
    return true;
  }

  /**
   * Drop the entries of one tag (`tagBase` as in the field): a single-context invalidation
   * (INVVPID/INVEPT) on a core whose arrays hold other address spaces too. Returns the count.
   */
  flushTag(tagBase: number): number {
    if (this.valid === 0) return 0;
    const keys: number[] = [];
    for (let i = 0; i < this.key.length; i++) {
      const k = this.key[i];
      if (k >= tagBase && k < tagBase + TAG_SPAN) keys.push(k);
    }
    const saved = this.tagBase;
    this.tagBase = tagBase;
    for (const k of keys) {
      const size = (k - tagBase) % 4;
      this.invalidate((k - tagBase - size) / 4, size);
    }
    this.tagBase = saved;
    return keys.length;
  }

  /** Drop everything. Costs what is live: nothing when already empty. */
  flush(): number {
    const dropped = this.valid;
    if (dropped === 0) return 0;
    this.key.fill(-1);
    this.sizeCount.fill(0);
    this.valid = 0;
    if (this.indexed) {
      this.bucketHead.fill(-1);
      this.head.fill(-1);
      this.tail.fill(-1);
      this.fill.fill(0);
    }
    return dropped;
  }

  /** Valid entries of one set in LRU order, most recent first, as page numbers (for tests). */
  lruOrder(pageNumberInSet: number): number[] {
    const set = this.setOf(pageNumberInSet);
    if (this.indexed) {
      const out: number[] = [];
      for (let i = this.head[set]; i >= 0; i = this.next[i]) if (this.key[i] !== -1) out.push(Math.floor(this.key[i] / 4));
      return out;
    }
    const out: number[] = [];
    const base = set * this.ways;
    for (let r = 0; r < this.ways; r++) {
      const i = base + ((this.front[set] + r) % this.ways);
      if (this.key[i] !== -1) out.push(Math.floor(this.key[i] / 4));
    }
    return out;
  }

  /**
   * Scan mode: make way `i` the most recently used of its set. The entries of lower rank (more
   * recent) move one rank down, each into the next way of the ring. Returns the way it is now in.
   */
  private raise(set: number, i: number): number {
    const ways = this.ways;
    const base = set * ways;
    const f = this.front[set];
    let p = i - base;
    if (p === f) return i;
    const k = this.key[i];
    const v = this.value[i];
    const fl = this.flags[i];
    const fp = this.fpBytes.length > 0 ? this.fpBytes[i] : 0;
    while (p !== f) {
      const q = p === 0 ? ways - 1 : p - 1;
      this.copyWay(base + q, base + p);
      p = q;
    }
    this.key[base + f] = k;
    this.value[base + f] = v;
    this.flags[base + f] = fl;
    if (this.fpBytes.length > 0) this.fpBytes[base + f] = fp;
    return base + f;
  }

  private copyWay(from: number, to: number): void {
    this.key[to] = this.key[from];
    this.value[to] = this.value[from];
    this.flags[to] = this.flags[from];
    if (this.fpBytes.length > 0) this.fpBytes[to] = this.fpBytes[from];
  }

  // ---- indexed mode ----

  private hashSlot(k: number): number {
    // Mix the low and high 32 bits of the key (keys reach 2^38 for 48-bit addresses). The high
    // half by a multiplication with 2^-32, which is exact, where a division costs several times more.
    const h = Math.imul((k | 0) ^ Math.imul((k * INV_2_32) | 0, 0x85ebca6b), 0x9e3779b1);
    return h >>> (32 - this.hashBits);
  }

  private hashFind(k: number): number {
    const keys = this.key;
    const next = this.chainNext;
    for (let i = this.bucketHead[this.hashSlot(k)]; i >= 0; i = next[i]) if (keys[i] === k) return i;
    return -1;
  }

  /**
   * What is wrong with the indexed mode's hash chains, or null (for tests): every valid way must
   * sit exactly once in the chain of the bucket its key hashes to, and no chain may loop.
   */
  indexProblem(): string | null {
    if (!this.indexed) return null;
    let linked = 0;
    for (let b = 0; b < this.bucketHead.length; b++) {
      let steps = 0;
      for (let i = this.bucketHead[b]; i >= 0; i = this.chainNext[i]) {
        if (++steps > this.key.length) return `bucket ${b}: the chain loops`;
        if (this.key[i] === -1) return `bucket ${b}: way ${i} is invalid`;
        if (this.hashSlot(this.key[i]) !== b || this.bucketOf[i] !== b) return `bucket ${b}: way ${i} hashes elsewhere`;
        linked++;
      }
    }
    return linked === this.valid ? null : `${linked} ways in chains, ${this.valid} valid`;
  }

  /** Link way `way` (holding a key that hashes to `bucket`) into that bucket's chain. */
  private chain(way: number, bucket: number): void {
    this.bucketOf[way] = bucket;
    this.chainNext[way] = this.bucketHead[bucket];
    this.bucketHead[bucket] = way;
  }

  /** Take way `way` out of its bucket's chain (its key is still valid). */
  private unchain(way: number): void {
    const bucket = this.bucketOf[way];
    const next = this.chainNext;
    let p = this.bucketHead[bucket];
    if (p === way) {
      this.bucketHead[bucket] = next[way];
      return;
    }
    while (next[p] !== way) {
      p = next[p];
      if (!(p >= 0)) throw new Error(`${this.name}: way ${way} is not in the chain of its bucket`);
    }
    next[p] = next[way];
  }

  private unlink(i: number, set: number): void {
    const p = this.prev[i];
    const n = this.next[i];
    if (p >= 0) this.next[p] = n;
    else this.head[set] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[set] = p;
  }

  private linkFront(i: number, set: number): void {
    const h = this.head[set];
    this.prev[i] = -1;
    this.next[i] = h;
    if (h >= 0) this.prev[h] = i;
    else this.tail[set] = i;
    this.head[set] = i;
  }

  private linkBack(i: number, set: number): void {
    const t = this.tail[set];
    this.next[i] = -1;
    this.prev[i] = t;
    if (t >= 0) this.next[t] = i;
    else this.head[set] = i;
    this.tail[set] = i;
  }

  private touch(i: number, set: number): void {
    if (this.head[set] === i) return;
    this.unlink(i, set);
    this.linkFront(i, set);
  }
}
