/** The binary trace format: the reader gives back exactly what the writer was given; bad files are InputErrors with an offset. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../src/base/errors.ts';
import { BLOCK_EVENTS, TRACE_OP_NAMES } from '../../src/trace/format.ts';
import { openTrace, type TraceReaderOptions } from '../../src/trace/reader.ts';
import { TraceOp } from '../../src/trace/types.ts';
import { TraceWriter } from '../../src/trace/writer.ts';
import { tempDir } from '../fixtures/cli.ts';

interface Ev {
  op: number;
  addr: number;
  size: number;
  arg: number;
}

const { dir, cleanup } = tempDir('unimem-trace-');
after(cleanup);
let fileNo = 0;

function writeTrace(events: Ev[], meta: Record<string, string | number> = {}): string {
  const file = path.join(dir, `t${fileNo++}.umt`);
  const w = new TraceWriter(file, { command: ['prog', '--flag', 'ä'], label: 'test', withInstructions: true, meta });
  for (const e of events) w.add(e.op, e.addr, e.size, e.arg);
  w.setMeta('requests', 7);
  w.close();
  return file;
}

/** The reader's own fallback, which an install without AssemblyScript takes. */
const JS_DECODER: TraceReaderOptions = { decoder: 'javascript' };

/** Events read, or the one-line problem the reader stopped with. */
function outcome(file: string, options: TraceReaderOptions): Ev[] | string {
  try {
    return readTrace(file, options);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, /^.+: byte \d+: [^\n]+$/);
    return e.message;
  }
}

function readTrace(file: string, options: TraceReaderOptions = {}): Ev[] {
  const r = openTrace(file, options);
  const out: Ev[] = [];
  for (let b = r.next(); b !== null; b = r.next()) {
    for (let i = 0; i < b.length; i++) out.push({ op: b.op[i], addr: b.addr[i], size: b.size[i], arg: b.arg[i] });
  }
  assert.equal(r.next(), null);
  r.close();
  return out;
}

const ACCESS_OPS = [TraceOp.Instr, TraceOp.Load, TraceOp.Store, TraceOp.Modify];
const OTHER_OPS = Object.keys(TRACE_OP_NAMES).map(Number).filter((o) => o >= 16);
const ADDRESS = fc.oneof(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0x400000, max: 0x400100 }), fc.constant(0));
const accessEvent = fc.record({
  op: fc.constantFrom(...ACCESS_OPS),
  addr: ADDRESS,
  size: fc.oneof(fc.constantFrom(1, 2, 4, 8, 16, 32, 64), fc.integer({ min: 0, max: 4096 })),
  arg: fc.constantFrom(0, 1),
});
const otherEvent = fc.record({
  op: fc.constantFrom(...OTHER_OPS),
  addr: ADDRESS,
  size: fc.oneof(fc.integer({ min: 0, max: 1 << 30 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  arg: fc.oneof(fc.integer({ min: 0, max: 2 ** 48 }), fc.constant(0)),
});

describe('trace format', () => {
  it('round-trips any events, header and meta through the writer and the reader (either decoder)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 4, arbitrary: accessEvent }, { weight: 1, arbitrary: otherEvent }), { maxLength: 300 }), (generated) => {
        const events = generated.map((e) => ({ ...e }));
        const file = writeTrace(events, { version: '1.6.18' });
        assert.deepEqual(readTrace(file), events);
        assert.deepEqual(readTrace(file, JS_DECODER), events);
        const r = openTrace(file);
        assert.deepEqual(r.header.command, ['prog', '--flag', 'ä']);
        assert.equal(r.header.label, 'test');
        assert.equal(r.header.withInstructions, true);
        assert.deepEqual(r.header.meta, { version: '1.6.18', requests: 7 });
        for (const op of Object.keys(TRACE_OP_NAMES)) {
          assert.equal(r.header.counts[op], events.filter((e) => e.op === Number(op)).length);
        }
        r.close();
        fs.rmSync(file);
      }),
      { numRuns: 60 },
    );
  });

  it('carries predictors across events of a full block and starts each block afresh', () => {
    const events: Ev[] = [];
    let a = 0x7ff000000000;
    for (let i = 0; i < BLOCK_EVENTS * 2 + 17; i++) {
      a += (i % 7) * 8 - 20;
      events.push({ op: ACCESS_OPS[i % 4], addr: a, size: 1 << i % 6, arg: (i >> 5) & 1 });
      if (i % 1000 === 0) events.push({ op: TraceOp.Malloc, addr: 0x5000 + i, size: i, arg: 0 });
    }
    const got = readTrace(writeTrace(events));
    assert.equal(got.length, events.length);
    assert.deepEqual(got, events);
  });

  it('clamps values beyond 2^53 - 1 and below 0', () => {
    const got = readTrace(writeTrace([{ op: TraceOp.Malloc, addr: 2 ** 64, size: -5, arg: 2 ** 60 }]));
    assert.deepEqual(got, [{ op: TraceOp.Malloc, addr: Number.MAX_SAFE_INTEGER, size: 0, arg: Number.MAX_SAFE_INTEGER }]);
  });

  it('refuses a trace cut at any byte with an InputError naming the file and the offset', () => {
    const events: Ev[] = [];
    for (let i = 0; i < 400; i++) events.push({ op: i % 50 === 0 ? TraceOp.Malloc : TraceOp.Load, addr: 0x1000 + i * 24, size: 8, arg: 0 });
    const file = writeTrace(events);
    const bytes = fs.readFileSync(file);
    const cut = path.join(dir, 'cut.umt');
    for (let n = 0; n < bytes.length; n++) {
      fs.writeFileSync(cut, bytes.subarray(0, n));
      assert.throws(
        () => readTrace(cut),
        (e: unknown) => e instanceof InputError && e.message.startsWith(`${cut}: byte `) && /^[^\n]+$/.test(e.message) && e.message.includes(`byte ${n}:`),
        `cut at ${n}`,
      );
    }
  });

  it('reads any corrupted trace to the end or stops with an InputError, the same with either decoder', () => {
    const events: Ev[] = [];
    for (let i = 0; i < 3000; i++) events.push({ op: ACCESS_OPS[i % 4], addr: 0x1000 + ((i * 7919) % 65536), size: 8, arg: 0 });
    const bytes = fs.readFileSync(writeTrace(events));
    const bad = path.join(dir, 'bad.umt');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const copy = Buffer.from(bytes);
        for (const [at, v] of flips) copy[at] = v;
        fs.writeFileSync(bad, copy);
        // Both decoders read the same events or stop at the same byte with the same problem.
        assert.deepEqual(outcome(bad, {}), outcome(bad, JS_DECODER));
      }),
      { numRuns: 300 },
    );
  });

  it('names a missing file and a file that is not a trace', () => {
    assert.throws(() => openTrace(path.join(dir, 'nope.umt')), /nope\.umt: cannot read the trace \(ENOENT\)/);
    const text = path.join(dir, 'text.umt');
    fs.writeFileSync(text, 'I  0401ab70,3\n L 1ffefffd88,8\n');
    assert.throws(() => openTrace(text), /text\.umt: byte 0: not a unimem trace \(bad magic\)/);
  });
});
