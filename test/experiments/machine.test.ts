import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { machineExperiment, machineSchema } from '../../src/experiments/machine.ts';

const noCoScheduling = { coSchedulingVmsPerCore: [] as number[], coSchedulingModes: [] as string[] };
const small = machineSchema.parse({ ...machineExperiment.defaults(true), workingSetMiB: 32, accesses: 20_000, warmupAccesses: 5_000, patterns: ['uniform'], ...noCoScheduling });
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

test('machine: the table notes come from the preset of the run, not fixed text', () => {
  const title = (cpu: string) => {
    const config = machineSchema.parse({ ...small, cpu, accesses: 1000, warmupAccesses: 0, workingSetMiB: 4, patterns: ['sequential'], modes: ['native-4K'] });
    return machineExperiment.run(config, { seed: 1, progress: silentProgress }).tables[0].title;
  };
  const zen2 = title('zen2');
  const champsim = title('champsim');
  assert.match(zen2, /L2 TLB 2048 entries for 4 KiB pages: reach 8 MiB/);
  assert.match(zen2, /LLC 16 MiB/);
  assert.match(champsim, /L2 TLB 1536 entries for 4 KiB pages: reach 6 MiB/);
  assert.match(champsim, /LLC 2 MiB/);
});

test('machine: VMs sharing a core compete for its TLB; without VPID every switch refills it; 2M/2M barely notices', () => {
  const config = machineSchema.parse({
    ...small,
    patterns: ['sequential'],
    modes: ['native-4K'],
    accesses: 1000,
    warmupAccesses: 4000,
    coSchedulingVmsPerCore: [1, 2, 4],
    coSchedulingModes: ['nested-4K/4K', 'nested-2M/2M'],
    coSchedulingWorkingSetMiB: 4,
    coSchedulingAccessesPerVm: 16_000,
    quantumMs: 0.05,
  });
  const r = machineExperiment.run(config, { seed: 5, progress: silentProgress });
  const t = r.tables.find((x) => x.name === 'co-scheduling')!;
  for (const c of ['vmsPerCore', 'mode', 'vpid', 'tlbMpka', 'translationCyclesPerAccess']) assert.ok(t.columns.includes(c), c);
  const get = (vms: number, mode: string, vpid: boolean, c: string) =>
    t.rows.find((row) => row[0] === vms && row[1] === mode && row[2] === String(vpid))![t.columns.indexOf(c)] as number;
  assert.equal(t.rows.length, 3 * 2 * 2);
  // 4 MiB of 4 KiB pages: 1024 entries, half the Zen 2 L2 TLB. Alone it fits; four VMs do not.
  assert.equal(get(1, 'nested-4K/4K', true, 'tlbMpka'), 0);
  assert.equal(get(1, 'nested-4K/4K', true, 'switchesPerKiloAccess'), 0);
  assert.ok(get(4, 'nested-4K/4K', true, 'tlbMpka') > get(2, 'nested-4K/4K', true, 'tlbMpka'));
  // Two VMs fit together when tagged; untagged, each slice starts with an empty TLB.
  assert.ok(get(2, 'nested-4K/4K', false, 'tlbMpka') > get(2, 'nested-4K/4K', true, 'tlbMpka'));
  assert.ok(get(2, 'nested-4K/4K', false, 'translationCyclesPerAccess') > get(2, 'nested-4K/4K', true, 'translationCyclesPerAccess'));
  for (const vpid of [true, false]) assert.ok(get(4, 'nested-2M/2M', vpid, 'tlbMpka') < get(4, 'nested-4K/4K', vpid, 'tlbMpka') / 10);
  assert.ok(r.summary.coScheduling4K4KTlbMpkaMostVms > r.summary.coScheduling4K4KTlbMpkaAlone);
});
