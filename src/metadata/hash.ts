// PostgreSQL's own hash functions (src/common/hashfn.c, Bob Jenkins' lookup3), so a distribution value lands in the
// same hash range here as in Postgres's hash partitioning, Citus and PgDog. Results are signed int32, like hashint8().
import { PgError } from '../errors.ts';

const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

function final(a: number, b: number, c: number): number {
  c = ((c ^ b) - rot(b, 14)) >>> 0;
  a = ((a ^ c) - rot(c, 11)) >>> 0;
  b = ((b ^ a) - rot(a, 25)) >>> 0;
  c = ((c ^ b) - rot(b, 16)) >>> 0;
  a = ((a ^ c) - rot(c, 4)) >>> 0;
  b = ((b ^ a) - rot(a, 14)) >>> 0;
  c = ((c ^ b) - rot(b, 24)) >>> 0;
  return c;
}

/** hash_bytes_uint32 */
export function hashUint32(k: number): number {
  let a = (0x9e3779b9 + 4 + 3923095) >>> 0;
  const b = a;
  const c = a;
  a = (a + (k >>> 0)) >>> 0;
  return final(a, b, c) | 0;
}

/** hash_bytes (hash_any), reading bytes little-endian as Postgres does on x86 and ARM. */
export function hashBytes(k: Uint8Array): number {
  let len = k.length;
  let a = (0x9e3779b9 + len + 3923095) >>> 0;
  let b = a;
  let c = a;
  let o = 0;
  const w = (i: number) => (k[i] | (k[i + 1] << 8) | (k[i + 2] << 16) | (k[i + 3] << 24)) >>> 0;
  while (len >= 12) {
    a = (a + w(o)) >>> 0;
    b = (b + w(o + 4)) >>> 0;
    c = (c + w(o + 8)) >>> 0;
    // mix(a, b, c)
    a = ((a - c) ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = ((b - a) ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = ((c - b) ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = ((a - c) ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = ((b - a) ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = ((c - b) ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
    o += 12;
    len -= 12;
  }
  /* eslint-disable no-fallthrough */
  switch (len) {
    case 11: c = (c + (k[o + 10] << 24)) >>> 0;
    case 10: c = (c + (k[o + 9] << 16)) >>> 0;
    case 9: c = (c + (k[o + 8] << 8)) >>> 0;
    case 8: b = (b + (k[o + 7] << 24)) >>> 0;
    case 7: b = (b + (k[o + 6] << 16)) >>> 0;
    case 6: b = (b + (k[o + 5] << 8)) >>> 0;
    case 5: b = (b + k[o + 4]) >>> 0;
    case 4: a = (a + (k[o + 3] << 24)) >>> 0;
    case 3: a = (a + (k[o + 2] << 16)) >>> 0;
    case 2: a = (a + (k[o + 1] << 8)) >>> 0;
    case 1: a = (a + k[o]) >>> 0;
  }
  return final(a, b, c) | 0;
}

/** hashint8 (and hashint4/hashint2, which agree with it on their ranges). */
export function hashInt8(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  let lo = Number(u & 0xffffffffn);
  const hi = Number(u >> 32n);
  lo = (v >= 0n ? lo ^ hi : lo ^ ~hi) >>> 0;
  return hashUint32(lo);
}

export function hashText(s: string): number {
  return hashBytes(Buffer.from(s, 'utf8'));
}

/**
 * A uuid in any form Postgres accepts ('{…}', upper case, hyphens after any group of four digits or none) hashes as
 * its 16 bytes; anything else is 22P02, as Postgres says.
 */
export function hashUuid(s: string): number {
  const m = /^\s*(\{)?([0-9a-f]{4}-?){7}[0-9a-f]{4}(\})?\s*$/i.exec(s);
  if (!m || !!m[1] !== !!m[3] || /--|^\s*\{?-|-\}?\s*$/.test(s)) {
    throw new PgError({ severity: 'ERROR', code: '22P02', message: `invalid input syntax for type uuid: "${s}"` });
  }
  return hashBytes(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));
}

/**
 * An integer column's value as Postgres reads it (digits with a sign, spaces around; hex, octal, binary and
 * underscores as PostgreSQL 16 allows): anything else is 22P02, and out of the type's range 22003, as Postgres says.
 */
function readInt(t: string, type: string, bits: number): bigint {
  if (/^\d{1,9}$/.test(t)) return BigInt(Number(t)); // the common case, without the general pattern
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F](_?[0-9a-fA-F])*|0[oO][0-7](_?[0-7])*|0[bB][01](_?[01])*|\d(_?\d)*)\s*$/.exec(t);
  if (!m) throw new PgError({ severity: 'ERROR', code: '22P02', message: `invalid input syntax for type ${type}: "${t}"` });
  const abs = BigInt(m[2].replaceAll('_', ''));
  const v = m[1] === '-' ? -abs : abs;
  if (BigInt.asIntN(bits, v) !== v) throw new PgError({ severity: 'ERROR', code: '22003', message: `value "${t}" is out of range for type ${type}` });
  return v;
}

/** Distribution column types vecshard can hash, by pg_type name, to the hash of a value in text form. */
export const HASHERS: Record<string, (text: string) => number> = {
  int2: (t) => hashInt8(readInt(t, 'smallint', 16)),
  int4: (t) => hashInt8(readInt(t, 'integer', 32)),
  int8: (t) => hashInt8(readInt(t, 'bigint', 64)),
  text: hashText,
  varchar: hashText,
  uuid: hashUuid,
};

const HASH_TOKENS = 2 ** 32;
const INT32_MIN = -(2 ** 31);

/** Citus's split of the int32 hash space into `count` equal ranges. */
export function hashRange(index: number, count: number): [number, number] {
  const step = Math.floor(HASH_TOKENS / count);
  const min = INT32_MIN + index * step;
  const max = index === count - 1 ? 2 ** 31 - 1 : min + step - 1;
  return [min, max];
}

export function shardIndexForHash(hash: number, count: number): number {
  const step = Math.floor(HASH_TOKENS / count);
  return Math.min(count - 1, Math.floor((hash - INT32_MIN) / step));
}
