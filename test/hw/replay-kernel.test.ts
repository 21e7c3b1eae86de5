/**
 * The replay kernel (src/hw/wasm/replay.ts, called through `VCpu.replayEvents`): its block layout
 * agrees with src/hw/replay-block.ts, it serves loads, stores and fetches exactly as `load` and
 * `store` do (every counter and every cycle, fuzzed over page sizes, presets and address mixes),
 * and it serves nothing where its cases are not the vCPU's whole state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS, translationOnly, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import * as K from '../../src/hw/replay-block.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { translator } from '../../src/hw/wasm-translate.ts';

const haveModule = translator() !== null;
const skip = haveModule ? false : 'the WebAssembly module needs asc (npm install)';
const PAGE = 4096;
const OP_LOAD = 1;
const OP_STORE = 2;

test('the kernel block layout of replay-block.ts is the one wasm/replay.ts reads', () => {
  const source = fs.readFileSync(new URL('../../src/hw/wasm/replay.ts', import.meta.url), 'utf8');
  const declared = new Map([...source.matchAll(/^const (K_\w+): usize = (\d+);/gm)].map((m) => [m[1], Number(m[2])]));
  assert.ok(declared.size > 40, 'the module declares its slots');
  const exported = K as unknown as Record<string, number>;
  for (const [name, bytes] of declared) {
    if (name in exported) assert.equal(exported[name] * 8, bytes, `${name}: f64 slot`);
    else assert.equal(K.POINTER_SLOTS[name as keyof typeof K.POINTER_SLOTS] * 4, bytes, `${name}: pointer slot`);
  }
});

function machineOf(cpu: CpuPreset, cores = 1): Machine {
  return new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]), { cores });
}

/** A block whose data-page cache maps each program page of `pages` to the same guest page (delta 0). */
function blockFor(pages: number[]): K.ReplayBlock {
  const b = new K.ReplayBlock();
  const slots = 256;
  const page = b.f64Array(slots).fill(-1);
  const delta = b.f64Array(slots);
  for (const p of pages) page[p & (slots - 1)] = p;
  const objectPage = b.f64Array(1024).fill(-1);
  b.setCaches({ objectPage, objectLo: b.f64Array(1024), objectHi: b.f64Array(1024), objectDelta: b.f64Array(1024), objectId: b.i32Array(1024), dataPage: page, dataDelta: delta, textPage: b.f64Array(slots).fill(-1), textDelta: b.f64Array(slots) });
  return b;
}

interface Access {
  gva: number;
  size: number;
  store: boolean;
}

/**
 * Replay `accesses` through the kernel (calls of up to BLOCK_EVENTS, `load`/`store` for any event it
 * leaves). With `object`, the replay's found object spans every address (delta 0), so that the
 * kernel's loop over a run in the object and the line window serves them; else the data-page cache does.
 */
function viaKernel(vcpu: VCpu, block: K.ReplayBlock, accesses: Access[], object = false): { cycles: number; served: number } {
  let cycles = 0;
  let served = 0;
  for (let from = 0; from < accesses.length; from += K.BLOCK_EVENTS) {
    const part = accesses.slice(from, from + K.BLOCK_EVENTS);
    const op = Uint8Array.from(part, (a) => (a.store ? OP_STORE : OP_LOAD));
    block.copyEvents(op, Float64Array.from(part, (a) => a.gva), Float64Array.from(part, (a) => a.size), new Float64Array(part.length), 0, part.length);
    for (let i = 0; i < part.length; ) {
      const k = block.k;
      k[K.K_OBJ_LO] = object ? 0 : -1;
      k[K.K_OBJ_HI] = object ? 2 ** 52 : -1;
      k[K.K_OBJ_DELTA] = 0;
      k[K.K_FOUND_ID] = -1;
      k[K.K_CYCLES] = cycles;
      const stop = vcpu.replayEvents(block, i, part.length);
      if (stop > i) cycles = k[K.K_CYCLES];
      served += stop - i;
      if (stop >= part.length) break;
      const a = part[stop];
      cycles += a.store ? vcpu.store(a.gva, a.size) : vcpu.load(a.gva, a.size);
      i = stop + 1;
    }
  }
  return { cycles, served };
}

function direct(vcpu: VCpu, accesses: Access[]): number {
  let cycles = 0;
  for (const a of accesses) cycles += a.store ? vcpu.store(a.gva, a.size) : vcpu.load(a.gva, a.size);
  return cycles;
}

