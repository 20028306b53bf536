// The extended protocol in detail, and bad input: each case against real PostgreSQL nodes through vecshard.
import net from 'node:net';
import { serialize } from 'pg-protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { RawClient, connected, names } from '../helpers/raw-client.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;

beforeAll(async () => {
  pgs = await startPgServers(1);
  c = await startTestCoordinator(pgs, { pool: { size: 3 } });
  const setup = new pg.Client(c.options());
  await setup.connect();
  await setup.query('CREATE TABLE t (id int PRIMARY KEY, v vector(2))');
  await setup.query(`INSERT INTO t SELECT i, ARRAY[i, -i]::vector FROM generate_series(1, 10) i`);
  await setup.end();
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

describe('extended protocol', () => {
  it('answers a pipeline of several Sync-terminated batches in order', async () => {
    const cl = await RawClient.connect(c.port);
    const batch = (i: number) => [
      serialize.parse({ text: 'SELECT id FROM t WHERE id = $1', types: [23] }),
      serialize.bind({ values: [String(i)] }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ];
    cl.write([...batch(1), ...batch(2), ...batch(3)]);
    const got = await cl.until('readyForQuery', 3);
    expect(names(got)).toEqual(Array(3).fill(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']).flat());
    const rows = got.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: string[] }).fields[0]);
    expect(rows).toEqual(['1', '2', '3']);
    cl.end();
  });

  it('describes a named statement, runs it with a row limit and PortalSuspended, and closes it', async () => {
    const cl = await RawClient.connect(c.port);
    cl.write([serialize.parse({ name: 's1', text: 'SELECT id, v FROM t ORDER BY id', types: [] }), serialize.describe({ type: 'S', name: 's1' }), serialize.sync()]);
    expect(names(await cl.until('readyForQuery'))).toEqual(['parseComplete', 'parameterDescription', 'rowDescription', 'readyForQuery']);
    cl.write([serialize.query('BEGIN')]);
    await cl.until('readyForQuery');
    cl.write([serialize.bind({ portal: 'p1', statement: 's1' }), serialize.execute({ portal: 'p1', rows: 4 }), serialize.sync()]);
    let got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['bindComplete', 'dataRow', 'dataRow', 'dataRow', 'dataRow', 'portalSuspended', 'readyForQuery']);
    expect((got.at(-1) as unknown as { status: string }).status).toBe('T');
    cl.write([serialize.execute({ portal: 'p1', rows: 100 }), serialize.close({ type: 'P', name: 'p1' }), serialize.close({ type: 'S', name: 's1' }), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(names(got)).toEqual([...Array(6).fill('dataRow'), 'commandComplete', 'closeComplete', 'closeComplete', 'readyForQuery']);
    cl.write([serialize.query('COMMIT')]);
    await cl.until('readyForQuery');
    // The statement is gone for this client.
    cl.write([serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { code: string }).code).toBe('26000');
    cl.end();
  });

  it('skips to Sync after an error, as Postgres does, and the transaction fails', async () => {
    const cl = await RawClient.connect(c.port);
    cl.write([serialize.query('BEGIN')]);
    await cl.until('readyForQuery');
    cl.write([
      serialize.parse({ text: 'SELECT 1/(id-id) FROM t' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ text: 'SELECT 2' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    ]);
    const got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['parseComplete', 'bindComplete', 'error', 'readyForQuery']);
    expect((got.at(-1) as unknown as { status: string }).status).toBe('E');
    cl.write([serialize.query('ROLLBACK')]);
    await cl.until('readyForQuery');
    cl.end();
  });

  it('answers a Flush without a Sync, and binary results', async () => {
    const cl = await RawClient.connect(c.port);
    cl.write([serialize.parse({ name: 'b', text: 'SELECT $1::int4 + 1', types: [23] }), serialize.flush()]);
    expect(names(await cl.until('parseComplete'))).toEqual(['parseComplete']);
    const four = Buffer.alloc(4);
    four.writeInt32BE(41);
    cl.write([serialize.bind({ statement: 'b', values: [four], valueMapper: (v: unknown) => v } as never), serialize.execute({}), serialize.sync()]);
    const got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['bindComplete', 'dataRow', 'commandComplete', 'readyForQuery']);
    cl.end();
  });

  it('relays batches that only bind and run prepared statements (the fast lane) as Postgres answers them', async () => {
    const cl = await RawClient.connect(c.port);
    const status = (got: unknown[]) => (got.at(-1) as { status: string }).status;
    const values = (got: unknown[]) => got.filter((m) => (m as { name: string }).name === 'dataRow').map((m) => (m as { fields: string[] }).fields[0]);
    cl.write([
      serialize.parse({ name: 'q', text: 'SELECT id FROM t WHERE id = $1', types: [23] }),
      serialize.parse({ name: 'z', text: 'SELECT 10 / $1::int', types: [] }),
      serialize.sync(),
    ]);
    await cl.until('readyForQuery');
    cl.messages = [];
    // Bind, Describe (portal and statement), Execute, Sync in one write: one relayed batch.
    cl.write([serialize.bind({ statement: 'q', values: ['3'] }), serialize.describe({ type: 'P' }), serialize.describe({ type: 'S', name: 'q' }), serialize.execute({}), serialize.sync()]);
    let got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['bindComplete', 'rowDescription', 'parameterDescription', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(values(got)).toEqual(['3']);
    // Two statements in one batch; then an error, after which the node skips to Sync and the session goes on.
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'q', values: ['4'] }), serialize.execute({}), serialize.bind({ statement: 'z', values: ['2'] }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(values(got)).toEqual(['4', '5']);
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'z', values: ['0'] }), serialize.execute({}), serialize.bind({ statement: 'q', values: ['5'] }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    // (Postgres folds 10 / 0 when it plans the bound statement, so the error answers the Bind.)
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { code: string }).code).toBe('22012');
    expect(status(got)).toBe('I');
    // Inside a transaction block: the status comes from the node; a failed statement fails the transaction.
    cl.messages = [];
    cl.write([serialize.query('BEGIN')]);
    await cl.until('readyForQuery');
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'q', values: ['6'] }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(values(got)).toEqual(['6']);
    expect(status(got)).toBe('T');
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'z', values: ['0'] }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(status(got)).toBe('E');
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'q', values: ['7'] }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect((got.find((m) => m.name === 'error') as unknown as { code: string }).code).toBe('25P02');
    cl.messages = [];
    cl.write([serialize.query('ROLLBACK')]);
    await cl.until('readyForQuery');
    // A statement the client never prepared still gets 26000 from vecshard, not the node's own name for it.
    cl.messages = [];
    cl.write([serialize.bind({ statement: 'nope' }), serialize.execute({}), serialize.sync()]);
    got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { message: string }).message).toBe('prepared statement "nope" does not exist');
    cl.end();
  });

  it('relays a Parse with its Bind/Execute/Sync (node-postgres, pgbench -M extended) and recovers from a refused Parse', async () => {
    const cl = await RawClient.connect(c.port);
    const run = async (msgs: Buffer[]) => {
      cl.messages = [];
      cl.write(msgs);
      return cl.until('readyForQuery');
    };
    const values = (got: unknown[]) => got.filter((m) => (m as { name: string }).name === 'dataRow').map((m) => (m as { fields: string[] }).fields[0]);
    for (const id of ['1', '2']) {
      const got = await run([serialize.parse({ text: 'SELECT id FROM t WHERE id = $1', types: [23] }), serialize.bind({ values: [id] }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]);
      expect(names(got)).toEqual(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
      expect(values(got)).toEqual([id]);
    }
    // The node refuses a Parse (no such table): error, then ReadyForQuery; the same name parses again once the table exists.
    let got = await run([serialize.parse({ name: 'later', text: 'SELECT n FROM later_t' }), serialize.bind({ statement: 'later' }), serialize.execute({}), serialize.sync()]);
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { code: string }).code).toBe('42P01');
    await run([serialize.query('CREATE TABLE later_t (n int); INSERT INTO later_t VALUES (42)')]);
    got = await run([serialize.parse({ name: 'later', text: 'SELECT n FROM later_t' }), serialize.bind({ statement: 'later' }), serialize.execute({}), serialize.sync()]);
    expect(got.find((m) => m.name === 'error')).toBeUndefined();
    expect(names(got)).toEqual(['parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(values(got)).toEqual(['42']);
    got = await run([serialize.bind({ statement: 'later' }), serialize.execute({}), serialize.sync()]);
    expect(values(got)).toEqual(['42']);
    // A syntax error in an unnamed Parse; the next unnamed statement still works.
    got = await run([serialize.parse({ text: 'SELEC 1' }), serialize.bind({}), serialize.execute({}), serialize.sync()]);
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { code: string }).code).toBe('42601');
    got = await run([serialize.parse({ text: 'SELECT 7' }), serialize.bind({}), serialize.execute({}), serialize.sync()]);
    expect(values(got)).toEqual(['7']);
    // A duplicate name is still vecshard's 42P05, and the rest of the batch is skipped.
    got = await run([serialize.parse({ name: 'later', text: 'SELECT 1' }), serialize.bind({ statement: 'later' }), serialize.execute({}), serialize.sync()]);
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect((got[0] as unknown as { code: string }).code).toBe('42P05');
    await run([serialize.query('DROP TABLE later_t')]);
    cl.end();
  });

  it("one client's DISCARD ALL on a pooled connection does not break another client's prepared statements", async () => {
    const a = await RawClient.connect(c.port);
    const b = await RawClient.connect(c.port);
    const run = async (cl: RawClient, msgs: Buffer[]) => {
      cl.messages = [];
      cl.write(msgs);
      return cl.until('readyForQuery');
    };
    await run(b, [serialize.parse({ name: 'own', text: 'SELECT 1' }), serialize.sync()]);
    await run(a, [serialize.parse({ name: 'mine', text: 'SELECT id FROM t WHERE id = 3' }), serialize.sync()]);
    // Connections are pooled per transaction, the last one back is handed out first: b's DISCARD ALL runs on the
    // connection that has a's statement.
    expect(names(await run(b, [serialize.query('DISCARD ALL')]))).toEqual(['commandComplete', 'readyForQuery']);
    let got = await run(a, [serialize.bind({ statement: 'mine' }), serialize.execute({}), serialize.sync()]);
    expect(got.find((m) => m.name === 'error')).toBeUndefined();
    expect(got.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: string[] }).fields[0])).toEqual(['3']);
    // b's own statements are gone, as on Postgres.
    got = await run(b, [serialize.bind({ statement: 'own' }), serialize.execute({}), serialize.sync()]);
    expect((got[0] as unknown as { code: string }).code).toBe('26000');
    a.end();
    b.end();
  });

  it('keeps at most 500 statements prepared on a node connection, however many a client prepares and closes', async () => {
    const cl = await RawClient.connect(c.port);
    for (let i = 0; i < 1500; i += 100) {
      const batch: Buffer[] = [];
      for (let j = i; j < i + 100; j++) batch.push(serialize.parse({ name: `s${j}`, text: `SELECT ${j} AS n` }), serialize.close({ type: 'S', name: `s${j}` }));
      cl.write([...batch, serialize.sync()]);
      const got = await cl.until('readyForQuery');
      expect(names(got).filter((n) => n === 'parseComplete')).toHaveLength(100);
    }
    // Still prepared once more when used again.
    cl.write([serialize.parse({ name: 'again', text: 'SELECT 3 AS n' }), serialize.bind({ statement: 'again' }), serialize.execute({}), serialize.sync()]);
    expect(names(await cl.until('readyForQuery'))).toEqual(['parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'readyForQuery']);
    cl.write(serialize.query('SELECT count(*)::int AS n FROM pg_prepared_statements'));
    const rows = (await cl.until('readyForQuery')).filter((m) => m.name === 'dataRow') as unknown as Array<{ fields: string[] }>;
    expect(Number(rows[0].fields[0])).toBeLessThanOrEqual(500);
    cl.end();
  });

  it('rejects a duplicate statement name with 42P05', async () => {
    const cl = await RawClient.connect(c.port);
    cl.write([serialize.parse({ name: 'd', text: 'SELECT 1' }), serialize.parse({ name: 'd', text: 'SELECT 2' }), serialize.sync()]);
    const got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['parseComplete', 'error', 'readyForQuery']);
    expect((got[1] as unknown as { code: string }).code).toBe('42P05');
    cl.end();
  });
});

