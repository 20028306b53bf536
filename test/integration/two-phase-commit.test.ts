// A coordinator killed (SIGKILL) in the middle of a two-phase commit: after a restart the write is either fully
// there or fully absent, and no prepared transaction is left on any node.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers, freePort } from '../helpers/pg-nodes.ts';
import { hashInt8, shardIndexForHash } from '../../src/shards/hash.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-2pc-'));
let port: number;
const procs: ChildProcess[] = [];

async function coordinator(hang?: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', path.join(dir, 'config.json')], {
    env: { ...process.env, VECSHARD_TEST_HANG: hang ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  p.stderr!.on('data', (d) => process.env.DEBUG_2PC && process.stdout.write('[coord] ' + d));
  procs.push(p);
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
    p.on('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
  return p;
}

const client = async () => {
  const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  cl.on('error', () => {});
  await cl.connect();
  return cl;
};

async function preparedCount(): Promise<number> {
  let n = 0;
  for (const s of pgs.servers) {
    const cl = new pg.Client({ connectionString: s.url + '/postgres' });
    await cl.connect();
    n += (await cl.query('SELECT count(*)::int AS n FROM pg_prepared_xacts')).rows[0].n;
    await cl.end();
  }
  return n;
}

beforeAll(async () => {
  pgs = await startPgServers(2);
  port = await freePort();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ listen: { port }, http: { port: 0 }, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn' }));
  const p = await coordinator();
  const cl = await client();
  await cl.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  await cl.query(`SELECT create_distributed_table('kv', 'k', shard_count => 2)`);
  await cl.end();
  p.kill('SIGKILL');
});
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  pgs?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

// Two keys whose hashes fall in different shards (so on different nodes).
const [k1, k2] = (() => {
  const first = shardIndexForHash(hashInt8(1n), 2);
  for (let k = 2; ; k++) if (shardIndexForHash(hashInt8(BigInt(k)), 2) !== first) return [1, k];
})();
for (const [hang, expected] of [
  ['after-prepare', 0],
  ['after-commit-record', 2],
] as const) {
  it(`killed ${hang}: the write is ${expected ? 'fully visible' : 'fully absent'} after restart`, async () => {
    const p = await coordinator(hang);
    const cl = await client();
    await cl.query('BEGIN');
    await cl.query(`INSERT INTO kv VALUES (${k1}, '${hang}'), (${k2}, '${hang}')`);
    void cl.query('COMMIT').catch((e) => process.env.DEBUG_2PC && console.log('commit error', e.message));
    const end = Date.now() + 10_000;
    while ((await preparedCount()) === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(await preparedCount()).toBeGreaterThan(0);
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));

    const again = await coordinator();
    const c2 = await client();
    const rows = (await c2.query('SELECT k FROM kv WHERE v = $1', [hang])).rows;
    expect(rows.length).toBe(expected);
    expect(await preparedCount()).toBe(0);
    const nodes = new Set((await c2.query('SELECT node_id FROM vecshard.placements')).rows.map((r) => r.node_id));
    expect(nodes.size).toBe(2);
    await c2.end();
    again.kill('SIGKILL');
    await new Promise((r) => again.once('exit', r));
  });
}
