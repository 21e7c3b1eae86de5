/**
 * The data-cache model in WebAssembly, compiled into the module of translate.ts (which re-exports
 * it), over the regions `DataCache` (src/hw/cache.ts) keeps in the arena. Every pointer is a byte
 * offset into the arena.
 *
 * - `dataAccess` / `dataAbsorbWriteBack` are `DataCache.access` / `absorbWriteBack` step by step.
 * - `throughCaches` is the cache part of `VCpu.throughCaches` with `writeBackBelow`: one line
 *   through L1D, L2 and LLC (those the vCPU's descriptor names), dirty victims absorbed by the
 *   levels below as there. What it cannot do is the memory side (tier state, counters, the
 *   write-back's cycles): it reports the dirty victims that left the caches, in order, and its
 *   callers in memory.ts (`dataLine`, `walkRef`) run `writeBackToMemory` for each. That is exact because no cache reads the tier state or the
 *   counters, and the write-backs keep their order among themselves.
 *
 * The arithmetic is the TypeScript code's: line numbers and tags are doubles until the tag is
 * known to fit 30 bits; `x | 0` and `x & m` of a double are a truncation to 64 bits wrapped to 32
 * (`toI32`, the same for every value below 2^53); `%` of two non-negative integral doubles is the
 * 64-bit remainder. A test runs random operations through both and compares every byte.
 */

import { i32At, setI32, toI32 } from './memory-access';

// ---- DataCache region (cache.ts): i32 fields, then f64 fields ----
const SETS: usize = 0;
const WAYS: usize = 4;
const SET_MASK: usize = 8;
const WORD: usize = 12;
const FRONT: usize = 16;
/** log2(sets) for a power-of-two set count, else -1. */
const SET_SHIFT: usize = 20;
const SET_INVERSE: usize = 24;
const LATENCY: usize = 32;
const EVICTED: usize = 40;

/** `TAG_LIMIT` of cache.ts: tags must fit in 30 bits. */
const TAG_LIMIT: f64 = 1073741824.0;

// ---- vCPU descriptor: the cache pointers (i32 slots 57..59) and the output from byte 1536 ----
const D_L1D: usize = 228;
const D_L2: usize = 232;
export const D_LLC: usize = 236;
export const CACHES_OUT: usize = 1536;
export const C_LATENCY: usize = CACHES_OUT;
export const C_VICTIMS: usize = CACHES_OUT + 8;
export const C_VICTIM: usize = CACHES_OUT + 16;

/** Levels `throughCaches` returns; REFUSED + level: that level refused the line (beyond the modelled memory). */
export const SERVED_L1D: i32 = 0;
export const SERVED_L2: i32 = 1;
export const SERVED_LLC: i32 = 2;
export const SERVED_MEMORY: i32 = 3;
export const REFUSED: i32 = 4;

@inline function i32Field(c: usize, slot: usize): i32 {
  return load<i32>(c + slot);
}

/** The set of `line` (`lineNumber & setMask`, or `lineNumber % sets`). */
@inline function setOf(c: usize, line: f64): i32 {
  const mask = i32Field(c, SET_MASK);
  return mask >= 0 ? toI32(line) & mask : <i32>(<i64>line % <i64>i32Field(c, SETS));
}

/** `tagOf` of cache.ts: the bits above the set index, as a double. */
@inline function tagOf(c: usize, line: f64, set: i32): f64 {
  return i32Field(c, SET_MASK) >= 0 ? (line - <f64>set) * load<f64>(c + SET_INVERSE) : (line - <f64>set) / <f64>i32Field(c, SETS);
}

/**
 * Where `line` goes: its set, and its tag (the bits above the set index) when it fits 30 bits,
 * else -1. For a power-of-two set count both come from the line as a 64-bit integer (a mask and a
 * shift: `tagOf`'s product by 1 / sets is exact, so it is the same integer); otherwise as
 * `tagOf`. The set goes to `lookupSet`.
 */
