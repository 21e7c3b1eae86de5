/**
 * The fast paths of the vCPU access path (the line window, the new line of the fast page, and the
 * new line without a cache model) against the general path: forgetting the fast paths before every
 * access must change no counter and no cycle. Here with what a single vCPU does not show: vCPUs of
 * two VMs taking turns on one core, a third on another core, two tiers, and cores that start to use
 * a tier while a stream runs (the cost of a covered line depends on how many cores share the tier).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, translationOnly, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';

const PRESETS: Record<string, CpuPreset> = {
  zen2: CPU_PRESETS.zen2,
  icelake: CPU_PRESETS.icelake,
  'zen2-translation': translationOnly(CPU_PRESETS.zen2),
};

/** Host frames of the first tier: small, so that the first VM's later pages land in the second. */
const DRAM_FRAMES = 24;

function twoTierMachine(cpu: CpuPreset, cores: number): Machine {
  const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(TIER_PRESETS.optane, 1, cpu.clockGHz)];
  return new Machine(cpu, new TierMap(tiers, [DRAM_FRAMES, 1 << 24]), { cores });
}

interface Op {
  vm: number;
  kind: 'load' | 'store' | 'next' | 'nextStore' | 'cross' | 'invlpg' | 'flushVm';
  page: number;
  offset: number;
  size: number;
}

/** Run `ops` on three vCPUs (VMs 0 and 1 share core 0, VM 2 has core 1); with `forget`, every access takes the general path. */
function runOps(ops: Op[], cpu: CpuPreset, hugeGuest: boolean, forget: boolean) {
  const machine = twoTierMachine(cpu, 2);
  const vms = [0, 1, 2].map((v) => {
    const space = new FlatSpace({ guestPageSize: hugeGuest ? PageSize.Size2M : PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: v * (1 << 20), hostFrames: 1 << 20 });
    return { space, vcpu: new VCpu(machine, space, v, v === 2 ? 1 : 0), last: space.base, lastSize: 8 };
  });
  let cycles = 0;
  for (const o of ops) {
    const vm = vms[o.vm];
    const { space, vcpu } = vm;
    if (forget) vcpu.forgetFastPaths();
    let gva = space.base + o.page * 4096 + o.offset;
    if (o.kind === 'next' || o.kind === 'nextStore') gva = vm.last + vm.lastSize;
    // An access that ends past its page: split into two by the access path.
    if (o.kind === 'cross') gva = space.base + o.page * 4096 + 4096 - (1 + (o.offset % (o.size > 1 ? o.size - 1 : 1)));
    if (o.kind === 'invlpg') vcpu.invalidatePage(gva);
    else if (o.kind === 'flushVm') vcpu.flushVm();
    else cycles += vcpu.access(gva, o.size, o.kind === 'store' || o.kind === 'nextStore');
    vm.last = gva;
    vm.lastSize = o.size;
  }
  return { cycles, counters: vms.map((v) => v.vcpu.counters.snapshot()) };
}

test('the fast paths are exact with vCPUs taking turns on a core, two tiers, page-crossing accesses and writes', async () => {
  const fc = await import('fast-check');
  const op = fc.record({
    vm: fc.constantFrom(0, 0, 0, 1, 2),
    kind: fc.constantFrom('load', 'store', 'next', 'next', 'next', 'nextStore', 'cross', 'invlpg', 'flushVm'),
    page: fc.integer({ min: 0, max: 40 }),
    offset: fc.integer({ min: 0, max: 4095 }),
    size: fc.constantFrom(1, 4, 8, 8, 8, 16, 64),
  }) as unknown as import('fast-check').Arbitrary<Op>;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(...Object.keys(PRESETS)), fc.boolean(), (ops, preset, hugeGuest) => {
      assert.deepEqual(runOps(ops, PRESETS[preset], hugeGuest, false), runOps(ops, PRESETS[preset], hugeGuest, true));
    }),
    { numRuns: 150, seed: 16 },
  );
});

