/**
 * One physical core of the host: the translation structures (L1 and L2 TLB arrays, the paging-
 * structure caches of both dimensions, the nested TLB), the private data caches (L1D, L2), the
 * stream prefetcher, and the vCPU it is running. vCPUs scheduled on a core share all of these; the
 * last-level cache belongs to the machine (one per host, or one per cluster of cores).
 *
 * Tagging. Guest-linear and combined translations (the TLB arrays, the guest-dimension PSCs) are
 * tagged by VPID; guest-physical ones (the nested TLB, the EPT-dimension PSCs) by the EPT pointer
 * (Intel SDM vol. 3, 29.4: "VPID" and "EP4TA" tags; AMD tags by ASID). With `vpid` on, another VM's
 * entries survive a switch and compete for the same sets. With `vpid` off, the core flushes its
 * VPID-tagged structures on every switch between vCPUs, as a host without VPID must (the SDM's VPID
 * 0000H behaviour: linear and combined mappings are invalidated on VM entry and exit); entries
 * tagged by the EPT pointer survive either way. Other VM exits than switches are not modelled.
 *
 * A switch costs `cpu.vcpuSwitchCycles`, charged to the vCPU that comes in; the first vCPU on an
 * idle core pays nothing.
 */
import { PageSize } from '../base/units.ts';
import { arena } from './arena.ts';
import { DataCache } from './cache.ts';
import type { CpuPreset } from './cpu.ts';
import { TAG_SPAN, TranslationCache } from './tlb.ts';

/** One TLB array and the page sizes it holds. */
export interface TlbArray {
  cache: TranslationCache;
  sizes: PageSize[];
}

/**
 * Where a translation of each page size goes, worked out once per core: the array that keeps the
 * most of it (a 2 MiB translation goes to a 2 MiB array rather than being smashed into a 4 KiB
 * one; ties go to the first listed), and the size it is stored as there. `array[size]` is -1 when
 * no array holds this size or a smaller one.
 */
export interface FillTargets {
  array: Int8Array;
  size: Int8Array;
}

function buildArrays(prefix: string, configs: CpuPreset['l1Tlb']): TlbArray[] {
  return configs.map((c, i) => ({ cache: new TranslationCache(`${prefix}${i}`, c.entries, c.ways), sizes: [...c.sizes].sort() }));
}

function fillTargets(arrays: readonly TlbArray[]): FillTargets {
  const t: FillTargets = { array: new Int8Array(3).fill(-1), size: new Int8Array(3).fill(-1) };
  for (let size = 0; size < 3; size++) {
    for (let a = 0; a < arrays.length; a++) {
      const s = storedSize(arrays[a], size);
      if (s > t.size[size]) {
        t.size[size] = s;
        t.array[size] = a;
      }
    }
  }
  return t;
}

/** Largest size an array holds that is not larger than `size` (a 1G page "smashed" into 2M entries). */
function storedSize(a: TlbArray, size: PageSize): number {
  let best = -1;
  for (let i = 0; i < a.sizes.length; i++) if (a.sizes[i] <= size && a.sizes[i] > best) best = a.sizes[i];
  return best;
}

/** What a core needs from the vCPUs it runs (implemented by VCpu). */
export interface CoreResident {
  /** Address-space tag (1-based, unique per machine). */
  readonly tag: number;
  /** Leaving the core: close fast paths that assume this vCPU's entries are the most recent. */
  descheduled(): void;
  /** Entering the core: count the switch and its cost (and the flush when untagged). */
  noteSwitchIn(cycles: number, flushed: boolean): void;
  /** While running: the core dropped every translation (another vCPU's all-context flush); close the fast paths. */
  translationsDropped(): void;
}

