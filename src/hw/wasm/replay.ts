/**
 * A trace replay's common events in one call (`replayEvents`), and a vCPU's batch of loads or
 * stores (`accessEvents`, below, which serves walks too), compiled into the module of
 * translate.ts: `TracedProgram.replayRange` (src/apps/traced.ts) for the accesses its cached
 * translations serve, and for each of them `VCpu.load` / `VCpu.store` (src/hw/vcpu.ts) in the
 * cases that need no more than this module already does: an access inside the line window, a new
 * line on the fast page, and a change of page that hits the L1 DTLB, each inside one line. The
 * steps, the state they change and the order of every sum are those of the TypeScript code, which
 * stays the reference (test/hw/replay-kernel.test.ts replays with and without this call and
 * compares every counter).
 *
 * The call stops before the first event it does not serve, having changed nothing for it: an
 * event other than a load, a store or a fetch by the program, an address no cached translation
 * serves, an access that spans two lines, and one that misses the L1 DTLB (its lookups leave the
 * arrays as a repeat of them would, so VCpu's own path then does exactly what it does for any
 * access). The caller replays that event in TypeScript and calls again.
 *
 * The vCPU's state and counters and the replay's are copied into the kernel block (`K_*`, the
 * layout of src/hw/replay-block.ts) before the call and back after it: the sums go on from the
 * values they had, in the order the TypeScript code adds to them. VCpu calls only where this holds
 * (src/hw/vcpu.ts `replayEvents`): a data cache model with an LLC (so a new line's repeat state is
 * `lastLineDirty` alone and no stream run is open), no `beginIndependent` bracket, and the vCPU
 * running on its core.
 */
import { L1D_MISSED, REFUSED as REFUSED_FROM, SERVED_L1D, SERVED_MEMORY } from './datacache';
import { C_TIER, countServedLine, coveredLineCycles, dataLineFrom, dataLineInL1d, endStreamRun, hasNoDataCaches, nextExpectedLine, tierUsers } from './memory';
import { bump, INV_64, pointerAt, smallI32 } from './memory-access';
import { COUNTED, FAST_SIZE_SHIFT, FAST_WRITABLE, l1Flags, l1Frame, MADE_REFS, O_LINE_CYCLES, O_TRANSLATION_CYCLES, TIER_SHIFT, translatedHpa, translateL1, translateLineAfterL1, WRITABLE } from './translate';

// ---- the kernel block (src/hw/replay-block.ts) ----
const K_LINE_LO: usize = 0;
const K_LINE_HI: usize = 8;
const K_LINE_WRITABLE: usize = 16;
const K_WINDOW_LOADS: usize = 24;
const K_WINDOW_STORES: usize = 32;
const K_REPEAT_LATENCY: usize = 40;
const K_FAST_BASE: usize = 48;
const K_FAST_LIMIT: usize = 56;
const K_FAST_HOST_BASE: usize = 64;
const K_FAST_WRITABLE: usize = 72;
const K_FAST_SIZE: usize = 80;
const K_LAST_LINE: usize = 88;
const K_LAST_LINE_DIRTY: usize = 96;
const K_SERVED_BY: usize = 104;
const K_SERVED_TIER: usize = 112;
const K_OUT_HPA: usize = 120;
const K_WALK_GVA: usize = 128;
const K_REPEATS_IN_L1D: usize = 136;
const K_REPEAT_TIER: usize = 144;
const K_HAS_LLC: usize = 152;
const K_ACCESSES: usize = 160;
const K_LOADS: usize = 168;
const K_STORES: usize = 176;
const K_L1_HITS: usize = 184;
const K_DATA_L1D: usize = 208;
const K_DATA_L2: usize = 216;
const K_DATA_LLC: usize = 224;
const K_DATA_MEM: usize = 232;
const K_DATA_CYCLES: usize = 264;
const K_PREFETCHED: usize = 272;
const K_REPEAT_BY_TIER: usize = 280;
const K_BATCH_CYCLES: usize = 312;
const K_OBJ_LO: usize = 320;
const K_OBJ_HI: usize = 328;
const K_OBJ_DELTA: usize = 336;
const K_FOUND_ID: usize = 344;
const K_CYCLES: usize = 352;
const K_R_LOADS: usize = 360;
const K_R_STORES: usize = 368;
const K_R_INSTRUCTIONS: usize = 376;
const K_R_OBJECT: usize = 384;
const K_R_PROGRAM: usize = 392;
const K_REFUSED_LEVEL: usize = 400;
const K_REFUSED_LINE: usize = 408;
const K_REFUSED_WRITE: usize = 416;
const K_PENDING_RESULT: usize = 424;
const K_MADE_REFS: usize = 432;
const K_RUN_HI: usize = 512;
const K_RUN_LIMIT: usize = 520;
const K_RUN_LINES: usize = 528;
const K_RUN_CYCLES: usize = 536;
const K_RUN_FIRST_LINE: usize = 544;
const K_OPS: usize = 448;
const K_ADDRS: usize = 452;
const K_SIZES: usize = 456;
const K_ARGS: usize = 460;
const K_OBJ_PAGE: usize = 464;
const K_OBJ_PAGE_LO: usize = 468;
const K_OBJ_PAGE_HI: usize = 472;
const K_OBJ_PAGE_DELTA: usize = 476;
const K_OBJ_PAGE_ID: usize = 480;
const K_DATA_PAGE: usize = 484;
const K_DATA_DELTA: usize = 488;
const K_TEXT_PAGE: usize = 492;
const K_TEXT_DELTA: usize = 496;

