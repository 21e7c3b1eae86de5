/**
 * libmemcached's load generators as operation streams.
 *
 * `memslap` (src/bin/memslap.cc, libmemcached 1.0/1.1; man page https://man.archlinux.org/man/memslap.1.en):
 * - `--test` get | mget | set. The man page documents "default: get"; note that the 1.1 source
 *   initialises `opt_test = SET_TEST`, so a bare binary runs set. We follow the documentation.
 * - `--concurrency` default 1 (DEFAULT_CONCURRENCY): client threads.
 * - `--execute-number` default 10000 (DEFAULT_EXECUTE_NUMBER): sets per thread in the set test.
 * - `--initial-load` default 10000 (DEFAULT_INITIAL_LOAD) for get/mget, 0 for set: pairs stored
 *   before the test.
 * - keys: KEY_BYTES = 20 random alphanumerics (src/bin/common/generator.cc); values:
 *   VALUE_BYTES = 4096 (memslap.cc).
 * - get test: every thread issues `initial load` gets, each of a uniformly random loaded pair
 *   (execute_get: `random() % number_of`); the execute number is not used.
 * - mget test: every thread issues one multi-get of all loaded keys.
 * - set test: every thread stores `execute number` fresh pairs (pairs_generate per thread).
 * - `--flush`, `--binary`, `--udp`, `--non-blocking`, `--tcp-nodelay` change only the network
 *   protocol, which this model does not simulate; they are not options here.
 *
 * `memaslap` (docs/source/bin/memaslap.rst): default key 64 B, value 1024 B, get/set = 9:1,
 * concurrency 16, window size 10k keys per concurrency. Modelled as: the load phase presets the
 * `concurrency x windowSize` keys (memaslap presets objects for gets), the run phase issues
 * `executeNumber` operations, get with probability `getProportion`, on uniformly random keys of the
 * key space. memaslap's per-connection window walk is not reproduced; this keeps its key space,
 * sizes and get/set mix.
 *
 * Threads are interleaved round-robin, one operation each, which is how a single server sees
 * `concurrency` closed-loop clients.
 */
import { UserError } from '../base/errors.ts';
import type { Rng } from '../base/rng.ts';
import { Operation, OpKind, type WorkloadGenerator } from './op.ts';

export type MemslapTest = 'get' | 'mget' | 'set' | 'mix';

export interface MemslapConfig {
  /** Which load tool's behaviour: classic memslap or memaslap. */
  tool: 'memslap' | 'memaslap';
  /** memslap --test (get, mget, set); memaslap runs 'mix'. */
  test: MemslapTest;
  /** --concurrency: client threads (memslap default 1; memaslap default 16). */
  concurrency: number;
  /** --execute-number: memslap sets per thread (default 10000); memaslap total operations. */
  executeNumber: number;
  /** --initial-load: memslap pairs loaded before get/mget (default 10000; 0 for set). */
  initialLoad: number;
  /** Key length (memslap KEY_BYTES 20; memaslap 64). */
  keyBytes: number;
  /** Value length (memslap VALUE_BYTES 4096; memaslap 1024). */
  valueBytes: number;
  /** memaslap get share (cmd get 0.9, set 0.1). */
  getProportion: number;
  /** memaslap --win_size: keys per concurrency (default 10k). */
  windowSize: number;
}

export const MEMSLAP_DEFAULTS: Readonly<MemslapConfig> = {
  tool: 'memslap',
  test: 'get',
  concurrency: 1,
  executeNumber: 10000,
  initialLoad: 10000,
  keyBytes: 20,
  valueBytes: 4096,
  getProportion: 0,
  windowSize: 0,
};

export const MEMASLAP_DEFAULTS: Readonly<MemslapConfig> = {
  tool: 'memaslap',
  test: 'mix',
  concurrency: 16,
  // memaslap defaults to a 10-minute time mode; in execute-number mode the count is user given.
  // 1,000,000 is a common choice in published runs; set it explicitly for experiments.
  executeNumber: 1_000_000,
  initialLoad: 0,
  keyBytes: 64,
  valueBytes: 1024,
  getProportion: 0.9,
  windowSize: 10_000,
};

/** Resolve tool defaults plus overrides. memslap's set test loads nothing unless asked. */
export function memslapConfig(overrides: Partial<MemslapConfig> = {}): MemslapConfig {
  const base = overrides.tool === 'memaslap' ? MEMASLAP_DEFAULTS : MEMSLAP_DEFAULTS;
  const cfg: MemslapConfig = { ...base, ...overrides };
  if (cfg.tool === 'memslap' && cfg.test === 'set' && overrides.initialLoad === undefined) cfg.initialLoad = 0;
  validateMemslapConfig(cfg);
  return cfg;
}

