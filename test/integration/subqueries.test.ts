// Subqueries, CTEs, set operations and INSERT ... SELECT on distributed tables, run first as intermediate results
// (recursive planning), each answer compared with the same statement on one plain PostgreSQL server.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, startDifferential, type Differential } from '../helpers/differential.ts';

let d: Differential;
let vs: pg.Client;
let one: pg.Client;


const SCHEMA = [
  'CREATE TABLE items (id bigint PRIMARY KEY, tenant int NOT NULL, title text, embedding vector(3))',
  'CREATE TABLE items2 (id bigint PRIMARY KEY, tenant int, title text, embedding vector(3))',
  'CREATE TABLE tags (id int PRIMARY KEY, name text)',
  'CREATE TABLE notes (item_id bigint, body text)',
];
const ROWS = [
  `INSERT INTO items SELECT g, g % 5, 'item ' || g, v::vector FROM unnest(ARRAY[${Array.from({ length: 200 }, (_, i) => i + 1).join(',')}]) g, LATERAL (SELECT '[' || round(cos(g)::numeric, 6) || ',' || round(sin(g)::numeric, 6) || ',' || round((g / 200.0)::numeric, 6) || ']' AS v) x`,
  `INSERT INTO tags VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')`,
  `INSERT INTO notes VALUES (3, 'x'), (7, 'y'), (7, 'x'), (150, 'z'), (999, 'gone')`,
];

beforeAll(async () => {
  d = await startDifferential();
  ({ vs, one } = d);
  for (const s of SCHEMA) {
    await vs.query(s);
    await one.query(s);
  }
  await vs.query(`SELECT create_distributed_table('items', 'id', shard_count => 4)`);
  await vs.query(`SELECT create_distributed_table('items2', 'id', shard_count => 3)`);
  await vs.query(`SELECT create_reference_table('tags')`);
  for (const s of ROWS) {
    await vs.query(s);
    await one.query(s);
  }
  await vs.query('SET vecshard.exact = on');
}, 180_000);
afterAll(() => d?.close());

/** Runs `sql` on both; the answers (or the SQLSTATEs) must be equal, in order when `ordered`. */
async function same(sql: string, ordered = /\border by\b[^)]*$/i.test(sql)): Promise<void> {
  const { got, want } = await compare(d, sql, ordered);
  expect(got, sql).toEqual(want);
}

