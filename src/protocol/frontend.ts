// Frontend (client -> server) messages: decoders for what clients send, encoders for what vecshard sends to nodes.
import { Reader, Writer, body } from './frames.ts';
import { PgError } from '../errors.ts';

export interface ParseMessage {
  name: string;
  sql: string;
  paramTypes: number[];
}

export function readParse(frame: Buffer): ParseMessage {
  const r = new Reader(body(frame));
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.count();
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32());
  return { name, sql, paramTypes };
}

export function parse(m: ParseMessage): Buffer {
  const w = new Writer().cstring(m.name).cstring(m.sql).int16(m.paramTypes.length);
  for (const t of m.paramTypes) w.int32(t);
  return w.frame('P');
}

export interface BindHead {
  portal: string;
  statement: string;
  /** Everything after the two names: formats, values, result formats, untouched. */
  rest: Buffer;
}

export function readBindHead(frame: Buffer): BindHead {
  const r = new Reader(body(frame));
  return { portal: r.cstring(), statement: r.cstring(), rest: r.rest() };
}

export function bind(h: BindHead): Buffer {
  return new Writer().cstring(h.portal).cstring(h.statement).bytes(h.rest).frame('B');
}

/**
 * The same Bind naming another statement, copied byte for byte around the name: the fast lane renames every Bind
 * it relays, and decoding the head only to encode it again cost more than the rest of the relay's bookkeeping.
 * `from` and `to` are the old name's start and end (after its terminator).
 */
export function renameBind(frame: Buffer, from: number, to: number, statement: string): Buffer {
  const n = Buffer.byteLength(statement);
  const out = Buffer.allocUnsafe(frame.length - (to - from) + n + 1);
  frame.copy(out, 0, 0, from);
  out.write(statement, from, 'utf8');
  out[from + n] = 0;
  frame.copy(out, from + n + 1, to);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

export interface BindValues {
  paramFormats: number[];
  values: Array<Buffer | null>;
  resultFormats: number[];
}

export function readBindValues(rest: Buffer): BindValues {
  const r = new Reader(rest);
  const nf = r.count();
  const paramFormats: number[] = [];
  for (let i = 0; i < nf; i++) paramFormats.push(r.int16());
  const nv = r.count();
  const values: Array<Buffer | null> = [];
  for (let i = 0; i < nv; i++) {
    const len = r.int32();
    values.push(len < 0 ? null : r.bytes(len));
  }
  const nr = r.count();
  const resultFormats: number[] = [];
  for (let i = 0; i < nr; i++) resultFormats.push(r.int16());
  return { paramFormats, values, resultFormats };
}

/** Describe and Close share one shape: 'S' or 'P', then a name. */
export interface Target {
  kind: 'S' | 'P';
  name: string;
}

export function readTarget(frame: Buffer): Target {
  const r = new Reader(body(frame));
  const kind = String.fromCharCode(r.buf[0]);
  r.off = 1;
  // A client's mistake, not vecshard's: 08P01 like Postgres, not an internal error in the log.
  if (kind !== 'S' && kind !== 'P') throw new PgError({ severity: 'ERROR', code: '08P01', message: `invalid DESCRIBE message subtype ${r.buf[0] ?? 0}` });
  return { kind, name: r.cstring() };
}

export const describe = (t: Target): Buffer => new Writer().byte(t.kind.charCodeAt(0)).cstring(t.name).frame('D');
export const close = (t: Target): Buffer => new Writer().byte(t.kind.charCodeAt(0)).cstring(t.name).frame('C');

export function readExecute(frame: Buffer): { portal: string; maxRows: number } {
  const r = new Reader(body(frame));
  return { portal: r.cstring(), maxRows: r.int32() };
}

export const execute = (portal: string, maxRows = 0): Buffer => new Writer().cstring(portal).int32(maxRows).frame('E');
export const query = (sql: string): Buffer => new Writer().cstring(sql).frame('Q');
export const readQuery = (frame: Buffer): string => new Reader(body(frame)).cstring();
export const sync = (): Buffer => new Writer().frame('S');
export const flush = (): Buffer => new Writer().frame('H');
export const terminate = (): Buffer => new Writer().frame('X');
export const copyDone = (): Buffer => new Writer().frame('c');
export const copyFail = (message: string): Buffer => new Writer().cstring(message).frame('f');
export const copyData = (data: Buffer): Buffer => new Writer().bytes(data).frame('d');

/** Untyped messages before startup completes: length first, then a code. */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

export function startupMessage(params: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(params)) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  const payload = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeInt32BE(payload.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, payload]);
}

export function cancelRequest(pid: number, secret: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  b.writeInt32BE(pid, 8);
  b.writeInt32BE(secret, 12);
  return b;
}

export function passwordMessage(data: Buffer | string): Buffer {
  const w = new Writer();
  if (typeof data === 'string') w.cstring(data);
  else w.bytes(data);
  return w.frame('p');
}
