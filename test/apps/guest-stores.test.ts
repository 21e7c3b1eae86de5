/**
 * The stores on a real simulated VM: memcached and the document store allocate through the guest's
 * own malloc (stock OSv and UCat) and touch memory through the vCPU's access path. What a get or a
 * read returns must be what was stored, and every access must land inside a block the guest
 * allocator handed out and has not taken back (mocks.ts checks the same against a mock allocator;
 * here the allocator, page tables, EPT and tiers are the real ones).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpCost } from '../../src/apps/cost.ts';
import { DocumentStore } from '../../src/apps/docstore.ts';
import { MemcachedStore } from '../../src/apps/memcached.ts';
import type { AllocHint, GuestAllocator } from '../../src/guest/allocator.ts';
import type { AccessPath } from '../../src/hw/access.ts';
import { SimHost } from '../../src/sim/index.ts';
import { ALL_FIELDS, Operation, OpKind } from '../../src/workload/op.ts';
import { lastAtOrBelow } from './mocks.ts';

const MiB = 1024 * 1024;

/** Forwards to the guest allocator and remembers the live blocks, sorted by start. */
class RecordingAllocator implements GuestAllocator {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  constructor(readonly inner: GuestAllocator) {}
  get liveBlocks(): number {
    return this.starts.length;
  }
  /** Index of the last block starting at or below `addr`, or -1. */
  private floor(addr: number): number {
    return lastAtOrBelow(this.starts, addr);
  }
  private note(addr: number): number {
    const i = this.floor(addr) + 1;
    assert.ok(i === 0 || this.ends[i - 1] <= addr, `block at ${addr.toString(16)} overlaps a live block`);
    this.starts.splice(i, 0, addr);
    this.ends.splice(i, 0, addr + this.inner.usableSize(addr));
    return addr;
  }
  private forget(addr: number): void {
    const i = this.floor(addr);
    assert.ok(i >= 0 && this.starts[i] === addr, `free of ${addr.toString(16)}, not live`);
    this.starts.splice(i, 1);
    this.ends.splice(i, 1);
  }
  malloc(bytes: number, hint?: AllocHint): number {
    return this.note(this.inner.malloc(bytes, hint));
  }
  free(addr: number): void {
    this.forget(addr);
    this.inner.free(addr);
  }
  realloc(addr: number, bytes: number, hint?: AllocHint): number {
    this.forget(addr);
    return this.note(this.inner.realloc(addr, bytes, hint));
  }
  memalign(alignment: number, bytes: number, hint?: AllocHint): number {
    return this.note(this.inner.memalign(alignment, bytes, hint));
  }
  usableSize(addr: number): number {
    return this.inner.usableSize(addr);
  }
  /** Whether [addr, addr + size) lies inside one live block. */
  covers(addr: number, size: number): boolean {
    const i = this.floor(addr);
    return i >= 0 && addr + size <= this.ends[i];
  }
}

/** The vCPU's access path, checking each access against the live blocks first. */
class CheckedPath implements AccessPath {
  violations = 0;
  firstViolation = '';
  constructor(
    readonly inner: AccessPath,
    readonly alloc: RecordingAllocator,
  ) {}
  private check(gva: number, size: number, what: string): void {
    if (this.alloc.covers(gva, size)) return;
    this.violations++;
    if (!this.firstViolation) this.firstViolation = `${what} of ${size} B at ${gva.toString(16)} outside every live block`;
  }
  load(gva: number, size: number): number {
    this.check(gva, size, 'load');
    return this.inner.load(gva, size);
  }
  store(gva: number, size: number): number {
    this.check(gva, size, 'store');
    return this.inner.store(gva, size);
  }
}

/** One VM of 8 MiB DRAM + 24 MiB NVM on a host of the configuration's back-end. */
function vm(variant: 'baseline' | 'tierAware', guest: string) {
  const host = new SimHost({
    cpu: 'icelake',
    host: { tiers: [{ tier: 'ddr4', bytes: 64 * MiB }, { tier: 'optane', bytes: 256 * MiB }], variant, policy: { hugeBacking: variant === 'tierAware' ? 'madvise' : 'never' } },
  });
  const v = host.startVm({ memory: [{ tier: 'ddr4', bytes: 8 * MiB }, { tier: 'optane', bytes: 24 * MiB }], guest });
  const alloc = new RecordingAllocator(v.guest.malloc);
  const path = new CheckedPath(v.vcpu, alloc);
  return { host, v, alloc, path };
}

