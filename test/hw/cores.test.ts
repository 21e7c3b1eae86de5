import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, llcGeometry, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS, type TierPreset } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';

const ALL = [PageSize.Size4K, PageSize.Size2M, PageSize.Size1G];

/** Zen 2 with a TLB small enough to count by hand: L1 2 entries, L2 4 entries, one set each. */
const TINY_TLB: CpuPreset = {
  ...CPU_PRESETS.zen2,
  name: 'tiny-tlb',
  l1Tlb: [{ entries: 2, ways: 2, sizes: ALL }],
  l2Tlb: [{ entries: 4, ways: 4, sizes: [PageSize.Size4K, PageSize.Size2M] }],
};

function machineOf(cpu: CpuPreset, options: { cores?: number; vpid?: boolean } = {}, tier: TierPreset = TIER_PRESETS.ddr4) {
  return new Machine(cpu, new TierMap([resolveTier(tier, 0, cpu.clockGHz)], [1 << 30]), options);
}

/** A native 4K VM on core `core` of `m`, with `pages` pages mapped (its working set). */
function vmOn(m: Machine, core: number | undefined, pages: number) {
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: null });
  const vcpu = new VCpu(m, space, m.vcpus.length, core);
  const addrs = Array.from({ length: pages }, (_, i) => space.base + i * 4096);
  return { vcpu, addrs, pass: () => addrs.forEach((a) => vcpu.load(a, 8)) };
}

test('two VMs alternating on one core miss more than either alone, exactly as counted by hand (4-entry L2 TLB)', () => {
  const rounds = 10;
  // Alone: each VM's 3 pages fit the 4-entry L2 TLB, so only the first pass walks.
  const alone = vmOn(machineOf(TINY_TLB), undefined, 3);
  for (let r = 0; r < rounds; r++) alone.pass();
  assert.equal(alone.vcpu.counters.walks, 3);

  // Together: A's 3 pages, then B's 3, then A's... 6 entries for 4 LRU ways: each fill evicts the
  // entry needed soonest, so after A's pass the set is [a3 a2 a1 b3] and B's pass evicts b3, a1,
  // a2 in turn; every access of every pass walks.
  const m = machineOf(TINY_TLB, { cores: 1 });
  const a = vmOn(m, 0, 3);
  const b = vmOn(m, 0, 3);
  for (let r = 0; r < rounds; r++) {
    a.pass();
    b.pass();
  }
  assert.equal(a.vcpu.counters.walks, 3 * rounds);
  assert.equal(b.vcpu.counters.walks, 3 * rounds);
  // A switch before each pass but the very first (the core was idle), each charged to the vCPU coming in.
  assert.equal(a.vcpu.counters.vcpuSwitches + b.vcpu.counters.vcpuSwitches, 2 * rounds - 1);
  assert.equal(a.vcpu.counters.switchCycles, a.vcpu.counters.vcpuSwitches * TINY_TLB.vcpuSwitchCycles);
  assert.equal(a.vcpu.counters.switchFlushes, 0, 'VPID-tagged: no flush');
});

test('with VPID two small working sets share the L2 TLB; without VPID every switch flushes it', () => {
  const rounds = 8;
  const run = (vpid: boolean) => {
    const m = machineOf(TINY_TLB, { cores: 1, vpid });
    const a = vmOn(m, 0, 2);
    const b = vmOn(m, 0, 2);
    for (let r = 0; r < rounds; r++) {
      a.pass();
      b.pass();
    }
    return { a: a.vcpu.counters, b: b.vcpu.counters, core: m.cores[0] };
  };
  const tagged = run(true);
  // 2 + 2 entries fit the 4 ways: only the cold passes walk.
  assert.equal(tagged.a.walks, 2);
  assert.equal(tagged.b.walks, 2);
  const untagged = run(false);
  // Every switch drops the other VM's entries: each pass walks both pages again.
  assert.equal(untagged.a.walks, 2 * rounds);
  assert.equal(untagged.b.walks, 2 * rounds);
  assert.equal(untagged.a.switchFlushes + untagged.b.switchFlushes, untagged.core.switches);
  assert.equal(untagged.core.switches, 2 * rounds - 1);
});

