/**
 * The replay form of a captured trace: what the fleet's VMs actually stream. A server's trace is
 * mostly warm-up (its start-up and the client's load phase: for Redis under lackey, tens of
 * millions of accesses) that no measurement looks at and that the replay fast-forwards anyway,
 * charging only the first access to each guest page (src/apps/traced.ts). Reading and decoding
 * it again for every VM of every configuration would cost more than the measured window.
 *
 * So the warm-up is reduced once, before the run, to what the fast-forward can charge under any
 * guest allocator: every allocation event and marker, the first access to each page of the
 * program's own memory, and of the accesses to an object (one allocation's life: a realloc makes
 * a new one) those that may be the first on a guest page wherever the object lands
 * (WarmupReducer.firstTouch). The reduced warm-up therefore charges exactly the accesses the full
 * one would, under every allocator (a test replays both). Accesses made inside the host
 * allocator outside any object are dropped, as the replay drops them. The window follows
 * unchanged.
 */
import { growF64 } from '../../base/grow.ts';
import { LiveObjects, PageMap } from '../../apps/intervals.ts';
import type { TraceSource } from '../../apps/traced.ts';
import { TraceOp } from '../../trace/types.ts';
import type { TraceWindow } from './fleet.ts';

const PAGE = 4096;

/** Where the replay form's events go (the trace writer in prepare, an array in tests). */
export interface ReplayFormSink {
  add(op: TraceOp, addr: number, size: number, arg: number): void;
}

/** Tracks the warm-up's live objects and which of their pages were touched. */
class WarmupReducer {
  private readonly objects = new LiveObjects();
  /** Instance number of each live object id (a new one per allocation). */
  private instance = new Float64Array(256);
  private nextInstance = 1;
  private readonly objectPages = new PageMap(4096);
  private readonly programPages = new PageMap(4096);

  /**
   * Whether the fast-forward may charge this access, under some guest placement. The replay
   * charges the first access that starts on each guest page. Program pages map to whole guest
   * pages (an access crossing one is charged as two parts), so for them that is the first access
   * to each page. An object's page-sized stretch [k * 4 KiB, (k + 1) * 4 KiB) may straddle one
   * guest page boundary, wherever the allocator put the object; an access is the first on one
   * side of some boundary exactly when its offset is below or above every earlier offset in the
   * stretch, so those are kept (the stretch's least and greatest offsets are remembered).
   */
  firstTouch(addr: number, size: number, insideAllocator: boolean): boolean {
    const id = this.objects.find(addr);
    if (id < 0) {
      if (insideAllocator) return false;
      const last = addr + (size > 0 ? size : 1) - 1;
      const first = this.mark(this.programPages, Math.floor(addr / PAGE));
      return this.mark(this.programPages, Math.floor(last / PAGE)) || first;
    }
    const offset = addr - this.objects.objectStart(id);
    const stretch = Math.floor(offset / PAGE);
    const key = this.instance[id] * 2 ** 24 + stretch;
    const at = offset - stretch * PAGE;
    const seen = this.objectPages.get(key);
    if (seen < 0) {
      this.objectPages.set(key, at * 65536 + at);
      return true;
    }
    const least = Math.floor(seen / 65536);
    const greatest = seen - least * 65536;
    if (at >= least && at <= greatest) return false;
    this.objectPages.set(key, Math.min(least, at) * 65536 + Math.max(greatest, at));
    return true;
  }

  private mark(map: PageMap, key: number): boolean {
    if (map.get(key) >= 0) return false;
    map.set(key, 1);
    return true;
  }

  allocated(addr: number, bytes: number): void {
    if (addr === 0) return;
    this.freed(addr);
    const id = this.objects.add(addr, bytes > 0 ? bytes : 1, 0);
    this.instance = growF64(this.instance, id + 1);
    this.instance[id] = this.nextInstance++;
  }

  freed(addr: number): void {
    const id = addr === 0 ? -1 : this.objects.idAt(addr);
    if (id >= 0) this.objects.remove(id);
  }

  event(op: number, addr: number, size: number, arg: number): boolean {
    switch (op) {
      case TraceOp.Instr:
      case TraceOp.Load:
      case TraceOp.Store:
      case TraceOp.Modify:
        return this.firstTouch(addr, size, arg === 1);
      case TraceOp.Malloc:
      case TraceOp.Calloc:
      case TraceOp.PosixMemalign:
      case TraceOp.AlignedAlloc:
        this.allocated(addr, size);
        return true;
      case TraceOp.Realloc:
        if (addr !== 0) {
          this.freed(arg);
          this.allocated(addr, size);
        }
        return true;
      case TraceOp.Free:
        this.freed(addr);
        return true;
      default:
        return true;
    }
  }
}

/** Write the replay form of `source` (see the header comment); returns the warm-up events written. */
export function writeReplayForm(source: TraceSource, window: TraceWindow, sink: ReplayFormSink): number {
  const reducer = new WarmupReducer();
  const reader = source.open();
  let event = 0;
  let warmup = 0;
  try {
    for (let b = reader.next(); b !== null; b = reader.next()) {
      for (let i = 0; i < b.length; i++, event++) {
        const op = b.op[i];
        if (event < window.startEvent) {
          if (!reducer.event(op, b.addr[i], b.size[i], b.arg[i])) continue;
          warmup++;
        }
        sink.add(op, b.addr[i], b.size[i], b.arg[i]);
      }
    }
    return warmup;
  } finally {
    reader.close();
  }
}
