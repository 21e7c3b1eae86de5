/**
 * A traced program inside a guest: a real program's recorded life (src/trace/types.ts), replayed
 * so that the guest allocator under test decides where its memory lives.
 *
 * Replay, event by event:
 * - Allocation events (malloc, calloc, realloc, posix_memalign, aligned_alloc, free) drive the
 *   guest's malloc, which chooses each object's guest-virtual address, and so its page size and
 *   tier. The object is entered in the interval map of live allocations (intervals.ts).
 * - Every access is translated from the program's address to the object that held that address
 *   at that moment, and from there to the guest address the allocator chose. An access that runs
 *   past the object's end is cut at the end (libc's string functions read whole words).
 * - Every other address is the program's own memory: text (instruction fetches), static data,
 *   stack, and the host libc's heap metadata (chunk headers, arenas, the mappings its allocator
 *   took with mmap). A unikernel loads the program's segments one after another in its own
 *   address space, so these pages are packed in first-touch order into two areas of the guest's
 *   mmap space, one for text and one for data, built from 2 MiB anonymous mappings: the guest's
 *   page policy (2 MiB pages or 4 KiB) applies to them as to any mapping, and under a tiered
 *   guest they sit in the first tier (DRAM) while it has room, as kernel and program images do.
 *   mmap, munmap and brk events are counted: the pages they cover are program memory as above.
 * - Loads and stores go through the vCPU access path (guest page table, EPT, TLBs, caches,
 *   tiers); a Modify is a load and a store of the same bytes, an instruction fetch a load (the
 *   machine model has no separate instruction TLB or cache).
 *
 * Cost: the cycles the access path returns, plus a compute cost: `cyclesPerInstruction` per
 * recorded instruction when the trace has instructions, else `cyclesPerRequest` per request
 * (reply markers, or the header's `meta.requests` when the trace has no markers).
 * - Accesses the capture made inside an allocation call (arg = 1) are the host's allocator at work
 *   (glibc's chunk headers and bins, and the shim's own report) plus the part of realloc's copy
 *   that reads the old block. Those that fall in a live object are replayed; the rest are left
 *   out and counted (`allocatorAccessesSkipped`): the guest allocator replaces the host's, and
 *   neither OSv's nor UCat's own bookkeeping accesses are modelled, so both configurations are
 *   charged the same. calloc's zeroing and the writing half of realloc's copy happen before the
 *   call returns the new block, so they are left out with them. Guest page
 * faults and EPT violations are a start-up cost of the program's first touches; they are counted
 * apart (the vCPU's faultCycles) and the caller decides whether a throughput includes them.
 *
 * Hot path (`replayRange`): an access by the program that lies wholly inside the object the
 * interval map found last, or on a program page in a small direct-mapped cache, goes straight to
 * the vCPU with its guest address; every other event takes the general path above, one `find` in
 * the interval map or one page-map lookup. Nothing is allocated per event. The caches change no
 * result (a test replays with and without them). Where the access path offers it
 * (`AccessPath.replayEvents`: a vCPU), that loop and the vCPU's common cases run in WebAssembly
 * (`replayInKernel`, src/hw/wasm/replay.ts), with the same results (tests compare).
 */
import type { AccessPath } from '../hw/access.ts';
import { AllocHint, OutOfMemoryError, type GuestAllocator } from '../guest/allocator.ts';
import { TraceOp, type TraceBatch, type TraceHeader, type TraceReader } from '../trace/types.ts';
import { asSmallInt, startAsDoubles } from '../base/fields.ts';
import { growF64 } from '../base/grow.ts';
import { LiveObjects, PageMap } from './intervals.ts';
import * as K from '../hw/replay-block.ts';

/** Marker kind of a reply the traced server sent (src/trace/lackey.ts MarkerKind.Reply). */
export const MARKER_REPLY = 2;

const PAGE = 4096;
/**
 * 1 / PAGE, exact (a power of two): `a * INV_PAGE` is `a / PAGE` for every double, and the replay
 * loop's page number per access is then a multiplication of a few cycles instead of a division of
 * about twenty.
 */
const INV_PAGE = 1 / PAGE;
const CHUNK = 2 * 1024 * 1024;
const PAGES_PER_CHUNK = CHUNK / PAGE;
/** Slots of each direct-mapped program page cache of `replayRange` (a power of two). */
const PAGE_CACHE_SLOTS = 256;
/**
 * Events per `replayRange` call at most. One call per block of 65,536 events ran as
 * on-stack-replaced code that left its loop into code without type feedback and was thrown away
 * at every block; shorter calls let the JIT optimize the whole function.
 */
