/**
 * A demand-mapped address space for the machine model on its own (tests, benchmarks and the
 * `machine` experiment), without the host and guest layers: guest-virtual pages of one size map to
 * guest-physical memory, which the EPT maps with pages of another size, each on first touch. Frames
 * come from plain ranges: guest-physical data from 0, guest table pages from a high range, host
 * frames in allocation order from 0 (so every reference hits the first tier unless told otherwise).
 */
import { PageSize, PAGE_SIZE_BYTES } from '../base/units.ts';
import { RangeFrameSource } from './frames.ts';
import type { TranslationFaultHandler } from './faults.ts';
import { PageTable } from './pagetable.ts';
import type { AddressSpace } from './vcpu.ts';

export interface FlatSpaceOptions {
  /** Guest page size (or the native page size when `hostPageSize` is null). */
  guestPageSize: PageSize;
  /** EPT page size; null for a native (one-dimensional) space. */
  hostPageSize: PageSize | null;
  /** Guest-virtual base of the region (OSv maps its heap at 0x4000_0000_0000). */
  base?: number;
  /** Host frames available (default: 64 GiB worth). */
  hostFrames?: number;
  /** First host frame (default 0): spaces of several VMs on one machine need disjoint ranges. */
  hostFirstFrame?: number;
}

const GUEST_TABLE_FIRST_GFN = 2 ** 30; // guest tables live at 4 TiB guest-physical, far above data

export class FlatSpace implements TranslationFaultHandler, AddressSpace {
  readonly guest: PageTable;
  readonly ept: PageTable | null;
  readonly faults: TranslationFaultHandler = this;
  private readonly hostFrames: RangeFrameSource;
  private readonly guestTableFrames: RangeFrameSource;
  private nextDataGfn = 0;
  readonly base: number;
  guestFaultCount = 0;
  eptFaultCount = 0;
  /** Cycles charged per fault: zero, because this space exists to measure translation, not faults. */
  faultCycles = 0;

  constructor(readonly options: FlatSpaceOptions) {
    this.base = options.base ?? 0x4000_0000_0000;
    this.hostFrames = new RangeFrameSource(options.hostFirstFrame ?? 0, options.hostFrames ?? 16 * 1024 * 1024);
    this.guestTableFrames = new RangeFrameSource(GUEST_TABLE_FIRST_GFN, 1 << 20);
    if (options.hostPageSize === null) {
      // Native: the one table's pages are host frames.
      this.guest = new PageTable(this.hostFrames);
      this.ept = null;
    } else {
      this.guest = new PageTable(this.guestTableFrames);
      this.ept = new PageTable(this.hostFrames);
    }
  }

  guestPageFault(gva: number, write: boolean): number {
    void write;
    this.guestFaultCount++;
    const size = this.options.guestPageSize;
    const bytes = PAGE_SIZE_BYTES[size];
    const framesPerPage = bytes / 4096;
    const pageVa = gva - (gva % bytes);
    let frame: number;
    if (this.ept === null) {
      frame = this.hostFrames.allocAligned(framesPerPage, framesPerPage);
    } else {
      frame = Math.ceil(this.nextDataGfn / framesPerPage) * framesPerPage;
      this.nextDataGfn = frame + framesPerPage;
    }
    this.guest.map(pageVa, frame, size, true);
    return this.faultCycles;
  }

  eptViolation(gpa: number, write: boolean): number {
    void write;
    this.eptFaultCount++;
    const ept = this.ept as PageTable;
    const size = this.options.hostPageSize as PageSize;
    const bytes = PAGE_SIZE_BYTES[size];
    const framesPerPage = bytes / 4096;
    const frame = this.hostFrames.allocAligned(framesPerPage, framesPerPage);
    ept.map(gpa - (gpa % bytes), frame, size, true);
    return this.faultCycles;
  }

  /** Host frames in use (data pages and table pages of both dimensions). */
  get hostFramesUsed(): number {
    return this.hostFrames.allocated;
  }
}
