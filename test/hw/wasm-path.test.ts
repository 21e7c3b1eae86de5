/**
 * The access path in WebAssembly (wasm/translate.ts, called by VCpu.translateSlow, and
 * wasm/memory.ts's dataLine with wasm/datacache.ts, called by VCpu.dataLine) against the TypeScript path on the same
 * operations: every counter and every cycle must agree. The operations
 * reach what the path does: L1 and L2 hits and misses over a working set larger than the TLBs,
 * paging-structure-cache and nested-TLB hits and misses, walks of both dimensions with 4 KiB and
 * 2 MiB pages and native walks, guest faults and EPT violations on first touch, stores to pages
 * and through read-only entries, INVLPG, VM and full flushes, vCPUs of two VMs sharing a core's
 * tagged structures, and a fault handler that translates other addresses while the faulting walk
 * waits (its output must not be overwritten under it). The data caches: the presets', an LLC
 * without private caches, and caches of a few sets, whose dirty victims leave every level and are
 * written back to memory of both tiers (a data line, its write-backs included, is one call
 * into WebAssembly). The walk references run in WebAssembly
 * with their tier state (wasm/memory.ts): a tier one core streams through gains its second user
 * by another core's walk reference, three tiers, a write-back cost that Math.round rounds up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { translator } from '../../src/hw/wasm-translate.ts';
import { ACCESS_PRESETS } from './access-presets.ts';

const SKIP = translator() === null ? 'the WebAssembly translation path is not built (AssemblyScript missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

const PRESETS = ACCESS_PRESETS;

/** Guest page size and EPT page size (null: native) of each VM's space. */
const SPACES: [PageSize, PageSize | null][] = [
  [PageSize.Size4K, PageSize.Size4K],
  [PageSize.Size2M, PageSize.Size4K],
  [PageSize.Size4K, PageSize.Size2M],
  [PageSize.Size4K, null],
  [PageSize.Size2M, null],
];

interface Op {
  vm: number;
  kind: 'load' | 'store' | 'invlpg' | 'flushVm' | 'flushAll' | 'protect' | 'begin' | 'end';
  /** Page index in a sparse working set: most ops near each other, some far (PSC misses). */
  page: number;
  far: boolean;
  offset: number;
  /** Bytes of a load or store (8 unless given): up to 64, so that accesses cross lines and pages too. */
  size?: number;
}

/**
 * A space whose guest fault handler first touches another page through the same vCPU (as a guest
 * kernel's handler touches its own data), when `reentrant`.
 */
class ReentrantSpace extends FlatSpace {
  vcpu: VCpu | null = null;
  private inHandler = false;
  constructor(
    guest: PageSize,
    host: PageSize | null,
    first: number,
    private readonly reentrant: boolean,
  ) {
    super({ guestPageSize: guest, hostPageSize: host, hostFirstFrame: first, hostFrames: 1 << 22 });
  }
  override guestPageFault(gva: number, write: boolean): number {
    let cycles = super.guestPageFault(gva, write);
    if (this.reentrant && !this.inHandler && this.vcpu !== null) {
      this.inHandler = true;
      cycles += this.vcpu.load(this.base + 0x7f000 + (gva % 4096), 8);
      this.inHandler = false;
    }
    return cycles;
  }
}

