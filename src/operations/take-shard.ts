// A shard taken for maintenance (repair, move, dropping a moved-away copy, reclustering): this process's exclusive
// shard lock, and on PostgreSQL nodes an advisory lock on the home node, held on a connection of its own until
// the work is done. Another coordinator wanting the same shard waits there, so two never repair or move one shard
// at once; a coordinator that dies lets it go with its connection.
import type { Cluster } from '../shards/cluster.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { peersOn, renewLease } from '../executor/transaction.ts';
import { withConn } from '../metadata/catalog-copies.ts';

/** How often leases are renewed (the coordinator's settling timer). */
export const RENEW_MS = 5000;

/** Per database: whether other coordinators hold live leases, and when this one first registered there. */
const peers = new WeakMap<Cluster, Map<string, { alive: boolean; since: number }>>();

/**
 * Renews this coordinator's lease on every PostgreSQL node that answers and notes whether it has company; on
 * `conns` when given (the settling round's, one per node, at rest), else on connections taken for it.
 */
export async function register(cluster: Cluster, database: string, conns?: NodeConnection[]): Promise<void> {
  let alive = false;
  const renew = async (c: NodeConnection) => {
    await renewLease(c);
    if (c.nodeId === cluster.homeNode(database)) alive = (await peersOn(c)) > 0;
  };
  if (conns) for (const c of conns) await renew(c);
  else {
    for (const i of cluster.members().filter((n) => cluster.isUp(n) && cluster.nodes[n].kind === 'postgres')) await withConn(cluster, i, database, renew);
  }
  let m = peers.get(cluster);
  if (!m) peers.set(cluster, (m = new Map()));
  m.set(database, { alive, since: m.get(database)?.since ?? Date.now() });
}

/** Registered first, once per database: a coordinator must know of the others before it writes or repairs. */
async function company(cluster: Cluster, database: string): Promise<{ alive: boolean; since: number }> {
  if (!peers.get(cluster)?.has(database)) await register(cluster, database);
  return peers.get(cluster)!.get(database)!;
}

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
    // Others write without waiting on the node until they have seen this coordinator's lease: a new coordinator
    // repairs nothing until they have had two renewals to notice it.
    const { alive, since } = await company(cluster, database);
    const wait = since + 2 * RENEW_MS - Date.now();
    if (alive && wait > 0) await new Promise((r) => setTimeout(r, wait));
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

/**
 * A writer's side: while other coordinators are alive, shared advisory locks on the home node for the shards it
 * writes (a repair there waits for it, and it for a repair), and the catalog is read again after when its version
 * moved (a repair that finished meanwhile made a copy active that the write must reach). Alone, nothing: one
 * process's locks suffice.
 */
export async function shareShards(cluster: Cluster, database: string, shardIds: number[]): Promise<(() => void) | undefined> {
  const home = cluster.homeNode(database);
  if (cluster.nodes[home]?.kind !== 'postgres' || !shardIds.length || !(await company(cluster, database)).alive) return undefined;
  const ids = [...new Set(shardIds)].sort((a, b) => a - b);
  const pool = cluster.pool(home, database);
  const conn = await pool.acquire();
  let version: number;
  try {
    const r = await runQuery(conn, [...ids.map((id) => `SELECT pg_advisory_lock_shared(${SHARD_LOCK_CLASS}, ${id})`), 'SELECT version FROM vecshard.catalog_state'].join('; '));
    version = Number(r.rows.at(-1)?.[0]);
  } catch (e) {
    await pool.release(conn, false);
    throw e;
  }
  // A repair or move that ended meanwhile changed the catalog (and its version): read it again.
  if (cluster.catalogVersion(database) !== version) cluster.invalidateCatalog(database);
  return () =>
    void runQuery(conn, ids.map((id) => `SELECT pg_advisory_unlock_shared(${SHARD_LOCK_CLASS}, ${id})`).join('; '))
      .then(() => pool.release(conn, true))
      .catch(() => pool.release(conn, false));
}

