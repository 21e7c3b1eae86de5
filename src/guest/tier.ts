/**
 * The physical memory of one allocator tier: a page-range allocator, and under UCat a 2 MiB
 * large-page allocator beneath it.
 *
 * - OSv (untiered): one tier holds all RAM in one `PageRangeAllocator`; a 2 MiB page is an aligned
 *   range taken with `allocAligned(512, 512)` (OSv `alloc_huge_page` -> `alloc_aligned`).
 * - UCat (reconstruction, ucat.md §1.4): one tier per memory type. Each tier's RAM is cut into
 *   2 MiB-aligned chunks held by a stack (the large-page allocator); the tier's page-range
 *   allocator starts with only the unaligned edges of its regions and draws a chunk when it runs
 *   dry, giving the chunk back when a free makes it wholly free again. Since the back-end keeps
 *   each region 2 MiB aligned and backed by host 2 MiB pages, every chunk lines up with one host
 *   large page, so a 2 MiB guest leaf over a chunk can be a 2 MiB EPT leaf.
 *
 * Commitments: anonymous mappings are populated lazily, so their frames are promised (committed)
 * when the mapping is made and taken at fault time; `available()` is what may still be promised or
 * taken by anyone else.
 */
import { CHUNK_FRAMES, PageRangeAllocator } from './pagerange.ts';
import type { RegionTable } from './memmap.ts';

export class TierPages {
  readonly ranges: PageRangeAllocator;
  /** Free 2 MiB chunks (first frames), a stack; null when the tier is untiered OSv memory. */
  private chunks: Float64Array | null = null;
  private chunkTop = 0;
  /** Frames this tier manages. */
  totalFrames = 0;
  /** Frames promised to mappings and not yet populated. */
  committed = 0;

  constructor(
    readonly name: string,
    regions: RegionTable,
    /** Indices into `regions` of the regions this tier manages. */
    regionIds: readonly number[],
    chunked: boolean,
  ) {
    this.ranges = new PageRangeAllocator(regions);
    const chunkList: number[] = [];
    for (const i of regionIds) {
      const first = regions.firstFrame[i];
      const end = regions.endFrame[i];
      this.totalFrames += end - first;
      if (!chunked) {
        this.ranges.addFree(first, end - first);
        continue;
      }
      const c0 = Math.ceil(first / CHUNK_FRAMES) * CHUNK_FRAMES;
      const c1 = Math.floor(end / CHUNK_FRAMES) * CHUNK_FRAMES;
      if (c1 <= c0) {
        this.ranges.addFree(first, end - first);
        continue;
      }
      if (c0 > first) this.ranges.addFree(first, c0 - first);
      if (end > c1) this.ranges.addFree(c1, end - c1);
      for (let c = c0; c < c1; c += CHUNK_FRAMES) chunkList.push(c);
    }
    if (chunked) {
      this.chunks = new Float64Array(Math.max(1, chunkList.length));
      // Lowest addresses on top, so allocation order is deterministic and address-ordered.
      for (let i = chunkList.length - 1; i >= 0; i--) this.chunks[this.chunkTop++] = chunkList[i];
      this.ranges.onChunkFree = (gfn) => this.pushChunk(gfn);
    }
  }

  get freeFrames(): number {
    return this.ranges.freeFrames + this.chunkTop * CHUNK_FRAMES;
  }

  /** Frames that may still be taken or promised. */
  available(): number {
    return this.freeFrames - this.committed;
  }

  /** Free 2 MiB chunks in the large-page allocator (0 for untiered memory). */
  freeChunks(): number {
    return this.chunkTop;
  }

  /** `n` contiguous frames, or -1. Does not look at commitments (the caller does). */
  allocPages(n: number): number {
    let g = this.ranges.alloc(n);
    if (g < 0 && this.chunks !== null && n <= CHUNK_FRAMES && this.chunkTop > 0) {
      this.ranges.addFree(this.chunks[--this.chunkTop], CHUNK_FRAMES);
      g = this.ranges.alloc(n);
    }
    return g;
  }

  /** `n` frames with (first + offset) % align === 0, or -1. */
  allocAligned(n: number, align: number, offset: number): number {
    let g = this.ranges.allocAligned(n, align, offset);
    if (g < 0 && this.chunks !== null && n + offset <= CHUNK_FRAMES && align <= CHUNK_FRAMES && this.chunkTop > 0) {
      this.ranges.addFree(this.chunks[--this.chunkTop], CHUNK_FRAMES);
      g = this.ranges.allocAligned(n, align, offset);
    }
    return g;
  }

  freePages(gfn: number, n: number): void {
    this.ranges.free(gfn, n);
  }

  /** One 2 MiB-aligned run of 512 frames, or -1. */
  allocHuge(): number {
    if (this.chunks !== null) return this.chunkTop > 0 ? this.chunks[--this.chunkTop] : -1;
    return this.ranges.allocAligned(CHUNK_FRAMES, CHUNK_FRAMES, 0);
  }

  freeHuge(gfn: number): void {
    if (this.chunks !== null) this.pushChunk(gfn);
    else this.ranges.free(gfn, CHUNK_FRAMES);
  }

  private pushChunk(gfn: number): void {
    const c = this.chunks!;
    if (this.chunkTop >= c.length) {
      const grown = new Float64Array(c.length * 2);
      grown.set(c);
      this.chunks = grown;
    }
    this.chunks![this.chunkTop++] = gfn;
  }

  /** Free frames per memory type (statistics). */
  freeFramesByType(out: number[], regions: RegionTable): void {
    this.ranges.freeFramesByType(out);
    for (let i = 0; i < this.chunkTop; i++) out[regions.type[regions.indexOf(this.chunks![i])]] += CHUNK_FRAMES;
  }
}
