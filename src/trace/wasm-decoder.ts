/**
 * The trace decoder in WebAssembly (wasm/decode.ts, AssemblyScript): the same decoding as
 * `decodeBlock` in format.ts at about half its time per event, which is most of the reader's time
 * in a replay (docs/machine.md, speed). Built with AssemblyScript's asc (a dev dependency, as for
 * bench/cref/wasm) into build/native/ of the checkout (git-ignored), under a name that carries the
 * hash of the source and the flags, so an edited source is rebuilt and a stale module never used;
 * scripts/install.sh builds it (`node --import tsx src/trace/wasm-decoder.ts`), and the first
 * reader builds it if it is missing. Without asc (an install without dev dependencies) the reader
 * decodes with `decodeBlock`, which gives the same events (a test compares the two).
 *
 * Each decoder is an instance of its own with a fixed memory: the reader hands out views of it as
 * its batch, valid until its next block, as with the JavaScript decoder's arrays.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureAscModule } from '../base/asc.ts';
import { wasmApi } from '../base/wasm-api.ts';
import { BLOCK_EVENTS, blockColumnEnds, COLUMNS_MISMATCH, type EventColumns, MAX_RAW_BLOCK_BYTES, OP_OF_CODE, OPS_END_EARLY, SIZE_OF_CODE, SLOT_OF_CODE, unknownCode } from './format.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DECODER_SOURCE = path.join(REPO, 'src/trace/wasm/decode.ts');
const PAGE_BYTES = 65536;
/** Memory of an instance, in 64 KiB pages: MEMORY_BYTES of the source (3.9 MB), checked at load. */
const MEMORY_PAGES = 61;
const ASC_FLAGS = ['-O3', '--runtime', 'stub', '--noAssert', '--initialMemory', String(MEMORY_PAGES), '--maximumMemory', String(MEMORY_PAGES)];

interface DecoderExports {
  memory: { buffer: ArrayBuffer };
  MEMORY_BYTES: { value: number };
  opOfCodeAt(): number;
  slotOfCodeAt(): number;
  sizeOfCodeAt(): number;
  seenAt(): number;
  faultAt(): number;
  opsAt(): number;
  addrsAt(): number;
  sizesAt(): number;
  argsAt(): number;
  rawAt(): number;
  decode(rawLength: number, n: number, opsEnd: number, sizesEnd: number, addrsEnd: number): number;
}

/** decode()'s results (the constants of the source). */
const DECODED = 0;
const OPS_END = 1;
const UNKNOWN_CODE = 2;

/** Path of the built module, built now if needed; null when asc is not installed. */
export function ensureWasmDecoder(): string | null {
  return ensureAscModule(DECODER_SOURCE, ASC_FLAGS, 'trace-decoder');
}

/** The compiled module (once per process), or null without asc. */
let compiled: object | null | undefined;
function decoderModule(): object | null {
  if (compiled === undefined) {
    const file = ensureWasmDecoder();
    compiled = file === null ? null : new wasmApi.Module(fs.readFileSync(file));
  }
  return compiled;
}

/** A block decoder with its own WebAssembly memory; `columns` are views of it. */
export class WasmBlockDecoder {
  readonly columns: EventColumns;
  private readonly x: DecoderExports;
  private readonly bytes: Uint8Array;
  private readonly seen: Int32Array;
  private readonly fault: Int32Array;
  private readonly rawAt: number;

  private constructor(module: object) {
    this.x = new wasmApi.Instance(module, { env: { abort: () => { throw new Error(`${DECODER_SOURCE}: aborted`); } } }).exports as DecoderExports;
    const x = this.x;
    const buffer = x.memory.buffer;
    if (buffer.byteLength !== MEMORY_PAGES * PAGE_BYTES || x.MEMORY_BYTES.value > buffer.byteLength) throw new Error(`${DECODER_SOURCE}: needs ${x.MEMORY_BYTES.value} bytes of memory, has ${buffer.byteLength}`);
    this.bytes = new Uint8Array(buffer);
    this.bytes.set(OP_OF_CODE, x.opOfCodeAt());
    this.bytes.set(SLOT_OF_CODE, x.slotOfCodeAt());
    this.bytes.set(new Uint8Array(SIZE_OF_CODE.buffer, SIZE_OF_CODE.byteOffset, SIZE_OF_CODE.byteLength), x.sizeOfCodeAt());
    this.seen = new Int32Array(buffer, x.seenAt(), 256);
    this.fault = new Int32Array(buffer, x.faultAt(), 2);
    this.rawAt = x.rawAt();
    this.columns = {
      op: new Uint8Array(buffer, x.opsAt(), BLOCK_EVENTS),
      addr: new Float64Array(buffer, x.addrsAt(), BLOCK_EVENTS),
      size: new Float64Array(buffer, x.sizesAt(), BLOCK_EVENTS),
      arg: new Float64Array(buffer, x.argsAt(), BLOCK_EVENTS),
    };
  }

  /** A new decoder, or null when the module cannot be built here (no asc). */
  static create(): WasmBlockDecoder | null {
    const module = decoderModule();
    return module === null ? null : new WasmBlockDecoder(module);
  }

  /**
   * `decodeBlock` of format.ts into `columns`: decode the raw block of `n` events (1..BLOCK_EVENTS)
   * and add its events per op to `counts`. Returns null or the same problem `decodeBlock` gives.
   */
  decode(raw: Uint8Array, n: number, counts: Float64Array): string | null {
    const ends = blockColumnEnds(raw);
    if (typeof ends === 'string') return ends;
    if (raw.length > MAX_RAW_BLOCK_BYTES || !(n >= 1 && n <= BLOCK_EVENTS)) throw new RangeError(`a raw block of ${raw.length} bytes and ${n} events is out of the decoder's bounds`);
    this.bytes.set(raw, this.rawAt);
    const result = this.x.decode(raw.length, n, ends[0], ends[1], ends[2]);
    if (result !== DECODED) return result === OPS_END ? OPS_END_EARLY : result === UNKNOWN_CODE ? unknownCode(this.fault[0], this.fault[1]) : COLUMNS_MISMATCH;
    const seen = this.seen;
    for (let o = 0; o < 256; o++) if (seen[o] !== 0) counts[o] += seen[o];
    return null;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${ensureWasmDecoder() ?? 'no asc: the trace reader decodes in JavaScript'}\n`);
}
