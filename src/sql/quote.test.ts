// Quoting and reading names: what the coordinator writes into SQL, and table names given as text.
import { expect, it } from 'vitest';
import { parseQualifiedName, quoteIdent, quoteLiteral } from './quote.ts';

it('reads a table name as Postgres reads a regclass', () => {
  expect(parseQualifiedName('items')).toEqual({ schema: undefined, name: 'items' });
  expect(parseQualifiedName('App.Items')).toEqual({ schema: 'app', name: 'items' });
  expect(parseQualifiedName('"my.table"')).toEqual({ schema: undefined, name: 'my.table' });
  expect(parseQualifiedName('s."a""b"')).toEqual({ schema: 's', name: 'a"b' });
  expect(parseQualifiedName('"Mixed"."Case"')).toEqual({ schema: 'Mixed', name: 'Case' });
  for (const bad of ['', 'a.b.c', '"unterminated', 'a.', '.a', '""', 'a"b']) expect(parseQualifiedName(bad), bad).toBeUndefined();
});

it('quotes identifiers only when needed and literals so their meaning does not depend on settings', () => {
  expect(quoteIdent('items')).toBe('items');
  expect(quoteIdent('Items')).toBe('"Items"');
  expect(quoteIdent('a"b')).toBe('"a""b"');
  expect(quoteLiteral("it's")).toBe("'it''s'");
  expect(quoteLiteral('c:\\dir\\')).toBe("E'c:\\\\dir\\\\'");
});
