/**
 * The `ucat` comparisons with the paper: every note is built from this run's figures (and the
 * CPU preset it ran on), and says in the paper's sign convention what we measured.
 */
import { PageSize } from '../../base/units.ts';
import { cpuPreset } from '../../hw/cpu.ts';
import type { PaperComparison } from '../types.ts';
import type { ConfigurationRow, WorkloadFigures } from './aggregate.ts';
import type { SweepPoint } from './tables.ts';

/** A signed percentage, as the paper prints its figures (-50%, +18.5%). */
const signed = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const walks = (n: number) => `${n} walk${n === 1 ? '' : 's'}`;
/** A count in millions. */
const millions = (n: number) => `${(n / 1e6).toFixed(2)} M`;
/** A share as a plain percentage. */
const pc = (x: number) => `${(x * 100).toFixed(1)}%`;
const share = (w: WorkloadFigures, part: number) => (w.cyclesPerOp > 0 ? part / w.cyclesPerOp : 0);

/** L2 TLB entries of the CPU preset that can hold 2 MiB translations. */
function l2Entries2M(cpu: string): number {
  return cpuPreset(cpu)
    .l2Tlb.filter((a) => a.sizes.includes(PageSize.Size2M))
    .reduce((t, a) => t + a.entries, 0);
}

interface NoteInput {
  osv: ConfigurationRow;
  ucat: ConfigurationRow;
  rows: ConfigurationRow[];
  sweep: SweepPoint[];
  summary: Record<string, number>;
}

function memoryNote(x: NoteInput): string {
  const { osv, ucat, rows } = x;
  const slabs = rows.find((r) => r.configuration === 'osv-ucat-slabs' && r.hostBacking === osv.hostBacking);
  const small = rows.find((r) => r.configuration === 'osv-4k');
  const change = -x.summary.memoryReduction;
  const parts = [
    `Host frames (DRAM + NVM + tables) at the end of both fleets: ${osv.totalMiB} MiB under stock OSv, ${ucat.totalMiB} MiB under UCat (${signed(change)}).`,
    `Guest internal fragmentation (reserved over requested bytes, minus one): ${osv.fragmentation} under OSv's pools and page paths, ${ucat.fragmentation} under UCat's slabs.`,
  ];
  if (slabs) parts.push(`OSv with UCat's slab classes alone uses ${slabs.totalMiB} MiB (${signed(slabs.totalMiB / osv.totalMiB - 1)}).`);
  if (small) parts.push(`OSv on 4 KiB pages everywhere uses ${small.totalMiB} MiB (${signed(small.totalMiB / osv.totalMiB - 1)}): the difference is what 2 MiB pages cost or save in memory.`);
  parts.push('The paper does not say what its -50% measures (research/ucat.md §1.4).');
  return parts.join(' ');
}

function tlbNote(config: { cpu: string }, x: NoteInput): string {
  const { osv, ucat } = x;
  const entries = l2Entries2M(config.cpu);
  const perWorkload = (['memslap', 'ycsb'] as const).map((w) => `${w} ${osv.perWorkload[w].tlbMpka} vs ${ucat.perWorkload[w].tlbMpka}`).join(', ');
  const parts = [
    `L2 TLB misses (page walks) per thousand accesses in the measured window: ${osv.tlbMpka} under stock OSv, ${ucat.tlbMpka} under UCat (${perWorkload}; ${walks(osv.walks)} in ${millions(osv.accesses)} accesses and ${walks(ucat.walks)} in ${millions(ucat.accesses)}).`,
    `One VM maps at most ${osv.maxLeaves2M} 2 MiB guest pages under stock OSv and ${ucat.maxLeaves2M} under UCat; the ${config.cpu} L2 TLB holds ${entries} entries that take 2 MiB translations.`,
    `L1 DTLB misses per thousand accesses: ${osv.l1TlbMpka} vs ${ucat.l1TlbMpka}.`,
  ];
  if (osv.walks === 0 && ucat.walks === 0) parts.push('Neither configuration took a walk in the measured window, so the reduction is not defined by walks and is reported as 0.');
  return parts.join(' ');
}

/** What the notes say about the host the fleets ran on. */
export interface NoteHost {
  cpu: string;
  vms: number;
  cores: number;
  quantumMs: number;
  vpid: boolean;
}

function throughputNote(host: NoteHost, workload: 'memslap' | 'ycsb', x: NoteInput): string {
  const o = x.osv.perWorkload[workload];
  const u = x.ucat.perWorkload[workload];
  const gain = x.summary[`${workload}Speedup`];
  const parts = [
    `Host requests/s of the ${workload} fleet (${host.vms} VMs on ${host.cores} core${host.cores === 1 ? "" : "s"}, from the core time of the measured windows): ${o.hostOps} under stock OSv, ${u.hostOps} under UCat (${signed(gain)}).`,
    `Under stock OSv a request costs ${o.cyclesPerOp} core cycles over ${o.accessesPerOp} accesses: ${pc(share(o, o.computeCyclesPerOp))} modelled compute, ` +
      `${pc(share(o, o.translationCyclesPerOp))} translation, ${pc(share(o, o.dataCyclesPerOp))} data lines, ${pc(share(o, o.switchCyclesPerOp))} vCPU switches ` +
      `(${o.switchesPerKiloOp} per thousand requests at a ${host.quantumMs} ms quantum, ${host.vpid ? 'VPID-tagged' : 'TLBs flushed on each'}); under UCat translation takes ${pc(share(u, u.translationCyclesPerOp))} ` +
      `and data ${pc(share(u, u.dataCyclesPerOp))}.`,
    `NVM served ${pc(o.nvmLineShare)} of the memory-served data lines under stock OSv and ${pc(u.nvmLineShare)} under UCat.`,
  ];
  const points = x.sweep.filter((p) => p.policy === x.osv.dramPolicy);
  if (points.length > 1) {
    const gains = points.map((p) => `${p.shareMiB} MiB ${signed(p.osv[`${workload}HostOps`] > 0 ? p.ucat[`${workload}HostOps`] / p.osv[`${workload}HostOps`] - 1 : 0)}`);
    parts.push(`At other DRAM shares per VM (same host policy): ${gains.join(', ')}.`);
  }
  return parts.join(' ');
}

export function ucatComparisons(config: NoteHost, x: NoteInput): PaperComparison[] {
  return [
    { metric: 'memory consumption, UCat vs stock OSv', paper: '-50%', ours: -x.summary.memoryReduction, unit: 'fraction change', note: memoryNote(x) },
    { metric: 'TLB miss rate, UCat vs stock OSv', paper: '-41%', ours: -x.summary.tlbMissReduction, unit: 'fraction change', note: tlbNote(config, x) },
    { metric: 'memslap throughput, UCat vs stock OSv', paper: '+18.5% (up to)', ours: x.summary.memslapSpeedup, unit: 'fraction change', note: throughputNote(config, 'memslap', x) },
    { metric: 'YCSB throughput, UCat vs stock OSv', paper: '+14.8% (up to)', ours: x.summary.ycsbSpeedup, unit: 'fraction change', note: throughputNote(config, 'ycsb', x) },
  ];
}
