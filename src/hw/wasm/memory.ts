/**
 * The memory side of the access path in WebAssembly, compiled into the module of translate.ts:
 * which tier holds a frame, the tier state a read or a write-back changes, and `walkRef`, one
 * page-walk reference made at the point the walk makes it (translate.ts calls it), so that a whole
 * TLB miss is one call; and `dataLine`, a data line's way through the caches and memory, so that
 * is one call too. Every pointer is a byte offset into the arena.
 *
 * `walkRef` is `VCpu.walkRef` step by step, with `throughCaches` (wasm/datacache.ts) for the cache
 * part and `memoryRead` / `writeBackToMemory` here: the same state changes in the same order, on
 * the state the TypeScript classes keep in the arena: `Machine.tierUsers`, the core's `usesTier`
 * and `lastTierLine`, `TierMap`'s frame boundaries and its table of the tiers' constants. What it
 * does not change is VCpu's own state (its counters, the line window, the overlap batch): it adds
 * its counts to pending counters in the vCPU's block, which VCpu adds to its own when they are
 * read (integer sums: the order does not matter), and its cycles to the walk's in the output
 * block; after the call VCpu does what each reference does to its fields (`lastLine = -1`, close
 * the line window, end the overlap batch), which is the same whatever the number of references.
 * That is exact because nothing the walk reads (the translation structures, the tables) is
 * changed by a reference, nor is the vCPU state a reference resets read before VCpu resets it.
 *
 * The arithmetic is the TypeScript code's: `Math.round` of JavaScript rounds ties up (`jsRound`),
 * unlike `f64.nearest`; every other operation is the same IEEE operation on the same doubles.
 */
import { accessInL1d, C_LATENCY, C_VICTIM, C_VICTIMS, D_LLC, L1D_MISSED, readInL1d, REFUSED, SERVED_L1D, SERVED_L2, SERVED_MEMORY, throughCachesFrom } from './datacache';
import { bump, INV_64, pointerAt, toI32 } from './memory-access';
import { continueExpected, expectedLine, prefetchCovers } from './prefetch';

// ---- vCPU descriptor: the memory part, from byte 1600 (f64 LLC latency, then i32 slots) ----
const D_LLC_LATENCY: usize = 1600;
const D_TIER_COUNT: usize = 1608;
const D_TIER_ENDS: usize = 1612;
const D_TIER_CONSTANTS: usize = 1616;
const D_TIER_USERS: usize = 1620;
const D_USES_TIER: usize = 1624;
const D_LAST_TIER_LINE: usize = 1628;
const D_NO_DATA_CACHES: usize = 1632;
/** The core's stream prefetcher (its region, wasm/prefetch.ts), and the core's outstanding-miss limit (f64). */
const D_PREFETCHER: usize = 1636;
const D_MLP_LIMIT: usize = 1640;

// ---- `dataLine`'s output after throughCaches' (f64 slots from C_LATENCY): see `dataLine` ----
export const C_WRITEBACK_CYCLES: usize = C_LATENCY + 40;
export const C_TIER: usize = C_LATENCY + 48;
export const C_MEMORY_CYCLES: usize = C_LATENCY + 56;
/** Whether a detected stream covered the line from memory (f64 0/1). */
export const D_COVERED: usize = 1648;

/** The walk's cycles: f64 slot 13 of the output block (translate.ts). */
export const O_WALK_CYCLES: usize = 256 + 104;

// ---- The references' pending counters (f64 slots from byte 1664): VCpu takes them and zeroes the slots ----
const W: usize = 1664;
const W_REFS: usize = W;
const W_GUEST: usize = W + 8;
const W_HOST: usize = W + 16;
const W_L1D: usize = W + 24;
const W_L2: usize = W + 32;
const W_LLC: usize = W + 40;
const W_WRITEBACK_CYCLES: usize = W + 48;
/** The level that refused a line, plus one (0: none), and the line (see `walkRef`). */
const W_REFUSED: usize = W + 56;
const W_MEM: usize = W + 64;
const W_WRITEBACKS: usize = W + 128;
const W_MEDIA_BYTES: usize = W + 192;
const W_REFUSED_LINE: usize = W + 256;
/** The paging-structure-cache and nested-TLB hits and misses of the walks (translate.ts counts them per call). */
const W_PSC_HITS: usize = W + 264;
const W_PSC_MISSES: usize = W + 272;
const W_NTLB_HITS: usize = W + 280;
const W_NTLB_MISSES: usize = W + 288;

