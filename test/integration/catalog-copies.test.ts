// The catalog lives on every node: with node 0 down a coordinator starts from the surviving copies, serves the
// distributed tables and refuses (clearly) what only node 0 could do; node 0's copy catches up when it is back.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
const opts = { pool: { connectTimeoutMs: 1000, healthCheckIntervalMs: 200, acquireTimeoutMs: 5000 } };

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs, opts);
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

const onNode = (i: number, sql: string) => queryNode(pgs.servers[i], sql);

const catalogOf = (i: number) =>
  onNode(
    i,
    `SELECT (SELECT version FROM vecshard.catalog_state) AS version,
            (SELECT string_agg(table_name || ':' || dist_column, ',') FROM vecshard.tables) AS tables,
            (SELECT string_agg(shard_id || ':' || shard_name, ',' ORDER BY shard_id) FROM vecshard.shards) AS shards,
            (SELECT string_agg(shard_id || ':' || node_id || ':' || state, ',' ORDER BY shard_id, node_id) FROM vecshard.placements) AS placements,
            (SELECT digest FROM vecshard.catalog_state) AS digest,
            to_regclass('public.items') IS NOT NULL AS shell`,
  ).then((r) => r[0]);

it('keeps the catalog and shells on every node, and serves from the survivors while node 0 is down', async () => {
  let db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE TABLE items (id bigserial, tenant int NOT NULL, embedding vector(2), PRIMARY KEY (id, tenant))');
  await db.query(`SELECT create_distributed_table('items', 'tenant', shard_count => 4, replication_factor => 2)`);
  await db.query(`INSERT INTO items (tenant, embedding) VALUES ${Array.from({ length: 40 }, (_, i) => `(${i % 5}, '[${i + 1},1]')`).join(', ')}`);
  await db.query('CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)');
  const first = await catalogOf(0);
  expect(first.shell).toBe(true);
  expect(first.tables).toBe('items:tenant');
  for (const i of [1, 2]) expect(await catalogOf(i)).toEqual(first);
  // The shell's index is on every node too (psql's \d reads it there when a node stands in).
  expect((await onNode(2, `SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'items' AND indexdef LIKE '%hnsw%'`))[0].n).toBe(1);

  await db.end();
  await c.close();
  pgs.servers[0].stop();
  c = await startTestCoordinator(pgs, opts);
  db = new pg.Client(c.options());
  await db.connect();
  // Distributed reads and writes (with explicit ids) go on; the catalog comes from nodes 1 and 2.
  expect((await db.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 40 }]);
  await db.query(`INSERT INTO items (id, tenant, embedding) VALUES (1000, 1, '[0,0]')`);
  expect((await db.query(`SELECT id FROM items ORDER BY embedding <-> '[0,0]' LIMIT 1`)).rows).toEqual([{ id: '1000' }]);
  expect((await db.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 ORDER BY attnum`)).rows.map((r) => r.attname)).toEqual(['id', 'tenant', 'embedding']);
  // What only node 0 holds is refused with 55000, naming the reason.
  await expect(db.query(`INSERT INTO items (tenant, embedding) VALUES (1, '[1,1]')`)).rejects.toMatchObject({ code: '55000', message: expect.stringContaining('node 0 is down') });
  await expect(db.query('CREATE TABLE plain (a int)')).rejects.toMatchObject({ code: '55000', message: expect.stringContaining('node 0 is down') });
  await expect(db.query('ALTER TABLE items ADD COLUMN note text')).rejects.toMatchObject({ code: '55000', message: expect.stringContaining('needs every node') });
  // Losing a copy on node 0 is recorded on the survivors' catalog copies.
  const versionWhileDown = (await catalogOf(1)).version;
  expect(Number(versionWhileDown)).toBeGreaterThan(Number(first.version));
  expect(await catalogOf(2)).toEqual(await catalogOf(1));

  // Node 0 comes back: its copy catches up, its shard copies are repaired, and it is the home node again.
  pgs.servers[0].start();
  const end = Date.now() + 20_000;
  let inactive = -1;
  while (Date.now() < end) {
    await db.query('SELECT vecshard.repair()').catch(() => {});
    inactive = (await db.query(`SELECT count(*)::int AS n FROM vecshard.placements WHERE state = 'inactive'`)).rows[0].n;
    if (inactive === 0) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(inactive).toBe(0);
  // Each copy commits on its own node, and a reader may look between two commits: the copies agree within moments.
  const same = async () => JSON.stringify([await catalogOf(0), await catalogOf(2)]) === JSON.stringify([await catalogOf(1), await catalogOf(1)]);
  for (const until = Date.now() + 5000; Date.now() < until && !(await same()); ) await new Promise((r) => setTimeout(r, 100));
  expect(await catalogOf(0)).toEqual(await catalogOf(1));
  expect(await catalogOf(2)).toEqual(await catalogOf(1));
  await db.end();
  db = new pg.Client(c.options());
  await db.connect();
  await db.query(`INSERT INTO items (tenant, embedding) VALUES (2, '[5,5]')`);
  await db.query('ALTER TABLE items ADD COLUMN note text');
  expect((await db.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 42 }]);
  await db.end();
}, 90_000);

it('copies each inactive shard copy once when repairs run side by side', async () => {
  const db = new pg.Client(c.options());
  db.on('error', () => {});
  await db.connect();
  await db.query('CREATE TABLE twice (id int, k int, PRIMARY KEY (id, k))');
  await db.query(`SELECT create_distributed_table('twice', 'k', shard_count => 6, replication_factor => 2)`);
  pgs.servers[2].stop();
  // Writes to every shard while node 2 is down leave its copies inactive.
  await db.query(`INSERT INTO twice VALUES ${Array.from({ length: 60 }, (_, i) => `(${i}, ${i})`).join(", ")}`);
  const inactive = (await db.query(`SELECT count(*)::int AS n FROM vecshard.placements WHERE state = 'inactive'`)).rows[0].n;
  expect(inactive).toBeGreaterThan(0);
  const before = Number((await db.query('SELECT coalesce(max(task_id), 0) AS m FROM vecshard.tasks')).rows[0].m);
  pgs.servers[2].start();
  // Once node 2 answers its health check a repair starts by itself; three more run beside it.
  const up = async () => (await db.query(`SELECT health FROM vecshard.nodes WHERE node_id = $1`, [2])).rows[0]?.health === 'up';
  for (const until = Date.now() + 20_000; Date.now() < until && !(await up()); ) await new Promise((r) => setTimeout(r, 20));
  await Promise.all([0, 1, 2].map(() => db.query('SELECT vecshard.repair()')));
  const left = (await db.query(`SELECT count(*)::int AS n FROM vecshard.placements WHERE state = 'inactive'`)).rows[0].n;
  expect(left).toBe(0);
  const tasks = (await db.query(`SELECT shard, target_node FROM vecshard.tasks WHERE task_id > $1 AND kind = 'repair'`, [before])).rows;
  expect(tasks.length).toBe(inactive);
  expect(new Set(tasks.map((t) => `${t.shard}@${t.target_node}`)).size).toBe(inactive);
  await db.end();
}, 60_000);
