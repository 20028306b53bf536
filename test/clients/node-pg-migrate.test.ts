// node-pg-migrate applying a migrations folder that creates, distributes and indexes tables (each migration in its
// own transaction, as the tool runs them), then the flow's data and queries on the result, then migrations down.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { expect, it } from 'vitest';
import { queryNode } from '../helpers/pg-nodes.ts';
import * as flow from './flow.ts';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

const cluster = flow.clientCluster();

function migrate(direction: 'up' | 'down', count?: number) {
  return runner({ databaseUrl: cluster().c.url(), dir, direction, count, migrationsTable: 'pgmigrations', log: () => {}, checkOrder: true });
}

it('applies a migrations folder that creates, distributes and indexes tables', async () => {
  const applied = await migrate('up');
  expect(applied.map((m) => m.name)).toEqual(['1700000000001_docs', '1700000000002_docs_embedding_index', '1700000000003_tenants']);
  expect(await migrate('up')).toEqual([]); // nothing left to run

  const client = new pg.Client(cluster().c.options());
  await client.connect();
  const tables = await client.query('SELECT table_name, method FROM vecshard.tables ORDER BY table_name');
  expect(tables.rows).toEqual([{ table_name: 'docs', method: 'hash' }, { table_name: 'tenants', method: 'reference' }]);
  // The index and the added column reached every shard copy.
  const placements = await queryNode(cluster().servers[0], "SELECT s.shard_name, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'docs'");
  expect(placements).toHaveLength(8);
  for (const p of placements) {
    const idx = await queryNode(cluster().servers[p.node_id], `SELECT indexdef FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND tablename = '${p.shard_name}' AND indexdef LIKE '%hnsw%'`);
    expect(idx[0]?.indexdef).toMatch(/USING hnsw \(embedding vector_cosine_ops\)/);
    const cols = await queryNode(cluster().servers[p.node_id], `SELECT column_name FROM information_schema.columns WHERE table_schema = 'vecshard_shards' AND table_name = '${p.shard_name}' ORDER BY ordinal_position`);
    expect(cols.map((c) => c.column_name)).toEqual(['id', 'tenant', 'title', 'embedding', 'source']);
  }

  const values = [...flow.INSERTED, ...flow.COPIED].map((d) => `(${d.id}, ${d.tenant}, '${d.title}', '${flow.vectorText(d.embedding)}')`).join(',');
  await client.query(`INSERT INTO docs (id, tenant, title, embedding) VALUES ${values}`);
  // The reference table joins on each shard's node.
  const knn = await client.query('SELECT d.id, t.name FROM docs d JOIN tenants t ON t.id = d.tenant WHERE d.tenant = $2 ORDER BY d.embedding <=> $1 LIMIT $3', [flow.vectorText(flow.QUERY), flow.TENANT, flow.K]);
  expect(knn.rows).toEqual(flow.EXPECTED_KNN.map((id) => ({ id, name: 'one' })));
  const plain = await client.query('SELECT id, source FROM docs WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT $3', [flow.vectorText(flow.QUERY), flow.TENANT, flow.K]);
  expect(plain.rows.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);
  expect(plain.rows.every((r) => r.source === 'import')).toBe(true);
  await client.end();

  // Down: the last migration drops the column and the reference table; the next drops the index everywhere.
  expect((await migrate('down', 2)).map((m) => m.name)).toEqual(['1700000000003_tenants', '1700000000002_docs_embedding_index']);
  for (const p of placements) {
    const idx = await queryNode(cluster().servers[p.node_id], `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'vecshard_shards' AND tablename = '${p.shard_name}' AND indexdef LIKE '%hnsw%'`);
    expect(idx[0].n).toBe(0);
  }
  expect((await flow.placedRows(cluster())).rows).toBe(120);
  expect((await migrate('down', 1)).map((m) => m.name)).toEqual(['1700000000001_docs']);
  expect(await queryNode(cluster().servers[1], "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'vecshard_shards'")).toEqual([{ n: 0 }]);
});
