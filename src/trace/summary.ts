/**
 * What a trace holds, counted by streaming it once (`unimem trace info`): accesses by kind,
 * allocation events by call, distinct 4 KiB pages touched, and the peak of live allocated bytes.
 * Reading to the end also checks every block, so a damaged trace fails here with its offset.
 *
 * Live bytes follow the calls as the program made them: malloc/calloc/posix_memalign/aligned_alloc
 * add their requested size, realloc replaces the old block's size, free removes it. Mappings are
 * counted apart: the program's own mmap/munmap, and the ones an allocator made inside an
 * allocation call (KERNEL_CALL_INSIDE_ALLOCATOR), which hold the heap and must not be counted twice.
 */
import { PAGE_4K } from '../base/units.ts';
import { TRACE_OP_NAMES, TRACE_OPS } from './format.ts';
import { KERNEL_CALL_INSIDE_ALLOCATOR, MarkerKind, TraceOp, type TraceHeader, type TraceReader } from './types.ts';

export interface TraceSummary {
  header: TraceHeader;
  /** Events by op name. */
  events: Record<string, number>;
  accesses: { instr: number; load: number; store: number; modify: number; total: number; insideAllocator: number };
  allocationEvents: number;
  markers: { accept: number; reply: number; other: number };
  /** Distinct 4 KiB pages touched by recorded accesses: all, data only, instructions only. */
  pages: { all: number; data: number; instr: number };
  /** Peak of live bytes from malloc-family calls (requested sizes). */
  peakHeapBytes: number;
  /** Heap bytes still live at the end of the trace. */
  finalHeapBytes: number;
  /** Peak of bytes mapped by the program's own mmap calls. */
  peakMappedBytes: number;
  /** Peak of bytes mapped by allocators inside allocation calls (their arenas). */
  peakAllocatorMappedBytes: number;
  /** Frees and reallocs of pointers the trace never saw allocated (should be 0). */
  unknownFrees: number;
}

/** Mapped ranges as a sorted list of [start, end) pairs; munmap may cut any part. */
class Mappings {
  private ranges: number[] = [];
  bytes = 0;
  peak = 0;

  map(start: number, len: number): void {
    this.unmap(start, len);
    this.ranges.push(start, start + len);
    this.bytes += len;
    if (this.bytes > this.peak) this.peak = this.bytes;
  }

  unmap(start: number, len: number): void {
    const end = start + len;
    const kept: number[] = [];
    for (let i = 0; i < this.ranges.length; i += 2) {
      const s = this.ranges[i];
      const e = this.ranges[i + 1];
      if (e <= start || s >= end) {
        kept.push(s, e);
        continue;
      }
      this.bytes -= Math.min(e, end) - Math.max(s, start);
      if (s < start) kept.push(s, start);
      if (e > end) kept.push(end, e);
    }
    this.ranges = kept;
  }
}

/** Live bytes of the malloc-family calls, by pointer, and their peak. */
class LiveHeap {
  private readonly live = new Map<number, number>();
  bytes = 0;
  peak = 0;
  /** Frees and reallocs of pointers never seen allocated. */
  unknownFrees = 0;

  allocate(p: number, size: number): void {
    if (p === 0) return;
    this.live.set(p, size);
    this.bytes += size;
    if (this.bytes > this.peak) this.peak = this.bytes;
  }

  release(p: number): void {
    if (p === 0) return;
    const size = this.live.get(p);
    if (size === undefined) {
      this.unknownFrees++;
      return;
    }
    this.bytes -= size;
    this.live.delete(p);
  }
}

/** What the events other than accesses add up to: the heap, the program's and the allocators' mappings, markers. */
class CallCounts {
  readonly heap = new LiveHeap();
  readonly own = new Mappings();
  readonly arenas = new Mappings();
  readonly markers = { accept: 0, reply: 0, other: 0 };

  add(o: number, addr: number, size: number, arg: number): void {
    switch (o) {
      case TraceOp.Malloc:
      case TraceOp.Calloc:
      case TraceOp.PosixMemalign:
      case TraceOp.AlignedAlloc:
      case TraceOp.Realloc:
        if (o === TraceOp.Realloc) this.heap.release(arg);
        this.heap.allocate(addr, size);
        break;
      case TraceOp.Free:
        this.heap.release(addr);
        break;
      case TraceOp.Mmap:
        if (addr !== 0) (arg >= KERNEL_CALL_INSIDE_ALLOCATOR ? this.arenas : this.own).map(addr, size);
        break;
      case TraceOp.Munmap:
        if (addr !== 0) (arg >= KERNEL_CALL_INSIDE_ALLOCATOR ? this.arenas : this.own).unmap(addr, size);
        break;
      case TraceOp.Marker:
        if (arg === MarkerKind.Accept) this.markers.accept++;
        else if (arg === MarkerKind.Reply) this.markers.reply++;
        else this.markers.other++;
        break;
      default:
        break;
    }
  }
}

/** Stream a trace to its end and count what it holds. Closes the reader. */
export function summarizeTrace(reader: TraceReader): TraceSummary {
  const seen = new Float64Array(256);
  const dataPages = new Set<number>();
  const instrPages = new Set<number>();
  const calls = new CallCounts();
  let insideAllocator = 0;
  let lastDataPage = -1;
  let lastInstrPage = -1;
  try {
    for (let b = reader.next(); b !== null; b = reader.next()) {
      const { op, addr, size, arg } = b;
      for (let i = 0; i < b.length; i++) {
        const o = op[i];
        seen[o]++;
        if (o >= 16) {
          calls.add(o, addr[i], size[i], arg[i]);
          continue;
        }
        insideAllocator += arg[i];
        // Accesses may straddle a page boundary; the first byte's page stands for the access.
        const page = Math.floor(addr[i] / PAGE_4K);
        if (o === TraceOp.Instr) {
          if (page !== lastInstrPage) instrPages.add((lastInstrPage = page));
        } else if (page !== lastDataPage) {
          dataPages.add((lastDataPage = page));
        }
      }
    }
  } finally {
    reader.close();
  }
  const events: Record<string, number> = {};
  for (const o of TRACE_OPS) events[TRACE_OP_NAMES[o]] = seen[o];
  let allocationEvents = 0;
  for (const o of TRACE_OPS) if (o >= 16 && o !== TraceOp.Marker) allocationEvents += seen[o];
  const allPages = new Set(dataPages);
  for (const p of instrPages) allPages.add(p);
  const a = { instr: seen[TraceOp.Instr], load: seen[TraceOp.Load], store: seen[TraceOp.Store], modify: seen[TraceOp.Modify] };
  return {
    header: reader.header,
    events,
    accesses: { ...a, total: a.instr + a.load + a.store + a.modify, insideAllocator },
    allocationEvents,
    markers: calls.markers,
    pages: { all: allPages.size, data: dataPages.size, instr: instrPages.size },
    peakHeapBytes: calls.heap.peak,
    finalHeapBytes: calls.heap.bytes,
    peakMappedBytes: calls.own.peak,
    peakAllocatorMappedBytes: calls.arenas.peak,
    unknownFrees: calls.heap.unknownFrees,
  };
}