/** Largest stride, in lines, the stride detector follows; strides stay within one 4 KiB page. */
const MAX_STRIDE_LINES = 16;
/** Lines per 4 KiB page: hardware prefetchers do not cross a physical 4 KiB page. */
const LINES_PER_PAGE = 64;
/** Its reciprocal: the page of a line by an exact multiplication instead of a division. */
const INV_LINES_PER_PAGE = 1 / LINES_PER_PAGE;
/**
 * The prefetcher's region in the arena, read by wasm/prefetch.ts: f64 at +0 the expected line
 * (see `Core.pfLine`); i32 at +8 the stream count, +12 the next stream to replace, +16 the
 * expected stream, then the byte offsets of the arrays: +20 last lines (f64), +24 pages (i32),
 * +28 strides (i32), +32 confirmations (u8), +36 buckets (i32[1024], 0 when the table is
 * scanned). The arrays follow the header.
 */
const PF_HEADER_BYTES = 64;
const PF_I32_STREAMS = 2;
const PF_I32_VICTIM = 3;
const PF_I32_EXPECTED_STREAM = 4;
const PF_I32_LAST = 5;
const PF_I32_PAGE = 6;
const PF_I32_STRIDE = 7;
const PF_I32_CONFIRMED = 8;
const PF_I32_BUCKETS = 9;
/** Buckets of the stream table's page index (see `Core.streamBuckets`). */
const STREAM_BUCKETS = 1024;
const STREAM_BUCKET_MASK = STREAM_BUCKETS - 1;

export class Core {
  readonly l1: TlbArray[];
  readonly l2: TlbArray[];
  readonly l1Fill: FillTargets;
  readonly l2Fill: FillTargets;
  /** Paging-structure caches indexed by level (2, 3, 4), per dimension. */
  readonly guestPsc: TranslationCache[];
  readonly hostPsc: TranslationCache[];
  readonly ntlb: TranslationCache;
  readonly l1d: DataCache | null;
  readonly l2cache: DataCache | null;
  /** The vCPU running now (null while idle). */
  current: CoreResident | null = null;
  /** Switches between two vCPUs on this core. */
  switches = 0;
  /** vCPUs attached to this core. */
  residents = 0;
  /** Structures tagged by VPID (flushed on a switch without VPID) and by EPT pointer. */
  private readonly vpidTagged: TranslationCache[];
  private readonly eptTagged: TranslationCache[];
  /**
   * Per tier, the line of the core's previous memory access (sequential vs random reads). In the
   * arena, as `usesTier` is: the WebAssembly access path (wasm/memory.ts) changes them too.
   */
  readonly lastTierLine: Float64Array;
  /** Whether this core has used each tier (the cores that use a tier share its bandwidth). */
  readonly usesTier: Uint8Array;
  // Stream prefetcher: per tracked stream, the last line, the stride in lines, and whether the
  // stride has been seen twice in a row (the stream is detected). In the arena, in one region
  // (`PF_*`), so that the WebAssembly access path (wasm/prefetch.ts) trains the same table.
  private readonly streams: number;
  /** Arena byte offset of the prefetcher's region (layout: `PF_*` below). */
  readonly prefetcherBase: number;
  private readonly streamLast: Float64Array;
  /** The 4 KiB page of each stream's last line (-1 when unused; host frames are below 2^28): the scan compares pages only. */
  private readonly streamPage: Int32Array;
  private readonly streamStride: Int32Array;
  private readonly streamConfirmed: Uint8Array;
  /**
   * The region's scalars: `pfLine[0]` is the line that continues the stream matched last
   * (`expectedStream`), or -1: the one-compare path of `prefetchCovers` for a line stream, set
   * only where a stream is alone in its bucket. `pfInt` holds the stream count, the next stream
   * to replace (round robin) and `expectedStream` (`PF_I32_*`).
   */
  private readonly pfLine: Float64Array;
  private readonly pfInt: Int32Array;
  /**
   * Index of the stream table by page, so a miss looks at the streams of its own page only instead
   * of scanning all of them: bucket `page & STREAM_BUCKET_MASK` holds a bit per stream whose page
   * falls in it (pages of different buckets never match). Each stream is in exactly one bucket,
   * its page's. The bits are visited lowest first, the order of the scan they replace. Used when
   * the table has at most 32 streams (one 32-bit word); a larger table is scanned.
   */
  private readonly streamBuckets: Int32Array;

