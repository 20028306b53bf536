// Drizzle ORM on node-postgres: a pgTable with its vector column, typed inserts, cosineDistance in orderBy,
// db.transaction with tx.rollback(). The DDL is the SQL drizzle-kit would generate, run with db.execute.
import { cosineDistance, count, eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text, vector } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const docs = pgTable('docs', {
  id: integer('id').primaryKey(),
  tenant: integer('tenant').notNull(),
  title: text('title'),
  embedding: vector('embedding', { dimensions: 3 }),
});

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const pool = new pg.Pool({ ...cluster().c.options(), max: 4 });
  const db = drizzle(pool);
  await db.execute(sql.raw(flow.CREATE_TABLE));
  await db.execute(sql.raw(flow.DISTRIBUTE));

  // Drizzle has no COPY: both halves go in as multi-row inserts.
  for (const part of [flow.INSERTED, flow.COPIED]) {
    const r = await db.insert(docs).values(part);
    expect(r.rowCount).toBe(60);
  }
  await db.execute(sql.raw(flow.CREATE_INDEX));

  const distance = cosineDistance(docs.embedding, flow.QUERY);
  const knn = await db.select({ id: docs.id, distance }).from(docs).where(eq(docs.tenant, flow.TENANT)).orderBy(distance).limit(flow.K);
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const moved = await db.update(docs).set({ embedding: flow.QUERY, title: 'moved' }).where(eq(docs.id, flow.MOVED)).returning({ id: docs.id });
  expect(moved).toEqual([{ id: flow.MOVED }]);
  const [top] = await db.select().from(docs).where(eq(docs.tenant, flow.TENANT)).orderBy(distance).limit(1);
  expect(top).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(top.embedding).toHaveLength(3); // Drizzle's vector column reads back as number[]

  const deleted = await db.delete(docs).where(eq(docs.tenant, flow.DELETED_TENANT));
  expect(deleted.rowCount).toBe(40);

  const countTx = async (q: Pick<typeof db, 'select'>) => (await q.select({ n: count() }).from(docs).where(eq(docs.title, 'tx')))[0].n;
  await expect(
    db.transaction(async (tx) => {
      await tx.insert(docs).values(flow.TX_IDS.map((id) => ({ id, tenant: 0, title: 'tx' })));
      expect(await countTx(tx)).toBe(2);
      tx.rollback();
    }),
  ).rejects.toThrow(/Rollback/);
  expect(await countTx(db)).toBe(0);
  await db.transaction(async (tx) => {
    for (const id of flow.TX_IDS) await tx.insert(docs).values({ id, tenant: 0, title: 'tx' });
  });

  expect((await db.select({ n: count() }).from(docs))[0].n).toBe(flow.FINAL_COUNT);
  await pool.end();
  await flow.expectFinalPlacement(cluster());
});
