/**
 * From the VMs' measured figures to the rows of the `ucat` tables: sums over a fleet, ratios per
 * access and per request, and throughput.
 *
 * Throughput comes from simulated time on the host's cores (fleet.ts). A core runs its VMs' vCPUs
 * in turn, so in the steady state the measured windows stand for, its time goes to their windows:
 * a core serves the requests of its VMs' windows in the core time those windows took (their own
 * units, faults included, and the switches back onto the core), and a VM's rate is its requests
 * over that time at the clock. The host's rate is the sum over its VMs, i.e. over its cores. Warm-up
 * and the time the core spent on other VMs' warm-ups are left out.
 */
import { mean, ratio, round } from '../../base/stats.ts';
import type { FleetResult, VmResult, WorkloadName } from './fleet.ts';

const FRAME_MIB = 4096 / (1024 * 1024);

/** Sums over some VMs, and their throughput. */
export interface VmTotals {
  vms: number;
  ops: number;
  accesses: number;
  l1TlbMisses: number;
  walks: number;
  walkCycles: number;
  translationCycles: number;
  computeCycles: number;
  /** Core time of the windows (cycles), and its parts that are not compute, translation or data. */
  coreCycles: number;
  faultCycles: number;
  switchCycles: number;
  flushCycles: number;
  switches: number;
  dataCycles: number;
  /** Data lines served by memory, [DRAM, NVM]. */
  dataLinesMem: [number, number];
  requestedBytes: number;
  reservedBytes: number;
  /** Largest number of guest 2 MiB leaves of one VM. */
  maxLeaves2M: number;
  /** Mean of the VMs' rates, and the host's rate (ops/s). */
  opsPerVm: number;
  hostOps: number;
}

/** Add up `vms`, the VMs of one host; their rates from their cores' time (see the header comment). */
export function totalVms(vms: readonly VmResult[], clockHz: number): VmTotals {
  const a: VmTotals = {
    vms: vms.length,
    ops: 0,
    accesses: 0,
    l1TlbMisses: 0,
    walks: 0,
    walkCycles: 0,
    translationCycles: 0,
    computeCycles: 0,
    coreCycles: 0,
    faultCycles: 0,
    switchCycles: 0,
    flushCycles: 0,
    switches: 0,
    dataCycles: 0,
    dataLinesMem: [0, 0],
    requestedBytes: 0,
    reservedBytes: 0,
    maxLeaves2M: 0,
    opsPerVm: 0,
    hostOps: 0,
  };
  const coreTime = new Map<number, number>();
  for (const v of vms) coreTime.set(v.core, (coreTime.get(v.core) ?? 0) + v.coreCycles);
  const rates: number[] = [];
  for (const v of vms) {
    a.ops += v.ops;
    a.accesses += v.accesses;
    a.l1TlbMisses += v.l1TlbMisses;
    a.walks += v.walks;
    a.walkCycles += v.walkCycles;
    a.translationCycles += v.translationCycles;
    a.computeCycles += v.computeCycles;
    a.coreCycles += v.coreCycles;
    a.faultCycles += v.faultCycles;
    a.switchCycles += v.switchCycles;
    a.flushCycles += v.flushCycles;
    a.switches += v.switches;
    a.dataCycles += v.dataCycles;
    a.dataLinesMem[0] += v.dataLinesMem[0];
    a.dataLinesMem[1] += v.dataLinesMem[1];
    a.requestedBytes += v.requestedBytes;
    a.reservedBytes += v.reservedBytes;
    a.maxLeaves2M = Math.max(a.maxLeaves2M, v.leaves2M);
    const cycles = coreTime.get(v.core) as number;
    rates.push(cycles > 0 ? (v.ops * clockHz) / cycles : 0);
  }
  a.opsPerVm = mean(rates);
  a.hostOps = rates.reduce((t, r) => t + r, 0);
  return a;
}

/** Host memory at the end: data, EPT and guest page tables, per tier. */
export interface MemoryFigures {
  dramMiB: number;
  nvmMiB: number;
  totalMiB: number;
  eptTableMiB: number;
}

/** Guest fragmentation and translation per access. */
export interface AccessFigures {
  fragmentation: number;
  /** Page walks (L2 TLB misses) and accesses of the measured windows, all VMs. */
  walks: number;
  accesses: number;
  tlbMissRatio: number;
  tlbMpka: number;
  /** L1 DTLB misses (L2 TLB hits and walks) per thousand accesses. */
  l1TlbMpka: number;
  walkCyclesPerAccess: number;
  translationCyclesPerAccess: number;
}

/** One workload's fleet in one configuration: the "workloads" table. */
export interface WorkloadFigures extends MemoryFigures, AccessFigures {
  workload: WorkloadName;
  vms: number;
  /** Core cycles of one request, and where they go (the rest: guest invalidations). */
  cyclesPerOp: number;
  computeCyclesPerOp: number;
  translationCyclesPerOp: number;
  dataCyclesPerOp: number;
  /** First-touch faults per request. */
  faultCyclesPerOp: number;
  /** vCPU switches onto the core, per thousand requests, and their cycles per request. */
  switchesPerKiloOp: number;
  switchCyclesPerOp: number;
  accessesPerOp: number;
  /** Data lines served by memory (missed every cache) per request, and the share from NVM. */
  memoryLinesPerOp: number;
  nvmLineShare: number;
  maxLeaves2M: number;
  opsPerVm: number;
  hostOps: number;
  /** Raw sums, for combining workloads. */
  totals: VmTotals;
  residentFrames: number[];
  eptTableFrames: number;
}

