/**
 * The parsers of bench/icount.ts on a hand-written callgrind profile and perf map: which
 * instructions count where, and that a call's inclusive cost is not counted again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePerfMap, partOf, profileTotal, splitByPart } from '../../bench/icount.ts';

const MAP = ['1000 100 JS:wasm-function[3]-3-turbofan', '1200 80 JS:*load file:///x/vcpu.ts:1:9', '1400 40 Builtin:LoadIC', 'not a line', ''].join('\n');

// Costs: module 5 + 7, JavaScript 11, builtin 13, an address in no range (the node binary) 17;
// the call line's 999 is the callee's inclusive cost and must not count.
const PROFILE = [
  'version: 1',
  'events: Ir',
  'ob=???',
  'fn=0x1000',
  '0x1000 0 5',
  '0x10ff 0 7',
  'cfn=0x1200',
  'calls=1 0x1200 0',
  '0x10ff 0 999',
  'fn=0x1200',
  '0x1240 0 11',
  'fn=0x1400',
  '0x1427 0 13',
  'ob=/usr/bin/node',
  'fn=main',
  '0x1100 0 17',
  'totals: 53',
].join('\n');

test('perf map: ranges sorted by start, lines that are not entries skipped', () => {
  const r = parsePerfMap(MAP);
  assert.deepEqual(
    r.map((x) => [x.start, x.end]),
    [
      [0x1000, 0x1100],
      [0x1200, 0x1280],
      [0x1400, 0x1440],
    ],
  );
});

test('parts: module, JavaScript and the rest by V8 name', () => {
  assert.equal(partOf('JS:wasm-function[16]-16-turbofan'), 'module');
  assert.equal(partOf('JS:*accessGeneral file:///a.ts:1:2'), 'javascript');
  assert.equal(partOf('JS:^ file:///a.ts:1:1'), 'javascript');
  assert.equal(partOf('Builtin:LoadIC'), 'other');
});

test('split: self costs by range, a call line not counted, an address past a range is the rest', () => {
  const parts = splitByPart(PROFILE, parsePerfMap(MAP));
  assert.deepEqual(parts, { module: 12, javascript: 11, other: 30 });
  assert.equal(parts.module + parts.javascript + parts.other, profileTotal(PROFILE));
});

test('a profile without totals is refused', () => {
  assert.throws(() => profileTotal('events: Ir\n0x1 0 1\n'), /without a totals line/);
});
