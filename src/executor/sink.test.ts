// Sinks: a portal's buffer keeps rows and the tag and passes the rest on; COPY out rewrites a SELECT's answer.
import { expect, it } from 'vitest';
import * as be from '../protocol/backend.ts';
import { BufferSink, CopyOutSink } from './sink.ts';

const collect = () => {
  const got: Buffer[] = [];
  return { got, send: (f: Buffer) => void got.push(f) };
};

it('BufferSink keeps DataRows and the first CommandComplete, and passes notices and descriptions on', () => {
  const next = collect();
  const sink = new BufferSink(next);
  const notice = be.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi' });
  const desc = be.rowDescription([{ name: 'x', typeOid: 25 }]);
  for (const f of [desc, notice, be.dataRow(['a']), be.dataRow(['b']), be.commandComplete('SELECT 2'), be.commandComplete('SELECT 9')]) sink.send(f);
  expect(sink.rows.map((r) => be.readDataRow(r)[0]!.toString())).toEqual(['a', 'b']);
  expect(be.readCommandTag(sink.complete!)).toBe('SELECT 2');
  expect(next.got).toEqual([desc, notice]);
});

it('CopyOutSink turns a description, rows and a tag into a COPY with text lines', () => {
  const next = collect();
  const sink = new CopyOutSink(next, { format: 'text', header: false, delimiter: '\t', null: '\\N' });
  sink.send(be.rowDescription([{ name: 'a', typeOid: 25 }, { name: 'b', typeOid: 25 }]));
  sink.send(be.dataRow(['x', null]));
  sink.send(be.commandComplete('SELECT 1'));
  expect(next.got.map((f) => String.fromCharCode(f[0]))).toEqual(['H', 'd', 'c', 'C']);
  expect(next.got[1].subarray(5).toString()).toBe('x\t\\N\n');
  expect(be.readCommandTag(next.got[3])).toBe('COPY 1');
});
