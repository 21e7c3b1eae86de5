/**
 * Instructions per access of the access path and of its references (bench/cref.ts), counted by
 * valgrind's callgrind instead of timed: the same uniform random 8-byte loads over 256 MiB with
 * Zen 2's translation structures, nested 4K/4K and no data cache, on the three sides of the C
 * comparison (the C program, ours, the benchmark's WebAssembly port). A count does not move with
 * the simulating host's clock, its other tenants or its make (the hosts of one machine kind have
 * been Intel and AMD, docs/machine.md), so it tells whether a ratio of speeds moved because one
 * side does more or less work or because the host runs it faster or slower.
 *
 * Each side runs twice, accessing 100,000 and 300,000 addresses of one drawn stream of 300,000
 * (ref.c's DRAWN), so that both runs do the same work outside the access loop (the process's
 * start, the mapping pass, the draw, V8's compilations); the difference of the two counts over the
 * 200,000 accesses between them is the loop's instructions per access. V8 runs without its
 * baseline WebAssembly compiler and compiles JavaScript on the main thread (`--no-liftoff
 * --no-concurrent-recompilation --no-concurrent-osr`): under valgrind its compiler threads would
 * otherwise lag, and part of the difference would run in unoptimized code. The counters of the
 * timed regions are compared as in bench/cref.ts: the three sides make the same decisions.
 *
 * For ours and the port, the count is split by where the instructions ran (V8's map of its
 * generated code, `--perf-basic-prof`): the WebAssembly module, the JavaScript, and the rest (V8's
 * builtins and runtime, its compiler and garbage collector, the C library). The rest is not the
 * same in two runs (V8's tasks and collections follow time and allocation, and the two runs differ
 * in both), by up to a few hundred instructions an access, while the generated code's count
 * repeats to a tenth of an instruction; so a side's figure is its generated code (module and
 * JavaScript), the rest is reported beside it, and the C program's is its whole count.
 *
 * One run of each side under valgrind takes up to about two minutes; the pairs run side by side.
 * The profiles, V8's maps and the children are removed on failure and Ctrl-C as well.
 * The counts are deterministic, so `npm run bench` measures this group once whatever `--runs` says.
 * Without valgrind (scripts/install.sh installs it) the group reports nothing.
 * Run alone: node --import tsx bench/icount.ts; or `npm run bench -- --only icount`.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CPU_PRESETS, translationOnly } from '../src/hw/cpu.ts';
import { guardChild, guardDir, onCleanup } from '../src/trace/guard.ts';
import { buildReference, buildWasm, counterMismatches, referenceSide, runOursRandom, wasmChildArgs, type Side } from './cref.ts';
import type { BenchFigure } from './types.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SPAN_BITS = 28;
const FEWER = 100_000;
const MORE = 300_000;
/** V8's settings for a count (see the header). */
const V8_FLAGS = ['--no-liftoff', '--no-concurrent-recompilation', '--no-concurrent-osr'];

/** Where a side's instructions ran (ours only). */
export interface Parts {
  module: number;
  javascript: number;
  other: number;
}

/** One counted run: its instructions, their split when asked for, and the timed region's counters. */
interface Counted {
  instructions: number;
  parts: Parts | null;
  side: Side;
}

/** A range of generated code in V8's perf map: `start size name` per line, hexadecimal. */
export interface CodeRange {
  start: number;
  end: number;
  name: string;
}

export function parsePerfMap(text: string): CodeRange[] {
  const ranges: CodeRange[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ start: parseInt(m[1], 16), end: parseInt(m[1], 16) + parseInt(m[2], 16), name: m[3] });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/** Which part a code range's name belongs to: V8 names WebAssembly functions `JS:wasm-function[...]`, JavaScript `JS:<tier><name>`. */
export function partOf(name: string): keyof Parts {
  if (name.startsWith('JS:wasm-function')) return 'module';
  return name.startsWith('JS:') ? 'javascript' : 'other';
}

