// Embedded nodes (one PGlite backend per node, shared by every pooled connection): a client that goes away in the
// middle of a transaction or a COPY leaves nothing behind for the next one (issue 17, findings 1 and 2).
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { waitFor, within } from '../helpers/wait.ts';

let c: TestCoordinator & { dataDir?: string };

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 1 });
  const setup = new pg.Client(c.options());
  await setup.connect();
  await setup.query('CREATE TABLE plain_t (id int)');
  await setup.end();
}, 120_000);
afterAll(() => stopTestCoordinator(c));

/** A client that runs `sql` (simple protocol) and vanishes without a Terminate. */
async function vanishAfter(...sql: string[]): Promise<void> {
  const raw = await RawClient.connect(c.port);
  for (const q of sql) {
    raw.write(serialize.query(q));
    await raw.until(q.startsWith('COPY') ? 'copyInResponse' : 'readyForQuery');
  }
  raw.socket.destroy();
  await raw.waitClosed();
}

async function fresh(): Promise<pg.Client> {
  const cl = new pg.Client({ ...c.options(), application_name: 'second' });
  await cl.connect();
  return cl;
}

it("a client gone in the middle of a transaction leaves none of its settings to the next client", async () => {
  await vanishAfter("SET application_name = 'leaky'", 'SET default_transaction_read_only = on', 'BEGIN', 'SELECT 1');
  // A client that sets nothing at startup (as psql with no options): nothing is applied for it, so whatever the
  // backend still holds would show.
  const next = await RawClient.connect(c.port, { user: 'postgres', database: 'postgres' });
  try {
    const show = async (s: string) => {
      next.write(serialize.query(`SHOW ${s}`));
      const got = await next.until('readyForQuery');
      return (got.find((m) => m.name === 'dataRow') as unknown as { fields: string[] }).fields[0];
    };
    expect(await show('default_transaction_read_only')).toBe('off');
    expect(await show('application_name')).toBe('');
  } finally {
    next.end();
  }
});

it("a client gone in the middle of a transaction leaves none of its prepared statements to the next client", async () => {
  const a = new pg.Client(c.options());
  a.on('error', () => {});
  await a.connect();
  await a.query({ name: 'count', text: 'SELECT count(*)::int AS n FROM plain_t WHERE id > $1', values: [0] });
  await a.query('BEGIN');
  await a.query('SELECT 1');
  const before = c.server.sessions;
  (a as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
  // Ended, and its connection reset and back in the pool (or dropped): nothing of it is still in flight.
  const settled = () => c.server.sessions < before && c.cluster.poolStats().every((p) => p.size === p.idle);
  await waitFor('the coordinator to end the vanished session and settle its connection', settled, { timeoutMs: 5000, everyMs: 10 });
  const b = await fresh();
  try {
    // The same text prepared again: on the node under the same name, which must not be there any more (42P05).
    for (let i = 0; i < 2; i++) expect((await b.query({ name: `count${i}`, text: 'SELECT count(*)::int AS n FROM plain_t WHERE id > $1', values: [0] })).rows[0].n).toBeGreaterThanOrEqual(0);
  } finally {
    await b.end();
  }
});

it('a client gone in the middle of a COPY into a plain table does not lock the node', async () => {
  const raw = await RawClient.connect(c.port);
  raw.write(serialize.query('COPY plain_t FROM STDIN'));
  await raw.until('copyInResponse');
  raw.write(serialize.copyData(Buffer.from('7\n8\n')));
  raw.socket.destroy();
  await raw.waitClosed();
  const next = await fresh();
  try {
    // Within seconds, not after the pool's acquire timeout (53300).
    const n = await within('a statement after the abandoned COPY', next.query('SELECT count(*)::int AS n FROM plain_t WHERE id IN (7, 8)'), 10_000);
    expect(n.rows).toEqual([{ n: 0 }]);
    await within('a write after the abandoned COPY', next.query('INSERT INTO plain_t VALUES (9)'), 10_000);
  } finally {
    await next.end();
  }
}, 60_000);


it('DROP DATABASE "." or ".." drops no folder but its own (it emptied the node\'s data folder)', async () => {
  const cl = new pg.Client(c.options());
  await cl.connect();
  try {
    await cl.query(`INSERT INTO plain_t VALUES (42)`);
    for (const name of ['.', '..', '../..']) {
      await expect(cl.query(`DROP DATABASE "${name}"`), name).rejects.toMatchObject({ code: '3D000' });
    }
    await cl.query('CREATE DATABASE "."');
    expect(fs.existsSync(path.join(c.dataDir!, 'node-0', '%2E'))).toBe(true);
    await cl.query('DROP DATABASE "."');
    expect(fs.existsSync(path.join(c.dataDir!, 'node-0', '%2E'))).toBe(false);
    expect((await cl.query('SELECT count(*)::int AS n FROM plain_t WHERE id = 42')).rows).toEqual([{ n: 1 }]);
  } finally {
    await cl.end();
  }
});

it('a client waiting for an embedded node that another client holds idle in a transaction is told at once, by whom', async () => {
  const a = new pg.Client({ ...c.options(), application_name: 'a-holder' });
  await a.connect();
  const b = await fresh();
  try {
    await a.query('BEGIN');
    await a.query('SELECT count(*) FROM plain_t');
    const t0 = Date.now();
    await expect(within('the refusal', b.query('SELECT count(*) FROM plain_t'), 10_000)).rejects.toMatchObject({
      code: '55P03',
      message: expect.stringMatching(/embedded node 0 runs one transaction at a time, and session \d+ \(user postgres, application a-holder\) holds it idle in a transaction/),
    });
    expect(Date.now() - t0).toBeLessThan(5000); // not the pool's 30 s wait
    await a.query('COMMIT');
    expect((await b.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
  } finally {
    await a.end();
    await b.end();
  }
});
