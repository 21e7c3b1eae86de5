/**
 * The sweep worker (a piscina task function): runs one grid point and returns its headline figures.
 * Each worker thread imports the experiment registry once; `modules` name extra modules that export
 * `experiments` (experiments defined outside the registry, such as test fixtures), registered in
 * this thread only.
 */
import { silentProgress } from '../base/progress.ts';
import { experiments, findExperiment } from '../experiments/index.ts';
import { numericSummary, type Experiment } from '../experiments/types.ts';

export interface SweepTask {
  experiment: string;
  config: unknown;
  seed: number;
  modules: string[];
}

const loaded = new Set<string>();

async function loadModules(modules: readonly string[]): Promise<void> {
  for (const m of modules) {
    if (loaded.has(m)) continue;
    loaded.add(m);
    const mod = (await import(m)) as { experiments?: Experiment[] };
    for (const e of mod.experiments ?? []) if (!findExperiment(e.name)) experiments.push(e);
  }
}

export default async function runPoint(task: SweepTask): Promise<Record<string, number>> {
  await loadModules(task.modules);
  const exp = findExperiment(task.experiment);
  if (!exp) throw new Error(`sweep worker: experiment '${task.experiment}' is not registered in this thread`);
  return numericSummary(exp.run(task.config, { seed: task.seed, progress: silentProgress }).summary);
}
