// kysely: its schema builder, typed inserts, pgvector's cosineDistance helper in orderBy, db.transaction().
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { cosineDistance, toSql, fromSql } from 'pgvector/kysely';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

interface Database {
  docs: { id: number; tenant: number; title: string | null; embedding: string | null };
}

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...cluster().c.options(), max: 4 }) }) });
  await db.schema
    .createTable('docs')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('tenant', 'integer', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('embedding', sql`vector(3)`)
    .execute();
  await sql.raw(flow.DISTRIBUTE).execute(db);

  // kysely has no COPY: both halves go in as multi-row inserts.
  for (const part of [flow.INSERTED, flow.COPIED]) {
    const r = await db.insertInto('docs').values(part.map((d) => ({ ...d, embedding: toSql(d.embedding) }))).executeTakeFirst();
    expect(r.numInsertedOrUpdatedRows).toBe(60n);
  }
  await db.schema.createIndex('docs_embedding_idx').on('docs').using('hnsw').expression(sql`embedding vector_cosine_ops`).execute();

  const knn = await db.selectFrom('docs').select('id').where('tenant', '=', flow.TENANT).orderBy(cosineDistance('embedding', flow.QUERY)).limit(flow.K).execute();
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const moved = await db.updateTable('docs').set({ embedding: toSql(flow.QUERY), title: 'moved' }).where('id', '=', flow.MOVED).executeTakeFirst();
  expect(moved.numUpdatedRows).toBe(1n);
  const top = await db.selectFrom('docs').select(['id', 'title', 'embedding']).where('tenant', '=', flow.TENANT).orderBy(cosineDistance('embedding', flow.QUERY)).limit(1).executeTakeFirstOrThrow();
  expect(top).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(fromSql(top.embedding)).toHaveLength(3);

  const deleted = await db.deleteFrom('docs').where('tenant', '=', flow.DELETED_TENANT).executeTakeFirst();
  expect(deleted.numDeletedRows).toBe(40n);

  const countTx = (q: Kysely<Database>) => q.selectFrom('docs').select((eb) => eb.fn.countAll<string>().as('n')).where('title', '=', 'tx').executeTakeFirstOrThrow();
  await expect(
    db.transaction().execute(async (trx) => {
      await trx.insertInto('docs').values(flow.TX_IDS.map((id) => ({ id, tenant: 0, title: 'tx', embedding: null }))).execute();
      expect((await countTx(trx)).n).toBe('2');
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect((await countTx(db)).n).toBe('0');
  await db.transaction().execute(async (trx) => {
    for (const id of flow.TX_IDS) await trx.insertInto('docs').values({ id, tenant: 0, title: 'tx', embedding: null }).execute();
  });

  const total = await db.selectFrom('docs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  expect(Number(total.n)).toBe(flow.FINAL_COUNT);
  await db.destroy();
  await flow.expectFinalPlacement(cluster());
});