test('without VPID the guest-physical entries (nested TLB, EPT-side PSCs), tagged by EPT pointer, survive a switch', () => {
  const m = machineOf(CPU_PRESETS.zen2, { cores: 1, vpid: false });
  const spaceA = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const spaceB = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const a = new VCpu(m, spaceA, 0, 0);
  const b = new VCpu(m, spaceB, 1, 0);
  a.load(spaceA.base, 8);
  const ntlbAfterA = m.cores[0].ntlb.valid;
  assert.ok(ntlbAfterA > 0);
  b.load(spaceB.base, 8);
  assert.ok(m.cores[0].ntlb.valid > ntlbAfterA, "B's entries join A's");
  assert.equal(b.counters.switchFlushes, 1);
  assert.equal(a.tlbHolds(spaceA.base), false, "A's TLB entries went with the switch");
});

test('a single-context flush of one VM keeps the other VM\'s entries on a shared core', () => {
  const m = machineOf(TINY_TLB, { cores: 1 });
  const a = vmOn(m, 0, 2);
  const b = vmOn(m, 0, 2);
  a.pass();
  b.pass();
  a.vcpu.flushVm(); // issued while B runs
  assert.ok(a.addrs.every((p) => !a.vcpu.tlbHolds(p)));
  assert.ok(b.addrs.every((p) => b.vcpu.tlbHolds(p)));
  b.vcpu.invalidatePage(b.addrs[0]);
  assert.equal(b.vcpu.tlbHolds(b.addrs[0]), false);
  assert.equal(b.vcpu.tlbHolds(b.addrs[1]), true);
});

test("an all-context flush issued for a VM that is not running drops the running VM's translations too, fast paths included", () => {
  const m = machineOf(TINY_TLB, { cores: 1 });
  const a = vmOn(m, 0, 1);
  const b = vmOn(m, 0, 1);
  a.pass();
  b.pass();
  b.pass(); // B runs, its page in the TLB and in its fast paths
  const walks = b.vcpu.counters.walks;
  a.vcpu.flushAll(); // issued while B runs
  assert.equal(b.vcpu.tlbHolds(b.addrs[0]), false);
  b.pass();
  assert.equal(b.vcpu.counters.walks, walks + 1, 'B walks again: its fast path did not outlive the flush');
});

/** A tier whose host bandwidth binds a single core's stream: 1 GB/s. */
const SLOW_TIER: TierPreset = { ...TIER_PRESETS.ddr4, name: 'slow', hostReadGBps: 1, hostWriteGBps: 1 };

test('a sequential scan of N lines costs N x 64 B / bandwidth within a few percent once the stream is detected', () => {
  const cpu = CPU_PRESETS.zen2;
  const m = machineOf(cpu, {}, SLOW_TIER);
  const space = new FlatSpace({ guestPageSize: PageSize.Size2M, hostPageSize: PageSize.Size2M });
  const vcpu = new VCpu(m, space, 0);
  vcpu.load(space.base, 8); // map the 2 MiB page and fill the TLBs
  const lines = 64 * 32; // 32 KiB pages' worth... 32 physical 4 KiB pages
  const before = vcpu.counters.snapshot();
  for (let i = 1; i <= lines; i++) vcpu.load(space.base + i * 64, 8);
  const after = vcpu.counters.snapshot();
  const perLine = 64 / (1 / cpu.clockGHz); // cycles per 64 B at 1 GB/s
  const ideal = lines * perLine;
  const data = after.dataCycles - before.dataCycles;
  assert.equal(after.walks - before.walks, 0);
  // The streamer restarts in each 4 KiB page: 3 lines per page pay the latency.
  assert.ok(after.prefetchedLines - before.prefetchedLines >= lines - 3 * (lines / 64) - 3);
  assert.ok(Math.abs(data / ideal - 1) < 0.05, `scan cost ${data} cycles, bandwidth bound ${ideal}`);
});