  constructor(
    readonly index: number,
    readonly cpu: CpuPreset,
    readonly llc: DataCache | null,
    readonly vpid: boolean,
    tierCount: number,
  ) {
    this.l1 = buildArrays('l1tlb', cpu.l1Tlb);
    this.l2 = buildArrays('l2tlb', cpu.l2Tlb);
    this.l1Fill = fillTargets(this.l1);
    this.l2Fill = fillTargets(this.l2);
    const psc = (p: string) => [
      new TranslationCache(`${p}psc-unused0`, 0, 1),
      new TranslationCache(`${p}psc-unused1`, 0, 1),
      new TranslationCache(`${p}psc2`, cpu.psc.l2[0], cpu.psc.l2[1]),
      new TranslationCache(`${p}psc3`, cpu.psc.l3[0], cpu.psc.l3[1]),
      new TranslationCache(`${p}psc4`, cpu.psc.l4[0], cpu.psc.l4[1]),
    ];
    this.guestPsc = psc('g');
    this.hostPsc = psc('h');
    this.ntlb = new TranslationCache('ntlb', cpu.ntlb[0], cpu.ntlb[1]);
    this.l1d = cpu.l1d ? new DataCache('l1d', cpu.l1d.bytes, cpu.l1d.ways, cpu.l1d.latency) : null;
    this.l2cache = cpu.l2 ? new DataCache('l2', cpu.l2.bytes, cpu.l2.ways, cpu.l2.latency) : null;
    this.vpidTagged = [...this.l1.map((a) => a.cache), ...this.l2.map((a) => a.cache), ...this.guestPsc.slice(2)];
    this.eptTagged = [this.ntlb, ...this.hostPsc.slice(2)];
    const tierBytes = 9 * tierCount;
    const tierState = arena.alloc(tierBytes);
    arena.releaseWith(this, [tierState, tierBytes]);
    this.lastTierLine = new Float64Array(arena.memory.buffer, tierState, tierCount).fill(-2);
    this.usesTier = new Uint8Array(arena.memory.buffer, tierState + 8 * tierCount, tierCount);
    this.streams = cpu.prefetchStreams;
    const n = this.streams;
    const buckets = n <= 32 ? STREAM_BUCKETS : 0;
    // f64 last lines, then i32 pages, strides and buckets, then the u8 confirmations.
    const lastAt = PF_HEADER_BYTES;
    const pageAt = lastAt + 8 * n;
    const strideAt = pageAt + 4 * n;
    const bucketsAt = strideAt + 4 * n;
    const confirmedAt = bucketsAt + 4 * buckets;
    const bytes = confirmedAt + n;
    const base = arena.alloc(bytes);
    arena.releaseWith(this, [base, bytes]);
    this.prefetcherBase = base;
    const buf = arena.memory.buffer;
    this.pfLine = new Float64Array(buf, base, 1);
    this.pfInt = new Int32Array(buf, base, PF_HEADER_BYTES / 4);
    this.pfInt[PF_I32_STREAMS] = n;
    this.pfInt[PF_I32_LAST] = base + lastAt;
    this.pfInt[PF_I32_PAGE] = base + pageAt;
    this.pfInt[PF_I32_STRIDE] = base + strideAt;
    this.pfInt[PF_I32_CONFIRMED] = base + confirmedAt;
    this.pfInt[PF_I32_BUCKETS] = buckets > 0 ? base + bucketsAt : 0;
    this.pfLine[0] = -1;
    this.streamLast = new Float64Array(buf, base + lastAt, n).fill(-1);
    this.streamPage = new Int32Array(buf, base + pageAt, n).fill(-1);
    this.streamStride = new Int32Array(buf, base + strideAt, n);
    this.streamConfirmed = new Uint8Array(buf, base + confirmedAt, n);
    this.streamBuckets = new Int32Array(buf, base + bucketsAt, buckets);
    // Unused streams have page -1: they sit in the bucket of page -1 and never match a real page.
    for (let i = 0; i < n && buckets > 0; i++) this.streamBuckets[-1 & STREAM_BUCKET_MASK] |= 1 << i;
  }

