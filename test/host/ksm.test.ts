/** KSM (src/host/ksm.ts): merging rules, copy-on-write, counters, flush accounting, huge pages, chains. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { contentFingerprint, ZERO_FINGERPRINT } from '../../src/base/hash.ts';
import { MiB, PAGE_2M, PAGE_4K } from '../../src/base/units.ts';
import { FrameFlag, HostBackend, Ksm, type HostVm, type KsmParams } from '../../src/host/index.ts';
import { NumberTable } from '../../src/base/number-table.ts';

function host(huge: 'never' | 'always' = 'never'): HostBackend {
  return new HostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(256) }], variant: 'baseline', policy: { hugeBacking: huge } });
}

function vmWith(b: HostBackend, contents: number[]): HostVm {
  const vm = b.createVmWithRegions([{ gpaStart: 0, bytes: MiB(4), tier: -1, hugeBacking: false }]);
  contents.forEach((fp, i) => {
    vm.eptViolation(i * PAGE_4K, true);
    vm.setContent(i * PAGE_4K, fp);
  });
  return vm;
}

/** Run ksmd long enough for `scans` full scans of `pages` pages at the default rate. */
function runScans(ksm: Ksm, scans: number): void {
  const start = ksm.counters().fullScans;
  let t = ksm.simulatedNs;
  while (ksm.counters().fullScans < start + scans) {
    t += 1e7;
    ksm.advance(t);
  }
}

function ksmOn(b: HostBackend, vms: HostVm[], params: Partial<KsmParams> = {}): Ksm {
  const k = new Ksm(b.memory, params);
  for (const v of vms) k.register(v);
  return k;
}

/** Frames that back more than one mapping, and the mappings saved, recounted from the EPTs. */
function recount(b: HostBackend): { shared: number; sharing: number } {
  const seen = new Map<number, number>();
  for (const vm of b.liveVms()) vm.ept.forEachLeaf((_a, f) => { if (b.memory.flags(f) & FrameFlag.Ksm) seen.set(f, (seen.get(f) ?? 0) + 1); });
  let shared = 0;
  let sharing = 0;
  for (const n of seen.values()) {
    shared++;
    sharing += n - 1;
  }
  return { shared, sharing };
}

