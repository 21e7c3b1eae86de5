/**
 * Host physical memory: tiers of frames, one buddy allocator per tier, and the per-frame state the
 * back-end, KSM and the library pool share.
 *
 * Frame numbering. Host memory is laid out tier after tier in the order of the configuration
 * (DRAM frames first, then NVM, ...), exactly like hw `TierMap`, so a host frame number is also a
 * host-physical address >> 12 that the cache and tier timing models understand.
 *
 *   frame 0                      dram.end                                  nvm.end
 *   +----------------------------+-----------------------------------------+
 *   |  tier 0 (e.g. 64 GiB ddr4) |  tier 1 (e.g. 256 GiB optane)           |
 *   +----------------------------+-----------------------------------------+
 *
 * Buddy allocator. Orders 0..18 (4 KiB .. 1 GiB, the x86-64 leaf sizes at orders 0, 9 and 18).
 * Blocks are aligned in global frame numbers (not tier-relative), so a 2 MiB block is a valid
 * target of a 2 MiB EPT leaf. A tier whose bounds are not 1 GiB-aligned is cut into the largest
 * aligned blocks that fit, as Linux's memblock hands memory to the buddy allocator
 * (`__free_pages_memory`); such edge blocks never merge past the tier's bounds.
 *
 * Free lists. One stack of block numbers per order (a Uint32Array grown by doubling). Removing a
 * buddy while coalescing is lazy: the buddy loses its FreeHead mark and its stale stack entry is
 * skipped when popped, so no linked list is needed. A block that can merge with its buddy carries
 * FreeHead and keeps its order in `owner` (the field is unused while the frame is free), the same
 * union Linux uses for buddy pages (`PageBuddy` + `set_buddy_order` in page_private). Blocks that
 * can never merge (order 18, or buddy outside the tier) are never removed lazily, so they need no
 * mark and cost no per-frame state: a 320 GiB host with few allocations stays small.
 *
 * Per-frame state, struct of arrays, 15 bytes per 4 KiB frame:
 *
 *   fingerprint Float64  8 B  content fingerprint (53 bits, src/base/hash.ts)
 *   owner       Int32    4 B  VM id of a private frame; -1 shared or free; order of a FreeHead block
 *   refcount    Uint16   2 B  EPT leaves (across all VMs) that map this 4 KiB frame
 *   flags       Uint8    1 B  FrameFlag bits
 *
 * The arrays live in segments of 2^14 frames (64 MiB of host memory, 240 KiB of state) created on
 * first write and never copied, so the state grows with the frames actually touched and an
 * allocated frame costs 15 B plus at most one partly used segment per touched region.
 */
import { invariant, InvariantError } from '../base/assert.ts';
import { UserError } from '../base/errors.ts';
import { ZERO_FINGERPRINT } from '../base/hash.ts';
import { formatBytes, PageSize, PAGE_2M, PAGE_4K } from '../base/units.ts';
import { MAX_MAPPABLE_FRAMES } from '../hw/pagetable.ts';
import { TIER_PRESETS, type TierPreset } from '../hw/tiers.ts';

/** Per-frame flag bits. */
export const enum FrameFlag {
  /** Part of an allocated block. */
  Allocated = 1,
  /** Head of a free block that may merge with its buddy; `owner` holds the block's order. */
  FreeHead = 2,
  /** Head of an allocated 2 MiB block (the other 511 frames are Allocated without this bit). */
  Huge2M = 4,
  /** Head of an allocated 1 GiB block. */
  Huge1G = 8,
  /** A page-table page (EPT table). */
  PageTable = 16,
  /** Merged by KSM. */
  Ksm = 32,
  /** Belongs to the library pool (kept when its last mapping goes away; the pool frees it). */
  Pool = 64,
  /** Content must not change while shared (mapped read-only everywhere). */
  Readonly = 128,
}

/**
 * The constants of the host's scan and fault paths, for its modules to copy into module-local
 * constants by destructuring (`const { PAGE_4K, FRAME_KSM } = HOST_CONSTANTS;`). The TypeScript
 * loader turns every use of an imported binding into a getter call on the exporting module, which
 * the JIT does not always inline (see the speed section of docs/machine.md); a destructured local
 * is a plain constant.
 */