  /**
   * Run `v` on this core from now on. Returns the cycles the switch costs (0 when `v` is already
   * running or the core was idle).
   */
  switchTo(v: CoreResident): number {
    const prev = this.current;
    if (prev === v) return 0;
    if (prev !== null) prev.descheduled();
    this.current = v;
    this.bindTags(v);
    if (prev === null) return 0;
    this.switches++;
    if (!this.vpid) for (const c of this.vpidTagged) c.flush();
    const cycles = this.cpu.vcpuSwitchCycles;
    v.noteSwitchIn(cycles, !this.vpid);
    return cycles;
  }

  /** Point every structure's lookups at `v`'s address space. */
  bindTags(v: CoreResident): void {
    const guestTag = this.vpid ? v.tag * TAG_SPAN : 0;
    for (const c of this.vpidTagged) c.tagBase = guestTag;
    const eptTag = v.tag * TAG_SPAN;
    for (const c of this.eptTagged) c.tagBase = eptTag;
  }

  /**
   * Run `fn` with the structures looking at `v`'s entries, whether or not `v` is running (an
   * invalidation the host or guest issues for a descheduled vCPU). Not for the access path.
   */
  asIfRunning(v: CoreResident, fn: () => void): void {
    const cur = this.current;
    this.bindTags(v);
    try {
      fn();
    } finally {
      if (cur !== null) this.bindTags(cur);
    }
  }

  /** Whether `v`'s VPID-tagged entries can be present (without VPID they go at every switch away). */
  holdsGuestEntriesOf(v: CoreResident): boolean {
    return this.vpid || this.current === v;
  }

  /** Drop `v`'s entries of every structure (single-context INVVPID + INVEPT). */
  dropEntriesOf(v: CoreResident): void {
    if (this.residents <= 1) {
      this.dropAll();
      return;
    }
    if (this.holdsGuestEntriesOf(v)) {
      const guestTag = this.vpid ? v.tag * TAG_SPAN : 0;
      for (const c of this.vpidTagged) c.flushTag(guestTag);
    }
    for (const c of this.eptTagged) c.flushTag(v.tag * TAG_SPAN);
  }

  /** Drop the guest-dimension PSC entries of `v` (INVLPG invalidates all PSC entries of the PCID). */
  dropGuestPscOf(v: CoreResident): void {
    if (!this.holdsGuestEntriesOf(v)) return;
    for (let L = 2; L <= 4; L++) {
      if (this.residents <= 1) this.guestPsc[L].flush();
      else this.guestPsc[L].flushTag(this.vpid ? v.tag * TAG_SPAN : 0);
    }
  }

  /** Every translation structure of the core, all address spaces (INVEPT all-context). */
  dropAll(): void {
    for (const c of this.vpidTagged) c.flush();
    for (const c of this.eptTagged) c.flush();
    // The running vCPU's fast paths stand for entries just dropped, whoever issued the flush.
    this.current?.translationsDropped();
  }

  /**
   * Train the stream prefetcher on a data line that missed every cache; returns whether a
   * detected stream covered it (next-line and constant-stride streams within one 4 KiB page, the
   * way the L2 streamer and the stride prefetcher work). A line equal to a stream's last line
   * (a repeat) changes nothing. Typed arrays only; a stream not matched by any entry replaces the
   * oldest allocated one (round robin, deterministic).
   */
  prefetchCovers(line: number): boolean {
    // The next line of the stream that matched last, while that stream is alone in its page's
    // bucket: what the bucket path below decides for it, without the lookup (see `pfLine`).
    if (line === this.pfLine[0]) return this.advance(this.pfInt[PF_I32_EXPECTED_STREAM], line);
    return this.coversByBucket(line);
  }

  /**
   * Stream `i`, alone in its bucket, continues at its stride with `line`: the line is covered if
   * the stride was confirmed before, and now it is. Also remember the line that continues the
   * stream after this one, if it stays in the same 4 KiB page (a stride never crosses it;
   * `line & 63`, the line's place in its page, is exact for line numbers below 2^53).
   * `trainStreams`, the only place that changes a bucket or a stride, forgets it.
   */
  private advance(i: number, line: number): boolean {
    this.streamLast[i] = line;
    const covered = this.streamConfirmed[i] === 1;
    this.streamConfirmed[i] = 1;
    const stride = this.streamStride[i];
    const inPage = (line & (LINES_PER_PAGE - 1)) + stride;
    this.pfLine[0] = inPage >= 0 && inPage < LINES_PER_PAGE ? line + stride : -1;
    this.pfInt[PF_I32_EXPECTED_STREAM] = i;
    return covered;
  }

