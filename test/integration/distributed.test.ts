// Distributed tables end to end through node-postgres: routing, aggregates, DDL, transactions, settings on every
// shard connection, COPY formats, and a clear 0A000 (never a wrong answer) for what is not supported.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { RawClient, names } from '../helpers/raw-client.ts';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;

const onNode = (i: number, sql: string) => queryNode(pgs.servers[i], sql);

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs);
  db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE TABLE docs (id serial, tenant int NOT NULL, title text, embedding vector(2), PRIMARY KEY (id, tenant))');
  await db.query(`SELECT create_distributed_table('docs', 'tenant', shard_count => 6)`);
  // An INSERT ... SELECT of no rows inserts nothing and takes no id from the sequence.
  expect((await db.query(`INSERT INTO docs (tenant, title, embedding) SELECT * FROM (VALUES (1, 'a', '[1,0]'::vector)) v WHERE false`)).rowCount).toBe(0);
  const rows = Array.from({ length: 60 }, (_, i) => `(${i % 5}, 't${i}', '[${Math.cos(i)},${Math.sin(i)}]')`).join(',');
  await db.query(`INSERT INTO docs (tenant, title, embedding) VALUES ${rows}`);
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

describe('routing and reads', () => {
  it('spreads shards over every node and assigns unique ids from one sequence', async () => {
    const perNode = await Promise.all([0, 1, 2].map((i) => onNode(i, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'vecshard_shards'`)));
    expect(perNode.map((r) => r[0].n)).toEqual([4, 4, 4]); // 6 shards, 2 copies each
    const ids = (await db.query('SELECT id FROM docs')).rows.map((r) => r.id);
    expect(ids.length).toBe(60);
    expect(new Set(ids).size).toBe(60);
    expect(Math.max(...ids)).toBe(60);
  });

  it('answers aggregates with GROUP BY, ORDER BY and LIMIT as one table would', async () => {
    const r = await db.query('SELECT tenant, count(*) AS n, min(id), max(id), sum(id)::int AS s, avg(id) FROM docs GROUP BY tenant ORDER BY tenant DESC LIMIT 3');
    expect(r.rows).toEqual([
      { tenant: 4, n: '12', min: 5, max: 60, s: 390, avg: '32.5000000000000000' },
      { tenant: 3, n: '12', min: 4, max: 59, s: 378, avg: '31.5000000000000000' },
      { tenant: 2, n: '12', min: 3, max: 58, s: 366, avg: '30.5000000000000000' },
    ]);
    expect((await db.query('SELECT count(*)::int AS n FROM docs WHERE tenant > 10')).rows).toEqual([{ n: 0 }]);
    expect((await db.query('SELECT count(*)::int AS n, max(id) AS m FROM docs WHERE title = $1', ['t7'])).rows).toEqual([{ n: 1, m: 8 }]);
  });

  it('counts DISTINCT values of the distribution column across shards, and of others on the home node', async () => {
    expect((await db.query('SELECT count(DISTINCT tenant) AS n, sum(DISTINCT tenant)::int AS s, max(DISTINCT tenant) AS m FROM docs')).rows).toEqual([{ n: '5', s: 10, m: 4 }]);
    expect((await db.query('SELECT title, count(DISTINCT tenant)::int AS n FROM docs WHERE id <= 2 GROUP BY title ORDER BY title')).rows).toEqual([
      { title: 't0', n: 1 },
      { title: 't1', n: 1 },
    ]);
    const titles = new Set((await db.query('SELECT title FROM docs')).rows.map((r) => r.title));
    expect((await db.query('SELECT count(DISTINCT title)::int AS n FROM docs')).rows).toEqual([{ n: titles.size }]);
  });

  it('sorts, pages and de-duplicates across shards as one table would', async () => {
    const titles = (await db.query('SELECT title FROM docs')).rows.map((r) => r.title as string).sort();
    const page = await db.query('SELECT title FROM docs ORDER BY title DESC LIMIT 4 OFFSET 2');
    expect(page.rows.map((r) => r.title)).toEqual([...titles].reverse().slice(2, 6));
    const star = await db.query('SELECT * FROM docs ORDER BY id LIMIT 2');
    expect(star.rows.map((r) => r.id)).toEqual([1, 2]);
    expect(Object.keys(star.rows[0])).toEqual(['id', 'tenant', 'title', 'embedding']);
    const distinct = await db.query('SELECT DISTINCT tenant FROM docs ORDER BY tenant');
    expect(distinct.rows.map((r) => r.tenant)).toEqual([0, 1, 2, 3, 4]);
    const ties = await db.query(`SELECT id FROM docs ORDER BY embedding <-> '[1,0]', id LIMIT 3`);
    const brute = await db.query(`SELECT id FROM docs ORDER BY embedding <-> '[1,0]' LIMIT 60`);
    expect(ties.rows.length).toBe(3);
    expect(new Set(brute.rows.slice(0, 3).map((r) => r.id))).toEqual(new Set(ties.rows.map((r) => r.id)));
  });

  it('runs extensions and role settings on every node', async () => {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
    await db.query(`ALTER ROLE postgres SET vecshard.test_flag = 'yes'`);
    for (const i of [0, 1, 2]) {
      expect((await onNode(i, `SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`))[0].n).toBe(1);
      expect((await onNode(i, `SELECT count(*)::int AS n FROM pg_db_role_setting WHERE 'vecshard.test_flag=yes' = ANY (setconfig)`))[0].n).toBe(1);
    }
    await db.query(`ALTER ROLE postgres RESET vecshard.test_flag`);
    await db.query('DROP EXTENSION pg_trgm');
    expect((await onNode(2, `SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`))[0].n).toBe(0);
  });

  it('EXPLAIN shows the gather step and every shard task with its own plan; ANALYZE adds timings', async () => {
    const plan = (await db.query(`EXPLAIN SELECT id FROM docs ORDER BY embedding <-> '[1,0]' LIMIT 5`)).rows.map((r) => r['QUERY PLAN']);
    expect(plan[0]).toBe('Custom Scan (vecshard)  table: public.docs');
    expect(plan).toContain('  Merge: by distance, then OFFSET 0 LIMIT 5');
    expect(plan.filter((l) => /^  ->  Task \d: node \d, shard vecshard_shards\.docs_000\d$/.test(l)).length).toBe(6);
    expect(plan.some((l) => /Limit  \(cost=/.test(l))).toBe(true);
    const analyzed = (await db.query(`EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM docs WHERE tenant = 3`)).rows.map((r) => r['QUERY PLAN']);
    expect(analyzed).toContain('  Strategy: router: tenant = 3');
    expect(analyzed.some((l) => /Task 1: node \d, shard vecshard_shards\.docs_000\d \(time=[\d.]+ ms\)/.test(l))).toBe(true);
    expect(analyzed.some((l) => /Query: SELECT \* FROM vecshard_shards\.docs_000\d AS docs WHERE tenant = 3/.test(l))).toBe(true);
    expect(analyzed.some((l) => /Execution Time/.test(l))).toBe(true);
  });

  it('hands out a distributed portal in parts when Execute has a row limit', async () => {
    const cl = await RawClient.connect(c.port);
    cl.write([
      serialize.query('BEGIN'),
    ]);
    await cl.until('readyForQuery');
    cl.write([
      serialize.parse({ name: 'knn', text: `SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 10`, types: [] }),
      serialize.bind({ portal: 'p', statement: 'knn', values: ['[1,0]'] }),
      serialize.execute({ portal: 'p', rows: 4 }),
      serialize.execute({ portal: 'p', rows: 4 }),
      serialize.execute({ portal: 'p', rows: 0 }),
      serialize.sync(),
    ]);
    const got = names(await cl.until('readyForQuery'));
    expect(got).toEqual([
      'parseComplete',
      'bindComplete',
      ...Array(4).fill('dataRow'),
      'portalSuspended',
      ...Array(4).fill('dataRow'),
      'portalSuspended',
      ...Array(2).fill('dataRow'),
      'commandComplete',
      'readyForQuery',
    ]);
    cl.write([serialize.query('COMMIT')]);
    await cl.until('readyForQuery');
    cl.end();
  });

  it('routes kNN with a filter on the distribution column to one shard, and merges otherwise', async () => {
    const one = await db.query(`SELECT id, tenant FROM docs WHERE tenant = $1 ORDER BY embedding <-> '[1,0]' LIMIT 3`, [2]);
    expect(one.rows.length).toBe(3);
    expect(one.rows.every((r) => r.tenant === 2)).toBe(true);
    // Parameterized writes go to the shards too, never to the shell on node 0.
    await db.query('INSERT INTO docs (tenant, title) VALUES ($1, $2)', [77, 'param']);
    expect((await db.query('SELECT title FROM docs WHERE tenant = $1', [77])).rows).toEqual([{ title: 'param' }]);
    expect((await onNode(0, `SELECT count(*)::int AS n FROM ONLY public.docs`))[0].n).toBe(0);
    await db.query('DELETE FROM docs WHERE tenant = $1', [77]);
    const all = await db.query(`SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 5 OFFSET 1`, ['[1,0]']);
    expect(all.rows.length).toBe(5);
  });
});

describe('writes and transactions', () => {
  it('UPDATE and DELETE by key or across shards, with RETURNING', async () => {
    expect((await db.query(`UPDATE docs SET title = 'x' WHERE tenant = 1 RETURNING id`)).rowCount).toBe(12);
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'x'`)).rows[0].n).toBe(12);
    expect((await db.query(`DELETE FROM docs WHERE title = 'x'`)).rowCount).toBe(12);
  });

  it('commits a transaction across shards on several nodes, and rolls one back', async () => {
    await db.query('BEGIN');
    await db.query(`INSERT INTO docs (tenant, title) VALUES (100, 'tx'), (101, 'tx'), (102, 'tx'), (103, 'tx')`);
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'tx'`)).rows[0].n).toBe(4);
    await db.query('COMMIT');
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'tx'`)).rows[0].n).toBe(4);
    await db.query('BEGIN');
    await db.query(`DELETE FROM docs WHERE title = 'tx'`);
    await db.query('ROLLBACK');
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'tx'`)).rows[0].n).toBe(4);
    const prepared = await Promise.all([0, 1, 2].map((i) => onNode(i, 'SELECT count(*)::int AS n FROM pg_prepared_xacts')));
    expect(prepared.map((r) => r[0].n)).toEqual([0, 0, 0]);
  });

  it('an error inside a distributed transaction fails it, as on Postgres', async () => {
    await db.query('BEGIN');
    await db.query(`INSERT INTO docs (tenant, title) VALUES (200, 'e1'), (201, 'e1')`);
    await expect(db.query(`INSERT INTO docs (id, tenant, title) VALUES (1, 0, 'dup')`)).rejects.toMatchObject({ code: '23505' });
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await db.query('COMMIT'); // becomes a ROLLBACK
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'e1'`)).rows[0].n).toBe(0);
  });

  it('a multi-statement string is one implicit transaction across nodes', async () => {
    await expect(db.query(`INSERT INTO docs (tenant, title) VALUES (300, 'ms'), (301, 'ms'); INSERT INTO docs (id, tenant) VALUES (1, 0)`)).rejects.toMatchObject({ code: '23505' });
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'ms'`)).rows[0].n).toBe(0);
    await db.query(`INSERT INTO docs (tenant, title) VALUES (300, 'ms'), (301, 'ms'); UPDATE docs SET title = 'ms2' WHERE title = 'ms'`);
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'ms2'`)).rows[0].n).toBe(2);
    await db.query(`DELETE FROM docs WHERE title = 'ms2'`);
  });

  it('BEGIN in the same extended batch as the writes after it (pgjdbc sends it so) opens their transaction', async () => {
    const raw = await RawClient.connect(c.port);
    const exec = (text: string) => [serialize.parse({ text }), serialize.bind({}), serialize.execute({})];
    const round = async (frames: Buffer[]) => {
      raw.write([...frames, serialize.sync()]);
      return (await raw.until('readyForQuery')) as unknown as Array<{ name: string; status?: string; fields?: string[] }>;
    };
    // A routed write, one across shards, and an UPDATE across shards of what they wrote.
    const writes = [`INSERT INTO docs (tenant, title) VALUES (400, 'j')`, `INSERT INTO docs (tenant, title) VALUES (401, 'j'), (402, 'j'), (403, 'j')`, `UPDATE docs SET title = title || 'b' WHERE tenant >= 400`];
    for (const end of ['ROLLBACK', 'COMMIT']) {
      const got = await round([...exec('BEGIN'), ...writes.flatMap(exec), ...exec(`SELECT count(*) FROM docs WHERE title = 'jb'`)]);
      expect(got.find((m) => m.name === 'error')).toBeUndefined();
      expect(got.at(-1)!.status).toBe('T'); // the writes committed on their own, and the client's BEGIN with them
      expect(got.find((m) => m.name === 'dataRow')!.fields).toEqual(['4']);
      expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'jb'`)).rows[0].n).toBe(0);
      expect((await round(exec(end))).at(-1)!.status).toBe('I');
    }
    raw.end();
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE tenant >= 400 AND title = 'jb'`)).rows[0].n).toBe(4);
    await db.query(`DELETE FROM docs WHERE tenant >= 400`);
  });

  it('writes batched up to one Sync (JDBC executeBatch) commit or roll back together, as on Postgres', async () => {
    const raw = await RawClient.connect(c.port);
    const count = async () => (await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'batch'`)).rows[0].n;
    const insert = (tenant: number, id?: number) => [serialize.bind({ statement: 'ins', values: [String(tenant), id === undefined ? null : String(id)] }), serialize.execute({})];
    raw.write([serialize.parse({ name: 'ins', text: `INSERT INTO docs (tenant, title, id) VALUES ($1, 'batch', coalesce($2::int, nextval('docs_id_seq')::int))` }), serialize.sync()]);
    await raw.until('readyForQuery');
    // The third write fails (a duplicate key): the first two, on other shards and nodes, are undone with it.
    raw.write([...insert(500), ...insert(501), ...insert(0, 1), ...insert(502), serialize.sync()]);
    let got = (await raw.until('readyForQuery')) as unknown as Array<{ name: string; code?: string; status?: string }>;
    expect(got.find((m) => m.name === 'error')).toMatchObject({ code: '23505' });
    expect(got.filter((m) => m.name === 'commandComplete')).toHaveLength(2);
    expect(got.at(-1)!.status).toBe('I');
    expect(await count()).toBe(0);
    // Without a failure the batch commits whole; sent in pieces (the Sync in a later write), too.
    raw.write([...insert(500), ...insert(501), ...insert(502)]);
    await new Promise((r) => setTimeout(r, 100));
    raw.write([...insert(503), serialize.sync()]);
    got = (await raw.until('readyForQuery')) as never;
    expect(got.filter((m) => m.name === 'commandComplete')).toHaveLength(4);
    expect(got.at(-1)!.status).toBe('I');
    expect(await count()).toBe(4);
    // A single write ending its batch commits on its own as before; nothing is left prepared on a node.
    raw.write([...insert(504), serialize.sync()]);
    expect(((await raw.until('readyForQuery')) as never as Array<{ status?: string }>).at(-1)!.status).toBe('I');
    expect(await count()).toBe(5);
    raw.end();
    const prepared = await Promise.all([0, 1, 2].map((i) => onNode(i, 'SELECT count(*)::int AS n FROM pg_prepared_xacts')));
    expect(prepared.map((r) => r[0].n)).toEqual([0, 0, 0]);
    await db.query(`DELETE FROM docs WHERE title = 'batch'`);
  });

  it('COPY in CSV with a header, and COPY out', async () => {
    const csv = 'tenant,title,embedding\n7,"a, quoted","[0,1]"\n8,plain,"[1,1]"\n9,,\n';
    await pipeline(Readable.from([csv]), db.query(copyFrom('COPY docs (tenant, title, embedding) FROM STDIN WITH (FORMAT csv, HEADER true)')));
    const r = await db.query('SELECT tenant, title, embedding::text AS e FROM docs WHERE tenant IN (7, 8, 9) ORDER BY embedding <-> $1 LIMIT 10', ['[0,1]']);
    expect(r.rows).toEqual([
      { tenant: 7, title: 'a, quoted', e: '[0,1]' },
      { tenant: 8, title: 'plain', e: '[1,1]' },
      { tenant: 9, title: null, e: null },
    ]);
    let out = '';
    await pipeline(db.query(copyTo('COPY docs (tenant) TO STDOUT')), new Writable({ write(ch, _e, cb) { out += ch; cb(); } }));
    expect(out.trim().split('\n').length).toBe(55);
  });
});

describe('reference tables', () => {
  it('keep a full copy on every node, written everywhere in one transaction', async () => {
    await db.query('CREATE TABLE tags (tag text PRIMARY KEY, weight int)');
    await db.query(`INSERT INTO tags VALUES ('a', 1)`);
    await db.query(`SELECT create_reference_table('tags')`);
    await db.query(`INSERT INTO tags VALUES ('b', 2), ('c', 3) RETURNING tag`);
    await db.query(`UPDATE tags SET weight = weight * 10`);
    await db.query(`DELETE FROM tags WHERE tag = 'c'`);
    for (const i of [0, 1, 2]) {
      expect(await onNode(i, 'SELECT tag, weight FROM vecshard_shards.tags_0000 ORDER BY tag')).toEqual([
        { tag: 'a', weight: 10 },
        { tag: 'b', weight: 20 },
      ]);
    }
    expect((await db.query('SELECT tag FROM tags WHERE weight > 15')).rows).toEqual([{ tag: 'b' }]);
    const r = await db.query(`INSERT INTO tags VALUES ('d', 4) RETURNING tag`);
    expect(r.rows).toEqual([{ tag: 'd' }]);
    expect(r.rowCount).toBe(1);
  });
});

describe('DDL', () => {
  it('applies CREATE INDEX, ALTER TABLE and TRUNCATE to every shard, and DROP TABLE removes them', async () => {
    await db.query('CREATE TABLE t2 (k bigint PRIMARY KEY, v vector(2))');
    await db.query(`SELECT create_distributed_table('t2', 'k', shard_count => 3)`);
    await db.query('CREATE INDEX t2_v ON t2 USING hnsw (v vector_cosine_ops) WITH (m = 4)');
    await db.query('ALTER TABLE t2 ADD COLUMN note text');
    await db.query(`INSERT INTO t2 VALUES (1, '[1,2]', 'n')`);
    const idx = await Promise.all([0, 1, 2].map((i) => onNode(i, `SELECT indexname FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND indexname LIKE 't2_v_%'`)));
    expect(idx.flat().length).toBe(6); // 3 shards, 2 copies each
    expect((await db.query('SELECT note FROM t2 WHERE k = 1')).rows).toEqual([{ note: 'n' }]);
    await db.query('TRUNCATE t2');
    expect((await db.query('SELECT count(*)::int AS n FROM t2')).rows[0].n).toBe(0);
    await db.query('DROP TABLE t2');
    const left = await Promise.all([0, 1, 2].map((i) => onNode(i, `SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 't2_%'`)));
    expect(left.map((r) => r[0].n)).toEqual([0, 0, 0]);
  });

  it('session settings reach every shard connection', async () => {
    const s = new pg.Client(c.options());
    await s.connect();
    await s.query(`SET statement_timeout = '200ms'`);
    // 60 rows over 6 shards at 20 ms a row: every shard runs past 200 ms only if it has the setting.
    await expect(s.query(`SELECT id, pg_sleep(0.02) FROM docs ORDER BY embedding <-> '[1,0]' LIMIT 60`)).rejects.toMatchObject({ code: '57014' });
    await s.query('RESET statement_timeout');
    expect((await s.query(`SELECT count(*)::int AS n FROM docs`)).rows[0].n).toBe(55);
    await s.end();
  });
});

describe('refused with 0A000, never answered wrongly', () => {
  const refused: Array<[string, RegExp]> = [
    // Subqueries, CTEs, UNION and INSERT ... SELECT run (test/integration/subqueries.test.ts); these do not yet.
    [`UPDATE docs SET tenant = 3 WHERE id = 1`, /modifying the distribution column "tenant"/],
    [`INSERT INTO docs (tenant) VALUES (1 + 1)`, /an expression as the value of distribution column "tenant"/],
    [`EXPLAIN (FORMAT JSON) SELECT * FROM docs`, /EXPLAIN \(FORMAT JSON\)/],
    [`CREATE TABLE bad (id int PRIMARY KEY, t int); SELECT create_distributed_table('bad', 't')`, /constraint "bad_pkey" \(PRIMARY KEY \(id\)\) does not include the distribution column "t"/],
  ];
  for (const [sql, message] of refused) {
    it(sql, async () => {
      await expect(db.query(sql)).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(message) });
    });
  }

  // Shapes the shards cannot answer as they are run on the home node over the rows (recursive.ts pullUp): the
  // same statements on a plain copy of the table on node 0 are the truth.
  it('DISTINCT ON, HAVING, DISTINCT of other columns, windows and self-joins equal a plain table', async () => {
    await db.query('CREATE TABLE docs_plain (id int, tenant int NOT NULL, title text, embedding vector(2))');
    await db.query('INSERT INTO docs_plain SELECT * FROM docs');
    for (const sql of [
      'SELECT DISTINCT ON (tenant) tenant, id FROM docs ORDER BY tenant, id',
      'SELECT * FROM docs ORDER BY 1 LIMIT 2',
      'SELECT count(DISTINCT title) FROM docs',
      'SELECT tenant, count(*) FROM docs GROUP BY tenant HAVING count(*) > 1 ORDER BY tenant',
      'SELECT a.id FROM docs a JOIN docs b USING (id) ORDER BY 1',
      'SELECT id, row_number() OVER (ORDER BY id) FROM docs ORDER BY id',
    ]) {
      const got = (await db.query(sql)).rows;
      expect(got.length, sql).toBeGreaterThan(0);
      expect(got, sql).toEqual((await db.query(sql.replace(/\bdocs\b/g, 'docs_plain'))).rows);
    }
    await db.query('DROP TABLE docs_plain');
  });

  it('binary COPY (query) and savepoints in a distributed transaction are refused', async () => {
    await expect(db.query(`COPY (SELECT id FROM docs) TO STDOUT (FORMAT binary)`)).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(/COPY \(query\) in binary format/) });
    await db.query('BEGIN');
    await db.query(`INSERT INTO docs (tenant, title) VALUES (400, 'sp'), (401, 'sp')`);
    await expect(db.query('SAVEPOINT s1')).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(/savepoints/) });
    await db.query('ROLLBACK');
    expect((await db.query(`SELECT count(*)::int AS n FROM docs WHERE title = 'sp'`)).rows[0].n).toBe(0);
  });

  it('a NULL distribution value is 23502', async () => {
    await expect(db.query('INSERT INTO docs (tenant, title) VALUES (NULL, $1)', ['n'])).rejects.toMatchObject({ code: '23502' });
  });
});

it('TRUNCATE and DROP TABLE naming a distributed and a plain table reach both', async () => {
  await db.query('CREATE TABLE mixed_dist (id int, v text)');
  await db.query("SELECT create_distributed_table('mixed_dist', 'id', shard_count => 2)");
  await db.query('CREATE TABLE mixed_plain (id int)');
  await db.query("INSERT INTO mixed_dist VALUES (1, 'a'), (2, 'b')");
  await db.query('INSERT INTO mixed_plain VALUES (1)');
  await db.query('TRUNCATE mixed_dist, mixed_plain');
  expect((await db.query('SELECT (SELECT count(*) FROM mixed_dist)::int AS d, (SELECT count(*) FROM mixed_plain)::int AS p')).rows).toEqual([{ d: 0, p: 0 }]);
  await db.query('DROP TABLE mixed_plain, mixed_dist');
  for (const i of [0, 1, 2]) {
    expect(await onNode(i, "SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'mixed\\_%'")).toEqual([{ n: 0 }]);
    expect(await onNode(i, "SELECT count(*)::int AS n FROM vecshard.tables WHERE table_name = 'mixed_dist'")).toEqual([{ n: 0 }]);
  }
});

it('a shell refuses rows written where vecshard cannot see them (a function, a DO block, a view), on every node', async () => {
  await db.query('CREATE TABLE guarded (id int, v text)');
  await db.query("INSERT INTO guarded VALUES (1, 'a')");
  await db.query('CREATE VIEW guarded_view AS SELECT * FROM guarded');
  await db.query("SELECT create_distributed_table('guarded', 'id', shard_count => 2)");
  // A view made before reads the shards after (not the shell, empty now).
  expect((await db.query('SELECT id, v FROM guarded_view')).rows).toEqual([{ id: 1, v: 'a' }]);
  await expect(db.query("INSERT INTO guarded_view VALUES (9, 'v')")).rejects.toMatchObject({ code: '0A000' });
  await db.query('DROP VIEW guarded_view');
  await db.query("CREATE FUNCTION guarded_add(i int) RETURNS void LANGUAGE sql AS $$ INSERT INTO guarded VALUES (i, 'f') $$");
  for (const sql of ['SELECT guarded_add(2)', "DO $$ BEGIN INSERT INTO guarded VALUES (3, 'd'); END $$"]) {
    await expect(db.query(sql), sql).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('"guarded" is a distributed table') });
  }
  // What vecshard itself writes goes on as before.
  await db.query("INSERT INTO guarded VALUES (4, 'x')");
  await db.query('INSERT INTO guarded SELECT id + 10, v FROM guarded WHERE id < 0');
  expect((await db.query('SELECT id FROM guarded ORDER BY id')).rows).toEqual([{ id: 1 }, { id: 4 }]);
  for (const i of [0, 1, 2]) expect(await onNode(i, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'vecshard_shell' AND tgrelid = 'guarded'::regclass")).toEqual([{ tgenabled: 'A' }]);
  // A database from before the guard gets it when its catalog is upgraded.
  await onNode(1, 'DROP TRIGGER vecshard_shell ON guarded; DELETE FROM vecshard.migrations WHERE version = 9');
  await onNode(1, fs.readFileSync(new URL('../../migrations/009_shell_guard.sql', import.meta.url), 'utf8'));
  expect(await onNode(1, "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'vecshard_shell' AND tgrelid = 'guarded'::regclass")).toEqual([{ n: 1 }]);
  await db.query('DROP FUNCTION guarded_add(int)');
  await db.query('DROP TABLE guarded');
});

it('a failed write on replicated shards leaves no transaction open, in a session that keeps its home connection', async () => {
  const cl = new pg.Client(c.options());
  await cl.connect();
  try {
    await cl.query('CREATE TABLE checked (id int NOT NULL, n int CHECK (n < 100))');
    await cl.query("SELECT create_distributed_table('checked', 'id', shard_count => 3, replication_factor => 2)");
    // A temporary table keeps the session's home connection (pinned): an aborted transaction left there stays.
    await cl.query('CREATE TEMP TABLE scratch (a int)');
    for (const id of [1, 2, 3, 4]) await expect(cl.query('INSERT INTO checked VALUES ($1, 500)', [id])).rejects.toMatchObject({ code: '23514' });
    await expect(cl.query("UPDATE checked SET n = 500 WHERE id IN (1, 2, 3)")).resolves.toMatchObject({ rowCount: 0 });
    await cl.query('INSERT INTO checked VALUES (5, 5), (6, 6), (7, 7)');
    await expect(cl.query('UPDATE checked SET n = 500')).rejects.toMatchObject({ code: '23514' });
    expect((await cl.query('SELECT count(*)::int AS n, sum(n)::int AS s FROM checked')).rows).toEqual([{ n: 3, s: 18 }]);
    expect((await cl.query('SELECT count(*)::int AS n FROM scratch')).rows).toEqual([{ n: 0 }]);
    for (const i of [0, 1, 2]) expect(await onNode(i, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vecshard' AND state LIKE 'idle in transaction%'")).toEqual([{ n: 0 }]);
  } finally {
    await cl.end();
  }
  await db.query('DROP TABLE checked');
});

it("finds a distributed table by the session's search_path, in both protocols (it read the empty shell)", async () => {
  await db.query('CREATE SCHEMA IF NOT EXISTS app');
  await db.query('CREATE TABLE app.notes (id int NOT NULL, v text)');
  await db.query("INSERT INTO app.notes SELECT g, 'n' || g FROM generate_series(1, 10) g");
  await db.query("SELECT create_distributed_table('app.notes', 'id', shard_count => 3)");
  const cl = new pg.Client({ ...c.options(), options: '-c search_path=app,public' });
  await cl.connect();
  try {
    expect((await cl.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 10 }]);
    expect((await cl.query('SELECT v FROM notes WHERE id = $1', [7])).rows).toEqual([{ v: 'n7' }]);
    await cl.query("INSERT INTO notes VALUES (11, 'n11')");
    await cl.query('UPDATE notes SET v = $1 WHERE id = $2', ['seven', 7]);
    await cl.query('ALTER TABLE notes ADD COLUMN extra int');
    expect((await cl.query('SELECT id, v, extra FROM notes WHERE id IN (7, 11) ORDER BY id')).rows).toEqual([{ id: 7, v: 'seven', extra: null }, { id: 11, v: 'n11', extra: null }]);
    // create_distributed_table finds an unqualified name by the search_path too (as 'pathy'::regclass would).
    await cl.query("CREATE TABLE pathy (id int); INSERT INTO pathy VALUES (1), (2)");
    await cl.query("SELECT create_distributed_table('pathy', 'id', shard_count => 2)");
    expect(await onNode(0, "SELECT schema_name FROM vecshard.tables WHERE table_name = 'pathy'")).toEqual([{ schema_name: 'app' }]);
    expect((await cl.query('SELECT count(*)::int AS n FROM pathy')).rows).toEqual([{ n: 2 }]);
    await cl.query('DROP TABLE pathy');
    // Dropped from the catalog too (it dropped the home node's shell only, and every session then failed to load it).
    expect(await onNode(0, "SELECT count(*)::int AS n FROM vecshard.tables WHERE table_name = 'pathy'")).toEqual([{ n: 0 }]);
    await cl.query('SET search_path TO public');
    await expect(cl.query('SELECT count(*) FROM notes')).rejects.toMatchObject({ code: '42P01' });
    await cl.query('BEGIN');
    await cl.query('SET LOCAL search_path TO app');
    expect((await cl.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 11 }]);
    await cl.query('COMMIT');
  } finally {
    await cl.end();
  }
  expect((await db.query('SELECT count(*)::int AS n FROM app.notes')).rows).toEqual([{ n: 11 }]);
  await db.query('DROP TABLE app.notes');
});

it('REINDEX and ALTER INDEX of a distributed table or its index reach every shard copy (they changed the empty shell only)', async () => {
  await db.query('CREATE TABLE reidx (id int NOT NULL, e vector(2))');
  await db.query("SELECT create_distributed_table('reidx', 'id', shard_count => 2, replication_factor => 2)");
  await db.query('CREATE INDEX reidx_e ON reidx USING hnsw (e vector_l2_ops)');
  await db.query('INSERT INTO reidx SELECT g, ARRAY[g, 1]::real[]::vector FROM generate_series(1, 200) g');
  const files = async () =>
    (await Promise.all([0, 1, 2].map((i) => onNode(i, "SELECT string_agg(pg_relation_filenode(indexrelid)::text, ',' ORDER BY indexrelid) AS f FROM pg_index WHERE indrelid::regclass::text LIKE 'vecshard_shards.reidx%'")))).map((r) => r[0].f);
  let before = await files();
  expect(before.filter(Boolean).join(',').split(',')).toHaveLength(4); // 2 shards × 2 copies
  for (const sql of ['REINDEX INDEX reidx_e', 'REINDEX TABLE reidx', 'REINDEX TABLE CONCURRENTLY reidx']) {
    await db.query(sql);
    const after = await files();
    for (let i = 0; i < 3; i++) if (before[i]) expect(after[i], `${sql} on node ${i}`).not.toBe(before[i]);
    before = after;
  }
  // Statements that cannot run in a pipeline go one by one to each shard (2 shards share each node here).
  await db.query('CREATE INDEX CONCURRENTLY reidx_id ON reidx (id)');
  for (const i of [0, 1, 2]) {
    const n = await onNode(i, "SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND tablename LIKE 'reidx%' AND indexdef LIKE '%(id)%'");
    expect(n[0].n, `node ${i}`).toBe(before[i] ? before[i].split(',').length : 0);
  }
  await db.query('VACUUM (ANALYZE) reidx');
  // ALTER INDEX ... SET reaches every shard copy's index (it changed the shell's only).
  await db.query('ALTER INDEX reidx_e SET (ef_construction = 32)');
  for (const i of [0, 1, 2]) {
    const opts = await onNode(i, "SELECT c.reloptions::text AS o FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid::regclass::text LIKE 'vecshard_shards.reidx%' AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'hnsw')");
    expect(opts.map((r) => r.o), `node ${i}`).toEqual(before[i] ? before[i].split(',').map(() => '{ef_construction=32}') : []);
  }
  await db.query('ALTER INDEX IF EXISTS no_such_index SET (fillfactor = 50)');
  await expect(db.query('REINDEX INDEX CONCURRENTLY reidx_e')).rejects.toMatchObject({ code: '0A000', hint: expect.stringContaining('REINDEX TABLE CONCURRENTLY') });
  // A plain table's index is the home node's business, as before.
  await db.query('CREATE TABLE reidx_plain (id int); CREATE INDEX reidx_plain_id ON reidx_plain (id)');
  await db.query('REINDEX INDEX CONCURRENTLY reidx_plain_id');
  expect((await db.query('SELECT count(*)::int AS n FROM reidx WHERE id <= 10')).rows).toEqual([{ n: 10 }]);
  await db.query('DROP TABLE reidx, reidx_plain');
});