const RANGE_EVENTS = 1024;
/** A `replayEvents` call that served fewer events than this is followed by KERNEL_PAUSE events in `replayRange`. */
const KERNEL_SHORT_RUN = 8;
const KERNEL_PAUSE = 64;
/**
 * TracedProgram's trace and guest addresses, doubles from birth (see ReplayCounters), so that the
 * first replay of a process does not give TracedProgram a new map and throw away the next one's code.
 */
const PROGRAM_DOUBLE_FIELDS = ['objLo', 'objHi', 'objDelta', 'lastGva', 'lastSize'] as const;
/** Slots of the direct-mapped object cache of `replayRange`, by program page (a power of two). */
const OBJECT_CACHE_SLOTS = 1024;

/** A trace that can be read from the start any number of times (one reader per replaying VM). */
export interface TraceSource {
  readonly header: TraceHeader;
  open(): TraceReader;
}

/** What the replay needs of the guest kernel: anonymous mappings for the program's own areas. */
export interface ProgramAreaSource {
  /** Reserve an anonymous mapping of `bytes` in allocator tier `tier`; its start, or -1. */
  mmap(bytes: number, tier: number, align?: number): number;
  /** The allocator tiers (the program's areas take the first that has room). */
  readonly tiers: ArrayLike<unknown>;
}

export interface TraceCosts {
  /** Compute cycles per recorded instruction (traces with instructions). */
  cyclesPerInstruction: number;
  /** Compute cycles per request (traces without instructions). */
  cyclesPerRequest: number;
}

/** Counters of one replay (owned, plain numbers; `snapshot` copies them). */
export class ReplayCounters {
  events = 0;
  instructions = 0;
  loads = 0;
  stores = 0;
  modifies = 0;
  /** Accesses (a Modify counts once) that fell in a live object, and the rest. */
  objectAccesses = 0;
  programAccesses = 0;
  /** Accesses cut at the end of their object. */
  clippedAccesses = 0;
  allocations = 0;
  frees = 0;
  reallocs = 0;
  mmaps = 0;
  munmaps = 0;
  brks = 0;
  markers = 0;
  /** Reply markers (kind 2): one request served. */
  replies = 0;
  /** Accesses made inside an allocation call (arg = 1), and those of them left out (outside objects). */
  allocatorAccesses = 0;
  allocatorAccessesSkipped = 0;
  /** free() or realloc() of an address the replay does not know (a call the shim missed). */
  unknownFrees = 0;
  /** Allocations at an address still live (a free the shim missed): the old object is dropped. */
  staleObjects = 0;
  /** Bytes requested by live objects, now and at peak. */
  liveBytes = 0;
  peakLiveBytes = 0;
  /** Program pages packed into the text and data areas. */
  textPages = 0;
  dataPages = 0;
  /** Accesses of the fast-forwarded start-up left out (their guest page was touched already). */
  fastForwarded = 0;
  /** Cycles the access path returned (translation, data, faults). */
  memoryCycles = 0;

  constructor() {
    // Every count a double from birth (see VcpuCounters). A count that turns into a double during
    // a replay (the cycle sum is fractional, byte counts come from the trace's doubles, any count
    // may pass 2^30) gives the counters a new map; the next program's counters are built with that
    // map, which generalizes the `counters` field of TracedProgram and discards the optimized code
    // of `replayRange`. V8 then ran `replayRange`, for every later program of the process, as the
    // on-stack-replaced code it had kept, entered anew at each call and boxing a double per event
    // (about 10% slower, and a scavenge every 2 MiB).
    startAsDoubles(this, (Object.keys(this) as (keyof this)[]).filter((key) => typeof this[key] === 'number'));
  }

  /** Accesses replayed through the access path. */
  get accesses(): number {
    return this.instructions + this.loads + this.stores + this.modifies;
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) if (typeof v === 'number') out[k] = v;
    out.accesses = this.accesses;
    return out;
  }
}

/** One packed area of program pages (text or data) in the guest's mmap space. */
class ProgramArea {
  private readonly pages = new PageMap(1024);
  private chunks = new Float64Array(16);
  private used = 0;
  /** The page `translate` saw last (-1: none yet) and the guest address it is packed at. */
  lastPage = -1;
  lastBase = 0;

  constructor(
    private readonly kernel: ProgramAreaSource,
    private readonly tier: number,
  ) {
    // Program pages and guest addresses pass 2^30: doubles from birth (see TracedProgram).
    startAsDoubles(this, ['lastPage', 'lastBase']);
  }

  get pageCount(): number {
    return this.used;
  }