  /** The line that continues the stream matched last, or -1 (see `pfLine`). */
  get nextExpectedLine(): number {
    return this.pfLine[0];
  }

  /**
   * The stream matched last continued, line after expected line, up to `line`: the state
   * `prefetchCovers` leaves after those lines (each covered; the stream stays confirmed). For a
   * caller that decided the lines in advance (`VCpu`'s stream run) and counts them itself.
   */
  continueExpected(line: number): void {
    this.advance(this.pfInt[PF_I32_EXPECTED_STREAM], line);
  }

  /** `prefetchCovers` past the expected line. */
  private coversByBucket(line: number): boolean {
    // The common case, small enough to be inlined: the line's bucket holds one stream, of this
    // page, and the line continues its stride. The scan would visit that stream alone and decide
    // the same.
    const buckets = this.streamBuckets;
    if (buckets.length > 0) {
      const page = Math.floor(line * INV_LINES_PER_PAGE) | 0;
      const m = buckets[page & STREAM_BUCKET_MASK];
      if ((m & (m - 1)) === 0 && m !== 0) {
        const i = 31 - Math.clz32(m);
        const d = line - this.streamLast[i];
        if (this.streamPage[i] === page && d === this.streamStride[i] && d !== 0) return this.advance(i, line);
      }
    }
    return this.trainStreams(line);
  }

  /** The body of `prefetchCovers`: every stream of the line's page, then a new stream. */
  private trainStreams(line: number): boolean {
    this.pfLine[0] = -1;
    const streams = this.streams;
    if (streams === 0) return false;
    const last = this.streamLast;
    const pages = this.streamPage;
    const page = Math.floor(line * INV_LINES_PER_PAGE) | 0;
    let retrain = -1;
    const indexed = streams <= 32;
    // The candidate streams: those of the page's bucket, lowest index first; else every stream.
    let candidates = indexed ? this.streamBuckets[page & STREAM_BUCKET_MASK] : 0;
    for (let i = indexed ? nextStream(candidates) : 0; i < streams; i = indexed ? nextStream(candidates) : i + 1) {
      if (indexed) candidates &= candidates - 1;
      if (pages[i] !== page) continue;
      const d = line - last[i];
      // A repeat of the stream's last line (no cache model) is no new request: nothing changes.
      if (d === 0) return false;
      if (d === this.streamStride[i]) {
        last[i] = line;
        const covered = this.streamConfirmed[i] === 1;
        this.streamConfirmed[i] = 1;
        return covered;
      }
      if (retrain < 0 && d >= -MAX_STRIDE_LINES && d <= MAX_STRIDE_LINES) retrain = i;
    }
    if (retrain >= 0) {
      // Same page, new stride: the next line at this stride confirms it.
      this.streamStride[retrain] = line - last[retrain];
      this.streamConfirmed[retrain] = 0;
      last[retrain] = line;
      return false;
    }
    const v = this.pfInt[PF_I32_VICTIM];
    this.pfInt[PF_I32_VICTIM] = v + 1 === streams ? 0 : v + 1;
    if (indexed) {
      const bit = 1 << v;
      this.streamBuckets[pages[v] & STREAM_BUCKET_MASK] &= ~bit;
      this.streamBuckets[page & STREAM_BUCKET_MASK] |= bit;
    }
    last[v] = line;
    pages[v] = page;
    this.streamStride[v] = 0;
    this.streamConfirmed[v] = 0;
    return false;
  }

}

/** Index of the lowest set bit of `mask`, or 32 when none is set (past any stream index). */
function nextStream(mask: number): number {
  return mask === 0 ? 32 : 31 - Math.clz32(mask & -mask);
}
