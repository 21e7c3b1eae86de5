/**
 * The trace decoder's hot loop in WebAssembly, compiled from this AssemblyScript source by
 * src/trace/wasm-decoder.ts (`asc -O3 --runtime stub --noAssert`, into build/native/, git-ignored;
 * scripts/install.sh builds it). It decodes one raw block exactly as `decodeBlock` in
 * ../format.ts does (that file documents the columns) and writes the same four columns, which the
 * reader hands out as typed-array views of this module's memory. A test decodes random and
 * malformed blocks both ways and compares every value and every error.
 *
 * Memory: fixed regions (the module allocates nothing, so the memory never grows and the views
 * stay valid); the caller writes the decoding tables of format.ts once and the raw block before
 * each call. The raw block is the last region, with room behind it: on a malformed block a column's
 * cursor may run past the block's end (the JavaScript decoder reads `undefined` there) before the
 * end check refuses the block, and it must stay inside the memory. Every value is a double, as in
 * the JavaScript decoder, so the arithmetic is the same to the bit.
 */
const EVENTS: usize = 65536; // BLOCK_EVENTS of format.ts
const MAX_RAW: usize = 16 + EVENTS * 26; // MAX_RAW_BLOCK_BYTES of format.ts

const OP_OF_CODE: usize = 0x1000; // u8[256]
const SLOT_OF_CODE: usize = OP_OF_CODE + 256; // u8[256]
const SIZE_OF_CODE: usize = SLOT_OF_CODE + 256; // f64[256]
const SEEN: usize = SIZE_OF_CODE + 256 * 8; // i32[256]: this block's events per op
const SLOTS: usize = SEEN + 256 * 4; // f64[4]: the four recent data addresses
const FAULT: usize = SLOTS + 64; // i32[2]: the event and code byte of an unknown code
const OPS: usize = 0x10000; // u8[EVENTS]
const ADDRS: usize = OPS + EVENTS; // f64[EVENTS]
const SIZES: usize = ADDRS + EVENTS * 8;
const ARGS: usize = SIZES + EVENTS * 8;
const RAW: usize = ARGS + EVENTS * 8;
/** Past a raw block: the furthest a cursor can run (8 bytes per event) and a 4-byte read beyond. */
const RAW_SLACK: usize = EVENTS * 8 + 8;
/** Bytes of memory the module needs (the wrapper checks its memory holds them). */
export const MEMORY_BYTES: usize = RAW + MAX_RAW + RAW_SLACK;

export function opOfCodeAt(): usize { return OP_OF_CODE; }
export function slotOfCodeAt(): usize { return SLOT_OF_CODE; }
export function sizeOfCodeAt(): usize { return SIZE_OF_CODE; }
export function seenAt(): usize { return SEEN; }
export function faultAt(): usize { return FAULT; }
export function opsAt(): usize { return OPS; }
export function addrsAt(): usize { return ADDRS; }
export function sizesAt(): usize { return SIZES; }
export function argsAt(): usize { return ARGS; }
export function rawAt(): usize { return RAW; }

/** Where the last `varintTail` stopped. */
let varintNext: usize = 0;

/** readVarintTail of format.ts: the rest of a varint whose first byte `first` had its top bit set. */
function varintTail(at: usize, first: u32): f64 {
  let v: f64 = <f64>(first & 0x7f);
  let mul: f64 = 128;
  let c: u32;
  do {
    c = <u32>load<u8>(at++);
    v += <f64>(c & 0x7f) * mul;
    mul *= 128;
  } while (c >= 0x80 && mul < 72057594037927936.0);
  varintNext = at;
  return v;
}

/** `decode`'s results: 0, or which problem of `decodeBlock` it found (the wrapper words it). */
const DECODED: i32 = 0;
const OPS_END_EARLY: i32 = 1;
const UNKNOWN_CODE: i32 = 2;
const COLUMNS_MISMATCH: i32 = 3;

/**
 * Decode the raw block of `rawLength` bytes at RAW holding `n` events, whose columns end at the
 * given offsets (checked by the caller to add up). Counts the block's events per op into SEEN.
 */