const CORPUS = [
  // The pgvector README's nearest neighbours of a row.
  `SELECT id FROM items WHERE id != 1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 5`,
  `SELECT id FROM items WHERE id != 17 ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = 17) LIMIT 5`,
  `WITH q AS (SELECT embedding FROM items WHERE id = 1) SELECT id FROM items, q ORDER BY embedding <=> q.embedding LIMIT 5`,
  `WITH q AS (SELECT embedding FROM items WHERE id = 42) SELECT items.id, items.title FROM items, q WHERE items.id <> 42 ORDER BY items.embedding <-> q.embedding LIMIT 7`,
  // Iterative-scan re-sort and re-ranking.
  `WITH relaxed AS MATERIALIZED (SELECT id, embedding <-> '[1,1,1]' AS distance FROM items ORDER BY embedding <-> '[1,1,1]' LIMIT 5) SELECT id FROM relaxed ORDER BY distance + 0`,
  `SELECT id FROM (SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector), id LIMIT 20) s ORDER BY embedding <=> '[1,-2,3]', id LIMIT 5`,
  `SELECT id FROM (SELECT * FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 20) s ORDER BY embedding <=> '[0,1,0]' LIMIT 5`,
  // Subqueries in FROM (pagination and counts, windows over a kNN result).
  `SELECT count(*) FROM (SELECT id FROM items ORDER BY id LIMIT 10) s`,
  `SELECT count(*) FROM (SELECT id FROM items WHERE tenant = 3) s`,
  `SELECT id, row_number() OVER (ORDER BY d) AS r FROM (SELECT id, embedding <-> '[1,0,0]' AS d FROM items ORDER BY embedding <-> '[1,0,0]' LIMIT 10) s ORDER BY r`,
  `SELECT tenant, avg(n) FROM (SELECT tenant, count(*) AS n FROM items GROUP BY tenant) s GROUP BY tenant ORDER BY tenant`,
  // IN, ANY, EXISTS, scalar subqueries.
  `SELECT id FROM items WHERE tenant IN (SELECT id FROM tags WHERE name LIKE 't%') ORDER BY id`,
  `SELECT id FROM items WHERE id IN (SELECT item_id FROM notes) ORDER BY id`,
  `SELECT count(*) FROM items WHERE id = ANY (SELECT item_id FROM notes WHERE body = 'x')`,
  `SELECT id FROM items WHERE id NOT IN (SELECT id FROM items WHERE id > 3) ORDER BY id`,
  `SELECT id FROM items WHERE EXISTS (SELECT 1 FROM notes WHERE body = 'x') ORDER BY id LIMIT 3`,
  `SELECT id FROM items WHERE NOT EXISTS (SELECT 1 FROM notes WHERE body = 'nothing') ORDER BY id LIMIT 3`,
  `SELECT id, (SELECT max(id) FROM items) AS m FROM items WHERE id < 5 ORDER BY id`,
  `SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM notes) AS n`,
  `SELECT tenant, count(*) FROM items WHERE id IN (SELECT id FROM items WHERE tenant = 2) GROUP BY tenant`,
  `SELECT * FROM notes WHERE item_id IN (SELECT id FROM items WHERE tenant = 2) ORDER BY item_id, body`,
  `SELECT id FROM items WHERE id > (SELECT avg(id) FROM items) ORDER BY id LIMIT 4`,
  `SELECT ARRAY(SELECT id FROM items WHERE id < 4 ORDER BY id) AS a`,
  // Set operations.
  `SELECT id FROM items WHERE id < 20 UNION SELECT item_id FROM notes ORDER BY 1`,
  `SELECT id FROM items WHERE id < 5 UNION ALL SELECT id FROM items WHERE id < 3 ORDER BY 1`,
  `SELECT id FROM items WHERE id < 10 INTERSECT SELECT item_id FROM notes ORDER BY 1`,
  `SELECT id FROM items WHERE id < 10 EXCEPT SELECT item_id FROM notes ORDER BY 1`,
  // CTEs.
  `WITH a AS (SELECT id, tenant FROM items WHERE id < 30), b AS (SELECT tenant, count(*) AS n FROM a GROUP BY tenant) SELECT * FROM b ORDER BY tenant`,
  `WITH t AS (SELECT id FROM tags) SELECT count(*) FROM items WHERE tenant IN (SELECT id FROM t)`,
  // Shapes the shards cannot answer as they are run on the home node over the rows, brought there first.
  `SELECT DISTINCT ON (tenant) tenant, id FROM items ORDER BY tenant, id`,
  `SELECT tenant, count(*) FROM items GROUP BY tenant HAVING count(*) > 39 ORDER BY tenant`,
  `SELECT count(DISTINCT tenant), count(DISTINCT title) FROM items`,
  `SELECT count(*) FILTER (WHERE tenant = 1), count(*) FROM items WHERE id > 50`,
  `SELECT tenant, array_agg(id ORDER BY id) FROM items WHERE id < 20 GROUP BY tenant ORDER BY tenant`,
  `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM items`,
  `SELECT id, row_number() OVER (PARTITION BY tenant ORDER BY id) FROM items WHERE id < 15 ORDER BY id`,
  `SELECT tenant, count(*) * 2 + 1 AS n FROM items GROUP BY tenant ORDER BY tenant`,
  `SELECT * FROM items ORDER BY 1 LIMIT 2`,
  // Joins of distributed tables, and with a table that is not distributed.
  `SELECT a.id, b.id FROM items a JOIN items b ON a.id = b.id + 1 WHERE a.id < 6 ORDER BY 1`,
  `SELECT i.id, n.body FROM items i JOIN notes n ON n.item_id = i.id ORDER BY 1, 2`,
  `SELECT i.id, i2.title FROM items i LEFT JOIN items2 i2 ON i2.id = i.id WHERE i.id < 4 ORDER BY 1`,
  `SELECT count(*) FROM items i, tags t WHERE i.tenant = t.id`,
  // Values with quotes and backslashes survive being put back into the statement.
  `SELECT (SELECT E'back\\\\slash ''quoted'' ' || title FROM items WHERE id = 1) AS t`,
  `SELECT id FROM items WHERE title || E'\\\\' = (SELECT title || E'\\\\' FROM items WHERE id = 5)`,
  // Errors: the same SQLSTATE as one node.
  `SELECT id FROM items WHERE id = (SELECT id FROM items WHERE id < 3)`,
  `SELECT (SELECT id, tenant FROM items WHERE id = 1)`,
];

