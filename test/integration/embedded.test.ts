// The embedded default: PGlite nodes behind the same coordinator, used by real drivers.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import pg from 'pg';
import pgvector from 'pgvector/pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { within } from '../helpers/wait.ts';

let c: TestCoordinator & { dataDir?: string };

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 1 }, { pool: { acquireTimeoutMs: 20_000 } });
});
afterAll(async () => {
  await stopTestCoordinator(c);
});

it('node-postgres: COPY in and out, parameterized kNN, a transaction', async () => {
  const client = new pg.Client(c.options());
  client.on('error', () => {});
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await pgvector.registerTypes(client);
  await client.query('CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(2))');
  const lines = Array.from({ length: 1000 }, (_, i) => `${i}\t[${Math.cos(i)},${Math.sin(i)}]\n`);
  await pipeline(Readable.from(lines), client.query(copyFrom('COPY items FROM STDIN')));
  expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(1000);
  let out = '';
  await pipeline(
    client.query(copyTo('COPY (SELECT id FROM items WHERE id < 3 ORDER BY id) TO STDOUT')),
    new Writable({
      write(chunk, _e, cb) {
        out += chunk;
        cb();
      },
    }),
  );
  expect(out).toBe('0\n1\n2\n');
  await client.query('CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)');
  const r = await client.query('SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 3', [pgvector.toSql([1, 0])]);
  const f = Math.fround;
  const dist = (i: number) => (f(Math.cos(i)) - 1) ** 2 + f(Math.sin(i)) ** 2;
  const brute = Array.from({ length: 1000 }, (_, i) => i).sort((x, y) => dist(x) - dist(y)).slice(0, 3);
  expect(r.rows.map((x) => Number(x.id))).toEqual(brute);
  await client.query('BEGIN');
  await client.query('DELETE FROM items WHERE id >= 500');
  await client.query('ROLLBACK');
  expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(1000);
  // A failed COPY loses nothing and leaves the session usable.
  await expect(pipeline(Readable.from(['5000\tnot-a-vector\n']), client.query(copyFrom('COPY items FROM STDIN')))).rejects.toMatchObject({ code: '22P02' });
  await expect(pipeline(Readable.from(['1\t[0,0]\n']), client.query(copyFrom('COPY no_such FROM STDIN')))).rejects.toMatchObject({ code: '42P01' });
  expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(1000);
  await client.end();
});

it('COPY in binary format into and out of a distributed table on embedded nodes', async () => {
  const client = new pg.Client(c.options());
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await client.query('CREATE TABLE bin_items (id bigint, embedding vector(2))');
  await client.query("SELECT create_distributed_table('bin_items', 'id', shard_count => 3)");
  // What psycopg or pgx would send: header, then per row its field count and each field's length and bytes.
  const row = (i: number) => {
    const b = Buffer.alloc(30);
    b.writeInt16BE(2, 0);
    b.writeInt32BE(8, 2);
    b.writeBigInt64BE(BigInt(i), 6);
    b.writeInt32BE(12, 14);
    b.writeUInt16BE(2, 18); // dimensions, then an unused int16, then the floats
    b.writeFloatBE(i, 22);
    b.writeFloatBE(1, 26);
    return b;
  };
  const header = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
  await pipeline(Readable.from([Buffer.concat([header, ...Array.from({ length: 100 }, (_, i) => row(i))])]), client.query(copyFrom('COPY bin_items FROM STDIN (FORMAT binary)')));
  expect((await client.query('SELECT count(*)::int AS n, sum(id)::int AS s FROM bin_items')).rows).toEqual([{ n: 100, s: 4950 }]);
  expect((await client.query('SELECT embedding::text AS e FROM bin_items WHERE id = 7')).rows).toEqual([{ e: '[7,1]' }]);
  const out: Buffer[] = [];
  await pipeline(client.query(copyTo('COPY bin_items TO STDOUT (FORMAT binary)')), async function* (src) {
    for await (const b of src) out.push(b as Buffer);
  });
  // One header, 100 rows, one end marker.
  expect(Buffer.concat(out).length).toBe(header.length + 100 * 30 + 2);
  await client.end();
});

it('two clients share one embedded session without seeing each other’s settings', async () => {
  const a = new pg.Client(c.options());
  const b = new pg.Client(c.options());
  await a.connect();
  await b.connect();
  await a.query('SET hnsw.ef_search = 99');
  for (let i = 0; i < 5; i++) {
    const [ra, rb] = await Promise.all([a.query('SHOW hnsw.ef_search'), b.query('SHOW hnsw.ef_search')]);
    expect(ra.rows[0]['hnsw.ef_search']).toBe('99');
    expect(rb.rows[0]['hnsw.ef_search']).toBe('40');
  }
  await a.end();
  await b.end();
});

it('postgres.js pipelines and prepares against an embedded node', async () => {
  const sql = postgres({ ...c.options(), max: 2, onnotice: () => {} });
  const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => sql`SELECT id FROM items WHERE id = ${i}`));
  expect(rows.map((r) => Number(r[0].id))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  await sql.end();
});

it('a client that disconnects mid-transaction leaves no transaction behind on the shared session', async () => {
  const a = new pg.Client(c.options());
  a.on('error', () => {});
  await a.connect();
  await a.query('BEGIN');
  await a.query('DELETE FROM items');
  (a as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const b = new pg.Client(c.options());
  await b.connect();
  expect((await b.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(1000);
  await b.end();
});

it('a cursor inside a transaction reads a distributed table part by part from the embedded node (postgres.js)', async () => {
  const sql = postgres({ ...c.options(), max: 1, onnotice: () => {} });
  try {
    await sql`CREATE TABLE parts (id int PRIMARY KEY, body text)`;
    await sql`SELECT create_distributed_table('parts', 'id', shard_count => 3)`;
    await sql`INSERT INTO parts SELECT i, repeat('x', 300) FROM generate_series(1, 2000) i`;
    const ids = await sql.begin(async (tx) => {
      // Far below the result: a portal kept whole on the coordinator fails with 53200.
      await tx.unsafe("SET LOCAL vecshard.work_mem = '64kB'");
      await tx`INSERT INTO parts VALUES (5000, 'mine')`;
      const seen: number[] = [];
      for await (const rows of tx`SELECT id, body FROM parts ORDER BY id`.cursor(150)) {
        expect(rows.length).toBeLessThanOrEqual(150);
        seen.push(...rows.map((r) => r.id as number));
      }
      expect((await tx`SELECT body FROM parts WHERE id = 5000`)[0].body).toBe('mine');
      return seen;
    });
    expect(ids).toEqual([...Array.from({ length: 2000 }, (_, i) => i + 1), 5000]);
  } finally {
    await sql.end();
  }
});

it('postgres.js as the first client of a new embedded coordinator is answered (its first batch took the one connection, then waited for it)', async () => {
  const fresh = await startTestCoordinator({ embedded: 1 });
  const sql = postgres({ ...fresh.options(), max: 1, onnotice: () => {} });
  try {
    expect(await within('the first query', sql`SELECT 1 AS x`, 10_000)).toEqual([{ x: 1 }]);
  } finally {
    await sql.end({ timeout: 1 });
    await stopTestCoordinator(fresh);
  }
});
