/**
 * An x86-64 4-level radix page table stored in simulated frames. The same structure serves as a
 * guest page table (guest-virtual -> guest-physical, table pages in guest frames), as the EPT
 * (guest-physical -> host-physical, table pages in host frames) and as a native table.
 *
 *    47       39 38       30 29       21 20       12 11          0
 *   +-----------+-----------+-----------+-----------+-------------+
 *   | L4 (PML4) | L3 (PDPT) |  L2 (PD)  |  L1 (PT)  |   offset    |
 *   +-----------+-----------+-----------+-----------+-------------+
 *   A leaf at L3 maps 1 GiB, at L2 2 MiB (the PS bit), at L1 4 KiB.
 *
 * Storage: table t's entry i is one number at `entry[t*512+i]`, packed as `payload * 8 + flags`
 * (flags: present, writable, huge). For a leaf the payload is the page's first frame; for a
 * pointer to a next-level table it is that table's index (its frame is `frameOf(index)`). One word
 * per entry means one memory access per level on the walker's path. Tables are grown in chunks, so
 * a million mapped pages cost a few bytes each and lookups allocate nothing.
 */
import { PageSize } from '../base/units.ts';
import { arena } from './arena.ts';
import type { TableFrameSource } from './frames.ts';

export const ENTRIES = 512;
export const LEVELS = 4;

export const enum PteFlag {
  Present = 1,
  Writable = 2,
  /** A leaf above level 1 (the PS bit); level-1 entries are always leaves. */
  Huge = 4,
}

/** Flag bits of a packed entry (exact below 2^53: `&` keeps the low bits). */
export function entryFlags(e: number): number {
  return e & 7;
}

/** Payload of a packed entry: a leaf's first frame or a next-level table's index. */
export function entryPayload(e: number): number {
  return (e - (e & 7)) / 8;
}

/** Whether a present entry at `level` is a leaf. */
export function entryIsLeaf(e: number, level: number): boolean {
  return level === 1 || (e & PteFlag.Huge) !== 0;
}

/** Level (1..4) whose entries are leaves for a page size: 4K -> 1, 2M -> 2, 1G -> 3. */
export function leafLevel(size: PageSize): number {
  return size + 1;
}

/** Bytes covered by one entry of a level-L table (index L = 1..4): 4K, 2M, 1G, 512G. */
export const LEVEL_SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

/**
 * Index of `addr` into a table of `level` (1..4). `& 511` is exact for addresses below 2^53: the
 * operator truncates the quotient and reduces it modulo 2^32, which keeps the low nine bits.
 */
export function tableIndex(addr: number, level: number): number {
  return (addr / LEVEL_SPAN[level]) & 511;
}

/**
 * Module-local tables for `map` (and `translate`, `splitHuge`); `map` runs once per page a fault
 * maps (a million times for a 4 GiB working set): `2 ** shift` of a shift read from an array is a
 * call to the runtime's pow, and an imported binding is a getter call under the TypeScript loader;
 * local arrays fold to loads. 4 KiB frames per page and bytes per page (`LEVEL_SPAN` of the page's
 * leaf level).
 */
const PAGE_FRAMES = [1, 512, 512 * 512];
const PAGE_BYTES = LEVEL_SPAN.slice(1, 4);

const INITIAL_TABLES = 16;
/**
 * Entries are 32-bit (`payload * 8 + flags` below 2^31), so a payload is below 2^28: frames up to
 * 1 TiB of memory. Half the bytes of a 64-bit entry matters on the walker's path, where the leaf
 * tables of a large working set do not fit in the simulating host's caches. The host's memory is
 * sized within this bound (`HostMemory`), so a frame beyond it is a bug, not bad input.
 */
export const MAX_MAPPABLE_FRAMES = 2 ** 28;

/** Result of a lookup, filled in place (no allocation per lookup). */
export class Translation {
  present = false;
  /** First frame of the leaf's page (for a 2M leaf: a 512-aligned frame). */
  frame = 0;
  size: PageSize = PageSize.Size4K;
  writable = false;
  /** Table slot of the leaf entry (table*512+index), for in-place updates. */
  slot = -1;
}

