// A client's cancel reaches the node: pg_sleep(30) ends within a second and its backend is gone.
import net from 'node:net';
import pg from 'pg';
import { cancelRequest } from '../../src/protocol/frontend.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { psql } from '../helpers/psql.ts';
import { waitFor, within } from '../helpers/wait.ts';

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


it('a CancelRequest stops SELECT pg_sleep(30) on the node within 1 s', async () => {
  const client = new pg.Client(c.options());
  await client.connect();
  const q = client.query('SELECT pg_sleep(30)').then(
    () => 'finished',
    (e: { code?: string }) => e.code,
  );
  await waitFor('pg_sleep(30) running on the node', async () => (await sleepers()) === 1, { timeoutMs: 5000, everyMs: 20 });
  const t0 = Date.now();
  // The CancelRequest a driver sends: a new connection carrying the BackendKeyData vecshard gave this client.
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  expect(processID).toBeGreaterThan(0);
  await sendCancel(c.port, processID, secretKey);
  const result = await within('the cancelled query to end', q, 5000);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(result).toBe('57014');
  await waitFor('pg_sleep(30) gone from the node', async () => (await sleepers()) === 0, { timeoutMs: 1000, everyMs: 20 });
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
  await waitFor('pg_sleep(30) running on the node', async () => (await sleepers()) === 1, { timeoutMs: 5000, everyMs: 20 });
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await waitFor('pg_sleep(30) gone from the node', async () => (await sleepers()) === 0, { timeoutMs: 2000, everyMs: 20 });
});

function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return within(
    'the cancel connection to close',
    new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.end(cancelRequest(pid, secret)));
      s.on('close', () => resolve());
      s.on('error', reject);
    }),
    5000,
  );
}
