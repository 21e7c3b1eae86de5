/**
 * YCSB CoreWorkload as an operation stream: the load phase inserts `recordCount` records, the run
 * phase draws `operationCount` operations from the read/update/insert/scan/read-modify-write mix.
 *
 * Faithful to site.ycsb.workloads.CoreWorkload
 * (https://github.com/brianfrankcooper/YCSB/blob/master/core/src/main/java/site/ycsb/workloads/CoreWorkload.java):
 * - operation chooser: YCSB's DiscreteGenerator (one uniform draw against cumulative weights, in
 *   the order READ, UPDATE, INSERT, SCAN, READMODIFYWRITE, zero proportions left out);
 * - key chooser: `uniform` over the initial records; `zipfian` = ScrambledZipfian over
 *   [insertStart, insertStart + insertCount + expectedNewKeys] with expectedNewKeys =
 *   operationCount * insertProportion * 2 (YCSB's "fudge factor"); `latest` = SkewedLatest over
 *   the transaction insert counter; keys not yet inserted are redrawn (CoreWorkload.nextKeynum);
 * - key names: insertorder=hashed -> "user" + fnvhash64(keynum), else "user" + keynum. The store
 *   sees `op.key` = the hashed value's low 53 bits (see fnv.ts); `op.keyBytes` is the real name
 *   length. Ordering of hashed keys is therefore numeric on the hash, where YCSB's string keys order
 *   lexicographically; both are a pseudo-random permutation of insertion order, which is what
 *   matters for scans and memory layout.
 * - fields: readallfields=true reads every field; writeallfields=false updates one field chosen
 *   uniformly; inserts write all fields; fieldlength constant.
 * - draw order per operation follows YCSB: operation, key, then (scan length,) field.
 */
import { UserError } from '../base/errors.ts';
import type { Rng } from '../base/rng.ts';
import { fnvHash53, lastHashDigits } from './fnv.ts';
import { ALL_FIELDS, Operation, OpKind, type WorkloadGenerator } from './op.ts';
import {
  ScrambledZipfianGenerator,
  SkewedLatestGenerator,
  UniformLongGenerator,
  ZIPFIAN_CONSTANT,
  ZipfianGenerator,
} from './zipfian.ts';

export type RequestDistribution = 'uniform' | 'zipfian' | 'latest';
export type InsertOrder = 'hashed' | 'ordered';

/** CoreWorkload properties (YCSB names in comments). Defaults are YCSB's CoreWorkload defaults. */
export interface YcsbConfig {
  /** recordcount: records inserted by the load phase. Workload files a-f: 1000. */
  recordCount: number;
  /** operationcount: operations of the run phase. Workload files a-f: 1000. */
  operationCount: number;
  /** fieldcount: default 10. */
  fieldCount: number;
  /** fieldlength: bytes per field, default 100 (fieldlengthdistribution=constant). */
  fieldLength: number;
  /** readallfields: default true. */
  readAllFields: boolean;
  /** writeallfields: default false (update writes one random field). */
  writeAllFields: boolean;
  /** readproportion: default 0.95. */
  readProportion: number;
  /** updateproportion: default 0.05. */
  updateProportion: number;
  /** insertproportion: default 0. */
  insertProportion: number;
  /** scanproportion: default 0. */
  scanProportion: number;
  /** readmodifywriteproportion: default 0. */
  readModifyWriteProportion: number;
  /** requestdistribution: CoreWorkload default uniform; workload files a-c, e, f: zipfian; d: latest. */
  requestDistribution: RequestDistribution;
  /** Zipfian constant (YCSB ZIPFIAN_CONSTANT 0.99; not a CoreWorkload property, exposed for sweeps). */
  zipfianConstant: number;
  /** minscanlength: default 1. */
  minScanLength: number;
  /** maxscanlength: default 1000 (workload e: 100). */
  maxScanLength: number;
  /** scanlengthdistribution: default uniform. */
  scanLengthDistribution: 'uniform' | 'zipfian';
  /** insertorder: default hashed. */
  insertOrder: InsertOrder;
  /** insertstart: default 0. */
  insertStart: number;
  /** insertcount: default recordcount - insertstart. */
  insertCount?: number;
  /** Key name prefix length: "user" (CoreWorkload keyprefix default). */
  keyPrefixBytes: number;
}