  /** Guest address of program address `addr` (its page is packed on first touch). */
  translate(addr: number): number {
    const page = Math.floor(addr / PAGE);
    if (page !== this.lastPage) {
      let index = this.pages.get(page);
      if (index < 0) index = this.place(page);
      this.lastPage = page;
      this.lastBase = this.chunks[index >>> 9] + (index & (PAGES_PER_CHUNK - 1)) * PAGE;
    }
    return this.lastBase + (addr - page * PAGE);
  }

  private place(page: number): number {
    const index = this.used++;
    const chunk = index >>> 9;
    this.chunks = growF64(this.chunks, chunk + 1);
    if ((index & (PAGES_PER_CHUNK - 1)) === 0) {
      const k = this.kernel;
      let start = k.mmap(CHUNK, this.tier, CHUNK);
      for (let t = 0; start < 0 && t < k.tiers.length; t++) if (t !== this.tier) start = k.mmap(CHUNK, t, CHUNK);
      if (start < 0) throw new OutOfMemoryError('guest: no memory left for the program\'s own pages');
      this.chunks[chunk] = start;
    }
    this.pages.set(page, index);
    return index;
  }
}

/**
 * A cache's array of `n` slots, in the kernel block's arena memory when there is one
 * (`TracedProgram.replayInKernel` reads the caches there).
 */
function f64Slots(block: K.ReplayBlock | null, n: number): Float64Array {
  return block === null ? new Float64Array(n) : block.f64Array(n);
}

function i32Slots(block: K.ReplayBlock | null, n: number): Int32Array {
  return block === null ? new Int32Array(n) : block.i32Array(n);
}

/** A direct-mapped cache of program pages (by page number): the page and the difference to add for its guest address. */
class PageCache {
  readonly page: Float64Array;
  readonly delta: Float64Array;

  constructor(block: K.ReplayBlock | null) {
    this.page = f64Slots(block, PAGE_CACHE_SLOTS).fill(-1);
    this.delta = f64Slots(block, PAGE_CACHE_SLOTS);
  }

  /** Enter the page `area` translated last, if any. */
  enterLast(area: ProgramArea): void {
    const p = area.lastPage;
    if (p < 0) return;
    const k = p & (PAGE_CACHE_SLOTS - 1);
    this.page[k] = p;
    this.delta[k] = area.lastBase - p * PAGE;
  }

  clear(): void {
    this.page.fill(-1);
  }

  /** Forget the entries of pages [first, last]. */
  forgetPages(first: number, last: number): void {
    forgetPagesOf(this.page, first, last);
  }
}

/** Empty the slots of a direct-mapped page cache (`page`: the page per slot, -1 empty) that hold a page in [first, last]. */
function forgetPagesOf(page: Float64Array, first: number, last: number): void {
  const slots = page.length;
  if (last - first + 1 >= slots) {
    for (let k = 0; k < slots; k++) if (page[k] >= first && page[k] <= last) page[k] = -1;
    return;
  }
  for (let p = first; p <= last; p++) {
    const k = p & (slots - 1);
    if (page[k] === p) page[k] = -1;
  }
}

/**
 * A direct-mapped cache of objects by program page: for a page, an object that is the only live
 * object on its part of the page (`LiveObjects.holdsPageAlone`), so that `find` returns it for any
 * address there. Its range [lo, hi), the difference to add for its guest address, and its id.
 * An allocation event forgets the entries of the pages its objects cover (`forgetChangedPages`).
 */
class ObjectPageCache {
  readonly page: Float64Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly delta: Float64Array;
  readonly id: Int32Array;
  /** Whether some slot is filled (so that emptying an empty cache costs nothing). */
  private filled = false;

  constructor(block: K.ReplayBlock | null) {
    this.page = f64Slots(block, OBJECT_CACHE_SLOTS).fill(-1);
    this.lo = f64Slots(block, OBJECT_CACHE_SLOTS);
    this.hi = f64Slots(block, OBJECT_CACHE_SLOTS);
    this.delta = f64Slots(block, OBJECT_CACHE_SLOTS);
    this.id = i32Slots(block, OBJECT_CACHE_SLOTS);
  }

  /** Enter object `id` of `objects` for program page `page`, if it holds its part of the page alone. */
  enter(objects: LiveObjects, id: number, page: number): void {
    if (!objects.holdsPageAlone(id, page)) return;
    const k = page & (OBJECT_CACHE_SLOTS - 1);
    const lo = objects.objectStart(id);
    this.page[k] = page;
    this.lo[k] = lo;
    this.hi[k] = objects.objectEnd(id);
    this.delta[k] = objects.objectGva(id) - lo;
    this.id[k] = id;
    this.filled = true;
  }

  clear(): void {
    if (!this.filled) return;
    this.page.fill(-1);
    this.filled = false;
  }

