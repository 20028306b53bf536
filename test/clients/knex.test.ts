// knex: the schema builder with pgvector's vector column, its insert builder, pgvector's cosineDistance helper,
// COPY on a pg connection knex hands out, and knex.transaction.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import knexFactory from 'knex';
import pgvector from 'pgvector/knex';
import { from as copyFrom } from 'pg-copy-streams';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const knex = knexFactory({ client: 'pg', connection: cluster().c.options(), pool: { min: 0, max: 4 } });
  await knex.schema.createTable('docs', (t) => {
    t.integer('id').primary();
    t.integer('tenant').notNullable();
    t.text('title');
    (t as any).vector('embedding', 3);
  });
  await knex.raw(flow.DISTRIBUTE);

  await knex('docs').insert(flow.INSERTED.map((d) => ({ ...d, embedding: pgvector.toSql(d.embedding) })));
  const conn = await knex.client.acquireConnection();
  try {
    await pipeline(Readable.from([flow.copyText(flow.COPIED)]), conn.query(copyFrom('COPY docs (id, tenant, title, embedding) FROM STDIN')));
  } finally {
    await knex.client.releaseConnection(conn);
  }
  await knex.schema.alterTable('docs', (t) => {
    t.index([knex.raw('embedding vector_cosine_ops')], 'docs_embedding_idx', 'hnsw');
  });

  const knn = await (knex('docs').select('id').where('tenant', flow.TENANT) as any).orderBy((knex('docs') as any).cosineDistance('embedding', flow.QUERY)).limit(flow.K);
  expect(knn.map((r: any) => r.id)).toEqual(flow.EXPECTED_KNN);

  expect(await knex('docs').where('id', flow.MOVED).update({ embedding: pgvector.toSql(flow.QUERY), title: 'moved' })).toBe(1);
  const [top] = await (knex('docs').select('id', 'title', 'embedding').where('tenant', flow.TENANT) as any).orderBy((knex('docs') as any).cosineDistance('embedding', flow.QUERY)).limit(1);
  expect(top.id).toBe(flow.MOVED);
  expect(top.title).toBe('moved');
  expect(pgvector.fromSql(top.embedding)).toHaveLength(3);

  expect(await knex('docs').where('tenant', flow.DELETED_TENANT).delete()).toBe(40);

  await expect(
    knex.transaction(async (trx) => {
      await trx('docs').insert(flow.TX_IDS.map((id) => ({ id, tenant: 0, title: 'tx' })));
      expect((await trx('docs').where('title', 'tx').count({ n: '*' }))[0].n).toBe('2');
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect((await knex('docs').where('title', 'tx').count({ n: '*' }))[0].n).toBe('0');
  await knex.transaction(async (trx) => {
    for (const id of flow.TX_IDS) await trx('docs').insert({ id, tenant: 0, title: 'tx' });
  });

  expect((await knex('docs').count({ n: '*' }))[0].n).toBe(String(flow.FINAL_COUNT));
  await knex.destroy();
  await flow.expectFinalPlacement(cluster());
});