let lookupSet: i32 = 0;
@inline function tagAndSet(c: usize, line: f64): i32 {
  const shift = i32Field(c, SET_SHIFT);
  if (shift >= 0) {
    const l = <i64>line;
    lookupSet = <i32>l & i32Field(c, SET_MASK);
    const t = l >> <i64>shift;
    return t >= <i64>TAG_LIMIT ? -1 : <i32>t;
  }
  const set = setOf(c, line);
  lookupSet = set;
  const tagValue = tagOf(c, line, set);
  return tagValue >= TAG_LIMIT ? -1 : toI32(tagValue);
}

/**
 * The ways of the set from word `base` whose word holds `tag` (bit k: way k), for up to 32 ways:
 * four ways per vector compare, every way compared whatever matches (no branch on the words, and
 * the loads do not wait for the set's front). A word matches when `w >> 1 == tag`, that is
 * `(w & -2) == tag * 2`; an invalid way (-1) never does. The last vector may read words past the
 * set (the next set's, or the front bytes after the last set, inside the region): their bits are
 * dropped.
 */
@inline function matchingWays(words: usize, base: i32, ways: i32, tag: i32): u32 {
  const want = i32x4.splat(tag << 1);
  const at = words + (<usize>base << 2);
  // The presets' geometries (8 and 16 ways) unrolled: no loop, no loop check.
  if (ways == 8) return matchQuad(at, want) | (matchQuad(at + 16, want) << 4);
  if (ways == 16) {
    const low = matchQuad(at, want) | (matchQuad(at + 16, want) << 4);
    return low | (matchQuad(at + 32, want) << 8) | (matchQuad(at + 48, want) << 12);
  }
  let m: u32 = 0;
  for (let k = 0; k < ways; k += 4) m |= matchQuad(at + (<usize>k << 2), want) << <u32>k;
  return ways >= 32 ? m : m & ((<u32>1 << <u32>ways) - 1);
}

/** Bits 0..3: which of the four words from `at` hold the tag `want` holds twice. */
@inline function matchQuad(at: usize, want: v128): u32 {
  return matchIn(v128.load(at), want);
}

/** Most ways `matchingWays` compares (one bit each in a 32-bit mask). */
const VECTOR_WAYS = 32;

/**
 * `DataCache.access`: 1 hit, 0 miss (filled; a dirty victim's line in the header's
 * evictedDirtyLine), -1 for a line whose tag exceeds 30 bits (where `access` throws; nothing changed).
 */
export function dataAccess(c: usize, line: f64, write: bool): i32 {
  const tag = tagAndSet(c, line);
  if (tag < 0) return -1;
  const set = lookupSet;
  const ways = i32Field(c, WAYS);
  const base = set * ways;
  const words = <usize>i32Field(c, WORD);
  const frontAt = <usize>i32Field(c, FRONT) + <usize>set;
  if (ways == 16) return access16(c, words, base, set, frontAt, tag, write);
  if (ways == 8) return access8(c, words, base, set, frontAt, tag, write);
  if (ways == 12) return access12(c, words, base, set, frontAt, tag, write);
  if (ways == 20) return access20(c, words, base, set, frontAt, tag, write);
  if (ways > VECTOR_WAYS) return scanAccess(c, set, tag, write);
  if ((ways & 3) == 0) return accessQuads(c, words, base, set, frontAt, tag, write, ways);
  const match = matchingWays(words, base, ways, tag);
  const f = <i32>load<u8>(frontAt);
  store<f64>(c + EVICTED, -1);
  if (match == 0) return fill(c, words, base, set, f, frontAt, tag, write);
  const i = base + <i32>ctz(match);
  const front = base + f;
  const w = i32At(words, i);
  if (i == front) {
    if (write) setI32(words, i, w | 1);
    return 1;
  }
  raiseTo(words, base, ways, front, i);
  setI32(words, front, write ? w | 1 : w);
  return 1;
}

/*
 * `dataAccess` for the presets' set widths, written out: 8 and 16 ways (Zen 2 and others), 12
 * and 20 (Ice Lake: in the general loop of `accessQuads` they took a tenth of a trace replay's
 * time on that preset). No branch on the hit's rank: the set is in registers (two to five
 * vectors of four words), and a hit at rank r moves the r words after the front one way along
 * the ring (what `raiseTo` does word by word) as one select per vector between the set and the
 * set rotated by one way: lane j takes its predecessor's word when it lies on the ring within r
 * ways after the front, (j - front - 1) mod ways < r. The front's lane is never among them; it
 * then gets the hit's word. A hit at the front (r = 0) selects nothing. Every vector is stored
 * back (unmoved lanes with their own words).
 */

