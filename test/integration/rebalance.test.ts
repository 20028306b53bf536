// Adding a node (to the config, then a restart) and rebalancing online: copies even out, queries keep working,
// rows stay identical. Also vecshard.nodes and move_shard_placement's checks.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator | undefined;

beforeAll(async () => {
  pgs = await startPgServers(3);
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

it('evens out copies onto a new node while queries run', async () => {
  c = await startTestCoordinator({ servers: pgs.servers.slice(0, 2) });
  let db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE TABLE r (id int PRIMARY KEY, e vector(2))');
  await db.query(`SELECT create_distributed_table('r', 'id', shard_count => 4)`);
  await db.query(`INSERT INTO r SELECT * FROM (VALUES (0, '[0,0]'::vector)) v`).catch(() => {});
  const rows = Array.from({ length: 500 }, (_, i) => `(${i}, '[${Math.cos(i)},${Math.sin(i)}]')`).join(',');
  await db.query(`INSERT INTO r VALUES ${rows}`);
  const before = (await db.query(`SELECT count(*)::int AS n, sum(id)::int AS s FROM r`)).rows[0];
  await db.end();
  await c.close();

  // The third node joins through the config; a restart picks it up.
  c = await startTestCoordinator({ servers: pgs.servers });
  db = new pg.Client(c.options());
  await db.connect();
  const nodes = (await db.query(`SELECT node_id, health FROM vecshard.nodes ORDER BY node_id`)).rows;
  expect(nodes).toEqual([0, 1, 2].map((n) => ({ node_id: n, health: 'up' })));

  let stop = false;
  let answered = 0;
  const reader = (async () => {
    const q = new pg.Client(c!.options());
    await q.connect();
    while (!stop) {
      const r = await q.query(`SELECT id FROM r ORDER BY e <-> '[1,0]' LIMIT 5`);
      expect(r.rows.length).toBe(5);
      answered++;
    }
    await q.end();
  })();
  const moves = (await db.query('SELECT vecshard.rebalance()')).rows[0].rebalance;
  stop = true;
  await reader;
  expect(moves).toBeGreaterThan(0);
  expect(answered).toBeGreaterThan(0);

  const perNode = (await db.query(`SELECT node_id, count(*)::int AS n FROM vecshard.placements WHERE state = 'active' GROUP BY 1 ORDER BY 1`)).rows;
  const counts = perNode.map((r) => r.n);
  expect(perNode.length).toBe(3);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  const distinct = (await db.query(`SELECT shard_id, count(DISTINCT node_id)::int AS d, count(*)::int AS n FROM vecshard.placements GROUP BY 1`)).rows;
  for (const d of distinct) expect(d.d).toBe(d.n);
  expect((await db.query(`SELECT count(*)::int AS n, sum(id)::int AS s FROM r`)).rows[0]).toEqual(before);

  await expect(db.query('SELECT vecshard.move_shard_placement(1, 0, 9)')).rejects.toMatchObject({ code: '22023', message: expect.stringMatching(/there is no node 9/) });
  await db.end();
}, 120_000);
