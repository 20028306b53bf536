// vecshard.recluster(table): new centroids for a clustered table whose data drifted, and its rows moved to match,
// online. The switch to the new centroids comes first, with radii widened by how far each centroid moved
// (triangle inequality: a row within r of the old centroid is within r + d(old, new) of the new one), so exact
// pruning stays correct at every moment. Then each shard's misplaced rows move, one shard at a time, in a
// transaction of their own under the write locks of the shards involved; last, the radii are recomputed tight.
import { takeShard, takeShards } from './take-shard.ts';
import type { Logger } from 'pino';
import type { Cluster } from '../shards/cluster.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { SHARD_SCHEMA, type DistributedTable } from '../metadata/catalog.ts';
import { kmeans } from '../index/kmeans.ts';
import { widen } from '../index/bounds.ts';
import { nearestCentroidSql } from '../metadata/route.ts';
import { cosine, distance } from '../index/distance.ts';
import { formatVector, parseVector, type Vec } from '../index/vector.ts';
import { withConn, writeCatalog } from '../metadata/catalog-copies.ts';
import { commitDistributed, rollbackAll } from '../executor/transaction.ts';
import { copyLines } from './distribute.ts';
import { toTextField } from '../executor/copy-rows.ts';
import { PgError } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

const angle = (a: Vec, b: Vec) => {
  const c = cosine(a, b);
  return Number.isNaN(c) ? Math.PI : Math.acos(Math.min(1, Math.max(-1, c)));
};

/** Returns how many rows moved. */
export async function recluster(cluster: Cluster, database: string, table: DistributedTable, log: Logger): Promise<number> {
  if (table.method !== 'clustered') {
    throw new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.recluster: "${table.name}" is not a clustered table` });
  }
  const col = quoteIdent(table.distColumn!);
  const metric = table.metric ?? 'l2';
  const up = (nodes: number[]) => nodes.filter((n) => cluster.isUp(n));
  // A sample of up to about 20,000 rows, read from one copy of each shard.
  const total = (
    await Promise.all(table.shards.map((s) => withConn(cluster, up(s.nodes)[0], database, (c) => runQuery(c, `SELECT count(*) FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)}`))))
  ).reduce((n, r) => n + Number(r.rows[0][0]), 0);
  if (total < table.shards.length) {
    throw new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.recluster: ${total} rows cannot give ${table.shards.length} centroids` });
  }
  const pct = Math.min(100, (100 * 20000) / total);
  const sample: Vec[] = [];
  for (const s of table.shards) {
    const r = await withConn(cluster, up(s.nodes)[0], database, (c) =>
      runQuery(c, `SELECT ${col}::text FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)}${pct < 100 ? ` TABLESAMPLE BERNOULLI (${pct}) REPEATABLE (42)` : ''} WHERE ${col} IS NOT NULL`),
    );
    for (const [t] of r.rows) sample.push(parseVector(t!)!);
  }
  const centroids = kmeans(sample, table.shards.length, metric);

  // 1. Switch: new centroids, radii widened by how far each centroid moved.
  await writeCatalog(
    cluster,
    database,
    table.shards
      .map((s, i) => {
        const g = s.geometry!;
        const rl2 = g.radiusL2 + distance('l2', g.centroid, centroids[i]);
        const ra = Math.min(Math.PI, g.radiusAngle + angle(g.centroid, centroids[i]));
        return `UPDATE vecshard.shards SET centroid = ${quoteLiteral(formatVector(centroids[i]))}, radius_l2 = ${widen(rl2)}, radius_angle = ${widen(ra, Math.PI)} WHERE shard_id = ${s.id}`;
      })
      .join('; '),
  );

  // 2. Move each shard's misplaced rows (nearest centroid computed by the node, so every copy agrees).
  const nearest = nearestCentroidSql(centroids, metric, 'r', table.distColumn!);
  let moved = 0;
  const locks = [...table.shards].sort((a, b) => a.id - b.id);
  for (const s of table.shards) {
    // In id order, as writers take them: no deadlock.
    const unlock = [await takeShards(cluster, database, locks.map((l) => l.id))];
    const conns = new Map<number, NodeConnection>();
    const conn = async (n: number) => {
      let c = conns.get(n);
      if (!c) {
        c = await cluster.pool(n, database).acquire();
        conns.set(n, c);
        await runQuery(c, 'BEGIN');
      }
      return c;
    };
    try {
      const copies = up(s.nodes);
      let rows: Array<Array<string | null>> = [];
      for (const [j, n] of copies.entries()) {
        const r = await runQuery(await conn(n), `DELETE FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)} AS r WHERE ${nearest} <> ${s.index} RETURNING *, ${nearest} AS __vecshard_target`);
        if (j === 0) rows = r.rows;
      }
      const byTarget = new Map<number, string[]>();
      for (const row of rows) {
        const target = Number(row.pop());
        byTarget.set(target, [...(byTarget.get(target) ?? []), row.map(toTextField).join('\t')]);
      }
      for (const [target, lines] of byTarget) {
        for (const n of up(table.shards[target].nodes)) await copyLines(await conn(n), `COPY ${SHARD_SCHEMA}.${quoteIdent(table.shards[target].name)} FROM STDIN`, lines);
      }
      const all = [...conns.values()];
      if (all.length) await commitDistributed(all[0], all.slice(1), true);
      moved += rows.length;
    } catch (e) {
      await rollbackAll([...conns.values()]);
      throw e;
    } finally {
      for (const c of conns.values()) await cluster.pool(c.nodeId, database).release(c, c.status === 'I');
      for (const u of unlock) await u();
    }
  }

  // 3. Tight radii again, each computed under its shard's lock so no write slips past it.
  for (const s of table.shards) {
    const unlock = await takeShard(cluster, database, s.id);
    try {
      const c = formatVector(centroids[s.index]);
      const r = await withConn(cluster, up(s.nodes)[0], database, (conn) =>
        runQuery(
          conn,
          `SELECT coalesce(max(${col} <-> '${c}'), 0), coalesce(max(CASE WHEN (${col} <=> '${c}') = 'NaN' THEN pi() ELSE acos(greatest(-1, least(1, 1 - (${col} <=> '${c}')))) END), 0) FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)}`,
        ),
      );
      const [rl2, ra] = r.rows[0].map(Number);
      await writeCatalog(cluster, database, `UPDATE vecshard.shards SET radius_l2 = ${widen(rl2)}, radius_angle = ${widen(ra, Math.PI)} WHERE shard_id = ${s.id}`);
    } finally {
      await unlock();
    }
  }
  log.info({ table: table.name, moved }, 'reclustered');
  return moved;
}
