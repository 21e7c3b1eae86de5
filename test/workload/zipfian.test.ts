import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { fnvHash64Parts, fnvHashMod, fnvHash53 } from '../../src/workload/fnv.ts';
import {
  SCRAMBLED_ITEM_COUNT,
  SCRAMBLED_ZETAN,
  ScrambledZipfianGenerator,
  SkewedLatestGenerator,
  ZipfianGenerator,
  zeta,
} from '../../src/workload/zipfian.ts';

/** YCSB Utils.fnvhash64 with BigInt, as the reference. */
function fnvRef(val: bigint): bigint {
  const M = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < 8; i++) {
    const octet = val & 0xffn;
    val >>= 8n;
    h = ((h ^ octet) * 1099511628211n) & M;
  }
  if (h >= 1n << 63n) h = ((1n << 64n) - h) & M; // Math.abs of the signed long
  return h;
}

test('fnv hash matches a BigInt reference of YCSB fnvhash64', () => {
  const vals = [0, 1, 255, 256, 65535, 999, 123456789, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, SCRAMBLED_ITEM_COUNT, 2 ** 53 - 1];
  const rng = new Rng(5);
  for (let i = 0; i < 200; i++) vals.push(rng.nextInt(2 ** 53));
  for (const v of vals) {
    const ref = fnvRef(BigInt(v));
    const [hi, lo] = fnvHash64Parts(v);
    assert.equal((BigInt(hi) << 32n) | BigInt(lo), ref, `fnvhash64(${v})`);
    for (const n of [1000, 1001, 123457, 2 ** 31 - 1, 2 ** 36 + 3]) {
      assert.equal(BigInt(fnvHashMod(v, n)), ref % BigInt(n), `fnvhash64(${v}) % ${n}`);
    }
    assert.equal(BigInt(fnvHash53(v)), ref & ((1n << 53n) - 1n));
  }
});

test('zeta(10^10, 0.99) from the Euler-Maclaurin tail equals YCSB ScrambledZipfianGenerator.ZETAN', () => {
  const z = zeta(SCRAMBLED_ITEM_COUNT, 0.99);
  assert.ok(Math.abs(z - SCRAMBLED_ZETAN) / SCRAMBLED_ZETAN < 1e-9, `zeta = ${z}`);
  // Incremental zeta equals the from-scratch sum.
  assert.ok(Math.abs(zeta(5000, 0.99, 1000, zeta(1000, 0.99)) - zeta(5000, 0.99)) < 1e-9);
});

/** P(value < k) of YCSB's Gray et al. generator over n items, for k >= 2 (inverse of its formula). */
function grayCdf(n: number, theta: number, k: number): number {
  const zetan = zeta(n, theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta(2, theta) / zetan);
  const uk = (Math.pow(k / n, 1 - theta) - 1) / eta + 1;
  return Math.max(uk, (1 + Math.pow(0.5, theta)) / zetan);
}

const N = 400_000;
/** Four binomial standard deviations: a wrong generator fails, a right one passes ~always. */
const tol = (p: number, n = N): number => 4 * Math.sqrt((p * (1 - p)) / n);

test('zipfian 0.99 over 1000 items: P(rank 0) equals 1/zeta(n) and the hottest 1% match theory', () => {
  const n = 1000;
  const g = new ZipfianGenerator(new Rng(11), 0, n - 1);
  let r0 = 0;
  let hot = 0;
  for (let i = 0; i < N; i++) {
    const v = g.next();
    assert.ok(v >= 0 && v < n);
    if (v === 0) r0++;
    if (v < n / 100) hot++;
  }
  const p0 = 1 / zeta(n, 0.99); // 0.1294 (deps.md: 0.1293 measured)
  assert.ok(Math.abs(r0 / N - p0) < tol(p0), `P(rank0) ${r0 / N} vs ${p0}`);
  const pHot = grayCdf(n, 0.99, n / 100);
  assert.ok(Math.abs(hot / N - pHot) < tol(pHot), `hottest 1% ${hot / N} vs Gray ${pHot}`);
  // Gray's approximation sits slightly above the exact Zipf share zeta(10)/zeta(1000) = 0.3825.
  const exact = zeta(n / 100, 0.99) / zeta(n, 0.99);
  assert.ok(hot / N > exact && hot / N - exact < 0.03, `hottest 1% ${hot / N} vs exact Zipf ${exact}`);
});

test('scrambled zipfian: the hottest 1% of keys get the share predicted by folding ranks with FNV', () => {
  const n = 1000;
  // Mass per key: exact for the first R ranks of the 10^10-item Gray distribution, the rest uniform.
  const R = 2_000_000;
  const mass = new Float64Array(n);
  let prev = 0;
  for (let r = 0; r < R; r++) {
    const cdf = r === 0 ? 1 / SCRAMBLED_ZETAN : r === 1 ? (1 + Math.pow(0.5, 0.99)) / SCRAMBLED_ZETAN : grayCdfFixed(r + 1);
    mass[fnvHashMod(r, n)] += cdf - prev;
    prev = cdf;
  }
  for (let k = 0; k < n; k++) mass[k] += (1 - prev) / n;
  const order = Array.from(mass.keys()).sort((a, b) => mass[b] - mass[a]);
  const hotSet = new Set(order.slice(0, n / 100));
  let theory = 0;
  for (const k of hotSet) theory += mass[k];

  const g = new ScrambledZipfianGenerator(new Rng(12), 0, n - 1);
  let hot = 0;
  for (let i = 0; i < N; i++) if (hotSet.has(g.next())) hot++;
  assert.ok(Math.abs(hot / N - theory) < tol(theory), `scrambled hottest 1% ${hot / N} vs ${theory}`);
  // Scrambling spreads the head: far less skewed than the unscrambled 0.38, far more than 1%.
  assert.ok(theory > 0.05 && theory < 0.3);
});

/** Gray CDF for the scrambled generator's 10^10(+1)-item zipfian with YCSB's precomputed zetan. */
function grayCdfFixed(k: number): number {
  const items = SCRAMBLED_ITEM_COUNT + 1;
  const theta = 0.99;
  const eta = (1 - Math.pow(2 / items, 1 - theta)) / (1 - zeta(2, theta) / SCRAMBLED_ZETAN);
  return (Math.pow(k / items, 1 - theta) - 1) / eta + 1;
}

test('skewed latest favours the most recent keys and follows the counter as it grows', () => {
  const g = new SkewedLatestGenerator(new Rng(13), 999);
  let recent = 0;
  const draws = 100_000;
  for (let i = 0; i < draws; i++) {
    const k = g.next(999);
    assert.ok(k >= 0 && k <= 999);
    if (k > 989) recent++;
  }
  // 999 - zipfian(999) > 989  <=>  zipfian < 10: the hottest 10 ranks, ~0.40 of draws.
  const p = grayCdf(999, 0.99, 10);
  assert.ok(Math.abs(recent / draws - p) < tol(p, draws), `recent share ${recent / draws} vs ${p}`);
  // After inserts the newest key is the favourite.
  let newest = 0;
  for (let i = 0; i < 10_000; i++) if (g.next(1500) >= 1499) newest++;
  assert.ok(newest / 10_000 > 0.1);
});
