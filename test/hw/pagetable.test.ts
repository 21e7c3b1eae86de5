import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { PageSize } from '../../src/base/units.ts';
import { RangeFrameSource } from '../../src/hw/frames.ts';
import { PageTable, Translation } from '../../src/hw/pagetable.ts';

const BASE = 0x4000_0000_0000;
const MiB2 = 2 * 1024 * 1024;
const GiB = 1024 * 1024 * 1024;

function table() {
  return new PageTable(new RangeFrameSource(1 << 20, 1 << 16));
}

test('map: leaves of every size translate, one table page per level on the way, and a remap replaces the leaf', () => {
  const pt = table();
  pt.map(BASE + 5 * 4096, 77, PageSize.Size4K, true);
  pt.map(BASE + 3 * MiB2, 512 * 9, PageSize.Size2M, false);
  pt.map(BASE + 2 * GiB, 512 * 512 * 3, PageSize.Size1G, true);
  // Root, one level-3 table for all three, one level-2 table for the two smaller pages, one level-1 table.
  assert.equal(pt.liveTables, 4);
  assert.deepEqual(pt.leaves, [1, 1, 1]);
  assert.equal(pt.translate(BASE + 5 * 4096 + 123), 77 * 4096 + 123);
  assert.equal(pt.translate(BASE + 3 * MiB2 + 70_000), 512 * 9 * 4096 + 70_000);
  assert.equal(pt.translate(BASE + 2 * GiB + 5 * MiB2 + 1), 512 * 512 * 3 * 4096 + 5 * MiB2 + 1);
  assert.equal(pt.translate(BASE + 6 * 4096), -1);
  const tr = new Translation();
  assert.ok(pt.lookup(BASE + 3 * MiB2, tr));
  assert.deepEqual([tr.size, tr.writable], [PageSize.Size2M, false]);
  pt.map(BASE + 5 * 4096, 78, PageSize.Size4K, false);
  assert.deepEqual(pt.leaves, [1, 1, 1], 'a remap of the same size is no new leaf');
  assert.equal(pt.translate(BASE + 5 * 4096), 78 * 4096);
  assert.ok(pt.lookup(BASE + 5 * 4096, tr) && !tr.writable);
});

test('map refuses misaligned addresses and frames, frames past 32-bit entries, and pages of another size in the way', () => {
  const pt = table();
  assert.throws(() => pt.map(BASE + 4096, 0, PageSize.Size2M, true), /address 0x400000001000 is not aligned/);
  assert.throws(() => pt.map(BASE, 3, PageSize.Size2M, true), /frame 3 is not aligned/);
  assert.throws(() => pt.map(BASE, 2 ** 28, PageSize.Size4K, true), /beyond the 268435456 frames/);
  assert.throws(() => pt.map(BASE, 2 ** 28 - 512, PageSize.Size1G, true), /not aligned/);
  pt.map(BASE, 512, PageSize.Size2M, true);
  assert.throws(() => pt.map(BASE + 4096, 1, PageSize.Size4K, true), /a larger page already maps 0x400000001000/);
  pt.map(BASE + MiB2 + 4096, 1, PageSize.Size4K, true);
  assert.throws(() => pt.map(BASE + MiB2, 1024, PageSize.Size2M, true), /smaller pages already map part of 0x400000200000/);
  assert.throws(() => pt.map(BASE, 0, PageSize.Size1G, true), /smaller pages already map part of/);
  assert.deepEqual(pt.leaves, [1, 1, 0], 'a refused map changes nothing');
});

test('map and unmap of random pages agree with a plain map of page to frame, and release every table', () => {
  const pt = table();
  const rng = new Rng(11);
  const want = new Map<number, number>();
  for (let i = 0; i < 20_000; i++) {
    const page = Math.floor(rng.nextFloat() * 4096) * 4096 + (rng.nextFloat() < 0.5 ? 0 : 512 * GiB);
    if (rng.nextFloat() < 0.3) {
      assert.equal(pt.unmap(BASE + page), want.delete(page));
    } else {
      const frame = Math.floor(rng.nextFloat() * 100_000);
      pt.map(BASE + page, frame, PageSize.Size4K, true);
      want.set(page, frame);
    }
  }
  for (const [page, frame] of want) assert.equal(pt.translate(BASE + page + 7), frame * 4096 + 7);
  assert.equal(pt.leaves[PageSize.Size4K], want.size);
  for (const page of want.keys()) pt.unmap(BASE + page);
  assert.equal(pt.liveTables, 1, 'only the root is left');
});