/**
 * A table's header in the arena (read by wasm/translate.ts as well): the root's table index (f64
 * at +0), the byte offsets of `entry` (+8) and of the table frames (+12), and the table capacity
 * (+16), i32 each. `entry` and the table frames are arena regions of their own, replaced by
 * larger ones when the table grows.
 */
const HEADER_BYTES = 64;
const HDR_ENTRY = 8;
const HDR_TABLE_FRAME = 12;
const HDR_CAPACITY = 16;

export class PageTable {
  /** Byte offset of this table's header in the arena (see `HEADER_BYTES`). */
  readonly base: number;
  /** Arena regions held, as (offset, bytes) pairs: the header, `entry`, `tableFrame`. */
  private readonly regions: number[];
  /** Frame number where each table page lives (in this table's physical space). */
  private tableFrame: Float64Array;
  /** Level of each table (1..4), 0 for a free slot. */
  private tableLevel: Uint8Array;
  /** Present entries per table, so empty tables can be released. */
  private tableUsed: Uint16Array;
  /** Packed entries, see the header. */
  entry: Int32Array;
  private tableCount = 0;
  private freeTables: number[] = [];
  /** Number of live table pages (page-table memory = tables * 4 KiB). */
  liveTables = 0;
  /** Leaves mapped, per page size. */
  readonly leaves = [0, 0, 0];
  readonly root: number;

  /**
   * `initialTables`: table slots reserved up front (they double when full). An owner that knows
   * its tables stay few (many small VMs) saves the memory of the default's empty slots.
   */
  constructor(
    private readonly frames: TableFrameSource,
    initialTables: number = INITIAL_TABLES,
  ) {
    const n = Math.max(1, Math.floor(initialTables));
    this.base = arena.alloc(HEADER_BYTES);
    this.regions = [this.base, HEADER_BYTES, 0, 0, 0, 0];
    arena.releaseWith(this, this.regions);
    this.tableFrame = new Float64Array(0);
    this.entry = new Int32Array(0);
    this.placeArrays(n);
    this.tableLevel = new Uint8Array(n);
    this.tableUsed = new Uint16Array(n);
    this.root = this.newTable(LEVELS);
    arena.f64[this.base / 8] = this.root;
  }

  /** Move `entry` and `tableFrame` into arena regions for `capacity` tables, keeping their contents. */
  private placeArrays(capacity: number): void {
    const entryBytes = capacity * ENTRIES * 4;
    const frameBytes = capacity * 8;
    const entryAt = arena.alloc(entryBytes);
    const frameAt = arena.alloc(frameBytes);
    const buf = arena.memory.buffer;
    const entry = new Int32Array(buf, entryAt, capacity * ENTRIES);
    const tableFrame = new Float64Array(buf, frameAt, capacity);
    entry.set(this.entry);
    tableFrame.set(this.tableFrame);
    if (this.regions[3] > 0) arena.free(this.regions[2], this.regions[3]);
    if (this.regions[5] > 0) arena.free(this.regions[4], this.regions[5]);
    this.regions[2] = entryAt;
    this.regions[3] = entryBytes;
    this.regions[4] = frameAt;
    this.regions[5] = frameBytes;
    this.entry = entry;
    this.tableFrame = tableFrame;
    const h = this.base / 4;
    arena.i32[h + HDR_ENTRY / 4] = entryAt;
    arena.i32[h + HDR_TABLE_FRAME / 4] = frameAt;
    arena.i32[h + HDR_CAPACITY / 4] = capacity;
  }

  /** Frame number of table `t`. */
  frameOf(t: number): number {
    return this.tableFrame[t];
  }

  levelOf(t: number): number {
    return this.tableLevel[t];
  }

  /** Frame numbers of every live table page (for accounting and invariant scans). */
  tableFrames(): number[] {
    const out: number[] = [];
    for (let t = 0; t < this.tableCount; t++) if (this.tableLevel[t] !== 0) out.push(this.tableFrame[t]);
    return out;
  }

