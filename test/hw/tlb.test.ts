import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, translationOnly, validateCpuPreset } from '../../src/hw/cpu.ts';
import { DataCache } from '../../src/hw/cache.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { TAG_SPAN, TranslationCache } from '../../src/hw/tlb.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';

test('LRU: a hit refreshes an entry, an insert evicts the least recently used way', () => {
  const c = new TranslationCache('t', 4, 4);
  for (const p of [1, 2, 3, 4]) c.insert(p, 0, p * 10, 1);
  assert.deepEqual(c.lruOrder(0), [4, 3, 2, 1]);
  assert.ok(c.lookup(1, 0) >= 0);
  assert.deepEqual(c.lruOrder(0), [1, 4, 3, 2]);
  c.insert(5, 0, 50, 1);
  assert.equal(c.peek(2, 0), -1, 'page 2 was least recently used');
  assert.deepEqual(c.lruOrder(0), [5, 1, 4, 3]);
  assert.equal(c.value[c.peek(5, 0)], 50);
});

test('entries of different page sizes with the same number do not alias', () => {
  const c = new TranslationCache('t', 8, 2);
  c.insert(7, PageSize.Size4K, 1, 1);
  assert.equal(c.lookup(7, PageSize.Size2M), -1);
  c.insert(7, PageSize.Size2M, 2, 1);
  assert.equal(c.value[c.lookup(7, PageSize.Size4K)], 1);
  assert.equal(c.value[c.lookup(7, PageSize.Size2M)], 2);
  assert.ok(c.invalidate(7, PageSize.Size4K));
  assert.equal(c.lookup(7, PageSize.Size4K), -1);
  assert.ok(c.lookup(7, PageSize.Size2M) >= 0);
});

function zen2Native() {
  const cpu = CPU_PRESETS.zen2;
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const machine = new Machine(cpu, tiers);
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: null });
  return { machine, space, vcpu: new VCpu(machine, space, 0) };
}

/** L2 TLB misses per pass over `pages` consecutive 4K pages, after a warm-up pass. */
function l2MissesPerPass(pages: number): number {
  const { space, vcpu } = zen2Native();
  for (let pass = 0; pass < 2; pass++) for (let i = 0; i < pages; i++) vcpu.load(space.base + i * 4096, 8);
  const before = vcpu.counters.l2TlbMisses;
  for (let i = 0; i < pages; i++) vcpu.load(space.base + i * 4096, 8);
  return vcpu.counters.l2TlbMisses - before;
}

test('TLB reach: a working set at the L2 TLB reach hits, one page more per set misses', () => {
  const l2 = CPU_PRESETS.zen2.l2Tlb[0];
  const sets = l2.entries / l2.ways;
  assert.equal(l2MissesPerPass(l2.entries), 0, '2048 pages fit 128 sets x 16 ways exactly');
  assert.equal(l2MissesPerPass(l2.entries - sets), 0);
  // 17 pages per set under cyclic access: LRU evicts each page just before its reuse.
  assert.equal(l2MissesPerPass(l2.entries + sets), l2.entries + sets);
});

