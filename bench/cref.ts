/**
 * The access path against its C reference (bench/cref/ref.c), interleaved in one process tree:
 * per round the C program runs as a child process, then ours in this process, on the same access
 * stream, for
 *   (a) sequential 8-byte loads over 64 MiB (20 M accesses)
 *   (b) uniform random 8-byte loads over 4 GiB (2 M accesses, the Rng(42) stream of hw-access.ts)
 *   (c) the same over 256 MiB, whose leaf tables (256 KiB per dimension) stay in the simulating
 *       host's caches: the same walk without the host's misses on its leaf entries, so (b) against
 *       (c) separates what a side spends waiting on memory from what it computes
 * with Zen 2's translation structures, nested 4K/4K and no data cache (`translationOnly`), after
 * a pass that maps every page. The ratio is our speed over C's, per round.
 *
 * Before a ratio is quoted the counters of the timed region (TLB hits and misses, walks, walk
 * references per dimension, PSC and nested-TLB hits, cycles) are compared: the C program makes
 * the same decisions as ours, so the two do the same work. A mismatch is reported on stderr and
 * the ratio is still printed (it then compares different work).
 *
 * Also per round, for the issue's third target: (b) with the full cache model (L1D, L2, LLC).
 * The order within a round: sequential (C, ours, ours through `loadMany`, WebAssembly), (b) likewise
 * without the batch, (c) likewise, (b) with caches, then ours on (b), (c) and (b) with caches again
 * through `loadMany`, the batch of accesses (for (a), 4,096 addresses a call, written into a buffer
 * in the timed loop). That target is a rate, not a ratio, so it moves with the simulating host's
 * speed on the day; beside it, the same rate over the C program's on (b) in the same round
 * (`perCRandom`), which compares across runs on a faster or slower machine. Before the sides, the
 * host probe (bench/cref/probe.c: the core's clock and a pointer chase's latency over 256 MiB) says
 * whether either moved on a day when the rates move (the ratios move between hosts too:
 * docs/machine.md, issue 16's tenth round).
 *
 * And per round a third side, the same access path in WebAssembly (bench/cref/wasm/ref.ts,
 * AssemblyScript: ref.c's decisions with this model's recency-ordered LRU sets and line window),
 * run after ours in a child process of its own (`--wasm-child`; in this process the collection
 * of its memory would run on V8's threads during our next timed loop and count as our CPU time),
 * its counters compared with the C program's too: what a WebAssembly access path could give.
 *
 * All three sides keep their tables in memory advised for 2 MiB pages (ours in the arena,
 * src/base/hugepages.ts; the C program in reservations it advises itself; the WebAssembly side in
 * a memory made as the arena's), or all on 4 KiB pages with UNIMEM_HUGEPAGES=0, so a ratio
 * compares the models and not the simulating host's page sizes.
 *
 * The C program is built with gcc -O2 into build/cref/ (git-ignored), once per content of ref.c;
 * the WebAssembly module with AssemblyScript's asc (a dev dependency) into build/native/, once per
 * content of its source (src/base/asc.ts).
 * Run alone: node --import tsx bench/cref.ts [--rounds 3]; or `npm run bench -- --only cref`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureAscModule } from '../src/base/asc.ts';
import { GccFailure, gccInto } from '../src/base/gcc.ts';
import { contentHash } from '../src/base/hash.ts';
import { wasmApi } from '../src/base/wasm-api.ts';
import { Rng } from '../src/base/rng.ts';
import { median } from '../src/base/stats.ts';
import { PageSize } from '../src/base/units.ts';
import { Arena } from '../src/hw/arena.ts';
import { diffSnapshots } from '../src/hw/counters.ts';
import { CPU_PRESETS, translationOnly, type CpuPreset } from '../src/hw/cpu.ts';
import { FlatSpace } from '../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../src/hw/tiers.ts';
import { Machine, VCpu } from '../src/hw/vcpu.ts';
import type { BenchFigure } from './types.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SOURCE = path.join(HERE, 'cref', 'ref.c');
const PROBE_SOURCE = path.join(HERE, 'cref', 'probe.c');
const CFLAGS = ['-O2', '-std=c11', '-Wall', '-Wextra'];

export const SEQUENTIAL_ACCESSES = 20_000_000;
export const RANDOM_ACCESSES = 2_000_000;
const SEQUENTIAL_SPAN = 64 * 1024 * 1024;
/** The random stream's region, as a power of two (32: 4 GiB), and the small one of (c). */
const RANDOM_SPAN_BITS = 32;
const SMALL_SPAN_BITS = 28;
const RANDOM_SEED = 42;

