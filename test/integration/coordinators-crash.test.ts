// Several coordinators, one of them killed (issue 18): coordinator A (one process) and coordinator B (two worker
// processes sharing a port) write to the same 3 nodes at once, writes spanning nodes committed in two phases. A is
// killed (kill -9) between PREPARE and COMMIT PREPARED; a node is stopped and started again. B goes on serving;
// once A's lease runs out B settles A's prepared transactions. Afterwards every acknowledged write is there exactly
// once on every copy, nothing stays prepared, and exact kNN through B equals a brute-force scan.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startCli, waitFor, type Watched } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-crash2-'));
const hangFile = path.join(dir, 'hang-now');
const procs: Watched[] = [];
const ports: number[] = [];

const vec = (i: number) => `[${Math.sin(i)},${Math.cos(i)},${Math.sin(i / 7)}]`;

async function coordinator(workers: number, hang: boolean): Promise<number> {
  const port = await freePort();
  const pool = { connectTimeoutMs: 1000, healthCheckIntervalMs: 200, healthCheckTimeoutMs: 1000, acquireTimeoutMs: 5000 };
  const file = path.join(dir, `c${port}.json`);
  fs.writeFileSync(file, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: pgs.servers.map((s) => s.url), pool, logLevel: 'warn', coordinatorLeaseMs: 3000 }));
  const env = hang ? { ...process.env, VECSHARD_TEST_HANG: 'after-prepare', VECSHARD_TEST_HANG_FILE: hangFile } : process.env;
  procs.push(await startCli(['start', '--workers', String(workers), '--config', file], env));
  ports.push(port);
  return port;
}

async function client(port: number): Promise<pg.Client> {
  const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
  cl.on('error', () => {});
  await cl.connect();
  return cl;
}

beforeAll(async () => {
  pgs = await startPgServers(3);
  await coordinator(1, true);
  await coordinator(2, false);
  const cl = await client(ports[0]);
  await cl.query('CREATE EXTENSION IF NOT EXISTS vector');
  await cl.query('CREATE TABLE ev (id bigint PRIMARY KEY, embedding vector(3))');
  await cl.query(`SELECT create_distributed_table('ev', 'id', shard_count => 6, replication_factor => 2)`);
  await cl.end();
}, 120_000);

afterAll(() => {
  for (const p of procs) p.child.kill('SIGKILL');
  pgs?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a coordinator killed mid-commit is settled by another once its lease runs out; no write is lost or doubled', async () => {
  const acked = new Set<number>();
  let stop = false;
  // Two writers through each coordinator (B's two land on either worker); each INSERT spans shards on two nodes.
  const writers = [0, 0, 1, 1].map(async (c, w) => {
    const cl = await client(ports[c]);
    for (let i = 1; !stop; i++) {
      const a = (w + 1) * 1_000_000 + 2 * i;
      try {
        await cl.query('INSERT INTO ev VALUES ($1, $2), ($3, $4)', [a, vec(a), a + 1, vec(a + 1)]);
        acked.add(a).add(a + 1);
      } catch (e) {
        if (/terminated|ECONNRESET|not queryable/.test((e as Error).message)) break;
      }
    }
    await cl.end().catch(() => {});
  });
  await waitFor('writes through both', async () => [...acked].some((i) => i < 3_000_000) && [...acked].some((i) => i > 3_000_000), { timeoutMs: 20_000 });

  // Three coordinators hold leases: A and B's two workers (the primary hands B's two clients one each).
  const leases = async () => (await queryNode(pgs.servers[0], `SELECT count(*)::int AS n FROM vecshard.coordinators WHERE heartbeat_at > now() - interval '10 seconds'`))[0].n;
  await waitFor('three coordinators with leases', async () => (await leases()) === 3, { timeoutMs: 15_000 });

  // A hangs between PREPARE and COMMIT PREPARED and is killed there.
  fs.writeFileSync(hangFile, '');
  const prepared = async () => (await Promise.all(pgs.servers.map((s) => queryNode(s, 'SELECT count(*)::int AS n FROM pg_prepared_xacts')))).reduce((s, r) => s + r[0].n, 0);
  await waitFor('a transaction of A prepared and waiting', async () => (await prepared()) > 0, { timeoutMs: 20_000 });
  procs[0].child.kill('SIGKILL');
  const killedAt = Date.now();

  // A node stops and starts again while B writes; B repairs its copies.
  const before = acked.size;
  pgs.servers[2].stop();
  await waitFor('B writes with node 2 down', async () => acked.size > before + 20, { timeoutMs: 20_000 });
  pgs.servers[2].start();
  await waitFor('nothing prepared on any node', async () => (await prepared()) === 0, { timeoutMs: 40_000 });
  // B waited for A's lease (3 s) before settling what A left prepared.
  expect(Date.now() - killedAt).toBeGreaterThan(2500);
  stop = true;
  await Promise.all(writers);

  const b = await client(ports[1]);
  await waitFor(
    'copies repaired',
    async () => {
      await b.query('SELECT vecshard.repair()').catch(() => {});
      return (await b.query(`SELECT count(*)::int AS n FROM vecshard.placements WHERE state = 'inactive'`)).rows[0].n === 0;
    },
    { timeoutMs: 30_000, everyMs: 300 },
  );
  const ids = new Map<number, number>();
  for (const r of (await b.query({ text: 'SELECT id FROM ev', rowMode: 'array' })).rows) ids.set(Number(r[0]), (ids.get(Number(r[0])) ?? 0) + 1);
  const missing = [...acked].filter((i) => !ids.has(i));
  expect(missing).toEqual([]);
  expect([...ids.values()].every((n) => n === 1)).toBe(true);
  // Every copy of every shard holds the same rows.
  const copies = (await b.query(`SELECT s.shard_name, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'ev'`)).rows;
  const byShard = new Map<string, string[]>();
  for (const c of copies) {
    const [r] = await queryNode(pgs.servers[c.node_id], `SELECT count(*) || ':' || coalesce(sum(id), 0) AS sig FROM vecshard_shards.${c.shard_name}`);
    byShard.set(c.shard_name, [...(byShard.get(c.shard_name) ?? []), r.sig]);
  }
  for (const [shard, sigs] of byShard) expect(new Set(sigs).size, shard).toBe(1);
  // Exact kNN through B equals brute force over the same rows.
  const q = '[0.3,0.9,0.1]';
  await b.query('SET vecshard.exact = on');
  const knn = (await b.query(`SELECT id FROM ev ORDER BY embedding <-> '${q}', id LIMIT 10`)).rows.map((r) => r.id);
  const brute = (await b.query(`SELECT id FROM (SELECT id, embedding <-> '${q}' AS d FROM ev ORDER BY id) s ORDER BY d, id LIMIT 10`)).rows.map((r) => r.id);
  expect(knn).toEqual(brute);
  await b.end();
}, 150_000);
