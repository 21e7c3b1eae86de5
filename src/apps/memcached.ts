/**
 * A memcached-like key-value store running inside a guest.
 *
 * Structure (memcached 1.4/1.5, items.c and assoc.c):
 * - a hash table of 2^hashPower bucket slots (8-byte pointers; memcached's default hashpower 16),
 *   chaining through each item's `h_next`, expanded to twice the size when items exceed 1.5x the
 *   buckets (assoc_expand). memcached migrates on its assoc maintenance thread, so expansion cycles
 *   are counted as background cycles, not charged to the request that triggered it;
 * - items with memcached's 48-byte header (LRU next/prev, h_next, time, exptime, nbytes, refcount,
 *   flags, slab class, nkey, CAS), the key, and the value followed by "\r\n" (memcached stores
 *   nbytes = value + 2);
 * - one LRU list, doubly linked through the header fields; a hit moves the item to the head (classic
 *   LRU; memcached rate-limits bumps to once per ITEM_UPDATE_INTERVAL=60 s, so this is the upper
 *   bound of LRU traffic);
 * - eviction from the LRU tail when the bytes held exceed `memLimitBytes` (memcached -m, default
 *   64 MB) or the guest allocator runs out of memory. Held bytes are the allocator's usable sizes,
 *   so an allocator with more internal fragmentation holds fewer items under the same limit, as
 *   memcached's slab pages would.
 *
 * Memory layout. memcached keeps header, key and value in one slab chunk. UCat-style placement
 * wants the small, hot part (header + key) apart from the bulk value, so the default layout is
 * 'split': one Hot allocation for header + key and one Bulk allocation for value + "\r\n". The
 * 'inline' layout is memcached's: one allocation (Default hint) of header + key + value + 2.
 *
 *   header+key (Hot)                           value (Bulk)
 *   +------+------+--------+------+-----+-----+---------+     +----------------------+----+
 *   | next | prev | h_next | time | ... | cas |  key    |     |  value bytes         |\r\n|
 *   +------+------+--------+------+-----+-----+---------+     +----------------------+----+
 *   0      8      16       24           40    48
 *
 * Access charging: bucket lookup = 8-byte load of the slot; each chained item visited = load of
 * its 48-byte header; key compare = load of the key bytes on a match, of the first 8 bytes on a
 * mismatch (memcmp stops at the first differing word of random keys); value copy into the reply
 * and from the request = one access per 64-byte line (app.ts loadRange/storeRange); LRU relinks =
 * 8-byte stores to the neighbours' header fields and the LRU head/tail words, which live in a small
 * Metadata allocation (memcached's static heads[]/tails[] arrays).
 *
 * Logical contents live in JS-side typed arrays (struct of arrays indexed by item id): the key, the
 * value's identity tag and sizes. `get` therefore returns what `set` stored.
 */
import { UserError } from '../base/errors.ts';
import { AllocHint, OutOfMemoryError, type GuestAllocator } from '../guest/allocator.ts';
import type { AccessPath } from '../hw/access.ts';
import { MiB } from '../base/units.ts';
import { Operation, OpKind } from '../workload/op.ts';
import { growF64, growI32 } from '../base/grow.ts';
import { type App, hashKey, loadRange, storeRange } from './app.ts';
import { MEMCACHED_COMPUTE, type KvComputeCosts, type OpCost } from './cost.ts';

export const ITEM_HEADER_BYTES = 48;
const OFF_NEXT = 0;
const OFF_PREV = 8;
const OFF_HNEXT = 16;
const OFF_TIME = 24;
/** memcached appends "\r\n" to every stored value. */
const VALUE_SUFFIX = 2;
/** Bytes of the LRU globals block: head and tail pointers plus item count. */
const GLOBALS_BYTES = 64;
const G_HEAD = 0;
const G_TAIL = 8;
const G_COUNT = 16;

export interface MemcachedConfig {
  /** memcached -m: bytes of item memory before eviction; default 64 MiB (memcached's default). */
  memLimitBytes: number;
  /** Initial hash power (memcached HASHPOWER_DEFAULT 16). */
  hashPower: number;
  /** 'split' (header+key Hot, value Bulk) or 'inline' (memcached's single chunk). */
  layout: 'split' | 'inline';
  compute: KvComputeCosts;
}