/** Lane indices of the five vectors of a set. */
const LANES0: v128 = i32x4(0, 1, 2, 3);
const LANES1: v128 = i32x4(4, 5, 6, 7);
const LANES2: v128 = i32x4(8, 9, 10, 11);
const LANES3: v128 = i32x4(12, 13, 14, 15);
const LANES4: v128 = i32x4(16, 17, 18, 19);

/** Lane j of the result: word j - 1 of the ring, for `current` (words j..j+3) after `previous` (words j-4..j-1). */
@inline function afterPrevious(previous: v128, current: v128): v128 {
  return i8x16.shuffle(previous, current, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27);
}

/**
 * Vector `current` of a set of `ways` ways after a hit at `rank` ways after the front (`from` - 1,
 * both splat): lanes within the rank take their predecessor's word. The distance from the front
 * wraps with a mask for a power-of-two ring, else by adding the way count to a negative difference.
 */
@inline function movedIn(previous: v128, current: v128, lanes: v128, from: v128, ways: i32, rank: v128): v128 {
  const d = i32x4.sub(lanes, from);
  const distance = (ways & (ways - 1)) == 0
    ? v128.and(d, i32x4.splat(ways - 1))
    : i32x4.add(d, v128.and(i32x4.splat(ways), i32x4.shr_s(d, 31)));
  return v128.bitselect(afterPrevious(previous, current), current, i32x4.lt_s(distance, rank));
}

function access8(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool): i32 {
  return accessVectors(c, words, base, set, frontAt, tag, write, 2);
}

function access12(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool): i32 {
  return accessVectors(c, words, base, set, frontAt, tag, write, 3);
}

function access16(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool): i32 {
  return accessVectors(c, words, base, set, frontAt, tag, write, 4);
}

function access20(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool): i32 {
  return accessVectors(c, words, base, set, frontAt, tag, write, 5);
}

/**
 * `access8` to `access20`: a set of `quads` vectors (2 to 5), a constant at each call, so that the
 * compiler drops the other widths' branches and each function comes out written out.
 */
@inline function accessVectors(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool, quads: i32): i32 {
  const ways = quads << 2;
  const at = words + (<usize>base << 2);
  const want = i32x4.splat(tag << 1);
  const v0 = v128.load(at);
  const v1 = v128.load(at, 16);
  const v2 = quads >= 3 ? v128.load(at, 32) : v1;
  const v3 = quads >= 4 ? v128.load(at, 48) : v2;
  const v4 = quads >= 5 ? v128.load(at, 64) : v3;
  let match = matchIn(v0, want) | (matchIn(v1, want) << 4);
  if (quads >= 3) match |= matchIn(v2, want) << 8;
  if (quads >= 4) match |= matchIn(v3, want) << 12;
  if (quads >= 5) match |= matchIn(v4, want) << 16;
  const f = <i32>load<u8>(frontAt);
  store<f64>(c + EVICTED, -1);
  if (match == 0) return fill(c, words, base, set, f, frontAt, tag, write);
  const i = <i32>ctz(match);
  const w = load<i32>(at + (<usize>i << 2));
  const r = i - f;
  const from = i32x4.splat(f + 1);
  const rank = i32x4.splat((ways & (ways - 1)) == 0 ? r & (ways - 1) : r < 0 ? r + ways : r);
  // The last vector (v4, or the last loaded: v1 to v3 stand for it in a narrower set) rotates into the first.
  v128.store(at, movedIn(v4, v0, LANES0, from, ways, rank));
  v128.store(at, movedIn(v0, v1, LANES1, from, ways, rank), 16);
  if (quads >= 3) v128.store(at, movedIn(v1, v2, LANES2, from, ways, rank), 32);
  if (quads >= 4) v128.store(at, movedIn(v2, v3, LANES3, from, ways, rank), 48);
  if (quads >= 5) v128.store(at, movedIn(v3, v4, LANES4, from, ways, rank), 64);
  store<i32>(at + (<usize>f << 2), write ? w | 1 : w);
  return 1;
}