export function decode(rawLength: usize, n: i32, opsEnd: usize, sizesEnd: usize, addrsEnd: usize): i32 {
  let po: usize = RAW + 16;
  let ps: usize = RAW + opsEnd;
  let pa: usize = RAW + sizesEnd;
  let pg: usize = RAW + addrsEnd;
  const opsLimit: usize = RAW + opsEnd;
  memory.fill(SEEN, 0, 256 * 4);
  memory.fill(SLOTS, 0, 4 * 8);
  let instrNext: f64 = 0;
  let otherPrev: f64 = 0;
  let inAllocator: f64 = 0;
  let i: i32 = 0;
  while (i < n) {
    if (po >= opsLimit) return OPS_END_EARLY;
    const b = <u32>load<u8>(po++);
    const o = <u32>load<u8>(OP_OF_CODE + b);
    if (o == 255) {
      if (b == 0xc0) inAllocator = 1;
      else if (b == 0xc1) inAllocator = 0;
      else {
        store<i32>(FAULT, i);
        store<i32>(FAULT + 4, b);
        return UNKNOWN_CODE;
      }
      continue;
    }
    const at = <usize>i;
    store<u8>(OPS + at, <u8>o);
    const seen = SEEN + (<usize>o << 2);
    store<i32>(seen, load<i32>(seen) + 1);
    let s = load<f64>(SIZE_OF_CODE + (<usize>b << 3));
    if (s == 0) {
      const c = <u32>load<u8>(ps++);
      if (c >= 0x80) {
        s = varintTail(ps, c);
        ps = varintNext;
      } else s = <f64>c;
    }
    store<f64>(SIZES + (at << 3), s);
    // The address delta. Varints of up to four bytes (deltas below 2^27) in one 4-byte read,
    // without a branch on their length, which the host mispredicts on a mix of stack and heap
    // accesses: the bytes after the first one whose top bit is clear are masked off, and the
    // zigzag sign is undone in integers (exact below 2^31, as the doubles' z / 2 and -(z + 1) / 2).
    const x = load<u32>(pa);
    const stops = ~x & 0x80808080;
    let d: f64;
    if (stops != 0) {
      pa += <usize>(ctz(stops) >>> 3) + 1; // the varint's bytes: its last one holds the lowest stop bit
      const kept = x & (stops ^ (stops - 1)); // the bits up to that stop bit
      // The four 7-bit groups joined in two steps: bytes 0-1 and 2-3 into 14-bit fields, then those.
      const pairs = (kept & 0x007f007f) | ((kept & 0x7f007f00) >>> 1);
      const z = (pairs & 0x3fff) | ((pairs & 0x3fff0000) >>> 2);
      d = <f64>(<i32>(z >>> 1) ^ -<i32>(z & 1));
    } else {
      const z = varintTail(pa + 1, x & 0xff);
      pa = varintNext;
      d = (<u64>z & 1) == 0 ? z / 2 : -(z + 1) / 2;
    }
    if (o == 0) {
      // An instruction fetch: from where the previous one ended.
      const a = instrNext + d;
      store<f64>(ADDRS + (at << 3), a);
      instrNext = a + s;
      store<f64>(ARGS + (at << 3), inAllocator);
    } else if (o < 16) {
      const slot = SLOTS + (<usize>load<u8>(SLOT_OF_CODE + b) << 3);
      const a = load<f64>(slot) + d;
      store<f64>(slot, a);
      store<f64>(ADDRS + (at << 3), a);
      store<f64>(ARGS + (at << 3), inAllocator);
    } else {
      otherPrev += d;
      store<f64>(ADDRS + (at << 3), otherPrev);
      const g = <u32>load<u8>(pg++);
      let arg: f64 = <f64>g;
      if (g >= 0x80) {
        arg = varintTail(pg, g);
        pg = varintNext;
      }
      store<f64>(ARGS + (at << 3), arg);
    }
    i++;
  }
  if (po != opsLimit || ps != RAW + sizesEnd || pa != RAW + addrsEnd || pg != RAW + rawLength) return COLUMNS_MISMATCH;
  return DECODED;
}
