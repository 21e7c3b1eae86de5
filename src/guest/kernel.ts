/**
 * The guest kernel's memory: physical page allocators, the guest page table and an OSv-style single
 * address space (see layout.ts). It is the guest's side of two seams:
 * - `TableFrameSource`: the guest page table's own pages come from the guest's page allocator
 *   (guest frame numbers; the DRAM tier first under UCat, since a 2-D walk touching NVM would cost
 *   ~300 ns per reference, ucat.md §1.4);
 * - `guestPageFault(gva, write)`: the walker calls it when the guest table has no leaf; it maps the
 *   page and returns the cycles the fault cost.
 *
 * The guest never reads host state: it knows its memory map and its own tables, nothing else.
 *
 * Mapping policy
 * - Linear maps. OSv maps all RAM at boot with the largest page that fits (`linear_map` in
 *   core/mmu.cc: 2 MiB where the 2 MiB page is aligned and wholly RAM, else 4 KiB; never 1 GiB,
 *   ucat.md §2.1). We build those leaves on first touch instead of at boot: the leaf chosen for an
 *   address is the same one `linear_map` would have made, and the fill costs 0 cycles because OSv
 *   paid for it at boot. Only the page-table pages of untouched parts are saved. Knob
 *   `linearMapLargePages: false` maps them with 4 KiB leaves (a guest without large pages).
 * - mmap area. Anonymous mappings are populated on fault, as `vma::fault()` does (core/mmu.cc): a
 *   whole 2 MiB page when the faulting address lies in the 2 MiB-aligned interior of the mapping
 *   and large pages are on (knob `largePages`; off = every mapping behaves as `mmap_small`), else
 *   4 KiB. When no 2 MiB frame is free, populate falls back to 4 KiB frames (OSv's populate does
 *   the same when `alloc_huge_page` fails). OSv's malloc passes `mmap_populate` and so populates at
 *   malloc time; we populate on first touch, which gives the same leaves for every touched page
 *   and charges the work to the access that needs it. The frames are committed at mmap time, so a
 *   fault never fails for want of memory the mapping was promised.
 */
import { OutOfMemoryError } from './allocator.ts';
import type { TableFrameSource } from '../hw/frames.ts';
import type { TlbInvalidator, TranslationFaultHandler } from '../hw/faults.ts';
import { PageTable, Translation } from '../hw/pagetable.ts';
import { PageSize, PAGE_2M, PAGE_4K, formatBytes } from '../base/units.ts';
import { InvariantError } from '../base/assert.ts';
import { MEM_TYPE_COUNT, MEM_TYPE_NAMES, MemType, RegionTable, type MemoryMap } from './memmap.ts';
import { CHUNK_FRAMES } from './pagerange.ts';
import { TierPages } from './tier.ts';
import { MMAP_BASE, MMAP_END, areaOf, inMmapArea, linearGpa } from './layout.ts';

/**
 * Cost of a guest page fault, in cycles: `trapCycles` plus zero-filling the new page at
 * `zeroBytesPerCycle` of its memory type. Estimates, not measurements of OSv:
 * - trap: exception entry and IRET inside the guest (no VM exit under EPT: a few hundred cycles) plus
 *   OSv's handler (VMA lookup, populate walk, frame allocation): about 1,000 cycles in all.
 * - zero-fill DRAM: 4 B/cycle, one core's streaming-store bandwidth of ~10 GB/s at 2.5 GHz
 *   (4 KiB: ~1,000 cycles; 2 MiB: ~524,000 cycles).
 * - zero-fill NVM: 1 B/cycle, Optane's ~2.3 GB/s write bandwidth per DIMM (Yang et al., FAST'20,
 *   ucat.md §3.1) at 2.5 GHz.
 * Linear-map fills cost 0 (OSv built the linear map at boot).
 */
export interface FaultCosts {
  trapCycles: number;
  /** Bytes zeroed per cycle, indexed by MemType (dram, nvm, untyped). */
  zeroBytesPerCycle: readonly number[];
}

export const DEFAULT_FAULT_COSTS: FaultCosts = {
  trapCycles: 1000,
  zeroBytesPerCycle: [4, 1, 4],
};

export interface GuestKernelOptions {
  /** UCat: one page allocator and one 2 MiB allocator per memory tier; OSv: one untyped allocator. */
  tiered: boolean;
  /** 2 MiB leaves in the aligned interior of anonymous mappings (OSv `vma::fault`). */
  largePages: boolean;
  /** 2 MiB leaves in the linear maps where they fit (OSv `linear_map`). */
  linearMapLargePages: boolean;
  faultCosts?: FaultCosts;
}

