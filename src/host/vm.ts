/**
 * One VM as the host sees it: guest-physical regions, each backed by a tier (or untyped), an EPT
 * whose table pages are real host frames, lazy backing on EPT violations, copy-on-write for frames
 * shared with other VMs, and the counters that say what the VM holds.
 *
 * Contract (the back-end seam, DESIGN.md): the guest learns its memory only from `bootMemoryMap()`;
 * at run time the walker calls `eptViolation(gpa, write)` when the EPT has no present leaf for a
 * guest-physical address, or a write hits a read-only leaf; the VM makes the access possible and
 * returns the cycles it cost. Whenever the VM changes or removes a leaf that was present, it calls
 * `flushVm()` on the registered TlbInvalidator (INVEPT single-context) and counts it.
 *
 * Lazy backing rule (host side of "a 2 MiB EPT leaf exactly when guest and host both allow it"):
 * a fault at `gpa` is backed by a 2 MiB frame when
 *   1. the whole 2 MiB-aligned range around `gpa` lies inside one region,
 *   2. the host policy allows huge backing for that region (THP mode 'always', or 'madvise' and the
 *      region asked for it, like MADV_HUGEPAGE on the VMM's guest RAM),
 *   3. no 4 KiB leaf already maps part of that 2 MiB range, and
 *   4. the tier has a free 2 MiB frame;
 * otherwise by a 4 KiB frame. Tiers are tried in order: a typed region's own tier first, then the
 * host's fallback order; an untyped region follows the fallback order (DRAM first, then NVM, as a
 * tier-unaware hypervisor fills memory). In each tier a 2 MiB frame is tried before a 4 KiB one, so
 * the tier wins over the page size. Backing from a tier other than the first is a counted fallback.
 * This rule is our reconstruction of UCat's back-end (HMvisor style, research/ucat.md §1.4), with
 * KVM's rule that a 2 MiB EPT leaf needs both a 2 MiB host mapping and a 2 MiB-aligned GPA range
 * inside one memslot (`kvm_mmu_max_mapping_level`).
 */
import { InvariantError } from '../base/assert.ts';
import { UserError } from '../base/errors.ts';
import { startAsDoubles } from '../base/fields.ts';
import { PageSize } from '../base/units.ts';
import type { TlbInvalidator } from '../hw/faults.ts';
import type { TableFrameSource } from '../hw/frames.ts';
import { ENTRIES as TABLE_ENTRIES, LEVELS as TABLE_LEVELS, LEVEL_SPAN as TABLE_LEVEL_SPAN, PageTable, PteFlag, Translation } from '../hw/pagetable.ts';
import type { ResolvedHostCosts } from './costs.ts';
import { HOST_CONSTANTS, HostMemory, HostMemoryExhaustedError } from './frames.ts';
import { MemoryMapFlag, type MemoryMapEntry } from './memmap.ts';

// Module-local copies of constants (see HOST_CONSTANTS), the EPT's too.
const { PAGE_4K, PAGE_2M, ZERO_FINGERPRINT, SIZE_4K, SIZE_2M, FRAME_ALLOCATED, FRAME_HUGE_1G, FRAME_HUGE_2M, FRAME_KSM, FRAME_PAGE_TABLE, FRAME_POOL, FRAME_READONLY } = HOST_CONSTANTS;
const ENTRIES = TABLE_ENTRIES;
const LEVELS = TABLE_LEVELS;
const LEVEL_SPAN: readonly number[] = TABLE_LEVEL_SPAN;
const PTE_PRESENT = PteFlag.Present;
const PTE_HUGE = PteFlag.Huge;
const PTE_WRITABLE = PteFlag.Writable;

/** Linux THP modes (Documentation/admin-guide/mm/transhuge.rst: always, madvise, never). */
export const enum HugeBackingMode {
  Never = 0,
  Always = 1,
  /** Only regions that asked for it (MADV_HUGEPAGE). */
  Madvise = 2,
}

