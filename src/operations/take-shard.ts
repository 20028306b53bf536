// A shard taken for maintenance (repair, move, dropping a moved-away copy, reclustering): this process's exclusive
// shard lock, and on PostgreSQL nodes an advisory lock on the home node, held on a connection of its own until
// the work is done. Another coordinator wanting the same shard waits there, so two never repair or move one shard
// at once; a coordinator that dies lets it go with its connection.
import type { Cluster } from '../shards/cluster.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';

/** The advisory lock's first key: vecshard's shard locks ('vs'); the second is the shard id. */
export const SHARD_LOCK_CLASS = 0x7673;

export function takeShard(cluster: Cluster, database: string, shardId: number): Promise<() => Promise<void>> {
  return takeShards(cluster, database, [shardId]);
}

/** Several shards at once, in id order (as every taker goes), their node locks on one connection. */
export async function takeShards(cluster: Cluster, database: string, shardIds: number[]): Promise<() => Promise<void>> {
  const ids = [...new Set(shardIds)].sort((a, b) => a - b);
  const local: Array<() => void> = [];
  for (const id of ids) local.push(await cluster.shardLock(id).exclusive());
  const unlockLocal = () => local.splice(0).forEach((u) => u());
  const home = cluster.homeNode(database);
  // Embedded nodes have one coordinator, and one connection: nothing else to wait for.
  if (cluster.nodes[home]?.kind !== 'postgres') return async () => unlockLocal();
  const pool = cluster.pool(home, database);
  let conn: NodeConnection | undefined;
  try {
    conn = await pool.acquire();
    for (const id of ids) await runQuery(conn, `SELECT pg_advisory_lock(${SHARD_LOCK_CLASS}, ${id})`);
  } catch (e) {
    if (conn) await pool.release(conn, false);
    unlockLocal();
    throw e;
  }
  const c = conn;
  return async () => {
    try {
      await runQuery(c, ids.map((id) => `SELECT pg_advisory_unlock(${SHARD_LOCK_CLASS}, ${id})`).join('; '));
      await pool.release(c, true);
    } catch {
      await pool.release(c, false); // closed: the node lets the locks go with the session
    } finally {
      unlockLocal();
    }
  };
}
