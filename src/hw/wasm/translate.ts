/**
 * The translation path in WebAssembly, compiled from this AssemblyScript source by
 * src/hw/wasm-translate.ts (`asc -O3 --runtime stub --noAssert --importMemory`, into build/native/,
 * git-ignored; scripts/install.sh builds it). It works on the state the TypeScript classes keep in
 * the arena (src/hw/arena.ts), the one memory this module imports: the regions of
 * `TranslationCache` (tlb.ts) and the headers and entries of `PageTable` (pagetable.ts), laid out as
 * the classes' comments describe (the offsets below). Every pointer is a byte offset into it.
 *
 * - `cacheLookup` / `cacheInsert` are `TranslationCache.lookup` / `insert` step by step, both modes.
 * - `translate` is `VCpu.translateSlow` with the first attempt of its walk (`walkNative` /
 *   `walkNested`, `nestedTranslate`, `fillL1`, `fillL2`); `walk` is the walk alone (a retry after a
 *   fault). They read the vCPU's descriptor and write its output block: which structure served the
 *   translation and the result. The walk makes each reference to memory where it meets it
 *   (`walkRef` of wasm/memory.ts: data caches, tiers, the references' counters and cycles) and
 *   records it (line and dimension, in order). A fault stops the walk with its address; VCpu runs
 *   the handler and calls `walk` again. `translateL1` is its L1 part alone.
 * - The module's other files add a data line (wasm/memory.ts `dataLine`, with wasm/datacache.ts
 *   and wasm/prefetch.ts), a trace replay's common events (wasm/replay.ts `replayEvents`) and a
 *   vCPU's batch of accesses (wasm/replay.ts `accessEvents`).
 *
 * The results must be the TypeScript path's to the bit, so the arithmetic is the same: keys and
 * addresses are doubles compared as doubles, except that the walk takes the page numbers,
 * prefixes, indices and offsets of an address from one exact i64 of it (see `walkG`), which for
 * the addresses it is given ([0, 2^53)) are the TypeScript code's floors and truncations to the
 * bit; where the TypeScript code converts a double to a
 * 32-bit integer (`x | 0`, `x & m`) this code truncates to 64 bits and wraps to 32 (`toI32`),
 * which is the same for every value below 2^53; `Math.imul` is a 32-bit multiplication, `>>>` a
 * shift of the unsigned value. Loads are unchecked (indices stay in range by construction). The
 * module allocates nothing and has no data segment: instantiating it writes nothing to the arena.
 * test/hw/wasm-translate.test.ts runs random operation sequences through both paths and compares
 * every byte.
 */

import { REFUSED as LINE_REFUSED, SERVED_MEMORY } from './datacache';
import { addWalkerCounts, beginWalkRefs, C_TIER, countServedLine, dataLine, endWalkRefs, O_WALK_CYCLES, walkRef as memoryWalkRef } from './memory';
import { bump, i32At, INV_64, MAGIC, pointerAt, setI32, smallI32, toI32 } from './memory-access';

// ---- TranslationCache region (tlb.ts): f64 header fields, i32 array offsets, i32 geometry ----
const VALID: usize = 0;
const TAG_BASE: usize = 8;
const MISSED_KEY: usize = 16;
const MISSED_BUCKET: usize = 24;
// (32 sets, 40 ways, 48 set mask, 64 hash bits, 72 fingerprint shift: read here as i32, G_* below.)
const INDEXED: usize = 56;
const KEY: usize = 80;
const VALUE: usize = 84;
const FLAGS: usize = 88;
const SIZE_COUNT: usize = 92;
const FRONT: usize = 96;
const FP: usize = 100;
const BUCKET_HEAD: usize = 104;
const CHAIN_NEXT: usize = 108;
const BUCKET_OF: usize = 112;
const PREV: usize = 116;
const NEXT: usize = 120;
const HEAD: usize = 124;
const TAIL: usize = 128;
const FILL: usize = 132;
/** The geometry again, as i32 (tlb.ts `HDR_GEOMETRY`): the lookup mode (`MODE_*`), set mask, ways, fingerprint shift (-1 none), sets, hash bits. */
const G_MODE: usize = 136;
const G_SET_MASK: usize = 140;
const G_WAYS: usize = 144;
const G_FP_SHIFT: usize = 148;
const G_SETS: usize = 152;
const G_HASH_BITS: usize = 156;
/** Power-of-two sets: scan mode without fingerprints, with them, indexed mode; anything else (modulo sets, empty). */
const MODE_SCAN: i32 = 0;
const MODE_SCAN_FINGERPRINTS: i32 = 1;
const MODE_INDEXED: i32 = 2;

// ---- PageTable header (pagetable.ts) ----
const PT_ROOT: usize = 0;
const PT_ENTRY: usize = 8;
const PT_TABLE_FRAME: usize = 12;

/*
 * A vCPU's descriptor (VCpu allocates one, 2304 bytes): what `translate` looks up and fills, as
 * i32 slots (byte offsets below): the L1 lookups in `translateSlow`'s order (count <= 8, then each
 * lookup's cache and page size), the L2 arrays (count <= 4, each array's cache, its size count <= 3
 * and sizes, three per array), per page size the L1 and L2 fill target (cache, 0 for none) and its
 * stored size, the guest and host paging-structure caches of levels 2..4 and the nested TLB, and
 * whether those have the presets' shape (D_PRESET_WALKER, below).
 *
 * The output block (f64 slots from OUT): status (L1_HIT ... EPT_VIOLATION), host address, size (the
 * L1 hit's lookup size, the L2 hit's array size, the walk's combined size), flags (bit 0
 * writable), the L1 entry that becomes the fast page (stored size, -1 for none, and page frame),
 * the fault's address and write flag, the walk-reference count, a counted walk's translation
 * and data-line cycles (`countTranslatedLine`; slots 11 and 12 are unused: the paging-structure-cache
 * and nested-TLB hits and misses go to the pending counters of wasm/memory.ts), the walk's cycles
 * (slot 13, wasm/memory.ts). Walk references: line (f64) at REF_LINE + 8r, dimension (u8, 1
 * guest, 0 host) at REF_DIM + r; at most 24 per attempt (a 4K/4K nested walk), room for 64.
 */
const D_L1_COUNT: usize = 0;
const D_L1_CACHE: usize = 4;
const D_L1_SIZE: usize = 36;
const D_L2_COUNT: usize = 68;
const D_L2_CACHE: usize = 72;
const D_L2_SIZE_COUNT: usize = 88;
const D_L2_SIZES: usize = 104;
const D_L1_FILL_CACHE: usize = 152;
const D_L1_FILL_SIZE: usize = 164;
const D_L2_FILL_CACHE: usize = 176;
const D_L2_FILL_SIZE: usize = 188;
/** Guest and host paging-structure caches of level L at `+ 4 * (L - 2)`. */
const D_GUEST_PSC: usize = 200;
const D_HOST_PSC: usize = 212;
const D_NTLB: usize = 224;