/** Host policy, resolved to tier ids. */
export interface ResolvedHostPolicy {
  hugeMode: HugeBackingMode;
  /** Tier ids in the order backing tries them. */
  fallbackOrder: readonly number[];
  /** Tier ids EPT table pages come from, in order (DRAM first: walks must not touch NVM). */
  tableTierOrder: readonly number[];
}

/** A guest-physical region. `tier` is a host tier id, or -1 for an untyped region. */
export interface RegionSpec {
  gpaStart: number;
  bytes: number;
  tier: number;
  /** The region asks for huge backing (MADV_HUGEPAGE); honoured unless the host mode is 'never'. */
  hugeBacking: boolean;
}

/** Counters a VM owns; per-tier arrays are indexed by host tier id. */
export class HostVmCounters {
  /** Private 4 KiB frames mapped by this VM's EPT. */
  readonly resident4k: Float64Array;
  /** Private 2 MiB frames mapped by this VM's EPT. */
  readonly resident2m: Float64Array;
  /** EPT table frames. */
  readonly tableFrames: Float64Array;
  /** 4 KiB leaves pointing at shared frames (KSM, pool). */
  readonly sharedMapped: Float64Array;
  /** Frames backed from this tier although the region's first choice was another tier. */
  readonly fallbacks: Float64Array;
  eptViolations = 0;
  /** Violations on a leaf that was already present and allowed the access (another vCPU won). */
  spuriousViolations = 0;
  backed4k = 0;
  backed2m = 0;
  /** Faults that qualified for a 2 MiB frame but got 4 KiB because no 2 MiB frame was free. */
  hugeFallbacks = 0;
  cowBreaks = 0;
  splits = 0;
  tlbFlushes = 0;
  /** Cycles charged by eptViolation. */
  faultCycles = 0;

  constructor(tiers: number) {
    this.resident4k = new Float64Array(tiers);
    this.resident2m = new Float64Array(tiers);
    this.tableFrames = new Float64Array(tiers);
    this.sharedMapped = new Float64Array(tiers);
    this.fallbacks = new Float64Array(tiers);
    // A cycle sum: a double from birth (see VcpuCounters).
    startAsDoubles(this, ['faultCycles']);
  }

  /** Resident bytes of one tier: private frames plus this VM's table pages (shared frames excluded). */
  residentBytes(tier: number): number {
    return (this.resident4k[tier] + this.tableFrames[tier]) * PAGE_4K + this.resident2m[tier] * PAGE_2M;
  }
}

/** EPT table pages come from host frames of the table tiers, owned by the VM and flagged PageTable. */
class EptTableSource implements TableFrameSource {
  constructor(
    private readonly memory: HostMemory,
    private readonly vmId: number,
    private readonly order: readonly number[],
    private readonly counters: HostVmCounters,
  ) {}

  allocTableFrame(): number {
    for (let i = 0; i < this.order.length; i++) {
      const f = this.memory.alloc(this.order[i], SIZE_4K, this.vmId, FRAME_PAGE_TABLE);
      if (f >= 0) {
        this.counters.tableFrames[this.order[i]]++;
        return f;
      }
    }
    throw new HostMemoryExhaustedError(`VM ${this.vmId}: no host memory left for an EPT table page`);
  }

  freeTableFrame(frame: number): void {
    this.counters.tableFrames[this.memory.tierOf(frame)]--;
    this.memory.free(frame, SIZE_4K);
  }
}

const CHUNK_FRAMES = 512;
/**
 * Table slots an EPT reserves up front (it doubles them when full): a small VM's EPT holds the
 * root, one PDPT, one PD and a leaf table per 2 MiB range it touches (5-6 for the FaaS model's
 * unikernels): 10,000 EPTs with the page table's default of 16 held 320 MiB of entry arrays, most
 * of it empty.
 */
const EPT_INITIAL_TABLES = 8;