test('invalidation: INVLPG drops one page, a VM flush drops this VM only, a full flush drops all', () => {
  const cpu = CPU_PRESETS.zen2;
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const machine = new Machine(cpu, tiers);
  const mk = (id: number) => {
    const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
    return { space, vcpu: new VCpu(machine, space, id) };
  };
  const a = mk(0);
  const b = mk(1);
  const pagesA = [0, 1, 2].map((i) => a.space.base + i * 4096);
  const pagesB = [0, 1].map((i) => b.space.base + i * 4096);
  for (const p of pagesA) a.vcpu.load(p, 8);
  for (const p of pagesB) b.vcpu.load(p, 8);

  a.vcpu.invalidatePage(pagesA[1]);
  assert.equal(a.vcpu.tlbHolds(pagesA[1]), false);
  assert.ok(a.vcpu.tlbHolds(pagesA[0]) && a.vcpu.tlbHolds(pagesA[2]));
  assert.equal(a.vcpu.counters.flushPage, 1);
  // The dropped page walks again; the others still hit.
  const walks = a.vcpu.counters.walks;
  a.vcpu.load(pagesA[0], 8);
  assert.equal(a.vcpu.counters.walks, walks);
  a.vcpu.load(pagesA[1], 8);
  assert.equal(a.vcpu.counters.walks, walks + 1);

  a.vcpu.flushVm();
  assert.ok(pagesA.every((p) => !a.vcpu.tlbHolds(p)));
  assert.ok(pagesB.every((p) => b.vcpu.tlbHolds(p)), 'the other VM keeps its translations');
  assert.equal(a.vcpu.ntlb.valid, 0, 'a VM flush drops the nested TLB too');
  assert.equal(a.vcpu.counters.flushVm, 1);

  for (const p of pagesA) a.vcpu.load(p, 8);
  machine.flushAll();
  assert.ok([...pagesA.map((p) => a.vcpu.tlbHolds(p)), ...pagesB.map((p) => b.vcpu.tlbHolds(p))].every((h) => !h));
  assert.equal(a.vcpu.counters.flushAll + b.vcpu.counters.flushAll, 2);
  assert.ok(a.vcpu.counters.flushCycles > 0);
});

test('split L1 DTLBs: a 2 MiB translation fills the 2 MiB array, a 1 GiB one the 1 GiB array (Ice Lake)', () => {
  for (const [size, span] of [[PageSize.Size2M, 2 * 1024 * 1024], [PageSize.Size1G, 1024 * 1024 * 1024]] as const) {
    const cpu = CPU_PRESETS.icelake;
    const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [2 ** 32]));
    const space = new FlatSpace({ guestPageSize: size, hostPageSize: null });
    const vcpu = new VCpu(machine, space, 0);
    vcpu.load(space.base, 8); // fault and walk
    const missesBefore = vcpu.counters.l1TlbMisses;
    const hitsBefore = vcpu.counters.l1TlbHits[size];
    // Other 4 KiB pages of the same large page: hits in the large-page L1 array, no L1 miss.
    for (let k = 1; k <= 100; k++) vcpu.load(space.base + ((k * 4096 * 7) % span), 8);
    assert.equal(vcpu.counters.l1TlbMisses, missesBefore, `size ${size}`);
    assert.equal(vcpu.counters.l1TlbHits[size] - hitsBefore, 100, `size ${size}`);
  }
});

test('every CPU preset validates; a broken geometry is reported', () => {
  for (const [name, p] of Object.entries(CPU_PRESETS)) assert.deepEqual(validateCpuPreset(p), [], name);
  const broken = { ...CPU_PRESETS.zen2, l2Tlb: [{ entries: 2048, ways: 12, sizes: [PageSize.Size4K] }] };
  assert.deepEqual(validateCpuPreset(broken), ['l2Tlb[0]: 2048 entries do not divide into 12 ways']);
});

test('data cache: LRU replacement and dirty write-backs', () => {
  const c = new DataCache('c', 64 * 2, 2, 1); // one set, two ways
  assert.equal(c.access(1, true), false);
  assert.equal(c.access(2, false), false);
  assert.equal(c.access(1, false), true);
  assert.equal(c.access(3, false), false, 'evicts line 2, the LRU way');
  assert.equal(c.evictedDirtyLine, -1, 'line 2 was clean');
  assert.equal(c.contains(2), false);
  c.access(4, false); // evicts line 1, which is dirty
  assert.equal(c.evictedDirtyLine, 1);
});

/**
 * Run `ops` through a `ways`-way data cache of 4 sets and through a reference LRU (per set, lines
 * in recency order), comparing every hit, victim and the final contents. Returns how many hits
 * were on a set's second most recently used line (the cache's swap shortcut).
 */