/** Allocator tiers under UCat. Under OSv there is one tier (0) holding all RAM. */
export const enum Tier {
  Dram = 0,
  Nvm = 1,
}

/** Linux's `tlb_single_page_flush_ceiling`: above this many pages an unmap flushes everything. */
const SINGLE_FLUSH_CEILING = 33;

export class GuestKernel implements TableFrameSource, Pick<TranslationFaultHandler, 'guestPageFault'> {
  readonly regions: RegionTable;
  readonly tiers: TierPages[];
  /** Allocator tier of each region. */
  private readonly tierOfRegion: Int8Array;
  readonly pageTable: PageTable;
  readonly options: Readonly<GuestKernelOptions>;
  private readonly costs: FaultCosts;
  private tlb: TlbInvalidator | null = null;
  private readonly tr = new Translation();

  // Anonymous mappings (VMAs), struct of arrays indexed by VMA id.
  private vmaStart = new Float64Array(64);
  private vmaLen = new Float64Array(64);
  private vmaTier = new Int8Array(64);
  /** Frames still promised to the VMA (not yet populated). */
  private vmaCommitted = new Float64Array(64);
  /** Leaves the VMA has in the page table. */
  private vmaLeaves = new Float64Array(64);
  private vmaCount = 0;
  private freeVmas: number[] = [];
  /** 2 MiB virtual slot of the mmap area -> VMA id. VMAs never share a slot. */
  private readonly vmaBySlot = new Map<number, number>();
  /** Slots whose 2 MiB populate failed and that are now mapped with 4 KiB leaves. */
  private readonly degraded = new Set<number>();
  private mmapNext = MMAP_BASE;

  // Owned counters.
  faults = 0;
  faultCycles = 0;
  spuriousFaults = 0;
  linearMapFills = 0;
  mmapLeaves4K = 0;
  mmapLeaves2M = 0;
  /** 2 MiB populates that found no free 2 MiB frame and used 4 KiB frames instead. */
  hugeFallbacks = 0;
  /** Page-table pages that could not come from the preferred tier. */
  pageTableFallbacks = 0;
  readonly pageTableFramesByType = [0, 0, 0];
  /** Frames backing populated anonymous mappings, per allocator tier. */
  readonly mmapFramesByTier: number[];
  tlbPageInvalidations = 0;
  tlbFlushes = 0;
  /** Where the last populate put its page (the zero-fill touched all of it), for the back-end. */
  lastPopulatedGpa = -1;
  lastPopulatedBytes = 0;

  constructor(map: MemoryMap, options: GuestKernelOptions) {
    this.options = { ...options };
    this.costs = options.faultCosts ?? DEFAULT_FAULT_COSTS;
    this.regions = new RegionTable(map);
    this.tierOfRegion = new Int8Array(this.regions.count);
    if (options.tiered) {
      const dram: number[] = [];
      const nvm: number[] = [];
      for (let i = 0; i < this.regions.count; i++) {
        // An untyped region carries no heterogeneity information: it joins the fast tier.
        const isNvm = this.regions.type[i] === MemType.Nvm;
        (isNvm ? nvm : dram).push(i);
        this.tierOfRegion[i] = isNvm ? Tier.Nvm : Tier.Dram;
      }
      this.tiers = [new TierPages('dram', this.regions, dram, true), new TierPages('nvm', this.regions, nvm, true)];
    } else {
      const all: number[] = [];
      for (let i = 0; i < this.regions.count; i++) all.push(i);
      this.tiers = [new TierPages('all', this.regions, all, false)];
    }
    this.mmapFramesByTier = this.tiers.map(() => 0);
    this.pageTable = new PageTable(this);
  }

  /** Attach the vCPU's TLB so unmaps invalidate it (setup phase; null detaches). */
  attachTlb(tlb: TlbInvalidator | null): void {
    this.tlb = tlb;
  }

  get totalBytes(): number {
    return this.regions.totalBytes;
  }

  tierOfFrame(gfn: number): number {
    const r = this.regions.indexOf(gfn);
    if (r < 0) throw new InvariantError(`frame ${gfn} is not guest RAM`);
    return this.tierOfRegion[r];
  }

  memTypeOfFrame(gfn: number): MemType {
    return this.regions.type[this.regions.indexOf(gfn)] as MemType;
  }