// ---- src/trace/types.ts TraceOp and src/apps/traced.ts's caches ----
const OP_INSTR: i32 = 0;
const OP_LOAD: i32 = 1;
const OP_STORE: i32 = 2;
const PAGE: f64 = 4096;
const INV_PAGE: f64 = 1.0 / 4096.0;
const OBJECT_CACHE_SLOTS: i32 = 1024;
const PAGE_CACHE_SLOTS: i32 = 256;

/** What a vCPU access here returns when it did nothing (VCpu's path must take the access). */
const NOT_SERVED: f64 = -1;
/** What it returns after a cache refused a line (the block says which; VCpu throws its error). */
const REFUSED: f64 = -2;
/** What a batch's access returns when its translation was made but not counted (the block has the result; VCpu goes on). */
const HALF_DONE: f64 = -3;

// VCpu's fields for the call, in globals (loaded from and stored to the block).
let kb: usize = 0;
let desc: usize = 0;
let lineLo: f64 = -1;
let lineHi: f64 = -1;
let lineWritable = false;
let windowLoads: f64 = 0;
let windowStores: f64 = 0;
let repeatLatency: f64 = 0;
let fastBase: f64 = -1;
let fastLimit: f64 = -1;
let fastHostBase: f64 = 0;
let fastWritable = false;
let fastSize: i32 = 0;
let lastLine: f64 = -1;
let lastLineDirty = false;
let servedBy: i32 = 0;
let servedTier: i32 = 0;
let outHpa: f64 = 0;
let walkGva: f64 = 0;
let repeatsInL1d = false;
let repeatTier: i32 = -1;
let hasLlc = true;
// A batch of accesses (`accessEvents`): walks are served too, with the tables and what they left.
let serveWalks = false;
let walkGuestPt: usize = 0;
let walkEpt: usize = 0;
let pendingResult: i32 = -1;
let madeRefs = false;
// VCpu's stream run (without any data cache: `VCpu.startRun`), and what a line of it costs, kept
// for the tier and its user count it was worked out for (`VCpu.coveredLineCycles`), for one call.
let runHi: f64 = -1;
let runLimit: f64 = -1;
let runLines: f64 = 0;
let runCycles: f64 = 0;
let runFirstLine: f64 = 0;
let noDataCaches = false;
let runCostTier: i32 = -1;
let runCostUsers: i32 = 0;
let runCost: f64 = 0;

@inline function kf(slot: usize): f64 {
  return load<f64>(kb + slot);
}

@inline function setKf(slot: usize, v: f64): void {
  store<f64>(kb + slot, v);
}

@inline function bumpK(slot: usize, n: f64): void {
  bump(kb + slot, n);
}

