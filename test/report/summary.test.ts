/** The summary prints our figures in the paper's sign convention beside the paper's. */
import * as assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ExperimentResult, PaperComparison } from '../../src/experiments/types.ts';
import { oursInPaperConvention, summaryRows } from '../../src/report/summary.ts';

const comparison = (ours: number, unit: string): PaperComparison => ({ metric: 'm', paper: 'p', ours, unit, note: '' });

it('prints a reduction as the paper does: -50% beside ours as -33.4%, not 0.334 "fraction less"', () => {
  assert.deepEqual(oursInPaperConvention(comparison(0.334, 'fraction less')), { ours: '-33.4%', unit: 'change' });
  assert.deepEqual(oursInPaperConvention(comparison(-0.05, 'fraction less')), { ours: '+5.0%', unit: 'change' }, 'a reduction below zero is an increase');
  assert.deepEqual(oursInPaperConvention(comparison(0.12, 'fraction faster')), { ours: '+12.0%', unit: 'change' });
  assert.deepEqual(oursInPaperConvention(comparison(1.09, 'fraction')), { ours: '+109.0%', unit: 'change' });
  assert.deepEqual(oursInPaperConvention(comparison(-0.36, 'fraction change')), { ours: '-36.0%', unit: 'change' });
  assert.deepEqual(oursInPaperConvention(comparison(24, 'references')), { ours: '24', unit: 'references' });
  assert.deepEqual(oursInPaperConvention(comparison(2.5, 'ratio')), { ours: '2.500', unit: 'ratio' });
});

it('puts the converted figure in the summary rows', () => {
  const r = { experiment: 'ucat', comparisons: [{ metric: 'memory', paper: '-50%', ours: 0.334, unit: 'fraction less', note: 'n' }] } as unknown as ExperimentResult;
  assert.deepEqual(summaryRows([r]), [['ucat', 'memory', '-50%', '-33.4%', 'change', 'n']]);
});
