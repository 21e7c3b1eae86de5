/**
 * The boot memory map, as the guest sees it: the guest-physical ranges of RAM its back-end hands
 * over at boot, each with the memory type behind it. Stock OSv reads the multiboot e820 map in
 * `arch_setup_free_memory()` (arch/x64/arch-setup.cc) and treats every RAM range alike; UCat's
 * front-end must learn which ranges are DRAM and which NVM (ucat.md §1.4), which is what `type`
 * carries. 'untyped' is a range of unknown kind (a plain e820 RAM entry).
 *
 * Field names (`gpaStart`, `bytes`, `type`) are the contract with the host back-end, which produces
 * an equivalent structure.
 */
import { UserError } from '../base/errors.ts';
import { PAGE_4K, formatBytes } from '../base/units.ts';

export type MemoryType = 'dram' | 'nvm' | 'untyped';

export interface MemoryRegion {
  /** First guest-physical byte (4 KiB aligned; the back-end gives 2 MiB alignment). */
  gpaStart: number;
  /** Length in bytes (a multiple of 4 KiB). */
  bytes: number;
  type: MemoryType;
}

export type MemoryMap = readonly MemoryRegion[];

/** Memory types as small integers for typed-array indexing. */
export const enum MemType {
  Dram = 0,
  Nvm = 1,
  Untyped = 2,
}
export const MEM_TYPE_COUNT = 3;
export const MEM_TYPE_NAMES: readonly MemoryType[] = ['dram', 'nvm', 'untyped'];

export function memTypeId(t: MemoryType): MemType {
  return t === 'dram' ? MemType.Dram : t === 'nvm' ? MemType.Nvm : MemType.Untyped;
}

/**
 * The memory map resolved into sorted frame ranges, for lookups by guest frame number. A map has a
 * handful of regions, so a linear scan over a typed array is the fast path.
 */
export class RegionTable {
  readonly firstFrame: Float64Array;
  readonly endFrame: Float64Array;
  readonly type: Uint8Array;
  readonly count: number;
  readonly totalBytes: number;
  readonly bytesByType: number[] = [0, 0, 0];

  constructor(map: MemoryMap) {
    validateMemoryMap(map);
    const sorted = [...map].sort((a, b) => a.gpaStart - b.gpaStart);
    this.count = sorted.length;
    this.firstFrame = new Float64Array(this.count);
    this.endFrame = new Float64Array(this.count);
    this.type = new Uint8Array(this.count);
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i];
      this.firstFrame[i] = r.gpaStart / PAGE_4K;
      this.endFrame[i] = (r.gpaStart + r.bytes) / PAGE_4K;
      this.type[i] = memTypeId(r.type);
      this.bytesByType[this.type[i]] += r.bytes;
      total += r.bytes;
    }
    this.totalBytes = total;
  }

  /** Index of the region holding guest frame `gfn`, or -1 when it is not RAM. */
  indexOf(gfn: number): number {
    for (let i = 0; i < this.count; i++) if (gfn >= this.firstFrame[i] && gfn < this.endFrame[i]) return i;
    return -1;
  }

  /** Whether frames [gfn, gfn+n) all lie in region `i`. */
  contains(i: number, gfn: number, n: number): boolean {
    return gfn >= this.firstFrame[i] && gfn + n <= this.endFrame[i];
  }
}

/**
 * Check a memory map at the edge: every region 4 KiB aligned, non-empty, of a known type, and no
 * two overlapping. Throws UserError naming the region.
 */
export function validateMemoryMap(map: MemoryMap): void {
  if (!Array.isArray(map) || map.length === 0) throw new UserError('guest memory map: at least one RAM region is required');
  for (let i = 0; i < map.length; i++) {
    const r = map[i];
    const where = `guest memory map: region ${i}`;
    if (!Number.isSafeInteger(r.gpaStart) || r.gpaStart < 0 || r.gpaStart % PAGE_4K !== 0)
      throw new UserError(`${where}: gpaStart ${r.gpaStart} must be a non-negative multiple of 4 KiB`);
    if (!Number.isSafeInteger(r.bytes) || r.bytes <= 0 || r.bytes % PAGE_4K !== 0)
      throw new UserError(`${where}: bytes ${r.bytes} must be a positive multiple of 4 KiB`);
    if (r.type !== 'dram' && r.type !== 'nvm' && r.type !== 'untyped')
      throw new UserError(`${where}: type '${String(r.type)}' must be dram, nvm or untyped`);
    if (r.gpaStart + r.bytes > 2 ** 46)
      throw new UserError(`${where}: ends above 64 TiB of guest-physical space (${formatBytes(r.gpaStart + r.bytes)})`);
  }
  const sorted = [...map].sort((a, b) => a.gpaStart - b.gpaStart);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].gpaStart < sorted[i - 1].gpaStart + sorted[i - 1].bytes)
      throw new UserError(`guest memory map: regions at 0x${sorted[i - 1].gpaStart.toString(16)} and 0x${sorted[i].gpaStart.toString(16)} overlap`);
  }
}
