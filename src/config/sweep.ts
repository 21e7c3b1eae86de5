/**
 * Sweep plans: a base configuration, axes (`--vary key=v1,v2,...`) and the grid of their cartesian
 * product, every point validated with the experiment's schema before anything runs.
 *
 * Grid order is fixed: the first axis varies slowest, the last fastest (nested loops in the order the
 * axes were given), and points are numbered from 0 in that order. A shard `i/N` (0-based, i < N)
 * takes the points whose number is i modulo N: round-robin, so neighbouring points (which cost about
 * the same) spread over the shards and each shard gets a similar load. `i` is 0-based because that is
 * what Kubernetes indexed jobs give (JOB_COMPLETION_INDEX) and Slurm arrays can (`--array=0-7`).
 */
import { ConfigError, UserError } from '../base/errors.ts';
import type { Experiment } from '../experiments/types.ts';
import { quickWorkProblem, validateConfig } from './load.ts';
import { schemaAt } from './schema.ts';

export type Scalar = number | boolean | string;

/** `seed` on an axis varies the run's seed instead of a configuration field. */
export const SEED_KEY = 'seed';

export interface Axis {
  key: string;
  values: Scalar[];
}

export interface Shard {
  index: number;
  count: number;
}

export interface SweepPoint {
  index: number;
  /** Axis key -> value at this point, in axis order. */
  values: Record<string, Scalar>;
  seed: number;
  config: unknown;
}

/**
 * Largest grid a sweep (or the shard files merged into one) may have: ten million points is days
 * of even the smallest runs; a larger claim is a typo or a hostile file, refused before anything
 * is allocated per point.
 */
export const MAX_GRID_POINTS = 10_000_000;

export interface SweepPlan {
  experiment: Experiment;
  /** Points of the whole grid (the shard's own are `points`). */
  total: number;
  /** Where the base configuration came from (a file, or the experiment's defaults). */
  source: string;
  seed: number;
  quick: boolean;
  base: unknown;
  axes: Axis[];
  /** The points to run: the whole grid, or the shard's slice of it. */
  points: SweepPoint[];
}

/** "1e3" -> 1000, "true" -> true, anything else stays text. */
export function parseScalar(text: string): Scalar {
  const t = text.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return t;
}

/** Parse one `--vary key=v1,v2,...`. */
export function parseAxis(text: string): Axis {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`--vary: '${text}' is not key=v1,v2,...`);
  const key = text.slice(0, eq).trim();
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(key)) throw new UserError(`--vary: '${key}' is not a dotted parameter path`);
  const values = text
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map(parseScalar);
  if (values.length === 0) throw new UserError(`--vary ${key}: no values`);
  if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) throw new UserError(`--vary ${key}: a value is repeated`);
  return { key, values };
}

/** Parse `--shard i/N` (0-based). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new UserError(`--shard: '${text}' is not i/N (0-based: 0/4 .. 3/4)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new UserError(`--shard: '${text}' needs 0 <= i < N (shards are numbered from 0)`);
  return { index, count };
}

/** A copy of `obj` with the dotted path set to `value` (objects along the path are copied). */
export function setPath(obj: unknown, dotted: string, value: unknown): unknown {
  const [head, ...rest] = dotted.split('.');
  const base = typeof obj === 'object' && obj !== null && !Array.isArray(obj) ? (obj as Record<string, unknown>) : {};
  return { ...base, [head]: rest.length === 0 ? value : setPath(base[head], rest.join('.'), value) };
}

/** Points of the cartesian product of the axes. */
export function gridSize(axes: readonly Axis[]): number {
  return axes.reduce((n, a) => n * a.values.length, 1);
}

/** The values at grid point `index` (first axis slowest): a mixed-radix decode, no grid built. */
export function gridPoint(axes: readonly Axis[], index: number): Record<string, Scalar> {
  const values: Record<string, Scalar> = {};
  let rest = index;
  for (let a = axes.length - 1; a >= 0; a--) {
    const n = axes[a].values.length;
    values[axes[a].key] = axes[a].values[rest % n];
    rest = Math.floor(rest / n);
  }
  // Keys in axis order, as the points of the sweep file list them.
  return Object.fromEntries(axes.map((a) => [a.key, values[a.key]]));
}

/** Cartesian product, first axis slowest. */
export function gridValues(axes: readonly Axis[]): Record<string, Scalar>[] {
  return Array.from({ length: gridSize(axes) }, (_, i) => gridPoint(axes, i));
}

export function shardPoints<T extends { index: number }>(points: readonly T[], shard: Shard | undefined): T[] {
  return shard ? points.filter((p) => p.index % shard.count === shard.index) : [...points];
}

export interface PlanInput {
  experiment: Experiment;
  source: string;
  base: unknown;
  seed: number;
  quick: boolean;
  axes: Axis[];
  /** Build only this shard's points (a shard of a huge grid never builds the rest). */
  shard?: Shard;
}

/** Build the grid (or the shard's slice) and validate every point, so a bad value fails before any point runs. */
export function planSweep(input: PlanInput): SweepPlan {
  const { experiment: exp, axes } = input;
  const seen = new Set<string>();
  for (const a of axes) {
    if (seen.has(a.key)) throw new UserError(`--vary ${a.key}: given twice`);
    seen.add(a.key);
    if (a.key === SEED_KEY) {
      const bad = a.values.find((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff);
      if (bad !== undefined) throw new UserError(`--vary seed: '${bad}' is not an integer in 0..4294967295`);
      continue;
    }
    const node = schemaAt(exp, a.key);
    if (!node) throw new ConfigError(input.source, `config.${a.key}`, `not a parameter of ${exp.name} (see unimem config show ${exp.name})`);
    if (node.type === 'object') throw new ConfigError(input.source, `config.${a.key}`, 'is a group of parameters; vary one of its fields');
  }
  const total = gridSize(axes);
  if (total > MAX_GRID_POINTS) throw new UserError(`sweep: the --vary axes make a grid of ${total} points; at most ${MAX_GRID_POINTS}`);
  const indices: number[] = [];
  for (let i = input.shard?.index ?? 0; i < total; i += input.shard?.count ?? 1) indices.push(i);
  const points = indices.map((index) => {
    const values = gridPoint(axes, index);
    let config = input.base;
    let seed = input.seed;
    for (const [k, v] of Object.entries(values)) {
      if (k === SEED_KEY) seed = v as number;
      else config = setPath(config, k, v);
    }
    const where = `${input.source} with --vary ${Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`;
    const valid = validateConfig(exp, config, where);
    const tooMuch = input.quick ? quickWorkProblem(exp, valid) : undefined;
    if (tooMuch) throw new ConfigError(where, 'quick', tooMuch);
    return { index, values, seed, config: valid };
  });
  return { experiment: exp, total, source: input.source, seed: input.seed, quick: input.quick, base: input.base, axes, points };
}
