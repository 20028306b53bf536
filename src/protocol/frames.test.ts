// Framing: messages split anywhere across chunks come out whole; a large one is joined once, not on every chunk;
// counts up to 65,535 read as Postgres reads them.
import fc from 'fast-check';
import { afterEach, expect, it, vi } from 'vitest';
import { FrameReader } from './frames.ts';
import { bind, readBindHead, readBindValues, renameBind } from './frontend.ts';

const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};

afterEach(() => vi.restoreAllMocks());

it('gives back the same messages however the stream is cut', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }), (bodies, cuts) => {
      const msgs = bodies.map((b, i) => message('QPBE'[i % 4], Buffer.from(b)));
      const stream = Buffer.concat(msgs);
      const r = new FrameReader();
      const out: Buffer[] = [];
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length];
        out.push(...r.push(stream.subarray(at, at + n)));
        at += n;
      }
      expect(out.map((b) => b.toString('hex'))).toEqual(msgs.map((b) => b.toString('hex')));
      expect(r.buffered).toBe(0);
    }),
  );
});

it('joins a large message once, when its last chunk arrives (copying grew with the square of its size)', () => {
  const big = message('Q', Buffer.alloc(8 * 1024 * 1024, 0x61));
  const concat = vi.spyOn(Buffer, 'concat');
  const r = new FrameReader();
  const out: Buffer[] = [];
  for (let at = 0; at < big.length; at += 65536) out.push(...r.push(big.subarray(at, at + 65536)));
  expect(out).toHaveLength(1);
  expect(out[0].length).toBe(big.length);
  const copied = concat.mock.calls.reduce((n, [list]) => n + (list as Buffer[]).reduce((m, b) => m + b.length, 0), 0);
  expect(copied).toBeLessThanOrEqual(2 * big.length);
});

it('reads a Bind with 40,000 parameters (counts are unsigned)', () => {
  const n = 40_000;
  const parts = [Buffer.from([0, 0])];
  const count = Buffer.alloc(2);
  count.writeUInt16BE(n);
  parts.push(count);
  for (let i = 0; i < n; i++) {
    const v = Buffer.from(String(i));
    const len = Buffer.alloc(4);
    len.writeInt32BE(v.length);
    parts.push(len, v);
  }
  parts.push(Buffer.from([0, 0]));
  const bind = readBindValues(Buffer.concat(parts));
  expect(bind.values).toHaveLength(n);
  expect(bind.values[n - 1]!.toString()).toBe(String(n - 1));
});

it('renames a Bind byte for byte as encoding it anew would', () => {
  const name = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\0'));
  fc.assert(
    fc.property(name, name, name, fc.uint8Array({ maxLength: 40 }), (portal, statement, to, rest) => {
      const f = bind({ portal, statement, rest: Buffer.from(rest) });
      const from = 5 + Buffer.byteLength(portal) + 1;
      const renamed = renameBind(f, from, from + Buffer.byteLength(statement) + 1, to);
      expect(renamed).toEqual(bind({ portal, statement: to, rest: Buffer.from(rest) }));
      expect(readBindHead(renamed).statement).toBe(to);
    }),
  );
});
