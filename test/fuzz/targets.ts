/**
 * Fuzz targets: the input readers of the command line, each with a fast-check generator of
 * structure-aware mutations of a valid input and the in-process entry point the CLI calls. A target
 * passes an input when the reader accepts it or refuses it with a one-line UserError; any other
 * exception (a RangeError, a TypeError, an invariant) is a failure to report.
 *
 * To plug in another reader, add a FuzzTarget to `FUZZ_TARGETS`: the
 * suite (`fuzz.test.ts`), the long campaign (`npm run fuzz`) and the corpus replay pick it up.
 */
import * as fc from 'fast-check';
import YAML from 'yaml';
import { isUserError, UserError } from '../../src/base/errors.ts';
import { memorySystem } from '../../src/base/system.ts';
import { resolveExperimentConfig } from '../../src/config/load.ts';
import { experiments } from '../../src/experiments/index.ts';
import { parseElf } from '../../src/image/elf.ts';
import { comparePages } from '../../src/image/compare.ts';
import { loadImage } from '../../src/image/pages.ts';
import { attributeLibraries } from '../../src/image/attribution.ts';
import { mergeSweeps, parseSweepFile } from '../../src/report/sweep.ts';
import { buildElf, type BuiltElf } from '../fixtures/elf-builder.ts';
import { traceTarget } from './trace-target.ts';

export interface FuzzTarget {
  name: string;
  /** File extension of corpus entries. */
  ext: string;
  /** Inputs: mutations of valid ones. */
  arbitrary: fc.Arbitrary<Uint8Array>;
  /** The reader's entry point; throws a UserError for bad input. */
  run(input: Uint8Array): void;
  /** The command line that reads the same input from `file` (the campaign runs a sample of inputs through it). */
  cli(file: string): string[];
  /** A stricter test of a refusal than `acceptableError`, where the reader promises a message shape. */
  acceptable?(e: unknown): boolean;
}

/** True when `e` is what a bad input may cause: a one-line user error. */
export function acceptableError(e: unknown): boolean {
  return isUserError(e) && !(e as Error).message.includes('\n');
}

/** Null when `target` read `input` or refused it as promised; else what went wrong (a stack, or a message of the wrong shape). */
export function verdict(target: FuzzTarget, input: Uint8Array): string | null {
  try {
    target.run(input);
    return null;
  } catch (e) {
    if (target.acceptable ? target.acceptable(e) : acceptableError(e)) return null;
    return ((e as Error).stack ?? String(e)).split('\n').slice(0, 4).join(' | ');
  }
}

// ---- ELF: header, program and section header fields, symbol and relocation entries, truncations

const ELF_BASES: BuiltElf[] = [buildElf(), buildElf({ symbols: 40, textBytes: 5000 })];

const interesting = (size: number): fc.Arbitrary<bigint> => {
  const max = (1n << BigInt(size * 8)) - 1n;
  return fc.oneof(
    fc.constantFrom(0n, 1n, 2n, 3n, 7n, 24n, 56n, 64n, 0x1000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, 1n << 40n, 1n << 47n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, max).map((v) => v & max),
    fc.bigInt({ min: 0n, max }),
    fc.bigInt({ min: 0n, max: 1n << 20n }),
  );
};

type ElfMutation = { kind: 'field'; field: number; value: bigint } | { kind: 'truncate'; at: number } | { kind: 'byte'; at: number; value: number };

const elfMutation: fc.Arbitrary<ElfMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.nat(), value: fc.nat().chain((n) => interesting([2, 4, 8][n % 3])) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
);

function mutateElf(base: BuiltElf, mutations: readonly ElfMutation[]): Uint8Array {
  let bytes = base.bytes.slice();
  for (const m of mutations) {
    if (m.kind === 'truncate') bytes = bytes.slice(0, m.at % (bytes.length + 1));
    else if (m.kind === 'byte') {
      if (bytes.length > 0) bytes[m.at % bytes.length] = m.value;
    } else {
      const f = base.fields[m.field % base.fields.length];
      if (f.offset + f.size > bytes.length) continue;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const v = m.value & ((1n << BigInt(f.size * 8)) - 1n);
      if (f.size === 2) view.setUint16(f.offset, Number(v), true);
      else if (f.size === 4) view.setUint32(f.offset, Number(v), true);
      else view.setBigUint64(f.offset, v, true);
    }
  }
  return bytes;
}

const elfTarget: FuzzTarget = {
  name: 'elf',
  ext: 'elf',
  arbitrary: fc.tuple(fc.nat(ELF_BASES.length - 1), fc.array(elfMutation, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutateElf(ELF_BASES[b], ms)),
  run(input) {
    // What `image inspect` and `image compare` do with a file: parse, attribute, load, compare.
    const elf = parseElf(input, 'fuzz.elf');
    const ranges = attributeLibraries(elf, [{ library: 'lib', object: elf }]);
    comparePages([loadImage(elf, ranges), loadImage(elf, [])]);
  },
  cli: (file) => ['image', 'inspect', file, '--json'],
};

// ---- configuration files: types, ranges, unknown keys, YAML aliases and anchors, size

const scalar = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1e300, 1e-320, 2 ** 53, 4096, 65536, Number.MAX_SAFE_INTEGER),
  fc.boolean(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
);