test('the kernel serves loads and stores as load and store do: every counter and cycle (fuzzed)', { skip }, () => {
  // Small caches besides the presets: the test's lines overflow every level, so a wrong dirty bit shows in write-backs.
  const small: CpuPreset = {
    ...CPU_PRESETS.zen2,
    name: 'small-caches',
    l1d: { bytes: 4096, ways: 4, latency: 4 },
    l2: { bytes: 8192, ways: 4, latency: 12 },
    llc: { bytes: 16384, ways: 4, latency: 39, scope: 'per-cluster', clusterCores: 4 },
  };
  const presets = { icelake: CPU_PRESETS.icelake, zen2: CPU_PRESETS.zen2, small };
  let served = 0;
  let total = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...(Object.keys(presets) as (keyof typeof presets)[])),
      fc.constantFrom(PageSize.Size4K, PageSize.Size2M),
      fc.boolean(),
      fc.array(fc.record({ page: fc.integer({ min: 0, max: 39 }), line: fc.integer({ min: 0, max: 63 }), at: fc.integer({ min: 0, max: 63 }), size: fc.constantFrom(1, 4, 8, 16), stores: fc.integer({ min: 0, max: 4095 }), run: fc.integer({ min: 1, max: 12 }) }), { minLength: 1, maxLength: 300, size: 'max' }),
      (preset, pageSize, object, steps) => {
        const build = () => {
          const m = machineOf(presets[preset]);
          const space = new FlatSpace({ guestPageSize: pageSize, hostPageSize: pageSize });
          return { vcpu: new VCpu(m, space, 0), base: space.base };
        };
        const a = build();
        const b = build();
        // Forty pages a 2 MiB page and a 4 KiB page apart (several sharing an L1 DTLB set), runs in a line and across lines.
        const accesses: Access[] = [];
        for (const s of steps) {
          for (let r = 0; r < s.run; r++) {
            const gva = a.base + s.page * (2 ** 21 + PAGE) + s.line * 64 + ((s.at + r * s.size) % 64);
            accesses.push({ gva, size: s.size, store: ((s.stores >> r) & 1) === 1 });
          }
        }
        const pages = [...new Set(accesses.map((x) => Math.floor(x.gva / PAGE)))];
        const k = viaKernel(a.vcpu, blockFor(pages), accesses, object);
        const d = direct(b.vcpu, accesses);
        assert.equal(k.cycles, d);
        assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot());
        served += k.served;
        total += accesses.length;
      },
    ),
    { numRuns: 60 },
  );
  assert.ok(served > total / 3, `the kernel served ${served} of ${total} accesses`);
});

test('the kernel serves nothing while another vCPU runs on the core, nor without an LLC', { skip }, () => {
  const m = machineOf(CPU_PRESETS.zen2);
  const spaceA = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const spaceB = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: 1 << 20 });
  const a = new VCpu(m, spaceA, 0, 0);
  const b = new VCpu(m, spaceB, 1, 0);
  const block = blockFor([Math.floor(spaceA.base / PAGE)]);
  const loads = Array.from({ length: 8 }, (_, i) => ({ gva: spaceA.base + i * 8, size: 8, store: false }));
  a.load(spaceA.base, 8);
  b.load(spaceB.base, 8);
  block.copyEvents(new Uint8Array(8).fill(OP_LOAD), Float64Array.from(loads, (x) => x.gva), new Float64Array(8).fill(8), new Float64Array(8), 0, 8);
  assert.equal(a.replayEvents(block, 0, 8), 0, 'b is on the core');
  a.load(spaceA.base, 8); // switches a in
  assert.equal(a.replayEvents(block, 0, 8), 8);

  const flat = machineOf(translationOnly(CPU_PRESETS.zen2));
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const v = new VCpu(flat, space, 0);
  v.load(space.base, 8);
  assert.equal(v.replayEvents(blockFor([Math.floor(space.base / PAGE)]), 0, 8), 0, 'no data cache model');
});

test('a change of page to a read-only page the L1 DTLB holds: the kernel leaves a store to it to load/store, and it faults', { skip }, () => {
  for (const pageSize of [PageSize.Size4K, PageSize.Size2M]) {
    const span = pageSize === PageSize.Size4K ? PAGE : 2 ** 21;
    // Copy-on-write: two pages written, the second made read-only and flushed, then loaded, so that
    // the L1 DTLB holds it read-only; the replay goes from page to page and stores to the second.
    const build = () => {
      const space = new FlatSpace({ guestPageSize: pageSize, hostPageSize: pageSize });
      const vcpu = new VCpu(machineOf(CPU_PRESETS.icelake), space, 0);
      const first = space.base;
      const second = space.base + 4 * span;
      vcpu.store(first, 8);
      vcpu.store(second, 8);
      if (space.guest.protect(second, false)) vcpu.invalidatePage(second);
      vcpu.load(second, 8);
      return { vcpu, space, first, second };
    };
    const a = build();
    const b = build();
    // A load that makes the read-only page the fast page by an L1 hit, then a store to another line of it.
    const accesses: Access[] = [
      { gva: a.first + 64, size: 8, store: false },
      { gva: a.second + 128, size: 8, store: false },
      { gva: a.second + 192, size: 8, store: true },
      { gva: a.first + 256, size: 8, store: false },
      { gva: a.second + 320, size: 8, store: true },
    ];
    const pages = [...new Set(accesses.map((x) => Math.floor(x.gva / PAGE)))];
    const faultsBefore = a.space.guestFaultCount;
    const k = viaKernel(a.vcpu, blockFor(pages), accesses);
    assert.equal(k.cycles, direct(b.vcpu, accesses));
    assert.deepEqual(a.vcpu.counters.snapshot(), b.vcpu.counters.snapshot());
    assert.equal(a.space.guestFaultCount, b.space.guestFaultCount);
    assert.equal(a.space.guestFaultCount - faultsBefore, 1, 'the first store to the read-only page faults');
    assert.ok(k.served >= 2, `the kernel served the loads after a change of page (${k.served})`);
  }
});