  /** Forget the entries of pages [first, last]. */
  forgetPages(first: number, last: number): void {
    if (this.filled) forgetPagesOf(this.page, first, last);
  }
}

export interface TracedProgramOptions {
  costs: TraceCosts;
  /** Allocator tier of the program's own areas (0: the untyped tier, or DRAM under UCat). */
  programTier?: number;
  /**
   * Events before this one are fast-forwarded: allocation events as always, but only the first
   * access to each program page (so the page is placed, populated and counted); the others are
   * skipped and counted. For the warm-up of a trace (a server's start-up and its client's load
   * phase), which no measurement looks at. Default 0.
   */
  fastForwardEvents?: number;
  /**
   * Serve repeated accesses from the translations cached in `step` (the default). false sends
   * every event through the general path, which must give the same results (tests compare).
   */
  translationCaches?: boolean;
  /**
   * Serve the accesses of the cached translations in one WebAssembly call per run of them where
   * the access path offers it (`AccessPath.replayEvents`, the default); false keeps them in
   * TypeScript (`replayRange`). The results are the same (tests compare).
   */
  replayKernel?: boolean;
}

/** Module-local copies of the ops `step` compares (see the speed section of docs/machine.md). */
const OP_INSTR = TraceOp.Instr;
const OP_LOAD = TraceOp.Load;
const OP_STORE = TraceOp.Store;
const OP_MODIFY = TraceOp.Modify;
/** The ops that change the live objects: Malloc, Calloc, Realloc, Free, PosixMemalign, AlignedAlloc. */
const OP_FIRST_ALLOCATION = TraceOp.Malloc;
const OP_LAST_ALLOCATION = TraceOp.AlignedAlloc;

export class TracedProgram {
  readonly counters = new ReplayCounters();
  readonly header: TraceHeader;
  private readonly reader: TraceReader;
  private readonly objects = new LiveObjects();
  private readonly text: ProgramArea;
  private readonly data: ProgramArea;
  /** Requests the header promises when the trace carries no Marker events. */
  readonly headerRequests: number;
  private finished = false;
  private batch: TraceBatch | null = null;
  private position = 0;
  private readonly fastForwardEvents: number;
  /** Whether `step` serves accesses from the cached translations (TracedProgramOptions). */
  private readonly translationCaches: boolean;
  /** Whether the event being replayed is in the fast-forwarded start-up. */
  private fastForwarding = false;
  /** Guest pages the fast-forward has touched once. */
  private readonly fastPages = new PageMap(1024);

  constructor(
    private readonly malloc: GuestAllocator,
    kernel: ProgramAreaSource,
    private readonly path: AccessPath,
    source: TraceSource,
    readonly options: TracedProgramOptions,
  ) {
    this.reader = source.open();
    this.header = this.reader.header;
    const tier = options.programTier ?? 0;
    this.fastForwardEvents = options.fastForwardEvents ?? 0;
    this.translationCaches = options.translationCaches ?? true;
    const block = this.translationCaches && (options.replayKernel ?? true) && path.replayEvents !== undefined ? new K.ReplayBlock() : null;
    this.kernel = block;
    this.objectPages = new ObjectPageCache(block);
    this.dataPages = new PageCache(block);
    this.textPages = new PageCache(block);
    block?.setCaches({
      objectPage: this.objectPages.page,
      objectLo: this.objectPages.lo,
      objectHi: this.objectPages.hi,
      objectDelta: this.objectPages.delta,
      objectId: this.objectPages.id,
      dataPage: this.dataPages.page,
      dataDelta: this.dataPages.delta,
      textPage: this.textPages.page,
      textDelta: this.textPages.delta,
    });
    this.text = new ProgramArea(kernel, tier);
    this.data = new ProgramArea(kernel, tier);
    const r = Number(this.header.meta.requests);
    this.headerRequests = Number.isFinite(r) && r > 0 ? r : 0;
    startAsDoubles(this as unknown as Record<(typeof PROGRAM_DOUBLE_FIELDS)[number], number>, PROGRAM_DOUBLE_FIELDS);
  }

  get done(): boolean {
    return this.finished;
  }

  /** Total events the header announces (0 when it gives no counts). */
  get totalEvents(): number {
    let n = 0;
    for (const v of Object.values(this.header.counts)) n += v;
    return n;
  }