function requireInt(field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new UserError(`memslap.${field}: must be an integer >= ${min}, got ${v}`);
}

export function validateMemslapConfig(c: MemslapConfig): void {
  if (c.tool !== 'memslap' && c.tool !== 'memaslap') {
    throw new UserError(`memslap.tool: expected memslap or memaslap, got '${String(c.tool)}'`);
  }
  const tests = c.tool === 'memslap' ? ['get', 'mget', 'set'] : ['mix'];
  if (!tests.includes(c.test)) {
    throw new UserError(`memslap.test: '${String(c.test)}' is not a ${c.tool} test (expected ${tests.join(', ')})`);
  }
  requireInt('concurrency', c.concurrency, 1);
  requireInt('executeNumber', c.executeNumber, 0);
  requireInt('initialLoad', c.initialLoad, 0);
  // memcached's key limit is 250 bytes; memaslap enforces 16..250.
  requireInt('keyBytes', c.keyBytes, 1);
  if (c.keyBytes > 250) throw new UserError(`memslap.keyBytes: memcached keys are at most 250 bytes, got ${c.keyBytes}`);
  requireInt('valueBytes', c.valueBytes, 1);
  if (c.tool === 'memslap' && c.test !== 'set' && c.initialLoad < 1) {
    throw new UserError(`memslap.initialLoad: the ${c.test} test needs at least one loaded pair`);
  }
  if (c.tool === 'memaslap') {
    if (!(c.getProportion >= 0 && c.getProportion <= 1)) {
      throw new UserError(`memslap.getProportion: must be in [0, 1], got ${c.getProportion}`);
    }
    requireInt('windowSize', c.windowSize, 1);
  }
}

/**
 * Pair numbering: loaded pairs are 0..L-1; memslap's set test gives thread t its own pairs
 * L + t*E .. L + (t+1)*E - 1 (each thread generates fresh random keys).
 */
export class MemslapWorkload implements WorkloadGenerator {
  readonly name: string;
  readonly loadCount: number;
  readonly runCount: number;
  readonly config: Readonly<MemslapConfig>;
  private readonly rng: Rng;
  private loadNext = 0;
  private runNext = 0;
  private readonly keySpace: number;
  /** Per-thread progress of the set test. */
  private readonly threadDone: Float64Array;

  constructor(config: MemslapConfig, rng: Rng) {
    validateMemslapConfig(config);
    this.config = { ...config };
    this.rng = rng;
    const c = this.config;
    this.name = c.tool === 'memaslap' ? 'memaslap' : `memslap-${c.test}`;
    this.threadDone = new Float64Array(c.concurrency);
    if (c.tool === 'memaslap') {
      this.keySpace = c.concurrency * c.windowSize;
      this.loadCount = this.keySpace;
      this.runCount = c.executeNumber;
    } else {
      this.keySpace = c.initialLoad;
      this.loadCount = c.initialLoad;
      this.runCount =
        c.test === 'get' ? c.concurrency * c.initialLoad : c.test === 'mget' ? c.concurrency : c.concurrency * c.executeNumber;
    }
  }

  private fill(op: Operation, kind: OpKind, pair: number, withValue: boolean): void {
    op.kind = kind;
    op.key = pair;
    op.keyNum = pair;
    op.keyBytes = this.config.keyBytes;
    op.valueBytes = withValue ? this.config.valueBytes : 0;
    op.readField = -1;
    op.writeField = -1;
    op.count = 1;
    // A pair's value is fixed by its pair number (memslap stores each generated pair's value).
    op.valueTag = withValue ? pair + 1 : 0;
  }

  nextLoad(op: Operation): void {
    this.fill(op, OpKind.Insert, this.loadNext++, true);
  }

  nextRun(op: Operation): void {
    const c = this.config;
    const i = this.runNext++;
    if (c.tool === 'memaslap') {
      const isGet = this.rng.nextFloat() < c.getProportion;
      const pair = this.rng.nextInt(this.keySpace);
      this.fill(op, isGet ? OpKind.Read : OpKind.Insert, pair, !isGet);
      return;
    }
    switch (c.test) {
      case 'get':
        this.fill(op, OpKind.Read, this.rng.nextInt(this.keySpace), false);
        return;
      case 'mget':
        this.fill(op, OpKind.MultiGet, 0, false);
        op.count = this.keySpace;
        return;
      default: {
        const t = i % c.concurrency;
        const pair = this.keySpace + t * c.executeNumber + this.threadDone[t]++;
        this.fill(op, OpKind.Insert, pair, true);
        return;
      }
    }
  }
}

export function createMemslapWorkload(rng: Rng, overrides: Partial<MemslapConfig> = {}): MemslapWorkload {
  return new MemslapWorkload(memslapConfig(overrides), rng);
}