/**
 * `accessVectors` for the other multiples of four ways up to `VECTOR_WAYS`: the same select,
 * vector by vector in a loop, each rotated in from the set's previous vector as it was loaded.
 */
function accessQuads(c: usize, words: usize, base: i32, set: i32, frontAt: usize, tag: i32, write: bool, ways: i32): i32 {
  const at = words + (<usize>base << 2);
  const match = matchingWays(words, base, ways, tag);
  const f = <i32>load<u8>(frontAt);
  store<f64>(c + EVICTED, -1);
  if (match == 0) return fill(c, words, base, set, f, frontAt, tag, write);
  const i = <i32>ctz(match);
  const w = load<i32>(at + (<usize>i << 2));
  const r = i - f;
  const from = i32x4.splat(f + 1);
  const rank = i32x4.splat(r < 0 ? r + ways : r);
  let previous = v128.load(at + (<usize>(ways - 4) << 2));
  for (let k = 0; k < ways; k += 4) {
    const q = at + (<usize>k << 2);
    const current = v128.load(q);
    v128.store(q, movedIn(previous, current, i32x4.add(LANES0, i32x4.splat(k)), from, ways, rank));
    previous = current;
  }
  store<i32>(at + (<usize>f << 2), write ? w | 1 : w);
  return 1;
}

/** Bits 0..3: which of the four words of `v` hold the tag `want` holds twice (see `matchingWays`). */
@inline function matchIn(v: v128, want: v128): u32 {
  return <u32>i32x4.bitmask(i32x4.eq(v128.and(v, i32x4.splat(-2)), want));
}

/**
 * A hit at way `i`, not the front: the more recent words move one way along the ring (two
 * straight runs, the ring wraps at most once between the front and the hit), the front's word is
 * then the hit's. At rank 1 that is one move.
 */
@inline function raiseTo(words: usize, base: i32, ways: i32, front: i32, i: i32): void {
  const end = base + ways;
  if (i < front) {
    for (let j = i; j > base; j--) setI32(words, j, i32At(words, j - 1));
    setI32(words, base, i32At(words, end - 1));
    for (let j = end - 1; j > front; j--) setI32(words, j, i32At(words, j - 1));
  } else {
    for (let j = i; j > front; j--) setI32(words, j, i32At(words, j - 1));
  }
}

/** A miss: the tail (least recently used, or invalid) becomes the front, its dirty victim noted. */
function fill(c: usize, words: usize, base: i32, set: i32, f: i32, frontAt: usize, tag: i32, write: bool): i32 {
  const tail = f == 0 ? i32Field(c, WAYS) - 1 : f - 1;
  const victim = i32At(words, base + tail);
  if (victim != -1 && (victim & 1) != 0) store<f64>(c + EVICTED, <f64>(victim >> 1) * <f64>i32Field(c, SETS) + <f64>set);
  store<u8>(frontAt, <u8>tail);
  setI32(words, base + tail, tag * 2 + (write ? 1 : 0));
  return 0;
}

/** `dataAccess` for sets wider than `VECTOR_WAYS`: the scan of `DataCache.access`, way by way. */
function scanAccess(c: usize, set: i32, tag: i32, write: bool): i32 {
  const ways = i32Field(c, WAYS);
  const base = set * ways;
  const words = <usize>i32Field(c, WORD);
  const frontAt = <usize>i32Field(c, FRONT) + <usize>set;
  const f = <i32>load<u8>(frontAt);
  store<f64>(c + EVICTED, -1);
  const front = base + f;
  const end = base + ways;
  for (let i = base; i < end; i++) {
    const w = i32At(words, i);
    if (w >> 1 == tag) {
      if (i != front) raiseTo(words, base, ways, front, i);
      setI32(words, front, write ? w | 1 : w);
      return 1;
    }
  }
  return fill(c, words, base, set, f, frontAt, tag, write);
}

