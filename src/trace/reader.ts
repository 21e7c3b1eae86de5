/**
 * Streaming reader of the binary trace format (format.ts, docs/formats.md): one block in memory at
 * a time, decoded into typed arrays that every `next()` call reuses. Opening checks the preamble,
 * the header and the tail (so a truncated file is refused before any event is handed out); every
 * block is checked against its checksum; at the end the events seen must match the footer's counts.
 * Anything malformed is an InputError "<file>: byte <offset>: <problem>".
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { xxh32 } from '@node-rs/xxhash';
import { InputError } from '../base/errors.ts';
import {
  BLOCK_EVENTS,
  BLOCK_HEAD_BYTES,
  decodeBlock,
  MAX_JSON_BYTES,
  MAX_RAW_BLOCK_BYTES,
  newDecodeSlots,
  PREAMBLE_BYTES,
  TAIL_BYTES,
  TRACE_END_MAGIC,
  TRACE_MAGIC,
  TRACE_OP_NAMES,
  TRACE_OPS,
  TRACE_VERSION,
} from './format.ts';
import type { TraceBatch, TraceHeader, TraceReader } from './types.ts';
import { WasmBlockDecoder } from './wasm-decoder.ts';

/** zlib never expands a block by more than a few bytes per 16 KiB; this bounds a sane payload. */
const MAX_PAYLOAD_BYTES = MAX_RAW_BLOCK_BYTES + 65536;

function isStringRecord(v: unknown): v is Record<string, string | number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number');
}

export class BinaryTraceReader implements TraceReader {
  readonly file: string;
  readonly header: TraceHeader;
  /** Size of the file in bytes. */
  readonly fileBytes: number;
  private fd: number;
  private pos: number;
  /** Offset of the end block: event blocks occupy [first block, endBlock). */
  private readonly endBlock: number;
  /**
   * The WebAssembly decoder (its memory holds the batch's columns), or null: `decodeBlock` into
   * arrays of the reader's own. Both made at the first block, so that opening a trace for its
   * header (fileSource, `trace info`) costs no decoder.
   */
  private decoder: WasmBlockDecoder | null = null;
  private batch: TraceBatch | null = null;
  private readonly head = Buffer.alloc(BLOCK_HEAD_BYTES);
  private payload = Buffer.alloc(1 << 16);
  private readonly seen = new Float64Array(256);
  private readonly slots = newDecodeSlots();
  private finished = false;

