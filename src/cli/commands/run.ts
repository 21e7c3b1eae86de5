/**
 * `unimem run <experiment|file.yaml|file.json> [--quick] [--json] [--seed N] [--out DIR]`
 * Runs one experiment, prints its tables (or its JSON with --json) and, with --out, writes its CSVs,
 * report.html and results.json into DIR.
 */
import type { Command } from 'commander';
import { checkOutputDir } from '../../base/output.ts';
import type { System } from '../../base/system.ts';
import { UserError } from '../../base/errors.ts';
import { resolveExperimentConfig, validateConfig } from '../../config/load.ts';
import { findExperiment } from '../../experiments/index.ts';
import type { Experiment, ExperimentResult } from '../../experiments/types.ts';
import { renderHtmlReport } from '../../report/html.ts';
import { resultFiles, toJson, writeFiles } from '../../report/results.ts';
import { renderText } from '../../report/text.ts';
import { DEFAULT_SEED, parseSeed } from '../options.ts';
import { terminalProgress } from '../progress.ts';
import { parseHost, runHosted, type HostChoice } from './host.ts';

export interface RunOptions {
  quick?: boolean;
  json?: boolean;
  seed?: number;
  out?: string;
  /** Image set for the experiments that take one (config key `images`). */
  images?: string[];
  host?: HostChoice;
  /** Sets the config key `workload` (experiments that have one, e.g. ucat: trace or model). */
  workload?: string;
  /** What the experiment's `prepare` gathered. */
  inputs?: unknown;
}

/** Gather an experiment's outside inputs (its `prepare`), drawing progress on a terminal. */
export async function prepareExperiment(sys: System, exp: Experiment, config: unknown, json: boolean): Promise<unknown> {
  if (!exp.prepare) return undefined;
  const progress = terminalProgress(sys, json);
  try {
    return await exp.prepare(config, { sys, progress });
  } finally {
    progress.finish();
  }
}

/** `--workload NAME`: the config key `workload`, validated by the experiment's schema. */
function withWorkload(exp: Experiment, config: unknown, workload: string | undefined, source: string): unknown {
  if (workload === undefined) return config;
  if (typeof config !== 'object' || config === null || !('workload' in config)) throw new UserError(`--workload: experiment '${exp.name}' has no workload setting`);
  return validateConfig(exp, { ...config, workload }, source);
}

/** Run one experiment with its validated config, drawing progress on a terminal. */
export function runExperiment(sys: System, exp: Experiment, config: unknown, opts: RunOptions): ExperimentResult {
  const progress = terminalProgress(sys, Boolean(opts.json));
  try {
    // The experiment cannot tell a quick config from a small one; the caller knows which it asked for
    // (and says it again over the result, for the experiments whose result builders do not see it).
    const quick = Boolean(opts.quick);
    return { ...exp.run(config, { seed: opts.seed ?? DEFAULT_SEED, progress, inputs: opts.inputs, quick }), quick };
  } finally {
    progress.finish();
  }
}

export function registerRun(program: Command, sys: System): void {
  program
    .command('run')
    .description('run one experiment by name (`unimem config list`) or from a YAML/JSON config file')
    .argument('<experiment>', 'experiment name, or a YAML/JSON config file')
    .option('--quick', 'smaller run that finishes in under a minute')
    .option('--json', 'print the results as JSON on standard output')
    .option('--seed <n>', 'seed of every random choice', parseSeed)
    .option('--out <dir>', 'write CSV files, report.html and results.json here')
    .option('--images <paths...>', 'image set (dedup-faas, tlb-flushes, image-size): a set directory, a directory of ELF files, or ELF files')
    .option('--workload <name>', 'what the VMs run, for experiments with a workload setting (ucat: trace or model)')
    .option('--host <host>', 'sim (default), real (KVM micro-VMs and KSM on this machine) or both side by side (docs/realhost.md)', parseHost)
    .action(async (name: string, opts: RunOptions) => {
      // A bad --out fails now, not after the run.
      if (opts.out) checkOutputDir('--out', opts.out);
      const resolved = resolveExperimentConfig(sys, name, Boolean(opts.quick));
      if (opts.images) {
        const shape = (resolved.experiment.schema as { shape?: Record<string, unknown> }).shape;
        if (!shape || !('images' in shape)) throw new UserError(`--images: experiment ${resolved.experiment.name} does not take an image set`);
        resolved.config = validateConfig(resolved.experiment, { ...(resolved.config as object), images: opts.images }, '--images');
      }
      const config = withWorkload(resolved.experiment, resolved.config, opts.workload, resolved.file ?? '--workload');
      if (opts.host && opts.host !== 'sim') {
        await runHosted(sys, resolved.experiment.name, config, { ...opts, host: opts.host, quick: resolved.quick, seed: opts.seed ?? resolved.seed });
        return;
      }
      const inputs = await prepareExperiment(sys, resolved.experiment, config, Boolean(opts.json));
      const result = runExperiment(sys, resolved.experiment, config, {
        ...opts,
        inputs,
        quick: resolved.quick,
        seed: opts.seed ?? resolved.seed,
      });
      if (opts.out) {
        const html = await renderHtmlReport([result], { findExperiment });
        writeFiles(sys, opts.out, resultFiles(result, [{ name: 'report.html', content: html }]));
      }
      sys.write(opts.json ? toJson(result) : renderText(result));
    });
}
