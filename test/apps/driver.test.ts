import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { DocumentStore } from '../../src/apps/docstore.ts';
import { countsToJSON, opsPerSecond, runWorkload, WorkloadRunner } from '../../src/apps/driver.ts';
import { MemcachedStore } from '../../src/apps/memcached.ts';
import { createMemslapWorkload } from '../../src/workload/memslap.ts';
import { OpKind } from '../../src/workload/op.ts';
import { createYcsbWorkload } from '../../src/workload/ycsb.ts';
import { CountingAccessPath, MockAllocator } from './mocks.ts';

function ycsbRun(letter: string, seed: number): string {
  const alloc = new MockAllocator();
  const path = new CountingAccessPath(alloc);
  const app = new DocumentStore(alloc, path);
  const counts = runWorkload(app, createYcsbWorkload(letter, new Rng(seed).fork('vm0/ycsb'), { recordCount: 2000, operationCount: 3000 }));
  assert.equal(path.violations, 0, path.firstViolation);
  return JSON.stringify(countsToJSON(counts));
}

test('two runs with one seed give identical JSON; another seed differs', () => {
  for (const letter of ['A', 'D', 'E', 'F']) {
    assert.equal(ycsbRun(letter, 1), ycsbRun(letter, 1), letter);
    assert.notEqual(ycsbRun(letter, 1), ycsbRun(letter, 2), letter);
  }
});

test('YCSB A on the document store: load then run, counts per kind, no misses', () => {
  const alloc = new MockAllocator();
  const path = new CountingAccessPath(alloc);
  const c = runWorkload(new DocumentStore(alloc, path), createYcsbWorkload('A', new Rng(3), { recordCount: 1000, operationCount: 4000 }));
  assert.equal(c.load.total, 1000);
  assert.equal(c.load.ops[OpKind.Insert], 1000);
  assert.equal(c.run.total, 4000);
  assert.equal(c.run.ops[OpKind.Read] + c.run.ops[OpKind.Update], 4000);
  assert.equal(c.run.misses, 0);
  assert.equal(c.run.computeCycles, 20000 * c.run.ops[OpKind.Read] + 25000 * c.run.ops[OpKind.Update]);
  assert.ok(c.run.memoryCycles > 0);
  const ops = opsPerSecond(c.run, 2.5e9);
  assert.ok(Math.abs(ops - (4000 * 2.5e9) / (c.run.computeCycles + c.run.memoryCycles)) < 1e-6);
});

test('memslap get on the memcached store: every get hits; the runner can be stepped in slices', () => {
  const alloc = new MockAllocator();
  const path = new CountingAccessPath(alloc);
  const gen = createMemslapWorkload(new Rng(4), { initialLoad: 2000 });
  const runner = new WorkloadRunner(new MemcachedStore(alloc, path), gen);
  let steps = 0;
  while (!runner.done) {
    runner.step(333);
    steps++;
  }
  assert.equal(steps, Math.ceil(4000 / 333));
  assert.equal(runner.counts.load.total, 2000);
  assert.equal(runner.counts.run.total, 2000);
  assert.equal(runner.counts.run.misses, 0);
  assert.equal(path.violations, 0, path.firstViolation);
  const whole = runWorkload(new MemcachedStore(new MockAllocator(), new CountingAccessPath()), createMemslapWorkload(new Rng(4), { initialLoad: 2000 }));
  assert.deepEqual(countsToJSON(whole), countsToJSON(runner.counts), 'slicing does not change results');
});

test('a VM with a core of its own runs its operations over its compute and memory cycles', () => {
  const clock = 2e9;
  assert.equal(opsPerSecond(createFake(1000, 2e6), clock), 1e6);
  assert.equal(opsPerSecond(createFake(1000, 4e6), clock), 5e5);
  assert.equal(opsPerSecond(createFake(0, 0), clock), 0);
});

function createFake(ops: number, cycles: number) {
  const alloc = new MockAllocator();
  const c = runWorkload(new MemcachedStore(alloc, new CountingAccessPath()), createMemslapWorkload(new Rng(1), { initialLoad: 1 }), 0);
  const p = c.load;
  p.total = ops;
  p.computeCycles = cycles;
  p.memoryCycles = 0;
  return p;
}