function loadVcpu(): void {
  lineLo = kf(K_LINE_LO);
  lineHi = kf(K_LINE_HI);
  lineWritable = kf(K_LINE_WRITABLE) != 0;
  windowLoads = kf(K_WINDOW_LOADS);
  windowStores = kf(K_WINDOW_STORES);
  repeatLatency = kf(K_REPEAT_LATENCY);
  fastBase = kf(K_FAST_BASE);
  fastLimit = kf(K_FAST_LIMIT);
  fastHostBase = kf(K_FAST_HOST_BASE);
  fastWritable = kf(K_FAST_WRITABLE) != 0;
  fastSize = <i32>kf(K_FAST_SIZE);
  lastLine = kf(K_LAST_LINE);
  lastLineDirty = kf(K_LAST_LINE_DIRTY) != 0;
  servedBy = <i32>kf(K_SERVED_BY);
  servedTier = <i32>kf(K_SERVED_TIER);
  outHpa = kf(K_OUT_HPA);
  walkGva = kf(K_WALK_GVA);
  repeatsInL1d = kf(K_REPEATS_IN_L1D) != 0;
  repeatTier = <i32>kf(K_REPEAT_TIER);
  hasLlc = kf(K_HAS_LLC) != 0;
  runHi = kf(K_RUN_HI);
  runLimit = kf(K_RUN_LIMIT);
  runLines = kf(K_RUN_LINES);
  runCycles = kf(K_RUN_CYCLES);
  runFirstLine = kf(K_RUN_FIRST_LINE);
  noDataCaches = hasNoDataCaches(desc);
  runCostTier = -1;
}

function storeVcpu(): void {
  setKf(K_LINE_LO, lineLo);
  setKf(K_LINE_HI, lineHi);
  setKf(K_LINE_WRITABLE, lineWritable ? 1 : 0);
  setKf(K_WINDOW_LOADS, windowLoads);
  setKf(K_WINDOW_STORES, windowStores);
  setKf(K_FAST_BASE, fastBase);
  setKf(K_FAST_LIMIT, fastLimit);
  setKf(K_FAST_HOST_BASE, fastHostBase);
  setKf(K_FAST_WRITABLE, fastWritable ? 1 : 0);
  setKf(K_FAST_SIZE, <f64>fastSize);
  setKf(K_LAST_LINE, lastLine);
  setKf(K_LAST_LINE_DIRTY, lastLineDirty ? 1 : 0);
  setKf(K_SERVED_BY, <f64>servedBy);
  setKf(K_SERVED_TIER, <f64>servedTier);
  setKf(K_OUT_HPA, outHpa);
  setKf(K_WALK_GVA, walkGva);
  setKf(K_REPEAT_LATENCY, repeatLatency);
  setKf(K_REPEAT_TIER, <f64>repeatTier);
  setKf(K_RUN_HI, runHi);
  setKf(K_RUN_LIMIT, runLimit);
  setKf(K_RUN_LINES, runLines);
  setKf(K_RUN_CYCLES, runCycles);
  setKf(K_RUN_FIRST_LINE, runFirstLine);
}

/** `VCpu.countLineRepeats`. */
@inline function countLineRepeats(n: f64): void {
  if (repeatTier >= 0) bumpK(K_DATA_MEM + (<usize>repeatTier << 3), n);
  else bumpK(repeatsInL1d ? K_DATA_L1D : K_DATA_LLC, n);
}

/** `VCpu.noteLineServed`: what a repeat of the new line costs (without a cache model, per tier from the block). */
@inline function noteLineServed(write: bool): void {
  if (hasLlc) lastLineDirty = write;
  else {
    repeatTier = servedTier;
    repeatLatency = kf(K_REPEAT_BY_TIER + (<usize>servedTier << 3));
    lastLineDirty = false;
  }
}

/** `VCpu.settleWindow` past its `settleRun` (its callers here settled the run already). */
function settleWindow(): void {
  const n = windowLoads + windowStores;
  if (n == 0) return;
  bumpK(K_ACCESSES, n);
  bumpK(K_LOADS, windowLoads);
  bumpK(K_STORES, windowStores);
  bumpK(K_L1_HITS + (<usize>fastSize << 3), n);
  countLineRepeats(n);
  bumpK(K_DATA_CYCLES, n * repeatLatency);
  windowLoads = windowStores = 0;
}

