/**
 * Where a traced program's address points: the interval map of its live allocations, and the
 * page table of its other memory (text, static data, stack, libc's own heap metadata).
 *
 * Both are keyed by the program's 4 KiB page number and held in typed arrays; a lookup allocates
 * nothing. Layout of the object index:
 *
 *   PageIndex: program page -> head entry            entries (linked per page)
 *   +--------+------+                                 entObj  entNext
 *   | page p | head |--> e7 (obj 3) --> e2 (obj 9) --> -1
 *   +--------+------+
 *
 * An object is entered on every page it overlaps, so a lookup scans only the objects of one page
 * (after checking the object the previous lookup found, which serves most accesses: programs touch
 * one object several times in a row). Removing an object unlinks its entries page by page, so
 * both cost the object's page count.
 */

import { growF64, growI32 } from '../base/grow.ts';

/**
 * Open-addressing map from a non-negative integer key below 2^53 (a page number, an address) to an
 * int32, with linear probing; `delete` shifts the probe run back, so a table of keys that come and
 * go stays as full as its live keys make it.
 */
export class PageMap {
  private keys: Float64Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.keys = new Float64Array(n).fill(-1);
    this.values = new Int32Array(n);
    this.mask = n - 1;
  }

  private slot(page: number): number {
    const h = Math.imul((page | 0) ^ Math.imul((page / 4294967296) | 0, 0x85ebca6b), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }

  /** The value stored for `page`, or `missing`. */
  get(page: number, missing = -1): number {
    const keys = this.keys;
    for (let i = this.slot(page); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === page) return this.values[i];
      if (k === -1) return missing;
    }
  }

  set(page: number, value: number): void {
    const keys = this.keys;
    for (let i = this.slot(page); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === page) {
        this.values[i] = value;
        return;
      }
      if (k === -1) {
        keys[i] = page;
        this.values[i] = value;
        if (++this.size * 2 > keys.length) this.grow();
        return;
      }
    }
  }

  /** Remove `key` (nothing when absent). */
  delete(key: number): void {
    const keys = this.keys;
    const mask = this.mask;
    let hole = this.slot(key);
    while (keys[hole] !== key) {
      if (keys[hole] === -1) return;
      hole = (hole + 1) & mask;
    }
    // Backward shift: a later key of the run moves into the hole unless its home slot lies
    // cyclically in (hole, j], where a lookup still finds it without passing the hole.
    for (let j = (hole + 1) & mask; keys[j] !== -1; j = (j + 1) & mask) {
      const home = this.slot(keys[j]);
      const stays = hole < j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      keys[hole] = keys[j];
      this.values[hole] = this.values[j];
      hole = j;
    }
    keys[hole] = -1;
    this.size--;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(oldKeys.length * 2).fill(-1);
    this.values = new Int32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== -1) this.set(oldKeys[i], oldValues[i]);
  }
}

const PAGE = 4096;

/**
 * The live allocations of a traced program: each object is its program range [start, end) and
 * the guest-virtual address the guest allocator gave it.
 */
export class LiveObjects {
  private start = new Float64Array(256);
  private end = new Float64Array(256);
  private gva = new Float64Array(256);
  private readonly freeIds: number[] = [];
  private idCount = 0;
  /** Object id by its program start address (a JavaScript Map of these doubles took a tenth of a redis replay). */
  private readonly byStart = new PageMap(1024);

  private readonly heads = new PageMap(4096);
  private entObj = new Int32Array(1024);
  private entNext = new Int32Array(1024);
  private entCount = 0;
  private freeEntry = -1;

  private lastId = -1;
  live = 0;

  /** Object id of the most recent successful `find`. */
  foundId = -1;

  /**
   * The program range [changedLo, changedHi) that covers every object added or removed since the
   * last `forgetChanges` (empty when changedLo >= changedHi): only pages in it can have changed
   * whether an object holds its part alone (`holdsPageAlone`) or whether any object is there
   * (`pageHasObjects`).
   */
  changedLo = Infinity;
  changedHi = -Infinity;