  private newTable(level: number): number {
    // Take the frame first: if memory is exhausted, no table slot is claimed.
    const frame = this.frames.allocTableFrame();
    let t = this.freeTables.pop();
    if (t === undefined) {
      t = this.tableCount++;
      if (t >= this.tableFrame.length) this.grow();
    }
    this.tableFrame[t] = frame;
    this.tableLevel[t] = level;
    this.tableUsed[t] = 0;
    this.entry.fill(0, t * ENTRIES, (t + 1) * ENTRIES);
    this.liveTables++;
    return t;
  }

  private releaseTable(t: number): void {
    this.frames.freeTableFrame(this.tableFrame[t]);
    this.tableLevel[t] = 0;
    this.liveTables--;
    this.freeTables.push(t);
  }

  private grow(): void {
    const n = this.tableFrame.length * 2;
    this.placeArrays(n);
    const tl = new Uint8Array(n);
    tl.set(this.tableLevel);
    this.tableLevel = tl;
    const tu = new Uint16Array(n);
    tu.set(this.tableUsed);
    this.tableUsed = tu;
  }

  /**
   * Map the page of `size` containing `addr` to `frame` (the page's first frame, aligned to the
   * page size). Replaces an existing leaf of the same size; an existing mapping of another size in
   * the way is an error (unmap or split first).
   */
  map(addr: number, frame: number, size: PageSize, writable: boolean): void {
    const pageFrames = PAGE_FRAMES[size];
    if (addr % PAGE_BYTES[size] !== 0) throw new Error(`map: address 0x${addr.toString(16)} is not aligned to its page size`);
    if (frame % pageFrames !== 0) throw new Error(`map: frame ${frame} is not aligned to its page size`);
    if (frame + pageFrames > MAX_MAPPABLE_FRAMES) throw new Error(`map: frame ${frame} is beyond the ${MAX_MAPPABLE_FRAMES} frames (1 TiB) a 32-bit entry holds`);
    const leaf = size + 1; // leafLevel(size)
    let t = this.root;
    for (let level = LEVELS; level > leaf; level--) {
      const slot = t * ENTRIES + ((addr / LEVEL_SPAN[level]) & 511);
      const e = this.entry[slot];
      let c: number;
      if (!(e & PteFlag.Present)) {
        c = this.newTable(level - 1);
        this.entry[slot] = c * 8 + PteFlag.Present + PteFlag.Writable;
        this.tableUsed[t]++;
      } else if (e & PteFlag.Huge) {
        throw new Error(`map: a larger page already maps 0x${addr.toString(16)}`);
      } else {
        c = (e - (e & 7)) / 8;
      }
      t = c;
    }
    const slot = t * ENTRIES + ((addr / LEVEL_SPAN[leaf]) & 511);
    const old = this.entry[slot];
    if (old & PteFlag.Present) {
      if (leaf !== 1 && !(old & PteFlag.Huge)) throw new Error(`map: smaller pages already map part of 0x${addr.toString(16)}`);
    } else {
      this.tableUsed[t]++;
      this.leaves[size]++;
    }
    this.entry[slot] = frame * 8 + PteFlag.Present + (writable ? PteFlag.Writable : 0) + (size === PageSize.Size4K ? 0 : PteFlag.Huge);
  }

  /** Find the leaf mapping `addr`; fills `out` and returns whether it is present. */
  lookup(addr: number, out: Translation): boolean {
    let t = this.root;
    for (let level = LEVELS; level >= 1; level--) {
      const slot = t * ENTRIES + tableIndex(addr, level);
      const e = this.entry[slot];
      if (!(e & PteFlag.Present)) break;
      if (entryIsLeaf(e, level)) {
        out.present = true;
        out.frame = entryPayload(e);
        out.size = (level - 1) as PageSize;
        out.writable = (e & PteFlag.Writable) !== 0;
        out.slot = slot;
        return true;
      }
      t = entryPayload(e);
    }
    out.present = false;
    out.slot = -1;
    return false;
  }

