/**
 * Mocks for testing one application model between them: a bump/free-list guest allocator that
 * knows every block it handed out, and a counting access path that checks every access lands
 * inside a live block (so a model that touches freed or foreign memory fails its test).
 */
import { AllocHint, OutOfMemoryError, type GuestAllocator } from '../../src/guest/allocator.ts';
import type { AccessPath } from '../../src/hw/access.ts';

const ALIGN = 16;

/** Index of the last element of increasing `sorted` that is at most `x`, or -1 (binary search). */
export function lastAtOrBelow(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi;
}

export class MockAllocator implements GuestAllocator {
  /** Block starts in increasing order (bump allocation keeps them sorted). */
  private starts: number[] = [];
  private sizes: number[] = [];
  private live: boolean[] = [];
  private indexOf = new Map<number, number>();
  private freeLists = new Map<number, number[]>();
  private top: number;
  readonly hints = new Map<number, AllocHint>();
  liveBytes = 0;
  mallocs = 0;
  frees = 0;
  /** Bytes handed out per hint. */
  readonly bytesByHint = [0, 0, 0, 0];

  constructor(
    readonly base = 0x10000000,
    readonly capacity = Number.POSITIVE_INFINITY,
  ) {
    this.top = base;
  }

  malloc(bytes: number, hint: AllocHint = AllocHint.Default): number {
    if (!(bytes > 0)) throw new Error(`malloc(${bytes})`);
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    let addr: number;
    const list = this.freeLists.get(size);
    if (list !== undefined && list.length > 0) {
      addr = list.pop()!;
      if (this.liveBytes + size > this.capacity) {
        list.push(addr);
        throw new OutOfMemoryError(`mock: out of memory (${bytes} B)`);
      }
      this.live[this.indexOf.get(addr)!] = true;
    } else {
      if (this.liveBytes + size > this.capacity) throw new OutOfMemoryError(`mock: out of memory (${bytes} B)`);
      addr = this.top;
      this.top += size;
      this.indexOf.set(addr, this.starts.length);
      this.starts.push(addr);
      this.sizes.push(size);
      this.live.push(true);
    }
    this.liveBytes += size;
    this.mallocs++;
    this.bytesByHint[hint] += size;
    this.hints.set(addr, hint);
    return addr;
  }

  free(addr: number): void {
    const i = this.indexOf.get(addr);
    if (i === undefined || !this.live[i]) throw new Error(`mock: free of ${addr.toString(16)} which is not allocated`);
    this.live[i] = false;
    this.liveBytes -= this.sizes[i];
    this.frees++;
    let list = this.freeLists.get(this.sizes[i]);
    if (list === undefined) this.freeLists.set(this.sizes[i], (list = []));
    list.push(addr);
  }

  realloc(addr: number, bytes: number, hint?: AllocHint): number {
    const n = this.malloc(bytes, hint);
    this.free(addr);
    return n;
  }

  memalign(alignment: number, bytes: number, hint?: AllocHint): number {
    const addr = this.malloc(bytes + alignment, hint);
    return addr; // tests do not use memalign
  }

  usableSize(addr: number): number {
    const i = this.indexOf.get(addr);
    if (i === undefined || !this.live[i]) throw new Error(`mock: usableSize of unallocated ${addr.toString(16)}`);
    return this.sizes[i];
  }

  /** Whether [addr, addr + size) lies inside one live block. */
  covers(addr: number, size: number): boolean {
    const i = lastAtOrBelow(this.starts, addr);
    if (i < 0 || !this.live[i]) return false;
    return addr + size <= this.starts[i] + this.sizes[i];
  }

  liveBlocks(): number {
    return this.live.filter(Boolean).length;
  }
}

/** Counts accesses and bytes; charges fixed cycles; optionally checks accesses against an allocator. */
export class CountingAccessPath implements AccessPath {
  loads = 0;
  stores = 0;
  loadBytes = 0;
  storeBytes = 0;
  violations = 0;
  firstViolation = '';

  constructor(
    readonly check: MockAllocator | null = null,
    readonly loadCycles = 4,
    readonly storeCycles = 5,
  ) {}

  load(gva: number, size: number): number {
    this.loads++;
    this.loadBytes += size;
    this.verify(gva, size, 'load');
    return this.loadCycles;
  }

  store(gva: number, size: number): number {
    this.stores++;
    this.storeBytes += size;
    this.verify(gva, size, 'store');
    return this.storeCycles;
  }

  private verify(gva: number, size: number, what: string): void {
    if (size <= 0 || size > 64) {
      this.violations++;
      if (!this.firstViolation) this.firstViolation = `${what} of ${size} bytes (expected 1..64, one line)`;
      return;
    }
    if (Math.floor(gva / 64) !== Math.floor((gva + size - 1) / 64)) {
      this.violations++;
      if (!this.firstViolation) this.firstViolation = `${what} ${gva.toString(16)}+${size} crosses a 64-byte line`;
      return;
    }
    if (this.check !== null && !this.check.covers(gva, size)) {
      this.violations++;
      if (!this.firstViolation) this.firstViolation = `${what} ${gva.toString(16)}+${size} outside live blocks`;
    }
  }
}
