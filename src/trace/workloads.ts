/**
 * Captured server workloads: a real server from Debian's packages runs under lackey with the shim
 * while a real client drives it over the loopback interface, and the window from the server's
 * start to its shutdown after the client's last request becomes a trace.
 *
 *   memcached+memslap   memcached driven by libmemcached's memaslap (`memcaslap`) with its own
 *                       key and value sizes and get/set mix (64 B keys, 1 KiB values, 9:1), one
 *                       thread and one connection, for `execute_number` operations. memcslap
 *                       (the classic memslap) loses most of its stores under lackey: it marks
 *                       the slowed server dead after a timeout and skips it (measured: 43 of 200
 *                       sets arrived, 159 of 200 gets missed); memaslap completes every operation.
 *   redis+ycsb-a .. -f  redis-server driven by YCSB core workload A..F (src/workload/ycsb.ts)
 *                       speaking RESP as YCSB's redis binding does (clients/ycsb-redis.ts)
 *
 * Servers run with as few threads as they allow, because lackey's stream has no thread ids
 * (memcached: one worker thread and its background threads off, as research/hostcheck.md §5
 * found necessary under lackey; redis: jemalloc's background thread off). Redis's timer runs at
 * 1 Hz, its minimum: lackey slows the server 100-200 times, and at the default 10 Hz the timer's
 * work dominated the trace (docs/traces.md). Captures are cached by
 * content hash of everything that decides them (versions of the programs, valgrind, the sources
 * of the shim and of the capture code, the command line, the client settings), outside the repository: $XDG_CACHE_HOME/unimem/traces
 * or ~/.cache/unimem/traces.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { InputError, UserError } from '../base/errors.ts';
import type { Progress } from '../base/progress.ts';
import { Rng } from '../base/rng.ts';
import { createYcsbWorkload } from '../workload/ycsb.ts';
import { startCapture, type RunningCapture } from './capture.ts';
import { runYcsbOnRedis } from './clients/ycsb-redis.ts';
import { TRACE_VERSION } from './format.ts';
import { guardChild, guardDir } from './guard.ts';
import { openTrace } from './reader.ts';
import { shimSourceHash } from './shim.ts';
import type { TraceHeader } from './types.ts';

export const WORKLOAD_NAMES = ['memcached+memslap', 'redis+ycsb-a', 'redis+ycsb-b', 'redis+ycsb-c', 'redis+ycsb-d', 'redis+ycsb-e', 'redis+ycsb-f'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/**
 * How long a window: `small` for tests (a few million accesses), `standard` for experiments
 * (memaslap: 5000 operations; YCSB: the workload files' 1000 records and 1000 operations).
 */
export type WorkloadSize = 'small' | 'standard';

const MEMASLAP_OPERATIONS: Record<WorkloadSize, number> = { small: 50, standard: 5000 };
const YCSB_COUNTS: Record<WorkloadSize, { recordCount: number; operationCount: number }> = {
  small: { recordCount: 20, operationCount: 30 },
  standard: { recordCount: 1000, operationCount: 1000 },
};

export interface CaptureWorkloadOptions {
  size?: WorkloadSize;
  withInstructions?: boolean;
  /** Seed of the YCSB generator and its values (default 1). */
  seed?: number;
  /** Cache directory (default $XDG_CACHE_HOME/unimem/traces or ~/.cache/unimem/traces). */
  cacheDir?: string;
  /** Capture again even if the cache has the trace. */
  refresh?: boolean;
  progress?: Progress;
  /** One line per step ("capturing ...", "captured ... in N s"), for the command line. */
  log?: (line: string) => void;
}

export interface CapturedWorkload {
  name: WorkloadName;
  file: string;
  /** Program and client with versions, e.g. `memcached-1.6.18+memcaslap`. */
  label: string;
  /** Wall-clock seconds the capture took (when it was made, if it came from the cache). */
  captureSeconds: number;
  fromCache: boolean;
  /** Client requests the server completed in the window (the trace's meta.requests). */
  requests: number;
}

/** A server and its client: how to start, drive and name one workload. */
interface ServerWorkload {
  label: string;
  command(port: number, scratch: string): string[];
  openFiles?: number;
  /** Everything besides the command that decides the trace (keys the cache). */
  settings: Record<string, string | number>;
  /** Drive the server at the port; returns facts for the trace's meta (requests at least). */
  drive(port: number): Promise<Record<string, number | string>>;
}

export function defaultTraceCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'unimem', 'traces');
}