test('a stream on a fast tier is bounded by the core\'s outstanding misses over the sequential latency', () => {
  const cpu = CPU_PRESETS.zen2;
  const m = machineOf(cpu);
  const t = m.tiers[0];
  const space = new FlatSpace({ guestPageSize: PageSize.Size2M, hostPageSize: PageSize.Size2M });
  const vcpu = new VCpu(m, space, 0);
  vcpu.load(space.base, 8);
  // Lines 10..60 of the first 4 KiB page: the stream is detected by then.
  for (let i = 1; i < 10; i++) vcpu.load(space.base + i * 64, 8);
  const before = vcpu.counters.dataCycles;
  for (let i = 10; i < 60; i++) vcpu.load(space.base + i * 64, 8);
  const perLine = (vcpu.counters.dataCycles - before) / 50;
  assert.ok(t.seqReadCycles / cpu.outstandingMisses > 64 / t.readBytesPerCycle, 'one core cannot use 128 GB/s');
  assert.equal(perLine, Math.round(t.seqReadCycles / cpu.outstandingMisses), 'whole cycles per line');
});

test('K independent misses cost latency x ceil(K / limit); dependent ones K x latency', () => {
  const cpu = CPU_PRESETS.zen2;
  const limit = cpu.outstandingMisses;
  for (const k of [1, limit - 1, limit, limit + 1, 3 * limit + 2]) {
    for (const independent of [true, false]) {
      const m = machineOf(cpu);
      const t = m.tiers[0];
      const space = new FlatSpace({ guestPageSize: PageSize.Size2M, hostPageSize: PageSize.Size2M });
      const vcpu = new VCpu(m, space, 0);
      vcpu.load(space.base, 8); // one walk; the lines below are all cold and far apart (random reads, no stream)
      const before = vcpu.counters.dataCycles;
      if (independent) vcpu.beginIndependent();
      for (let i = 1; i <= k; i++) vcpu.load(space.base + i * (4096 + 640), 8);
      if (independent) vcpu.endIndependent();
      const cost = vcpu.counters.dataCycles - before;
      const miss = cpu.llc!.latency + t.randReadCycles;
      assert.equal(vcpu.counters.walks, 1);
      assert.equal(cost, (independent ? Math.ceil(k / limit) : k) * miss, `K=${k} independent=${independent}`);
    }
  }
});

test('dirty lines are written back on eviction at the tier\'s write bandwidth; an Optane write-back writes a 256 B media line', () => {
  const cpu: CpuPreset = { ...CPU_PRESETS.zen2, l1d: { bytes: 4096, ways: 4, latency: 4 }, l2: null, llc: { bytes: 8192, ways: 4, latency: 39, scope: 'per-core' } };
  const m = machineOf(cpu, {}, TIER_PRESETS.optane);
  const t = m.tiers[0];
  const space = new FlatSpace({ guestPageSize: PageSize.Size2M, hostPageSize: PageSize.Size2M });
  const vcpu = new VCpu(m, space, 0);
  vcpu.load(space.base, 8);
  // Dirty 64 lines, then read 256 other lines: the 8 KiB LLC can keep none of the dirty ones.
  for (let i = 1; i <= 64; i++) vcpu.store(space.base + i * 64 * 3, 8);
  for (let i = 0; i < 256; i++) vcpu.load(space.base + 1024 * 1024 + i * 64 * 3, 8);
  const c = vcpu.counters;
  assert.equal(c.writebacks[0], 64);
  assert.equal(c.mediaBytesWritten[0], 64 * 256);
  // FAST'20: 13.9 GB/s for six interleaved DIMMs; one core has it all.
  const perWriteBack = Math.round(256 / (13.9 / cpu.clockGHz));
  assert.equal(c.writebackCycles, 64 * perWriteBack);
  assert.ok(t.writeBytesPerCycle < t.readBytesPerCycle);
});

test('a dirty L1D victim dirties the LLC copy instead of going to memory', () => {
  const cpu: CpuPreset = { ...CPU_PRESETS.zen2, l1d: { bytes: 1024, ways: 2, latency: 4 }, l2: null };
  const m = machineOf(cpu);
  const space = new FlatSpace({ guestPageSize: PageSize.Size2M, hostPageSize: PageSize.Size2M });
  const vcpu = new VCpu(m, space, 0);
  vcpu.store(space.base, 8);
  const dirtyLine = Math.floor(vcpu.outHpa / 64);
  const l1d = m.cores[0].l1d!;
  for (let i = 1; i <= 64; i++) vcpu.load(space.base + i * 64, 8); // pushes the dirty line out of L1D
  assert.equal(l1d.contains(dirtyLine), false);
  assert.equal(vcpu.counters.writebacks[0], 0, 'the LLC still holds it');
  assert.equal(m.cores[0].llc!.contains(dirtyLine), true);
});

