/**
 * Size classes of the two small-object allocators.
 *
 * OSv (core/mempool.cc, ucat.md §2.2): `malloc_pools[ilog2_roundup(max(size, 8))]`, classes 8..1024
 * (`pool::max_object_size = page_size / 4`), one 4 KiB page per pool page with a 40-byte
 * `page_header`, objects laid from the end of the page. A request just above a power of two wastes
 * almost half its slot, and the 1024-B class fits only 3 objects per page.
 *
 * UCat (our reconstruction; the paper's classes are unknown, ucat.md §1.5). Goals: bound the
 * internal fragmentation of every request above 64 B by 12.5%, keep tiny objects (keys, item
 * headers) exact to 8 bytes, and keep the number of classes small enough that partially filled
 * slabs do not eat the gain:
 * - 8-byte steps from 8 to 128 (16 classes): YCSB/memslap keys and item headers (20-60 B) land within
 *   7 bytes of their size; 8-byte alignment is what the allocator seam promises.
 * - 16-byte steps from 144 to 256 (8 classes): waste below 16/144 = 11%.
 * - 8 classes per power of two from 256 to 16 KiB (48 classes: 288, 320, ..., 512, 576, ...,
 *   16384): spacing size/8, so waste below 12.5% (the jemalloc/tcmalloc idea, with twice
 *   jemalloc's 4 classes per doubling). YCSB's 1 KiB records then waste at most 128 B instead of
 *   OSv's whole-page 1025..4096 path.
 * Above 16 KiB objects are page-granular (waste below 4 KiB / 16 KiB = 25%, falling with size);
 * from 2 MiB they are mmapped on 2 MiB pages.
 *
 * Slab size per class: the fewest pages (1..16) that leave at most 1/64 of the slab as tail slack,
 * else the least-waste count; at most 512 objects per slab (one page of 8-byte objects). Slab
 * descriptors live off-slab, so no header is carved from the slab.
 */
import { PAGE_4K } from '../base/units.ts';
import type { SlabGeometry } from './slab.ts';

/** OSv's pool header per page (`page_header`: owner, cpu_id, nalloc, list hook, local free list). */
export const OSV_POOL_HEADER = 40;
/** OSv's largest pool object (`pool::max_object_size` = page_size / 4). */
export const OSV_POOL_MAX = 1024;

export function osvPoolGeometry(): SlabGeometry {
  const classes: number[] = [];
  for (let s = 8; s <= OSV_POOL_MAX; s *= 2) classes.push(s);
  return { classes, slabPages: classes.map(() => 1), headerBytes: OSV_POOL_HEADER, fromEnd: true };
}

export const UCAT_SLAB_MAX = 16384;
const MAX_SLAB_PAGES = 16;
const MAX_OBJECTS = 512;

export function ucatClasses(): number[] {
  const classes: number[] = [];
  for (let s = 8; s <= 128; s += 8) classes.push(s);
  for (let s = 144; s <= 256; s += 16) classes.push(s);
  for (let base = 256; base < UCAT_SLAB_MAX; base *= 2) for (let k = 1; k <= 8; k++) classes.push(base + (base / 8) * k);
  return classes;
}

/** Pages per slab for an object size: fewest pages with tail slack <= 1/64, else least slack. */
export function ucatSlabPages(size: number): number {
  let best = 1;
  let bestWaste = Infinity;
  for (let p = 1; p <= MAX_SLAB_PAGES; p++) {
    const span = p * PAGE_4K;
    const objs = Math.floor(span / size);
    if (objs < 1) continue;
    if (objs > MAX_OBJECTS) break;
    const waste = (span - objs * size) / span;
    if (waste <= 1 / 64) return p;
    if (waste < bestWaste - 1e-12) {
      best = p;
      bestWaste = waste;
    }
  }
  return best;
}

export function ucatSlabGeometry(): SlabGeometry {
  const classes = ucatClasses();
  return { classes, slabPages: classes.map(ucatSlabPages), headerBytes: 0, fromEnd: false };
}