export class HostVm {
  readonly ept: PageTable;
  readonly counters: HostVmCounters;
  readonly regions: readonly Readonly<RegionSpec>[];
  private readonly regStart: Float64Array;
  private readonly regEnd: Float64Array;
  private readonly regHuge: Uint8Array;
  /** Tier ids to try per region. */
  private readonly regOrder: (readonly number[])[];
  /** Per region: 4 KiB leaves in each 2 MiB chunk (chunk 0 starts at the region start rounded down to 2 MiB). */
  private readonly regSmall: Uint16Array[];
  private readonly regChunkBase: Float64Array;
  private invalidator: TlbInvalidator | null;
  private readonly tr = new Translation();
  private alive = true;

  constructor(
    readonly id: number,
    private readonly memory: HostMemory,
    regions: readonly RegionSpec[],
    private readonly policy: ResolvedHostPolicy,
    private readonly costs: ResolvedHostCosts,
    invalidator: TlbInvalidator | null = null,
  ) {
    validateRegions(regions, memory);
    const sorted = [...regions].map((r) => ({ ...r })).sort((a, b) => a.gpaStart - b.gpaStart);
    this.regions = sorted;
    const n = sorted.length;
    this.regStart = new Float64Array(n);
    this.regEnd = new Float64Array(n);
    this.regHuge = new Uint8Array(n);
    this.regChunkBase = new Float64Array(n);
    this.regOrder = [];
    this.regSmall = [];
    for (let i = 0; i < n; i++) {
      const r = sorted[i];
      this.regStart[i] = r.gpaStart;
      this.regEnd[i] = r.gpaStart + r.bytes;
      const allowed = policy.hugeMode === HugeBackingMode.Always || (policy.hugeMode === HugeBackingMode.Madvise && r.hugeBacking);
      this.regHuge[i] = allowed ? 1 : 0;
      this.regOrder.push(r.tier < 0 ? policy.fallbackOrder : [r.tier, ...policy.fallbackOrder.filter((t) => t !== r.tier)]);
      const base = r.gpaStart - (r.gpaStart % PAGE_2M);
      this.regChunkBase[i] = base;
      this.regSmall.push(new Uint16Array(Math.ceil((this.regEnd[i] - base) / PAGE_2M)));
    }
    this.invalidator = invalidator;
    this.counters = new HostVmCounters(memory.tiers.length);
    this.ept = new PageTable(new EptTableSource(memory, id, policy.tableTierOrder, this.counters), EPT_INITIAL_TABLES);
  }

  /** Register the vCPU's invalidator (or null); called whenever a present EPT leaf changes. */
  setInvalidator(inv: TlbInvalidator | null): void {
    this.invalidator = inv;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Guest-physical bytes of all regions. */
  get gpaBytes(): number {
    let n = 0;
    for (const r of this.regions) n += r.bytes;
    return n;
  }

  /** The e820/SRAT-like table handed to the guest at boot. */
  bootMemoryMap(): MemoryMapEntry[] {
    return this.regions.map((r, i) => {
      const aligned = r.gpaStart % PAGE_2M === 0 && r.bytes % PAGE_2M === 0;
      const tier = r.tier >= 0 ? this.memory.tiers[r.tier] : null;
      return {
        gpaStart: r.gpaStart,
        bytes: r.bytes,
        type: tier ? tier.kind : 'untyped',
        node: r.tier,
        tierName: tier ? tier.name : '',
        flags: MemoryMapFlag.Ram | (this.regHuge[i] ? MemoryMapFlag.HugeBacked : 0) | (aligned ? MemoryMapFlag.Aligned2M : 0),
      };
    });
  }

  /** Region index holding `gpa`, or -1. */
  regionOf(gpa: number): number {
    const s = this.regStart;
    for (let i = 0; i < s.length; i++) if (gpa >= s[i] && gpa < this.regEnd[i]) return i;
    return -1;
  }

  // ---- the fault path --------------------------------------------------------------------------

  /** Throws unless the VM is alive (the message is built only when it fails). */
  private checkAlive(): void {
    if (!this.alive) throw new InvariantError(`VM ${this.id} is destroyed`);
  }

  /** TranslationFaultHandler.eptViolation: back the page (or break copy-on-write); returns cycles. */
  eptViolation(gpa: number, write: boolean): number {
    this.checkAlive();
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) return this.backUnmapped(gpa);
    const c = this.counters;
    c.eptViolations++;
    let cycles: number;
    if (write && !tr.writable) cycles = this.resolveWriteProtect(gpa);
    else {
      c.spuriousViolations++;
      cycles = this.costs.exitCycles;
    }
    c.faultCycles += cycles;
    return cycles;
  }

