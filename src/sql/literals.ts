// A statement's literals found without parsing it: its text split around each number and string constant. Two
// texts with the same shape (the text with its literals masked, and each literal's kind) are one statement with
// other values. Deliberately narrow: anything it does not read with certainty (comments, dollar quotes, escape or
// bit strings, backslashes, parameters, several statements, a signed number) gives undefined.

export interface Literal {
  /** As written: `42`, `'it''s'`. */
  raw: string;
  /** The constant's value: the digits, or the string's contents. */
  value: string;
}

export interface Lexed {
  /** The text with each literal replaced by a marker of its kind (integer, other number, string). */
  shape: string;
  /** The text around the literals: `pieces.length === literals.length + 1`. */
  pieces: string[];
  literals: Literal[];
}

const WORD = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Longer texts are not read: a lookup is short, even with a vector literal of 2,000 dimensions (about 20 kB), and
 * reading a large multi-row INSERT that no learnt shape can match would only cost it time and memory.
 */
const MAX_TEXT = 64 * 1024;
const NUMBER = /(\d*\.?\d*)([eE][+-]?\d+)?/y;
const SPACE = /\s/;

export function lexLiterals(sql: string): Lexed | undefined {
  if (sql.length > MAX_TEXT) return undefined;
  const pieces: string[] = [];
  const literals: Literal[] = [];
  let shape = '';
  let from = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === '\\' || c === '$' || c === '\0') return undefined;
    if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '*')) return undefined;
    if (c === ';') {
      // One statement only; a trailing semicolon (pgbench sends one) is part of its text.
      if (sql.slice(i + 1).trim() !== '') return undefined;
      i++;
      continue;
    }
    if (c === '"') {
      const end = closing(sql, i, '"');
      if (end < 0) return undefined;
      i = end + 1;
      continue;
    }
    if (c === "'" || (isDigit(c) && !WORD.test(sql[i - 1] ?? ' ')) || (c === '.' && isDigit(sql[i + 1] ?? '') && !WORD.test(sql[i - 1] ?? ' '))) {
      let end: number;
      let value: string;
      let kind: string;
      if (c === "'") {
        // E'', B'', X'', N'', U&'' strings read otherwise.
        if (WORD.test(sql[i - 1] ?? ' ') || sql[i - 1] === '&') return undefined;
        end = closing(sql, i, "'");
        if (end < 0) return undefined;
        // Adjacent strings ('a' 'b' across a newline) are one constant in Postgres.
        if (sql[skipSpace(sql, end + 1, 1)] === "'") return undefined;
        value = sql.slice(i + 1, end).replaceAll("''", "'");
        // Read otherwise with standard_conforming_strings off.
        if (value.includes('\\')) return undefined;
        kind = '\u0001s';
      } else {
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(sql)!;
        end = i + m[0].length - 1;
        if (WORD.test(sql[end + 1] ?? ' ') || sql[end + 1] === '.') return undefined;
        // A sign before it belongs to the value, or to an operator: which one needs a parse.
        const before = sql[skipSpace(sql, i - 1, -1)];
        if (before === '-' || before === '+') return undefined;
        value = m[0];
        kind = /^\d+$/.test(value) ? '\u0001i' : '\u0001n';
      }
      pieces.push(sql.slice(from, i));
      shape += sql.slice(from, i) + kind;
      literals.push({ raw: sql.slice(i, end + 1), value });
      i = from = end + 1;
      continue;
    }
    i++;
  }
  pieces.push(sql.slice(from));
  shape += sql.slice(from);
  return { shape, pieces, literals };
}

/** The index of the quote closing the one at `start` (a doubled quote is part of the text); -1 if none. */
function closing(sql: string, start: number, q: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] !== q) continue;
    if (sql[i + 1] === q) i++;
    else return i;
  }
  return -1;
}

/**
 * The first index from `i` on, going `step` (1 or -1), that is not white space. The looks around a literal read
 * only the white space next to it, so reading a text stays linear in its length (regular expressions over the rest
 * of the text made a long one quadratic).
 */
function skipSpace(sql: string, i: number, step: 1 | -1): number {
  while (i >= 0 && i < sql.length && SPACE.test(sql[i])) i += step;
  return i;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}