export const YCSB_DEFAULTS: Readonly<YcsbConfig> = {
  recordCount: 1000,
  operationCount: 1000,
  fieldCount: 10,
  fieldLength: 100,
  readAllFields: true,
  writeAllFields: false,
  readProportion: 0.95,
  updateProportion: 0.05,
  insertProportion: 0,
  scanProportion: 0,
  readModifyWriteProportion: 0,
  requestDistribution: 'uniform',
  zipfianConstant: ZIPFIAN_CONSTANT,
  minScanLength: 1,
  maxScanLength: 1000,
  scanLengthDistribution: 'uniform',
  insertOrder: 'hashed',
  insertStart: 0,
  keyPrefixBytes: 4,
};

const NO_MIX = { readProportion: 0, updateProportion: 0, insertProportion: 0, scanProportion: 0, readModifyWriteProportion: 0 };

/**
 * The core workloads, as in YCSB's workloads/workload{a..f} files
 * (https://github.com/brianfrankcooper/YCSB/tree/master/workloads, and the wiki page Core-Workloads).
 */
export const YCSB_CORE_WORKLOADS: Readonly<Record<string, Partial<YcsbConfig>>> = {
  /** Update heavy: 50/50 reads and updates (session store). */
  A: { ...NO_MIX, readProportion: 0.5, updateProportion: 0.5, requestDistribution: 'zipfian' },
  /** Read mostly: 95/5 reads and updates (photo tagging). */
  B: { ...NO_MIX, readProportion: 0.95, updateProportion: 0.05, requestDistribution: 'zipfian' },
  /** Read only (user profile cache). */
  C: { ...NO_MIX, readProportion: 1, requestDistribution: 'zipfian' },
  /** Read latest: 95% reads, 5% inserts, latest distribution (status updates). */
  D: { ...NO_MIX, readProportion: 0.95, insertProportion: 0.05, requestDistribution: 'latest' },
  /** Short ranges: 95% scans (uniform length 1..100), 5% inserts (threaded conversations). */
  E: {
    ...NO_MIX,
    scanProportion: 0.95,
    insertProportion: 0.05,
    requestDistribution: 'zipfian',
    maxScanLength: 100,
    scanLengthDistribution: 'uniform',
  },
  /** Read-modify-write: 50% reads, 50% RMW (user database). */
  F: { ...NO_MIX, readProportion: 0.5, readModifyWriteProportion: 0.5, requestDistribution: 'zipfian' },
};

/** Resolve a core workload letter plus overrides into a full, validated config. */
export function ycsbConfig(letter: string, overrides: Partial<YcsbConfig> = {}): YcsbConfig {
  const preset = YCSB_CORE_WORKLOADS[letter.toUpperCase()];
  if (letter.length !== 1 || preset === undefined) {
    throw new UserError(`ycsb.workload: unknown core workload '${letter}' (expected one of A, B, C, D, E, F)`);
  }
  const cfg: YcsbConfig = { ...YCSB_DEFAULTS, ...preset, ...overrides };
  validateYcsbConfig(cfg);
  return cfg;
}

function requireInt(field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new UserError(`ycsb.${field}: must be an integer >= ${min}, got ${v}`);
  }
}

/** Throws UserError naming the first bad field. */
export function validateYcsbConfig(c: YcsbConfig): void {
  requireInt('recordCount', c.recordCount, 1);
  requireInt('operationCount', c.operationCount, 0);
  requireInt('fieldCount', c.fieldCount, 1);
  requireInt('fieldLength', c.fieldLength, 1);
  requireInt('minScanLength', c.minScanLength, 1);
  requireInt('maxScanLength', c.maxScanLength, c.minScanLength);
  requireInt('insertStart', c.insertStart, 0);
  requireInt('keyPrefixBytes', c.keyPrefixBytes, 0);
  const props: [string, number][] = [
    ['readProportion', c.readProportion],
    ['updateProportion', c.updateProportion],
    ['insertProportion', c.insertProportion],
    ['scanProportion', c.scanProportion],
    ['readModifyWriteProportion', c.readModifyWriteProportion],
  ];
  let sum = 0;
  for (const [name, p] of props) {
    if (!(p >= 0 && p <= 1)) throw new UserError(`ycsb.${name}: must be in [0, 1], got ${p}`);
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-9) {
    throw new UserError(
      `ycsb.readProportion..readModifyWriteProportion: proportions must sum to 1, got ${Number(sum.toFixed(12))}`,
    );
  }
  if (c.requestDistribution !== 'uniform' && c.requestDistribution !== 'zipfian' && c.requestDistribution !== 'latest') {
    throw new UserError(
      `ycsb.requestDistribution: unknown distribution '${String(c.requestDistribution)}' (expected uniform, zipfian or latest)`,
    );
  }
  if (c.scanLengthDistribution !== 'uniform' && c.scanLengthDistribution !== 'zipfian') {
    throw new UserError(`ycsb.scanLengthDistribution: expected uniform or zipfian, got '${String(c.scanLengthDistribution)}'`);
  }
  if (c.insertOrder !== 'hashed' && c.insertOrder !== 'ordered') {
    throw new UserError(`ycsb.insertOrder: expected hashed or ordered, got '${String(c.insertOrder)}'`);
  }
  if (!(c.zipfianConstant > 0 && c.zipfianConstant < 1)) {
    throw new UserError(`ycsb.zipfianConstant: must be in (0, 1), got ${c.zipfianConstant}`);
  }
  const insertCount = c.insertCount ?? c.recordCount - c.insertStart;
  requireInt('insertCount', insertCount, 1);
  if (c.recordCount < c.insertStart + insertCount) {
    // CoreWorkload.init: "recordcount must be bigger than insertstart + insertcount".
    throw new UserError(`ycsb.insertCount: insertStart + insertCount (${c.insertStart + insertCount}) exceeds recordCount (${c.recordCount})`);
  }
  if (c.requestDistribution === 'latest' && c.recordCount < 2) {
    throw new UserError(`ycsb.recordCount: the latest distribution needs at least 2 records, got ${c.recordCount}`);
  }
}

