import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { UserError } from '../../src/base/errors.ts';
import { Operation, OpKind } from '../../src/workload/op.ts';
import { createMemslapWorkload, memslapConfig } from '../../src/workload/memslap.ts';

test('memslap defaults follow libmemcached: get test, 1 thread, 10000 pairs of 20 B keys and 4096 B values', () => {
  const g = createMemslapWorkload(new Rng(1));
  assert.equal(g.config.test, 'get');
  assert.equal(g.config.concurrency, 1);
  assert.equal(g.loadCount, 10000);
  assert.equal(g.runCount, 10000);
  const op = new Operation();
  const loaded = new Set<number>();
  for (let i = 0; i < g.loadCount; i++) {
    g.nextLoad(op);
    assert.equal(op.kind, OpKind.Insert);
    assert.equal(op.keyBytes, 20);
    assert.equal(op.valueBytes, 4096);
    loaded.add(op.key);
  }
  assert.equal(loaded.size, 10000);
  const seen = new Set<number>();
  for (let i = 0; i < g.runCount; i++) {
    g.nextRun(op);
    assert.equal(op.kind, OpKind.Read);
    assert.ok(loaded.has(op.key));
    seen.add(op.key);
  }
  // Uniform random keys: 10000 draws over 10000 keys cover 1 - 1/e ~ 63%.
  assert.ok(Math.abs(seen.size / 10000 - (1 - Math.exp(-1))) < 0.02, `coverage ${seen.size}`);
});

test('memslap set test: each thread stores its own fresh pairs, nothing preloaded', () => {
  const g = createMemslapWorkload(new Rng(2), { test: 'set', concurrency: 4, executeNumber: 100 });
  assert.equal(g.loadCount, 0);
  assert.equal(g.runCount, 400);
  const op = new Operation();
  const keys = new Set<number>();
  for (let i = 0; i < g.runCount; i++) {
    g.nextRun(op);
    assert.equal(op.kind, OpKind.Insert);
    keys.add(op.key);
  }
  assert.equal(keys.size, 400);
});

test('memslap mget: one multi-get of all loaded keys per thread', () => {
  const g = createMemslapWorkload(new Rng(3), { test: 'mget', concurrency: 2, initialLoad: 50 });
  const op = new Operation();
  assert.equal(g.runCount, 2);
  for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
  g.nextRun(op);
  assert.equal(op.kind, OpKind.MultiGet);
  assert.equal(op.count, 50);
});

test('memaslap defaults: 64 B keys, 1024 B values, 9:1 get/set over concurrency x window keys', () => {
  const g = createMemslapWorkload(new Rng(4), { tool: 'memaslap', executeNumber: 50_000 });
  assert.equal(g.loadCount, 16 * 10_000);
  const op = new Operation();
  for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
  let gets = 0;
  for (let i = 0; i < g.runCount; i++) {
    g.nextRun(op);
    assert.equal(op.keyBytes, 64);
    if (op.kind === OpKind.Read) gets++;
    else assert.equal(op.valueBytes, 1024);
  }
  const sd = Math.sqrt((0.9 * 0.1) / 50_000);
  assert.ok(Math.abs(gets / 50_000 - 0.9) < 4 * sd);
});

test('memslap bad options are user errors naming the field', () => {
  assert.throws(() => memslapConfig({ test: 'incr' as never }), (e: unknown) => e instanceof UserError && /memslap\.test/.test(e.message));
  assert.throws(() => memslapConfig({ concurrency: 0 }), (e: unknown) => e instanceof UserError && /memslap\.concurrency/.test(e.message));
  assert.throws(() => memslapConfig({ keyBytes: 300 }), (e: unknown) => e instanceof UserError && /memslap\.keyBytes/.test(e.message));
  assert.throws(
    () => memslapConfig({ tool: 'memaslap', getProportion: 1.5 }),
    (e: unknown) => e instanceof UserError && /memslap\.getProportion/.test(e.message),
  );
});
