/**
 * What both malloc policies share: argument checks, free/realloc/usableSize dispatch by address
 * area, the table of page-granular blocks, and the owned counters per allocator tier.
 *
 * Where a block lives (layout.ts):
 *   mempool area  slab / pool objects       -> SlabAllocator (no per-object record)
 *   page area     whole-page objects        -> block table (OSv 1025..4096 B)
 *   main area     page-granular blocks      -> block table (OSv malloc_large; UCat > 16 KiB)
 *   mmap area     anonymous mappings >= 2M  -> block table + kernel VMA
 * The block table is one Map from address to a record index; records are typed arrays.
 *
 * Accounting, per allocator tier (the tier the object's memory belongs to):
 *   requested  bytes callers asked for, live objects
 *   reserved   bytes set aside for them: the slot of a slab object, every page of a page-granular
 *              block (its header included), the page-rounded length of a mapping
 *   internal fragmentation = reserved - requested
 *   held       frames the allocator took from the page allocators: slabs (with their free slots,
 *              headers and tail slack), blocks, and populated frames of mappings
 */
import { growF64 } from '../../base/grow.ts';
import { UserError } from '../../base/errors.ts';
import { InvariantError } from '../../base/assert.ts';
import { PAGE_2M, PAGE_4K, formatBytes } from '../../base/units.ts';
import { AllocHint, OutOfMemoryError, type GuestAllocator } from '../allocator.ts';
import type { GuestKernel, KernelStats } from '../kernel.ts';
import { MemArea, areaOf, linearAddress } from '../layout.ts';
import { SlabAllocator, type SlabGeometry } from '../slab.ts';
import { OSV_POOL_MAX } from '../classes.ts';

/** sizeof(page_range) in OSv: the header `malloc_large` puts before a large object (ucat.md §2.2). */
export const OSV_LARGE_HEADER = 48;

export const enum BlockKind {
  /** A whole 4 KiB page in the `page` area. */
  Page = 1,
  /** Contiguous frames in the `main` area, the object `offset` bytes in (a header before it). */
  Large = 2,
  /** An anonymous mapping in the mmap area, the object `offset` bytes in. */
  Mapped = 3,
}

export interface TierAllocStats {
  requestedBytes: number;
  reservedBytes: number;
  internalFragmentationBytes: number;
  /** reserved / requested - 1 (0 when nothing is live). */
  internalFragmentation: number;
  heldBytes: number;
  /** Bytes in cached empty slabs (returned by `trim`). */
  emptySlabBytes: number;
  liveObjects: number;
  allocations: number;
  frees: number;
  /** Allocations that wanted this tier and were served by the other one. */
  fallbacksOut: number;
  /** Allocations served here because the other tier was full. */
  fallbacksIn: number;
  failures: number;
}

export interface GuestMallocStats {
  allocator: string;
  tiers: Record<string, TierAllocStats>;
  total: TierAllocStats;
  slabs: { classes: number; created: number; released: number };
  kernel: KernelStats;
}

/** A malloc policy: the allocator seam plus statistics and trimming. */
export interface GuestMalloc extends GuestAllocator {
  readonly name: string;
  stats(): GuestMallocStats;
  /** Give cached empty slabs back to the page allocator. */
  trim(): void;
}

export const MAX_ALIGNMENT = PAGE_2M;

export abstract class MallocBase implements GuestMalloc {
  abstract readonly name: string;
  /** Whether realloc keeps a block whose usable size covers the new size. */
  protected abstract readonly reallocInPlace: boolean;
  readonly slabs: SlabAllocator;

  // Block table.
  private readonly blocks = new Map<number, number>();
  private blkKind = new Uint8Array(64);
  private blkTier = new Int8Array(64);
  /** First frame (Page, Large) or mapping start (Mapped). */
  private blkFirst = new Float64Array(64);
  private blkReserved = new Float64Array(64);
  private blkRequested = new Float64Array(64);
  private blkOffset = new Float64Array(64);
  private blkCount = 0;
  private readonly blkFree: number[] = [];

  // Owned counters, per allocator tier.
  protected readonly requested: Float64Array;
  protected readonly reserved: Float64Array;
  protected readonly blockFrames: Float64Array;
  protected readonly liveObjects: Float64Array;
  protected readonly allocations: Float64Array;
  protected readonly frees: Float64Array;
  protected readonly fallbacksOut: Float64Array;
  protected readonly fallbacksIn: Float64Array;
  protected readonly failures: Float64Array;

