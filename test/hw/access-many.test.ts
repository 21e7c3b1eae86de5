/**
 * `VCpu.loadMany` / `storeMany` (the module's `accessEvents`, wasm/replay.ts): a batch of accesses
 * gives what `load` / `store` one by one give (the sum of the cycles, every counter, and the state
 * the accesses after it see), fuzzed over presets with and without a cache model, two tiers, page
 * sizes in both dimensions, first touches (faults), walks, lines and pages in between; and the
 * module serves the walks, while a bracket or another vCPU on the core leaves the batch to `load`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, translationOnly, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { translator } from '../../src/hw/wasm-translate.ts';
import { ACCESS_PRESETS } from './access-presets.ts';

const skip = translator() !== null ? false : 'the WebAssembly module needs asc (npm install)';

const PRESETS: Record<string, CpuPreset> = { ...ACCESS_PRESETS, 'icelake-translation': translationOnly(CPU_PRESETS.icelake) };
/** Host frames of the first tier: few (the tables and the first data pages), so that later pages come from the second. */
const DRAM_FRAMES = 24;

function machineOf(cpu: CpuPreset, cores = 1): Machine {
  const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(TIER_PRESETS.optane, 1, cpu.clockGHz)];
  return new Machine(cpu, new TierMap(tiers, [DRAM_FRAMES, 1 << 24]), { cores });
}

/** The stream's region, of which the first half is mapped before (more 4 KiB pages than the presets' L2 TLBs hold), the rest touched first by the stream. */
const SPAN = 32 << 20;

/** Addresses of a stream: walks over SPAN, runs of lines, repeats in a line, and page crossings. */
function streamOf(base: number, steps: { kind: number; at: number; run: number }[], size: number): Float64Array {
  const out: number[] = [];
  for (const s of steps) {
    const start = s.kind === 0 ? base + s.at * 8 : s.kind === 1 ? base + (s.at % 4096) * 64 : base + (s.at % 64) * 4096 - 4;
    for (let r = 0; r < s.run; r++) out.push(start + r * (s.kind === 2 ? 4096 : size));
  }
  return Float64Array.from(out);
}

test('loadMany and storeMany give what load and store give one by one (fuzzed)', { skip }, () => {
  let served = 0;
  let total = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(PRESETS)),
      fc.constantFrom(PageSize.Size4K, PageSize.Size2M),
      fc.constantFrom(PageSize.Size4K, PageSize.Size2M),
      fc.constantFrom(1, 8, 16, 64),
      fc.array(fc.record({ kind: fc.integer({ min: 0, max: 2 }), at: fc.integer({ min: 0, max: SPAN / 8 - 1 }), run: fc.integer({ min: 1, max: 40 }) }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
      (preset, guestPageSize, hostPageSize, size, steps, writes) => {
        const build = () => {
          const space = new FlatSpace({ guestPageSize, hostPageSize });
          const vcpu = new VCpu(machineOf(PRESETS[preset]), space, 0);
          for (let off = 0; off < SPAN / 2; off += 4096) vcpu.load(space.base + off, 8);
          return { space, vcpu };
        };
        const a = build();
        const b = build();
        const gvas = streamOf(a.space.base, steps, size);
        // Batches of loads and stores in turn (the fast page and the window carry over), then loads one by one on both.
        const part = Math.ceil(gvas.length / writes.length);
        for (let w = 0; w < writes.length; w++) {
          const from = Math.min(gvas.length, w * part);
          const to = Math.min(gvas.length, from + part);
          const many = writes[w] ? a.vcpu.storeMany(gvas, from, to, size) : a.vcpu.loadMany(gvas, from, to, size);
          let one = 0;
          for (let i = from; i < to; i++) one += writes[w] ? b.vcpu.store(gvas[i], size) : b.vcpu.load(gvas[i], size);
          assert.equal(many, one, `${preset}: cycles of part ${w}`);
        }
        assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot());
        let after = 0;
        for (let i = 0; i < Math.min(gvas.length, 200); i++) after += a.vcpu.load(gvas[i] + 64, 8) - b.vcpu.load(gvas[i] + 64, 8);
        assert.equal(after, 0, 'the accesses after the batches cost the same');
        assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot());
        assert.deepEqual(a.space.guestFaultCount, b.space.guestFaultCount);
        served += a.vcpu.servedInModule;
        total += gvas.length;
      },
    ),
    { numRuns: 80 },
  );
  assert.ok(served > total / 4, `the module served ${served} of ${total} accesses`);
});

