import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllocHint, OutOfMemoryError } from '../../src/guest/allocator.ts';
import { UserError } from '../../src/base/errors.ts';
import { createGuest, type Guest } from '../../src/guest/registry.ts';
import type { MemoryMap } from '../../src/guest/memmap.ts';
import { areaOf, linearGpa } from '../../src/guest/layout.ts';
import { ucatClasses, ucatSlabPages } from '../../src/guest/classes.ts';

const KiB = 1024;
const MiB = 1024 * 1024;
const DRAM_NVM: MemoryMap = [
  { gpaStart: 0, bytes: 64 * MiB, type: 'dram' },
  { gpaStart: 64 * MiB, bytes: 64 * MiB, type: 'nvm' },
];

function totals(g: Guest) {
  const t = g.malloc.stats().total;
  return { requested: t.requestedBytes, reserved: t.reservedBytes, held: t.heldBytes };
}

/** Touch every page of [addr, addr+bytes) so the guest maps it. */
function touch(g: Guest, addr: number, bytes: number): void {
  for (let a = Math.floor(addr / 4096) * 4096; a < addr + bytes; a += 4096) {
    if (g.kernel.pageTable.translate(a) < 0) g.kernel.guestPageFault(a, true);
  }
}

// ---- OSv baseline, hand-computed from core/mempool.cc ------------------------------------------

test('osv: malloc(24) takes a 32-byte pool slot; a pool page holds floor((4096-40)/32) = 126 objects', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.malloc(24);
  assert.deepEqual(totals(g), { requested: 24, reserved: 32, held: 4096 });
  assert.equal(g.malloc.usableSize(a), 32);
  assert.equal(a % 32, 0, 'pool objects are aligned to their size');
  for (let i = 1; i < 126; i++) g.malloc.malloc(24);
  assert.equal(totals(g).held, 4096);
  g.malloc.malloc(24);
  assert.deepEqual(totals(g), { requested: 127 * 24, reserved: 127 * 32, held: 8192 });
});

test('osv: the 1024-byte pool fits only 3 objects per page', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  for (let i = 0; i < 3; i++) g.malloc.malloc(1000);
  assert.equal(totals(g).held, 4096);
  g.malloc.malloc(1000);
  assert.deepEqual(totals(g), { requested: 4000, reserved: 4096, held: 8192 });
});

test('osv: malloc(1025) costs a whole 4 KiB page', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.malloc(1025);
  assert.deepEqual(totals(g), { requested: 1025, reserved: 4096, held: 4096 });
  assert.equal(areaOf(a), 1, 'whole-page objects live in the page area');
  assert.equal(g.malloc.stats().total.internalFragmentationBytes, 3071);
});

test('osv: malloc(4097) takes 2 pages and malloc(8192) 3 (48-byte page_range header)', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.malloc(4097);
  assert.equal(totals(g).reserved, 8192);
  assert.equal(g.malloc.usableSize(a), 8192 - 48);
  g.malloc.malloc(8192);
  assert.equal(totals(g).reserved, 8192 + 12288);
});

test('osv: malloc(3 MiB) is mmapped; touched, it maps one 2 MiB leaf and 257 4 KiB leaves', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.malloc(3 * MiB);
  const len = 3 * MiB + 4096; // page_round(3 MiB + 48)
  assert.equal(totals(g).reserved, len);
  assert.equal((a - 48) % (2 * MiB), 0, 'the mapping starts on 2 MiB, the object 48 bytes in');
  touch(g, a - 48, len);
  const k = g.kernel.mappingStats();
  assert.equal(k.mmapLeaves2M, 1);
  assert.equal(k.mmapLeaves4K, 257);
  assert.equal(totals(g).held, len);
  g.malloc.free(a);
  assert.deepEqual(totals(g), { requested: 0, reserved: 0, held: 0 });
  assert.equal(g.kernel.mappingStats().mmapLeaves4K + g.kernel.mappingStats().mmapLeaves2M, 0);
});

test('osv-4k: the same 3 MiB mapping uses 769 4 KiB leaves', () => {
  const g = createGuest(DRAM_NVM, 'osv-4k');
  const a = g.malloc.malloc(3 * MiB);
  touch(g, a - 48, 3 * MiB + 4096);
  const k = g.kernel.mappingStats();
  assert.equal(k.mmapLeaves2M, 0);
  assert.equal(k.mmapLeaves4K, 769);
});

