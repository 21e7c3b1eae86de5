/**
 * The experiment seam: a validated config and a seed in, a results object out. Printing, plotting
 * and writing files happen elsewhere (src/report, src/cli).
 *
 * Contract: `run` is deterministic (same config and seed give a byte-identical `ExperimentResult`
 * once serialised), never touches the process (no console, no files, no clock in results), and
 * reports progress only through `ctx.progress`.
 */
import type { z } from 'zod';
import type { Progress } from '../base/progress.ts';
import type { System } from '../base/system.ts';

export interface RunContext {
  seed: number;
  progress: Progress;
  /** What the experiment's `prepare` gathered before the run (e.g. captured traces), if it has one. */
  inputs?: unknown;
  /** Whether the caller asked for a quick run (`--quick`, `quick: true`); results say so in `quick`. */
  quick?: boolean;
}

/** What `prepare` may use: the host object for files and processes, and progress. */
export interface PrepareContext {
  sys: System;
  progress: Progress;
}

/** A headline figure: a number, or words that say what the numbers are of. */
export type SummaryValue = number | string;

/** One table of results: column names and rows of numbers or text. */
export interface ResultTable {
  name: string;
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

/** A time series or x/y data set for plots: one row per point, with a `series` label per row. */
export interface ResultSeries {
  name: string;
  title: string;
  x: string;
  y: string;
  /** Unit of the y axis, e.g. "MiB" or "cycles". */
  yUnit: string;
  /** Plot kind the report should draw. */
  kind: 'line' | 'bar';
  points: { series: string; x: number | string; y: number }[];
}

/** One of our figures next to the paper's. */
export interface PaperComparison {
  metric: string;
  paper: string;
  ours: number;
  unit: string;
  note: string;
}

export interface ExperimentResult {
  experiment: string;
  title: string;
  seed: number;
  quick: boolean;
  config: unknown;
  /** Headline figures (the contract fields issues spell out live here). */
  summary: Record<string, SummaryValue>;
  comparisons: PaperComparison[];
  tables: ResultTable[];
  series: ResultSeries[];
}

/** How much simulating a configuration asks for, and of what. */
export interface ExperimentWork {
  amount: number;
  /** Plural noun of what is counted, e.g. "simulated loads". */
  unit: string;
  /** The configuration fields the amount grows with, named in the error of a quick run that asks too much. */
  fields: string[];
}

/** A broken cross-field rule: the dotted field path under `config` and what is wrong. */
export interface ConfigProblem {
  field: string;
  problem: string;
}

export interface Experiment<S extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  /** What it reproduces from the seeds and how: shown in the report and docs/experiments.md. */
  description: string;
  /**
   * Optional: how to read the results (which figure answers which question, what a good value
   * looks like). Shown under the description in the report and docs/experiments.md.
   */
  howToRead?: string;
  /** Schema of the experiment's configuration (validates input, documents parameters). */
  schema: S;
  /**
   * Optional: limits that tie several fields together (the working set must fit the machine's
   * memory, the records the guest's). Returns the first rule broken, as the field at fault and the
   * problem, or undefined. The loader calls it right after the schema, so `config check`, `run`,
   * `sweep` and `reproduce` accept exactly the same configurations.
   */
  check?(config: z.infer<S>): ConfigProblem | undefined;
  /** Default configuration; `quick` gives a smaller run that finishes in well under a minute. */
  defaults(quick: boolean): z.infer<S>;
  /**
   * Optional: the simulated work a configuration asks for, in a unit of the experiment's own
   * (loads simulated, VM-seconds, requests), counted from the configuration alone. A quick run may
   * ask for at most QUICK_WORK_FACTOR (src/config/load.ts) times the work of the quick defaults.
   */
  work?(config: z.infer<S>): ExperimentWork;
  /**
   * Optional: gather the run's inputs that need the outside world (capture traces of real programs,
   * read caches) before `run`, which stays pure; the result reaches `run` as `ctx.inputs`.
   */
  prepare?(config: z.infer<S>, ctx: PrepareContext): Promise<unknown>;
  run(config: z.infer<S>, ctx: RunContext): ExperimentResult;
}

/** The numeric figures of a summary (what sweeps tabulate and tests compare). */
export function numericSummary(summary: Record<string, SummaryValue>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary)) if (typeof v === 'number') out[k] = v;
  return out;
}
