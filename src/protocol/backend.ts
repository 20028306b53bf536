// Backend (server -> client) messages: the ones vecshard writes itself, and readers for the ones it must look into.
import { Reader, Writer, body } from './frames.ts';

/** ErrorResponse / NoticeResponse fields, keyed as the protocol names them. */
export interface PgErrorFields {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
}

const FIELD_CODES: Array<[keyof PgErrorFields, string]> = [
  ['severity', 'S'],
  ['code', 'C'],
  ['message', 'M'],
  ['detail', 'D'],
  ['hint', 'H'],
  ['position', 'P'],
  ['where', 'W'],
  ['schema', 's'],
  ['table', 't'],
  ['column', 'c'],
  ['dataType', 'd'],
  ['constraint', 'n'],
];

function noticeLike(type: 'E' | 'N', f: PgErrorFields): Buffer {
  const w = new Writer();
  for (const [key, code] of FIELD_CODES) {
    const v = f[key];
    if (v === undefined) continue;
    w.byte(code.charCodeAt(0)).cstring(v);
    if (code === 'S') w.byte('V'.charCodeAt(0)).cstring(v);
  }
  w.byte(0);
  return w.frame(type);
}

export const errorResponse = (f: PgErrorFields): Buffer => noticeLike('E', f);
export const noticeResponse = (f: PgErrorFields): Buffer => noticeLike('N', f);

/** Decodes ErrorResponse or NoticeResponse. */
export function readErrorFields(frame: Buffer): PgErrorFields & Record<string, string> {
  const r = new Reader(body(frame));
  const raw: Record<string, string> = {};
  while (r.off < r.buf.length) {
    const code = r.buf[r.off++];
    if (code === 0) break;
    raw[String.fromCharCode(code)] = r.cstring();
  }
  const out: Record<string, string> = {};
  for (const [key, code] of FIELD_CODES) if (raw[code] !== undefined) out[key] = raw[code];
  return { severity: raw.V ?? raw.S ?? 'ERROR', code: raw.C ?? 'XX000', message: raw.M ?? '', ...out };
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new Writer().byte(status.charCodeAt(0)).frame('Z');
}

export const readyStatus = (frame: Buffer): 'I' | 'T' | 'E' => String.fromCharCode(frame[5]) as 'I' | 'T' | 'E';

export const commandComplete = (tag: string): Buffer => new Writer().cstring(tag).frame('C');
export const readCommandTag = (frame: Buffer): string => new Reader(body(frame)).cstring();

export const parameterStatus = (name: string, value: string): Buffer =>
  new Writer().cstring(name).cstring(value).frame('S');
export function readParameterStatus(frame: Buffer): [string, string] {
  const r = new Reader(body(frame));
  return [r.cstring(), r.cstring()];
}

export const backendKeyData = (pid: number, secret: number): Buffer =>
  new Writer().int32(pid).int32(secret).frame('K');
export function readBackendKeyData(frame: Buffer): { pid: number; secret: number } {
  const r = new Reader(body(frame));
  return { pid: r.int32(), secret: r.int32() };
}

export const parseComplete = (): Buffer => new Writer().frame('1');
export const bindComplete = (): Buffer => new Writer().frame('2');
export const closeComplete = (): Buffer => new Writer().frame('3');

export function parameterDescription(typeOids: number[]): Buffer {
  const w = new Writer().int16(typeOids.length);
  for (const t of typeOids) w.int32(t);
  return w.frame('t');
}
export const noData = (): Buffer => new Writer().frame('n');
export const emptyQueryResponse = (): Buffer => new Writer().frame('I');
export const portalSuspended = (): Buffer => new Writer().frame('s');

export interface FieldDescription {
  name: string;
  tableOid?: number;
  column?: number;
  typeOid: number;
  typeSize?: number;
  typeMod?: number;
  format?: number;
}

export function rowDescription(fields: FieldDescription[]): Buffer {
  const w = new Writer().int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name)
      .int32(f.tableOid ?? 0)
      .int16(f.column ?? 0)
      .int32(f.typeOid)
      .int16(f.typeSize ?? -1)
      .int32(f.typeMod ?? -1)
      .int16(f.format ?? 0);
  }
  return w.frame('T');
}

export function readRowDescription(frame: Buffer): FieldDescription[] {
  const r = new Reader(body(frame));
  const n = r.count();
  const out: FieldDescription[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      name: r.cstring(),
      tableOid: r.int32(),
      column: r.int16(),
      typeOid: r.int32(),
      typeSize: r.int16(),
      typeMod: r.int32(),
      format: r.int16(),
    });
  }
  return out;
}

/** A DataRow from text values (null for SQL NULL). */
export function dataRow(values: Array<string | Buffer | null>): Buffer {
  const w = new Writer().int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      w.int32(b.length).bytes(b);
    }
  }
  return w.frame('D');
}

/** The raw column values of a DataRow (null for SQL NULL). */
export function readDataRow(frame: Buffer): Array<Buffer | null> {
  const r = new Reader(body(frame));
  const n = r.count();
  const out: Array<Buffer | null> = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    out.push(len < 0 ? null : r.bytes(len));
  }
  return out;
}

export function copyInResponse(format: 0 | 1, columns: number): Buffer {
  const w = new Writer().byte(format).int16(columns);
  for (let i = 0; i < columns; i++) w.int16(format);
  return w.frame('G');
}

export function copyOutResponse(format: 0 | 1, columns: number): Buffer {
  const w = new Writer().byte(format).int16(columns);
  for (let i = 0; i < columns; i++) w.int16(format);
  return w.frame('H');
}
