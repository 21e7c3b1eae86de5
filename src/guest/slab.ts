/**
 * Small-object caches: OSv's power-of-two pools and UCat's fine-grained slabs share this engine;
 * they differ only in their geometry (classes, pages per slab, in-slab header, slot layout).
 *
 *   OSv pool page (core/mempool.cc, `pool::add_page`), 4 KiB, objects packed against its end:
 *   +-------------+------+----------+----------+-----+----------+
 *   | page_header | tail |  obj 0   |  obj 1   | ... | obj n-1  |
 *   |    40 B     |slack |          |          |     |          |
 *   +-------------+------+----------+----------+-----+----------+
 *   n = floor((4096 - 40) / size); obj n-1 ends at the page end, so every object is aligned to its
 *   (power-of-two) size; the free list starts at the lowest object, which is allocated first.
 *
 *   UCat slab (our reconstruction), 1..16 pages, descriptor kept off-slab:
 *   +----------+----------+-----+----------+------+
 *   |  obj 0   |  obj 1   | ... | obj n-1  | tail |
 *   +----------+----------+-----+----------+------+
 *
 * One cache per (class, tier). Per slab: its first frame, a use count, an allocation bitmap and
 * the requested size of each live object (to count internal fragmentation on free); partial slabs
 * sit in a doubly linked list threaded through typed arrays. Nothing is allocated per object. A
 * slab that becomes empty is kept if it is the cache's only empty slab and returned to the page
 * allocator otherwise (OSv returns a pool page "once it is empty and another empty page already
 * exists", ucat.md §2.2). Single CPU: OSv's per-CPU pools and cross-CPU free queues are not
 * modelled.
 */
import { InvariantError } from '../base/assert.ts';
import { PAGE_4K } from '../base/units.ts';
import type { GuestKernel } from './kernel.ts';
import { MemArea, linearAddress, linearGpa } from './layout.ts';
import { CHUNK_FRAMES } from './pagerange.ts';

export interface SlabGeometry {
  /** Object sizes, ascending; each a multiple of 8. */
  classes: readonly number[];
  /** Pages per slab, per class. */
  slabPages: readonly number[];
  /** Bytes at the start of each slab not available to objects (OSv `page_header`: 40). */
  headerBytes: number;
  /** Pack slots against the end of the slab (OSv) or its start (UCat). */
  fromEnd: boolean;
}

export function objectsPerSlab(g: SlabGeometry, c: number): number {
  return Math.floor((g.slabPages[c] * PAGE_4K - g.headerBytes) / g.classes[c]);
}

const LOCAL_BITS = 2 ** 22;

class SlabCache {
  readonly objs: number;
  readonly words: number;
  readonly span: number;
  /** Offset of slot 0 in the slab; slot k is at firstOffset + k * size. */
  readonly firstOffset: number;
  base = new Float64Array(8);
  used = new Uint16Array(8);
  next = new Int32Array(8);
  prev = new Int32Array(8);
  bitmap: Uint32Array;
  requested: Uint16Array;
  count = 0;
  readonly freeIds: number[] = [];
  partialHead = -1;
  emptySlab = -1;
  liveSlabs = 0;

  constructor(
    readonly id: number,
    readonly size: number,
    readonly pages: number,
    readonly tier: number,
    headerBytes: number,
    fromEnd: boolean,
  ) {
    this.span = pages * PAGE_4K;
    this.objs = Math.floor((this.span - headerBytes) / size);
    this.firstOffset = fromEnd ? this.span - this.objs * size : headerBytes;
    if (this.objs < 1 || this.objs > 65535) throw new InvariantError(`slab class ${size}: ${this.objs} objects per slab`);
    this.words = Math.ceil(this.objs / 32);
    this.bitmap = new Uint32Array(8 * this.words);
    this.requested = new Uint16Array(8 * this.objs);
  }

  grow(): void {
    const n = this.base.length * 2;
    const b = new Float64Array(n);
    b.set(this.base);
    this.base = b;
    const u = new Uint16Array(n);
    u.set(this.used);
    this.used = u;
    const nx = new Int32Array(n);
    nx.set(this.next);
    this.next = nx;
    const pv = new Int32Array(n);
    pv.set(this.prev);
    this.prev = pv;
    const bm = new Uint32Array(n * this.words);
    bm.set(this.bitmap);
    this.bitmap = bm;
    const rq = new Uint16Array(n * this.objs);
    rq.set(this.requested);
    this.requested = rq;
  }

  pushPartial(s: number): void {
    const h = this.partialHead;
    this.next[s] = h;
    this.prev[s] = -1;
    if (h >= 0) this.prev[h] = s;
    this.partialHead = s;
  }

