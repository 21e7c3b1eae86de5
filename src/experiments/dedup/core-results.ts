/**
 * What the host's cores add to the results of `dedup-faas` and `tlb-flushes`: per configuration,
 * the TLB misses, walk cycles and core time of an invocation, measured by running the invocations
 * on the cores (src/experiments/dedup/cores.ts), so that what a flush costs the VMs is measured,
 * not only counted. Every figure and note is built from the runs' own counters. Runs without
 * cores (executeOnCores off, or the real host) add nothing.
 */
import { ratio, round } from '../../base/stats.ts';
import type { PaperComparison, ResultSeries, ResultTable } from '../types.ts';
import type { CoreFigures } from './cores.ts';
import type { ConfigRun } from './faas.ts';

/** "36 icelake cores", "1 icelake core". */
function coresText(f: CoreFigures): string {
  return `${f.cores} ${f.cpu} core${f.cores === 1 ? '' : 's'}`;
}

/** The configurations the summary compares: the same aligned images, shared by KSM or by the pool. */
const KSM_CONFIG = 'aligned + KSM';
const POOL_CONFIG = 'pool loader';

/** Per-invocation figures of one configuration's run on the cores. */
export interface InvocationCost {
  invocations: number;
  pagesPerInvocation: number;
  /** L2 TLB misses (page walks), L1 DTLB misses, and EPT violations (first touches, COW breaks). */
  tlbMissesPerInvocation: number;
  l1TlbMissesPerInvocation: number;
  eptViolationsPerInvocation: number;
  /** Walks of pages already mapped in the EPT: the misses a flush or another VM's entries caused. */
  mappedMissesPerInvocation: number;
  walkCyclesPerInvocation: number;
  invocationMicros: number;
  /** The part of it spent in EPT violations (host work: backing, copy-on-write). */
  faultMicros: number;
  hostFlushes: number;
  flushesAfterRunning: number;
  switches: number;
  coreBusyPercent: number;
  vmsPerCore: number;
}

export function invocationCost(f: CoreFigures, durationSec: number, vms: number): InvocationCost {
  const per = (x: number, digits = 2): number => round(ratio(x, f.invocations), digits);
  return {
    invocations: f.invocations,
    pagesPerInvocation: per(f.pagesTouched, 1),
    tlbMissesPerInvocation: per(f.tlbMisses),
    l1TlbMissesPerInvocation: per(f.l1TlbMisses),
    eptViolationsPerInvocation: per(f.eptViolations),
    mappedMissesPerInvocation: per(f.tlbMisses - f.eptViolations),
    walkCyclesPerInvocation: per(f.walkCycles, 1),
    invocationMicros: round(ratio(f.invocationCycles, f.invocations * f.clockGHz * 1000), 2),
    faultMicros: round(ratio(f.faultCycles, f.invocations * f.clockGHz * 1000), 2),
    hostFlushes: f.vcpuFlushes,
    flushesAfterRunning: f.flushesAfterRunning,
    switches: f.switches,
    coreBusyPercent: round(ratio(f.busyCycles * 100, f.cores * durationSec * f.clockGHz * 1e9), 5),
    vmsPerCore: round(vms / f.cores, 2),
  };
}

interface CostOf {
  run: ConfigRun;
  cost: InvocationCost;
}

function costs(runs: readonly ConfigRun[], durationSec: number): CostOf[] {
  const out: CostOf[] = [];
  for (const r of runs) if (r.cores) out.push({ run: r, cost: invocationCost(r.cores, durationSec, r.started) });
  return out;
}

/** Summary fields: per-invocation TLB misses, walk cycles and core time, aligned + KSM against the pool loader. */
export function coreSummary(runs: readonly ConfigRun[], durationSec: number): Record<string, number> {
  const all = costs(runs, durationSec);
  const ksm = all.find((c) => c.run.config.name === KSM_CONFIG)?.cost;
  const pool = all.find((c) => c.run.config.name === POOL_CONFIG)?.cost;
  if (!ksm || !pool) return {};
  return {
    tlbMissesPerInvocationKsm: ksm.tlbMissesPerInvocation,
    tlbMissesPerInvocationPool: pool.tlbMissesPerInvocation,
    mappedMissesPerInvocationKsm: ksm.mappedMissesPerInvocation,
    mappedMissesPerInvocationPool: pool.mappedMissesPerInvocation,
    walkCyclesPerInvocationKsm: ksm.walkCyclesPerInvocation,
    walkCyclesPerInvocationPool: pool.walkCyclesPerInvocation,
    invocationMicrosKsm: ksm.invocationMicros,
    invocationMicrosPool: pool.invocationMicros,
  };
}