describe('KSM', () => {
  it('never merges pages with different contents, and merges equal ones across VMs', () => {
    const b = host();
    const a = vmWith(b, [11, 12, 13, 14]);
    const c = vmWith(b, [11, 22, 13, 24]);
    const k = ksmOn(b, [a, c]);
    runScans(k, 3);
    b.checkInvariants();
    assert.equal(a.frameOf(0), c.frameOf(0));
    assert.equal(a.frameOf(2 * PAGE_4K), c.frameOf(2 * PAGE_4K));
    assert.notEqual(a.frameOf(PAGE_4K), c.frameOf(PAGE_4K));
    assert.notEqual(a.frameOf(3 * PAGE_4K), c.frameOf(3 * PAGE_4K));
    for (let i = 0; i < 4; i++) {
      assert.equal(a.contentOf(i * PAGE_4K), [11, 12, 13, 14][i]);
      assert.equal(c.contentOf(i * PAGE_4K), [11, 22, 13, 24][i]);
    }
  });

  it('a write to a merged page gives the writer a private copy and leaves the others intact', () => {
    const b = host();
    const vms = [vmWith(b, [7]), vmWith(b, [7]), vmWith(b, [7])];
    const k = ksmOn(b, vms);
    runScans(k, 3);
    const shared = vms[0].frameOf(0);
    assert.ok(vms.every((v) => v.frameOf(0) === shared));
    const flushesBefore = vms[1].counters.tlbFlushes;
    vms[1].eptViolation(0, true);
    vms[1].setContent(0, 99);
    assert.equal(vms[1].counters.cowBreaks, 1);
    assert.equal(vms[1].counters.tlbFlushes, flushesBefore + 1, 'the COW break flushes once, at the VM');
    assert.notEqual(vms[1].frameOf(0), shared);
    assert.equal(vms[0].frameOf(0), shared);
    assert.equal(vms[2].frameOf(0), shared);
    assert.equal(vms[0].contentOf(0), 7);
    assert.equal(vms[2].contentOf(0), 7);
    assert.equal(vms[1].contentOf(0), 99);
    b.checkInvariants();
    const c = k.counters();
    assert.equal(c.pagesShared, 1);
    assert.equal(c.pagesSharing, 1);
  });

  it('the counters agree with the frames actually shared, and the saving equals the duplicate pages', () => {
    const b = host();
    // 4 VMs x 16 pages: page i holds content i % 5 + 1 in every VM, plus 4 unique pages per VM.
    const vms = [0, 1, 2, 3].map((v) => vmWith(b, [...Array.from({ length: 16 }, (_, i) => (i % 5) + 1), ...[0, 1, 2, 3].map((j) => contentFingerprint(9, v, j))]));
    const before = b.memory.allocatedFrames;
    const k = ksmOn(b, vms);
    runScans(k, 3);
    b.checkInvariants();
    const c = k.counters();
    const r = recount(b);
    assert.equal(c.pagesShared, r.shared);
    assert.equal(c.pagesSharing, r.sharing);
    // 64 pages with 5 distinct contents -> 5 KSM pages, 59 pages saved; the 16 unique ones stay.
    assert.equal(c.pagesShared, 5);
    assert.equal(c.pagesSharing, 64 - 5);
    assert.equal(before - b.memory.allocatedFrames, 59);
    assert.equal(c.pagesUnshared, 16);
    assert.equal(c.rmapItems, 80);
    assert.equal(c.pagesVolatile, 0);
    assert.equal(c.generalProfit, 59 * 4096 - 80 * 64);
  });

  it('needs two full scans: the first only stores checksums (volatile), merging happens in the second', () => {
    const b = host();
    const vms = [vmWith(b, [5, 6]), vmWith(b, [5, 6])];
    const k = ksmOn(b, vms);
    runScans(k, 1);
    assert.equal(k.counters().pagesSharing, 0);
    runScans(k, 1);
    assert.equal(k.counters().pagesSharing, 2);
  });

  it('a page that changes between scans is volatile and is not merged', () => {
    const b = host();
    const a = vmWith(b, [5]);
    const c = vmWith(b, [5]);
    const k = ksmOn(b, [a, c]);
    for (let s = 0; s < 4; s++) {
      runScans(k, 1);
      c.eptViolation(0, true); // rewritten before every scan (a write fault if it had been merged)
      c.setContent(0, contentFingerprint(1, 2, s));
    }
    assert.equal(k.counters().pagesSharing, 0);
    assert.notEqual(a.frameOf(0), c.frameOf(0));
  });

  it('counts two flushes per page merged into a KSM page and one for the page that becomes it', () => {
    const b = host();
    const vms = [vmWith(b, [3]), vmWith(b, [3]), vmWith(b, [3])];
    const k = ksmOn(b, vms);
    runScans(k, 3);
    const vmFlushes = vms.reduce((t, v) => t + v.counters.tlbFlushes, 0);
    assert.equal(k.counters().tlbFlushes, 1 + 2 + 2);
    assert.equal(vmFlushes, k.counters().tlbFlushes, 'every KSM flush is a real flush of a VM');
  });

  it('max_page_sharing starts a chain of dups', () => {
    const b = host();
    const vms = Array.from({ length: 6 }, () => vmWith(b, [42]));
    const k = ksmOn(b, vms, { maxPageSharing: 2 });
    runScans(k, 4);
    const c = k.counters();
    assert.equal(c.pagesShared, 3);
    assert.equal(c.pagesSharing, 3);
    assert.equal(c.stableNodeChains, 1);
    assert.equal(c.stableNodeDups, 3);
    b.checkInvariants();
  });

  it('use_zero_pages maps zero pages to the zero page', () => {
    const b = host();
    const vms = [vmWith(b, [0, 0, 8]), vmWith(b, [0, 0, 9])];
    const k = ksmOn(b, vms, { useZeroPages: true });
    runScans(k, 3);
    const c = k.counters();
    assert.equal(c.ksmZeroPages, 4);
    assert.equal(c.pagesShared, 0);
    assert.equal(vms[0].contentOf(0), ZERO_FINGERPRINT);
    b.checkInvariants();
  });

  it('splits a 2 MiB mapping before merging one of its pages', () => {
    const b = host('always');
    const mk = (): HostVm => {
      const vm = b.createVmWithRegions([{ gpaStart: 0, bytes: MiB(4), tier: -1, hugeBacking: true }]);
      vm.eptViolation(0, true);
      for (let i = 0; i < 512; i++) vm.setContent(i * PAGE_4K, i === 0 ? 77 : contentFingerprint(3, vm.id, i));
      return vm;
    };
    const vms = [mk(), mk()];
    assert.equal(vms[0].counters.backed2m, 1);
    const k = ksmOn(b, vms);
    runScans(k, 3);
    assert.equal(vms[0].frameOf(0), vms[1].frameOf(0));
    assert.equal(k.counters().hugeSplits, 2);
    assert.equal(vms[0].counters.splits, 1);
    assert.ok(vms[1].frameOf(PAGE_2M - PAGE_4K) >= 0);
    b.checkInvariants();
  });

  it('scans at the measured rate: 2 full scans of 64 MiB x 4 at 100 pages / 20 ms take about 8 s', () => {
    // research/hostcheck.md §2: 64 MiB "pairs" x 4 processes merged in 8.0 s at the defaults.
    const b = new HostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(512) }], variant: 'baseline', policy: { hugeBacking: 'never' } });
    const pages = 4096; // 4 x 16 MiB = 64 MiB in all
    const vms = [0, 1, 2, 3].map(() => {
      const vm = b.createVmWithRegions([{ gpaStart: 0, bytes: pages * PAGE_4K, tier: -1, hugeBacking: false }]);
      for (let i = 0; i < pages; i++) {
        vm.eptViolation(i * PAGE_4K, true);
        vm.setContent(i * PAGE_4K, contentFingerprint(5, i, 0));
      }
      return vm;
    });
    const k = ksmOn(b, vms);
    let t = 0;
    while (k.counters().pagesSharing < 3 * pages) {
      t += 0.1e9;
      k.advance(t);
    }
    const measured = 8.0;
    assert.ok(Math.abs(t / 1e9 - measured) / measured < 0.1, `merged after ${t / 1e9} s, measured ${measured} s`);
  });

  it('smart_scan skips pages that keep failing; the advisor raises pages_to_scan for a slow scan', () => {
    const b = host();
    const vms = [vmWith(b, Array.from({ length: 50 }, (_, i) => contentFingerprint(1, 0, i))), vmWith(b, Array.from({ length: 50 }, (_, i) => contentFingerprint(1, 1, i)))];
    const k = ksmOn(b, vms, { smartScan: true });
    runScans(k, 8);
    assert.ok(k.counters().pagesSkipped > 0);
    const b2 = host();
    const big = vmWith(b2, Array.from({ length: 1000 }, (_, i) => contentFingerprint(2, 0, i)));
    const k2 = ksmOn(b2, [big], { advisorMode: 'scan-time', advisorTargetScanTimeSec: 0.05 });
    assert.equal(k2.counters().pagesToScan, 100);
    runScans(k2, 1);
    assert.ok(k2.counters().pagesToScan >= 500, 'a 0.24 s scan against a 0.05 s target raises pages_to_scan to at least the advisor minimum');
  });

  it('a chain lookup finds a dup with room again after a COW break freed a mapping in an older, full dup', () => {
    const b = host();
    // max 2: pages of VMs 0-1 form dup A, VMs 2-3 dup B; VM 0 then writes its page, so A has room.
    const vms = Array.from({ length: 5 }, () => vmWith(b, [42]));
    const k = ksmOn(b, vms.slice(0, 4), { maxPageSharing: 2, stableNodeChainsPruneMillisecs: 0 });
    runScans(k, 3);
    assert.equal(k.counters().pagesShared, 2);
    const dupA = vms[1].frameOf(0);
    vms[0].eptViolation(0, true);
    vms[0].setContent(0, 43);
    k.register(vms[4]);
    runScans(k, 3);
    assert.equal(vms[4].frameOf(0), dupA, 'the new page joined the older dup that had room instead of staying unmerged');
    const c = k.counters();
    assert.equal(c.pagesShared, 2);
    assert.equal(c.pagesSharing, 2);
    b.checkInvariants();
  });

  it('a chain found full is searched again once a COW break gives one of its dups room', () => {
    const b = host();
    // max 2: VMs 0-1 form dup A, 2-3 dup B; VM 4's page finds both full (the chain is marked full)
    // and stays unmerged; then VM 0 writes its page, so A has room, and the next scan merges VM 4's.
    const vms = Array.from({ length: 5 }, () => vmWith(b, [42]));
    const k = ksmOn(b, vms, { maxPageSharing: 2 });
    runScans(k, 3);
    assert.equal(k.counters().pagesShared, 2);
    assert.equal(k.counters().pagesSharing, 2);
    const dupA = vms[1].frameOf(0);
    assert.notEqual(vms[4].frameOf(0), dupA);
    assert.notEqual(vms[4].frameOf(0), vms[3].frameOf(0));
    vms[0].eptViolation(0, true);
    vms[0].setContent(0, 43);
    runScans(k, 2);
    assert.equal(vms[4].frameOf(0), dupA, 'the page joined the dup that regained room');
    assert.equal(k.counters().pagesSharing, 2);
    b.checkInvariants();
  });
});

