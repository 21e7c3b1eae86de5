/**
 * `unimem sweep <experiment|file> --vary key=v1,v2 [--vary ...] [--jobs N] [--shard i/N] [--out FILE]`
 * `unimem sweep <experiment|file> --vary ... --emit slurm|k8s [--shards N] [--jobs N] [--out DIR]`
 * `unimem merge <files...> [--out FILE]`
 * A sweep runs the grid of the --vary axes in parallel and prints one row per point (the varied
 * values, then the experiment's headline figures). `--shard i/N` runs only the points whose number
 * is i modulo N, for batch systems that spread a sweep over machines; `merge` checks the shards
 * belong together and cover the grid, and gives the same table and file as the unsharded sweep.
 * `--emit` runs nothing: it writes the job files that run the shards and the merge on a batch system.
 * See docs/sweeps.md.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import type { System } from '../../base/system.ts';
import { resolveExperimentConfig, type ResolvedConfig } from '../../config/load.ts';
import { parseAxis, parseShard, planSweep, shardPoints, type Axis, type Shard, type SweepPlan } from '../../config/sweep.ts';
import { toJson } from '../../report/results.ts';
import { mergeSweeps, parseSweepFile, renderSweepText, sweepToCsv, type SweepFile } from '../../report/sweep.ts';
import { MAX_DEFAULT_SHARDS, k8sFiles, parseEmitTarget, slurmFiles, type EmitTarget } from '../emit.ts';
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
  emit?: EmitTarget;
  shards?: number;
  image?: string;
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
  const resolved = resolveExperimentConfig(sys, target, Boolean(opts.quick));
  const plan = planOf(resolved, opts);
  const mine = shardPoints(plan.points, opts.shard);
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

/** This installation's command line, by absolute path, for the generated Slurm scripts. */
const UNIMEM_BIN = fileURLToPath(new URL('../../../bin/unimem.js', import.meta.url));
const DEFAULT_IMAGE = 'unimem:0.1.0';

function checkEmitOptions(opts: SweepOptions): void {
  if (!opts.emit) {
    if (opts.shards !== undefined) throw new UserError('--shards: only with --emit slurm|k8s (one run takes --shard i/N)');
    if (opts.image !== undefined) throw new UserError('--image: only with --emit k8s');
    return;
  }
  if (opts.shard) throw new UserError('--emit writes the jobs for every shard: give --shards N, not --shard i/N');
  if (opts.csv || opts.json) throw new UserError(`--emit: ${opts.csv ? '--csv' : '--json'} does not apply (the merge step writes sweep.json and sweep.csv)`);
  if (opts.image !== undefined && opts.emit !== 'k8s') throw new UserError('--image: only with --emit k8s');
}

/** The sweep's plan: the base configuration with every grid point validated. */
function planOf(resolved: ResolvedConfig, opts: SweepOptions): SweepPlan {
  return planSweep({
    experiment: resolved.experiment,
    source: resolved.file ?? `${resolved.experiment.name} defaults`,
    base: resolved.config,
    seed: opts.seed ?? resolved.seed ?? DEFAULT_SEED,
    quick: resolved.quick,
    axes: opts.vary,
  });
}

/** `--emit`: validate the whole grid, then write the batch system's job files into DIR. */
export function emitSweepJobs(sys: System, target: string, opts: SweepOptions & { emit: EmitTarget }): void {
  const resolved = resolveExperimentConfig(sys, target, Boolean(opts.quick));
  const plan = planOf(resolved, opts);
  const total = plan.points.length;
  const shards = opts.shards ?? Math.min(total, MAX_DEFAULT_SHARDS);
  if (shards > total) throw new UserError(`--shards ${shards}: the sweep has only ${total} grid points (give at most ${total})`);
  const req = {
    experiment: resolved.experiment.name,
    baseFile: resolved.file ? { text: sys.readText(resolved.file), ext: path.extname(resolved.file).toLowerCase() } : null,
    axes: opts.vary,
    quick: Boolean(opts.quick),
    seed: opts.seed,
    total,
    shards,
    cpus: opts.jobs ?? 1,
    dir: path.resolve(opts.out ?? `unimem-sweep-${resolved.experiment.name}`),
  };
  const emitted = opts.emit === 'slurm' ? slurmFiles(req, [process.execPath, UNIMEM_BIN]) : k8sFiles(req, opts.image ?? DEFAULT_IMAGE);
  for (const dir of emitted.dirs) sys.mkdirp(dir);
  for (const f of emitted.files) sys.writeFileAtomic(f.path, f.text);
  sys.write(emitted.howTo);
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
    .option('--jobs <n>', 'worker threads (default: one per core); with --emit: CPUs of each batch task (default 1)', parsePositiveInt('--jobs'))
    .option('--shard <i/N>', 'run only grid points i, i+N, i+2N, ... (0-based: 0/N .. N-1/N)', parseShard)
    .option('--out <file>', 'write the sweep (or shard) results as JSON; with --emit: the directory for job files, results and logs')
    .option('--csv <file>', 'write the table as CSV')
    .option('--quick', 'start from the quick defaults')
    .option('--seed <n>', 'seed of every point (unless `seed` is varied)', parseSeed)
    .option('--json', 'print the results as JSON (no progress display)')
    .option('--emit <slurm|k8s>', 'run nothing: write a Slurm job array or a Kubernetes indexed Job for the shards, and the merge step', parseEmitTarget)
    .option('--shards <n>', 'with --emit: number of shards, one batch task each (default: one per grid point)', parsePositiveInt('--shards'))
    .option('--image <ref>', `with --emit k8s: container image with node 20 and unimem on its PATH (default ${DEFAULT_IMAGE})`)
    .action(async (target: string, opts: SweepOptions) => {
      checkEmitOptions(opts);
      if (opts.emit) emitSweepJobs(sys, target, { ...opts, emit: opts.emit });
      else await runSweepCommand(sys, target, opts);
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
      const shards = files.map((file) => {
        if (!sys.exists(file)) throw new UserError(`${file}: no such file`);
        return { file: path.normalize(file), data: parseSweepFile(file, sys.readText(file)) };
      });
      emit(sys, mergeSweeps(shards), opts);
    });
}
