// node-postgres (pg) with a Pool, the pgvector helpers and pg-copy-streams: the flow a Node service would run.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import pgvector from 'pgvector/pg';
import { expect, it } from 'vitest';
import * as flow from './flow.ts';

const cluster = flow.clientCluster();

it('runs the flow on a distributed table', async () => {
  const pool = new pg.Pool({ ...cluster().c.options(), max: 4 });
  pool.on('connect', (client) => void pgvector.registerTypes(client));
  await pool.query(flow.CREATE_TABLE);
  // With parameters, so through the extended protocol: vecshard answers Parse, Bind and Describe itself.
  const distributed = await pool.query('SELECT create_distributed_table($1, $2, shard_count => $3, replication_factor => $4)', ['docs', 'id', 4, 2]);
  expect(distributed.rows).toEqual([{ create_distributed_table: '' }]);

  for (const d of flow.INSERTED) {
    await pool.query('INSERT INTO docs (id, tenant, title, embedding) VALUES ($1, $2, $3, $4)', [d.id, d.tenant, d.title, pgvector.toSql(d.embedding)]);
  }
  const copier = await pool.connect();
  await pipeline(Readable.from([flow.copyText(flow.COPIED)]), copier.query(copyFrom('COPY docs (id, tenant, title, embedding) FROM STDIN')));
  copier.release();
  await pool.query(flow.CREATE_INDEX);

  const knn = await pool.query('SELECT id, embedding <=> $1 AS distance FROM docs WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT $3', [pgvector.toSql(flow.QUERY), flow.TENANT, flow.K]);
  expect(knn.rows.map((r) => r.id)).toEqual(flow.EXPECTED_KNN);
  const distances = knn.rows.map((r) => r.distance as number);
  expect(distances).toEqual([...distances].sort((a, b) => a - b));

  const moved = await pool.query('UPDATE docs SET embedding = $1, title = $2 WHERE id = $3', [pgvector.toSql(flow.QUERY), 'moved', flow.MOVED]);
  expect(moved.rowCount).toBe(1);
  const top = await pool.query('SELECT id, title, embedding FROM docs WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT 1', [pgvector.toSql(flow.QUERY), flow.TENANT]);
  expect(top.rows[0].id).toBe(flow.MOVED);
  expect(top.rows[0].title).toBe('moved');
  expect(top.rows[0].embedding).toHaveLength(3); // registerTypes turned it into an array

  const deleted = await pool.query('DELETE FROM docs WHERE tenant = $1', [flow.DELETED_TENANT]);
  expect(deleted.rowCount).toBe(40);

  const tx = await pool.connect();
  const insertTx = 'INSERT INTO docs (id, tenant, title) VALUES ($1, 0, $2)';
  await tx.query('BEGIN');
  for (const id of flow.TX_IDS) await tx.query(insertTx, [id, 'tx']);
  expect((await tx.query('SELECT count(*)::int AS n FROM docs WHERE title = $1', ['tx'])).rows[0].n).toBe(2);
  await tx.query('ROLLBACK');
  expect((await tx.query('SELECT count(*)::int AS n FROM docs WHERE title = $1', ['tx'])).rows[0].n).toBe(0);
  await tx.query('BEGIN');
  for (const id of flow.TX_IDS) await tx.query(insertTx, [id, 'tx']);
  await tx.query('COMMIT');
  tx.release();

  expect((await pool.query('SELECT count(*)::int AS n FROM docs')).rows[0].n).toBe(flow.FINAL_COUNT);
  await pool.end();
  await flow.expectFinalPlacement(cluster());
});
