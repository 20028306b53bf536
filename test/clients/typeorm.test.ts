// TypeORM: an EntitySchema with its native vector column, synchronize creating the table (its catalog
// introspection runs through vecshard), repository saves, a query builder kNN, dataSource.transaction.
import 'reflect-metadata';
import { DataSource, EntitySchema } from 'typeorm';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const Doc = new EntitySchema<flow.Doc>({
  name: 'Doc',
  tableName: 'docs',
  columns: {
    id: { type: 'integer', primary: true },
    tenant: { type: 'integer' },
    title: { type: 'text', nullable: true },
    embedding: { type: 'vector', length: 3, nullable: true },
  },
});

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const o = cluster().c.options();
  const options = { type: 'postgres' as const, host: o.host, port: o.port, username: o.user, password: o.password, database: o.database, entities: [Doc], synchronize: true, poolSize: 4 };
  const ds = new DataSource(options);
  await ds.initialize();
  await ds.query(flow.DISTRIBUTE);
  const docs = ds.getRepository(Doc);

  // TypeORM has no COPY: both halves go in through the repository (one multi-row INSERT each).
  await docs.insert(flow.INSERTED);
  await docs.save(flow.COPIED);
  await ds.query(flow.CREATE_INDEX);

  const knn = await docs
    .createQueryBuilder('d')
    .select('d.id', 'id')
    .addSelect('d.embedding <=> :q', 'distance')
    .where('d.tenant = :tenant', { tenant: flow.TENANT })
    .orderBy('distance')
    .limit(flow.K)
    .setParameter('q', flow.vectorText(flow.QUERY))
    .getRawMany();
  expect(knn.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);

  const moved = await docs.update({ id: flow.MOVED }, { embedding: flow.QUERY, title: 'moved' });
  expect(moved.affected).toBe(1);
  const top = await docs.createQueryBuilder('d').where('d.tenant = :tenant', { tenant: flow.TENANT }).orderBy('d.embedding <=> :q').setParameter('q', flow.vectorText(flow.QUERY)).take(1).getOne();
  expect(top).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(top!.embedding).toHaveLength(3);

  expect((await docs.delete({ tenant: flow.DELETED_TENANT })).affected).toBe(40);

  await expect(
    ds.transaction(async (em) => {
      await em.insert(Doc, flow.TX_IDS.map((id) => ({ id, tenant: 0, title: 'tx' })));
      expect(await em.count(Doc, { where: { title: 'tx' } })).toBe(2);
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect(await docs.count({ where: { title: 'tx' } })).toBe(0);
  await ds.transaction(async (em) => {
    for (const id of flow.TX_IDS) await em.save(Doc, { id, tenant: 0, title: 'tx' });
  });

  expect(await docs.count()).toBe(flow.FINAL_COUNT);
  await ds.destroy();
  // The app's next start synchronizes again: the distributed table must look unchanged to TypeORM.
  const again = new DataSource(options);
  await again.initialize();
  expect(await again.getRepository(Doc).count()).toBe(flow.FINAL_COUNT);
  await again.destroy();
  await flow.expectFinalPlacement(cluster());
});
