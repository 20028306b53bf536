// SELECT plans without a server: router, kNN scatter-gather, reference tables, sorted merges, and refusals.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';
import { hashInt8, shardIndexForHash } from '../metadata/hash.ts';
import { searchPathSchemas } from './relations.ts';

beforeAll(() => loadParser());

it('routes an equality on the distribution column to the one shard that holds it', async () => {
  const p = await plan('SELECT title FROM items WHERE id = 42');
  expect(p).toMatchObject({ kind: 'distributed', command: 'SELECT', write: false, strategy: 'router: id = 42' });
  const tasks = p.kind === 'distributed' ? p.tasks : [];
  expect(tasks).toHaveLength(1);
  expect(tasks[0].shardIndex).toBe(shardIndexForHash(hashInt8(42n), 4));
  expect(tasks[0].sql).toBe(`SELECT title FROM vecshard_shards.items_000${tasks[0].shardIndex} AS items WHERE id = 42`);
});

it('plans a kNN as one scan per shard with the distance as a hidden column, merged by distance', async () => {
  const p = await plan('SELECT id, title FROM items WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT 10', ['[1,2,3]', '7']);
  if (p.kind !== 'distributed') throw new Error(`not distributed: ${p.kind}`);
  expect(p.merge).toEqual({ kind: 'knn', limit: 10, offset: 0, desc: false, nullsFirst: false });
  expect(p.hidden).toBe(1);
  expect(p.tasks.map((t) => t.shard)).toEqual(['items_0000', 'items_0001', 'items_0002', 'items_0003']);
  for (const t of p.tasks) {
    expect(t.sql).toMatch(/^SELECT id, title, embedding <=> \$1 AS __vecshard_distance FROM vecshard_shards\.items_000\d AS items WHERE tenant = \$2 ORDER BY embedding <=> \$1 LIMIT 10$/);
    expect(t.params.values.map(String)).toEqual(['[1,2,3]', '7']);
  }
});

it('asks every shard for k × vecshard.overfetch rows, and exact mode turns the index off', async () => {
  const p = await plan("SELECT id FROM items ORDER BY embedding <-> '[1,0]' LIMIT 5", [], [['vecshard.overfetch', '3']]);
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p.tasks[0].sql).toMatch(/LIMIT 15$/);
  expect(p.merge).toMatchObject({ kind: 'knn', limit: 5 });
  const exact = await plan("SELECT id FROM items ORDER BY embedding <-> '[1,0]' LIMIT 5", [], [['vecshard.exact', 'on']]);
  if (exact.kind !== 'distributed') throw new Error(exact.kind);
  expect(exact.tasks[0].sql).toMatch(/ORDER BY \(?embedding <-> '\[1,0\]'\)? \+ 0/);
});

it('joins co-located tables shard by shard, on their distribution columns', async () => {
  const p = await plan('SELECT i.id, o.title FROM items i JOIN orders o ON o.id = i.id WHERE i.tenant = 3');
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p.tasks.map((t) => t.sql)).toEqual(
    [0, 1, 2, 3].map((n) => `SELECT i.id, o.title FROM vecshard_shards.items_000${n} AS i JOIN vecshard_shards.orders_000${n} AS o ON o.id = i.id WHERE i.tenant = 3`),
  );
  // Not on the distribution columns: the rows go to the home node instead.
  expect(await plan('SELECT i.id FROM items i JOIN orders o ON o.tenant = i.tenant')).toMatchObject({ kind: 'recursive' });
});

it('reads a reference table from one copy', async () => {
  const p = await plan('SELECT name FROM tags');
  expect(p).toMatchObject({ kind: 'distributed', strategy: 'reference table: one copy' });
  expect(p.kind === 'distributed' && p.tasks.map((t) => t.sql)).toEqual(['SELECT name FROM vecshard_shards.tags_0000 AS tags']);
});

