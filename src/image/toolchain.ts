/**
 * Running the real toolchain (gcc, ld, objcopy) and the content-hash build cache.
 *
 * Builds are deterministic: fixed file order, `-frandom-seed`, `--build-id=none`, no timestamps.
 * Many independent compiles and links run as one batch on a pool of the machine's CPUs (`runJobs`),
 * which keeps the caller synchronous (experiments are synchronous) while using every core.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { UserError } from '../base/errors.ts';

/**
 * Compiler flags shared by every library. `-fno-pie` gives the non-PIC code Unikraft builds
 * (absolute 32-bit addresses in indexed accesses); `-fno-jump-tables` keeps switch tables of code
 * addresses out of .rodata, so a library's read-only data holds no addresses and stays identical
 * wherever the library is placed; no unwind tables, as Unikraft's default config.
 * -O1 plus sibling calls (tail `jmp`) rather than -O2: the same instruction kinds at a third of
 * the compile time, so the whole demo set builds in seconds.
 */
export const CFLAGS = [
  '-O1',
  '-foptimize-sibling-calls',
  '-fno-pie',
  '-fno-pic',
  '-mcmodel=small',
  '-ffreestanding',
  '-fno-builtin',
  '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables',
  '-fno-unwind-tables',
  '-fno-jump-tables',
  '-fcf-protection=none',
  '-fno-common',
  '-fno-ident',
  '-Wall',
  '-Wno-unused-function',
];
/** Unikraft's CONFIG_OPTIMIZE_DEADELIM adds these at compile time and --gc-sections at link time. */
export const DCE_CFLAGS = ['-ffunction-sections', '-fdata-sections'];
export const LDFLAGS = ['-static', '-nostdlib', '--build-id=none', '-z', 'max-page-size=0x1000', '-z', 'noexecstack', '--no-warn-rwx-segments'];

function toolMissing(tool: string, e: unknown): never {
  throw new UserError(`${tool} is needed to build images but could not be run (${(e as Error).message.split('\n')[0]})`);
}

/** Run a tool synchronously; a failure is a bug in the generated inputs, so it keeps its output. */
export function runTool(tool: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(tool, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (err.code === 'ENOENT') toolMissing(tool, e);
    throw new Error(`${tool} ${args.join(' ')} failed (status ${err.status}):\n${err.stderr ?? ''}`);
  }
}

/** Quote a word for sh (left bare when it needs no quoting). */
export const shQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** One command of a parallel batch: its argument vector and the file it produces ('' if none). */
export interface Job {
  output: string;
  argv: string[];
  /** Keep what it prints on standard output (returned by `runJobs`, up to 1 MiB). */
  capture?: boolean;
  /** Kill it (SIGTERM) after this long; it then counts as failed. */
  timeoutMs?: number;
}

const JOBS_WORKER = new URL('./jobs-worker.mjs', import.meta.url);

/** Parallel jobs per batch: the machine's CPUs (UNIMEM_JOBS overrides, for tests and comparisons). */
export function jobSlots(): number {
  const n = Number(process.env.UNIMEM_JOBS);
  return Number.isInteger(n) && n > 0 ? n : Math.max(1, os.availableParallelism());
}

/**
 * Run independent commands in parallel, up to `jobSlots()` at a time, from `dir`. Synchronous for
 * the caller (image builds are called from synchronous experiments), yet each finished job is
 * reported to `onDone(done, total)`, which is what a progress display needs: a worker thread runs
 * the pool (jobs-worker.mjs) while this thread waits on a shared counter. The first failing job
 * stops the batch (jobs already running finish) and is thrown with its standard error. Returns
 * each job's captured standard output ('' unless it asked for it), in job order.
 */
export function runJobs(jobs: Job[], dir: string, onDone?: (done: number, total: number) => void): string[] {
  if (jobs.length === 0) return [];
  const state = new Int32Array(new SharedArrayBuffer(8));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(JOBS_WORKER, {
    workerData: { jobs: jobs.map((j) => ({ argv: j.argv, capture: j.capture ?? false, timeoutMs: j.timeoutMs })), cwd: dir, concurrency: jobSlots(), state: state.buffer, port: port2 },
    transferList: [port2],
  });
  worker.unref();
  let seen = 0;
  while (Atomics.load(state, 1) === 0) {
    Atomics.wait(state, 0, seen, 1000);
    const done = Atomics.load(state, 0);
    if (done !== seen && onDone) onDone(done, jobs.length);
    seen = done;
  }
  const result = receiveMessageOnPort(port1)?.message as { failure: JobFailure | null; outputs: string[] } | undefined;
  port1.close();
  if (!result) throw new Error('the job pool ended without a result');
  const { failure, outputs } = result;
  if (!failure) return outputs;
  if (failure.code === 'ENOENT') toolMissing(failure.argv[0], new Error(failure.message));
  const job = jobs.find((j) => j.argv.length === failure.argv.length && j.argv.every((a, k) => a === failure.argv[k]))!;
  throw new JobFailedError(job, failure.status === null ? failure.message : `status ${failure.status}`, failure.stderr);
}

/**
 * A job of a batch failed. For inputs the project generated that is a bug and the error keeps the
 * tool's whole output; a caller that linked the user's own files turns it into a one-line
 * InputError (see `toolComplaint`).
 */
export class JobFailedError extends Error {
  constructor(readonly job: Job, readonly reason: string, readonly stderr: string) {
    super(`${job.argv.join(' ')} failed (${reason}):\n${stderr}`);
    this.name = 'JobFailedError';
  }
}

/** A tool's complaint on one line: its non-empty output lines joined, cut at 300 characters. */
export function toolComplaint(e: JobFailedError): string {
  const text = e.stderr.split('\n').map((l) => l.trim()).filter(Boolean).join(' ') || e.reason;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

interface JobFailure {
  argv: string[];
  code: string | null;
  message: string;
  status: number | null;
  stderr: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));

function hashTree(h: crypto.Hash, dir: string, rel = ''): void {
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = path.join(rel, name);
    const full = path.join(dir, r);
    if (fs.statSync(full).isDirectory()) hashTree(h, dir, r);
    else h.update(`${r}\0`).update(fs.readFileSync(full)).update('\0');
  }
}

let toolVersions: string | undefined;
const versions = (): string => (toolVersions ??= ['gcc', 'ld'].map((t) => runTool(t, ['--version']).split('\n')[0]).join('|'));

/**
 * Content hash of a compile's inputs other than its source: `parts` (flags, then folders whose
 * files it may read, hashed whole) and the tool versions.
 */
export function contentKey(parts: string[]): string {
  const h = crypto.createHash('sha256').update(versions());
  for (const p of parts) {
    h.update(`${p}\0`);
    if (path.isAbsolute(p) && fs.existsSync(p) && fs.statSync(p).isDirectory()) hashTree(h, p);
  }
  return h.digest('hex');
}
/**
 * Content hash of everything a demo build depends on: the demo sources and specification, the
 * toolchain modules that generate code and scripts, the tool versions and the options. A cached
 * build is reused only under the same hash, so it is never stale.
 */
export function buildKey(demoRoot: string, options: unknown): string {
  const h = crypto.createHash('sha256');
  hashTree(h, demoRoot);
  for (const f of fs.readdirSync(here).sort()) if (f.endsWith('.ts')) h.update(f).update(fs.readFileSync(path.join(here, f)));
  h.update(versions()).update(JSON.stringify(options));
  return h.digest('hex').slice(0, 16);
}

export function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}