export const MEMCACHED_DEFAULTS: Readonly<MemcachedConfig> = {
  memLimitBytes: MiB(64),
  hashPower: 16,
  layout: 'split',
  compute: MEMCACHED_COMPUTE,
};

const NIL = -1;

export class MemcachedStore implements App {
  readonly name = 'memcached';
  readonly config: Readonly<MemcachedConfig>;
  backgroundCycles = 0;

  // Statistics (memcached `stats` names where they exist).
  getHits = 0;
  getMisses = 0;
  evictions = 0;
  currItems = 0;
  bytesHeld = 0;
  expansions = 0;

  /** Identity tag and size of the value returned by the last get (-1 tag on a miss). */
  lastValueTag = -1;
  lastValueBytes = 0;

  private readonly alloc: GuestAllocator;
  private readonly path: AccessPath;
  private readonly split: boolean;

  private hashPower = 0;
  private bucketMask = 0;
  private bucketAddr = 0;
  private buckets = new Int32Array(0);
  private globalsAddr = 0;
  private lruHead = NIL;
  private lruTail = NIL;

  // Items, struct of arrays by id.
  private capacity = 0;
  private iKey = new Float64Array(0);
  private iHeader = new Float64Array(0);
  private iValue = new Float64Array(0);
  private iHeld = new Float64Array(0);
  private iTag = new Float64Array(0);
  private iKeyBytes = new Int32Array(0);
  private iValueBytes = new Int32Array(0);
  private iHNext = new Int32Array(0);
  private iPrev = new Int32Array(0);
  private iNext = new Int32Array(0);
  private freeIds = new Int32Array(0);
  private freeCount = 0;
  private nextId = 0;

  // Result of the last chain search (no result objects on the hot path).
  private foundPrev = NIL;

  constructor(alloc: GuestAllocator, path: AccessPath, config: Partial<MemcachedConfig> = {}) {
    const c: MemcachedConfig = { ...MEMCACHED_DEFAULTS, ...config };
    if (!(c.memLimitBytes >= 1)) throw new UserError(`memcached.memLimitBytes: must be positive, got ${c.memLimitBytes}`);
    if (!Number.isInteger(c.hashPower) || c.hashPower < 1 || c.hashPower > 30) {
      throw new UserError(`memcached.hashPower: must be an integer in [1, 30], got ${c.hashPower}`);
    }
    if (c.layout !== 'split' && c.layout !== 'inline') {
      throw new UserError(`memcached.layout: expected split or inline, got '${String(c.layout)}'`);
    }
    this.config = c;
    this.alloc = alloc;
    this.path = path;
    this.split = c.layout === 'split';
  }

  setup(): number {
    this.globalsAddr = this.alloc.malloc(GLOBALS_BYTES, AllocHint.Metadata);
    let cycles = storeRange(this.path, this.globalsAddr, GLOBALS_BYTES);
    cycles += this.allocBuckets(this.config.hashPower);
    this.buckets = new Int32Array(1 << this.hashPower).fill(NIL);
    return cycles;
  }

  /** Allocate and zero (calloc) a bucket array of 2^power slots. */
  private allocBuckets(power: number): number {
    this.hashPower = power;
    this.bucketMask = (1 << power) - 1;
    const bytes = 8 * (1 << power);
    this.bucketAddr = this.alloc.malloc(bytes, AllocHint.Hot);
    return storeRange(this.path, this.bucketAddr, bytes);
  }

