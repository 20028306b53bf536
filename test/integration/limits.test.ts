// Byte limits on what a client sends (issue 17, finding 7): a message over limits.maxMessageBytes gets 08P01 and
// a closed connection; a COPY line over limits.maxCopyLineBytes (once held whole, however long) gets 54000 and
// loses nothing. Other clients, and the same client after the error, go on.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let c: TestCoordinator & { dataDir?: string };
let admin: pg.Client;

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 2 }, { limits: { maxMessageBytes: 1024 * 1024, maxCopyLineBytes: 64 * 1024 } });
  admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE TABLE t (id int PRIMARY KEY, body text)');
  await admin.query(`SELECT create_distributed_table('t', 'id', shard_count => 2)`);
}, 60_000);

afterAll(async () => {
  await admin?.end();
  await stopTestCoordinator(c);
});

const copyIn = (cl: pg.Client, sql: string, chunks: string[]) => pipeline(Readable.from(chunks), cl.query(copyFrom(sql)));

it('a message over limits.maxMessageBytes is refused with 08P01 naming the limit; others go on', async () => {
  const big = new pg.Client(c.options());
  await big.connect();
  big.on('error', () => {});
  await expect(big.query(`SELECT length('${'x'.repeat(2 * 1024 * 1024)}')`)).rejects.toMatchObject({ code: '08P01', message: expect.stringContaining('limits.maxMessageBytes') });
  await big.end().catch(() => {});
  expect((await admin.query(`SELECT length('${'x'.repeat(500 * 1024)}') AS n`)).rows).toEqual([{ n: 500 * 1024 }]);
});

it('a COPY line over limits.maxCopyLineBytes gets 54000, in text and CSV, and nothing of that COPY is kept', async () => {
  const cl = new pg.Client(c.options());
  await cl.connect();
  try {
    // A line that never ends arrives in many chunks: refused once it passes the limit, not held until the end.
    const endless = Array.from({ length: 40 }, () => 'y'.repeat(8 * 1024));
    await expect(copyIn(cl, 'COPY t FROM STDIN', ['1\tok\n', '2\t', ...endless])).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('65536 bytes') });
    await expect(copyIn(cl, 'COPY t FROM STDIN (FORMAT csv)', ['1,ok\n', `2,"${'z'.repeat(100 * 1024)}"\n`])).rejects.toMatchObject({ code: '54000' });
    await expect(copyIn(cl, 'COPY t (id, body) FROM STDIN WITH (DELIMITER \'|\')', [`3|${'w'.repeat(70 * 1024)}\n`])).rejects.toMatchObject({ code: '54000' });
    expect((await cl.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    // Within the limit, the same session copies as before.
    await copyIn(cl, 'COPY t FROM STDIN', [`1\t${'v'.repeat(60 * 1024)}\n`, '2\tshort\n']);
    expect((await cl.query('SELECT count(*)::int AS n, max(length(body))::int AS m FROM t')).rows).toEqual([{ n: 2, m: 60 * 1024 }]);
  } finally {
    await cl.end();
  }
});

it('300 clients naming databases that do not exist leave no pool (or metric series) behind', async () => {
  const before = c.cluster.poolStats().length;
  for (let i = 0; i < 300; i++) {
    const cl = new pg.Client({ ...c.options(), database: `no_such_db_${i}` });
    await expect(cl.connect()).rejects.toMatchObject({ code: '3D000' });
  }
  expect(c.cluster.poolStats().length).toBe(before);
});

it('rows gathered past vecshard.work_mem fail with 53200 and a hint; within it, with a LIMIT, or streamed, they are served', async () => {
  const cl = new pg.Client(c.options());
  await cl.connect();
  try {
    await cl.query(`INSERT INTO t SELECT i, repeat('m', 2000) FROM generate_series(100, 199) i`);
    await cl.query(`SET vecshard.work_mem = '64kB'`);
    // Rows sorted by text are gathered for the home node to merge (its collation): they count. Rows that need no
    // merge, or a merge on keys the coordinator orders, stream to the client: they do not.
    await expect(cl.query('SELECT id, body FROM t WHERE id >= 100 ORDER BY body, id')).rejects.toMatchObject({ code: '53200', hint: expect.stringContaining('vecshard.work_mem') });
    expect((await cl.query('SELECT * FROM t WHERE id >= 100')).rows).toHaveLength(100);
    expect((await cl.query('SELECT id, body FROM t WHERE id >= 100 ORDER BY id')).rows).toHaveLength(100);
    expect((await cl.query('SELECT id FROM t WHERE id >= 100 ORDER BY id LIMIT 5')).rows).toHaveLength(5);
    expect((await cl.query('SELECT count(*)::int AS n FROM t WHERE id >= 100')).rows).toEqual([{ n: 100 }]);
    await cl.query('RESET vecshard.work_mem');
    expect((await cl.query('SELECT * FROM t WHERE id >= 100')).rows).toHaveLength(100);
  } finally {
    await cl.end();
  }
});
