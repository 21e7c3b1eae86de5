/**
 * The host back-end: boot memory maps, lazy backing (2 MiB EPT leaves exactly when the host side
 * allows them), tier fallback, EPT table frames, copy-on-write sharing, TLB flushes, destruction,
 * accounting, and clear errors for impossible requests.
 */
import * as assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { AssertionLevel, setAssertionLevel } from '../../src/base/assert.ts';
import { UserError } from '../../src/base/errors.ts';
import { contentFingerprint, ZERO_FINGERPRINT } from '../../src/base/hash.ts';
import { GiB, MiB, PageSize, PAGE_2M, PAGE_4K } from '../../src/base/units.ts';
import type { TlbInvalidator } from '../../src/hw/faults.ts';
import { Translation } from '../../src/hw/pagetable.ts';
import {
  createHostBackend,
  FrameFlag,
  HostMemoryExhaustedError,
  MemoryMapFlag,
  vmSnapshot,
  type HostConfig,
  type HostVm,
} from '../../src/host/index.ts';

setAssertionLevel(AssertionLevel.Aggressive);

function host(over: Partial<HostConfig> = {}) {
  return createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(64) }, { tier: 'optane', bytes: MiB(256) }], variant: 'tierAware', ...over });
}

/** Page size of the EPT leaf mapping `gpa` (-1 when none). */
function leafSize(vm: HostVm, gpa: number): number {
  const tr = new Translation();
  return vm.ept.lookup(gpa, tr) ? tr.size : -1;
}

class CountingInvalidator implements TlbInvalidator {
  pages = 0;
  vm = 0;
  all = 0;
  invalidatePage(): void {
    this.pages++;
  }
  flushVm(): void {
    this.vm++;
  }
  flushAll(): void {
    this.all++;
  }
}

describe('boot memory map', () => {
  it('tierAware: one typed region per tier, 2 MiB-aligned, huge-backed', () => {
    const h = host();
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(15) }, { tier: 'optane', bytes: MiB(33) }] });
    const map = vm.bootMemoryMap();
    assert.deepEqual(
      map.map((e) => [e.gpaStart, e.bytes, e.type, e.node, e.tierName]),
      [
        [0, MiB(16), 'dram', 0, 'ddr4'],
        [MiB(16), MiB(34), 'nvm', 1, 'optane'],
      ],
    );
    for (const e of map) {
      assert.equal(e.gpaStart % PAGE_2M, 0);
      assert.equal(e.bytes % PAGE_2M, 0);
      assert.equal(e.flags, MemoryMapFlag.Ram | MemoryMapFlag.HugeBacked | MemoryMapFlag.Aligned2M);
    }
  });

  it('baseline: one untyped region of the total size, not huge-backed by default', () => {
    const h = host({ variant: 'baseline' });
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(16) }, { tier: 'optane', bytes: MiB(32) }] });
    assert.deepEqual(vm.bootMemoryMap(), [
      { gpaStart: 0, bytes: MiB(48), type: 'untyped', node: -1, tierName: '', flags: MemoryMapFlag.Ram | MemoryMapFlag.Aligned2M },
    ]);
  });
});

