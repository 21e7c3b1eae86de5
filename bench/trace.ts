/**
 * Trace reader benchmark: events per second streamed from the binary format (target: at least
 * 20 M/s), on two traces:
 * - a real capture: memcached under memaslap, the `small` window of src/trace/workloads.ts
 *   (captured once, about a minute, then taken from the trace cache); skipped without valgrind;
 * - a synthetic trace that is harder to compress than real ones: stack accesses around a slowly
 *   moving stack pointer and short runs at random places of a 64 MiB heap, an allocation event
 *   now and then (a fixed 32-bit LCG, so every run writes the same file). Its writer rate is
 *   measured too.
 * Rates are given per wall-clock second and per second of this process's CPU time; on a shared
 * machine the second is the fairer figure.
 *
 * Run alone: node --import tsx bench/trace.ts [--accesses N]; or `npm run bench -- --only trace`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openTrace } from '../src/trace/reader.ts';
import { captureWorkload } from '../src/trace/workloads.ts';
import { TraceOp } from '../src/trace/types.ts';
import { TraceWriter } from '../src/trace/writer.ts';
import type { BenchFigure } from './types.ts';

const STACK_TOP = 0x1ffeffff00;
const HEAP_BASE = 0x4a5b000;

/** A fixed 32-bit LCG (Numerical Recipes' constants): the synthetic traces are the same in every run. */
export function lcg32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

/** Write a synthetic trace of `accesses` data accesses; returns the writer's events per second. */
export function writeSyntheticTrace(file: string, accesses: number): number {
  const w = new TraceWriter(file, { command: ['synthetic'], label: 'synthetic', withInstructions: false, meta: {} });
  const rand = lcg32(12345);
  let sp = STACK_TOP;
  let heapCursor = HEAP_BASE;
  let run = 0;
  const t0 = performance.now();
  for (let i = 0; i < accesses; i++) {
    const r = rand();
    if ((r & 1023) === 0) {
      const bytes = 16 + (r >>> 22);
      w.add(TraceOp.Malloc, HEAP_BASE + (rand() % (1 << 24)), bytes, 0);
    }
    const kind = r & 3 ? TraceOp.Load : TraceOp.Store;
    if ((r >>> 2) % 10 < 4) {
      if ((r & 0xff00) === 0) sp += (((r >>> 16) & 0xff) - 128) * 8;
      w.add(kind, sp - ((r >>> 8) & 0x1f) * 8, 8, 0);
    } else {
      if (run === 0) {
        heapCursor = HEAP_BASE + (rand() % (1 << 26));
        run = 1 + (rand() & 31);
      }
      w.add(kind, heapCursor, 1 << (rand() & 3), 0);
      heapCursor += 8;
      run--;
    }
  }
  w.close();
  return accesses / ((performance.now() - t0) / 1000);
}

/**
 * Stream the whole trace; returns events per wall-clock second and per second of this process's
 * CPU time (the fairer figure on a shared machine), and a checksum so nothing is optimised away.
 */
export function readAll(file: string): { rate: number; cpuRate: number; events: number; check: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = openTrace(file);
  let events = 0;
  let check = 0;
  for (let b = r.next(); b !== null; b = r.next()) {
    events += b.length;
    check += b.addr[b.length - 1] + b.size[0];
  }
  r.close();
  const cpu = process.cpuUsage(c0);
  return { rate: events / ((performance.now() - t0) / 1000), cpuRate: events / ((cpu.user + cpu.system) / 1e6), events, check };
}

export function benchSyntheticTrace(accesses = 10_000_000): BenchFigure[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-trace-'));
  try {
    const file = path.join(dir, 'synthetic.umt');
    const writeRate = writeSyntheticTrace(file, accesses);
    const bytes = fs.statSync(file).size;
    const { rate, cpuRate, events } = readAll(file);
    return [
      { name: 'trace: read rate, synthetic', value: rate / 1e6, unit: 'M events/s', target: '>= 20' },
      { name: 'trace: read rate per CPU second, synthetic', value: cpuRate / 1e6, unit: 'M events/s', target: '>= 20' },
      { name: 'trace: write rate, synthetic', value: writeRate / 1e6, unit: 'M events/s', target: '' },
      { name: 'trace: bytes per event, synthetic', value: bytes / events, unit: 'B', target: '' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The `small` memcached capture (captured once, then from the trace cache), or null with a note on
 * stderr naming `bench` when it cannot be had (no valgrind): then only synthetic traces are measured.
 */
export async function memcachedCapture(bench: string): Promise<string | null> {
  try {
    return (await captureWorkload('memcached+memslap', { size: 'small' })).file;
  } catch (e) {
    process.stderr.write(`${bench}: no memcached capture (${(e as Error).message}); only synthetic traces are measured\n`);
    return null;
  }
}

export async function benchCapturedTrace(): Promise<BenchFigure[]> {
  const file = await memcachedCapture('bench/trace.ts');
  if (file === null) return [];
  const { rate, cpuRate, events } = readAll(file);
  return [
    { name: 'trace: read rate, memcached capture', value: rate / 1e6, unit: 'M events/s', target: '>= 20' },
    { name: 'trace: read rate per CPU second, memcached capture', value: cpuRate / 1e6, unit: 'M events/s', target: '>= 20' },
    { name: 'trace: bytes per event, memcached capture', value: fs.statSync(file).size / events, unit: 'B', target: '' },
  ];
}

export const benchmarks = [
  { group: 'trace', run: () => benchCapturedTrace() },
  { group: 'trace', run: () => benchSyntheticTrace() },
];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--accesses');
  const n = at >= 0 ? Number(process.argv[at + 1]) : 10_000_000;
  for (const f of [...(await benchCapturedTrace()), ...benchSyntheticTrace(n)]) console.log(`${f.name}: ${f.value.toFixed(3)} ${f.unit}`);
}