test('osv: memalign follows std_malloc (pool of the alignment, page, aligned page range)', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.memalign(64, 20);
  assert.equal(g.malloc.usableSize(a), 64);
  assert.equal(a % 64, 0);
  const b = g.malloc.memalign(8192, 100);
  assert.equal(b % 8192, 0);
  assert.equal(g.malloc.usableSize(b), 4096, 'a whole header page, then one page of object');
  const c = g.malloc.memalign(16384, 3 * MiB);
  assert.equal(c % 16384, 0);
});

test('osv: realloc always moves (std_realloc allocates, copies, frees)', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  const a = g.malloc.malloc(20);
  const b = g.malloc.realloc(a, 24);
  assert.notEqual(a, b);
  assert.deepEqual(totals(g), { requested: 24, reserved: 32, held: 4096 });
});

test('osv ignores hints: one untyped allocator', () => {
  const g = createGuest(DRAM_NVM, 'osv');
  g.malloc.malloc(100, AllocHint.Bulk);
  g.malloc.malloc(100, AllocHint.Metadata);
  assert.deepEqual(Object.keys(g.malloc.stats().tiers), ['all']);
});

// ---- UCat ---------------------------------------------------------------------------------------

test('ucat: fine classes are 8-byte steps to 128, 16-byte steps to 256, then 8 per doubling to 16 KiB', () => {
  const c = ucatClasses();
  assert.equal(c.length, 72);
  assert.deepEqual(c.slice(0, 4), [8, 16, 24, 32]);
  assert.deepEqual(c.slice(15, 18), [128, 144, 160]);
  assert.deepEqual(c.slice(23, 26), [256, 288, 320]);
  assert.equal(c[c.length - 1], 16384);
  for (let i = 24; i < c.length; i++) assert.ok((c[i] - c[i - 1]) / c[i - 1] <= 0.125 + 1e-9);
  assert.equal(ucatSlabPages(24), 1);
  assert.equal(ucatSlabPages(3072), 3, 'four objects fill 3 pages exactly');
  assert.equal(ucatSlabPages(1152), 2, 'seven objects in 8 KiB leave 128 B = 1/64');
  assert.equal(ucatSlabPages(9216), 9, 'exactly 4 objects in 9 pages');
});

test('ucat: hand-computed reservations (24 -> 24, 17 -> 24, 1025 -> 1152, 4097 -> 4608, 16385 -> 5 pages, 3 MiB exact)', () => {
  const g = createGuest(DRAM_NVM, 'ucat');
  const cases: [number, number][] = [
    [24, 24],
    [17, 24],
    [1025, 1152],
    [4097, 4608],
    [16385, 20480],
    [3 * MiB, 3 * MiB],
  ];
  let req = 0;
  let res = 0;
  for (const [bytes, reserved] of cases) {
    const a = g.malloc.malloc(bytes);
    assert.equal(g.malloc.usableSize(a), reserved, `malloc(${bytes})`);
    req += bytes;
    res += reserved;
    assert.equal(totals(g).requested, req);
    assert.equal(totals(g).reserved, res);
  }
});

test('internal fragmentation of one sample sequence, both allocators, computed by hand', () => {
  const sizes = [24, 100, 1025, 3000, 4097, 10000, 100000];
  // OSv: 32, 128, 4096, 4096, 8192, page_round(10048)=12288, page_round(100048)=102400
  // UCat: 24, 104, 1152, 3072, 4608, 10240, page_round(100000)=102400
  const expected = { osv: 32 + 128 + 4096 + 4096 + 8192 + 12288 + 102400, ucat: 24 + 104 + 1152 + 3072 + 4608 + 10240 + 102400 };
  for (const name of ['osv', 'ucat'] as const) {
    const g = createGuest(DRAM_NVM, name);
    for (const s of sizes) g.malloc.malloc(s);
    const t = g.malloc.stats().total;
    assert.equal(t.reservedBytes, expected[name], name);
    assert.equal(t.internalFragmentationBytes, expected[name] - sizes.reduce((a, b) => a + b), name);
  }
});