  // ---- physical frames, for the allocators -------------------------------------------------

  /** `n` contiguous frames of `tier` (first frame), or -1 when the tier cannot give them. */
  allocFrames(tier: number, n: number): number {
    const t = this.tiers[tier];
    if (t.available() < n) return -1;
    return t.allocPages(n);
  }

  /** `n` frames of `tier` whose first frame f has (f + offset) % align === 0, or -1. */
  allocFramesAligned(tier: number, n: number, align: number, offset: number): number {
    const t = this.tiers[tier];
    if (t.available() < n) return -1;
    return t.allocAligned(n, align, offset);
  }

  freeFrames(gfn: number, n: number): void {
    this.tiers[this.tierOfFrame(gfn)].freePages(gfn, n);
  }

  // ---- TableFrameSource ---------------------------------------------------------------------

  allocTableFrame(): number {
    for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t];
      // Commitments are promises to populate; a table page may use a promised frame as a last resort.
      if (tier.freeFrames === 0) continue;
      const g = tier.allocPages(1);
      if (g < 0) continue;
      if (t !== 0) this.pageTableFallbacks++;
      this.pageTableFramesByType[this.memTypeOfFrame(g)]++;
      return g;
    }
    throw new OutOfMemoryError('guest: no free frame left for a page-table page');
  }

  freeTableFrame(frame: number): void {
    this.pageTableFramesByType[this.memTypeOfFrame(frame)]--;
    this.freeFrames(frame, 1);
  }

  // ---- anonymous mappings (mmap area) --------------------------------------------------------

  /**
   * Reserve an anonymous mapping of `bytes` (rounded to 4 KiB) backed by `tier`, placed so that
   * (start + offset) is a multiple of `align` (2 MiB for large mappings, as OSv's `find_hole`
   * does). Frames are committed now and populated on fault. Returns the start, or -1 when the tier
   * cannot promise the frames. Virtual addresses are never reused (the area spans 32 TiB).
   */
  mmap(bytes: number, tier: number, align = PAGE_2M, offset = 0): number {
    const len = Math.ceil(bytes / PAGE_4K) * PAGE_4K;
    const frames = len / PAGE_4K;
    if (this.tiers[tier].available() < frames) return -1;
    let start = Math.ceil((this.mmapNext + offset) / align) * align - offset;
    if (start < this.mmapNext) start += align;
    if (start + len > MMAP_END) throw new OutOfMemoryError('guest: mmap area exhausted');
    let id = this.freeVmas.pop();
    if (id === undefined) {
      id = this.vmaCount++;
      if (id >= this.vmaStart.length) this.growVmas();
    }
    this.vmaStart[id] = start;
    this.vmaLen[id] = len;
    this.vmaTier[id] = tier;
    this.vmaCommitted[id] = frames;
    this.vmaLeaves[id] = 0;
    this.tiers[tier].committed += frames;
    const s0 = slotOf(start);
    const s1 = slotOf(start + len - 1);
    for (let s = s0; s <= s1; s++) this.vmaBySlot.set(s, id);
    this.mmapNext = (s1 + 1) * PAGE_2M + MMAP_BASE;
    return start;
  }

  /** Length in bytes of the mapping starting at `start`, or -1. */
  mappingLength(start: number): number {
    const id = this.vmaBySlot.get(slotOf(start));
    return id !== undefined && this.vmaStart[id] === start ? this.vmaLen[id] : -1;
  }

  /** Remove the mapping starting at `start`: unmap its leaves, free its frames, drop its promise. */
  munmap(start: number): void {
    const id = this.vmaBySlot.get(slotOf(start));
    if (id === undefined || this.vmaStart[id] !== start) throw new InvariantError(`munmap of 0x${start.toString(16)}: no mapping starts there`);
    const end = start + this.vmaLen[id];
    const perPage = this.tlb !== null && this.vmaLeaves[id] <= SINGLE_FLUSH_CEILING;
    const tr = this.tr;
    const pt = this.pageTable;
    if (this.vmaLeaves[id] > 0) {
      for (let a = Math.floor(start / PAGE_2M) * PAGE_2M; a < end; a += PAGE_2M) {
        if (pt.lookup(a, tr) && tr.size === PageSize.Size2M) {
          const frame = tr.frame;
          pt.unmap(a);
          this.tiers[this.tierOfFrame(frame)].freeHuge(frame);
          this.mmapFramesByTier[this.tierOfFrame(frame)] -= CHUNK_FRAMES;
          this.mmapLeaves2M--;
          if (perPage) this.invalidate(a);
          continue;
        }
        const lo = Math.max(a, start);
        const hi = Math.min(a + PAGE_2M, end);
        for (let p = lo; p < hi; p += PAGE_4K) {
          if (!pt.lookup(p, tr)) continue;
          const frame = tr.frame;
          pt.unmap(p);
          const t = this.tierOfFrame(frame);
          this.tiers[t].freePages(frame, 1);
          this.mmapFramesByTier[t]--;
          this.mmapLeaves4K--;
          if (perPage) this.invalidate(p);
        }
      }
      if (this.tlb !== null && !perPage) {
        this.tlb.flushVm();
        this.tlbFlushes++;
      }
    }
    this.tiers[this.vmaTier[id]].committed -= this.vmaCommitted[id];
    const s1 = slotOf(end - 1);
    for (let s = slotOf(start); s <= s1; s++) {
      this.vmaBySlot.delete(s);
      this.degraded.delete(s);
    }
    this.vmaLen[id] = 0;
    this.freeVmas.push(id);
  }

  private invalidate(gva: number): void {
    this.tlb!.invalidatePage(gva);
    this.tlbPageInvalidations++;
  }

  private growVmas(): void {
    const n = this.vmaStart.length * 2;
    const f = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.vmaStart = f(this.vmaStart);
    this.vmaLen = f(this.vmaLen);
    this.vmaCommitted = f(this.vmaCommitted);
    this.vmaLeaves = f(this.vmaLeaves);
    const t = new Int8Array(n);
    t.set(this.vmaTier);
    this.vmaTier = t;
  }

  // ---- faults --------------------------------------------------------------------------------

  /**
   * Make `gva` accessible and return the cycles that took. Throws for an address outside every
   * mapping (the guest would crash: a bug in the caller, not a user error).
   */
  guestPageFault(gva: number, write: boolean): number {
    void write; // every guest leaf is writable: OSv maps its heap and anonymous memory read-write
    if (areaOf(gva) >= 0) return this.fillLinear(gva);
    if (inMmapArea(gva)) return this.populate(gva);
    throw new InvariantError(`guest page fault at 0x${gva.toString(16)}, outside every mapping`);
  }

  private fillLinear(gva: number): number {
    const gpa = linearGpa(gva);
    const gfn = Math.floor(gpa / PAGE_4K);
    const r = this.regions.indexOf(gfn);
    if (r < 0) throw new InvariantError(`guest page fault at 0x${gva.toString(16)}: guest-physical 0x${gpa.toString(16)} is not RAM`);
    const pt = this.pageTable;
    if (pt.lookup(gva, this.tr)) {
      this.spuriousFaults++;
      return 0;
    }
    const c = Math.floor(gfn / CHUNK_FRAMES) * CHUNK_FRAMES;
    if (this.options.linearMapLargePages && this.regions.contains(r, c, CHUNK_FRAMES)) {
      pt.map(Math.floor(gva / PAGE_2M) * PAGE_2M, c, PageSize.Size2M, true);
    } else {
      pt.map(Math.floor(gva / PAGE_4K) * PAGE_4K, gfn, PageSize.Size4K, true);
    }
    this.linearMapFills++;
    return 0;
  }

  private populate(gva: number): number {
    const slot = slotOf(gva);
    const id = this.vmaBySlot.get(slot);
    if (id === undefined || gva < this.vmaStart[id] || gva >= this.vmaStart[id] + this.vmaLen[id])
      throw new InvariantError(`guest page fault at 0x${gva.toString(16)}, outside every mapping`);
    const pt = this.pageTable;
    if (pt.lookup(gva, this.tr)) {
      this.spuriousFaults++;
      this.faults++;
      this.faultCycles += this.costs.trapCycles;
      return this.costs.trapCycles;
    }
    const tier = this.vmaTier[id];
    const start = this.vmaStart[id];
    const end = start + this.vmaLen[id];
    const p2 = Math.floor(gva / PAGE_2M) * PAGE_2M;
    let frame = -1;
    let frames = 1;
    if (this.options.largePages && p2 >= start && p2 + PAGE_2M <= end && !this.degraded.has(slot)) {
      frame = this.tiers[tier].allocHuge();
      if (frame >= 0) {
        frames = CHUNK_FRAMES;
        pt.map(p2, frame, PageSize.Size2M, true);
        this.mmapLeaves2M++;
      } else {
        this.hugeFallbacks++;
        this.degraded.add(slot);
      }
    }
    if (frame < 0) {
      frame = this.tiers[tier].allocPages(1);
      // Frames were committed, but page-table pages may have used them up: any tier will do.
      for (let t = 0; frame < 0 && t < this.tiers.length; t++) frame = this.tiers[t].allocPages(1);
      if (frame < 0) throw new OutOfMemoryError(`guest: no frame to populate 0x${gva.toString(16)}`);
      pt.map(Math.floor(gva / PAGE_4K) * PAGE_4K, frame, PageSize.Size4K, true);
      this.mmapLeaves4K++;
    }
    const promised = Math.min(frames, this.vmaCommitted[id]);
    this.vmaCommitted[id] -= promised;
    this.tiers[tier].committed -= promised;
    this.vmaLeaves[id]++;
    const t = this.tierOfFrame(frame);
    this.mmapFramesByTier[t] += frames;
    const bytes = frames * PAGE_4K;
    const cycles = this.costs.trapCycles + Math.ceil(bytes / this.costs.zeroBytesPerCycle[this.memTypeOfFrame(frame)]);
    this.lastPopulatedGpa = frame * PAGE_4K;
    this.lastPopulatedBytes = bytes;
    this.faults++;
    this.faultCycles += cycles;
    return cycles;
  }

  // ---- statistics ----------------------------------------------------------------------------

  /** Mapping and memory statistics, as a plain object. */
  mappingStats(): KernelStats {
    const pt = this.pageTable;
    const free = [0, 0, 0];
    for (const t of this.tiers) t.freeFramesByType(free, this.regions);
    const memory = {} as KernelStats['memory'];
    for (let m = 0; m < MEM_TYPE_COUNT; m++) {
      const total = this.regions.bytesByType[m];
      memory[MEM_TYPE_NAMES[m]] = { totalBytes: total, freeBytes: free[m] * PAGE_4K, usedBytes: total - free[m] * PAGE_4K, pageTableBytes: this.pageTableFramesByType[m] * PAGE_4K };
    }
    return {
      pageTablePages: pt.liveTables,
      pageTableBytes: pt.liveTables * PAGE_4K,
      leaves4K: pt.leaves[PageSize.Size4K],
      leaves2M: pt.leaves[PageSize.Size2M],
      linearLeaves4K: pt.leaves[PageSize.Size4K] - this.mmapLeaves4K,
      linearLeaves2M: pt.leaves[PageSize.Size2M] - this.mmapLeaves2M,
      mmapLeaves4K: this.mmapLeaves4K,
      mmapLeaves2M: this.mmapLeaves2M,
      faults: this.faults,
      faultCycles: this.faultCycles,
      spuriousFaults: this.spuriousFaults,
      linearMapFills: this.linearMapFills,
      hugeFallbacks: this.hugeFallbacks,
      pageTableFallbacks: this.pageTableFallbacks,
      liveMappings: this.vmaCount - this.freeVmas.length,
      tlbPageInvalidations: this.tlbPageInvalidations,
      tlbFlushes: this.tlbFlushes,
      memory,
    };
  }

  /** Whole-structure checks (tests): allocators consistent, commitments balance. */
  checkInvariants(): void {
    for (const t of this.tiers) {
      t.ranges.checkInvariants();
      if (t.committed < 0 || t.committed > t.freeFrames) throw new InvariantError(`tier ${t.name}: committed ${t.committed} of ${t.freeFrames} free frames`);
    }
  }

  describe(): string {
    return this.tiers.map((t) => `${t.name} ${formatBytes(t.totalFrames * PAGE_4K)}`).join(', ');
  }
}

function slotOf(gva: number): number {
  return Math.floor((gva - MMAP_BASE) / PAGE_2M);
}

export interface MemoryTypeStats {
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  pageTableBytes: number;
}

export interface KernelStats {
  pageTablePages: number;
  pageTableBytes: number;
  leaves4K: number;
  leaves2M: number;
  linearLeaves4K: number;
  linearLeaves2M: number;
  mmapLeaves4K: number;
  mmapLeaves2M: number;
  faults: number;
  faultCycles: number;
  spuriousFaults: number;
  linearMapFills: number;
  hugeFallbacks: number;
  pageTableFallbacks: number;
  liveMappings: number;
  tlbPageInvalidations: number;
  tlbFlushes: number;
  memory: Record<'dram' | 'nvm' | 'untyped', MemoryTypeStats>;
}
