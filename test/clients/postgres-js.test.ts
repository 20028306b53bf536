// postgres.js: tagged templates, its bulk-insert helper, COPY through a writable stream, sql.begin.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import pgvector from 'pgvector';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const sql = postgres({ ...cluster().c.options(), max: 4, onnotice: () => {} });
  await sql.unsafe(flow.CREATE_TABLE);
  // postgres.js sends every tagged template through the extended protocol, parameters and all.
  const [distributed] = await sql`SELECT create_distributed_table(${'docs'}, ${'id'}, shard_count => ${4}, replication_factor => ${2})`;
  expect(distributed).toEqual({ create_distributed_table: '' });

  // postgres.js needs the ::vector cast: it sends parameters untyped.
  const rows = flow.INSERTED.map((d) => ({ ...d, embedding: pgvector.toSql(d.embedding) }));
  const inserted = await sql`INSERT INTO docs ${sql(rows, 'id', 'tenant', 'title', 'embedding')}`;
  expect(inserted.count).toBe(60);
  const writable = await sql`COPY docs (id, tenant, title, embedding) FROM STDIN`.writable();
  await pipeline(Readable.from([flow.copyText(flow.COPIED)]), writable);
  await sql.unsafe(flow.CREATE_INDEX);

  const q = pgvector.toSql(flow.QUERY);
  const knn = await sql`SELECT id, embedding <=> ${q}::vector AS distance FROM docs WHERE tenant = ${flow.TENANT} ORDER BY embedding <=> ${q}::vector LIMIT ${flow.K}`;
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const moved = await sql`UPDATE docs SET embedding = ${q}::vector, title = 'moved' WHERE id = ${flow.MOVED} RETURNING id, title`;
  expect([...moved]).toEqual([{ id: flow.MOVED, title: 'moved' }]);
  const [top] = await sql`SELECT id, embedding::text AS embedding FROM docs WHERE tenant = ${flow.TENANT} ORDER BY embedding <=> ${q}::vector LIMIT 1`;
  expect(top.id).toBe(flow.MOVED);
  expect(pgvector.fromSql(top.embedding)).toHaveLength(3);

  const deleted = await sql`DELETE FROM docs WHERE tenant = ${flow.DELETED_TENANT}`;
  expect(deleted.count).toBe(40);

  await expect(
    sql.begin(async (tx) => {
      for (const id of flow.TX_IDS) await tx`INSERT INTO docs (id, tenant, title) VALUES (${id}, 0, 'tx')`;
      expect((await tx`SELECT count(*)::int AS n FROM docs WHERE title = 'tx'`)[0].n).toBe(2);
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect((await sql`SELECT count(*)::int AS n FROM docs WHERE title = 'tx'`)[0].n).toBe(0);
  await sql.begin(async (tx) => {
    for (const id of flow.TX_IDS) await tx`INSERT INTO docs (id, tenant, title) VALUES (${id}, 0, 'tx')`;
  });

  expect((await sql`SELECT count(*)::int AS n FROM docs`)[0].n).toBe(flow.FINAL_COUNT);
  expect(await sql`SELECT vecshard.rebalance() AS moved`).toEqual([{ moved: 0 }]);
  await sql.end();
  await flow.expectFinalPlacement(cluster());
});