  /** The violation of an access to the unmapped page at `gpa`: back it. Sets `backedFrame`. */
  private backUnmapped(gpa: number): number {
    const c = this.counters;
    c.eptViolations++;
    const r = this.regionOf(gpa);
    if (r < 0) throw new InvariantError(`VM ${this.id}: guest-physical address 0x${gpa.toString(16)} lies outside every region of its memory map`);
    const cycles = this.backPage(r, gpa);
    c.faultCycles += cycles;
    return cycles;
  }

  /** Host frame of the 4 KiB page the last `backPage` backed. */
  private backedFrame = -1;

  /**
   * A write of content `fp` over the whole page at `gpa`, as a loader copies a page in: the EPT
   * violation the guest's write would take when the page is unbacked or read-only, then the new
   * content (`eptViolation` followed by `setContent`, with one EPT lookup in the common cases).
   * Returns the violation's cycles, 0 without one.
   */
  writePage(gpa: number, fp: number): number {
    this.checkAlive();
    const remembered = this.rememberedFrame(gpa, PTE_PRESENT | PTE_WRITABLE);
    if (remembered >= 0) {
      this.memory.setFingerprint(remembered, fp);
      return 0;
    }
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) {
      const cycles = this.backUnmapped(gpa);
      this.memory.setFingerprint(this.backedFrame, fp);
      return cycles;
    }
    if (tr.writable) {
      this.rememberLeafTable(gpa, tr);
      this.memory.setFingerprint(this.frameIn(tr, gpa), fp);
      return 0;
    }
    const cycles = this.eptViolation(gpa, true);
    this.setContent(gpa, fp);
    return cycles;
  }

  /** Allocate and map a frame for the untouched page at `gpa` in region `r` (the lazy backing rule). */
  private backPage(r: number, gpa: number): number {
    const mem = this.memory;
    const c = this.counters;
    const base2m = gpa - (gpa % PAGE_2M);
    const chunk = (base2m - this.regChunkBase[r]) / PAGE_2M;
    const wantHuge =
      this.regHuge[r] === 1 && base2m >= this.regStart[r] && base2m + PAGE_2M <= this.regEnd[r] && this.regSmall[r][chunk] === 0;
    const order = this.regOrder[r];
    const tablesBefore = this.ept.liveTables;
    for (let i = 0; i < order.length; i++) {
      const tier = order[i];
      if (wantHuge) {
        const f = mem.alloc(tier, SIZE_2M, this.id);
        if (f >= 0) {
          this.mapFresh(base2m, f, SIZE_2M);
          this.backedFrame = f + Math.floor((gpa - base2m) / PAGE_4K);
          mem.addRefs(f, CHUNK_FRAMES, 1);
          c.resident2m[tier]++;
          c.backed2m++;
          if (i > 0) c.fallbacks[tier] += CHUNK_FRAMES;
          return this.costs.exitCycles + this.costs.faultCycles + this.costs.clear4kCycles * (CHUNK_FRAMES + this.ept.liveTables - tablesBefore);
        }
      }
      const f = mem.alloc(tier, SIZE_4K, this.id);
      if (f >= 0) {
        this.mapFresh(gpa - (gpa % PAGE_4K), f, SIZE_4K);
        this.backedFrame = f;
        mem.addRefs(f, 1, 1);
        this.regSmall[r][chunk]++;
        c.resident4k[tier]++;
        c.backed4k++;
        if (wantHuge) c.hugeFallbacks++;
        if (i > 0) c.fallbacks[tier]++;
        return this.costs.exitCycles + this.costs.faultCycles + this.costs.clear4kCycles * (1 + this.ept.liveTables - tablesBefore);
      }
    }
    throw new HostMemoryExhaustedError(
      `VM ${this.id}: host memory exhausted backing guest-physical 0x${gpa.toString(16)} (every tier is full: ${mem.tiers.map((t) => t.name).join(', ')})`,
    );
  }

  /**
   * Map a frame just allocated for this VM. The EPT may need new table pages; if none can be had,
   * the frame goes back before the error propagates, so a failed fault leaks nothing.
   */
  private mapFresh(gpa: number, frame: number, size: PageSize): void {
    try {
      this.ept.map(gpa, frame, size, true);
    } catch (e) {
      this.memory.free(frame, size);
      throw e;
    }
  }

  /** A write hit a read-only leaf: copy a shared frame, or re-enable writes on a private one. */
  private resolveWriteProtect(gpa: number): number {
    const tr = this.tr;
    const frame = tr.frame + (tr.size === SIZE_4K ? 0 : Math.floor((gpa % PAGE_2M) / PAGE_4K));
    if (this.memory.owner(frame) === this.id) {
      // A private page write-protected by the host (e.g. dirty tracking): allow writes. Relaxing a
      // permission needs no flush: a stale read-only TLB entry just faults again.
      this.ept.protect(gpa, true);
      return this.costs.exitCycles + this.costs.faultCycles;
    }
    this.breakCow(gpa);
    return this.costs.exitCycles + this.costs.faultCycles + this.costs.copy4kCycles;
  }

  // ---- content model ---------------------------------------------------------------------------

  /**
   * The level-1 EPT table of the 2 MiB range that the last lookup of a 4 KiB leaf fell in: the
   * range's start (-1: none) and the index of the table's first entry in `ept.entry`. Content
   * writes and KSM's scan visit the pages of one range in a row, and one entry read replaces a
   * walk. Entries are read live, so a map or protect needs no care; a table can only go away
   * (and its slot serve another range) when a leaf is removed, which forgets it.
   */
  private leafRange = -1;
  private leafTable = 0;

  /** Host frame of the 4 KiB page at `gpa` from the remembered leaf table when its entry has `flags`; else -1 (look it up). */
  private rememberedFrame(gpa: number, flags: number): number {
    if (gpa - (gpa % PAGE_2M) !== this.leafRange) return -1;
    const e = this.ept.entry[this.leafTable + ((gpa / PAGE_4K) & (ENTRIES - 1))];
    return (e & flags) === flags ? (e - (e & 7)) / 8 : -1;
  }

  /** After a successful lookup of `gpa` into `tr`: remember its leaf table when the leaf is 4 KiB. */
  private rememberLeafTable(gpa: number, tr: Translation): void {
    if (tr.size !== SIZE_4K) return;
    this.leafRange = gpa - (gpa % PAGE_2M);
    this.leafTable = tr.slot - ((gpa / PAGE_4K) & (ENTRIES - 1));
  }

  /** Record that the page at `gpa` now holds content `fp`. The page must be mapped writable. */
  setContent(gpa: number, fp: number): void {
    const remembered = this.rememberedFrame(gpa, PTE_PRESENT | PTE_WRITABLE);
    if (remembered >= 0) {
      this.memory.setFingerprint(remembered, fp);
      return;
    }
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) throw new InvariantError(`VM ${this.id}: setContent on unbacked guest-physical 0x${gpa.toString(16)}`);
    if (!tr.writable) throw new InvariantError(`VM ${this.id}: setContent on read-only guest-physical 0x${gpa.toString(16)} (take the write fault first)`);
    this.rememberLeafTable(gpa, tr);
    this.memory.setFingerprint(this.frameIn(tr, gpa), fp);
  }

  /** Content fingerprint of the page at `gpa`; an untouched page reads as zeros. */
  contentOf(gpa: number): number {
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) return ZERO_FINGERPRINT;
    return this.memory.fingerprint(this.frameIn(tr, gpa));
  }

  /** Host frame holding the 4 KiB page at `gpa`, or -1 when unbacked. */
  frameOf(gpa: number): number {
    const remembered = this.rememberedFrame(gpa, PTE_PRESENT);
    if (remembered >= 0) return remembered;
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) return -1;
    this.rememberLeafTable(gpa, tr);
    return this.frameIn(tr, gpa);
  }

  /**
   * The first 4 KiB page at or after `from` (4 KiB-aligned) that has a present EPT leaf, or
   * `limit` when none lies below it: `frameOf` is -1 on every page in between. It reads the EPT's
   * tables directly and steps over a run of absent entries at once, a whole table's span for a
   * missing table, so a scan over mostly unbacked guest memory (KSM's cursor) costs per table
   * entry, not per page walk.
   */
  nextBackedGpa(from: number, limit: number): number {
    const pt = this.ept;
    const entry = pt.entry;
    let gpa = from;
    while (gpa < limit) {
      let t = pt.root;
      for (let level = LEVELS; ; level--) {
        const span = LEVEL_SPAN[level];
        const base = t * ENTRIES;
        const i = (gpa / span) & (ENTRIES - 1);
        let j = i;
        while (j < ENTRIES && !(entry[base + j] & PTE_PRESENT)) j++;
        if (j !== i) {
          // Start of entry j; past this table when every entry after i is absent (walk again from the root).
          gpa = gpa - (gpa % (span * ENTRIES)) + j * span;
          if (j === ENTRIES || gpa >= limit) break;
        }
        const e = entry[base + j];
        if (level === 1 || e & PTE_HUGE) return gpa;
        t = (e - (e & 7)) / 8;
      }
    }
    return limit;
  }

  /** Host-physical address of `gpa`, or -1. */
  translate(gpa: number): number {
    return this.ept.translate(gpa);
  }

  private frameIn(tr: Translation, gpa: number): number {
    if (tr.size === SIZE_4K) return tr.frame;
    const bytes = tr.size === SIZE_2M ? PAGE_2M : 2 ** 30;
    return tr.frame + Math.floor((gpa % bytes) / PAGE_4K);
  }

  // ---- unmapping, splitting, sharing -----------------------------------------------------------

  /** Remove the leaf mapping `gpa` (a whole 2 MiB leaf if one maps it) and release its frames. Returns whether one was present. */
  unmapGpa(gpa: number): boolean {
    this.checkAlive();
    if (!this.removeLeaf(gpa)) return false;
    this.flush();
    return true;
  }

  private removeLeaf(gpa: number): boolean {
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) return false;
    this.leafRange = -1;
    const size = tr.size;
    const frame = tr.frame;
    const leafAddr = size === SIZE_4K ? gpa - (gpa % PAGE_4K) : gpa - (gpa % PAGE_2M);
    this.ept.unmap(leafAddr);
    const mem = this.memory;
    const tier = mem.tierOf(frame);
    if (size === SIZE_2M) {
      mem.addRefs(frame, CHUNK_FRAMES, -1);
      mem.free(frame, SIZE_2M);
      this.counters.resident2m[tier]--;
      return true;
    }
    if (size !== SIZE_4K) throw new InvariantError('the back-end maps no 1 GiB EPT leaves');
    const r = this.regionOf(leafAddr);
    this.regSmall[r][(leafAddr - (leafAddr % PAGE_2M) - this.regChunkBase[r]) / PAGE_2M]--;
    const left = mem.addRefs(frame, 1, -1);
    if (mem.owner(frame) === this.id) {
      mem.free(frame, SIZE_4K);
      this.counters.resident4k[tier]--;
    } else {
      this.counters.sharedMapped[tier]--;
      // The last mapping of a KSM frame takes it with it; pool frames stay cached for the pool.
      if (left === 0 && !(mem.flags(frame) & FRAME_POOL)) mem.free(frame, SIZE_4K);
    }
    return true;
  }

  /**
   * Split the 2 MiB leaf mapping `gpa` into 512 4 KiB leaves over the same frames, and the host
   * block into 4 KiB blocks, so single pages can be shared or released (as KSM does with THPs).
   * Returns false when no 2 MiB leaf maps `gpa`.
   */
  splitHugeMapping(gpa: number): boolean {
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr) || tr.size !== SIZE_2M) return false;
    const frame = tr.frame;
    const tier = this.memory.tierOf(frame);
    this.ept.splitHuge(gpa);
    this.memory.splitBlock(frame, SIZE_2M);
    const r = this.regionOf(gpa);
    this.regSmall[r][(gpa - (gpa % PAGE_2M) - this.regChunkBase[r]) / PAGE_2M] = CHUNK_FRAMES;
    this.counters.resident2m[tier]--;
    this.counters.resident4k[tier] += CHUNK_FRAMES;
    this.counters.splits++;
    this.flush();
    return true;
  }

  /**
   * Turn this VM's private 4 KiB page at `gpa` into a shared frame other VMs can map: the leaf
   * becomes read-only, the frame loses its owner (-1) and gains `flags` (Ksm or Pool) and
   * Readonly. A 2 MiB leaf is split first. Returns the frame. (KSM keeps the first page of a
   * merge group in place as the stable page.)
   */
  shareFrame(gpa: number, flags: number = FRAME_KSM): number {
    this.checkAlive();
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr)) throw new InvariantError(`VM ${this.id}: shareFrame on unbacked guest-physical 0x${gpa.toString(16)}`);
    if (tr.size === SIZE_2M) {
      this.splitHugeMapping(gpa);
      this.ept.lookup(gpa, tr);
    }
    const frame = tr.frame;
    const mem = this.memory;
    if (mem.owner(frame) === this.id) {
      const tier = mem.tierOf(frame);
      mem.setOwner(frame, -1);
      this.counters.resident4k[tier]--;
      this.counters.sharedMapped[tier]++;
    }
    mem.setFlags(frame, flags | FRAME_READONLY);
    if (tr.writable) {
      this.ept.protect(gpa, false);
      this.flush();
    }
    return frame;
  }

  /**
   * Map the shared 4 KiB host frame `frame` at `gpa` (a KSM stable page or a pool page), replacing
   * whatever mapped `gpa` (its frame is released; a 2 MiB leaf is split first). The frame must be
   * allocated and not privately owned. Reference count +1.
   */
  mapShared(gpa: number, frame: number, readonly: boolean): void {
    this.checkAlive();
    const mem = this.memory;
    if (gpa % PAGE_4K !== 0) throw new InvariantError(`mapShared: guest-physical 0x${gpa.toString(16)} is not 4 KiB aligned`);
    const r = this.regionOf(gpa);
    if (r < 0) throw new InvariantError(`VM ${this.id}: mapShared at 0x${gpa.toString(16)} outside every region`);
    const fl = mem.flags(frame);
    if (!(fl & FRAME_ALLOCATED) || fl & FRAME_PAGE_TABLE || fl & (FRAME_HUGE_2M | FRAME_HUGE_1G)) {
      throw new InvariantError(`mapShared: frame ${frame} is not an allocated 4 KiB data frame`);
    }
    if (mem.owner(frame) !== -1) throw new InvariantError(`mapShared: frame ${frame} is private to VM ${mem.owner(frame)} (share it first)`);
    const tr = this.tr;
    if (this.ept.lookup(gpa, tr)) {
      if (tr.size === SIZE_4K && tr.frame === frame) {
        if (tr.writable && readonly) {
          this.ept.protect(gpa, false);
          this.flush();
        }
        return;
      }
      if (tr.size === SIZE_2M) this.splitHugeMapping(gpa);
      this.removeLeaf(gpa);
      this.flush();
    }
    this.ept.map(gpa, frame, SIZE_4K, !readonly);
    mem.addRefs(frame, 1, 1);
    this.regSmall[r][(gpa - (gpa % PAGE_2M) - this.regChunkBase[r]) / PAGE_2M]++;
    this.counters.sharedMapped[mem.tierOf(frame)]++;
  }

  /**
   * Copy-on-write break: give this VM a private copy of the shared frame mapped read-only at
   * `gpa` (same tier first, then the fallback order), map it writable and drop one reference to
   * the shared frame, freeing it when that was the last mapping (pool frames excepted). KSM pages
   * are always copied, as Linux does (`wp_can_reuse_anon_folio` refuses KSM folios). Returns the
   * new frame.
   */
  breakCow(gpa: number): number {
    this.checkAlive();
    const mem = this.memory;
    const tr = this.tr;
    if (!this.ept.lookup(gpa, tr) || tr.size !== SIZE_4K) throw new InvariantError(`breakCow: no 4 KiB leaf maps 0x${gpa.toString(16)}`);
    const old = tr.frame;
    if (mem.owner(old) === this.id) throw new InvariantError(`breakCow: frame ${old} at 0x${gpa.toString(16)} is private to VM ${this.id}`);
    const oldTier = mem.tierOf(old);
    const order = [oldTier, ...this.policy.fallbackOrder.filter((t) => t !== oldTier)];
    let f = -1;
    let tier = -1;
    for (let i = 0; i < order.length && f < 0; i++) {
      f = mem.alloc(order[i], SIZE_4K, this.id);
      tier = order[i];
    }
    if (f < 0) throw new HostMemoryExhaustedError(`VM ${this.id}: host memory exhausted breaking copy-on-write at 0x${gpa.toString(16)}`);
    mem.setFingerprint(f, mem.fingerprint(old));
    const page = gpa - (gpa % PAGE_4K);
    this.ept.map(page, f, SIZE_4K, true);
    mem.addRefs(f, 1, 1);
    const left = mem.addRefs(old, 1, -1);
    if (left === 0 && !(mem.flags(old) & FRAME_POOL)) mem.free(old, SIZE_4K);
    const c = this.counters;
    c.sharedMapped[oldTier]--;
    c.resident4k[tier]++;
    if (tier !== oldTier) c.fallbacks[tier]++;
    c.cowBreaks++;
    this.flush();
    return f;
  }

  /** Release every frame and table page (the VM is destroyed). Reference counts balance. */
  release(): void {
    if (!this.alive) return;
    const addrs: number[] = [];
    this.ept.forEachLeaf((addr) => {
      addrs.push(addr);
    });
    for (const a of addrs) this.removeLeaf(a);
    this.leafRange = -1;
    this.ept.destroy();
    this.alive = false;
  }

  private flush(): void {
    this.counters.tlbFlushes++;
    if (this.invalidator !== null) this.invalidator.flushVm();
  }
}

