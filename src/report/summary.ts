/**
 * The reproduction summary: every experiment's figures beside the papers', one row per comparison.
 * Printed by `unimem reproduce` and placed at the top of report.html.
 */
import { formatNumber, formatTable } from '../base/table.ts';
import type { ExperimentResult } from '../experiments/types.ts';

export const SUMMARY_COLUMNS = ['experiment', 'metric', 'paper', 'ours', 'unit', 'note'] as const;

export function summaryRows(results: readonly ExperimentResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    for (const c of r.comparisons) rows.push([r.experiment, c.metric, c.paper, formatNumber(c.ours), c.unit, c.note]);
  }
  return rows;
}

/** The summary as a terminal table (our figures right-aligned). */
export function renderSummaryText(results: readonly ExperimentResult[]): string {
  const rows = results.flatMap((r) => r.comparisons.map((c) => [r.experiment, c.metric, c.paper, c.ours, c.unit, c.note]));
  if (rows.length === 0) return 'No comparisons with the papers in these results.\n';
  return formatTable([...SUMMARY_COLUMNS], rows);
}
