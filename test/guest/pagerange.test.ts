import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PageRangeAllocator, ceilLog2 } from '../../src/guest/pagerange.ts';
import { RegionTable } from '../../src/guest/memmap.ts';
import { TierPages } from '../../src/guest/tier.ts';

const MiB = 1024 * 1024;

function allocator(frames: number): PageRangeAllocator {
  const a = new PageRangeAllocator(new RegionTable([{ gpaStart: 0, bytes: frames * 4096, type: 'untyped' }]));
  a.addFree(0, frames);
  return a;
}

test('ceilLog2 gives the order list of a request', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 512, 513].map(ceilLog2), [0, 1, 2, 2, 3, 9, 10]);
});

test('allocation takes the front of a range and freeing coalesces it back into one range', () => {
  const a = allocator(1024);
  assert.equal(a.alloc(3), 0);
  assert.equal(a.alloc(1), 3);
  assert.equal(a.freeFrames, 1020);
  a.free(0, 3);
  assert.equal(a.rangeCount(), 2);
  a.free(3, 1);
  assert.equal(a.rangeCount(), 1);
  assert.equal(a.freeFrames, 1024);
  a.checkInvariants();
});

test('aligned allocation honours alignment and offset and keeps both remainders free', () => {
  const a = allocator(2048);
  a.alloc(1);
  assert.equal(a.allocAligned(512, 512), 512);
  // (first + 1) % 8 === 0
  assert.equal((a.allocAligned(4, 8, 1) + 1) % 8, 0);
  a.checkInvariants();
});

test('ranges never coalesce across memory-map regions', () => {
  const regions = new RegionTable([
    { gpaStart: 0, bytes: 2 * MiB, type: 'dram' },
    { gpaStart: 2 * MiB, bytes: 2 * MiB, type: 'nvm' },
  ]);
  const a = new PageRangeAllocator(regions);
  a.addFree(0, 512);
  a.addFree(512, 512);
  assert.equal(a.rangeCount(), 2);
  assert.equal(a.alloc(600), -1, 'no range of 600 frames exists within one region');
});

test('chunk mode returns a 2 MiB chunk to the large-page allocator once it is wholly free', () => {
  const t = new TierPages('dram', new RegionTable([{ gpaStart: 0, bytes: 8 * MiB, type: 'dram' }]), [0], true);
  assert.equal(t.freeChunks(), 4);
  const g = t.allocPages(1);
  assert.equal(t.freeChunks(), 3, 'the page allocator drew one chunk');
  const h = t.allocPages(10);
  t.freePages(g, 1);
  assert.equal(t.freeChunks(), 3);
  t.freePages(h, 10);
  assert.equal(t.freeChunks(), 4, 'the chunk went back');
  assert.equal(t.freeFrames, 2048);
  t.ranges.checkInvariants();
});

test('random allocate/free sequences return every frame (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ n: fc.integer({ min: 1, max: 700 }), aligned: fc.boolean(), freeAt: fc.nat(40) }), { maxLength: 60 }),
      fc.boolean(),
      (ops, chunked) => {
        const regions = new RegionTable([
          { gpaStart: 4096 * 3, bytes: 6 * MiB, type: 'dram' },
          { gpaStart: 16 * MiB, bytes: 4 * MiB, type: 'nvm' },
        ]);
        const t = new TierPages('t', regions, [0, 1], chunked);
        const total = t.freeFrames;
        const live: [number, number][] = [];
        const owned = new Set<number>();
        for (const op of ops) {
          const g = op.aligned ? t.allocAligned(Math.min(op.n, 512), 512, 0) : t.allocPages(op.n);
          if (g >= 0) {
            const n = op.aligned ? Math.min(op.n, 512) : op.n;
            for (let f = g; f < g + n; f++) {
              assert.ok(!owned.has(f), `frame ${f} handed out twice`);
              owned.add(f);
            }
            live.push([g, n]);
          }
          if (live.length > 0 && op.freeAt % 3 === 0) {
            const [f, n] = live.splice(op.freeAt % live.length, 1)[0];
            for (let x = f; x < f + n; x++) owned.delete(x);
            t.freePages(f, n);
          }
          t.ranges.checkInvariants();
          assert.equal(t.freeFrames + owned.size, total);
        }
        for (const [f, n] of live) t.freePages(f, n);
        t.ranges.checkInvariants();
        assert.equal(t.freeFrames, total);
      },
    ),
    { numRuns: 150 },
  );
});
