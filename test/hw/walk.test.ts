import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSize } from '../../src/base/units.ts';
import { Rng } from '../../src/base/rng.ts';
import { CPU_PRESETS, translationOnly, withoutTranslationCaches, type CpuPreset } from '../../src/hw/cpu.ts';
import { VcpuCounters } from '../../src/hw/counters.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';

/** Zen 2 geometry with every translation cache optionally removed, for analytical walk counts. */
function preset(opts: { psc: boolean; ntlb: boolean }): CpuPreset {
  const base = CPU_PRESETS.zen2;
  const bare = withoutTranslationCaches(base);
  return { ...base, psc: opts.psc ? base.psc : bare.psc, ntlb: opts.ntlb ? base.ntlb : bare.ntlb };
}

function setup(guest: PageSize, host: PageSize | null, cpu: CpuPreset) {
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const machine = new Machine(cpu, tiers);
  const space = new FlatSpace({ guestPageSize: guest, hostPageSize: host });
  const vcpu = new VCpu(machine, space, 0);
  return { space, vcpu };
}

/** Map the page first (faults resolved), flush every translation cache, then count one cold walk. */
function coldWalkRefs(guest: PageSize, host: PageSize | null, cpu = preset({ psc: false, ntlb: false }), gvaOffset = 0): number {
  const { space, vcpu } = setup(guest, host, cpu);
  const gva = space.base + gvaOffset;
  vcpu.load(gva, 8);
  vcpu.flushAll();
  const before = vcpu.counters.walkRefs;
  vcpu.load(gva + 64, 8);
  return vcpu.counters.walkRefs - before;
}

const S4K = PageSize.Size4K;
const S2M = PageSize.Size2M;
const S1G = PageSize.Size1G;

test('a cold nested 4K/4K walk makes 24 references (Bhargava et al.)', () => {
  assert.equal(coldWalkRefs(S4K, S4K), 24);
});

test('cold nested walks with large pages: 4K/2M and 2M/4K make 19, 2M/2M 15', () => {
  assert.equal(coldWalkRefs(S4K, S2M), 19);
  assert.equal(coldWalkRefs(S2M, S4K), 19);
  assert.equal(coldWalkRefs(S2M, S2M), 15);
});

test('cold nested walks with 1 GiB pages follow (n+1)(m+1)-1', () => {
  assert.equal(coldWalkRefs(S1G, S4K), 3 * 5 - 1); // n=2, m=4
  assert.equal(coldWalkRefs(S4K, S1G), 5 * 3 - 1); // n=4, m=2
  assert.equal(coldWalkRefs(S2M, S1G), 4 * 3 - 1); // n=3, m=2: 11
  assert.equal(coldWalkRefs(S1G, S1G), 3 * 3 - 1);
});

test('cold native walks make 4, 3 and 2 references for 4K, 2M and 1G pages', () => {
  assert.equal(coldWalkRefs(S4K, null), 4);
  assert.equal(coldWalkRefs(S2M, null), 3);
  assert.equal(coldWalkRefs(S1G, null), 2);
});

test('a native walk makes one fewer reference per cached upper level', () => {
  const cpu = preset({ psc: true, ntlb: false });
  const { space, vcpu } = setup(S4K, null, cpu);
  const gva = space.base;
  const others = [gva + 4096, gva + 2 * 1024 * 1024, gva + 1024 * 1024 * 1024];
  for (const a of [gva, ...others]) vcpu.load(a, 8); // map everything first: no fault in what we count
  vcpu.flushAll();
  vcpu.load(gva, 8); // a full walk again: fills PSC levels 4, 3, 2
  // Another 4K page in the same 2 MiB region: the PDE cache holds its page table -> 1 reference.
  const refs = (addr: number) => {
    const before = vcpu.counters.walkRefs;
    vcpu.load(addr, 8);
    return vcpu.counters.walkRefs - before;
  };
  assert.equal(refs(gva + 4096), 1);
  // Another 2 MiB region in the same 1 GiB: the PDPTE cache holds the PD -> 2 references.
  assert.equal(refs(gva + 2 * 1024 * 1024), 2);
  // Another 1 GiB region in the same 512 GiB: the PML4E cache holds the PDPT -> 3 references.
  assert.equal(refs(gva + 1024 * 1024 * 1024), 3);
});

test('the nested TLB removes the EPT walk of a guest-physical page it holds', () => {
  const cpu = preset({ psc: false, ntlb: true });
  const { space, vcpu } = setup(S4K, S4K, cpu);
  const gva = space.base;
  vcpu.load(gva, 8);
  // INVLPG drops the page's TLB entries (and guest PSCs) but not the nested TLB, which still holds
  // the four guest table pages and the data page.
  vcpu.invalidatePage(gva);
  const before = vcpu.counters.walkRefs;
  vcpu.load(gva + 8, 8);
  assert.equal(vcpu.counters.walkRefs - before, 4, 'only the four guest-entry reads remain');
});

