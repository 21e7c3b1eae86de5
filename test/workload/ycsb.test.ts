import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { UserError } from '../../src/base/errors.ts';
import { ALL_FIELDS, Operation, OpKind } from '../../src/workload/op.ts';
import { createYcsbWorkload, ycsbConfig, YcsbWorkload } from '../../src/workload/ycsb.ts';
import { zeta } from '../../src/workload/zipfian.ts';

const EXPECTED: Record<string, [OpKind, number][]> = {
  A: [[OpKind.Read, 0.5], [OpKind.Update, 0.5]],
  B: [[OpKind.Read, 0.95], [OpKind.Update, 0.05]],
  C: [[OpKind.Read, 1]],
  D: [[OpKind.Read, 0.95], [OpKind.Insert, 0.05]],
  E: [[OpKind.Scan, 0.95], [OpKind.Insert, 0.05]],
  F: [[OpKind.Read, 0.5], [OpKind.ReadModifyWrite, 0.5]],
};

test('core workloads A-F draw their operation proportions (within 4 binomial sd)', () => {
  const ops = 40_000;
  for (const letter of Object.keys(EXPECTED)) {
    const g = createYcsbWorkload(letter, new Rng(21), { operationCount: ops });
    const op = new Operation();
    for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < ops; i++) {
      g.nextRun(op);
      counts[op.kind]++;
    }
    let covered = 0;
    for (const [kind, p] of EXPECTED[letter]) {
      const share = counts[kind] / ops;
      const sd = Math.sqrt((p * (1 - p)) / ops);
      assert.ok(Math.abs(share - p) <= 4 * sd + 1e-12, `${letter}: kind ${kind} share ${share} vs ${p}`);
      covered += counts[kind];
    }
    assert.equal(covered, ops, `${letter}: no other kinds`);
  }
});

test('operations carry YCSB field semantics: read all fields, update one 100-byte field, insert a 1000-byte record', () => {
  const g = createYcsbWorkload('F', new Rng(22));
  const op = new Operation();
  g.nextLoad(op);
  assert.equal(op.kind, OpKind.Insert);
  assert.equal(op.valueBytes, 1000);
  for (let i = 1; i < g.loadCount; i++) g.nextLoad(op);
  let sawRmw = false;
  for (let i = 0; i < 200; i++) {
    g.nextRun(op);
    assert.equal(op.readField, ALL_FIELDS);
    if ((op.kind as OpKind) === OpKind.ReadModifyWrite) {
      sawRmw = true;
      assert.ok(op.writeField >= 0 && op.writeField < 10);
      assert.equal(op.valueBytes, 100);
    }
    assert.ok(op.keyNum >= 0 && op.keyNum < 1000);
  }
  assert.ok(sawRmw);
  const e = createYcsbWorkload('E', new Rng(23), { operationCount: 5000 });
  for (let i = 0; i < e.loadCount; i++) e.nextLoad(op);
  let maxLen = 0;
  let minLen = 1e9;
  for (let i = 0; i < 5000; i++) {
    e.nextRun(op);
    if ((op.kind as OpKind) === OpKind.Scan) {
      maxLen = Math.max(maxLen, op.count);
      minLen = Math.min(minLen, op.count);
    }
  }
  assert.equal(minLen, 1);
  assert.equal(maxLen, 100); // workloade: maxscanlength=100, uniform
});

test('hashed insert order: load keys are distinct, scattered, and the identity when insertorder=ordered', () => {
  const n = 5000;
  const g = createYcsbWorkload('A', new Rng(24), { recordCount: n });
  const op = new Operation();
  const keys: number[] = [];
  for (let i = 0; i < g.loadCount; i++) {
    g.nextLoad(op);
    assert.equal(op.keyNum, i);
    assert.ok(op.keyBytes >= 5 && op.keyBytes <= 4 + 19, `key name length ${op.keyBytes}`);
    keys.push(op.key);
  }
  assert.equal(new Set(keys).size, n, 'hashed keys are a permutation (no collisions)');
  // Rank correlation between insertion order and key order is ~0 for a scattering hash.
  const rank = new Map([...keys].sort((a, b) => a - b).map((k, i) => [k, i] as [number, number]));
  let d2 = 0;
  keys.forEach((k, i) => (d2 += (rank.get(k)! - i) ** 2));
  const rho = 1 - (6 * d2) / (n * (n * n - 1));
  assert.ok(Math.abs(rho) < 0.1, `Spearman rho ${rho}`);

  const o = createYcsbWorkload('A', new Rng(24), { recordCount: n, insertOrder: 'ordered' });
  for (let i = 0; i < n; i++) {
    o.nextLoad(op);
    assert.equal(op.key, i);
  }
});

