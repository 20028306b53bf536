// Binary COPY input split into tuples: the same tuples however the input is cut, and bad input refused.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { BINARY_HEADER, BinaryTupleSplitter, binaryField } from './copy-binary.ts';

function tuple(fields: Array<Uint8Array | null>): Buffer {
  const parts = fields.map((f) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(f ? f.length : -1);
    return f ? Buffer.concat([len, f]) : len;
  });
  const n = Buffer.alloc(2);
  n.writeInt16BE(fields.length);
  return Buffer.concat([n, ...parts]);
}

it('gives back the tuples sent, and each field, however the input is cut', () => {
  const rows = fc.array(fc.array(fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }), { minLength: 3, maxLength: 3 }), { maxLength: 20 });
  fc.assert(
    fc.property(rows, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (rs, cuts, trailer) => {
      const tuples = rs.map(tuple);
      const data = Buffer.concat([BINARY_HEADER, ...tuples, ...(trailer ? [Buffer.from([0xff, 0xff])] : [])]);
      const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
      const s = new BinaryTupleSplitter(3);
      const got: Buffer[] = [];
      let from = 0;
      for (const to of [...at, data.length]) {
        got.push(...s.push(data.subarray(from, to)));
        from = to;
      }
      s.end();
      expect(got).toEqual(tuples);
      got.forEach((t, i) => rs[i].forEach((f, j) => expect(binaryField(t, j)).toEqual(f === null ? null : Buffer.from(f))));
    }),
  );
});

it('joins a long tuple once, not on every message it comes in', () => {
  const big = tuple([Buffer.alloc(8), Buffer.alloc(4_000_000, 7), null]);
  const s = new BinaryTupleSplitter(3);
  expect(s.push(BINARY_HEADER)).toEqual([]);
  const concat = Buffer.concat;
  let joined = 0;
  Buffer.concat = ((list: Uint8Array[], n?: number) => ((joined += n ?? 0), concat(list, n))) as typeof Buffer.concat;
  try {
    const out: Buffer[] = [];
    for (let i = 0; i < big.length; i += 1000) out.push(...s.push(big.subarray(i, i + 1000)));
    expect(out.length === 1 && out[0].equals(big)).toBe(true);
  } finally {
    Buffer.concat = concat;
  }
  // Joined about once (plus the first few bytes while the field's length was unknown); 4,000 times without the need.
  expect(joined).toBeLessThan(3 * big.length);
});

it('refuses what Postgres refuses', () => {
  const bad = (data: Buffer, fields = 1) => () => {
    const s = new BinaryTupleSplitter(fields);
    s.push(data);
    s.end();
  };
  expect(bad(Buffer.from('PGCOPY\n\xfe\r\n\0', 'latin1'))).toThrow(/signature not recognized/);
  expect(bad(Buffer.alloc(0))).toThrow(/signature not recognized/);
  expect(bad(Buffer.concat([BINARY_HEADER, tuple([null, null])]))).toThrow(/row field count is 2, expected 1/);
  expect(bad(Buffer.concat([BINARY_HEADER, Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xfe])]))).toThrow(/invalid field size/);
  expect(bad(Buffer.concat([BINARY_HEADER, tuple([Buffer.from('ab')]).subarray(0, 7)]))).toThrow(/unexpected EOF/);
  expect(bad(Buffer.concat([BINARY_HEADER, Buffer.from([0xff, 0xff, 0])]))).toThrow(/after EOF marker/);
  const oids = Buffer.from(BINARY_HEADER);
  oids.writeInt32BE(1 << 16, 11);
  expect(bad(oids)).toThrow(/WITH OIDS/);
  expect(bad(Buffer.concat([BINARY_HEADER, Buffer.from([0, 1, 0x7f, 0xff, 0xff, 0xff])]))).toThrow(/longer than/);
});
