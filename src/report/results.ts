/**
 * Results files: `results.json` (the ExperimentResults, stable key order), one CSV per experiment
 * (`<experiment>.csv`: every table of the experiment in long form, `table,row,column,value`, so one
 * file holds all of it whatever the tables' shapes) and one CSV per table (`<experiment>-<table>.csv`,
 * the table as shown, for spreadsheets) and one per plotted series (`<experiment>-<series>.series.csv`,
 * columns `series,x,y`, to re-plot). The files replace the output folder as a whole, through the System.
 */
import type { System } from '../base/system.ts';
import type { ExperimentResult, ResultSeries, ResultTable } from '../experiments/types.ts';

/** JSON with a trailing newline; key order is insertion order, which experiments keep fixed. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLines(rows: readonly (readonly (string | number)[])[]): string {
  return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

export function tableToCsv(table: ResultTable): string {
  return csvLines([table.columns, ...table.rows]);
}

export function seriesToCsv(s: ResultSeries): string {
  return csvLines([['series', s.x, `${s.y}${s.yUnit ? ` (${s.yUnit})` : ''}`], ...s.points.map((p) => [p.series, p.x, p.y])]);
}

/** All tables of one experiment in long form, plus its headline figures as table `summary`. */
export function experimentToCsv(r: ExperimentResult): string {
  const rows: (string | number)[][] = [['table', 'row', 'column', 'value']];
  for (const [k, v] of Object.entries(r.summary)) rows.push(['summary', 0, k, v]);
  for (const t of r.tables) {
    t.rows.forEach((row, i) => row.forEach((v, j) => rows.push([t.name, i, t.columns[j] ?? `col${j}`, v])));
  }
  return csvLines(rows);
}

/**
 * The result files as (name, content) pairs, computed before anything is written. `extra` files
 * (report.html) come before results.json, which is written last: once it exists, the files beside
 * it are complete.
 */
export function resultFiles(
  results: ExperimentResult | ExperimentResult[],
  extra: readonly { name: string; content: string }[] = [],
): { name: string; content: string }[] {
  const list = Array.isArray(results) ? results : [results];
  const files: { name: string; content: string }[] = [];
  for (const r of list) {
    files.push({ name: `${r.experiment}.csv`, content: experimentToCsv(r) });
    for (const t of r.tables) files.push({ name: `${r.experiment}-${t.name}.csv`, content: tableToCsv(t) });
    for (const s of r.series) files.push({ name: `${r.experiment}-${s.name}.series.csv`, content: seriesToCsv(s) });
  }
  files.push(...extra, { name: 'results.json', content: toJson(results) });
  return files;
}

/** Write results.json and the CSV files into `dir`; returns the paths written. */
export function writeResults(sys: System, dir: string, results: ExperimentResult | ExperimentResult[]): string[] {
  return writeFiles(sys, dir, resultFiles(results));
}

/**
 * Replace folder `dir` with the prepared files (see `System.writeFolder`): the folder holds one
 * complete run, the old one until the new one is in place; `flag` names the option in errors.
 */
export function writeFiles(sys: System, dir: string, files: readonly { name: string; content: string }[], flag = '--out'): string[] {
  return sys.writeFolder(flag, dir, files);
}