test('sequential streams without a cache model: exact, and a covered line costs more once more cores share the tier', () => {
  const cpu = translationOnly(CPU_PRESETS.zen2);
  const run = (forget: boolean) => {
    // Six cores, a vCPU on each; all data in the Optane tier, whose bandwidth the cores share.
    const tiers = [resolveTier(TIER_PRESETS.optane, 0, cpu.clockGHz)];
    const machine = new Machine(cpu, new TierMap(tiers, [1 << 24]), { cores: 6 });
    const vcpus = [0, 1, 2, 3, 4, 5].map((v) => {
      const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: v * (1 << 20), hostFrames: 1 << 20 });
      return { space, vcpu: new VCpu(machine, space, v, v) };
    });
    const stream = (v: number, from: number, bytes: number, write: boolean) => {
      const { space, vcpu } = vcpus[v];
      let cycles = 0;
      for (let off = from; off < from + bytes; off += 8) {
        if (forget) vcpu.forgetFastPaths();
        cycles += vcpu.access(space.base + off, 8, write);
      }
      return cycles;
    };
    const first = vcpus[0].vcpu;
    // Map the pages first, so the timed segments are data lines alone.
    stream(0, 0, 64 * 1024, false);
    const before = first.counters.snapshot();
    const alone = stream(0, 0, 32 * 1024, false);
    const mid = first.counters.snapshot();
    for (let v = 1; v < 6; v++) stream(v, 0, 4096, v % 2 === 0);
    const shared = stream(0, 32 * 1024, 32 * 1024, false);
    const after = first.counters.snapshot();
    return {
      alone,
      shared,
      prefetchedAlone: mid.prefetchedLines - before.prefetchedLines,
      prefetchedShared: after.prefetchedLines - mid.prefetchedLines,
      counters: vcpus.map((x) => x.vcpu.counters.snapshot()),
    };
  };
  const fast = run(false);
  assert.deepEqual(fast, run(true));
  // Most lines of each segment are covered by the stream (512 lines each).
  assert.ok(fast.prefetchedAlone > 400 && fast.prefetchedShared > 400, `${fast.prefetchedAlone} ${fast.prefetchedShared}`);
  // Alone the miss limit bounds a covered line; with six cores on the tier its bandwidth share does.
  assert.ok(fast.shared > fast.alone, `${fast.shared} against ${fast.alone}`);
});

interface StreamOp {
  vm: number;
  kind: 'run' | 'store' | 'jump' | 'read' | 'forget' | 'invlpg' | 'skip';
  /** Loads of a run; page of a jump; bytes skipped (backwards when negative). */
  n: number;
  size: number;
}

/**
 * Streams of loads without a cache model, the case of the stream run (a load in the line after
 * the window, decided in advance and counted later): VMs 0 and 1 (2 MiB pages) share core 0, VM 2 has core 1,
 * two tiers, so runs are cut by switches, by counter reads, by a first use of a tier on another
 * core (which changes a covered line's cost mid-run), by stores, INVLPG and jumps.
 */
function runStreams(ops: StreamOp[], forget: boolean) {
  const cpu = translationOnly(CPU_PRESETS.zen2);
  const machine = twoTierMachine(cpu, 2);
  const vms = [0, 1, 2].map((v) => {
    // VM 1 maps 2 MiB pages in both dimensions (its frames 2 MiB aligned): its runs count L1 DTLB
    // hits of that size.
    const pageSize = v === 1 ? PageSize.Size2M : PageSize.Size4K;
    const space = new FlatSpace({ guestPageSize: pageSize, hostPageSize: pageSize, hostFirstFrame: v === 1 ? 512 : v * 12, hostFrames: 1 << 20 });
    return { space, vcpu: new VCpu(machine, space, v, v === 2 ? 1 : 0), next: space.base };
  });
  let cycles = 0;
  const reads: Record<string, number>[] = [];
  for (const o of ops) {
    const vm = vms[o.vm];
    const { vcpu } = vm;
    if (o.kind === 'run') {
      for (let i = 0; i < o.n; i++) {
        if (forget) vcpu.forgetFastPaths();
        cycles += vcpu.load(vm.next, o.size);
        vm.next += o.size;
      }
    } else if (o.kind === 'store') {
      if (forget) vcpu.forgetFastPaths();
      cycles += vcpu.store(vm.next, o.size);
      vm.next += o.size;
    } else if (o.kind === 'jump') vm.next = vm.space.base + o.n * 4096 + (o.n % 3) * 8;
    else if (o.kind === 'skip') vm.next += o.n;
    else if (o.kind === 'read') reads.push(vcpu.counters.snapshot());
    else if (o.kind === 'forget') vcpu.forgetFastPaths();
    else vcpu.invalidatePage(vm.next);
  }
  return { cycles, reads, counters: vms.map((v) => v.vcpu.counters.snapshot()) };
}

test('stream runs without a cache model are exact: cut by switches, counter reads, other cores, stores and flushes', async () => {
  const fc = await import('fast-check');
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ vm: fc.constantFrom(0, 0, 1, 2), kind: fc.constant('run'), n: fc.integer({ min: 1, max: 700 }), size: fc.constantFrom(8, 8, 8, 4, 16, 64) }) },
    { weight: 1, arbitrary: fc.record({ vm: fc.constantFrom(0, 1, 2), kind: fc.constantFrom('store', 'read', 'forget', 'invlpg'), n: fc.constant(0), size: fc.constantFrom(8, 64) }) },
    { weight: 1, arbitrary: fc.record({ vm: fc.constantFrom(0, 1, 2), kind: fc.constant('jump'), n: fc.integer({ min: 0, max: 30 }), size: fc.constant(8) }) },
    { weight: 1, arbitrary: fc.record({ vm: fc.constantFrom(0, 1, 2), kind: fc.constant('skip'), n: fc.constantFrom(8, 56, 64, 128, 4096, -8, -64, -128, -320), size: fc.constant(8) }) },
  ) as unknown as import('fast-check').Arbitrary<StreamOp>;
  fc.assert(
    fc.property(fc.array(op, { minLength: 5, maxLength: 40 }), (ops) => {
      assert.deepEqual(runStreams(ops, false), runStreams(ops, true));
    }),
    { numRuns: 120, seed: 16 },
  );
});
