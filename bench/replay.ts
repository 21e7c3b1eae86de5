/**
 * Trace replay benchmark: accesses per second a traced program replays in one VM (binary trace
 * reader, interval map, guest allocator, vCPU access path with the full cache model), per CPU
 * second of this process, for stock OSv and UCat guests. Target (issue 16): at least 20 M
 * accesses per second for a TLB-friendly trace. Three traces:
 * - TLB-friendly (the target's): a synthetic server-shaped stream whose data fits the TLBs: each
 *   step is, at 40%, one stack access around a slowly moving stack pointer, or else a run of 1-16
 *   sequential 8-byte accesses inside one of 64 live heap objects of 64 B to 4 KiB (field walks,
 *   small copies), so that 7.6% of the accesses are the stack's; an object is freed and allocated
 *   again now and then;
 * - the memcached capture (memcached under memaslap, src/trace/workloads.ts `small`), when
 *   valgrind is there to capture it once: a real program, and TLB-friendly too (a handful of L1
 *   DTLB misses in 2.9 M accesses);
 * - random heap: trace.ts's synthetic trace, runs at random places of a 64 MiB heap that mostly
 *   miss the TLBs and the caches (for comparison; no target).
 * Each rate is taken after one untimed replay of the same trace in another VM, so that it is the
 * steady state of a long replay rather than the JIT's warm-up. Beside each trace's rates, the
 * reader alone (events per CPU second decoding the file, no replay): the ceiling of every replay
 * of that trace, and the share of its time that is not the model's.
 *
 * Run alone: node --import tsx bench/replay.ts [--accesses N]; or `npm run bench -- --only replay`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TracedProgram } from '../src/apps/traced.ts';
import { fileSource } from '../src/experiments/ucat/prepare.ts';
import { SimHost } from '../src/sim/index.ts';
import { TraceOp } from '../src/trace/types.ts';
import { TraceWriter } from '../src/trace/writer.ts';
import { lcg32, memcachedCapture, writeSyntheticTrace } from './trace.ts';
import type { BenchFigure } from './types.ts';

const MiB = 1024 * 1024;
const STACK_TOP = 0x1ffeffff00;
const HEAP_BASE = 0x55d4a000;
const OBJECTS = 64;
const OBJECT_SPACING = 8192;

/** Write the TLB-friendly synthetic trace of about `accesses` data accesses (a fixed LCG: every run writes the same file). */
export function writeTlbFriendlyTrace(file: string, accesses: number): void {
  const w = new TraceWriter(file, { command: ['synthetic-tlb-friendly'], label: 'synthetic-tlb-friendly', withInstructions: false, meta: {} });
  const rand = lcg32(2463534242);
  const sizes = new Float64Array(OBJECTS);
  const allocate = (k: number): void => {
    sizes[k] = 64 + (rand() % (4096 - 64 + 1));
    w.add(TraceOp.Malloc, HEAP_BASE + k * OBJECT_SPACING, sizes[k], 0);
  };
  for (let k = 0; k < OBJECTS; k++) allocate(k);
  let sp = STACK_TOP;
  let n = 0;
  while (n < accesses) {
    const r = rand();
    if ((r & 4095) === 0) {
      const k = (r >>> 12) % OBJECTS;
      w.add(TraceOp.Free, HEAP_BASE + k * OBJECT_SPACING, 0, 0);
      allocate(k);
    }
    const kind = (r >>> 1) & 3 ? TraceOp.Load : TraceOp.Store;
    if ((r >>> 3) % 10 < 4) {
      if ((r & 0xff00) === 0) sp += (((r >>> 16) & 0xff) - 128) * 8;
      w.add(kind, sp - ((r >>> 8) & 0x1f) * 8, 8, 0);
      n++;
      continue;
    }
    const k = (r >>> 16) % OBJECTS;
    const words = Math.floor(sizes[k] / 8);
    let at = rand() % words;
    const run = Math.min(1 + (rand() & 15), words - at);
    for (let j = 0; j < run; j++, at++, n++) w.add(kind, HEAP_BASE + k * OBJECT_SPACING + at * 8, 8, 0);
  }
  w.close();
}

/** Replay `file` in a fresh VM; returns accesses and events per CPU second of this process. */
function replayOnce(file: string, guest: 'osv' | 'ucat'): { accessRate: number; eventRate: number } {
  const variant = guest === 'ucat' ? 'tierAware' : 'baseline';
  const host = new SimHost({ cpu: 'icelake', host: { tiers: [{ tier: 'ddr4', bytes: 256 * MiB }, { tier: 'optane', bytes: 1024 * MiB }], variant, policy: { hugeBacking: guest === 'ucat' ? 'madvise' : 'always' } } });
  const vm = host.startVm({ memory: [{ tier: 'ddr4', bytes: 64 * MiB }, { tier: 'optane', bytes: 256 * MiB }], guest });
  const p = new TracedProgram(vm.guest.malloc, vm.guest.kernel, vm.vcpu, fileSource(file), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 } });
  const c0 = process.cpuUsage();
  p.step(Infinity);
  const cpu = process.cpuUsage(c0);
  const seconds = (cpu.user + cpu.system) / 1e6;
  return { accessRate: p.counters.accesses / seconds, eventRate: p.counters.events / seconds };
}

/**
 * Events per CPU second that reading `file` alone takes (decoding its blocks, no replay): the
 * ceiling of any replay of it, and the part of a replay's time that is not the model's.
 */
function readOnce(file: string): number {
  const source = fileSource(file);
  const c0 = process.cpuUsage();
  const reader = source.open();
  let events = 0;
  for (let b = reader.next(); b !== null; b = reader.next()) events += b.length;
  reader.close();
  const cpu = process.cpuUsage(c0);
  return events / ((cpu.user + cpu.system) / 1e6);
}

/** Figures of one trace: per guest, accesses per CPU second after a warm-up replay; and the reader alone after a warm-up read. */
function replayFigures(file: string, traceName: string, target: string): BenchFigure[] {
  const figures: BenchFigure[] = (['osv', 'ucat'] as const).map((g) => {
    replayOnce(file, g);
    const { accessRate } = replayOnce(file, g);
    return { name: `replay: ${traceName}, ${g} guest, per CPU second`, value: accessRate / 1e6, unit: 'M accesses/s', target };
  });
  readOnce(file);
  figures.push({ name: `replay: ${traceName}, reader alone, per CPU second`, value: readOnce(file) / 1e6, unit: 'M events/s' });
  return figures;
}

export function benchReplay(accesses = 5_000_000): BenchFigure[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-replay-'));
  try {
    const friendly = path.join(dir, 'tlb-friendly.umt');
    writeTlbFriendlyTrace(friendly, accesses);
    const random = path.join(dir, 'random-heap.umt');
    writeSyntheticTrace(random, accesses);
    return [...replayFigures(friendly, 'TLB-friendly synthetic', '>= 20 (issue 16)'), ...replayFigures(random, 'random-heap synthetic', '')];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchReplayCapture(): Promise<BenchFigure[]> {
  const file = await memcachedCapture('bench/replay.ts');
  if (file === null) return [];
  return replayFigures(file, 'memcached capture', '');
}

export const benchmarks = [
  { group: 'replay', run: () => benchReplay() },
  { group: 'replay', run: () => benchReplayCapture() },
];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--accesses');
  const figures = [...benchReplay(at >= 0 ? Number(process.argv[at + 1]) : 5_000_000), ...(await benchReplayCapture())];
  for (const f of figures) console.log(`${f.name}: ${f.value.toFixed(3)} ${f.unit}`);
}