function run(ops: Op[], cpu: CpuPreset, spaceKinds: number[], reentrant: boolean, wasm: boolean) {
  const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(TIER_PRESETS.optane, 1, cpu.clockGHz)];
  const machine = new Machine(cpu, new TierMap(tiers, [4096, 1 << 26]), { cores: 2, wasmAccessPath: wasm });
  const vms = spaceKinds.map((k, v) => {
    const [guest, host] = SPACES[k];
    const space = new ReentrantSpace(guest, host, v * (1 << 22), reentrant);
    const vcpu = new VCpu(machine, space, v, v === 2 ? 1 : 0);
    space.vcpu = vcpu;
    return { space, vcpu };
  });
  const cycles: number[] = [];
  for (const o of ops) {
    const { space, vcpu } = vms[o.vm];
    // Near pages spread over 2 MiB steps too, so 2 MiB spaces miss their TLBs as well.
    const page = o.far ? o.page * 262144 + 17 : (o.page % 64) + Math.floor(o.page / 64) * 512;
    const gva = space.base + page * 4096 + o.offset;
    if (o.kind === 'invlpg') vcpu.invalidatePage(gva);
    else if (o.kind === 'flushVm') vcpu.flushVm();
    else if (o.kind === 'flushAll') vcpu.flushAll();
    // Independent accesses overlap their misses: the overlap batch a walk reference ends must be
    // ended before the data line that follows the translation is charged.
    else if (o.kind === 'begin') vcpu.beginIndependent();
    else if (o.kind === 'end') vcpu.endIndependent();
    else if (o.kind === 'protect') {
      // Make a mapped page read-only in the guest table, as copy-on-write does, then flush it.
      if (space.guest.protect(gva, false)) vcpu.invalidatePage(gva);
    } else cycles.push(vcpu.access(gva, o.size ?? 8, o.kind === 'store'));
  }
  return { cycles, counters: vms.map((v) => v.vcpu.counters.snapshot()), faults: vms.map((v) => [v.space.guestFaultCount, v.space.eptFaultCount]) };
}

test('the WebAssembly translation path gives the TypeScript path\'s counters and cycles', { skip: SKIP }, async () => {
  const fc = await import('fast-check');
  const op = fc.record({
    vm: fc.constantFrom(0, 0, 0, 1, 2),
    kind: fc.constantFrom('load', 'load', 'load', 'load', 'store', 'store', 'invlpg', 'flushVm', 'flushAll', 'protect', 'begin', 'end'),
    page: fc.integer({ min: 0, max: 3000 }),
    far: fc.boolean(),
    offset: fc.integer({ min: 0, max: 4095 }),
    size: fc.constantFrom(8, 8, 1, 4, 16, 64),
  }) as unknown as import('fast-check').Arbitrary<Op>;
  const kind = fc.integer({ min: 0, max: SPACES.length - 1 });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), fc.constantFrom(...Object.keys(PRESETS)), fc.tuple(kind, kind, kind), fc.boolean(), (ops, preset, kinds, reentrant) => {
      const cpu = PRESETS[preset];
      assert.deepEqual(run(ops, cpu, kinds, reentrant, true), run(ops, cpu, kinds, reentrant, false));
    }),
    { numRuns: 120, seed: 7 },
  );
});

test('one call for a translation and its data line: a line that repeats the previous access\'s after the fast page closed', { skip: SKIP }, () => {
  // INVLPG of another page closes the fast page and keeps the line: the next access to the line
  // translates by an L1 hit (no walk reference) and is a repeat of the line, unless it is a store
  // to a clean line; after INVLPG of the page itself the walk's references make the line new. The
  // call's two parts are taken in order: the translation's (the walk ends the overlap batch), then the line's.
  const at = (vm: number, kind: Op['kind'], page: number, offset: number): Op => ({ vm, kind, page, far: false, offset });
  const ops: Op[] = [];
  for (const [first, second] of [['load', 'load'], ['load', 'store'], ['store', 'store'], ['store', 'load']] as const) {
    ops.push(at(0, first, 5, 0), at(0, 'invlpg', 9, 0), at(0, second, 5, 8));
    ops.push(at(0, first, 6, 64), at(0, 'invlpg', 6, 0), at(0, second, 6, 72));
    ops.push(at(0, first, 7, 128), at(1, 'load', 7, 128), at(0, second, 7, 136));
    // A walk's miss opens an overlap batch (after its references ended the one before) that the
    // next miss of the same page joins.
    // The pages are mapped first (a fault's walk takes the other way), then flushed from the TLBs.
    ops.push(at(0, 'load', 300, 0), at(0, 'load', 900, 0), at(0, 'flushAll', 0, 0));
    ops.push(at(0, 'begin', 0, 0), at(0, first, 300, 64), at(0, second, 300, 2048), at(0, first, 900, 72), at(0, second, 900, 1032), at(0, 'end', 0, 0));
  }
  for (const preset of Object.keys(PRESETS)) {
    for (let k = 0; k < SPACES.length; k++) {
      const a = run(ops, PRESETS[preset], [k, k], false, true);
      assert.deepEqual(a, run(ops, PRESETS[preset], [k, k], false, false), `${preset}, space kind ${k}`);
    }
  }
});

