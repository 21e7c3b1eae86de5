/**
 * The allocator seam, between applications and guest memory.
 *
 * Contract: `malloc(bytes, hint)` returns a guest-virtual address of at least `bytes` usable bytes
 * (8-byte aligned at least), or throws UserError for impossible requests (zero, negative, more than
 * the guest's memory) and OutOfMemoryError when memory is exhausted; `free` takes back exactly an
 * address `malloc`/`realloc`/`memalign` returned. Requested against reserved bytes are counted per
 * tier. The hint says what the object is for; the placement policy turns it into a tier.
 */
export const enum AllocHint {
  /** No preference: the policy decides (DRAM while there is room). */
  Default = 0,
  /** Small and frequently accessed (hash buckets, item headers, keys): keep in the fast tier. */
  Hot = 1,
  /** Large, mostly streamed data (values, documents): may go to the slow tier when DRAM is short. */
  Bulk = 2,
  /** Kernel/allocator metadata and page tables: always the fast tier. */
  Metadata = 3,
}

export interface GuestAllocator {
  malloc(bytes: number, hint?: AllocHint): number;
  free(addr: number): void;
  realloc(addr: number, bytes: number, hint?: AllocHint): number;
  memalign(alignment: number, bytes: number, hint?: AllocHint): number;
  /** Usable bytes of an allocated block (>= the requested size). */
  usableSize(addr: number): number;
}

export class OutOfMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutOfMemoryError';
  }
}