describe('lazy backing and the 2 MiB rule (host side)', () => {
  it('backs a 2M-aligned, huge-allowed range with a 2 MiB frame and a 2 MiB EPT leaf', () => {
    const h = host();
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(8) }] });
    assert.equal(vm.frameOf(0x3000), -1, 'nothing is backed before the first touch');
    vm.eptViolation(0x3000, false);
    assert.equal(leafSize(vm, 0x3000), PageSize.Size2M);
    assert.equal(vm.counters.resident2m[0], 1);
    assert.equal(h.memory.tiers[0].allocatedBlocks[PageSize.Size2M], 1);
    assert.equal(vm.contentOf(0x3000), ZERO_FINGERPRINT, 'a fresh page is zero-filled');
    h.checkInvariants();
  });

  it('uses 4 KiB where the 2 MiB range is not inside the region', () => {
    const h = host();
    // Region [4 KiB, 4 MiB + 4 KiB): only the chunk [2 MiB, 4 MiB) lies wholly inside.
    const vm = h.createVmWithRegions([{ gpaStart: PAGE_4K, bytes: MiB(4), tier: 0, hugeBacking: true }]);
    vm.eptViolation(PAGE_4K, true);
    vm.eptViolation(MiB(2) + 5, true);
    vm.eptViolation(MiB(4), true);
    assert.equal(leafSize(vm, PAGE_4K), PageSize.Size4K);
    assert.equal(leafSize(vm, MiB(2)), PageSize.Size2M);
    assert.equal(leafSize(vm, MiB(4)), PageSize.Size4K);
    assert.equal(vm.bootMemoryMap()[0].flags & MemoryMapFlag.Aligned2M, 0);
    h.checkInvariants();
  });

  it('uses 4 KiB when the host policy or the region does not allow huge backing', () => {
    const never = host({ policy: { hugeBacking: 'never' } }).createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    never.eptViolation(0, true);
    assert.equal(leafSize(never, 0), PageSize.Size4K);
    const madvise = host({ variant: 'baseline' }).createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    madvise.eptViolation(0, true);
    assert.equal(leafSize(madvise, 0), PageSize.Size4K, 'baseline regions do not ask for huge backing');
    const thp = host({ variant: 'baseline', policy: { hugeBacking: 'always' } }).createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    thp.eptViolation(0, true);
    assert.equal(leafSize(thp, 0), PageSize.Size2M, "THP 'always' backs baseline memory with 2 MiB frames");
    const asked = host({ variant: 'baseline' }).createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }], hugeBacking: true });
    asked.eptViolation(0, true);
    assert.equal(leafSize(asked, 0), PageSize.Size2M);
  });

  it('uses 4 KiB when the tier has no free 2 MiB frame, and counts the huge fallback', () => {
    const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(4) }], variant: 'tierAware' });
    // Fragment DRAM: take every frame, then give back every other 4 KiB frame.
    const taken: number[] = [];
    for (let f; (f = h.memory.alloc(0, PageSize.Size4K)) >= 0; ) taken.push(f);
    for (let i = 0; i < taken.length; i += 2) h.memory.free(taken[i], PageSize.Size4K);
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(2) }] });
    vm.eptViolation(0, true);
    assert.equal(leafSize(vm, 0), PageSize.Size4K);
    assert.equal(vm.counters.hugeFallbacks, 1);
  });

  it('uses 4 KiB when part of the 2 MiB range is already mapped by 4 KiB leaves', () => {
    const h = host();
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    const pool = h.memory.alloc(0, PageSize.Size4K, -1, FrameFlag.Pool);
    vm.mapShared(0x5000, pool, true);
    vm.eptViolation(0x1000, false);
    assert.equal(leafSize(vm, 0x1000), PageSize.Size4K);
    h.checkInvariants();
  });

  it('charges exit + fault handling + clearing, in cycles', () => {
    const h = host({ clockGHz: 2, policy: { hugeBacking: 'never' } });
    const c = h.costs;
    assert.equal(c.exitCycles, 1000);
    assert.equal(c.faultCycles, 2000);
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    // The first fault also builds the L3, L2 and L1 tables (three cleared table pages).
    assert.equal(vm.eptViolation(0, true), c.exitCycles + c.faultCycles + 4 * c.clear4kCycles);
    assert.equal(vm.eptViolation(PAGE_4K, true), c.exitCycles + c.faultCycles + c.clear4kCycles);
    assert.equal(vm.eptViolation(PAGE_4K, true), c.exitCycles, 'a spurious violation costs the exit only');
    assert.equal(vm.counters.spuriousViolations, 1);
    assert.ok(Math.abs(c.clear4kCycles - (4096 / 11.76) * 2) < 1e-9);
  });
});