@inline function closeLineWindow(): void {
  lineLo = lineHi = -1;
}

/** `VCpu.startRun`: the stream run after the window's line, `line` the prefetcher's expected one, up to the end of the 4 KiB page of `gva`. */
@inline function startRun(line: f64, gva: f64): void {
  runLimit = gva - <f64>(smallI32(gva) & 4095) + 4096;
  runHi = lineHi + 64;
  runFirstLine = line;
}

/** `VCpu.nextRunLine`: a load in the line after the window while the run lasts, counted later by `settleRun`. */
function nextRunLine(): f64 {
  const lo = lineHi;
  const hi = lo + 64;
  lineLo = lo;
  lineHi = hi;
  runHi = hi + 64 <= runLimit ? hi + 64 : -1;
  lastLine++;
  runLines++;
  const users = tierUsers(desc, repeatTier);
  if (repeatTier != runCostTier || users != runCostUsers) {
    runCost = coveredLineCycles(desc, repeatTier);
    runCostTier = repeatTier;
    runCostUsers = users;
  }
  runCycles += runCost;
  return runCost;
}

/**
 * `VCpu.settleRun`: the run's lines counted as one by one, the tier's last line and the
 * prefetcher's stream at the last of them. Here the run ends with it (the caller closes it), so
 * where the run would go on (`runFirstLine`) does not matter.
 */
function settleRun(): void {
  const n = runLines;
  if (n == 0) return;
  bumpK(K_ACCESSES, n);
  bumpK(K_LOADS, n);
  bumpK(K_L1_HITS + (<usize>fastSize << 3), n);
  bumpK(K_DATA_MEM + (<usize>repeatTier << 3), n);
  bumpK(K_PREFETCHED, n);
  bumpK(K_DATA_CYCLES, runCycles);
  const last = runFirstLine + n - 1;
  endStreamRun(desc, repeatTier, last);
  runLines = 0;
  runCycles = 0;
}

/** `VCpu.dataLine` with `lineServedInWasm` and `noteLineServed` (no bracket): its cycles, or REFUSED. */
@inline function dataLineOf(line: f64, write: bool): f64 {
  if (line == lastLine && (!write || lastLineDirty)) {
    countLineRepeats(1);
    return repeatLatency;
  }
  lastLine = line;
  // The L1D first, on its own: a hit (most new lines) ends there, counted as `countServedLine`
  // counts one (the L1D's count; its latency after the write-backs' 0).
  const inL1d = dataLineInL1d(desc, line, write);
  if (inL1d >= 0) {
    servedBy = SERVED_L1D;
    bumpK(K_DATA_L1D, 1);
    noteLineServed(write);
    return inL1d;
  }
  const level = dataLineFrom(desc, line, write, inL1d == L1D_MISSED);
  if (level >= REFUSED_FROM) {
    setKf(K_REFUSED_LEVEL, <f64>(level - REFUSED_FROM));
    setKf(K_REFUSED_LINE, line);
    setKf(K_REFUSED_WRITE, write ? 1 : 0);
    return REFUSED;
  }
  servedBy = level;
  if (level == SERVED_MEMORY) servedTier = <i32>load<f64>(desc + C_TIER);
  // The block's K_DATA_L1D, K_DATA_L2 and K_DATA_LLC are consecutive, as countServedLine takes them.
  const cycles = countServedLine(desc, level, kb + K_DATA_L1D, kb + K_DATA_MEM, kb + K_PREFETCHED);
  noteLineServed(write);
  return cycles;
}

/**
 * `VCpu.accessOutsideWindow` for an access of `size` bytes at `gva` inside one line, no stream run
 * open (see `accessInRun`): on the fast page, or on another page that hits the L1 DTLB
 * (`accessGeneral` with `translateLineInWasm`). Returns its cycles, NOT_SERVED (nothing changed)
 * or REFUSED.
 */
