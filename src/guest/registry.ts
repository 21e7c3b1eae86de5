/**
 * Building a guest: the malloc policies by name, named presets of the knobs, and `createGuest`,
 * which turns a memory map and knobs into a wired `Guest` (kernel + malloc).
 *
 * Knobs (all resolved here, before any run):
 *   allocator            'osv' (stock OSv mempool.cc over one untyped page allocator) or 'ucat'
 *                        (per-tier page and 2 MiB allocators)
 *   largePages           2 MiB leaves in the aligned interior of anonymous mappings (OSv vma::fault)
 *   linearMapLargePages  2 MiB leaves in the linear maps where they fit (OSv linear_map)
 *   slabs                ucat only: fine slab classes (true) or OSv's pools and size paths (false)
 *   tierAware            ucat only: place by hint (true) or fill DRAM first (false)
 *   placement            ucat only: per-hint placement and the DRAM reserve (malloc/ucat.ts)
 *   faultCosts           cycles of a guest page fault (kernel.ts)
 */
import { UserError } from '../base/errors.ts';
import { DEFAULT_FAULT_COSTS, GuestKernel, type FaultCosts, type KernelStats } from './kernel.ts';
import type { MemoryMap } from './memmap.ts';
import type { GuestMalloc, GuestMallocStats } from './malloc/base.ts';
import { OsvMallocBaseline } from './malloc/osv.ts';
import { UcatMalloc, type PlacementPolicy } from './malloc/ucat.ts';

export interface GuestKnobs {
  allocator: 'osv' | 'ucat';
  largePages: boolean;
  linearMapLargePages: boolean;
  slabs: boolean;
  tierAware: boolean;
  placement?: Partial<PlacementPolicy>;
  faultCosts?: FaultCosts;
}

export interface MallocEntry {
  name: 'osv' | 'ucat';
  description: string;
  /** Whether the policy needs a tiered kernel (a page allocator per memory type). */
  tiered: boolean;
  create(kernel: GuestKernel, knobs: GuestKnobs): GuestMalloc;
}

/** The malloc policies, by name. One explicit list: a policy exists once it is listed here. */
export const mallocPolicies: readonly MallocEntry[] = [
  {
    name: 'osv',
    description: "stock OSv core/mempool.cc: power-of-two pools, whole pages, page ranges, one untyped page allocator",
    tiered: false,
    create: (kernel) => new OsvMallocBaseline(kernel),
  },
  {
    name: 'ucat',
    description: 'UCat (reconstruction): fine slab classes, per-tier page and 2 MiB allocators, tier placement by hint',
    tiered: true,
    create: (kernel, knobs) => new UcatMalloc(kernel, { slabs: knobs.slabs, tierAware: knobs.tierAware, placement: knobs.placement }),
  },
];

export function findMallocPolicy(name: string): MallocEntry {
  const e = mallocPolicies.find((p) => p.name === name);
  if (!e) throw new UserError(`guest allocator '${name}' is unknown (expected ${mallocPolicies.map((p) => p.name).join(', ')})`);
  return e;
}

/**
 * Named knob sets. 'osv' is stock OSv as the issue describes it: 2 MiB pages for mappings of 2 MiB
 * and more, 4 KiB pages elsewhere in anonymous memory, linear maps with the largest page that fits.
 * 'osv-4k' is OSv with every application mapping on 4 KiB pages. The 'ucat-*' ablations switch off
 * one ingredient each.
 */
export const guestPresets: Readonly<Record<string, GuestKnobs>> = {
  osv: { allocator: 'osv', largePages: true, linearMapLargePages: true, slabs: false, tierAware: false },
  'osv-4k': { allocator: 'osv', largePages: false, linearMapLargePages: false, slabs: false, tierAware: false },
  ucat: { allocator: 'ucat', largePages: true, linearMapLargePages: true, slabs: true, tierAware: true },
  'ucat-no-slabs': { allocator: 'ucat', largePages: true, linearMapLargePages: true, slabs: false, tierAware: true },
  'ucat-no-tiers': { allocator: 'ucat', largePages: true, linearMapLargePages: true, slabs: true, tierAware: false },
  'ucat-4k': { allocator: 'ucat', largePages: false, linearMapLargePages: false, slabs: true, tierAware: true },
};

export function resolveGuestKnobs(spec: string | (Partial<GuestKnobs> & { preset?: string })): GuestKnobs {
  const s = typeof spec === 'string' ? { preset: spec } : spec;
  const presetName = s.preset ?? s.allocator ?? 'osv';
  const base = guestPresets[presetName];
  if (!base) throw new UserError(`guest preset '${presetName}' is unknown (expected ${Object.keys(guestPresets).join(', ')})`);
  const { preset: _p, ...rest } = s;
  void _p;
  const knobs: GuestKnobs = { ...base, ...rest };
  findMallocPolicy(knobs.allocator);
  return knobs;
}

export interface GuestStats extends GuestMallocStats {
  knobs: GuestKnobs;
}

/** One guest: its kernel (page tables, frames, faults) and its malloc. */
export class Guest {
  constructor(
    readonly kernel: GuestKernel,
    readonly malloc: GuestMalloc,
    readonly knobs: GuestKnobs,
  ) {}

  /** All guest statistics as one plain object. */
  stats(): GuestStats {
    return { ...this.malloc.stats(), knobs: this.knobs };
  }

  kernelStats(): KernelStats {
    return this.kernel.mappingStats();
  }
}

/**
 * Boot a guest on `map` with a preset name or knobs (a preset plus overrides). The kernel is the
 * guest page table's `TableFrameSource` and the walker's `guestPageFault` handler; `malloc` is the
 * allocator seam for applications.
 */
export function createGuest(map: MemoryMap, spec: string | (Partial<GuestKnobs> & { preset?: string })): Guest {
  const knobs = resolveGuestKnobs(spec);
  const policy = findMallocPolicy(knobs.allocator);
  const kernel = new GuestKernel(map, {
    tiered: policy.tiered,
    largePages: knobs.largePages,
    linearMapLargePages: knobs.linearMapLargePages,
    faultCosts: knobs.faultCosts ?? DEFAULT_FAULT_COSTS,
  });
  return new Guest(kernel, policy.create(kernel, knobs), knobs);
}