const GUESTS: ['baseline' | 'tierAware', string][] = [
  ['baseline', 'osv-4k'],
  ['baseline', 'osv'],
  ['tierAware', 'ucat'],
];

for (const [variant, guest] of GUESTS) {
  test(`memcached on a ${guest} guest: get returns what set stored, in memory the guest allocator handed out`, () => {
    const { host, v, alloc, path } = vm(variant, guest);
    const store = new MemcachedStore(alloc, path, { memLimitBytes: 24 * MiB });
    store.setup();
    const op = new Operation();
    const cost = new OpCost();
    const exec = (kind: OpKind, key: number, tag = 0) => {
      op.kind = kind;
      op.key = key;
      op.keyBytes = 20;
      op.valueBytes = kind === OpKind.Read ? 0 : 4096;
      op.valueTag = tag;
      store.execute(op, cost);
    };
    // 1500 values of 4 KiB outgrow the 8 MiB DRAM region: UCat puts the rest on NVM.
    const n = 1500;
    for (let k = 0; k < n; k++) exec(OpKind.Insert, k * 7919 + 1, 10_000 + k);
    // Overwrite every tenth key: the old item is freed, the new value must win.
    for (let k = 0; k < n; k += 10) exec(OpKind.Insert, k * 7919 + 1, 50_000 + k);
    for (let k = 0; k < n; k++) {
      exec(OpKind.Read, k * 7919 + 1);
      assert.ok(cost.hit, `key ${k}`);
      assert.equal(store.lastValueTag, k % 10 === 0 ? 50_000 + k : 10_000 + k, `key ${k}`);
      assert.equal(store.lastValueBytes, 4096);
    }
    exec(OpKind.Read, 2);
    assert.equal(cost.hit, false);
    assert.equal(store.evictions, 0);

    assert.equal(path.violations, 0, path.firstViolation);
    assert.ok(v.vcpu.counters.accesses > n * 65, 'every value line went through the vCPU');
    const stats = v.guest.malloc.stats();
    assert.equal(stats.total.liveObjects, alloc.liveBlocks, 'the store holds exactly the guest allocator\'s live blocks');
    if (guest === 'ucat') assert.ok(stats.tiers.nvm.requestedBytes > 0 && stats.tiers.dram.requestedBytes > 0, 'values on both tiers');
    host.backend.checkInvariants();
  });

  test(`document store on a ${guest} guest: reads return the fields inserts and updates stored`, () => {
    const { host, v, alloc, path } = vm(variant, guest);
    const store = new DocumentStore(alloc, path);
    store.setup();
    const op = new Operation();
    const cost = new OpCost();
    const exec = (kind: OpKind, key: number, writeField = ALL_FIELDS, tag = 0) => {
      op.kind = kind;
      op.key = key;
      op.keyBytes = 23;
      op.readField = ALL_FIELDS;
      op.writeField = writeField;
      op.valueTag = tag;
      op.count = 1;
      op.valueBytes = writeField === ALL_FIELDS ? 1000 : 100;
      store.execute(op, cost);
    };
    const n = 3000;
    const key = (k: number) => (k * 2654435761) % 4294967291;
    for (let k = 0; k < n; k++) exec(OpKind.Insert, key(k), ALL_FIELDS, k);
    for (let k = 0; k < n; k += 7) exec(OpKind.Update, key(k), k % 10, 100_000 + k);
    for (let k = 0; k < n; k++) {
      exec(OpKind.Read, key(k));
      assert.ok(cost.hit, `record ${k}`);
      const expected = Array.from({ length: 10 }, (_, f) => (k % 7 === 0 && f === k % 10 ? 100_000 + k : k));
      assert.deepEqual(Array.from(store.lastFieldTags), expected, `record ${k}`);
    }
    exec(OpKind.Read, 4294967295);
    assert.equal(cost.hit, false);

    assert.equal(path.violations, 0, path.firstViolation);
    assert.ok(v.vcpu.counters.accesses > 0);
    assert.equal(v.guest.malloc.stats().total.liveObjects, alloc.liveBlocks);
    host.backend.checkInvariants();
  });
}
