import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lexLiterals } from './literals.ts';

describe('lexLiterals', () => {
  it('splits a statement around its number and string constants', () => {
    const l = lexLiterals("SELECT abalance FROM t WHERE aid = 42 AND name = 'it''s' AND x > 1.5e3;")!;
    expect(l.literals).toEqual([
      { raw: '42', value: '42' },
      { raw: "'it''s'", value: "it's" },
      { raw: '1.5e3', value: '1.5e3' },
    ]);
    expect(l.pieces.join('|')).toBe("SELECT abalance FROM t WHERE aid = | AND name = | AND x > |;");
    // Same shape for other values of the same kinds; another kind of number is another shape.
    expect(lexLiterals("SELECT abalance FROM t WHERE aid = 7 AND name = 'x' AND x > 2.0;")!.shape).toBe(l.shape);
    expect(lexLiterals("SELECT abalance FROM t WHERE aid = 7.0 AND name = 'x' AND x > 2.0;")!.shape).not.toBe(l.shape);
  });

  it('leaves digits inside names and quoted identifiers alone', () => {
    const l = lexLiterals('SELECT t1.c2 FROM "t 3" t1 WHERE "a""5" = 6')!;
    expect(l.literals.map((x) => x.raw)).toEqual(['6']);
  });

  it('gives up on what it cannot read with certainty', () => {
    for (const sql of [
      'SELECT 1 -- comment',
      'SELECT /* c */ 1',
      'SELECT $$x$$',
      'SELECT $1',
      "SELECT E'a\\nb'",
      "SELECT B'101'",
      "SELECT U&'x'",
      "SELECT 'a\\'",
      "SELECT 'a'\n'b'",
      'SELECT 1; SELECT 2',
      "SELECT 'unterminated",
      'SELECT -5',
      'SELECT a - 5 FROM t',
      'SELECT 5abc',
      'SELECT "open',
    ]) expect(lexLiterals(sql), sql).toBeUndefined();
  });

  it('gives back the text from its pieces and literals, whatever it holds', () => {
    const token = fc.oneof(
      fc.constantFrom('SELECT', 'a', 't1', '=', '(', ')', ',', '-', '+', '.', ' ', '\n', '  ', "'", '"', ';', 'e', 'E5'),
      fc.nat({ max: 99_999 }).map(String),
      fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}.${b}`),
      fc.string({ maxLength: 6 }).map((x) => `'${x.replaceAll("'", "''")}'`),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), (tokens) => {
        const sql = tokens.join('');
        const l = lexLiterals(sql);
        if (!l) return;
        expect(l.pieces.length).toBe(l.literals.length + 1);
        expect(l.pieces.map((p, i) => p + (l.literals[i]?.raw ?? '')).join('')).toBe(sql);
        for (const x of l.literals) expect(x.raw.startsWith("'") ? `'${x.value.replaceAll("'", "''")}'` : x.value).toBe(x.raw);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a long lookup (a vector literal, a long IN list) and leaves texts past 64 kB alone', () => {
    const vector = `'[${Array.from({ length: 2000 }, (_, i) => (i / 7).toFixed(6)).join(',')}]'`;
    expect(lexLiterals(`SELECT id FROM docs WHERE tenant = 7 ORDER BY embedding <=> ${vector} LIMIT 10`)!.literals.map((x) => x.raw)).toEqual(['7', vector, '10']);
    const list = Array.from({ length: 9000 }, (_, i) => i + 1).join(', ');
    expect(lexLiterals(`SELECT * FROM t WHERE id IN (${list})`)!.literals).toHaveLength(9000);
    expect(lexLiterals(`SELECT * FROM t WHERE id IN (${list}, ${list})`)).toBeUndefined();
  });
});