const enum KeyChooser {
  Uniform = 0,
  Zipfian = 1,
  Latest = 2,
}

/** One YCSB client thread running CoreWorkload. */
export class YcsbWorkload implements WorkloadGenerator {
  readonly name: string;
  readonly loadCount: number;
  readonly runCount: number;
  readonly config: Readonly<YcsbConfig>;

  private readonly rng: Rng;
  private readonly hashed: boolean;
  private readonly recordBytes: number;
  // Operation chooser: kinds and cumulative normalised weights, in YCSB's order.
  private readonly opKinds: Int32Array;
  private readonly opThresholds: Float64Array;
  private readonly chooser: KeyChooser;
  private readonly uniform: UniformLongGenerator | null;
  private readonly scrambled: ScrambledZipfianGenerator | null;
  private readonly latest: SkewedLatestGenerator | null;
  private readonly scanUniform: UniformLongGenerator | null;
  private readonly scanZipf: ZipfianGenerator | null;
  private readonly fieldChooser: UniformLongGenerator;
  /** keysequence (load phase): next keynum to insert. */
  private loadNext: number;
  /** transactioninsertkeysequence: next keynum a run-phase insert takes; lastValue = this - 1. */
  private insertNext: number;
  private tagNext = 1;

  constructor(config: YcsbConfig, rng: Rng, name = 'ycsb') {
    validateYcsbConfig(config);
    this.config = { ...config };
    this.name = name;
    this.rng = rng;
    const c = this.config;
    const insertCount = c.insertCount ?? c.recordCount - c.insertStart;
    this.loadCount = insertCount;
    this.runCount = c.operationCount;
    this.hashed = c.insertOrder === 'hashed';
    this.recordBytes = c.fieldCount * c.fieldLength;
    this.loadNext = c.insertStart;
    this.insertNext = c.recordCount;

    const weights: [OpKind, number][] = [
      [OpKind.Read, c.readProportion],
      [OpKind.Update, c.updateProportion],
      [OpKind.Insert, c.insertProportion],
      [OpKind.Scan, c.scanProportion],
      [OpKind.ReadModifyWrite, c.readModifyWriteProportion],
    ];
    const used = weights.filter((w) => w[1] > 0);
    let total = 0;
    for (const w of used) total += w[1];
    this.opKinds = new Int32Array(used.length);
    this.opThresholds = new Float64Array(used.length);
    for (let i = 0; i < used.length; i++) {
      this.opKinds[i] = used[i][0];
      this.opThresholds[i] = used[i][1] / total;
    }

    const keyRng = rng; // one stream, draws in YCSB's order
    this.uniform = null;
    this.scrambled = null;
    this.latest = null;
    if (c.requestDistribution === 'uniform') {
      this.chooser = KeyChooser.Uniform;
      this.uniform = new UniformLongGenerator(keyRng, c.insertStart, c.insertStart + insertCount - 1);
    } else if (c.requestDistribution === 'zipfian') {
      this.chooser = KeyChooser.Zipfian;
      const expectedNewKeys = Math.trunc(c.operationCount * c.insertProportion * 2.0);
      this.scrambled = new ScrambledZipfianGenerator(
        keyRng,
        c.insertStart,
        c.insertStart + insertCount + expectedNewKeys,
        c.zipfianConstant,
      );
    } else {
      this.chooser = KeyChooser.Latest;
      this.latest = new SkewedLatestGenerator(keyRng, c.recordCount - 1, c.zipfianConstant);
    }
    this.scanUniform = c.scanLengthDistribution === 'uniform' ? new UniformLongGenerator(rng, c.minScanLength, c.maxScanLength) : null;
    this.scanZipf = c.scanLengthDistribution === 'zipfian' ? new ZipfianGenerator(rng, c.minScanLength, c.maxScanLength) : null;
    this.fieldChooser = new UniformLongGenerator(rng, 0, c.fieldCount - 1);
  }

