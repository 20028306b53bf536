import { describe, expect, it } from 'vitest';
import { copyOutLine, type CopyOutFormat } from '../../src/executor/copy-rows.ts';

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