  execute(op: Operation, cost: OpCost): void {
    cost.reset();
    const cc = this.config.compute;
    switch (op.kind) {
      case OpKind.Read:
        cost.compute = cc.get;
        cost.memory = this.doGet(op.key, op.keyBytes);
        cost.hit = this.lastValueTag >= 0;
        cost.returned = cost.hit ? 1 : 0;
        return;
      case OpKind.Insert:
      case OpKind.Update:
        cost.compute = cc.set;
        cost.memory = this.doSet(op.key, op.keyBytes, op.valueBytes, op.valueTag, cost);
        return;
      case OpKind.ReadModifyWrite: {
        cost.compute = cc.get + cc.set;
        let m = this.doGet(op.key, op.keyBytes);
        cost.hit = this.lastValueTag >= 0;
        // The client writes back a whole value of the size it read (memcached has no fields).
        const bytes = cost.hit ? this.lastValueBytes : op.valueBytes;
        m += this.doSet(op.key, op.keyBytes, bytes, op.valueTag, cost);
        cost.memory = m;
        return;
      }
      case OpKind.MultiGet: {
        // One request, `count` keys: the request overhead once, a quarter of it per extra key
        // (per-key parsing and reply assembly remain). Modelled, see cost.ts.
        cost.compute = cc.get + Math.max(0, op.count - 1) * Math.round(cc.get / 4);
        let m = 0;
        let hits = 0;
        for (let i = 0; i < op.count; i++) {
          m += this.doGet(op.key + i, op.keyBytes);
          if (this.lastValueTag >= 0) hits++;
        }
        cost.memory = m;
        cost.returned = hits;
        cost.hit = hits === op.count;
        return;
      }
      default:
        throw new UserError('memcached: scan is not supported by a memcached store (YCSB workload E needs the document store)');
    }
  }

  // ---- lookups ---------------------------------------------------------------------------

  /** Walk the chain of `key`'s bucket; returns the cycles and leaves the item in `found`. */
  private found = NIL;
  private search(key: number, keyBytes: number): number {
    const b = hashKey(key) & this.bucketMask;
    const path = this.path;
    let cycles = path.load(this.bucketAddr + 8 * b, 8);
    let prev = NIL;
    let it = this.buckets[b];
    while (it !== NIL) {
      const hdr = this.iHeader[it];
      cycles += loadRange(path, hdr, ITEM_HEADER_BYTES);
      if (this.iKeyBytes[it] === keyBytes) {
        if (this.iKey[it] === key) {
          cycles += loadRange(path, hdr + ITEM_HEADER_BYTES, keyBytes);
          this.found = it;
          this.foundPrev = prev;
          return cycles;
        }
        cycles += path.load(hdr + ITEM_HEADER_BYTES, keyBytes < 8 ? keyBytes : 8);
      }
      prev = it;
      it = this.iHNext[it];
    }
    this.found = NIL;
    this.foundPrev = prev;
    return cycles;
  }

  private doGet(key: number, keyBytes: number): number {
    let cycles = this.search(key, keyBytes);
    const it = this.found;
    if (it === NIL) {
      this.getMisses++;
      this.lastValueTag = -1;
      this.lastValueBytes = 0;
      return cycles;
    }
    this.getHits++;
    cycles += this.bump(it);
    // Reply: the value and its "\r\n" are read out of the item.
    cycles += loadRange(this.path, this.iValue[it], this.iValueBytes[it] + VALUE_SUFFIX);
    this.lastValueTag = this.iTag[it];
    this.lastValueBytes = this.iValueBytes[it];
    return cycles;
  }

  // ---- LRU -------------------------------------------------------------------------------

  /** Move a linked item to the LRU head and refresh its time. */
  private bump(it: number): number {
    const path = this.path;
    let cycles = path.store(this.iHeader[it] + OFF_TIME, 4);
    if (this.lruHead === it) return cycles;
    cycles += this.lruUnlink(it);
    cycles += this.lruLinkHead(it);
    return cycles;
  }

  private lruUnlink(it: number): number {
    const path = this.path;
    let cycles = 0;
    const p = this.iPrev[it];
    const n = this.iNext[it];
    if (p !== NIL) {
      this.iNext[p] = n;
      cycles += path.store(this.iHeader[p] + OFF_NEXT, 8);
    } else {
      this.lruHead = n;
      cycles += path.store(this.globalsAddr + G_HEAD, 8);
    }
    if (n !== NIL) {
      this.iPrev[n] = p;
      cycles += path.store(this.iHeader[n] + OFF_PREV, 8);
    } else {
      this.lruTail = p;
      cycles += path.store(this.globalsAddr + G_TAIL, 8);
    }
    this.iPrev[it] = NIL;
    this.iNext[it] = NIL;
    return cycles;
  }

