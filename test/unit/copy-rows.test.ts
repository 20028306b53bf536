import { describe, expect, it } from 'vitest';
import { ByteLineSplitter, copyOutLine, type CopyOutFormat } from '../../src/executor/copy-rows.ts';
import { copyDataFrames } from '../../src/operations/distribute.ts';

const text: CopyOutFormat = { format: 'text', header: false, delimiter: '\t', null: '\\N' };
const csv: CopyOutFormat = { format: 'csv', header: false, delimiter: ',', null: '' };

describe('copyOutLine', () => {
  it('writes text format as Postgres does: escapes, \\N for NULL, an escaped custom delimiter', () => {
    expect(copyOutLine(['a\tb', null, 'c\\d', 'line\nbreak'], text)).toBe('a\\tb\t\\N\tc\\\\d\tline\\nbreak\n');
    expect(copyOutLine(['a|b', 'c'], { ...text, delimiter: '|' })).toBe('a\\|b|c\n');
  });

  it('quotes CSV values that hold the delimiter, quotes or line breaks, and the empty string (NULL is unquoted)', () => {
    expect(copyOutLine(['plain', 'a,b', 'say "hi"', 'two\nlines', '', null], csv)).toBe('plain,"a,b","say ""hi""","two\nlines","",\n');
    expect(copyOutLine(['[1,2,3]'], csv)).toBe('"[1,2,3]"\n');
  });
});

describe('ByteLineSplitter and copyDataFrames', () => {
  it('splits bytes into lines across chunk boundaries, inside multi-byte characters too', () => {
    const input = Buffer.from('1\tcafé\n2\t日本\n3\tlast', 'utf8');
    for (let cut = 1; cut < input.length; cut++) {
      const s = new ByteLineSplitter();
      const lines = [...s.push(input.subarray(0, cut)), ...s.push(input.subarray(cut)), ...s.end()];
      expect(lines.map((l) => l.toString('utf8'))).toEqual(['1\tcafé', '2\t日本', '3\tlast']);
    }
  });

  it('frames byte lines as CopyData of about 64 KiB, the same bytes as the text lines give', () => {
    const text = Array.from({ length: 3000 }, (_, i) => `${i}\t${'x'.repeat(i % 97)}\té`);
    const bytes = text.map((l) => Buffer.from(l, 'utf8'));
    const framed = copyDataFrames(bytes);
    const payload: Buffer[] = [];
    for (let off = 0; off < framed.length; ) {
      expect(framed[off]).toBe(0x64);
      const len = framed.readInt32BE(off + 1);
      expect(len - 4).toBeLessThan(65536 + 200);
      payload.push(framed.subarray(off + 5, off + 1 + len));
      off += 1 + len;
    }
    expect(payload.length).toBeGreaterThan(1);
    expect(Buffer.concat(payload).toString('utf8')).toBe(text.join('\n') + '\n');
    expect(copyDataFrames([] as Buffer[]).length).toBe(0);
  });
});