test('a TLB hit makes no walk reference, and a walk fills both TLB levels', () => {
  const { space, vcpu } = setup(S4K, S4K, CPU_PRESETS.zen2);
  vcpu.load(space.base, 8);
  const walks = vcpu.counters.walks;
  vcpu.load(space.base + 100, 8);
  assert.equal(vcpu.counters.walks, walks);
  assert.ok(vcpu.tlbHolds(space.base));
  // 64 other pages push it out of Zen 2's 64-entry L1 DTLB but not out of the 2048-entry L2.
  for (let i = 1; i <= 64; i++) vcpu.load(space.base + i * 4096, 8);
  const walksAfter = vcpu.counters.walks;
  vcpu.load(space.base + 200, 8);
  assert.equal(vcpu.counters.walks, walksAfter, 'the L2 TLB still held it');
  assert.equal(vcpu.counters.l2TlbHits[S4K], 1);
});

test('guest 2M pages over host 4K pages give 4K TLB entries (splintering)', () => {
  const { space, vcpu } = setup(S2M, S4K, CPU_PRESETS.zen2);
  vcpu.load(space.base, 8);
  assert.equal(vcpu.counters.walksBySize[S4K], 1);
  assert.equal(vcpu.counters.walksBySize[S2M], 0);
  const walks = vcpu.counters.walks;
  vcpu.load(space.base + 8192, 8); // same guest 2M page, other host 4K page: walks again
  assert.equal(vcpu.counters.walks, walks + 1);
  const b = setup(S2M, S2M, CPU_PRESETS.zen2);
  b.vcpu.load(b.space.base, 8);
  b.vcpu.load(b.space.base + 8192, 8);
  assert.equal(b.vcpu.counters.walks, 1, '2M/2M: one entry covers the whole 2 MiB');
  assert.equal(b.vcpu.counters.walksBySize[S2M], 1);
});

test("the vCPU's cycle total counts a fault once: the cycles accesses return add up to counters.cycles", () => {
  const { space, vcpu } = setup(S4K, S4K, CPU_PRESETS.zen2);
  space.faultCycles = 1000;
  let returned = 0;
  for (let i = 0; i < 64; i++) returned += vcpu.store(space.base + i * 4096 + 8 * i, 8);
  const c = vcpu.counters;
  assert.ok(c.faultCycles > 0, 'first touches fault');
  assert.ok(c.translationCycles >= c.faultCycles, 'faults are part of translation');
  assert.equal(c.cycles, returned);
});

test('the cycle sums start at +0 and stay exact past 2^30 (they are doubles from birth)', () => {
  const fresh = new VcpuCounters();
  for (const [name, v] of Object.entries(fresh.snapshot())) assert.ok(Object.is(v, 0), `${name} starts at ${v}`);
  const { space, vcpu } = setup(S4K, S4K, translationOnly(CPU_PRESETS.zen2));
  space.faultCycles = 1000;
  let returned = 0;
  // 8 M loads over 2 MiB: every load costs at least 8 cycles, so dataCycles passes 2^30 midway.
  for (let i = 0; i < 8_000_000; i++) returned += vcpu.load(space.base + ((i * 8) % (2 * 1024 * 1024)), 8);
  const c = vcpu.counters;
  assert.ok(c.dataCycles > 2 ** 30);
  assert.equal(c.cycles, returned);
  c.reset();
  for (const [name, v] of Object.entries(c.snapshot())) assert.ok(Object.is(v, 0), `${name} after reset is ${v}`);
});

test('without a cache model a walk reference is a read of its tier: the shortcut past the hierarchy counts and costs what the hierarchy would', () => {
  // Two tiers, the second from host frame 600 on, so that table pages and data land in both.
  const cpu = translationOnly(CPU_PRESETS.zen2);
  const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(TIER_PRESETS.optane, 1, cpu.clockGHz)];
  const run = (throughHierarchy: boolean) => {
    const machine = new Machine(cpu, new TierMap(tiers, [600, 1 << 20]));
    const space = new FlatSpace({ guestPageSize: S4K, hostPageSize: S4K });
    const vcpu = new VCpu(machine, space, 0);
    // The general path: every line through `throughCaches`, which finds no cache level.
    if (throughHierarchy) Object.defineProperty(vcpu, 'noDataCaches', { value: false });
    const rng = new Rng(5);
    let cycles = 0;
    for (let i = 0; i < 3000; i++) {
      const gva = space.base + Math.floor(rng.nextFloat() * 2048) * 4096 + 8 * (i % 512);
      cycles += i % 3 === 0 ? vcpu.store(gva, 8) : vcpu.load(gva, 8);
    }
    return { cycles, counters: vcpu.counters.snapshot() };
  };
  const shortcut = run(false);
  assert.deepEqual(shortcut, run(true));
  const c = shortcut.counters;
  assert.ok(c['walkRefsMem.tier1'] > 0 && c['walkRefsMem.tier0'] > 0, 'references reach both tiers');
  assert.equal(c['walkRefsMem.tier0'] + c['walkRefsMem.tier1'], c.walkRefs);
  assert.equal(c.walkRefsL1d + c.walkRefsL2 + c.walkRefsLlc, 0);
});
