/**
 * The frame-source seam between page tables and whoever owns memory.
 *
 * Contract: `allocTableFrame()` hands out one zeroed 4 KiB frame (its frame number in the table's
 * own physical address space: guest frame numbers for a guest's tables, host frame numbers for the
 * EPT and native tables) and `freeTableFrame` takes it back. Page-table pages are real frames: they
 * occupy memory and have addresses that page-walk references go to.
 */
export interface TableFrameSource {
  allocTableFrame(): number;
  freeTableFrame(frame: number): void;
}

/**
 * A bump allocator of frames from a contiguous range with a free list: enough for tests,
 * benchmarks and the machine experiment, where nobody else competes for the frames.
 */
export class RangeFrameSource implements TableFrameSource {
  private next: number;
  private readonly free: number[] = [];
  allocated = 0;

  constructor(
    readonly firstFrame: number,
    readonly frameCount: number,
  ) {
    this.next = firstFrame;
  }

  allocTableFrame(): number {
    this.allocated++;
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.next >= this.firstFrame + this.frameCount) throw new Error('RangeFrameSource: out of frames');
    return this.next++;
  }

  freeTableFrame(frame: number): void {
    this.allocated--;
    this.free.push(frame);
  }

  /** Take `count` frames aligned to `align` frames (for data mappings in tests and experiments). */
  allocAligned(count: number, align: number): number {
    const start = Math.ceil(this.next / align) * align;
    if (start + count > this.firstFrame + this.frameCount) throw new Error('RangeFrameSource: out of frames');
    this.next = start + count;
    this.allocated += count;
    return start;
  }
}
