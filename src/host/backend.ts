/**
 * The host back-end: tiered host memory, the VMs it runs, the policy that backs their memory, and
 * the accounting. Built once from a resolved configuration; VMs come and go during a run.
 *
 * Lifecycle: `createHostBackend(config)` (validates at the edge, resolves names to tier ids and
 * nanoseconds to cycles), then `createVm` / `destroyVm` while the simulation runs, `accounting.sample`
 * every simulated second, `checkInvariants()` in tests (or behind AssertionLevel.Aggressive).
 */
import { AssertionLevel, InvariantError, shouldCheck } from '../base/assert.ts';
import { UserError } from '../base/errors.ts';
import { PageSize } from '../base/units.ts';
import type { TlbInvalidator } from '../hw/faults.ts';
import { HostAccounting } from './accounting.ts';
import { DEFAULT_HOST_COSTS, resolveHostCosts, type HostCostParams, type ResolvedHostCosts } from './costs.ts';
import { FrameFlag, HostMemory, type TierSpec } from './frames.ts';
import { hostVariant, type BackendVariant, type VmMemoryRequest } from './variants.ts';
import { HostVm, HugeBackingMode, type RegionSpec, type ResolvedHostPolicy } from './vm.ts';

export type HugeBackingName = 'never' | 'always' | 'madvise';

const HUGE_MODES: Record<HugeBackingName, HugeBackingMode> = {
  never: HugeBackingMode.Never,
  always: HugeBackingMode.Always,
  madvise: HugeBackingMode.Madvise,
};

export interface HostPolicyConfig {
  /** THP-like mode for backing guest memory (Linux transhuge.rst modes). Default: the variant's ('madvise'). */
  hugeBacking?: HugeBackingName;
  /** Tiers (names or kinds) in the order lazy backing tries them. Default: the configuration's tier order. */
  fallbackOrder?: string[];
  /** Tiers EPT table pages come from, in order. Default: DRAM tiers first, then the rest in configuration order. */
  tableTiers?: string[];
}

export interface HostConfig {
  /** Host memory, tier after tier (frame numbers follow this order, like hw TierMap). */
  tiers: TierSpec[];
  /** Back-end variant name (HOST_VARIANTS): 'tierAware' or 'baseline'. */
  variant: string;
  policy?: HostPolicyConfig;
  /** Core clock for converting host costs to cycles, GHz. Default 2.6 [assumption: a typical server clock; pass the CPU preset's]. */
  clockGHz?: number;
  costs?: Partial<HostCostParams>;
  /** Keep a per-VM time series (rows per VM and tier per sample). Default false. */
  perVmSeries?: boolean;
}

export interface VmOptions extends VmMemoryRequest {
  invalidator?: TlbInvalidator;
}

export class HostBackend {
  readonly memory: HostMemory;
  readonly variant: BackendVariant;
  readonly policy: ResolvedHostPolicy;
  readonly costs: ResolvedHostCosts;
  readonly accounting: HostAccounting;
  /** VMs by id; destroyed VMs leave null. */
  private readonly vms: (HostVm | null)[] = [];
  /** VMs created and destroyed, for the statistics tree. */
  created = 0;
  destroyed = 0;

  constructor(config: HostConfig) {
    if (!config || typeof config !== 'object') throw new UserError('host configuration missing');
    this.memory = new HostMemory(config.tiers);
    this.variant = hostVariant(config.variant);
    const p = config.policy ?? {};
    const hugeName = p.hugeBacking;
    if (hugeName !== undefined && !(hugeName in HUGE_MODES)) throw new UserError(`host policy hugeBacking '${String(hugeName)}' (expected never, always or madvise)`);
    const ids = this.memory.tiers.map((t) => t.id);
    const fallbackOrder = p.fallbackOrder ? this.tierList(p.fallbackOrder, 'fallbackOrder') : ids;
    const dramFirst = [...ids.filter((i) => this.memory.tiers[i].kind === 'dram'), ...ids.filter((i) => this.memory.tiers[i].kind !== 'dram')];
    const tableTierOrder = p.tableTiers ? this.tierList(p.tableTiers, 'tableTiers') : dramFirst;
    this.policy = {
      hugeMode: hugeName !== undefined ? HUGE_MODES[hugeName] : this.variant.defaultHugeMode,
      fallbackOrder,
      tableTierOrder,
    };
    const clock = config.clockGHz ?? 2.6;
    if (!Number.isFinite(clock) || clock <= 0) throw new UserError(`host clockGHz must be positive, got ${clock}`);
    const costs = { ...DEFAULT_HOST_COSTS, ...(config.costs ?? {}) };
    for (const [k, v] of Object.entries(costs)) if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UserError(`host cost ${k} must be a non-negative number`);
    this.costs = resolveHostCosts(costs, clock);
    this.accounting = new HostAccounting(this.memory, () => this.vms, config.perVmSeries ?? false);
  }

  /** Tier names -> ids, each tier at most once; tiers not named are appended in configuration order. */
  private tierList(names: string[], field: string): number[] {
    const out: number[] = [];
    for (const n of names) {
      const id = this.memory.tierId(n);
      if (out.includes(id)) throw new UserError(`host policy ${field}: tier '${n}' listed twice`);
      out.push(id);
    }
    for (const t of this.memory.tiers) if (!out.includes(t.id)) out.push(t.id);
    return out;
  }