test('a walk to a read-only page leaves a fast page that a store does not use: the store faults on both paths', { skip: SKIP }, () => {
  // Copy-on-write: the page is mapped and written, made read-only and flushed; a load walks to it
  // (the walk's L1 fill becomes the fast page, read-only), and a store to it then faults.
  const at = (kind: Op['kind'], page: number, offset: number): Op => ({ vm: 0, kind, page, far: false, offset });
  const ops: Op[] = [];
  for (let page = 40; page < 48; page++) ops.push(at('store', page, 0), at('protect', page, 0), at('load', page, 64), at('store', page, 128), at('store', page, 192));
  for (const preset of Object.keys(PRESETS)) {
    for (let k = 0; k < SPACES.length; k++) {
      const a = run(ops, PRESETS[preset], [k], false, true);
      assert.deepEqual(a, run(ops, PRESETS[preset], [k], false, false), `${preset}, space kind ${k}`);
      // Eight first stores (the guest maps the pages; 2 MiB guest pages: one), then eight write faults of the read-only pages.
      assert.equal(a.faults[0][0], (SPACES[k][0] === PageSize.Size4K ? 8 : 1) + 8, `${preset}, space kind ${k}: guest faults`);
    }
  }
});

test('the WebAssembly translation path: a long random stream over 4 GiB with every structure in play', { skip: SKIP }, () => {
  const ops: Op[] = [];
  let x = 12345;
  for (let i = 0; i < 30_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    ops.push({ vm: x % 5 === 0 ? 1 : 0, kind: x % 97 === 0 ? 'invlpg' : x % 7 === 0 ? 'store' : 'load', page: (x >>> 8) % 4000, far: (x & 64) !== 0, offset: (x >>> 3) & 4088 });
  }
  for (const preset of ['zen2', 'icelake', 'zen2-llc-only', 'zen2-tiny-caches']) {
    const a = run(ops, PRESETS[preset], [0, 2, 3], false, true);
    assert.deepEqual(a, run(ops, PRESETS[preset], [0, 2, 3], false, false));
    assert.ok(a.counters[0].walks > 1000 && a.counters[0].pscHits > 0 && a.counters[0].ntlbHits > 0, 'the stream walks and hits both caches of the walker');
    if (preset === 'zen2-tiny-caches') {
      const c = a.counters[0];
      assert.ok(c['writebacks.tier0'] > 100 && c['writebacks.tier1'] > 100, 'dirty victims reach memory of both tiers');
    }
  }
});

test('addresses outside the WebAssembly walk\'s range ([0, 2^53)) are translated as the TypeScript path does', { skip: SKIP }, () => {
  // Negative and 2^53 and above: the module takes page numbers as shifts of an exact integer,
  // which are floors only for such addresses, so VCpu translates these in TypeScript on a
  // machine with the module too; translations inside the range, before and after, use the module.
  const outcome = (wasm: boolean) => {
    const cpu = CPU_PRESETS.zen2;
    const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]), { wasmAccessPath: wasm });
    const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
    const vcpu = new VCpu(machine, space, 0);
    const cycles: number[] = [];
    for (const gva of [space.base, -8192 + 40, -3 * 4096, 2 ** 53, 2 ** 53 + 4096 + 8, space.base + 3 * 4096, -8192 + 48, 2 ** 53]) cycles.push(vcpu.load(gva, 8), vcpu.store(gva + 16, 8));
    return { cycles, counters: vcpu.counters.snapshot() };
  };
  const a = outcome(true);
  assert.ok(a.counters.walks >= 6 && a.counters.guestFaults >= 5, 'the addresses walk and fault');
  assert.deepEqual(a, outcome(false));
});

