/**
 * Traces held in memory: a builder for hand-made traces (tests, small known programs) and a
 * TraceReader over arrays, so that replay code runs the same on a captured file and on a trace
 * written out event by event.
 *
 * The reader honours the TraceReader contract of types.ts: batches of at most `batchSize` events
 * whose arrays it owns and overwrites on the next call.
 */
import { growF64 } from '../base/grow.ts';
import { TraceOp, type TraceBatch, type TraceHeader, type TraceReader } from './types.ts';

/** A whole trace in typed arrays (one entry per event). */
export interface MemoryTrace {
  header: TraceHeader;
  length: number;
  op: Uint8Array;
  addr: Float64Array;
  size: Float64Array;
  arg: Float64Array;
}

/** Reads a MemoryTrace in batches. */
export class MemoryTraceReader implements TraceReader {
  readonly header: TraceHeader;
  private readonly batch: TraceBatch;
  private position = 0;

  constructor(
    private readonly trace: MemoryTrace,
    batchSize = 4096,
  ) {
    this.header = trace.header;
    this.batch = {
      length: 0,
      op: new Uint8Array(batchSize),
      addr: new Float64Array(batchSize),
      size: new Float64Array(batchSize),
      arg: new Float64Array(batchSize),
    };
  }

  next(): TraceBatch | null {
    const t = this.trace;
    if (this.position >= t.length) return null;
    const b = this.batch;
    const n = Math.min(b.op.length, t.length - this.position);
    const from = this.position;
    b.op.set(t.op.subarray(from, from + n));
    b.addr.set(t.addr.subarray(from, from + n));
    b.size.set(t.size.subarray(from, from + n));
    b.arg.set(t.arg.subarray(from, from + n));
    b.length = n;
    this.position += n;
    return b;
  }

  close(): void {
    this.position = this.trace.length;
  }
}

/**
 * Writes a trace event by event. Counts per op are kept as the capture writes them into the
 * header (index = TraceOp value).
 */
export class TraceBuilder {
  private op = new Uint8Array(256);
  private addr = new Float64Array(256);
  private size = new Float64Array(256);
  private arg = new Float64Array(256);
  private length = 0;
  private readonly counts: number[] = [];

  constructor(
    private readonly label: string,
    private readonly options: { withInstructions?: boolean; meta?: Record<string, string | number>; command?: string[] } = {},
  ) {}

  event(op: TraceOp, addr: number, size = 0, arg = 0): this {
    if (this.length === this.op.length) this.grow();
    const i = this.length++;
    this.op[i] = op;
    this.addr[i] = addr;
    this.size[i] = size;
    this.arg[i] = arg;
    this.counts[op] = (this.counts[op] ?? 0) + 1;
    return this;
  }

  /** The event sink shape (src/trace/lackey.ts EventSink). */
  add(op: TraceOp, addr: number, size: number, arg: number): void {
    this.event(op, addr, size, arg);
  }

  instr(addr: number, size = 4): this {
    return this.event(TraceOp.Instr, addr, size);
  }
  load(addr: number, size: number): this {
    return this.event(TraceOp.Load, addr, size);
  }
  store(addr: number, size: number): this {
    return this.event(TraceOp.Store, addr, size);
  }
  modify(addr: number, size: number): this {
    return this.event(TraceOp.Modify, addr, size);
  }
  malloc(result: number, bytes: number): this {
    return this.event(TraceOp.Malloc, result, bytes);
  }
  calloc(result: number, bytes: number): this {
    return this.event(TraceOp.Calloc, result, bytes);
  }
  realloc(result: number, bytes: number, old: number): this {
    return this.event(TraceOp.Realloc, result, bytes, old);
  }
  free(addr: number): this {
    return this.event(TraceOp.Free, addr);
  }
  memalign(result: number, bytes: number, alignment: number): this {
    return this.event(TraceOp.PosixMemalign, result, bytes, alignment);
  }
  mmap(result: number, length: number, protAndFlags = 0): this {
    return this.event(TraceOp.Mmap, result, length, protAndFlags);
  }
  munmap(addr: number, length: number): this {
    return this.event(TraceOp.Munmap, addr, length);
  }
  marker(n: number): this {
    return this.event(TraceOp.Marker, n);
  }

  private grow(): void {
    const n = this.op.length * 2;
    const op = new Uint8Array(n);
    op.set(this.op);
    this.op = op;
    this.addr = growF64(this.addr, n);
    this.size = growF64(this.size, n);
    this.arg = growF64(this.arg, n);
  }

  build(): MemoryTrace {
    const counts: Record<string, number> = {};
    this.counts.forEach((c, op) => {
      if (c !== undefined) counts[String(op)] = c;
    });
    return {
      header: {
        command: this.options.command ?? [this.label],
        label: this.label,
        withInstructions: this.options.withInstructions ?? this.counts[TraceOp.Instr] !== undefined,
        counts,
        meta: { ...(this.options.meta ?? {}) },
      },
      length: this.length,
      op: this.op.slice(0, this.length),
      addr: this.addr.slice(0, this.length),
      size: this.size.slice(0, this.length),
      arg: this.arg.slice(0, this.length),
    };
  }
}

/** Read a whole trace into memory (tests and small traces; replay itself streams). */
export function readAll(reader: TraceReader): MemoryTrace {
  const b = new TraceBuilder(reader.header.label);
  for (let batch = reader.next(); batch !== null; batch = reader.next()) {
    for (let i = 0; i < batch.length; i++) b.event(batch.op[i], batch.addr[i], batch.size[i], batch.arg[i]);
  }
  reader.close();
  const t = b.build();
  return { ...t, header: reader.header };
}
