/**
 * A virtual CPU's memory path: TLBs, paging-structure caches, the nested TLB, the walker and the
 * data caches, with a cycle account. One `Machine` holds the host's cores, last-level cache(s) and
 * tier map; each `Core` (core.ts) holds the translation structures, private caches and stream
 * prefetcher its vCPUs share; each `VCpu` holds its fast paths, its counters and its place in an
 * overlap batch of independent misses.
 *
 * The walker issues the reference sequence of Bhargava et al. (ASPLOS'08): in a nested walk each of
 * the guest's n table pages is found by an m-step walk of the EPT, then its entry is read, and the
 * final guest-physical address takes one more EPT walk: (n+1)(m+1)-1 references when nothing is
 * cached (24 for 4K/4K, 19 for 2M/4K and 4K/2M, 15 for 2M/2M). Paging-structure caches skip upper
 * levels of either dimension; the nested TLB skips a whole EPT walk.
 *
 * Hot path rules: no allocation, no closures, results written into fields (`outHpa`, ...). A
 * repeated access to the page (and line) of the previous access takes a fast path that is exact:
 * re-touching the most recently used entry of an LRU set changes no replacement order.
 */
import { asSmallInt, startAsDoubles } from '../base/fields.ts';
import { PageSize, PAGE_SIZE_SHIFT } from '../base/units.ts';
import { DataCache } from './cache.ts';
import { Core, type CoreResident, type FillTargets, type TlbArray } from './core.ts';
import { MAX_TIERS, VcpuCounters } from './counters.ts';
import { llcGeometry, PRESET_NTLB, PRESET_PSC, type CpuPreset } from './cpu.ts';
import type { TlbInvalidator, TranslationFaultHandler } from './faults.ts';
import { PageTable, PteFlag, ENTRIES as TABLE_ENTRIES, LEVEL_SPAN as TABLE_LEVEL_SPAN } from './pagetable.ts';
import { TierMap, type ResolvedTier } from './tiers.ts';
import { MAX_TAGS, TranslationCache } from './tlb.ts';
import { arena } from './arena.ts';
import * as K from './replay-block.ts';
import { translator, type Translator } from './wasm-translate.ts';

/** Which level served the last line that went through the caches (`VCpu.servedBy`). */
const SERVED_L1D = 0;
const SERVED_L2 = 1;
const SERVED_LLC = 2;
const SERVED_MEMORY = 3;

/**
 * Module-local copies of the page-table constants the walk reads on every step. The TypeScript
 * loader turns an imported binding into a getter call on the exporting module, which the JIT does
 * not always inline on this path; a local constant folds.
 */
const ENTRIES = TABLE_ENTRIES;
const LEVEL_SPAN: readonly number[] = TABLE_LEVEL_SPAN;
const PTE_PRESENT = PteFlag.Present;
const PTE_WRITABLE = PteFlag.Writable;
const PTE_HUGE = PteFlag.Huge;

const POW2 = [4096, 2 * 1024 * 1024, 1024 * 1024 * 1024];
/**
 * Reciprocals of the page and level spans. A span is a power of two, so `x * (1 / span)` is
 * exactly `x / span` for every double x; a multiplication takes a few cycles where a division
 * takes about twenty, and a random walk divides some twenty times.
 */
const INV_POW2 = POW2.map((p) => 1 / p);
const INV_LEVEL_SPAN: readonly number[] = LEVEL_SPAN.map((span) => (span === 0 ? 0 : 1 / span));
const INV_4096 = 1 / 4096;
const INV_64 = 1 / 64;
/**
 * Offset masks per page size. `addr & mask` is exact for addresses below 2^53 because every page
 * size is at most 2^30: the 32-bit reduction keeps the low bits.
 */
const OFFSET_MASK = [4095, 2 * 1024 * 1024 - 1, 1024 * 1024 * 1024 - 1];

export interface MachineOptions {
  /**
   * Physical cores of the host (default 1). The LLC follows the preset (per core times cores, or
   * one per cluster). A vCPU created without a core gets a core of its own (appended when all are
   * taken), so a machine used without scheduling keeps one vCPU per core.
   */
  cores?: number;
  /** Whether translations are tagged by VPID (default true); false flushes on every vCPU switch. */
  vpid?: boolean;
  /**
   * Whether the access path's structures are worked by the WebAssembly module (src/hw/wasm/,
   * default true when it is built): TLB misses are translated there. false keeps everything in
   * TypeScript. Both give the same counters and cycles: false is for comparing the two (and is what
   * an install without AssemblyScript runs).
   */
  wasmAccessPath?: boolean;
}

/** The shared part of the host: its cores, last-level cache(s) and which tier holds each frame. */
export class Machine {
  readonly vcpus: VCpu[] = [];
  readonly cores: Core[] = [];
  readonly tiers: ResolvedTier[];
  readonly vpid: boolean;
  /** See MachineOptions.wasmAccessPath. */
  readonly wasmAccessPath: boolean;
  /** Cores the host has (the LLC is sized for them); `cores.length` can grow past it (see MachineOptions). */
  readonly coreCount: number;
  /** Per tier, the number of cores that have used it: they share its bandwidth. In the arena (wasm/memory.ts changes it too). */
  readonly tierUsers: Int32Array;
  private readonly llcs: (DataCache | null)[] = [];
  private readonly coresPerLlc: number;
  private readonly llcBytes: number;

  constructor(
    readonly cpu: CpuPreset,
    readonly tierMap: TierMap,
    options: MachineOptions = {},
  ) {
    this.tiers = tierMap.tiers;
    // The per-tier counters have room for MAX_TIERS: a count for a tier past them would be lost.
    if (this.tiers.length > MAX_TIERS) throw new Error(`machine: ${this.tiers.length} tiers; the counters hold at most ${MAX_TIERS}`);
    this.vpid = options.vpid ?? true;
    this.wasmAccessPath = options.wasmAccessPath ?? true;
    this.coreCount = options.cores ?? 1;
    if (!(Number.isInteger(this.coreCount) && this.coreCount >= 1)) throw new Error(`machine: ${this.coreCount} cores`);
    const g = cpu.llc ? llcGeometry(cpu.llc, this.coreCount) : { bytes: 0, coresPerLlc: this.coreCount };
    this.llcBytes = g.bytes;
    // A per-core LLC is one cache for the whole host, also for cores appended past coreCount.
    this.coresPerLlc = cpu.llc?.scope === 'per-core' ? Number.POSITIVE_INFINITY : g.coresPerLlc;
    const usersAt = arena.alloc(4 * this.tiers.length);
    arena.releaseWith(this, [usersAt, 4 * this.tiers.length]);
    this.tierUsers = new Int32Array(arena.memory.buffer, usersAt, this.tiers.length);
    for (let i = 0; i < this.coreCount; i++) this.addCore();
  }

  /** The LLC core `index` uses (shared by the host, or by its cluster). */
  private llcFor(index: number): DataCache | null {
    const llc = this.cpu.llc;
    if (!llc) return null;
    const slot = Math.floor(index / this.coresPerLlc);
    while (this.llcs.length <= slot) this.llcs.push(new DataCache(`llc${this.llcs.length}`, this.llcBytes, llc.ways, llc.latency));
    return this.llcs[slot];
  }

  private addCore(): Core {
    const i = this.cores.length;
    const core = new Core(i, this.cpu, this.llcFor(i), this.vpid, this.tiers.length);
    this.cores.push(core);
    return core;
  }

  /** Bytes of the LLC one core sees (for result notes). */
  get llcBytesPerLlc(): number {
    return this.llcBytes;
  }

  /** A core for a vCPU created without one: the first core nobody uses, else a new one. */
  freeCore(): Core {
    return this.cores.find((c) => c.residents === 0) ?? this.addCore();
  }

  /** Full flush on every vCPU (INVEPT all-context), counted on each. */
  flushAll(): void {
    for (const v of this.vcpus) v.flushAll();
  }
}

/** What a vCPU translates through. Native: `ept` is null and `guest` maps straight to host frames. */
export interface AddressSpace {
  guest: PageTable;
  ept: PageTable | null;
  faults: TranslationFaultHandler;
}

const WRITABLE = 1;
const MAX_FAULT_RETRIES = 8;

/**
 * VCpu's numeric fields that come to hold doubles (addresses past 2^30, values read from the
 * WebAssembly block's Float64Arrays, among them what a trace replay's kernel call leaves in its
 * block), doubles from birth (`startAsDoubles`). Each one otherwise turned from a small integer
 * into a double during the first vCPU's first run in a process, which gave VCpu a new map: the
 * code V8 had optimized for the old one was thrown away in the middle of that run, and again,
 * through its dependencies, when the next vCPU was made. The counts and levels the JavaScript
 * side increments and compares stay small integers instead (`asSmallInt` in `takeKernelState`):
 * as doubles they cost the sequential path about 2 %.
 */
const DOUBLE_FIELDS = [
  'accessGva',
  'accessSize',
  'walkGva',
  'outHpa',
  'fastBase',
  'fastLimit',
  'fastHostBase',
  'fastSize',
  'lineLo',
  'lineHi',
  'runHi',
  'runLimit',
  'runCycles',
  'repeatTier',
  'servedTier',
  'servedLineCycles',
] as const;

/**
 * A vCPU's block for the translation path in WebAssembly (wasm/translate.ts, layout in its header):
 * the descriptor of its structures (i32 slots), the output of a call (f64 slots from
 * `OUT_BYTE`), the walk references a call records (lines, then their dimensions), and the
 * pending counters of the references (`WALK_REFS_BYTE`) and of the counted walks (`WALKED_BYTE`).
 */
const DESC_BYTES = 2304;
const DESC_L1_COUNT = 0;
const DESC_L1_CACHE = 1;
const DESC_L1_SIZE = 9;
const DESC_L2_COUNT = 17;
const DESC_L2_CACHE = 18;
const DESC_L2_SIZE_COUNT = 22;
const DESC_L2_SIZES = 26;
const DESC_L1_FILL_CACHE = 38;
const DESC_L1_FILL_SIZE = 41;
const DESC_L2_FILL_CACHE = 44;
const DESC_L2_FILL_SIZE = 47;
const DESC_GUEST_PSC = 50;
const DESC_HOST_PSC = 53;
const DESC_NTLB = 56;
/** Data caches for wasm/datacache.ts's `throughCaches` (0: absent). */
const DESC_DATA_L1D = 57;
const DESC_DATA_L2 = 58;
const DESC_DATA_LLC = 59;
/** 1 when the walker's caches have the presets' shape, compiled into the module's walk (cpu.ts `PRESET_PSC`). */
const DESC_PRESET_WALKER = 60;
const MAX_L1_LOOKUPS = 8;
const MAX_L2_ARRAYS = 4;
const OUT_BYTE = 256;
const OUT_SLOTS = 14;
/** Guest-virtual addresses from this one up (and negative ones) are translated in TypeScript: see `translateSlow`. */
const WASM_ADDRESS_LIMIT = 2 ** 53;
/** Slot of the status; the statuses. */
const OUT_STATUS = 0;
const OUT_STATUS_L1_HIT = 0;
const OUT_STATUS_L2_HIT = 1;
const OUT_STATUS_WALKED = 2;
const OUT_STATUS_GUEST_FAULT = 3;
/** A walk reference's line refused by a cache (beyond the modelled memory): the call trapped after writing its counters. */
const OUT_STATUS_REFUSED_LINE = 5;
const OUT_HPA = 1;
const OUT_SIZE = 2;
const OUT_FLAGS = 3;
const OUT_L1_SIZE = 4;
const OUT_L1_FRAME = 5;
const OUT_FAULT_ADDR = 6;
const OUT_FAULT_WRITE = 7;
const OUT_REFS = 8;
/** A counted walk's translation cycles and its data line's (wasm/translate.ts `countTranslatedLine`). */
const OUT_TRANSLATION_CYCLES = 9;
const OUT_LINE_CYCLES = 10;
/** The walk's cycles: the sum of its references' (wasm/memory.ts). */
const OUT_WALK_CYCLES = 13;
/** `translateLine`'s result bits of a walk it counted (wasm/translate.ts `countTranslatedLine`). */
const LINE_COUNTED = 1 << 8;
const LINE_FAST_SIZE_SHIFT = 9;
const LINE_FAST_WRITABLE = 1 << 11;
const LINE_MADE_REFS = 1 << 12;
const LINE_TIER_SHIFT = 13;
/**
 * The output of `dataLine` in WebAssembly (wasm/memory.ts; f64 slots from this byte): the hit's
 * latency; slots 1-4 are the module's own (the dirty victims its `throughCaches` reports to
 * `dataLine`); then the write-backs' cycles, and for a line from memory its tier and cycles.
 * Whether a stream covered the line is at `DESC_MEMORY_BYTE + 48`.
 */