// ---- Output block (f64 slots) and walk references ----
const OUT: usize = 256;
const O_STATUS: usize = OUT;
const O_HPA: usize = OUT + 8;
const O_SIZE: usize = OUT + 16;
const O_FLAGS: usize = OUT + 24;
const O_L1_SIZE: usize = OUT + 32;
const O_L1_FRAME: usize = OUT + 40;
const O_FAULT_ADDR: usize = OUT + 48;
const O_FAULT_WRITE: usize = OUT + 56;
const O_REFS: usize = OUT + 64;
/** `translateLine`'s counted walk (see there): its translation's cycles and its data line's. */
export const O_TRANSLATION_CYCLES: usize = OUT + 72;
export const O_LINE_CYCLES: usize = OUT + 80;
const REF_LINE: usize = 512;
const REF_DIM: usize = 1024;

/**
 * The counted walks' pending counters (f64 slots from byte 2048, see `countTranslatedLine`), which VCpu
 * adds to its own with the walk references' (`takeWalkRefCounters`); first VCpu's L2 TLB latency,
 * a constant it writes once.
 */
const COUNTED_WALKS: usize = 2048;
const WALKED_L2_LATENCY: usize = COUNTED_WALKS;
/** The counted walks: each an L1 TLB miss, an L2 TLB miss and a walk. */
const WALKED_WALKS: usize = COUNTED_WALKS + 8;
const WALKED_BY_SIZE: usize = COUNTED_WALKS + 16;
const WALKED_WALK_CYCLES: usize = COUNTED_WALKS + 40;
const WALKED_TRANSLATION_CYCLES: usize = COUNTED_WALKS + 48;
/** The data line's level: L1D, L2 and LLC one after the other (`countServedLine`). */
const WALKED_DATA_L1D: usize = COUNTED_WALKS + 56;
const WALKED_PREFETCHED: usize = COUNTED_WALKS + 80;
const WALKED_DATA_MEM: usize = COUNTED_WALKS + 88;
/** The counted L2 TLB hits, per page size (after the four tiers' slots): each an L1 TLB miss too. */
const WALKED_L2_HITS: usize = COUNTED_WALKS + 120;

const L1_HIT: i32 = 0;
const L2_HIT: i32 = 1;
const WALKED: i32 = 2;
const GUEST_FAULT: i32 = 3;
const EPT_VIOLATION: i32 = 4;
const REFUSED_LINE: i32 = 5;

const PTE_PRESENT: i32 = 1;
const PTE_WRITABLE: i32 = 2;
const PTE_HUGE: i32 = 4;
export const WRITABLE: i32 = 1;
const ENTRIES: i32 = 512;

const INV_2_32: f64 = 1.0 / 4294967296.0;
const INV_4096: f64 = 1.0 / 4096.0;

/** log2 of POW2[s] of vcpu.ts (page sizes 4 KiB, 2 MiB, 1 GiB). */
@inline function pageShift(s: i32): i64 {
  return <i64>(12 + 9 * s);
}

/** log2 of LEVEL_SPAN[level] of vcpu.ts, level 1..4 (the span of one entry of that level). */
@inline function levelShift(level: i32): i64 {
  return <i64>(3 + 9 * level);
}

/** OFFSET_MASK[s] of vcpu.ts: POW2[s] - 1. */
@inline function offsetMask(s: i32): i32 {
  return (1 << (12 + 9 * s)) - 1;
}

@inline function keyAt(keys: usize, i: i32): f64 {
  return load<f64>(keys + (<usize>i << 3));
}

/**
 * `keys[i] === k` by the bits: keys are -1 or sums of non-negative integers (never -0 or NaN), so
 * equal keys have equal bits. One integer compare, where V8 tests a double equality for NaN too.
 */
@inline function sameKey(keys: usize, i: i32, k: f64): bool {
  return load<i64>(keys + (<usize>i << 3)) == reinterpret<i64>(k);
}

@inline function addSizeCount(c: usize, size: i32, delta: i32): void {
  const p = pointerAt(c, SIZE_COUNT) + (<usize>size << 2);
  store<i32>(p, load<i32>(p) + delta);
}

@inline function setOf(c: usize, pageNumber: f64): i32 {
  const mask = load<i32>(c + G_SET_MASK);
  return mask >= 0 ? toI32(pageNumber) & mask : <i32>(<i64>pageNumber % <i64>load<i32>(c + G_SETS));
}

/**
 * The fingerprint byte of key `k` of cache `c` (bits `shift`.. of its low 32 bits, as `toI32(k)`).
 * The key is `c`'s tag base (a multiple of TAG_SPAN, 2^40: no low bits) plus a page number * 4 +
 * size, below 2^38, whose low bits are the key's: taken by MAGIC, an add and a move, where V8
 * placed the saturating conversion of the whole key (with its branch) inside the scan's loop.
 */
@inline function fingerprintOf(c: usize, k: f64, shift: i32): i32 {
  return <i32>((<u32>smallI32(k - load<f64>(c + TAG_BASE)) >> <u32>shift) & 255);
}

function hashSlot(c: usize, k: f64): i32 {
  const h = (toI32(k) ^ (toI32(k * INV_2_32) * <i32>0x85ebca6b)) * <i32>0x9e3779b1;
  return <i32>(<u32>h >> <u32>(32 - load<i32>(c + G_HASH_BITS)));
}

// ---- scan mode ----

/** `raise` of tlb.ts: make way `i` the most recent of `set`; returns the way it is now in. */
function raise(c: usize, set: i32, i: i32): i32 {
  return raiseWith(c, set, i, load<i32>(c + G_WAYS));
}

/** `raise` with the cache's ways given (a constant in the walk's copy for the presets' walker caches). */
@inline function raiseWith(c: usize, set: i32, i: i32, ways: i32): i32 {
  const base = set * ways;
  const front = pointerAt(c, FRONT) + <usize>set;
  const f = <i32>load<u8>(front);
  let p = i - base;
  if (p == f) return i;
  const keys = pointerAt(c, KEY);
  const values = pointerAt(c, VALUE);
  const flags = pointerAt(c, FLAGS);
  const fps = pointerAt(c, FP);
  const k = keyAt(keys, i);
  const v = load<f64>(values + (<usize>i << 3));
  const fl = load<u8>(flags + <usize>i);
  const fp = fps != 0 ? load<u8>(fps + <usize>i) : 0;
  // copyWay, with the arrays' offsets in locals (a store could alias the header for all the
  // compiler knows, so it would load them again for every way).
  while (p != f) {
    const q = p == 0 ? ways - 1 : p - 1;
    const from = base + q;
    const to = base + p;
    store<f64>(keys + (<usize>to << 3), load<f64>(keys + (<usize>from << 3)));
    store<f64>(values + (<usize>to << 3), load<f64>(values + (<usize>from << 3)));
    store<u8>(flags + <usize>to, load<u8>(flags + <usize>from));
    if (fps != 0) store<u8>(fps + <usize>to, load<u8>(fps + <usize>from));
    p = q;
  }
  const to = base + f;
  store<f64>(keys + (<usize>to << 3), k);
  store<f64>(values + (<usize>to << 3), v);
  store<u8>(flags + <usize>to, fl);
  if (fps != 0) store<u8>(fps + <usize>to, fp);
  return to;
}

/**
 * `scanFingerprints` of tlb.ts: full keys compared only where a way's fingerprint byte matches the
 * key's. A set of sixteen ways (the presets' L2 TLBs) is one vector compare of its sixteen bytes;
 * other sets go four ways per word. The key is in at most one way, so the order in which the
 * matching ways are compared does not matter.
 */