describe('tiers: placement and fallback', () => {
  it('baseline fills DRAM first, then NVM', () => {
    const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(2) }, { tier: 'optane', bytes: MiB(8) }], variant: 'baseline' });
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    const pages = MiB(4) / PAGE_4K;
    for (let p = 0; p < pages; p++) vm.eptViolation(p * PAGE_4K, true);
    const tables = vm.counters.tableFrames[0];
    assert.equal(vm.counters.resident4k[0] + tables, MiB(2) / PAGE_4K, 'DRAM holds data and the EPT tables until full');
    assert.equal(vm.counters.resident4k[1], pages - vm.counters.resident4k[0]);
    assert.equal(vm.counters.fallbacks[1], vm.counters.resident4k[1]);
    assert.equal(h.memory.tierOf(vm.frameOf(0)), 0);
    assert.equal(h.memory.tierOf(vm.frameOf(MiB(4) - PAGE_4K)), 1);
    h.checkInvariants();
  });

  it('a typed region whose tier is full falls back to the other tier instead of failing', () => {
    const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(4) }, { tier: 'optane', bytes: MiB(4) }], variant: 'tierAware' });
    const a = h.createVm({ memory: [{ tier: 'optane', bytes: MiB(4) }] });
    const b = h.createVm({ memory: [{ tier: 'optane', bytes: MiB(2) }] });
    a.eptViolation(0, true);
    a.eptViolation(MiB(2), true);
    assert.equal(h.memory.tiers[1].freeFrames, 0);
    b.eptViolation(0, true);
    assert.equal(h.memory.tierOf(b.frameOf(0)), 0, 'backed from DRAM');
    assert.equal(b.counters.fallbacks[0], 512);
    assert.equal(leafSize(b, 0), PageSize.Size2M);
    h.checkInvariants();
  });

  it('throws a clear UserError when every tier is full', () => {
    const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(2) }], variant: 'baseline', policy: { hugeBacking: 'never' } });
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(2) }] });
    let faults = 0;
    assert.throws(
      () => {
        for (let p = 0; p < 512; p++, faults++) vm.eptViolation(p * PAGE_4K, true);
      },
      (e: unknown) => e instanceof HostMemoryExhaustedError && e instanceof UserError && /host memory exhausted/.test(e.message),
    );
    assert.equal(faults, 512 - 4, 'four frames went to the EPT tables');
    h.checkInvariants();
  });

  it('leaks nothing when the EPT cannot get a table page for a fault', () => {
    // Three frames: the root table at VM creation, the data frame, then no room for the L3 table.
    const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: 3 * PAGE_4K }], variant: 'baseline' });
    const vm = h.createVmWithRegions([{ gpaStart: 0, bytes: 3 * PAGE_4K, tier: -1, hugeBacking: false }]);
    assert.throws(() => vm.eptViolation(0, true), HostMemoryExhaustedError);
    h.checkInvariants();
    h.destroyVm(vm);
    assert.equal(h.memory.allocatedFrames, 0);
  });

  it('takes EPT table pages from DRAM as real, counted page-table frames', () => {
    const h = host();
    const vm = h.createVm({ memory: [{ tier: 'optane', bytes: MiB(8) }] });
    vm.eptViolation(0, true);
    const tables = vm.ept.tableFrames();
    assert.equal(tables.length, 3, 'root, L3 and L2 for a 2 MiB leaf');
    for (const f of tables) {
      assert.equal(h.memory.tierOf(f), 0);
      assert.ok(h.memory.flags(f) & FrameFlag.PageTable);
      assert.equal(h.memory.owner(f), vm.id);
    }
    assert.equal(vm.counters.tableFrames[0], 3);
    assert.equal(h.memory.tiers[0].tableFrames, 3);
    assert.equal(h.memory.tierOf(vm.frameOf(0)), 1, 'the data itself is in NVM');
  });
});

describe('impossible requests', () => {
  it('reject zero, negative, non-numeric and larger-than-memory sizes with a UserError', () => {
    const h = host();
    for (const bytes of [0, -1, NaN, Infinity, GiB(1)]) {
      assert.throws(() => h.createVm({ memory: [{ tier: 'ddr4', bytes }] }), UserError, `bytes=${bytes}`);
    }
    assert.throws(() => h.createVm({ memory: [] }), UserError);
    assert.throws(() => h.createVm({ memory: [{ tier: 'optane', bytes: MiB(300) }] }), /host tier has only/);
    assert.throws(() => host({ variant: 'baseline' }).createVm({ memory: [{ tier: 'ddr4', bytes: MiB(400) }] }), /host has only/);
    assert.throws(() => h.createVm({ memory: [{ tier: 'cxl', bytes: MiB(4) }] }), /no memory tier 'cxl'/);
    assert.throws(() => h.createVmWithRegions([{ gpaStart: 100, bytes: MiB(2), tier: 0, hugeBacking: false }]), UserError);
    assert.throws(
      () =>
        h.createVmWithRegions([
          { gpaStart: 0, bytes: MiB(4), tier: 0, hugeBacking: false },
          { gpaStart: MiB(2), bytes: MiB(4), tier: 1, hugeBacking: false },
        ]),
      /overlaps/,
    );
    assert.throws(() => host({ variant: 'nope' }), /unknown host back-end 'nope'/);
    assert.throws(() => host({ policy: { hugeBacking: 'sometimes' as 'never' } }), UserError);
    assert.throws(() => host({ tiers: [{ tier: 'ddr4', bytes: 0 }] }), UserError);
  });
});

