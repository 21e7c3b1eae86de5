/**
 * The simulator against this machine: the same description run on both hosts, joined figure by
 * figure with the relative error (simulated over real, minus one) and the targets beside
 * each (shown, never tuned toward): memory and KSM counters within 5 %, time to converge within
 * 20 %, TLB flushes within 30 %.
 */
import { round } from '../base/stats.ts';
import type { ConfigRun } from '../experiments/dedup/faas.ts';
import type { ResultSeries, ResultTable } from '../experiments/types.ts';

export const TARGETS = { memory: 0.05, ksm: 0.05, converge: 0.2, flushes: 0.3 } as const;

/** sim / real - 1; null when the real figure is zero (no relative error exists). */
export function relativeError(sim: number, real: number): number | null {
  if (real === 0) return sim === 0 ? 0 : null;
  return sim / real - 1;
}

/**
 * Seconds until KSM converged: when pages_sharing reached 95 % of its final value (the end of the
 * convergence phase), between the two once-a-second samples around the crossing by linear
 * interpolation; null without merging. One definition for both hosts, whose samples are taken at
 * the same whole seconds from the first launch. Interpolated because convergence takes 2 to 6 s in
 * the quick runs, where whole seconds alone could not resolve the 20 % target.
 */
export function convergeTime(pagesSharing: readonly number[]): number | null {
  const last = pagesSharing.length ? pagesSharing[pagesSharing.length - 1] : 0;
  if (last <= 0) return null;
  const level = 0.95 * last;
  const i = pagesSharing.findIndex((v) => v >= level);
  if (i <= 0) return i < 0 ? null : 0;
  const before = pagesSharing[i - 1];
  return Math.round((i - 1 + (level - before) / (pagesSharing[i] - before)) * 1000) / 1000;
}

/** The error of largest magnitude (signed), or null when there is none. */
export function largestError(errors: readonly (number | null)[]): number | null {
  let best: number | null = null;
  for (const e of errors) if (e !== null && Number.isFinite(e) && (best === null || Math.abs(e) > Math.abs(best))) best = e;
  return best;
}

export interface SimVsReal {
  /** summary.simVsReal (errors rounded to 4 digits; -1 never means "none": absent figures are left out). */
  summary: Record<string, number>;
  table: ResultTable;
  series: ResultSeries[];
}

interface Figure {
  name: string;
  /** The target, or null where it sets none (shown without a verdict). */
  target: number | null;
  sim: (r: ConfigRun) => number | null;
  real: (r: ConfigRun) => number | null;
  ksmOnly?: boolean;
  /** Shown by the experiments that count TLB flushes. */
  flushes?: boolean;
}

const FIGURES: Figure[] = [
  { name: 'host memory at the end (MiB)', target: TARGETS.memory, sim: (r) => r.endBytes / 1048576, real: (r) => r.endBytes / 1048576 },
  { name: 'KSM pages_shared', target: TARGETS.ksm, sim: (r) => r.ksm?.pagesShared ?? null, real: (r) => r.ksm?.pagesShared ?? null, ksmOnly: true },
  { name: 'KSM pages_sharing', target: TARGETS.ksm, sim: (r) => r.ksm?.pagesSharing ?? null, real: (r) => r.ksm?.pagesSharing ?? null, ksmOnly: true },
  { name: 'KSM full_scans', target: TARGETS.ksm, sim: (r) => r.ksm?.fullScans ?? null, real: (r) => r.ksm?.fullScans ?? null, ksmOnly: true },
  { name: 'KSM merges (real: ksm:* tracepoints)', target: TARGETS.ksm, sim: (r) => r.ksm?.merges ?? null, real: (r) => r.ksm?.merges ?? null, ksmOnly: true },
  { name: 'ksmd CPU time (ms)', target: null, sim: (r) => (r.ksm ? r.ksm.cpuNs / 1e6 : null), real: (r) => (r.ksm ? r.ksm.cpuNs / 1e6 : null), ksmOnly: true },
  { name: 'time to converge (s)', target: TARGETS.converge, sim: (r) => convergeTime(r.ksmPagesSharing), real: (r) => convergeTime(r.ksmPagesSharing), ksmOnly: true },
  // Calls of the flush functions by ksmd on both sides: counted by the simulator, derived from the
  // merge tracepoints on the real host (perf.ts ksmWork). The real flushes the tlb:tlb_flush
  // tracepoint saw are in the real-host table.
  { name: 'TLB flush calls at ksmd', target: TARGETS.flushes, sim: (r) => r.flushesKsm, real: (r) => r.flushesKsm, ksmOnly: true, flushes: true },
];

