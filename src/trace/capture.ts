/**
 * Capture: run a real program under valgrind's lackey (`--trace-mem=yes`) with the allocation shim
 * preloaded, parse lackey's stream from a pipe as it arrives (lackey.ts) and write the binary trace
 * (writer.ts). Lackey writes to file descriptor 3 (`--log-fd=3`), so the program's own standard
 * output and error stay apart. Lackey runs programs at about 1 M trace lines per second
 * (research/hostcheck.md §5).
 *
 * The program runs until it exits, or until `stop()` sends it SIGTERM (a server's window ends);
 * the child is killed and the partial trace removed if anything fails or this process is
 * interrupted (guard.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../base/errors.ts';
import { silentProgress, type Progress } from '../base/progress.ts';
import { guardChild, onCleanup } from './guard.ts';
import { LackeyParser, type LackeyStats } from './lackey.ts';
import { ensureShim } from './shim.ts';
import { TraceWriter } from './writer.ts';

export interface CaptureOptions {
  /** The trace file to write. */
  out: string;
  /** The program and its arguments. */
  command: string[];
  /** Label of the trace (default: the program's file name). */
  label?: string;
  /** Record instruction fetches too (about two thirds of lackey's lines). */
  withInstructions?: boolean;
  /** Facts for the header (versions, client settings). */
  meta?: Record<string, string | number>;
  /** Soft limit of open files for the program (memcached wants it equal to its -c; hostcheck.md §5). */
  openFiles?: number;
  /** Extra environment of the program. */
  env?: Record<string, string>;
  /** Receives the program's standard output and error as they come (default: only kept for errors). */
  onProgramOutput?: (chunk: Buffer) => void;
  progress?: Progress;
}

export interface CaptureResult {
  file: string;
  /** Wall-clock seconds from start to the end of the stream. */
  seconds: number;
  stats: LackeyStats;
  /** Events written (accesses recorded, allocation events, markers). */
  events: number;
  /** Size of the trace file. */
  bytes: number;
  exitCode: number | null;
  signal: string | null;
}

/** A capture in progress. */
export interface RunningCapture {
  /** Process id of the traced program (valgrind runs it in its own process). */
  readonly pid: number;
  /** Lines of lackey's stream parsed so far. */
  readonly linesSoFar: number;
  readonly done: Promise<CaptureResult>;
  /** Add a fact to the trace's meta (written when the capture ends). */
  setMeta(key: string, value: string | number): void;
  /** End the window: SIGTERM to the program, which the servers handle by shutting down. */
  stop(): void;
  /** Give up: kill the program and remove the partial trace; `done` then rejects. */
  kill(): void;
}

const OUTPUT_TAIL_BYTES = 4096;

const VALGRIND_ARGS = ['--tool=lackey', '--trace-mem=yes', '--log-fd=3'];

/** Start the program under lackey with the shim preloaded; lackey's stream comes on file descriptor 3. */
function spawnUnderLackey(options: CaptureOptions, shim: string): ChildProcess {
  const env = { ...process.env, ...options.env, LD_PRELOAD: [shim, process.env.LD_PRELOAD].filter(Boolean).join(':') };
  // `ulimit -Sn` must happen in the program's own process before valgrind starts: a shell that
  // then execs valgrind keeps the process (and its id) the same.
  const argv = ['valgrind', ...VALGRIND_ARGS, ...options.command];
  const [file, args] = options.openFiles
    ? ['/bin/sh', ['-c', `ulimit -Sn ${options.openFiles} && exec "$@"`, 'sh', ...argv]]
    : [argv[0], argv.slice(1)];
  return spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
}

/** Hand the program's output to `onProgramOutput` and keep its last bytes for an error message; returns them on demand. */
function keepOutputTail(child: ChildProcess, onProgramOutput?: (chunk: Buffer) => void): () => string {
  let outputTail = Buffer.alloc(0);
  const onOutput = (chunk: Buffer): void => {
    onProgramOutput?.(chunk);
    outputTail = Buffer.concat([outputTail, chunk]);
    if (outputTail.length > OUTPUT_TAIL_BYTES) outputTail = outputTail.subarray(outputTail.length - OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  return () => outputTail.toString();
}

/** Write what lackey counted and how the program ended into the trace's meta, and give the trace its name. */
function sealTrace(writer: TraceWriter, s: LackeyStats, seconds: number, exitCode: number | null, signal: string | null): void {
  writer.setMeta('captureSeconds', Number(seconds.toFixed(2)));
  writer.setMeta('lackeyLines', s.lines);
  writer.setMeta('instructions', s.instructions);
  writer.setMeta('dataAccesses', s.dataAccesses);
  writer.setMeta('allocatorAccesses', s.allocatorAccesses);
  writer.setMeta('exitCode', exitCode ?? -1);
  if (signal) writer.setMeta('signal', signal);
  writer.close();
}

export function startCapture(options: CaptureOptions): RunningCapture {
  if (options.command.length === 0) throw new UserError('trace capture: no command given (put it after --)');
  const shim = ensureShim();
  const withInstructions = options.withInstructions ?? false;
  const writer = new TraceWriter(options.out, {
    command: options.command,
    label: options.label ?? path.basename(options.command[0]),
    withInstructions,
    meta: { tool: 'valgrind lackey --trace-mem=yes', ...options.meta },
  });
  const parser = new LackeyParser(writer, withInstructions);
  const started = performance.now();
  const child = spawnUnderLackey(options, shim);
  const releaseChild = guardChild(child);
  const releaseWriter = onCleanup(() => writer.abort());
  const outputTail = keepOutputTail(child, options.onProgramOutput);
  const progress = options.progress ?? silentProgress;
  progress.phase(`capture ${path.basename(options.command[0])}`, 0);
  let lastProgress = started;
  const log = child.stdio[3] as Readable;
  log.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    const now = performance.now();
    if (now - lastProgress > 1000) {
      lastProgress = now;
      progress.update(0, `${(parser.stats.lines / 1e6).toFixed(1)} M lines, ${((now - started) / 1000).toFixed(0)} s`);
    }
  });

  let killed = false;
  const done = new Promise<CaptureResult>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      releaseChild();
      releaseWriter();
      progress.finish();
      reject(e);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      fail(e.code === 'ENOENT' ? new UserError('valgrind is not installed (scripts/install.sh installs it)') : e);
    });
    log.once('error', fail);
    child.once('close', (exitCode, signal) => {
      if (failed) return;
      if (killed) return fail(new Error(`capture of ${options.command[0]} was killed`));
      try {
        parser.end();
        const seconds = (performance.now() - started) / 1000;
        const s = parser.stats;
        if (s.dataAccesses === 0) {
          throw new UserError(`valgrind did not run ${options.command[0]} (exit ${exitCode ?? signal}): ${outputTail().trim().split('\n').slice(-3).join(' | ')}`);
        }
        sealTrace(writer, s, seconds, exitCode, signal);
        releaseWriter();
        progress.finish();
        resolve({ file: options.out, seconds, stats: { ...s }, events: writer.eventCount, bytes: writer.bytes, exitCode, signal });
      } catch (e) {
        fail(e);
      }
    });
  });
  return {
    pid: child.pid ?? -1,
    get linesSoFar() {
      return parser.stats.lines;
    },
    done,
    setMeta: (key, value) => writer.setMeta(key, value),
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    kill() {
      killed = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Capture a program from start to exit. */
export function capture(options: CaptureOptions): Promise<CaptureResult> {
  return startCapture(options).done;
}
