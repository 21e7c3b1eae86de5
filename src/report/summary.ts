/**
 * The reproduction summary: every experiment's figures beside the papers', one row per comparison.
 * Printed by `unimem reproduce` and placed at the top of report.html.
 *
 * Papers give changes as signed percentages ("-50%" memory, "+18.5%" throughput); results keep
 * reductions and speed-ups as positive fractions (`summary` fields are a contract). The summary
 * prints ours in the paper's convention next to the paper's figure, so the two read alike: a
 * memory reduction of 0.334 ("fraction less") shows as -33.4%, a speed-up of 0.12 as +12.0%.
 */
import { formatNumber, formatTable } from '../base/table.ts';
import type { ExperimentResult, PaperComparison } from '../experiments/types.ts';

export const SUMMARY_COLUMNS = ['experiment', 'metric', 'paper', 'ours', 'unit', 'note'] as const;

/** Sign that turns a unit's positive fraction into the paper's signed change. */
const CHANGE_SIGN: Record<string, number> = {
  'fraction less': -1,
  'fraction faster': 1,
  'fraction more': 1,
  fraction: 1,
  /** Already signed: a change of -0.36 is -36%. */
  'fraction change': 1,
};

const signedPercent = (v: number): string => `${v > 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

/** Our figure as the paper writes its own, with the unit that goes with it. */
export function oursInPaperConvention(c: PaperComparison): { ours: string; unit: string } {
  const sign = CHANGE_SIGN[c.unit];
  if (sign === undefined || !Number.isFinite(c.ours)) return { ours: formatNumber(c.ours), unit: c.unit };
  return { ours: signedPercent(sign * c.ours), unit: 'change' };
}

export function summaryRows(results: readonly ExperimentResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    for (const c of r.comparisons) {
      const { ours, unit } = oursInPaperConvention(c);
      rows.push([r.experiment, c.metric, c.paper, ours, unit, c.note]);
    }
  }
  return rows;
}

/** The summary as a terminal table. */
export function renderSummaryText(results: readonly ExperimentResult[]): string {
  const rows = summaryRows(results);
  if (rows.length === 0) return 'No comparisons with the papers in these results.\n';
  return formatTable([...SUMMARY_COLUMNS], rows);
}