  removePartial(s: number): void {
    const p = this.prev[s];
    const q = this.next[s];
    if (p >= 0) this.next[p] = q;
    else this.partialHead = q;
    if (q >= 0) this.prev[q] = p;
  }
}

export class SlabAllocator {
  readonly classCount: number;
  private readonly caches: SlabCache[] = [];
  /** Class index for a size, by ceil(size / 8). */
  private readonly classBySize8: Uint8Array;
  readonly maxSize: number;
  /** Per 2 MiB chunk of guest-physical memory, created on first use: slab owner of each page. */
  private readonly owner: (Int32Array | undefined)[] = [];
  /** Frames held in slabs, per allocator tier. */
  readonly slabFramesByTier: number[];
  slabsCreated = 0;
  slabsReleased = 0;

  // Results of the last `free`, read by the caller (no result object per call).
  lastTier = 0;
  lastSize = 0;
  lastRequested = 0;

  constructor(
    private readonly kernel: GuestKernel,
    readonly geometry: SlabGeometry,
  ) {
    const cls = geometry.classes;
    this.classCount = cls.length;
    this.maxSize = cls[cls.length - 1];
    this.classBySize8 = new Uint8Array(this.maxSize / 8 + 1);
    let c = 0;
    for (let i = 0; i <= this.maxSize / 8; i++) {
      while (cls[c] < i * 8) c++;
      this.classBySize8[i] = c;
    }
    const tiers = kernel.tiers.length;
    this.slabFramesByTier = new Array(tiers).fill(0);
    for (let t = 0; t < tiers; t++)
      for (let k = 0; k < cls.length; k++) this.caches.push(new SlabCache(this.caches.length, cls[k], geometry.slabPages[k], t, geometry.headerBytes, geometry.fromEnd));
  }

  /** Class index serving `bytes` (1 <= bytes <= maxSize). */
  classOf(bytes: number): number {
    return this.classBySize8[Math.ceil(bytes / 8)];
  }

  classSize(c: number): number {
    return this.geometry.classes[c];
  }

  /** Allocate one object of class `c` in `tier`; returns its guest-virtual address or -1 when the tier has no page for a new slab. */
  alloc(c: number, tier: number, requested: number): number {
    const cache = this.caches[tier * this.classCount + c];
    let s = cache.partialHead;
    if (s < 0) {
      s = this.newSlab(cache);
      if (s < 0) return -1;
    }
    if (s === cache.emptySlab) cache.emptySlab = -1;
    const words = cache.words;
    const bm = cache.bitmap;
    let k = -1;
    for (let w = 0, i = s * words; w < words; w++, i++) {
      const free = ~bm[i];
      if (free !== 0) {
        const bit = 31 - Math.clz32(free & -free);
        bm[i] |= 1 << bit;
        k = w * 32 + bit;
        break;
      }
    }
    if (k < 0) throw new InvariantError(`slab ${s} of class ${cache.size} in the partial list but full`);
    cache.requested[s * cache.objs + k] = requested;
    if (++cache.used[s] === cache.objs) cache.removePartial(s);
    const offset = cache.firstOffset + k * cache.size;
    return linearAddress(MemArea.Mempool, cache.base[s] * PAGE_4K + offset);
  }

  private newSlab(cache: SlabCache): number {
    const gfn = this.kernel.allocFrames(cache.tier, cache.pages);
    if (gfn < 0) return -1;
    let s = cache.freeIds.pop();
    if (s === undefined) {
      s = cache.count++;
      if (s >= cache.base.length) cache.grow();
    }
    cache.base[s] = gfn;
    cache.used[s] = 0;
    const w0 = s * cache.words;
    cache.bitmap.fill(0, w0, w0 + cache.words);
    // Slots past the last object are marked used so the bitmap scan never returns them.
    const tailBits = cache.words * 32 - cache.objs;
    if (tailBits > 0) cache.bitmap[w0 + cache.words - 1] = ~((1 << (32 - tailBits)) - 1) >>> 0;
    const tag = 1 + cache.id * LOCAL_BITS + s;
    for (let p = 0; p < cache.pages; p++) this.setOwner(gfn + p, tag);
    cache.pushPartial(s);
    cache.liveSlabs++;
    this.slabFramesByTier[cache.tier] += cache.pages;
    this.slabsCreated++;
    return s;
  }

  private setOwner(gfn: number, tag: number): void {
    const chunk = Math.floor(gfn / CHUNK_FRAMES);
    let arr = this.owner[chunk];
    if (arr === undefined) {
      arr = new Int32Array(CHUNK_FRAMES);
      this.owner[chunk] = arr;
    }
    arr[gfn % CHUNK_FRAMES] = tag;
  }

