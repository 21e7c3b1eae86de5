/**
 * Back-end variants: how a VM's memory request becomes guest-physical regions. Picked by name from
 * the one registry below (`HOST_VARIANTS`).
 *
 * Contract: `layout` turns a validated request into disjoint, 4 KiB-aligned regions starting at
 * guest-physical 0, with tiers given as host tier ids (-1 untyped); it must not touch host memory
 * (backing is lazy and belongs to HostVm). It throws UserError for a request the variant cannot
 * honour.
 */
import { UserError } from '../base/errors.ts';
import { alignUp, formatBytes, PAGE_2M } from '../base/units.ts';
import type { HostMemory } from './frames.ts';
import { HugeBackingMode } from './vm.ts';
import type { RegionSpec } from './vm.ts';

/** A VM's memory as configured: bytes per host tier (name or kind), plus whether it wants huge backing. */
export interface VmMemoryRequest {
  memory: readonly { tier: string; bytes: number }[];
  /** Ask for huge backing (MADV_HUGEPAGE on the regions). Default: the variant's. */
  hugeBacking?: boolean;
}

export interface BackendVariant {
  name: string;
  description: string;
  /** THP mode the host runs with unless configured otherwise. */
  defaultHugeMode: HugeBackingMode;
  layout(request: VmMemoryRequest, memory: HostMemory): RegionSpec[];
}

/** Sizes per tier id, validated: positive, finite, no tier larger than the host's memory. */
function requestedBytes(request: VmMemoryRequest, memory: HostMemory): number[] {
  if (!request || !Array.isArray(request.memory) || request.memory.length === 0) throw new UserError('a VM must ask for some memory (e.g. memory: [{tier: ddr4, bytes: 1GiB}])');
  const bytes = new Array<number>(memory.tiers.length).fill(0);
  for (const m of request.memory) {
    const id = memory.tierId(m.tier);
    if (typeof m.bytes !== 'number' || !Number.isFinite(m.bytes) || m.bytes <= 0) {
      throw new UserError(`VM memory for tier '${m.tier}' must be a positive number of bytes, got ${String(m.bytes)}`);
    }
    bytes[id] += m.bytes;
  }
  let total = 0;
  for (const b of bytes) total += b;
  const hostBytes = memory.totalFrames * 4096;
  if (total > hostBytes) throw new UserError(`VM asks for ${formatBytes(total)} but the host has only ${formatBytes(hostBytes)}`);
  return bytes;
}

/**
 * UCat's back-end (our reconstruction, research/ucat.md §1.4): one typed region per tier, in host
 * tier order, each start and size a multiple of 2 MiB, huge backing requested.
 */
export const tierAwareVariant: BackendVariant = {
  name: 'tierAware',
  description: 'one typed, 2 MiB-aligned region per tier, huge backing (UCat back-end, reconstructed)',
  defaultHugeMode: HugeBackingMode.Madvise,
  layout(request, memory) {
    const bytes = requestedBytes(request, memory);
    const regions: RegionSpec[] = [];
    let cursor = 0;
    for (let t = 0; t < bytes.length; t++) {
      if (bytes[t] === 0) continue;
      const size = alignUp(bytes[t], PAGE_2M);
      if (size > memory.tiers[t].bytes) {
        throw new UserError(`VM asks for ${formatBytes(size)} of ${memory.tiers[t].name} but the host tier has only ${formatBytes(memory.tiers[t].bytes)}`);
      }
      regions.push({ gpaStart: cursor, bytes: size, tier: t, hugeBacking: request.hugeBacking ?? true });
      cursor = alignUp(cursor + size, PAGE_2M);
    }
    return regions;
  },
};

/**
 * A tier-unaware hypervisor: one untyped region of the total size at guest-physical 0 (rounded up
 * to 2 MiB, as VMMs size guest RAM), backed by DRAM first and then NVM in the order pages are
 * touched. 4 KiB backing unless the VM asks for huge backing or the host runs THP 'always'.
 */
export const baselineVariant: BackendVariant = {
  name: 'baseline',
  description: 'one untyped region, DRAM first then NVM, 4 KiB backing unless THP is configured',
  defaultHugeMode: HugeBackingMode.Madvise,
  layout(request, memory) {
    const bytes = requestedBytes(request, memory);
    let total = 0;
    for (const b of bytes) total += b;
    return [{ gpaStart: 0, bytes: alignUp(total, PAGE_2M), tier: -1, hugeBacking: request.hugeBacking ?? false }];
  },
};

/** The registry: every back-end variant by name. */
export const HOST_VARIANTS: Readonly<Record<string, BackendVariant>> = {
  tierAware: tierAwareVariant,
  baseline: baselineVariant,
};

export function hostVariant(name: string): BackendVariant {
  const v = HOST_VARIANTS[name];
  if (!v) throw new UserError(`unknown host back-end '${name}' (expected one of ${Object.keys(HOST_VARIANTS).join(', ')})`);
  return v;
}
