import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena, ARENA_RESERVED, arena } from '../../src/hw/arena.ts';
import { PageSize } from '../../src/base/units.ts';
import { PageTable } from '../../src/hw/pagetable.ts';
import { TranslationCache } from '../../src/hw/tlb.ts';

test('arena: regions are 64-byte aligned, above the reserved bytes, disjoint, zero-filled on reuse', () => {
  const a = new Arena(2); // one 64 KiB page above the reserved one
  const x = a.alloc(1);
  const y = a.alloc(100);
  assert.equal(x, ARENA_RESERVED);
  assert.equal(y, ARENA_RESERVED + 64);
  assert.equal(a.liveBytes, 64 + 128);
  a.u8.fill(7, y, y + 128);
  a.free(y, 100);
  assert.equal(a.liveBytes, 64);
  const z = a.alloc(128);
  assert.equal(z, y, 'a freed region of the same rounded size is reused');
  assert.ok(a.u8.subarray(z, z + 128).every((b) => b === 0), 'a reused region comes back zero-filled');
  assert.throws(() => a.alloc(65536), /arena: 65536 bytes do not fit/);
  assert.equal(a.liveBytes, 64 + 128, 'a failed allocation takes nothing');
});

test('arena: a page table that grows keeps its entries and gives back the regions it outgrew', () => {
  const frames = { next: 1000, allocTableFrame() { return this.next++; }, freeTableFrame() {} };
  const pt = new PageTable(frames, 1);
  const before = arena.liveBytes;
  for (let i = 0; i < 64; i++) pt.map(i * 2 ** 30, 4096 + i * 512, PageSize.Size2M, true);
  const grownBy = arena.liveBytes - before;
  // 65 tables need capacity 128: entries 128*512*4 + frames 128*8 bytes, the capacity-1 regions freed.
  assert.equal(grownBy, 128 * 512 * 4 + 128 * 8 - (512 * 4 + 64));
  for (let i = 0; i < 64; i++) assert.equal(pt.translate(i * 2 ** 30 + 5), (4096 + i * 512) * 4096 + 5);
  const h = pt.base / 4;
  assert.equal(arena.i32[h + 2], pt.entry.byteOffset, 'the header names the current entry region');
  assert.equal(arena.i32[h + 4], 128);
});

test('arena: a translation cache keeps its shared scalars in its header', () => {
  const c = new TranslationCache('t', 64, 4);
  c.tagBase = 3 * 2 ** 40;
  c.insert(5, 0, 9, 1);
  assert.equal(arena.f64[c.base / 8], 1, 'valid');
  assert.equal(arena.f64[c.base / 8 + 1], 3 * 2 ** 40, 'tagBase');
  assert.equal(c.key.byteOffset, arena.i32[(c.base + 80) / 4], 'the key array is where the header says');
});