/**
 * The instructions of a callgrind profile written with `--dump-instr=yes --compress-pos=no`, by
 * the part their address falls in. A cost line is `0xADDRESS LINE COST...`; the line after a
 * `calls=` line is the call's inclusive cost, already counted where the callee's instructions ran.
 */
export function splitByPart(profile: string, ranges: CodeRange[]): Parts {
  const parts: Parts = { module: 0, javascript: 0, other: 0 };
  const starts = ranges.map((r) => r.start);
  let afterCalls = false;
  for (const line of profile.split('\n')) {
    if (line.startsWith('calls=')) {
      afterCalls = true;
      continue;
    }
    if (!line.startsWith('0x')) {
      afterCalls = false;
      continue;
    }
    if (afterCalls) {
      afterCalls = false;
      continue;
    }
    const fields = line.split(' ');
    const address = parseInt(fields[0], 16);
    const cost = Number(fields[fields.length - 1]);
    const r = ranges[upperBound(starts, address) - 1];
    parts[r !== undefined && address < r.end ? partOf(r.name) : 'other'] += cost;
  }
  return parts;
}

/** The first index whose value is above `x` in a sorted array. */
function upperBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The total of a callgrind profile (its `totals:` or `summary:` line). */
export function profileTotal(profile: string): number {
  const m = /^(?:totals|summary): (\d+)/m.exec(profile);
  if (!m) throw new Error('callgrind profile without a totals line');
  return Number(m[1]);
}

export function valgrindAvailable(): boolean {
  return spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status === 0;
}

/**
 * Run `command` under callgrind in `dir`; `split`: the command is node with --perf-basic-prof, split
 * its count; `sideOf` reads the timed region's counters from what the command printed.
 */
function counted(dir: string, tag: string, command: string[], split: boolean, sideOf: (stdout: string) => Side): Promise<Counted> {
  const out = path.join(dir, `${tag}.callgrind`);
  const args = ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, ...(split ? ['--dump-instr=yes', '--compress-strings=no', '--compress-pos=no'] : []), ...command];
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    guardChild(child);
    // V8 writes its map of generated code as /tmp/perf-PID.map, PID the process valgrind ran in.
    const map = `/tmp/perf-${String(child.pid)}.map`;
    const removeMap = onCleanup(() => fs.rmSync(map, { force: true }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      try {
        if (status !== 0) throw new Error(`valgrind ${command.join(' ')} failed with status ${String(status)}:\n${stderr.slice(-2000)}`);
        const profile = fs.readFileSync(out, 'utf8');
        const parts = split ? splitByPart(profile, parsePerfMap(fs.readFileSync(map, 'utf8'))) : null;
        resolve({ instructions: profileTotal(profile), parts, side: sideOf(stdout) });
      } catch (e) {
        reject(e);
      } finally {
        fs.rmSync(out, { force: true });
        removeMap();
      }
    });
  });
}

/** What a node side prints: bench/cref.ts's `Side`. */
const nodeSide = (stdout: string) => JSON.parse(stdout) as Side;

/** Instructions per access of a side: two counted runs, FEWER and MORE accesses of one drawn stream. */
async function perAccess(dir: string, tag: string, command: (accesses: number) => string[], split: boolean, sideOf: (stdout: string) => Side) {
  const [a, b] = await Promise.all([counted(dir, `${tag}-${FEWER}`, command(FEWER), split, sideOf), counted(dir, `${tag}-${MORE}`, command(MORE), split, sideOf)]);
  const per = (x: number, y: number) => (y - x) / (MORE - FEWER);
  const parts = a.parts && b.parts ? { module: per(a.parts.module, b.parts.module), javascript: per(a.parts.javascript, b.parts.javascript), other: per(a.parts.other, b.parts.other) } : null;
  return { instructions: per(a.instructions, b.instructions), parts, side: b.side };
}

/** A node command line with the count's V8 settings (and `extra` flags). */
const node = (extra: string[], script: string, ...args: string[]) => [process.execPath, ...extra, ...V8_FLAGS, '--import', 'tsx', script, ...args];