const COLUMNS = [
  'configuration',
  'invocations',
  'pages per invocation',
  'TLB misses per invocation',
  'of them on mapped pages',
  'EPT violations per invocation',
  'L1 DTLB misses per invocation',
  'walk cycles per invocation',
  'µs per invocation',
  'of it in EPT violations',
  'host flushes',
  'flushes after the VM ran',
  'vCPU switches',
  'core busy %',
];

/** The table of invocation costs per configuration (none when no run had cores). */
export function coreTables(runs: readonly ConfigRun[], durationSec: number): ResultTable[] {
  const all = costs(runs, durationSec);
  if (all.length === 0) return [];
  const f = all[0].run.cores as CoreFigures;
  return [
    {
      name: 'cores',
      title: `Invocations on the host's cores (${coresText(f)}, ${all[0].cost.vmsPerCore} VMs per core): TLB misses, walks and core time per invocation`,
      columns: COLUMNS,
      rows: all.map(({ run, cost: c }) => [
        run.config.name,
        c.invocations,
        c.pagesPerInvocation,
        c.tlbMissesPerInvocation,
        c.mappedMissesPerInvocation,
        c.eptViolationsPerInvocation,
        c.l1TlbMissesPerInvocation,
        c.walkCyclesPerInvocation,
        c.invocationMicros,
        c.faultMicros,
        c.hostFlushes,
        c.flushesAfterRunning,
        c.switches,
        c.coreBusyPercent,
      ]),
    },
  ];
}

/** Plots: TLB misses per invocation (split by cause) and core time per invocation, per configuration. */
export function coreSeries(runs: readonly ConfigRun[], durationSec: number): ResultSeries[] {
  const all = costs(runs, durationSec);
  if (all.length === 0) return [];
  return [
    {
      name: 'invocation-tlb-misses',
      title: 'TLB misses per invocation: on pages already mapped (flushed or evicted entries) and with an EPT violation (first touch, COW break)',
      x: 'configuration',
      y: 'L2 TLB misses per invocation',
      yUnit: 'misses',
      kind: 'bar',
      points: all.flatMap(({ run, cost: c }) => [
        { series: 'on mapped pages', x: run.config.name, y: c.mappedMissesPerInvocation },
        { series: 'with an EPT violation', x: run.config.name, y: c.eptViolationsPerInvocation },
      ]),
    },
    {
      name: 'invocation-time',
      title: 'Core time per invocation (translation, EPT faults, data lines, vCPU switches)',
      x: 'configuration',
      y: 'time per invocation',
      yUnit: 'µs',
      kind: 'bar',
      points: all.map(({ run, cost: c }) => ({ series: 'core time', x: run.config.name, y: c.invocationMicros })),
    },
  ];
}

/** The comparison with the paper's claim that flushes cost the VMs, its note from the runs' figures. */
export function coreComparisons(runs: readonly ConfigRun[], durationSec: number): PaperComparison[] {
  const all = costs(runs, durationSec);
  const ksmRun = all.find((c) => c.run.config.name === KSM_CONFIG);
  const poolRun = all.find((c) => c.run.config.name === POOL_CONFIG);
  if (!ksmRun || !poolRun) return [];
  const k = ksmRun.cost;
  const p = poolRun.cost;
  const f = ksmRun.run.cores as CoreFigures;
  const extraMapped = round(k.mappedMissesPerInvocation - p.mappedMissesPerInvocation, 2);
  const more = extraMapped > 0 ? `${extraMapped} more` : extraMapped < 0 ? `${-extraMapped} fewer` : 'as many';
  const flushedShare = k.hostFlushes > 0 ? round((100 * k.flushesAfterRunning) / k.hostFlushes, 2) : 0;
  return [
    {
      metric: 'TLB misses per invocation, aligned + KSM / pool loader',
      paper: 'flushes cost the VMs; the load-time path issues fewer (poster: flushes counted, their cost not measured)',
      ours: round(ratio(k.tlbMissesPerInvocation, p.tlbMissesPerInvocation), 3),
      unit: 'ratio',
      note:
        `${coresText(f)}, ${k.vmsPerCore} VMs per core; ${k.tlbMissesPerInvocation} against ${p.tlbMissesPerInvocation} L2 TLB misses per invocation of ${k.pagesPerInvocation} and ${p.pagesPerInvocation} pages, ` +
        `${more} on pages already mapped (${k.mappedMissesPerInvocation} against ${p.mappedMissesPerInvocation}); ${k.hostFlushes} KSM flushes, ${k.flushesAfterRunning} (${flushedShare}%) of a VM that had run since its previous flush; ` +
        `walk cycles per invocation ${k.walkCyclesPerInvocation} against ${p.walkCyclesPerInvocation}; core time ${k.invocationMicros} against ${p.invocationMicros} µs per invocation, of which EPT violations ${k.faultMicros} against ${p.faultMicros} µs`,
    },
  ];
}