test('random loads over a mapped region: the module serves the walks', { skip }, () => {
  for (const preset of ['zen2', 'zen2-translation']) {
    const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
    const vcpu = new VCpu(machineOf(PRESETS[preset]), space, 0);
    const span = 64 << 20;
    for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8);
    let x = 12345;
    const gvas = Float64Array.from({ length: 5000 }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return space.base + (x % (span / 8)) * 8;
    });
    const walksBefore = vcpu.counters.walks;
    vcpu.loadMany(gvas, 0, gvas.length, 8);
    const walks = vcpu.counters.walks - walksBefore;
    assert.ok(walks > 4000, `${preset}: ${walks} walks`);
    // Each access the module did not serve whole is an L2 TLB hit, a repeated line or a stop it left to `load`.
    assert.ok(vcpu.servedInModule >= walks, `${preset}: served ${vcpu.servedInModule}, walks ${walks}`);
  }
});

/** A vCPU of `preset` on 4 KiB pages in both dimensions, its first `pages` pages mapped by `load`. */
function mappedVcpu(preset: string, pages: number): { vcpu: VCpu; base: number } {
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const vcpu = new VCpu(machineOf(PRESETS[preset]), space, 0);
  for (let p = 0; p < pages; p++) vcpu.load(space.base + p * 4096, 8);
  return { vcpu, base: space.base };
}

/** A load batch of `x[0]` and a store batch of `x[1]`, `x[2]` on `a`, the same one by one on `b`: the same cycles and counters. */
function loadThenStores(a: VCpu, b: VCpu, x: Float64Array, preset: string): void {
  const many = a.loadMany(x, 0, 1, 8) + a.storeMany(x, 1, 3, 8);
  const one = b.load(x[0], 8) + b.store(x[1], 8) + b.store(x[2], 8);
  assert.equal(many, one, preset);
  assert.deepEqual(a.counters.snapshot(), b.counters.snapshot(), preset);
}

test('a store batch after a load batch that walked to the same line: the line is clean until the store', { skip }, () => {
  for (const preset of Object.keys(PRESETS)) {
    const a = mappedVcpu(preset, 4096);
    const b = mappedVcpu(preset, 4096);
    loadThenStores(a.vcpu, b.vcpu, Float64Array.of(a.base + 64, a.base + 72, a.base + 80), preset);
  }
});

test('without a cache model, a line the batch walked to repeats at its own tier\'s cost after the batch stops', { skip }, () => {
  for (const preset of ['zen2-translation', 'icelake-translation']) {
    const build = () => {
      const mapped = mappedVcpu(preset, 4096);
      // A line of the first tier's first page last, by `load`: the vCPU's repeat state is that tier's.
      mapped.vcpu.load(mapped.base + 128, 8);
      return mapped;
    };
    const a = build();
    const b = build();
    // A walk to a page of the second tier, a repeat in its line (the window), then another line of
    // the page (without a cache model, `load`'s): the window's repeat is settled there at the second tier's cost.
    const page = a.base + 3000 * 4096;
    const x = Float64Array.of(page, page + 8, page + 64);
    const many = a.vcpu.loadMany(x, 0, 3, 8);
    let one = 0;
    for (const gva of x) one += b.vcpu.load(gva, 8);
    assert.equal(many, one, preset);
    assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot(), preset);
    assert.ok(a.vcpu.counters.dataMem[1] > 0, `${preset}: the page is on the second tier`);
    assert.ok(a.vcpu.servedInModule >= 2, `${preset}: the module served the walk and the repeat`);
  }
});

test('a walk to a read-only page in a load batch: a store batch to it faults, as a store after a load does', { skip }, () => {
  for (const preset of Object.keys(PRESETS)) {
    // Copy-on-write: a page written, made read-only and flushed; the load batch walks to it.
    const build = () => {
      const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
      const vcpu = new VCpu(machineOf(PRESETS[preset]), space, 0);
      const page = space.base + 8 * 4096;
      vcpu.store(page, 8);
      if (space.guest.protect(page, false)) vcpu.invalidatePage(page);
      return { vcpu, space, page };
    };
    const a = build();
    const b = build();
    loadThenStores(a.vcpu, b.vcpu, Float64Array.of(a.page + 64, a.page + 128, a.page + 136), preset);
    assert.equal(a.space.guestFaultCount, 2, `${preset}: the first store to the read-only page faults`);
    assert.equal(b.space.guestFaultCount, 2);
  }
});