describe('NumberTable (the unstable tree)', () => {
  it('behaves as a Map from fingerprints to non-negative numbers under random set, get and delete', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('set', 'get', 'delete', 'clear'), fc.oneof(fc.nat({ max: 40 }), fc.constantFrom(0, 2 ** 53 - 1, 2 ** 32, 2 ** 32 + 1)), fc.nat()), { maxLength: 400 }),
        (ops) => {
          const t = new NumberTable();
          const m = new Map<number, number>();
          for (const [op, k, v] of ops) {
            if (op === 'set') {
              t.set(k, v);
              m.set(k, v);
            } else if (op === 'delete') {
              t.delete(k);
              m.delete(k);
            } else if (op === 'clear') {
              t.clear();
              m.clear();
            }
            assert.equal(t.get(k), m.get(k) ?? -1);
            assert.equal(t.size, m.size);
          }
          for (const [k, v] of m) assert.equal(t.get(k), v);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps every entry through growth and deletions', () => {
    const t = new NumberTable();
    const keys = Array.from({ length: 5000 }, (_, i) => contentFingerprint(5, i, 0));
    keys.forEach((k, i) => t.set(k, i));
    keys.forEach((k, i) => {
      if (i % 3 === 0) t.delete(k);
    });
    keys.forEach((k, i) => assert.equal(t.get(k), i % 3 === 0 ? -1 : i));
    assert.equal(t.size, 5000 - Math.ceil(5000 / 3));
  });
});

