/**
 * The WebAssembly decoder (src/trace/wasm-decoder.ts) against `decodeBlock` of format.ts: the same
 * events, counts and problems for random blocks, for the same blocks with bytes changed, cut or
 * columns resized, and for blocks whose cursors run far past their end.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BLOCK_EVENTS, COLUMNS_MISMATCH, decodeBlock, encodeBlock, type EventColumns, MAX_RAW_BLOCK_BYTES, newDecodeSlots, TRACE_OP_NAMES } from '../../src/trace/format.ts';
import { TraceOp } from '../../src/trace/types.ts';
import { ensureWasmDecoder, WasmBlockDecoder } from '../../src/trace/wasm-decoder.ts';

const built = ensureWasmDecoder();
const skip = built === null ? 'AssemblyScript (a dev dependency) is not installed, so the reader decodes in JavaScript only' : false;

function columns(n: number): EventColumns {
  return { op: new Uint8Array(n), addr: new Float64Array(n), size: new Float64Array(n), arg: new Float64Array(n) };
}

const ACCESS_OPS = [TraceOp.Instr, TraceOp.Load, TraceOp.Store, TraceOp.Modify];
const OTHER_OPS = Object.keys(TRACE_OP_NAMES).map(Number).filter((o) => o >= 16);
// Addresses near each other (one-to-four-byte deltas) and far apart (up to 2^53 - 1: eight-byte varints).
const ADDRESS = fc.oneof(
  fc.integer({ min: 0x7ff000, max: 0x801000 }),
  fc.integer({ min: 0, max: 2 ** 30 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const event = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constantFrom(...ACCESS_OPS), addr: ADDRESS, size: fc.oneof(fc.constantFrom(1, 2, 4, 8, 16, 32, 64), fc.integer({ min: 0, max: 2 ** 40 })), arg: fc.constantFrom(0, 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom(...OTHER_OPS), addr: ADDRESS, size: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), arg: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }) },
);

/** Encode `events` as one raw block. */
function rawBlock(events: { op: number; addr: number; size: number; arg: number }[]): Uint8Array {
  const ev = columns(events.length);
  events.forEach((e, i) => {
    ev.op[i] = e.op;
    ev.addr[i] = e.addr;
    ev.size[i] = e.size;
    ev.arg[i] = e.arg;
  });
  const out = new Uint8Array(MAX_RAW_BLOCK_BYTES);
  const length = encodeBlock(ev, events.length, out, new Uint8Array(26 * Math.max(1, events.length)));
  return out.slice(0, length);
}

/** Decode `raw` both ways; assert the same problem, or the same events and counts. Returns the problem. */
function compare(decoder: WasmBlockDecoder, raw: Uint8Array, n: number): string | null {
  const expected = columns(BLOCK_EVENTS);
  const expectedCounts = new Float64Array(256).fill(3);
  const counts = new Float64Array(256).fill(3);
  const problem = decodeBlock(raw, n, expected, newDecodeSlots(), expectedCounts);
  assert.equal(decoder.decode(raw, n, counts), problem);
  assert.deepEqual(counts, expectedCounts);
  if (problem !== null) return problem;
  const got = decoder.columns;
  for (let i = 0; i < n; i++) {
    const same = got.op[i] === expected.op[i] && Object.is(got.addr[i], expected.addr[i]) && Object.is(got.size[i], expected.size[i]) && Object.is(got.arg[i], expected.arg[i]);
    if (!same) assert.fail(`event ${i} of ${n}: ${[got.op[i], got.addr[i], got.size[i], got.arg[i]].join(' ')} against ${[expected.op[i], expected.addr[i], expected.size[i], expected.arg[i]].join(' ')}`);
  }
  return null;
}

describe('WebAssembly trace decoder', { skip }, () => {
  it('decodes random blocks as decodeBlock does', () => {
    const decoder = WasmBlockDecoder.create()!;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 2000, size: 'max' }), (events) => {
        assert.equal(compare(decoder, rawBlock(events), events.length), null);
      }),
      { numRuns: 150, seed: 16 },
    );
  });

  it('finds the same problem in blocks with bytes changed, cut or columns resized', () => {
    const decoder = WasmBlockDecoder.create()!;
    const problems = new Map<string, number>();
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 300, size: 'max' }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 0, maxLength: 6 }),
        fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) }),
        fc.nat(3),
        fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) }),
        (events, changes, countChange, column, resize) => {
          const raw = rawBlock(events);
          // Change bytes after the column head, then move bytes between two adjacent columns (the
          // lengths still add up, so the decoders get past the head check).
          for (const [at, value] of changes) raw[16 + (at % (raw.length - 16))] = value;
          const view = new DataView(raw.buffer, raw.byteOffset, 16);
          const next = (column + 1) % 4;
          if (view.getUint32(column * 4, true) + resize >= 0 && view.getUint32(next * 4, true) - resize >= 0) {
            view.setUint32(column * 4, view.getUint32(column * 4, true) + resize, true);
            view.setUint32(next * 4, view.getUint32(next * 4, true) - resize, true);
          }
          const n = Math.min(BLOCK_EVENTS, Math.max(1, events.length + countChange));
          const problem = compare(decoder, raw, n);
          const kind = problem === null ? 'none' : problem.replace(/\d+/g, 'N');
          problems.set(kind, (problems.get(kind) ?? 0) + 1);
        },
      ),
      { numRuns: 600, seed: 16 },
    );
    // Every kind of outcome was tried (so the comparison above compared something).
    for (const kind of ['none', 'the ops column ends before the last event', 'event N: unknown code byte N', COLUMNS_MISMATCH]) assert.ok((problems.get(kind) ?? 0) > 5, `${kind}: ${problems.get(kind) ?? 0} blocks`);
  });

  it('refuses a full block whose cursors run far past its end, after a block that left continuation bytes behind', () => {
    const decoder = WasmBlockDecoder.create()!;
    // A block of long varints fills the module's memory behind the next, short block with 0xff.
    const far = rawBlock(Array.from({ length: BLOCK_EVENTS }, (_, i) => ({ op: TraceOp.Load, addr: (i % 2) * Number.MAX_SAFE_INTEGER, size: Number.MAX_SAFE_INTEGER - i, arg: 0 })));
    assert.equal(compare(decoder, far, BLOCK_EVENTS), null);
    // Every event of the short block takes its size from the sizes column, which is empty.
    const short = new Uint8Array(16 + BLOCK_EVENTS);
    new DataView(short.buffer).setUint32(0, BLOCK_EVENTS, true);
    assert.equal(compare(decoder, short, BLOCK_EVENTS), COLUMNS_MISMATCH);
  });
});