function accessOutsideWindow(gva: f64, size: f64, write: bool): f64 {
  const offset = gva - fastBase;
  if (!(offset < 0 || gva >= fastLimit || (write && !fastWritable))) {
    const hpa = fastHostBase + offset;
    const inLine = <f64>(smallI32(hpa) & 63);
    if (inLine + size > 64) return NOT_SERVED;
    // The window's pending accesses, then this one: the counts and order of `accessOutsideWindow`.
    const pendingLoads = windowLoads;
    const pendingStores = windowStores;
    const pending = pendingLoads + pendingStores;
    if (pending != 0) {
      countLineRepeats(pending);
      bumpK(K_DATA_CYCLES, pending * repeatLatency);
      windowLoads = windowStores = 0;
    }
    bumpK(K_ACCESSES, pending + 1);
    bumpK(K_LOADS, write ? pendingLoads : pendingLoads + 1);
    bumpK(K_STORES, write ? pendingStores + 1 : pendingStores);
    bumpK(K_L1_HITS + (<usize>fastSize << 3), pending + 1);
    const line = Math.floor(hpa * INV_64);
    const data = dataLineOf(line, write);
    if (data == REFUSED) return REFUSED;
    bumpK(K_DATA_CYCLES, data);
    if (lastLine == line) {
      openLineWindow(gva, inLine);
      if (noDataCaches && nextExpectedLine(desc) == line + 1) startRun(line + 1, gva);
    } else closeLineWindow();
    return data;
  }
  return otherPage(gva, size, write);
}

/**
 * `VCpu.accessOutsideWindow` while a stream run is open (only without any data cache, so never in
 * the replay kernel, whose `accessOutsideWindow` stays without it): the run's next line, or the
 * run settled and then the access as any other. An access the call does not serve has the run
 * settled all the same: VCpu's path settles it first, then finds nothing more to settle.
 */
function accessInRun(gva: f64, size: f64, write: bool): f64 {
  if (gva >= lineHi && gva + size <= runHi && !write) return nextRunLine();
  settleRun();
  runHi = -1;
  return accessOutsideWindow(gva, size, write);
}

/** `VCpu.setFastAt`: the page of `gva`, of `size`, which translates `gva` to `hpa`, becomes the fast page. */
@inline function setFastAt(gva: f64, size: i32, hpa: f64, writable: bool): void {
  const spanMask = (1 << (12 + 9 * size)) - 1;
  const inPage = <f64>(smallI32(gva) & spanMask);
  closeLineWindow();
  fastBase = gva - inPage;
  fastLimit = fastBase + <f64>(spanMask + 1);
  fastHostBase = hpa - inPage;
  fastWritable = writable;
  fastSize = size;
}

/** The line window over the line of `gva`, at offset `inLine` in it, after that line was served (as `VCpu.accessGeneral` opens it). */
@inline function openLineWindow(gva: f64, inLine: f64): void {
  lineLo = gva - inLine;
  lineHi = lineLo + 64;
  lineWritable = lastLineDirty && fastWritable;
}

/** `accessGeneral` for an access inside one line off the fast page: served when the L1 DTLB holds its page. */
@inline function otherPage(gva: f64, size: f64, write: bool): f64 {
  // translateForAccess takes the module's path for addresses in [0, 2^53), and the line call for
  // one line; the offsets below take the address's low bits by MAGIC, exact below 2^51.
  if (gva < 0 || gva >= 2251799813685248.0 || <f64>(smallI32(gva) & 63) + size > 64) return NOT_SERVED;
  const size1 = translateL1(desc, gva, write);
  if (size1 < 0) return serveWalks ? afterL1Miss(gva, write) : NOT_SERVED;
  settleWindow();
  bumpK(K_ACCESSES, 1);
  bumpK(write ? K_STORES : K_LOADS, 1);
  // translatedInWasm for an L1 hit, then setFast.
  bumpK(K_L1_HITS + (<usize>size1 << 3), 1);
  walkGva = gva;
  const hpa = l1Frame * 4096 + <f64>(smallI32(gva) & ((1 << (12 + 9 * size1)) - 1));
  setFastAt(gva, size1, hpa, (l1Flags & WRITABLE) != 0);
  outHpa = hpa;
  const line = Math.floor(hpa * INV_64);
  const data = dataLineOf(line, write);
  if (data == REFUSED) return REFUSED;
  bumpK(K_DATA_CYCLES, data);
  if (lastLine == line && gva >= fastBase && gva < fastLimit) openLineWindow(gva, <f64>(smallI32(hpa) & 63));
  else closeLineWindow();
  return data;
}