const CACHES_OUT_BYTE = 1536;
const CACHES_OUT_SLOTS = 8;
const CACHES_OUT_LATENCY = 0;
const CACHES_OUT_WRITEBACK_CYCLES = 5;
const CACHES_OUT_TIER = 6;
const CACHES_OUT_MEMORY_CYCLES = 7;
/** `dataLine` in WebAssembly returns this plus the level when that level refused the line. */
const CACHES_REFUSED = 4;
/**
 * The memory part of the descriptor (wasm/memory.ts): from this byte an f64, the LLC latency,
 * then i32 slots (`DESC_MEMORY_*`, counted from `DESC_MEMORY_I32`): the tier count, the arena
 * offsets of TierMap's ends and constants, of Machine.tierUsers, of the core's usesTier and
 * lastTierLine, and whether there are no data caches (1) at all.
 */
const DESC_MEMORY_BYTE = 1600;
const DESC_MEMORY_I32 = (DESC_MEMORY_BYTE + 8) / 4;
const DESC_TIER_COUNT = 0;
const DESC_TIER_ENDS = 1;
const DESC_TIER_CONSTANTS = 2;
const DESC_TIER_USERS = 3;
const DESC_USES_TIER = 4;
const DESC_LAST_TIER_LINE = 5;
const DESC_NO_DATA_CACHES = 6;
/** The core's prefetcher region (i32), then from `DESC_MEMORY_BYTE + 40` f64: the outstanding-miss limit, and `dataLine`'s covered flag. */
const DESC_PREFETCHER = 7;
const DESC_MLP_LIMIT_F64 = 5;
const DESC_COVERED_F64 = 6;
/**
 * The walk references' pending counters (f64 slots from this byte, wasm/memory.ts): what the
 * module's `walkRef`s (and `dataLine`s, their write-backs) counted since VCpu last took them (`takeWalkRefCounters`), per tier from
 * `WALK_REFS_MEM` etc. (room for 8 tiers each; a machine has at most MAX_TIERS); and a line a cache refused before the call trapped.
 */
const WALK_REFS_BYTE = 1664;
const WALK_REFS_SLOTS = 37;
const WALK_REFS = 0;
const WALK_REFS_GUEST = 1;
const WALK_REFS_HOST = 2;
const WALK_REFS_L1D = 3;
const WALK_REFS_L2 = 4;
const WALK_REFS_LLC = 5;
const WALK_WRITEBACK_CYCLES = 6;
const WALK_REFUSED_LEVEL = 7;
const WALK_REFS_MEM = 8;
const WALK_WRITEBACKS = 16;
const WALK_MEDIA_BYTES = 24;
const WALK_REFUSED_LINE = 32;
/** The walker's paging-structure-cache and nested-TLB hits and misses (wasm/translate.ts counts them per call). */
const WALK_PSC_HITS = 33;
const WALK_PSC_MISSES = 34;
const WALK_NTLB_HITS = 35;
const WALK_NTLB_MISSES = 36;
/**
 * The counted walks' pending counters (f64 slots from this byte, wasm/translate.ts
 * `countTranslatedLine`), taken with the walk references' (`takeWalkRefCounters`); slot 0 is the L2
 * TLB latency, which the module reads.
 */
const WALKED_BYTE = 2048;
const WALKED_SLOTS = 14 + MAX_TIERS;
const WALKED_L2_LATENCY = 0;
/** The counted walks: each an L1 TLB miss, an L2 TLB miss and a walk. */
const WALKED_WALKS = 1;
const WALKED_BY_SIZE = 2;
const WALKED_WALK_CYCLES = 5;
const WALKED_TRANSLATION_CYCLES = 6;
const WALKED_DATA_L1D = 7;
const WALKED_DATA_L2 = 8;
const WALKED_DATA_LLC = 9;
const WALKED_PREFETCHED = 10;
const WALKED_DATA_MEM = 11;
/** The counted L2 TLB hits per page size (each an L1 TLB miss too). */
const WALKED_L2_HITS = 11 + MAX_TIERS;

export class VCpu implements TlbInvalidator, CoreResident {
  /** Counters as of the last access; read them through `counters`, which adds the open window's accesses. */
  private readonly stats = new VcpuCounters();
  readonly l1: TlbArray[];
  /**
   * The L1 lookups of `translateSlow` in their order, flattened: for each array and each page size
   * it holds, the array's cache and the size (one loop over typed arrays instead of two over
   * objects).
   */
  private readonly l1LookupCache: TranslationCache[] = [];
  private readonly l1LookupSize: Int32Array;
  readonly l2: TlbArray[];
  private readonly l1Fill: FillTargets;
  private readonly l2Fill: FillTargets;
  /** Paging-structure caches indexed by level (2, 3, 4), per dimension. */
  readonly guestPsc: TranslationCache[];
  readonly hostPsc: TranslationCache[];
  readonly ntlb: TranslationCache;
  readonly l1d: DataCache | null;
  readonly l2cache: DataCache | null;
  private readonly llc: DataCache | null;
  /** Latency of the LLC lookup that precedes a memory access (0 without a cache model). */
  private readonly llcLatency: number;
  /** No data cache at all (`translationOnly`): every line goes to memory, `throughCaches` is skipped. */
  private readonly noDataCaches: boolean;
  private readonly tierMap: TierMap;
  private readonly tiers: ResolvedTier[];
  private readonly cpu: CpuPreset;
  /** The core this vCPU runs on (shared with the other vCPUs scheduled there). */
  readonly core: Core;
  /** Address-space tag (VPID, and EPT pointer for guest-physical entries): 1-based, unique per machine. */
  readonly tag: number;
  /** The core's per-tier previous line (sequential vs random reads). */
  private readonly lastTierLine: Float64Array;
  /** Outstanding misses the core keeps in flight (memory-level parallelism limit). */
  private readonly mlpLimit: number;
  /** Open `beginIndependent` brackets; while > 0, misses to memory overlap (see `overlapMiss`). */
  private independentDepth = 0;
  /** Misses in the current overlap batch (0: the next miss starts a batch), and the batch's longest. */
  private batchFill = 0;
  private batchMax = 0;

  // Fast path: the page of the previous translation (exact, see header).
  private fastBase = -1;
  private fastLimit = -1;
  private fastHostBase = 0;
  private fastWritable = false;
  private fastSize: PageSize = PageSize.Size4K;
  private lastLine = -1;
  /** Guest-virtual window [lineLo, lineHi) of the fastest path (see `access`); empty when -1. */
  private lineLo = -1;
  private lineHi = -1;
  private lineWritable = false;
  /** Accesses served by the open line window and not yet added to the counters. */
  private windowLoads = 0;
  private windowStores = 0;
  /**
   * The stream run (no cache model only): while the prefetcher's last matched stream expects the
   * line right after the window's, in the same 4 KiB page, a load there is decided in advance (a
   * covered line of the window's tier), so `accessOutsideWindow` serves it by moving the window
   * one line on (`nextRunLine`) and leaves its counts and the prefetcher's and tier's state to
   * `settleRun`. `runHi` is the end of that next line (-1: no run); `runLimit` the page's end.
   */
  private runHi = -1;
  private runLimit = -1;
  /**
   * Lines served by the run and not yet settled, their cycles and the first of them. Their tier
   * and page size are the window's, `repeatTier` and `fastSize`, which change only later in an
   * access that settles the run first (as for the window's pending accesses, see `settleWindow`).
   */
  private runLines = 0;
  private runCycles = 0;
  private runFirstLine = 0;
  private lastLineDirty = false;
  /**
   * What a repeat of `lastLine` costs and where it is counted: with a cache model, a hit in the
   * first level (`lineHitLatency`, `repeatTier` -1); without one, a sequential read of the line's
   * tier (the tier's previous access was this very line), counted as memory of `repeatTier`.
   */
  private repeatLatency = 0;
  private repeatTier = -1;
  /** Level (SERVED_*) and tier of the last line through `throughCaches`. */
  private servedBy = SERVED_L1D;
  private servedTier = 0;
  /** Latency of a hit in the first cache level (L1D, or the LLC when there are no private caches). */
  private lineHitLatency = 0;
  /** The cycles of the data line `translateLineInWasm` made with the translation, for `accessGeneral`; -1 for none. */
  private servedLineCycles = -1;
  /** Per tier, the cost of a covered line (`coveredLineCycles`) and the tier's user count it is for (0: none yet). */
  private readonly coveredLineCost: Float64Array;
  private readonly coveredLineUsers: Int32Array;

  /**
   * The guest-virtual address being translated, the walker's input register. A field rather than
   * an argument, as are the small-integer pairs `nestedTranslate` and `walkRef` take: V8 boxes a
   * double passed to a call it does not inline, so a 48-bit address as an argument would allocate
   * a heap number on every walk.
   */
  private walkGva = 0;
  /** The guest-virtual address of an access on its way from `load` or `store` to `accessOutsideWindow`. */
  private accessGva = 0;
  /**
   * Its size, likewise, and a double field from birth (`startAsDoubles` in the constructor): a
   * caller that holds the size as a double (the trace replay reads it from a Float64Array) would
   * otherwise have it converted to a small integer for the call on every access, inside the
   * window too, where V8 placed the conversion ahead of the window's test.
   */
  private accessSize = 0;

  // Results of the slow paths, written in place.
  outHpa = 0;
  private nestedHpa = 0;
  private nestedSize: PageSize = PageSize.Size4K;
  private nestedWritable = false;
  private faulted = false;

  /** The translation path in WebAssembly, or null (not built, or the vCPU's structures exceed its descriptor). */
  private readonly wasm: Translator | null;
  /** This vCPU's block for it (see `DESC_BYTES`), and views of the block's output and of its walk references' counters. */
  private readonly desc: number;
  private readonly out: Float64Array;
  private readonly walkRefsOut: Float64Array;
  /** View of the block's output of `throughCaches` and `dataLine` (`CACHES_OUT_*`). */
  private readonly cachesOut: Float64Array;
  /** The f64 slots of the block's memory part (`DESC_*_F64`). */
  private readonly memoryOut: Float64Array;
  /** The counted walks' pending counters (`WALKED_*`). */
  private readonly walkedOut: Float64Array;
  /** The kernel block of `loadMany` / `storeMany`, made on first use. */
  private batch: K.ReplayBlock | null = null;
  /** Accesses of `loadMany` / `storeMany` the module served whole (not a result: for tests and benchmarks). */
  servedInModule = 0;
  /**
   * The `translateLine` result of the access a batch stopped at after translating it (-1: none):
   * `translateLineInWasm` takes it instead of calling the module again.
   */
  private pendingLine = -1;