// ---- A tier's constants in TierMap's table (tiers.ts TIER_CONSTANTS) ----
const T_SEQ_READ: usize = 0;
const T_RAND_READ: usize = 8;
const T_MEDIA_LINE: usize = 16;
const T_WRITE_BYTES_PER_CYCLE: usize = 24;
const T_READ_BYTES_PER_CYCLE: usize = 32;
const T_WRITE_CYCLES: usize = 40;
const T_STRIDE: usize = 48;

/** `Math.round` of JavaScript: the nearest integer, ties towards +Infinity (exact: `x - floor(x)` is). */
@inline function jsRound(x: f64): f64 {
  const r = Math.floor(x);
  return x - r >= 0.5 ? r + 1 : r;
}

@inline function tierConstant(d: usize, tier: i32, field: usize): f64 {
  return load<f64>(pointerAt(d, D_TIER_CONSTANTS) + <usize>tier * T_STRIDE + field);
}

/** `TierMap.tierOfFrame`. */
export function tierOfFrame(d: usize, frame: f64): i32 {
  return tierOf(d, frame);
}

@inline function tierOf(d: usize, frame: f64): i32 {
  const n = load<i32>(d + D_TIER_COUNT);
  const ends = pointerAt(d, D_TIER_ENDS);
  if (frame < load<f64>(ends) || n == 1) return 0;
  for (let i = 1; i < n; i++) if (frame < load<f64>(ends + (<usize>i << 3))) return i;
  return n - 1;
}

/** `VCpu.noteTierUse`: the core's first use of the tier adds it to the tier's users. */
function noteTierUse(d: usize, tier: i32): void {
  const uses = pointerAt(d, D_USES_TIER) + <usize>tier;
  if (load<u8>(uses) == 0) {
    store<u8>(uses, 1);
    const users = pointerAt(d, D_TIER_USERS) + (<usize>tier << 2);
    store<i32>(users, load<i32>(users) + 1);
  }
}

/** `VCpu.memoryLatency`: sequential within one media line after the core's previous line of the tier. */
@inline function memoryLatency(d: usize, tier: i32, line: f64): f64 {
  return latencyAt(pointerAt(d, D_LAST_TIER_LINE) + (<usize>tier << 3), pointerAt(d, D_TIER_CONSTANTS) + <usize>tier * T_STRIDE, line);
}

/** `memoryLatency` on the tier's slot of the core's lastTierLine (`last`) and its constants. */
@inline function latencyAt(last: usize, constants: usize, line: f64): f64 {
  const prev = load<f64>(last);
  store<f64>(last, line);
  const linesPerMedia = load<f64>(constants + T_MEDIA_LINE) * INV_64;
  const delta = line - prev;
  return delta >= 0 && delta <= linesPerMedia ? load<f64>(constants + T_SEQ_READ) : load<f64>(constants + T_RAND_READ);
}

/** `VCpu.memoryRead`: a dependent read of `line` from its tier. */
function memoryRead(d: usize, tier: i32, line: f64): f64 {
  noteTierUse(d, tier);
  return memoryLatency(d, tier, line);
}

/** `VCpu.writeBackToMemory`: a dirty line leaves the caches; returns the cycles of its share of the tier's write bandwidth. */
function writeBackToMemory(d: usize, victim: f64): f64 {
  const tier = tierOfFrame(d, Math.floor(victim / 64));
  noteTierUse(d, tier);
  const mediaLine = tierConstant(d, tier, T_MEDIA_LINE);
  bump(d + W_WRITEBACKS + (<usize>tier << 3), 1);
  bump(d + W_MEDIA_BYTES + (<usize>tier << 3), mediaLine);
  const users = <f64>load<i32>(pointerAt(d, D_TIER_USERS) + (<usize>tier << 2));
  const cycles = jsRound(mediaLine / (tierConstant(d, tier, T_WRITE_BYTES_PER_CYCLE) / users));
  bump(d + W_WRITEBACK_CYCLES, cycles);
  return cycles;
}