  /**
   * `decoder: 'javascript'` decodes with `decodeBlock` even where the WebAssembly decoder is built
   * (the path of an install without AssemblyScript, so that tests can drive it).
   */
  constructor(file: string, private readonly options: TraceReaderOptions = {}) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new InputError(file, `cannot read the trace (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    try {
      this.fileBytes = fs.fstatSync(this.fd).size;
      const pre = this.read(0, PREAMBLE_BYTES, 'the preamble');
      if (pre.toString('latin1', 0, 8) !== TRACE_MAGIC) this.fail(0, 'not a unimem trace (bad magic)');
      const version = pre.readUInt32LE(8);
      if (version !== TRACE_VERSION) this.fail(8, `unsupported trace version ${version} (this reader reads ${TRACE_VERSION})`);
      const headerBytes = pre.readUInt32LE(12);
      if (headerBytes > MAX_JSON_BYTES) this.fail(12, `header length ${headerBytes} is implausible`);
      const start = this.parseJson(PREAMBLE_BYTES, this.read(PREAMBLE_BYTES, headerBytes, 'the header'), 'header');
      this.pos = PREAMBLE_BYTES + headerBytes;

      const tailAt = this.fileBytes - TAIL_BYTES;
      if (tailAt < this.pos) this.fail(this.fileBytes, 'truncated trace (the file ends before the end record)');
      const tail = this.read(tailAt, TAIL_BYTES, 'the tail');
      if (tail.toString('latin1', 8, 16) !== TRACE_END_MAGIC) this.fail(this.fileBytes, 'truncated trace (no end record where the file ends)');
      const footerBytes = tail.readUInt32LE(0);
      const footerAt = tailAt - footerBytes;
      this.endBlock = footerAt - BLOCK_HEAD_BYTES;
      if (footerBytes > MAX_JSON_BYTES || this.endBlock < this.pos) this.fail(tailAt, `footer length ${footerBytes} does not fit the file`);
      const footerRaw = this.read(footerAt, footerBytes, 'the footer');
      if (xxh32(footerRaw, 0) !== tail.readUInt32LE(4)) this.fail(footerAt, 'footer checksum mismatch');
      const footer = this.parseJson(footerAt, footerRaw, 'footer');
      this.header = this.buildHeader(start, footer);
      const endHead = this.read(this.endBlock, BLOCK_HEAD_BYTES, 'the end block');
      if (endHead.readUInt32LE(0) !== footerBytes || endHead.readUInt32LE(4) !== 0) this.fail(this.endBlock, 'malformed end block');
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  private fail(offset: number, problem: string): never {
    throw new InputError(this.file, `byte ${offset}: ${problem}`);
  }

  /** Read exactly `n` bytes at `offset`, or fail naming what was being read. */
  private read(offset: number, n: number, what: string, into?: Buffer): Buffer {
    if (offset + n > this.fileBytes) this.fail(this.fileBytes, `truncated trace (the file ends inside ${what})`);
    const b = into ?? Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.fd, b, got, n - got, offset + got);
      if (r === 0) this.fail(offset + got, `truncated trace (the file ends inside ${what})`);
      got += r;
    }
    return b;
  }

  private parseJson(offset: number, bytes: Buffer, what: string): Record<string, unknown> {
    let v: unknown;
    try {
      v = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.fail(offset, `the ${what} is not valid JSON`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(offset, `the ${what} is not a JSON object`);
    return v as Record<string, unknown>;
  }

  private buildHeader(start: Record<string, unknown>, footer: Record<string, unknown>): TraceHeader {
    const { command, label, withInstructions, meta } = start;
    if (!Array.isArray(command) || !command.every((c) => typeof c === 'string')) this.fail(PREAMBLE_BYTES, 'header: command is not a list of strings');
    if (typeof label !== 'string') this.fail(PREAMBLE_BYTES, 'header: label is not a string');
    if (typeof withInstructions !== 'boolean') this.fail(PREAMBLE_BYTES, 'header: withInstructions is not a boolean');
    if (!isStringRecord(meta)) this.fail(PREAMBLE_BYTES, 'header: meta is not an object of strings and numbers');
    const footerAt = this.endBlock + BLOCK_HEAD_BYTES;
    const counts = footer.counts;
    if (!isStringRecord(counts) || !Object.entries(counts).every(([k, v]) => TRACE_OP_NAMES[Number(k)] !== undefined && Number.isSafeInteger(v) && (v as number) >= 0)) {
      this.fail(footerAt, 'footer: counts is not an object of event counts by op');
    }
    if (!isStringRecord(footer.meta)) this.fail(footerAt, 'footer: meta is not an object of strings and numbers');
    return { command: command as string[], label, withInstructions, counts: counts as Record<string, number>, meta: { ...meta, ...footer.meta } };
  }

  next(): TraceBatch | null {
    if (this.finished) return null;
    const at = this.pos;
    if (at === this.endBlock) return this.finish();
    if (at + BLOCK_HEAD_BYTES > this.endBlock) this.fail(at, 'a block head runs into the end record');
    const head = this.read(at, BLOCK_HEAD_BYTES, 'a block head', this.head);
    const payloadBytes = head.readUInt32LE(0);
    const n = head.readUInt32LE(4);
    const rawBytes = head.readUInt32LE(8);
    if (n < 1 || n > BLOCK_EVENTS) this.fail(at, `block of ${n} events (expected 1..${BLOCK_EVENTS})`);
    if (rawBytes > MAX_RAW_BLOCK_BYTES || payloadBytes > MAX_PAYLOAD_BYTES) this.fail(at, 'block lengths are implausible');
    const payloadAt = at + BLOCK_HEAD_BYTES;
    if (payloadAt + payloadBytes > this.endBlock) this.fail(at, 'the block runs into the end record');
    if (this.payload.length < payloadBytes) this.payload = Buffer.alloc(Math.max(payloadBytes, this.payload.length * 2));
    const payload = this.read(payloadAt, payloadBytes, 'a block', this.payload).subarray(0, payloadBytes);
    if (xxh32(payload, 0) !== head.readUInt32LE(12)) this.fail(at, 'block checksum mismatch');
    let raw: Buffer;
    try {
      // One output chunk of the block's size (a byte more, so that zlib sees the stream end in it):
      // with the default 16 KiB chunks a block came out in about ten pieces, which were then copied
      // together (a quarter of the inflate's time).
      raw = zlib.inflateSync(payload, { maxOutputLength: MAX_RAW_BLOCK_BYTES, chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, rawBytes + 1) });
    } catch (e) {
      this.fail(at, `block does not decompress (${(e as Error).message})`);
    }
    if (raw.length !== rawBytes) this.fail(at, `block decompresses to ${raw.length} bytes, its head says ${rawBytes}`);
    const batch = this.batch ?? this.makeBatch();
    const problem = this.decoder !== null ? this.decoder.decode(raw, n, this.seen) : decodeBlock(raw, n, batch, this.slots, this.seen);
    if (problem !== null) this.fail(at, `malformed block: ${problem}`);
    batch.length = n;
    this.pos = payloadAt + payloadBytes;
    return batch;
  }

  private makeBatch(): TraceBatch {
    this.decoder = this.options.decoder === 'javascript' ? null : WasmBlockDecoder.create();
    this.batch = this.decoder !== null
      ? { length: 0, ...this.decoder.columns }
      : { length: 0, op: new Uint8Array(BLOCK_EVENTS), addr: new Float64Array(BLOCK_EVENTS), size: new Float64Array(BLOCK_EVENTS), arg: new Float64Array(BLOCK_EVENTS) };
    return this.batch;
  }

  private finish(): null {
    for (const op of TRACE_OPS) {
      const expected = this.header.counts[String(op)] ?? 0;
      if (this.seen[op] !== expected) {
        this.fail(this.endBlock, `the footer counts ${expected} ${TRACE_OP_NAMES[op]} events, the blocks hold ${this.seen[op]}`);
      }
    }
    this.finished = true;
    return null;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export interface TraceReaderOptions {
  /** 'auto' (default): WebAssembly where it is built, else JavaScript. */
  decoder?: 'auto' | 'javascript';
}

/** Open a trace file for streaming. Throws InputError if it is not a well-formed trace. */
export function openTrace(file: string, options: TraceReaderOptions = {}): BinaryTraceReader {
  return new BinaryTraceReader(file, options);
}
