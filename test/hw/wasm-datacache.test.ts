/**
 * The data caches in WebAssembly (src/hw/wasm/datacache.ts) against `DataCache` (src/hw/cache.ts):
 * `dataAccess` / `dataAbsorbWriteBack` against `access` / `absorbWriteBack` on random operation
 * sequences, for the presets' geometries (L1D 8 ways, L2 8 ways, LLC 16 ways), set counts that
 * are not powers of two, small caches whose dirty victims come fast, and lines past 32 bits and
 * at the tag limit, comparing results and every byte of the caches' regions after every step.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { arena } from '../../src/hw/arena.ts';
import { DataCache } from '../../src/hw/cache.ts';
import { translator } from '../../src/hw/wasm-translate.ts';

const wasm = translator();
const skip = wasm === null ? 'no WebAssembly access path here (AssemblyScript, a dev dependency, is missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

const HEADER_BYTES = 64;
/** Header fields (i32 at +0, +4, +8; array offsets at +12, +16; i32 at +20; f64 at +24, +32, +40). */
const I32_FIELDS = ['sets', 'ways', 'setMask'];
const SET_SHIFT_SLOT = 5;
const F64_FIELDS = ['setInverse', 'latency', 'evictedDirtyLine'];
const TAG_LIMIT = 2 ** 30;

/** The first difference between the regions of two caches of one geometry, or null. */
function regionDifference(a: DataCache, b: DataCache): string | null {
  const i32 = (c: DataCache, j: number) => arena.i32[c.base / 4 + j];
  const f64 = (c: DataCache, j: number) => arena.f64[c.base / 8 + j];
  for (let j = 0; j < I32_FIELDS.length; j++) if (i32(a, j) !== i32(b, j)) return `header ${I32_FIELDS[j]}: ${i32(a, j)} against ${i32(b, j)}`;
  if (i32(a, SET_SHIFT_SLOT) !== i32(b, SET_SHIFT_SLOT)) return `header setShift: ${i32(a, SET_SHIFT_SLOT)} against ${i32(b, SET_SHIFT_SLOT)}`;
  const shift = i32(a, SET_SHIFT_SLOT);
  if (shift !== ((a.sets & (a.sets - 1)) === 0 ? Math.log2(a.sets) : -1)) return `header setShift ${shift} for ${a.sets} sets`;
  for (let j = 0; j < F64_FIELDS.length; j++) if (!Object.is(f64(a, 3 + j), f64(b, 3 + j))) return `header ${F64_FIELDS[j]}: ${f64(a, 3 + j)} against ${f64(b, 3 + j)}`;
  const lines = a.sets * a.ways;
  const arrays: [string, number, number][] = [
    ['word', 3, lines * 4],
    ['front', 4, a.sets],
  ];
  for (const [name, slot, bytes] of arrays) {
    const pa = i32(a, slot);
    const pb = i32(b, slot);
    // The arrays follow the header in the region: word at +64, front after it.
    const expected = slot === 3 ? HEADER_BYTES : HEADER_BYTES + lines * 4;
    if (pa - a.base !== expected || pb - b.base !== expected) return `array ${name}: at +${pa - a.base} and +${pb - b.base}, not +${expected}`;
    const x = Buffer.from(arena.memory.buffer, pa, bytes);
    const y = Buffer.from(arena.memory.buffer, pb, bytes);
    if (!x.equals(y)) {
      for (let i = 0; i < bytes; i++) if (x[i] !== y[i]) return `array ${name}, byte ${i}: ${x[i]} against ${y[i]}`;
    }
  }
  return null;
}

interface Geometry {
  name: string;
  sets: number;
  ways: number;
}

const GEOMETRIES: Geometry[] = [
  { name: 'L1D of the presets (32 KiB, 8 ways)', sets: 64, ways: 8 },
  { name: 'L2 of zen2 (512 KiB, 8 ways)', sets: 1024, ways: 8 },
  { name: 'LLC of zen2 (16 MiB, 16 ways)', sets: 16384, ways: 16 },
  { name: 'L1D of icelake (48 KiB, 12 ways)', sets: 64, ways: 12 },
  { name: '96 sets of 16 ways (modulo index)', sets: 96, ways: 16 },
  { name: '3 sets of 12 ways (modulo index)', sets: 3, ways: 12 },
  { name: 'one set of 2 ways', sets: 1, ways: 2 },
  { name: 'LLC slice of sapphirerapids (15 ways: the last vector compare reads past the set)', sets: 2048, ways: 15 },
  { name: 'L2 of icelake (20 ways)', sets: 1024, ways: 20 },
  { name: 'one set of 15 ways (the compare reads past the last set)', sets: 1, ways: 15 },
  { name: '2 sets of 32 ways (the widest vector compare)', sets: 2, ways: 32 },
  { name: 'one set of 4 ways (one vector)', sets: 1, ways: 4 },
  { name: '6 sets of 24 ways (modulo index, six vectors)', sets: 6, ways: 24 },
  { name: '8 sets of 33 ways (past the vector compare: the scan)', sets: 8, ways: 33 },
  { name: '4 sets of 255 ways (the most modelled)', sets: 4, ways: 255 },
];

