/**
 * The translation path in WebAssembly (src/hw/wasm-translate.ts) against the TypeScript path:
 * `cacheLookup` / `cacheInsert` against `TranslationCache.lookup` / `insert` on random operation
 * sequences, for every geometry and mode the presets use and the odd ones the classes allow,
 * comparing return values and every byte of the caches' arena regions after every step.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { arena } from '../../src/hw/arena.ts';
import { TAG_SPAN, TranslationCache } from '../../src/hw/tlb.ts';
import { translator } from '../../src/hw/wasm-translate.ts';

const wasm = translator();
const skip = wasm === null ? 'no WebAssembly translation path here (AssemblyScript, a dev dependency, is missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

/** Bytes per element of the region's arrays, in the order of their offsets (see tlb.ts). */
const ARRAY_BYTES = [8, 8, 1, 4, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4];
const ARRAY_NAMES = ['key', 'value', 'flags', 'sizeCount', 'front', 'fp', 'bucketHead', 'chainNext', 'bucketOf', 'prev', 'next', 'head', 'tail', 'fill'];
const HEADER_NAMES = ['valid', 'tagBase', 'missedKey', 'missedBucket', 'sets', 'ways', 'setMask', 'indexed', 'hashBits', 'fpShift'];

/** Lengths of a region's arrays, from its header (the layout the WebAssembly side reads). */
function arrayLengths(base: number): number[] {
  const h = (j: number) => arena.f64[base / 8 + j];
  const sets = h(4);
  const n = sets * h(5);
  const ix = h(7);
  const fp = h(9) >= 0 ? n : 0;
  return [n, n, n, 4, ix ? 0 : sets, fp, ix ? 2 ** h(8) : 0, ix * n, ix * n, ix * n, ix * n, ix * sets, ix * sets, ix * sets];
}

/** The first difference between the regions of two caches, or null. */
function regionDifference(a: TranslationCache, b: TranslationCache): string | null {
  for (let j = 0; j < HEADER_NAMES.length; j++) {
    const x = arena.f64[a.base / 8 + j];
    const y = arena.f64[b.base / 8 + j];
    if (!Object.is(x, y)) return `header ${HEADER_NAMES[j]}: ${x} against ${y}`;
  }
  const lengths = arrayLengths(a.base);
  for (let j = 0; j < ARRAY_BYTES.length; j++) {
    const pa = arena.i32[(a.base + 80) / 4 + j] >>> 0;
    const pb = arena.i32[(b.base + 80) / 4 + j] >>> 0;
    const bytes = lengths[j] * ARRAY_BYTES[j];
    if ((pa === 0) !== (bytes === 0) || (pb === 0) !== (bytes === 0)) return `array ${ARRAY_NAMES[j]}: offsets ${pa} and ${pb} for ${bytes} bytes`;
    for (let i = 0; i < bytes; i++) {
      if (arena.u8[pa + i] !== arena.u8[pb + i]) return `array ${ARRAY_NAMES[j]}, byte ${i}: ${arena.u8[pa + i]} against ${arena.u8[pb + i]}`;
    }
  }
  return null;
}

interface Geometry {
  entries: number;
  ways: number;
  mode?: 'scan' | 'indexed';
}

const GEOMETRIES: Geometry[] = [
  { entries: 16, ways: 4 }, // ntlb-like, 4 sets
  { entries: 64, ways: 4 },
  { entries: 8, ways: 8 },
  { entries: 32, ways: 8 },
  { entries: 36, ways: 12 }, // 3 sets: index by modulo
  { entries: 48, ways: 12 },
  { entries: 32, ways: 16 }, // fingerprinted
  { entries: 48, ways: 16 }, // fingerprinted, 3 sets
  { entries: 72, ways: 24 }, // fingerprinted, 3 sets of 24
  { entries: 64, ways: 64 }, // indexed (fully associative L1)
  { entries: 72, ways: 72 },
  { entries: 16, ways: 4, mode: 'indexed' },
  { entries: 36, ways: 12, mode: 'indexed' },
  { entries: 64, ways: 64, mode: 'scan' }, // fingerprinted scan of 64 ways
  { entries: 18, ways: 18, mode: 'scan' }, // wide, not a multiple of four: no fingerprints
  { entries: 0, ways: 4 },
];

const TAGS = [0, TAG_SPAN, 5 * TAG_SPAN];

