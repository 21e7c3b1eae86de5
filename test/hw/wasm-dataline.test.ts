/**
 * A data line in WebAssembly (wasm/memory.ts `dataLine`, wasm/prefetch.ts): the stream prefetcher
 * against `Core.prefetchCovers` on the same lines, decision by decision and byte by byte of the
 * table, with both sides training one table in turn; and whole machines, the WebAssembly path
 * against the TypeScript path, on streams the prefetcher covers (strides of one and more lines,
 * pages that share an index bucket, repeats, stores) inside and outside `beginIndependent`
 * brackets (the overlap of uncovered misses), with and without caches, with an LLC alone, and
 * with caches so small that dirty victims reach memory of both tiers: every counter and cycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { PageSize } from '../../src/base/units.ts';
import { arena } from '../../src/hw/arena.ts';
import { CPU_PRESETS, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { translator } from '../../src/hw/wasm-translate.ts';
import { ACCESS_PRESETS } from './access-presets.ts';

const wasm = translator();
const SKIP = wasm === null ? 'the WebAssembly access path is not built (AssemblyScript missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

/** The bytes of a core's prefetcher region: header and arrays (see core.ts PF_*). */
function prefetcherBytes(m: Machine, streams: number): Buffer {
  const base = m.cores[0].prefetcherBase;
  const bytes = 64 + 8 * streams + 4 * streams + 4 * streams + (streams <= 32 ? 4096 : 0) + streams;
  // The header's array offsets differ between two regions: compare the scalars and the arrays.
  return Buffer.concat([Buffer.from(arena.memory.buffer, base, 20), Buffer.from(arena.memory.buffer, base + 64, bytes - 64)]);
}

test('the stream prefetcher in WebAssembly decides as Core.prefetchCovers and leaves the same table', { skip: SKIP }, () => {
  for (const streams of [32, 5, 40, 0]) {
    const cpu = { ...CPU_PRESETS.zen2, prefetchStreams: streams };
    const machine = () => new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]));
    const ts = machine();
    const mixed = machine();
    const rng = new Rng(11 + streams);
    // Pages 1024 apart share a bucket of the index; strides of one to three lines, repeats, jumps.
    const pages = Array.from({ length: 48 }, (_, i) => (i % 2 === 0 ? i * 1024 : 5 + i));
    let line = pages[0] * 64;
    let covered = 0;
    for (let i = 0; i < 50_000; i++) {
      const r = rng.nextFloat();
      if (r < 0.05) line = pages[Math.floor(rng.nextFloat() * pages.length)] * 64 + Math.floor(rng.nextFloat() * 64);
      else if (r < 0.1) line += 0;
      else line += 1 + Math.floor(rng.nextFloat() * 3) * (r < 0.6 ? 0 : 1);
      const want = ts.cores[0].prefetchCovers(line);
      const got = rng.nextFloat() < 0.5 ? wasm!.prefetchCovers(mixed.cores[0].prefetcherBase, line) !== 0 : mixed.cores[0].prefetchCovers(line);
      assert.equal(got, want, `streams ${streams}, step ${i}, line ${line}`);
      if (i % 97 === 0) assert.ok(prefetcherBytes(ts, streams).equals(prefetcherBytes(mixed, streams)), `streams ${streams}, step ${i}: the tables differ`);
      if (want) covered++;
    }
    assert.ok(prefetcherBytes(ts, streams).equals(prefetcherBytes(mixed, streams)));
    assert.ok(streams === 0 ? covered === 0 : covered > 5_000, `streams ${streams}: ${covered} lines covered`);
  }
});


/**
 * Streams, strided and plain, loads and stores, some in independent brackets, some with their
 * page's translation invalidated before accesses (a walk whose data line a stream covers), over
 * two tiers; returns every counter and the cycles.
 */
function streams(cpu: CpuPreset, useWasm: boolean, seed: number) {
  const tiers = [resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz), resolveTier(TIER_PRESETS.optane, 1, cpu.clockGHz)];
  const machine = new Machine(cpu, new TierMap(tiers, [1 << 12, 1 << 20]), { cores: 2, wasmAccessPath: useWasm });
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: 1 << 11, hostFrames: 1 << 16 });
  const vcpu = new VCpu(machine, space, 0, 0);
  const rng = new Rng(seed);
  let cycles = 0;
  for (let run = 0; run < 400; run++) {
    const start = space.base + Math.floor(rng.nextFloat() * 4096) * 4096 + Math.floor(rng.nextFloat() * 64) * 64;
    const stride = [8, 64, 128, 192, 4096][Math.floor(rng.nextFloat() * 5)];
    const n = 1 + Math.floor(rng.nextFloat() * 200);
    const write = rng.nextFloat() < 0.3;
    const independent = rng.nextFloat() < 0.4;
    const invalidateEvery = rng.nextFloat() < 0.3 ? 1 + Math.floor(rng.nextFloat() * 4) : 0;
    if (independent) vcpu.beginIndependent();
    for (let i = 0; i < n; i++) {
      if (invalidateEvery > 0 && i % invalidateEvery === 0) vcpu.invalidatePage(start + i * stride);
      cycles += vcpu.access(start + i * stride, 8, write && i % 3 === 0);
    }
    if (independent) vcpu.endIndependent();
  }
  return { cycles, counters: vcpu.counters.snapshot() };
}

test('a data line in WebAssembly gives the TypeScript path\'s counters and cycles on covered streams, overlapped misses and write-backs', { skip: SKIP }, () => {
  for (const [name, cpu] of Object.entries(ACCESS_PRESETS)) {
    for (const seed of [1, 2]) {
      const a = streams(cpu, true, seed);
      assert.deepEqual(a, streams(cpu, false, seed), `${name}, seed ${seed}`);
      assert.ok(a.counters.prefetchedLines > 1000, `${name}: streams are covered (${a.counters.prefetchedLines})`);
      if (name === 'zen2-tiny-caches') assert.ok(a.counters['writebacks.tier0'] > 0 && a.counters['writebacks.tier1'] > 0, 'dirty victims reach both tiers');
    }
  }
});
