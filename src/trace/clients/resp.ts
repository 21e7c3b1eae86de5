/**
 * A minimal Redis client: RESP2 over one TCP connection, one command at a time (closed loop, as a
 * YCSB client thread with Jedis works). Enough for the commands YCSB's redis binding sends; replies
 * are parsed fully (simple strings, errors, integers, bulk strings, nested arrays) so that each
 * command's reply has arrived before the next one is sent.
 * Protocol: https://redis.io/docs/latest/develop/reference/protocol-spec/ (RESP2).
 */
import * as net from 'node:net';

export type RespValue = string | number | null | Buffer | RespValue[];

export class RespError extends Error {}

/** Encode a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parse one reply at `pos`; returns [value, next position], or null if the buffer does not yet
 * hold the whole reply. A server error reply becomes a RespError value.
 */
export function parseReply(buf: Buffer, pos: number): [RespValue | RespError, number] | null {
  if (pos >= buf.length) return null;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = buf[pos];
  const line = buf.toString('latin1', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case 0x2b /* + */:
      return [line, next];
    case 0x2d /* - */:
      return [new RespError(line), next];
    case 0x3a /* : */:
      return [Number(line), next];
    case 0x24 /* $ */: {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (next + n + 2 > buf.length) return null;
      return [buf.subarray(next, next + n), next + n + 2];
    }
    case 0x2a /* * */: {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (r === null) return null;
        if (r[0] instanceof RespError) return [r[0], r[1]];
        items.push(r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default:
      throw new Error(`RESP: unexpected reply type byte ${type} at ${pos}`);
  }
}

export class RespClient {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void } | null = null;
  private closedError: Error | null = null;
  /** Commands sent and answered. */
  completed = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.onClose(e));
    socket.on('close', () => this.onClose(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.setNoDelay(true);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RespClient(s));
      });
      s.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    if (!this.waiting) return;
    const r = parseReply(this.buffered, 0);
    if (r === null) return;
    this.buffered = this.buffered.subarray(r[1]);
    const w = this.waiting;
    this.waiting = null;
    this.completed++;
    if (r[0] instanceof RespError) w.reject(r[0]);
    else w.resolve(r[0]);
  }

  private onClose(e: Error): void {
    this.closedError ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  /** Send one command and wait for its reply. */
  call(...args: (string | Buffer)[]): Promise<RespValue> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.waiting) return Promise.reject(new Error('RESP: one command at a time'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(encodeCommand(args));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