/** A page number: mostly from a small pool (hits, evictions), some above 2^31 and near 2^36 (keys past 32 bits). */
function pageNumber(rng: Rng, pool: number): number {
  const p = rng.nextInt(pool);
  const r = rng.nextInt(8);
  return r < 5 ? p : r < 7 ? 2 ** 31 - 3 + p : 2 ** 36 - pool + p;
}

/**
 * Apply `steps` random operations to `ts` (TypeScript only) and `mixed` (lookups and inserts
 * through WebAssembly with probability `wasmShare`, the rest through TypeScript), comparing the
 * results and the regions after each step.
 */
function runDifferential(g: Geometry, seed: number, steps: number, wasmShare: number): void {
  const x = wasm!;
  const rng = new Rng(seed);
  const ts = new TranslationCache('ts', g.entries, g.ways, g.mode);
  const mixed = new TranslationCache('mixed', g.entries, g.ways, g.mode);
  const pool = Math.max(4, g.entries * 2);
  const lookup = (p: number, s: number) => {
    const expected = ts.lookup(p, s);
    const got = rng.nextFloat() < wasmShare ? x.cacheLookup(mixed.base, p, s) : mixed.lookup(p, s);
    return { expected, got };
  };
  const insert = (p: number, s: number, v: number, f: number) => {
    const expected = ts.insert(p, s, v, f);
    const got = rng.nextFloat() < wasmShare ? x.cacheInsert(mixed.base, p, s, v, f) : mixed.insert(p, s, v, f);
    return { expected, got };
  };
  const log: string[] = [];
  for (let step = 0; step < steps; step++) {
    const op = rng.nextInt(100);
    const p = pageNumber(rng, pool);
    const s = rng.nextInt(3);
    let r: { expected: number | boolean; got: number | boolean };
    if (op < 40) {
      r = lookup(p, s);
      log.push(`lookup ${p} ${s}`);
      // The fill after a miss, the common pair on the walker's path.
      if (r.expected === -1 && r.got === -1 && rng.nextInt(3) > 0) {
        const v = rng.nextInt(2 ** 28);
        r = insert(p, s, v, rng.nextInt(4));
        log.push(`insert ${p} ${s} after the miss`);
      }
    } else if (op < 80) {
      r = insert(p, s, rng.nextInt(2 ** 28), rng.nextInt(4));
      log.push(`insert ${p} ${s}`);
    } else if (op < 92) {
      r = { expected: ts.invalidate(p, s), got: mixed.invalidate(p, s) };
      log.push(`invalidate ${p} ${s}`);
    } else if (op < 96) {
      const tag = TAGS[rng.nextInt(TAGS.length)];
      ts.tagBase = mixed.tagBase = tag;
      r = { expected: 0, got: 0 };
      log.push(`tagBase ${tag}`);
    } else if (op < 99) {
      const tag = TAGS[rng.nextInt(TAGS.length)];
      r = { expected: ts.flushTag(tag), got: mixed.flushTag(tag) };
      log.push(`flushTag ${tag}`);
    } else {
      r = { expected: ts.flush(), got: mixed.flush() };
      log.push('flush');
    }
    const context = () => `${g.entries}/${g.ways}${g.mode ? ` ${g.mode}` : ''}, seed ${seed}, step ${step}: ${log.slice(-6).join('; ')}`;
    if (r.expected !== r.got) assert.fail(`${context()}: returned ${String(r.got)}, TypeScript ${String(r.expected)}`);
    const difference = regionDifference(ts, mixed);
    if (difference !== null) assert.fail(`${context()}: ${difference}`);
  }
  assert.equal(mixed.indexProblem(), null);
}

describe('cacheLookup / cacheInsert against TranslationCache.lookup / insert', { skip }, () => {
  for (const g of GEOMETRIES) {
    const name = `${g.entries} entries, ${g.ways} ways${g.mode ? `, ${g.mode} mode forced` : ''}`;
    it(`${name}: every lookup and insert in WebAssembly`, () => {
      for (let seed = 1; seed <= 3; seed++) runDifferential(g, seed, 1500, 1);
    });
    it(`${name}: TypeScript and WebAssembly on the same cache, interleaved`, () => {
      for (let seed = 11; seed <= 13; seed++) runDifferential(g, seed, 1500, 0.5);
    });
  }
});