test('ucat: realloc stays in place when the slot covers the new size', () => {
  const g = createGuest(DRAM_NVM, 'ucat');
  const a = g.malloc.malloc(20);
  assert.equal(g.malloc.realloc(a, 24), a);
  assert.equal(totals(g).requested, 24);
  const b = g.malloc.realloc(a, 100);
  assert.notEqual(b, a);
  assert.deepEqual(totals(g), { requested: 100, reserved: 104, held: 8192 });
});

test('ucat: memalign gives aligned slots, pages and mappings', () => {
  const g = createGuest(DRAM_NVM, 'ucat');
  for (const [al, n] of [[16, 24], [64, 100], [4096, 5000], [65536, 70000], [2 * MiB, 3 * MiB]]) {
    const a = g.malloc.memalign(al, n);
    assert.equal(a % al, 0, `memalign(${al}, ${n})`);
    assert.ok(g.malloc.usableSize(a) >= n);
  }
});

test('ucat placement: metadata and hot in DRAM, bulk in NVM once DRAM is down to its reserve', () => {
  const g = createGuest(
    [
      { gpaStart: 0, bytes: 16 * MiB, type: 'dram' },
      { gpaStart: 16 * MiB, bytes: 64 * MiB, type: 'nvm' },
    ],
    { preset: 'ucat', placement: { dramReserveBytes: 8 * MiB } },
  );
  const m = g.malloc;
  const meta = m.malloc(64, AllocHint.Metadata);
  assert.ok(linearGpa(meta) < 16 * MiB);
  const bulk1 = m.malloc(4 * MiB, AllocHint.Bulk);
  assert.ok(bulk1 > 0);
  assert.equal(m.stats().tiers.dram.reservedBytes, 64 + 4 * MiB, 'DRAM still above its reserve');
  m.malloc(4 * MiB, AllocHint.Bulk);
  assert.equal(m.stats().tiers.nvm.reservedBytes, 4 * MiB, 'this one would cut into the reserve');
  m.malloc(64, AllocHint.Hot);
  assert.equal(m.stats().tiers.dram.liveObjects, 3);
  assert.equal(m.stats().tiers.dram.fallbacksOut, 0);
});

test('a full tier falls back to the other one instead of failing; both full is OutOfMemoryError', () => {
  const g = createGuest(
    [
      { gpaStart: 0, bytes: 4 * MiB, type: 'dram' },
      { gpaStart: 4 * MiB, bytes: 4 * MiB, type: 'nvm' },
    ],
    { preset: 'ucat', placement: { hot: 'dram' } },
  );
  const m = g.malloc;
  const live: number[] = [];
  for (let i = 0; i < 1500; i++) live.push(m.malloc(4096, AllocHint.Hot));
  const s = m.stats();
  assert.ok(s.tiers.dram.fallbacksOut > 0, 'DRAM filled up and later objects went to NVM');
  assert.equal(s.tiers.nvm.fallbacksIn, s.tiers.dram.fallbacksOut);
  assert.equal(s.total.failures, 0);
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) m.malloc(4096, AllocHint.Hot);
  }, OutOfMemoryError);
  assert.equal(m.stats().total.failures, 1);
  for (const a of live) m.free(a);
});

test('osv: the untyped allocator runs out with OutOfMemoryError', () => {
  const g = createGuest([{ gpaStart: 0, bytes: 4 * MiB, type: 'untyped' }], 'osv');
  assert.throws(() => {
    for (let i = 0; i < 2000; i++) g.malloc.malloc(2000);
  }, OutOfMemoryError);
});