  /** Start a VM whose regions the variant lays out from its memory request. */
  createVm(options: VmOptions): HostVm {
    return this.createVmWithRegions(this.variant.layout(options, this.memory), options.invalidator);
  }

  /** Start a VM with explicit regions (experiments and tests that control the layout). */
  createVmWithRegions(regions: RegionSpec[], invalidator?: TlbInvalidator): HostVm {
    const vm = new HostVm(this.vms.length, this.memory, regions, this.policy, this.costs, invalidator ?? null);
    this.vms.push(vm);
    this.created++;
    return vm;
  }

  /** Destroy a VM: every frame and table page returns to the free lists. */
  destroyVm(vm: HostVm): void {
    if (this.vms[vm.id] !== vm) throw new InvariantError(`VM ${vm.id} does not belong to this host`);
    vm.release();
    this.vms[vm.id] = null;
    this.destroyed++;
    if (shouldCheck(AssertionLevel.Aggressive)) this.checkInvariants();
  }

  vm(id: number): HostVm | null {
    return this.vms[id] ?? null;
  }

  /** Live VMs. */
  liveVms(): HostVm[] {
    return this.vms.filter((v): v is HostVm => v !== null);
  }

  /**
   * Whole-structure scan: HostMemory's own invariants, then across VMs: every EPT leaf points at
   * allocated data frames; a private frame is mapped exactly once, by its owner; every allocated
   * frame's reference count equals the number of EPT leaves that map it; table pages are allocated,
   * flagged, owned by their VM and counted; each VM's counters match a recount of its leaves.
   */
  checkInvariants(): void {
    const mem = this.memory;
    mem.checkInvariants();
    const refs = new Map<number, number>();
    const tiers = mem.tiers.length;
    for (const vm of this.liveVms()) {
      const r4 = new Float64Array(tiers);
      const r2 = new Float64Array(tiers);
      const sh = new Float64Array(tiers);
      vm.ept.forEachLeaf((addr, frame, size) => {
        const n = size === PageSize.Size4K ? 1 : size === PageSize.Size2M ? 512 : 262144;
        const fl = mem.flags(frame);
        if (!(fl & FrameFlag.Allocated)) throw new InvariantError(`VM ${vm.id}: leaf 0x${addr.toString(16)} maps free frame ${frame}`);
        if (fl & FrameFlag.PageTable) throw new InvariantError(`VM ${vm.id}: leaf 0x${addr.toString(16)} maps page-table frame ${frame}`);
        if (size === PageSize.Size2M && !(fl & FrameFlag.Huge2M)) throw new InvariantError(`VM ${vm.id}: 2 MiB leaf 0x${addr.toString(16)} maps frame ${frame}, which heads no 2 MiB block`);
        if (vm.regionOf(addr) < 0 || vm.regionOf(addr + n * 4096 - 1) !== vm.regionOf(addr)) throw new InvariantError(`VM ${vm.id}: leaf 0x${addr.toString(16)} is not inside one region`);
        const owner = mem.owner(frame);
        const tier = mem.tierOf(frame);
        if (owner >= 0 && owner !== vm.id) throw new InvariantError(`VM ${vm.id}: leaf 0x${addr.toString(16)} maps frame ${frame}, private to VM ${owner}`);
        if (owner < 0 && size !== PageSize.Size4K) throw new InvariantError(`VM ${vm.id}: shared frame ${frame} mapped by a huge leaf`);
        if (owner < 0) sh[tier]++;
        else if (size === PageSize.Size4K) r4[tier]++;
        else r2[tier]++;
        for (let f = frame; f < frame + n; f++) refs.set(f, (refs.get(f) ?? 0) + 1);
      });
      const c = vm.counters;
      const tables = new Float64Array(tiers);
      for (const f of vm.ept.tableFrames()) {
        const fl = mem.flags(f);
        if (!(fl & FrameFlag.Allocated) || !(fl & FrameFlag.PageTable) || mem.owner(f) !== vm.id) throw new InvariantError(`VM ${vm.id}: EPT table frame ${f} is not an allocated page-table frame of this VM`);
        tables[mem.tierOf(f)]++;
      }
      for (let t = 0; t < tiers; t++) {
        if (c.resident4k[t] !== r4[t] || c.resident2m[t] !== r2[t] || c.sharedMapped[t] !== sh[t] || c.tableFrames[t] !== tables[t]) {
          throw new InvariantError(
            `VM ${vm.id} tier ${t}: counters (4K ${c.resident4k[t]}, 2M ${c.resident2m[t]}, shared ${c.sharedMapped[t]}, table ${c.tableFrames[t]}) != recount (${r4[t]}, ${r2[t]}, ${sh[t]}, ${tables[t]})`,
          );
        }
      }
    }
    mem.forEachAllocated((frame, flags, owner, refcount) => {
      const expected = refs.get(frame) ?? 0;
      if (refcount !== expected) throw new InvariantError(`frame ${frame}: reference count ${refcount}, but ${expected} EPT leaves map it`);
      if (owner >= 0) {
        const vm = this.vms[owner];
        if (!vm) throw new InvariantError(`frame ${frame} is private to VM ${owner}, which is not running`);
        if (!(flags & FrameFlag.PageTable) && refcount !== 1) throw new InvariantError(`private frame ${frame} of VM ${owner} is mapped ${refcount} times`);
      }
    });
  }
}

/** Factory by configuration: the host back-end for a run. */
export function createHostBackend(config: HostConfig): HostBackend {
  return new HostBackend(config);
}