  constructor(
    readonly kernel: GuestKernel,
    geometry: SlabGeometry,
  ) {
    this.slabs = new SlabAllocator(kernel, geometry);
    const n = kernel.tiers.length;
    this.requested = new Float64Array(n);
    this.reserved = new Float64Array(n);
    this.blockFrames = new Float64Array(n);
    this.liveObjects = new Float64Array(n);
    this.allocations = new Float64Array(n);
    this.frees = new Float64Array(n);
    this.fallbacksOut = new Float64Array(n);
    this.fallbacksIn = new Float64Array(n);
    this.failures = new Float64Array(n);
  }

  /** Allocate `bytes` aligned to `align` for `hint`; throws OutOfMemoryError when no tier can. */
  protected abstract allocate(bytes: number, align: number, hint: AllocHint): number;

  malloc(bytes: number, hint: AllocHint = AllocHint.Default): number {
    this.checkSize('malloc', bytes);
    return this.allocate(bytes, 8, hint);
  }

  memalign(alignment: number, bytes: number, hint: AllocHint = AllocHint.Default): number {
    if (!Number.isSafeInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0 || alignment > MAX_ALIGNMENT)
      throw new UserError(`memalign: alignment ${alignment} must be a power of two from 1 to ${formatBytes(MAX_ALIGNMENT)}`);
    this.checkSize('memalign', bytes);
    return this.allocate(bytes, alignment < 8 ? 8 : alignment, hint);
  }

