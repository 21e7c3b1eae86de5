import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { UserError } from '../../src/base/errors.ts';
import { findExperiment } from '../../src/experiments/index.ts';
import { ucatExperiment, ucatSchema, type UcatConfig } from '../../src/experiments/ucat.ts';

/** A fleet small enough for the test suite; its memory still outgrows host DRAM. */
function small(overrides: Partial<UcatConfig> = {}): UcatConfig {
  return ucatSchema.parse({
    ...ucatExperiment.defaults(true),
    hostDramMiB: 32,
    hostNvmMiB: 256,
    vms: 4,
    vmDramMiB: 8,
    vmNvmMiB: 24,
    cores: 2,
    memslapInitialLoad: 1500,
    memcachedMemLimitMiB: 24,
    ycsbRecordCount: 12000,
    ycsbOperationCount: 4000,
    configurations: ['osv', 'osv-slab', 'ucat'],
    ...overrides,
  });
}

const run = (config: UcatConfig, seed = 7) => ucatExperiment.run(config, { seed, progress: silentProgress });
const cell = (r: ReturnType<typeof run>, table: string, row: string, column: string, workload?: string) => {
  const t = r.tables.find((x) => x.name === table)!;
  const i = t.columns.indexOf(column);
  const found = t.rows.find((x) => x[0] === row && (workload === undefined || x[1] === workload));
  assert.ok(found && i >= 0, `${table}: ${row} ${workload ?? ''} ${column}`);
  return found[i] as number;
};

test('ucat is registered and its defaults validate against its schema', () => {
  assert.equal(findExperiment('ucat'), ucatExperiment as unknown);
  for (const quick of [true, false]) assert.doesNotThrow(() => ucatSchema.parse(ucatExperiment.defaults(quick)));
});

test('a small fleet runs end to end; two runs with one seed give identical JSON', () => {
  const config = small();
  const a = run(config);
  const b = run(config);
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  for (const k of ['memoryReduction', 'tlbMissReduction', 'memslapSpeedup', 'ycsbSpeedup']) {
    assert.ok(Number.isFinite(a.summary[k]), `summary.${k} = ${a.summary[k]}`);
  }
  assert.equal(a.comparisons.length, 4);
  assert.deepEqual(a.series.map((s) => s.name), ['tlb-mpka', 'throughput', 'host-memory']);

  // The fleet outgrows host DRAM under stock OSv: the rest lands on NVM.
  assert.ok(cell(a, 'configurations', 'osv', 'totalMiB') > config.hostDramMiB);
  assert.ok(cell(a, 'configurations', 'osv', 'nvmMiB') > 0);

  // 2 MiB pages in both dimensions: fewer L2 TLB misses on the same operations, for each workload.
  for (const w of ['memslap', 'ycsb']) {
    assert.ok(cell(a, 'workloads', 'ucat', 'tlbMissRatio', w) < cell(a, 'workloads', 'osv', 'tlbMissRatio', w), w);
    assert.ok(cell(a, 'workloads', 'osv', 'tlbMissRatio', w) > 0, w);
  }
  // Slab classes waste less than OSv's power-of-two pools and page rounding.
  assert.ok(cell(a, 'configurations', 'osv-slab', 'fragmentation') < cell(a, 'configurations', 'osv', 'fragmentation'));
  // UCat's 2 MiB footprint per VM is the handful of translations that explains its missing walks.
  assert.ok(a.summary.maxLeaves2MUcat > 0 && a.summary.maxLeaves2MUcat < 2048, `maxLeaves2MUcat ${a.summary.maxLeaves2MUcat}`);
  // The cycle split the notes quote accounts for each operation's cycles (the run phase takes no faults).
  for (const c of config.configurations) {
    for (const w of ['memslap', 'ycsb']) {
      const total = cell(a, 'workloads', c, 'cyclesPerOp', w);
      const parts = cell(a, 'workloads', c, 'computeCyclesPerOp', w) + cell(a, 'workloads', c, 'translationCyclesPerOp', w) + cell(a, 'workloads', c, 'dataCyclesPerOp', w);
      assert.ok(Math.abs(total - parts) <= 0.002 * total, `${c} ${w}: ${total} vs ${parts}`);
      const nvm = cell(a, 'workloads', c, 'nvmLineShare', w);
      assert.ok(nvm >= 0 && nvm <= 1, `${c} ${w}: nvmLineShare ${nvm}`);
    }
  }
  // Slabs alone put less on NVM than stock OSv: the smaller fleet fits more of host DRAM.
  assert.ok(cell(a, 'configurations', 'osv-slab', 'nvmMiB') < cell(a, 'configurations', 'osv', 'nvmMiB'));
  // Host accounting: frames counted per tier equal the frames the allocator handed out.
  for (const c of config.configurations) assert.equal(cell(a, 'accounting', c, 'residentFrames'), cell(a, 'accounting', c, 'allocatedFrames'), c);
});

test('the summary needs both stock OSv and UCat', () => {
  assert.throws(() => run(small({ configurations: ['osv', 'osv-slab'] })), UserError);
});