  /**
   * `coreIndex` places the vCPU on one of the machine's cores (shared with whatever else runs
   * there); without it the vCPU gets a core of its own (Machine.freeCore).
   */
  constructor(
    readonly machine: Machine,
    public space: AddressSpace,
    readonly id: number,
    coreIndex?: number,
  ) {
    const cpu = machine.cpu;
    this.cpu = cpu;
    if (coreIndex !== undefined && !(coreIndex >= 0 && coreIndex < machine.cores.length)) throw new Error(`vCPU ${id}: no core ${coreIndex} (the machine has ${machine.cores.length})`);
    const core = coreIndex === undefined ? machine.freeCore() : machine.cores[coreIndex];
    this.core = core;
    core.residents++;
    this.tag = machine.vcpus.length + 1;
    if (this.tag >= MAX_TAGS) throw new Error(`machine: more than ${MAX_TAGS - 1} vCPUs cannot be tagged`);
    // The structures are the core's; the vCPU keeps its own references for the access path.
    this.l1 = core.l1;
    const sizes: number[] = [];
    for (const arr of this.l1) {
      for (const s of arr.sizes) {
        this.l1LookupCache.push(arr.cache);
        sizes.push(s);
      }
    }
    this.l1LookupSize = Int32Array.from(sizes);
    this.l2 = core.l2;
    this.l1Fill = core.l1Fill;
    this.l2Fill = core.l2Fill;
    this.guestPsc = core.guestPsc;
    this.hostPsc = core.hostPsc;
    this.ntlb = core.ntlb;
    this.l1d = core.l1d;
    this.l2cache = core.l2cache;
    this.llc = core.llc;
    this.llcLatency = this.llc ? this.llc.latency : 0;
    this.noDataCaches = this.l1d === null && this.l2cache === null && this.llc === null;
    this.lineHitLatency = this.l1d ? this.l1d.latency : this.llcLatency;
    this.repeatLatency = this.lineHitLatency;
    this.coveredLineCost = new Float64Array(machine.tiers.length);
    this.coveredLineUsers = new Int32Array(machine.tiers.length);
    this.tierMap = machine.tierMap;
    this.tiers = machine.tiers;
    this.lastTierLine = core.lastTierLine;
    this.mlpLimit = cpu.outstandingMisses;
    this.desc = arena.alloc(DESC_BYTES);
    arena.releaseWith(this, [this.desc, DESC_BYTES]);
    const buf = arena.memory.buffer;
    this.out = new Float64Array(buf, this.desc + OUT_BYTE, OUT_SLOTS);
    this.walkRefsOut = new Float64Array(buf, this.desc + WALK_REFS_BYTE, WALK_REFS_SLOTS);
    this.cachesOut = new Float64Array(buf, this.desc + CACHES_OUT_BYTE, CACHES_OUT_SLOTS);
    this.memoryOut = new Float64Array(buf, this.desc + DESC_MEMORY_BYTE, DESC_COVERED_F64 + 1);
    this.walkedOut = new Float64Array(buf, this.desc + WALKED_BYTE, WALKED_SLOTS);
    this.walkedOut[WALKED_L2_LATENCY] = cpu.l2TlbLatency;
    this.wasm = machine.wasmAccessPath && this.describeStructures() ? translator() : null;
    startAsDoubles(this as unknown as Record<(typeof DOUBLE_FIELDS)[number], number>, DOUBLE_FIELDS);
    machine.vcpus.push(this);
  }

  /** Fill in the descriptor of the structures for the WebAssembly path; false when they do not fit it. */
  private describeStructures(): boolean {
    if (this.l1LookupCache.length > MAX_L1_LOOKUPS || this.l2.length > MAX_L2_ARRAYS) return false;
    const d = new Int32Array(arena.memory.buffer, this.desc, OUT_BYTE / 4);
    d[DESC_L1_COUNT] = this.l1LookupCache.length;
    for (let j = 0; j < this.l1LookupCache.length; j++) {
      d[DESC_L1_CACHE + j] = this.l1LookupCache[j].base;
      d[DESC_L1_SIZE + j] = this.l1LookupSize[j];
    }
    d[DESC_L2_COUNT] = this.l2.length;
    for (let a = 0; a < this.l2.length; a++) {
      d[DESC_L2_CACHE + a] = this.l2[a].cache.base;
      d[DESC_L2_SIZE_COUNT + a] = this.l2[a].sizes.length;
      for (let k = 0; k < this.l2[a].sizes.length; k++) d[DESC_L2_SIZES + 3 * a + k] = this.l2[a].sizes[k];
    }
    for (let size = 0; size < 3; size++) {
      const a1 = this.l1Fill.array[size];
      d[DESC_L1_FILL_CACHE + size] = a1 < 0 ? 0 : this.l1[a1].cache.base;
      d[DESC_L1_FILL_SIZE + size] = this.l1Fill.size[size];
      const a2 = this.l2Fill.array[size];
      d[DESC_L2_FILL_CACHE + size] = a2 < 0 ? 0 : this.l2[a2].cache.base;
      d[DESC_L2_FILL_SIZE + size] = this.l2Fill.size[size];
    }
    for (let level = 2; level <= 4; level++) {
      d[DESC_GUEST_PSC + level - 2] = this.guestPsc[level].base;
      d[DESC_HOST_PSC + level - 2] = this.hostPsc[level].base;
    }
    d[DESC_NTLB] = this.ntlb.base;
    d[DESC_PRESET_WALKER] = this.hasPresetWalker() ? 1 : 0;
    d[DESC_DATA_L1D] = this.l1d === null ? 0 : this.l1d.base;
    d[DESC_DATA_L2] = this.l2cache === null ? 0 : this.l2cache.base;
    d[DESC_DATA_LLC] = this.llc === null ? 0 : this.llc.base;
    arena.f64[(this.desc + DESC_MEMORY_BYTE) / 8] = this.llcLatency;
    const m = new Int32Array(arena.memory.buffer, this.desc + 4 * DESC_MEMORY_I32, DESC_PREFETCHER + 1);
    m[DESC_TIER_COUNT] = this.tiers.length;
    m[DESC_TIER_ENDS] = this.tierMap.endsAt;
    m[DESC_TIER_CONSTANTS] = this.tierMap.constantsAt;
    m[DESC_TIER_USERS] = this.machine.tierUsers.byteOffset;
    m[DESC_USES_TIER] = this.core.usesTier.byteOffset;
    m[DESC_LAST_TIER_LINE] = this.core.lastTierLine.byteOffset;
    m[DESC_NO_DATA_CACHES] = this.noDataCaches ? 1 : 0;
    m[DESC_PREFETCHER] = this.core.prefetcherBase;
    this.memoryOut[DESC_MLP_LIMIT_F64] = this.mlpLimit;
    return true;
  }

  /** Whether the paging-structure caches of both dimensions and the nested TLB have the presets' shape (`PRESET_PSC`, `PRESET_NTLB`). */
  private hasPresetWalker(): boolean {
    const levels = [PRESET_PSC.l2, PRESET_PSC.l3, PRESET_PSC.l4];
    const presetPscs = (pscs: TranslationCache[]) => levels.every(([entries, ways], k) => pscs[k + 2].isScanned(entries, ways));
    return presetPscs(this.guestPsc) && presetPscs(this.hostPsc) && this.ntlb.isScanned(PRESET_NTLB[0], PRESET_NTLB[1]);
  }

  get nested(): boolean {
    return this.space.ept !== null;
  }

  /*
   * load, store and access test the fastest path themselves and are small enough for the JIT to
   * inline into the caller's loop, so an access inside the line window costs no call; everything
   * else goes to `accessOutsideWindow`.
   *
   * The fastest path: inside the guest-virtual window of the previous access's line, which is the
   * most recently used line of the first cache level under the most recently used L1 DTLB entry
   * (sequential code). Writes need the line dirty already and the page writable. Such accesses
   * are counted in bulk when the window closes (`settleWindow`): each is one L1 DTLB hit and one
   * repeat of the line (`repeatLatency`: a first-level cache hit, or without a cache model a
   * sequential read of the line's tier).
   */
  load(gva: number, size: number): number {
    if (gva >= this.lineLo && gva + size <= this.lineHi) {
      this.windowLoads++;
      return this.repeatLatency;
    }
    this.accessGva = gva;
    this.accessSize = size;
    return this.accessOutsideWindow(false);
  }

  store(gva: number, size: number): number {
    if (gva >= this.lineLo && gva + size <= this.lineHi && this.lineWritable) {
      this.windowStores++;
      return this.repeatLatency;
    }
    this.accessGva = gva;
    this.accessSize = size;
    return this.accessOutsideWindow(true);
  }

  /** One access of `size` bytes at `gva`; split at 4 KiB boundaries. Returns its cycles. */
  access(gva: number, size: number, write: boolean): number {
    return write ? this.store(gva, size) : this.load(gva, size);
  }

  /**
   * An access that `load` or `store` could not serve from the line window. Its guest address and
   * size come in `accessGva` and `accessSize`, not as arguments: this call is not inlined, and V8
   * would box the address (a double above 2^31) on every such access (see `walkGva`).
   */
  private accessOutsideWindow(write: boolean): number {
    const gva = this.accessGva;
    const size = this.accessSize;
    if (gva >= this.lineHi && gva + size <= this.runHi && !write && size > 0) return this.nextRunLine();
    // Any other access ends the run (its line or the prefetcher may change); `startRun` below
    // opens a new one where it can.
    this.settleRun();
    this.runHi = -1;
    const offset = gva - this.fastBase;
    // The common case of sequential code: the page of the previous access, on this vCPU's core,
    // one line. The fast page and its frame are 4 KiB aligned, so the host address has the guest
    // address's offset in its line and page, and an access inside one line crosses no page.
    if (offset < 0 || gva >= this.fastLimit || (write && !this.fastWritable) || this.core.current !== this) return this.accessGeneral(size, write);
    const hpa = this.fastHostBase + offset;
    const inLine = hpa & 63;
    if (inLine + size > 64 || !(size > 0)) return this.accessGeneral(size, write);
    // The same counts and cycles as the general path, in its order: the window's pending accesses
    // (each an L1 DTLB hit of `fastSize`, this access's page size too), then this access.
    const c = this.stats;
    const pendingLoads = this.windowLoads;
    const pendingStores = this.windowStores;
    const pending = pendingLoads + pendingStores;
    if (pending !== 0) {
      // countLineRepeats(pending), written out (so are the calls below): the JIT did not always
      // inline them here, and the loop then ran at about 150 instead of 185 M accesses per second.
      const repeatTier = this.repeatTier;
      if (repeatTier >= 0) c.dataMem[repeatTier] += pending;
      else if (this.l1d !== null) c.dataL1dHits += pending;
      else c.dataLlcHits += pending;
      c.dataCycles += pending * this.repeatLatency;
      this.windowLoads = this.windowStores = 0;
    }
    c.accesses += pending + 1;
    c.loads += write ? pendingLoads : pendingLoads + 1;
    c.stores += write ? pendingStores + 1 : pendingStores;
    c.l1TlbHits[this.fastSize] += pending + 1;
    const line = Math.floor(hpa / 64);
    const data = this.noDataCaches && line !== this.lastLine ? this.lineFromTier(line, write) : this.dataLine(line, write);
    c.dataCycles += data;
    if (this.lastLine === line) {
      this.lineLo = gva - inLine;
      this.lineHi = this.lineLo + 64;
      this.lineWritable = this.lastLineDirty && this.fastWritable;
      if (this.noDataCaches && this.core.nextExpectedLine === line + 1) this.startRun(line + 1, gva);
    } else {
      this.closeLineWindow();
    }
    return data;
  }