/**
 * `accessGeneral` for an access inside one line whose L1 lookups missed: the rest of
 * `translateLineInWasm`, counted, and what VCpu's `countedWalkInWasm` and `accessGeneral` then do.
 * A translation the module did not count (an L2 hit, a fault, a repeated or refused line) returns
 * HALF_DONE with its result in `pendingResult`, the access not counted: VCpu makes the access
 * with that result in place of its `translateLine` call.
 */
@inline function afterL1Miss(gva: f64, write: bool): f64 {
  settleWindow();
  walkGva = gva;
  const result = translateLineAfterL1(desc, gva, write, walkGuestPt, walkEpt, write && !lastLineDirty ? -1 : lastLine);
  if (!(result & COUNTED)) {
    pendingResult = result;
    return HALF_DONE;
  }
  // The access's counts, which `accessGeneral` makes before its translation (sums of whole numbers: the order does not matter).
  bumpK(K_ACCESSES, 1);
  bumpK(write ? K_STORES : K_LOADS, 1);
  if (result & MADE_REFS) madeRefs = true;
  const hpa = translatedHpa();
  outHpa = hpa;
  const size1 = ((result >> FAST_SIZE_SHIFT) & 3) - 1;
  if (size1 >= 0) setFastAt(gva, size1, hpa, (result & FAST_WRITABLE) != 0);
  else {
    // forgetTranslation
    closeLineWindow();
    fastBase = fastLimit = -1;
  }
  const line = Math.floor(hpa * INV_64);
  lastLine = line;
  const level = ((result >> 4) & 15) - 1;
  servedBy = level;
  if (level == SERVED_MEMORY) servedTier = (result >> TIER_SHIFT) & 7;
  noteLineServed(write);
  const data = load<f64>(desc + O_LINE_CYCLES);
  bumpK(K_DATA_CYCLES, data);
  if (gva >= fastBase && gva < fastLimit) openLineWindow(gva, <f64>(smallI32(hpa) & 63));
  return load<f64>(desc + O_TRANSLATION_CYCLES) + data;
}

/**
 * `VCpu.load` (or `store`, with `write`) of `size` bytes, one to 64, at each address of the
 * block's address column [first, end), until one this call does not serve; returns the index of
 * that access (`end` when it served them all). Served: the line window, a new line on the fast
 * page (without any data cache, the stream run's lines too, as VCpu serves them), an L1 DTLB hit
 * on another page, and an access inside one line whose L1 lookups missed, when the module counts
 * its translation (a walk and its line). The sum of the served accesses' cycles goes to
 * K_BATCH_CYCLES; an access stopped after its translation, K_PENDING_RESULT >= 0, is VCpu's to
 * finish.
 */
export function accessEvents(d: usize, k: usize, first: i32, end: i32, size: f64, write: bool, guestPt: usize, ept: usize): i32 {
  kb = k;
  desc = d;
  loadVcpu();
  setKf(K_REFUSED_LEVEL, -1);
  serveWalks = true;
  walkGuestPt = guestPt;
  walkEpt = ept;
  pendingResult = -1;
  madeRefs = false;
  const addrs = pointerAt(kb, K_ADDRS);
  let cycles: f64 = 0;
  let i = first;
  while (i < end) {
    let gva = load<f64>(addrs + (<usize>i << 3));
    if (gva >= lineLo && gva + size <= lineHi && (!write || lineWritable)) {
      // The accesses inside the line window, in a loop of their own on locals (as `replayLoop`'s
      // run): V8 loads and stores a module global in memory at every use, and a count kept there
      // chains each access to the previous one's store. Their cycles are added one by one, in order.
      const windowLo = lineLo;
      const windowHi = lineHi;
      const latency = repeatLatency;
      let run: i32 = 0;
      do {
        cycles += latency;
        i++;
        run++;
        if (i == end) break;
        gva = load<f64>(addrs + (<usize>i << 3));
      } while (gva >= windowLo && gva + size <= windowHi);
      if (write) windowStores += <f64>run;
      else windowLoads += <f64>run;
      if (i == end) break;
    }
    const c = runHi >= 0 || runLines != 0 ? accessInRun(gva, size, write) : accessOutsideWindow(gva, size, write);
    if (c < 0) break;
    cycles += c;
    i++;
  }
  serveWalks = false;
  setKf(K_BATCH_CYCLES, cycles);
  setKf(K_PENDING_RESULT, <f64>pendingResult);
  setKf(K_MADE_REFS, madeRefs ? 1 : 0);
  storeVcpu();
  return i;
}

