// Adding a node, rebalancing and removing a node, all online: copies even out, queries keep working, rows stay
// identical, vecshard.tasks shows the copies. Also vecshard.nodes and move_shard_placement's checks.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { within } from '../helpers/wait.ts';

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
  const db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE TABLE r (id int PRIMARY KEY, e vector(2))');
  await db.query(`SELECT create_distributed_table('r', 'id', shard_count => 4)`);
  await db.query(`INSERT INTO r SELECT * FROM (VALUES (-1, '[0,0]'::vector)) v`); // INSERT ... SELECT is routed too
  const rows = Array.from({ length: 500 }, (_, i) => `(${i}, '[${Math.cos(i)},${Math.sin(i)}]')`).join(',');
  await db.query(`INSERT INTO r VALUES ${rows}`);
  const before = (await db.query(`SELECT count(*)::int AS n, sum(id)::int AS s FROM r`)).rows[0];
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
  // The third node joins online; it gets the catalog and the shells, then its share of copies.
  const added = (await db.query(`SELECT vecshard.add_node($$${pgs.servers[2].url}$$)`)).rows[0].add_node;
  expect(added).toBe(2);
  const nodes = (await db.query(`SELECT node_id, health FROM vecshard.nodes ORDER BY node_id`)).rows;
  expect(nodes).toEqual([0, 1, 2].map((n) => ({ node_id: n, health: 'up' })));
  await expect(db.query(`SELECT vecshard.add_node($$${pgs.servers[2].url}$$)`)).rejects.toMatchObject({ code: '42710' });
  const onNode2 = new pg.Client({ connectionString: pgs.servers[2].url + '/postgres' });
  await onNode2.connect();
  expect((await onNode2.query(`SELECT to_regclass('public.r') IS NOT NULL AS shell, (SELECT count(*)::int FROM vecshard.shards) AS shards`)).rows[0]).toEqual({ shell: true, shards: 4 });
  await onNode2.end();

  const moves = (await db.query('SELECT vecshard.rebalance()')).rows[0].rebalance;
  expect(moves).toBeGreaterThan(0);
  // Every copy it built is in vecshard.tasks, done, with all its rows.
  const tasks = (await db.query(`SELECT kind, state, rows_done, rows_total FROM vecshard.tasks`)).rows;
  expect(tasks.length).toBe(moves);
  for (const t of tasks) expect(t).toMatchObject({ kind: 'move', state: 'done', rows_done: t.rows_total });
  expect(tasks.reduce((a, t) => a + Number(t.rows_total), 0)).toBeGreaterThan(0);

  const perNode = (await db.query(`SELECT node_id, count(*)::int AS n FROM vecshard.placements WHERE state = 'active' GROUP BY 1 ORDER BY 1`)).rows;
  const counts = perNode.map((r) => r.n);
  expect(perNode.length).toBe(3);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  const distinct = (await db.query(`SELECT shard_id, count(DISTINCT node_id)::int AS d, count(*)::int AS n FROM vecshard.placements GROUP BY 1`)).rows;
  for (const d of distinct) expect(d.d).toBe(d.n);
  expect((await db.query(`SELECT count(*)::int AS n, sum(id)::int AS s FROM r`)).rows[0]).toEqual(before);

  // Node 1 leaves: drained first (its copies rebuilt elsewhere), while the reader goes on.
  const drained = (await db.query('SELECT vecshard.remove_node(1)')).rows[0].remove_node;
  stop = true;
  await within('the reader to stop', reader, 30_000);
  expect(answered).toBeGreaterThan(0);
  expect(drained).toBeGreaterThan(0);
  expect((await db.query(`SELECT node_id, health FROM vecshard.nodes ORDER BY node_id`)).rows.map((r) => r.health)).toEqual(['up', 'removed', 'up']);
  const after = (await db.query(`SELECT shard_id, array_agg(node_id ORDER BY node_id) AS nodes FROM vecshard.placements WHERE state = 'active' GROUP BY 1`)).rows;
  expect(after.length).toBe(4);
  for (const a of after) expect(a.nodes).toEqual([0, 2]);
  expect((await db.query(`SELECT count(*)::int AS n, sum(id)::int AS s FROM r`)).rows[0]).toEqual(before);
  await expect(db.query('SELECT vecshard.remove_node(0)')).rejects.toMatchObject({ code: '0A000' });
  // The removed node's copies are dropped once reads planned before the move are done.
  const onNode1 = new pg.Client({ connectionString: pgs.servers[1].url + '/postgres' });
  await onNode1.connect();
  let left = -1;
  for (let i = 0; i < 40 && left !== 0; i++) {
    await new Promise((r) => setTimeout(r, 250));
    left = (await onNode1.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'vecshard_shards'`)).rows[0].n;
  }
  await onNode1.end();
  expect(left).toBe(0);

  await expect(db.query('SELECT vecshard.move_shard_placement(1, 0, 9)')).rejects.toMatchObject({ code: '22023', message: expect.stringMatching(/there is no node 9/) });
  await db.end();
}, 120_000);
