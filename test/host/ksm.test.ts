/** KSM (src/host/ksm.ts): merging rules, copy-on-write, counters, flush accounting, huge pages, chains. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentFingerprint, ZERO_FINGERPRINT } from '../../src/base/hash.ts';
import { MiB, PAGE_2M, PAGE_4K } from '../../src/base/units.ts';
import { FrameFlag, HostBackend, Ksm, type HostVm, type KsmParams } from '../../src/host/index.ts';

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
});
