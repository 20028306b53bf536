// create_distributed_table and index DDL inside a transaction block, as migration tools run them: nothing is
// visible to other sessions before COMMIT, everything is after, and ROLLBACK leaves no trace on any node.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let a: pg.Client;
let b: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs);
  a = new pg.Client(c.options());
  b = new pg.Client(c.options());
  await a.connect();
  await b.connect();
});
afterAll(async () => {
  await a?.end();
  await b?.end();
  await c?.close();
  pgs?.stopAll();
});

const shardTables = async () => (await Promise.all(pgs.servers.map((s) => queryNode(s, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'vecshard_shards'")))).map((r) => r[0].n);

it('rolls back a create_distributed_table everywhere', async () => {
  // A first distributed table, so the catalog exists and sessions cache it.
  await a.query("CREATE TABLE other (id int PRIMARY KEY); SELECT create_distributed_table('other', 'id', shard_count => 2)");
  const before = await shardTables();
  await a.query('BEGIN');
  await a.query('CREATE TABLE items (id int PRIMARY KEY, v vector(2))');
  await a.query("SELECT create_distributed_table('items', 'id', shard_count => 4)");
  await a.query("INSERT INTO items VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]')");
  // Inside the transaction the table is distributed: a kNN scatters over the shards and sees the rows.
  expect((await a.query("SELECT id FROM items ORDER BY v <-> '[1,0]' LIMIT 2")).rows.map((r) => r.id)).toEqual([1, 3]);
  expect((await a.query('EXPLAIN SELECT id FROM items WHERE id = 2')).rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/router/);
  // Outside it, nothing yet.
  await expect(b.query('SELECT count(*) FROM items')).rejects.toMatchObject({ code: '42P01' });
  await a.query('ROLLBACK');
  expect(await shardTables()).toEqual(before);
  for (const s of pgs.servers) expect(await queryNode(s, "SELECT count(*)::int AS n FROM vecshard.tables WHERE table_name = 'items'")).toEqual([{ n: 0 }]);
  await expect(a.query('SELECT count(*) FROM items')).rejects.toMatchObject({ code: '42P01' });
});

it('commits a create_distributed_table with its index, and other sessions see it at once', async () => {
  expect((await b.query('SELECT count(*)::int AS n FROM other')).rows[0].n).toBe(0); // b has a cached catalog
  await a.query('BEGIN');
  await a.query('CREATE TABLE items (id int PRIMARY KEY, v vector(2))');
  await a.query("SELECT create_distributed_table('items', 'id', shard_count => 4)");
  await a.query('CREATE INDEX ON items USING hnsw (v vector_l2_ops)');
  await a.query(`INSERT INTO items VALUES ${Array.from({ length: 20 }, (_, i) => `(${i + 1}, '[${i + 1},1]')`).join(', ')}`);
  await a.query('COMMIT');
  expect((await b.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(20);
  expect((await b.query("SELECT id FROM items ORDER BY v <-> '[3.2,1]' LIMIT 3")).rows.map((r) => r.id)).toEqual([3, 4, 2]);
  // The rows are on the shards, not in node 0's shell.
  expect(await queryNode(pgs.servers[0], 'SELECT count(*)::int AS n FROM public.items')).toEqual([{ n: 0 }]);
  const perNode = await Promise.all(pgs.servers.map((s) => queryNode(s, "SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND indexdef LIKE '%hnsw%'")));
  expect(perNode.map((r) => r[0].n).reduce((x, y) => x + y, 0)).toBe(8); // 4 shards, 2 copies each

  // DROP INDEX by the name Postgres gave the unnamed index drops each shard's copy, whatever its name.
  const [{ indexname }] = (await b.query("SELECT indexname FROM pg_indexes WHERE tablename = 'items' AND indexdef LIKE '%hnsw%'")).rows;
  await b.query(`DROP INDEX ${indexname}`);
  const after = await Promise.all(pgs.servers.map((s) => queryNode(s, "SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND indexdef LIKE '%hnsw%'")));
  expect(after.map((r) => r[0].n)).toEqual([0, 0]);
  await expect(b.query('DROP INDEX no_such_index')).rejects.toMatchObject({ code: '42704' });
});