  /**
   * Open the stream run after the window's line: `line` is the prefetcher's expected line, so its
   * stream (alone in its bucket, stride one line, confirmed by the line just served) covers it
   * and every later line of the page, and nothing else changes the core's prefetcher or the
   * tier's last line until the run is settled (the run is settled before any other access, and a
   * switch of the core settles it through `descheduled`).
   */
  private startRun(line: number, gva: number): void {
    const pageEnd = gva - (gva & 4095) + 4096;
    this.runLimit = pageEnd;
    this.runHi = this.lineHi + 64;
    this.runFirstLine = line;
  }

  /**
   * A load in the line after the window, while the stream run lasts: what `lineFromTier` decides
   * for it (a line the stream covers, at its tier's covered-line cost), counted later by
   * `settleRun`. The window's pending repeats stay pending: the window's tier and page size do not
   * change along the run.
   */
  private nextRunLine(): number {
    const lo = this.lineHi;
    const hi = lo + 64;
    this.lineLo = lo;
    this.lineHi = hi;
    this.runHi = hi + 64 <= this.runLimit ? hi + 64 : -1;
    this.lastLine++;
    this.runLines++;
    const cycles = this.coveredLineCycles(this.repeatTier);
    this.runCycles += cycles;
    return cycles;
  }

  /**
   * Count the run's lines as `accessOutsideWindow` and `lineFromTier` would have, one by one
   * (integer sums, so the order does not matter), and bring the prefetcher's stream and the
   * tier's last line to the run's last line.
   */
  private settleRun(): void {
    const n = this.runLines;
    if (n === 0) return;
    const c = this.stats;
    c.accesses += n;
    c.loads += n;
    c.l1TlbHits[this.fastSize] += n;
    c.dataMem[this.repeatTier] += n;
    c.prefetchedLines += n;
    c.dataCycles += this.runCycles;
    const last = this.runFirstLine + n - 1;
    this.lastTierLine[this.repeatTier] = last;
    this.core.continueExpected(last);
    // A counter read settles a run that may go on: its next line follows the last one settled.
    this.runFirstLine = last + 1;
    this.runLines = 0;
    this.runCycles = 0;
  }

  /**
   * A new data line without a cache model (`noDataCaches`): what `dataLine` does for a line other than
   * the previous one when every cache level is absent (the line comes from its tier), without its
   * tests of each level.
   */
  private lineFromTier(line: number, write: boolean): number {
    // The module's `dataLine` does exactly this when every cache level is absent, in one call.
    if (this.wasm !== null) return this.newDataLine(line, write);
    this.lastLine = line;
    const c = this.stats;
    const tier = this.tierMap.tierOfFrame(Math.floor(line / 64));
    c.dataMem[tier]++;
    const cycles = this.dataFromMemory(tier, line, write);
    this.repeatTier = tier;
    this.repeatLatency = this.tiers[tier].seqReadCycles;
    this.lastLineDirty = false;
    return cycles;
  }

  /**
   * What a data line a detected stream covers costs on `tier`: its share of the tier's bandwidth
   * or its miss latency over the core's outstanding misses, whichever is longer. Kept per tier
   * (`coveredLineCost`) for the number of cores that use the tier now, because the divisions were
   * about a third of a new line's time on a sequential stream.
   */
  private coveredLineCycles(tier: number): number {
    const users = this.machine.tierUsers[tier];
    if (this.coveredLineUsers[tier] === users) return this.coveredLineCost[tier];
    const t = this.tiers[tier];
    const share = t.readBytesPerCycle / users;
    const bandwidthBound = 64 / share;
    const missBound = t.seqReadCycles / this.mlpLimit;
    // Whole cycles, like every other cost: a fractional result would be boxed as a heap number.
    const cycles = Math.round(bandwidthBound > missBound ? bandwidthBound : missBound);
    this.coveredLineUsers[tier] = users;
    this.coveredLineCost[tier] = cycles;
    return cycles;
  }

  /**
   * `accessOutsideWindow` in general: a switch onto the core, a page crossing, a translation,
   * several lines. The guest address is still in `accessGva`.
   */
  private accessGeneral(size: number, write: boolean): number {
    const gva = this.accessGva;
    this.settleWindow();
    // Not running on the core (another vCPU ran since): switch it in first. A scheduler switches
    // explicitly at the start of a time slice; this covers accesses outside any slice.
    let cycles = this.core.current === this ? 0 : this.core.switchTo(this);
    const pageEnd = gva - (gva & 4095) + 4096;
    if (gva + size > pageEnd) {
      const first = pageEnd - gva;
      return cycles + this.access(gva, first, write) + this.access(pageEnd, size - first, write);
    }
    const c = this.stats;
    c.accesses++;
    if (write) c.stores++;
    else c.loads++;
    let hpa: number;
    if (gva >= this.fastBase && gva < this.fastLimit && (!write || this.fastWritable)) {
      // L1 DTLB hit on the most recently used entry; its latency overlaps the L1D lookup (VIPT).
      c.l1TlbHits[this.fastSize]++;
      hpa = this.fastHostBase + (gva - this.fastBase);
    } else {
      this.walkGva = gva;
      cycles += this.translateForAccess(size, write);
      hpa = this.outHpa;
    }
    const firstLine = Math.floor(hpa / 64);
    const lastLine = Math.floor((hpa + size - 1) / 64);
    let data = 0;
    let line = firstLine;
    if (this.servedLineCycles >= 0) {
      // The translation's call made the first line too (`translateLineInWasm`).
      data = this.servedLineCycles;
      this.servedLineCycles = -1;
      line++;
    }
    for (; line <= lastLine; line++) data += this.dataLine(line, write);
    c.dataCycles += data;
    // Open the fastest path for the rest of this line when both the line and the translation are
    // the most recently used ones (a walk reference in between closed it: lastLine is then -1).
    if (firstLine === lastLine && this.lastLine === firstLine && gva >= this.fastBase && gva < this.fastLimit) {
      this.lineLo = gva - (hpa & 63);
      this.lineHi = this.lineLo + 64;
      this.lineWritable = this.lastLineDirty && this.fastWritable;
    } else {
      this.closeLineWindow();
    }
    return cycles + data;
  }

  /**
   * Replay events [first, end) of a trace replay's kernel block in one WebAssembly call
   * (wasm/replay.ts) until one it does not serve; returns that event's index. The call serves an
   * event as `load` / `store` here would, so it runs only where its cases are this vCPU's whole
   * state: the module's path, a cache model with an LLC (no stream runs, and a new line's repeat
   * state is whether it is dirty), no `beginIndependent` bracket, and this vCPU on its core (a
   * switch happens in `accessGeneral`). Otherwise it serves nothing (returns `first`).
   */
  replayEvents(block: K.ReplayBlock, first: number, end: number): number {
    if (this.wasm === null || this.llc === null || this.independentDepth > 0 || this.core.current !== this) return first;
    const k = block.k;
    this.saveKernelState(k);
    const stop = this.wasm.replayEvents(this.desc, block.base, first, end);
    this.takeKernelState(k);
    if (k[K.K_REFUSED_LEVEL] >= 0) this.refuseLine(k[K.K_REFUSED_LEVEL], k[K.K_REFUSED_LINE], k[K.K_REFUSED_WRITE] !== 0);
    return stop;
  }

  /**
   * Loads of `size` bytes at `gvas[first]`, ..., `gvas[end - 1]`, in that order, each as `load`
   * makes it: the same counters, state and cycles. Returns the sum of their cycles. With the
   * WebAssembly path the accesses go to the module in calls of up to BLOCK_EVENTS
   * (wasm/replay.ts `accessEvents`), which serves the line window, the stream run, new lines, L1
   * DTLB hits and walks without a return to JavaScript; the rest go through `load`.
   */
  loadMany(gvas: Float64Array, first: number, end: number, size: number): number {
    return this.accessMany(gvas, first, end, size, false);
  }

  /** `loadMany` for stores (`store` for each). */
  storeMany(gvas: Float64Array, first: number, end: number, size: number): number {
    return this.accessMany(gvas, first, end, size, true);
  }

  private accessMany(gvas: Float64Array, first: number, end: number, size: number, write: boolean): number {
    let total = 0;
    let i = first;
    while (i < end) {
      if (!this.batchServes(size)) {
        total += this.access(gvas[i], size, write);
        i++;
        continue;
      }
      // A part of the addresses into the block, then calls over it until it is done or a call's stop leaves the module's cases.
      const block = this.batchBlock();
      const to = Math.min(end, i + K.BLOCK_EVENTS);
      block.copyAddresses(gvas, i, to);
      let at = i;
      while (at < to && this.batchServes(size)) {
        const stop = i + this.accessInModule(block, at - i, to - i, size, write);
        total += block.k[K.K_BATCH_CYCLES];
        if (stop === to) {
          at = to;
          break;
        }
        // The access it stopped at, by `access`; when the module translated it already, its result stands in for the call.
        this.pendingLine = asSmallInt(block.k[K.K_PENDING_RESULT]);
        total += this.access(gvas[stop], size, write);
        if (this.pendingLine >= 0) throw new Error(`vCPU ${this.id}: the access at 0x${gvas[stop].toString(16)} did not take the module's translation`);
        at = stop + 1;
      }
      i = at;
    }
    return total;
  }

  /**
   * Whether `accessEvents` may take the next access: the module's path, no `beginIndependent`
   * bracket (a walk is counted whole), this vCPU on its core, and an access of one to 64 bytes.
   */
  private batchServes(size: number): boolean {
    return this.wasm !== null && this.independentDepth === 0 && this.core.current === this && size > 0 && size <= 64;
  }

  /** This vCPU's kernel block for batches, made on first use with what a repeat of a line of each tier costs without a cache model. */
  private batchBlock(): K.ReplayBlock {
    if (this.batch !== null) return this.batch;
    const b = new K.ReplayBlock();
    for (let t = 0; t < this.tiers.length; t++) b.k[K.K_REPEAT_BY_TIER + t] = this.llcLatency + this.tiers[t].seqReadCycles;
    this.batch = b;
    return b;
  }

  /** The block's accesses [from, to) in one `accessEvents` call: returns the index it stopped at (see `accessMany`). */
  private accessInModule(block: K.ReplayBlock, from: number, to: number, size: number, write: boolean): number {
    const k = block.k;
    const wasm = this.wasm as Translator;
    this.saveKernelState(k);
    const ept = this.space.ept;
    let stop: number;
    try {
      stop = wasm.accessEvents(this.desc, block.base, from, to, size, write ? 1 : 0, this.space.guest.base, ept === null ? 0 : ept.base);
    } catch (e) {
      // A walk reference to a line a cache refused: the state the module held, the access counted
      // as `accessGeneral` counts it before translating, then `trapped` as for one access.
      wasm.accessEventsTrapped();
      this.takeKernelState(k);
      const c = this.stats;
      c.accesses++;
      if (write) c.stores++;
      else c.loads++;
      return this.trapped(e, true);
    }
    this.takeKernelState(k);
    this.servedInModule += stop - from;
    if (k[K.K_MADE_REFS] !== 0) this.batchFill = 0;
    if (k[K.K_REFUSED_LEVEL] >= 0) this.refuseLine(k[K.K_REFUSED_LEVEL], k[K.K_REFUSED_LINE], k[K.K_REFUSED_WRITE] !== 0);
    return stop;
  }