function checkDataCacheAgainstReference(ops: { line: number; write: boolean }[], ways: number, lines: number): number {
  const sets = 4;
  const c = new DataCache('c', 64 * sets * ways, ways, 1);
  const ref = Array.from({ length: sets }, () => [] as { line: number; dirty: boolean }[]);
  let secondHits = 0;
  ops.forEach(({ line, write }, k) => {
    const set = ref[line % sets];
    const at = set.findIndex((e) => e.line === line);
    let expectHit = false;
    let expectVictim = -1;
    if (at >= 0) {
      expectHit = true;
      if (at === set.length - 2) secondHits++;
      const [e] = set.splice(at, 1);
      set.push({ line, dirty: e.dirty || write });
    } else {
      if (set.length === ways) {
        const [v] = set.splice(0, 1);
        if (v.dirty) expectVictim = v.line;
      }
      set.push({ line, dirty: write });
    }
    assert.equal(c.access(line, write), expectHit, `op ${k}: line ${line}`);
    assert.equal(c.evictedDirtyLine, expectHit ? -1 : expectVictim, `op ${k}: victim`);
  });
  for (let line = 0; line < lines; line++) assert.equal(c.contains(line), ref[line % sets].some((e) => e.line === line));
  return secondHits;
}

test('data cache: matches a reference LRU over many sets, with write-backs', async () => {
  const fc = await import('fast-check');
  fc.assert(
    fc.property(
      fc.array(fc.record({ line: fc.integer({ min: 0, max: 63 }), write: fc.boolean() }), { minLength: 100, maxLength: 400 }),
      fc.constantFrom(1, 2, 4, 8),
      (ops, ways) => {
        checkDataCacheAgainstReference(ops, ways, 64);
      },
    ),
  );
});

test('data cache: hits on the second most recently used way (the swap shortcut) match the reference LRU', async () => {
  const fc = await import('fast-check');
  let secondHits = 0;
  fc.assert(
    fc.property(
      // Three lines per set, so that a set's two most recent lines often take turns.
      fc.array(fc.record({ line: fc.integer({ min: 0, max: 11 }), write: fc.boolean() }), { minLength: 100, maxLength: 400 }),
      fc.constantFrom(1, 2, 3, 4),
      (ops, ways) => {
        secondHits += checkDataCacheAgainstReference(ops, ways, 12);
      },
    ),
  );
  assert.ok(secondHits > 1000, `only ${secondHits} hits on a second way were tried`);
});

test('tier latency: NVM random reads cost more than DRAM, sequential less than random', () => {
  const clock = 2;
  const dram = resolveTier(TIER_PRESETS.ddr4, 0, clock);
  const nvm = resolveTier(TIER_PRESETS.optane, 1, clock);
  assert.equal(nvm.randReadCycles, 610);
  assert.equal(nvm.seqReadCycles, 338);
  assert.ok(dram.randReadCycles < nvm.randReadCycles);
  const map = new TierMap([dram, nvm], [100, 200]);
  assert.equal(map.tierOfFrame(99), 0);
  assert.equal(map.tierOfFrame(100), 1);
  assert.equal(map.tierOfFrame(299), 1);
});

test('the hash-indexed LRU (wide arrays) behaves exactly like the scanning LRU', async () => {
  const fc = await import('fast-check');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('lookup' as const), page: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('insert' as const), page: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('invalidate' as const), page: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('flush' as const), page: fc.constant(0), size: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 100, maxLength: 300 }), fc.constantFrom(1, 2, 4), (ops, sets) => {
      const ways = 8;
      const scan = new TranslationCache('scan', sets * ways, ways, 'scan');
      const indexed = new TranslationCache('indexed', sets * ways, ways, 'indexed');
      for (const o of ops) {
        if (o.kind === 'lookup') assert.equal(scan.lookup(o.page, o.size) >= 0, indexed.lookup(o.page, o.size) >= 0);
        else if (o.kind === 'insert') {
          scan.insert(o.page, o.size, o.page * 3, 1);
          indexed.insert(o.page, o.size, o.page * 3, 1);
        } else if (o.kind === 'invalidate') assert.equal(scan.invalidate(o.page, o.size), indexed.invalidate(o.page, o.size));
        else {
          scan.flush();
          indexed.flush();
        }
        assert.equal(scan.valid, indexed.valid);
        assert.equal(indexed.indexProblem(), null);
      }
      for (let s = 0; s < sets; s++) assert.deepEqual(indexed.lruOrder(s), scan.lruOrder(s));
    }),
    { numRuns: 300, seed: 7 },
  );
});

