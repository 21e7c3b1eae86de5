/**
 * `unimem reproduce`: runs experiments, prints the summary (golden), writes report.html,
 * results.json and CSVs; an interrupted run writes nothing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { OUTPUT_MARKER } from '../../src/base/output.ts';
import { experiments } from '../../src/experiments/index.ts';
import type { Experiment } from '../../src/experiments/types.ts';
import { cli, tempDir } from '../fixtures/cli.ts';
import { checkGolden } from '../fixtures/golden.ts';
import { toy, withExperiments, withToy } from '../fixtures/registry.ts';

/** Output paths vary with the temporary directory; goldens show `<out>`. */
function normalise(text: string, dir: string): string {
  return text.split(dir).join('<out>');
}

describe('unimem reproduce', () => {
  it('prints the fixture experiment\'s summary beside the paper and writes every file', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await withToy(() => cli(['reproduce', '--quick', '--only', 'toy', '--out', dir]));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      checkGolden('reproduce-toy.txt', normalise(r.stdout, dir));
      assert.deepEqual(fs.readdirSync(dir).sort(), [
        OUTPUT_MARKER,
        'report.html',
        'results.json',
        'toy-final-memory.series.csv',
        'toy-final.csv',
        'toy-host-memory.series.csv',
        'toy.csv',
      ]);
      const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
      assert.equal(results.length, 1);
      assert.equal(results[0].experiment, 'toy');
      assert.equal(fs.readFileSync(path.join(dir, 'toy-final.csv'), 'utf8').split('\n')[0], 'sharing,VMs,host MiB');
      assert.match(fs.readFileSync(path.join(dir, 'toy.csv'), 'utf8'), /^table,row,column,value\nsummary,0,hostMiBNone,/);
      assert.match(fs.readFileSync(path.join(dir, 'toy-host-memory.series.csv'), 'utf8'), /^series,VMs started,host memory \(MiB\)\nnone,1,/);
    } finally {
      cleanup();
    }
  });

  it('prints JSON and nothing else with --json', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await withToy(() => cli(['reproduce', '--quick', '--only', 'toy', '--out', dir, '--json'], { isTerminal: true }));
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      assert.equal(JSON.parse(r.stdout)[0].experiment, 'toy');
    } finally {
      cleanup();
    }
  });

  it('leaves no output when an experiment fails part-way', async () => {
    const broken: Experiment = { ...toy, name: 'broken', run: () => { throw new Error('simulated crash'); } };
    const { dir, cleanup } = tempDir();
    try {
      await withExperiments([toy, broken], async () => {
        await assert.rejects(cli(['reproduce', '--quick', '--only', 'toy,broken', '--out', path.join(dir, 'out')]), /simulated crash/);
      });
      assert.equal(fs.existsSync(path.join(dir, 'out')), false);
    } finally {
      cleanup();
    }
  });

  it('names an unknown experiment in --only', async () => {
    const r = await cli(['reproduce', '--only', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unimem: --only: unknown experiment 'nope' \(.*\)\n$/);
  });

  // The quick reproduction of the real registry, golden once experiments exist (a few minutes).
  it('prints the quick reproduction summary of the registered experiments', { skip: experiments.length === 0 && 'no experiments registered yet' }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await cli(['reproduce', '--quick', '--workload', 'model', '--out', dir]);
      assert.equal(r.code, 0, r.stderr);
      checkGolden('reproduce-quick.txt', normalise(r.stdout, dir));
      for (const e of experiments) assert.ok(fs.existsSync(path.join(dir, `${e.name}.csv`)), `${e.name}.csv`);
    } finally {
      cleanup();
    }
  });
});