  /** This vCPU's fields and counters that `replayEvents` reads and changes, into the block. */
  private saveKernelState(k: Float64Array): void {
    k[K.K_LINE_LO] = this.lineLo;
    k[K.K_LINE_HI] = this.lineHi;
    k[K.K_LINE_WRITABLE] = this.lineWritable ? 1 : 0;
    k[K.K_WINDOW_LOADS] = this.windowLoads;
    k[K.K_WINDOW_STORES] = this.windowStores;
    k[K.K_REPEAT_LATENCY] = this.repeatLatency;
    k[K.K_FAST_BASE] = this.fastBase;
    k[K.K_FAST_LIMIT] = this.fastLimit;
    k[K.K_FAST_HOST_BASE] = this.fastHostBase;
    k[K.K_FAST_WRITABLE] = this.fastWritable ? 1 : 0;
    k[K.K_FAST_SIZE] = this.fastSize;
    k[K.K_LAST_LINE] = this.lastLine;
    k[K.K_LAST_LINE_DIRTY] = this.lastLineDirty ? 1 : 0;
    k[K.K_SERVED_BY] = this.servedBy;
    k[K.K_SERVED_TIER] = this.servedTier;
    k[K.K_OUT_HPA] = this.outHpa;
    k[K.K_WALK_GVA] = this.walkGva;
    k[K.K_REPEATS_IN_L1D] = this.l1d !== null ? 1 : 0;
    k[K.K_REPEAT_TIER] = this.repeatTier;
    k[K.K_HAS_LLC] = this.llc !== null ? 1 : 0;
    const c = this.stats;
    k[K.K_ACCESSES] = c.accesses;
    k[K.K_LOADS] = c.loads;
    k[K.K_STORES] = c.stores;
    // Element by element: `set` and `subarray` are calls into V8's builtins, a few hundred instructions each.
    for (let s = 0; s < 3; s++) k[K.K_L1_HITS + s] = c.l1TlbHits[s];
    k[K.K_DATA_L1D] = c.dataL1dHits;
    k[K.K_DATA_L2] = c.dataL2Hits;
    k[K.K_DATA_LLC] = c.dataLlcHits;
    for (let t = 0; t < MAX_TIERS; t++) k[K.K_DATA_MEM + t] = c.dataMem[t];
    k[K.K_DATA_CYCLES] = c.dataCycles;
    k[K.K_PREFETCHED] = c.prefetchedLines;
    k[K.K_RUN_HI] = this.runHi;
    k[K.K_RUN_LIMIT] = this.runLimit;
    k[K.K_RUN_LINES] = this.runLines;
    k[K.K_RUN_CYCLES] = this.runCycles;
    k[K.K_RUN_FIRST_LINE] = this.runFirstLine;
  }

  /** The block's state and counters after `replayEvents`, back into this vCPU. */
  private takeKernelState(k: Float64Array): void {
    this.lineLo = k[K.K_LINE_LO];
    this.lineHi = k[K.K_LINE_HI];
    this.lineWritable = k[K.K_LINE_WRITABLE] !== 0;
    // Counts, a line and a level: small integers, as the JavaScript side keeps them (see `asSmallInt`).
    this.windowLoads = asSmallInt(k[K.K_WINDOW_LOADS]);
    this.windowStores = asSmallInt(k[K.K_WINDOW_STORES]);
    this.fastBase = k[K.K_FAST_BASE];
    this.fastLimit = k[K.K_FAST_LIMIT];
    this.fastHostBase = k[K.K_FAST_HOST_BASE];
    this.fastWritable = k[K.K_FAST_WRITABLE] !== 0;
    this.fastSize = k[K.K_FAST_SIZE];
    this.lastLine = asSmallInt(k[K.K_LAST_LINE]);
    this.lastLineDirty = k[K.K_LAST_LINE_DIRTY] !== 0;
    this.repeatTier = k[K.K_REPEAT_TIER];
    this.repeatLatency = asSmallInt(k[K.K_REPEAT_LATENCY]);
    this.servedBy = asSmallInt(k[K.K_SERVED_BY]);
    this.servedTier = k[K.K_SERVED_TIER];
    this.outHpa = k[K.K_OUT_HPA];
    this.walkGva = k[K.K_WALK_GVA];
    const c = this.stats;
    c.accesses = asSmallInt(k[K.K_ACCESSES]);
    c.loads = asSmallInt(k[K.K_LOADS]);
    c.stores = asSmallInt(k[K.K_STORES]);
    for (let s = 0; s < 3; s++) c.l1TlbHits[s] = k[K.K_L1_HITS + s];
    c.dataL1dHits = k[K.K_DATA_L1D];
    c.dataL2Hits = k[K.K_DATA_L2];
    c.dataLlcHits = k[K.K_DATA_LLC];
    for (let t = 0; t < MAX_TIERS; t++) c.dataMem[t] = k[K.K_DATA_MEM + t];
    c.dataCycles = k[K.K_DATA_CYCLES];
    c.prefetchedLines = k[K.K_PREFETCHED];
    this.runHi = k[K.K_RUN_HI];
    this.runLimit = k[K.K_RUN_LIMIT];
    this.runLines = asSmallInt(k[K.K_RUN_LINES]);
    this.runCycles = k[K.K_RUN_CYCLES];
    this.runFirstLine = asSmallInt(k[K.K_RUN_FIRST_LINE]);
  }

  private closeLineWindow(): void {
    this.lineLo = this.lineHi = this.runHi = -1;
  }

  /**
   * Add the accesses served by the line window to the counters (see `load`). Called where the
   * counters are read and at the start of every access outside the window: `fastSize` and
   * `repeatLatency`, which describe the pending accesses, change only later in such an access, so
   * closing the window (a flush, a walk) need not settle.
   */
  private settleWindow(): void {
    this.settleRun();
    const n = this.windowLoads + this.windowStores;
    if (n === 0) return;
    const c = this.stats;
    c.accesses += n;
    c.loads += this.windowLoads;
    c.stores += this.windowStores;
    c.l1TlbHits[this.fastSize] += n;
    this.countLineRepeats(n);
    c.dataCycles += n * this.repeatLatency;
    this.windowLoads = this.windowStores = 0;
  }

  /** The counters, including accesses still pending in the open line window and the WebAssembly walk references' counts. */
  get counters(): VcpuCounters {
    this.settleWindow();
    if (this.wasm !== null) this.takeWalkRefCounters();
    return this.stats;
  }

  /** Translate `walkGva` when the fast path missed: L1 arrays, L2 arrays, then a walk. Sets `outHpa`. */
  private translateSlow(write: boolean): number {
    const gva = this.walkGva;
    // The module takes addresses in [0, 2^53) as exact integers (wasm/translate.ts `walkG`).
    if (this.wasm !== null && gva >= 0 && gva < WASM_ADDRESS_LIMIT) return this.translateInWasm(write);
    return this.translateInTypeScript(write);
  }

  /**
   * `translateSlow` for `accessGeneral`: an access of `size` bytes inside one line takes the
   * WebAssembly call that makes its data line too (`translateLineInWasm`).
   */
  private translateForAccess(size: number, write: boolean): number {
    const gva = this.walkGva;
    if (this.wasm !== null && gva >= 0 && gva < WASM_ADDRESS_LIMIT) {
      // The fast page and the frames are 4 KiB aligned: the host address's offset in its line is the guest address's.
      return size > 0 && (gva & 63) + size <= 64 ? this.translateLineInWasm(write) : this.translateInWasm(write);
    }
    return this.translateInTypeScript(write);
  }

  /** `translateSlow` by the TypeScript path (a small `translateSlow` is inlined where it is called). */
  private translateInTypeScript(write: boolean): number {
    const gva = this.walkGva;
    const c = this.stats;
    // L1 arrays.
    const caches = this.l1LookupCache;
    const lookupSizes = this.l1LookupSize;
    for (let j = 0; j < lookupSizes.length; j++) {
      const cache = caches[j];
      const s = lookupSizes[j];
      if (cache.sizeCount[s] === 0) continue;
      const way = cache.lookup(Math.floor(gva * INV_POW2[s]), s);
      if (way >= 0 && (!write || cache.flags[way] & WRITABLE)) {
        c.l1TlbHits[s]++;
        this.setFast(s, cache.value[way], (cache.flags[way] & WRITABLE) !== 0);
        return 0;
      }
    }
    c.l1TlbMisses++;
    let cycles = this.cpu.l2TlbLatency;
    for (let a = 0; a < this.l2.length; a++) {
      const arr = this.l2[a];
      const cache = arr.cache;
      for (let k = 0; k < arr.sizes.length; k++) {
        const s = arr.sizes[k];
        if (cache.sizeCount[s] === 0) continue;
        const span = POW2[s];
        const way = cache.lookup(Math.floor(gva * INV_POW2[s]), s);
        if (way >= 0 && (!write || cache.flags[way] & WRITABLE)) {
          c.l2TlbHits[s]++;
          const base = cache.value[way] * 4096;
          const flags = cache.flags[way];
          this.outHpa = base + (gva & (span - 1));
          this.fillL1(s, flags);
          c.translationCycles += cycles;
          return cycles;
        }
      }
    }
    c.l2TlbMisses++;
    cycles += this.walk(write);
    c.translationCycles += cycles;
    return cycles;
  }

  /**
   * `translateSlow` by the WebAssembly path: the same lookups, walk, walk references and fills in
   * one call over the same structures, its outcome in `out`. What the call leaves to this side:
   * the counters its status implies, the walk references' counters and what a reference does to
   * this vCPU's fields (`takeWalkRefs`), fault handlers and retries, and the fast page.
   */
  private translateInWasm(write: boolean): number {
    const ept = this.space.ept;
    let status: number;
    try {
      status = (this.wasm as Translator).translate(this.desc, this.walkGva, write ? 1 : 0, this.space.guest.base, ept === null ? 0 : ept.base);
    } catch (e) {
      return this.trapped(e, true);
    }
    return this.translatedInWasm(write, status);
  }

  /**
   * `translateInWasm` and the data line at the translated address (`dataLine`) in one call, for an
   * access inside one line. The call makes the data line unless the translation faulted or the
   * line repeats the previous one (then `dataLine` serves it as usual); its output is taken here
   * in the two parts' order (translation, then `lastLine` and the line), and the line's cycles go
   * to `servedLineCycles` for `accessGeneral`. Outside a `beginIndependent` bracket the call counts
   * a walk and its line itself (`countedWalkInWasm`), the common case of a random access.
   */
  private translateLineInWasm(write: boolean): number {
    const ept = this.space.ept;
    const repeatLine = write && !this.lastLineDirty ? -1 : this.lastLine;
    let result = this.pendingLine;
    if (result >= 0) this.pendingLine = -1;
    else {
      try {
        const count = this.independentDepth === 0 ? 1 : 0;
        result = (this.wasm as Translator).translateLine(this.desc, this.walkGva, write ? 1 : 0, this.space.guest.base, ept === null ? 0 : ept.base, repeatLine, count);
      } catch (e) {
        return this.trapped(e, true);
      }
    }
    if (result & LINE_COUNTED) return this.countedWalkInWasm(result, write);
    const status = result & 15;
    let cycles: number;
    if (status === OUT_STATUS_WALKED) {
      // The common case of a random access, written out (`translatedInWasm`, `walkInWasm`).
      const c = this.stats;
      c.l1TlbMisses++;
      c.l2TlbMisses++;
      c.walks++;
      cycles = this.cpu.l2TlbLatency + this.walkedInWasm();
      c.translationCycles += cycles;
    } else cycles = this.translatedInWasm(write, status);
    if (result >= 16) {
      const line = Math.floor(this.outHpa / 64);
      this.lastLine = line;
      this.servedLineCycles = this.lineServedInWasm((result >> 4) - 1, line, write);
    }
    return cycles;
  }

