/** The lackey stream parser: hand-written streams, split at every byte, give the same events. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LackeyParser } from '../../src/trace/lackey.ts';
import { KERNEL_CALL_INSIDE_ALLOCATOR, TraceOp } from '../../src/trace/types.ts';

type Ev = [number, number, number, number];

function parse(text: string, withInstructions: boolean, splits: number[] = []): { events: Ev[]; parser: LackeyParser } {
  const events: Ev[] = [];
  const parser = new LackeyParser({ add: (op, addr, size, arg) => void events.push([op, addr, size, arg]) }, withInstructions);
  const bytes = Buffer.from(text);
  let at = 0;
  for (const s of [...splits, bytes.length]) {
    parser.push(bytes.subarray(at, s));
    at = s;
  }
  parser.end();
  return { events, parser };
}

const STREAM = [
  '==4242== Lackey, an example Valgrind tool',
  '==4242== Command: ./prog',
  'I  04001100,3',
  ' L 1ffefffd88,8',
  '**4242** UM+',
  'I  0490a000,5',
  ' S 04a5b040,16',
  '**4242** UM= M 4a41000 200000 2203',
  '**4242** UM- m 4a5b050 28 0',
  ' M 04a5b050,4',
  'I  04001103,2',
  '**4242** UM! k 1 0 2',
  '**4242** UM+',
  '**4242** UM- f 0 0 0',
  ' S ffffffffff600000,8',
  '==4242== Exit code:       0',
].join('\n');

describe('lackey parser', () => {
  it('turns accesses, shim reports and markers into events in stream order', () => {
    const { events, parser } = parse(STREAM + '\n', true);
    assert.deepEqual(events, [
      [TraceOp.Instr, 0x4001100, 3, 0],
      [TraceOp.Load, 0x1ffefffd88, 8, 0],
      [TraceOp.Instr, 0x490a000, 5, 1],
      [TraceOp.Store, 0x4a5b040, 16, 1],
      [TraceOp.Mmap, 0x4a41000, 0x200000, 0x2203 + KERNEL_CALL_INSIDE_ALLOCATOR],
      [TraceOp.Malloc, 0x4a5b050, 0x28, 0],
      [TraceOp.Modify, 0x4a5b050, 4, 0],
      [TraceOp.Instr, 0x4001103, 2, 0],
      [TraceOp.Marker, 1, 0, 2],
      [TraceOp.Free, 0, 0, 0],
      // beyond 2^53: the parser passes the inexact double on, the writer clamps it
      [TraceOp.Store, 0xffffffffff600000, 8, 0],
    ]);
    assert.deepEqual(parser.stats, {
      lines: 16,
      bytes: Buffer.byteLength(STREAM) + 1,
      instructions: 3,
      dataAccesses: 4,
      allocatorAccesses: 2,
      shimLines: 6,
      otherLines: 3,
    });
  });

  it('counts instruction fetches but records none without --with-instructions', () => {
    const { events, parser } = parse(STREAM, false);
    assert.equal(events.filter((e) => e[0] === TraceOp.Instr).length, 0);
    assert.equal(parser.stats.instructions, 3);
    assert.equal(events.length, 8);
  });

  it('gives the same events however the stream is cut into chunks', () => {
    const whole = parse(STREAM, true).events;
    const n = Buffer.byteLength(STREAM);
    for (let a = 0; a <= n; a++) {
      assert.deepEqual(parse(STREAM, true, [a]).events, whole, `split at ${a}`);
      const b = Math.min(n, a + 7);
      assert.deepEqual(parse(STREAM, true, [a, b]).events, whole, `splits at ${a}, ${b}`);
    }
  });
});
