/**
 * The in-memory shape of a program trace: what the binary trace reader hands to a replay, in
 * batches of typed arrays so that replay allocates nothing per event.
 *
 * A trace is one program's life (or a window of it) as valgrind's lackey saw it, with the
 * allocation shim's events interleaved in program order:
 *
 *   access events   op = Instr | Load | Store | Modify; addr = the program's virtual address,
 *                   size = bytes accessed (lackey's size), arg = 0
 *   allocation events (the shim's reports, one per returning call)
 *     Malloc         addr = result pointer, size = requested bytes
 *     Calloc         addr = result pointer, size = nmemb * size
 *     Realloc        addr = result pointer, size = requested bytes, arg = old pointer
 *     Free           addr = pointer freed (0 for free(NULL))
 *     PosixMemalign  addr = result pointer, size = requested bytes, arg = alignment
 *     AlignedAlloc   addr = result pointer, size = requested bytes, arg = alignment
 *     Mmap           addr = result address, size = length, arg = prot | (flags << 8)
 *     Munmap         addr = address, size = length
 *     Brk            addr = new break returned, arg = requested break (0: query)
 *   Marker          a boundary the capture inserted (for example one completed client request);
 *                   addr = marker number
 *
 * Addresses and sizes are plain numbers (48-bit user addresses fit a double exactly).
 * Contract of a TraceReader: `next()` returns the next batch or null at the end; a batch's arrays
 * are owned by the reader and overwritten by the following `next()` call; a malformed input throws
 * the project's InputError naming the file and the byte offset.
 */

export const enum TraceOp {
  Instr = 0,
  Load = 1,
  Store = 2,
  Modify = 3,
  Malloc = 16,
  Calloc = 17,
  Realloc = 18,
  Free = 19,
  PosixMemalign = 20,
  AlignedAlloc = 21,
  Mmap = 22,
  Munmap = 23,
  Brk = 24,
  Marker = 32,
}

export interface TraceHeader {
  /** The traced command line, as run. */
  command: string[];
  /** A short label of the program and its driver, e.g. `memcached-1.6.18+memcslap`. */
  label: string;
  /** Whether instruction fetches were recorded (`--with-instructions`). */
  withInstructions: boolean;
  /** Event counts by op (index = TraceOp value), as written by the capture. */
  counts: Record<string, number>;
  /** Free-form facts of the capture (versions, client settings, requests completed, seconds). */
  meta: Record<string, string | number>;
}

export interface TraceBatch {
  /** Number of valid events in the arrays below. */
  length: number;
  op: Uint8Array;
  addr: Float64Array;
  size: Float64Array;
  arg: Float64Array;
}

export interface TraceReader {
  readonly header: TraceHeader;
  next(): TraceBatch | null;
  close(): void;
}
