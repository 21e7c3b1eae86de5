/** `unimem trace info` on good and damaged traces: a cut at any byte is exit 2 and a one-line error with the offset. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { TraceOp } from '../../src/trace/types.ts';
import { TraceWriter } from '../../src/trace/writer.ts';
import { cli, tempDir } from '../fixtures/cli.ts';

describe('unimem trace info', () => {
  const { dir, cleanup } = tempDir('unimem-trace-cli-');
  after(cleanup);
  const file = path.join(dir, 'small.umt');
  const w = new TraceWriter(file, { command: ['./server', '-p', '1'], label: 'server-1.0+client', withInstructions: false, meta: { requests: 2 } });
  w.add(TraceOp.Malloc, 0x10000, 5000, 0);
  for (let i = 0; i < 100; i++) w.add(i % 3 ? TraceOp.Load : TraceOp.Store, 0x10000 + i * 40, 8, 0);
  w.add(TraceOp.Marker, 1, 0, 2);
  w.add(TraceOp.Realloc, 0x20000, 9000, 0x10000);
  w.add(TraceOp.Load, 0x7ff000, 4, 1);
  w.add(TraceOp.Free, 0x20000, 0, 0);
  w.close();

  it('prints the header and counts as JSON', async () => {
    const r = await cli(['trace', 'info', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.header.label, 'server-1.0+client');
    assert.deepEqual(s.accesses, { instr: 0, load: 67, store: 34, modify: 0, total: 101, insideAllocator: 1 });
    assert.equal(s.allocationEvents, 3);
    assert.deepEqual(s.markers, { accept: 0, reply: 1, other: 0 });
    // 0x10000 .. 0x10000 + 99*40 spans pages 16 (0x10000) only up to 0x10f78, plus 0x7ff000
    assert.deepEqual(s.pages, { all: 2, data: 2, instr: 0 });
    assert.equal(s.peakHeapBytes, 9000);
    assert.equal(s.finalHeapBytes, 0);
    assert.equal(s.header.meta.requests, 2);
  });

  it('prints tables without --json', async () => {
    const r = await cli(['trace', 'info', file]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /server-1\.0\+client/);
    assert.match(r.stdout, /heap bytes allocated at peak\s+9 000 \(0.01 MiB\)/);
  });

  it('exits 2 with one line naming the file and the byte offset for a trace cut at any byte', async () => {
    const bytes = fs.readFileSync(file);
    const cut = path.join(dir, 'cut.umt');
    for (let n = 0; n < bytes.length; n++) {
      fs.writeFileSync(cut, bytes.subarray(0, n));
      const r = await cli(['trace', 'info', cut]);
      assert.equal(r.code, 2, `cut at ${n}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^unimem: ${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: byte ${n}: [^\\n]+\\n$`), `cut at ${n}`);
    }
  });

  it('exits 2 for a file that is not there', async () => {
    const r = await cli(['trace', 'info', path.join(dir, 'missing.umt')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing\.umt: cannot read the trace \(ENOENT\)\n$/);
  });

  it('trace workload refuses an unknown workload or size with exit 2', async () => {
    const r = await cli(['trace', 'workload', 'postgres+tpcc']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unimem: unknown workload 'postgres\+tpcc' \(expected one of memcached\+memslap, redis\+ycsb-a, .*\)\n$/);
    const s = await cli(['trace', 'workload', 'redis+ycsb-a', '--size', 'huge']);
    assert.equal(s.code, 2);
    assert.equal(s.stderr, "unimem: --size: 'huge' is not one of small, standard\n");
  });
});