function scanFingerprints(c: usize, k: f64, set: i32): i32 {
  const keys = pointerAt(c, KEY);
  const ways = load<i32>(c + G_WAYS);
  const base = set * ways;
  const fingerprint = fingerprintOf(c, k, load<i32>(c + G_FP_SHIFT));
  if (ways == 16) {
    let matches = i8x16.bitmask(i8x16.eq(v128.load(pointerAt(c, FP) + <usize>base), i8x16.splat(<i8>fingerprint)));
    while (matches != 0) {
      const i = base + <i32>ctz(matches);
      if (sameKey(keys, i, k)) return raise(c, set, i);
      matches &= matches - 1;
    }
    store<f64>(c + MISSED_KEY, k);
    return -1;
  }
  const pattern = fingerprint * 0x01010101;
  const words = pointerAt(c, FP);
  const wordEnd = (base + ways) >> 2;
  for (let w = base >> 2; w < wordEnd; w++) {
    const x = i32At(words, w) ^ pattern;
    if (((x - 0x01010101) & ~x & <i32>0x80808080) != 0) {
      const i = w << 2;
      if (sameKey(keys, i, k)) return raise(c, set, i);
      if (sameKey(keys, i + 1, k)) return raise(c, set, i + 1);
      if (sameKey(keys, i + 2, k)) return raise(c, set, i + 2);
      if (sameKey(keys, i + 3, k)) return raise(c, set, i + 3);
    }
  }
  store<f64>(c + MISSED_KEY, k);
  return -1;
}

// ---- indexed mode ----

function unlink(c: usize, i: i32, set: i32): void {
  const prev = pointerAt(c, PREV);
  const next = pointerAt(c, NEXT);
  const p = i32At(prev, i);
  const n = i32At(next, i);
  if (p >= 0) setI32(next, p, n);
  else setI32(pointerAt(c, HEAD), set, n);
  if (n >= 0) setI32(prev, n, p);
  else setI32(pointerAt(c, TAIL), set, p);
}

function linkFront(c: usize, i: i32, set: i32): void {
  const prev = pointerAt(c, PREV);
  const heads = pointerAt(c, HEAD);
  const h = i32At(heads, set);
  setI32(prev, i, -1);
  setI32(pointerAt(c, NEXT), i, h);
  if (h >= 0) setI32(prev, h, i);
  else setI32(pointerAt(c, TAIL), set, i);
  setI32(heads, set, i);
}

@inline function touch(c: usize, i: i32, set: i32): void {
  if (i32At(pointerAt(c, HEAD), set) != i) {
    unlink(c, i, set);
    linkFront(c, i, set);
  }
}

function hashFind(c: usize, k: f64): i32 {
  const keys = pointerAt(c, KEY);
  const next = pointerAt(c, CHAIN_NEXT);
  for (let i = i32At(pointerAt(c, BUCKET_HEAD), hashSlot(c, k)); i >= 0; i = i32At(next, i)) if (sameKey(keys, i, k)) return i;
  return -1;
}

function chain(c: usize, way: i32, bucket: i32): void {
  const heads = pointerAt(c, BUCKET_HEAD);
  setI32(pointerAt(c, BUCKET_OF), way, bucket);
  setI32(pointerAt(c, CHAIN_NEXT), way, i32At(heads, bucket));
  setI32(heads, bucket, way);
}

function unchain(c: usize, way: i32): void {
  const bucket = i32At(pointerAt(c, BUCKET_OF), way);
  const heads = pointerAt(c, BUCKET_HEAD);
  const next = pointerAt(c, CHAIN_NEXT);
  let p = i32At(heads, bucket);
  if (p == way) {
    setI32(heads, bucket, i32At(next, way));
    return;
  }
  while (i32At(next, p) != way) {
    p = i32At(next, p);
    if (p < 0) unreachable(); // the way is not in its bucket's chain: the region is corrupt
  }
  setI32(next, p, i32At(next, way));
}

/** `lookupIndexed` of tlb.ts. */
function lookupIndexed(c: usize, k: f64, set: i32): i32 {
  const bucket = hashSlot(c, k);
  const keys = pointerAt(c, KEY);
  const next = pointerAt(c, CHAIN_NEXT);
  for (let i = i32At(pointerAt(c, BUCKET_HEAD), bucket); i >= 0; i = i32At(next, i)) {
    if (sameKey(keys, i, k)) {
      touch(c, i, set);
      return i;
    }
  }
  store<f64>(c + MISSED_KEY, k);
  store<f64>(c + MISSED_BUCKET, <f64>bucket);
  return -1;
}

// ---- TranslationCache.lookup / insert ----

/** `TranslationCache.lookup`: the way holding (pageNumber, size), raised to most recent; -1 on a miss. */
export function cacheLookup(c: usize, pageNumber: f64, size: i32): i32 {
  if (i32At(pointerAt(c, SIZE_COUNT), size) == 0) return -1;
  const k = pageNumber * 4 + <f64>size + load<f64>(c + TAG_BASE);
  if (load<f64>(c + INDEXED) != 0) return lookupIndexed(c, k, setOf(c, pageNumber));
  const set = setOf(c, pageNumber);
  const ways = load<i32>(c + G_WAYS);
  const base = set * ways;
  const keys = pointerAt(c, KEY);
  const mru = base + <i32>load<u8>(pointerAt(c, FRONT) + <usize>set);
  if (sameKey(keys, mru, k)) return mru;
  if (load<i32>(c + G_FP_SHIFT) >= 0) return scanFingerprints(c, k, set);
  const end = base + ways;
  for (let i = base; i < end; i++) if (sameKey(keys, i, k)) return raise(c, set, i);
  store<f64>(c + MISSED_KEY, k);
  return -1;
}

/** `TranslationCache.insert`: insert or refresh (pageNumber, size), evicting the set's least recent way. */
export function cacheInsert(c: usize, pageNumber: f64, size: i32, value: f64, flags: i32): i32 {
  const sets = load<i32>(c + G_SETS);
  if (sets == 0) return -1;
  const k = pageNumber * 4 + <f64>size + load<f64>(c + TAG_BASE);
  const set = setOf(c, pageNumber);
  if (k == load<f64>(c + MISSED_KEY) && load<f64>(c + INDEXED) == 0) return fillAfterMiss(c, k, set, size, value, flags);
  return insertKey(c, k, set, size, value, flags);
}

/**
 * `cacheLookup` for the walk's call sites, with the common case in line: a scanned set of
 * power-of-two sets (every paging-structure cache, nested TLB and L2 TLB of the presets), its
 * geometry read as i32 once, and its most recent way tried first. The rest of a scan is a short
 * loop in line (`scanAfterFront`) or, with fingerprints, a call; the indexed mode (the fully associative L1 TLBs) goes
 * straight to its body, modulo-indexed sets to `cacheLookup`. The caller passes the page number
 * with its low 32 bits (its `toI32`), both from one exact integer.
 */
@inline function lookupPage(c: usize, pageNumber: f64, pageLow: i32, size: i32): i32 {
  const mode = load<i32>(c + G_MODE);
  if (mode > MODE_INDEXED) return cacheLookup(c, pageNumber, size);
  return lookupPageWith(c, pageNumber, pageLow, size, mode, load<i32>(c + G_SET_MASK), load<i32>(c + G_WAYS));
}