describe('sharing, copy-on-write and TLB coherence', () => {
  it('shares one frame between VMs, breaks copy-on-write on write, and flushes each change', () => {
    const h = host();
    const inv = [new CountingInvalidator(), new CountingInvalidator(), new CountingInvalidator()];
    const vms = inv.map((i) => h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }], invalidator: i }));
    const fp = contentFingerprint(1, 2, 3);
    vms[0].eptViolation(0, true);
    vms[0].setContent(0x1000, fp);
    const frame = vms[0].shareFrame(0x1000);
    assert.equal(vms[0].counters.splits, 1, 'the 2 MiB leaf was split first');
    assert.equal(h.memory.owner(frame), -1);
    assert.ok(h.memory.flags(frame) & FrameFlag.Ksm);
    vms[1].eptViolation(0x1000, false);
    vms[1].mapShared(0x1000, frame, true);
    vms[2].mapShared(0x1000, frame, true);
    assert.equal(h.memory.refcount(frame), 3);
    assert.equal(vms[2].contentOf(0x1000), fp);
    assert.throws(() => vms[2].setContent(0x1000, 7), /read-only/);
    h.checkInvariants();

    const flushesBefore = inv[1].vm;
    vms[1].eptViolation(0x1000, true); // write to the shared page: copy-on-write
    const copy = vms[1].frameOf(0x1000);
    assert.notEqual(copy, frame);
    assert.equal(h.memory.owner(copy), vms[1].id);
    assert.equal(vms[1].contentOf(0x1000), fp, 'the copy has the content');
    assert.equal(h.memory.refcount(frame), 2);
    assert.equal(vms[1].counters.cowBreaks, 1);
    assert.equal(inv[1].vm, flushesBefore + 1);
    assert.equal(vms[1].counters.tlbFlushes, inv[1].vm);
    vms[1].setContent(0x1000, 99);
    assert.equal(vms[0].contentOf(0x1000), fp, 'the others still see the shared content');
    h.checkInvariants();

    for (const vm of vms) h.destroyVm(vm);
    assert.equal(h.memory.allocatedFrames, 0, 'every frame returned, the KSM frame with its last mapping');
  });

  it('keeps pool frames allocated when their last mapping goes away', () => {
    const h = host();
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    const pool = h.memory.alloc(0, PageSize.Size4K, -1, FrameFlag.Pool | FrameFlag.Readonly);
    vm.mapShared(MiB(2), pool, true);
    assert.equal(vm.counters.sharedMapped[0], 1);
    assert.ok(vm.unmapGpa(MiB(2)));
    assert.equal(h.memory.refcount(pool), 0);
    assert.ok(h.memory.isAllocated(pool));
    h.checkInvariants();
    h.memory.free(pool, PageSize.Size4K);
    h.destroyVm(vm);
    assert.equal(h.memory.allocatedFrames, 0);
  });

  it('flushes the VM\'s TLB only when a present leaf changes', () => {
    const h = host();
    const inv = new CountingInvalidator();
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }] });
    vm.setInvalidator(inv);
    vm.eptViolation(0, true);
    assert.equal(inv.vm, 0, 'filling an empty entry needs no flush');
    assert.equal(vm.unmapGpa(MiB(3)), false);
    assert.equal(inv.vm, 0);
    assert.equal(vm.unmapGpa(5), true, 'unmapping inside a 2 MiB leaf removes the leaf');
    assert.equal(inv.vm, 1);
    assert.equal(h.memory.tiers[0].allocatedBlocks[PageSize.Size2M], 0);
    assert.equal(vm.counters.tlbFlushes, 1);
  });
});

