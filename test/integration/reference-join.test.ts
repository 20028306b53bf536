// Joins of a distributed table with reference tables run on each shard's node against its local copy of the
// reference table: kNN, routed lookups and aggregates give the answers one table would; other joins run on the
// home node over the distributed tables' rows.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;
const vec = (i: number) => [Math.sin(i), Math.cos(i * 0.7)];
const NAMES = ['alpha', 'beta', 'gamma'];

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs);
  db = new pg.Client(c.options());
  await db.connect();
  await db.query("CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL); SELECT create_reference_table('tenants')");
  await db.query(`INSERT INTO tenants VALUES ${NAMES.map((n, i) => `(${i}, '${n}')`).join(', ')}`);
  await db.query("CREATE TABLE docs (id int PRIMARY KEY, tenant int NOT NULL, embedding vector(2)); SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 2)");
  await db.query(`INSERT INTO docs VALUES ${Array.from({ length: 200 }, (_, i) => `(${i}, ${i % 3}, '[${vec(i).join(',')}]')`).join(', ')}`);
  await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)'); // local: lives on node 0 only
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

const l2 = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);

it('runs a kNN joined with a reference table on every shard, exactly', async () => {
  await db.query('SET vecshard.exact = on');
  const q = [0.3, -0.2];
  const r = await db.query('SELECT d.id, t.name FROM docs d JOIN tenants t ON t.id = d.tenant WHERE t.name = $2 ORDER BY d.embedding <-> $1 LIMIT 5', [`[${q.join(',')}]`, 'beta']);
  const expected = Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === 1).sort((a, b) => l2(vec(a), q) - l2(vec(b), q)).slice(0, 5);
  expect(r.rows).toEqual(expected.map((id) => ({ id, name: 'beta' })));
  const plan = (await db.query("EXPLAIN SELECT d.id FROM docs d JOIN tenants t ON t.id = d.tenant ORDER BY d.embedding <-> '[0,0]' LIMIT 3")).rows.map((x) => x['QUERY PLAN']).join('\n');
  expect(plan).toMatch(/knn scatter-gather/);
  expect(plan).toMatch(/tenants_0000/);
  await db.query('RESET vecshard.exact');
});

it('routes a lookup by the distribution column, joins with commas, and aggregates across shards', async () => {
  expect((await db.query('SELECT d.id, t.name FROM docs d JOIN tenants t ON t.id = d.tenant WHERE d.id = $1', [7])).rows).toEqual([{ id: 7, name: 'beta' }]);
  expect((await db.query('SELECT d.id, t.name FROM docs d, tenants t WHERE t.id = d.tenant AND d.id IN (3, 4) ORDER BY d.id')).rows).toEqual([
    { id: 3, name: 'alpha' },
    { id: 4, name: 'beta' },
  ]);
  const counts = await db.query('SELECT t.name, count(*)::int AS n FROM docs d JOIN tenants t ON t.id = d.tenant GROUP BY t.name ORDER BY t.name');
  expect(counts.rows).toEqual([
    { name: 'alpha', n: 67 },
    { name: 'beta', n: 67 },
    { name: 'gamma', n: 66 },
  ]);
});

it('runs joins it cannot run on the shards on the home node, over the distributed tables rows', async () => {
  await db.query(`INSERT INTO notes VALUES (3, 'three'), (150, 'one fifty'), (999, 'none')`);
  expect((await db.query('SELECT d.id, n.body FROM docs d JOIN notes n ON n.id = d.id ORDER BY d.id')).rows).toEqual([
    { id: 3, body: 'three' },
    { id: 150, body: 'one fifty' },
  ]);
  await db.query("CREATE TABLE more (id int PRIMARY KEY); SELECT create_distributed_table('more', 'id')");
  await db.query('INSERT INTO more VALUES (1), (7), (500)');
  expect((await db.query('SELECT d.id, d.tenant FROM docs d JOIN more m ON m.id = d.id ORDER BY d.id')).rows).toEqual([
    { id: 1, tenant: 1 },
    { id: 7, tenant: 1 },
  ]);
  expect((await db.query('SELECT d.id FROM docs d JOIN (SELECT 1 AS id) x ON x.id = d.id')).rows).toEqual([{ id: 1 }]);
});