/** `DataCache.absorbWriteBack`: marks the line dirty if present (no LRU update); whether it was. */
export function dataAbsorbWriteBack(c: usize, line: f64): bool {
  const tag = tagAndSet(c, line);
  if (tag < 0) return false;
  const ways = i32Field(c, WAYS);
  const base = lookupSet * ways;
  const words = <usize>i32Field(c, WORD);
  if (ways <= VECTOR_WAYS) {
    const match = matchingWays(words, base, ways, tag);
    if (match == 0) return false;
    const i = base + <i32>ctz(match);
    setI32(words, i, i32At(words, i) | 1);
    return true;
  }
  const end = base + ways;
  for (let i = base; i < end; i++) {
    const w = i32At(words, i);
    if (w >> 1 == tag) {
      setI32(words, i, w | 1);
      return true;
    }
  }
  return false;
}

/** Record a dirty victim that leaves the caches (a write-back to memory, run by VCpu). */
@inline function toMemory(d: usize, victim: f64): void {
  const n = load<f64>(d + C_VICTIMS);
  store<f64>(d + C_VICTIM + (<usize>n << 3), victim);
  store<f64>(d + C_VICTIMS, n + 1);
}

/** `writeBackBelow` of vcpu.ts: the first lower level holding the victim absorbs it, else it goes to memory. */
function writeBackBelow(d: usize, victim: f64, l2: usize, llc: usize): void {
  if (l2 != 0 && dataAbsorbWriteBack(l2, victim)) return;
  if (llc != 0 && dataAbsorbWriteBack(llc, victim)) return;
  toMemory(d, victim);
}

@inline function served(d: usize, c: usize, level: i32): i32 {
  store<f64>(d + C_LATENCY, load<f64>(c + LATENCY));
  return level;
}

/**
 * The cache part of `VCpu.throughCaches`: returns the level that served `line` (SERVED_*), or
 * REFUSED + level when that level's `access` would throw (VCpu then calls it to throw the same
 * error, after the write-backs recorded so far). Output from `d + 1536` (f64): the hit level's
 * latency (0 for memory), the count of dirty victims that left the caches, their lines in order.
 */
@inline export function throughCaches(d: usize, line: f64, write: bool): i32 {
  return throughCachesFrom(d, line, write, false);
}

/**
 * `dataAccess` at one level of `throughCaches`, on the line as a 64-bit integer (`l`, converted
 * once for the three levels), for a power-of-two set count of the presets' set widths: 8 ways
 * (Zen 2's L1D and L2) in line, 16 (its LLC), 12 and 20 (Ice Lake's levels) straight to their
 * written-out functions; any other geometry through `dataAccess`. Ice Lake's levels went through
 * `dataAccess` too until it took, with its call, one instruction in twenty of a trace replay on
 * that preset. The tag's test is written out here and in `readInL1d`: a shared helper returning
 * -1 for a tag over 30 bits (as `tagAndSet` does) compiled to a select and a second compare, 43
 * instructions more an access.
 */
@inline function levelAccess(c: usize, line: f64, l: i64, write: bool): i32 {
  const shift = i32Field(c, SET_SHIFT);
  if (shift >= 0) {
    const ways = i32Field(c, WAYS);
    if (ways == 8 || ways == 16 || ways == 12 || ways == 20) {
      const t = l >> <i64>shift;
      if (t >= <i64>TAG_LIMIT) return -1;
      const set = <i32>l & i32Field(c, SET_MASK);
      const words = <usize>i32Field(c, WORD);
      const frontAt = <usize>i32Field(c, FRONT) + <usize>set;
      if (ways == 8) return accessVectors(c, words, set << 3, set, frontAt, <i32>t, write, 2);
      if (ways == 16) return access16(c, words, set << 4, set, frontAt, <i32>t, write);
      if (ways == 12) return access12(c, words, set * 12, set, frontAt, <i32>t, write);
      return access20(c, words, set * 20, set, frontAt, <i32>t, write);
    }
  }
  return dataAccess(c, line, write);
}

/**
 * `throughCaches`, or with `l1dDone` its way on after `readInL1d` missed the L1D and filled the
 * line there (its dirty victim, if any, in the L1D's header).
 */