export const HOST_CONSTANTS = {
  PAGE_4K,
  PAGE_2M,
  ZERO_FINGERPRINT,
  SIZE_4K: PageSize.Size4K,
  SIZE_2M: PageSize.Size2M,
  FRAME_ALLOCATED: FrameFlag.Allocated,
  FRAME_HUGE_2M: FrameFlag.Huge2M,
  FRAME_HUGE_1G: FrameFlag.Huge1G,
  FRAME_PAGE_TABLE: FrameFlag.PageTable,
  FRAME_KSM: FrameFlag.Ksm,
  FRAME_POOL: FrameFlag.Pool,
  FRAME_READONLY: FrameFlag.Readonly,
} as const;

const { SIZE_4K, SIZE_2M } = HOST_CONSTANTS;

export const MAX_ORDER = 18;
/** Buddy order of each PageSize: 4K -> 0, 2M -> 9, 1G -> 18. */
export const ORDER_OF_SIZE: readonly number[] = [0, 9, 18];

const SEG_SHIFT = 14;
const SEG_FRAMES = 1 << SEG_SHIFT;
const SEG_MASK = SEG_FRAMES - 1;
/** Bytes of state per frame (see the header). */
export const FRAME_STATE_BYTES = 15;
/**
 * Every host frame must fit an EPT entry (32-bit page-table entries: 1 TiB), which also keeps frame
 * numbers below 2^31, where the bit operators (buddy XOR, segment shift) are exact.
 */
const MAX_FRAMES = MAX_MAPPABLE_FRAMES;

/** One segment of per-frame state: four views over one ArrayBuffer. */
class FrameSegment {
  readonly fingerprint: Float64Array;
  readonly owner: Int32Array;
  readonly refcount: Uint16Array;
  readonly flags: Uint8Array;
  constructor() {
    const buf = new ArrayBuffer(SEG_FRAMES * FRAME_STATE_BYTES);
    this.fingerprint = new Float64Array(buf, 0, SEG_FRAMES);
    this.owner = new Int32Array(buf, SEG_FRAMES * 8, SEG_FRAMES).fill(-1);
    this.refcount = new Uint16Array(buf, SEG_FRAMES * 12, SEG_FRAMES);
    this.flags = new Uint8Array(buf, SEG_FRAMES * 14, SEG_FRAMES);
  }
}

/** A tier as configured: a preset name (or its kind, when unique) and a size. */
export interface TierSpec {
  tier: string;
  bytes: number;
}

/** One tier's frames and buddy allocator. */
export class HostTier {
  /** Free blocks per order (exact; the stacks may also hold stale entries). */
  readonly freeBlocks = new Float64Array(MAX_ORDER + 1);
  /** Allocated blocks per PageSize (a split 2 MiB block counts as 512 4 KiB blocks). */
  readonly allocatedBlocks = new Float64Array(3);
  /** Allocated page-table frames. */
  tableFrames = 0;
  /** Free 4 KiB frames. */
  freeFrames = 0;
  /** Allocations that found no free block of the requested size. */
  failedAllocs = 0;
  stacks: Uint32Array[] = [];
  readonly stackLen = new Int32Array(MAX_ORDER + 1);

  constructor(
    readonly id: number,
    readonly preset: TierPreset,
    readonly firstFrame: number,
    readonly frameCount: number,
  ) {
    for (let k = 0; k <= MAX_ORDER; k++) this.stacks.push(new Uint32Array(16));
  }

  get name(): string {
    return this.preset.name;
  }
  get kind(): TierPreset['kind'] {
    return this.preset.kind;
  }
  get endFrame(): number {
    return this.firstFrame + this.frameCount;
  }
  get bytes(): number {
    return this.frameCount * PAGE_4K;
  }
  get allocatedFrames(): number {
    return this.frameCount - this.freeFrames;
  }
}

/** Thrown when no tier can supply a frame: the configuration asks for more memory than the host has. */
export class HostMemoryExhaustedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'HostMemoryExhaustedError';
  }
}

/** Resolve a tier name (a TIER_PRESETS key) into its preset, or throw a UserError naming the choices. */
export function tierPresetByName(name: string): TierPreset {
  const p = TIER_PRESETS[name];
  if (!p) throw new UserError(`unknown memory tier '${name}' (expected one of ${Object.keys(TIER_PRESETS).join(', ')})`);
  return p;
}

export class HostMemory {
  readonly tiers: HostTier[] = [];
  readonly totalFrames: number;
  private segs: (FrameSegment | null)[];
  /** Segments created so far (simulator memory = segments * 240 KiB + free-list stacks). */
  segmentCount = 0;

