/**
 * The binary trace format (version 1): layout constants and the encoding of one block of events.
 * The full layout, with a diagram, is in docs/formats.md; in short:
 *
 *   file    = preamble  header-JSON  block*  end-block  tail
 *   preamble: "UMTRACE\0" (8 B), u32 version, u32 header length          (all integers little-endian)
 *   block   : u32 compressed length P, u32 event count N (1..BLOCK_EVENTS), u32 raw length R,
 *             u32 xxh32 of the P payload bytes, then P bytes = zlib(raw block)
 *   end     : the same 16-byte block head with N = 0, then P bytes of footer JSON (not compressed)
 *   tail    : u32 footer length, u32 xxh32 of the footer, "UMTREND\0" (8 B)
 *
 * A raw block holds its N events column by column, so that zlib sees long runs of alike bytes:
 *
 *   u32 ops length | u32 sizes length | u32 addrs length | u32 args length | ops | sizes | addrs | args
 *
 *   ops    one code byte per event (plus the in-allocator switches, which are not events):
 *            0b0sssss00  instruction fetch of s bytes (s = 0: size in the sizes column); the
 *                        address is a delta from where the previous fetch ended
 *            0b0cccrrkk  data access, kk = 1 load, 2 store, 3 modify; size 2^ccc bytes (ccc = 7:
 *                        size in the sizes column); the address is a delta from slot rr of four
 *                        recent data addresses, and the slot then holds this address
 *            0x80 | op   an allocation event or marker (op = TraceOp 16..32): size, a delta from
 *                        the previous such event's address, and an arg
 *            0xC0, 0xC1  the accesses that follow were made inside (0xC0) / outside (0xC1) an
 *                        intercepted allocation call; read back as an access's arg = 1 / 0
 *   sizes  unsigned LEB128 varints, only where the code byte does not hold the size
 *   addrs  zigzag LEB128 varint per event
 *   args   unsigned LEB128 varint per allocation event or marker
 *
 * Every predictor (fetch end, the four slots, the last allocation address, the in-allocator state)
 * starts from 0 in each block, so a block decodes on its own. Numbers are doubles on both sides:
 * every value is an integer in [0, 2^53), so varints are at most 8 bytes and the arithmetic is
 * exact without BigInt.
 */
import { TraceOp } from './types.ts';

export const TRACE_MAGIC = 'UMTRACE\0';
export const TRACE_END_MAGIC = 'UMTREND\0';
export const TRACE_VERSION = 1;
/** Events per block: 64 Ki keeps a block's columns (about 0.3-2 MB raw) in cache-sized pieces. */
export const BLOCK_EVENTS = 65536;
export const PREAMBLE_BYTES = 16;
export const BLOCK_HEAD_BYTES = 16;
export const TAIL_BYTES = 16;
/** Room for the largest raw block: 2 code bytes, three 8-byte varints per event and the column head. */
export const MAX_RAW_BLOCK_BYTES = 16 + BLOCK_EVENTS * 26;
/** Bound on the header and footer JSON, so a corrupt length cannot ask for gigabytes. */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** The largest value a field can hold (2^53 - 1); larger inputs are stored as this. */
export const MAX_TRACE_VALUE = Number.MAX_SAFE_INTEGER;

const ALLOC_CODE = 0x80;
const ENTER_ALLOCATOR = 0xc0;
const LEAVE_ALLOCATOR = 0xc1;
const EXPLICIT_DATA_SIZE = 7;
const DATA_SLOTS = 4;

/** Names of the ops, by TraceOp value (for counts, `trace info` and error messages). */
export const TRACE_OP_NAMES: Readonly<Record<number, string>> = {
  [TraceOp.Instr]: 'instr',
  [TraceOp.Load]: 'load',
  [TraceOp.Store]: 'store',
  [TraceOp.Modify]: 'modify',
  [TraceOp.Malloc]: 'malloc',
  [TraceOp.Calloc]: 'calloc',
  [TraceOp.Realloc]: 'realloc',
  [TraceOp.Free]: 'free',
  [TraceOp.PosixMemalign]: 'posix_memalign',
  [TraceOp.AlignedAlloc]: 'aligned_alloc',
  [TraceOp.Mmap]: 'mmap',
  [TraceOp.Munmap]: 'munmap',
  [TraceOp.Brk]: 'brk',
  [TraceOp.Marker]: 'marker',
};

export const TRACE_OPS: readonly number[] = Object.keys(TRACE_OP_NAMES).map(Number);

/**
 * Decoding tables by code byte: the op (255: not a valid code), the size held in the code (0: in
 * the sizes column) and the data slot.
 */
export const OP_OF_CODE = new Uint8Array(256).fill(255);
export const SIZE_OF_CODE = new Float64Array(256);
export const SLOT_OF_CODE = new Uint8Array(256);
for (let b = 0; b < 0x80; b++) {
  const kind = b & 3;
  OP_OF_CODE[b] = kind;
  if (kind === TraceOp.Instr) {
    SIZE_OF_CODE[b] = b >> 2;
  } else {
    SLOT_OF_CODE[b] = (b >> 2) & 3;
    const c = b >> 4;
    SIZE_OF_CODE[b] = c === EXPLICIT_DATA_SIZE ? 0 : 1 << c;
  }
}
for (const op of Object.keys(TRACE_OP_NAMES).map(Number)) if (op >= 16) OP_OF_CODE[ALLOC_CODE | op] = op;

