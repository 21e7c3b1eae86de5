/**
 * `npm run fuzz [-- --cases N] [--seed S] [--timeout MS] [--workers W] [--cli-every K]
 * [--rss-limit MiB] [--heap-growth MiB]`: the long fuzz campaign (docs/fuzzing.md).
 *
 * Inputs run in-process in W long-lived worker processes (campaign-child.ts), chunk by chunk, the
 * targets taken in turn. A watchdog reads each worker's CPU time from /proc every 100 ms: an input
 * that has used more than --timeout ms of CPU (default 5000) is a hang, and its worker is killed
 * and replaced; the chunk resumes after that input. (CPU time, because on a shared machine the wall
 * clock measures the neighbours; an input blocked without using CPU is caught by a wall-clock
 * backstop.) A real process is spawned only where one is needed: every failing input, and one input
 * in K (default 500), also go through the command line (`unimem image inspect`, `config check`,
 * `merge`, `trace info`), which must exit 0, or 2 with one line on standard error.
 *
 * Memory: each worker reports its live heap after a full collection at the end of every chunk;
 * the heap may not grow by more than --heap-growth MiB (default 64) over a worker's life, and no
 * worker's peak resident memory may pass --rss-limit MiB (default 1024; V8's heap is capped at it
 * too, so a runaway input crashes its worker, which counts as a failure).
 *
 * Every failing input is written to test/fuzz/corpus/<target>/, which the suite replays. Progress
 * goes to standard output after every chunk; the exit code is 1 when anything failed.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FUZZ_TARGETS, type FuzzTarget } from './targets.ts';
import { saveToCorpus } from './corpus.ts';
import type { ChunkRequest, WorkerMessage } from './campaign-child.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const CASES = flag('cases', 100_000);
const SEED = flag('seed', Date.now() % 2 ** 31);
const TIMEOUT_MS = flag('timeout', 5000);
const WORKERS = flag('workers', Math.min(2, os.availableParallelism()));
const CLI_EVERY = flag('cli-every', 500);
const RSS_LIMIT_MIB = flag('rss-limit', 1024);
const HEAP_GROWTH_MIB = flag('heap-growth', 64);
/** Inputs per chunk: a chunk is one fast-check run with its own seed. */
const CHUNK = 1000;
/**
 * An input that has not finished after this much wall time is a hang even without using CPU. Far
 * above the CPU bound: at nice 19 on a busy machine a process gets a few percent of a core.
 */
const WALL_BACKSTOP_MS = Math.max(30 * 60_000, 360 * TIMEOUT_MS);
/** CPU a command-line run may use beyond the input's bound: starting node and compiling the sources. */
const CLI_STARTUP_CPU_MS = 15_000;
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-fuzz-campaign-'));

interface TargetTotals {
  cases: number;
  failures: number;
  slow: number;
  hangs: number;
  crashes: number;
  cliRuns: number;
  cliFailures: number;
  slowestMs: number;
  slowestBytes: number;
}

const totals = new Map<string, TargetTotals>(
  FUZZ_TARGETS.map((t) => [t.name, { cases: 0, failures: 0, slow: 0, hangs: 0, crashes: 0, cliRuns: 0, cliFailures: 0, slowestMs: 0, slowestBytes: 0 }]),
);
const memory = { peakRssMiB: 0, heapGrowthMiB: 0, firstHeapMiB: Infinity, lastHeapMiB: 0 };
let casesSeen = 0;

/** CPU time (user + system) a live process has used, in microseconds; null where /proc cannot tell. */
function processCpuMicros(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
  } catch {
    return null;
  }
}

// ---- the command line, for the inputs that need a real process ---------------------------------

let cliQueue: Promise<void> = Promise.resolve();
const cliChildren = new Set<ChildProcess>();