describe('subqueries and CTEs equal one node', () => {
  it.each(CORPUS)('%s', async (sql) => {
    await same(sql);
  });

  it('runs a statement with parameters in its subquery, through the extended protocol', async () => {
    const sql = 'SELECT id FROM items WHERE id != $1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = $1) LIMIT $2';
    const got = (await vs.query(sql, [9, 4])).rows;
    const want = (await one.query(sql, [9, 4])).rows;
    expect(got).toEqual(want);
  });

  it('runs correlated subqueries inside each shard, over the rows of the tables they read', async () => {
    await same('SELECT id FROM items i WHERE EXISTS (SELECT 1 FROM notes n WHERE n.item_id = i.id) ORDER BY id');
    await same('SELECT id, (SELECT count(*) FROM notes n WHERE n.item_id = i.id) AS n FROM items i WHERE id < 10 ORDER BY id');
    await same("SELECT id FROM items i WHERE id < 60 AND tenant = (SELECT max(tenant) FROM items j WHERE j.id = i.id + 1) ORDER BY embedding <-> '[1,0,0]' LIMIT 5");
    await same('SELECT id FROM items i WHERE id IN (SELECT item_id FROM notes n WHERE EXISTS (SELECT 1 FROM items k WHERE k.id = n.item_id AND k.tenant = 2)) ORDER BY id');
  });

  it('EXPLAIN shows what runs first; EXPLAIN ANALYZE runs it and explains the statement after', async () => {
    const explain = async (sql: string) => (await vs.query(sql)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
    const knn = 'SELECT id FROM items WHERE id != 1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 5';
    const plain = await explain(`EXPLAIN ${knn}`);
    expect(plain).toMatch(/recursive planning\n.*\n {4}1\. a scalar subquery: SELECT embedding FROM items WHERE id = 1\n {2}Then: the statement planned again/);
    const analyzed = await explain(`EXPLAIN ANALYZE ${knn}`);
    expect(analyzed).toMatch(/Steps ran in [\d.]+ ms; then:\n {2}Custom Scan \(vecshard\)  table: public\.items\n {2}Strategy: knn scatter-gather/);
    expect(analyzed).toMatch(/Task 1: node \d, shard vecshard_shards\.items_000\d \(time=/);
    const home = await explain('EXPLAIN ANALYZE SELECT count(*) FROM (SELECT id FROM items ORDER BY id LIMIT 10) s');
    expect(home).toMatch(/On the home node:\n {4}Aggregate/);
    await expect(vs.query('EXPLAIN ANALYZE WITH d AS (DELETE FROM items2 WHERE id = -5 RETURNING id) SELECT * FROM d')).rejects.toMatchObject({ code: '0A000' });
  });

  it('caps an intermediate result with vecshard.max_intermediate_result_size', async () => {
    await vs.query(`SET vecshard.max_intermediate_result_size = '1kB'`);
    try {
      await expect(vs.query('SELECT count(*) FROM (SELECT * FROM items) s')).rejects.toMatchObject({ code: '54000', message: expect.stringMatching(/max_intermediate_result_size/) });
    } finally {
      await vs.query('RESET vecshard.max_intermediate_result_size');
    }
    expect((await vs.query('SELECT count(*)::int AS n FROM (SELECT * FROM items) s')).rows).toEqual([{ n: 200 }]);
  });
});

describe('INSERT ... SELECT, and writes with subqueries', () => {
  it('inserts generated rows, rows of another distributed table, with ON CONFLICT and RETURNING', async () => {
    const statements = [
      `INSERT INTO items2 SELECT g, g % 3, 'gen ' || g, ('[' || g || ',0,1]')::vector FROM generate_series(1, 600) g`,
      `INSERT INTO items2 SELECT id + 1000, tenant, title, embedding FROM items WHERE tenant = 1`,
      `INSERT INTO items2 SELECT id, tenant, 'again', embedding FROM items WHERE id <= 10 ON CONFLICT (id) DO NOTHING`,
      `INSERT INTO items2 SELECT id, tenant, 'updated', embedding FROM items WHERE id <= 3 ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title`,
      `INSERT INTO items2 SELECT id + 5000, tenant, title, embedding FROM items WHERE id = -1`,
    ];
    for (const s of statements) await same(s);
    await same(`INSERT INTO items2 SELECT id + 2000, tenant, title, embedding FROM items WHERE id < 6 RETURNING id, title`);
    await same('SELECT count(*), sum(id) FROM items2');
    await same('SELECT id, title FROM items2 WHERE id <= 12 ORDER BY id');
  });

  it('updates and deletes by a subquery', async () => {
    await same(`UPDATE items2 SET title = 'noted' WHERE id IN (SELECT item_id FROM notes)`);
    await same(`DELETE FROM items2 WHERE id IN (SELECT id FROM items WHERE tenant = 4) AND id < 100`);
    await same('SELECT id, title FROM items2 WHERE id < 200 ORDER BY id');
    await same(`UPDATE items2 SET title = i.title || ' via from' FROM items i WHERE i.id = items2.id AND i.tenant = 2`);
    await same(`UPDATE items2 SET tenant = n.item_id::int FROM notes n WHERE n.item_id = items2.id AND n.body = 'x'`);
    await same(`DELETE FROM items2 USING notes n WHERE n.item_id = items2.id AND n.body = 'y'`);
    await same(`DELETE FROM items2 USING items i JOIN tags t ON t.id = i.tenant WHERE i.id = items2.id AND t.name = 'three' RETURNING items2.id`);
    // Correlated subqueries in writes: their tables' rows first, then the write on each shard.
    await same(`UPDATE items2 SET title = (SELECT max(body) FROM notes n WHERE n.item_id = items2.id) WHERE id < 10`);
    await same(`DELETE FROM items2 WHERE EXISTS (SELECT 1 FROM notes n WHERE n.item_id = items2.id AND n.body = 'z')`);
    await same('SELECT id, tenant, title FROM items2 ORDER BY id');
    await same(`INSERT INTO notes SELECT id, title FROM items WHERE id < 4`);
    await same('SELECT * FROM notes ORDER BY item_id, body');
  });

  it('runs data-modifying CTEs once, the SELECT seeing the tables as before the writes, all in one transaction', async () => {
    await same(`WITH gone AS (DELETE FROM items2 WHERE id > 600 AND id < 700 RETURNING id) SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM items2 WHERE id > 600 AND id < 700) AS before`);
    await same(`WITH moved AS (DELETE FROM items2 WHERE id BETWEEN 500 AND 520 RETURNING *), ins AS (INSERT INTO items2 SELECT id + 10000, tenant, title, embedding FROM moved RETURNING id) SELECT count(*) FROM ins`);
    await same(`WITH up AS (UPDATE items2 SET title = 'cte' WHERE id < 8 RETURNING id, title) SELECT * FROM up ORDER BY id`);
    await same(`WITH w AS (INSERT INTO items2 VALUES (20000, 1, 'w', '[1,1,1]')) SELECT count(*) FROM items2 WHERE id = 20000`);
    // Rows moved from one table to another in one statement.
    await same(`WITH moved AS (DELETE FROM items2 WHERE id BETWEEN 300 AND 310 RETURNING id, title) INSERT INTO notes SELECT id, title FROM moved`);
    await same(`WITH n AS (SELECT item_id FROM notes WHERE body LIKE 'gen 30%'), up AS (UPDATE items2 SET tenant = 9 WHERE id IN (SELECT item_id + 10000 FROM n) RETURNING id) DELETE FROM notes WHERE item_id IN (SELECT id - 10000 FROM up)`);
    await same('SELECT * FROM notes ORDER BY item_id, body');
    await same('SELECT id, tenant, title FROM items2 ORDER BY id');
    // A write that fails leaves nothing of the others.
    await same(`WITH a AS (DELETE FROM items2 WHERE id < 100 RETURNING id), b AS (INSERT INTO items2 VALUES (20000, 1, 'dup', '[0,0,0]') RETURNING id) SELECT * FROM a, b`);
    await same('SELECT count(*) FROM items2 WHERE id < 100');
  });
});