/** Content alphabet of the property tests: 0 is the zero page, the others are modelled contents. */
const fpOf = (v: number): number => (v === 0 ? ZERO_FINGERPRINT : contentFingerprint(77, v, 0));

/** Recount from the EPTs: KSM pages (stable tree) and their extra mappings, and zero-page mappings. */
function recountAll(b: HostBackend, useZeroPages: boolean): { shared: number; sharing: number; zero: number } {
  const seen = new Map<number, number>();
  let zero = 0;
  for (const vm of b.liveVms()) {
    vm.ept.forEachLeaf((_a, f) => {
      if (!(b.memory.flags(f) & FrameFlag.Ksm)) return;
      // With use_zero_pages every zero page KSM touches maps the zero page, never a stable KSM page.
      if (useZeroPages && b.memory.fingerprint(f) === ZERO_FINGERPRINT) zero++;
      else seen.set(f, (seen.get(f) ?? 0) + 1);
    });
  }
  let sharing = 0;
  for (const n of seen.values()) sharing += n - 1;
  return { shared: seen.size, sharing, zero };
}

describe('KSM properties', () => {
  const setup = fc.record({
    contents: fc.array(fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 10 }), { minLength: 2, maxLength: 4 }),
    maxPageSharing: fc.constantFrom(2, 3, 5, 256),
    useZeroPages: fc.boolean(),
  });

  it('never merges different contents; a write to a merged page is private to the writer; counters match the frames', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('scan' as const), ms: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ kind: fc.constant('write' as const), vm: fc.nat(), page: fc.nat(), value: fc.nat({ max: 5 }) }),
    );
    fc.assert(
      fc.property(setup, fc.array(op, { minLength: 1, maxLength: 40 }), ({ contents, maxPageSharing, useZeroPages }, ops) => {
        const b = host();
        const vms = contents.map((row) => vmWith(b, row.map(fpOf)));
        const expected = contents.map((row) => row.map(fpOf));
        const k = ksmOn(b, vms, { maxPageSharing, useZeroPages });
        let t = 0;
        for (const o of ops) {
          if (o.kind === 'scan') {
            t += o.ms * 1e6;
            k.advance(t);
          } else {
            const v = o.vm % vms.length;
            const p = o.page % expected[v].length;
            const gpa = p * PAGE_4K;
            const framesBefore = vms.map((w) => expected[vms.indexOf(w)].map((_, q) => w.frameOf(q * PAGE_4K)));
            vms[v].eptViolation(gpa, true);
            vms[v].setContent(gpa, fpOf(o.value));
            expected[v][p] = fpOf(o.value);
            // The writer now owns its page; nobody else maps that frame.
            assert.equal(b.memory.owner(vms[v].frameOf(gpa)), vms[v].id);
            assert.equal(b.memory.refcount(vms[v].frameOf(gpa)), 1);
            vms.forEach((w, i) => {
              if (i !== v) framesBefore[i].forEach((f, q) => assert.equal(w.frameOf(q * PAGE_4K), f, 'the write moved nobody else'));
            });
          }
          // Every page still reads what was last written to it, so no merge changed any content.
          vms.forEach((vm, i) => expected[i].forEach((fp, p) => assert.equal(vm.contentOf(p * PAGE_4K), fp, `VM ${i} page ${p}`)));
          const c = k.counters();
          const r = recountAll(b, useZeroPages);
          assert.equal(c.pagesShared, r.shared);
          assert.equal(c.pagesSharing, r.sharing);
          assert.equal(c.ksmZeroPages, r.zero);
          assert.equal(c.generalProfit, (c.pagesSharing + c.ksmZeroPages) * PAGE_4K - c.rmapItems * 64);
        }
        b.checkInvariants();
      }),
      { numRuns: 60 },
    );
  });

  it('after enough full scans the saving equals the duplicate pages (chains of max_page_sharing, the zero page)', () => {
    fc.assert(
      fc.property(setup, ({ contents, maxPageSharing, useZeroPages }) => {
        const b = host();
        const vms = contents.map((row) => vmWith(b, row.map(fpOf)));
        const before = b.memory.allocatedFrames;
        const k = ksmOn(b, vms, { maxPageSharing, useZeroPages });
        runScans(k, 4);
        b.checkInvariants();
        // Worked out by hand: n copies of a content in the scan order fill dups of maxPageSharing
        // mappings each; a remainder of 2 or more starts one more dup, a remainder of 1 stays alone
        // (every dup is full and it has no partner in the unstable tree). Zero pages with
        // use_zero_pages all map one zero page, which costs one frame.
        const copies = new Map<number, number>();
        for (const row of contents) for (const v of row) copies.set(v, (copies.get(v) ?? 0) + 1);
        let saving = 0;
        let dups = 0;
        let sharing = 0;
        for (const [v, n] of copies) {
          if (v === 0 && useZeroPages) {
            saving += n - 1;
            continue;
          }
          const d = Math.floor(n / maxPageSharing) + (n % maxPageSharing >= 2 ? 1 : 0);
          const alone = n % maxPageSharing === 1 ? 1 : 0;
          dups += d;
          sharing += n - d - alone;
          saving += n - d - alone;
        }
        assert.equal(before - b.memory.allocatedFrames, saving);
        const c = k.counters();
        assert.equal(c.pagesShared, dups);
        assert.equal(c.pagesSharing, sharing);
        // The usual case (fewer copies than max_page_sharing, no zero page): one KSM page per distinct content, every other copy saved.
        if (maxPageSharing === 256 && !useZeroPages) assert.equal(saving, contents.flat().length - copies.size);
      }),
      { numRuns: 80 },
    );
  });
});