/** `lookupPage` past its modulo-sets test, with the cache's mode, set mask and ways given (constants at the call sites of `walkerLookup`). */
@inline function lookupPageWith(c: usize, pageNumber: f64, pageLow: i32, size: i32, mode: i32, setMask: i32, ways: i32): i32 {
  if (i32At(pointerAt(c, SIZE_COUNT), size) == 0) return -1;
  const k = pageNumber * 4 + <f64>size + load<f64>(c + TAG_BASE);
  const set = pageLow & setMask;
  if (mode == MODE_INDEXED) return lookupIndexed(c, k, set);
  const base = set * ways;
  const keys = pointerAt(c, KEY);
  const mru = base + <i32>load<u8>(pointerAt(c, FRONT) + <usize>set);
  if (sameKey(keys, mru, k)) return mru;
  return mode == MODE_SCAN ? scanAfterFront(c, k, set, base, ways) : scanFingerprints(c, k, set);
}

/**
 * The scan of `lookup` past the front way (scan mode without fingerprints). Sets of four and eight
 * ways (the presets' paging-structure caches and nested TLBs) are compared two keys per vector
 * compare, without a loop: the key is in at most one way, so this finds the way the loop finds.
 */
@inline function scanAfterFront(c: usize, k: f64, set: i32, base: i32, ways: i32): i32 {
  const keys = pointerAt(c, KEY);
  if (ways == 4 || ways == 8) {
    const want = i64x2.splat(reinterpret<i64>(k));
    const at = keys + (<usize>base << 3);
    let matches = i64x2.bitmask(i64x2.eq(v128.load(at), want)) | (i64x2.bitmask(i64x2.eq(v128.load(at, 16), want)) << 2);
    if (ways == 8) matches |= (i64x2.bitmask(i64x2.eq(v128.load(at, 32), want)) << 4) | (i64x2.bitmask(i64x2.eq(v128.load(at, 48), want)) << 6);
    if (matches != 0) return raiseWith(c, set, base + <i32>ctz(matches), ways);
    store<f64>(c + MISSED_KEY, k);
    return -1;
  }
  const end = base + ways;
  for (let i = base; i < end; i++) if (sameKey(keys, i, k)) return raise(c, set, i);
  store<f64>(c + MISSED_KEY, k);
  return -1;
}

/**
 * `cacheInsert` for the walk's call sites: the fill after a lookup of the same key missed in a
 * scanned set of power-of-two sets is in line (`fillAfterMiss`), other inserts into power-of-two
 * sets go straight to `insertKey`, modulo-indexed sets to `cacheInsert`. The page number comes
 * with its low 32 bits, as for `lookupPage`.
 */
@inline function insertPage(c: usize, pageNumber: f64, pageLow: i32, size: i32, value: f64, flags: i32): void {
  const mode = load<i32>(c + G_MODE);
  if (mode > MODE_INDEXED) {
    cacheInsert(c, pageNumber, size, value, flags);
    return;
  }
  insertPageWith(c, pageNumber, pageLow, size, value, flags, mode, load<i32>(c + G_SET_MASK), load<i32>(c + G_WAYS), load<i32>(c + G_FP_SHIFT));
}

/** `insertPage` past its modulo-sets test, with the cache's geometry given (constants at the call sites of `walkerInsert`). */
@inline function insertPageWith(c: usize, pageNumber: f64, pageLow: i32, size: i32, value: f64, flags: i32, mode: i32, setMask: i32, ways: i32, fpShift: i32): void {
  const k = pageNumber * 4 + <f64>size + load<f64>(c + TAG_BASE);
  const set = pageLow & setMask;
  if (load<i64>(c + MISSED_KEY) != reinterpret<i64>(k)) insertKey(c, k, set, size, value, flags);
  else if (mode == MODE_INDEXED) fillIndexedAfterMiss(c, k, set, size, value, flags);
  else fillAfterMissWith(c, k, set, size, value, flags, ways, fpShift);
}

/** Store the value and flags of the entry in way `victim`. */
@inline function storeEntry(c: usize, victim: i32, value: f64, flags: i32): void {
  store<f64>(pointerAt(c, VALUE) + (<usize>victim << 3), value);
  store<u8>(pointerAt(c, FLAGS) + <usize>victim, <u8>flags);
}

/** `fillAfterMiss` of tlb.ts: scan mode, `k` known absent: the tail way becomes the front. */
@inline function fillAfterMiss(c: usize, k: f64, set: i32, size: i32, value: f64, flags: i32): i32 {
  return fillAfterMissWith(c, k, set, size, value, flags, load<i32>(c + G_WAYS), load<i32>(c + G_FP_SHIFT));
}

/** `fillAfterMiss` with the cache's ways and fingerprint shift given. */
@inline function fillAfterMissWith(c: usize, k: f64, set: i32, size: i32, value: f64, flags: i32, ways: i32, shift: i32): i32 {
  store<f64>(c + MISSED_KEY, -1);
  const front = pointerAt(c, FRONT) + <usize>set;
  const f = <i32>load<u8>(front);
  const newFront = f == 0 ? ways - 1 : f - 1;
  store<u8>(front, <u8>newFront);
  const victim = set * ways + newFront;
  const keys = pointerAt(c, KEY);
  const prev = keyAt(keys, victim);
  if (prev == -1) {
    store<f64>(c + VALID, load<f64>(c + VALID) + 1);
    addSizeCount(c, size, 1);
  } else {
    const prevSize = toI32(prev) & 3;
    if (prevSize != size) {
      addSizeCount(c, prevSize, -1);
      addSizeCount(c, size, 1);
    }
  }
  store<f64>(keys + (<usize>victim << 3), k);
  if (shift >= 0) store<u8>(pointerAt(c, FP) + <usize>victim, <u8>fingerprintOf(c, k, shift));
  storeEntry(c, victim, value, flags);
  return victim;
}

/** `insertKey` of tlb.ts: the body of `insert`. */
function insertKey(c: usize, k: f64, set: i32, size: i32, value: f64, flags: i32): i32 {
  const knownAbsent = load<i64>(c + MISSED_KEY) == reinterpret<i64>(k); // as in sameKey
  const indexed = load<f64>(c + INDEXED) != 0;
  if (knownAbsent && indexed) return fillIndexedAfterMiss(c, k, set, size, value, flags);
  if (knownAbsent) store<f64>(c + MISSED_KEY, -1);
  const ways = load<i32>(c + G_WAYS);
  const keys = pointerAt(c, KEY);
  let victim: i32;
  if (indexed) {
    victim = hashFind(c, k);
    if (victim >= 0) touch(c, victim, set);
    else victim = newIndexedWay(c, set, ways);
  } else {
    const base = set * ways;
    const end = base + ways;
    victim = -1;
    if (!knownAbsent) {
      for (let i = base; i < end; i++) {
        if (sameKey(keys, i, k)) {
          victim = raise(c, set, i);
          break;
        }
      }
    }
    if (victim < 0) {
      const front = pointerAt(c, FRONT) + <usize>set;
      const f = <i32>load<u8>(front);
      const newFront = f == 0 ? ways - 1 : f - 1;
      store<u8>(front, <u8>newFront);
      victim = base + newFront;
    }
  }
  if (keyAt(keys, victim) != k) replaceKey(c, keys, victim, k, size, indexed, indexed ? hashSlot(c, k) : 0);
  storeEntry(c, victim, value, flags);
  return victim;
}

