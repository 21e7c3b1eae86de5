/**
 * The kernel block of a trace replay in WebAssembly (wasm/replay.ts `replayEvents`): one region of
 * the arena per replaying program, holding what the call reads and writes. A vCPU's batches of
 * accesses (`VCpu.loadMany`, wasm/replay.ts `accessEvents`) use a block of their own the same way,
 * with the addresses in its address column.
 * - Slots the caller fills before each call and reads after it: the vCPU's line window, fast page,
 *   last line and the counters the call adds to (VCpu `replayEvents`), and the replay's object
 *   translation, cycle sum and counts (`TracedProgram`), as f64 at `K_*` (f64 indices).
 * - The events of one range, copied from the reader's batch (`copyEvents`): the call reads them
 *   from the arena.
 * - Pointers to the replay's direct-mapped caches, whose arrays the program allocates here too
 *   (`f64Array`, `i32Array`), so that the call reads them where the program writes them.
 * The byte layout is wasm/replay.ts's; a test checks that the two agree.
 */
import { arena } from './arena.ts';

/** f64 slots (byte offset / 8) of the block: vCPU state. */
export const K_LINE_LO = 0;
export const K_LINE_HI = 1;
export const K_LINE_WRITABLE = 2;
export const K_WINDOW_LOADS = 3;
export const K_WINDOW_STORES = 4;
export const K_REPEAT_LATENCY = 5;
export const K_FAST_BASE = 6;
export const K_FAST_LIMIT = 7;
export const K_FAST_HOST_BASE = 8;
export const K_FAST_WRITABLE = 9;
export const K_FAST_SIZE = 10;
export const K_LAST_LINE = 11;
export const K_LAST_LINE_DIRTY = 12;
export const K_SERVED_BY = 13;
export const K_SERVED_TIER = 14;
export const K_OUT_HPA = 15;
export const K_WALK_GVA = 16;
export const K_REPEATS_IN_L1D = 17;
export const K_REPEAT_TIER = 18;
/** 1 with a cache model (an LLC), 0 without (a new line's repeat state is then its tier's, K_REPEAT_BY_TIER). */
export const K_HAS_LLC = 19;
/** The vCPU's counters the call adds to. */
export const K_ACCESSES = 20;
export const K_LOADS = 21;
export const K_STORES = 22;
export const K_L1_HITS = 23;
export const K_DATA_L1D = 26;
export const K_DATA_L2 = 27;
export const K_DATA_LLC = 28;
export const K_DATA_MEM = 29;
export const K_DATA_CYCLES = 33;
export const K_PREFETCHED = 34;
/** A batch of accesses (VCpu `loadMany`): what a repeat of a line of each tier costs without a cache model (four slots). */
export const K_REPEAT_BY_TIER = 35;
/** After a batch: the sum of its served accesses' cycles. */
export const K_BATCH_CYCLES = 39;
/** The replay's translation and sums: in before the call, out after it (the counts are the call's own). */
export const K_OBJ_LO = 40;
export const K_OBJ_HI = 41;
export const K_OBJ_DELTA = 42;
export const K_FOUND_ID = 43;
export const K_CYCLES = 44;
export const K_R_LOADS = 45;
export const K_R_STORES = 46;
export const K_R_INSTRUCTIONS = 47;
export const K_R_OBJECT = 48;
export const K_R_PROGRAM = 49;
/** After a call: the cache level that refused a line (-1: none), the line and whether it was a store's. */
export const K_REFUSED_LEVEL = 50;
export const K_REFUSED_LINE = 51;
export const K_REFUSED_WRITE = 52;
/** After a batch: the translation result of the access it stopped at after translating it (-1: none), and whether a walk made references. */
export const K_PENDING_RESULT = 53;
export const K_MADE_REFS = 54;
/** VCpu's stream run (`runHi`, `runLimit`, `runLines`, `runCycles`, `runFirstLine`), for a batch of accesses without data caches. */
export const K_RUN_HI = 64;
export const K_RUN_LIMIT = 65;
export const K_RUN_LINES = 66;
export const K_RUN_CYCLES = 67;
export const K_RUN_FIRST_LINE = 68;
/** i32 slots (byte offset / 4): the arena offsets of the event columns and of the replay's caches, in `setCaches`' order. */
export const POINTER_SLOTS = {
  K_OPS: 112,
  K_ADDRS: 113,
  K_SIZES: 114,
  K_ARGS: 115,
  K_OBJ_PAGE: 116,
  K_OBJ_PAGE_LO: 117,
  K_OBJ_PAGE_HI: 118,
  K_OBJ_PAGE_DELTA: 119,
  K_OBJ_PAGE_ID: 120,
  K_DATA_PAGE: 121,
  K_DATA_DELTA: 122,
  K_TEXT_PAGE: 123,
  K_TEXT_DELTA: 124,
} as const;
const BLOCK_BYTES = 576;
/** Events a block holds at once (a replay calls per range of at most this many). */
export const BLOCK_EVENTS = 4096;

