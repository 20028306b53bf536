// Replication with the embedded default (what `npm start` runs): two copies of each shard on PGlite nodes, a node
// added with vecshard.add_node(), rebalanced, and one removed, with the rows identical throughout.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { runQuery } from '../../src/shards/internal-query.ts';

let c: TestCoordinator & { dataDir?: string };

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 2 }, { pool: { acquireTimeoutMs: 20_000 } });
});
afterAll(async () => {
  await stopTestCoordinator(c);
});

/** Rows in each shard copy on each node, read on the node itself. */
async function copies(): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const n of c.cluster.members()) {
    const pool = c.cluster.pool(n, 'postgres');
    const conn = await pool.acquire();
    try {
      const tables = (await runQuery(conn, `SELECT tablename FROM pg_tables WHERE schemaname = 'vecshard_shards' ORDER BY 1`)).rows.map((r) => r[0]!);
      for (const t of tables) {
        const k = Number((await runQuery(conn, `SELECT count(*) FROM vecshard_shards.${t}`)).rows[0][0]);
        out.set(t, [...(out.get(t) ?? []), k]);
      }
    } finally {
      await pool.release(conn, true);
    }
  }
  return out;
}

it('keeps two copies of every shard on embedded nodes, and adds, rebalances and removes a node online', async () => {
  const db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  await db.query('CREATE TABLE e (id int, v vector(2))');
  await db.query(`SELECT create_distributed_table('e', 'id', shard_count => 4)`);
  expect((await db.query(`SELECT count(DISTINCT node_id)::int AS n FROM vecshard.placements`)).rows).toEqual([{ n: 2 }]);
  await db.query(`INSERT INTO e VALUES ${Array.from({ length: 200 }, (_, i) => `(${i}, '[${i},1]')`).join(', ')}`);
  for (const [, counts] of await copies()) {
    expect(counts.length).toBe(2);
    expect(counts[0]).toBe(counts[1]);
  }

  expect((await db.query('SELECT vecshard.add_node()')).rows).toEqual([{ add_node: 2 }]);
  expect(fs.existsSync(path.join(c.dataDir!, 'node-2'))).toBe(true);
  expect(Number((await db.query('SELECT vecshard.rebalance()')).rows[0].rebalance)).toBeGreaterThan(0);
  const perNode = (await db.query(`SELECT node_id, count(*)::int AS n FROM vecshard.placements GROUP BY 1 ORDER BY 1`)).rows.map((r) => r.n);
  expect(perNode.length).toBe(3);
  expect(Math.max(...perNode) - Math.min(...perNode)).toBeLessThanOrEqual(1);
  expect((await db.query('SELECT count(*)::int AS n, sum(id)::int AS s FROM e')).rows).toEqual([{ n: 200, s: 19900 }]);

  expect(Number((await db.query('SELECT vecshard.remove_node(1)')).rows[0].remove_node)).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(c.dataDir!, 'node-1', 'REMOVED'))).toBe(true);
  const placed = (await db.query(`SELECT shard_id, array_agg(node_id ORDER BY node_id) AS nodes FROM vecshard.placements GROUP BY 1`)).rows;
  for (const p of placed) expect(p.nodes).toEqual([0, 2]);
  expect((await db.query('SELECT count(*)::int AS n, sum(id)::int AS s FROM e')).rows).toEqual([{ n: 200, s: 19900 }]);
  expect((await db.query(`SELECT id FROM e ORDER BY v <-> '[10,1]' LIMIT 1`)).rows).toEqual([{ id: 10 }]);
  // ORDER BY merged on the coordinator, a batch at a time from each shard's portal on the embedded nodes.
  await db.query('CREATE TABLE ord (id int, w float8)');
  await db.query(`SELECT create_distributed_table('ord', 'id', shard_count => 3)`);
  await db.query('INSERT INTO ord SELECT g, g * 7919 % 3001 FROM generate_series(1, 5000) g');
  const w = (i: number) => (i * 7919) % 3001;
  const want = Array.from({ length: 5000 }, (_, i) => i + 1).sort((a, b) => w(b) - w(a) || a - b);
  expect((await db.query({ text: 'SELECT id FROM ord ORDER BY w DESC, id', rowMode: 'array' })).rows.map((r) => r[0])).toEqual(want);
  expect((await db.query({ text: 'SELECT id FROM ord ORDER BY w DESC, id LIMIT 3 OFFSET 1500', rowMode: 'array' })).rows.map((r) => r[0])).toEqual(want.slice(1500, 1503));
  await db.end();
}, 120_000);
