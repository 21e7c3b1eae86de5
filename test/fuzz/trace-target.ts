/**
 * Fuzz target of the binary trace reader (src/trace/reader.ts, docs/formats.md): traces written by
 * the real TraceWriter, taken apart into header, blocks and footer, mutated where the format has
 * structure, and put back together. Most mutations re-seal what they change (block lengths and
 * checksums, footer length and checksum), so the reader's deeper checks are reached instead of
 * stopping at the first checksum:
 *   - a u32 field of the preamble, a block head, the end block or the tail set to an interesting value
 *   - a block's raw bytes changed (column lengths, code bytes, overlong or cut varints, a cut) and
 *     the block re-compressed and re-sealed, or its event count changed
 *   - a header or footer field (event counts by op, meta, command) replaced by any JSON value, re-sealed
 *   - a byte set anywhere, or the file cut anywhere
 * The entry point is what `unimem trace info` does: open, stream every block, count. A bad trace
 * must be refused with one line `<file>: byte N: <problem>`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as fc from 'fast-check';
import { xxh32 } from '@node-rs/xxhash';
import { isUserError } from '../../src/base/errors.ts';
import { BLOCK_HEAD_BYTES, PREAMBLE_BYTES } from '../../src/trace/format.ts';
import { openTrace } from '../../src/trace/reader.ts';
import { summarizeTrace } from '../../src/trace/summary.ts';
import { TraceOp } from '../../src/trace/types.ts';
import { TraceWriter } from '../../src/trace/writer.ts';
import type { FuzzTarget } from './targets.ts';

interface TraceParts {
  header: Record<string, unknown>;
  blocks: { n: number; raw: Uint8Array }[];
  footer: Record<string, unknown>;
}

/**
 * A private folder for the trace files the reader opens, removed when the process exits (a
 * campaign worker, which is killed, makes it inside UNIMEM_FUZZ_SCRATCH, which the campaign removes).
 */
