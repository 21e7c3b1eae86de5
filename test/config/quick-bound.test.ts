/**
 * The bound of a quick run: a configuration run as quick (`--quick`, `quick: true`) may ask for at
 * most QUICK_WORK_FACTOR times the simulated work of the experiment's quick defaults; more is one
 * line naming `quick`, exit 2, in `config check`, `run` and `sweep` alike. The machine's work is its
 * simulated loads, counted by hand here for a small configuration.
 */
import * as assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { silentProgress } from '../../src/base/progress.ts';
import { QUICK_WORK_FACTOR, quickWorkProblem } from '../../src/config/load.ts';
import { experiments } from '../../src/experiments/index.ts';
import { machineExperiment, machineWork, type MachineConfig } from '../../src/experiments/machine.ts';
import { cli, tempDir, write } from '../fixtures/cli.ts';

const { dir, cleanup } = tempDir('unimem-quick-');
after(cleanup);

describe('the bound of a quick run', () => {
  it('holds for every quick default, and the full defaults of the big experiments break it', () => {
    for (const e of experiments) assert.equal(quickWorkProblem(e, e.defaults(true)), undefined, e.name);
    for (const name of ['machine', 'dedup-faas', 'ucat']) {
      const e = experiments.find((x) => x.name === name)!;
      assert.match(quickWorkProblem(e, e.defaults(false)) ?? '', /^a quick run asks for at most /, name);
    }
  });

  it('counts the machine experiment\'s simulated loads as its cases make them', () => {
    const config: MachineConfig = {
      ...machineExperiment.defaults(true),
      workingSetMiB: 4,
      accesses: 1000,
      warmupAccesses: 10,
      patterns: ['uniform', 'sequential'],
      modes: ['native-4K', 'nested-2M/2M'],
      coSchedulingVmsPerCore: [1, 3],
      coSchedulingModes: ['nested-4K/4K'],
      coSchedulingWorkingSetMiB: 1,
      coSchedulingAccessesPerVm: 2000,
    };
    // Main cases: 2 patterns x (native-4K: 1024 mapping loads; 2M/2M: 2) + 2 cold-walk loads + 10 warm-up + 1000 measured each.
    const main = 2 * (1024 + 2 + 10 + 1000) + 2 * (2 + 2 + 10 + 1000);
    // Co-scheduling: 4 VMs in all, with and without VPID, each mapping 256 pages and making 10 + 2000 loads.
    const co = 2 * 4 * (256 + 10 + 2000);
    assert.equal(machineWork(config).amount, main + co);
  });

  it('is refused with one line naming quick by config check, run and sweep; accepted without quick', async () => {
    const big = write(dir, 'big.yaml', 'experiment: machine\nquick: true\nconfig:\n  accesses: 100000000\n');
    const limit = machineWork(machineExperiment.defaults(true)).amount * QUICK_WORK_FACTOR;
    const expected = new RegExp(`^unimem: ${big.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: quick: a quick run asks for at most ${limit.toLocaleString('en-US')} simulated loads \\(${QUICK_WORK_FACTOR}x its defaults\\); this configuration asks for [\\d,]+: lower workingSetMiB, accesses, [^\\n]*, or set quick: false\\n$`);
    for (const args of [['config', 'check', big], ['run', big, '--json']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, expected);
    }
    const full = write(dir, 'full.yaml', 'experiment: machine\nquick: false\nconfig:\n  accesses: 100000000\n');
    assert.equal((await cli(['config', 'check', full])).code, 0);

    const r = await cli(['sweep', 'machine', '--quick', '--vary', 'accesses=1000,100000000', '--json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unimem: machine defaults with --vary accesses=100000000: quick: a quick run asks for at most [^\n]+\n$/);
  });

  it('the results say quick when the caller asked for a quick run, whatever the size', async () => {
    const config = { ...machineExperiment.defaults(true), workingSetMiB: 4, accesses: 1000, warmupAccesses: 0, patterns: ['uniform' as const], modes: ['native-4K'], coSchedulingVmsPerCore: [] };
    assert.equal(machineExperiment.run(config, { seed: 1, progress: silentProgress, quick: true }).quick, true);
    assert.equal(machineExperiment.run(config, { seed: 1, progress: silentProgress }).quick, false);
    const small = write(dir, 'small.yaml', 'experiment: machine\nquick: false\nconfig:\n  workingSetMiB: 4\n  accesses: 1000\n  warmupAccesses: 0\n  patterns: [uniform]\n  modes: [native-4K]\n  coSchedulingVmsPerCore: []\n');
    assert.equal(JSON.parse((await cli(['run', small, '--json'])).stdout).quick, false);
    assert.equal(JSON.parse((await cli(['run', small, '--json', '--quick'])).stdout).quick, false, 'the file says quick: false, and the file wins');
    const smallQuick = write(dir, 'small-quick.yaml', 'experiment: machine\nquick: true\nconfig:\n  workingSetMiB: 4\n  accesses: 1000\n  warmupAccesses: 0\n  patterns: [uniform]\n  modes: [native-4K]\n  coSchedulingVmsPerCore: []\n');
    assert.equal(JSON.parse((await cli(['run', smallQuick, '--json'])).stdout).quick, true);
  });
});
