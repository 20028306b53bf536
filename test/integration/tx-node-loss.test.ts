// Writers in client transactions (BEGIN, two INSERTs on different shards, COMMIT) while the home node is killed:
// every writer's session ends or goes on within a bound — none waits forever — and every acknowledged COMMIT has
// both its rows. Once, a session ended by a lost node inside a batch the fast lane relayed was left open, and its
// client's next statement waited forever; and a ROLLBACK could not end a transaction whose home node was lost.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { within } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs, { pool: { connectTimeoutMs: 1000, healthCheckIntervalMs: 200, acquireTimeoutMs: 5000 } });
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

it('writers in transactions neither hang nor lose a commit when the home node is killed', async () => {
  const admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE TABLE ev (id bigint, k int, PRIMARY KEY (id, k))');
  await admin.query(`SELECT create_distributed_table('ev', 'k', shard_count => 8, replication_factor => 2)`);
  let stop = false;
  const committed: number[] = [];
  const writers = Array.from({ length: 4 }, async (_, w) => {
    const cl = new pg.Client(c.options());
    cl.on('error', () => {});
    await cl.connect();
    for (let i = 1; !stop; i++) {
      const id = w * 1_000_000 + i;
      try {
        await cl.query('BEGIN');
        await cl.query('INSERT INTO ev VALUES ($1, $2)', [id, i % 97]);
        await cl.query('INSERT INTO ev VALUES ($1, $2)', [id, (i + 13) % 97]);
        await cl.query('COMMIT');
        committed.push(id);
      } catch (e) {
        await cl.query('ROLLBACK').catch(() => {});
        // A session the lost node ended: this writer is done.
        if (/terminated|not queryable/.test((e as Error).message)) break;
      }
    }
    await cl.end().catch(() => {});
  });
  await new Promise((r) => setTimeout(r, 1500));
  const pid = fs.readFileSync(path.join(pgs.servers[0].dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
  execFileSync('pkill', ['-9', '-P', pid]);
  process.kill(Number(pid), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 5000));
  stop = true;
  await within('the writers to stop', Promise.all(writers), 30_000);
  expect(committed.length).toBeGreaterThan(0);
  const reader = new pg.Client(c.options());
  await reader.connect();
  const rows = (await reader.query('SELECT id, count(*)::int AS n FROM ev WHERE id = ANY($1::bigint[]) GROUP BY id', [committed])).rows;
  expect(rows.length).toBe(committed.length);
  expect(rows.every((r) => r.n === 2)).toBe(true);
  await reader.end();
  await admin.end().catch(() => {});
}, 120_000);
