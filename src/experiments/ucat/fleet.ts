/**
 * One configuration of the `ucat` experiment: a host, a fleet of VMs (half memcached under memslap,
 * half a document store under YCSB), run interleaved in simulated time, then measured.
 *
 * Scheduling: the host has `cores` cores; VM i's vCPU is pinned to core i mod cores, and each core
 * runs its vCPUs in time slices (src/sim/scheduler.ts), one operation at a time. VMs therefore
 * touch memory, and the tier-unaware host hands out DRAM first-come first-served, in the order
 * simulated time gives; they share their core's TLBs and caches and the host's LLC. The counter
 * snapshot that excludes the load phase is taken right before a VM's first run-phase operation,
 * and the VM's run phase lasts from there to its end in its core's simulated time.
 *
 * Measured: host frames per tier at the end (data + EPT tables + guest page tables, which are
 * guest data to the host); guest malloc requested/reserved bytes and guest page-table leaves at the
 * end; vCPU counters (TLB misses, walk and data cycles, data lines served per memory tier) and
 * workload cycles of the run phase only (snapshot difference).
 */
import { Rng } from '../../base/rng.ts';
import { DocumentStore } from '../../apps/docstore.ts';
import { WorkloadRunner } from '../../apps/driver.ts';
import { MemcachedStore } from '../../apps/memcached.ts';
import type { Progress } from '../../base/progress.ts';
import { SimHost } from '../../sim/host.ts';
import { quantumCycles, runOnCores, type CoreTask } from '../../sim/scheduler.ts';
import type { SimVm } from '../../sim/vm.ts';
import { diffSnapshots } from '../../hw/counters.ts';
import { createMemslapWorkload } from '../../workload/memslap.ts';
import { createYcsbWorkload } from '../../workload/ycsb.ts';
import type { UcatConfiguration } from './configs.ts';

const MiB = 1024 * 1024;

export interface FleetParams {
  cpu: string;
  dramTier: string;
  nvmTier: string;
  hostDramMiB: number;
  hostNvmMiB: number;
  vms: number;
  vmDramMiB: number;
  vmNvmMiB: number;
  memslapInitialLoad: number;
  memslapValueBytes: number;
  memcachedMemLimitMiB: number;
  ycsbWorkload: string;
  ycsbRecordCount: number;
  ycsbOperationCount: number;
  /** Physical cores the VMs' vCPUs time-share. */
  cores: number;
}

export type WorkloadName = 'memslap' | 'ycsb';

/** Run-phase figures of one VM. */
export interface VmResult {
  vm: number;
  workload: WorkloadName;
  ops: number;
  computeCycles: number;
  memoryCycles: number;
  accesses: number;
  walks: number;
  walkCycles: number;
  translationCycles: number;
  dataCycles: number;
  l1TlbMisses: number;
  /** Data lines served by memory, per host tier [DRAM, NVM] (cache misses of the run phase). */
  dataLinesMem: number[];
  requestedBytes: number;
  reservedBytes: number;
  misses: number;
  /** Guest page-table leaves at the end, per size: the translations the VM's footprint needs. */
  leaves4K: number;
  leaves2M: number;
  /** Core cycles from the VM's first run-phase operation to its last one's end (other VMs' slices on its core included). */
  runWallCycles: number;
}

export interface FleetResult {
  configuration: string;
  /** Host 4 KiB frames in use per tier at the end: [DRAM, NVM]. */
  residentFrames: number[];
  /** EPT table frames, all tiers. */
  eptTableFrames: number;
  /** Frames the host's allocator has handed out (the accounting check). */
  allocatedFrames: number;
  vms: VmResult[];
  /** Total operations run (load + run), for progress and sanity. */
  totalOps: number;
}

interface Slot {
  vm: SimVm;
  workload: WorkloadName;
  runner: WorkloadRunner;
  loadCount: number;
  before: Record<string, number> | null;
  /** Core clock at the first run-phase operation (-1 before it). */
  runStartAt: number;
}

/** Total operations one fleet runs, load and run phases (for progress totals). */
export function fleetOps(p: FleetParams): number {
  const memslapVms = Math.ceil(p.vms / 2);
  const ycsbVms = p.vms - memslapVms;
  return memslapVms * 2 * p.memslapInitialLoad + ycsbVms * (p.ycsbRecordCount + p.ycsbOperationCount);
}

