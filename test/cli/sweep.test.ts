/**
 * Sweeps: grid order, shard slicing, merge of shards equal to the unsharded sweep (table and file),
 * worker threads giving the same results as the serial path, and one-line errors.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gridValues, parseAxis, parseScalar, parseShard, planSweep, shardPoints } from '../../src/config/sweep.ts';
import { executePoints } from '../../src/cli/sweep-runner.ts';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { TOY_MODULE, toy, withToy } from '../fixtures/registry.ts';

describe('sweep plans', () => {
  it('parses values as numbers, booleans or text', () => {
    assert.deepEqual(['4', '1e3', '0.5', 'true', 'false', 'ksm', ' x '].map(parseScalar), [4, 1000, 0.5, true, false, 'ksm', 'x']);
    assert.deepEqual(parseAxis('ksm.scanRate=0.1,0.2'), { key: 'ksm.scanRate', values: [0.1, 0.2] });
    assert.throws(() => parseAxis('vms'), /--vary: 'vms' is not key=v1,v2,.../);
    assert.throws(() => parseAxis('vms=1,1'), /repeated/);
  });

  it('orders the grid with the first axis slowest', () => {
    assert.deepEqual(gridValues([parseAxis('a=1,2'), parseAxis('b=x,y,z')]), [
      { a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 1, b: 'z' },
      { a: 2, b: 'x' }, { a: 2, b: 'y' }, { a: 2, b: 'z' },
    ]);
  });

  it('splits the grid into disjoint shards that cover it (0-based i/N)', () => {
    const points = Array.from({ length: 11 }, (_, index) => ({ index }));
    const shards = [0, 1, 2].map((i) => shardPoints(points, parseShard(`${i}/3`)).map((p) => p.index));
    assert.deepEqual(shards, [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]);
    assert.throws(() => parseShard('3/3'), /needs 0 <= i < N/);
    assert.throws(() => parseShard('1-3'), /is not i\/N/);
  });

  it('validates every point before running any', () => {
    const plan = () =>
      planSweep({ experiment: toy, source: 'base.yaml', base: toy.defaults(true), seed: 1, quick: true, axes: [parseAxis('vms=2,2000')] });
    assert.throws(plan, /^ConfigError: base.yaml with --vary vms=2000: config.vms: out of range: expected number to be <=1000$/m);
    const unknown = () =>
      planSweep({ experiment: toy, source: 'base.yaml', base: toy.defaults(true), seed: 1, quick: true, axes: [parseAxis('ksm.rate=1')] });
    assert.throws(unknown, /base.yaml: config.ksm.rate: not a parameter of toy/);
  });
});

describe('unimem sweep and merge', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());
  const vary = ['--vary', 'vms=2,3,5', '--vary', 'sharing=none,aligned', '--vary', 'seed=1,2'];

  it('merges shards into exactly the unsharded sweep: same file, same table', async () => {
    const base = write(tmp.dir, 'base.yaml', 'experiment: toy\nquick: true\nconfig:\n  work: 50\n');
    const whole = path.join(tmp.dir, 'whole.json');
    const unsharded = await withToy(() => cli(['sweep', base, ...vary, '--jobs', '1', '--out', whole]));
    assert.equal(unsharded.code, 0, unsharded.stderr);
    assert.equal(JSON.parse(fs.readFileSync(whole, 'utf8')).points.length, 12);

    const shardFiles: string[] = [];
    for (let i = 0; i < 4; i++) {
      const out = path.join(tmp.dir, `shard-${i}.json`);
      const r = await withToy(() => cli(['sweep', base, ...vary, '--jobs', '1', '--shard', `${i}/4`, '--out', out]));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).points.length, 3);
      shardFiles.push(out);
    }
    const merged = path.join(tmp.dir, 'merged.json');
    // Shard order on the command line does not matter.
    const m = await cli(['merge', ...shardFiles.reverse(), '--out', merged]);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(fs.readFileSync(merged, 'utf8'), fs.readFileSync(whole, 'utf8'));
    assert.equal(m.stdout, unsharded.stdout);
    assert.match(m.stdout, /^== Sweep of Toy host: library sharing \(seed 1, quick, 12 points\)\nvms  sharing  seed  hostMiBNone/);
  });

  it('refuses an incomplete or mixed set of shards', async () => {
    const base = write(tmp.dir, 'base2.yaml', 'experiment: toy\nquick: true\nconfig:\n  work: 10\n');
    const run = async (extra: string[], out: string) => {
      const r = await withToy(() => cli(['sweep', base, '--vary', 'vms=2,3,4', '--jobs', '1', ...extra, '--out', out]));
      assert.equal(r.code, 0, r.stderr);
      return out;
    };
    const a = await run(['--shard', '0/2'], path.join(tmp.dir, 'a.json'));
    const other = await run(['--shard', '1/2', '--seed', '9'], path.join(tmp.dir, 'other.json'));
    const missing = await cli(['merge', a]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'unimem: merge: incomplete sweep: grid points 1 of 3 are in none of the files (a shard is missing?)\n');
    const mixed = await cli(['merge', a, other]);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /other.json: belongs to a different sweep than .*a.json/);
    const junk = write(tmp.dir, 'junk.json', '{"format":"unimem-sweep","version":1}');
    const bad = await cli(['merge', junk]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^unimem: .*junk.json: experiment: .*\n$/);
  });

  it('gives one-line errors for bad --vary and --shard', async () => {
    const cases: [string[], RegExp][] = [
      [['sweep', 'toy', '--vary', 'vms=1,x'], /^unimem: toy defaults with --vary vms=x: config.vms: expected number, received string\n$/],
      [['sweep', 'toy', '--vary', 'nope=1'], /^unimem: toy defaults: config.nope: not a parameter of toy/],
      [['sweep', 'toy', '--vary', 'vms=1', '--shard', '2/2', '--out', 'x.json'], /^unimem: --shard: '2\/2' needs 0 <= i < N/],
      [['sweep', 'toy', '--vary', 'vms=1', '--shard', '0/2'], /^unimem: --shard: give --out <file>/],
    ];
    for (const [args, re] of cases) {
      const r = await withToy(() => cli(args));
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
  });

  it('runs points on worker threads (more points than threads) with the same results as in this thread', async () => {
    const plan = planSweep({ experiment: toy, source: 'test', base: { ...(toy.defaults(true) as object), work: 2000 }, seed: 1, quick: true, axes: [parseAxis('vms=2,3,4,5,6,7,8')] });
    const serial = await executePoints(plan, plan.points, { jobs: 1 });
    const parallel = await executePoints(plan, plan.points, { jobs: 2, modules: [TOY_MODULE] });
    assert.deepEqual(parallel, serial);
  });
});
