/**
 * The model's translation state in one WebAssembly memory: the arrays of every `TranslationCache`
 * and `PageTable` live here, so the translation path in WebAssembly (wasm/translate.ts) reads and
 * changes the same state the TypeScript classes see through their typed-array views.
 *
 * One memory per thread, reserved at its full size up front (4 GiB less one 64 KiB page, the most
 * a 32-bit memory holds): it never grows, so a view taken once stays valid for the memory's life
 * (growing a memory detaches every view of it). Linux commits a page of it on first touch, so the
 * reservation costs address space, not memory. Linux is asked to back it with 2 MiB pages
 * (src/base/hugepages.ts): the access path reads its state at random, and on 4 KiB pages such a
 * read can also miss the simulating host's TLB.
 *
 * Regions are handed out in multiples of 64 bytes (cache lines of the simulating host), from free
 * lists per size and else from the top. The first 64 KiB are never handed out: the WebAssembly
 * module keeps its static data there.
 */
import { adviseHugePages, type HugePageAdvice } from '../base/hugepages.ts';
import { wasmApi, type WasmMemory } from '../base/wasm-api.ts';

/** Pages of 64 KiB: the largest memory a 32-bit index addresses, less one page (an ArrayBuffer stays below 2^32 bytes). */
export const ARENA_PAGES = 65535;
/** Bytes below this offset belong to the WebAssembly module's static data. */
export const ARENA_RESERVED = 65536;
const ALIGN = 64;

export class Arena {
  readonly memory: WasmMemory;
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Whether Linux was asked to back the memory with 2 MiB pages (src/base/hugepages.ts). */
  readonly hugePages: HugePageAdvice;
  private top = ARENA_RESERVED;
  private readonly freeBySize = new Map<number, number[]>();
  private readonly finalizer = new FinalizationRegistry<number[]>((regions) => {
    for (let i = 0; i < regions.length; i += 2) this.free(regions[i], regions[i + 1]);
  });
  /** Bytes handed out and not yet freed (for tests and accounting). */
  liveBytes = 0;

  constructor(pages: number = ARENA_PAGES) {
    this.memory = new wasmApi.Memory({ initial: pages, maximum: pages });
    this.hugePages = adviseHugePages(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
  }

  /** A zero-filled region of at least `bytes` bytes, at a multiple of 64. */
  alloc(bytes: number): number {
    const size = roundUp(bytes);
    this.liveBytes += size;
    const list = this.freeBySize.get(size);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.u8.fill(0, reused, reused + size);
      return reused;
    }
    const offset = this.top;
    if (offset + size > this.u8.length) {
      this.liveBytes -= size;
      throw new Error(`arena: ${size} bytes do not fit (${this.top} of ${this.u8.length} bytes handed out, ${this.liveBytes} live)`);
    }
    this.top += size;
    return offset;
  }

  /** Give back a region `alloc(bytes)` returned. */
  free(offset: number, bytes: number): void {
    const size = roundUp(bytes);
    this.liveBytes -= size;
    let list = this.freeBySize.get(size);
    if (list === undefined) this.freeBySize.set(size, (list = []));
    list.push(offset);
  }

  /**
   * Free regions when `owner` is collected (for structures whose owners never destroy them):
   * `regions` holds (offset, bytes) pairs, and the owner keeps it current when it trades a region
   * for a larger one.
   */
  releaseWith(owner: object, regions: number[]): void {
    this.finalizer.register(owner, regions);
  }
}

function roundUp(bytes: number): number {
  return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
}

/** This thread's arena. */
export const arena = new Arena();