/**
 * `insertKey` in indexed mode with `k` known absent (a lookup of it just missed, as before the
 * walk's L1 fill), written apart for that common case: no search, and the bucket the lookup found.
 */
function fillIndexedAfterMiss(c: usize, k: f64, set: i32, size: i32, value: f64, flags: i32): i32 {
  store<f64>(c + MISSED_KEY, -1);
  const victim = newIndexedWay(c, set, load<i32>(c + G_WAYS));
  replaceKey(c, pointerAt(c, KEY), victim, k, size, true, smallI32(load<f64>(c + MISSED_BUCKET)));
  storeEntry(c, victim, value, flags);
  return victim;
}

/** Indexed mode: the way of `set` a key it does not hold goes to, the next never used since the last flush or the least recent, made the most recent. */
@inline function newIndexedWay(c: usize, set: i32, ways: i32): i32 {
  const fill = pointerAt(c, FILL) + (<usize>set << 2);
  const used = load<i32>(fill);
  if (used < ways) {
    // A way never used since the last flush: not in the recency list yet.
    const victim = set * ways + used;
    store<i32>(fill, used + 1);
    linkFront(c, victim, set);
    return victim;
  }
  const victim = i32At(pointerAt(c, TAIL), set);
  touch(c, victim, set);
  return victim;
}

/** Way `victim` takes key `k` of `size` in place of another (or none): the counts, and its place by key (indexed mode: hash `bucket`; else its fingerprint). */
@inline function replaceKey(c: usize, keys: usize, victim: i32, k: f64, size: i32, indexed: bool, bucket: i32): void {
  const prev = keyAt(keys, victim);
  if (prev != -1) {
    addSizeCount(c, toI32(prev) & 3, -1);
    if (indexed) unchain(c, victim);
  } else store<f64>(c + VALID, load<f64>(c + VALID) + 1);
  addSizeCount(c, size, 1);
  store<f64>(keys + (<usize>victim << 3), k);
  if (indexed) chain(c, victim, bucket);
  else {
    const shift = load<i32>(c + G_FP_SHIFT);
    if (shift >= 0) store<u8>(pointerAt(c, FP) + <usize>victim, <u8>fingerprintOf(c, k, shift));
  }
}

// ---- the translation path (vcpu.ts) ----

/** The translation's state, in globals as the TypeScript path keeps it in fields. */
let desc: usize = 0;
let walkGva: f64 = 0;
/**
 * `walkGva` as an i64. The callers pass addresses in [0, 2^53) (VCpu translates any other in
 * TypeScript), where the conversion is exact up to the fraction it drops, and every page number,
 * prefix and index the TypeScript code takes from the address as a double (floors and
 * truncations of a non-negative value) is a shift of this integer, its offsets masks of it.
 */
let walkG: i64 = 0;
let outHpa: f64 = 0;
let nestedHpa: f64 = 0;
let nestedSize: i32 = 0;
let nestedWritable: bool = false;
let refs: i32 = 0;
let pscHits: i32 = 0;
let pscMisses: i32 = 0;
let ntlbHits: i32 = 0;
let ntlbMisses: i32 = 0;
/** The last call's size and flags (`finish`) and fast page size (`setFast`, -1 for none), as in the output block. */
let finishedSize: i32 = 0;
let finishedFlags: i32 = 0;
let fastSize: i32 = 0;

@inline function out(slot: usize, v: f64): void {
  store<f64>(desc + slot, v);
}

/*
 * V8 loads a module global from memory at every use, and again after each store to the linear
 * memory: the functions below that store several slots read `desc` (and `refs`) into locals once.
 */

/**
 * `walkRef`, made here (wasm/memory.ts): the line and its dimension (1 guest, 0 host), also
 * recorded in order (for tests: VCpu does not replay them). A line a cache refuses stops the
 * call: the counters so far, status REFUSED_LINE, then a trap.
 */
@inline function walkRef(line: f64, guestDimension: u8): void {
  const d = desc;
  const n = refs;
  if (n == 0) beginWalkRefs(d);
  store<f64>(d + REF_LINE + (<usize>n << 3), line);
  store<u8>(d + REF_DIM + <usize>n, guestDimension);
  refs = n + 1;
  if (memoryWalkRef(d, line, guestDimension)) {
    finish(REFUSED_LINE, 0, 0);
    unreachable();
  }
}

/** Whether a cache holds entries: its count (a double, never -0) tested by its bits, one integer compare. */
@inline function cacheValid(c: usize): bool {
  return load<i64>(c + VALID) != 0;
}

@inline function sizeCountOf(c: usize, size: i32): i32 {
  return i32At(pointerAt(c, SIZE_COUNT), size);
}

@inline function flagsAt(c: usize, way: i32): i32 {
  return <i32>load<u8>(pointerAt(c, FLAGS) + <usize>way);
}

@inline function valueAt(c: usize, way: i32): f64 {
  return load<f64>(pointerAt(c, VALUE) + (<usize>way << 3));
}

function begin(d: usize, gva: f64): void {
  desc = d;
  walkGva = gva;
  walkG = <i64>gva;
  refs = pscHits = pscMisses = ntlbHits = ntlbMisses = 0;
  // The slots `finish` does not write (every call ends there, a trap too): five stores, where
  // memory.fill of the block is a call out of the generated code in V8.
  store<f64>(d + O_HPA, 0);
  store<f64>(d + O_L1_SIZE, 0);
  store<f64>(d + O_L1_FRAME, 0);
  store<f64>(d + O_FAULT_ADDR, 0);
  store<f64>(d + O_FAULT_WRITE, 0);
}

/** Write the status and the counters; returns the status. */
function finish(status: i32, size: i32, flags: i32): i32 {
  finishedSize = size;
  finishedFlags = flags;
  const d = desc;
  const n = refs;
  store<f64>(d + O_STATUS, <f64>status);
  store<f64>(d + O_SIZE, <f64>size);
  store<f64>(d + O_FLAGS, <f64>flags);
  store<f64>(d + O_REFS, <f64>n);
  if (n != 0) endWalkRefs(d);
  if ((pscHits | pscMisses | ntlbHits | ntlbMisses) != 0) addWalkerCounts(d, pscHits, pscMisses, ntlbHits, ntlbMisses);
  return status;
}

function fault(status: i32, addr: f64, write: bool): i32 {
  out(O_FAULT_ADDR, addr);
  out(O_FAULT_WRITE, write ? 1 : 0);
  return finish(status, 0, 0);
}

/** `setFast`'s part that is not VCpu's own state: the L1 page and `outHpa`. */
function setFast(size: i32, pageFrame: f64): void {
  const d = desc;
  fastSize = size;
  store<f64>(d + O_L1_SIZE, <f64>size);
  store<f64>(d + O_L1_FRAME, pageFrame);
  const hpa = pageFrame * 4096 + <f64>(<i32>walkG & offsetMask(size));
  outHpa = hpa;
  store<f64>(d + O_HPA, hpa);
}