export function runFleet(config: UcatConfiguration, p: FleetParams, seed: number, progress: Progress, opsBefore: number): FleetResult {
  const host = new SimHost({
    cpu: p.cpu,
    cores: p.cores,
    host: {
      tiers: [
        { tier: p.dramTier, bytes: p.hostDramMiB * MiB },
        { tier: p.nvmTier, bytes: p.hostNvmMiB * MiB },
      ],
      variant: config.variant,
      policy: { hugeBacking: config.hugeBacking },
    },
  });
  const root = new Rng(seed);
  const slots: Slot[] = [];
  for (let i = 0; i < p.vms; i++) {
    const vm = host.startVm({
      memory: [
        { tier: p.dramTier, bytes: p.vmDramMiB * MiB },
        { tier: p.nvmTier, bytes: p.vmNvmMiB * MiB },
      ],
      guest: config.guest,
    });
    // Even VMs run memcached/memslap, odd ones the document store/YCSB; the streams depend on the
    // VM number only, so every configuration sees the same operations.
    if (i % 2 === 0) {
      const gen = createMemslapWorkload(root.fork(`vm${i}/memslap`), { test: 'get', initialLoad: p.memslapInitialLoad, valueBytes: p.memslapValueBytes });
      const app = new MemcachedStore(vm.guest.malloc, vm.vcpu, { memLimitBytes: p.memcachedMemLimitMiB * MiB });
      slots.push({ vm, workload: 'memslap', runner: new WorkloadRunner(app, gen), loadCount: gen.loadCount, before: null, runStartAt: -1 });
    } else {
      const gen = createYcsbWorkload(p.ycsbWorkload, root.fork(`vm${i}/ycsb`), { recordCount: p.ycsbRecordCount, operationCount: p.ycsbOperationCount });
      const app = new DocumentStore(vm.guest.malloc, vm.vcpu);
      slots.push({ vm, workload: 'ycsb', runner: new WorkloadRunner(app, gen), loadCount: gen.loadCount, before: null, runStartAt: -1 });
    }
  }

  let done = 0;
  let lastReport = 0;
  const tasks: CoreTask[] = slots.map((s) => ({
    vcpu: s.vm.vcpu,
    get done(): boolean {
      return s.runner.done;
    },
    step(now: number): void {
      if (s.before === null && !s.runner.inLoadPhase) {
        s.before = s.vm.vcpu.counters.snapshot();
        s.runStartAt = now;
      }
      done += s.runner.step(1);
      if (done - lastReport >= 20_000) {
        lastReport = done;
        progress.update(opsBefore + done, `${config.name}: ${done} ops on ${slots.length} VMs`);
      }
    },
    spent(): number {
      const c = s.runner.counts;
      return c.setupCycles + c.load.cycles + c.run.cycles;
    },
  }));
  const schedule = runOnCores(host.machine, tasks, quantumCycles(host.machine));

  const vms: VmResult[] = slots.map((s, i) => {
    const d = diffSnapshots(s.before ?? s.vm.vcpu.counters.snapshot(), s.vm.vcpu.counters.snapshot());
    const run = s.runner.counts.run;
    const total = s.vm.guest.stats().total;
    const kernel = s.vm.guest.kernelStats();
    return {
      vm: i,
      workload: s.workload,
      ops: run.total,
      computeCycles: run.computeCycles,
      memoryCycles: run.memoryCycles,
      accesses: d.accesses,
      walks: d.walks,
      walkCycles: d.walkCycles,
      translationCycles: d.translationCycles,
      dataCycles: d.dataCycles,
      l1TlbMisses: d.l1TlbMisses,
      dataLinesMem: [d['dataMem.tier0'], d['dataMem.tier1']],
      requestedBytes: total.requestedBytes,
      reservedBytes: total.reservedBytes,
      misses: run.misses,
      leaves4K: kernel.leaves4K,
      leaves2M: kernel.leaves2M,
      runWallCycles: s.runStartAt < 0 ? 0 : schedule.finishedAt[i] - s.runStartAt,
    };
  });
  let eptTableFrames = 0;
  for (const t of host.backend.memory.tiers) eptTableFrames += t.tableFrames;
  return {
    configuration: config.name,
    residentFrames: host.residentFrames(),
    eptTableFrames,
    allocatedFrames: host.backend.memory.allocatedFrames,
    vms,
    totalOps: done,
  };
}