/** Regions must be non-empty, 4 KiB-aligned, disjoint, inside a 48-bit space, with valid tiers. */
function validateRegions(regions: readonly RegionSpec[], memory: HostMemory): void {
  if (!Array.isArray(regions) || regions.length === 0) throw new UserError('a VM needs at least one guest-physical region');
  const sorted = [...regions].sort((a, b) => a.gpaStart - b.gpaStart);
  let prevEnd = 0;
  for (const r of sorted) {
    const where = `region at 0x${Number(r.gpaStart).toString(16)}`;
    if (!Number.isFinite(r.gpaStart) || r.gpaStart < 0 || r.gpaStart % PAGE_4K !== 0) throw new UserError(`${where}: start must be a non-negative multiple of 4 KiB`);
    if (typeof r.bytes !== 'number' || !Number.isFinite(r.bytes) || r.bytes <= 0) throw new UserError(`${where}: size must be a positive number of bytes, got ${String(r.bytes)}`);
    if (r.bytes % PAGE_4K !== 0) throw new UserError(`${where}: size ${r.bytes} is not a multiple of 4 KiB`);
    if (r.gpaStart + r.bytes > 2 ** 48) throw new UserError(`${where}: ends beyond the 48-bit guest-physical space`);
    if (r.gpaStart < prevEnd) throw new UserError(`${where}: overlaps the previous region`);
    if (!Number.isInteger(r.tier) || r.tier < -1 || r.tier >= memory.tiers.length) throw new UserError(`${where}: no host tier ${r.tier}`);
    if (r.bytes > memory.totalFrames * PAGE_4K) throw new UserError(`${where}: ${r.bytes} bytes is more than the host's memory`);
    prevEnd = r.gpaStart + r.bytes;
  }
}