function toolOutput(tool: string, args: string[]): string {
  try {
    return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stdout?: string };
    if (err.code === 'ENOENT') throw new UserError(`${tool} is not installed (scripts/install.sh installs it)`);
    return err.stdout ?? '';
  }
}

/** The first match of `pattern` in a tool's version output, or a UserError. */
function versionOf(tool: string, args: string[], pattern: RegExp): string {
  const m = pattern.exec(toolOutput(tool, args));
  if (!m) throw new UserError(`cannot read the version of ${tool} from '${tool} ${args.join(' ')}'`);
  return m[1];
}

/** A free loopback port (the kernel picks it; closed again before the server takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Wait until something accepts connections on 127.0.0.1:port, or the capture ends, or time runs out. */
async function waitForPort(port: number, running: RunningCapture, timeoutMs: number): Promise<void> {
  let ended = false;
  running.done.then(
    () => (ended = true),
    () => (ended = true),
  );
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (ended) throw new UserError(`the server exited before it listened on port ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UserError(`the server did not listen on port ${port} within ${timeoutMs / 1000} s`);
}

/** Run a client program to its end; its output is returned, a failure is an error. */
function runClient(command: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    guardChild(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new UserError(`${command[0]} is not installed (scripts/install.sh installs it)`) : e),
    );
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command.join(' ')} exited with ${code}: ${out.trim().slice(-500)}`))));
  });
}

/** memaslap's summary figures, e.g. "cmd_get: 270", "get_misses: 0". */
function memaslapFigure(output: string, name: string): number {
  const m = new RegExp(`^${name}: (\\d+)$`, 'm').exec(output);
  if (!m) throw new Error(`memcaslap printed no ${name}: ${output.trim().slice(-300)}`);
  return Number(m[1]);
}

function memcachedWorkload(size: WorkloadSize): ServerWorkload {
  const version = versionOf('memcached', ['-V'], /memcached (\S+)/);
  const memaslap = versionOf('memcaslap', ['--version'], /memaslap v?(\S+)/);
  const operations = MEMASLAP_OPERATIONS[size];
  // memcached refuses to run as root without -u.
  const user = process.getuid?.() === 0 ? ['-u', 'root'] : [];
  const client = ['memcaslap', '--threads=1', '--concurrency=1', `--execute_number=${operations}`];
  return {
    label: `memcached-${version}+memcaslap`,
    openFiles: 1024,
    command: (port) => [
      'memcached', ...user, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', '1', '-c', '1024',
      '-o', 'no_lru_crawler,no_lru_maintainer,no_hashexpand,no_slab_reassign,no_slab_automove',
    ],
    settings: { memcached: version, memaslap, client: client.join(' ') },
    async drive(port) {
      const out = await runClient([...client, `--servers=127.0.0.1:${port}`]);
      const gets = memaslapFigure(out, 'cmd_get');
      const sets = memaslapFigure(out, 'cmd_set');
      // memaslap has no load phase: every request belongs to the run.
      const requests = gets + sets;
      return { requests, loadRequests: 0, runRequests: requests, gets, sets, getMisses: memaslapFigure(out, 'get_misses'), client: client.join(' ') };
    },
  };
}

function redisWorkload(letter: string, size: WorkloadSize, seed: number): ServerWorkload {
  const version = versionOf('redis-server', ['--version'], /v=(\S+)/);
  const counts = YCSB_COUNTS[size];
  return {
    label: `redis-${version}+ycsb-${letter}`,
    command: (port, scratch) => [
      'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      '--dir', scratch, '--logfile', '', '--loglevel', 'warning', '--jemalloc-bg-thread', 'no', '--hz', '1',
    ],
    settings: { redis: version, ycsb: letter, ...counts, seed, fieldCount: 10, fieldLength: 100 },
    async drive(port) {
      const workload = createYcsbWorkload(letter, new Rng(seed).fork('ycsb'), counts);
      const r = await runYcsbOnRedis(port, workload, seed);
      return {
        requests: r.loadRequests + r.runRequests,
        loadRequests: r.loadRequests,
        runRequests: r.runRequests,
        ycsbOperations: r.loadOperations + r.runOperations,
        client: `unimem YCSB ${letter.toUpperCase()} (redis binding) recordcount=${counts.recordCount} operationcount=${counts.operationCount} seed=${seed}`,
      };
    },
  };
}

function workloadSpec(name: WorkloadName, size: WorkloadSize, seed: number): ServerWorkload {
  if (name === 'memcached+memslap') return memcachedWorkload(size);
  return redisWorkload(name.slice('redis+ycsb-'.length), size, seed);
}

