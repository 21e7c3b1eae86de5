/**
 * Parser of valgrind lackey's `--trace-mem=yes` stream interleaved with the allocation shim's lines
 * (native/shim/unimem_shim.c), fed chunk by chunk as it arrives from the pipe and turned straight
 * into trace events: the text is never stored.
 *
 * Lines (research/hostcheck.md §5):
 *   "I  0401ab70,3"        instruction fetch (hex address, decimal size)
 *   " L 1ffefffd88,8"      load; " S ..." store; " M ..." modify (load and store of one location)
 *   "**PID** UM+"          an allocation call begins: accesses until its "UM-" line are the C
 *                          library's allocator at work and get arg = 1
 *   "**PID** UM- c a s g"  the call returns (c: call letter, a s g: hex address, size, argument)
 *   "**PID** UM= c a s g"  a kernel memory call made inside an allocation call (no bracket); its
 *                          arg gets KERNEL_CALL_INSIDE_ALLOCATOR
 *   "**PID** UM! k n 0 t"  marker number n of kind t
 * Everything else (valgrind's "==PID==" banner and summary, warnings) is skipped and counted.
 *
 * Valgrind runs one thread at a time, and its stream has no thread ids: an allocation call that
 * blocks (a lock, a system call) may let another thread's accesses into its bracket. Servers are
 * therefore captured with as few threads as they allow (docs/traces.md).
 */
import { KERNEL_CALL_INSIDE_ALLOCATOR, TraceOp } from './types.ts';

/** Where parsed events go: TraceWriter implements it. */
export interface EventSink {
  add(op: TraceOp, addr: number, size: number, arg: number): void;
}

const NL = 0x0a;
const SPACE = 0x20;
const COMMA = 0x2c;
const CH_I = 0x49;
const CH_L = 0x4c;
const CH_S = 0x53;
const CH_M = 0x4d;
const STAR = 0x2a;

/** Value of a hex digit by byte, -1 for other bytes. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x61 + i] = 10 + i;
  HEX[0x41 + i] = 10 + i;
}

const CALL_OPS: Readonly<Record<string, TraceOp>> = {
  m: TraceOp.Malloc,
  c: TraceOp.Calloc,
  r: TraceOp.Realloc,
  f: TraceOp.Free,
  p: TraceOp.PosixMemalign,
  a: TraceOp.AlignedAlloc,
  M: TraceOp.Mmap,
  U: TraceOp.Munmap,
  b: TraceOp.Brk,
  k: TraceOp.Marker,
};

export interface LackeyStats {
  /** Lines of lackey's stream seen, of every kind. */
  lines: number;
  /** Bytes of text parsed. */
  bytes: number;
  /** Instruction fetches seen (recorded only with instructions on). */
  instructions: number;
  /** Data accesses (L, S, M) seen. */
  dataAccesses: number;
  /** Accesses made inside allocation calls (arg = 1), instructions included when recorded. */
  allocatorAccesses: number;
  /** Shim lines (allocation events and markers). */
  shimLines: number;
  /** Lines that are neither accesses nor shim lines (valgrind's own messages). */
  otherLines: number;
}

export class LackeyParser {
  readonly stats: LackeyStats = { lines: 0, bytes: 0, instructions: 0, dataAccesses: 0, allocatorAccesses: 0, shimLines: 0, otherLines: 0 };
  private carry: Buffer | null = null;
  private inAllocator = 0;

  constructor(
    private readonly sink: EventSink,
    private readonly withInstructions: boolean,
  ) {}

  /** Parse a chunk of the stream; a trailing partial line waits for the next chunk. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const end = buf.lastIndexOf(NL);
    if (end < 0) {
      this.carry = Buffer.from(buf);
      return;
    }
    this.parseLines(buf, end + 1);
    if (end + 1 < buf.length) this.carry = Buffer.from(buf.subarray(end + 1));
  }

  /** The stream ended: parse a last line without a newline, if any. */
  end(): void {
    if (this.carry !== null && this.carry.length > 0) {
      const last = Buffer.concat([this.carry, Buffer.from('\n')]);
      this.carry = null;
      this.parseLines(last, last.length);
    }
  }

  /** Parse the complete lines in buf[0, end). */
  private parseLines(buf: Buffer, end: number): void {
    const stats = this.stats;
    stats.bytes += end;
    let p = 0;
    while (p < end) {
      const c0 = buf[p];
      stats.lines++;
      if (c0 === SPACE && buf[p + 2] === SPACE) {
        const kind = buf[p + 1];
        const op = kind === CH_L ? TraceOp.Load : kind === CH_S ? TraceOp.Store : kind === CH_M ? TraceOp.Modify : -1;
        if (op >= 0) {
          p = this.access(buf, p + 3, op as TraceOp);
          stats.dataAccesses++;
          continue;
        }
      } else if (c0 === CH_I && buf[p + 1] === SPACE && buf[p + 2] === SPACE) {
        stats.instructions++;
        if (this.withInstructions) {
          p = this.access(buf, p + 3, TraceOp.Instr);
        } else {
          p = buf.indexOf(NL, p) + 1;
        }
        continue;
      } else if (c0 === STAR) {
        p = this.shimLine(buf, p);
        continue;
      }
      stats.otherLines++;
      p = buf.indexOf(NL, p) + 1;
    }
  }

  /** Parse "hex,dec\n" at p; returns the position after the newline. */
  private access(buf: Buffer, p: number, op: TraceOp): number {
    let addr = 0;
    let c = buf[p];
    while (c !== COMMA && c !== NL) {
      addr = addr * 16 + HEX[c];
      c = buf[++p];
    }
    let size = 0;
    if (c === COMMA) {
      c = buf[++p];
      while (c !== NL) {
        size = size * 10 + (c - 0x30);
        c = buf[++p];
      }
    }
    if (this.inAllocator) this.stats.allocatorAccesses++;
    // A malformed number (not expected from lackey) becomes NaN; the writer stores it as 0.
    this.sink.add(op, addr === addr ? addr : 0, size === size ? size : 0, this.inAllocator);
    return p + 1;
  }

  /** A "**PID** ..." line: the shim's, or one of valgrind's own. */
  private shimLine(buf: Buffer, p: number): number {
    const nl = buf.indexOf(NL, p);
    const close = buf.indexOf('** UM', p + 2);
    if (close < 0 || close > nl) {
      this.stats.otherLines++;
      return nl + 1;
    }
    this.stats.shimLines++;
    const tag = buf[close + 5];
    if (tag === 0x2b /* + */) {
      this.inAllocator = 1;
      return nl + 1;
    }
    // "UM- c addr size arg": fields separated by single spaces.
    const op = CALL_OPS[String.fromCharCode(buf[close + 7])];
    let q = close + 9;
    const fields = [0, 0, 0];
    for (let f = 0; f < 3 && q < nl; f++) {
      let v = 0;
      let c = buf[q];
      while (c !== SPACE && c !== NL) {
        v = v * 16 + HEX[c];
        c = buf[++q];
      }
      fields[f] = v === v ? v : 0;
      q++;
    }
    if (op === undefined) {
      this.stats.otherLines++;
      return nl + 1;
    }
    if (tag === 0x2d /* - */) this.inAllocator = 0;
    let arg = fields[2];
    if (tag === 0x3d /* = */) arg += KERNEL_CALL_INSIDE_ALLOCATOR;
    this.sink.add(op, fields[0], fields[1], arg);
    return nl + 1;
  }
}