/** Counters both sides report for the timed region, under ref.c's names. */
const COMPARED = [
  'accesses',
  'l1TlbHits',
  'l1TlbMisses',
  'l2TlbHits',
  'l2TlbMisses',
  'walks',
  'walkRefs',
  'walkRefsGuest',
  'walkRefsHost',
  'pscHits',
  'pscMisses',
  'ntlbHits',
  'ntlbMisses',
  'guestFaults',
  'eptViolations',
  'dataMem',
  'translationCycles',
  'walkCycles',
  'dataCycles',
] as const;
type Counters = Record<(typeof COMPARED)[number], number>;

export interface Side {
  /** Accesses per second of wall time, and per second of the process's CPU time (user + system). */
  accessesPerSec: number;
  accessesPerCpuSec: number;
  counters: Counters;
}

/** Path of the C reference binary, built on first use (and again whenever ref.c changes). */
export function buildReference(): string {
  return buildC(SOURCE, 'ref');
}

/** Path of the host probe (bench/cref/probe.c), built like the reference. */
export function buildProbe(): string {
  return buildC(PROBE_SOURCE, 'probe');
}

/** Build a one-file C program with gcc into build/cref/NAME-DIGEST, once per content of the file. */
function buildC(source: string, name: string): string {
  const src = fs.readFileSync(source);
  const digest = contentHash(Buffer.concat([src, Buffer.from(CFLAGS.join(' '))]));
  const dir = path.join(ROOT, 'build', 'cref');
  const bin = path.join(dir, `${name}-${digest}`);
  if (fs.existsSync(bin)) return bin;
  try {
    gccInto(bin, [...CFLAGS, source]);
  } catch (e) {
    if (!(e instanceof GccFailure)) throw e;
    throw new Error(`gcc failed on ${source}:\n${e.detail}`);
  }
  return bin;
}

/** The simulating host's clock and memory latency (probe.c's header), read at the start of a round. */
export interface HostProbe {
  clockGHz: number;
  chaseNs: number;
}

export function runProbe(bin: string): HostProbe {
  const p = spawnSync(bin, [], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${bin} failed with status ${String(p.status)}:\n${p.stderr}`);
  return JSON.parse(p.stdout) as HostProbe;
}

const WASM_SOURCE = path.join(HERE, 'cref', 'wasm', 'ref.ts');
/** Its memory is imported: the child takes a fresh `Arena`'s (see `runWasmHere`). */
const ASC_FLAGS = ['-O3', '--runtime', 'stub', '--noAssert', '--importMemory'];

/** Path of the WebAssembly module of the access path, built on first use (and whenever its source changes). */
export function buildWasm(): string {
  const file = ensureAscModule(WASM_SOURCE, ASC_FLAGS, 'cref-wasm');
  if (file === null) throw new Error(`${WASM_SOURCE}: AssemblyScript (a dev dependency) is not installed: run npm ci`);
  return file;
}

interface WasmAccessPath {
  setup(mode: number, accesses: number, spanBits: number, drawn: number): void;
  run(mode: number, accesses: number): bigint;
  counter(index: number): bigint;
}

/** The WebAssembly side, in a child process (see the header). */
export function runWasm(file: string, mode: 'seq' | 'rand', accesses: number, spanBits = RANDOM_SPAN_BITS): Side {
  const p = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...wasmChildArgs(file, mode, accesses, spanBits)], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${file} ${mode} failed with status ${String(p.status)}:\n${p.stderr}`);
  return JSON.parse(p.stdout) as Side;
}