test('the WebAssembly path refuses a line beyond the modelled memory as the TypeScript path does', { skip: SKIP }, () => {
  // A one-set L1D: its tags are whole line numbers, so a line at 2^30 (64 GiB) exceeds its 30 bits.
  const cpu: CpuPreset = { ...CPU_PRESETS.zen2, name: 'zen2-one-set-l1d', l1d: { bytes: 512, ways: 8, latency: 4 } };
  const outcome = (wasm: boolean) => {
    const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)];
    const machine = new Machine(cpu, new TierMap(tiers, [2 ** 26]), { wasmAccessPath: wasm });
    const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: null, hostFirstFrame: 2 ** 24 - 2, hostFrames: 16 });
    const vcpu = new VCpu(machine, space, 0);
    let error = '';
    let served = 0;
    try {
      for (; served < 8; served++) vcpu.access(space.base + served * 4096, 8, true);
    } catch (e) {
      error = (e as Error).message;
    }
    return { error, served, counters: vcpu.counters.snapshot() };
  };
  const a = outcome(true);
  assert.match(a.error, /^l1d: line 1073741824 is beyond the modelled host memory/);
  assert.deepEqual(a, outcome(false));
});

/**
 * Tier state shared between cores and changed by walk references in WebAssembly: core 0 streams
 * through a tier whose bandwidth is the bound of a covered line (so its cost depends on how many
 * cores use the tier), while core 1's first use of that tier is a walk reference (its EPT root
 * sits in the tier, its data in the next one), and later its write-backs. Three tiers, with and
 * without a cache model.
 */
test('the WebAssembly path: a tier first used by a walk reference on one core while another core streams through it, three tiers', { skip: SKIP }, () => {
  // A tier of little bandwidth: a covered line costs its share of it, which halves with a second user.
  const narrow = { ...TIER_PRESETS.optane, name: 'narrow', hostReadGBps: 2, hostWriteGBps: 1 };
  const runStreams = (cpu: CpuPreset, wasm: boolean) => {
    // The third tier's write-back of one user costs exactly half a cycle, which Math.round takes up (f64.nearest would not).
    const third = { ...resolveTier(TIER_PRESETS.cxl, 2, cpu.clockGHz), writeBytesPerCycle: 128 };
    const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(narrow, 1, cpu.clockGHz), third];
    const machine = new Machine(cpu, new TierMap(tiers, [1 << 16, 1 << 16, 1 << 24]), { cores: 2, wasmAccessPath: wasm });
    // The streamer's frames, tables and data, are all in the narrow tier.
    const streamer = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: null, hostFirstFrame: 1 << 16, hostFrames: 1 << 15 });
    // The other VM's first frames (its EPT's upper tables) are the narrow tier's last ones, the rest the third tier's.
    const other = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: (1 << 17) - 3, hostFrames: 1 << 20 });
    const a = new VCpu(machine, streamer, 0, 0);
    const b = new VCpu(machine, other, 1, 1);
    let x = 99;
    let cycles = 0;
    let streamed = 0;
    const usersSeen: number[] = [];
    for (let i = 0; i < 12_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      if (i < 3000 || x % 4 !== 0) cycles += a.load(streamer.base + 8 * streamed++, 8);
      else cycles += b.access(other.base + ((x >>> 4) % 20_000) * 4096 + (x & 4088), 8, ((x >>> 2) & 3) === 1);
      if (i % 1000 === 0) usersSeen.push(machine.tierUsers[1]);
    }
    return { cycles, usersSeen, counters: [a.counters.snapshot(), b.counters.snapshot()] };
  };
  for (const preset of ['zen2-translation', 'zen2', 'zen2-tiny-caches']) {
    const cpu = PRESETS[preset];
    const w = runStreams(cpu, true);
    assert.deepEqual(w, runStreams(cpu, false), preset);
    const [sa, sb] = w.counters;
    assert.deepEqual([w.usersSeen[0], w.usersSeen.at(-1)], [1, 2], `${preset}: the narrow tier gains its second user while the stream runs`);
    assert.ok(sb['walkRefsMem.tier1'] > 0 && sb['walkRefsMem.tier2'] > 0 && sb['dataMem.tier2'] > 0, `${preset}: the other VM walks through two tiers and reads the third`);
    if (preset === 'zen2-translation') assert.ok(sa.prefetchedLines > 1000, 'the streamer\'s lines are covered');
    if (preset === 'zen2-tiny-caches') assert.ok(sb['writebacks.tier2'] > 0 && sb.writebackCycles >= sb['writebacks.tier2'], 'the other VM writes back to the third tier, at a cycle each');
  }
});