  private lruLinkHead(it: number): number {
    const path = this.path;
    const h = this.lruHead;
    this.iPrev[it] = NIL;
    this.iNext[it] = h;
    let cycles = path.store(this.iHeader[it] + OFF_NEXT, 16); // next and prev together
    if (h !== NIL) {
      this.iPrev[h] = it;
      cycles += path.store(this.iHeader[h] + OFF_PREV, 8);
    } else {
      this.lruTail = it;
      cycles += path.store(this.globalsAddr + G_TAIL, 8);
    }
    this.lruHead = it;
    cycles += path.store(this.globalsAddr + G_HEAD, 8);
    return cycles;
  }

  // ---- stores ----------------------------------------------------------------------------

  private doSet(key: number, keyBytes: number, valueBytes: number, tag: number, cost: OpCost): number {
    const path = this.path;
    // do_item_alloc: may evict to make room.
    let cycles = this.allocItem(keyBytes, valueBytes, cost);
    const it = this.lastAllocated;
    this.iKey[it] = key;
    this.iTag[it] = tag;
    // Fill the new item: header and key, then the value copied in from the request.
    cycles += storeRange(path, this.iHeader[it], ITEM_HEADER_BYTES + keyBytes);
    cycles += storeRange(path, this.iValue[it], valueBytes + VALUE_SUFFIX);
    // do_store_item: find an old item with this key, replace it.
    cycles += this.search(key, keyBytes);
    if (this.found !== NIL) {
      cycles += this.unlinkItem(this.found, this.foundPrev);
      this.freeItem(this.found);
    }
    // assoc_insert at the chain head, then LRU link.
    const b = hashKey(key) & this.bucketMask;
    this.iHNext[it] = this.buckets[b];
    this.buckets[b] = it;
    cycles += path.store(this.bucketAddr + 8 * b, 8);
    cycles += this.lruLinkHead(it);
    this.currItems++;
    cycles += path.store(this.globalsAddr + G_COUNT, 8);
    if (this.currItems > ((3 << this.hashPower) >>> 1) && this.hashPower < 30) this.expand();
    return cycles;
  }

  private lastAllocated = NIL;

  /** Allocate item memory and an id; evict from the LRU tail while over the limit or out of memory. */
  private allocItem(keyBytes: number, valueBytes: number, cost: OpCost): number {
    let cycles = 0;
    const id = this.takeId();
    let header = 0;
    let value = 0;
    let held = 0;
    for (;;) {
      try {
        if (this.split) {
          header = this.alloc.malloc(ITEM_HEADER_BYTES + keyBytes, AllocHint.Hot);
          try {
            value = this.alloc.malloc(valueBytes + VALUE_SUFFIX, AllocHint.Bulk);
          } catch (e) {
            this.alloc.free(header);
            throw e;
          }
          held = this.alloc.usableSize(header) + this.alloc.usableSize(value);
        } else {
          header = this.alloc.malloc(ITEM_HEADER_BYTES + keyBytes + valueBytes + VALUE_SUFFIX, AllocHint.Default);
          value = header + ITEM_HEADER_BYTES + keyBytes;
          held = this.alloc.usableSize(header);
        }
        break;
      } catch (e) {
        if (!(e instanceof OutOfMemoryError) || this.lruTail === NIL) throw e;
        cycles += this.evictTail(cost);
      }
    }
    this.iHeader[id] = header;
    this.iValue[id] = value;
    this.iHeld[id] = held;
    this.iKeyBytes[id] = keyBytes;
    this.iValueBytes[id] = valueBytes;
    this.iHNext[id] = NIL;
    this.iPrev[id] = NIL;
    this.iNext[id] = NIL;
    this.bytesHeld += held;
    while (this.bytesHeld > this.config.memLimitBytes && this.lruTail !== NIL) cycles += this.evictTail(cost);
    this.lastAllocated = id;
    return cycles;
  }

