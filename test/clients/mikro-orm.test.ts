// MikroORM: an EntitySchema with pgvector's VectorType, the schema generator creating the table, the unit of
// work flushing inserts, a query builder kNN with pgvector's cosineDistance, em.transactional.
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql';
import { VectorType, cosineDistance } from 'pgvector/mikro-orm';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

class Doc {
  id!: number;
  tenant!: number;
  title?: string;
  embedding?: number[];
}

const schema = new EntitySchema<Doc>({
  class: Doc,
  tableName: 'docs',
  // The HNSW index, declared so the schema diff knows it.
  indexes: [{ name: 'docs_embedding_idx', expression: flow.CREATE_INDEX }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: false },
    tenant: { type: 'integer' },
    title: { type: 'text', nullable: true },
    embedding: { type: VectorType, dimensions: 3, nullable: true } as any,
  },
});

const cluster = flow.clientCluster();

function entity(d: { id: number; tenant: number; title?: string; embedding?: number[] }): Doc {
  return Object.assign(new Doc(), d);
}

it('runs the flow on a distributed table', async () => {
  const o = cluster().c.options();
  const orm = await MikroORM.init({ entities: [schema], host: o.host, port: o.port, user: o.user, password: o.password, dbName: o.database, pool: { max: 4 }, allowGlobalContext: false,
    // vecshard's catalog lives in these schemas on node 0: a schema diff must leave them alone.
    schemaGenerator: { ignoreSchema: ['vecshard', 'vecshard_shards'] },
  });
  await orm.schema.updateSchema();
  await orm.em.getConnection().execute(flow.DISTRIBUTE);
  expect(await orm.schema.getUpdateSchemaSQL()).toBe('');

  // MikroORM has no COPY: both halves are persisted by the unit of work (batched INSERTs at flush).
  const em = orm.em.fork();
  for (const d of [...flow.INSERTED, ...flow.COPIED]) em.persist(entity(d));
  await em.flush();

  const knn = await orm.em.fork().createQueryBuilder(Doc).select('id').where({ tenant: flow.TENANT }).orderBy({ [cosineDistance('embedding', flow.QUERY, undefined)]: 'ASC' }).limit(flow.K).getResult();
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const em2 = orm.em.fork();
  const moving = await em2.findOneOrFail(Doc, { id: flow.MOVED });
  moving.embedding = flow.QUERY;
  moving.title = 'moved';
  await em2.flush();
  const [top] = await orm.em.fork().createQueryBuilder(Doc).where({ tenant: flow.TENANT }).orderBy({ [cosineDistance('embedding', flow.QUERY, undefined)]: 'ASC' }).limit(1).getResult();
  expect(top).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(top.embedding).toHaveLength(3);

  expect(await orm.em.fork().nativeDelete(Doc, { tenant: flow.DELETED_TENANT })).toBe(40);

  await expect(
    orm.em.fork().transactional(async (tx) => {
      for (const id of flow.TX_IDS) tx.persist(entity({ id, tenant: 0, title: 'tx' }));
      await tx.flush();
      expect(await tx.count(Doc, { title: 'tx' })).toBe(2);
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect(await orm.em.fork().count(Doc, { title: 'tx' })).toBe(0);
  await orm.em.fork().transactional(async (tx) => {
    for (const id of flow.TX_IDS) tx.persist(entity({ id, tenant: 0, title: 'tx' }));
  });

  expect(await orm.em.fork().count(Doc)).toBe(flow.FINAL_COUNT);
  // The next start compares the schema again: the distributed table must look unchanged.
  expect(await orm.schema.getUpdateSchemaSQL()).toBe('');
  await orm.close();

  // Without ignoreSchema the diff would drop vecshard's catalog: vecshard refuses, and nothing is lost.
  const careless = await MikroORM.init({ entities: [schema], host: o.host, port: o.port, user: o.user, password: o.password, dbName: o.database });
  expect(await careless.schema.getUpdateSchemaSQL()).toMatch(/drop table if exists "vecshard"\."placements"/);
  await expect(careless.schema.updateSchema()).rejects.toMatchObject({ code: '42501' });
  await careless.close();
  await flow.expectFinalPlacement(cluster());
});