/** `fillL1`: insert the translation of `walkGva` to `outHpa` into the L1 array that keeps `size`. */
@inline function fillL1(size: i32, flags: i32): void {
  const d = desc;
  const cache = pointerAt(d, D_L1_FILL_CACHE + (<usize>size << 2));
  if (cache == 0) {
    fastSize = -1;
    store<f64>(d + O_L1_SIZE, -1);
    store<f64>(d + O_HPA, outHpa);
    return;
  }
  const s = load<i32>(d + D_L1_FILL_SIZE + (<usize>size << 2));
  const pageFrame = (outHpa - <f64>(<i32>walkG & offsetMask(s))) * INV_4096;
  const page = walkG >> pageShift(s);
  insertPage(cache, <f64>page, <i32>page, s, pageFrame, flags);
  setFast(s, pageFrame);
}

/** `fillL2`: insert the translation of `walkGva` to `outHpa` into the L2 array for `size`. */
@inline function fillL2(size: i32, flags: i32): void {
  const d = desc;
  const cache = pointerAt(d, D_L2_FILL_CACHE + (<usize>size << 2));
  if (cache == 0) return;
  const s = load<i32>(d + D_L2_FILL_SIZE + (<usize>size << 2));
  const page = walkG >> pageShift(s);
  insertPage(cache, <f64>page, <i32>page, s, (outHpa - <f64>(<i32>walkG & offsetMask(s))) * INV_4096, flags);
}

/*
 * The walker's caches of every CPU preset (cpu.ts `PRESET_PSC`, `PRESET_NTLB`): paging-structure
 * caches of 4 entries in 4 ways (level 4), 8 in 4 (level 3) and 32 in 8 (level 2), a nested TLB of
 * 32 entries in 4 ways, each of power-of-two sets scanned without fingerprints (MODE_SCAN). VCpu
 * sets D_PRESET_WALKER when a vCPU's are those; its walks then run a copy of the walk with their
 * set masks and ways as constants (`walkNestedPreset`, `walkNativePreset`), which drops per lookup
 * and fill the loads of the geometry, the tests of the mode and the multiplications by the ways.
 * Any other shape takes the copy that reads the geometry (`walkNestedAny`, `walkNativeAny`).
 */
const D_PRESET_WALKER: usize = 240;
const PRESET_NTLB_SET_MASK: i32 = 7;
const PRESET_NTLB_WAYS: i32 = 4;

/** The presets' paging-structure cache of `level` (2..4): its set mask (4, 2 and 1 sets) and ways. */
@inline function presetPscSetMask(level: i32): i32 {
  return (4 >> (level - 2)) - 1;
}

@inline function presetPscWays(level: i32): i32 {
  return level == 2 ? 8 : 4;
}

/** `lookupPage` of a walker's cache, of the presets' shape (`setMask`, `ways`) when `preset`. */
@inline function walkerLookup(c: usize, pageNumber: f64, pageLow: i32, size: i32, preset: bool, setMask: i32, ways: i32): i32 {
  return preset ? lookupPageWith(c, pageNumber, pageLow, size, MODE_SCAN, setMask, ways) : lookupPage(c, pageNumber, pageLow, size);
}

/** `insertPage` into a walker's cache, of the presets' shape (`setMask`, `ways`) when `preset`. */
@inline function walkerInsert(c: usize, pageNumber: f64, pageLow: i32, size: i32, value: f64, flags: i32, preset: bool, setMask: i32, ways: i32): void {
  if (preset) insertPageWith(c, pageNumber, pageLow, size, value, flags, MODE_SCAN, setMask, ways, -1);
  else insertPage(c, pageNumber, pageLow, size, value, flags);
}

/** Insert the entry of `level` (2..4) for prefix `prefix` into its paging-structure cache of the dimension at `pscs`. */
@inline function pscInsert(pscs: usize, level: i32, prefix: i64, payload: f64, preset: bool): void {
  const psc = pointerAt(pscs, <usize>(level - 2) << 2);
  walkerInsert(psc, <f64>prefix, <i32>prefix, 0, payload, 0, preset, presetPscSetMask(level), presetPscWays(level));
}

/**
 * The deepest paging-structure cache hit of one dimension (levels 2..4 at `pscs`) for address
 * `a` (an exact i64, see `walkG`): sets `startTable`, returns the level the walk starts at (4
 * without a hit).
 */
let startTable: f64 = 0;
@inline function pscStart(pscs: usize, a: i64, root: f64, preset: bool): i32 {
  startTable = root;
  const d = desc;
  if (pscHit(pointerAt(d, pscs), a, 2, preset)) return 1;
  if (pscHit(pointerAt(d, pscs + 4), a, 3, preset)) return 2;
  if (pscHit(pointerAt(d, pscs + 8), a, 4, preset)) return 3;
  return 4;
}

/** `pscStart`'s lookup of level `L`: on a hit, counts it and sets `startTable`. */
@inline function pscHit(psc: usize, a: i64, L: i32, preset: bool): bool {
  if (!cacheValid(psc)) return false;
  const prefix = a >> levelShift(L);
  const way = walkerLookup(psc, <f64>prefix, <i32>prefix, 0, preset, presetPscSetMask(L), presetPscWays(L));
  if (way < 0) return false;
  pscHits++;
  startTable = valueAt(psc, way);
  return true;
}

/** `walkNative`: one-dimensional walk of the guest table (host frames). Returns the status. */
@inline function walkNative(write: bool, pt: usize, preset: bool): i32 {
  const gva = walkGva;
  const g = walkG;
  let level = pscStart(D_GUEST_PSC, g, load<f64>(pt + PT_ROOT), preset);
  let t = startTable;
  if (level == 4) pscMisses++;
  const entries = pointerAt(pt, PT_ENTRY);
  const frames = pointerAt(pt, PT_TABLE_FRAME);
  const guestPscs = desc + D_GUEST_PSC;
  for (; level >= 1; level--) {
    const prefix = g >> levelShift(level);
    const index = <i32>prefix & 511;
    const table = smallI32(t);
    walkRef(load<f64>(frames + (<usize>table << 3)) * 64 + <f64>(index >> 3), 1);
    const e = i32At(entries, table * ENTRIES + index);
    const f = e & 7;
    if (!(f & PTE_PRESENT)) return fault(GUEST_FAULT, gva, write);
    const payload = e >> 3;
    if (level == 1 || f & PTE_HUGE) {
      if (write && !(f & PTE_WRITABLE)) return fault(GUEST_FAULT, gva, write);
      const size = level - 1;
      const flags = f & PTE_WRITABLE ? WRITABLE : 0;
      outHpa = <f64>payload * 4096 + <f64>(<i32>g & offsetMask(size));
      fillL2(size, flags);
      fillL1(size, flags);
      return finish(WALKED, size, flags);
    }
    pscInsert(guestPscs, level, prefix, <f64>payload, preset);
    t = <f64>payload;
  }
  unreachable(); // level 1 entries are leaves
  return -1;
}

