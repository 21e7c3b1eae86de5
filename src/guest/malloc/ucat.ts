/**
 * The UCat allocator (our reconstruction of the multi-grained, tier-aware front-end, ucat.md §1.4;
 * the paper's text is not available). On a tiered guest kernel (a page allocator and a 2 MiB
 * large-page allocator per tier, see tier.ts):
 *
 *   size (B)            where                                    reserved
 *   1 .. 16384          slab of the tier, fine classes (classes.ts)  the class size
 *   16385 .. < 2 MiB    page-granular block, no header, `main` area  page_round(size)
 *   >= 2 MiB            anonymous mapping on the tier's 2 MiB pages  page_round(size)
 *
 * Knobs: `slabs: false` replaces the fine classes and the size paths by OSv's (pools, whole pages,
 * 48-byte large header) so that "OSv plus large pages" or "OSv plus tiers" can be run apart;
 * `tierAware: false` ignores hints and fills DRAM first.
 *
 * Placement (reconstruction; the paper's policy is unknown, ucat.md §1.5): each hint maps to
 * 'dram', 'nvm' or 'auto'. 'auto' means DRAM while the DRAM tier keeps more than
 * `dramReserveBytes` available after the allocation, else NVM. Defaults: Metadata and Hot in DRAM,
 * Bulk 'auto', Default by size (up to `smallBytes` as Hot, above as Bulk). The default reserve is
 * 10% of DRAM, OSv's `watermark_lo` (10% of total memory, ucat.md §2.3). When the chosen tier
 * cannot serve a request the other tier does (counted as a fallback); only when neither can is
 * the request a failure.
 */
import { AllocHint } from '../allocator.ts';
import { UserError } from '../../base/errors.ts';
import { InvariantError } from '../../base/assert.ts';
import { PAGE_2M, PAGE_4K } from '../../base/units.ts';
import { Tier, type GuestKernel } from '../kernel.ts';
import { UCAT_SLAB_MAX, osvPoolGeometry, ucatSlabGeometry } from '../classes.ts';
import { MallocBase } from './base.ts';

export type Placement = 'dram' | 'nvm' | 'auto';

export interface PlacementPolicy {
  metadata: Placement;
  hot: Placement;
  bulk: Placement;
  /** Default hint: a fixed placement, or 'by-size' (as `hot` up to `smallBytes`, else as `bulk`). */
  default: Placement | 'by-size';
  /** Largest Default-hint object treated as small, bytes. */
  smallBytes: number;
  /** DRAM kept free for small and hot objects before 'auto' sends data to NVM, bytes; undefined = 10% of DRAM. */
  dramReserveBytes?: number;
}

export const DEFAULT_PLACEMENT: PlacementPolicy = {
  metadata: 'dram',
  hot: 'dram',
  bulk: 'auto',
  default: 'by-size',
  smallBytes: PAGE_4K,
};

export interface UcatOptions {
  /** Fine slab classes (true) or OSv's power-of-two pools and size paths (false). */
  slabs: boolean;
  /** Place by hint (true) or fill DRAM first regardless of hints (false). */
  tierAware: boolean;
  placement?: Partial<PlacementPolicy>;
}

const PLACEMENTS = ['dram', 'nvm', 'auto'];

export class UcatMalloc extends MallocBase {
  readonly name = 'ucat';
  protected readonly reallocInPlace = true;
  private readonly fine: boolean;
  private readonly tierAware: boolean;
  readonly placement: Readonly<PlacementPolicy>;
  private readonly reserveFrames: number;
  // Hint -> placement id (0 dram, 1 nvm, 2 auto, 3 by-size), resolved once.
  private readonly byHint = new Int8Array(4);