describe('bad input', () => {
  async function healthyQuery(): Promise<void> {
    const ok = new pg.Client(c.options());
    await ok.connect();
    expect((await ok.query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(10);
    await ok.end();
  }

  it('random bytes before startup close that connection only', async () => {
    const healthy = new pg.Client(c.options());
    await healthy.connect();
    for (let i = 0; i < 20; i++) {
      const s = net.connect({ host: '127.0.0.1', port: c.port });
      await connected(s);
      s.on('error', () => {});
      const junk = Buffer.alloc(64 + i * 13);
      for (let j = 0; j < junk.length; j++) junk[j] = (j * 7919 + i * 104729) & 0xff;
      s.write(junk);
      s.end();
    }
    expect((await healthy.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
    await healthy.end();
    await healthyQuery();
  });

  it('a malformed message after startup gets 08P01 and a closed connection; others go on', async () => {
    const healthy = await RawClient.connect(c.port);
    const bad = await RawClient.connect(c.port);
    // A Query whose length says 2 bytes: shorter than the length field itself.
    bad.write(Buffer.from([0x51, 0, 0, 0, 2]));
    const got = await bad.until('error');
    expect((got.at(-1) as unknown as { code: string }).code).toBe('08P01');
    await bad.waitClosed();
    healthy.write(serialize.query('SELECT 1'));
    expect(names(await healthy.until('readyForQuery'))).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    healthy.end();
  });

  it('a Describe of neither a statement nor a portal gets 08P01, not an internal error, and the session goes on', async () => {
    const cl = await RawClient.connect(c.port);
    const describeX = Buffer.from([0x44, 0, 0, 0, 6, 0x58, 0]); // 'D', length 6, kind 'X', empty name
    cl.write([describeX, serialize.sync()]);
    const got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['error', 'readyForQuery']);
    expect(got[0]).toMatchObject({ code: '08P01', message: 'invalid DESCRIBE message subtype 88' });
    cl.write(serialize.query('SELECT 1'));
    expect(names(await cl.until('readyForQuery'))).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    cl.end();
  });

  it('an unknown message type gets 08P01; an oversized length is refused', async () => {
    const a = await RawClient.connect(c.port);
    a.write(Buffer.from([0x7a, 0, 0, 0, 4]));
    expect((((await a.until('error')).at(-1)) as unknown as { code: string }).code).toBe('08P01');
    await a.waitClosed();
    const b = await RawClient.connect(c.port);
    b.write(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]));
    expect((((await b.until('error')).at(-1)) as unknown as { code: string }).code).toBe('08P01');
    await b.waitClosed();
    await healthyQuery();
  });

  it('a Query sent in the same write as the startup packet is answered (it was never answered)', async () => {
    const cl = await RawClient.connect(c.port, { user: 'postgres', database: 'postgres' }, serialize.query('SELECT 41 + 1 AS x'));
    const got = await cl.until('readyForQuery');
    expect(names(got)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect((got[1] as unknown as { fields: string[] }).fields).toEqual(['42']);
    cl.end();
  });

  it('a truncated message followed by a hang-up loses nothing for others', async () => {
    const t = await RawClient.connect(c.port);
    const q = serialize.query('SELECT 1');
    t.write(q.subarray(0, 6));
    t.socket.destroy();
    await healthyQuery();
  });

  it('a node that refuses connections gives that client a clear error, and recovers when it is back', async () => {
    const client = new pg.Client(c.options());
    client.on('error', () => {});
    await client.connect();
    pgs.servers[0].stop();
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: expect.stringMatching(/^(08006|57P01|57P02|57P03)$/) });
    // The same in the extended protocol: one ReadyForQuery, at Sync, so the client's next answer is its own.
    await expect(client.query('SELECT $1::int AS n', [1])).rejects.toMatchObject({ code: '08006' });
    const fresh = new pg.Client(c.options());
    fresh.on('error', () => {});
    await expect(fresh.connect()).rejects.toMatchObject({ code: '08006', message: expect.stringContaining('cannot reach node 0') });
    pgs.servers[0].start();
    await healthyQuery();
    for (const n of [2, 3]) expect((await client.query('SELECT $1::int AS n', [n])).rows).toEqual([{ n }]);
    await client.end().catch(() => {});
  });
});
