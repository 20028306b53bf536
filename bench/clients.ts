// Driving a node or vecshard with many client connections at once, for the benchmark scenarios.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { toSql } from './data.ts';

export function connectAll(n: number, config: pg.ClientConfig): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const cl = new pg.Client(config);
      await cl.connect();
      return cl;
    }),
  );
}

/** Runs `total` queries over the connections, each taking the next as soon as it is free; answers by index, and q/s. */
export async function spread<T>(conns: pg.Client[], total: number, one: (c: pg.Client, i: number) => Promise<T>): Promise<{ results: T[]; qps: number }> {
  const results: T[] = new Array(total);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      for (let i = next++; i < total; i = next++) results[i] = await one(c, i);
    }),
  );
  return { results, qps: total / ((performance.now() - t0) / 1000) };
}

/** The ids of a kNN answer. */
export const ids = (r: pg.QueryResult): number[] => r.rows.map((x) => Number(x.id));

/** A distributed table `items (id, embedding)` with these vectors (ids 0..n-1, one copy), and an HNSW index. */
export async function loadItems(db: pg.Client, rows: number[][], shards: number): Promise<void> {
  await db.query(`CREATE TABLE items (id bigint, embedding vector(${rows[0].length}))`);
  await db.query(`SELECT create_distributed_table('items', 'id', shard_count => ${shards}, replication_factor => 1)`);
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < rows.length; i++) yield `${i}\t${toSql(rows[i])}\n`;
  })()), db.query(copyFrom('COPY items (id, embedding) FROM STDIN')));
  await db.query('CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)');
}
