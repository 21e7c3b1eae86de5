/**
 * `unimem reproduce [--quick] [--out DIR] [--only a,b] [--seed N] [--json]`
 * Runs every registered experiment in registry order with its defaults, then writes, into DIR,
 * one CSV per experiment (plus one per table), report.html and results.json (last, so its presence
 * marks a complete run), and prints our figures beside the papers'. Nothing is written until every
 * experiment has run, and every file is written atomically: an interrupted run leaves no result.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import type { Progress } from '../../base/progress.ts';
import { checkOutputDir } from '../../base/output.ts';
import type { System } from '../../base/system.ts';
import { knownExperiments, validateConfig } from '../../config/load.ts';
import { experiments, findExperiment } from '../../experiments/index.ts';
import type { Experiment, ExperimentResult } from '../../experiments/types.ts';
import { renderHtmlReport } from '../../report/html.ts';
import { resultFiles, toJson, writeFiles } from '../../report/results.ts';
import { renderSummaryText } from '../../report/summary.ts';
import { DEFAULT_SEED, parseSeed } from '../options.ts';
import { terminalProgress } from '../progress.ts';
import { prepareExperiment } from './run.ts';

export interface ReproduceOptions {
  quick?: boolean;
  out?: string;
  only?: string;
  seed?: number;
  json?: boolean;
  /** Sets the config key `workload` of the experiments that have one (ucat: trace or model). */
  workload?: string;
}

export const DEFAULT_REPRODUCE_DIR = 'reproduction';

/** Prefix every phase with the experiment's position and name: "[2/5 ucat] YCSB-A, UCat". */
function prefixed(progress: Progress, prefix: string): Progress {
  return {
    phase: (label, total) => progress.phase(`${prefix} ${label}`, total),
    update: (done, detail) => progress.update(done, detail),
    finish: () => {},
  };
}

export function selectExperiments(only: string | undefined): Experiment[] {
  if (!only) return [...experiments];
  return only
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .map((n) => {
      const e = findExperiment(n);
      if (!e) throw new UserError(`--only: unknown experiment '${n}' (${knownExperiments()})`);
      return e;
    });
}

/** Every experiment's default config (quick or not), with `--workload` where it has that key. */
function defaultConfigs(list: readonly Experiment[], opts: ReproduceOptions): unknown[] {
  const quick = Boolean(opts.quick);
  return list.map((e) => {
    const d = e.defaults(quick) as Record<string, unknown>;
    const config = opts.workload !== undefined && 'workload' in d ? { ...d, workload: opts.workload } : d;
    return validateConfig(e, config, `${e.name} defaults${quick ? ' (quick)' : ''}`);
  });
}

/** Gather the experiments' outside inputs (captured traces), saying how long that took. */
export async function prepareAll(sys: System, list: readonly Experiment[], opts: ReproduceOptions): Promise<unknown[]> {
  const configs = defaultConfigs(list, opts);
  const inputs: unknown[] = [];
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    const t0 = sys.now();
    inputs.push(await prepareExperiment(sys, e, configs[i], Boolean(opts.json)));
    if (e.prepare && sys.isTerminal && !opts.json) sys.writeError(`${e.name} inputs: ${((sys.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return inputs;
}

/** Run the experiments and return their results (no files). */
export function runAll(sys: System, list: readonly Experiment[], opts: ReproduceOptions, inputs: readonly unknown[] = []): ExperimentResult[] {
  const quick = Boolean(opts.quick);
  const seed = opts.seed ?? DEFAULT_SEED;
  // Validate every default first: a broken default should fail before an hour of simulation.
  const configs = defaultConfigs(list, opts);
  const progress = terminalProgress(sys, Boolean(opts.json));
  const results: ExperimentResult[] = [];
  try {
    list.forEach((e, i) => {
      const t0 = sys.now();
      results.push({ ...e.run(configs[i], { seed, quick, progress: prefixed(progress, `[${i + 1}/${list.length} ${e.name}]`), inputs: inputs[i] }), quick });
      if (sys.isTerminal && !opts.json) {
        progress.finish();
        sys.writeError(`${e.name}: ${((sys.now() - t0) / 1000).toFixed(1)} s\n`);
      }
    });
  } finally {
    progress.finish();
  }
  return results;
}

export async function reproduce(sys: System, opts: ReproduceOptions): Promise<{ results: ExperimentResult[]; written: string[] }> {
  const list = selectExperiments(opts.only);
  const out = opts.out ?? DEFAULT_REPRODUCE_DIR;
  checkOutputDir('--out', out);
  if (list.length === 0) throw new UserError(`nothing to reproduce: ${knownExperiments()}`);
  const inputs = await prepareAll(sys, list, opts);
  const results = runAll(sys, list, opts, inputs);
  const html = await renderHtmlReport(results, { findExperiment });
  const written = writeFiles(sys, out, resultFiles(results, [{ name: 'report.html', content: html }]));
  return { results, written };
}

export function registerReproduce(program: Command, sys: System): void {
  program
    .command('reproduce')
    .description("run every experiment and write report.html, results.json and CSVs; print our figures beside the papers'")
    .option('--quick', 'smaller runs (the whole reproduction in under 3 minutes)')
    .option('--out <dir>', 'output directory', DEFAULT_REPRODUCE_DIR)
    .option('--only <names>', 'comma-separated experiments to run instead of all')
    .option('--seed <n>', 'seed of every random choice', parseSeed)
    .option('--json', 'print the summary as JSON (no progress display)')
    .option('--workload <name>', 'what the VMs run, for experiments with a workload setting (ucat: trace or model)')
    .action(async (opts: ReproduceOptions) => {
      const { results, written } = await reproduce(sys, opts);
      if (opts.json) {
        sys.write(toJson(results.map((r) => ({ experiment: r.experiment, summary: r.summary, comparisons: r.comparisons }))));
        return;
      }
      sys.write(renderSummaryText(results));
      const dir = opts.out ?? DEFAULT_REPRODUCE_DIR;
      const csvs = written.filter((f) => f.endsWith('.csv')).length;
      sys.write(`\nWrote ${path.join(dir, 'report.html')}, ${path.join(dir, 'results.json')} and ${csvs} CSV files.\n`);
    });
}