/** Run `unimem` on the input, one process at a time; it must exit 0, or 2 with one line on stderr. */
function checkThroughCli(target: FuzzTarget, input: Buffer, why: string): void {
  cliQueue = cliQueue.then(
    () =>
      new Promise<void>((resolve) => {
        const file = path.join(scratch, `cli.${target.ext}`);
        fs.writeFileSync(file, input);
        const child = spawn(process.execPath, [path.join(ROOT, 'bin/unimem.js'), ...target.cli(file)], { stdio: ['ignore', 'ignore', 'pipe'] });
        cliChildren.add(child);
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        // The same bound as in-process, by CPU time, plus the start-up; the wall clock only as a backstop.
        const started = Date.now();
        let overrun = '';
        const watchdog = setInterval(() => {
          const cpu = processCpuMicros(child.pid!);
          if (cpu !== null && cpu > (TIMEOUT_MS + CLI_STARTUP_CPU_MS) * 1000) overrun = `over ${TIMEOUT_MS + CLI_STARTUP_CPU_MS} ms CPU`;
          else if (Date.now() - started > WALL_BACKSTOP_MS) overrun = `no exit after ${WALL_BACKSTOP_MS} ms`;
          if (overrun) child.kill('SIGKILL');
        }, 250);
        child.on('close', (code, signal) => {
          clearInterval(watchdog);
          cliChildren.delete(child);
          const t = totals.get(target.name)!;
          t.cliRuns++;
          const oneLine = /^unimem: [^\n]+\n$/.test(stderr);
          if (!(code === 0 || (code === 2 && oneLine))) {
            t.cliFailures++;
            const saved = saveToCorpus(target, input);
            console.log(`${target.name}: command line (${why}) exit ${code ?? signal}${overrun ? ` (${overrun})` : ''}: ${stderr.split('\n').slice(0, 3).join(' | ')}\n  saved ${saved}`);
          }
          resolve();
        });
      }),
  );
}

// ---- workers -------------------------------------------------------------------------------------

interface Unit extends Omit<ChunkRequest, 'kind'> {}

interface Running {
  unit: Unit;
  /** The input in progress, its index, and the worker's CPU time and the wall clock when it started. */
  current: { index: number; input: Buffer; cpuMicros: number; wallMs: number } | null;
  lastDone: number;
}

const queue: Unit[] = [];
const workers = new Set<ChildProcess>();
let finishAll: () => void = () => {};
let idleWorkers = 0;

function recordDone(unit: Unit, m: Extract<WorkerMessage, { kind: 'done' }>, input: Buffer): void {
  const target = targetNamed(unit.target);
  const t = totals.get(unit.target)!;
  t.cases++;
  casesSeen++;
  if (m.ms > t.slowestMs) {
    t.slowestMs = m.ms;
    t.slowestBytes = m.bytes;
  }
  if (m.failure !== null) {
    t.failures++;
    console.log(`${unit.target}: ${m.failure}\n  saved ${saveToCorpus(target, input)}`);
    checkThroughCli(target, input, 'failing input');
  } else if (m.ms > TIMEOUT_MS) {
    t.slow++;
    console.log(`${unit.target}: slow input (${Math.round(m.ms)} ms CPU): ${saveToCorpus(target, input)}`);
  } else if (CLI_EVERY > 0 && casesSeen % CLI_EVERY === 0) checkThroughCli(target, input, 'sample');
}

function recordChunkEnd(m: Extract<WorkerMessage, { kind: 'chunkEnd' }>, heap: { first: number | null }): void {
  memory.peakRssMiB = Math.max(memory.peakRssMiB, m.peakRssMiB);
  if (heap.first === null) heap.first = m.heapMiB;
  memory.firstHeapMiB = Math.min(memory.firstHeapMiB, heap.first);
  memory.lastHeapMiB = m.heapMiB;
  memory.heapGrowthMiB = Math.max(memory.heapGrowthMiB, m.heapMiB - heap.first);
}

/** A worker process and what it is doing. */
interface Worker {
  child: ChildProcess;
  running: Running | null;
  /** Its live heap after its first chunk: what later chunks are compared with. */
  heap: { first: number | null };
  /** Killed by the watchdog (the hang is counted already). */
  killedForHang: boolean;
  /** Killed because the queue is empty. */
  retired: boolean;
}