  /** Enter a live object; throws if another object already starts at `start`. */
  add(start: number, bytes: number, gva: number): number {
    if (this.byStart.get(start) >= 0) throw new Error(`object at 0x${start.toString(16)} is already live`);
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.idCount++;
      if (id >= this.start.length) this.growObjects();
    }
    const end = start + (bytes > 0 ? bytes : 1);
    this.start[id] = start;
    this.end[id] = end;
    this.gva[id] = gva;
    this.byStart.set(start, id);
    const last = Math.floor((end - 1) / PAGE);
    for (let p = Math.floor(start / PAGE); p <= last; p++) this.link(p, id);
    this.live++;
    this.noteChange(start, end);
    return id;
  }

  private noteChange(start: number, end: number): void {
    if (start < this.changedLo) this.changedLo = start;
    if (end > this.changedHi) this.changedHi = end;
  }

  /** Start a new changed range (see `changedLo`). */
  forgetChanges(): void {
    this.changedLo = Infinity;
    this.changedHi = -Infinity;
  }

  /** The id of the object starting at `start`, or -1. */
  idAt(start: number): number {
    return this.byStart.get(start);
  }

  /** Remove the object `id`. */
  remove(id: number): void {
    const start = this.start[id];
    const last = Math.floor((this.end[id] - 1) / PAGE);
    for (let p = Math.floor(start / PAGE); p <= last; p++) this.unlink(p, id);
    this.noteChange(start, this.end[id]);
    this.byStart.delete(start);
    this.freeIds.push(id);
    if (this.lastId === id) this.lastId = -1;
    this.live--;
  }

  objectStart(id: number): number {
    return this.start[id];
  }
  objectEnd(id: number): number {
    return this.end[id];
  }
  objectGva(id: number): number {
    return this.gva[id];
  }

  /** The object the most recent successful `find` returned, while it lives; else -1 (it is what `find` checks first). */
  get lastFound(): number {
    return this.lastId;
  }

  /**
   * Make `id` the object `find` checks first, as if a `find` had just returned it (a replay that
   * served accesses to it from a cache of its own keeps the interval map's state as `find` would).
   */
  noteFound(id: number): void {
    this.lastId = id;
  }

  /**
   * Whether object `id` is the only live object on its part of program page `page`: then every
   * address of that part finds `id`, whichever object `find` checks first.
   */
  holdsPageAlone(id: number, page: number): boolean {
    const pageStart = page * PAGE;
    const lo = Math.max(this.start[id], pageStart);
    const hi = Math.min(this.end[id], pageStart + PAGE);
    for (let e = this.heads.get(page); e >= 0; e = this.entNext[e]) {
      const other = this.entObj[e];
      if (other !== id && this.start[other] < hi && this.end[other] > lo) return false;
    }
    return true;
  }

  /** Whether any live object overlaps program page `page`. */
  pageHasObjects(page: number): boolean {
    return this.heads.get(page) >= 0;
  }

  /** The live object holding program address `addr` (also in `foundId`), or -1. */
  find(addr: number): number {
    const l = this.lastId;
    if (l >= 0 && addr >= this.start[l] && addr < this.end[l]) return (this.foundId = l);
    let e = this.heads.get(Math.floor(addr / PAGE));
    while (e >= 0) {
      const id = this.entObj[e];
      if (addr >= this.start[id] && addr < this.end[id]) {
        this.lastId = id;
        return (this.foundId = id);
      }
      e = this.entNext[e];
    }
    return (this.foundId = -1);
  }

  private link(page: number, id: number): void {
    let e = this.freeEntry;
    if (e >= 0) this.freeEntry = this.entNext[e];
    else {
      e = this.entCount++;
      if (e >= this.entObj.length) this.growEntries();
    }
    this.entObj[e] = id;
    this.entNext[e] = this.heads.get(page);
    this.heads.set(page, e);
  }

  private unlink(page: number, id: number): void {
    let prev = -1;
    let e = this.heads.get(page);
    while (e >= 0 && this.entObj[e] !== id) {
      prev = e;
      e = this.entNext[e];
    }
    if (e < 0) throw new Error(`object ${id} is not entered on page ${page}`);
    if (prev >= 0) this.entNext[prev] = this.entNext[e];
    else if (this.entNext[e] >= 0) this.heads.set(page, this.entNext[e]);
    else this.heads.delete(page); // the page's last object: its key leaves the table (see PageMap)
    this.entNext[e] = this.freeEntry;
    this.freeEntry = e;
  }

  private growObjects(): void {
    const n = this.start.length * 2;
    this.start = growF64(this.start, n);
    this.end = growF64(this.end, n);
    this.gva = growF64(this.gva, n);
  }

  private growEntries(): void {
    const n = this.entObj.length * 2;
    this.entObj = growI32(this.entObj, n);
    this.entNext = growI32(this.entNext, n);
  }
}