it('sorts and limits on every shard, then merges the sorted rows on the home node', async () => {
  const p = await plan('SELECT title FROM items ORDER BY title LIMIT 3 OFFSET 2');
  if (p.kind !== 'aggregate') throw new Error(p.kind);
  expect(p.tasks).toHaveLength(4);
  for (const t of p.tasks) expect(t.sql).toMatch(/ORDER BY title LIMIT 5$/);
  const sql = p.combine('(VALUES ...) AS p(c0)', ['title'], { type: () => 'text', avgType: () => 'numeric' });
  expect(sql).toBe('SELECT c0 AS "title" FROM (VALUES ...) AS p(c0) ORDER BY c0 LIMIT 3 OFFSET 2');
});

it('takes a bare ORDER BY name for the output column of that name first, as Postgres does', async () => {
  // id::text is output column "id": the merge orders by it (text), not by the table's bigint id.
  const p = await plan('SELECT id::text, title FROM items ORDER BY id LIMIT 3');
  if (p.kind !== 'aggregate') throw new Error(p.kind);
  const sql = p.combine('(VALUES ...) AS p(c0, c1)', ['id', 'title'], { type: () => 'text', avgType: () => 'numeric' });
  expect(sql).toBe('SELECT c0 AS "id", c1 AS "title" FROM (VALUES ...) AS p(c0, c1) ORDER BY c0 LIMIT 3');
  const agg = await plan('SELECT tenant AS n, count(*) FROM items GROUP BY tenant ORDER BY n');
  expect(agg.kind).toBe('aggregate');
  expect(await plan('SELECT id, title AS id FROM items ORDER BY id')).toMatchObject({ kind: 'error', error: { code: '42702', message: 'ORDER BY "id" is ambiguous' } });
  expect(await plan('SELECT id, tenant, count(*) AS tenant FROM items GROUP BY id, tenant ORDER BY tenant')).toMatchObject({ kind: 'error', error: { code: '42702' } });
});

it('runs what the shards cannot answer on the home node, over the rows it brings there first', async () => {
  const win = await plan('SELECT id, row_number() OVER (ORDER BY id) FROM items WHERE tenant = 2');
  if (win.kind !== 'recursive') throw new Error(win.kind);
  expect(win.steps.map((s) => s.what)).toEqual(['a subquery in FROM']);
  // The WHERE goes with the rows' query, so the shards filter.
  expect(win.steps[0].stmt).toMatchObject({ SelectStmt: { whereClause: expect.anything() } });
  // SELECT INTO: the query first (distributed), then the home node makes the table of its rows.
  const into = await plan('SELECT id INTO copy_of_items FROM items ORDER BY id LIMIT 1 OFFSET $1', ['1']);
  if (into.kind !== 'recursive') throw new Error(into.kind);
  expect(into.steps.map((s) => s.what)).toEqual(['the query of CREATE TABLE AS']);
  expect(into.stmt).toMatchObject({ CreateTableAsStmt: { into: { rel: { relname: 'copy_of_items' } } } });
  expect(await plan('CREATE MATERIALIZED VIEW v AS SELECT id FROM items')).toMatchObject({ kind: 'error', error: { code: '0A000' } });
});

it('writes EXPLAIN options for the shards from what was parsed, never the client\'s text', async () => {
  const injected = await plan('EXPLAIN ("costs) SELECT 12345 --" true) SELECT id FROM items');
  expect(injected).toMatchObject({ kind: 'error', error: { code: '42601', message: 'unrecognized EXPLAIN option "costs) SELECT 12345 --"' } });
  const p = await plan('EXPLAIN (ANALYZE, costs off, BUFFERS 1) SELECT id FROM items');
  expect(p).toMatchObject({ kind: 'explain', options: { analyze: true, shardOptions: 'ANALYZE true, COSTS false, BUFFERS true' } });
});

it("reads a search_path's schemas as Postgres does: case folded unless quoted, $user and pg_catalog left out", () => {
  expect(searchPathSchemas('"$user", App,"My ""Schema""" , public, pg_catalog')).toEqual(['app', 'My "Schema"', 'public']);
  expect(searchPathSchemas('')).toEqual([]);
});
