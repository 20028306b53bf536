// A client that asks for a large result and does not read it (issue 17, finding 7): the coordinator once read the
// node's answer as fast as the node sent it and held it all for the client. Now the node's socket stops being read
// while the client has megabytes unread, so the coordinator's memory stays flat; when the client reads again,
// every row arrives. A distributed read that needs no merge streams from the shards the same way.
import net from 'node:net';
import { parse, serialize } from 'pg-protocol';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { connected } from '../helpers/raw-client.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;

beforeAll(async () => {
  pgs = await startPgServers(1);
  c = await startTestCoordinator(pgs);
}, 60_000);

afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

const ROWS = 150_000;
const used = () => process.memoryUsage().arrayBuffers;

it('holds a node back while its client does not read, and loses no row when it reads again', async () => {
  const s = net.connect({ host: '127.0.0.1', port: c.port });
  s.on('error', () => {});
  await connected(s);
  s.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  let rows = 0;
  let done = false;
  let started = false;
  void parse(s, (m) => {
    if (m.name === 'readyForQuery') (started ? (done = true) : (started = true));
    if (m.name === 'dataRow') rows++;
  });
  await waitFor('startup', () => started, { timeoutMs: 10_000 });
  // About 150 MB of rows; then the client stops reading.
  s.write(serialize.query(`SELECT i, repeat('x', 1000) FROM generate_series(1, ${ROWS}) i`));
  s.pause();
  const before = used();
  await sleep(4000);
  const grown = used() - before;
  console.log(`not read for 4 s: the coordinator's buffers grew ${(grown / 1048576).toFixed(1)} MB`);
  expect(grown).toBeLessThan(40 * 1024 * 1024);
  // Other clients are served meanwhile.
  const other = new pg.Client(c.options());
  await other.connect();
  expect((await other.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
  await other.end();
  s.resume();
  await waitFor('every row', () => done, { timeoutMs: 60_000 });
  expect(rows).toBe(ROWS);
  s.end();
}, 90_000);

it('a distributed read that needs no merge streams from the shards, held back by a client that does not read', async () => {
  const admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE TABLE wide (id bigint PRIMARY KEY, body text)');
  await admin.query(`SELECT create_distributed_table('wide', 'id', shard_count => 4)`);
  const shards = (await admin.query(`SELECT shard_name FROM vecshard.shards WHERE table_name = 'wide'`)).rows;
  // Rows put straight into the shard tables: a scan does not care how they got there.
  for (const [i, s] of shards.entries()) {
    await queryNode(pgs.servers[0], `INSERT INTO vecshard_shards.${s.shard_name} SELECT g, repeat('y', 1000) FROM generate_series(${i * 40_000 + 1}, ${(i + 1) * 40_000}) g`);
  }
  await admin.end();
  const s = net.connect({ host: '127.0.0.1', port: c.port });
  s.on('error', () => {});
  await connected(s);
  s.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  let rows = 0;
  let readies = 0;
  let complete = '';
  void parse(s, (m) => {
    if (m.name === 'readyForQuery') readies++;
    if (m.name === 'dataRow') rows++;
    if (m.name === 'commandComplete') complete = (m as unknown as { text: string }).text;
  });
  await waitFor('startup', () => readies === 1, { timeoutMs: 10_000 });
  s.write(serialize.query('SELECT id, body FROM wide'));
  s.pause();
  const before = used();
  await sleep(4000);
  const grown = used() - before;
  console.log(`distributed read not read for 4 s: the coordinator's buffers grew ${(grown / 1048576).toFixed(1)} MB`);
  expect(grown).toBeLessThan(40 * 1024 * 1024);
  s.resume();
  await waitFor('every row', () => readies === 2, { timeoutMs: 60_000 });
  expect(rows).toBe(160_000);
  expect(complete).toBe('SELECT 160000');
  s.end();
}, 90_000);