test('LLC size follows the host: per core times cores on Intel, one L3 per cluster on AMD', () => {
  assert.deepEqual(llcGeometry(CPU_PRESETS.icelake.llc!, 32), { bytes: 32 * 1.5 * 1024 * 1024, coresPerLlc: 32 });
  assert.deepEqual(llcGeometry(CPU_PRESETS.zen2.llc!, 32), { bytes: 16 * 1024 * 1024, coresPerLlc: 4 });
  const zen = machineOf(CPU_PRESETS.zen2, { cores: 8 });
  assert.equal(zen.cores[0].llc, zen.cores[3].llc);
  assert.notEqual(zen.cores[3].llc, zen.cores[4].llc);
  const intel = machineOf(CPU_PRESETS.icelake, { cores: 4 });
  assert.equal(intel.cores[0].llc, intel.cores[3].llc);
  assert.equal(intel.llcBytesPerLlc, 6 * 1024 * 1024);
});

/**
 * The stream table as a plain scan of every stream (the prefetcher before its page index): the
 * first stream of the line's page at distance 0 or at its stride decides, else the first of the
 * page within the stride limit retrains, else the round-robin victim takes the line.
 */
function referencePrefetcher(streams: number) {
  const last = new Array<number>(streams).fill(-1);
  const page = new Array<number>(streams).fill(-1);
  const stride = new Array<number>(streams).fill(0);
  const confirmed = new Array<boolean>(streams).fill(false);
  let victim = 0;
  return (line: number): boolean => {
    const p = Math.floor(line / 64);
    let retrain = -1;
    for (let i = 0; i < streams; i++) {
      if (page[i] !== p) continue;
      const d = line - last[i];
      if (d === 0) return false;
      if (d === stride[i]) {
        last[i] = line;
        const covered = confirmed[i];
        confirmed[i] = true;
        return covered;
      }
      if (retrain < 0 && Math.abs(d) <= 16) retrain = i;
    }
    if (retrain >= 0) {
      stride[retrain] = line - last[retrain];
      confirmed[retrain] = false;
      last[retrain] = line;
      return false;
    }
    const v = victim;
    victim = (v + 1) % streams;
    [last[v], page[v], stride[v], confirmed[v]] = [line, p, 0, false];
    return false;
  };
}

test('the stream prefetcher decides as a plain scan of its table, also for pages that share an index bucket', () => {
  for (const streams of [32, 5, 40]) {
    const core = machineOf({ ...CPU_PRESETS.zen2, prefetchStreams: streams }).cores[0];
    const reference = referencePrefetcher(streams);
    const rng = new Rng(7 + streams);
    // Few pages, all 1024 apart (one bucket of the index) or close together, walked in short
    // strides, repeats and jumps, so that several streams share a page and the table cycles.
    const pages = Array.from({ length: 48 }, (_, i) => (i % 2 === 0 ? i * 1024 : 5 + i));
    let line = pages[0] * 64;
    let covered = 0;
    for (let i = 0; i < 200_000; i++) {
      const r = rng.nextFloat();
      if (r < 0.05) line = pages[Math.floor(rng.nextFloat() * pages.length)] * 64 + Math.floor(rng.nextFloat() * 64);
      else if (r < 0.1) line += 0;
      else line += 1 + Math.floor(rng.nextFloat() * 3) * (r < 0.6 ? 0 : 1);
      const want = reference(line);
      assert.equal(core.prefetchCovers(line), want, `streams ${streams}, step ${i}, line ${line}`);
      if (want) covered++;
    }
    assert.ok(covered > 10_000, `streams ${streams}: the walk should confirm streams (${covered} covered)`);
  }
});

test('a machine refuses more tiers than its counters hold', () => {
  const cpu = CPU_PRESETS.zen2;
  const tiers = (n: number) => new TierMap(Array.from({ length: n }, (_, i) => resolveTier(TIER_PRESETS.ddr4, i, cpu.clockGHz)), Array.from({ length: n }, () => 1024));
  assert.equal(new Machine(cpu, tiers(4)).tiers.length, 4);
  assert.throws(() => new Machine(cpu, tiers(5)), /machine: 5 tiers; the counters hold at most 4/);
});
