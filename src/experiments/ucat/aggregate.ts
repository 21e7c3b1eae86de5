/**
 * From the VMs' measured figures to the rows of the `ucat` tables: sums over a fleet, ratios per
 * access and per request, and throughput.
 *
 * Throughput: a VM's rate is its measured requests over its cycles (compute + memory, faults
 * left out: they are the start-up cost of first touches) at the clock; the host's rate is the sum
 * of the VMs' rates, each scaled by the share of a core its single vCPU gets, min(1, cores / VMs).
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
  memoryCycles: number;
  faultCycles: number;
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

/** Add up `vms`; each VM's rate counts `coreShare` of itself toward the host's. */
export function totalVms(vms: readonly VmResult[], clockHz: number, coreShare: number): VmTotals {
  const a: VmTotals = {
    vms: vms.length,
    ops: 0,
    accesses: 0,
    l1TlbMisses: 0,
    walks: 0,
    walkCycles: 0,
    translationCycles: 0,
    computeCycles: 0,
    memoryCycles: 0,
    faultCycles: 0,
    dataCycles: 0,
    dataLinesMem: [0, 0],
    requestedBytes: 0,
    reservedBytes: 0,
    maxLeaves2M: 0,
    opsPerVm: 0,
    hostOps: 0,
  };
  const rates: number[] = [];
  for (const v of vms) {
    a.ops += v.ops;
    a.accesses += v.accesses;
    a.l1TlbMisses += v.l1TlbMisses;
    a.walks += v.walks;
    a.walkCycles += v.walkCycles;
    a.translationCycles += v.translationCycles;
    a.computeCycles += v.computeCycles;
    a.memoryCycles += v.memoryCycles;
    a.faultCycles += v.faultCycles;
    a.dataCycles += v.dataCycles;
    a.dataLinesMem[0] += v.dataLinesMem[0];
    a.dataLinesMem[1] += v.dataLinesMem[1];
    a.requestedBytes += v.requestedBytes;
    a.reservedBytes += v.reservedBytes;
    a.maxLeaves2M = Math.max(a.maxLeaves2M, v.leaves2M);
    const cycles = v.computeCycles + v.memoryCycles;
    rates.push(cycles > 0 ? (v.ops * clockHz) / cycles : 0);
  }
  a.opsPerVm = mean(rates);
  a.hostOps = rates.reduce((t, r) => t + r * coreShare, 0);
  return a;
}

/** The share of a core each of `vms` single-vCPU VMs gets on `cores` cores. */
export function coreShare(vms: number, cores: number): number {
  return vms > cores ? cores / vms : 1;
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
  /** Cycles of one request (compute + memory), and where they go. */
  cyclesPerOp: number;
  computeCyclesPerOp: number;
  translationCyclesPerOp: number;
  dataCyclesPerOp: number;
  /** First-touch faults per request (left out of throughput). */
  faultCyclesPerOp: number;
  accessesPerOp: number;
  /** Share of the data lines served by memory that came from NVM. */
  nvmLineShare: number;
  maxLeaves2M: number;
  opsPerVm: number;
  hostOps: number;
  /** Raw sums, for combining workloads. */
  totals: VmTotals;
  residentFrames: number[];
  eptTableFrames: number;
}

export function workloadFigures(f: FleetResult, clockHz: number, cores: number): WorkloadFigures {
  const t = totalVms(f.vms, clockHz, coreShare(f.vms.length, cores));
  return {
    workload: f.workload,
    vms: t.vms,
    ...memoryFigures(f.residentFrames, f.eptTableFrames),
    ...accessFigures(t),
    cyclesPerOp: round(ratio(t.computeCycles + t.memoryCycles, t.ops), 1),
    computeCyclesPerOp: round(ratio(t.computeCycles, t.ops), 1),
    translationCyclesPerOp: round(ratio(t.translationCycles, t.ops), 1),
    dataCyclesPerOp: round(ratio(t.dataCycles, t.ops), 1),
    faultCyclesPerOp: round(ratio(t.faultCycles, t.ops), 1),
    accessesPerOp: round(ratio(t.accesses, t.ops), 1),
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