test('in a beginIndependent bracket, or with another vCPU on the core, a batch is load by load and gives the same', { skip }, () => {
  const build = () => {
    const m = machineOf(CPU_PRESETS.zen2);
    const spaceA = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
    const spaceB = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: 1 << 20 });
    return { a: new VCpu(m, spaceA, 0, 0), b: new VCpu(m, spaceB, 1, 0), base: spaceA.base, baseB: spaceB.base };
  };
  const x = build();
  const y = build();
  const gvas = Float64Array.from({ length: 300 }, (_, i) => x.base + ((i * 7919) % 4096) * 4096 + (i % 64) * 8);
  // Pages mapped first (a first touch faults, which `load` handles), then flushed out of the TLBs by others.
  for (const v of [x, y]) for (let p = 0; p < 8192; p++) v.a.load(v.base + p * 4096, 8);
  x.b.load(x.baseB, 8);
  y.b.load(y.baseB, 8);
  x.a.beginIndependent();
  y.a.beginIndependent();
  let one = 0;
  for (let i = 0; i < 100; i++) one += y.a.load(gvas[i], 8);
  assert.equal(x.a.loadMany(gvas, 0, 100, 8), one);
  assert.equal(x.a.servedInModule, 0, 'nothing in the module inside a bracket');
  x.a.endIndependent();
  y.a.endIndependent();
  // b ran last: the batch's first access switches a in, the rest go to the module.
  x.b.load(x.baseB + 64, 8);
  y.b.load(y.baseB + 64, 8);
  one = 0;
  for (let i = 100; i < 300; i++) one += y.a.load(gvas[i], 8);
  assert.equal(x.a.loadMany(gvas, 100, 300, 8), one);
  assert.ok(x.a.servedInModule > 100, `served ${x.a.servedInModule}`);
  assert.deepEqual(x.a.counters.snapshot(), y.a.counters.snapshot());
  assert.deepEqual(x.b.counters.snapshot(), y.b.counters.snapshot());
});

test('without a cache model, a batch serves a sequential stream\'s run of lines, and a run that load opened or a batch left open carries over', { skip }, () => {
  for (const preset of ['zen2-translation', 'icelake-translation']) {
    const a = mappedVcpu(preset, 16);
    const b = mappedVcpu(preset, 16);
    // Loads 8 bytes apart over three and a half pages, from inside a line of the first.
    const gvas = Float64Array.from({ length: 1800 }, (_, i) => a.base + 4096 + 40 + i * 8);
    // By `load` (the run opens there), a batch, `load` again (the batch's run goes on), a counter read (which settles the run), a batch.
    const parts: [number, number, boolean][] = [[0, 37, false], [37, 1000, true], [1000, 1100, false], [1100, 1500, true], [1500, 1800, true]];
    for (const [from, to, batched] of parts) {
      let mine = 0;
      if (batched) mine = a.vcpu.loadMany(gvas, from, to, 8);
      else for (let i = from; i < to; i++) mine += a.vcpu.load(gvas[i], 8);
      let one = 0;
      for (let i = from; i < to; i++) one += b.vcpu.load(gvas[i], 8);
      assert.equal(mine, one, `${preset}: cycles of [${from}, ${to})`);
      if (to === 1500) assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot(), `${preset}: at ${to}`);
    }
    assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot(), preset);
    assert.ok(a.vcpu.counters.prefetchedLines > 150, `${preset}: ${a.vcpu.counters.prefetchedLines} lines covered by the stream`);
    assert.equal(a.vcpu.servedInModule, 1800 - 137, `${preset}: the module served every access of the batches`);
    // The accesses after the batches see the same state.
    let after = 0;
    for (let i = 0; i < 600; i++) after += a.vcpu.load(a.base + 8 * 4096 + i * 8, 8) - b.vcpu.load(b.base + 8 * 4096 + i * 8, 8);
    assert.equal(after, 0, preset);
    assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot(), preset);
  }
});