/** The dirty victims `throughCaches` reported (its output at `d + 1536`), written back in order; returns their cycles. */
@inline function victimsWrittenBack(d: usize): f64 {
  const victims = <i32>load<f64>(d + C_VICTIMS);
  let cycles: f64 = 0;
  for (let v = 0; v < victims; v++) cycles += writeBackToMemory(d, load<f64>(d + C_VICTIM + (<usize>v << 3)));
  return cycles;
}

/**
 * The references of the current call, counted here and added to the pending counters once, at
 * the call's end (`endWalkRefs`): about five references a random access, each of which bumped
 * three to four counters in memory.
 */
let refsGuest: i32 = 0;
let refsHost: i32 = 0;
let refsL1d: i32 = 0;
let refsL2: i32 = 0;
let refsLlc: i32 = 0;
let walkCycles: f64 = 0;

/**
 * The descriptor's memory part for the references of the current call, read at its first
 * reference (nothing the call does changes it): whether there are no data caches, the tier count,
 * and the arena offsets of the core's usesTier and lastTierLine and of the tiers' constants.
 */
let refNoCaches = false;
let refTierCount: i32 = 0;
let refUses: usize = 0;
let refLast: usize = 0;
let refConstants: usize = 0;

/** Before the first reference of a call on descriptor `d`. */
export function beginWalkRefs(d: usize): void {
  refsGuest = refsHost = refsL1d = refsL2 = refsLlc = 0;
  walkCycles = 0;
  refNoCaches = load<i32>(d + D_NO_DATA_CACHES) != 0;
  refTierCount = load<i32>(d + D_TIER_COUNT);
  refUses = pointerAt(d, D_USES_TIER);
  refLast = pointerAt(d, D_LAST_TIER_LINE);
  refConstants = pointerAt(d, D_TIER_CONSTANTS);
}

/** At the end of a call that made references (a trap's too): their counts to the pending counters, their cycles to the walk's. */
export function endWalkRefs(d: usize): void {
  bump(d + W_REFS, <f64>(refsGuest + refsHost));
  bump(d + W_GUEST, <f64>refsGuest);
  bump(d + W_HOST, <f64>refsHost);
  bump(d + W_L1D, <f64>refsL1d);
  bump(d + W_L2, <f64>refsL2);
  bump(d + W_LLC, <f64>refsLlc);
  store<f64>(d + O_WALK_CYCLES, walkCycles);
}

/** The walker's paging-structure-cache and nested-TLB counts of a call, to the pending counters. */
export function addWalkerCounts(d: usize, pscHits: i32, pscMisses: i32, ntlbHits: i32, ntlbMisses: i32): void {
  bump(d + W_PSC_HITS, <f64>pscHits);
  bump(d + W_PSC_MISSES, <f64>pscMisses);
  bump(d + W_NTLB_HITS, <f64>ntlbHits);
  bump(d + W_NTLB_MISSES, <f64>ntlbMisses);
}

/**
 * `VCpu.walkRef`: one page-walk reference to host-physical line `line` (1: of the guest
 * dimension, 0: of the host's), through the data caches or, without any, from its tier. Its counts
 * by dimension and cache level and its cycles are kept for the call (`endWalkRefs` adds them),
 * those by tier and its write-backs' go to the pending counters at once. Returns true when a cache level
 * refused the line (beyond the modelled memory, where `DataCache.access` throws): the level and
 * the line are in the output, the caller stops the call (VCpu throws the TypeScript path's error).
 */
