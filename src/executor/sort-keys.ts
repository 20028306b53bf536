// Comparing ORDER BY keys on the coordinator as Postgres orders them, from their binary form. Only types whose order
// does not depend on a collation or a setting: text and its kin are merged on the home node instead.
import type { SortKey } from '../planner/types.ts';

/** Compares two non-null binary values of one type; undefined when the coordinator cannot order the type. */
export type KeyCompare = (a: Buffer, b: Buffer) => number;

const sign = (x: number | bigint) => (x < 0 ? -1 : x > 0 ? 1 : 0);

/** Floats: NaN above every number and equal to itself, -0 equal to 0 (float8_cmp). */
function floats(read: (b: Buffer) => number): KeyCompare {
  return (a, b) => {
    const x = read(a);
    const y = read(b);
    const xn = Number.isNaN(x);
    const yn = Number.isNaN(y);
    if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** Bytes in memcmp order, a shorter prefix first (uuid, bytea, name under the C collation). */
const bytes: KeyCompare = (a, b) => Buffer.compare(a, b);

const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
const NUMERIC_NEG = 0x4000;

/** numeric_send's form: ndigits, weight, sign, dscale, then base-10000 digits. Its rank, weight and digits, normalised. */
function numericParts(b: Buffer): { rank: number; weight: number; digits: number[] } {
  const n = b.readUInt16BE(0);
  let weight = b.readInt16BE(2);
  const s = b.readUInt16BE(4);
  if (s === NUMERIC_NAN) return { rank: 5, weight: 0, digits: [] };
  if (s === NUMERIC_PINF) return { rank: 4, weight: 0, digits: [] };
  if (s === NUMERIC_NINF) return { rank: 0, weight: 0, digits: [] };
  const digits: number[] = [];
  for (let i = 0; i < n; i++) digits.push(b.readUInt16BE(8 + 2 * i));
  while (digits.length && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  while (digits.length && digits[digits.length - 1] === 0) digits.pop();
  if (!digits.length) return { rank: 2, weight: 0, digits };
  return { rank: s === NUMERIC_NEG ? 1 : 3, weight, digits };
}

/** -Infinity < negatives < 0 < positives < Infinity < NaN, as cmp_numerics orders them. */
export const compareNumeric: KeyCompare = (a, b) => {
  const x = numericParts(a);
  const y = numericParts(b);
  if (x.rank !== y.rank) return x.rank < y.rank ? -1 : 1;
  if (x.rank !== 1 && x.rank !== 3) return 0;
  let c = sign(x.weight - y.weight);
  for (let i = 0; !c && i < Math.max(x.digits.length, y.digits.length); i++) c = sign((x.digits[i] ?? -1) - (y.digits[i] ?? -1));
  return x.rank === 1 && c ? -c : c;
};

/** Comparators by type oid. */
const BY_TYPE = new Map<number, KeyCompare>([
  [16, (a, b) => a[0] - b[0]], // bool: false < true
  [17, bytes], // bytea
  [19, bytes], // name (always the C collation)
  [20, (a, b) => sign(a.readBigInt64BE(0) - b.readBigInt64BE(0))], // int8
  [21, (a, b) => a.readInt16BE(0) - b.readInt16BE(0)], // int2
  [23, (a, b) => sign(a.readInt32BE(0) - b.readInt32BE(0))], // int4
  [26, (a, b) => sign(a.readUInt32BE(0) - b.readUInt32BE(0))], // oid
  [700, floats((b) => b.readFloatBE(0))],
  [701, floats((b) => b.readDoubleBE(0))],
  [1082, (a, b) => sign(a.readInt32BE(0) - b.readInt32BE(0))], // date: days, ±infinity at the int32 ends
  [1083, (a, b) => sign(a.readBigInt64BE(0) - b.readBigInt64BE(0))], // time: microseconds
  [1114, (a, b) => sign(a.readBigInt64BE(0) - b.readBigInt64BE(0))], // timestamp: microseconds, ±infinity at the ends
  [1184, (a, b) => sign(a.readBigInt64BE(0) - b.readBigInt64BE(0))], // timestamptz: the same, in UTC
  [1700, compareNumeric],
  [2950, bytes], // uuid
]);

export function keyCompare(typeOid: number): KeyCompare | undefined {
  return BY_TYPE.get(typeOid);
}

/** Orders rows by their decoded keys (null is SQL NULL), key by key, each with its direction and NULLs placement. */
export function compareKeys(a: Array<Buffer | null>, b: Array<Buffer | null>, keys: SortKey[], cmps: KeyCompare[]): number {
  for (let i = 0; i < keys.length; i++) {
    const x = a[i];
    const y = b[i];
    let c: number;
    if (x === null || y === null) {
      if (x === y) continue;
      c = (x === null) === keys[i].nullsFirst ? -1 : 1;
      if (c) return c; // NULLs placement is not reversed by DESC
    }
    c = cmps[i](x!, y!);
    if (c) return keys[i].desc ? -c : c;
  }
  return 0;
}