  /**
   * `translateLineInWasm` after a walk and its data line that the module counted (`LINE_COUNTED`,
   * wasm/translate.ts `countTranslatedLine`): what is left is this vCPU's state, in the order the
   * uncounted path changes it (the references' `takeWalkRefs`, the fast page, the data line's
   * `lastLine`, level and repeat).
   */
  private countedWalkInWasm(result: number, write: boolean): number {
    const out = this.out;
    if (result & LINE_MADE_REFS) {
      this.lastLine = -1;
      this.closeLineWindow();
      this.batchFill = 0;
    }
    const hpa = out[OUT_HPA];
    this.outHpa = hpa;
    const fastSize = (result >> LINE_FAST_SIZE_SHIFT) & 3;
    // setFast with the page's frame taken back from the host address (the module's `fillL1` made the one from the other).
    if (fastSize === 0) this.forgetTranslation();
    else this.setFastAt(fastSize - 1, hpa, (result & LINE_FAST_WRITABLE) !== 0);
    this.lastLine = Math.floor(hpa / 64);
    const level = ((result >> 4) & 15) - 1;
    this.servedBy = level;
    if (level === SERVED_MEMORY) this.servedTier = (result >> LINE_TIER_SHIFT) & 7;
    this.noteLineServed(write);
    this.servedLineCycles = out[OUT_LINE_CYCLES];
    return out[OUT_TRANSLATION_CYCLES];
  }

  /** What VCpu takes from a `translate` call that ended with `status`: see `translateInWasm`. */
  private translatedInWasm(write: boolean, status: number): number {
    const c = this.stats;
    const out = this.out;
    if (status === OUT_STATUS_L1_HIT) {
      c.l1TlbHits[out[OUT_SIZE] | 0]++;
      this.setFast(out[OUT_L1_SIZE], out[OUT_L1_FRAME], (out[OUT_FLAGS] & WRITABLE) !== 0);
      return 0;
    }
    c.l1TlbMisses++;
    let cycles = this.cpu.l2TlbLatency;
    if (status === OUT_STATUS_L2_HIT) {
      c.l2TlbHits[out[OUT_SIZE] | 0]++;
      this.outHpa = out[OUT_HPA];
      this.takeL1Fill();
    } else {
      c.l2TlbMisses++;
      cycles += this.walkInWasm(write, status);
    }
    c.translationCycles += cycles;
    return cycles;
  }

  /** `walk` by the WebAssembly path, its first attempt already made (`status`). */
  private walkInWasm(write: boolean, status: number): number {
    this.stats.walks++;
    return status === OUT_STATUS_WALKED ? this.walkedInWasm() : this.walkAfterFault(write, status);
  }

  /** The last WebAssembly call walked: its counts, the host address and the L1 fill. Returns the walk's cycles. */
  private walkedInWasm(): number {
    const c = this.stats;
    const out = this.out;
    const r = this.takeWalkRefs();
    c.walksBySize[out[OUT_SIZE] | 0]++;
    this.outHpa = out[OUT_HPA];
    this.takeL1Fill();
    c.walkCycles += r;
    return r;
  }

  /** The walk's first attempt faulted (`status`): the handler, then `walk` again, until one walks. */
  private walkAfterFault(write: boolean, status: number): number {
    const out = this.out;
    const gva = this.walkGva;
    let cycles = 0;
    for (let attempt = 1; ; attempt++) {
      // Everything is read from `out` before a fault handler runs: it may translate again and overwrite it.
      const faultAddr = out[OUT_FAULT_ADDR];
      const faultWrite = out[OUT_FAULT_WRITE] === 1;
      cycles += this.takeWalkRefs();
      cycles += status === OUT_STATUS_GUEST_FAULT ? this.guestFault(faultAddr, faultWrite) : this.eptFault(faultAddr, faultWrite);
      if (attempt === MAX_FAULT_RETRIES) throw this.stillFaults(gva);
      const ept = this.space.ept;
      try {
        status = (this.wasm as Translator).walk(this.desc, gva, write ? 1 : 0, this.space.guest.base, ept === null ? 0 : ept.base);
      } catch (e) {
        return this.trapped(e, false);
      }
      if (status === OUT_STATUS_WALKED) {
        // A handler may have translated other addresses: restore the input.
        this.walkGva = gva;
        return cycles + this.walkedInWasm();
      }
    }
  }

  /**
   * The walk references the last WebAssembly call made (wasm/memory.ts `walkRef`): what `walkRef`
   * does to this vCPU's fields, done once (it is the same for any number of references). Their
   * counts wait in the block until the counters are read (`takeWalkRefCounters`). Returns their cycles.
   */
  private takeWalkRefs(): number {
    if (this.out[OUT_REFS] === 0) return 0;
    this.lastLine = -1;
    this.closeLineWindow();
    this.batchFill = 0;
    return this.out[OUT_WALK_CYCLES];
  }

  /**
   * Add the walk references' pending counts (wasm/memory.ts), and the counted walks' (see
   * `takeWalkedCounters`), to the counters and zero them: every count and cycle is a whole number,
   * so adding them in bulk gives the sums one by one would.
   */
  private takeWalkRefCounters(): void {
    const w = this.walkRefsOut;
    const c = this.stats;
    c.walkRefs += w[WALK_REFS];
    c.walkRefsGuest += w[WALK_REFS_GUEST];
    c.walkRefsHost += w[WALK_REFS_HOST];
    c.walkRefsL1d += w[WALK_REFS_L1D];
    c.walkRefsL2 += w[WALK_REFS_L2];
    c.walkRefsLlc += w[WALK_REFS_LLC];
    c.writebackCycles += w[WALK_WRITEBACK_CYCLES];
    c.pscHits += w[WALK_PSC_HITS];
    c.pscMisses += w[WALK_PSC_MISSES];
    c.ntlbHits += w[WALK_NTLB_HITS];
    c.ntlbMisses += w[WALK_NTLB_MISSES];
    for (let t = 0; t < this.tiers.length; t++) {
      c.walkRefsMem[t] += w[WALK_REFS_MEM + t];
      c.writebacks[t] += w[WALK_WRITEBACKS + t];
      c.mediaBytesWritten[t] += w[WALK_MEDIA_BYTES + t];
    }
    w.fill(0, 0, WALK_REFUSED_LEVEL);
    w.fill(0, WALK_REFS_MEM, WALK_REFUSED_LINE);
    w.fill(0, WALK_PSC_HITS, WALK_NTLB_MISSES + 1);
    this.takeWalkedCounters();
  }

  /** Add the counted walks' pending counts (`countedWalkInWasm`) to the counters and zero them, as `takeWalkRefCounters` does the references'. */
  private takeWalkedCounters(): void {
    const a = this.walkedOut;
    const c = this.stats;
    const walks = a[WALKED_WALKS];
    c.l1TlbMisses += walks + a[WALKED_L2_HITS] + a[WALKED_L2_HITS + 1] + a[WALKED_L2_HITS + 2];
    c.l2TlbMisses += walks;
    c.walks += walks;
    for (let s = 0; s < 3; s++) c.l2TlbHits[s] += a[WALKED_L2_HITS + s];
    for (let s = 0; s < 3; s++) c.walksBySize[s] += a[WALKED_BY_SIZE + s];
    c.walkCycles += a[WALKED_WALK_CYCLES];
    c.translationCycles += a[WALKED_TRANSLATION_CYCLES];
    c.dataL1dHits += a[WALKED_DATA_L1D];
    c.dataL2Hits += a[WALKED_DATA_L2];
    c.dataLlcHits += a[WALKED_DATA_LLC];
    c.prefetchedLines += a[WALKED_PREFETCHED];
    for (let t = 0; t < this.tiers.length; t++) c.dataMem[t] += a[WALKED_DATA_MEM + t];
    a.fill(0, WALKED_WALKS);
  }

  /**
   * The module trapped. After a walk reference to a line a cache refused (status
   * `OUT_STATUS_REFUSED_LINE`), the counters as the TypeScript path leaves them when it throws
   * there (`walks` counted once per `walk()`, so on the first attempt only), then its error; any
   * other trap is a defect, rethrown.
   */
  private trapped(e: unknown, firstAttempt: boolean): never {
    const out = this.out;
    if (out[OUT_STATUS] !== OUT_STATUS_REFUSED_LINE) throw e;
    const c = this.stats;
    if (firstAttempt) {
      c.l1TlbMisses++;
      c.l2TlbMisses++;
      c.walks++;
    }
    this.takeWalkRefs();
    const w = this.walkRefsOut;
    this.refuseLine(w[WALK_REFUSED_LEVEL] - 1, w[WALK_REFUSED_LINE], false);
  }

  /** A walk whose faults the handlers did not resolve in MAX_FAULT_RETRIES attempts: a defect of the handlers. */
  private stillFaults(gva: number): Error {
    return new Error(`vCPU ${this.id}: translation of 0x${gva.toString(16)} still faults after ${MAX_FAULT_RETRIES} retries`);
  }

  /** The L1 fill the last WebAssembly call made becomes the fast page (or, without one, the fast page closes). */
  private takeL1Fill(): void {
    const out = this.out;
    const size = out[OUT_L1_SIZE];
    if (size < 0) this.forgetTranslation();
    else this.setFast(size, out[OUT_L1_FRAME], (out[OUT_FLAGS] & WRITABLE) !== 0);
  }

  /** Make the page of `walkGva`, of `size`, at host frame `pageFrame`, the fast path. Sets `outHpa`. */
  private setFast(size: PageSize, pageFrame: number, writable: boolean): void {
    const hpa = pageFrame * 4096 + (this.walkGva & (POW2[size] - 1));
    this.setFastAt(size, hpa, writable);
    this.outHpa = hpa;
  }

  /** `setFast` for the page of `walkGva` that translates to `hpa` (which `outHpa` already is). */
  private setFastAt(size: PageSize, hpa: number, writable: boolean): void {
    const gva = this.walkGva;
    const offset = gva & (POW2[size] - 1);
    this.closeLineWindow();
    this.fastBase = gva - offset;
    this.fastLimit = this.fastBase + POW2[size];
    this.fastHostBase = hpa - offset;
    this.fastWritable = writable;
    this.fastSize = size;
  }

  /**
   * Insert the translation of `walkGva` to `outHpa` into the L1 array that keeps the most of `size`
   * (see `fillTargets`) and make it the fast path. Inputs come in fields (see `walkGva`).
   */
  private fillL1(size: PageSize, flags: number): void {
    const gva = this.walkGva;
    const a = this.l1Fill.array[size];
    if (a < 0) {
      this.forgetTranslation();
      return;
    }
    const s = this.l1Fill.size[size];
    const span = POW2[s];
    const pageFrame = (this.outHpa - (gva & (span - 1))) * INV_4096;
    this.l1[a].cache.insert(Math.floor(gva * INV_POW2[s]), s, pageFrame, flags);
    this.setFast(s as PageSize, pageFrame, (flags & WRITABLE) !== 0);
  }

  /** Insert the translation of `walkGva` to `outHpa` into the L2 array for `size`. */
  private fillL2(size: PageSize, flags: number): void {
    const a = this.l2Fill.array[size];
    if (a < 0) return;
    const gva = this.walkGva;
    const s = this.l2Fill.size[size];
    const span = POW2[s];
    this.l2[a].cache.insert(Math.floor(gva * INV_POW2[s]), s, (this.outHpa - (gva & (span - 1))) * INV_4096, flags);
  }

