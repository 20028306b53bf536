// CREATE DATABASE and DROP DATABASE through vecshard reach every node; a missing database is 3D000.
import fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

async function q(opts: pg.ClientConfig, sql: string) {
  const cl = new pg.Client(opts);
  await cl.connect();
  try {
    return await cl.query(sql);
  } finally {
    await cl.end();
  }
}

describe('on real nodes', () => {
  let pgs: Awaited<ReturnType<typeof startPgServers>>;
  let c: TestCoordinator;
  beforeAll(async () => {
    pgs = await startPgServers(3);
    c = await startTestCoordinator(pgs);
  });
  afterAll(async () => {
    await c?.close();
    pgs?.stopAll();
  });

  it('creates a database on every node, serves it, and drops it everywhere', async () => {
    await q(c.options(), 'CREATE DATABASE app');
    for (const s of pgs.servers) {
      const r = await q({ connectionString: s.url + '/postgres' }, "SELECT count(*)::int AS n FROM pg_database WHERE datname = 'app'");
      expect(r.rows[0].n).toBe(1);
    }
    await q(c.options('app'), 'CREATE TABLE x (v vector(2)); INSERT INTO x VALUES (\'[1,2]\')');
    expect((await q(c.options('app'), 'SELECT v::text FROM x')).rows).toEqual([{ v: '[1,2]' }]);
    await expect(q(c.options(), 'CREATE DATABASE app')).rejects.toMatchObject({ code: '42P04' });
    await q(c.options(), 'DROP DATABASE app');
    for (const s of pgs.servers) {
      const r = await q({ connectionString: s.url + '/postgres' }, "SELECT count(*)::int AS n FROM pg_database WHERE datname = 'app'");
      expect(r.rows[0].n).toBe(0);
    }
    await expect(q(c.options('app'), 'SELECT 1')).rejects.toMatchObject({ code: '3D000' });
  });

  it('refuses CREATE DATABASE inside a transaction block with 25001', async () => {
    const cl = new pg.Client(c.options());
    await cl.connect();
    await cl.query('BEGIN');
    await expect(cl.query('CREATE DATABASE nope')).rejects.toMatchObject({ code: '25001' });
    await cl.query('ROLLBACK');
    await cl.end();
  });

  it('undoes a CREATE DATABASE that one node refuses', async () => {
    // The last node already has it: the others must not keep theirs.
    await q({ connectionString: pgs.servers[2].url + '/postgres' }, 'CREATE DATABASE partial');
    await expect(q(c.options(), 'CREATE DATABASE partial')).rejects.toMatchObject({ code: '42P04' });
    for (const s of pgs.servers.slice(0, 2)) {
      const r = await q({ connectionString: s.url + '/postgres' }, "SELECT count(*)::int AS n FROM pg_database WHERE datname = 'partial'");
      expect(r.rows[0].n).toBe(0);
    }
  });

  it('DROP DATABASE IF EXISTS of a missing database is a notice', async () => {
    const cl = new pg.Client(c.options());
    const notices: string[] = [];
    cl.on('notice', (n) => notices.push(n.message ?? ''));
    await cl.connect();
    await cl.query('DROP DATABASE IF EXISTS never_was');
    await cl.end();
    expect(notices).toContain('database "never_was" does not exist, skipping');
  });
});

describe('on embedded nodes', () => {
  let c: TestCoordinator & { dataDir?: string };
  beforeAll(async () => {
    c = await startTestCoordinator({ embedded: 2 });
  });
  afterAll(async () => {
    await stopTestCoordinator(c);
  });

  it('creates, serves and drops a database', async () => {
    await expect(q(c.options('emb'), 'SELECT 1')).rejects.toMatchObject({ code: '3D000' });
    await q(c.options(), 'CREATE DATABASE emb');
    await q(c.options('emb'), 'CREATE EXTENSION vector; CREATE TABLE x (v vector(2)); INSERT INTO x VALUES (\'[3,4]\')');
    expect((await q(c.options('emb'), 'SELECT v::text FROM x')).rows).toEqual([{ v: '[3,4]' }]);
    // The table lives in the new database only.
    await expect(q(c.options(), 'SELECT * FROM x')).rejects.toMatchObject({ code: '42P01' });
    await q(c.options(), 'DROP DATABASE emb');
    await expect(q(c.options('emb'), 'SELECT 1')).rejects.toMatchObject({ code: '3D000' });
  });
});