/** Capture one server window into `file` (no cache). Returns the client's facts. */
async function captureServer(spec: ServerWorkload, file: string, opts: CaptureWorkloadOptions): Promise<Record<string, number | string>> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-server-'));
  const releaseScratch = guardDir(scratch);
  const port = await freePort();
  const running = startCapture({
    out: file,
    command: spec.command(port, scratch),
    label: spec.label,
    withInstructions: opts.withInstructions,
    openFiles: spec.openFiles,
    meta: { ...spec.settings },
    progress: opts.progress,
  });
  try {
    await waitForPort(port, running, 600_000);
    running.setMeta('serverReadyLines', running.linesSoFar);
    const facts = await spec.drive(port);
    for (const [k, v] of Object.entries(facts)) running.setMeta(k, v);
    running.stop();
    const timer = setTimeout(() => running.kill(), 300_000);
    try {
      await running.done;
    } finally {
      clearTimeout(timer);
    }
    return facts;
  } catch (e) {
    running.kill();
    await running.done.catch(() => undefined);
    // The server may have ended on its own and its trace been written: it is no capture of the workload.
    fs.rmSync(file, { force: true });
    throw e;
  } finally {
    releaseScratch();
  }
}

/**
 * The version of the code that decides what a capture holds (this file, the capture driver, the
 * lackey parser, the trace writer and format, the Redis/YCSB clients and the YCSB generator): part
 * of the cache key, so a cached trace is reused until that code changes what it records. Bump it
 * with any such change; test/trace/capture-version.test.ts pins the deterministic parts (writer
 * bytes, parser events, YCSB operations) and fails until it is bumped. Keying on a version rather
 * than on the sources' text lets a refactor that records the same events keep the cache (a Redis
 * capture takes 7 to 30 minutes). The first value is the hash of those sources' text when the key
 * changed over, so traces cached before stay valid.
 */
export const CAPTURE_CODE_VERSION = 'b376f8eb8e9c2142';

/** The header of a cached trace, or null if there is none; a damaged one is removed. */
function cachedTrace(file: string, log?: (line: string) => void): TraceHeader | null {
  if (!fs.existsSync(file)) return null;
  try {
    const r = openTrace(file);
    r.close();
    return r.header;
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    log?.(`removing a damaged cached trace: ${e.message}`);
    fs.rmSync(file, { force: true });
    return null;
  }
}

/**
 * The trace of a named workload: from the cache if it holds one made with the same programs and
 * settings, else captured now (which takes minutes for the standard size: lackey runs servers at
 * about 100 requests per second).
 */
export async function captureWorkload(name: WorkloadName, opts: CaptureWorkloadOptions = {}): Promise<CapturedWorkload> {
  if (!WORKLOAD_NAMES.includes(name)) throw new UserError(`unknown workload '${name}' (expected one of ${WORKLOAD_NAMES.join(', ')})`);
  const size = opts.size ?? 'standard';
  const seed = opts.seed ?? 1;
  const spec = workloadSpec(name, size, seed);
  const valgrind = versionOf('valgrind', ['--version'], /valgrind-(\S+)/);
  const key = JSON.stringify({
    name, size, withInstructions: opts.withInstructions ?? false, settings: spec.settings, command: spec.command(0, ''),
    valgrind, shim: shimSourceHash(), capture: CAPTURE_CODE_VERSION, traceVersion: TRACE_VERSION,
  });
  const hash = xxh64(Buffer.from(key)).toString(16).padStart(16, '0');
  const dir = opts.cacheDir ?? defaultTraceCacheDir();
  const file = path.join(dir, `${name.replace('+', '_')}-${size}-${hash}.umt`);
  const cached = opts.refresh ? null : cachedTrace(file, opts.log);
  if (cached) {
    opts.log?.(`${name}: trace from the cache, ${file} (captured in ${cached.meta.captureSeconds} s)`);
    return { name, file, label: cached.label, captureSeconds: Number(cached.meta.captureSeconds), fromCache: true, requests: Number(cached.meta.requests) };
  }
  opts.log?.(`${name}: capturing ${spec.label} (${size}) under valgrind lackey ...`);
  const t0 = performance.now();
  const facts = await captureServer(spec, file, opts);
  const seconds = (performance.now() - t0) / 1000;
  opts.log?.(`${name}: captured in ${seconds.toFixed(1)} s, ${file}`);
  return { name, file, label: spec.label, captureSeconds: Number(seconds.toFixed(2)), fromCache: false, requests: Number(facts.requests) };
}
