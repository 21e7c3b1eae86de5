import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestKernel } from '../../src/guest/kernel.ts';
import { createGuest } from '../../src/guest/registry.ts';
import { LINEAR_BASE, MemArea, linearAddress } from '../../src/guest/layout.ts';
import { PageSize } from '../../src/base/units.ts';
import { Translation } from '../../src/hw/pagetable.ts';
import { AllocHint } from '../../src/guest/allocator.ts';
import { UserError } from '../../src/base/errors.ts';
import type { TlbInvalidator } from '../../src/hw/faults.ts';

const MiB = 1024 * 1024;

function kernel(map: { gpaStart: number; bytes: number; type: 'dram' | 'nvm' | 'untyped' }[], tiered = true, large = true): GuestKernel {
  return new GuestKernel(map, { tiered, largePages: large, linearMapLargePages: large });
}

class CountingTlb implements TlbInvalidator {
  pages: number[] = [];
  vmFlushes = 0;
  invalidatePage(gva: number): void {
    this.pages.push(gva);
  }
  flushVm(): void {
    this.vmFlushes++;
  }
  flushAll(): void {}
}

test('the linear map uses a 2 MiB leaf where the 2 MiB page is wholly RAM, 4 KiB at an unaligned edge', () => {
  const k = kernel([{ gpaStart: 0, bytes: 3 * MiB, type: 'dram' }]);
  const tr = new Translation();
  assert.equal(k.guestPageFault(LINEAR_BASE + MiB, false), 0, 'linear-map fills are free: OSv built them at boot');
  assert.ok(k.pageTable.lookup(LINEAR_BASE + MiB, tr));
  assert.equal(tr.size, PageSize.Size2M);
  k.guestPageFault(LINEAR_BASE + 2.5 * MiB, true);
  k.pageTable.lookup(LINEAR_BASE + 2.5 * MiB, tr);
  assert.equal(tr.size, PageSize.Size4K);
  assert.equal(k.pageTable.translate(LINEAR_BASE + 2.5 * MiB + 123), 2.5 * MiB + 123);
  const g = linearAddress(MemArea.Mempool, 1234567);
  k.guestPageFault(g, false);
  assert.equal(k.pageTable.translate(g), 1234567, 'every linear area maps gva = base + gpa');
});

test('linearMapLargePages off maps the linear map with 4 KiB leaves', () => {
  const k = kernel([{ gpaStart: 0, bytes: 4 * MiB, type: 'dram' }], false, false);
  k.guestPageFault(LINEAR_BASE + MiB, false);
  assert.equal(k.mappingStats().linearLeaves4K, 1);
  assert.equal(k.mappingStats().linearLeaves2M, 0);
});

test('a fault outside every mapping is an error, not a silent mapping', () => {
  const k = kernel([{ gpaStart: 0, bytes: 4 * MiB, type: 'dram' }]);
  assert.throws(() => k.guestPageFault(0x1000, false), /outside every mapping/);
  assert.throws(() => k.guestPageFault(LINEAR_BASE + 8 * MiB, false), /not RAM/);
});

test('UCat keeps guest page-table pages in DRAM even when NVM comes first in the map', () => {
  const g = createGuest(
    [
      { gpaStart: 0, bytes: 32 * MiB, type: 'nvm' },
      { gpaStart: 32 * MiB, bytes: 32 * MiB, type: 'dram' },
    ],
    'ucat',
  );
  const a = g.malloc.malloc(4 * MiB, AllocHint.Bulk);
  for (let x = a; x < a + 4 * MiB; x += 4096) if (g.kernel.pageTable.translate(x) < 0) g.kernel.guestPageFault(x, true);
  const s = g.kernel.mappingStats();
  assert.ok(s.pageTablePages >= 3);
  assert.equal(s.memory.nvm.pageTableBytes, 0);
  assert.equal(s.memory.dram.pageTableBytes, s.pageTableBytes);
  for (const f of g.kernel.pageTable.tableFrames()) assert.ok(f * 4096 >= 32 * MiB);
});

