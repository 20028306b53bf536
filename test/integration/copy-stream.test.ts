// COPY into a distributed table streams to the shards (one connection per shard copy, committed together): all
// rows or none, whether a node refuses a row, the coordinator does, or the client gives up half-way.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { size: 20 } });
  db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE TABLE items (id bigint NOT NULL, tag text, embedding vector(3))');
  // 8 shards with 2 copies on 2 nodes: 8 COPY streams per node, all in one two-phase commit.
  await db.query("SELECT create_distributed_table('items', 'id', shard_count => 8, replication_factor => 2)");
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

const line = (i: number, tag = `t\\t${i}`) => `${i}\t${tag}\t[${i % 7},${i % 5},1]\n`;
const copy = (text: string, client = db) => pipeline(Readable.from([text]), client.query(copyFrom('COPY items (id, tag, embedding) FROM STDIN')));
const count = async () => (await db.query('SELECT count(*)::int AS n FROM items')).rows[0].n;
const prepared = async () => (await Promise.all(pgs.servers.map((s) => queryNode(s, 'SELECT count(*)::int AS n FROM pg_prepared_xacts')))).map((r) => r[0].n);

it('streams 30,000 rows to every copy of every shard, escapes and all', async () => {
  await copy(Array.from({ length: 30_000 }, (_, i) => line(i)).join(''));
  expect(await count()).toBe(30_000);
  expect((await db.query('SELECT tag, embedding::text AS e FROM items WHERE id = 12345')).rows).toEqual([{ tag: 't\t12345', e: '[4,0,1]' }]);
  // Both nodes hold a full copy of every shard.
  const shards = await queryNode(pgs.servers[0], "SELECT shard_name FROM vecshard.shards WHERE table_name = 'items'");
  let total = 0;
  for (const { shard_name } of shards) {
    const [a, b] = await Promise.all(pgs.servers.map((s) => queryNode(s, `SELECT count(*)::int AS n FROM vecshard_shards.${shard_name}`)));
    expect(a[0].n).toBe(b[0].n);
    expect(a[0].n).toBeGreaterThan(0);
    total += a[0].n;
  }
  expect(total).toBe(30_000);
  // It streamed: a connection per shard copy (8 per node), not one per node.
  for (const n of [0, 1]) expect(c.cluster.poolStats().find((p) => p.node === n && p.database === 'postgres')!.size).toBeGreaterThanOrEqual(8);
  expect(await prepared()).toEqual([0, 0]);
});

it('keeps nothing when a node refuses a row in the middle', async () => {
  const rows = Array.from({ length: 20_000 }, (_, i) => line(100_000 + i));
  rows[15_000] = `115000\tbad\t[1,2]\n`; // 2 dimensions, not 3
  await expect(copy(rows.join(''))).rejects.toMatchObject({ code: '22000', message: expect.stringMatching(/expected 3 dimensions, not 2/) });
  expect(await count()).toBe(30_000);
  expect(await prepared()).toEqual([0, 0]);
});

it('keeps nothing when the coordinator refuses a row, or the client fails the COPY', async () => {
  const rows = Array.from({ length: 12_000 }, (_, i) => line(200_000 + i));
  rows[11_000] = `\\N\tnull id\t[1,1,1]\n`;
  await expect(copy(rows.join(''))).rejects.toMatchObject({ code: '23502' });
  expect(await count()).toBe(30_000);

  const stream = db.query(copyFrom('COPY items (id, tag, embedding) FROM STDIN'));
  stream.write(Array.from({ length: 10_000 }, (_, i) => line(300_000 + i)).join(''));
  stream.destroy(new Error('client gave up'));
  await expect(new Promise((resolve, reject) => stream.on('error', reject).on('finish', resolve))).rejects.toThrow();
  // The same connection carries on.
  expect(await count()).toBe(30_000);
  expect(await prepared()).toEqual([0, 0]);
});

it('leaves the pool usable: many more COPYs and queries after the failures', async () => {
  for (let k = 0; k < 5; k++) await copy(Array.from({ length: 1000 }, (_, i) => line(400_000 + k * 1000 + i)).join(''));
  expect(await count()).toBe(35_000);
  expect((await db.query("SELECT id FROM items ORDER BY embedding <-> '[6,4,1]' LIMIT 1")).rows).toHaveLength(1);
});
