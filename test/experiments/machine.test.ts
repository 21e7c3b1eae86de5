import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { machineExperiment, machineSchema } from '../../src/experiments/machine.ts';

const small = machineSchema.parse({ ...machineExperiment.defaults(true), workingSetMiB: 32, accesses: 20_000, warmupAccesses: 5_000, patterns: ['uniform'] });
const run = () => machineExperiment.run(small, { seed: 3, progress: silentProgress });

test('machine: cold walks match Bhargava et al. beside the paper in the comparisons', () => {
  const r = run();
  const cold = Object.fromEntries(r.comparisons.map((c) => [c.metric.replace('cold walk references, ', ''), c.ours]));
  assert.deepEqual(cold, { 'native-4K': 4, 'nested-4K/4K': 24, 'nested-4K/2M': 19, 'nested-2M/4K': 19, 'nested-2M/2M': 15 });
});

test('machine: large pages in both dimensions cut misses and translation cycles; one seed, one JSON', () => {
  const r = run();
  const t = r.tables[0];
  const col = (mode: string, c: string) => t.rows.find((row) => row[1] === mode)![t.columns.indexOf(c)] as number;
  // 32 MiB uniform: above the 4 KiB L2 TLB reach (8 MiB on Zen 2), far below the 2 MiB reach.
  assert.ok(col('nested-4K/4K', 'tlbMissRate') > 0.5);
  assert.ok(col('nested-2M/2M', 'tlbMissRate') < 0.01);
  assert.ok(col('nested-4K/4K', 'translationCyclesPerAccess') > col('native-4K', 'translationCyclesPerAccess'));
  assert.ok(col('nested-4K/4K', 'walkRefsPerMiss') > col('native-4K', 'walkRefsPerMiss'));
  assert.equal(JSON.stringify(r), JSON.stringify(run()));
});
