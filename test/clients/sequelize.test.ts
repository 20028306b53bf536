// Sequelize: a model with pgvector's VECTOR type, sync() creating the table, bulkCreate, pgvector's
// cosineDistance in order, managed transactions.
import pgvector from 'pgvector/sequelize';
import { DataTypes, Sequelize } from 'sequelize';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

pgvector.registerTypes(Sequelize);

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const o = cluster().c.options();
  const sequelize = new Sequelize(o.database, o.user, o.password ?? '', { host: o.host, port: o.port, dialect: 'postgres', logging: false, pool: { max: 4 } });
  const Doc = sequelize.define(
    'Doc',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true },
      tenant: { type: DataTypes.INTEGER, allowNull: false },
      title: { type: DataTypes.TEXT },
      embedding: { type: (DataTypes as any).VECTOR(3) },
    },
    { tableName: 'docs', timestamps: false },
  );
  await Doc.sync();
  await sequelize.query(flow.DISTRIBUTE);

  // Sequelize has no COPY: both halves go in with bulkCreate (one multi-row INSERT each).
  await Doc.bulkCreate(flow.INSERTED as any[]);
  await Doc.bulkCreate(flow.COPIED as any[]);
  await sequelize.query(flow.CREATE_INDEX);

  const order = pgvector.cosineDistance('embedding', flow.QUERY, sequelize);
  const knn = await Doc.findAll({ attributes: ['id'], where: { tenant: flow.TENANT }, order, limit: flow.K });
  expect(knn.map((r) => r.get('id'))).toEqual(flow.EXPECTED_KNN);

  const [updated] = await Doc.update({ embedding: flow.QUERY, title: 'moved' }, { where: { id: flow.MOVED } });
  expect(updated).toBe(1);
  const top = await Doc.findOne({ where: { tenant: flow.TENANT }, order });
  expect(top?.get({ plain: true })).toMatchObject({ id: flow.MOVED, title: 'moved' });
  expect(top?.get('embedding')).toHaveLength(3);

  expect(await Doc.destroy({ where: { tenant: flow.DELETED_TENANT } })).toBe(40);

  await expect(
    sequelize.transaction(async (transaction) => {
      await Doc.bulkCreate(flow.TX_IDS.map((id) => ({ id, tenant: 0, title: 'tx' })), { transaction });
      expect(await Doc.count({ where: { title: 'tx' }, transaction })).toBe(2);
      throw new Error('roll it back');
    }),
  ).rejects.toThrow('roll it back');
  expect(await Doc.count({ where: { title: 'tx' } })).toBe(0);
  await sequelize.transaction(async (transaction) => {
    for (const id of flow.TX_IDS) await Doc.create({ id, tenant: 0, title: 'tx' }, { transaction });
  });

  expect(await Doc.count()).toBe(flow.FINAL_COUNT);
  await sequelize.close();
  await flow.expectFinalPlacement(cluster());
});