/** The arguments after `node --import tsx bench/cref.ts` that run the WebAssembly side in a child (see `runWasmHere`). */
export function wasmChildArgs(file: string, mode: 'seq' | 'rand', accesses: number, spanBits: number, drawn = accesses): string[] {
  return ['--wasm-child', file, mode, String(accesses), String(spanBits), String(drawn)];
}

/**
 * The child's part: a fresh instance maps its pages and draws the random stream (`drawn`
 * addresses, of which it accesses the first `accesses`), then runs the timed loop in one call.
 */
function runWasmHere(file: string, mode: 'seq' | 'rand', accesses: number, spanBits: number, drawn: number): Side {
  const instance = new wasmApi.Instance(new wasmApi.Module(fs.readFileSync(file)), {
    env: {
      // A memory of its own, made by an Arena as the model's is (reserved at its full size, never
      // grown, advised for 2 MiB pages unless UNIMEM_HUGEPAGES=0): the sides' tables on the same pages.
      memory: new Arena().memory,
      abort: () => {
        throw new Error(`${file}: aborted`);
      },
    },
  });
  const x = instance.exports as unknown as WasmAccessPath;
  const m = mode === 'seq' ? 0 : 1;
  x.setup(m, accesses, spanBits, drawn);
  const before = COMPARED.map((_, i) => x.counter(i));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  x.run(m, accesses);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const counters = {} as Counters;
  COMPARED.forEach((k, i) => (counters[k] = Number(x.counter(i) - before[i])));
  return { accessesPerSec: accesses / s, accessesPerCpuSec: accesses / ((cpu.user + cpu.system) / 1e6), counters };
}