describe('frame lookups', () => {
  it('forget a leaf table whose last leaf went, when its table page serves another 2 MiB range', () => {
    const h = host({ policy: { hugeBacking: 'never' } });
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(8) }] });
    const a = 5 * PAGE_4K;
    const b = MiB(4) + 5 * PAGE_4K; // the same entry index, in another range
    vm.writePage(a, 11);
    assert.equal(vm.contentOf(a), 11);
    const frameA = vm.frameOf(a);
    assert.ok(frameA >= 0);
    assert.equal(vm.unmapGpa(a), true); // the range's only leaf: its table page is released
    vm.writePage(b, 22); // a new table page for b's range takes the released slot
    assert.equal(vm.frameOf(a), -1);
    assert.equal(vm.contentOf(a), ZERO_FINGERPRINT);
    assert.throws(() => vm.setContent(a, 33), /unbacked/);
    assert.equal(vm.contentOf(b), 22);
    h.destroyVm(vm);
    assert.equal(h.memory.allocatedFrames, 0);
  });
});

describe('accounting and destruction', () => {
  it('samples per-tier host totals and per-VM residency over time', () => {
    const h = host({ perVmSeries: true, policy: { hugeBacking: 'never' } });
    const vm = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }, { tier: 'optane', bytes: MiB(4) }] });
    h.accounting.sample(0);
    for (let p = 0; p < 10; p++) vm.eptViolation(p * PAGE_4K, true);
    vm.eptViolation(MiB(4), true);
    h.accounting.sample(1e9);
    const s = h.accounting.host;
    assert.equal(s.rows, 2);
    assert.deepEqual(Array.from(s.column('time_ns')), [0, 1e9]);
    assert.equal(s.column('ddr4.table')[1], vm.counters.tableFrames[0]);
    assert.equal(s.column('ddr4.small')[1] - s.column('ddr4.small')[0], 10 + vm.counters.tableFrames[0] - 1);
    assert.equal(s.column('optane.small')[1], 1);
    const v = h.accounting.vm!;
    assert.equal(v.rows, 4, 'one row per VM and tier per sample');
    assert.deepEqual(v.toRecords()[2], { time_ns: 1e9, vm: 0, tier: 0, resident4k: 10, resident2m: 0, table: vm.counters.tableFrames[0], shared: 0 });
    const snap = h.accounting.snapshot();
    assert.equal(snap['host.ddr4.allocated'], 10 + vm.counters.tableFrames[0]);
    assert.equal(snap['vms.backed4k'], 11);
    assert.equal(vmSnapshot(vm, h.memory)['optane.resident4k'], 1);
    assert.equal(vmSnapshot(vm, h.memory).eptLeaves4k, 11, 'ten DRAM pages and one NVM page, all 4 KiB leaves');
    assert.equal(vmSnapshot(vm, h.memory).eptLeaves2m, 0);
  });

  it('property: random faults, unmaps, shares and destroys keep refcounts balanced and return every frame', () => {
    const op = fc.record({
      kind: fc.constantFrom('fault', 'fault', 'fault', 'write', 'unmap', 'share', 'split', 'destroy', 'create', 'content'),
      vm: fc.nat(),
      page: fc.nat({ max: 2047 }),
      other: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), fc.constantFrom('tierAware', 'baseline'), fc.constantFrom<'never' | 'madvise' | 'always'>('never', 'madvise', 'always'), (ops, variant, huge) => {
        setAssertionLevel(AssertionLevel.Normal); // one scan per step below is enough
        const h = createHostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(6) }, { tier: 'optane', bytes: MiB(6) }], variant, policy: { hugeBacking: huge } });
        const live: HostVm[] = [];
        const mk = () => live.push(h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(4) }, { tier: 'optane', bytes: MiB(4) }] }));
        mk();
        mk();
        for (const o of ops) {
          if (o.kind === 'create') {
            if (live.length < 4) mk();
            continue;
          }
          if (live.length === 0) continue;
          const vm = live[o.vm % live.length];
          const gpa = o.page * PAGE_4K;
          try {
            switch (o.kind) {
              case 'fault':
              case 'write':
                vm.eptViolation(gpa, o.kind === 'write');
                break;
              case 'unmap':
                vm.unmapGpa(gpa);
                break;
              case 'split':
                vm.splitHugeMapping(gpa);
                break;
              case 'share': {
                // Share vm's page with another live VM at a (possibly different) address.
                if (vm.frameOf(gpa) < 0) break;
                const frame = vm.shareFrame(gpa);
                const other = live[o.other % live.length];
                const at = (o.other % 2048) * PAGE_4K;
                if (other === vm && at === gpa) break;
                other.mapShared(at, frame, true);
                break;
              }
              case 'destroy':
                h.destroyVm(vm);
                live.splice(live.indexOf(vm), 1);
                break;
              case 'content':
                vm.writePage(gpa, o.other + 1);
                assert.equal(vm.contentOf(gpa), o.other + 1);
                vm.setContent(gpa, o.other + 2);
                assert.equal(vm.contentOf(gpa), o.other + 2);
                break;
            }
          } catch (e) {
            if (!(e instanceof HostMemoryExhaustedError)) throw e;
          }
          h.checkInvariants();
          // Frame lookups that reuse a remembered leaf table agree with a walk, on the page touched and around it.
          for (const v of live) {
            for (const g of [gpa, gpa + PAGE_4K, gpa - PAGE_4K, (o.other % 2048) * PAGE_4K]) {
              if (g < 0 || g >= MiB(8)) continue;
              const tr = new Translation();
              const walked = v.ept.lookup(g, tr) ? tr.frame + (tr.size === PageSize.Size4K ? 0 : Math.floor((g % MiB(2)) / PAGE_4K)) : -1;
              assert.equal(v.frameOf(g), walked, `VM ${v.id} at 0x${g.toString(16)}`);
            }
          }
        }
        for (const vm of live) h.destroyVm(vm);
        h.checkInvariants();
        assert.equal(h.memory.allocatedFrames, 0);
        setAssertionLevel(AssertionLevel.Aggressive);
      }),
      { numRuns: 60 },
    );
  });
});