test('with 48-bit page numbers and an address-space tag, the hash index and the size counts stay exact', async () => {
  // Keys above 2^32 exercise the hash's high half; a fill over an entry of another size, the
  // size counts (a recount of the keys must equal them after every operation).
  const fc = await import('fast-check');
  const high = 2 ** 35 + 12_345;
  // 'fill' is the walker's pattern: a lookup, and on a miss the insert of the same key.
  const op = fc.record({ kind: fc.constantFrom('lookup' as const, 'insert' as const, 'fill' as const, 'invalidate' as const), page: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 0, max: 2 }) });
  const recount = (c: TranslationCache) => {
    const n = [0, 0, 0, 0];
    for (const k of c.key) if (k !== -1) n[(k - c.tagBase) % 4]++;
    return n;
  };
  fc.assert(
    fc.property(fc.array(op, { minLength: 100, maxLength: 300 }), fc.constantFrom(1, 2), (ops, sets) => {
      const scan = new TranslationCache('scan', sets * 8, 8, 'scan');
      const indexed = new TranslationCache('indexed', sets * 8, 8, 'indexed');
      for (const c of [scan, indexed]) c.tagBase = 3 * TAG_SPAN;
      for (const o of ops) {
        const page = high + o.page * 2 ** 32; // pages differing only above bit 32
        if (o.kind === 'lookup' || o.kind === 'fill') {
          const hit = scan.lookup(page, o.size) >= 0;
          assert.equal(hit, indexed.lookup(page, o.size) >= 0);
          if (o.kind === 'fill' && !hit) assert.equal(scan.value[scan.insert(page, o.size, o.page, 1)], indexed.value[indexed.insert(page, o.size, o.page, 1)]);
        } else if (o.kind === 'insert') assert.equal(scan.value[scan.insert(page, o.size, o.page, 1)], indexed.value[indexed.insert(page, o.size, o.page, 1)]);
        else assert.equal(scan.invalidate(page, o.size), indexed.invalidate(page, o.size));
        assert.deepEqual([...scan.sizeCount], recount(scan));
        assert.deepEqual([...indexed.sizeCount], recount(indexed));
        assert.equal(indexed.indexProblem(), null);
      }
      for (let s = 0; s < sets; s++) assert.deepEqual(indexed.lruOrder(high + s), scan.lruOrder(high + s));
    }),
    { numRuns: 200, seed: 11 },
  );
});

test('sets of 16 and 24 ways (scanned by key fingerprints) behave exactly like the hash-indexed LRU', async () => {
  // The scan compares full keys only where a way's fingerprint byte matches: half of the pages
  // below share their set and fingerprint (they differ only above the fingerprint's bits), so
  // matches of the fingerprint alone are frequent, and hits at every rank move the bytes with
  // their entries; invalidations close gaps, flushes leave stale bytes behind invalid ways.
  const fc = await import('fast-check');
  const op = fc.record({ kind: fc.constantFrom('lookup' as const, 'fill' as const, 'fill' as const, 'insert' as const, 'invalidate' as const, 'flush' as const), page: fc.integer({ min: 0, max: 47 }), size: fc.integer({ min: 0, max: 1 }) });
  fc.assert(
    fc.property(fc.array(op, { minLength: 150, maxLength: 400 }), fc.constantFrom(16, 24), fc.constantFrom(1, 4), fc.boolean(), (ops, ways, sets, tagged) => {
      const scan = new TranslationCache('scan', sets * ways, ways, 'scan');
      const indexed = new TranslationCache('indexed', sets * ways, ways, 'indexed');
      if (tagged) for (const c of [scan, indexed]) c.tagBase = 5 * TAG_SPAN;
      // Pages 0-23 collide (same set, same fingerprint byte); 24-47 spread over 2^35 and above.
      const pageOf = (p: number) => (p < 24 ? 2 ** 33 + p * sets * 2 ** 12 : 2 ** 35 + (p - 24) * 977 * sets + (p % sets));
      for (const o of ops) {
        const page = pageOf(o.page);
        if (o.kind === 'lookup' || o.kind === 'fill') {
          const a = scan.lookup(page, o.size);
          const b = indexed.lookup(page, o.size);
          assert.equal(a >= 0, b >= 0);
          if (a >= 0) assert.equal(scan.value[a], indexed.value[b]);
          else if (o.kind === 'fill') assert.equal(scan.value[scan.insert(page, o.size, o.page * 7 + o.size, 1)], indexed.value[indexed.insert(page, o.size, o.page * 7 + o.size, 1)]);
        } else if (o.kind === 'insert') assert.equal(scan.value[scan.insert(page, o.size, o.page * 7 + o.size, 1)], indexed.value[indexed.insert(page, o.size, o.page * 7 + o.size, 1)]);
        else if (o.kind === 'invalidate') assert.equal(scan.invalidate(page, o.size), indexed.invalidate(page, o.size));
        else {
          scan.flush();
          indexed.flush();
        }
        assert.equal(scan.valid, indexed.valid);
        assert.equal(indexed.indexProblem(), null);
      }
      for (let s = 0; s < sets; s++) assert.deepEqual(scan.lruOrder(s), indexed.lruOrder(s));
    }),
    { numRuns: 300, seed: 16 },
  );
});