let scratch: string | null = null;
function scratchDir(): string {
  if (scratch === null) {
    const dir = fs.mkdtempSync(path.join(process.env.UNIMEM_FUZZ_SCRATCH ?? os.tmpdir(), 'unimem-fuzz-trace-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

/** A deterministic mix of every kind of event: fetches, accesses of every size code, allocation calls, markers, allocator switches. */
function writeBaseTrace(file: string, events: number): void {
  const w = new TraceWriter(file, { command: ['./server', '-p', '11211'], label: 'fuzz-base', withInstructions: true, meta: { requests: 3 } });
  let x = 12345;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
  let pc = 0x400000;
  const sizes = [1, 2, 4, 8, 16, 32, 64, 3, 4096];
  const allocs = [TraceOp.Malloc, TraceOp.Calloc, TraceOp.Realloc, TraceOp.Free, TraceOp.PosixMemalign, TraceOp.AlignedAlloc, TraceOp.Mmap, TraceOp.Munmap, TraceOp.Brk, TraceOp.Marker];
  for (let i = 0; i < events; i++) {
    const r = rand(100);
    if (r < 40) {
      const s = 1 + rand(40);
      w.add(TraceOp.Instr, pc, s, rand(10) === 0 ? 1 : 0);
      pc = rand(20) === 0 ? 0x400000 + rand(1 << 20) : pc + s;
    } else if (r < 92) {
      const base = [0x10000, 0x7ffc0000, 0x5555_0000_0000, 2 ** 47][rand(4)];
      w.add(1 + rand(3), base + rand(1 << 16), sizes[rand(sizes.length)], rand(8) === 0 ? 1 : 0);
    } else {
      w.add(allocs[rand(allocs.length)], 0x20000 + rand(1 << 24) * 16, rand(1 << 20), rand(3) === 0 ? 0 : rand(1 << 30));
    }
  }
  w.close();
}

/** Take a well-formed trace apart (the layout of docs/formats.md). */
function splitTrace(bytes: Buffer): TraceParts {
  const headerBytes = bytes.readUInt32LE(12);
  const header = JSON.parse(bytes.toString('utf8', PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes)) as Record<string, unknown>;
  const blocks: TraceParts['blocks'] = [];
  let at = PREAMBLE_BYTES + headerBytes;
  for (;;) {
    const p = bytes.readUInt32LE(at);
    const n = bytes.readUInt32LE(at + 4);
    if (n === 0) break;
    blocks.push({ n, raw: new Uint8Array(zlib.inflateSync(bytes.subarray(at + BLOCK_HEAD_BYTES, at + BLOCK_HEAD_BYTES + p))) });
    at += BLOCK_HEAD_BYTES + p;
  }
  const footerBytes = bytes.readUInt32LE(at);
  const footer = JSON.parse(bytes.toString('utf8', at + BLOCK_HEAD_BYTES, at + BLOCK_HEAD_BYTES + footerBytes)) as Record<string, unknown>;
  return { header, blocks, footer };
}

function u32s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}

/** Put a trace together as the writer does, sealing every length and checksum; also returns the offsets of its u32 fields. */
function joinTrace(t: TraceParts): { bytes: Buffer; fields: number[] } {
  const parts: Buffer[] = [];
  const fields: number[] = [8, 12];
  let at = 0;
  const put = (b: Buffer, u32Fields: number): void => {
    for (let k = 0; k < u32Fields; k++) fields.push(at + 4 * k);
    parts.push(b);
    at += b.length;
  };
  const header = Buffer.from(JSON.stringify(t.header));
  put(Buffer.concat([Buffer.from('UMTRACE\0', 'latin1'), u32s([1, header.length]), header]), 0);
  for (const block of t.blocks) {
    const payload = zlib.deflateSync(block.raw, { level: 1 });
    put(u32s([payload.length, block.n, block.raw.length, xxh32(payload, 0)]), 4);
    put(payload, 0);
  }
  const footer = Buffer.from(JSON.stringify(t.footer));
  put(Buffer.concat([u32s([footer.length, 0, footer.length, xxh32(footer, 0)]), footer]), 4);
  put(Buffer.concat([u32s([footer.length, xxh32(footer, 0)]), Buffer.from('UMTREND\0', 'latin1')]), 2);
  return { bytes: Buffer.concat(parts), fields };
}

function baseTraces(): TraceParts[] {
  const dir = scratchDir();
  // One block of a few hundred events, and two blocks (the second short) for the cross-block checks.
  return [300, 65536 + 40].map((events, k) => {
    const file = path.join(dir, `base${k}.umt`);
    writeBaseTrace(file, events);
    return splitTrace(fs.readFileSync(file));
  });
}

let bases: TraceParts[] | null = null;

const u32Value = fc.oneof(
  fc.constantFrom(0, 1, 2, 15, 16, 17, 255, 4096, 65535, 65536, 65537, 1 << 20, 1 << 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1),
  fc.nat({ max: 2 ** 32 - 1 }),
  fc.nat({ max: 1 << 16 }),
);

/** Byte runs that make varints overlong, unterminated, or land on unknown codes. */
const rawBytes = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 12 }),
  fc.constantFrom(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x80), Uint8Array.of(0xc0, 0xc1, 0xc0), Uint8Array.of(0x7f), Uint8Array.of(0xbf, 0xa0)),
);

type TraceMutation =
  | { kind: 'field'; field: number; value: number }
  | { kind: 'raw'; block: number; at: number; bytes: Uint8Array; insert: boolean }
  | { kind: 'columnLength'; block: number; column: number; value: number }
  | { kind: 'rawCut'; block: number; at: number }
  | { kind: 'count'; block: number; value: number }
  | { kind: 'json'; part: 'header' | 'footer'; key: string; value: unknown }
  | { kind: 'opCount'; op: string; value: unknown }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'truncate'; at: number };

