/**
 * The `ucat` experiment's tables and plots, from its rows (aggregate.ts).
 */
import { round, speedup, reduction } from '../../base/stats.ts';
import type { ResultSeries, ResultTable } from '../types.ts';
import type { ConfigurationRow } from './aggregate.ts';

/** One point of the DRAM-share sweep: stock OSv under one host DRAM policy, and UCat, at one share. */
export interface SweepPoint {
  shareMiB: number;
  policy: string;
  osv: ConfigurationRow;
  ucat: ConfigurationRow;
}

const CONFIGURATION_COLUMNS = [
  'configuration',
  'hostBacking',
  'dramPolicy',
  'dramMiB',
  'nvmMiB',
  'totalMiB',
  'eptTableMiB',
  'fragmentation',
  'tlbMissRatio',
  'tlbMpka',
  'l1TlbMpka',
  'walkCyclesPerAccess',
  'translationCyclesPerAccess',
  'memslapOpsPerVm',
  'memslapHostOps',
  'ycsbOpsPerVm',
  'ycsbHostOps',
] as const;

const WORKLOAD_COLUMNS = [
  'fragmentation',
  'tlbMissRatio',
  'tlbMpka',
  'l1TlbMpka',
  'walkCyclesPerAccess',
  'accessesPerOp',
  'cyclesPerOp',
  'computeCyclesPerOp',
  'translationCyclesPerOp',
  'dataCyclesPerOp',
  'faultCyclesPerOp',
  'switchCyclesPerOp',
  'switchesPerKiloOp',
  'memoryLinesPerOp',
  'nvmLineShare',
  'dramMiB',
  'nvmMiB',
  'opsPerVm',
  'hostOps',
] as const;

function scaleText(config: { vms: number; vmDramMiB: number; vmNvmMiB: number; cores: number }): string {
  return `two fleets of ${config.vms} VMs, each VM ${config.vmDramMiB} MiB DRAM + ${config.vmNvmMiB} MiB NVM, ${config.cores} cores per host`;
}

export function ucatTables(config: { vms: number; vmDramMiB: number; vmNvmMiB: number; cores: number }, rows: ConfigurationRow[], sweep: SweepPoint[]): ResultTable[] {
  const scale = scaleText(config);
  const workloadRows: (string | number)[][] = [];
  for (const r of rows) {
    for (const w of ['memslap', 'ycsb'] as const) {
      const p = r.perWorkload[w];
      workloadRows.push([r.configuration, r.hostBacking, w, ...WORKLOAD_COLUMNS.map((c) => p[c])]);
    }
  }
  return [
    { name: 'configurations', title: `UCat configurations: ${scale}`, columns: [...CONFIGURATION_COLUMNS], rows: rows.map((r) => CONFIGURATION_COLUMNS.map((c) => r[c])) },
    { name: 'workloads', title: `Per workload (measured window): ${scale}`, columns: ['configuration', 'hostBacking', 'workload', ...WORKLOAD_COLUMNS], rows: workloadRows },
    {
      name: 'dram-shares',
      title: `UCat against stock OSv per DRAM share and host DRAM policy: ${scale.replace(`${config.vmDramMiB} MiB DRAM`, 'the DRAM share')}`,
      columns: ['dramShareMiB', 'osvDramPolicy', 'memslapSpeedup', 'ycsbSpeedup', 'memoryReduction', 'memslapNvmLineShareOsv', 'memslapNvmLineShareUcat', 'ycsbNvmLineShareOsv', 'ycsbNvmLineShareUcat'],
      rows: sweep.map((p) => [
        p.shareMiB,
        p.policy,
        round(speedup(p.osv.memslapHostOps, p.ucat.memslapHostOps), 4),
        round(speedup(p.osv.ycsbHostOps, p.ucat.ycsbHostOps), 4),
        round(reduction(p.osv.totalMiB, p.ucat.totalMiB), 4),
        p.osv.perWorkload.memslap.nvmLineShare,
        p.ucat.perWorkload.memslap.nvmLineShare,
        p.osv.perWorkload.ycsb.nvmLineShare,
        p.ucat.perWorkload.ycsb.nvmLineShare,
      ]),
    },
  ];
}

const rowLabel = (r: ConfigurationRow) => (r.configuration.startsWith('ucat') ? r.configuration : `${r.configuration} (${r.hostBacking})`);

export function ucatSeries(rows: ConfigurationRow[], sweep: SweepPoint[]): ResultSeries[] {
  const perRow = (f: (r: ConfigurationRow) => [string, number][]) => rows.flatMap((r) => f(r).map(([series, y]) => ({ series, x: rowLabel(r), y })));
  return [
    {
      name: 'tlb-mpka',
      title: 'L2 TLB misses per 1000 accesses per configuration (measured window)',
      x: 'configuration',
      y: 'misses per 1000 accesses',
      yUnit: 'MPKA',
      kind: 'bar',
      points: perRow((r) => [
        ['memslap', r.perWorkload.memslap.tlbMpka],
        ['ycsb', r.perWorkload.ycsb.tlbMpka],
      ]),
    },
    {
      name: 'throughput',
      title: 'Host throughput per configuration (measured window)',
      x: 'configuration',
      y: 'requests per second',
      yUnit: 'ops/s',
      kind: 'bar',
      points: perRow((r) => [
        ['memslap', r.memslapHostOps],
        ['ycsb', r.ycsbHostOps],
      ]),
    },
    {
      name: 'host-memory',
      title: 'Host memory per configuration at the end (DRAM / NVM)',
      x: 'configuration',
      y: 'host memory',
      yUnit: 'MiB',
      kind: 'bar',
      points: perRow((r) => [
        ['DRAM', r.dramMiB],
        ['NVM', r.nvmMiB],
      ]),
    },
    {
      name: 'dram-shares',
      title: 'UCat throughput against stock OSv per DRAM share per VM, per workload and host DRAM policy of stock OSv',
      x: 'DRAM share per VM (MiB)',
      y: 'speed-up of UCat',
      yUnit: 'fraction',
      kind: 'line',
      points: sweep.flatMap((p) => [
        { series: `memslap, osv ${p.policy}`, x: p.shareMiB, y: round(speedup(p.osv.memslapHostOps, p.ucat.memslapHostOps), 4) },
        { series: `ycsb, osv ${p.policy}`, x: p.shareMiB, y: round(speedup(p.osv.ycsbHostOps, p.ucat.ycsbHostOps), 4) },
      ]),
    },
  ];
}
