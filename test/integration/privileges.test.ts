// vecshard's admin functions need what Citus asks: a superuser or a member of vecshard_admin; distributing a table
// needs its owner — judged by the role the client logged in as, not by the coordinator's own node user (issue 16).
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { connectAs, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let admin: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { auth: { method: 'scram-sha-256', users: { postgres: 'admin-pw', app: 'app-pw', ghost: 'ghost-pw' } } });
  admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE ROLE app LOGIN');
  await admin.query('CREATE TABLE owned_by_postgres (id int)');
  await admin.query('CREATE TABLE owned_by_app (id int)');
  await admin.query('ALTER TABLE owned_by_app OWNER TO app');
});
afterAll(async () => {
  await admin?.end();
  await c?.close();
  pgs?.stopAll();
});

const as = (user: string, password: string) => connectAs(c, user, password);

it("create_distributed_table wants the table's owner", async () => {
  const app = await as('app', 'app-pw');
  // A fixed user of vecshard's with no role on the nodes is refused at login, as Postgres refuses an unknown role.
  await expect(as('ghost', 'ghost-pw')).rejects.toMatchObject({ code: '28000', message: 'role "ghost" does not exist' });
  try {
    await expect(app.query(`SELECT create_distributed_table('owned_by_postgres', 'id')`)).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/must be owner of table owned_by_postgres/) });
    await app.query(`SELECT create_distributed_table('owned_by_app', 'id', shard_count => 2)`);
    expect((await admin.query(`SELECT count(*)::int AS n FROM vecshard.shards WHERE table_name = 'owned_by_app'`)).rows).toEqual([{ n: 2 }]);
  } finally {
    await app.end();
  }
});

it('admin functions are refused with 42501 unless the client is a superuser or in vecshard_admin', async () => {
  const app = await as('app', 'app-pw');
  try {
    for (const f of ['vecshard.rebalance()', 'vecshard.repair()', "vecshard.add_node('postgres://x:y@127.0.0.1:1')", 'vecshard.remove_node(1)']) {
      await expect(app.query(`SELECT ${f}`), f).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/permission denied for function vecshard\./) });
    }
    expect((await admin.query('SELECT vecshard.rebalance()')).rows).toEqual([{ rebalance: 0 }]);
    await admin.query('CREATE ROLE vecshard_admin');
    await admin.query('GRANT vecshard_admin TO app');
    expect((await app.query('SELECT vecshard.rebalance()')).rows).toEqual([{ rebalance: 0 }]);
  } finally {
    await app.end();
  }
});
