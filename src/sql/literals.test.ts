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
});