  constructor(specs: readonly TierSpec[]) {
    if (!Array.isArray(specs) || specs.length === 0) throw new UserError('host memory needs at least one tier');
    let next = 0;
    const seen = new Set<string>();
    for (const spec of specs) {
      const preset = tierPresetByName(spec.tier);
      if (seen.has(preset.name)) throw new UserError(`host memory: tier '${preset.name}' is listed twice`);
      seen.add(preset.name);
      const b = spec.bytes;
      if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) {
        throw new UserError(`host memory: tier '${preset.name}' size must be a positive number of bytes, got ${String(b)}`);
      }
      if (b % PAGE_4K !== 0) throw new UserError(`host memory: tier '${preset.name}' size ${b} is not a multiple of 4 KiB`);
      const count = b / PAGE_4K;
      if (next + count > MAX_FRAMES) throw new UserError(`host memory: more than ${formatBytes(MAX_FRAMES * PAGE_4K)} in total is not supported`);
      this.tiers.push(new HostTier(this.tiers.length, preset, next, count));
      next += count;
    }
    this.totalFrames = next;
    this.segs = new Array<FrameSegment | null>(Math.ceil(next / SEG_FRAMES)).fill(null);
    for (const t of this.tiers) this.seedTier(t);
  }

  /** Cut a tier into the largest globally aligned blocks that fit (memblock style). */
  private seedTier(t: HostTier): void {
    let f = t.firstFrame;
    const end = t.endFrame;
    while (f < end) {
      let k = MAX_ORDER;
      while (k > 0 && (f % 2 ** k !== 0 || f + 2 ** k > end)) k--;
      this.pushFree(t, f, k);
      f += 2 ** k;
    }
  }

  // ---- tier lookup (edge, not hot) -------------------------------------------------------------

  /** Tier id by preset name, or by kind ('dram', 'nvm', 'cxl') when exactly one tier has it. */
  tierId(name: string): number {
    for (const t of this.tiers) if (t.name === name) return t.id;
    const byKind = this.tiers.filter((t) => t.kind === name);
    if (byKind.length === 1) return byKind[0].id;
    throw new UserError(`host has no memory tier '${name}' (tiers: ${this.tiers.map((t) => t.name).join(', ')})`);
  }

  /** Tier holding a frame (a few tiers: a short scan). */
  tierOf(frame: number): number {
    const tiers = this.tiers;
    for (let i = 0; i < tiers.length; i++) if (frame < tiers[i].endFrame) return i;
    return -1;
  }

  // ---- allocation ------------------------------------------------------------------------------

  /**
   * Allocate one block of `size` from `tier`, owned by `owner` (a VM id, or -1 for shared/host
   * frames) with `extraFlags` (e.g. PageTable). Returns its first frame, or -1 when the tier has no
   * free block that large. Every frame of the block starts zero-filled: refcount 0, fingerprint 0.
   */
  alloc(tier: number, size: PageSize, owner = -1, extraFlags = 0): number {
    const t = this.tiers[tier];
    const order = ORDER_OF_SIZE[size];
    let k = order;
    while (k <= MAX_ORDER && t.freeBlocks[k] === 0) k++;
    if (k > MAX_ORDER) {
      t.failedAllocs++;
      return -1;
    }
    const block = this.popFree(t, k);
    // Split down to the requested order, returning upper halves to the free lists.
    while (k > order) {
      k--;
      this.pushFree(t, block + (1 << k), k);
    }
    const n = 1 << order;
    this.ensureSegments(block, n);
    if (n === 1) {
      // The common 4 KiB case: four stores rather than four fill() calls.
      const s = this.segs[block >>> SEG_SHIFT]!;
      const i = block & SEG_MASK;
      s.flags[i] = FrameFlag.Allocated | extraFlags;
      s.owner[i] = owner;
      s.refcount[i] = 0;
      s.fingerprint[i] = 0;
    } else for (let f = block; f < block + n; ) {
      const s = this.segs[f >>> SEG_SHIFT]!;
      const lo = f & SEG_MASK;
      const hi = Math.min(SEG_FRAMES, lo + (block + n - f));
      s.flags.fill(FrameFlag.Allocated | extraFlags, lo, hi);
      s.owner.fill(owner, lo, hi);
      s.refcount.fill(0, lo, hi);
      s.fingerprint.fill(0, lo, hi);
      f += hi - lo;
    }
    if (size !== SIZE_4K) this.segs[block >>> SEG_SHIFT]!.flags[block & SEG_MASK] |= size === SIZE_2M ? FrameFlag.Huge2M : FrameFlag.Huge1G;
    t.allocatedBlocks[size]++;
    if (extraFlags & FrameFlag.PageTable) t.tableFrames += n;
    return block;
  }

  /**
   * Return a block that `alloc(…, size)` handed out. Every frame must be unmapped (refcount 0).
   * Merges with free buddies up to 1 GiB.
   */
  free(frame: number, size: PageSize): void {
    // Checks build their message only when they fail (this is the hot path of teardown).
    const tierId = this.tierOf(frame);
    if (tierId < 0 || frame < 0) throw new InvariantError(`free: frame ${frame} is outside host memory`);
    const t = this.tiers[tierId];
    const order = ORDER_OF_SIZE[size];
    const n = 1 << order;
    if (frame % n !== 0) throw new InvariantError(`free: frame ${frame} is not aligned to its ${n}-frame block`);
    const fl = this.flags(frame);
    if (!(fl & FrameFlag.Allocated)) throw new InvariantError(`free: frame ${frame} is not allocated`);
    const head = fl & (FrameFlag.Huge2M | FrameFlag.Huge1G);
    const want = size === SIZE_4K ? 0 : size === SIZE_2M ? FrameFlag.Huge2M : FrameFlag.Huge1G;
    if (head !== want) throw new InvariantError(`free: frame ${frame} heads a ${head === 0 ? '4 KiB' : head === FrameFlag.Huge2M ? '2 MiB' : '1 GiB'} block, not a ${['4 KiB', '2 MiB', '1 GiB'][size]} one`);
    // A piece of a larger allocated block cannot be freed on its own (split it first).
    if (order < 9) {
      const b2 = frame - (frame % 512);
      if (b2 !== frame && this.flags(b2) & FrameFlag.Huge2M) throw new InvariantError(`free: frame ${frame} lies inside the 2 MiB block at ${b2}`);
    }
    if (order < 18) {
      const b1 = frame - (frame % 262144);
      if (b1 !== frame && this.flags(b1) & FrameFlag.Huge1G) throw new InvariantError(`free: frame ${frame} lies inside the 1 GiB block at ${b1}`);
    }
    let tables = 0;
    for (let f = frame; f < frame + n; ) {
      const s = this.segs[f >>> SEG_SHIFT]!;
      const lo = f & SEG_MASK;
      const hi = Math.min(SEG_FRAMES, lo + (frame + n - f));
      for (let i = lo; i < hi; i++) {
        const x = s.flags[i];
        if (!(x & FrameFlag.Allocated) || s.refcount[i] !== 0) {
          throw new InvariantError(`free: frame ${f + i - lo} is ${x & FrameFlag.Allocated ? `still mapped ${s.refcount[i]} times` : 'not allocated'}`);
        }
        if (x & FrameFlag.PageTable) tables++;
        if (x & FrameFlag.Ksm) this.notifyKsmFrame(f + i - lo);
      }
      s.flags.fill(0, lo, hi);
      s.owner.fill(-1, lo, hi);
      s.fingerprint.fill(0, lo, hi);
      f += hi - lo;
    }
    t.tableFrames -= tables;
    t.allocatedBlocks[size]--;
    // Coalesce with free buddies.
    let b = frame;
    let k = order;
    while (k < MAX_ORDER) {
      const buddy = b ^ (1 << k);
      if (buddy < t.firstFrame || buddy + (1 << k) > t.endFrame) break;
      const s = this.segs[buddy >>> SEG_SHIFT];
      if (s === null) break;
      const i = buddy & SEG_MASK;
      if (!(s.flags[i] & FrameFlag.FreeHead) || s.owner[i] !== k) break;
      // Lazy removal: the stack entry becomes stale.
      s.flags[i] = 0;
      s.owner[i] = -1;
      t.freeBlocks[k]--;
      t.freeFrames -= (1 << k);
      b = Math.min(b, buddy);
      k++;
    }
    this.pushFree(t, b, k);
  }

  /**
   * Turn an allocated 2 MiB (or 1 GiB) block into 512 (or 262144) independent 4 KiB blocks, so
   * parts of it can be freed or shared one by one (Linux `split_page`). Frames keep their state.
   */
  splitBlock(frame: number, size: PageSize): void {
    invariant(size !== SIZE_4K, 'splitBlock: a 4 KiB block cannot be split');
    const bit = size === SIZE_2M ? FrameFlag.Huge2M : FrameFlag.Huge1G;
    invariant(this.flags(frame) & bit, `splitBlock: frame ${frame} does not head a ${size === SIZE_2M ? '2 MiB' : '1 GiB'} block`);
    this.segs[frame >>> SEG_SHIFT]!.flags[frame & SEG_MASK] &= ~bit;
    const t = this.tiers[this.tierOf(frame)];
    t.allocatedBlocks[size]--;
    t.allocatedBlocks[SIZE_4K] += 2 ** ORDER_OF_SIZE[size];
  }

  private mergeable(t: HostTier, block: number, k: number): boolean {
    if (k >= MAX_ORDER) return false;
    const buddy = block ^ (1 << k);
    return buddy >= t.firstFrame && buddy + (1 << k) <= t.endFrame;
  }

  private pushFree(t: HostTier, block: number, k: number): void {
    if (this.mergeable(t, block, k)) {
      this.ensureSegments(block, 1);
      const s = this.segs[block >>> SEG_SHIFT]!;
      s.flags[block & SEG_MASK] = FrameFlag.FreeHead;
      s.owner[block & SEG_MASK] = k;
    }
    let stack = t.stacks[k];
    if (t.stackLen[k] === stack.length) {
      // Drop stale entries when they dominate; otherwise grow.
      if (t.stackLen[k] > 2 * t.freeBlocks[k] + 64) this.compactStack(t, k);
      if (t.stackLen[k] >= stack.length - (stack.length >> 2)) {
        const bigger = new Uint32Array(stack.length * 2);
        bigger.set(stack.subarray(0, t.stackLen[k]));
        t.stacks[k] = stack = bigger;
      }
    }
    stack[t.stackLen[k]++] = block;
    t.freeBlocks[k]++;
    t.freeFrames += (1 << k);
  }

  /** Is a stack entry for `block` at order `k` a live free block? */
  private entryValid(t: HostTier, block: number, k: number): boolean {
    if (!this.mergeable(t, block, k)) return true;
    const s = this.segs[block >>> SEG_SHIFT];
    if (s === null) return false;
    const i = block & SEG_MASK;
    return (s.flags[i] & FrameFlag.FreeHead) !== 0 && s.owner[i] === k;
  }

  private popFree(t: HostTier, k: number): number {
    const stack = t.stacks[k];
    while (t.stackLen[k] > 0) {
      const b = stack[--t.stackLen[k]];
      if (this.mergeable(t, b, k)) {
        // entryValid, inlined: a mergeable block is live while it carries FreeHead and its order.
        const s = this.segs[b >>> SEG_SHIFT];
        if (s === null) continue;
        const i = b & SEG_MASK;
        if ((s.flags[i] & FrameFlag.FreeHead) === 0 || s.owner[i] !== k) continue;
        s.flags[i] = 0;
        s.owner[i] = -1;
      }
      t.freeBlocks[k]--;
      t.freeFrames -= (1 << k);
      return b;
    }
    throw new InvariantError(`tier ${t.name}: order ${k} counts ${t.freeBlocks[k]} free blocks but its list is empty`);
  }

  /** Keep only live, distinct entries of one order's stack. */
  private compactStack(t: HostTier, k: number): void {
    const live = this.liveEntries(t, k);
    t.stacks[k].set(live);
    t.stackLen[k] = live.length;
  }

  /** Live free blocks of one order, sorted and distinct. */
  private liveEntries(t: HostTier, k: number): Uint32Array {
    const stack = t.stacks[k];
    const tmp = new Uint32Array(t.stackLen[k]);
    let n = 0;
    for (let i = 0; i < t.stackLen[k]; i++) if (this.entryValid(t, stack[i], k)) tmp[n++] = stack[i];
    const sorted = tmp.subarray(0, n).sort();
    let m = 0;
    for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[m++] = sorted[i];
    return sorted.slice(0, m);
  }

  private ensureSegments(first: number, count: number): void {
    const last = (first + count - 1) >>> SEG_SHIFT;
    for (let s = first >>> SEG_SHIFT; s <= last; s++) {
      if (this.segs[s] === null) {
        this.segs[s] = new FrameSegment();
        this.segmentCount++;
      }
    }
  }

  // ---- per-frame state -------------------------------------------------------------------------

  flags(frame: number): number {
    const s = this.segs[frame >>> SEG_SHIFT];
    return s === null || s === undefined ? 0 : s.flags[frame & SEG_MASK];
  }
  isAllocated(frame: number): boolean {
    return (this.flags(frame) & FrameFlag.Allocated) !== 0;
  }
  setFlags(frame: number, mask: number): void {
    this.segs[frame >>> SEG_SHIFT]!.flags[frame & SEG_MASK] |= mask;
  }
  clearFlags(frame: number, mask: number): void {
    this.segs[frame >>> SEG_SHIFT]!.flags[frame & SEG_MASK] &= ~mask;
  }
  /** VM id of a private frame; -1 for shared, host-owned or free frames. */
  owner(frame: number): number {
    const s = this.segs[frame >>> SEG_SHIFT];
    if (s === null || s === undefined) return -1;
    const i = frame & SEG_MASK;
    return s.flags[i] & FrameFlag.Allocated ? s.owner[i] : -1;
  }
  setOwner(frame: number, owner: number): void {
    this.segs[frame >>> SEG_SHIFT]!.owner[frame & SEG_MASK] = owner;
  }
  refcount(frame: number): number {
    const s = this.segs[frame >>> SEG_SHIFT];
    return s === null || s === undefined ? 0 : s.refcount[frame & SEG_MASK];
  }
  fingerprint(frame: number): number {
    const s = this.segs[frame >>> SEG_SHIFT];
    return s === null || s === undefined ? 0 : s.fingerprint[frame & SEG_MASK];
  }
  setFingerprint(frame: number, fp: number): void {
    this.segs[frame >>> SEG_SHIFT]!.fingerprint[frame & SEG_MASK] = fp;
  }

  /**
   * The refcount of `frame` when it is an allocated shared frame (owner -1) carrying `flag`, with
   * fingerprint `fp` and at least one mapping; -1 otherwise. One segment lookup for what KSM asks
   * of every dup of a stable-tree chain.
   */
  liveSharedRefcount(frame: number, flag: number, fp: number): number {
    const s = this.segs[frame >>> SEG_SHIFT];
    if (s === null || s === undefined) return -1;
    const i = frame & SEG_MASK;
    const fl = s.flags[i];
    const refs = s.refcount[i];
    return (fl & FrameFlag.Allocated) !== 0 && (fl & flag) !== 0 && s.owner[i] === -1 && refs > 0 && s.fingerprint[i] === fp ? refs : -1;
  }

  /**
   * Called with each frame flagged Ksm whose refcount drops or that is freed (the only ways a
   * KSM page gains room for a mapping or dies), so KSM can trust what it learnt about its pages
   * until then.
   */
  readonly ksmFrameObservers: ((frame: number) => void)[] = [];

  /** Add `delta` to the refcount of `count` frames from `first` (a leaf's frames); returns the last new value. */
  addRefs(first: number, count: number, delta: number): number {
    let v = 0;
    for (let f = first; f < first + count; f++) {
      const s = this.segs[f >>> SEG_SHIFT]!;
      const i = f & SEG_MASK;
      v = s.refcount[i] + delta;
      if (v < 0 || v > 0xffff) throw new InvariantError(`frame ${f}: reference count would become ${v}`);
      s.refcount[i] = v;
      if (delta < 0 && s.flags[i] & FrameFlag.Ksm) this.notifyKsmFrame(f);
    }
    return v;
  }

  private notifyKsmFrame(frame: number): void {
    const obs = this.ksmFrameObservers;
    for (let k = 0; k < obs.length; k++) obs[k](frame);
  }

  // ---- totals and checks -----------------------------------------------------------------------

  get freeFrames(): number {
    let n = 0;
    for (const t of this.tiers) n += t.freeFrames;
    return n;
  }
  get allocatedFrames(): number {
    return this.totalFrames - this.freeFrames;
  }

  /** Simulator bytes held by per-frame state and free lists. */
  simulatorBytes(): number {
    let n = this.segmentCount * SEG_FRAMES * FRAME_STATE_BYTES + this.segs.length * 8;
    for (const t of this.tiers) for (const s of t.stacks) n += s.byteLength;
    return n;
  }

  /**
   * Whole-structure scan (tests; behind AssertionLevel.Aggressive elsewhere): free blocks are
   * aligned, inside their tier, disjoint and hold no allocated frame; free + allocated = total per
   * tier; block, head and page-table counts match the per-frame flags.
   */
  checkInvariants(): void {
    for (const t of this.tiers) {
      const blocks: { start: number; k: number }[] = [];
      let free = 0;
      for (let k = 0; k <= MAX_ORDER; k++) {
        const live = this.liveEntries(t, k);
        if (live.length !== t.freeBlocks[k]) throw new InvariantError(`tier ${t.name}: order ${k} lists ${live.length} free blocks, counts ${t.freeBlocks[k]}`);
        for (const b of live) {
          if (b % 2 ** k !== 0 || b < t.firstFrame || b + 2 ** k > t.endFrame) throw new InvariantError(`tier ${t.name}: free block ${b} of order ${k} misplaced`);
          blocks.push({ start: b, k });
          free += 2 ** k;
        }
      }
      if (free !== t.freeFrames) throw new InvariantError(`tier ${t.name}: free blocks hold ${free} frames, counter says ${t.freeFrames}`);
      blocks.sort((a, b) => a.start - b.start);
      for (let i = 1; i < blocks.length; i++) {
        const p = blocks[i - 1];
        if (p.start + 2 ** p.k > blocks[i].start) throw new InvariantError(`tier ${t.name}: free blocks ${p.start} and ${blocks[i].start} overlap`);
      }
      // No free block holds an allocated frame (only touched segments can hold any).
      for (const b of blocks) {
        const end = b.start + 2 ** b.k;
        for (let f = b.start; f < end; ) {
          const s = this.segs[f >>> SEG_SHIFT];
          const lo = f & SEG_MASK;
          const hi = Math.min(SEG_FRAMES, lo + (end - f));
          if (s !== null) {
            for (let i = lo; i < hi; i++) {
              if (s.flags[i] & FrameFlag.Allocated) throw new InvariantError(`frame ${f + i - lo} is allocated and inside free block ${b.start}`);
              if (s.flags[i] & FrameFlag.FreeHead && f + i - lo !== b.start) throw new InvariantError(`frame ${f + i - lo} is marked as a free head inside free block ${b.start}`);
            }
          }
          f += hi - lo;
        }
      }
      // Count allocated frames and heads from the per-frame flags.
      let allocated = 0;
      let heads2 = 0;
      let heads1 = 0;
      let tables = 0;
      for (let f = t.firstFrame; f < t.endFrame; ) {
        const s = this.segs[f >>> SEG_SHIFT];
        const lo = f & SEG_MASK;
        const hi = Math.min(SEG_FRAMES, lo + (t.endFrame - f));
        if (s !== null) {
          for (let i = lo; i < hi; i++) {
            const x = s.flags[i];
            if (!(x & FrameFlag.Allocated)) continue;
            allocated++;
            if (x & FrameFlag.Huge2M) heads2++;
            if (x & FrameFlag.Huge1G) heads1++;
            if (x & FrameFlag.PageTable) tables++;
          }
        }
        f += hi - lo;
      }
      if (allocated + t.freeFrames !== t.frameCount) throw new InvariantError(`tier ${t.name}: ${allocated} allocated + ${t.freeFrames} free != ${t.frameCount} frames`);
      const a = t.allocatedBlocks;
      if (a[0] + 512 * a[1] + 262144 * a[2] !== allocated) throw new InvariantError(`tier ${t.name}: block counts (${a[0]}, ${a[1]}, ${a[2]}) do not add up to ${allocated} allocated frames`);
      if (heads2 !== a[1] || heads1 !== a[2]) throw new InvariantError(`tier ${t.name}: ${heads2}/${heads1} huge heads, counted ${a[1]}/${a[2]}`);
      if (tables !== t.tableFrames) throw new InvariantError(`tier ${t.name}: ${tables} page-table frames, counted ${t.tableFrames}`);
    }
  }

  /** Visit every allocated frame (for invariant scans): frame, flags, owner, refcount. */
  forEachAllocated(visit: (frame: number, flags: number, owner: number, refcount: number) => void): void {
    for (let si = 0; si < this.segs.length; si++) {
      const s = this.segs[si];
      if (s === null) continue;
      for (let i = 0; i < SEG_FRAMES; i++) {
        if (s.flags[i] & FrameFlag.Allocated) visit(si * SEG_FRAMES + i, s.flags[i], s.owner[i], s.refcount[i]);
      }
    }
  }
}