test('zipfian workload C sends ~0.99-skewed traffic; requests only hit inserted keys', () => {
  const g = createYcsbWorkload('C', new Rng(25), { recordCount: 1000, operationCount: 100_000 });
  const op = new Operation();
  for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
  const count = new Float64Array(1000);
  for (let i = 0; i < g.runCount; i++) {
    g.nextRun(op);
    assert.ok(op.keyNum < 1000);
    count[op.keyNum]++;
  }
  const sorted = Array.from(count).sort((a, b) => b - a);
  const top = sorted.slice(0, 10).reduce((a, b) => a + b, 0) / g.runCount;
  // Scrambled zipfian over 1001 items: the top 1% of keys carry ~10-20% of requests (see zipfian.test).
  assert.ok(top > 0.08 && top < 0.3, `top-1% share ${top}`);
});

test('latest (workload D) favours recent inserts', () => {
  const g = createYcsbWorkload('D', new Rng(26), { recordCount: 1000, operationCount: 50_000 });
  const op = new Operation();
  for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
  let last = 999;
  let reads = 0;
  let recent = 0;
  for (let i = 0; i < g.runCount; i++) {
    g.nextRun(op);
    if (op.kind === OpKind.Insert) {
      assert.equal(op.keyNum, last + 1);
      last = op.keyNum;
    } else {
      reads++;
      assert.ok(op.keyNum <= last);
      if (last - op.keyNum < 10) recent++;
    }
  }
  // The newest 10 keys get ~0.40 of reads at n = 1000 (Gray CDF, zipfian.test) and less as 2,500
  // inserts grow n to 3,500 (YCSB keeps eta of the initial n); uniform would give 10/n < 1%.
  const share = recent / reads;
  assert.ok(share > 0.2 && share < 0.45, `newest-10 share ${share}; exact Zipf ${zeta(10, 0.99) / zeta(1000, 0.99)}`);
});

test('same seed, same stream; another seed, another stream', () => {
  const run = (seed: number): string => {
    const g = createYcsbWorkload('A', new Rng(seed), { operationCount: 2000 });
    const op = new Operation();
    const out: number[] = [];
    for (let i = 0; i < g.loadCount; i++) g.nextLoad(op);
    for (let i = 0; i < g.runCount; i++) {
      g.nextRun(op);
      out.push(op.kind, op.key, op.writeField, op.valueBytes);
    }
    return JSON.stringify(out);
  };
  assert.equal(run(7), run(7));
  assert.notEqual(run(7), run(8));
});

test('bad parameters are user errors naming the field', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => ycsbConfig('A', { recordCount: -5 }), /ycsb\.recordCount/],
    [() => ycsbConfig('A', { readProportion: 0.7 }), /proportions must sum to 1/],
    [() => ycsbConfig('G'), /ycsb\.workload: unknown core workload 'G'/],
    [() => ycsbConfig('A', { requestDistribution: 'hotspot' as never }), /ycsb\.requestDistribution/],
    [() => ycsbConfig('A', { fieldLength: 0 }), /ycsb\.fieldLength/],
    [() => ycsbConfig('E', { minScanLength: 10, maxScanLength: 5 }), /ycsb\.maxScanLength/],
    [() => new YcsbWorkload({ ...ycsbConfig('A'), operationCount: 1.5 }, new Rng(1)), /ycsb\.operationCount/],
  ];
  for (const [fn, re] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'));
  }
  // Lower-case letters are accepted.
  assert.equal(ycsbConfig('b').readProportion, 0.95);
});