  /** Replay up to `maxEvents` events; returns how many ran. */
  step(maxEvents: number): number {
    let n = 0;
    while (n < maxEvents && !this.finished) {
      let batch = this.batch;
      if (batch === null || this.position >= batch.length) {
        batch = this.batch = this.reader.next();
        this.position = 0;
        if (batch === null) {
          this.finished = true;
          this.reader.close();
          break;
        }
      }
      // The batch's arrays stay valid until the reader's next call.
      // Whole events: the loop this replaces ran while n < maxEvents, one event at a time.
      const from = this.position;
      let to = Math.min(batch.length, from + Math.ceil(maxEvents - n));
      const fastForwardLeft = this.fastForwardEvents - (this.counters.events + n);
      if (fastForwardLeft > 0) {
        to = Math.min(to, from + Math.ceil(fastForwardLeft));
        this.fastForwarding = true;
        for (let i = from; i < to; i++) this.replay(batch.op[i], batch.addr[i], batch.size[i], batch.arg[i]);
        this.fastForwarding = false;
        this.forgetObjects();
      } else if (this.kernel !== null) {
        for (let at = from; at < to; at += K.BLOCK_EVENTS) this.replayInKernel(batch, at, Math.min(to, at + K.BLOCK_EVENTS));
      } else if (this.translationCaches) {
        for (let at = from; at < to; at += RANGE_EVENTS) this.replayRange(batch, at, Math.min(to, at + RANGE_EVENTS));
      } else {
        for (let i = from; i < to; i++) this.replay(batch.op[i], batch.addr[i], batch.size[i], batch.arg[i]);
      }
      this.position = to;
      n += to - from;
    }
    this.counters.events += n;
    return n;
  }

  /**
   * Cached translations of `replayRange`. They are refreshed after every event the general path
   * replays (`refreshCaches`), and only such events change objects or place pages.
   * - The object `LiveObjects.find` checks first (its last find): [objLo, objHi) and the
   *   difference to add for the guest address (lo = hi = -1: none). It serves an access wholly
   *   inside it exactly as `find` would.
   * - Objects by program page (`ObjectPageCache`): an object found on a page where no other live
   *   object overlaps it serves later accesses wholly inside it on that page as `find` would. Such
   *   an access makes it the object `find` checks first, as a `find` would have (`noteFound`).
   * - Program pages of the data and the text area, direct-mapped by page number: the page and the
   *   difference to add. A data page is entered only while no live object overlaps it (so `find`
   *   fails on it). Fetches never look for objects, so text pages stay; the data pages and the
   *   objects are forgotten at every allocation event.
   */
  private objLo = -1;
  private objHi = -1;
  private objDelta = 0;
  private readonly objectPages: ObjectPageCache;
  private readonly dataPages: PageCache;
  private readonly textPages: PageCache;
  /** The kernel block of `replayInKernel`, or null (`TracedProgramOptions.replayKernel`). */
  private readonly kernel: K.ReplayBlock | null;
  /** Events the access path's `replayEvents` served (the rest went through TypeScript); not a result. */
  kernelEvents = 0;

  /** After an event of the general path (op: its op): what `find` checks first, and the pages it placed or used. */
  private refreshCaches(op: number): void {
    const objects = this.objects;
    const id = objects.lastFound;
    if (id >= 0) {
      this.objLo = objects.objectStart(id);
      this.objHi = objects.objectEnd(id);
      this.objDelta = objects.objectGva(id) - this.objLo;
    } else this.objLo = this.objHi = -1;
    if (op >= OP_FIRST_ALLOCATION && op <= OP_LAST_ALLOCATION) this.forgetChangedPages();
    const dataPage = this.data.lastPage;
    if (dataPage >= 0 && !objects.pageHasObjects(dataPage)) this.dataPages.enterLast(this.data);
    this.textPages.enterLast(this.text);
  }

  /** The live objects changed anywhere: forget the caches that depend on them. */
  private forgetObjects(): void {
    this.dataPages.clear();
    this.objectPages.clear();
    this.objects.forgetChanges();
  }

  /**
   * The live objects changed in `objects`' changed range: forget the caches' entries for its
   * pages, the only ones whose objects changed (an object entered for a page elsewhere still holds
   * its part alone, a data page elsewhere still has no object).
   */
  private forgetChangedPages(): void {
    const objects = this.objects;
    if (objects.changedLo < objects.changedHi) {
      const first = Math.floor(objects.changedLo / PAGE);
      const last = Math.floor((objects.changedHi - 1) / PAGE);
      this.dataPages.forgetPages(first, last);
      this.objectPages.forgetPages(first, last);
    }
    objects.forgetChanges();
  }

