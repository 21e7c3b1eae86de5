/**
 * Sweep and merge bounds: a shard of a huge grid builds only its own points, and shard files that
 * claim a huge total, disagree with their own axes or nest `base` deeply get one line, fast.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gridPoint, gridValues, MAX_GRID_POINTS, parseAxis, planSweep } from '../../src/config/sweep.ts';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { toy, withToy } from '../fixtures/registry.ts';

describe('sweep grids', () => {
  it('decodes any grid point without building the grid, in the grid order', () => {
    const axes = [parseAxis('a=1,2'), parseAxis('b=x,y,z'), parseAxis('c=true,false')];
    const all = gridValues(axes);
    assert.equal(all.length, 12);
    all.forEach((v, i) => assert.deepEqual(gridPoint(axes, i), v));
    assert.deepEqual(all[7], { a: 2, b: 'x', c: false });
  });

  it('a shard of a 9-million-point grid builds and validates only its own points', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i + 2).join(',');
    const axes = [parseAxis(`vms=${values(300)}`), parseAxis(`seed=${values(30_000)}`)];
    const t0 = performance.now();
    const plan = planSweep({ experiment: toy, source: 'toy defaults', base: toy.defaults(true), seed: 1, quick: true, axes, shard: { index: 5, count: 3000 } });
    assert.equal(plan.total, 9_000_000);
    assert.equal(plan.points.length, 3000);
    assert.deepEqual(plan.points.slice(0, 2).map((p) => p.index), [5, 3005]);
    assert.deepEqual(plan.points[1].values, { vms: 2, seed: 3007 });
    assert.ok(performance.now() - t0 < 5000, `${Math.round(performance.now() - t0)} ms`);
  });

  it('refuses a grid beyond the limit before building anything', () => {
    const axes = [parseAxis(`vms=${Array.from({ length: 1000 }, (_, i) => i + 2).join(',')}`), parseAxis(`seed=${Array.from({ length: 100_000 }, (_, i) => i).join(',')}`)];
    assert.throws(() => planSweep({ experiment: toy, source: 's', base: toy.defaults(true), seed: 1, quick: true, axes }), new RegExp(`grid of 100000000 points; at most ${MAX_GRID_POINTS}`));
  });
});

describe('merge of hostile shard files', () => {
  let tmp: ReturnType<typeof tempDir>;
  let good: Record<string, unknown>;
  before(async () => {
    tmp = tempDir();
    const out = path.join(tmp.dir, 'good.json');
    const r = await withToy(() => cli(['sweep', 'toy', '--quick', '--vary', 'vms=2,3', '--jobs', '1', '--shard', '0/2', '--out', out]));
    assert.equal(r.code, 0, r.stderr);
    good = JSON.parse(fs.readFileSync(out, 'utf8'));
  });
  after(() => tmp.cleanup());

  async function merge(name: string, text: string) {
    const file = write(tmp.dir, name, text);
    const t0 = performance.now();
    const r = await cli(['merge', file]);
    assert.ok(performance.now() - t0 < 3000, `${name}: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    return { file, stderr: r.stderr };
  }

  it('refuses a claimed total of 10^9 points', async () => {
    const { file, stderr } = await merge('total.json', JSON.stringify({ ...good, total: 1e9 }));
    assert.equal(stderr, `unimem: ${file}: total: Too big: expected number to be <=${MAX_GRID_POINTS}\n`);
  });

  it('refuses a total that its own axes do not make', async () => {
    const { file, stderr } = await merge('mismatch.json', JSON.stringify({ ...good, total: 5_000_000 }));
    assert.equal(stderr, `unimem: ${file}: total: 5000000 points claimed, but the axes make a grid of 2\n`);
  });

  it('refuses a deeply nested base without overflowing the stack', async () => {
    const deep = JSON.stringify(good).replace('"base":{', `"base":{"x":${'['.repeat(200_000)}${']'.repeat(200_000)},`);
    const { file, stderr } = await merge('deep.json', deep);
    assert.equal(stderr, `unimem: ${file}: not a sweep result (nested more than 40 levels deep)\n`);
  });

  it('names the first missing points of a large grid quickly', async () => {
    const axes = [{ key: 'vms', values: Array.from({ length: 1000 }, (_, i) => i + 2) }, { key: 'seed', values: Array.from({ length: 1000 }, (_, i) => i) }];
    const { stderr } = await merge('sparse.json', JSON.stringify({ ...good, axes, total: 1_000_000, points: [] }));
    assert.equal(stderr, 'unimem: merge: incomplete sweep: grid points 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... (1000000 in all) of 1000000 are in none of the files (a shard is missing?)\n');
  });
});
