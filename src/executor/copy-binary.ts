// COPY's binary format (what pgx's CopyFrom, psycopg's binary copy and tokio-postgres send): split into tuples as
// views of the input, only the distribution field decoded; tuples go to the shards as they came.
import { PgError } from '../errors.ts';
import { limits } from '../limits.ts';
import { hashBytes, hashInt8, shardIndexForHash } from '../metadata/hash.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { Vec } from '../index/vector.ts';

/** "PGCOPY\n\377\r\n\0", the flags (none) and the header extension's length (0): what each shard's COPY starts with. */
export const BINARY_HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
const SIGNATURE = BINARY_HEADER.subarray(0, 11);

function badFormat(message: string): PgError {
  return new PgError({ severity: 'ERROR', code: '22P04', message });
}

/**
 * Splits binary COPY input into tuples (field count and fields, as sent), checking what Postgres checks: the
 * signature, the flags, each tuple's field count and field lengths, nothing after the end marker.
 */
export class BinaryTupleSplitter {
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** Bytes the held part must reach before it is worth reading again (the end of the field cut short). */
  #need = 0;
  /** The header is read (it may come in pieces); then tuples. */
  #started = false;
  #ended = false;

  constructor(readonly fields: number) {}

  push(chunk: Buffer): Buffer[] {
    if (this.#ended) {
      if (chunk.length) throw badFormat('received copy data after EOF marker');
      return [];
    }
    let buf = chunk;
    // A long tuple in many messages is joined once, when it is all here (joining on every message is quadratic).
    if (this.#heldBytes && this.#heldBytes + chunk.length < this.#need) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      return [];
    }
    if (this.#heldBytes) {
      buf = Buffer.concat([...this.#held, chunk], this.#heldBytes + chunk.length);
      this.#held = [];
      this.#heldBytes = 0;
    }
    let off = 0;
    if (!this.#started) {
      const at = this.#header(buf);
      if (at < 0) return this.#hold(buf, 0, [], 0);
      off = at;
      this.#started = true;
    }
    const out: Buffer[] = [];
    while (off < buf.length) {
      if (buf.length - off < 2) return this.#hold(buf, off, out, 2);
      const count = buf.readInt16BE(off);
      if (count === -1) {
        this.#ended = true;
        if (off + 2 !== buf.length) throw badFormat('received copy data after EOF marker');
        return out;
      }
      if (count !== this.fields) throw badFormat(`row field count is ${count}, expected ${this.fields}`);
      let end = off + 2;
      for (let i = 0; i < count; i++) {
        if (buf.length - end < 4) return this.#hold(buf, off, out, end + 4 - off);
        const len = buf.readInt32BE(end);
        if (len < -1) throw badFormat('invalid field size');
        end += 4 + Math.max(len, 0);
        if (end - off > limits.maxCopyLineBytes) {
          throw new PgError({ severity: 'ERROR', code: '54000', message: `vecshard: a COPY row is longer than ${limits.maxCopyLineBytes} bytes`, hint: 'Raise limits.maxCopyLineBytes in the config.' });
        }
        if (end > buf.length) return this.#hold(buf, off, out, end - off);
      }
      out.push(buf.subarray(off, end));
      off = end;
    }
    return out;
  }

  /** At CopyDone: a tuple or header cut short is an error, as on Postgres; the end marker may be left out. */
  end(): void {
    if (!this.#started || this.#heldBytes) throw badFormat(this.#started ? 'unexpected EOF in COPY data' : 'COPY file signature not recognized');
  }

  /** Where the tuples start, or -1 while the header has not all come. */
  #header(buf: Buffer): number {
    if (!buf.subarray(0, 11).equals(SIGNATURE.subarray(0, Math.min(11, buf.length)))) throw badFormat('COPY file signature not recognized');
    if (buf.length < 19) return -1;
    const flags = buf.readInt32BE(11);
    if (flags & (1 << 16)) throw badFormat('invalid COPY file header (WITH OIDS)');
    if (flags >>> 17) throw badFormat('unrecognized critical flags in COPY file header');
    const ext = buf.readInt32BE(15);
    if (ext < 0) throw badFormat('invalid COPY file header (missing length)');
    if (ext > limits.maxCopyLineBytes) throw badFormat('invalid COPY file header (wrong length)');
    return buf.length < 19 + ext ? -1 : 19 + ext;
  }

  #hold(buf: Buffer, from: number, out: Buffer[], need: number): Buffer[] {
    this.#need = need;
    if (from < buf.length) {
      this.#held = [buf.subarray(from)];
      this.#heldBytes = buf.length - from;
    }
    return out;
  }
}

/** Field `index` of a tuple from BinaryTupleSplitter (null for NULL). */
export function binaryField(tuple: Buffer, index: number): Buffer | null {
  let off = 2;
  for (let i = 0; i < index; i++) off += 4 + Math.max(tuple.readInt32BE(off), 0);
  const len = tuple.readInt32BE(off);
  return len < 0 ? null : tuple.subarray(off + 4, off + 4 + len);
}

function wrongSize(type: string): PgError {
  return new PgError({ severity: 'ERROR', code: '22P03', message: `incorrect binary data format for the distribution column (type ${type})` });
}

const INT_BYTES: Record<string, number> = { int2: 2, int4: 4, int8: 8 };

/** The shard of a hash-distributed row from its distribution value in binary form (its send format). */
export function shardOfBinary(table: DistributedTable, value: Buffer): number {
  const type = table.distType!;
  let hash: number;
  if (type in INT_BYTES) {
    if (value.length !== INT_BYTES[type]) throw wrongSize(type);
    hash = hashInt8(type === 'int8' ? value.readBigInt64BE(0) : BigInt(type === 'int4' ? value.readInt32BE(0) : value.readInt16BE(0)));
  } else if (type === 'uuid') {
    if (value.length !== 16) throw wrongSize(type);
    hash = hashBytes(value);
  } else if (type === 'text' || type === 'varchar') hash = hashBytes(value);
  else throw new PgError({ severity: 'ERROR', code: '0A000', message: `vecshard: COPY in binary format into a table distributed by a ${type} column` });
  return shardIndexForHash(hash, table.shards.length);
}

/** pgvector's binary vector: dimensions (int16), an unused int16, then float4s. */
export function vectorOfBinary(value: Buffer): Vec {
  const dim = value.length >= 4 ? value.readUInt16BE(0) : -1;
  if (dim < 1 || value.length !== 4 + 4 * dim) throw wrongSize('vector');
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = value.readFloatBE(4 + 4 * i);
  return v;
}

/** A coordinator-evaluated default (a sequence's next value, gen_random_uuid(), as text) as a binary field, length first. */
export function binaryDefault(type: string, text: string | null, column: string): Buffer {
  if (text === null) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
  let value: Buffer;
  const bytes = INT_BYTES[type];
  if (bytes) {
    value = Buffer.allocUnsafe(bytes);
    if (bytes === 8) value.writeBigInt64BE(BigInt(text));
    else if (bytes === 4) value.writeInt32BE(Number(text));
    else value.writeInt16BE(Number(text));
  } else if (type === 'uuid') value = Buffer.from(text.replace(/[^0-9a-f]/gi, ''), 'hex');
  else if (type === 'text' || type === 'varchar') value = Buffer.from(text, 'utf8');
  else {
    throw new PgError({ severity: 'ERROR', code: '0A000', message: `vecshard: COPY in binary format that leaves out column "${column}" (type ${type}, filled by vecshard from its default)`, hint: 'Send the column, or use COPY in text or CSV format.' });
  }
  const len = Buffer.allocUnsafe(4);
  len.writeInt32BE(value.length);
  return Buffer.concat([len, value]);
}
