// Adding and removing nodes online. A new node gets every database, the extensions, the shells and a copy of the
// catalog, then takes shards through vecshard.rebalance(); a node to be removed is drained first: each of its
// shard copies is rebuilt on another node (the repair machinery), then it leaves the cluster.
import { takeShard } from './take-shard.ts';
import type { Logger } from 'pino';
import { MAINTENANCE_DB, type Cluster, type NodeSpec } from '../shards/cluster.ts';
import { PgNodeConnection } from '../shards/pg-node.ts';
import { runQuery } from '../shards/internal-query.ts';
import { openCatalog, readCatalog, refreshStaleCopies, writeCatalog } from '../metadata/catalog-copies.ts';
import { dropLater, repairCopy } from './repair.ts';
import { PgError } from '../errors.ts';

const bad = (fn: string, m: string, code = '22023') => new PgError({ severity: 'ERROR', code, message: `vecshard.${fn}: ${m}` });

/** Adds a node and gives it what every node has; returns its id. Its share of shards comes with rebalance(). */
export async function addNode(cluster: Cluster, spec: NodeSpec, log: Logger): Promise<number> {
  if (spec.kind === 'postgres') {
    const probe = new PgNodeConnection(-1, MAINTENANCE_DB, spec);
    try {
      await probe.connect(cluster.options.connectTimeoutMs);
      const v = await runQuery(probe, `SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'`);
      if (v.rows[0][0] === '0') throw bad('add_node', `node ${spec.host}:${spec.port} does not have pgvector installed`, '0A000');
    } catch (e) {
      if (e instanceof PgError && e.fields.code === '0A000') throw e;
      throw bad('add_node', `cannot reach ${spec.host}:${spec.port}: ${(e as Error).message}`, '08006');
    } finally {
      probe.close();
    }
    const same = cluster.members().find((i) => {
      const n = cluster.nodes[i];
      return n.kind === 'postgres' && n.host === spec.host && n.port === spec.port;
    });
    if (same !== undefined) throw bad('add_node', `${spec.host}:${spec.port} is node ${same} already`, '42710');
  }
  const home = cluster.homeNode(MAINTENANCE_DB);
  const databases = await cluster.listDatabases(home);
  const id = cluster.addNode(spec);
  try {
    for (const db of databases) await cluster.ensureDatabase(id, db);
    // Databases this coordinator has open get the new node's catalog copy now; others when they are first opened.
    for (const db of cluster.databases()) await refreshStaleCopies(cluster, db);
  } catch (e) {
    cluster.removeNode(id);
    throw e;
  }
  log.warn({ node: id }, 'node added');
  return id;
}

/** Moves every shard copy off node `id`, then takes it out of the cluster; returns how many copies moved. */
export async function removeNode(cluster: Cluster, id: number, log: Logger): Promise<number> {
  if (!cluster.members().includes(id)) throw bad('remove_node', `there is no node ${id}`);
  if (id === 0) throw bad('remove_node', 'node 0 holds the tables that are not distributed and the sequences of distributed tables; it cannot be removed', '0A000');
  const others = cluster.members().filter((n) => n !== id);
  if (!others.length) throw bad('remove_node', 'cannot remove the last node', '55000');
  let moved = 0;
  const databases = await cluster.listDatabases(cluster.homeNode(MAINTENANCE_DB) === id ? others[0] : cluster.homeNode(MAINTENANCE_DB));
  for (const db of databases) {
    await openCatalog(cluster, db, log);
    const rows = await readCatalog(cluster, db, async (c) => {
      if ((await runQuery(c, `SELECT to_regclass('vecshard.placements') IS NOT NULL`)).rows[0][0] !== 't') return [];
      return (
        await runQuery(
          c,
          `SELECT p.shard_id, t.method, s.shard_name,
                  (SELECT string_agg(a.node_id || ':' || a.state, ',') FROM vecshard.placements a WHERE a.shard_id = p.shard_id AND a.node_id <> ${id})
             FROM vecshard.placements p JOIN vecshard.shards s USING (shard_id) JOIN vecshard.tables t USING (schema_name, table_name)
            WHERE p.node_id = ${id} ORDER BY 1`,
        )
      ).rows;
    });
    for (const [shardIdText, method, shard, rest] of rows) {
      const shardId = Number(shardIdText);
      const copies = new Map((rest ?? '').split(',').filter(Boolean).map((x) => [Number(x.split(':')[0]), x.split(':')[1]]));
      const source = [...copies].find(([n, state]) => state === 'active' && cluster.isUp(n))?.[0];
      if (method !== 'reference') {
        // A copy elsewhere is built before this one goes: the shard keeps its number of copies.
        const load = await copiesPerNode(cluster, db);
        const target = others.filter((n) => cluster.isUp(n) && !copies.has(n)).sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0))[0];
        if (target === undefined) {
          throw bad('remove_node', `shard ${shard} (database "${db}") already has a copy on every other node that is up; nowhere to move it`, '55000');
        }
        const from = source ?? id;
        if (from === id && !cluster.isUp(id)) throw bad('remove_node', `shard ${shard} has no active copy on a node that is up`, '55000');
        await writeCatalog(cluster, db, `INSERT INTO vecshard.placements (shard_id, node_id, state) VALUES (${shardId}, ${target}, 'inactive')`);
        await repairCopy(cluster, db, shardId, from, target, log, 'move');
        moved++;
      } else if (source === undefined) {
        throw bad('remove_node', `reference table shard ${shard} has no other active copy`, '55000');
      }
      const unlock = await takeShard(cluster, db, shardId);
      try {
        await writeCatalog(cluster, db, `DELETE FROM vecshard.placements WHERE shard_id = ${shardId} AND node_id = ${id}`);
      } finally {
        await unlock();
      }
      if (cluster.isUp(id)) dropLater(cluster, db, shardId, id, shard!, log);
    }
  }
  cluster.removeNode(id);
  for (const db of cluster.databases()) cluster.invalidateCatalog(db);
  log.warn({ node: id, moved }, 'node removed');
  return moved;
}

async function copiesPerNode(cluster: Cluster, db: string): Promise<Map<number, number>> {
  const r = await readCatalog(cluster, db, (c) => runQuery(c, `SELECT node_id, count(*) FROM vecshard.placements GROUP BY 1`));
  return new Map(r.rows.map(([n, k]) => [Number(n), Number(k)]));
}