@inline export function walkRef(d: usize, line: f64, guestDimension: u8): bool {
  if (guestDimension != 0) refsGuest++;
  else refsHost++;
  if (!refNoCaches) return walkRefThroughCaches(d, line);
  // Without data caches (every reference of a translation-only model) in line where the walk
  // makes it, on the offsets read at the call's first reference: `memoryRead` step by step.
  const tier = refTierCount == 1 ? 0 : tierOf(d, Math.floor(line * INV_64));
  bump(d + W_MEM + (<usize>tier << 3), 1);
  if (load<u8>(refUses + <usize>tier) == 0) noteTierUse(d, tier);
  walkCycles += latencyAt(refLast + (<usize>tier << 3), refConstants + <usize>tier * T_STRIDE, line);
  return false;
}

/** `walkRef` through the data caches: a hit in the L1D here, the rest in `walkRefBelowL1d`. */
function walkRefThroughCaches(d: usize, line: f64): bool {
  const latency = readInL1d(d, line);
  if (latency < 0) return walkRefBelowL1d(d, line, latency == L1D_MISSED);
  refsL1d++;
  walkCycles += latency;
  return false;
}

/** `walkRef` through the data caches for a line the L1D did not serve (`l1dMissed`: it missed, see `readInL1d`). */
function walkRefBelowL1d(d: usize, line: f64, l1dMissed: bool): bool {
  const level = throughCachesFrom(d, line, false, l1dMissed);
  let cycles = victimsWrittenBack(d);
  if (level >= REFUSED) {
    store<f64>(d + W_REFUSED, <f64>(level - REFUSED + 1));
    store<f64>(d + W_REFUSED_LINE, line);
    return true;
  }
  if (level == SERVED_MEMORY) {
    const tier = tierOfFrame(d, Math.floor(line * INV_64));
    bump(d + W_MEM + (<usize>tier << 3), 1);
    cycles = cycles + load<f64>(d + D_LLC_LATENCY) + memoryRead(d, tier, line);
  } else {
    if (level == SERVED_L1D) refsL1d++;
    else if (level == SERVED_L2) refsL2++;
    else refsLlc++;
    cycles += load<f64>(d + C_LATENCY);
  }
  walkCycles += cycles;
  return false;
}

/**
 * `VCpu.dataLine` after its repeat test: one data line through the caches (`throughCaches`), the
 * write-backs of the dirty victims that left them (`writeBackToMemory`: tier state, and their
 * counts in the pending counters, as for a walk reference), and for a line that missed every
 * level the memory part of `VCpu.dataFromMemory`: the tier's first use by the core, the stream
 * prefetcher (`Core.prefetchCovers`, wasm/prefetch.ts), and the line's cost. Returns the level
 * (SERVED_*, or REFUSED + level, after the write-backs so far); output from `d + 1536` (f64): [0]
 * the hit's latency, [5] the write-backs' cycles, and for a line from memory [6] its tier, [7]
 * its cycles (a covered line's share of the tier, else the LLC lookup and the read, or without an
 * LLC a store's write), and at `d + 1648` whether a stream covered it. What stays with VCpu is
 * its own state: the counters of the level, `prefetchedLines`, and the overlap of an uncovered
 * miss inside a `beginIndependent` bracket, which applies to [7] alone.
 */
export function dataLine(d: usize, line: f64, write: bool): i32 {
  return dataLineFrom(d, line, write, false);
}

/**
 * The replay kernel's new line (wasm/replay.ts) at the L1D alone, before `dataLineFrom`: on a hit
 * (`accessInL1d`) its latency, with what `dataLine` leaves in the output for one (no write-backs);
 * else `L1D_MISSED` (`dataLineFrom` goes on with `l1dDone`) or `L1D_NOT_READ`.
 */
@inline export function dataLineInL1d(d: usize, line: f64, write: bool): f64 {
  // Stored whatever the L1D did: after a miss or no read, `dataLineFrom` stores its own.
  store<f64>(d + C_WRITEBACK_CYCLES, 0);
  return accessInL1d(d, line, write);
}

/**
 * `dataLine` in line, for the replay kernel's new line (wasm/replay.ts): one call less per line,
 * and the spills around it; with `l1dDone` after `accessInL1d` missed the L1D (and filled the
 * line there), the way down goes on from the L1D's victim.
 */