test('impossible requests get a clear UserError', () => {
  for (const name of ['osv', 'ucat']) {
    const m = createGuest(DRAM_NVM, name).malloc;
    assert.throws(() => m.malloc(0), (e: unknown) => e instanceof UserError && /size 0 is not a positive/.test(e.message));
    assert.throws(() => m.malloc(-8), UserError);
    assert.throws(() => m.malloc(1.5), UserError);
    assert.throws(() => m.malloc(Number.NaN), UserError);
    assert.throws(() => m.malloc(129 * MiB), (e: unknown) => e instanceof UserError && /larger than the guest's memory \(128 MiB\)/.test(e.message));
    assert.throws(() => m.memalign(24, 8), /power of two/);
    assert.throws(() => m.memalign(4 * MiB, 8), UserError);
    assert.throws(() => m.realloc(m.malloc(8), 0), UserError);
  }
});

test('bad frees are caught', () => {
  const m = createGuest(DRAM_NVM, 'ucat').malloc;
  const a = m.malloc(40);
  m.free(a);
  assert.throws(() => m.free(a), /double free/);
  assert.throws(() => m.free(a + 8), /not/);
  m.free(0); // free(NULL) is a no-op
});

// ---- property: random sequences return every byte -----------------------------------------------

const op = fc.oneof(
  fc.record({ kind: fc.constant('malloc' as const), size: fc.oneof(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 1, max: 40000 }), fc.integer({ min: 1, max: 5 * MiB })), hint: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('memalign' as const), size: fc.integer({ min: 1, max: 70000 }), align: fc.constantFrom(8, 16, 64, 512, 4096, 8192, 65536) }),
  fc.record({ kind: fc.constant('realloc' as const), pick: fc.nat(), size: fc.integer({ min: 1, max: 20000 }) }),
  fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('touch' as const), pick: fc.nat() }),
);

for (const preset of ['osv', 'osv-4k', 'ucat', 'ucat-no-slabs', 'ucat-no-tiers']) {
  test(`${preset}: random malloc/memalign/realloc/free sequences never overlap and return every byte (property)`, () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const g = createGuest(
          [
            { gpaStart: 0, bytes: 24 * MiB, type: 'dram' },
            { gpaStart: 32 * MiB, bytes: 24 * MiB, type: 'nvm' },
          ],
          preset,
        );
        const m = g.malloc;
        const k0 = g.kernel.mappingStats();
        const free0 = k0.memory.dram.freeBytes + k0.memory.nvm.freeBytes + k0.memory.dram.pageTableBytes + k0.memory.nvm.pageTableBytes;
        const live: number[] = [];
        for (const o of ops) {
          try {
            if (o.kind === 'malloc') live.push(m.malloc(o.size, o.hint as AllocHint));
            else if (o.kind === 'memalign') {
              const a = m.memalign(o.align, o.size);
              assert.equal(a % o.align, 0);
              live.push(a);
            } else if (live.length > 0) {
              const i = o.pick % live.length;
              if (o.kind === 'free') m.free(live.splice(i, 1)[0]);
              else if (o.kind === 'realloc') live[i] = m.realloc(live[i], o.size);
              else touch(g, live[i], Math.min(m.usableSize(live[i]), 64 * KiB));
            }
          } catch (e) {
            if (!(e instanceof OutOfMemoryError)) throw e;
          }
        }
        // Live objects never overlap in guest-physical (linear maps) or guest-virtual (mappings) space.
        const spans = live
          .map((a) => {
            const area = areaOf(a);
            return area >= 0 ? { lo: linearGpa(a), hi: linearGpa(a) + m.usableSize(a), phys: true } : { lo: a, hi: a + m.usableSize(a), phys: false };
          })
          .sort((x, y) => Number(x.phys) - Number(y.phys) || x.lo - y.lo);
        for (let i = 1; i < spans.length; i++)
          if (spans[i].phys === spans[i - 1].phys) assert.ok(spans[i].lo >= spans[i - 1].hi, 'live objects overlap');
        g.kernel.checkInvariants();
        for (const a of live) m.free(a);
        m.trim();
        const s = m.stats();
        assert.equal(s.total.requestedBytes, 0);
        assert.equal(s.total.reservedBytes, 0);
        assert.equal(s.total.heldBytes, 0);
        assert.equal(s.total.liveObjects, 0);
        const k = s.kernel;
        assert.equal(k.mmapLeaves2M + k.mmapLeaves4K, 0);
        assert.equal(k.liveMappings, 0);
        // Every frame is free again except page-table pages (tables of the linear maps stay).
        assert.equal(k.memory.dram.freeBytes + k.memory.nvm.freeBytes + k.memory.dram.pageTableBytes + k.memory.nvm.pageTableBytes, free0);
        for (const t of g.kernel.tiers) assert.equal(t.committed, 0);
        g.kernel.checkInvariants();
      }),
      { numRuns: 60 },
    );
  });
}
