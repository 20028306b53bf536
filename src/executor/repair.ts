// Rebuilding inactive shard copies from an active one: the copy's table is made anew from the shell's definition,
// filled by COPY while the shard's writes wait on its lock, then marked active. Writes pause; none is lost.
import type { Logger } from 'pino';
import type { Cluster } from '../shards/cluster.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery, quoteIdent } from '../shards/internal-query.ts';
import { SHARD_SCHEMA } from '../shards/catalog.ts';
import * as fe from '../protocol/frontend.ts';
import { copyLines, shardDdl } from './distribute.ts';
import { LineSplitter } from './copy-rows.ts';

async function withConn<T>(cluster: Cluster, node: number, database: string, fn: (c: NodeConnection) => Promise<T>): Promise<T> {
  const pool = cluster.pool(node, database);
  const c = await pool.acquire();
  try {
    return await fn(c);
  } finally {
    await pool.release(c, c.status === 'I');
  }
}

/** Repairs every inactive copy whose node is up; returns how many it made active. */
export async function repairDatabase(cluster: Cluster, database: string, log: Logger): Promise<number> {
  const inactive = await withConn(cluster, 0, database, async (c) => {
    const exists = (await runQuery(c, `SELECT to_regclass('vecshard.placements') IS NOT NULL`)).rows[0][0] === 't';
    if (!exists) return [];
    return (
      await runQuery(
        c,
        `SELECT p.shard_id, p.node_id, s.shard_name, s.schema_name, s.table_name,
                (SELECT string_agg(a.node_id::text, ',') FROM vecshard.placements a WHERE a.shard_id = p.shard_id AND a.state = 'active')
           FROM vecshard.placements p JOIN vecshard.shards s USING (shard_id) WHERE p.state = 'inactive' ORDER BY 1, 2`,
      )
    ).rows;
  });
  let repaired = 0;
  for (const [shardId, nodeId, shard, schema, table, active] of inactive) {
    const target = Number(nodeId);
    const source = (active ?? '').split(',').filter(Boolean).map(Number).find((n) => cluster.isUp(n));
    if (!cluster.isUp(target) || source === undefined) continue;
    const unlock = await cluster.shardLock(Number(shardId)).exclusive();
    try {
      const index = Number(/_(\d+)$/.exec(shard!)?.[1] ?? 0);
      const ddl = await withConn(cluster, 0, database, (c) => shardDdl(c, schema!, table!));
      const lines = await withConn(cluster, source, database, async (c) => {
        c.write(fe.query(`COPY ${SHARD_SCHEMA}.${quoteIdent(shard!)} TO STDOUT`));
        const split = new LineSplitter();
        const out: string[] = [];
        await c.readUntilReady((f) => {
          if (f[0] === 0x64) out.push(...split.push(f.subarray(5)));
        });
        out.push(...split.end());
        return out;
      });
      await withConn(cluster, target, database, async (c) => {
        await runQuery(c, `BEGIN; CREATE SCHEMA IF NOT EXISTS ${SHARD_SCHEMA}; DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(shard!)}; ${ddl(shard!, index).join('; ')}`);
        try {
          await copyLines(c, `COPY ${SHARD_SCHEMA}.${quoteIdent(shard!)} FROM STDIN`, lines);
          await runQuery(c, 'COMMIT');
        } catch (e) {
          await runQuery(c, 'ROLLBACK').catch(() => {});
          throw e;
        }
      });
      await withConn(cluster, 0, database, (c) => runQuery(c, `UPDATE vecshard.placements SET state = 'active' WHERE shard_id = ${shardId} AND node_id = ${target}`));
      cluster.invalidateCatalog(database);
      repaired++;
      log.info({ shard, from: source, to: target, rows: lines.length }, 'repaired shard copy');
    } finally {
      unlock();
    }
  }
  return repaired;
}