  /** A full walk, retried after each fault the handlers resolve. Sets `outHpa`, fills the TLBs. */
  private walk(write: boolean): number {
    const c = this.stats;
    c.walks++;
    let cycles = 0;
    const gva = this.walkGva;
    for (let attempt = 0; attempt < MAX_FAULT_RETRIES; attempt++) {
      // A fault handler may run code that translates other addresses: restore the input.
      this.walkGva = gva;
      this.faulted = false;
      const r = this.space.ept ? this.walkNested(write) : this.walkNative(write);
      cycles += r;
      if (!this.faulted) {
        c.walkCycles += r;
        return cycles;
      }
    }
    throw this.stillFaults(gva);
  }

  /** One-dimensional walk of `space.guest` (host frames). */
  private walkNative(write: boolean): number {
    const gva = this.walkGva;
    const pt = this.space.guest;
    let cycles = 0;
    let t = pt.root;
    let level = 4;
    // Deepest paging-structure cache hit first.
    for (let L = 2; L <= 4; L++) {
      const psc = this.guestPsc[L];
      if (psc.valid === 0) continue;
      const way = psc.lookup(Math.floor(gva * INV_LEVEL_SPAN[L]), 0);
      if (way >= 0) {
        this.stats.pscHits++;
        t = psc.value[way];
        level = L - 1;
        break;
      }
    }
    if (level === 4) this.stats.pscMisses++;
    const entries = pt.entry;
    for (; level >= 1; level--) {
      const slot = t * ENTRIES + ((gva * INV_LEVEL_SPAN[level]) & 511);
      cycles += this.walkRef(pt.frameOf(t) * 64 + ((slot & 511) >> 3), true);
      const e = entries[slot];
      const f = e & 7;
      if (!(f & PTE_PRESENT)) return cycles + this.guestFault(gva, write);
      const payload = e >> 3; // e = payload * 8 + flags, a non-negative int32
      if (level === 1 || f & PTE_HUGE) {
        if (write && !(f & PTE_WRITABLE)) return cycles + this.guestFault(gva, write);
        const size = (level - 1) as PageSize;
        const hpa = payload * 4096 + (gva & OFFSET_MASK[size]);
        const flags = f & PTE_WRITABLE ? WRITABLE : 0;
        this.stats.walksBySize[size]++;
        this.outHpa = hpa;
        this.fillL2(size, flags);
        this.fillL1(size, flags);
        return cycles;
      }
      if (level >= 2) this.guestPsc[level].insert(Math.floor(gva * INV_LEVEL_SPAN[level]), 0, payload, 0);
      t = payload;
    }
    throw new Error('walkNative: fell off the last level');
  }

  /** Two-dimensional walk: guest table (guest frames) through the EPT (host frames). */
  private walkNested(write: boolean): number {
    const gva = this.walkGva;
    const pt = this.space.guest;
    let cycles = 0;
    let t = pt.root;
    let level = 4;
    for (let L = 2; L <= 4; L++) {
      const psc = this.guestPsc[L];
      if (psc.valid === 0) continue;
      const way = psc.lookup(Math.floor(gva * INV_LEVEL_SPAN[L]), 0);
      if (way >= 0) {
        this.stats.pscHits++;
        t = psc.value[way];
        level = L - 1;
        break;
      }
    }
    if (level === 4) this.stats.pscMisses++;
    const entries = pt.entry;
    for (; level >= 1; level--) {
      const slot = t * ENTRIES + ((gva * INV_LEVEL_SPAN[level]) & 511);
      // Read the entry before the EPT walk that finds its table page: when the simulating host
      // misses its caches on it (the leaf tables of a large working set), the miss overlaps that
      // walk instead of stalling after it. A walk that does not fault runs no handler, so nothing
      // can change the entry in between; one that faults returns before the entry is used.
      const e = entries[slot];
      cycles += this.nestedTranslate(pt.frameOf(t), (slot & 511) * 8, false);
      if (this.faulted) return cycles;
      cycles += this.walkRef(Math.floor(this.nestedHpa * INV_64), true);
      const f = e & 7;
      if (!(f & PTE_PRESENT)) return cycles + this.guestFault(gva, write);
      const payload = e >> 3; // e = payload * 8 + flags, a non-negative int32
      if (level === 1 || f & PTE_HUGE) {
        if (write && !(f & PTE_WRITABLE)) return cycles + this.guestFault(gva, write);
        const guestSize = (level - 1) as PageSize;
        cycles += this.nestedTranslate(payload, gva & OFFSET_MASK[guestSize], write);
        if (this.faulted) return cycles;
        // The combined translation is only as large as the smaller of the two pages (splintering).
        const size = this.nestedSize < guestSize ? this.nestedSize : guestSize;
        const flags = f & PTE_WRITABLE && this.nestedWritable ? WRITABLE : 0;
        this.stats.walksBySize[size]++;
        this.outHpa = this.nestedHpa;
        this.fillL2(size, flags);
        this.fillL1(size, flags);
        return cycles;
      }
      if (level >= 2) this.guestPsc[level].insert(Math.floor(gva * INV_LEVEL_SPAN[level]), 0, payload, 0);
      t = payload;
    }
    throw new Error('walkNested: fell off the last level');
  }

  /**
   * Guest-physical `gpaFrame * 4096 + offset` to host-physical through the nested TLB or an EPT
   * walk. Sets nestedHpa/Size/Writable. The address comes in two small integers (see `walkGva`).
   */
  private nestedTranslate(gpaFrame: number, offset: number, write: boolean): number {
    const gpa = gpaFrame * 4096 + offset;
    const c = this.stats;
    const ntlb = this.ntlb;
    if (ntlb.valid > 0) {
      for (let s = 0; s < 3; s++) {
        if (ntlb.sizeCount[s] === 0) continue;
        const way = ntlb.lookup(Math.floor(gpa * INV_POW2[s]), s);
        if (way >= 0 && (!write || ntlb.flags[way] & WRITABLE)) {
          c.ntlbHits++;
          this.nestedHpa = ntlb.value[way] * 4096 + (gpa & OFFSET_MASK[s]);
          this.nestedSize = s as PageSize;
          this.nestedWritable = (ntlb.flags[way] & WRITABLE) !== 0;
          return 0;
        }
      }
    }
    c.ntlbMisses++;
    const ept = this.space.ept as PageTable;
    let cycles = 0;
    let t = ept.root;
    let level = 4;
    for (let L = 2; L <= 4; L++) {
      const psc = this.hostPsc[L];
      if (psc.valid === 0) continue;
      const way = psc.lookup(Math.floor(gpa * INV_LEVEL_SPAN[L]), 0);
      if (way >= 0) {
        c.pscHits++;
        t = psc.value[way];
        level = L - 1;
        break;
      }
    }
    const entries = ept.entry;
    for (; level >= 1; level--) {
      const slot = t * ENTRIES + ((gpa * INV_LEVEL_SPAN[level]) & 511);
      const e = entries[slot]; // before the reference: a miss of the simulating host overlaps it
      cycles += this.walkRef(ept.frameOf(t) * 64 + ((slot & 511) >> 3), false);
      const f = e & 7;
      if (!(f & PTE_PRESENT)) return cycles + this.eptFault(gpa, write);
      const payload = e >> 3; // e = payload * 8 + flags, a non-negative int32
      if (level === 1 || f & PTE_HUGE) {
        if (write && !(f & PTE_WRITABLE)) return cycles + this.eptFault(gpa, write);
        const size = (level - 1) as PageSize;
        const span = POW2[size];
        this.nestedHpa = payload * 4096 + (gpa & (span - 1));
        this.nestedSize = size;
        this.nestedWritable = (f & PTE_WRITABLE) !== 0;
        ntlb.insert(Math.floor(gpa * INV_POW2[size]), size, payload, this.nestedWritable ? WRITABLE : 0);
        return cycles;
      }
      if (level >= 2) this.hostPsc[level].insert(Math.floor(gpa * INV_LEVEL_SPAN[level]), 0, payload, 0);
      t = payload;
    }
    throw new Error('nestedTranslate: fell off the last level');
  }

  /**
   * A fault for the walk to retry. `faulted` is set after the handler: a handler that translates
   * other addresses runs walks of its own, which clear it.
   */
  private guestFault(gva: number, write: boolean): number {
    this.stats.guestFaults++;
    const cost = this.space.faults.guestPageFault(gva, write);
    this.faulted = true;
    this.stats.faultCycles += cost;
    return cost;
  }

  private eptFault(gpa: number, write: boolean): number {
    this.stats.eptViolations++;
    const cost = this.space.faults.eptViolation(gpa, write);
    this.faulted = true;
    this.stats.faultCycles += cost;
    return cost;
  }

  /**
   * One page-walk reference to host-physical line `line` (address / 64), through the data caches.
   * Walk references form a dependent chain (each entry gives the next table's address): they never
   * overlap, are not prefetched, and end the current overlap batch of independent misses.
   */
  private walkRef(line: number, guestDimension: boolean): number {
    const c = this.stats;
    c.walkRefs++;
    if (guestDimension) c.walkRefsGuest++;
    else c.walkRefsHost++;
    this.lastLine = -1;
    this.closeLineWindow();
    this.batchFill = 0;
    if (this.noDataCaches) {
      // What `throughCaches` and the branches below come to without caches (llcLatency is 0).
      const tier = this.tierMap.tierOfFrame(Math.floor(line * INV_64));
      c.walkRefsMem[tier]++;
      return this.memoryRead(tier, line);
    }
    const cycles = this.throughCaches(line, false);
    const level = this.servedBy;
    if (level === SERVED_L1D) c.walkRefsL1d++;
    else if (level === SERVED_L2) c.walkRefsL2++;
    else if (level === SERVED_LLC) c.walkRefsLlc++;
    else {
      c.walkRefsMem[this.servedTier]++;
      return cycles + this.llcLatency + this.memoryRead(this.servedTier, line);
    }
    return cycles;
  }

  /** One data line through L1D, L2, LLC and memory. */
  private dataLine(line: number, write: boolean): number {
    if (line === this.lastLine && (!write || this.lastLineDirty)) {
      // A repeat of the previous access's line: most recently used in the first cache level, or
      // without a cache model the last line its tier served (see `repeatLatency`).
      this.countLineRepeats(1);
      return this.repeatLatency;
    }
    return this.newDataLine(line, write);
  }

  /** `dataLine` past its repeat test: a line other than the previous one, or a store to it while it is clean. */
  private newDataLine(line: number, write: boolean): number {
    this.lastLine = line;
    if (this.wasm !== null) return this.lineServedInWasm(this.wasm.dataLine(this.desc, line, write ? 1 : 0), line, write);
    const c = this.stats;
    let cycles = this.throughCaches(line, write);
    if (!this.countDataHit(this.servedBy)) {
      c.dataMem[this.servedTier]++;
      cycles += this.dataFromMemory(this.servedTier, line, write);
    }
    this.noteLineServed(write);
    return cycles;
  }

  /** What a new data line leaves for a repeat of it (see `repeatLatency`). */
  private noteLineServed(write: boolean): void {
    if (this.llc === null) {
      // No cache model: a repeated load reads the same line of the same tier again, a sequential
      // read. A store goes to the tier each time (there is no line to dirty), so it never repeats.
      this.repeatTier = this.servedTier;
      this.repeatLatency = this.llcLatency + this.tiers[this.servedTier].seqReadCycles;
      this.lastLineDirty = false;
    } else this.lastLineDirty = write;
  }

