// A node that stops answering (SIGSTOP: its sockets stay open, nothing comes back) once hung every statement that
// waited on it, forever, holding its shard locks (issue 17, finding 5). Now the health check marks it down and
// ends the waits that heard nothing, or the read deadline does; reads go to the other copy. Every exact kNN
// answer during a 10 s stop comes within 5 s and equals brute force.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { sleep, within } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const coordinators: TestCoordinator[] = [];
const ROWS = 2000;
const vec = (i: number) => `[${Math.sin(i * 1.3).toFixed(4)},${Math.cos(i * 0.7).toFixed(4)},${((i % 17) / 17).toFixed(4)}]`;

beforeAll(async () => {
  pgs = await startPgServers(2);
  // Health checks often, answered within 1 s.
  const a = await startTestCoordinator(pgs, { pool: { healthCheckIntervalMs: 200, healthCheckTimeoutMs: 1000 } });
  // No health checks to speak of: the read deadline alone ends a wait on the stopped node.
  const b = await startTestCoordinator(pgs, { pool: { healthCheckIntervalMs: 600_000, readTimeoutMs: 1000 } });
  coordinators.push(a, b);
  const cl = new pg.Client(a.options());
  await cl.connect();
  await cl.query('CREATE EXTENSION IF NOT EXISTS vector');
  await cl.query('CREATE TABLE pts (id int PRIMARY KEY, v vector(3))');
  await cl.query(`SELECT create_distributed_table('pts', 'id', shard_count => 4, replication_factor => 2)`);
  for (let i = 0; i < ROWS; i += 500) {
    await cl.query(`INSERT INTO pts VALUES ${Array.from({ length: 500 }, (_, j) => `(${i + j}, '${vec(i + j)}')`).join(',')}`);
  }
  await cl.end();
}, 120_000);

afterAll(async () => {
  for (const c of coordinators) await c.close();
  pgs?.stopAll();
});

function truth(q: number[]): number[] {
  const d = (i: number) => {
    const v = vec(i).slice(1, -1).split(',').map(Number);
    return v.reduce((s, x, k) => s + (x - q[k]) ** 2, 0);
  };
  return Array.from({ length: ROWS }, (_, i) => i).sort((x, y) => d(x) - d(y) || x - y).slice(0, 5);
}

it('reads keep answering, correctly and within 5 s, while a node is stopped for 10 s — by health check or read deadline', async () => {
  const readers = await Promise.all(
    coordinators.map(async (c) => {
      const cl = new pg.Client(c.options());
      await cl.connect();
      await cl.query('SET vecshard.exact = on');
      return cl;
    }),
  );
  let stop = false;
  const worst: number[] = [0, 0];
  let answered = 0;
  const loops = readers.map(async (cl, r) => {
    for (let n = 0; !stop; n++) {
      const q = [Math.sin(n), Math.cos(n), (n % 5) / 5];
      const t0 = performance.now();
      const rows = (await within(`reader ${r}'s query`, cl.query(`SELECT id FROM pts ORDER BY v <-> '[${q.join(',')}]', id LIMIT 5`), 15_000)).rows;
      worst[r] = Math.max(worst[r], performance.now() - t0);
      const want = truth(q.map((x) => Number(x.toFixed(4))));
      // Ties at 4 decimals aside, the ids are brute force's.
      expect(rows.map((x) => x.id).slice(0, 3)).toEqual(want.slice(0, 3));
      answered++;
    }
  });
  try {
    await sleep(500);
    pgs.servers[1].signal('SIGSTOP');
    await sleep(10_000);
  } finally {
    pgs.servers[1].signal('SIGCONT');
  }
  await sleep(1000);
  stop = true;
  await within('the readers to stop', Promise.all(loops), 20_000);
  for (const cl of readers) await cl.end();
  console.log(`${answered} exact kNN answers during and around a 10 s SIGSTOP; slowest: ${worst.map((w) => Math.round(w)).join(' ms (health check), ')} ms (read deadline)`);
  expect(answered).toBeGreaterThan(20);
  expect(worst[0], 'health-checked coordinator').toBeLessThan(5000);
  expect(worst[1], 'read-deadline coordinator').toBeLessThan(5000);
}, 60_000);

it('a node that answers while the coordinator is busy is not called down: time the event loop was blocked does not count', async () => {
  // A large statement built on the coordinator blocked its event loop for seconds; the health check's timer then
  // fired before the node's answer, already there, was read — and statements on a healthy node were ended.
  const { answers } = await import('../../src/shards/pg-node.ts');
  const url = new URL(pgs.servers[0].url);
  const probe = answers(0, 'postgres', { host: url.hostname, port: Number(url.port), user: decodeURIComponent(url.username), password: pgs.servers[0].password }, 300);
  const until = performance.now() + 1200;
  while (performance.now() < until); // the coordinator busy
  expect(await within('the probe', probe, 5000)).toBe(true);
  // A node that does not answer is still found out: a port nobody listens on.
  const shut = new URL(pgs.servers[1].url);
  expect(await within('the probe', answers(1, 'postgres', { host: '127.0.0.1', port: 1, user: decodeURIComponent(shut.username) }, 300), 5000)).toBe(false);
});