const fmt = (v: number | null, digits = 2): string | number => (v === null ? '-' : round(v, digits));

/** One figure sampled every second, each configuration on both hosts as its own line. */
function overTime(name: string, title: string, y: string, yUnit: string, sim: readonly ConfigRun[], real: readonly ConfigRun[], samples: (r: ConfigRun) => number[]): ResultSeries {
  const lines = (runs: readonly ConfigRun[], host: string) => runs.flatMap((r) => samples(r).map((v, x) => ({ series: `${r.config.name} (${host})`, x, y: v })));
  return { name, title, x: 'time (s)', y, yUnit, kind: 'line', points: [...lines(sim, 'sim'), ...lines(real, 'real')] };
}

/** Join the runs of both hosts (same configurations, same order). */
export function compareRuns(sim: readonly ConfigRun[], real: readonly ConfigRun[], opts: { flushes: boolean }): SimVsReal {
  const rows: (string | number)[][] = [];
  const errs = new Map<string, (number | null)[]>();
  for (let i = 0; i < sim.length; i++) {
    const s = sim[i];
    const r = real.find((x) => x.config.name === s.config.name);
    if (!r) continue;
    for (const f of FIGURES) {
      if (f.ksmOnly && !s.config.ksm) continue;
      if (f.flushes && !opts.flushes) continue;
      const a = f.sim(s);
      const b = f.real(r);
      const e = a === null || b === null ? null : relativeError(a, b);
      const list = errs.get(f.name) ?? [];
      list.push(e);
      errs.set(f.name, list);
      const verdict = e === null || f.target === null ? '-' : Math.abs(e) <= f.target ? 'yes' : 'no';
      rows.push([s.config.name, f.name, fmt(a), fmt(b), e === null ? '-' : round(e, 4), f.target === null ? '-' : `±${f.target * 100} %`, verdict]);
    }
  }
  const pick = (name: string): number | null => largestError(errs.get(name) ?? []);
  const summary: Record<string, number> = {};
  const put = (key: string, v: number | null): void => {
    if (v !== null) summary[key] = round(v, 4);
  };
  put('memoryError', pick('host memory at the end (MiB)'));
  put('ksmPagesSharingError', pick('KSM pages_sharing'));
  put('ksmPagesSharedError', pick('KSM pages_shared'));
  put('ksmFullScansError', pick('KSM full_scans'));
  put('ksmMergesError', pick('KSM merges (real: ksm:* tracepoints)'));
  put('ksmdCpuError', pick('ksmd CPU time (ms)'));
  put('convergeTimeError', pick('time to converge (s)'));
  if (opts.flushes) put('flushesError', pick('TLB flush calls at ksmd'));
  return {
    summary,
    table: {
      name: 'sim-vs-real',
      title: 'Simulator against this machine: each figure on both hosts, relative error (sim / real - 1) and its target',
      columns: ['configuration', 'figure', 'simulated', 'real', 'error', 'target', 'within target'],
      rows,
    },
    series: [
      overTime('sim-vs-real-memory', 'Host memory over time: simulated and this machine', 'host memory', 'MiB', sim, real, (r) => r.memoryMiB),
      overTime('sim-vs-real-ksm', 'KSM pages_sharing over time: simulated and this machine', 'pages_sharing', 'pages', sim, real, (r) => r.ksmPagesSharing),
    ],
  };
}
