/**
 * The guest's single address space, OSv style (ucat.md §2.1; include/osv/mmu-defs.hh):
 *
 *   0x2000_0000_0000 ... 0x4000_0000_0000   mmap area: anonymous mappings (malloc of >= 2 MiB)
 *   0x4000_0000_0000 + gpa                  `main` linear map of all RAM (malloc_large blocks)
 *   0x5000_0000_0000 + gpa                  `page` linear map (whole-page mallocs, 1025..4096 B)
 *   0x6000_0000_0000 + gpa                  `mempool` linear map (pool / slab objects)
 *
 * OSv maps all RAM three times so that `free()` can tell the allocator from VA bits 44-45
 * (`get_mem_area` in core/mempool.cc) without a per-object header; we do the same. The mmap area's
 * base is our choice (below the linear maps, where OSv's `find_hole` places application mappings);
 * only its 2 MiB alignment matters to the model.
 */
export const LINEAR_BASE = 0x4000_0000_0000;
export const AREA_BYTES = 2 ** 44;

export const enum MemArea {
  Main = 0,
  Page = 1,
  Mempool = 2,
}

export const MMAP_BASE = 0x2000_0000_0000;
export const MMAP_END = LINEAR_BASE;

/** Guest-virtual address of guest-physical `gpa` in linear-map `area`. */
export function linearAddress(area: MemArea, gpa: number): number {
  return LINEAR_BASE + area * AREA_BYTES + gpa;
}

/** Linear-map area of `gva` (0..2), or -1 when `gva` is not in a linear map. */
export function areaOf(gva: number): number {
  if (gva < LINEAR_BASE || gva >= LINEAR_BASE + 3 * AREA_BYTES) return -1;
  return Math.floor((gva - LINEAR_BASE) / AREA_BYTES);
}

/** Guest-physical address behind a linear-map `gva` (caller checked `areaOf(gva) >= 0`). */
export function linearGpa(gva: number): number {
  return (gva - LINEAR_BASE) % AREA_BYTES;
}

export function inMmapArea(gva: number): boolean {
  return gva >= MMAP_BASE && gva < MMAP_END;
}
