// pg-promise: its column-set helpers for the bulk insert, a task for COPY on the underlying pg client, db.tx.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pgPromise from 'pg-promise';
import { from as copyFrom } from 'pg-copy-streams';
import pgvector from 'pgvector/pg-promise';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const pgp = pgPromise({
    async connect(e) {
      await pgvector.registerTypes(e.client);
    },
  });
  const db = pgp({ ...cluster().c.options(), max: 4 });
  await db.none(flow.CREATE_TABLE);
  await db.one(flow.DISTRIBUTE);

  const columns = new pgp.helpers.ColumnSet(['id', 'tenant', 'title', { name: 'embedding', mod: ':raw', init: (c: any) => pgp.as.format('$1::vector', [pgvector.toSql(c.value)]) }], { table: 'docs' });
  await db.none(pgp.helpers.insert(flow.INSERTED, columns));
  // A shared connection object's pg client: what pg-promise users reach for to COPY.
  const sco = await db.connect();
  try {
    await pipeline(Readable.from([flow.copyText(flow.COPIED)]), (sco.client as any).query(copyFrom('COPY docs (id, tenant, title, embedding) FROM STDIN')));
  } finally {
    sco.done();
  }
  await db.none(flow.CREATE_INDEX);

  const knn = await db.any('SELECT id FROM docs WHERE tenant = ${tenant} ORDER BY embedding <=> ${q}::vector LIMIT ${k}', { tenant: flow.TENANT, q: pgvector.toSql(flow.QUERY), k: flow.K });
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const moved = await db.result('UPDATE docs SET embedding = $1::vector, title = $2 WHERE id = $3', [pgvector.toSql(flow.QUERY), 'moved', flow.MOVED]);
  expect(moved.rowCount).toBe(1);
  const top = await db.one('SELECT id, title, embedding FROM docs WHERE tenant = $2 ORDER BY embedding <=> $1::vector LIMIT 1', [pgvector.toSql(flow.QUERY), flow.TENANT]);
  expect(top).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(top.embedding).toHaveLength(3);

  expect((await db.result('DELETE FROM docs WHERE tenant = $1', [flow.DELETED_TENANT])).rowCount).toBe(40);

  await expect(
    db.tx(async (t) => {
      for (const id of flow.TX_IDS) await t.none('INSERT INTO docs (id, tenant, title) VALUES ($1, 0, $2)', [id, 'tx']);
      expect((await t.one("SELECT count(*)::int AS n FROM docs WHERE title = 'tx'")).n).toBe(2);
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect((await db.one("SELECT count(*)::int AS n FROM docs WHERE title = 'tx'")).n).toBe(0);
  await db.tx((t) => t.batch(flow.TX_IDS.map((id) => t.none('INSERT INTO docs (id, tenant, title) VALUES ($1, 0, $2)', [id, 'tx']))));

  expect((await db.one('SELECT count(*)::int AS n FROM docs')).n).toBe(flow.FINAL_COUNT);
  pgp.end();
  await flow.expectFinalPlacement(cluster());
});