export function workloadFigures(f: FleetResult, clockHz: number): WorkloadFigures {
  const t = totalVms(f.vms, clockHz);
  return {
    workload: f.workload,
    vms: t.vms,
    ...memoryFigures(f.residentFrames, f.eptTableFrames),
    ...accessFigures(t),
    cyclesPerOp: round(ratio(t.coreCycles, t.ops), 1),
    computeCyclesPerOp: round(ratio(t.computeCycles, t.ops), 1),
    translationCyclesPerOp: round(ratio(t.translationCycles, t.ops), 1),
    dataCyclesPerOp: round(ratio(t.dataCycles, t.ops), 1),
    faultCyclesPerOp: round(ratio(t.faultCycles, t.ops), 1),
    switchesPerKiloOp: round(ratio(t.switches * 1000, t.ops), 2),
    switchCyclesPerOp: round(ratio(t.switchCycles, t.ops), 1),
    accessesPerOp: round(ratio(t.accesses, t.ops), 1),
    memoryLinesPerOp: round(ratio(t.dataLinesMem[0] + t.dataLinesMem[1], t.ops), 1),
    nvmLineShare: round(ratio(t.dataLinesMem[1], t.dataLinesMem[0] + t.dataLinesMem[1]), 4),
    maxLeaves2M: t.maxLeaves2M,
    opsPerVm: round(t.opsPerVm, 1),
    hostOps: round(t.hostOps, 1),
    totals: t,
    residentFrames: f.residentFrames,
    eptTableFrames: f.eptTableFrames,
  };
}

function memoryFigures(residentFrames: readonly number[], eptTableFrames: number): MemoryFigures {
  return {
    dramMiB: round(residentFrames[0] * FRAME_MIB, 2),
    nvmMiB: round(residentFrames[1] * FRAME_MIB, 2),
    totalMiB: round((residentFrames[0] + residentFrames[1]) * FRAME_MIB, 2),
    eptTableMiB: round(eptTableFrames * FRAME_MIB, 3),
  };
}

function accessFigures(t: VmTotals): AccessFigures {
  return {
    fragmentation: round(ratio(t.reservedBytes - t.requestedBytes, t.requestedBytes), 4),
    walks: t.walks,
    accesses: t.accesses,
    tlbMissRatio: round(ratio(t.walks, t.accesses), 6),
    tlbMpka: round(ratio(t.walks * 1000, t.accesses), 3),
    l1TlbMpka: round(ratio(t.l1TlbMisses * 1000, t.accesses), 3),
    walkCyclesPerAccess: round(ratio(t.walkCycles, t.accesses), 3),
    translationCyclesPerAccess: round(ratio(t.translationCycles, t.accesses), 3),
  };
}

/** One configuration on one host setting, both workloads: the "configurations" table. */
export interface ConfigurationRow extends MemoryFigures, AccessFigures {
  configuration: string;
  hostBacking: string;
  dramPolicy: string;
  dramShareMiB: number;
  memslapOpsPerVm: number;
  memslapHostOps: number;
  ycsbOpsPerVm: number;
  ycsbHostOps: number;
  maxLeaves2M: number;
  perWorkload: Record<WorkloadName, WorkloadFigures>;
}

/** Both workloads' fleets of one configuration: memory adds up, ratios are over all accesses. */
export function configurationRow(
  key: { configuration: string; hostBacking: string; dramPolicy: string; dramShareMiB: number },
  memslap: WorkloadFigures,
  ycsb: WorkloadFigures,
): ConfigurationRow {
  const a = memslap.totals;
  const b = ycsb.totals;
  const both: VmTotals = {
    ...a,
    vms: a.vms + b.vms,
    accesses: a.accesses + b.accesses,
    l1TlbMisses: a.l1TlbMisses + b.l1TlbMisses,
    walks: a.walks + b.walks,
    walkCycles: a.walkCycles + b.walkCycles,
    translationCycles: a.translationCycles + b.translationCycles,
    requestedBytes: a.requestedBytes + b.requestedBytes,
    reservedBytes: a.reservedBytes + b.reservedBytes,
  };
  const frames = [memslap.residentFrames[0] + ycsb.residentFrames[0], memslap.residentFrames[1] + ycsb.residentFrames[1]];
  return {
    ...key,
    ...memoryFigures(frames, memslap.eptTableFrames + ycsb.eptTableFrames),
    ...accessFigures(both),
    memslapOpsPerVm: memslap.opsPerVm,
    memslapHostOps: memslap.hostOps,
    ycsbOpsPerVm: ycsb.opsPerVm,
    ycsbHostOps: ycsb.hostOps,
    maxLeaves2M: Math.max(memslap.maxLeaves2M, ycsb.maxLeaves2M),
    perWorkload: { memslap, ycsb },
  };
}