/** Whether an op is a memory access (lackey's I, L, S, M) rather than an allocation event or marker. */
export function isAccessOp(op: number): boolean {
  return op < 16;
}

// ---- encoding --------------------------------------------------------------------------------

function putVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < 0x80000000) {
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function zigzag(d: number): number {
  return d >= 0 ? d * 2 : -d * 2 - 1;
}

/** Events of one block in struct-of-arrays form (what the writer fills and the encoder reads). */
export interface EventColumns {
  op: Uint8Array;
  addr: Float64Array;
  size: Float64Array;
  arg: Float64Array;
}

/** Code of a data access's size: log2 for powers of two up to 64 B, else EXPLICIT_DATA_SIZE. */
function dataSizeCode(size: number): number {
  switch (size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    case 16: return 4;
    case 32: return 5;
    case 64: return 6;
    default: return EXPLICIT_DATA_SIZE;
  }
}

/**
 * Encode events [0, n) into `out` (at least MAX_RAW_BLOCK_BYTES long); returns the raw length.
 * Values must be integers in [0, MAX_TRACE_VALUE] (the writer clamps); an access's arg is its
 * in-allocator flag (0 or 1). Columns are first written at fixed spans of `out` and then packed.
 */
export function encodeBlock(ev: EventColumns, n: number, out: Uint8Array, scratch: Uint8Array): number {
  const { op, addr, size, arg } = ev;
  // ops can take 2n bytes (a switch before each access); the other columns 8n each at most.
  let po = 0;
  let ps = 2 * n;
  let pa = 10 * n;
  let pg = 18 * n;
  const sizesStart = ps;
  const addrsStart = pa;
  const argsStart = pg;
  const slots = [0, 0, 0, 0];
  const lastUse = [0, 0, 0, 0];
  let instrNext = 0;
  let otherPrev = 0;
  let inAllocator = 0;
  for (let i = 0; i < n; i++) {
    const o = op[i];
    const a = addr[i];
    if (o >= 16) {
      scratch[po++] = ALLOC_CODE | o;
      ps = putVarint(scratch, ps, size[i]);
      pa = putVarint(scratch, pa, zigzag(a - otherPrev));
      otherPrev = a;
      pg = putVarint(scratch, pg, arg[i]);
      continue;
    }
    const flag = arg[i] !== 0 ? 1 : 0;
    if (flag !== inAllocator) {
      scratch[po++] = flag ? ENTER_ALLOCATOR : LEAVE_ALLOCATOR;
      inAllocator = flag;
    }
    if (o === TraceOp.Instr) {
      const s = size[i];
      if (s >= 1 && s < 32) {
        scratch[po++] = s << 2;
      } else {
        scratch[po++] = 0;
        ps = putVarint(scratch, ps, s);
      }
      pa = putVarint(scratch, pa, zigzag(a - instrNext));
      instrNext = a + s;
      continue;
    }
    // The nearest recent address; a far access replaces the least recently used slot instead.
    let best = 0;
    let bestDistance = Math.abs(a - slots[0]);
    for (let k = 1; k < DATA_SLOTS; k++) {
      const d = Math.abs(a - slots[k]);
      if (d < bestDistance) {
        bestDistance = d;
        best = k;
      }
    }
    if (bestDistance >= 65536) {
      best = 0;
      for (let k = 1; k < DATA_SLOTS; k++) if (lastUse[k] < lastUse[best]) best = k;
    }
    lastUse[best] = i + 1;
    const code = dataSizeCode(size[i]);
    scratch[po++] = (code << 4) | (best << 2) | o;
    if (code === EXPLICIT_DATA_SIZE) ps = putVarint(scratch, ps, size[i]);
    pa = putVarint(scratch, pa, zigzag(a - slots[best]));
    slots[best] = a;
  }
  const lengths = [po, ps - sizesStart, pa - addrsStart, pg - argsStart];
  const view = new DataView(out.buffer, out.byteOffset, 16);
  lengths.forEach((l, k) => view.setUint32(k * 4, l, true));
  let p = 16;
  out.set(scratch.subarray(0, po), p);
  p += po;
  out.set(scratch.subarray(sizesStart, ps), p);
  p += lengths[1];
  out.set(scratch.subarray(addrsStart, pa), p);
  p += lengths[2];
  out.set(scratch.subarray(argsStart, pg), p);
  return p + lengths[3];
}

// ---- decoding --------------------------------------------------------------------------------

/** Scratch space of the decoder's data slots (one per reader). */
export function newDecodeSlots(): Float64Array {
  return new Float64Array(DATA_SLOTS);
}

/** Where the last readVarintTail stopped: module state, so that the hot loop allocates nothing. */
let varintNext = 0;

/**
 * The rest of an unsigned varint whose first byte, `first`, had its continuation bit set; the next
 * groups start at raw[at] (at most 8 groups in all: 56 bits). Sets varintNext past the varint. The
 * decoder reads one-byte varints inline and calls this for longer ones. Reading past the column's
 * end yields `undefined`, which ends the varint; the decoder's end check catches it.
 */
function readVarintTail(raw: Uint8Array, at: number, first: number): number {
  let v = first & 0x7f;
  let mul = 128;
  let c: number;
  do {
    c = raw[at++];
    v += (c & 0x7f) * mul;
    mul *= 128;
  } while (c >= 0x80 && mul < 0x100000000000000);
  varintNext = at;
  return v;
}

/** The column ends of a raw block (ops, sizes, addresses; args end at the block's end), or a problem. */
export function blockColumnEnds(raw: Uint8Array): [number, number, number] | string {
  if (raw.length < 16) return `raw block of ${raw.length} bytes is too short`;
  const view = new DataView(raw.buffer, raw.byteOffset, 16);
  const opsEnd = 16 + view.getUint32(0, true);
  const sizesEnd = opsEnd + view.getUint32(4, true);
  const addrsEnd = sizesEnd + view.getUint32(8, true);
  if (addrsEnd + view.getUint32(12, true) !== raw.length) return 'column lengths do not add up to the block length';
  return [opsEnd, sizesEnd, addrsEnd];
}

/** What `decodeBlock` (and the WebAssembly decoder, src/trace/wasm-decoder.ts) finds malformed. */
export const OPS_END_EARLY = 'the ops column ends before the last event';
export const COLUMNS_MISMATCH = 'columns do not match the event count';
export function unknownCode(event: number, code: number): string {
  return `event ${event}: unknown code byte ${code}`;
}

/**
 * Decode a raw block of `n` events into `ev` (arrays at least n long), using `slots`
 * (newDecodeSlots) as scratch, and add the block's events per op to `counts` (indexed by op).
 * Returns null on success or a short description of what is malformed (the reader adds the file
 * and offset); `counts` is then left as it was.
 */
export function decodeBlock(raw: Uint8Array, n: number, ev: EventColumns, slots: Float64Array, counts: Float64Array): string | null {
  const ends = blockColumnEnds(raw);
  if (typeof ends === 'string') return ends;
  const [opsEnd, sizesEnd, addrsEnd] = ends;
  const { op, addr, size, arg } = ev;
  let po = 16;
  let ps = opsEnd;
  let pa = sizesEnd;
  let pg = addrsEnd;
  slots.fill(0);
  // Events per op in this block, for `counts` (a small local array: ops index it directly).
  const seen = blockCounts;
  seen.fill(0);
  let instrNext = 0;
  let otherPrev = 0;
  let inAllocator = 0;
  let i = 0;
  while (i < n) {
    if (po >= opsEnd) return OPS_END_EARLY;
    const b = raw[po++];
    const o = OP_OF_CODE[b];
    if (o === 255) {
      if (b === ENTER_ALLOCATOR) inAllocator = 1;
      else if (b === LEAVE_ALLOCATOR) inAllocator = 0;
      else return unknownCode(i, b);
      continue;
    }
    op[i] = o;
    seen[o]++;
    let s = SIZE_OF_CODE[b];
    if (s === 0) {
      const c = raw[ps++];
      s = c & 0x7f;
      if (c >= 0x80) {
        s = readVarintTail(raw, ps, c);
        ps = varintNext;
      }
    }
    size[i] = s;
    // zigzag: the sign is the low bit of the first byte. Two-byte varints (address deltas of up to
    // 8 KiB) are read here too, as readVarintTail's first step, where it stops, would read them.
    let z = raw[pa++];
    if (z >= 0x80) {
      if (raw[pa] < 0x80) z = (z & 0x7f) + raw[pa++] * 128;
      else {
        z = readVarintTail(raw, pa, z);
        pa = varintNext;
      }
    }
    const d = (z & 1) === 0 ? z / 2 : -(z + 1) / 2;
    if (o === TraceOp.Instr) {
      const a = instrNext + d;
      addr[i] = a;
      instrNext = a + s;
      arg[i] = inAllocator;
    } else if (o < 16) {
      const k = SLOT_OF_CODE[b];
      const a = slots[k] + d;
      slots[k] = a;
      addr[i] = a;
      arg[i] = inAllocator;
    } else {
      otherPrev += d;
      addr[i] = otherPrev;
      let g = raw[pg++];
      if (g >= 0x80) {
        g = readVarintTail(raw, pg, g);
        pg = varintNext;
      }
      arg[i] = g;
    }
    i++;
  }
  // Reading past a column's end lands in the next column or on `undefined` (which ends a varint);
  // either way the cursors then do not stop exactly at the column ends.
  if (po !== opsEnd || ps !== sizesEnd || pa !== addrsEnd || pg !== raw.length) return COLUMNS_MISMATCH;
  for (let o = 0; o < 256; o++) if (seen[o] !== 0) counts[o] += seen[o];
  return null;
}

/** Scratch of `decodeBlock`'s per-op counts (module state, so that decoding allocates nothing). */
const blockCounts = new Int32Array(256);
