// Splitting a PostgreSQL byte stream into whole messages: 1 type byte, then an int32 length that counts itself.

import { limits } from '../limits.ts';

/** Largest message a node may send (Postgres caps its messages at 1 GB). */
export const MAX_NODE_MESSAGE_BYTES = 1024 * 1024 * 1024;

export class FrameError extends Error {}

/**
 * Accumulates chunks and yields complete messages (type byte included). The chunks of a message that has not all
 * arrived are kept as a list and joined once, when its last byte comes: joining on every chunk made a large
 * message cost time in the square of its size (a 200 MB query took minutes and held up every other client).
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #size = 0;
  /** Bytes the first pending message needs in all (0 until its header is in). */
  #need = 0;

  /** `max`: the largest message accepted (limits.maxMessageBytes for clients). */
  constructor(readonly max = limits.maxMessageBytes) {}

  push(chunk: Uint8Array): Buffer[] {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#chunks.push(data);
    this.#size += data.length;
    if (this.#need && this.#size < this.#need) return [];
    const buf = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#size);
    const out: Buffer[] = [];
    let off = 0;
    this.#need = 0;
    while (buf.length - off >= 5) {
      const len = buf.readInt32BE(off + 1);
      if (len < 4 || len > this.max) {
        const why = len > this.max ? ` (over the limit of ${this.max} bytes, limits.maxMessageBytes)` : '';
        throw new FrameError(`invalid message length ${len} for message type 0x${buf[off].toString(16)}${why}`);
      }
      if (buf.length - off < len + 1) {
        this.#need = len + 1;
        break;
      }
      out.push(buf.subarray(off, off + len + 1));
      off += len + 1;
    }
    const rest = off === buf.length ? undefined : buf.subarray(off);
    this.#chunks = rest ? [rest] : [];
    this.#size = rest?.length ?? 0;
    return out;
  }

  get buffered(): number {
    return this.#size;
  }
}

/** Splits a buffer known to hold only whole messages. */
export function splitFrames(data: Uint8Array): Buffer[] {
  const r = new FrameReader();
  const out = r.push(data);
  if (r.buffered) throw new FrameError('truncated message at end of buffer');
  return out;
}

/** The message body: after type byte and length. */
export function body(frame: Buffer): Buffer {
  return frame.subarray(5);
}

export function typeOf(frame: Buffer): string {
  return String.fromCharCode(frame[0]);
}

/** Reads cstrings and ints from a message body in order. */
export class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  cstring(): string {
    const end = this.buf.indexOf(0, this.off);
    if (end < 0) throw new FrameError('missing string terminator');
    const s = this.buf.toString('utf8', this.off, end);
    this.off = end + 1;
    return s;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }
  /** A count (of parameters, formats, columns): unsigned on the wire, up to 65,535. */
  count(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.off);
    this.off = this.buf.length;
    return v;
  }
  private need(n: number): void {
    if (n < 0 || this.off + n > this.buf.length) throw new FrameError('message shorter than its fields');
  }
}

/** Builds one message: type byte, length, body. */
export class Writer {
  #parts: Buffer[] = [];
  #len = 0;
  cstring(s: string): this {
    return this.bytes(Buffer.from(s + '\0', 'utf8'));
  }
  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    // Counts (parameters, columns) go up to 65535, which Postgres reads unsigned; -1 (a type size) stays signed.
    if (v < 0) b.writeInt16BE(v);
    else b.writeUInt16BE(v);
    return this.bytes(b);
  }
  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.bytes(b);
  }
  byte(v: number): this {
    return this.bytes(Buffer.from([v]));
  }
  bytes(b: Buffer): this {
    this.#parts.push(b);
    this.#len += b.length;
    return this;
  }
  frame(type: string): Buffer {
    const head = Buffer.allocUnsafe(5);
    head[0] = type.charCodeAt(0);
    head.writeInt32BE(this.#len + 4, 1);
    return Buffer.concat([head, ...this.#parts], this.#len + 5);
  }
}
