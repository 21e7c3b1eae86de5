/**
 * `unimem sweep <experiment|file> --vary key=v1,v2 [--vary ...] [--jobs N] [--shard i/N] [--out FILE]`
 * `unimem merge <files...> [--out FILE]`
 * A sweep runs the grid of the --vary axes in parallel and prints one row per point (the varied
 * values, then the experiment's headline figures). `--shard i/N` runs only the points whose number
 * is i modulo N, for batch systems that spread a sweep over machines; `merge` checks the shards
 * belong together and cover the grid, and gives the same table and file as the unsharded sweep.
 * See docs/sweeps.md.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { checkOutputFile } from '../../base/output.ts';
import type { System } from '../../base/system.ts';
import { resolveExperimentConfig } from '../../config/load.ts';
import { parseAxis, parseShard, planSweep, type Axis, type Shard } from '../../config/sweep.ts';
import { toJson } from '../../report/results.ts';
import { mergeSweeps, parseSweepFile, renderSweepText, sweepToCsv, type SweepFile } from '../../report/sweep.ts';
import { DEFAULT_SEED, parsePositiveInt, parseSeed } from '../options.ts';
import { terminalProgress } from '../progress.ts';
import { executePoints, sweepFile } from '../sweep-runner.ts';

export interface SweepOptions {
  vary: Axis[];
  jobs?: number;
  shard?: Shard;
  out?: string;
  csv?: string;
  quick?: boolean;
  seed?: number;
  json?: boolean;
}

/** Check --out and --csv before any work, so a bad path fails in one line at once. */
function checkOutputs(opts: { out?: string; csv?: string }): void {
  if (opts.out) checkOutputFile('--out', opts.out);
  if (opts.csv) checkOutputFile('--csv', opts.csv);
  if (opts.out && opts.csv && checkOutputFile('--out', opts.out) === checkOutputFile('--csv', opts.csv)) throw new UserError('--out and --csv name the same file');
}

/** Write the sweep's JSON (and CSV if asked), then print its table or JSON. */
function emit(sys: System, f: SweepFile, opts: { out?: string; csv?: string; json?: boolean }): void {
  if (opts.csv) sys.writeFileAtomic(opts.csv, sweepToCsv(f));
  if (opts.out) sys.writeFileAtomic(opts.out, toJson(f));
  sys.write(opts.json ? toJson(f) : renderSweepText(f));
}

export async function runSweepCommand(sys: System, target: string, opts: SweepOptions, modules: string[] = []): Promise<SweepFile> {
  if (opts.vary.length === 0) throw new UserError('sweep: give at least one --vary key=v1,v2,...');
  if (opts.shard && opts.shard.count > 1 && !opts.out) throw new UserError('--shard: give --out <file> for the shard\'s results (merge them with unimem merge)');
  checkOutputs(opts);
  const resolved = resolveExperimentConfig(sys, target, Boolean(opts.quick));
  const plan = planSweep({
    experiment: resolved.experiment,
    source: resolved.file ?? `${resolved.experiment.name} defaults`,
    base: resolved.config,
    seed: opts.seed ?? resolved.seed ?? DEFAULT_SEED,
    quick: resolved.quick,
    axes: opts.vary,
    shard: opts.shard,
  });
  const mine = plan.points;
  const progress = terminalProgress(sys, Boolean(opts.json));
  let results;
  try {
    results = await executePoints(plan, mine, { jobs: opts.jobs ?? os.availableParallelism(), modules, progress });
  } finally {
    progress.finish();
  }
  const f = sweepFile(plan, opts.shard ?? null, results);
  emit(sys, f, opts);
  return f;
}

export function registerSweep(program: Command, sys: System): void {
  program
    .command('sweep')
    .description('run an experiment over a grid of parameter values, in parallel; --shard runs one slice (docs/sweeps.md)')
    .argument('<experiment>', 'experiment name, or a YAML/JSON config file giving the base configuration')
    .requiredOption('--vary <key=v1,v2,...>', 'a dotted config path (or `seed`) and its values; repeat for a grid', (v: string, acc: Axis[] | undefined) => [
      ...(acc ?? []),
      parseAxis(v),
    ])
    .option('--jobs <n>', 'worker threads (default: one per core)', parsePositiveInt('--jobs'))
    .option('--shard <i/N>', 'run only grid points i, i+N, i+2N, ... (0-based: 0/N .. N-1/N)', parseShard)
    .option('--out <file>', 'write the sweep (or shard) results as JSON')
    .option('--csv <file>', 'write the table as CSV')
    .option('--quick', 'start from the quick defaults')
    .option('--seed <n>', 'seed of every point (unless `seed` is varied)', parseSeed)
    .option('--json', 'print the results as JSON (no progress display)')
    .action(async (target: string, opts: SweepOptions) => {
      await runSweepCommand(sys, target, opts);
    });
}

export function registerMerge(program: Command, sys: System): void {
  program
    .command('merge')
    .description('combine the shard files of one sweep into the table and file of the whole sweep')
    .argument('<files...>', 'shard result files (from unimem sweep --shard i/N --out FILE)')
    .option('--out <file>', 'write the merged results as JSON')
    .option('--csv <file>', 'write the table as CSV')
    .option('--json', 'print the merged results as JSON')
    .action((files: string[], opts: { out?: string; csv?: string; json?: boolean }) => {
      checkOutputs(opts);
      const shards = files.map((file) => {
        if (!sys.exists(file)) throw new UserError(`${file}: no such file`);
        return { file: path.normalize(file), data: parseSweepFile(file, sys.readText(file)) };
      });
      emit(sys, mergeSweeps(shards), opts);
    });
}