/** The arrays of the replay's caches, in the order wasm/replay.ts reads their pointers. */
export interface ReplayCacheArrays {
  objectPage: Float64Array;
  objectLo: Float64Array;
  objectHi: Float64Array;
  objectDelta: Float64Array;
  objectId: Int32Array;
  dataPage: Float64Array;
  dataDelta: Float64Array;
  textPage: Float64Array;
  textDelta: Float64Array;
}

export class ReplayBlock {
  /** Byte offset of the block in the arena. */
  readonly base: number;
  /** The block's f64 slots (`K_*`). */
  readonly k: Float64Array;
  private readonly op: Uint8Array;
  private readonly addr: Float64Array;
  private readonly size: Float64Array;
  private readonly arg: Float64Array;
  private readonly regions: number[] = [];

  constructor() {
    this.base = this.alloc(BLOCK_BYTES);
    const buf = arena.memory.buffer;
    this.k = new Float64Array(buf, this.base, BLOCK_BYTES / 8);
    this.op = new Uint8Array(buf, this.alloc(BLOCK_EVENTS), BLOCK_EVENTS);
    this.addr = this.f64Array(BLOCK_EVENTS);
    this.size = this.f64Array(BLOCK_EVENTS);
    this.arg = this.f64Array(BLOCK_EVENTS);
    const p = new Int32Array(buf, this.base, BLOCK_BYTES / 4);
    p[POINTER_SLOTS.K_OPS] = this.op.byteOffset;
    p[POINTER_SLOTS.K_ADDRS] = this.addr.byteOffset;
    p[POINTER_SLOTS.K_SIZES] = this.size.byteOffset;
    p[POINTER_SLOTS.K_ARGS] = this.arg.byteOffset;
    arena.releaseWith(this, this.regions);
  }

  /** A zero-filled f64 array in the arena, freed with this block. */
  f64Array(n: number): Float64Array {
    return new Float64Array(arena.memory.buffer, this.alloc(n * 8), n);
  }

  /** A zero-filled i32 array in the arena, freed with this block. */
  i32Array(n: number): Int32Array {
    return new Int32Array(arena.memory.buffer, this.alloc(n * 4), n);
  }

  /** Point the block at the replay's caches (arrays from `f64Array` / `i32Array`). */
  setCaches(c: ReplayCacheArrays): void {
    const p = new Int32Array(arena.memory.buffer, this.base, BLOCK_BYTES / 4);
    const arrays = [c.objectPage, c.objectLo, c.objectHi, c.objectDelta, c.objectId, c.dataPage, c.dataDelta, c.textPage, c.textDelta];
    arrays.forEach((a, i) => (p[POINTER_SLOTS.K_OBJ_PAGE + i] = a.byteOffset));
  }

  /** Copy events [from, to) of the columns (at most BLOCK_EVENTS) to the block's events [0, to - from). */
  copyEvents(op: Uint8Array, addr: Float64Array, size: Float64Array, arg: Float64Array, from: number, to: number): void {
    this.op.set(op.subarray(from, to));
    this.addr.set(addr.subarray(from, to));
    this.size.set(size.subarray(from, to));
    this.arg.set(arg.subarray(from, to));
  }

  /** Copy addresses [from, to) of `gvas` (at most BLOCK_EVENTS) to the address column's [0, to - from), for a batch of accesses. */
  copyAddresses(gvas: Float64Array, from: number, to: number): void {
    this.addr.set(gvas.subarray(from, to));
  }

  private alloc(bytes: number): number {
    const offset = arena.alloc(bytes);
    this.regions.push(offset, bytes);
    return offset;
  }
}