@inline export function throughCachesFrom(d: usize, line: f64, write: bool, l1dDone: bool): i32 {
  store<f64>(d + C_LATENCY, 0);
  store<f64>(d + C_VICTIMS, 0);
  const l1d = <usize>load<i32>(d + D_L1D);
  const l2 = <usize>load<i32>(d + D_L2);
  const llc = <usize>load<i32>(d + D_LLC);
  // Without caches (a translation-only model's data line) not even the line's conversion.
  if ((l1d | l2 | llc) == 0) return SERVED_MEMORY;
  const l = <i64>line;
  if (l1d != 0) {
    if (!l1dDone) {
      const hit = levelAccess(l1d, line, l, write);
      if (hit > 0) return served(d, l1d, SERVED_L1D);
      if (hit < 0) return REFUSED + SERVED_L1D;
    }
    const victim = load<f64>(l1d + EVICTED);
    if (victim >= 0) writeBackBelow(d, victim, l2, llc);
  }
  if (l2 != 0) {
    const hit = levelAccess(l2, line, l, write);
    if (hit > 0) return served(d, l2, SERVED_L2);
    if (hit < 0) return REFUSED + SERVED_L2;
    const victim = load<f64>(l2 + EVICTED);
    if (victim >= 0) writeBackBelow(d, victim, 0, llc);
  }
  if (llc != 0) {
    const hit = levelAccess(llc, line, l, write);
    if (hit > 0) return served(d, llc, SERVED_LLC);
    if (hit < 0) return REFUSED + SERVED_LLC;
    const victim = load<f64>(llc + EVICTED);
    if (victim >= 0) toMemory(d, victim);
  }
  return SERVED_MEMORY;
}

/**
 * The L1D's part of `throughCaches` for a data line, made on its own (the replay kernel's new
 * lines, most of which hit there): on a hit its latency, with what `throughCaches` leaves in the
 * output for one (that latency, no victims); `L1D_MISSED` when it missed and filled the line
 * (`throughCachesFrom` goes on from its victim with `l1dDone`); `L1D_NOT_READ` without an L1D or
 * for a line it refuses (nothing changed: `throughCaches` runs the line and finds the refusal).
 */
@inline export function accessInL1d(d: usize, line: f64, write: bool): f64 {
  const c = <usize>load<i32>(d + D_L1D);
  if (c == 0) return L1D_NOT_READ;
  const hit = levelAccess(c, line, <i64>line, write);
  if (hit < 0) return L1D_NOT_READ;
  if (hit == 0) return L1D_MISSED;
  const latency = load<f64>(c + LATENCY);
  store<f64>(d + C_LATENCY, latency);
  store<f64>(d + C_VICTIMS, 0);
  return latency;
}

/** `readInL1d`, `accessInL1d`: the L1D missed the line and filled it; `throughCachesFrom` goes on from its victim. */
export const L1D_MISSED: f64 = -1;
/** `readInL1d`, `accessInL1d`: nothing done (no L1D, another geometry, or a line it refuses); `throughCaches` runs the line. */
export const L1D_NOT_READ: f64 = -2;

/**
 * A read of `line` at the vCPU's L1D when it has the presets' geometry (a power-of-two set count,
 * 8 ways), as `throughCaches` does it there: the L1D's latency for a hit, else `L1D_MISSED` or
 * `L1D_NOT_READ`. For the walk's references, most of which hit the L1D: a hit costs a small
 * function without the spills of the whole way down.
 */
@inline export function readInL1d(d: usize, line: f64): f64 {
  const c = <usize>load<i32>(d + D_L1D);
  if (c == 0) return L1D_NOT_READ;
  const shift = i32Field(c, SET_SHIFT);
  if (shift < 0 || i32Field(c, WAYS) != 8) return L1D_NOT_READ;
  const l = <i64>line;
  const t = l >> <i64>shift;
  if (t >= <i64>TAG_LIMIT) return L1D_NOT_READ;
  const set = <i32>l & i32Field(c, SET_MASK);
  const frontAt = <usize>i32Field(c, FRONT) + <usize>set;
  if (accessVectors(c, <usize>i32Field(c, WORD), set << 3, set, frontAt, <i32>t, false, 2) == 0) return L1D_MISSED;
  return load<f64>(c + LATENCY);
}