/**
 * `--perf-basic-prof` for a side counted in `dir`: V8 writes the map of its generated code to
 * /tmp/perf-PID.map (`counted` reads and removes it) and, with the flag, a log of its own, by
 * default as isolate-*-v8.log in the working directory: here into `dir` (removed with it).
 */
const perfFlags = (dir: string, tag: string) => ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${path.join(dir, `${tag}.v8.log`)}`];

export async function countAll(): Promise<BenchFigure[]> {
  if (!valgrindAvailable()) {
    process.stderr.write('icount: valgrind is not installed (scripts/install.sh installs it); no figures\n');
    return [];
  }
  const reference = buildReference();
  const wasm = buildWasm();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-icount-'));
  // The profiles, V8's maps and the valgrind children go on failure and Ctrl-C too (src/trace/guard.ts).
  const removeDir = guardDir(dir);
  try {
    const c = await perAccess(dir, 'c', (n) => [reference, 'rand', String(n), String(SPAN_BITS), String(MORE)], false, referenceSide);
    const port = await perAccess(dir, 'wasm', (n) => node(perfFlags(dir, `wasm-${n}`), path.join(HERE, 'cref.ts'), ...wasmChildArgs(wasm, 'rand', n, SPAN_BITS, MORE)), true, nodeSide);
    const ours = await perAccess(dir, 'ours', (n) => node(perfFlags(dir, `ours-${n}`), fileURLToPath(import.meta.url), '--ours-child', String(n)), true, nodeSide);
    const many = await perAccess(dir, 'many', (n) => node(perfFlags(dir, `many-${n}`), fileURLToPath(import.meta.url), '--ours-child', String(n), 'loadMany'), true, nodeSide);
    for (const [what, side] of [['ours', ours.side], ['ours, loadMany', many.side], ['WebAssembly', port.side]] as const) {
      const m = counterMismatches(side.counters, c.side.counters);
      if (m.length > 0) process.stderr.write(`icount ${what}: the C reference does different work:\n  ${m.join('\n  ')}\n`);
    }
    const name = 'icount.random8B.256MiB.nested4K4K.zen2';
    const unit = 'instructions/access';
    const o = ours.parts as Parts;
    const w = port.parts as Parts;
    const b = many.parts as Parts;
    const oursCode = o.module + o.javascript;
    const portCode = w.module + w.javascript;
    return [
      { name: `${name}.c`, value: c.instructions, unit },
      { name: `${name}.ours`, value: oursCode, unit },
      { name: `${name}.wasm`, value: portCode, unit },
      { name: `${name}.oursOverC`, value: oursCode / c.instructions, unit: 'x C' },
      { name: `${name}.wasmOverC`, value: portCode / c.instructions, unit: 'x C' },
      { name: `${name}.ours.module`, value: o.module, unit },
      { name: `${name}.ours.javascript`, value: o.javascript, unit },
      { name: `${name}.ours.runtime`, value: o.other, unit },
      { name: `${name}.wasm.runtime`, value: w.other, unit },
      { name: `${name}.ours.loadMany`, value: b.module + b.javascript, unit },
      { name: `${name}.ours.loadMany.module`, value: b.module, unit },
      { name: `${name}.ours.loadMany.javascript`, value: b.javascript, unit },
      { name: `${name}.ours.loadMany.runtime`, value: b.other, unit },
    ];
  } finally {
    removeDir();
  }
}

/** For bench/run.ts: deterministic, so measured once. */
export const benchmarks = [{ group: 'icount', deterministic: true, run: countAll }];

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
const oursChild = process.argv.indexOf('--ours-child');
if (isMain && oursChild > 0) {
  const accesses = Number(process.argv[oursChild + 1]);
  const batched = process.argv[oursChild + 2] === 'loadMany';
  process.stdout.write(JSON.stringify(runOursRandom(translationOnly(CPU_PRESETS.zen2), accesses, SPAN_BITS, MORE, batched)));
} else if (isMain) {
  for (const f of await countAll()) console.log(`${f.name.padEnd(56)} ${f.value.toPrecision(5).padStart(10)} ${f.unit}`);
}
