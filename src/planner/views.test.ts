// Views over distributed tables, planned without a server: read as their definitions, written through refused,
// and their DDL on the home node with a catalog reload.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, parseSql, type RawStmt } from '../sql/parse.ts';
import { deparse } from '../sql/ast.ts';
import { testCatalog } from '../../test/helpers/planner.ts';
import { planStatement } from './statement.ts';
import { expandViews } from './views.ts';

beforeAll(() => loadParser());

function catalogWithViews() {
  const catalog = testCatalog();
  const view = (sql: string) => (parseSql(sql) as RawStmt[])[0].stmt;
  catalog.views.set('public.tenant1', { name: 'tenant1', query: view('SELECT items.id, items.title FROM items WHERE items.tenant = 1'), tables: [catalog.get('public', 'items')!] });
  catalog.views.set('public.titles', { name: 'titles', query: view('SELECT tenant1.title FROM tenant1'), tables: [catalog.get('public', 'items')!] });
  catalog.views.set('public.counts', { name: 'counts', query: view('SELECT items.tenant, count(*) AS n FROM items GROUP BY items.tenant'), tables: [catalog.get('public', 'items')!] });
  return catalog;
}

const plan = async (sql: string) => {
  const [raw] = parseSql(sql) as RawStmt[];
  return planStatement(raw, sql, { catalog: catalogWithViews(), params: { values: [], formats: [], types: [] }, settings: new Map(), nodeCount: 2, evalDefault: async () => [], nodes: [], tasks: [] });
};

it('reads a view as its definition, views over views too, keeping the alias and leaving a CTE of that name alone', () => {
  const catalog = catalogWithViews();
  const expand = (sql: string) => {
    const e = expandViews((parseSql(sql) as RawStmt[])[0].stmt, catalog);
    return e && deparse(e).replace(/\( /g, '(').replace(/ \)/g, ')');
  };
  // A simple view (columns and a WHERE over one table) merges into the query: the table is read as the view's name.
  expect(expand('SELECT v.title FROM tenant1 v WHERE v.id = 3')).toBe('SELECT v.title AS title FROM items AS v WHERE v.tenant = 1 AND v.id = 3');
  expect(expand("SELECT * FROM titles WHERE title <> 'x' ORDER BY title")).toBe("SELECT titles.title AS title FROM items AS titles WHERE titles.tenant = 1 AND titles.title <> 'x' ORDER BY titles.title");
  expect(expand('SELECT id AS title FROM tenant1 ORDER BY title LIMIT 2')).toBe('SELECT tenant1.id AS title FROM items AS tenant1 WHERE tenant1.tenant = 1 ORDER BY title LIMIT 2');
  // Anything else becomes a subquery in FROM: a view with GROUP BY, a query with a subquery or a column the view lacks.
  expect(expand('SELECT n FROM counts')).toBe('SELECT n FROM (SELECT items.tenant, count(*) AS n FROM items GROUP BY items.tenant) AS counts');
  expect(expand('SELECT nope FROM tenant1')).toBe('SELECT nope FROM (SELECT items.id, items.title FROM items WHERE items.tenant = 1) AS tenant1');
  expect(expand('WITH tenant1 AS (SELECT 1 AS id) SELECT * FROM tenant1')).toBe(undefined);
  expect(expand('SELECT * FROM items')).toBe(undefined);
});

it('plans a read of a view over the distributed table, refuses writes through it, and runs its DDL as DDL', async () => {
  const read = await plan('SELECT count(*) FROM tenant1');
  expect(['recursive', 'aggregate', 'distributed']).toContain(read.kind);
  for (const sql of ["INSERT INTO tenant1 (id) VALUES (1)", "UPDATE tenant1 SET title = 'x'", 'DELETE FROM tenant1']) {
    expect(await plan(sql), sql).toMatchObject({ kind: 'error', error: { code: '0A000', message: expect.stringContaining('through a view') } });
  }
  for (const sql of ['CREATE VIEW v2 AS SELECT id FROM items', 'CREATE OR REPLACE VIEW tenant1 AS SELECT id FROM items', 'DROP VIEW tenant1', 'ALTER VIEW titles RENAME TO t2']) {
    expect(await plan(sql), sql).toMatchObject({ kind: 'ddl', shell: sql, elsewhere: 'SELECT 1', tasks: [] });
  }
  expect(await plan('CREATE VIEW plainv AS SELECT 1')).toMatchObject({ kind: 'passthrough' });
});