beforeEach(() => setAssertionLevel(AssertionLevel.Aggressive));

describe('writePage', () => {
  it('does what a fault on the write and a content write do: same counters, frames and contents (fuzzed, with shared pages)', () => {
    // Six pages in two 2 MiB ranges, so that pages are written, shared and written again (copy-on-write).
    const page = fc.integer({ min: 0, max: 5 }).map((p) => (p < 3 ? p : 512 + p));
    const op = fc.record({ kind: fc.constantFrom('write', 'write', 'write', 'share', 'unmap'), page, other: fc.integer({ min: 0, max: 2 ** 20 }) });
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 120 }), fc.boolean(), (ops, huge) => {
        const run = (withWritePage: boolean) => {
          const h = host({ variant: 'baseline', policy: { hugeBacking: huge ? 'always' : 'never' } });
          const a = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(8) }] });
          const b = h.createVm({ memory: [{ tier: 'ddr4', bytes: MiB(8) }] });
          const tr = new Translation();
          const seen: number[] = [];
          for (const o of ops) {
            const gpa = o.page * PAGE_4K;
            if (o.kind === 'write') {
              if (withWritePage) seen.push(a.writePage(gpa, o.other + 1));
              else {
                // What the FaaS model did before it called writePage.
                seen.push(!a.ept.lookup(gpa, tr) || !tr.writable ? a.eptViolation(gpa, true) : 0);
                a.setContent(gpa, o.other + 1);
              }
            } else if (o.kind === 'share') {
              // a's page becomes a read-only shared frame, also mapped by b: the next write breaks copy-on-write.
              if (a.frameOf(gpa) < 0) continue;
              b.mapShared(gpa, a.shareFrame(gpa), true);
            } else a.unmapGpa(gpa);
            seen.push(a.frameOf(gpa), a.contentOf(gpa));
          }
          h.checkInvariants();
          return { seen, a: vmSnapshot(a, h.memory), b: vmSnapshot(b, h.memory), frames: h.memory.allocatedFrames, cowBreaks: a.counters.cowBreaks };
        };
        assert.deepEqual(run(true), run(false));
      }),
      { numRuns: 60, seed: 16 },
    );
  });
});