const targetNamed = (name: string): FuzzTarget => FUZZ_TARGETS.find((t) => t.name === name)!;

/** Start a worker; it takes units from the queue until the queue is empty, and is replaced if it hangs or dies. */
function startWorker(): void {
  const child = fork(path.join(ROOT, 'test/fuzz/campaign-child.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', `--max-old-space-size=${RSS_LIMIT_MIB}`],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, UNIMEM_FUZZ_SCRATCH: scratch },
  });
  workers.add(child);
  const w: Worker = { child, running: null, heap: { first: null }, killedForHang: false, retired: false };
  const watchdog = setInterval(() => checkForHang(w), 100);
  child.on('message', (m: WorkerMessage) => onWorkerMessage(w, m));
  // 'close', not 'exit': messages still in the channel arrive before it.
  child.on('close', (code, signal) => {
    clearInterval(watchdog);
    workers.delete(child);
    onWorkerClosed(w, code, signal);
  });
}

function giveNextUnit(w: Worker): void {
  const unit = queue.shift();
  if (unit === undefined) {
    w.running = null;
    w.retired = true;
    w.child.kill('SIGKILL');
    return;
  }
  w.running = { unit, current: null, lastDone: unit.skip - 1 };
  w.child.send({ kind: 'chunk', ...unit } satisfies ChunkRequest);
}

/** The watchdog: an input over its CPU time (or, blocked, over the wall-clock backstop) is a hang; kill its worker. */
function checkForHang(w: Worker): void {
  const c = w.running?.current;
  if (!c || w.killedForHang) return;
  const cpu = processCpuMicros(w.child.pid!);
  const overCpu = cpu !== null && cpu - c.cpuMicros > TIMEOUT_MS * 1000;
  if (!overCpu && Date.now() - c.wallMs <= WALL_BACKSTOP_MS) return;
  w.killedForHang = true;
  const target = targetNamed(w.running!.unit.target);
  const t = totals.get(target.name)!;
  t.hangs++;
  t.cases++;
  casesSeen++;
  console.log(`${target.name}: hang (${overCpu ? `over ${TIMEOUT_MS} ms CPU` : `no result after ${WALL_BACKSTOP_MS} ms`}): ${saveToCorpus(target, c.input)}`);
  w.child.kill('SIGKILL');
}

function onWorkerMessage(w: Worker, m: WorkerMessage): void {
  const running = w.running;
  if (m.kind === 'ready') giveNextUnit(w);
  else if (m.kind === 'case') running!.current = { index: m.index, input: Buffer.from(m.input, 'base64'), cpuMicros: m.cpuMicros, wallMs: Date.now() };
  else if (m.kind === 'done') {
    recordDone(running!.unit, m, running!.current!.input);
    running!.lastDone = m.index;
    running!.current = null;
  } else if (m.kind === 'broken') {
    console.log(`${running!.unit.target}: the input generator failed near input ${running!.lastDone + 1} of seed ${running!.unit.seed}: ${m.message}`);
    stop(1);
  } else if (m.kind === 'chunkEnd') {
    recordChunkEnd(m, w.heap);
    progress();
    giveNextUnit(w);
  }
}

/** A worker ended: retired, or hung or crashed on an input, whose chunk then goes on in a fresh worker. */
function onWorkerClosed(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
  if (w.running === null) {
    if (!w.retired) {
      // Died before taking any work: the campaign itself is broken (a worker that cannot start).
      console.error(`a fuzz worker could not start (${signal ?? code})`);
      stop(1);
    }
    if (++idleWorkers === WORKERS) finishAll();
    return;
  }
  const { unit, current, lastDone } = w.running;
  const target = targetNamed(unit.target);
  if (!w.killedForHang) {
    const t = totals.get(target.name)!;
    t.crashes++;
    if (current) {
      t.cases++;
      casesSeen++;
    }
    const input = current?.input ?? Buffer.alloc(0);
    console.log(`${target.name}: worker died (${signal ?? code}) on input ${current?.index ?? 'between inputs'}: ${saveToCorpus(target, input)}`);
    if (current) checkThroughCli(target, input, 'input that killed a worker');
  }
  // The chunk goes on after the input that hung or crashed (or, dead between inputs, after the
  // one being generated, so that no death repeats for ever), in a fresh worker.
  queue.unshift({ ...unit, skip: current ? current.index + 1 : lastDone + 2 });
  startWorker();
}

