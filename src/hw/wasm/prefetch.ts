/**
 * The stream prefetcher of a core in WebAssembly, compiled into the module of translate.ts: the
 * `Core.prefetchCovers` of src/hw/core.ts step by step, over the region the core keeps its stream
 * table in (the arena), so that a data line that misses every cache is one call into the module
 * (wasm/memory.ts `dataLine`). Both sides change the same state, in either order.
 *
 * The arithmetic is the TypeScript code's: `x | 0` of a double is `toI32`, `line & 63` of a line
 * number is `toI32(line) & 63` (exact below 2^53), a line's distance to a stream's last line is a
 * difference of doubles compared with the stride as a double.
 */
import { toI32 } from './memory-access';

// ---- The prefetcher's region (core.ts PF_*): f64 at +0, i32 from +8, the arrays after the header ----
const PF_EXPECTED_LINE: usize = 0;
const PF_STREAMS: usize = 8;
const PF_VICTIM: usize = 12;
const PF_EXPECTED_STREAM: usize = 16;
const PF_LAST: usize = 20;
const PF_PAGE: usize = 24;
const PF_STRIDE: usize = 28;
const PF_CONFIRMED: usize = 32;
const PF_BUCKETS: usize = 36;

/** core.ts's constants: the largest stride in lines, lines per 4 KiB page, the index's bucket mask. */
const MAX_STRIDE_LINES: f64 = 16;
const LINES_PER_PAGE: i32 = 64;
const INV_LINES_PER_PAGE: f64 = 1.0 / 64.0;
const STREAM_BUCKET_MASK: i32 = 1023;

@inline function field(p: usize, slot: usize): i32 {
  return load<i32>(p + slot);
}

@inline function array(p: usize, slot: usize): usize {
  return <usize>load<u32>(p + slot);
}

@inline function lastOf(p: usize, i: i32): usize {
  return array(p, PF_LAST) + (<usize>i << 3);
}

@inline function pageOf(p: usize, i: i32): usize {
  return array(p, PF_PAGE) + (<usize>i << 2);
}

@inline function strideOf(p: usize, i: i32): usize {
  return array(p, PF_STRIDE) + (<usize>i << 2);
}

@inline function confirmedOf(p: usize, i: i32): usize {
  return array(p, PF_CONFIRMED) + <usize>i;
}

@inline function bucketOf(p: usize, page: i32): usize {
  return array(p, PF_BUCKETS) + (<usize>(page & STREAM_BUCKET_MASK) << 2);
}

/** `Core.prefetchCovers`: whether a detected stream covers `line` (training the table on it). */
export function prefetchCovers(p: usize, line: f64): bool {
  if (line == load<f64>(p + PF_EXPECTED_LINE)) return advance(p, field(p, PF_EXPECTED_STREAM), line);
  return coversByBucket(p, line);
}

/** `Core.nextExpectedLine`: the line that continues the stream matched last, or -1. */
export function expectedLine(p: usize): f64 {
  return load<f64>(p + PF_EXPECTED_LINE);
}

/** `Core.continueExpected`: the stream matched last continued, line after expected line, up to `line`. */
export function continueExpected(p: usize, line: f64): void {
  advance(p, field(p, PF_EXPECTED_STREAM), line);
}

/** `Core.advance`: stream `i`, alone in its bucket, continues with `line`. */
function advance(p: usize, i: i32, line: f64): bool {
  store<f64>(lastOf(p, i), line);
  const covered = load<u8>(confirmedOf(p, i)) == 1;
  store<u8>(confirmedOf(p, i), 1);
  const stride = load<i32>(strideOf(p, i));
  const inPage = (toI32(line) & (LINES_PER_PAGE - 1)) + stride;
  store<f64>(p + PF_EXPECTED_LINE, inPage >= 0 && inPage < LINES_PER_PAGE ? line + <f64>stride : -1);
  store<i32>(p + PF_EXPECTED_STREAM, i);
  return covered;
}

/** `Core.coversByBucket`. */
function coversByBucket(p: usize, line: f64): bool {
  const page = toI32(Math.floor(line * INV_LINES_PER_PAGE));
  if (array(p, PF_BUCKETS) != 0) {
    const m = load<i32>(bucketOf(p, page));
    if ((m & (m - 1)) == 0 && m != 0) {
      const i = 31 - clz(m);
      const d = line - load<f64>(lastOf(p, i));
      if (load<i32>(pageOf(p, i)) == page && d == <f64>load<i32>(strideOf(p, i)) && d != 0) return advance(p, i, line);
    }
  }
  return trainStreams(p, line, page);
}

/** `nextStream` of core.ts: the lowest set bit's index, 32 when none. */
@inline function nextStream(mask: i32): i32 {
  return mask == 0 ? 32 : ctz(mask);
}

/** `Core.trainStreams`: every stream of the line's page (`page`, as coversByBucket took it), then a new stream. */
function trainStreams(p: usize, line: f64, page: i32): bool {
  store<f64>(p + PF_EXPECTED_LINE, -1);
  const streams = field(p, PF_STREAMS);
  if (streams == 0) return false;
  let retrain = -1;
  const indexed = array(p, PF_BUCKETS) != 0;
  let candidates = indexed ? load<i32>(bucketOf(p, page)) : 0;
  for (let i = indexed ? nextStream(candidates) : 0; i < streams; i = indexed ? nextStream(candidates) : i + 1) {
    if (indexed) candidates &= candidates - 1;
    if (load<i32>(pageOf(p, i)) != page) continue;
    const d = line - load<f64>(lastOf(p, i));
    if (d == 0) return false;
    if (d == <f64>load<i32>(strideOf(p, i))) {
      store<f64>(lastOf(p, i), line);
      const covered = load<u8>(confirmedOf(p, i)) == 1;
      store<u8>(confirmedOf(p, i), 1);
      return covered;
    }
    if (retrain < 0 && d >= -MAX_STRIDE_LINES && d <= MAX_STRIDE_LINES) retrain = i;
  }
  if (retrain >= 0) {
    store<i32>(strideOf(p, retrain), toI32(line - load<f64>(lastOf(p, retrain))));
    store<u8>(confirmedOf(p, retrain), 0);
    store<f64>(lastOf(p, retrain), line);
    return false;
  }
  const v = field(p, PF_VICTIM);
  store<i32>(p + PF_VICTIM, v + 1 == streams ? 0 : v + 1);
  if (indexed) {
    const bit = 1 << v;
    const old = bucketOf(p, load<i32>(pageOf(p, v)));
    store<i32>(old, load<i32>(old) & ~bit);
    const now = bucketOf(p, page);
    store<i32>(now, load<i32>(now) | bit);
  }
  store<f64>(lastOf(p, v), line);
  store<i32>(pageOf(p, v), page);
  store<i32>(strideOf(p, v), 0);
  store<u8>(confirmedOf(p, v), 0);
  return false;
}
