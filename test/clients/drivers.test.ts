// Real drivers through vecshard give the same answers as straight from the node: node-postgres (extended protocol,
// pipelined), postgres.js, prepared statements shared across pooled connections, and session settings.
import pg from 'pg';
import pgvector from 'pgvector/pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let direct: pg.Client;

function vec(i: number): number[] {
  return [Math.sin(i), Math.cos(i * 1.3), Math.sin(i * 0.7 + 1)];
}

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { size: 4 } });
  direct = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await direct.connect();
  const setup = new pg.Client(c.options());
  await setup.connect();
  await setup.query('CREATE TABLE docs (id int PRIMARY KEY, tenant int, embedding vector(3))');
  const values = Array.from({ length: 300 }, (_, i) => `(${i}, ${i % 3}, '${pgvector.toSql(vec(i))}')`).join(',');
  await setup.query(`INSERT INTO docs VALUES ${values}`);
  await setup.query('CREATE INDEX ON docs USING hnsw (embedding vector_cosine_ops)');
  await setup.end();
});

afterAll(async () => {
  await direct?.end();
  await c?.close();
  pgs?.stopAll();
});

const KNN = 'SELECT id, tenant, embedding FROM docs WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT 10';

describe('node-postgres', () => {
  it('answers pipelined parameterized kNN queries exactly as the node does', async () => {
    const client = new pg.Client(c.options());
    await client.connect();
    await pgvector.registerTypes(client);
    await pgvector.registerTypes(direct);
    const queries = Array.from({ length: 20 }, (_, i) => [pgvector.toSql(vec(1000 + i)), i % 3]);
    // node-postgres queues these and sends each as Parse/Bind/Describe/Execute/Sync.
    const [through, straight] = await Promise.all([
      Promise.all(queries.map((p) => client.query({ text: KNN, values: p }))),
      Promise.all(queries.map((p) => direct.query({ text: KNN, values: p }))),
    ]);
    for (let i = 0; i < queries.length; i++) {
      expect(through[i].rows.length).toBe(10);
      expect(through[i].rows).toEqual(straight[i].rows);
      expect(through[i].fields.map((f) => [f.name, f.dataTypeID])).toEqual(straight[i].fields.map((f) => [f.name, f.dataTypeID]));
    }
    await client.end();
  });

  it('reuses named prepared statements across many clients sharing few node connections', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, async () => {
      const cl = new pg.Client(c.options());
      await cl.connect();
      return cl;
    }));
    const results = await Promise.all(
      clients.flatMap((cl, i) =>
        Array.from({ length: 10 }, (_, j) => cl.query({ name: 'by_id', text: 'SELECT id, tenant FROM docs WHERE id = $1', values: [i * 10 + j] })),
      ),
    );
    expect(results.map((r) => r.rows[0].id)).toEqual(Array.from({ length: 80 }, (_, k) => k));
    await Promise.all(clients.map((cl) => cl.end()));
  });

  it('reports errors with the node SQLSTATE and recovers within the same connection', async () => {
    const client = new pg.Client(c.options());
    await client.connect();
    await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    await expect(client.query({ text: 'SELECT $1::int', values: ['x'] })).rejects.toMatchObject({ code: '22P02' });
    await expect(client.query('INSERT INTO docs VALUES (1, 0, NULL)')).rejects.toMatchObject({ code: '23505', constraint: 'docs_pkey' });
    expect((await client.query('SELECT 42 AS x')).rows).toEqual([{ x: 42 }]);
    await client.end();
  });

  it('keeps a transaction on one node connection, with rollback', async () => {
    const client = new pg.Client(c.options());
    await client.connect();
    await client.query('BEGIN');
    await client.query('INSERT INTO docs VALUES (1000, 9, NULL)');
    expect((await client.query('SELECT count(*)::int AS n FROM docs WHERE tenant = 9')).rows[0].n).toBe(1);
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM docs WHERE tenant = 9')).rows[0].n).toBe(0);
    await client.end();
  });

  it('carries session settings onto whichever pooled connection serves the client', async () => {
    const a = new pg.Client(c.options());
    const b = new pg.Client({ ...c.options(), application_name: 'vecshard-b' } as pg.ClientConfig);
    await a.connect();
    await b.connect();
    await a.query('SET hnsw.ef_search = 123');
    await a.query("SET search_path TO pg_catalog, public");
    await b.query('SET hnsw.ef_search = 7');
    for (let i = 0; i < 10; i++) {
      const [ra, rb] = await Promise.all([a.query('SHOW hnsw.ef_search'), b.query('SHOW hnsw.ef_search')]);
      expect(ra.rows[0]['hnsw.ef_search']).toBe('123');
      expect(rb.rows[0]['hnsw.ef_search']).toBe('7');
    }
    expect((await b.query('SHOW application_name')).rows[0].application_name).toBe('vecshard-b');
    expect((await a.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog, public');
    await a.query('RESET hnsw.ef_search');
    expect((await a.query('SHOW hnsw.ef_search')).rows[0]['hnsw.ef_search']).toBe('40');
    await a.end();
    await b.end();
  });

  it('gets 3D000 for a database that does not exist', async () => {
    const client = new pg.Client(c.options('no_such_db'));
    await expect(client.connect()).rejects.toMatchObject({ code: '3D000' });
  });
});

describe('postgres.js', () => {
  it('answers kNN queries as the node does', async () => {
    const sql = postgres({ ...c.options(), max: 4, onnotice: () => {} });
    const ref = postgres({ host: '127.0.0.1', port: pgs.servers[0].port, user: 'postgres', password: pgs.servers[0].password, database: 'postgres', max: 1 });
    for (let i = 0; i < 10; i++) {
      const q = pgvector.toSql(vec(2000 + i));
      const mine = await sql`SELECT id, tenant FROM docs WHERE tenant = ${i % 3} ORDER BY embedding <=> ${q}::vector LIMIT 10`;
      const theirs = await ref`SELECT id, tenant FROM docs WHERE tenant = ${i % 3} ORDER BY embedding <=> ${q}::vector LIMIT 10`;
      expect([...mine]).toEqual([...theirs]);
      expect(mine.length).toBe(10);
    }
    // postgres.js pipelines many queries on one connection.
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => sql`SELECT ${i}::int AS i`));
    expect(many.map((r) => r[0].i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await sql.begin(async (tx) => {
      await tx`INSERT INTO docs VALUES (5000, 7, NULL)`;
      const r = await tx`SELECT count(*)::int AS n FROM docs WHERE tenant = 7`;
      expect(r[0].n).toBe(1);
    });
    expect((await sql`SELECT count(*)::int AS n FROM docs WHERE tenant = 7`)[0].n).toBe(1);
    await sql.end();
    await ref.end();
  });
});
