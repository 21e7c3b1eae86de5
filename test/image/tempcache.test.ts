/** Pruning of the temporary-directory caches: what was not used for the given days goes, nothing else. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { cacheUnusedDays, markUsed, pruneUnused } from '../../src/base/tempcache.ts';
import { tempDir } from '../fixtures/cli.ts';

const { dir, cleanup } = tempDir('unimem-tempcache-test-');
after(cleanup);

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 5);

function entry(name: string, daysAgo: number, folder = true): string {
  const p = path.join(dir, name);
  if (folder) {
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'manifest.json'), '{}');
  } else fs.writeFileSync(p, 'x');
  const t = new Date(NOW - daysAgo * DAY);
  fs.utimesSync(p, t, t);
  return p;
}

describe('temporary-directory caches', () => {
  it('removes entries of the kind unused for longer than the limit, keeping recent ones, the one in use and other kinds', () => {
    const old = entry('unimem-demo-00000000000000aa', 20);
    const recent = entry('unimem-demo-00000000000000bb', 3);
    const inUse = entry('unimem-demo-00000000000000cc', 30);
    const otherKind = entry('unimem-faas-00000000000000dd', 30);
    const userFolder = entry('unimem-demo-mine', 30);
    const removed = pruneUnused(dir, /^unimem-demo-[0-9a-f]{16}$/, inUse, 14, NOW);
    assert.deepEqual(removed, [old]);
    for (const p of [recent, inUse, otherKind, userFolder]) assert.ok(fs.existsSync(p), p);
    assert.equal(fs.existsSync(old), false);
  });

  it('a use resets the clock', () => {
    const used = entry('unimem-objs-dce-00000000000000ee', 40);
    markUsed(used);
    assert.deepEqual(pruneUnused(dir, /^unimem-objs-[a-z]+-[0-9a-f]{16}$/, undefined, 14, Date.now()), []);
    assert.deepEqual(pruneUnused(dir, /^unimem-objs-[a-z]+-[0-9a-f]{16}$/, undefined, 14, Date.now() + 15 * DAY), [used]);
  });

  it('prunes files too, and a missing folder or a vanished entry is no error', () => {
    const obj = entry(`${'1'.repeat(32)}.o`, 15, false);
    assert.deepEqual(pruneUnused(dir, /^[0-9a-f]{32}\.o$/, undefined, 14, NOW), [obj]);
    assert.deepEqual(pruneUnused(path.join(dir, 'no-such-folder'), /./, undefined, 14, NOW), []);
    markUsed(path.join(dir, 'gone'));
  });

  it('takes the limit from UNIMEM_CACHE_DAYS when it is a positive number', () => {
    const saved = process.env.UNIMEM_CACHE_DAYS;
    try {
      process.env.UNIMEM_CACHE_DAYS = '3';
      assert.equal(cacheUnusedDays(), 3);
      for (const bad of ['0', '-2', 'soon', '']) {
        process.env.UNIMEM_CACHE_DAYS = bad;
        assert.equal(cacheUnusedDays(), 14, bad);
      }
    } finally {
      if (saved === undefined) delete process.env.UNIMEM_CACHE_DAYS;
      else process.env.UNIMEM_CACHE_DAYS = saved;
    }
  });
});
