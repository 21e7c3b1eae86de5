/**
 * One simulated server: the host back-end (tiered frames, VMs, EPT), the machine model (its cores,
 * LLC and the tier map, consistent with the host's frame numbering) and the VMs running on it,
 * each a guest with one vCPU pinned to a core. `runOnCores` (scheduler.ts) runs their work in time
 * slices on those cores.
 */
import { cpuPreset, type CpuPreset } from '../hw/cpu.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../hw/tiers.ts';
import { Machine } from '../hw/vcpu.ts';
import { createHostBackend, type HostBackend, type HostConfig } from '../host/index.ts';
import { SimVm, type SimVmOptions } from './vm.ts';

export interface SimHostOptions {
  host: HostConfig;
  /** CPU preset name or preset. */
  cpu: string | CpuPreset;
  /**
   * Physical cores; VM i's vCPU is pinned to core i mod cores and time-shares it with the others
   * there (src/sim/scheduler.ts). Default: one core per VM, created as VMs start.
   */
  cores?: number;
  /** VPID-tagged translations (default true); false flushes a core's TLBs on every vCPU switch. */
  vpid?: boolean;
}

export class SimHost {
  readonly backend: HostBackend;
  readonly machine: Machine;
  readonly cpu: CpuPreset;
  readonly vms: SimVm[] = [];
  /** Whether VMs are pinned round robin to a fixed set of cores (else each gets its own). */
  private readonly pinned: boolean;

  constructor(options: SimHostOptions) {
    this.cpu = typeof options.cpu === 'string' ? cpuPreset(options.cpu) : options.cpu;
    this.backend = createHostBackend({ ...options.host, clockGHz: this.cpu.clockGHz });
    const tiers = this.backend.memory.tiers;
    const tierMap = new TierMap(
      tiers.map((t, i) => resolveTier(TIER_PRESETS[t.name] ?? t.preset, i, this.cpu.clockGHz)),
      tiers.map((t) => t.frameCount),
    );
    this.pinned = options.cores !== undefined;
    this.machine = new Machine(this.cpu, tierMap, { cores: options.cores, vpid: options.vpid });
  }

  startVm(options: Omit<SimVmOptions, 'host' | 'core'>): SimVm {
    const core = this.pinned ? this.vms.length % this.machine.coreCount : undefined;
    const vm = new SimVm({ ...options, host: this, core });
    this.vms.push(vm);
    return vm;
  }

  /**
   * Host frames in use per tier (data, EPT tables, shared), in 4 KiB frames. EPT table pages are
   * 4 KiB blocks, so `allocatedFrames` already counts them (adding `tableFrames` counted them twice).
   */
  residentFrames(): number[] {
    return this.backend.memory.tiers.map((t) => t.allocatedFrames);
  }
}