  /**
   * What VCpu takes from the module's `dataLine` (wasm/memory.ts), which returned `level`: the
   * module made the caches, the write-backs (their counts go to the pending counters, as a walk
   * reference's do), the tier, the prefetcher and the line's cost. What stays here is this vCPU's
   * state: the level's counter, `prefetchedLines`, the overlap of an uncovered miss, and what a
   * repeat of the line costs.
   */
  private lineServedInWasm(level: number, line: number, write: boolean): number {
    const c = this.stats;
    const out = this.cachesOut;
    if (level >= CACHES_REFUSED) this.refuseLine(level - CACHES_REFUSED, line, write);
    this.servedBy = level;
    let cycles = out[CACHES_OUT_WRITEBACK_CYCLES];
    if (this.countDataHit(level)) cycles += out[CACHES_OUT_LATENCY];
    else {
      const tier = out[CACHES_OUT_TIER];
      this.servedTier = tier;
      c.dataMem[tier]++;
      const cost = out[CACHES_OUT_MEMORY_CYCLES];
      if (this.memoryOut[DESC_COVERED_F64] !== 0) {
        c.prefetchedLines++;
        cycles += cost;
      } else cycles += this.independentDepth > 0 ? this.overlapMiss(cost) : cost;
    }
    this.noteLineServed(write);
    return cycles;
  }

  /** Count a data line that cache level `level` (SERVED_*) served; false for a line from memory (nothing counted). */
  private countDataHit(level: number): boolean {
    const c = this.stats;
    if (level === SERVED_L1D) c.dataL1dHits++;
    else if (level === SERVED_L2) c.dataL2Hits++;
    else if (level === SERVED_LLC) c.dataLlcHits++;
    else return false;
    return true;
  }

  /**
   * The memory part of a data line that missed every cache: covered by a detected stream, the
   * line costs its share of the tier's bandwidth (or the core's miss limit over the sequential
   * latency, whichever is slower: the prefetches run ahead, so the LLC lookup is hidden too);
   * otherwise the LLC lookup plus a read (or, without a cache model, a store: the tier's write
   * latency), overlapped with other independent misses inside a `beginIndependent` bracket.
   */
  private dataFromMemory(tier: number, line: number, write: boolean): number {
    const t = this.tiers[tier];
    this.noteTierUse(tier);
    if (this.core.prefetchCovers(line)) {
      this.lastTierLine[tier] = line;
      this.stats.prefetchedLines++;
      return this.coveredLineCycles(tier);
    }
    let cost = this.llcLatency;
    if (write && this.llc === null) {
      this.lastTierLine[tier] = line;
      cost += t.writeCycles;
    } else cost += this.memoryLatency(tier, line);
    return this.independentDepth > 0 ? this.overlapMiss(cost) : cost;
  }

  /** A dependent (walk) read of `line` from its tier. */
  private memoryRead(tier: number, line: number): number {
    this.noteTierUse(tier);
    return this.memoryLatency(tier, line);
  }

  private noteTierUse(tier: number): void {
    const core = this.core;
    if (core.usesTier[tier] === 0) {
      core.usesTier[tier] = 1;
      this.machine.tierUsers[tier]++;
    }
  }

  /**
   * Memory-level parallelism: independent misses go out together, up to the core's limit of
   * outstanding misses, so a batch of up to `mlpLimit` misses costs its longest miss. The first
   * miss of a batch is charged in full, each later one only what it adds to the batch's longest.
   * K equal misses cost latency x ceil(K / limit).
   */
  private overlapMiss(cost: number): number {
    if (this.batchFill === 0) {
      this.batchMax = cost;
      this.batchFill = this.mlpLimit > 1 ? 1 : 0;
      return cost;
    }
    const extra = cost > this.batchMax ? cost - this.batchMax : 0;
    if (extra > 0) this.batchMax = cost;
    if (++this.batchFill === this.mlpLimit) this.batchFill = 0;
    return extra;
  }

  /**
   * Mark the accesses until the matching `endIndependent` as independent of each other (a copy,
   * a scan of an array, a batch of lookups whose addresses are known up front): their misses to
   * memory overlap up to the core's limit of outstanding misses. Brackets nest. Outside a bracket
   * every miss is taken as dependent on the one before (pointer chasing), the conservative reading
   * of an access stream that does not say.
   */
  beginIndependent(): void {
    if (this.independentDepth++ === 0) this.batchFill = 0;
  }

  endIndependent(): void {
    if (this.independentDepth > 0) this.independentDepth--;
  }

  /** Count `n` repeats of `lastLine` (see `repeatLatency`). */
  private countLineRepeats(n: number): void {
    const c = this.stats;
    if (this.repeatTier >= 0) c.dataMem[this.repeatTier] += n;
    else if (this.l1d !== null) c.dataL1dHits += n;
    else c.dataLlcHits += n;
  }

  /**
   * One line through L1D, L2 and LLC, for data and walk references alike. Returns the cycles of the
   * level that served it (and of any write-back the fills caused); the level goes to `servedBy`,
   * and when every level missed, the tier to `servedTier`: the caller adds the LLC lookup and the
   * memory part (dependent for walks, possibly prefetched or overlapped for data). No allocation.
   *
   * The TypeScript path only: on the WebAssembly path data lines (`dataLine`) and walk references
   * (`translate`, `walk`) go through the module's copy of this (wasm/datacache.ts) inside their
   * own calls. A machine with the module comes here only for a walk in TypeScript (an address
   * outside the module's range, see `translateSlow`), on the same caches in the arena.
   */
  private throughCaches(line: number, write: boolean): number {
    let cycles = 0;
    const l1d = this.l1d;
    if (l1d !== null) {
      if (l1d.access(line, write)) {
        this.servedBy = SERVED_L1D;
        return l1d.latency;
      }
      if (l1d.evictedDirtyLine >= 0) cycles += this.writeBackBelow(l1d.evictedDirtyLine, 1);
    }
    const l2 = this.l2cache;
    if (l2 !== null) {
      if (l2.access(line, write)) {
        this.servedBy = SERVED_L2;
        return cycles + l2.latency;
      }
      if (l2.evictedDirtyLine >= 0) cycles += this.writeBackBelow(l2.evictedDirtyLine, 2);
    }
    const llc = this.llc;
    if (llc !== null) {
      if (llc.access(line, write)) {
        this.servedBy = SERVED_LLC;
        return cycles + llc.latency;
      }
      if (llc.evictedDirtyLine >= 0) cycles += this.writeBackToMemory(llc.evictedDirtyLine);
    }
    this.servedBy = SERVED_MEMORY;
    this.servedTier = this.tierMap.tierOfFrame(Math.floor(line * INV_64));
    return cycles;
  }

  /** A line the cache of level `level` refused in WebAssembly: its `access` throws the TypeScript path's error. */
  private refuseLine(level: number, line: number, write: boolean): never {
    const cache = level === SERVED_L1D ? this.l1d : level === SERVED_L2 ? this.l2cache : this.llc;
    cache?.access(line, write);
    throw new Error(`${cache?.name}: line ${line} refused in WebAssembly but accepted by access`);
  }

  /**
   * A dirty victim of cache level `from` (1: L1D, 2: L2) goes down: it dirties the first lower
   * level that holds it (non-inclusive hierarchy), or else is written back to memory.
   */
  private writeBackBelow(victim: number, from: number): number {
    if (from < 2 && this.l2cache !== null && this.l2cache.absorbWriteBack(victim)) return 0;
    if (this.llc !== null && this.llc.absorbWriteBack(victim)) return 0;
    return this.writeBackToMemory(victim);
  }

  /**
   * A dirty line leaves the caches: counted per tier with the tier's media line as the bytes
   * written (write amplification: 256 B for Optane), and charged the time those bytes occupy the
   * core's share of the tier's write bandwidth. The write itself is posted (the store completed
   * long ago), so its latency is not on the critical path; its bandwidth is.
   */
  private writeBackToMemory(victim: number): number {
    const tier = this.tierMap.tierOfFrame(Math.floor(victim / 64));
    const t = this.tiers[tier];
    this.noteTierUse(tier);
    const c = this.stats;
    c.writebacks[tier]++;
    c.mediaBytesWritten[tier] += t.mediaLine;
    const cycles = Math.round(t.mediaLine / (t.writeBytesPerCycle / this.machine.tierUsers[tier]));
    c.writebackCycles += cycles;
    return cycles;
  }

  /** Read latency of a line from its tier: sequential when within one media line of the core's previous access to the tier. */
  private memoryLatency(tier: number, line: number): number {
    const t = this.tiers[tier];
    const prev = this.lastTierLine[tier];
    this.lastTierLine[tier] = line;
    const linesPerMedia = t.mediaLine * INV_64;
    const d = line - prev;
    return d >= 0 && d <= linesPerMedia ? t.seqReadCycles : t.randReadCycles;
  }

  // ---- Cores (CoreResident) ----

  /** Leaving the core: count the open window and close the fast paths (another vCPU will use the structures). */
  descheduled(): void {
    this.settleWindow();
    this.forgetFastPaths();
    this.batchFill = 0;
  }

  noteSwitchIn(cycles: number, flushed: boolean): void {
    this.stats.vcpuSwitches++;
    this.stats.switchCycles += cycles;
    if (flushed) this.stats.switchFlushes++;
  }

  // ---- Invalidation (TlbInvalidator) ----

  /** INVLPG: drop the translations of one guest-virtual page (every size) and the guest PSCs (Intel SDM: INVLPG invalidates all paging-structure-cache entries of the current PCID). */
  invalidatePage(gva: number): void {
    const c = this.stats;
    c.flushPage++;
    c.flushCycles += this.cpu.invlpgCycles;
    const core = this.core;
    if (core.holdsGuestEntriesOf(this)) {
      core.asIfRunning(this, () => {
        for (const arr of [this.l1, this.l2]) {
          for (const a of arr) for (const s of a.sizes) a.cache.invalidate(Math.floor(gva / POW2[s]), s);
        }
      });
      core.dropGuestPscOf(this);
    }
    this.forgetTranslation();
  }

  /** Everything cached for this VM: TLBs, both dimensions' PSCs and the nested TLB (INVEPT/INVVPID single-context). */
  flushVm(): void {
    this.stats.flushVm++;
    this.stats.flushCycles += this.cpu.flushVmCycles;
    this.core.dropEntriesOf(this);
    this.forgetTranslation();
  }

  /** All contexts on this vCPU's core (INVEPT all-context); the vCPU running there, if another, loses its fast paths too. */
  flushAll(): void {
    this.stats.flushAll++;
    this.stats.flushCycles += this.cpu.flushAllCycles;
    this.core.dropAll();
    this.forgetTranslation();
  }

  translationsDropped(): void {
    this.forgetTranslation();
  }

  /** Close the fast page and the line window (the next access translates again). */
  private forgetTranslation(): void {
    this.fastBase = this.fastLimit = -1;
    this.closeLineWindow();
  }

  /** Whether some TLB array holds a translation for `gva` in this vCPU's address space (for tests; no LRU update). */
  tlbHolds(gva: number): boolean {
    if (!this.core.holdsGuestEntriesOf(this)) return false;
    let held = false;
    this.core.asIfRunning(this, () => {
      for (const arr of [this.l1, this.l2]) {
        for (const a of arr) for (const s of a.sizes) if (a.cache.peek(Math.floor(gva / POW2[s]), s) >= 0) held = true;
      }
    });
    return held;
  }

  /**
   * Forget the fast paths (most recent translation and line) without touching any modelled state,
   * so that the next access takes the full lookup. For the differential test that the fast paths
   * are exact: the counters and cycles must not change.
   */
  forgetFastPaths(): void {
    this.fastBase = this.fastLimit = -1;
    this.lastLine = -1;
    this.closeLineWindow();
  }

  /** Empty the private data caches (for cold-walk measurements). */
  clearCaches(): void {
    this.l1d?.clear();
    this.l2cache?.clear();
    this.lastLine = -1;
    this.closeLineWindow();
  }
}

export { PAGE_SIZE_SHIFT };