describe('ksmd timing (mm/ksm.c ksm_scan_thread and the timer wheel, Linux 6.18)', () => {
  const pagesVm = (b: HostBackend, n: number): HostVm => vmWith(b, Array.from({ length: n }, (_, i) => contentFingerprint(3, 0, i)));
  const scannedBy = (k: Ksm, t: number): number => {
    k.advance(t);
    return k.counters().pagesScanned;
  };

  it('wakes on the tick sleep + 1 jiffies after the one it slept in, whatever the batch costs within its tick', () => {
    // HZ=250, 20 ms: msecs_to_jiffies gives 5 jiffies and the wheel fires one later, 24 ms.
    for (const scanCostNs of [0, 1800, 30_000]) {
      const b = host();
      const k = ksmOn(b, [pagesVm(b, 1000)], { scanCostNs, wakeLatencyNs: 0 });
      assert.equal(scannedBy(k, 0), 100);
      assert.equal(scannedBy(k, 24e6 - 1), 100, `cost ${scanCostNs} ns: no wake before 24 ms`);
      assert.equal(scannedBy(k, 24e6), 200);
      assert.equal(scannedBy(k, 48e6 - 1), 200);
      assert.equal(scannedBy(k, 48e6), 300);
    }
  });

  it('sleeps one jiffy more when the batch ends in a later tick, and counts in whole jiffies of its HZ', () => {
    const b = host();
    // 100 pages at 50 µs = 5 ms: the batch of the wake at 0 ends in jiffy 1, the next wake is at (1 + 5 + 1) x 4 ms.
    const k = ksmOn(b, [pagesVm(b, 1000)], { scanCostNs: 50_000, wakeLatencyNs: 0 });
    assert.equal(scannedBy(k, 28e6 - 1), 100);
    assert.equal(scannedBy(k, 28e6), 200);
    assert.equal(scannedBy(k, 56e6 - 1), 200);
    assert.equal(scannedBy(k, 56e6), 300);
    // HZ=100: 20 ms is 2 jiffies, the wake 3 jiffies on (30 ms); HZ=1000: 21 ms; 15 ms at HZ=250 rounds up to 4 jiffies (20 ms).
    for (const [hz, sleepMillisecs, period] of [[100, 20, 30e6], [1000, 20, 21e6], [250, 15, 20e6]]) {
      const b2 = host();
      const k2 = ksmOn(b2, [pagesVm(b2, 1000)], { hz, sleepMillisecs, wakeLatencyNs: 0 });
      assert.equal(scannedBy(k2, period - 1), 100, `HZ ${hz}, ${sleepMillisecs} ms`);
      assert.equal(scannedBy(k2, period), 200, `HZ ${hz}, ${sleepMillisecs} ms`);
    }
    // A sleep of 0 does not sleep: the next batch follows the last one's CPU time and the latency.
    const b3 = host();
    const k3 = ksmOn(b3, [pagesVm(b3, 1000)], { sleepMillisecs: 0, scanCostNs: 1000, wakeLatencyNs: 6000 });
    assert.equal(scannedBy(k3, 106_000 - 1), 100);
    assert.equal(scannedBy(k3, 106_000), 200);
  });

  it('puts a VM registered mid-pass just behind the cursor (first scanned next pass), one registered between passes at the tail (this pass); a pass end ends the batch', () => {
    // mm/ksm.c (Linux 6.18): __ksm_enter does list_add_tail(slot, &ksm_scan.mm_slot->slot.mm_node), which
    // is "just before the slot being scanned", or the tail when the cursor is on the list head (between
    // passes, and while the pass's first batch drains the LRU caches); scan_get_next_rmap_item returns
    // NULL at the end of the list, which ends ksm_do_scan's batch. Hand-counted at 100 pages per 24 ms.
    const b = host();
    const distinct = (seed: number, n: number): HostVm => vmWith(b, Array.from({ length: n }, (_, i) => contentFingerprint(seed, 0, i)));
    const a = distinct(11, 250);
    const k = new Ksm(b.memory, { wakeLatencyNs: 0 });
    k.register(a, 0);
    const at = (t: number): [number, number, number] => {
      k.advance(t);
      const c = k.counters();
      return [c.fullScans, c.pagesScanned, c.rmapItems];
    };
    assert.deepEqual(at(24e6), [0, 200, 200], 'A: pages 0-99 at 0 ms, 100-199 at 24 ms');
    k.register(distinct(12, 50), 30e6); // B, while the cursor is in A
    assert.deepEqual(at(48e6), [1, 250, 250], "A's last 50 pages end the pass and the batch; B is not visited");
    // The next pass: B (inserted before A) first, then A.
    assert.deepEqual(at(72e6), [1, 350, 300], "B's 50 pages, then A's first 50");
    assert.deepEqual(at(120e6), [1, 550, 300], 'A to its last page');
    assert.deepEqual(at(144e6), [2, 550, 300], 'a batch that finds no page left ends the pass');
    k.register(distinct(13, 20), 150e6); // C, with the cursor on the list head: the tail, in this pass
    assert.deepEqual(at(216e6), [2, 850, 300], 'B, then A');
    assert.deepEqual(at(240e6), [3, 870, 320], "C's 20 pages close this pass");
  });

  it('is idle while nothing is registered; the first VM wakes it at once, a later one does not', () => {
    const b = host();
    const k = new Ksm(b.memory, { wakeLatencyNs: 0 });
    k.advance(5e9);
    assert.equal(k.counters().fullScans, 0, 'no scan without a registered VM');
    // Registered before anything is loaded (as the VMM marks memory mergeable): a full scan of nothing, at once.
    const vm = b.createVmWithRegions([{ gpaStart: 0, bytes: MiB(4), tier: -1, hugeBacking: false }]);
    k.register(vm, 5.001e9);
    k.advance(5.001e9);
    assert.deepEqual([k.counters().fullScans, k.counters().pagesScanned], [1, 0]);
    for (let i = 0; i < 150; i++) {
      vm.eptViolation(i * PAGE_4K, true);
      vm.setContent(i * PAGE_4K, contentFingerprint(4, 0, i));
    }
    // It slept in the tick of 5.000 s: the next wake is 6 jiffies on, at 5.024 s.
    assert.equal(scannedBy(k, 5.024e9 - 1), 0);
    assert.equal(scannedBy(k, 5.024e9), 100);
    // A second VM registering while ksmd sleeps on its timer does not wake it.
    k.register(pagesVm(b, 10), 5.03e9);
    assert.equal(scannedBy(k, 5.048e9 - 1), 100);
    // Once the VMs are gone, ksmd goes idle at its next wake; a VM registering later wakes it at once.
    k.unregister(vm);
    for (const v of b.liveVms()) k.unregister(v);
    k.advance(9e9);
    const before = k.counters();
    k.register(pagesVm(b, 5), 9.5e9);
    k.advance(9.5e9);
    const after = k.counters();
    assert.deepEqual([after.fullScans - before.fullScans, after.pagesScanned - before.pagesScanned], [1, 5], 'the registering VM was scanned at 9.5 s, not on a timer left from before');
  });
});
