/**
 * The `ucat` experiment on small captures of the real programs: memcached under memslap and Redis
 * under our YCSB client, captured under valgrind on this machine (or taken from the trace cache),
 * replayed by a two-VM fleet per workload under stock OSv and UCat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { silentProgress } from '../../src/base/progress.ts';
import { memorySystem } from '../../src/base/system.ts';
import { ucatExperiment, ucatSchema } from '../../src/experiments/ucat.ts';

function missingTool(): string | false {
  for (const tool of ['valgrind', 'memcached', 'memcaslap', 'redis-server']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (scripts/install.sh installs it)`;
    }
  }
  return false;
}

test('run ucat replays small captures of real memcached and Redis under stock OSv and UCat', { skip: missingTool(), timeout: 600_000 }, async () => {
  const config = ucatSchema.parse({
    ...ucatExperiment.defaults(true),
    traceSize: 'small',
    vms: 2,
    vmDramMiB: 4,
    vmNvmMiB: 32,
    dramSharesMiB: [],
    dramPolicies: ['first-come'],
    hostBacking: ['thp'],
    cores: 1,
    configurations: ['osv', 'osv-4k', 'ucat'],
  });
  const inputs = await ucatExperiment.prepare!(config, { sys: memorySystem(), progress: silentProgress });
  const r = ucatExperiment.run(config, { seed: 1, progress: silentProgress, inputs });
  assert.match(String(r.summary.workloads), /^memslap: memcached-[\d.]+\+memc\w*slap .*; ycsb: redis-[\d.]+\+ycsb-a /);
  for (const k of ['memoryReduction', 'tlbMissReduction', 'memslapSpeedup', 'ycsbSpeedup']) assert.ok(Number.isFinite(r.summary[k]), `summary.${k}`);
  const t = r.tables.find((x) => x.name === 'workloads')!;
  const col = (name: string) => t.columns.indexOf(name);
  for (const w of ['memslap', 'ycsb']) {
    const rows = t.rows.filter((x) => x[col('workload')] === w);
    // The same replayed accesses and requests under every allocator; the placement differs.
    assert.equal(new Set(rows.map((x) => x[col('accessesPerOp')])).size, 1, w);
    assert.ok((rows[0][col('accessesPerOp')] as number) > 100, `${w}: a request makes its program's accesses`);
    assert.ok((rows.find((x) => x[0] === 'osv-4k')![col('tlbMpka')] as number) > 0, `${w}: 4 KiB pages walk`);
  }
});
