/**
 * The huge-page advice (src/base/hugepages.ts, native/hugepages/hugepages.c): where gcc and Node's
 * headers are present the addon builds, a memory it advises is backed by 2 MiB pages as it is
 * touched (the process's AnonHugePages grows by most of what was touched), UNIMEM_HUGEPAGES=0
 * turns it off, and the model's arena asks for it. The THP mode `never` makes advice useless; those
 * tests are skipped then, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { adviseHugePages, buildHugePageAddon, thpMode } from '../../src/base/hugepages.ts';
import { wasmApi } from '../../src/base/wasm-api.ts';
import { Arena, ARENA_PAGES } from '../../src/hw/arena.ts';

const THP_MODE = thpMode();
const HAS_GCC = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const noAdvice = THP_MODE === 'never' || THP_MODE === 'absent' ? `transparent huge pages are ${THP_MODE === 'absent' ? 'not in this kernel' : 'off (never)'}` : false;
const skip = noAdvice || (HAS_GCC ? false : 'gcc is not installed: the addon cannot be built');

/** The process's anonymous memory in huge pages, in bytes. */
function anonHugeBytes(): number {
  const m = /AnonHugePages:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
  assert.ok(m, 'smaps_rollup has AnonHugePages');
  return Number(m[1]) * 1024;
}

const TOUCHED = 32 << 20;

/** A fresh memory of the arena's size, with `advise` applied before its first `TOUCHED` bytes are written. */
function touchedMemory(advise: (buffer: ArrayBuffer) => unknown): number {
  const memory = new wasmApi.Memory({ initial: ARENA_PAGES, maximum: ARENA_PAGES });
  advise(memory.buffer);
  const before = anonHugeBytes();
  new Uint8Array(memory.buffer).fill(1, 0, TOUCHED);
  return anonHugeBytes() - before;
}

test('the addon builds where gcc and Node\'s headers are', { skip }, () => {
  assert.equal(buildHugePageAddon(), undefined);
});

test('an advised memory is backed by 2 MiB pages as it is touched', { skip }, () => {
  assert.equal(buildHugePageAddon(), undefined);
  let advice = '';
  const huge = touchedMemory((buffer) => (advice = adviseHugePages(buffer)));
  assert.equal(advice, 'advised');
  // Only the 2 MiB-aligned parts can be huge: at most one page short at each end.
  assert.ok(huge >= TOUCHED - (4 << 20), `${huge} bytes of ${TOUCHED} in huge pages`);
});

test('UNIMEM_HUGEPAGES=0 leaves the memory on 4 KiB pages', { skip: skip || (THP_MODE === 'always' ? 'THP mode always backs every memory with huge pages' : false) }, () => {
  const saved = process.env.UNIMEM_HUGEPAGES;
  process.env.UNIMEM_HUGEPAGES = '0';
  try {
    let advice = '';
    const huge = touchedMemory((buffer) => (advice = adviseHugePages(buffer)));
    assert.equal(advice, 'off');
    assert.ok(huge < 4 << 20, `${huge} bytes in huge pages`);
  } finally {
    if (saved === undefined) delete process.env.UNIMEM_HUGEPAGES;
    else process.env.UNIMEM_HUGEPAGES = saved;
  }
});

test('the model\'s arena asks for huge pages', { skip }, () => {
  assert.equal(buildHugePageAddon(), undefined);
  assert.equal(new Arena().hugePages, 'advised');
});

test('the addon refuses what is not an ArrayBuffer', { skip }, () => {
  assert.equal(buildHugePageAddon(), undefined);
  assert.throws(() => adviseHugePages(new Uint8Array(8) as unknown as ArrayBuffer), TypeError);
});
