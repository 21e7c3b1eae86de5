import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { ucatExperiment, ucatSchema } from '../../src/experiments/ucat.ts';

/** The ucat fleet with 4 small VMs on `cores` cores. */
function fleet(cores: number) {
  const config = ucatSchema.parse({
    ...ucatExperiment.defaults(true),
    hostDramMiB: 32,
    hostNvmMiB: 256,
    vms: 4,
    vmDramMiB: 8,
    vmNvmMiB: 24,
    cores,
    memslapInitialLoad: 600,
    memcachedMemLimitMiB: 24,
    ycsbRecordCount: 3000,
    ycsbOperationCount: 1500,
    configurations: ['osv', 'ucat'],
  });
  const r = ucatExperiment.run(config, { seed: 11, progress: silentProgress });
  const t = r.tables.find((x) => x.name === 'configurations')!;
  return (row: string, col: string) => t.rows.find((x) => x[0] === row)![t.columns.indexOf(col)] as number;
}

test('the ucat fleet runs on the configured cores: throughput comes from simulated time on them', () => {
  const shared = fleet(1);
  const own = fleet(4);
  for (const c of ['osv', 'ucat']) {
    for (const w of ['memslap', 'ycsb']) {
      const one = shared(c, `${w}HostOps`);
      const four = own(c, `${w}HostOps`);
      // On one core a VM's run phase shares the core with the three others (memslap runs while
      // the YCSB VMs still load: a quarter each) or with the other VM of its workload (the YCSB
      // run phases come last: half each); on four cores each VM has its own. So the workload's
      // host rate grows between 2x and 4x, plus what the switches and the shared TLB cost, and
      // what the larger LLC gives (icelake: 1.5 MiB per core, so 6 MiB on four cores).
      assert.ok(four > 1.8 * one, `${c} ${w}: ${four} ops/s on 4 cores against ${one} on 1`);
      assert.ok(four < 6 * one, `${c} ${w}: ${four} ops/s on 4 cores against ${one} on 1`);
    }
  }
  // Sharing one core's TLB costs the 4 KiB configuration at least as many misses as its own core.
  assert.ok(shared('osv', 'tlbMpka') >= own('osv', 'tlbMpka'));
});
