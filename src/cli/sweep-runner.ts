/**
 * Runs the points of a sweep plan: in this thread when one job is asked for (or one point), else on
 * a piscina pool of worker threads (one per core by default). Results come back in grid order
 * whatever order the workers finish in, so the output does not depend on scheduling.
 */
import { Piscina } from 'piscina';
import { silentProgress, type Progress } from '../base/progress.ts';
import type { Shard, SweepPlan, SweepPoint } from '../config/sweep.ts';
import { SWEEP_FORMAT, SWEEP_VERSION, type SweepFile, type SweepPointResult } from '../report/sweep.ts';
import type { SweepTask } from './sweep-worker.ts';
import { numericSummary } from '../experiments/types.ts';

export interface ExecuteOptions {
  jobs: number;
  /** Extra modules exporting `experiments`, loaded by each worker (experiments outside the registry). */
  modules?: string[];
  progress?: Progress;
}

const WORKER = new URL('./sweep-worker.mjs', import.meta.url).href;

export async function executePoints(plan: SweepPlan, points: readonly SweepPoint[], opts: ExecuteOptions): Promise<SweepPointResult[]> {
  const progress = opts.progress ?? silentProgress;
  const label = `sweep ${plan.experiment.name}`;
  progress.phase(label, points.length);
  let done = 0;
  const finished = (p: SweepPoint, summary: Record<string, number>): SweepPointResult => {
    done++;
    progress.update(done, `point ${p.index}: ${Object.entries(p.values).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return { index: p.index, values: p.values, seed: p.seed, summary };
  };
  if (opts.jobs <= 1 || points.length <= 1) {
    return points.map((p) => finished(p, numericSummary(plan.experiment.run(p.config, { seed: p.seed, progress: silentProgress }).summary)));
  }
  const pool = new Piscina<SweepTask, Record<string, number>>({
    filename: WORKER,
    minThreads: Math.min(opts.jobs, points.length),
    maxThreads: Math.min(opts.jobs, points.length),
    // Every point is queued at once (piscina's 'auto' limit, threads squared, would reject them).
    maxQueue: Infinity,
    idleTimeout: 1000,
  });
  try {
    return await Promise.all(
      points.map(async (p) =>
        finished(p, await pool.run({ experiment: plan.experiment.name, config: p.config, seed: p.seed, modules: opts.modules ?? [] })),
      ),
    );
  } finally {
    await pool.destroy();
  }
}

/** The sweep file of a plan's results (a shard's, or the whole grid's when `shard` is null). */
export function sweepFile(plan: SweepPlan, shard: Shard | null, points: SweepPointResult[]): SweepFile {
  return {
    format: SWEEP_FORMAT,
    version: SWEEP_VERSION,
    experiment: plan.experiment.name,
    title: plan.experiment.title,
    seed: plan.seed,
    quick: plan.quick,
    base: plan.base,
    axes: plan.axes,
    total: plan.total,
    shard,
    points: [...points].sort((a, b) => a.index - b.index),
  };
}