// ---- progress and the end -----------------------------------------------------------------------

const t0 = Date.now();

function failingCount(): number {
  let n = 0;
  for (const t of totals.values()) n += t.failures + t.slow + t.hangs + t.crashes + t.cliFailures;
  return n;
}

function slowest(): string {
  const [name, t] = [...totals].reduce((a, b) => (b[1].slowestMs > a[1].slowestMs ? b : a));
  return `${Math.round(t.slowestMs)} ms CPU (${name}, ${t.slowestBytes} bytes)`;
}

function progress(): void {
  const s = (Date.now() - t0) / 1000;
  const per = [...totals].map(([n, t]) => `${n} ${t.cases}`).join(', ');
  console.log(
    `${new Date().toISOString().slice(0, 19)}Z ${casesSeen} cases (${per}), ${(casesSeen / s).toFixed(1)}/s, ${failingCount()} failing, ` +
      `slowest ${slowest()}, peak worker RSS ${Math.round(memory.peakRssMiB)} MiB, heap growth ${memory.heapGrowthMiB.toFixed(1)} MiB, ${Math.round(s)} s`,
  );
}

function report(): number {
  const memoryOver = memory.peakRssMiB > RSS_LIMIT_MIB || memory.heapGrowthMiB > HEAP_GROWTH_MIB;
  console.log('\n| target | cases | failures | slow | hangs | crashed workers | CLI runs | CLI failures | slowest input (CPU) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [name, t] of totals) {
    console.log(`| ${name} | ${t.cases} | ${t.failures} | ${t.slow} | ${t.hangs} | ${t.crashes} | ${t.cliRuns} | ${t.cliFailures} | ${Math.round(t.slowestMs)} ms (${t.slowestBytes} B) |`);
  }
  console.log(
    `\ncases ${casesSeen}, failing ${failingCount()}, slowest input ${slowest()}, peak worker RSS ${Math.round(memory.peakRssMiB)} MiB (bound ${RSS_LIMIT_MIB}), ` +
      `live heap ${memory.firstHeapMiB.toFixed(1)} -> ${memory.lastHeapMiB.toFixed(1)} MiB, largest growth of a worker ${memory.heapGrowthMiB.toFixed(1)} MiB (bound ${HEAP_GROWTH_MIB}), ` +
      `${Math.round((Date.now() - t0) / 1000)} s, ${(casesSeen / ((Date.now() - t0) / 1000)).toFixed(1)} cases/s`,
  );
  return failingCount() > 0 || memoryOver ? 1 : 0;
}

function stop(code = 130): void {
  for (const c of [...workers, ...cliChildren]) c.kill('SIGKILL');
  fs.rmSync(scratch, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());

// Units round the targets chunk by chunk, so that a campaign cut short has covered every target alike.
const perTarget = Math.ceil(CASES / FUZZ_TARGETS.length);
for (let chunk = 0; chunk * CHUNK < perTarget; chunk++) {
  for (const [k, target] of FUZZ_TARGETS.entries()) {
    queue.push({ target: target.name, seed: SEED + 1000 * k + chunk, cases: Math.min(CHUNK, perTarget - chunk * CHUNK), skip: 0 });
  }
}
console.log(
  `fuzz campaign: ${perTarget * FUZZ_TARGETS.length} cases over ${FUZZ_TARGETS.map((t) => t.name).join(', ')}, seed ${SEED}, ` +
    `${TIMEOUT_MS} ms CPU per input, ${WORKERS} workers, one input in ${CLI_EVERY} through the command line`,
);
await new Promise<void>((resolve) => {
  finishAll = resolve;
  for (let w = 0; w < WORKERS; w++) startWorker();
});
await cliQueue;
process.exitCode = report();
fs.rmSync(scratch, { recursive: true, force: true });
