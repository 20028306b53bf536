// A coordinator killed (SIGKILL) in the middle of a two-phase commit: after a restart the write is either fully
// there or fully absent, and no prepared transaction is left on any node.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers, freePort } from '../helpers/pg-nodes.ts';
import { startCli, waitFor, waitForExit, type Watched } from '../helpers/wait.ts';
import { hashInt8, shardIndexForHash } from '../../src/metadata/hash.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-2pc-'));
let port: number;
const procs: Watched[] = [];

async function coordinator(hang?: string, fault?: string): Promise<Watched> {
  const w = await startCli(['start', '--workers', '1', '--config', path.join(dir, 'config.json')], { ...process.env, VECSHARD_TEST_HANG: hang ?? '', VECSHARD_TEST_FAULT: fault ?? '' });
  w.child.stderr!.on('data', (d) => process.env.DEBUG_2PC && process.stdout.write('[coord] ' + d));
  procs.push(w);
  return w;
}

async function killed(w: Watched): Promise<void> {
  w.child.kill('SIGKILL');
  await waitForExit(w, 10_000);
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
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ listen: { port }, http: { port: 0 }, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn', coordinatorLeaseMs: 2000 }));
  const p = await coordinator();
  const cl = await client();
  await cl.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  await cl.query(`SELECT create_distributed_table('kv', 'k', shard_count => 2)`);
  await cl.end();
  await killed(p);
});
afterAll(() => {
  for (const p of procs) p.child.kill('SIGKILL');
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
    await waitFor('a prepared transaction on a node', async () => (await preparedCount()) > 0, { timeoutMs: 10_000 });
    await killed(p);

    // The restarted coordinator is another one: it settles what the killed one prepared once that one's lease ran out.
    const again = await coordinator();
    const c2 = await client();
    await c2.query('SELECT 1 FROM kv LIMIT 1'); // the database is served again: its settling runs every 5 s
    await waitFor('the killed coordinator\'s transaction settled', async () => (await preparedCount()) === 0, { timeoutMs: 20_000 });
    const rows = (await c2.query('SELECT k FROM kv WHERE v = $1', [hang])).rows;
    expect(rows.length).toBe(expected);
    const nodes = new Set((await c2.query('SELECT node_id FROM vecshard.placements')).rows.map((r) => r.node_id));
    expect(nodes.size).toBe(2);
    await c2.end();
    await killed(again);
  });
}

it('the answer to the commit record lost: the client hears 08007, the prepared part is kept and then committed by the record', async () => {
  const p = await coordinator(undefined, 'lost-after-commit-record');
  const cl = await client();
  // k1 and k2 (written by the test before) are on different nodes: the update commits in two phases.
  await cl.query('BEGIN');
  await cl.query(`UPDATE kv SET v = 'lost' WHERE k IN (${k1}, ${k2})`);
  await expect(cl.query('COMMIT')).rejects.toMatchObject({ code: '08007' });
  // Node 0 committed (the record is there): the periodic settling commits node 1's prepared part.
  await waitFor('the prepared part to be settled', async () => (await preparedCount()) === 0, { timeoutMs: 30_000 });
  expect((await cl.query(`SELECT count(*)::int AS n FROM kv WHERE v = 'lost'`)).rows).toEqual([{ n: 2 }]);
  await cl.end();
  await killed(p);
}, 60_000);

it("a transaction another coordinator prepared is left to it while its lease runs, and settled once the lease is out", async () => {
  const p = await coordinator();
  const cl = await client();
  await cl.query('SELECT count(*) FROM kv'); // the database served: its lease is renewed from now on
  const node = (i: number) => {
    const c = new pg.Client({ connectionString: pgs.servers[i].url + '/postgres' });
    return c.connect().then(() => c);
  };
  const [n0, n1] = [await node(0), await node(1)];
  // Another coordinator ("0ther123"), alive: its lease row is fresh. Its transaction is prepared on node 1, with no
  // commit record yet (it is between PREPARE and the record).
  await n0.query(`INSERT INTO vecshard.coordinators (id) VALUES ('0a0b0c0d') ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`);
  await n1.query(`BEGIN; INSERT INTO vecshard_shards.kv_0001 VALUES (-7, 'other') ON CONFLICT DO NOTHING; PREPARE TRANSACTION 'vecshard_0a0b0c0d-00112233445566aa_0_1'`);
  const renew = setInterval(() => void n0.query(`UPDATE vecshard.coordinators SET heartbeat_at = now() WHERE id = '0a0b0c0d'`).catch(() => {}), 500);
  try {
    // Several settling rounds (every 5 s) and a repair pass leave it alone while the lease is renewed.
    await cl.query('SELECT vecshard.repair()');
    await new Promise((r) => setTimeout(r, 6000));
    expect(await preparedCount()).toBe(1);
  } finally {
    clearInterval(renew);
  }
  // Its coordinator stops renewing: once the lease (2 s here) is out, it is settled — rolled back, no record.
  await waitFor('the other coordinator\'s transaction settled', async () => (await preparedCount()) === 0, { timeoutMs: 20_000 });
  expect((await n1.query(`SELECT count(*)::int AS n FROM vecshard_shards.kv_0001 WHERE k = -7`)).rows).toEqual([{ n: 0 }]);
  await n0.end();
  await n1.end();
  await cl.end();
  await killed(p);
}, 60_000);