/** `walkNested`: guest table (guest frames) through the EPT (host frames). Returns the status. */
@inline function walkNested(write: bool, pt: usize, ept: usize, preset: bool): i32 {
  const gva = walkGva;
  const g = walkG;
  let level = pscStart(D_GUEST_PSC, g, load<f64>(pt + PT_ROOT), preset);
  let t = startTable;
  if (level == 4) pscMisses++;
  const entries = pointerAt(pt, PT_ENTRY);
  const frames = pointerAt(pt, PT_TABLE_FRAME);
  const guestPscs = desc + D_GUEST_PSC;
  for (; level >= 1; level--) {
    const prefix = g >> levelShift(level);
    const index = <i32>prefix & 511;
    const table = smallI32(t);
    const e = i32At(entries, table * ENTRIES + index);
    if (!nestedTranslate(load<f64>(frames + (<usize>table << 3)), index * 8, false, ept, preset)) return EPT_VIOLATION;
    walkRef(Math.floor(nestedHpa * INV_64), 1);
    const f = e & 7;
    if (!(f & PTE_PRESENT)) return fault(GUEST_FAULT, gva, write);
    const payload = e >> 3;
    if (level == 1 || f & PTE_HUGE) {
      if (write && !(f & PTE_WRITABLE)) return fault(GUEST_FAULT, gva, write);
      const guestSize = level - 1;
      if (!nestedTranslate(<f64>payload, <i32>g & offsetMask(guestSize), write, ept, preset)) return EPT_VIOLATION;
      // The combined translation is only as large as the smaller of the two pages (splintering).
      const size = nestedSize < guestSize ? nestedSize : guestSize;
      const flags = (f & PTE_WRITABLE) != 0 && nestedWritable ? WRITABLE : 0;
      outHpa = nestedHpa;
      fillL2(size, flags);
      fillL1(size, flags);
      return finish(WALKED, size, flags);
    }
    pscInsert(guestPscs, level, prefix, <f64>payload, preset);
    t = <f64>payload;
  }
  unreachable(); // level 1 entries are leaves
  return -1;
}

function walkNativePreset(write: bool, pt: usize): i32 {
  return walkNative(write, pt, true);
}

function walkNativeAny(write: bool, pt: usize): i32 {
  return walkNative(write, pt, false);
}

function walkNestedPreset(write: bool, pt: usize, ept: usize): i32 {
  return walkNested(write, pt, ept, true);
}

function walkNestedAny(write: bool, pt: usize, ept: usize): i32 {
  return walkNested(write, pt, ept, false);
}

/**
 * `nestedTranslate`: guest-physical `gpaFrame * 4096 + offset` to host-physical through the nested
 * TLB or an EPT walk; sets nestedHpa/Size/Writable. False after an EPT violation (output written).
 *
 * The frame is a non-negative integer below 2^40 (a table's or a page's frame) and the offset one
 * below 2^30, so the address is exact as an i64 too, and every page number, prefix, index and
 * offset the TypeScript code takes from it as a double (`Math.floor(gpa / span)`, `(gpa / span) | 0`,
 * `gpa & mask`: floors and truncations of a non-negative value) is a shift or a mask of that
 * integer, converted back exactly: one conversion instead of one per use.
 */
@inline function nestedTranslate(gpaFrame: f64, offset: i32, write: bool, ept: usize, preset: bool): bool {
  const g = (reinterpret<i64>(gpaFrame + MAGIC) - reinterpret<i64>(MAGIC)) * 4096 + <i64>offset;
  const d = desc;
  const ntlb = pointerAt(d, D_NTLB);
  if (cacheValid(ntlb)) {
    for (let s = 0; s < 3; s++) {
      if (sizeCountOf(ntlb, s) == 0) continue;
      const page = g >> pageShift(s);
      const way = walkerLookup(ntlb, <f64>page, <i32>page, s, preset, PRESET_NTLB_SET_MASK, PRESET_NTLB_WAYS);
      if (way >= 0) {
        const fl = flagsAt(ntlb, way);
        if (!write || fl & WRITABLE) {
          ntlbHits++;
          nestedHpa = valueAt(ntlb, way) * 4096 + <f64>(<i32>g & offsetMask(s));
          nestedSize = s;
          nestedWritable = (fl & WRITABLE) != 0;
          return true;
        }
      }
    }
  }
  ntlbMisses++;
  // No paging-structure cache miss is counted in this dimension (as in vcpu.ts).
  let level = pscStart(D_HOST_PSC, g, load<f64>(ept + PT_ROOT), preset);
  let t = startTable;
  const entries = pointerAt(ept, PT_ENTRY);
  const frames = pointerAt(ept, PT_TABLE_FRAME);
  for (; level >= 1; level--) {
    const prefix = g >> levelShift(level);
    const index = <i32>prefix & 511;
    const table = smallI32(t);
    const e = i32At(entries, table * ENTRIES + index);
    walkRef(load<f64>(frames + (<usize>table << 3)) * 64 + <f64>(index >> 3), 0);
    const f = e & 7;
    if (!(f & PTE_PRESENT)) {
      fault(EPT_VIOLATION, gpaFrame * 4096 + <f64>offset, write);
      return false;
    }
    const payload = e >> 3;
    if (level == 1 || f & PTE_HUGE) {
      if (write && !(f & PTE_WRITABLE)) {
        fault(EPT_VIOLATION, gpaFrame * 4096 + <f64>offset, write);
        return false;
      }
      const size = level - 1;
      nestedHpa = <f64>payload * 4096 + <f64>(<i32>g & offsetMask(size));
      nestedSize = size;
      nestedWritable = (f & PTE_WRITABLE) != 0;
      walkerInsert(ntlb, <f64>prefix, <i32>prefix, size, <f64>payload, nestedWritable ? WRITABLE : 0, preset, PRESET_NTLB_SET_MASK, PRESET_NTLB_WAYS);
      return true;
    }
    pscInsert(d + D_HOST_PSC, level, prefix, <f64>payload, preset);
    t = <f64>payload;
  }
  unreachable(); // level 1 entries are leaves
  return false;
}

function walkFrom(write: bool, guestPt: usize, ept: usize): i32 {
  const preset = load<i32>(desc + D_PRESET_WALKER) != 0;
  if (ept == 0) return preset ? walkNativePreset(write, guestPt) : walkNativeAny(write, guestPt);
  return preset ? walkNestedPreset(write, guestPt, ept) : walkNestedAny(write, guestPt, ept);
}

/** The walk alone (a retry after a fault): see the header. Returns the status. */
export function walk(d: usize, gva: f64, write: bool, guestPt: usize, ept: usize): i32 {
  begin(d, gva);
  return walkFrom(write, guestPt, ept);
}

/**
 * The L1 arrays' part of `translate` for the address `begin` set: L1_HIT, or -1 after a miss in
 * every array, which leaves the arrays as a repeat of the lookups would (a lookup that misses
 * changes nothing but the hint of the key it missed, and a hit the access may not use raises an
 * entry that a repeat raises again to the same place).
 */
@inline function lookupL1(write: bool): i32 {
  const s = findL1(write);
  if (s < 0) return -1;
  setFast(s, l1Frame);
  return finish(L1_HIT, s, l1Flags);
}

/** The entry `findL1` found: its frame and flags. */
export let l1Frame: f64 = 0;
export let l1Flags: i32 = 0;

/** `lookupL1`'s lookups (see there) for the address in `walkG`: the size of the hit, its entry in `l1Frame` and `l1Flags`, or -1. */
@inline function findL1(write: bool): i32 {
  const d = desc;
  const l1Count = load<i32>(d + D_L1_COUNT);
  for (let j = 0; j < l1Count; j++) {
    const cache = pointerAt(d, D_L1_CACHE + (<usize>j << 2));
    const s = load<i32>(d + D_L1_SIZE + (<usize>j << 2));
    if (sizeCountOf(cache, s) == 0) continue;
    const page = walkG >> pageShift(s);
    const way = lookupPage(cache, <f64>page, <i32>page, s);
    if (way >= 0) {
      const fl = flagsAt(cache, way);
      if (!write || fl & WRITABLE) {
        l1Frame = valueAt(cache, way);
        l1Flags = fl;
        return s;
      }
    }
  }
  return -1;
}