  /** The key the store sees for keynum (CoreWorkload.buildKeyName without the "user" prefix). */
  keyFor(keyNum: number): number {
    return this.hashed ? fnvHash53(keyNum) : keyNum;
  }

  private fill(op: Operation, kind: OpKind, keyNum: number): void {
    op.kind = kind;
    op.keyNum = keyNum;
    // Key name length: "user" + decimal digits (zeropadding=1: no padding).
    if (this.hashed) {
      op.key = fnvHash53(keyNum);
      op.keyBytes = this.config.keyPrefixBytes + lastHashDigits();
    } else {
      op.key = keyNum;
      op.keyBytes = this.config.keyPrefixBytes + (keyNum < 10 ? 1 : Math.floor(Math.log10(keyNum)) + 1);
    }
    op.valueBytes = 0;
    op.readField = ALL_FIELDS;
    op.writeField = ALL_FIELDS;
    op.count = 1;
    op.valueTag = 0;
  }

  nextLoad(op: Operation): void {
    const keyNum = this.loadNext++;
    this.fill(op, OpKind.Insert, keyNum);
    op.valueBytes = this.recordBytes;
    op.valueTag = this.tagNext++;
  }

  /** CoreWorkload.nextKeynum: draw until the key exists (keys beyond the last insert are redrawn). */
  private nextKeyNum(): number {
    const last = this.insertNext - 1;
    if (this.chooser === KeyChooser.Latest) return this.latest!.next(last);
    let k: number;
    if (this.chooser === KeyChooser.Uniform) {
      do k = this.uniform!.next();
      while (k > last);
    } else {
      do k = this.scrambled!.next();
      while (k > last);
    }
    return k;
  }

  private chooseField(all: boolean): number {
    return all ? ALL_FIELDS : this.fieldChooser.next();
  }

  nextRun(op: Operation): void {
    // DiscreteGenerator.nextString.
    let val = this.rng.nextFloat();
    const n = this.opKinds.length;
    let kind = this.opKinds[n - 1] as OpKind;
    for (let i = 0; i < n; i++) {
      const pw = this.opThresholds[i];
      if (val < pw) {
        kind = this.opKinds[i] as OpKind;
        break;
      }
      val -= pw;
    }
    const c = this.config;
    switch (kind) {
      case OpKind.Insert: {
        // transactioninsertkeysequence.nextValue(); acknowledged at once (one client thread).
        const keyNum = this.insertNext++;
        this.fill(op, OpKind.Insert, keyNum);
        op.valueBytes = this.recordBytes;
        op.valueTag = this.tagNext++;
        return;
      }
      case OpKind.Read: {
        this.fill(op, kind, this.nextKeyNum());
        op.readField = this.chooseField(c.readAllFields);
        return;
      }
      case OpKind.Update: {
        this.fill(op, kind, this.nextKeyNum());
        op.writeField = this.chooseField(c.writeAllFields);
        op.valueBytes = op.writeField === ALL_FIELDS ? this.recordBytes : c.fieldLength;
        op.valueTag = this.tagNext++;
        return;
      }
      case OpKind.Scan: {
        this.fill(op, kind, this.nextKeyNum());
        op.count = this.scanUniform !== null ? this.scanUniform.next() : this.scanZipf!.next();
        op.readField = this.chooseField(c.readAllFields);
        return;
      }
      default: {
        this.fill(op, OpKind.ReadModifyWrite, this.nextKeyNum());
        op.readField = this.chooseField(c.readAllFields);
        op.writeField = this.chooseField(c.writeAllFields);
        op.valueBytes = op.writeField === ALL_FIELDS ? this.recordBytes : c.fieldLength;
        op.valueTag = this.tagNext++;
        return;
      }
    }
  }

  /** Keynums inserted so far (load phase plus run-phase inserts). */
  get insertedCount(): number {
    return this.insertNext - this.config.insertStart;
  }
}

/** A core workload A-F with overrides, ready to run. */
export function createYcsbWorkload(letter: string, rng: Rng, overrides: Partial<YcsbConfig> = {}): YcsbWorkload {
  return new YcsbWorkload(ycsbConfig(letter, overrides), rng, `ycsb-${letter.toUpperCase()}`);
}
