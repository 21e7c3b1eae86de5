/**
 * One configuration of the `ucat` experiment: a host, a fleet of VMs (half memcached under memslap,
 * half a document store under YCSB), run interleaved in simulated time, then measured.
 *
 * Scheduling: the VM whose vCPU has used the fewest cycles so far (setup + operations) runs the
 * next slice of `sliceOps` operations (ties: lowest VM number). VMs therefore touch memory, and
 * the tier-unaware host hands out DRAM first-come first-served, in the order simulated time gives,
 * and they share the machine's LLC. A slice never crosses a VM's load/run boundary, so the
 * snapshot that excludes the load phase is exact.
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
  sliceOps: number;
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
      slots.push({ vm, workload: 'memslap', runner: new WorkloadRunner(app, gen), loadCount: gen.loadCount, before: null });
    } else {
      const gen = createYcsbWorkload(p.ycsbWorkload, root.fork(`vm${i}/ycsb`), { recordCount: p.ycsbRecordCount, operationCount: p.ycsbOperationCount });
      const app = new DocumentStore(vm.guest.malloc, vm.vcpu);
      slots.push({ vm, workload: 'ycsb', runner: new WorkloadRunner(app, gen), loadCount: gen.loadCount, before: null });
    }
  }

  // Interleave in simulated time: the VM that has used the fewest cycles runs next.
  const elapsed = new Float64Array(slots.length);
  let done = 0;
  let lastReport = 0;
  for (;;) {
    let next = -1;
    for (let i = 0; i < slots.length; i++) {
      if (slots[i].runner.done) continue;
      if (next < 0 || elapsed[i] < elapsed[next]) next = i;
    }
    if (next < 0) break;
    const s = slots[next];
    const c = s.runner.counts;
    const loadLeft = s.loadCount - c.load.total;
    done += s.runner.step(loadLeft > 0 ? Math.min(p.sliceOps, loadLeft) : p.sliceOps);
    if (s.before === null && !s.runner.inLoadPhase) s.before = s.vm.vcpu.counters.snapshot();
    elapsed[next] = c.setupCycles + c.load.cycles + c.run.cycles;
    if (done - lastReport >= 20_000) {
      lastReport = done;
      progress.update(opsBefore + done, `${config.name}: ${done} ops on ${slots.length} VMs`);
    }
  }

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