/** After a trap in `accessEvents` (a walk reference to a line a cache refused): VCpu's state so far, into the block. */
export function accessEventsTrapped(): void {
  serveWalks = false;
  storeVcpu();
}

/**
 * Replay events [first, end) of the block's columns until one this call does not serve; returns
 * the index of that event (`end` when it served them all). `d` is the vCPU's descriptor, `k` the
 * kernel block. A cache that refused a line stops the call with K_REFUSED_LEVEL >= 0.
 */
export function replayEvents(d: usize, k: usize, first: i32, end: i32): i32 {
  kb = k;
  desc = d;
  loadVcpu();
  setKf(K_REFUSED_LEVEL, -1);
  const i = replayLoop(first, end);
  storeVcpu();
  return i;
}

/**
 * The loop of `TracedProgram.replayRange` over the cached translations. One function on purpose,
 * as that one is: the columns' and caches' pointers and the counts stay in locals for the loop.
 */
function replayLoop(first: i32, end: i32): i32 {
  const ops = pointerAt(kb, K_OPS);
  const addrs = pointerAt(kb, K_ADDRS);
  const sizes = pointerAt(kb, K_SIZES);
  const args = pointerAt(kb, K_ARGS);
  const objPage = pointerAt(kb, K_OBJ_PAGE);
  const objPageLo = pointerAt(kb, K_OBJ_PAGE_LO);
  const objPageHi = pointerAt(kb, K_OBJ_PAGE_HI);
  const objPageDelta = pointerAt(kb, K_OBJ_PAGE_DELTA);
  const objPageId = pointerAt(kb, K_OBJ_PAGE_ID);
  const dataPage = pointerAt(kb, K_DATA_PAGE);
  const dataDelta = pointerAt(kb, K_DATA_DELTA);
  const textPage = pointerAt(kb, K_TEXT_PAGE);
  const textDelta = pointerAt(kb, K_TEXT_DELTA);
  let objLo = kf(K_OBJ_LO);
  let objHi = kf(K_OBJ_HI);
  let objDelta = kf(K_OBJ_DELTA);
  let foundId = <i32>kf(K_FOUND_ID);
  let cycles = kf(K_CYCLES);
  let loads: f64 = 0;
  let stores: f64 = 0;
  let instructions: f64 = 0;
  let objectAccesses: f64 = 0;
  let programAccesses: f64 = 0;
  let i = first;
  for (; i < end; i++) {
    // The common event first, in a loop of its own whose few values stay in registers (the loop
    // below holds calls, so its values are spilled around them): a load or store by the program
    // inside the object found last and inside the line window. Its counts are whole numbers, added
    // after the run; its cycles are added one by one, in the order of the loop below. The window's
    // globals are read into locals once: V8 loads a module global from memory at every use.
    const windowLo = lineLo;
    const windowHi = lineHi;
    const latency = repeatLatency;
    // A store stops the run unless the window is writable (op 2 above this bound, a load's 1 not).
    const lastOp: u32 = lineWritable ? OP_STORE : OP_STORE - 1;
    let runEvents: i32 = 0;
    let runStores: i32 = 0;
    while (i < end) {
      const op = <i32>load<u8>(ops + <usize>i);
      if (<u32>(op - 1) > lastOp - 1 || load<f64>(args + (<usize>i << 3)) != 0) break;
      const a = load<f64>(addrs + (<usize>i << 3));
      const s = load<f64>(sizes + (<usize>i << 3));
      const bytes = s > 0 ? s : 1;
      if (!(a >= objLo && a + bytes <= objHi)) break;
      const gva = a + objDelta;
      if (!(gva >= windowLo && gva + bytes <= windowHi)) break;
      // A store counted without a branch (op 2, a load's op 1): loads and stores come mixed in a program's trace.
      runStores += op - 1;
      cycles += latency;
      i++;
      runEvents++;
    }
    // Added after an empty run too (adding 0 changes no count): a branch on the run's length,
    // which a program's mix of runs makes hard to predict, costs more than the adds.
    const runLoads = runEvents - runStores;
    windowLoads += <f64>runLoads;
    windowStores += <f64>runStores;
    loads += <f64>runLoads;
    stores += <f64>runStores;
    objectAccesses += <f64>runEvents;
    if (i >= end) break;
    const op = <i32>load<u8>(ops + <usize>i);
    if (op > OP_STORE || load<f64>(args + (<usize>i << 3)) != 0) break;
    const a = load<f64>(addrs + (<usize>i << 3));
    const s = load<f64>(sizes + (<usize>i << 3));
    const bytes = s > 0 ? s : 1;
    const last = a + bytes;
    // The translation, as replayRange finds it; taken over only once the access is served.
    let gva: f64 = -1;
    let object = false;
    let slot: i32 = -1;
    if (op != OP_INSTR && a >= objLo && last <= objHi) {
      object = true;
      gva = a + objDelta;
    } else {
      const page = Math.floor(a * INV_PAGE);
      // Beyond 2^51 the slot may not be TypeScript's, which can only miss: a slot's entry is checked against the page.
      const k = smallI32(page) & (OBJECT_CACHE_SLOTS - 1);
      const at = <usize>k << 3;
      if (op != OP_INSTR && load<f64>(objPage + at) == page && a >= load<f64>(objPageLo + at) && last <= load<f64>(objPageHi + at)) {
        object = true;
        slot = k;
        gva = a + load<f64>(objPageDelta + at);
      } else if (last <= page * PAGE + PAGE) {
        const p = <usize>(smallI32(page) & (PAGE_CACHE_SLOTS - 1)) << 3;
        if (op == OP_INSTR) {
          if (load<f64>(textPage + p) == page) gva = a + load<f64>(textDelta + p);
        } else if (load<f64>(dataPage + p) == page) gva = a + load<f64>(dataDelta + p);
      }
    }
    if (gva < 0) break;
    // The event's kind and where it was found, counted without branches (whole numbers: the
    // order of the adds does not matter), as loads, stores, stack and heap come mixed.
    const write = op == OP_STORE;
    let c: f64;
    if (gva >= lineLo && gva + bytes <= lineHi && (!write || lineWritable)) {
      windowStores += <f64>write;
      windowLoads += <f64>!write;
      c = repeatLatency;
    } else c = accessOutsideWindow(gva, bytes, write);
    // NOT_SERVED or REFUSED (this call serves no walk, so never HALF_DONE).
    if (c < 0) break;
    objectAccesses += <f64>object;
    programAccesses += <f64>!object;
    if (slot >= 0) {
      const at = <usize>slot << 3;
      objLo = load<f64>(objPageLo + at);
      objHi = load<f64>(objPageHi + at);
      objDelta = load<f64>(objPageDelta + at);
      foundId = load<i32>(objPageId + (<usize>slot << 2));
    }
    cycles += c;
    stores += <f64>write;
    instructions += <f64>(op == OP_INSTR);
    loads += <f64>(op == OP_LOAD);
  }
  setKf(K_FOUND_ID, <f64>foundId);
  setKf(K_CYCLES, cycles);
  setKf(K_R_LOADS, loads);
  setKf(K_R_STORES, stores);
  setKf(K_R_INSTRUCTIONS, instructions);
  setKf(K_R_OBJECT, objectAccesses);
  setKf(K_R_PROGRAM, programAccesses);
  return i;
}
