/**
 * Host frame benchmark: simulator memory per allocated 4 KiB frame (budget: 16 bytes), buddy
 * allocation and free rates, and the lazy-backing fault rate through a VM's EPT.
 *
 * Memory is measured as the growth of process.memoryUsage() heapUsed + arrayBuffers across the
 * allocation of `frames` 4 KiB frames on a 64 GiB DRAM + 256 GiB NVM host, after forced garbage
 * collections; the array that records the frame numbers is allocated before the baseline so it is
 * not counted.
 *
 * Run alone: node --import tsx bench/host-frames.ts [--frames N]; or `npm run bench -- --only host`.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { pathToFileURL } from 'node:url';
import { GiB, MiB, PageSize, PAGE_4K } from '../src/base/units.ts';
import { AssertionLevel, setAssertionLevel } from '../src/base/assert.ts';
import { HostMemory } from '../src/host/frames.ts';
import { createHostBackend } from '../src/host/backend.ts';

import type { BenchFigure } from './types.ts';

export type BenchResult = BenchFigure;

function collector(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

function used(gc: () => void): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export async function benchHostFrames(options: { frames?: number; repeats?: number } = {}): Promise<BenchResult[]> {
  setAssertionLevel(AssertionLevel.None);
  const n = options.frames ?? 4_000_000;
  const repeats = options.repeats ?? 3;
  const gc = collector();
  const out: BenchResult[] = [];
  const spec = [
    { tier: 'ddr4', bytes: GiB(64) },
    { tier: 'optane', bytes: GiB(256) },
  ];

  // --- bytes per allocated 4 KiB frame --------------------------------------------------------
  const frames = new Int32Array(n);
  const order = new Int32Array(n);
  // A fixed pseudo-random free order (Fisher-Yates with a 32-bit LCG), built before timing.
  for (let i = 0; i < n; i++) order[i] = i;
  let x = 12345;
  for (let i = n - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const allocRates: number[] = [];
  const freeRates: number[] = [];
  let bytesPerFrame = 0;
  let simBytesPerFrame = 0;
  for (let r = 0; r < repeats; r++) {
    const before = used(gc);
    const mem = new HostMemory(spec);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) frames[i] = mem.alloc(i & 1, PageSize.Size4K, i & 1023);
    let t1 = performance.now();
    allocRates.push(n / ((t1 - t0) / 1000));
    const after = used(gc);
    if (r === 0) {
      bytesPerFrame = (after - before) / n;
      simBytesPerFrame = mem.simulatorBytes() / n;
    }
    t0 = performance.now();
    for (let i = 0; i < n; i++) mem.free(frames[order[i]], PageSize.Size4K);
    t1 = performance.now();
    freeRates.push(n / ((t1 - t0) / 1000));
    if (mem.allocatedFrames !== 0) throw new Error('benchmark: frames did not all return');
  }
  out.push({ name: 'host.frames.bytesPerAllocated4k', value: round(bytesPerFrame), unit: 'B/frame', target: '<= 16 (issue 3)' });
  out.push({ name: 'host.frames.stateBytesPerAllocated4k', value: round(simBytesPerFrame), unit: 'B/frame' });
  out.push({ name: 'host.frames.alloc4kRate', value: Math.round(median(allocRates)), unit: 'frames/s' });
  out.push({ name: 'host.frames.free4kRate (random order)', value: Math.round(median(freeRates)), unit: 'frames/s' });

  // --- 2 MiB blocks: steady state over 32 GiB of each tier, repeated ----------------------------
  {
    const mem = new HostMemory(spec);
    const m = GiB(32) / MiB(2);
    const allocs: number[] = [];
    const frees: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      const t0 = performance.now();
      for (let i = 0; i < m; i++) frames[i] = mem.alloc(i & 1, PageSize.Size2M, 1);
      const t1 = performance.now();
      for (let i = 0; i < m; i++) mem.free(frames[i], PageSize.Size2M);
      const t2 = performance.now();
      if (r === 0) continue; // the first round creates the per-frame segments
      allocs.push(m / ((t1 - t0) / 1000));
      frees.push(m / ((t2 - t1) / 1000));
    }
    out.push({ name: 'host.frames.alloc2mRate', value: Math.round(median(allocs)), unit: 'blocks/s' });
    out.push({ name: 'host.frames.free2mRate', value: Math.round(median(frees)), unit: 'blocks/s' });
  }

  for (const r of faultBench(spec, Math.min(n, 1_000_000), gc)) out.push(r);
  return out;
}

/** Lazy backing through one VM's EPT, in a function of its own so earlier phases are garbage. */
function faultBench(spec: { tier: string; bytes: number }[], pages: number, gc: () => void): BenchResult[] {
  const out: BenchResult[] = [];
  // --- lazy backing through the EPT -----------------------------------------------------------
  for (const huge of ['never', 'always'] as const) {
    const before = used(gc);
    const host = createHostBackend({ tiers: spec, variant: 'baseline', policy: { hugeBacking: huge } });
    const v = host.createVm({ memory: [{ tier: 'ddr4', bytes: pages * PAGE_4K }] });
    const step = huge === 'never' ? PAGE_4K : MiB(2);
    const t0 = performance.now();
    let faults = 0;
    for (let a = 0; a < pages * PAGE_4K; a += step) {
      v.eptViolation(a, true);
      faults++;
    }
    const t1 = performance.now();
    const after = used(gc);
    out.push({ name: `host.ept.faultRate (${huge === 'never' ? '4K' : '2M'} backing)`, value: Math.round(faults / ((t1 - t0) / 1000)), unit: 'faults/s' });
    if (huge === 'never') out.push({ name: 'host.ept.bytesPerBacked4k (frames + EPT)', value: round((after - before) / pages), unit: 'B/page' });
    host.destroyVm(v);
  }
  return out;
}

/** For bench/run.ts: the runner repeats each benchmark, so one internal round per run. */
export const benchmarks = [{ group: 'host', run: () => benchHostFrames({ repeats: 1 }) }];

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--frames');
  const frames = i > 0 ? Number(process.argv[i + 1]) : undefined;
  const results = await benchHostFrames({ frames });
  for (const r of results) console.log(`${r.name.padEnd(48)} ${String(r.value).padStart(14)} ${r.unit}`);
}