  /** Host (or next-dimension) address that `addr` translates to, or -1 when unmapped. */
  translate(addr: number): number {
    const tr = scratch;
    if (!this.lookup(addr, tr)) return -1;
    return tr.frame * 4096 + (addr % PAGE_BYTES[tr.size]);
  }

  /** Remove the leaf mapping `addr`; releases table pages that become empty. Returns whether one was removed. */
  unmap(addr: number): boolean {
    const path = pathScratch;
    let t = this.root;
    for (let level = LEVELS; level >= 1; level--) {
      const slot = t * ENTRIES + tableIndex(addr, level);
      path[level] = slot;
      const e = this.entry[slot];
      if (!(e & PteFlag.Present)) return false;
      if (entryIsLeaf(e, level)) {
        this.leaves[level - 1]--;
        this.clearSlot(slot);
        // Release tables emptied by the removal, bottom-up (never the root).
        for (let up = level; up < LEVELS; up++) {
          const table = Math.floor(path[up] / ENTRIES);
          if (this.tableUsed[table] !== 0) break;
          const parentSlot = path[up + 1];
          this.releaseTable(table);
          this.clearSlot(parentSlot);
        }
        return true;
      }
      t = entryPayload(e);
    }
    return false;
  }

  private clearSlot(slot: number): void {
    this.tableUsed[Math.floor(slot / ENTRIES)]--;
    this.entry[slot] = 0;
  }

  /** Change the writable bit of the leaf mapping `addr`. Returns false when unmapped. */
  protect(addr: number, writable: boolean): boolean {
    const tr = scratch;
    if (!this.lookup(addr, tr)) return false;
    const e = this.entry[tr.slot];
    const hasW = (e & PteFlag.Writable) !== 0;
    if (writable && !hasW) this.entry[tr.slot] = e + PteFlag.Writable;
    else if (!writable && hasW) this.entry[tr.slot] = e - PteFlag.Writable;
    return true;
  }

  /**
   * Split the 2 MiB (or 1 GiB) leaf mapping `addr` into 512 next-smaller leaves over the same
   * frames (as KSM does before merging parts of a huge page). Returns false if no huge leaf maps it.
   */
  splitHuge(addr: number): boolean {
    const tr = scratch;
    if (!this.lookup(addr, tr) || tr.size === PageSize.Size4K) return false;
    const slot = tr.slot;
    const size = tr.size;
    const level = leafLevel(size);
    const writable = tr.writable;
    const first = tr.frame;
    const sub = this.newTable(level - 1);
    const step = PAGE_FRAMES[size - 1];
    const subFlags = PteFlag.Present + (writable ? PteFlag.Writable : 0) + (size - 1 === PageSize.Size4K ? 0 : PteFlag.Huge);
    const base = sub * ENTRIES;
    for (let i = 0; i < ENTRIES; i++) this.entry[base + i] = (first + i * step) * 8 + subFlags;
    this.tableUsed[sub] = ENTRIES;
    this.entry[slot] = sub * 8 + PteFlag.Present + PteFlag.Writable;
    this.leaves[size]--;
    this.leaves[size - 1] += ENTRIES;
    return true;
  }

  /** Visit every leaf: (address, frame, size, writable). For accounting and invariant scans, not hot paths. */
  forEachLeaf(visit: (addr: number, frame: number, size: PageSize, writable: boolean) => void): void {
    const walk = (t: number, level: number, base: number) => {
      for (let i = 0; i < ENTRIES; i++) {
        const e = this.entry[t * ENTRIES + i];
        if (!(e & PteFlag.Present)) continue;
        const addr = base + i * 2 ** (12 + 9 * (level - 1));
        if (entryIsLeaf(e, level)) visit(addr, entryPayload(e), (level - 1) as PageSize, (e & PteFlag.Writable) !== 0);
        else walk(entryPayload(e), level - 1, addr);
      }
    };
    walk(this.root, LEVELS, 0);
  }

  /** Free every table page (when the address space dies). */
  destroy(): void {
    for (let t = 0; t < this.tableCount; t++) if (this.tableLevel[t] !== 0) this.releaseTable(t);
  }
}

const scratch = new Translation();
const pathScratch = new Float64Array(LEVELS + 1);