  /**
   * Events [from, to) of `batch`, outside the fast-forward: an access by the program (not inside
   * an allocation call) that lies wholly inside a cached translation goes straight to the vCPU;
   * every other event goes through `replay`. Cycles are summed in the same order as `replay`
   * sums them, so the totals are the same to the last bit. One function on purpose, longer than
   * the others: the caches' arrays and the counters stay in locals for the whole loop, which a
   * split into a call per access would give up on the hottest path of a replay.
   */
  private replayRange(batch: TraceBatch, from: number, to: number): void {
    const ops = batch.op;
    const addrs = batch.addr;
    const sizes = batch.size;
    const args = batch.arg;
    const path = this.path;
    const c = this.counters;
    const objects = this.objects;
    // Between calls `objectGvaOf` or the fast-forward may have moved what `find` checks first.
    this.refreshCaches(OP_INSTR);
    let cycles = c.memoryCycles;
    let loads = 0;
    let stores = 0;
    let modifies = 0;
    let instructions = 0;
    let objectAccesses = 0;
    let programAccesses = 0;
    let objLo = this.objLo;
    let objHi = this.objHi;
    let objDelta = this.objDelta;
    // The object `find` checks first when it changed by a hit in the object page cache, else -1.
    let foundId = -1;
    const objPage = this.objectPages.page;
    const objPageLo = this.objectPages.lo;
    const objPageHi = this.objectPages.hi;
    const objPageDelta = this.objectPages.delta;
    const objPageId = this.objectPages.id;
    const dataPage = this.dataPages.page;
    const dataDelta = this.dataPages.delta;
    const textPage = this.textPages.page;
    const textDelta = this.textPages.delta;
    for (let i = from; i < to; i++) {
      const op = ops[i];
      if (op <= OP_MODIFY && args[i] === 0) {
        const a = addrs[i];
        const s = sizes[i];
        const bytes = s > 0 ? s : 1;
        const end = a + bytes;
        let gva = -1;
        if (op !== OP_INSTR && a >= objLo && end <= objHi) {
          objectAccesses++;
          gva = a + objDelta;
        } else {
          const page = Math.floor(a * INV_PAGE);
          const k = page & (OBJECT_CACHE_SLOTS - 1);
          if (op !== OP_INSTR && objPage[k] === page && a >= objPageLo[k] && end <= objPageHi[k]) {
            objectAccesses++;
            objLo = objPageLo[k];
            objHi = objPageHi[k];
            objDelta = objPageDelta[k];
            foundId = objPageId[k];
            gva = a + objDelta;
          } else if (end <= page * PAGE + PAGE) {
            const slot = page & (PAGE_CACHE_SLOTS - 1);
            if (op === OP_INSTR) {
              if (textPage[slot] === page) gva = a + textDelta[slot];
            } else if (dataPage[slot] === page) gva = a + dataDelta[slot];
            if (gva >= 0) programAccesses++;
          }
        }
        if (gva >= 0) {
          if (op === OP_STORE) {
            stores++;
            cycles += path.store(gva, bytes);
          } else {
            cycles += path.load(gva, bytes);
            if (op === OP_LOAD) loads++;
            else if (op === OP_INSTR) instructions++;
            else {
              modifies++;
              cycles += path.store(gva, bytes);
            }
          }
          continue;
        }
      }
      c.memoryCycles = cycles;
      if (foundId >= 0) objects.noteFound(foundId);
      foundId = -1;
      this.replayGeneral(op, addrs[i], sizes[i], args[i]);
      cycles = c.memoryCycles;
      objLo = this.objLo;
      objHi = this.objHi;
      objDelta = this.objDelta;
    }
    if (foundId >= 0) objects.noteFound(foundId);
    c.memoryCycles = cycles;
    c.loads += loads;
    c.stores += stores;
    c.modifies += modifies;
    c.instructions += instructions;
    c.objectAccesses += objectAccesses;
    c.programAccesses += programAccesses;
  }

  /**
   * Events [from, to) of `batch` (at most BLOCK_EVENTS) as `replayRange` replays them, in calls of
   * the access path's `replayEvents` (wasm/replay.ts): a call serves events up to the first one it
   * does not serve, which `replayRange` replays, and the next call goes on after it. After a call
   * that served only a few events (the events around are not its kind: a random stream that
   * misses the L1 DTLB, allocations), `replayRange` takes the next KERNEL_PAUSE events too, so
   * that the calls' fixed cost stays small; the results are the same either way. The replay's own
   * state goes in and out of the block around each call: what `find` checks first (as
   * `replayRange` refreshes it at its start), the cycle sum, and the call's counts.
   */
  private replayInKernel(batch: TraceBatch, from: number, to: number): void {
    const block = this.kernel as K.ReplayBlock;
    const path = this.path as Required<Pick<AccessPath, 'replayEvents'>>;
    const k = block.k;
    const c = this.counters;
    block.copyEvents(batch.op, batch.addr, batch.size, batch.arg, from, to);
    const n = to - from;
    for (let i = 0; i < n; ) {
      this.refreshCaches(OP_INSTR);
      k[K.K_OBJ_LO] = this.objLo;
      k[K.K_OBJ_HI] = this.objHi;
      k[K.K_OBJ_DELTA] = this.objDelta;
      k[K.K_FOUND_ID] = -1;
      k[K.K_CYCLES] = c.memoryCycles;
      const stop = path.replayEvents(block, i, n);
      if (stop > i) {
        this.kernelEvents += stop - i;
        this.takeKernelCounts(k);
      }
      if (stop >= n) return;
      const resume = stop - i < KERNEL_SHORT_RUN ? Math.min(n, stop + KERNEL_PAUSE) : stop + 1;
      this.replayRange(batch, from + stop, from + resume);
      i = resume;
    }
  }

