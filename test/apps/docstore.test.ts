import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/base/rng.ts';
import { AllocHint } from '../../src/guest/allocator.ts';
import { OpCost } from '../../src/apps/cost.ts';
import { DocumentStore, RECORD_HEADER_BYTES } from '../../src/apps/docstore.ts';
import { ALL_FIELDS, Operation, OpKind } from '../../src/workload/op.ts';
import { CountingAccessPath, MockAllocator } from './mocks.ts';

function setup() {
  const alloc = new MockAllocator();
  const path = new CountingAccessPath(alloc);
  const store = new DocumentStore(alloc, path);
  store.setup();
  return { alloc, path, store, op: new Operation(), cost: new OpCost() };
}
type S = ReturnType<typeof setup>;

function exec(s: S, kind: OpKind, key: number, fields: { read?: number; write?: number; tag?: number; count?: number } = {}): void {
  const op = s.op;
  op.kind = kind;
  op.key = key;
  op.keyBytes = 23;
  op.readField = fields.read ?? ALL_FIELDS;
  op.writeField = fields.write ?? ALL_FIELDS;
  op.valueTag = fields.tag ?? 0;
  op.count = fields.count ?? 1;
  op.valueBytes = op.writeField === ALL_FIELDS ? 1000 : 100;
  s.store.execute(op, s.cost);
}

test('docstore: a read returns every field an insert stored; records are Bulk, index nodes Hot', () => {
  const s = setup();
  exec(s, OpKind.Insert, 12345, { tag: 9 });
  exec(s, OpKind.Read, 12345);
  assert.ok(s.cost.hit);
  assert.deepEqual(Array.from(s.store.lastFieldTags), new Array(10).fill(9));
  assert.ok(s.alloc.bytesByHint[AllocHint.Bulk] >= RECORD_HEADER_BYTES + 1000);
  assert.ok(s.alloc.bytesByHint[AllocHint.Hot] > 0);
  exec(s, OpKind.Read, 999);
  assert.equal(s.cost.hit, false);
  assert.equal(s.path.violations, 0, s.path.firstViolation);
});

test('docstore: an update changes one field in place and leaves the others', () => {
  const s = setup();
  exec(s, OpKind.Insert, 7, { tag: 1 });
  const storesBefore = s.path.storeBytes;
  exec(s, OpKind.Update, 7, { write: 3, tag: 2 });
  assert.equal(s.path.storeBytes - storesBefore, 100, 'one 100-byte field written');
  exec(s, OpKind.Read, 7);
  const tags = Array.from(s.store.lastFieldTags);
  assert.deepEqual(tags, [1, 1, 1, 2, 1, 1, 1, 1, 1, 1]);
  exec(s, OpKind.ReadModifyWrite, 7, { write: 0, tag: 3 });
  exec(s, OpKind.Read, 7, { read: 0 });
  assert.equal(s.store.lastFieldTags[0], 3);
  assert.equal(s.store.lastFieldTags[1], -1, 'single-field read returns only that field');
});

test('docstore: the B+-tree keeps thousands of random keys in order and scans return them in key order', () => {
  const s = setup();
  const rng = new Rng(41);
  const keys = new Set<number>();
  while (keys.size < 5000) keys.add(rng.nextInt(2 ** 53));
  let tag = 1;
  for (const k of keys) exec(s, OpKind.Insert, k, { tag: tag++ });
  const sorted = [...keys].sort((a, b) => a - b);
  assert.deepEqual(s.store.keys(), sorted);
  assert.equal(s.store.size, 5000);
  assert.ok(s.store.indexDepth >= 3);
  for (const start of [0, 17, 2500, 4990]) {
    exec(s, OpKind.Scan, sorted[start], { count: 50 });
    const n = s.store.lastScanCount;
    assert.equal(n, Math.min(50, 5000 - start));
    assert.deepEqual(Array.from(s.store.lastScanKeys.subarray(0, n)), sorted.slice(start, start + n));
    assert.equal(s.cost.returned, n);
  }
  // Every key is still found by a point read.
  for (const k of sorted.slice(0, 200)) {
    exec(s, OpKind.Read, k);
    assert.ok(s.cost.hit);
  }
  assert.equal(s.path.violations, 0, s.path.firstViolation);
});

test('docstore: compute cycles follow the documented constants', () => {
  const s = setup();
  exec(s, OpKind.Insert, 1, { tag: 1 });
  assert.equal(s.cost.compute, 30000);
  exec(s, OpKind.Scan, 1, { count: 10 });
  assert.equal(s.cost.compute, 20000 + 2000 * 1);
  exec(s, OpKind.ReadModifyWrite, 1, { write: 2, tag: 5 });
  assert.equal(s.cost.compute, 45000);
});
