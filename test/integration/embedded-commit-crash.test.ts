// Embedded nodes cannot prepare, so a write on two of them commits on one and then the other. A coordinator killed
// between the two commits left the copies unequal, and reads alternated between old and new rows (issue 17,
// finding 6). Now the commit journal shows the cut at the next start: the first node decides, the other copies
// are made again from it, and every read agrees.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../helpers/pg-nodes.ts';
import { startCli, waitFor, waitForExit, waitForOutput, type Watched } from '../helpers/wait.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-cut-'));
const config = path.join(dir, 'vecshard.json');
let port: number;
const procs: Watched[] = [];

async function start(hang = ''): Promise<Watched> {
  const w = await startCli(['start', '--workers', '1', '--config', config], { ...process.env, VECSHARD_TEST_HANG: hang });
  procs.push(w);
  return w;
}

async function client(): Promise<pg.Client> {
  const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  cl.on('error', () => {});
  await cl.connect();
  return cl;
}

beforeAll(async () => {
  port = await freePort();
  fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, embedded: { dataDir: path.join(dir, 'data'), nodes: 2 }, logLevel: 'warn' }));
  const w = await start();
  const cl = await client();
  await cl.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  await cl.query(`SELECT create_distributed_table('kv', 'k', shard_count => 2, replication_factor => 2)`);
  await cl.query(`INSERT INTO kv SELECT i, 'before' FROM generate_series(1, 20) i`);
  await cl.end();
  w.child.kill('SIGTERM');
  await waitForExit(w);
}, 120_000);

afterAll(() => {
  for (const p of procs) p.child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a coordinator killed between two embedded commits: after restart every read of every copy agrees', async () => {
  const cut = await start('between-commits');
  const cl = await client();
  void cl.query(`UPDATE kv SET v = 'after'`).catch(() => {});
  await waitForOutput(cut, /test hang at between-commits/, 30_000);
  cut.child.kill('SIGKILL');
  await waitForExit(cut);

  const again = await start();
  await waitForOutput(again, /cut by a crash/, 30_000);
  const reader = await client();
  await waitFor('the copies to be active again', async () => (await reader.query(`SELECT count(*)::int AS n FROM vecshard.placements WHERE state <> 'active'`)).rows[0].n === 0, { timeoutMs: 30_000 });
  // Reads rotate over the copies: each of them holds what the first node committed.
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const rows = (await reader.query('SELECT v, count(*)::int AS n FROM kv GROUP BY v ORDER BY v')).rows;
    seen.add(JSON.stringify(rows));
  }
  expect([...seen]).toEqual([JSON.stringify([{ v: 'after', n: 20 }])]);
  await reader.end();
  again.child.kill('SIGTERM');
  await waitForExit(again);
}, 120_000);
