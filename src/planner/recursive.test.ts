// Recursive planning without a server: which parts of a statement run first, and how their rows go back in.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';
import { deparse } from '../sql/ast.ts';
import type { RecursivePlan } from './recursive.ts';

beforeAll(() => loadParser());

async function recursive(sql: string): Promise<RecursivePlan> {
  const p = await plan(sql);
  if (p.kind !== 'recursive') throw new Error(`${p.kind}: ${JSON.stringify(p)}`);
  return p;
}

const bind = () => 1;
const ir = (rows: Array<Array<string | null>>, columns = [{ name: 'embedding', type: 'vector(3)' }]) => ({ columns, rows });

it('runs a scalar subquery first and puts its value back as a typed constant', async () => {
  const p = await recursive('SELECT id FROM items WHERE id != 1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 5');
  expect(p.steps.map((s) => [s.what, deparse(s.stmt)])).toEqual([['a scalar subquery', 'SELECT embedding FROM items WHERE id = 1']]);
  p.steps[0].put(ir([['[1,2,3]']]), bind);
  // As a parameter: the statement's text stays the same from one run to the next.
  expect(deparse(p.stmt)).toBe('SELECT id FROM items WHERE id <> 1 ORDER BY embedding <-> CAST($1 AS vector(3)) LIMIT 5');
});

it('puts a CTE back as VALUES, and a later step sees it', async () => {
  const p = await recursive('WITH q AS (SELECT embedding FROM items WHERE id = 1) SELECT id FROM items WHERE tenant IN (SELECT tenant FROM items, q WHERE items.embedding = q.embedding)');
  expect(p.steps.map((s) => s.what)).toEqual(['CTE q', 'a subquery']);
  p.steps[0].put(ir([['[1,2,3]']]), bind);
  expect(deparse(p.steps[1].stmt)).toBe("WITH q AS (SELECT * FROM ( VALUES (CAST('[1,2,3]' AS vector(3))) ) AS vecshard_ir(embedding)) SELECT tenant FROM items, q WHERE items.embedding = q.embedding");
});

it('runs both sides of a UNION, a subquery in FROM, and the SELECT of an INSERT', async () => {
  expect((await recursive('SELECT id FROM items UNION SELECT id FROM tags')).steps.map((s) => s.what)).toEqual(['the left side of UNION', 'the right side of UNION']);
  expect((await recursive('SELECT count(*) FROM (SELECT id FROM items LIMIT 10) s')).steps.map((s) => s.what)).toEqual(['a subquery in FROM']);
  const ins = await recursive('INSERT INTO items (id, title) SELECT g, g::text FROM generate_series(1, 3) g');
  ins.steps[0].put(ir([['1', '1'], ['2', '2']], [{ name: 'g', type: 'integer' }, { name: 'g', type: 'text' }]), bind);
  expect(deparse(ins.stmt)).toBe("INSERT INTO items (id, title) VALUES ('1'::int, '1'::text), ('2'::int, '2'::text)");
});

it('leaves subqueries that read no table inside the statement', async () => {
  const p = await plan("SELECT id FROM items WHERE tenant IN (SELECT 1 UNION SELECT 2) ORDER BY embedding <-> '[1,0,0]' LIMIT 3");
  expect(p).toMatchObject({ kind: 'distributed', merge: { kind: 'knn', limit: 3 } });
});

it('runs WITH RECURSIVE and LATERAL whole on the home node over the tables rows; writable CTEs after the reads', async () => {
  for (const sql of ['WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM items, r', 'SELECT * FROM tags, LATERAL (SELECT id FROM items WHERE items.tenant = tags.id LIMIT 1) x']) {
    const p = await recursive(sql);
    expect(p.steps.map((s) => s.what).sort(), sql).toEqual(sql.includes('tags') ? ['the rows of items', 'the rows of tags'] : ['the rows of items']);
  }
  const w = await recursive('WITH d AS (DELETE FROM items WHERE tenant = 1 RETURNING id) SELECT count(*) FROM items, d');
  expect(w.writes).toBe(true);
  expect(w.steps.map((s) => s.what)).toEqual(['the rows of items', 'CTE d']);
  expect(await plan('WITH d AS (DELETE FROM items WHERE id = 1 RETURNING *) INSERT INTO orders SELECT * FROM d')).toMatchObject({ kind: 'recursive', writes: true });
  expect(await plan('WITH RECURSIVE d AS (DELETE FROM items RETURNING id) SELECT 1')).toMatchObject({ kind: 'error', error: { code: '0A000' } });
});

it('rejects a subquery with two columns or two rows as Postgres does', async () => {
  const p = await recursive('SELECT id FROM items WHERE id = (SELECT id FROM items)');
  expect(() => p.steps[0].put(ir([['1'], ['2']], [{ name: 'id', type: 'bigint' }]), bind)).toThrow(/more than one row/);
});
