// A large COPY into a distributed table that cannot stream (embedded nodes, or inside a transaction block) once
// held every row until CopyDone (issue 17, finding 7). Now it goes to the nodes in batches, in one transaction:
// all rows arrive, a bad row late in the data keeps nothing of the COPY, and ROLLBACK undoes it. (A bad row used to
// leave the session broken: the rollback met another node's COPY still running.)
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setLimits } from '../../src/limits.ts';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let c: TestCoordinator & { dataDir?: string };
let cl: pg.Client;

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 2 });
  // Batches of 64 kB, so a COPY of a few hundred kB goes in several.
  setLimits({ copyBatchBytes: 64 * 1024 });
  cl = new pg.Client(c.options());
  await cl.connect();
  await cl.query('CREATE TABLE docs (id int PRIMARY KEY, body text)');
  await cl.query(`SELECT create_distributed_table('docs', 'id', shard_count => 3)`);
}, 60_000);

afterAll(async () => {
  await cl?.end();
  await stopTestCoordinator(c);
});

const lines = (from: number, n: number, bad?: number) =>
  Array.from({ length: n }, (_, i) => (from + i === bad ? `${from + i}\n` : `${from + i}\t${'b'.repeat(200)} ${from + i}\n`));
const copyIn = (chunks: string[]) => pipeline(Readable.from(chunks), cl.query(copyFrom('COPY docs FROM STDIN')));
const count = async () => (await cl.query('SELECT count(*)::int AS n FROM docs')).rows[0].n;

it('sends a large COPY in batches in one transaction: every row, or none', async () => {
  await copyIn(lines(1, 3000));
  expect(await count()).toBe(3000);
  expect((await cl.query('SELECT sum(length(body))::int AS n FROM docs')).rows[0].n).toBeGreaterThan(3000 * 200);
  // A bad row after several batches went out: nothing of this COPY is kept.
  await expect(copyIn(lines(5001, 3000, 7900))).rejects.toMatchObject({ code: '22P04' });
  expect(await count()).toBe(3000);
  // Inside a transaction block: ROLLBACK undoes it, COMMIT keeps it.
  await cl.query('BEGIN');
  await copyIn(lines(10001, 2000));
  expect(await count()).toBe(5000);
  await cl.query('ROLLBACK');
  expect(await count()).toBe(3000);
  await cl.query('BEGIN');
  await copyIn(lines(20001, 2000));
  await cl.query('COMMIT');
  expect(await count()).toBe(5000);
});

it('a portal read in parts on embedded nodes (one connection each) is served from the kept rows', async () => {
  const { RawClient } = await import('../helpers/raw-client.ts');
  const { serialize } = await import('pg-protocol');
  const raw = await RawClient.connect(c.port);
  raw.write([serialize.parse({ text: 'SELECT id FROM docs' }), serialize.bind({}), serialize.execute({ rows: 1000 }), serialize.flush()]);
  const first = await raw.until('portalSuspended', 1, 20_000);
  expect(first.filter((m) => m.name === 'dataRow')).toHaveLength(1000);
  raw.write([serialize.execute({ rows: 0 }), serialize.sync()]);
  const rest = await raw.until('readyForQuery', 1, 20_000);
  expect(rest.filter((m) => m.name === 'dataRow')).toHaveLength(4000);
  raw.end();
});

it('distributing a table with rows moves them in batches: every row once, on its shard', async () => {
  await cl.query('CREATE TABLE legacy (id int PRIMARY KEY, note text)');
  await cl.query(`INSERT INTO legacy SELECT i, 'n' || i FROM generate_series(1, 4500) i`);
  await cl.query(`SELECT create_distributed_table('legacy', 'id', shard_count => 3)`);
  expect((await cl.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, sum(id)::bigint AS s FROM legacy')).rows).toEqual([{ n: 4500, d: 4500, s: String((4500 * 4501) / 2) }]);
  // Routed lookups find each row on its shard.
  for (const id of [1, 2000, 2001, 4000, 4500]) expect((await cl.query('SELECT note FROM legacy WHERE id = $1', [id])).rows).toEqual([{ note: `n${id}` }]);
});
