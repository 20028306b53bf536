// A repair must not copy a shard while a client's open transaction has written to it: the write commits later,
// and the copy made before would miss it for good. The shard write locks of a write in a transaction block (and of
// a COPY in one) are held until the transaction ends.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { healthCheckIntervalMs: 200, healthCheckTimeoutMs: 1000, connectTimeoutMs: 1000 } });
}, 60_000);

afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

it("a repair waits for the open transaction that wrote to the shard, and the new copy has that transaction's rows", async () => {
  const admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE TABLE t (id int PRIMARY KEY, note text)');
  await admin.query(`SELECT create_distributed_table('t', 'id', shard_count => 1, replication_factor => 2)`);
  await admin.query(`INSERT INTO t VALUES (1, 'before')`);
  // Node 1 goes away; a write makes its copy inactive.
  pgs.servers[1].stop();
  await waitFor('node 1 to be seen down', async () => (await admin.query('SELECT health FROM vecshard.nodes WHERE node_id = 1')).rows[0].health !== 'up', { timeoutMs: 10_000 });
  await admin.query(`INSERT INTO t VALUES (2, 'while down')`);
  expect((await admin.query(`SELECT state FROM vecshard.placements WHERE node_id = 1`)).rows).toEqual([{ state: 'inactive' }]);

  const tx = new pg.Client(c.options());
  await tx.connect();
  await tx.query('BEGIN');
  await tx.query(`INSERT INTO t VALUES (3, 'in a transaction')`);
  // Node 1 is back: the repair starts on its own, and must wait for the transaction.
  pgs.servers[1].start();
  await sleep(3000);
  expect((await admin.query(`SELECT state FROM vecshard.placements WHERE node_id = 1`)).rows).toEqual([{ state: 'inactive' }]);
  await tx.query('COMMIT');
  await waitFor('the copy to be repaired', async () => (await admin.query(`SELECT state FROM vecshard.placements WHERE node_id = 1`)).rows[0].state === 'active', { timeoutMs: 20_000 });
  const [shard] = (await admin.query('SELECT shard_name FROM vecshard.shards')).rows;
  const onNode1 = await queryNode(pgs.servers[1], `SELECT id FROM vecshard_shards.${shard.shard_name} ORDER BY id`);
  const onNode0 = await queryNode(pgs.servers[0], `SELECT id FROM vecshard_shards.${shard.shard_name} ORDER BY id`);
  expect(onNode1).toEqual(onNode0);
  await tx.end();
  await admin.end();
}, 90_000);
