import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/base/errors.ts';
import { AllocHint } from '../../src/guest/allocator.ts';
import { OpCost } from '../../src/apps/cost.ts';
import { ITEM_HEADER_BYTES, MemcachedStore } from '../../src/apps/memcached.ts';
import { Operation, OpKind } from '../../src/workload/op.ts';
import { CountingAccessPath, MockAllocator } from './mocks.ts';

function setup(config: ConstructorParameters<typeof MemcachedStore>[2] = {}, capacity = Number.POSITIVE_INFINITY) {
  const alloc = new MockAllocator(0x10000000, capacity);
  const path = new CountingAccessPath(alloc);
  const store = new MemcachedStore(alloc, path, config);
  store.setup();
  return { alloc, path, store, op: new Operation(), cost: new OpCost() };
}

function set(s: ReturnType<typeof setup>, key: number, tag: number, valueBytes = 400, keyBytes = 20): void {
  s.op.kind = OpKind.Insert;
  s.op.key = key;
  s.op.keyBytes = keyBytes;
  s.op.valueBytes = valueBytes;
  s.op.valueTag = tag;
  s.store.execute(s.op, s.cost);
}

function get(s: ReturnType<typeof setup>, key: number, keyBytes = 20): number {
  s.op.kind = OpKind.Read;
  s.op.key = key;
  s.op.keyBytes = keyBytes;
  s.op.valueBytes = 0;
  s.store.execute(s.op, s.cost);
  return s.store.lastValueTag;
}

test('memcached: get returns what set stored, through the allocator, touching only live memory', () => {
  const s = setup();
  for (let k = 0; k < 500; k++) set(s, k * 7919, 1000 + k);
  for (let k = 0; k < 500; k++) {
    assert.equal(get(s, k * 7919), 1000 + k);
    assert.ok(s.cost.hit && s.cost.memory > 0 && s.cost.compute === 5000);
  }
  assert.equal(get(s, 3), -1);
  assert.equal(s.cost.hit, false);
  assert.equal(s.path.violations, 0, s.path.firstViolation);
  // Split layout: 2 allocations per item + buckets + globals.
  assert.equal(s.alloc.liveBlocks(), 2 + 2 * 500);
  assert.equal(s.store.currItems, 500);
});

test('memcached: a get reads the whole value line by line; a set writes header, key and value', () => {
  const s = setup();
  set(s, 42, 1, 4096);
  const before = s.path.loadBytes;
  get(s, 42);
  const loaded = s.path.loadBytes - before;
  // bucket slot + header + key + value with "\r\n".
  assert.equal(loaded, 8 + ITEM_HEADER_BYTES + 20 + 4096 + 2);
  assert.ok(s.path.storeBytes >= ITEM_HEADER_BYTES + 20 + 4098);
});

test('memcached: hints put buckets and headers in Hot, values in Bulk; the inline layout uses one chunk', () => {
  const s = setup();
  set(s, 1, 1, 1000);
  assert.ok(s.alloc.bytesByHint[AllocHint.Hot] >= 8 * 65536 + ITEM_HEADER_BYTES + 20);
  assert.ok(s.alloc.bytesByHint[AllocHint.Bulk] >= 1002);
  const inl = setup({ layout: 'inline' });
  set(inl, 1, 7, 1000);
  assert.equal(get(inl, 1), 7);
  assert.equal(inl.alloc.liveBlocks(), 3);
  assert.equal(inl.path.violations, 0, inl.path.firstViolation);
});

test('memcached: overwriting a key replaces the item and frees the old one', () => {
  const s = setup();
  set(s, 5, 1);
  set(s, 5, 2, 800);
  assert.equal(get(s, 5), 2);
  assert.equal(s.store.lastValueBytes, 800);
  assert.equal(s.store.currItems, 1);
  assert.equal(s.alloc.liveBlocks(), 2 + 2);
});

test('memcached: over the memory limit the LRU tail is evicted; a get protects its item', () => {
  // Each item holds 80 B (48+20 -> 80) + 416 B (400+2 -> 416) = 496 B; limit 50 items.
  const s = setup({ memLimitBytes: 50 * 496 });
  for (let k = 0; k < 50; k++) set(s, k, k + 1);
  assert.equal(s.store.evictions, 0);
  get(s, 0); // key 0 becomes most recent
  for (let k = 50; k < 60; k++) set(s, k, k + 1);
  assert.equal(s.store.evictions, 10);
  assert.ok(s.store.bytesHeld <= 50 * 496);
  assert.equal(get(s, 0), 1, 'recently used key survives');
  for (let k = 1; k <= 10; k++) assert.equal(s.store.peekTag(k), -1, `key ${k} evicted`);
  for (let k = 11; k < 60; k++) assert.equal(s.store.peekTag(k), k + 1);
  assert.equal(s.path.violations, 0, s.path.firstViolation);
  assert.equal(s.store.lruKeys()[0], 0);
});

test('memcached: allocator exhaustion evicts instead of failing', () => {
  const s = setup({}, 8 * 65536 + 64 + 20 * 496);
  for (let k = 0; k < 100; k++) set(s, k, k + 1);
  assert.ok(s.store.evictions >= 80);
  assert.equal(get(s, 99), 100);
  assert.equal(s.path.violations, 0, s.path.firstViolation);
});

test('memcached: the hash table expands past 1.5 items per bucket and keeps every item', () => {
  const s = setup({ hashPower: 4 });
  for (let k = 0; k < 1000; k++) set(s, k * 31 + 1, k);
  assert.ok(s.store.bucketCount >= 1000 / 1.5, `buckets ${s.store.bucketCount}`);
  assert.ok(s.store.expansions >= 6);
  assert.ok(s.store.backgroundCycles > 0);
  for (let k = 0; k < 1000; k++) assert.equal(get(s, k * 31 + 1), k);
  assert.equal(s.path.violations, 0, s.path.firstViolation);
});

test('memcached: scan is a user error; bad config fields are named', () => {
  const s = setup();
  s.op.kind = OpKind.Scan;
  assert.throws(() => s.store.execute(s.op, s.cost), UserError);
  assert.throws(() => setup({ hashPower: 0 }), (e: unknown) => e instanceof UserError && /memcached\.hashPower/.test(e.message));
});
