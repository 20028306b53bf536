// Rebuilding inactive shard copies from an active one: the copy's table is made anew from the shell's definition,
// filled by COPY while the shard's writes wait on its lock, then marked active. Writes pause; none is lost.
import type { Logger } from 'pino';
import type { Cluster } from '../shards/cluster.ts';
import { PgError, type NodeConnection } from '../shards/node-connection.ts';
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
  for (const [shardId, nodeId, , , , active] of inactive) {
    const target = Number(nodeId);
    const source = (active ?? '').split(',').filter(Boolean).map(Number).find((n) => cluster.isUp(n));
    if (!cluster.isUp(target) || source === undefined) continue;
    await repairCopy(cluster, database, Number(shardId), source, target, log);
    repaired++;
  }
  return repaired;
}

/** Rebuilds the copy of shard `shardId` on `target` from `source` and marks it active, under the shard's lock. */
export async function repairCopy(cluster: Cluster, database: string, shardId: number, source: number, target: number, log: Logger): Promise<void> {
  const unlock = await cluster.shardLock(shardId).exclusive();
  try {
    const [[shard, schema, table]] = (
      await withConn(cluster, 0, database, (c) => runQuery(c, `SELECT shard_name, schema_name, table_name FROM vecshard.shards WHERE shard_id = ${shardId}`))
    ).rows;
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
    log.info({ shard, from: source, to: target, rows: lines.length }, 'copied shard');
  } finally {
    unlock();
  }
}

/** Moves a shard's copy from one node to another, online: a new copy is built, then the old one dropped. */
export async function moveShardPlacement(cluster: Cluster, database: string, shardId: number, from: number, to: number, log: Logger): Promise<void> {
  const bad = (m: string) => new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.move_shard_placement: ${m}` });
  if (!cluster.nodes[to]) throw bad(`there is no node ${to}`);
  const state = await withConn(cluster, 0, database, (c) =>
    runQuery(c, `SELECT node_id, state FROM vecshard.placements WHERE shard_id = ${shardId}`),
  );
  const here = new Map(state.rows.map(([n, s]) => [Number(n), s]));
  if (here.get(from) !== 'active') throw bad(`shard ${shardId} has no active copy on node ${from}`);
  if (here.has(to)) throw bad(`shard ${shardId} already has a copy on node ${to}`);
  await withConn(cluster, 0, database, (c) => runQuery(c, `INSERT INTO vecshard.placements (shard_id, node_id, state) VALUES (${shardId}, ${to}, 'inactive')`));
  cluster.invalidateCatalog(database);
  await repairCopy(cluster, database, shardId, from, to, log);
  const unlock = await cluster.shardLock(shardId).exclusive();
  try {
    const [[shard]] = (await withConn(cluster, 0, database, (c) => runQuery(c, `SELECT shard_name FROM vecshard.shards WHERE shard_id = ${shardId}`))).rows;
    await withConn(cluster, 0, database, (c) => runQuery(c, `DELETE FROM vecshard.placements WHERE shard_id = ${shardId} AND node_id = ${from}`));
    cluster.invalidateCatalog(database);
    await withConn(cluster, from, database, (c) => runQuery(c, `DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(shard!)}`)).catch(() => {});
  } finally {
    unlock();
  }
}

/** Evens out copies per node (among nodes that are up): moves from the fullest to the emptiest until they differ by at most one. */
export async function rebalance(cluster: Cluster, database: string, log: Logger): Promise<number> {
  let moves = 0;
  for (;;) {
    const rows = (
      await withConn(cluster, 0, database, (c) => runQuery(c, `SELECT shard_id, node_id FROM vecshard.placements WHERE state = 'active' ORDER BY shard_id`))
    ).rows.map(([s, n]) => [Number(s), Number(n)] as const);
    const nodes = cluster.nodes.map((_, i) => i).filter((i) => cluster.isUp(i));
    const load = new Map(nodes.map((n) => [n, [] as number[]]));
    for (const [s, n] of rows) load.get(n)?.push(s);
    const sorted = [...load].sort((a, b) => a[1].length - b[1].length);
    const [emptiest, fewest] = sorted[0];
    const [fullest, most] = sorted[sorted.length - 1];
    if (most.length - fewest.length <= 1) return moves;
    const onEmptiest = new Set(fewest);
    const shard = most.find((s) => !onEmptiest.has(s));
    if (shard === undefined) return moves;
    await moveShardPlacement(cluster, database, shard, fullest, emptiest, log);
    moves++;
  }
}