export function runReference(bin: string, mode: 'seq' | 'rand', accesses: number, spanBits = RANDOM_SPAN_BITS): Side {
  const p = spawnSync(bin, mode === 'rand' ? [mode, String(accesses), String(spanBits)] : [mode, String(accesses)], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${bin} ${mode} failed with status ${String(p.status)}:\n${p.stderr}`);
  return referenceSide(p.stdout);
}

/** The C program's result line (its timed accesses, their wall and CPU seconds, its counters) as a `Side`. */
export function referenceSide(stdout: string): Side {
  const r = JSON.parse(stdout) as { accesses: number; seconds: number; cpuSeconds: number; counters: Counters };
  return { accessesPerSec: r.accesses / r.seconds, accessesPerCpuSec: r.accesses / r.cpuSeconds, counters: r.counters };
}

function nestedVcpu(cpu: CpuPreset) {
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  return { space, vcpu: new VCpu(new Machine(cpu, tiers), space, 0) };
}

/** Our counters of a region under ref.c's names (sizes and tiers summed). */
function comparable(d: Record<string, number>): Counters {
  const sum = (prefix: string) => Object.keys(d).reduce((t, k) => (k.startsWith(`${prefix}.`) ? t + d[k] : t), 0);
  const out = {} as Counters;
  for (const k of COMPARED) out[k] = k === 'l1TlbHits' || k === 'l2TlbHits' || k === 'dataMem' ? sum(k) : d[k];
  return out;
}

/** Addresses a batched sequential side hands to `loadMany` at once. */
const SEQUENTIAL_BATCH = 4096;

/**
 * Sequential 8-byte loads over SEQUENTIAL_SPAN; `batched`: the addresses written into a buffer of
 * SEQUENTIAL_BATCH, each buffer in one `loadMany` call (the writing is timed too: it is the work
 * of handing a stream to the batch), instead of a `load` per address.
 */
export function runOursSequential(cpu: CpuPreset, accesses = SEQUENTIAL_ACCESSES, batched = false): Side {
  const { space, vcpu } = nestedVcpu(cpu);
  for (let off = 0; off < SEQUENTIAL_SPAN; off += 4096) vcpu.load(space.base + off, 8); // map first
  const before = vcpu.counters.snapshot();
  // The region's base in a local, as the C program has it (a field read would be a load per access).
  const base = space.base;
  const buffer = new Float64Array(batched ? SEQUENTIAL_BATCH : 0);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let addr = 0;
  if (batched) {
    for (let i = 0; i < accesses; i += SEQUENTIAL_BATCH) {
      const n = Math.min(SEQUENTIAL_BATCH, accesses - i);
      for (let j = 0; j < n; j++) {
        buffer[j] = base + addr;
        addr += 8;
        if (addr >= SEQUENTIAL_SPAN) addr = 0;
      }
      vcpu.loadMany(buffer, 0, n, 8);
    }
  } else {
    for (let i = 0; i < accesses; i++) {
      vcpu.load(base + addr, 8);
      addr += 8;
      if (addr >= SEQUENTIAL_SPAN) addr = 0;
    }
  }
  return timed(accesses, t0, c0, before, vcpu);
}

/** The figures of a timed region that started at `t0` (wall) and `c0` (CPU) with counters `before`. */
function timed(accesses: number, t0: number, c0: NodeJS.CpuUsage, before: Record<string, number>, vcpu: VCpu): Side {
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return { accessesPerSec: accesses / s, accessesPerCpuSec: accesses / cpuSec, counters: comparable(diffSnapshots(before, vcpu.counters.snapshot())) };
}

/**
 * Random loads over 2^spanBits bytes: `drawn` addresses of the stream (as ref.c's DRAWN), the
 * first `accesses` timed; `batched`: in one `loadMany` call instead of a `load` per address.
 */
export function runOursRandom(cpu: CpuPreset, accesses = RANDOM_ACCESSES, spanBits = RANDOM_SPAN_BITS, drawn = accesses, batched = false): Side {
  const { space, vcpu } = nestedVcpu(cpu);
  const span = 2 ** spanBits;
  for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8); // map every page first
  const rng = new Rng(RANDOM_SEED);
  const addrs = new Float64Array(Math.max(accesses, drawn));
  for (let i = 0; i < addrs.length; i++) addrs[i] = space.base + Math.floor(rng.nextFloat() * (span / 8)) * 8;
  const before = vcpu.counters.snapshot();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  if (batched) vcpu.loadMany(addrs, 0, accesses, 8);
  else for (let i = 0; i < accesses; i++) vcpu.load(addrs[i], 8);
  return timed(accesses, t0, c0, before, vcpu);
}

/** Names of the counters on which the two sides differ (empty: the same work). */
export function counterMismatches(ours: Counters, c: Counters): string[] {
  return COMPARED.filter((k) => ours[k] !== c[k]).map((k) => `${k}: ours ${ours[k]}, C ${c[k]}`);
}

export interface Round {
  sequential: { ours: Side; c: Side; wasm: Side };
  random: { ours: Side; c: Side; wasm: Side };
  /** Random over 256 MiB (see the header's (c)). */
  randomSmall: { ours: Side; c: Side; wasm: Side };
  /** Random with the full cache model (ours only; the C program has no data cache). */
  randomWithCaches: Side;
  /** Ours again on (a), (b), (c) and (b) with caches, the addresses in `loadMany` calls. */
  batched: { sequential: Side; random: Side; randomSmall: Side; randomWithCaches: Side };
  /** The host probe, run before the round's sides. */
  host: HostProbe;
}

/** One interleaved round: C, ours, WebAssembly, sequential then random, then ours with caches. */
export function runRound(bin = buildReference(), wasm = buildWasm(), probe = buildProbe()): Round {
  const host = runProbe(probe);
  const cpu = translationOnly(CPU_PRESETS.zen2);
  const cSeq = runReference(bin, 'seq', SEQUENTIAL_ACCESSES);
  const oursSeq = runOursSequential(cpu);
  const oursSeqBatched = runOursSequential(cpu, SEQUENTIAL_ACCESSES, true);
  const wasmSeq = runWasm(wasm, 'seq', SEQUENTIAL_ACCESSES);
  const cRand = runReference(bin, 'rand', RANDOM_ACCESSES);
  const oursRand = runOursRandom(cpu);
  const wasmRand = runWasm(wasm, 'rand', RANDOM_ACCESSES);
  const cSmall = runReference(bin, 'rand', RANDOM_ACCESSES, SMALL_SPAN_BITS);
  const oursSmall = runOursRandom(cpu, RANDOM_ACCESSES, SMALL_SPAN_BITS);
  const wasmSmall = runWasm(wasm, 'rand', RANDOM_ACCESSES, SMALL_SPAN_BITS);
  const withCaches = runOursRandom(CPU_PRESETS.zen2);
  const batched = {
    sequential: oursSeqBatched,
    random: runOursRandom(cpu, RANDOM_ACCESSES, RANDOM_SPAN_BITS, RANDOM_ACCESSES, true),
    randomSmall: runOursRandom(cpu, RANDOM_ACCESSES, SMALL_SPAN_BITS, RANDOM_ACCESSES, true),
    randomWithCaches: runOursRandom(CPU_PRESETS.zen2, RANDOM_ACCESSES, RANDOM_SPAN_BITS, RANDOM_ACCESSES, true),
  };
  for (const [what, side, c] of [
    ['sequential', oursSeq, cSeq],
    ['random', oursRand, cRand],
    ['random over 256 MiB', oursSmall, cSmall],
    ['sequential, loadMany', batched.sequential, cSeq],
    ['random, loadMany', batched.random, cRand],
    ['random over 256 MiB, loadMany', batched.randomSmall, cSmall],
    ['sequential, WebAssembly', wasmSeq, cSeq],
    ['random, WebAssembly', wasmRand, cRand],
    ['random over 256 MiB, WebAssembly', wasmSmall, cSmall],
  ] as const) {
    const m = counterMismatches(side.counters, c.counters);
    if (m.length > 0) process.stderr.write(`cref ${what}: the C reference does different work:\n  ${m.join('\n  ')}\n`);
  }
  return { sequential: { ours: oursSeq, c: cSeq, wasm: wasmSeq }, random: { ours: oursRand, c: cRand, wasm: wasmRand }, randomSmall: { ours: oursSmall, c: cSmall, wasm: wasmSmall }, randomWithCaches: withCaches, batched, host };
}

/**
 * Speeds and ratios, each by wall time and by CPU time (user + system of the process; ours
 * includes V8's compiler and GC threads). On a machine shared with other work the CPU-time
 * figures vary less.
 */
export function figuresOf(r: Round): BenchFigure[] {
  const perAccess = (s: Side) => s.counters.walkRefs / s.counters.accesses;
  const pair = (name: string, p: { ours: Side; c: Side; wasm: Side }, target?: string): BenchFigure[] => [
    { name: `${name}.ours`, value: p.ours.accessesPerSec / 1e6, unit: 'M accesses/s' },
    { name: `${name}.c`, value: p.c.accessesPerSec / 1e6, unit: 'M accesses/s' },
    { name: `${name}.ratio`, value: p.ours.accessesPerSec / p.c.accessesPerSec, unit: 'x C', ...(target ? { target } : {}) },
    { name: `${name}.oursCpu`, value: p.ours.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: `${name}.cCpu`, value: p.c.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: `${name}.ratioCpu`, value: p.ours.accessesPerCpuSec / p.c.accessesPerCpuSec, unit: 'x C', ...(target ? { target } : {}) },
    { name: `${name}.wasmCpu`, value: p.wasm.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: `${name}.wasmRatioCpu`, value: p.wasm.accessesPerCpuSec / p.c.accessesPerCpuSec, unit: 'x C' },
  ];
  return [
    ...pair('cref.sequential8B.nested4K4K.zen2', r.sequential, '>= 0.8 (issue 16)'),
    ...pair('cref.random8B.4GiB.nested4K4K.zen2', r.random, '>= 1.0 (issue 16)'),
    { name: 'cref.random8B.4GiB.nested4K4K.zen2.walkRefsPerAccess.ours', value: perAccess(r.random.ours), unit: 'refs' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2.walkRefsPerAccess.c', value: perAccess(r.random.c), unit: 'refs' },
    ...pair('cref.random8B.256MiB.nested4K4K.zen2', r.randomSmall),
    { name: 'cref.random8B.256MiB.nested4K4K.zen2.walkRefsPerAccess.ours', value: perAccess(r.randomSmall.ours), unit: 'refs' },
    { name: 'cref.random8B.256MiB.nested4K4K.zen2.walkRefsPerAccess.c', value: perAccess(r.randomSmall.c), unit: 'refs' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2-caches.ours', value: r.randomWithCaches.accessesPerSec / 1e6, unit: 'M accesses/s', target: '>= 1.5 (issue 16)' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2-caches.oursCpu', value: r.randomWithCaches.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s', target: '>= 1.5 (issue 16)' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2-caches.perCRandom', value: r.randomWithCaches.accessesPerCpuSec / r.random.c.accessesPerCpuSec, unit: 'x C on (b)' },
    ...batchedFigures(r),
    { name: 'cref.host.clockGHz', value: r.host.clockGHz, unit: 'GHz' },
    { name: 'cref.host.chase256MiB', value: r.host.chaseNs, unit: 'ns/load' },
  ];
}

/** The `loadMany` side of (a), (b), (c) and (b) with caches, by CPU time, with its ratio to the same round's C program. */
function batchedFigures(r: Round): BenchFigure[] {
  const b = r.batched;
  return [
    { name: 'cref.sequential8B.nested4K4K.zen2.loadMany.oursCpu', value: b.sequential.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: 'cref.sequential8B.nested4K4K.zen2.loadMany.ratioCpu', value: b.sequential.accessesPerCpuSec / r.sequential.c.accessesPerCpuSec, unit: 'x C', target: '>= 0.8 (issue 16)' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2.loadMany.oursCpu', value: b.random.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2.loadMany.ratioCpu', value: b.random.accessesPerCpuSec / r.random.c.accessesPerCpuSec, unit: 'x C', target: '>= 1.0 (issue 16)' },
    { name: 'cref.random8B.256MiB.nested4K4K.zen2.loadMany.oursCpu', value: b.randomSmall.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s' },
    { name: 'cref.random8B.256MiB.nested4K4K.zen2.loadMany.ratioCpu', value: b.randomSmall.accessesPerCpuSec / r.randomSmall.c.accessesPerCpuSec, unit: 'x C' },
    { name: 'cref.random8B.4GiB.nested4K4K.zen2-caches.loadMany.oursCpu', value: b.randomWithCaches.accessesPerCpuSec / 1e6, unit: 'M accesses/CPU s', target: '>= 1.5 (issue 16)' },
  ];
}

/** For bench/run.ts: one interleaved round per run. */
export const benchmarks = [{ group: 'cref', run: () => figuresOf(runRound()) }];

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
const wasmChild = process.argv.indexOf('--wasm-child');
if (isMain && wasmChild > 0) {
  const [file, mode, accesses, spanBits, drawn] = process.argv.slice(wasmChild + 1);
  process.stdout.write(JSON.stringify(runWasmHere(file, mode === 'seq' ? 'seq' : 'rand', Number(accesses), Number(spanBits), Number(drawn))));
} else if (isMain) {
  const at = process.argv.indexOf('--rounds');
  const rounds = at > 0 ? Number(process.argv[at + 1]) : 3;
  const bin = buildReference();
  const wasm = buildWasm();
  const probe = buildProbe();
  const all = new Map<string, number[]>();
  for (let i = 0; i < rounds; i++) {
    for (const f of figuresOf(runRound(bin, wasm, probe))) all.set(f.name, [...(all.get(f.name) ?? []), f.value]);
  }
  for (const [name, values] of all) console.log(`${name.padEnd(64)} ${median(values).toPrecision(4).padStart(10)}   runs ${values.map((v) => v.toPrecision(4)).join(' ')}`);
}