test('anonymous faults cost a trap plus zero-filling the page at its tier speed', () => {
  const g = createGuest(
    [
      { gpaStart: 0, bytes: 16 * MiB, type: 'dram' },
      { gpaStart: 16 * MiB, bytes: 16 * MiB, type: 'nvm' },
    ],
    { preset: 'ucat', placement: { bulk: 'nvm' } },
  );
  const d = g.malloc.malloc(3 * MiB, AllocHint.Metadata);
  assert.equal(g.kernel.guestPageFault(d, true), 1000 + 2 * MiB / 4, '2 MiB DRAM page');
  assert.equal(g.kernel.lastPopulatedBytes, 2 * MiB);
  assert.equal(g.kernel.guestPageFault(d + 2 * MiB, true), 1000 + 4096 / 4, '4 KiB DRAM page in the tail');
  const n = g.malloc.malloc(2 * MiB, AllocHint.Bulk);
  assert.equal(g.kernel.guestPageFault(n, true), 1000 + 2 * MiB, '2 MiB NVM page at 1 B/cycle');
  assert.ok(g.kernel.lastPopulatedGpa >= 16 * MiB);
});

test('a 2 MiB populate with no free 2 MiB frame falls back to 4 KiB frames', () => {
  const g = createGuest([{ gpaStart: 0, bytes: 8 * MiB, type: 'dram' }], 'ucat');
  const m = g.malloc;
  // Fragment the page allocator: three 1.5 MiB blocks draw three chunks; freeing the middle one
  // leaves two holes too small for 1.75 MiB, which draws the last chunk. 831 frames stay free.
  m.malloc(1.5 * MiB);
  const middle = m.malloc(1.5 * MiB);
  m.malloc(1.5 * MiB);
  m.free(middle);
  m.malloc(1.75 * MiB);
  assert.equal(g.kernel.tiers[0].freeChunks(), 0);
  const a = m.malloc(2 * MiB);
  g.kernel.guestPageFault(a, true);
  const s = g.kernel.mappingStats();
  assert.equal(s.hugeFallbacks, 1);
  assert.equal(s.mmapLeaves4K, 1);
  g.kernel.guestPageFault(a + 4096, true);
  assert.equal(g.kernel.mappingStats().mmapLeaves4K, 2, 'the degraded 2 MiB slot stays on 4 KiB pages');
});

test('freeing a mapping unmaps its leaves and invalidates the TLB: per page up to 33 leaves, else one flush', () => {
  const g = createGuest([{ gpaStart: 0, bytes: 64 * MiB, type: 'dram' }], 'osv-4k');
  const tlb = new CountingTlb();
  g.kernel.attachTlb(tlb);
  const a = g.malloc.malloc(2 * MiB);
  for (let i = 0; i < 3; i++) g.kernel.guestPageFault(a + i * 4096, true);
  g.malloc.free(a);
  assert.equal(tlb.pages.length, 3);
  assert.equal(tlb.vmFlushes, 0);
  const b = g.malloc.malloc(2 * MiB);
  for (let i = 0; i < 40; i++) g.kernel.guestPageFault(b + i * 4096, true);
  g.malloc.free(b);
  assert.equal(tlb.vmFlushes, 1);
  assert.equal(g.kernel.mappingStats().mmapLeaves4K, 0);
  assert.equal(g.kernel.pageTable.translate(b), -1);
});

test('memory maps are checked at the edge', () => {
  assert.throws(() => createGuest([], 'osv'), UserError);
  assert.throws(() => createGuest([{ gpaStart: 100, bytes: 4096, type: 'dram' }], 'osv'), /multiple of 4 KiB/);
  assert.throws(
    () =>
      createGuest(
        [
          { gpaStart: 0, bytes: 4 * MiB, type: 'dram' },
          { gpaStart: 2 * MiB, bytes: 4 * MiB, type: 'nvm' },
        ],
        'osv',
      ),
    /overlap/,
  );
  assert.throws(() => createGuest([{ gpaStart: 0, bytes: 4 * MiB, type: 'dram' }], 'nope'), /unknown/);
});