const configText = fc
  .record({
    experiment: fc.nat(experiments.length - 1),
    field: fc.nat(),
    value: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), scalar, { maxKeys: 3 })),
    unknownKey: fc.option(fc.string({ minLength: 1, maxLength: 6 })),
    raw: fc.option(
      fc.constantFrom(
        'x: *nowhere\n',
        'a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
        'seed: 1\n',
        'config: &c {}\n',
        '- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - x\n',
        '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n',
        '\t\u0000\uffff',
      ),
    ),
    // Rare: a few thousand lines of keys (parsing them is what costs time).
    repeat: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 8000 }) }),
    quick: fc.boolean(),
  })
  .map((m) => {
    const exp = experiments[m.experiment];
    const config = exp.defaults(true) as Record<string, unknown>;
    const keys = Object.keys(config);
    config[keys[m.field % keys.length]] = m.value;
    if (m.unknownKey !== null) config[m.unknownKey] = 1;
    let text = YAML.stringify({ experiment: exp.name, quick: m.quick, config });
    if (m.raw !== null) text += m.raw;
    if (m.repeat !== null) text += Array.from({ length: m.repeat }, (_, i) => `k${i}: ${i}`).join('\n');
    return new TextEncoder().encode(text);
  });

const configTarget: FuzzTarget = {
  name: 'config',
  ext: 'yaml',
  arbitrary: configText,
  run(input) {
    // What `config check` and `run` do with a file, through a System that serves the text.
    const text = new TextDecoder().decode(input);
    const sys = { ...memorySystem(), exists: () => true, readText: () => text };
    resolveExperimentConfig(sys, 'fuzz.yaml', false);
  },
  cli: (file) => ['config', 'check', file],
};

// ---- shard files of a sweep

const GOOD_SHARD = {
  format: 'unimem-sweep',
  version: 1,
  experiment: 'machine',
  title: 'Machine',
  seed: 1,
  quick: true,
  base: { cpu: 'zen2', workingSetMiB: 256 },
  axes: [{ key: 'workingSetMiB', values: [64, 128, 256] }],
  total: 3,
  shard: { index: 0, count: 2 },
  points: [
    { index: 0, values: { workingSetMiB: 64 }, seed: 1, summary: { a: 1 } },
    { index: 2, values: { workingSetMiB: 256 }, seed: 1, summary: { a: 2 } },
  ],
};

const shardText = fc
  .record({
    path: fc.constantFrom('total', 'axes', 'points', 'base', 'shard', 'seed', 'points.0.index', 'axes.0.values', 'format'),
    value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(1e9, -1, 2 ** 53, 0, 3, 1e308)),
    deep: fc.option(fc.integer({ min: 1, max: 20_000 })),
    truncate: fc.option(fc.nat()),
  })
  .map((m) => {
    const doc = structuredClone(GOOD_SHARD) as Record<string, unknown>;
    const parts = m.path.split('.');
    let at: Record<string, unknown> = doc;
    for (const p of parts.slice(0, -1)) at = (at[p] ?? {}) as Record<string, unknown>;
    at[parts[parts.length - 1]] = m.value;
    let text = JSON.stringify(doc);
    if (m.deep !== null) text = text.replace('"base":', `"base":${'['.repeat(m.deep)}${']'.repeat(m.deep)},"x":`);
    if (m.truncate !== null) text = text.slice(0, m.truncate % (text.length + 1));
    return new TextEncoder().encode(text);
  });

const shardTarget: FuzzTarget = {
  name: 'shard',
  ext: 'json',
  arbitrary: shardText,
  run(input) {
    const f = parseSweepFile('fuzz.json', new TextDecoder().decode(input));
    mergeSweeps([{ file: 'fuzz.json', data: f }]);
  },
  cli: (file) => ['merge', file, '--json'],
};

/**
 * A target that misbehaves on purpose, for the test of the campaign itself (campaign.test.ts): by
 * the input's first byte it loops forever, kills its own process, throws a TypeError, refuses with a
 * UserError, or reads fine. Present only when UNIMEM_FUZZ_SELFTEST is set.
 */
const selftestTarget: FuzzTarget = {
  name: 'selftest',
  ext: 'bin',
  arbitrary: fc.constantFrom(0, 1, 3, 250, 251, 252).map((b) => Uint8Array.of(b)),
  run(input) {
    const b = input[0];
    if (b === 250) for (;;);
    if (b === 251) process.kill(process.pid, 'SIGKILL');
    if (b === 252) throw new TypeError('a bug');
    if (b % 2 === 0) throw new UserError('selftest: refused');
  },
  cli: () => ['--version'],
};

export const FUZZ_TARGETS: FuzzTarget[] = process.env.UNIMEM_FUZZ_SELFTEST ? [selftestTarget] : [elfTarget, configTarget, shardTarget, traceTarget];