@inline export function dataLineFrom(d: usize, line: f64, write: bool, l1dDone: bool): i32 {
  const level = throughCachesFrom(d, line, write, l1dDone);
  store<f64>(d + C_WRITEBACK_CYCLES, victimsWrittenBack(d));
  if (level != SERVED_MEMORY) return level;
  const tier = tierOfFrame(d, Math.floor(line * INV_64));
  store<f64>(d + C_TIER, <f64>tier);
  noteTierUse(d, tier);
  const last = pointerAt(d, D_LAST_TIER_LINE) + (<usize>tier << 3);
  if (prefetchCovers(pointerAt(d, D_PREFETCHER), line)) {
    store<f64>(last, line);
    store<f64>(d + D_COVERED, 1);
    store<f64>(d + C_MEMORY_CYCLES, coveredLineCycles(d, tier));
    return level;
  }
  store<f64>(d + D_COVERED, 0);
  let cost = load<f64>(d + D_LLC_LATENCY);
  if (write && pointerAt(d, D_LLC) == 0) {
    store<f64>(last, line);
    cost += tierConstant(d, tier, T_WRITE_CYCLES);
  } else cost += memoryLatency(d, tier, line);
  store<f64>(d + C_MEMORY_CYCLES, cost);
  return level;
}

/**
 * `VCpu.lineServedInWasm` for a line `dataLine` served at `level` (not refused), outside a
 * `beginIndependent` bracket, into counters of the caller's: the level's count (f64 counters of
 * the L1D, L2 and LLC one after the other from `hits`), or for a line from memory its tier's
 * (`mem` + 8 * tier, the tier at `d + C_TIER`) and a covered line's (`prefetched`). Returns its
 * cycles, the write-backs' plus the hit's latency or the memory's cycles, in VCpu's order.
 */
@inline export function countServedLine(d: usize, level: i32, hits: usize, mem: usize, prefetched: usize): f64 {
  const cycles = load<f64>(d + C_WRITEBACK_CYCLES);
  if (level != SERVED_MEMORY) {
    bump(hits + (<usize>level << 3), 1);
    return cycles + load<f64>(d + C_LATENCY);
  }
  bump(mem + (<usize>toI32(load<f64>(d + C_TIER)) << 3), 1);
  if (load<f64>(d + D_COVERED) != 0) bump(prefetched, 1);
  return cycles + load<f64>(d + C_MEMORY_CYCLES);
}

/** `VCpu.coveredLineCycles`: a covered line's share of the tier's bandwidth, or its miss latency over the core's outstanding misses. */
export function coveredLineCycles(d: usize, tier: i32): f64 {
  const users = <f64>tierUsers(d, tier);
  const share = tierConstant(d, tier, T_READ_BYTES_PER_CYCLE) / users;
  const bandwidthBound = 64 / share;
  const missBound = tierConstant(d, tier, T_SEQ_READ) / load<f64>(d + D_MLP_LIMIT);
  return jsRound(bandwidthBound > missBound ? bandwidthBound : missBound);
}

/** The users of `tier` now (`Machine.tierUsers`), on which its covered line's cost depends. */
export function tierUsers(d: usize, tier: i32): i32 {
  return load<i32>(pointerAt(d, D_TIER_USERS) + (<usize>tier << 2));
}

/** Whether the vCPU has no data cache at all (`VCpu.noDataCaches`), the case of its stream run. */
export function hasNoDataCaches(d: usize): bool {
  return load<i32>(d + D_NO_DATA_CACHES) != 0;
}

/** `Core.nextExpectedLine` of the vCPU's core. */
export function nextExpectedLine(d: usize): f64 {
  return expectedLine(pointerAt(d, D_PREFETCHER));
}

/** What `VCpu.settleRun` leaves in the core: the tier's last line and the prefetcher's stream at the run's last line. */
export function endStreamRun(d: usize, tier: i32, last: f64): void {
  store<f64>(pointerAt(d, D_LAST_TIER_LINE) + (<usize>tier << 3), last);
  continueExpected(pointerAt(d, D_PREFETCHER), last);
}