  /** What a `replayEvents` call left in the block for the replay: its sum, its counts, and the object `find` checks first. */
  private takeKernelCounts(k: Float64Array): void {
    const c = this.counters;
    c.memoryCycles = k[K.K_CYCLES];
    c.loads += k[K.K_R_LOADS];
    c.stores += k[K.K_R_STORES];
    c.instructions += k[K.K_R_INSTRUCTIONS];
    c.objectAccesses += k[K.K_R_OBJECT];
    c.programAccesses += k[K.K_R_PROGRAM];
    // An object id, a small integer however the block holds it (see `asSmallInt`): stored as the
    // block's double, it turned LiveObjects' field into a double and gave it a new map.
    if (k[K.K_FOUND_ID] >= 0) this.objects.noteFound(asSmallInt(k[K.K_FOUND_ID]));
  }

  /** An event `replayRange` does not serve from its caches: the general path, then the caches refreshed. */
  private replayGeneral(op: number, addr: number, size: number, arg: number): void {
    this.replay(op, addr, size, arg);
    // An access that found its object (fetches look for none) enters it for its page.
    const objects = this.objects;
    if (op <= OP_MODIFY && op !== OP_INSTR && objects.foundId >= 0) this.objectPages.enter(objects, objects.foundId, Math.floor(addr / PAGE));
    this.refreshCaches(op);
  }

  private replay(op: number, addr: number, size: number, arg: number): void {
    const c = this.counters;
    if (op <= TraceOp.Modify && arg === 1) {
      c.allocatorAccesses++;
      if (this.objects.find(addr) < 0) {
        c.allocatorAccessesSkipped++;
        return;
      }
    }
    switch (op) {
      case TraceOp.Load:
        c.loads++;
        c.memoryCycles += this.access(addr, size, false);
        return;
      case TraceOp.Store:
        c.stores++;
        c.memoryCycles += this.access(addr, size, true);
        return;
      case TraceOp.Modify:
        c.modifies++;
        c.memoryCycles += this.access(addr, size, false);
        c.memoryCycles += this.repeat(size, true);
        return;
      case TraceOp.Instr:
        c.instructions++;
        c.memoryCycles += this.fetch(addr, size);
        return;
      case TraceOp.Malloc:
      case TraceOp.Calloc:
        this.allocate(addr, size, 0);
        return;
      case TraceOp.PosixMemalign:
      case TraceOp.AlignedAlloc:
        this.allocate(addr, size, arg);
        return;
      case TraceOp.Realloc:
        this.reallocate(addr, size, arg);
        return;
      case TraceOp.Free:
        this.release(addr);
        return;
      case TraceOp.Mmap:
        c.mmaps++;
        return;
      case TraceOp.Munmap:
        c.munmaps++;
        return;
      case TraceOp.Brk:
        c.brks++;
        return;
      case TraceOp.Marker:
        c.markers++;
        if (arg === MARKER_REPLY) c.replies++;
        return;
      default:
        throw new RangeError(`trace event with unknown op ${op}`);
    }
  }

  // The guest address and size of the last translated access, for Modify's store.
  private lastGva = 0;
  private lastSize = 0;

  /** Charge one data access at program address `addr`. */
  private access(addr: number, size: number, write: boolean): number {
    const c = this.counters;
    const objects = this.objects;
    const bytes = size > 0 ? size : 1;
    if (objects.find(addr) >= 0) {
      const id = objects.foundId;
      c.objectAccesses++;
      const end = objects.objectEnd(id);
      const inside = addr + bytes <= end ? bytes : end - addr;
      if (inside < bytes) c.clippedAccesses++;
      const gva = objects.objectGva(id) + (addr - objects.objectStart(id));
      this.lastGva = gva;
      this.lastSize = inside;
      return this.charge(gva, inside, write);
    }
    c.programAccesses++;
    return this.programAccess(this.data, addr, bytes, write);
  }

  /** The store half of a Modify: the bytes the load just read. */
  private repeat(size: number, write: boolean): number {
    void size;
    return this.charge(this.lastGva, this.lastSize, write);
  }

