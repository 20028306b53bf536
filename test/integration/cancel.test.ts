// A client's cancel reaches the node: pg_sleep(30) ends within a second and its backend is gone.
import net from 'node:net';
import pg from 'pg';
import { cancelRequest } from '../../src/protocol/frontend.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { psql } from '../helpers/psql.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let direct: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(1);
  c = await startTestCoordinator(pgs);
  direct = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await direct.connect();
});
afterAll(async () => {
  await direct?.end();
  await c?.close();
  pgs?.stopAll();
});

async function sleepers(): Promise<number> {
  const r = await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'`);
  return r.rows[0].n;
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

it('a CancelRequest stops SELECT pg_sleep(30) on the node within 1 s', async () => {
  const client = new pg.Client(c.options());
  await client.connect();
  const q = client.query('SELECT pg_sleep(30)').then(
    () => 'finished',
    (e: { code?: string }) => e.code,
  );
  await waitFor(async () => (await sleepers()) === 1, 5000);
  const t0 = Date.now();
  // The CancelRequest a driver sends: a new connection carrying the BackendKeyData vecshard gave this client.
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  expect(processID).toBeGreaterThan(0);
  await sendCancel(c.port, processID, secretKey);
  const result = await q;
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(result).toBe('57014');
  await waitFor(async () => (await sleepers()) === 0, 1000);
  // The session goes on.
  expect((await client.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
  await client.end();
});

it('psql: a statement_timeout set in the session cancels on the node too', async () => {
  const r = await psql(c.port, "SET statement_timeout = '200ms';\nSELECT pg_sleep(30);\n");
  expect(r.stderr).toContain('canceling statement due to statement timeout');
});

it('a client that vanishes mid-query does not leave its query running', async () => {
  const client = new pg.Client(c.options());
  await client.connect();
  client.on('error', () => {});
  void client.query('SELECT pg_sleep(30)').catch(() => {});
  await waitFor(async () => (await sleepers()) === 1, 5000);
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await waitFor(async () => (await sleepers()) === 0, 2000);
});

function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(cancelRequest(pid, secret)));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}