  private checkSize(what: string, bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes <= 0)
      throw new UserError(`${what}: size ${bytes} is not a positive whole number of bytes`);
    if (bytes > this.kernel.totalBytes)
      throw new UserError(`${what}: ${formatBytes(bytes)} is larger than the guest's memory (${formatBytes(this.kernel.totalBytes)})`);
  }

  /** Count a failed allocation and throw. */
  protected outOfMemory(bytes: number, tier: number): never {
    this.failures[tier]++;
    throw new OutOfMemoryError(`guest ${this.name}: no memory for ${formatBytes(bytes)} (${this.kernel.describe()})`);
  }

  protected countFallback(from: number, to: number): void {
    this.fallbacksOut[from]++;
    this.fallbacksIn[to]++;
  }

  private charge(tier: number, requested: number, reserved: number): void {
    this.requested[tier] += requested;
    this.reserved[tier] += reserved;
    this.liveObjects[tier]++;
    this.allocations[tier]++;
  }

  private discharge(tier: number, requested: number, reserved: number): void {
    this.requested[tier] -= requested;
    this.reserved[tier] -= reserved;
    this.liveObjects[tier]--;
    this.frees[tier]++;
  }

  // ---- building blocks for the policies (each returns an address, or -1 when `tier` is full) ----

  /** One object of slab class `c`. */
  protected allocSlab(c: number, tier: number, bytes: number): number {
    const gva = this.slabs.alloc(c, tier, bytes);
    if (gva >= 0) this.charge(tier, bytes, this.slabs.classSize(c));
    return gva;
  }

  /** One whole 4 KiB page in the `page` area (OSv: 1025..4096 B). */
  protected allocPage(tier: number, bytes: number): number {
    const gfn = this.kernel.allocFrames(tier, 1);
    if (gfn < 0) return -1;
    return this.record(BlockKind.Page, tier, gfn, PAGE_4K, bytes, 0, linearAddress(MemArea.Page, gfn * PAGE_4K));
  }

  /**
   * `pages` contiguous frames in the `main` area, the object `offset` bytes in; with
   * `align` > 4 KiB the object address is a multiple of `align`.
   */
  protected allocLarge(tier: number, pages: number, offset: number, align: number, bytes: number): number {
    const gfn =
      align > PAGE_4K
        ? this.kernel.allocFramesAligned(tier, pages, align / PAGE_4K, offset / PAGE_4K)
        : this.kernel.allocFrames(tier, pages);
    if (gfn < 0) return -1;
    return this.record(BlockKind.Large, tier, gfn, pages * PAGE_4K, bytes, offset, linearAddress(MemArea.Main, gfn * PAGE_4K) + offset);
  }

  /**
   * An anonymous mapping of `length` bytes with the object `offset` bytes in. The mapping starts on
   * a multiple of `align`, or, with `alignObject`, the object does.
   */
  protected allocMapped(tier: number, length: number, offset: number, align: number, bytes: number, alignObject = false): number {
    const start = this.kernel.mmap(length, tier, align, alignObject ? offset : 0);
    if (start < 0) return -1;
    return this.record(BlockKind.Mapped, tier, start, Math.ceil(length / PAGE_4K) * PAGE_4K, bytes, offset, start + offset);
  }

  /**
   * OSv's `std_malloc` size paths (core/mempool.cc, ucat.md §2.2), in `tier`:
   * - size <= 1024 and align <= max(size, 8): the power-of-two pool of ilog2_roundup(max(size, 8));
   * - align <= 1024 and max(size, 8) <= align: the pool of the alignment (memalign);
   * - size <= 4096 and align <= 4096: a whole page (`alloc_page`, `page` area);
   * - else `malloc_large`: a header of align_up(sizeof(page_range), align) bytes (a whole page when
   *   align >= 4 KiB) before the object, rounded up to pages; mmapped when that reaches 2 MiB
   *   (`mapped_malloc_large`), else page ranges, falling back to mmap when no range fits.
   * Needs the pool geometry (osvPoolGeometry) in `this.slabs`.
   */
  protected osvPath(bytes: number, align: number, tier: number): number {
    const minimum = bytes < 8 ? 8 : bytes;
    if (bytes <= OSV_POOL_MAX && align <= minimum) return this.allocSlab(this.slabs.classOf(minimum), tier, bytes);
    if (align <= OSV_POOL_MAX && minimum <= align) return this.allocSlab(this.slabs.classOf(align), tier, bytes);
    if (minimum <= PAGE_4K && align <= PAGE_4K) return this.allocPage(tier, bytes);
    const offset = align < PAGE_4K ? Math.ceil(OSV_LARGE_HEADER / align) * align : PAGE_4K;
    const size = Math.ceil((bytes + offset) / PAGE_4K) * PAGE_4K;
    if (size < PAGE_2M) {
      const r = this.allocLarge(tier, size / PAGE_4K, offset, align, bytes);
      if (r >= 0) return r;
    }
    // With align > 4 KiB the header is a whole page and the object must be aligned, so the mapping
    // starts one page below an aligned address; otherwise it starts on 2 MiB (OSv `find_hole`).
    return align > PAGE_4K ? this.allocMapped(tier, size, offset, align, bytes, true) : this.allocMapped(tier, size, offset, PAGE_2M, bytes);
  }

  private record(kind: BlockKind, tier: number, first: number, reserved: number, bytes: number, offset: number, gva: number): number {
    let id = this.blkFree.pop();
    if (id === undefined) {
      id = this.blkCount++;
      if (id >= this.blkKind.length) this.growBlocks();
    }
    this.blkKind[id] = kind;
    this.blkTier[id] = tier;
    this.blkFirst[id] = first;
    this.blkReserved[id] = reserved;
    this.blkRequested[id] = bytes;
    this.blkOffset[id] = offset;
    this.blocks.set(gva, id);
    if (kind !== BlockKind.Mapped) this.blockFrames[tier] += reserved / PAGE_4K;
    this.charge(tier, bytes, reserved);
    return gva;
  }

  private growBlocks(): void {
    const n = this.blkKind.length * 2;
    const k = new Uint8Array(n);
    k.set(this.blkKind);
    this.blkKind = k;
    const t = new Int8Array(n);
    t.set(this.blkTier);
    this.blkTier = t;
    this.blkFirst = growF64(this.blkFirst, n);
    this.blkReserved = growF64(this.blkReserved, n);
    this.blkRequested = growF64(this.blkRequested, n);
    this.blkOffset = growF64(this.blkOffset, n);
  }

  private blockAt(addr: number, what: string): number {
    const id = this.blocks.get(addr);
    if (id === undefined) throw new InvariantError(`${what} of 0x${addr.toString(16)}: not an address malloc returned`);
    return id;
  }

  // ---- the seam ------------------------------------------------------------------------------

  free(addr: number): void {
    if (addr === 0) return; // free(NULL)
    if (areaOf(addr) === MemArea.Mempool) {
      const s = this.slabs;
      s.free(addr);
      this.discharge(s.lastTier, s.lastRequested, s.lastSize);
      return;
    }
    const id = this.blockAt(addr, 'free');
    this.blocks.delete(addr);
    this.blkFree.push(id);
    const tier = this.blkTier[id];
    const kind = this.blkKind[id];
    if (kind === BlockKind.Mapped) {
      this.kernel.munmap(this.blkFirst[id]);
    } else {
      const pages = this.blkReserved[id] / PAGE_4K;
      this.kernel.freeFrames(this.blkFirst[id], pages);
      this.blockFrames[tier] -= pages;
    }
    this.discharge(tier, this.blkRequested[id], this.blkReserved[id]);
  }

  usableSize(addr: number): number {
    if (areaOf(addr) === MemArea.Mempool) return this.slabs.sizeAt(addr);
    const id = this.blockAt(addr, 'usableSize');
    return this.blkReserved[id] - this.blkOffset[id];
  }

  /**
   * realloc. OSv's `std_realloc` (core/mempool.cc) always allocates a new block, copies and frees the
   * old one (`reallocInPlace` false). UCat returns the block as is when its usable size already
   * covers the new size (shrinking never moves). The copy is the caller's to charge: it is memory
   * traffic, not allocator work. A zero size is an impossible request (UserError), as for malloc.
   */
  realloc(addr: number, bytes: number, hint: AllocHint = AllocHint.Default): number {
    if (addr === 0) return this.malloc(bytes, hint);
    this.checkSize('realloc', bytes);
    if (this.reallocInPlace && bytes <= this.usableSize(addr)) {
      this.setRequested(addr, bytes);
      return addr;
    }
    const moved = this.allocate(bytes, 8, hint);
    this.free(addr);
    return moved;
  }

  private setRequested(addr: number, bytes: number): void {
    if (areaOf(addr) === MemArea.Mempool) {
      const old = this.slabs.setRequested(addr, bytes);
      this.requested[this.slabs.lastTier] += bytes - old;
      return;
    }
    const id = this.blockAt(addr, 'realloc');
    this.requested[this.blkTier[id]] += bytes - this.blkRequested[id];
    this.blkRequested[id] = bytes;
  }

  trim(): void {
    this.slabs.trim();
  }

  stats(): GuestMallocStats {
    const kernel = this.kernel;
    const tiers: Record<string, TierAllocStats> = {};
    const total = emptyTierStats();
    for (let t = 0; t < kernel.tiers.length; t++) {
      const held = (this.slabs.slabFramesByTier[t] + this.blockFrames[t] + kernel.mmapFramesByTier[t]) * PAGE_4K;
      const s: TierAllocStats = {
        requestedBytes: this.requested[t],
        reservedBytes: this.reserved[t],
        internalFragmentationBytes: this.reserved[t] - this.requested[t],
        internalFragmentation: this.requested[t] === 0 ? 0 : this.reserved[t] / this.requested[t] - 1,
        heldBytes: held,
        emptySlabBytes: this.slabs.emptySlabFrames(t) * PAGE_4K,
        liveObjects: this.liveObjects[t],
        allocations: this.allocations[t],
        frees: this.frees[t],
        fallbacksOut: this.fallbacksOut[t],
        fallbacksIn: this.fallbacksIn[t],
        failures: this.failures[t],
      };
      tiers[kernel.tiers[t].name] = s;
      for (const k of Object.keys(total) as (keyof TierAllocStats)[]) if (k !== 'internalFragmentation') total[k] += s[k];
    }
    total.internalFragmentation = total.requestedBytes === 0 ? 0 : total.reservedBytes / total.requestedBytes - 1;
    return {
      allocator: this.name,
      tiers,
      total,
      slabs: { classes: this.slabs.classCount, created: this.slabs.slabsCreated, released: this.slabs.slabsReleased },
      kernel: kernel.mappingStats(),
    };
  }
}

function emptyTierStats(): TierAllocStats {
  return {
    requestedBytes: 0,
    reservedBytes: 0,
    internalFragmentationBytes: 0,
    internalFragmentation: 0,
    heldBytes: 0,
    emptySlabBytes: 0,
    liveObjects: 0,
    allocations: 0,
    frees: 0,
    fallbacksOut: 0,
    fallbacksIn: 0,
    failures: 0,
  };
}