  /** One access through the vCPU, unless the fast-forward has touched its guest page already. */
  private charge(gva: number, size: number, write: boolean): number {
    if (this.fastForwarding) {
      const page = Math.floor(gva / PAGE);
      if (this.fastPages.get(page) >= 0) {
        this.counters.fastForwarded++;
        return 0;
      }
      this.fastPages.set(page, 1);
    }
    return write ? this.path.store(gva, size) : this.path.load(gva, size);
  }

  private fetch(addr: number, size: number): number {
    this.counters.programAccesses++;
    return this.programAccess(this.text, addr, size > 0 ? size : 1, false);
  }

  /** An access to the program's own pages; split where it crosses a program page. */
  private programAccess(area: ProgramArea, addr: number, bytes: number, write: boolean): number {
    const pageEnd = (Math.floor(addr / PAGE) + 1) * PAGE;
    const first = addr + bytes <= pageEnd ? bytes : pageEnd - addr;
    let gva = area.translate(addr);
    this.lastGva = gva;
    this.lastSize = first;
    let cycles = this.charge(gva, first, write);
    if (first < bytes) {
      gva = area.translate(pageEnd);
      cycles += this.charge(gva, bytes - first, write);
    }
    this.counters.textPages = this.text.pageCount;
    this.counters.dataPages = this.data.pageCount;
    return cycles;
  }

  private allocate(addr: number, bytes: number, alignment: number): void {
    const c = this.counters;
    if (addr === 0) return; // the call failed in the program: nothing to place
    c.allocations++;
    const stale = this.objects.idAt(addr);
    if (stale >= 0) {
      c.staleObjects++;
      this.drop(stale);
    }
    const size = bytes > 0 ? bytes : 1;
    const gva = alignment > 8 ? this.malloc.memalign(alignment, size, AllocHint.Default) : this.malloc.malloc(size, AllocHint.Default);
    this.objects.add(addr, size, gva);
    c.liveBytes += size;
    if (c.liveBytes > c.peakLiveBytes) c.peakLiveBytes = c.liveBytes;
  }

  private reallocate(addr: number, bytes: number, old: number): void {
    const c = this.counters;
    c.reallocs++;
    if (addr === 0) return; // failed realloc: the old block stays
    const id = old === 0 ? -1 : this.objects.idAt(old);
    if (id < 0) {
      if (old !== 0) c.unknownFrees++;
      this.allocate(addr, bytes, 0);
      c.allocations--;
      return;
    }
    // The program's copy (libc's memcpy) is in the trace as accesses; the guest allocator only
    // decides whether the block moves.
    const size = bytes > 0 ? bytes : 1;
    const oldGva = this.objects.objectGva(id);
    c.liveBytes -= this.objects.objectEnd(id) - this.objects.objectStart(id);
    this.objects.remove(id);
    const stale = this.objects.idAt(addr);
    if (stale >= 0) {
      c.staleObjects++;
      this.drop(stale);
    }
    const gva = this.malloc.realloc(oldGva, size, AllocHint.Default);
    this.objects.add(addr, size, gva);
    c.liveBytes += size;
    if (c.liveBytes > c.peakLiveBytes) c.peakLiveBytes = c.liveBytes;
  }

  private release(addr: number): void {
    const c = this.counters;
    if (addr === 0) return;
    const id = this.objects.idAt(addr);
    if (id < 0) {
      c.unknownFrees++;
      return;
    }
    c.frees++;
    this.drop(id);
  }

  private drop(id: number): void {
    this.counters.liveBytes -= this.objects.objectEnd(id) - this.objects.objectStart(id);
    this.malloc.free(this.objects.objectGva(id));
    this.objects.remove(id);
  }

  /** Live objects (tests and statistics). */
  get liveObjects(): number {
    return this.objects.live;
  }

  /** The guest address the program address `addr` maps to now (tests): object, else -1. */
  objectGvaOf(addr: number): number {
    const id = this.objects.find(addr);
    return id < 0 ? -1 : this.objects.objectGva(id) + (addr - this.objects.objectStart(id));
  }

  /** Compute cycles of the replay so far (see the header comment). */
  computeCycles(requests: number): number {
    const costs = this.options.costs;
    return this.header.withInstructions ? this.counters.instructions * costs.cyclesPerInstruction : requests * costs.cyclesPerRequest;
  }

  /**
   * Requests replayed so far: reply markers when the trace has them (a server answered a request),
   * else every marker, else the header's count once the trace is done.
   */
  get requests(): number {
    const c = this.counters;
    if (c.replies > 0) return c.replies;
    if (c.markers > 0) return c.markers;
    return this.finished ? this.headerRequests : 0;
  }
}
