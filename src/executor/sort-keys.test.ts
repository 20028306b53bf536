// Keys compared on the coordinator as Postgres compares them (the randomized test against a node is
// test/integration/sorted-merge.test.ts); here the encodings a node may send that the test data may not reach.
import { expect, it } from 'vitest';
import { compareKeys, compareNumeric, keyCompare } from './sort-keys.ts';

/** numeric_send's layout: ndigits, weight, sign, dscale, base-10000 digits. */
function numeric(weight: number, sign: number, digits: number[]): Buffer {
  const b = Buffer.alloc(8 + 2 * digits.length);
  b.writeUInt16BE(digits.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  digits.forEach((d, i) => b.writeUInt16BE(d, 8 + 2 * i));
  return b;
}

it('orders numerics by value whatever their digits look like, with the infinities and NaN at the ends', () => {
  const ordered = [
    numeric(0, 0xf000, []), // -Infinity
    numeric(1, 0x4000, [1]), // -10000
    numeric(0, 0x4000, [2]), // -2
    numeric(-1, 0x4000, [5000]), // -0.5
    numeric(0, 0, []), // 0
    numeric(-2, 0, [1]), // 0.00000001
    numeric(0, 0, [1, 5000]), // 1.5
    numeric(0, 0, [2]), // 2
    numeric(1, 0, [1]), // 10000
    numeric(0, 0xd000, []), // Infinity
    numeric(0, 0xc000, []), // NaN
  ];
  for (let i = 0; i < ordered.length; i++) for (let j = 0; j < ordered.length; j++) expect(Math.sign(compareNumeric(ordered[i], ordered[j])), `${i} vs ${j}`).toBe(Math.sign(i - j));
  // Leading and trailing zero digits do not change a value.
  expect(compareNumeric(numeric(1, 0, [0, 2, 0]), numeric(0, 0, [2]))).toBe(0);
  expect(compareNumeric(numeric(0, 0x4000, [0]), numeric(0, 0, []))).toBe(0);
});

it('puts NaN above every float and -0 level with 0; NULLs go where the key says, whatever the direction', () => {
  const f8 = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return b;
  };
  const cmp = keyCompare(701)!;
  expect(cmp(f8(Number.NaN), f8(Infinity))).toBeGreaterThan(0);
  expect(cmp(f8(Number.NaN), f8(Number.NaN))).toBe(0);
  expect(cmp(f8(-0), f8(0))).toBe(0);
  const keys = [{ desc: true, nullsFirst: false }];
  expect(compareKeys([null], [f8(1)], keys, [cmp])).toBeGreaterThan(0);
  expect(compareKeys([f8(2)], [f8(1)], keys, [cmp])).toBeLessThan(0);
  expect(keyCompare(25)).toBeUndefined(); // text: its order is a collation's
});
