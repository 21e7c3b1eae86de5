/**
 * dedup-faas benchmark: the FaaS model of `dedup-faas` with KSM (aligned images, Linux defaults:
 * 100 pages every 20 ms) over 120 simulated seconds for 100, 1000 and 10,000 instances; wall time
 * and peak memory of each size, and how both grow. Target (issue 6): 1000 instances in at most 30 s
 * of wall time and 2 GiB of peak memory.
 *
 * Each size runs in a child process (`node --import tsx bench/dedup.ts --child N`) so that its peak
 * memory is its own: the figure is the child's maximum resident set size
 * (`process.resourceUsage().maxRSS`), which counts everything the simulation holds (V8 heap, the
 * typed arrays of frames, EPTs and KSM's rmap items, which live outside the heap) plus Node's and
 * tsx's own footprint. A heap measurement would miss the typed arrays and could not see a
 * transient peak. The child also reports its RSS just before the run (after imports and image
 * preparation), so the growth due to the simulation can be read apart from the baseline.
 *
 * Wall time is the simulation alone (`runSharingConfig`), with its CPU time beside it (on a machine
 * shared with other work the CPU time varies less); preparing the demo images (read and
 * byte-confirmed once, built once and then cached on disk) is reported separately.
 *
 * Run alone: node --import tsx bench/dedup.ts [--sizes 100,1000,10000]; or `npm run bench -- --only dedup`.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AssertionLevel, setAssertionLevel } from '../src/base/assert.ts';
import { Rng } from '../src/base/rng.ts';
import { faasDefaults, faasModelOf } from '../src/experiments/dedup-faas.ts';
import { runSharingConfig, SHARING_CONFIGS } from '../src/experiments/dedup/faas.ts';
import { prepareImages } from '../src/experiments/dedup/images.ts';
import type { BenchFigure } from './types.ts';

/** The configuration measured: KSM on aligned images (the most pages per VM of the KSM configurations). */
const CONFIG_NAME = 'aligned + KSM';
const DURATION_SEC = 120;
const SEED = 1;
export const DEFAULT_SIZES = [100, 1000, 10000];

export interface ChildResult {
  instances: number;
  /** Simulation wall time, ms. */
  runMs: number;
  /** CPU time (user + system) of the child during the simulation, ms: less sensitive than wall time to other load on the machine. */
  runCpuMs: number;
  /** Image preparation wall time, ms. */
  prepareMs: number;
  /** Peak resident set size of the child, bytes. */
  maxRssBytes: number;
  /** Resident set size before the run, bytes. */
  baseRssBytes: number;
  /** KSM at the end: full scans and pages scanned (sanity: the work done). */
  fullScans: number;
  pagesScanned: number;
  endMiB: number;
}

/** One size, in this process (the child side). */
export function runOne(instances: number): ChildResult {
  setAssertionLevel(AssertionLevel.None);
  const t0 = performance.now();
  const set = prepareImages(20, 1, SEED, ['aligned']);
  const t1 = performance.now();
  const config = SHARING_CONFIGS.find((c) => c.name === CONFIG_NAME)!;
  const model = faasModelOf({ instances, durationSec: DURATION_SEC, ...faasDefaults() });
  const baseRssBytes = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t2 = performance.now();
  const r = runSharingConfig(set, config, model, new Rng(SEED).fork('bench'));
  const t3 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    instances,
    runMs: t3 - t2,
    runCpuMs: (cpu.user + cpu.system) / 1000,
    prepareMs: t1 - t0,
    // resourceUsage().maxRSS is in KiB.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    baseRssBytes,
    fullScans: r.ksm?.fullScans ?? 0,
    pagesScanned: r.ksm?.pagesScanned ?? 0,
    endMiB: Math.round(r.endBytes / 1048576),
  };
}

/** One size in a child process. */
export function runChild(instances: number): ChildResult {
  const self = fileURLToPath(import.meta.url);
  const p = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', String(instances)], {
    cwd: path.resolve(path.dirname(self), '..'),
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (p.status !== 0) throw new Error(`bench/dedup.ts child (${instances} instances) failed with status ${String(p.status)}:\n${p.stderr}`);
  const line = p.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ChildResult;
}

const GiB = 1024 ** 3;

export function figuresOf(results: ChildResult[]): BenchFigure[] {
  const out: BenchFigure[] = [];
  for (const r of results) {
    const target = r.instances === 1000;
    out.push({ name: `dedup.faasKsm120s.wall (${r.instances} VMs)`, value: r.runMs / 1000, unit: 's', target: target ? '<= 30 (issue 6)' : r.instances === 10000 ? '<= 10 (issue 16)' : undefined });
    out.push({ name: `dedup.faasKsm120s.cpu (${r.instances} VMs)`, value: r.runCpuMs / 1000, unit: 's' });
    out.push({ name: `dedup.faasKsm120s.peakRss (${r.instances} VMs)`, value: r.maxRssBytes / GiB, unit: 'GiB', target: target ? '<= 2 (issue 6)' : undefined });
    out.push({ name: `dedup.faasKsm120s.rssGrowth (${r.instances} VMs)`, value: (r.maxRssBytes - r.baseRssBytes) / 1048576, unit: 'MiB' });
  }
  // Growth per decade of instances: time and the simulation's share of memory.
  for (let i = 1; i < results.length; i++) {
    const a = results[i - 1];
    const b = results[i];
    const k = `${a.instances}->${b.instances}`;
    out.push({ name: `dedup.faasKsm120s.wallGrowth (${k})`, value: b.runMs / a.runMs, unit: 'x' });
    out.push({ name: `dedup.faasKsm120s.rssGrowthGrowth (${k})`, value: (b.maxRssBytes - b.baseRssBytes) / Math.max(1, a.maxRssBytes - a.baseRssBytes), unit: 'x' });
  }
  return out;
}

export function benchDedup(sizes: number[] = DEFAULT_SIZES): BenchFigure[] {
  return figuresOf(sizes.map(runChild));
}

/** For bench/run.ts: one round per run (the runner repeats). */
export const benchmarks = [{ group: 'dedup', run: () => benchDedup() }];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const c = process.argv.indexOf('--child');
  if (c > 0) {
    process.stdout.write(JSON.stringify(runOne(Number(process.argv[c + 1]))) + '\n');
  } else {
    const s = process.argv.indexOf('--sizes');
    const sizes = s > 0 ? process.argv[s + 1].split(',').map(Number) : DEFAULT_SIZES;
    const results = sizes.map((n) => {
      const r = runChild(n);
      console.log(JSON.stringify(r));
      return r;
    });
    for (const f of figuresOf(results)) console.log(`${f.name.padEnd(56)} ${f.value.toFixed(3).padStart(12)} ${f.unit}`);
  }
}
