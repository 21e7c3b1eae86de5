/**
 * Sweep results: the file a sweep (or one shard of it) writes, merging shards, and the table.
 *
 *   { "format": "unimem-sweep", "version": 1,
 *     "experiment", "title", "seed", "quick", "base", "axes", "total",   <- the plan: equal in every shard
 *     "shard": { "index", "count" } | null,                               <- null once complete
 *     "points": [ { "index", "values", "seed", "summary" }, ... ] }      <- sorted by index
 *
 * A merged set of shards is, byte for byte, the file the unsharded sweep writes.
 */
import { z } from 'zod';
import { InputError } from '../base/errors.ts';
import { formatTable, type Cell } from '../base/table.ts';
import { jsonTextDepth, valueDepth } from '../base/nesting.ts';
import { gridSize, MAX_GRID_POINTS, type Axis, type Shard } from '../config/sweep.ts';
import { csvLines } from './results.ts';

export const SWEEP_FORMAT = 'unimem-sweep';
export const SWEEP_VERSION = 1;

export interface SweepPointResult {
  index: number;
  values: Record<string, number | boolean | string>;
  seed: number;
  summary: Record<string, number>;
}

export interface SweepFile {
  format: typeof SWEEP_FORMAT;
  version: typeof SWEEP_VERSION;
  experiment: string;
  title: string;
  seed: number;
  quick: boolean;
  base: unknown;
  axes: Axis[];
  total: number;
  shard: Shard | null;
  points: SweepPointResult[];
}

const scalar = z.union([z.number(), z.boolean(), z.string()]);
const sweepFileSchema = z
  .object({
    format: z.literal(SWEEP_FORMAT),
    version: z.literal(SWEEP_VERSION),
    experiment: z.string(),
    title: z.string(),
    seed: z.number().int(),
    quick: z.boolean(),
    base: z.unknown(),
    axes: z.array(z.object({ key: z.string(), values: z.array(scalar).min(1) }).strict()),
    total: z.number().int().min(0).max(MAX_GRID_POINTS),
    shard: z.object({ index: z.number().int().min(0), count: z.number().int().min(1) }).strict().nullable(),
    points: z.array(
      z
        .object({
          index: z.number().int().min(0),
          values: z.record(z.string(), scalar),
          seed: z.number().int(),
          summary: z.record(z.string(), z.number()),
        })
        .strict(),
    ),
  })
  .strict();

/**
 * Nesting a sweep file may have: `base` is an experiment's configuration (a few levels; the loader
 * allows 32), the rest is fixed. Deeper text is refused before JSON.parse, which takes seconds
 * over a megabyte of brackets, and before anything walks it recursively.
 */
const MAX_SWEEP_FILE_DEPTH = 40;

/** Read a sweep file's text; errors name the file and the field. */
export function parseSweepFile(file: string, text: string): SweepFile {
  if (jsonTextDepth(text, MAX_SWEEP_FILE_DEPTH) > MAX_SWEEP_FILE_DEPTH) throw new InputError(file, `not a sweep result (nested more than ${MAX_SWEEP_FILE_DEPTH} levels deep)`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, `not a sweep result (invalid JSON: ${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof raw !== 'object' || raw === null || (raw as { format?: unknown }).format !== SWEEP_FORMAT) {
    throw new InputError(file, `not a sweep result (no "format": "${SWEEP_FORMAT}")`);
  }
  const parsed = sweepFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(file, `${issue.path.map(String).join('.') || 'file'}: ${issue.message}`);
  }
  const f = parsed.data as SweepFile;
  // The plan's own numbers must agree, or merge would trust a claimed total over the axes.
  if (f.total !== gridSize(f.axes)) throw new InputError(file, `total: ${f.total} points claimed, but the axes make a grid of ${gridSize(f.axes)}`);
  if (f.points.length > f.total) throw new InputError(file, `points: ${f.points.length} points in a grid of ${f.total}`);
  if (valueDepth(f.base, MAX_SWEEP_FILE_DEPTH) > MAX_SWEEP_FILE_DEPTH) throw new InputError(file, 'base: nested too deeply');
  return f;
}

/** The part of a sweep file that every shard of one sweep shares. */
function planKey(f: SweepFile): string {
  return JSON.stringify([f.experiment, f.seed, f.quick, f.base, f.axes, f.total]);
}

/** Combine shard files into the complete sweep; every grid point must be present exactly once. */
export function mergeSweeps(files: readonly { file: string; data: SweepFile }[]): SweepFile {
  if (files.length === 0) throw new InputError('merge', 'no sweep files given');
  const first = files[0];
  const byIndex = new Map<number, { file: string; point: SweepPointResult }>();
  for (const { file, data } of files) {
    if (planKey(data) !== planKey(first.data)) {
      throw new InputError(file, `belongs to a different sweep than ${first.file} (experiment, seed, base configuration or --vary differ)`);
    }
    for (const p of data.points) {
      if (p.index >= data.total) throw new InputError(file, `points: index ${p.index} is outside the grid of ${data.total} points`);
      const had = byIndex.get(p.index);
      // A point run twice (a retried shard) is fine if it gave the same result: runs are deterministic.
      if (had && JSON.stringify(had.point) !== JSON.stringify(p)) {
        throw new InputError(file, `point ${p.index} differs from the same point in ${had.file}`);
      }
      byIndex.set(p.index, { file, point: p });
    }
  }
  const absent = first.data.total - byIndex.size;
  if (absent > 0) {
    // The first ten absent points: found within byIndex.size + 10 steps, whatever the total.
    const missing: number[] = [];
    for (let i = 0; missing.length < 10 && i < first.data.total; i++) if (!byIndex.has(i)) missing.push(i);
    const list = missing.join(', ') + (absent > 10 ? `, ... (${absent} in all)` : '');
    throw new InputError('merge', `incomplete sweep: grid points ${list} of ${first.data.total} are in none of the files (a shard is missing?)`);
  }
  return {
    ...first.data,
    shard: null,
    points: [...byIndex.values()].map((v) => v.point).sort((a, b) => a.index - b.index),
  };
}

/** Columns: the varied keys, then every headline figure (in first-seen order). */
export function sweepTable(f: SweepFile): { columns: string[]; rows: Cell[][] } {
  const keys = f.axes.map((a) => a.key);
  const figures: string[] = [];
  for (const p of f.points) for (const k of Object.keys(p.summary)) if (!figures.includes(k)) figures.push(k);
  const rows = f.points.map((p) => [
    ...keys.map((k) => {
      const v = p.values[k];
      return typeof v === 'boolean' ? String(v) : v;
    }),
    ...figures.map((k) => p.summary[k] ?? ''),
  ]);
  return { columns: [...keys, ...figures], rows };
}

export function renderSweepText(f: SweepFile): string {
  const { columns, rows } = sweepTable(f);
  const shard = f.shard ? `, shard ${f.shard.index}/${f.shard.count}: ${f.points.length} of ${f.total} points` : `, ${f.total} points`;
  return `== Sweep of ${f.title} (seed ${f.seed}${f.quick ? ', quick' : ''}${shard})\n${formatTable(columns, rows)}`;
}

export function sweepToCsv(f: SweepFile): string {
  const { columns, rows } = sweepTable(f);
  return csvLines([columns, ...rows]);
}
