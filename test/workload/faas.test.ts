import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { UserError } from '../../src/base/errors.ts';
import { createFaasArrivals, FAAS_DEFAULTS, Invocation } from '../../src/workload/faas.ts';

test('FaaS arrivals are Poisson at the configured rate, with weighted functions and jittered working sets', () => {
  const n = 40_000;
  const a = createFaasArrivals(new Rng(31), { ratePerSecond: 250 });
  const inv = new Invocation();
  const perFn = [0, 0, 0];
  let prev = 0;
  let sumGap = 0;
  let sumGap2 = 0;
  for (let i = 0; i < n; i++) {
    a.next(inv);
    const gap = inv.timeNs - prev;
    assert.ok(gap >= 0);
    sumGap += gap;
    sumGap2 += gap * gap;
    prev = inv.timeNs;
    perFn[inv.fn]++;
    const ws = FAAS_DEFAULTS.functions[inv.fn].workingSetBytes;
    assert.ok(inv.workingSetBytes >= ws * 0.9 - 1 && inv.workingSetBytes <= ws * 1.1 + 1);
  }
  const mean = sumGap / n;
  const cv = Math.sqrt(sumGap2 / n - mean * mean) / mean;
  assert.ok(Math.abs(mean - 4e6) / 4e6 < 0.03, `mean gap ${mean} ns`); // 1/250 s, 4 sd ~ 2%
  assert.ok(Math.abs(cv - 1) < 0.05, `coefficient of variation ${cv} (exponential: 1)`);
  const weights = [0.6, 0.3, 0.1];
  weights.forEach((p, i) => assert.ok(Math.abs(perFn[i] / n - p) < 4 * Math.sqrt((p * (1 - p)) / n)));
});

test('FaaS arrivals are deterministic per seed and reject bad rates', () => {
  const take = (seed: number): number[] => {
    const a = createFaasArrivals(new Rng(seed));
    const inv = new Invocation();
    const out: number[] = [];
    for (let i = 0; i < 100; i++) {
      a.next(inv);
      out.push(inv.timeNs, inv.fn, inv.workingSetBytes);
    }
    return out;
  };
  assert.deepEqual(take(3), take(3));
  assert.notDeepEqual(take(3), take(4));
  assert.throws(() => createFaasArrivals(new Rng(1), { ratePerSecond: -1 }), (e: unknown) => e instanceof UserError && /faas\.ratePerSecond/.test(e.message));
  assert.throws(() => createFaasArrivals(new Rng(1), { functions: [] }), (e: unknown) => e instanceof UserError && /faas\.functions/.test(e.message));
});