  private evictTail(cost: OpCost): number {
    const it = this.lruTail;
    let cycles = loadRange(this.path, this.iHeader[it], ITEM_HEADER_BYTES);
    cycles += this.search(this.iKey[it], this.iKeyBytes[it]);
    cycles += this.unlinkItem(it, this.foundPrev);
    this.freeItem(it);
    this.evictions++;
    cost.compute += this.config.compute.evict;
    return cycles;
  }

  /** Remove a linked item from its hash chain (predecessor known) and from the LRU. */
  private unlinkItem(it: number, prev: number): number {
    let cycles = 0;
    if (prev === NIL) {
      const b = hashKey(this.iKey[it]) & this.bucketMask;
      this.buckets[b] = this.iHNext[it];
      cycles += this.path.store(this.bucketAddr + 8 * b, 8);
    } else {
      this.iHNext[prev] = this.iHNext[it];
      cycles += this.path.store(this.iHeader[prev] + OFF_HNEXT, 8);
    }
    cycles += this.lruUnlink(it);
    this.currItems--;
    return cycles;
  }

  private freeItem(it: number): void {
    this.alloc.free(this.iHeader[it]);
    if (this.split) this.alloc.free(this.iValue[it]);
    this.bytesHeld -= this.iHeld[it];
    this.iKey[it] = -1;
    this.freeIds[this.freeCount++] = it;
  }

  private takeId(): number {
    if (this.freeCount > 0) return this.freeIds[--this.freeCount];
    const id = this.nextId++;
    if (id >= this.capacity) {
      const cap = Math.max(1024, this.capacity * 2);
      this.iKey = growF64(this.iKey, cap);
      this.iHeader = growF64(this.iHeader, cap);
      this.iValue = growF64(this.iValue, cap);
      this.iHeld = growF64(this.iHeld, cap);
      this.iTag = growF64(this.iTag, cap);
      this.iKeyBytes = growI32(this.iKeyBytes, cap);
      this.iValueBytes = growI32(this.iValueBytes, cap);
      this.iHNext = growI32(this.iHNext, cap);
      this.iPrev = growI32(this.iPrev, cap);
      this.iNext = growI32(this.iNext, cap);
      this.freeIds = growI32(this.freeIds, cap);
      this.capacity = cap;
    }
    return id;
  }

  /** assoc_expand + migration: double the table and rehash every chain (background thread). */
  private expand(): void {
    const path = this.path;
    const oldAddr = this.bucketAddr;
    const oldBuckets = this.buckets;
    const oldCount = oldBuckets.length;
    let cycles = this.allocBuckets(this.hashPower + 1);
    const fresh = new Int32Array(1 << this.hashPower).fill(NIL);
    for (let b = 0; b < oldCount; b++) {
      cycles += path.load(oldAddr + 8 * b, 8);
      let it = oldBuckets[b];
      while (it !== NIL) {
        const next = this.iHNext[it];
        cycles += path.load(this.iHeader[it] + OFF_HNEXT, 8);
        const nb = hashKey(this.iKey[it]) & this.bucketMask;
        this.iHNext[it] = fresh[nb];
        fresh[nb] = it;
        cycles += path.store(this.iHeader[it] + OFF_HNEXT, 8);
        cycles += path.store(this.bucketAddr + 8 * nb, 8);
        it = next;
      }
    }
    this.alloc.free(oldAddr);
    this.buckets = fresh;
    this.expansions++;
    this.backgroundCycles += cycles;
  }

  // ---- inspection (tests, statistics; not charged) ---------------------------------------

  /** The stored value's identity tag for `key`, or -1; does not touch simulated memory. */
  peekTag(key: number): number {
    const b = hashKey(key) & this.bucketMask;
    for (let it = this.buckets[b]; it !== NIL; it = this.iHNext[it]) if (this.iKey[it] === key) return this.iTag[it];
    return -1;
  }

  /** Keys from LRU head (most recent) to tail; allocates, for tests. */
  lruKeys(): number[] {
    const out: number[] = [];
    for (let it = this.lruHead; it !== NIL; it = this.iNext[it]) out.push(this.iKey[it]);
    return out;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }
}
