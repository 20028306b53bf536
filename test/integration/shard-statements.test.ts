// Parameterised shard SELECTs are prepared once per node connection (executor/shard-tasks.ts): answers stay right
// across many executions (generic plans), DDL through vecshard, more statements than a connection keeps, and a
// Parse the node refuses.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { runTasks } from '../../src/executor/shard-tasks.ts';
import type { ShardTask } from '../../src/planner/types.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;
const rows = Array.from({ length: 60 }, (_, i) => ({ id: i, tenant: i % 3, v: [Math.sin(i), Math.cos(i * 0.7), (i % 7) / 7] }));
const l2 = (a: number[], b: number[]) => Math.hypot(...a.map((x, i) => x - b[i]));
const nearest = (q: number[], k: number, tenant?: number) =>
  rows
    .filter((r) => tenant === undefined || r.tenant === tenant)
    .sort((a, b) => l2(a.v, q) - l2(b.v, q) || a.id - b.id)
    .slice(0, k)
    .map((r) => r.id);

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { size: 4 } });
  db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  await db.query('CREATE TABLE docs (id int PRIMARY KEY, tenant int, v vector(3))');
  await db.query(`SELECT create_distributed_table('docs', 'id', shard_count => 4)`);
  await db.query(`INSERT INTO docs VALUES ${rows.map((r) => `(${r.id}, ${r.tenant}, '[${r.v.join(',')}]')`).join(',')}`);
  await db.query('SET vecshard.exact = on');
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

it('answers a prepared kNN right on every execution, before and after the table changes', async () => {
  const knn = { name: 'knn', text: 'SELECT id FROM docs WHERE tenant = $1 ORDER BY v <-> $2 LIMIT 4' };
  for (let i = 0; i < 12; i++) {
    const q = [Math.cos(i), Math.sin(i * 1.3), 0.5];
    const got = await db.query({ ...knn, values: [i % 3, `[${q.join(',')}]`] });
    expect(got.rows.map((r) => r.id)).toEqual(nearest(q, 4, i % 3));
  }
  const star = 'SELECT * FROM docs ORDER BY v <-> $1 LIMIT 2';
  for (let i = 0; i < 6; i++) expect(Object.keys((await db.query(star, ['[0,1,0]'])).rows[0])).toEqual(['id', 'tenant', 'v']);
  // A prepared SELECT * on the shards would fail with "cached plan must not change result type": it is not reused.
  await db.query(`ALTER TABLE docs ADD COLUMN note text DEFAULT 'n'`);
  const after = await db.query(star, ['[0,1,0]']);
  expect(after.rows.map((r) => r.id)).toEqual(nearest([0, 1, 0], 2));
  expect(after.rows[0].note).toBe('n');
  await db.query('ALTER TABLE docs DROP COLUMN note');
  expect(Object.keys((await db.query(star, ['[0,1,0]'])).rows[0])).toEqual(['id', 'tenant', 'v']);
});

it('keeps working past the statements a connection keeps', async () => {
  for (let i = 0; i < 80; i++) {
    const got = await db.query(`SELECT id, $1::int + ${i} AS k FROM docs ORDER BY v <-> $2 LIMIT 1`, [1, '[1,0,0]']);
    expect(got.rows[0]).toEqual({ id: nearest([1, 0, 0], 1)[0], k: 1 + i });
  }
  expect((await db.query('SELECT id, $1::int AS k FROM docs ORDER BY v <-> $2 LIMIT 1', [5, '[1,0,0]'])).rows[0].k).toBe(5);
});

it('forgets a shard statement whose Parse the node refused, so the next try parses it again', async () => {
  // Straight through the executor on one pooled connection: a client cannot reach this, because node 0 parses
  // the client's statement first and refuses it there.
  const pool = c.cluster.pool(0, 'postgres');
  const conn = await pool.acquire();
  try {
    const task = (sql: string): ShardTask => ({ nodeId: 0, shard: 's', shardIndex: 0, sql, params: { types: [23], formats: [0], values: [Buffer.from('1')] } });
    for (let i = 0; i < 2; i++) {
      const e = await runTasks(async () => conn, [task('SELECT later_fn($1)')], [], false, () => {}).catch((x) => x);
      expect(e.fields.code).toBe('42883');
    }
    await runTasks(async () => conn, [task('SELECT 1 WHERE $1 > 0')], [], false, () => {}); // Parse, Bind, Execute
    const again = await runTasks(async () => conn, [task('SELECT 1 WHERE $1 > 0')], [], false, () => {}); // Bind, Execute
    expect(again[0].rows.length).toBe(1);
  } finally {
    await pool.release(conn, true);
  }
});

it('a SET LOCAL reaches every node the transaction reaches, and ends with it', async () => {
  const marks = async () => {
    const r = await db.query(`SELECT id, current_setting('vecshard_test.mark', true) AS mark FROM docs ORDER BY v <-> $1 LIMIT 40`, ['[1,0,0]']);
    expect(r.rows.length).toBe(40); // rows from every shard, so from both nodes
    return new Set(r.rows.map((x) => x.mark ?? ''));
  };
  await db.query('BEGIN');
  await db.query(`SET LOCAL vecshard_test.mark = 'one'`);
  expect(await marks()).toEqual(new Set(['one']));
  // Once the other node is in the transaction; and in the extended protocol (pgbench, postgres.js send it so).
  await db.query({ text: `SET LOCAL vecshard_test.mark = 'two'`, values: [] });
  await db.query({ name: 'set-three', text: `SET LOCAL vecshard_test.mark = 'three'` });
  expect(await marks()).toEqual(new Set(['three']));
  await db.query('COMMIT');
  expect(await marks()).toEqual(new Set(['']));
});

it("vecshard's own settings set with SET LOCAL plan the transaction's queries, and end with it", async () => {
  const plan = async () => (await db.query(`EXPLAIN SELECT id FROM docs ORDER BY v <-> '[1,0,0]' LIMIT 3`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(await plan()).toContain('exact scan'); // the session has vecshard.exact = on
  await db.query('BEGIN');
  await db.query('SET LOCAL vecshard.exact = off');
  expect(await plan()).not.toContain('exact scan');
  await db.query('SET LOCAL vecshard.exact TO DEFAULT');
  expect(await plan()).not.toContain('exact scan');
  await db.query('COMMIT');
  expect(await plan()).toContain('exact scan');
});