  constructor(kernel: GuestKernel, options: UcatOptions) {
    super(kernel, options.slabs ? ucatSlabGeometry() : osvPoolGeometry());
    if (kernel.tiers.length !== 2) throw new InvariantError('UCat runs on a tiered guest kernel (DRAM and NVM page allocators)');
    this.fine = options.slabs;
    this.tierAware = options.tierAware;
    const p: PlacementPolicy = { ...DEFAULT_PLACEMENT, ...options.placement };
    for (const k of ['metadata', 'hot', 'bulk'] as const)
      if (!PLACEMENTS.includes(p[k])) throw new UserError(`guest placement.${k}: '${p[k]}' must be dram, nvm or auto`);
    if (p.default !== 'by-size' && !PLACEMENTS.includes(p.default))
      throw new UserError(`guest placement.default: '${p.default}' must be dram, nvm, auto or by-size`);
    if (!(p.smallBytes >= 0)) throw new UserError(`guest placement.smallBytes: ${p.smallBytes} must be a size in bytes`);
    const dramBytes = kernel.tiers[Tier.Dram].totalFrames * PAGE_4K;
    const reserve = p.dramReserveBytes ?? Math.floor(dramBytes / 10);
    if (!(reserve >= 0)) throw new UserError(`guest placement.dramReserveBytes: ${reserve} must be a size in bytes`);
    this.placement = { ...p, dramReserveBytes: reserve };
    this.reserveFrames = Math.ceil(reserve / PAGE_4K);
    const id = (x: Placement | 'by-size') => (x === 'dram' ? 0 : x === 'nvm' ? 1 : x === 'auto' ? 2 : 3);
    this.byHint[AllocHint.Default] = id(p.default);
    this.byHint[AllocHint.Hot] = id(p.hot);
    this.byHint[AllocHint.Bulk] = id(p.bulk);
    this.byHint[AllocHint.Metadata] = id(p.metadata);
  }

  /** The tier the policy picks for an object of `bytes` with `hint`. */
  chooseTier(hint: AllocHint, bytes: number): number {
    const kernel = this.kernel;
    if (!this.tierAware || kernel.tiers[Tier.Nvm].totalFrames === 0) return Tier.Dram;
    if (kernel.tiers[Tier.Dram].totalFrames === 0) return Tier.Nvm;
    let p = this.byHint[hint];
    if (p === 3) p = this.byHint[bytes <= this.placement.smallBytes ? AllocHint.Hot : AllocHint.Bulk];
    if (p === 3) p = 2;
    if (p === 0) return Tier.Dram;
    if (p === 1) return Tier.Nvm;
    return kernel.tiers[Tier.Dram].available() - Math.ceil(bytes / PAGE_4K) > this.reserveFrames ? Tier.Dram : Tier.Nvm;
  }

  protected allocate(bytes: number, align: number, hint: AllocHint): number {
    const first = this.chooseTier(hint, bytes);
    let r = this.fine ? this.finePath(bytes, align, first) : this.osvPath(bytes, align, first);
    if (r >= 0) return r;
    const other = first === Tier.Dram ? Tier.Nvm : Tier.Dram;
    if (this.kernel.tiers[other].totalFrames > 0) {
      r = this.fine ? this.finePath(bytes, align, other) : this.osvPath(bytes, align, other);
      if (r >= 0) {
        this.countFallback(first, other);
        return r;
      }
    }
    return this.outOfMemory(bytes, first);
  }

  private finePath(bytes: number, align: number, tier: number): number {
    if (bytes <= UCAT_SLAB_MAX && align <= PAGE_4K) {
      const slabs = this.slabs;
      let c = slabs.classOf(bytes);
      // memalign: a class whose size is a multiple of the alignment keeps every slot aligned
      // (slabs start on a page boundary and have no header).
      while (c < slabs.classCount && slabs.classSize(c) % align !== 0) c++;
      if (c < slabs.classCount) return this.allocSlab(c, tier, bytes);
    }
    const size = Math.ceil(bytes / PAGE_4K) * PAGE_4K;
    if (size < PAGE_2M) {
      const r = this.allocLarge(tier, size / PAGE_4K, 0, align, bytes);
      if (r >= 0) return r;
      // No contiguous run of pages: a mapping does not need one.
    }
    return this.allocMapped(tier, size, 0, align > PAGE_2M ? align : PAGE_2M, bytes);
  }
}