test('the fast paths are exact: forgetting them before every access changes no counter and no cycle', async () => {
  const fc = await import('fast-check');
  const op = fc.record({
    kind: fc.constantFrom('load', 'load', 'store', 'next', 'next', 'invlpg', 'flushVm'),
    page: fc.integer({ min: 0, max: 5 }),
    offset: fc.integer({ min: 0, max: 4095 }),
    size: fc.constantFrom(1, 4, 8, 8, 16, 64),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 50, maxLength: 200 }), fc.constantFrom('zen2', 'icelake', 'zen2-translation'), fc.boolean(), (ops, preset, hugeGuest) => {
      const run = (forget: boolean) => {
        // zen2-translation has no cache model: a repeated line is a sequential read of its tier.
        const cpu = preset === 'zen2-translation' ? translationOnly(CPU_PRESETS.zen2) : CPU_PRESETS[preset];
        const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]));
        const space = new FlatSpace({ guestPageSize: hugeGuest ? PageSize.Size2M : PageSize.Size4K, hostPageSize: PageSize.Size4K });
        const vcpu = new VCpu(machine, space, 0);
        let cycles = 0;
        let last = space.base;
        for (const o of ops) {
          if (forget) vcpu.forgetFastPaths();
          const gva = o.kind === 'next' ? last + o.size : space.base + o.page * 4096 + o.offset;
          if (o.kind === 'invlpg') vcpu.invalidatePage(gva);
          else if (o.kind === 'flushVm') vcpu.flushVm();
          else cycles += vcpu.access(gva, o.size, o.kind === 'store');
          last = gva;
        }
        return { cycles, counters: vcpu.counters.snapshot() };
      };
      assert.deepEqual(run(false), run(true));
    }),
  );
});

test('accesses inside the open line window are counted when the counters are read, without closing it', () => {
  const { space, vcpu } = zen2Native();
  vcpu.load(space.base, 8); // walk, line fill: opens nothing yet (a walk reference came last)
  vcpu.load(space.base + 8, 8); // same line and translation: opens the window
  const before = vcpu.counters.snapshot();
  let cycles = 0;
  for (let off = 16; off < 64; off += 8) cycles += vcpu.load(space.base + off, 8);
  cycles += vcpu.store(space.base + 8, 8); // the line is clean: leaves the window
  const mid = vcpu.counters.snapshot();
  assert.equal(mid.accesses - before.accesses, 7);
  assert.equal(mid.loads - before.loads, 6);
  assert.equal(mid.stores - before.stores, 1);
  assert.equal(mid.dataL1dHits - before.dataL1dHits, 7);
  assert.equal(mid['l1TlbHits.4K'] - before['l1TlbHits.4K'], 7);
  assert.equal(mid.dataCycles - before.dataCycles, cycles);
  // Reading the counters mid-window settles them; further window hits still count.
  vcpu.load(space.base + 16, 8);
  vcpu.load(space.base + 24, 8);
  assert.equal(vcpu.counters.accesses - mid.accesses, 2);
});