/**
 * A line: mostly one of about twice `ways` lines of a few sets (hits at every rank, misses, dirty
 * victims, also in the largest caches), some of any set, some past 2^32 and 2^40, some with the
 * largest tag and some just beyond it (where `access` refuses).
 */
function lineOf(rng: Rng, g: Geometry): number {
  const r = rng.nextInt(40);
  const set = r < 30 ? rng.nextInt(Math.min(g.sets, 4)) : rng.nextInt(g.sets);
  const tag = rng.nextInt(2 * g.ways + 1);
  if (r < 34) return tag * g.sets + set;
  if (r < 36) return 2 ** 32 - 5 + tag;
  if (r < 37) return 2 ** 40 + tag;
  if (r < 39) return (TAG_LIMIT - 1 - rng.nextInt(2)) * g.sets + set;
  return (TAG_LIMIT + rng.nextInt(3)) * g.sets + set;
}

/**
 * `steps` random operations on `ts` (TypeScript only) and `mixed` (through WebAssembly with
 * probability `wasmShare`, the rest through TypeScript), comparing results and regions after each.
 */
function runDifferential(g: Geometry, seed: number, steps: number, wasmShare: number): void {
  const x = wasm!;
  const rng = new Rng(seed);
  const bytes = g.sets * g.ways * 64;
  const ts = new DataCache('ts', bytes, g.ways, 7);
  const mixed = new DataCache('mixed', bytes, g.ways, 7);
  const log: string[] = [];
  let refused = 0;
  let dirtyVictims = 0;
  for (let step = 0; step < steps; step++) {
    const line = lineOf(rng, g);
    const useWasm = rng.nextFloat() < wasmShare;
    let expected: string;
    let got: string;
    if (rng.nextInt(5) > 0) {
      const write = rng.nextInt(3) === 0;
      log.push(`${useWasm ? 'wasm' : 'ts'} access ${line}${write ? ' write' : ''}`);
      expected = tryAccess(ts, line, write);
      if (expected === 'refused') refused++;
      if (useWasm) {
        const r = x.dataAccess(mixed.base, line, write ? 1 : 0);
        got = r < 0 ? 'refused' : r === 1 ? 'hit' : 'miss';
      } else got = tryAccess(mixed, line, write);
      if (ts.evictedDirtyLine >= 0) dirtyVictims++;
      if (mixed.evictedDirtyLine !== ts.evictedDirtyLine) assert.fail(`${context()}: evictedDirtyLine ${mixed.evictedDirtyLine}, TypeScript ${ts.evictedDirtyLine}`);
    } else {
      log.push(`${useWasm ? 'wasm' : 'ts'} absorbWriteBack ${line}`);
      expected = String(ts.absorbWriteBack(line));
      got = useWasm ? String(x.dataAbsorbWriteBack(mixed.base, line) !== 0) : String(mixed.absorbWriteBack(line));
    }
    function context(): string {
      return `${g.name}, seed ${seed}, step ${step}: ${log.slice(-6).join('; ')}`;
    }
    if (got !== expected) assert.fail(`${context()}: ${got}, TypeScript ${expected}`);
    const difference = regionDifference(ts, mixed);
    if (difference !== null) assert.fail(`${context()}: ${difference}`);
  }
  assert.ok(refused > 0, `${g.name}: some lines beyond the tag limit were refused`);
  assert.ok(dirtyVictims > 0, `${g.name}: dirty victims were evicted`);
}

/** `access` as a result word; 'refused' where it throws for a tag past 30 bits. */
function tryAccess(c: DataCache, line: number, write: boolean): string {
  try {
    return c.access(line, write) ? 'hit' : 'miss';
  } catch (e) {
    if (e instanceof Error && /beyond the modelled host memory/.test(e.message)) return 'refused';
    throw e;
  }
}

describe('dataAccess / dataAbsorbWriteBack against DataCache.access / absorbWriteBack', { skip }, () => {
  for (const g of GEOMETRIES) {
    it(`${g.name}: every operation in WebAssembly`, () => {
      for (let seed = 1; seed <= 3; seed++) runDifferential(g, seed, 3000, 1);
    });
    it(`${g.name}: TypeScript and WebAssembly on the same cache, interleaved`, () => {
      for (let seed = 11; seed <= 13; seed++) runDifferential(g, seed, 3000, 0.5);
    });
  }
});
