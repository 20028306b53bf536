import { describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { FrameReader, FrameError, splitFrames } from '../../src/protocol/frames.ts';
import * as be from '../../src/protocol/backend.ts';
import * as fe from '../../src/protocol/frontend.ts';

describe('FrameReader', () => {
  it('joins messages split across chunks at every byte', () => {
    const stream = Buffer.concat([serialize.query('SELECT 1'), serialize.sync(), serialize.parse({ name: 'a', text: 'SELECT $1', types: [23] })]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new FrameReader();
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
      expect(got.map((f) => String.fromCharCode(f[0]))).toEqual(['Q', 'S', 'P']);
      expect(r.buffered).toBe(0);
    }
  });

  it('refuses lengths below 4 and above the limit', () => {
    expect(() => new FrameReader().push(Buffer.from([0x51, 0, 0, 0, 3]))).toThrow(FrameError);
    expect(() => new FrameReader().push(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]))).toThrow(FrameError);
  });

  it('splitFrames refuses a truncated tail', () => {
    expect(() => splitFrames(serialize.query('SELECT 1').subarray(0, 7))).toThrow(/truncated/);
  });
});

describe('frontend messages', () => {
  it('reads what pg-protocol writes', () => {
    const [p] = splitFrames(serialize.parse({ name: 's', text: 'SELECT $1, $2', types: [23, 25] }));
    expect(fe.readParse(p)).toEqual({ name: 's', sql: 'SELECT $1, $2', paramTypes: [23, 25] });
    const [b] = splitFrames(serialize.bind({ portal: 'p', statement: 's', values: ['1', null] }));
    const head = fe.readBindHead(b);
    expect(head).toMatchObject({ portal: 'p', statement: 's' });
    expect(fe.readBindValues(head.rest).values.map((v) => v?.toString() ?? null)).toEqual(['1', null]);
    // Renaming the statement keeps the values byte for byte.
    expect(fe.bind({ ...head, statement: 's' }).equals(b)).toBe(true);
    const [d] = splitFrames(serialize.describe({ type: 'S', name: 'x' }));
    expect(fe.readTarget(d)).toEqual({ kind: 'S', name: 'x' });
    const [e] = splitFrames(serialize.execute({ portal: 'p', rows: 5 }));
    expect(fe.readExecute(e)).toEqual({ portal: 'p', maxRows: 5 });
    expect(fe.readQuery(splitFrames(serialize.query('SELECT 1'))[0])).toBe('SELECT 1');
  });

  it('writes what pg-protocol writes', () => {
    expect(fe.parse({ name: 'a', sql: 'x', paramTypes: [1] }).equals(serialize.parse({ name: 'a', text: 'x', types: [1] }))).toBe(true);
    expect(fe.sync().equals(serialize.sync())).toBe(true);
    expect(fe.query('SELECT 1').equals(serialize.query('SELECT 1'))).toBe(true);
    expect(fe.startupMessage({ user: 'u', database: 'd', client_encoding: 'UTF8' }).equals(serialize.startup({ user: 'u', database: 'd' }))).toBe(true);
  });
});

describe('backend messages', () => {
  it('round-trips errors with their fields', () => {
    const f = be.errorResponse({ severity: 'ERROR', code: '0A000', message: 'nope', hint: 'do this', position: '7' });
    expect(be.readErrorFields(f)).toMatchObject({ severity: 'ERROR', code: '0A000', message: 'nope', hint: 'do this', position: '7' });
  });

  it('round-trips rows and descriptions', () => {
    const d = be.rowDescription([{ name: 'id', typeOid: 20 }, { name: 'v', typeOid: 16385, typeMod: 7 }]);
    expect(be.readRowDescription(d).map((x) => [x.name, x.typeOid, x.typeMod])).toEqual([['id', 20, -1], ['v', 16385, 7]]);
    const r = be.dataRow(['1', null, Buffer.from([0, 1])]);
    expect(be.readDataRow(r).map((v) => v?.toString('hex') ?? null)).toEqual(['31', null, '0001']);
    expect(be.readCommandTag(be.commandComplete('SELECT 3'))).toBe('SELECT 3');
    expect(be.readyStatus(be.readyForQuery('T'))).toBe('T');
  });
});