/**
 * `translate` up to the L1 arrays for the replay kernel (wasm/replay.ts): the size of an L1 hit,
 * its entry in `l1Frame` and `l1Flags`, or -1 after a miss (see `lookupL1`). It writes nothing to
 * the output block, which VCpu reads only after its own calls, nor the counters, which an L1 hit
 * leaves as they are.
 */
export function translateL1(d: usize, gva: f64, write: bool): i32 {
  desc = d;
  walkG = <i64>gva;
  return findL1(write);
}

/** `translateSlow`: L1 arrays, L2 arrays, then the walk's first attempt. Returns the status. */
export function translate(d: usize, gva: f64, write: bool, guestPt: usize, ept: usize): i32 {
  begin(d, gva);
  const l1 = lookupL1(write);
  if (l1 >= 0) return l1;
  return translateAfterL1(write, guestPt, ept);
}

/** `translate` past an L1 miss (the address `begin` set): the L2 arrays, then the walk's first attempt. */
@inline function translateAfterL1(write: bool, guestPt: usize, ept: usize): i32 {
  const d = desc;
  const l2Count = load<i32>(d + D_L2_COUNT);
  for (let a = 0; a < l2Count; a++) {
    const cache = pointerAt(d, D_L2_CACHE + (<usize>a << 2));
    const sizes = load<i32>(d + D_L2_SIZE_COUNT + (<usize>a << 2));
    for (let k = 0; k < sizes; k++) {
      const s = load<i32>(d + D_L2_SIZES + (<usize>(3 * a + k) << 2));
      if (sizeCountOf(cache, s) == 0) continue;
      const page = walkG >> pageShift(s);
      const way = lookupPage(cache, <f64>page, <i32>page, s);
      if (way >= 0) {
        const fl = flagsAt(cache, way);
        if (!write || fl & WRITABLE) {
          outHpa = valueAt(cache, way) * 4096 + <f64>(<i32>walkG & offsetMask(s));
          fillL1(s, fl);
          return finish(L2_HIT, s, fl);
        }
      }
    }
  }
  return walkFrom(write, guestPt, ept);
}

/**
 * `VCpu.accessGeneral`'s common case, an access inside one line that missed the fast page, as one
 * call: `translate`, then, when it translated (no fault) and the line is not a repeat of the
 * previous access's, the data line at the translated address (`dataLine` of wasm/memory.ts).
 * `repeatLine` is VCpu's last line when a repeat of it would serve this access (else -1); a walk
 * reference makes every line new (VCpu's `lastLine` becomes -1). Returns the status, plus
 * 16 * (`dataLine`'s level + 1) when the data line was made; VCpu then takes the translation's
 * output first and the data line's after it, as the two calls' would be taken one after the other.
 * That is exact because what VCpu does between the two (counters, the fast page, the line window)
 * is nothing the data line reads. With `count`, a walk whose line was made (and not refused) is
 * counted here too (`countTranslatedLine`), and the result carries its bits.
 */
export function translateLine(d: usize, gva: f64, write: bool, guestPt: usize, ept: usize, repeatLine: f64, count: bool): i32 {
  return lineAfter(translate(d, gva, write, guestPt, ept), d, write, repeatLine, count);
}

/**
 * `translateLine`, counted, for an address whose L1 lookups (`translateL1`) just missed: those
 * lookups are not made again (a repeat of them would change nothing, see `lookupL1`).
 */
export function translateLineAfterL1(d: usize, gva: f64, write: bool, guestPt: usize, ept: usize, repeatLine: f64): i32 {
  begin(d, gva);
  return lineAfter(translateAfterL1(write, guestPt, ept), d, write, repeatLine, true);
}

/** The host address the last translation gave (VCpu's `outHpa` after it). */
export function translatedHpa(): f64 {
  return outHpa;
}

/** `translateLine` after its translation ended with `status`. */
@inline function lineAfter(status: i32, d: usize, write: bool, repeatLine: f64, count: bool): i32 {
  if (status > WALKED) return status;
  const line = Math.floor(outHpa * INV_64);
  if (refs == 0 && line == repeatLine) return status;
  const level = dataLine(d, line, write);
  const result = status + ((level + 1) << 4);
  return count && status != L1_HIT && level < LINE_REFUSED ? result | countTranslatedLine(d, status, level) : result;
}

/** `translateLine`'s result bits of a counted walk (see `countTranslatedLine`). */
export const COUNTED: i32 = 1 << 8;
export const FAST_SIZE_SHIFT: i32 = 9;
export const FAST_WRITABLE: i32 = 1 << 11;
export const MADE_REFS: i32 = 1 << 12;
export const TIER_SHIFT: i32 = 13;

/**
 * What VCpu's `translateLineInWasm` counts after a walk or an L2 TLB hit whose data line was made,
 * counted here instead (when VCpu asks: outside a `beginIndependent` bracket, where a line from
 * memory costs its cycles whole): the L1 TLB miss, the L2 TLB hit of its size or the L2 TLB miss,
 * the walk and its size, the walk's and the translation's cycles, the line's level (or tier and
 * prefetch) in the pending counters; the translation's and the line's cycles in the output (the
 * sums in VCpu's order: the L2 TLB latency plus the walk's, the write-backs' plus the hit's or the
 * memory's). Every count and cycle is a whole number, so VCpu adding the pending sums later gives
 * its own sums to the bit. Returns the bits that tell VCpu the rest: COUNTED, the fast page's size
 * plus one (0: none) and whether it is writable, whether the walk made references, and the line's
 * tier.
 */
@inline function countTranslatedLine(d: usize, status: i32, level: i32): i32 {
  let cycles = load<f64>(d + WALKED_L2_LATENCY);
  if (status == WALKED) {
    bump(d + WALKED_WALKS, 1);
    const walkCycles = refs != 0 ? load<f64>(d + O_WALK_CYCLES) : 0;
    bump(d + WALKED_BY_SIZE + (<usize>finishedSize << 3), 1);
    bump(d + WALKED_WALK_CYCLES, walkCycles);
    cycles += walkCycles;
  } else bump(d + WALKED_L2_HITS + (<usize>finishedSize << 3), 1);
  bump(d + WALKED_TRANSLATION_CYCLES, cycles);
  store<f64>(d + O_TRANSLATION_CYCLES, cycles);
  store<f64>(d + O_LINE_CYCLES, countServedLine(d, level, d + WALKED_DATA_L1D, d + WALKED_DATA_MEM, d + WALKED_PREFETCHED));
  const tierBits = level == SERVED_MEMORY ? toI32(load<f64>(d + C_TIER)) << TIER_SHIFT : 0;
  const writable = (finishedFlags & WRITABLE) != 0 ? FAST_WRITABLE : 0;
  return COUNTED | ((fastSize + 1) << FAST_SIZE_SHIFT) | writable | (refs != 0 ? MADE_REFS : 0) | tierBits;
}

export { dataAccess, dataAbsorbWriteBack } from './datacache';
export { accessEvents, accessEventsTrapped, replayEvents } from './replay';
export { dataLine, tierOfFrame } from './memory';
export { prefetchCovers } from './prefetch';
