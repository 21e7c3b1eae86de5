/**
 * Pins what the capture code records, so that a change to it cannot reuse traces cached under the
 * old CAPTURE_CODE_VERSION: the trace writer's bytes, the lackey parser's events and the YCSB
 * operations that drive Redis, each for a fixed input, hashed. When one of these pins fails, the
 * change alters captures: bump CAPTURE_CODE_VERSION in src/trace/workloads.ts, then update the pin.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { xxh64 } from '@node-rs/xxhash';
import { Rng } from '../../src/base/rng.ts';
import { BLOCK_EVENTS } from '../../src/trace/format.ts';
import { LackeyParser } from '../../src/trace/lackey.ts';
import { TraceOp } from '../../src/trace/types.ts';
import { CAPTURE_CODE_VERSION } from '../../src/trace/workloads.ts';
import { TraceWriter } from '../../src/trace/writer.ts';
import { Operation } from '../../src/workload/op.ts';
import { createYcsbWorkload } from '../../src/workload/ycsb.ts';
import { tempDir } from '../fixtures/cli.ts';

const { dir, cleanup } = tempDir('unimem-capture-version-');
after(cleanup);

const PINNED_VERSION = 'b376f8eb8e9c2142';
const BUMP = 'the capture code records something else now: bump CAPTURE_CODE_VERSION in src/trace/workloads.ts, then update this pin';

function hashOf(bytes: Uint8Array | string): string {
  return xxh64(typeof bytes === 'string' ? Buffer.from(bytes) : bytes).toString(16).padStart(16, '0');
}

/** Two and a bit blocks of mixed accesses and allocator calls, from a seeded generator. */
function writeFixedTrace(file: string): void {
  const rng = new Rng(7);
  const w = new TraceWriter(file, { command: ['memcached', '-t', '1'], label: 'pin', withInstructions: false, meta: { version: '1.6' } });
  let addr = 0x7ff000001000;
  for (let i = 0; i < BLOCK_EVENTS * 2 + 333; i++) {
    addr += rng.nextInt(64) * 8 - 200;
    if (i % 97 === 0) w.add(TraceOp.Malloc, 0x5555_0000 + i * 48, 48 + (i % 5), 0);
    else w.add(TraceOp.Load + (i % 3), addr, 1 << (i % 4), i % 11 === 0 ? 1 : 0);
  }
  w.setMeta('requests', 12);
  w.close();
}

const LACKEY_STREAM = [
  '==77== Command: ./server',
  'I  04001100,3',
  ' L 1ffefffd88,8',
  '**77** UM+',
  ' S 04a5b040,16',
  '**77** UM= M 4a41000 200000 2203',
  '**77** UM- m 4a5b050 28 0',
  ' M 04a5b050,4',
  '**77** UM! k 1 0 2',
  '**77** UM- f 0 0 0',
  ' S ffffffffff600000,8',
  '==77== Exit code:       0',
].join('\n');

describe('the capture code version', () => {
  it('is the pinned one (the pins below were taken with it)', () => {
    assert.equal(CAPTURE_CODE_VERSION, PINNED_VERSION, 'update PINNED_VERSION and every pin below together');
  });

  it('the trace writer writes the pinned bytes for a fixed event stream', () => {
    const file = path.join(dir, 'pin.umt');
    writeFixedTrace(file);
    assert.equal(hashOf(fs.readFileSync(file)), 'e813e77b3605ed84', BUMP);
  });

  it('the lackey parser gives the pinned events for a fixed stream, with and without instructions', () => {
    const events: number[] = [];
    for (const withInstructions of [false, true]) {
      const parser = new LackeyParser({ add: (op, addr, size, arg) => void events.push(op, addr, size, arg) }, withInstructions);
      parser.push(Buffer.from(LACKEY_STREAM));
      parser.end();
    }
    assert.equal(hashOf(events.join(',')), '292817580fcc1bff', BUMP);
  });

  it('the YCSB generator gives the pinned operations for workload A, seed 1', () => {
    const workload = createYcsbWorkload('a', new Rng(1), { recordCount: 200, operationCount: 500 });
    const op = new Operation();
    const seen: number[] = [];
    for (let i = 0; i < workload.loadCount; i++) {
      workload.nextLoad(op);
      seen.push(op.kind, op.key, op.keyBytes, op.valueBytes, op.readField, op.writeField, op.count);
    }
    for (let i = 0; i < workload.runCount; i++) {
      workload.nextRun(op);
      seen.push(op.kind, op.key, op.keyBytes, op.valueBytes, op.readField, op.writeField, op.count);
    }
    assert.equal(hashOf(seen.join(',')), '5beadf4f56263ded', BUMP);
  });
});