const traceMutation: fc.Arbitrary<TraceMutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.nat(), value: u32Value }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('raw' as const), block: fc.nat(), at: fc.nat(), bytes: rawBytes, insert: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('columnLength' as const), block: fc.nat(), column: fc.nat(3), value: u32Value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rawCut' as const), block: fc.nat(), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('count' as const), block: fc.nat(), value: u32Value }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('json' as const),
      part: fc.constantFrom('header' as const, 'footer' as const),
      key: fc.constantFrom('command', 'label', 'withInstructions', 'meta', 'counts', '__proto__', 'x'),
      value: fc.jsonValue({ maxDepth: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('opCount' as const),
      op: fc.constantFrom('0', '1', '2', '3', '16', '19', '32', '4', '255', '-1', 'load'),
      value: fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.constantFrom(2 ** 53, 1e300, 0.5, '1', null)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

/**
 * Overwrite or insert bytes in a raw block. An insertion into a column grows that column's length
 * in the block's column head, so that the decoder gets past its first check and meets the bytes.
 */
function spliceBytes(raw: Uint8Array, at: number, bytes: Uint8Array, insert: boolean): Uint8Array {
  const i = at % (raw.length + 1);
  const out = new Uint8Array(insert ? raw.length + bytes.length : Math.max(raw.length, i + bytes.length));
  out.set(raw.subarray(0, i));
  out.set(bytes, i);
  out.set(raw.subarray(insert ? i : i + bytes.length), i + bytes.length);
  if (insert && i >= 16 && raw.length >= 16) {
    const head = new DataView(out.buffer, 0, 16);
    let end = 16;
    for (let column = 0; column < 4; column++) {
      end += head.getUint32(column * 4, true);
      if (i < end || column === 3) {
        head.setUint32(column * 4, (head.getUint32(column * 4, true) + bytes.length) >>> 0, true);
        break;
      }
    }
  }
  return out;
}

/** Apply the structural mutations to a copy of the parts, seal, then apply the byte-level ones. */
function mutateTrace(base: TraceParts, mutations: readonly TraceMutation[]): Uint8Array {
  const t: TraceParts = { header: structuredClone(base.header), blocks: base.blocks.map((b) => ({ ...b })), footer: structuredClone(base.footer) };
  const pick = (k: number) => t.blocks[k % t.blocks.length];
  for (const m of mutations) {
    if (m.kind === 'raw') pick(m.block).raw = spliceBytes(pick(m.block).raw, m.at, m.bytes, m.insert);
    else if (m.kind === 'columnLength') {
      // A block cut shorter than its column head by an earlier mutation has no column length to set.
      const raw = pick(m.block).raw.slice();
      if (raw.length >= 16) new DataView(raw.buffer).setUint32(m.column * 4, m.value, true);
      pick(m.block).raw = raw;
    } else if (m.kind === 'rawCut') pick(m.block).raw = pick(m.block).raw.slice(0, m.at % (pick(m.block).raw.length + 1));
    else if (m.kind === 'count') pick(m.block).n = m.value;
    else if (m.kind === 'json') (m.part === 'header' ? t.header : t.footer)[m.key] = m.value;
    else if (m.kind === 'opCount') {
      const counts = t.footer.counts;
      if (typeof counts === 'object' && counts !== null) (counts as Record<string, unknown>)[m.op] = m.value;
    }
  }
  const { bytes, fields } = joinTrace(t);
  let out: Uint8Array = bytes;
  for (const m of mutations) {
    if (m.kind === 'field') {
      const at = fields[m.field % fields.length];
      if (at + 4 <= out.length) Buffer.from(out.buffer, out.byteOffset, out.length).writeUInt32LE(m.value >>> 0, at);
    } else if (m.kind === 'byte') {
      if (out.length > 0) out[m.at % out.length] = m.value;
    } else if (m.kind === 'truncate') out = out.slice(0, m.at % (out.length + 1));
  }
  return out;
}

/** The reader's promise: one line naming the file and the byte offset of the problem. */
const TRACE_ERROR = /^[^\n]*: byte \d+: [^\n]+$/;

export const traceTarget: FuzzTarget = {
  name: 'trace',
  ext: 'umt',
  arbitrary: fc.tuple(fc.nat(9), fc.array(traceMutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => {
    bases ??= baseTraces();
    // The two-block trace costs 200 times the reading of the small one: one case in ten.
    return mutateTrace(bases[b === 0 ? 1 : 0], ms);
  }),
  run(input) {
    // What `unimem trace info FILE` does: open, read every block, count.
    const file = path.join(scratchDir(), 'fuzz.umt');
    fs.writeFileSync(file, input);
    summarizeTrace(openTrace(file));
  },
  acceptable: (e) => isUserError(e) && TRACE_ERROR.test((e as Error).message),
  cli: (file) => ['trace', 'info', file],
};

/** The unmutated traces put back together by the target's own joiner (the suite checks they read back whole). */
export function joinedBaseTraces(): Uint8Array[] {
  bases ??= baseTraces();
  return bases.map((b) => joinTrace(b).bytes);
}