  /** Whether `gva` (in the mempool area) lies in a live slab. */
  owns(gva: number): boolean {
    const gfn = Math.floor(linearGpa(gva) / PAGE_4K);
    const arr = this.owner[Math.floor(gfn / CHUNK_FRAMES)];
    return arr !== undefined && arr[gfn % CHUNK_FRAMES] !== 0;
  }

  /** Usable size of the object at `gva`. */
  sizeAt(gva: number): number {
    const gfn = Math.floor(linearGpa(gva) / PAGE_4K);
    const arr = this.owner[Math.floor(gfn / CHUNK_FRAMES)];
    const tag = arr === undefined ? 0 : arr[gfn % CHUNK_FRAMES];
    if (tag === 0) throw new InvariantError(`0x${gva.toString(16)} is not a slab object`);
    return this.caches[Math.floor((tag - 1) / LOCAL_BITS)].size;
  }

  /** Record a new requested size for the live object at `gva` (realloc in place); returns the old one and sets lastTier. */
  setRequested(gva: number, bytes: number): number {
    const gpa = linearGpa(gva);
    const gfn = Math.floor(gpa / PAGE_4K);
    const arr = this.owner[Math.floor(gfn / CHUNK_FRAMES)];
    const tag = arr === undefined ? 0 : arr[gfn % CHUNK_FRAMES];
    if (tag === 0) throw new InvariantError(`0x${gva.toString(16)} is not a slab object`);
    const cache = this.caches[Math.floor((tag - 1) / LOCAL_BITS)];
    const s = (tag - 1) % LOCAL_BITS;
    const off = gpa - cache.base[s] * PAGE_4K;
    const k = (off - cache.firstOffset) / cache.size;
    const i = s * cache.objs + k;
    const old = cache.requested[i];
    cache.requested[i] = bytes;
    this.lastTier = cache.tier;
    return old;
  }

  /** Free the object at `gva`; sets lastTier / lastSize / lastRequested. Throws on a bad or double free. */
  free(gva: number): void {
    const gpa = linearGpa(gva);
    const gfn = Math.floor(gpa / PAGE_4K);
    const arr = this.owner[Math.floor(gfn / CHUNK_FRAMES)];
    const tag = arr === undefined ? 0 : arr[gfn % CHUNK_FRAMES];
    if (tag === 0) throw new InvariantError(`free of 0x${gva.toString(16)}: not an allocated object`);
    const cache = this.caches[Math.floor((tag - 1) / LOCAL_BITS)];
    const s = (tag - 1) % LOCAL_BITS;
    const off = gpa - cache.base[s] * PAGE_4K;
    const k = (off - cache.firstOffset) / cache.size;
    if (!Number.isInteger(k) || k < 0 || k >= cache.objs) throw new InvariantError(`free of 0x${gva.toString(16)}: not the start of an object`);
    const i = s * cache.words + (k >>> 5);
    const bit = 1 << (k & 31);
    if ((cache.bitmap[i] & bit) === 0) throw new InvariantError(`double free of 0x${gva.toString(16)}`);
    cache.bitmap[i] &= ~bit;
    this.lastTier = cache.tier;
    this.lastSize = cache.size;
    this.lastRequested = cache.requested[s * cache.objs + k];
    if (cache.used[s]-- === cache.objs) cache.pushPartial(s);
    if (cache.used[s] === 0) {
      if (cache.emptySlab < 0) cache.emptySlab = s;
      else this.releaseSlab(cache, s);
    }
  }

  private releaseSlab(cache: SlabCache, s: number): void {
    cache.removePartial(s);
    const gfn = cache.base[s];
    for (let p = 0; p < cache.pages; p++) this.setOwner(gfn + p, 0);
    this.kernel.freeFrames(gfn, cache.pages);
    cache.freeIds.push(s);
    cache.liveSlabs--;
    this.slabFramesByTier[cache.tier] -= cache.pages;
    this.slabsReleased++;
  }

  /** Return every cached empty slab to the page allocator (OSv's reclaimer would, under pressure). */
  trim(): void {
    for (const cache of this.caches) {
      if (cache.emptySlab >= 0) {
        this.releaseSlab(cache, cache.emptySlab);
        cache.emptySlab = -1;
      }
    }
  }

  /** Frames held by empty cached slabs of `tier` (what `trim` would return). */
  emptySlabFrames(tier: number): number {
    let n = 0;
    for (const cache of this.caches) if (cache.tier === tier && cache.emptySlab >= 0) n += cache.pages;
    return n;
  }
}
