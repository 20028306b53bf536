// The catalog on every node, so losing any one node loses no metadata. Every change reaches every current copy and
// bumps its version; a copy that missed changes (its node was down) is brought up to date from a current one
// before it is trusted again, and a coordinator starts from the newest copy that answers.
import type { Cluster } from '../shards/cluster.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { ANNOUNCE, BUMP_VERSION, loadCatalog, migrate, type Catalog } from './catalog.ts';
export { BUMP_VERSION };
import { watchCatalog } from './catalog-watch.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { Logger } from 'pino';
import { recoverPrepared } from '../executor/transaction.ts';
import { tableDdl } from '../operations/distribute.ts';
import { PgError, isConnectionFailure } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

/** The version of a node's copy: -1 where vecshard never kept a catalog in this database. */
export async function catalogVersion(c: NodeConnection): Promise<number> {
  const r = await runQuery(c, `SELECT to_regclass('vecshard.tables') IS NOT NULL, to_regclass('vecshard.catalog_state') IS NOT NULL`);
  if (r.rows[0][0] !== 't') return -1;
  if (r.rows[0][1] !== 't') return 0;
  return Number((await runQuery(c, 'SELECT version FROM vecshard.catalog_state')).rows[0][0]);
}

const CATALOG_TABLES = ['tables', 'shards', 'placements'];

/** Makes `dst`'s catalog copy equal to `src`'s and gives it the shells it lacks. Both connections idle. */
export async function copyCatalog(src: NodeConnection, dst: NodeConnection): Promise<void> {
  await migrate(src);
  await migrate(dst);
  // Shells first: a node standing in for node 0 answers psql's catalog queries about them.
  const tables = await runQuery(src, 'SELECT schema_name, table_name FROM vecshard.tables');
  const exts = tables.rows.length ? await runQuery(src, `SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'`) : { rows: [] };
  for (const [schema, name] of tables.rows) {
    const rel = quoteLiteral(`${quoteIdent(schema!)}.${quoteIdent(name!)}`);
    if ((await runQuery(dst, `SELECT to_regclass(${rel}) IS NOT NULL`)).rows[0][0] === 't') continue;
    const ddl = await tableDdl(src, schema!, name!, true);
    await runQuery(
      dst,
      [...exts.rows.map(([e]) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e!)}`), `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema!)}`, ...ddl(schema!, name!)].join('; '),
    );
  }
  const sql = ['BEGIN', ...[...CATALOG_TABLES].reverse().map((t) => `DELETE FROM vecshard.${t}`)];
  for (const t of CATALOG_TABLES) {
    const r = await runQuery(src, `SELECT * FROM vecshard.${t}`);
    if (!r.rows.length) continue;
    const values = r.rows.map((row) => `(${row.map((v) => (v === null ? 'NULL' : quoteLiteral(v))).join(', ')})`);
    sql.push(`INSERT INTO vecshard.${t} (${r.fields.map(quoteIdent).join(', ')}) VALUES ${values.join(', ')}`);
  }
  const version = await catalogVersion(src);
  sql.push(
    `SELECT setval(pg_get_serial_sequence('vecshard.shards', 'shard_id'), greatest((SELECT max(shard_id) FROM vecshard.shards), 1))`,
    `UPDATE vecshard.catalog_state SET version = ${version}`,
    'COMMIT',
  );
  await runQuery(dst, sql.join(';\n')).catch(async (e) => {
    await runQuery(dst, 'ROLLBACK').catch(() => {});
    throw e;
  });
}

/**
 * Loads the catalog from the newest copy among `conns` (one idle connection per node that answers) and brings
 * the older copies up to date; those nodes become the database's current catalog nodes. A node lost on the way
 * (stopped since it was picked) is marked down and left out of `conns`.
 */
export async function loadNewestCatalog(cluster: Cluster, database: string, conns: NodeConnection[]): Promise<Catalog> {
  const unlock = await cluster.catalogLock(database).exclusive();
  try {
    const lost = (c: NodeConnection) => (e: unknown) => {
      if (!isConnectionFailure(e)) throw e;
      cluster.markDown(c.nodeId);
      conns.splice(conns.indexOf(c), 1);
    };
    const versions = new Map<NodeConnection, number>();
    await Promise.all([...conns].map((c) => catalogVersion(c).then((v) => void versions.set(c, v), lost(c))));
    if (!conns.length) throw new PgError({ severity: 'FATAL', code: '08006', message: 'vecshard: no node answers' });
    const newest = Math.max(...versions.values());
    const src = conns.find((c) => versions.get(c) === newest)!;
    if (newest >= 0) {
      for (const c of [...conns]) if (versions.get(c)! < newest) await copyCatalog(src, c).catch(lost(c));
    }
    cluster.setCatalogNodes(database, conns.map((c) => c.nodeId));
    return await loadCatalog(src);
  } finally {
    unlock();
  }
}

/**
 * The catalog of `database`, shared by every session: loaded from the newest copy among the nodes that answer, and
 * on the first load two-phase commits an earlier coordinator left half done are settled. `held` is a session's
 * connection to a current copy, read through when given (an embedded node has only one connection, and inside a
 * transaction the session must see its own DDL).
 */
export function openCatalog(cluster: Cluster, database: string, log: Logger, held?: NodeConnection): Promise<Catalog> {
  return cluster.catalog(database, async () => {
    if (held && cluster.recovered(database) && cluster.catalogNodes(database)?.includes(held.nodeId)) return loadCatalog(held);
    const taken: NodeConnection[] = [];
    try {
      for (const n of cluster.members()) {
        if (!cluster.isUp(n)) continue;
        // A node that is down keeps its prepared transactions and stale copy until it is back and repaired.
        const c = await cluster.pool(n, database).acquire().catch(() => undefined);
        if (c) taken.push(c);
        else cluster.markDown(n);
      }
      if (!taken.length) throw new PgError({ severity: 'FATAL', code: '08006', message: 'vecshard: no node answers' });
      const answering = [...taken];
      const cat = await loadNewestCatalog(cluster, database, answering);
      if (!cat.empty && !cluster.recovered(database)) {
        const n = await recoverPrepared(answering, answering.length === cluster.members().length);
        if (n) log.warn({ settled: n }, 'settled prepared transactions left by an earlier coordinator');
      }
      cluster.setRecovered(database);
      watchCatalog(cluster, database, log);
      return cat;
    } finally {
      for (const c of taken) await cluster.pool(c.nodeId, c.database).release(c, c.status === 'I');
    }
  });
}

/**
 * Creates or upgrades the catalog on every PostgreSQL node as vecshard's own user, in transactions of its own: a
 * client logged in as its role (pass-through) may not, and would do so inside its transaction.
 */
export async function migrateCatalogs(cluster: Cluster, database: string): Promise<void> {
  for (const n of cluster.members()) {
    if (cluster.nodes[n].kind !== 'postgres' || !cluster.isUp(n)) continue;
    const pool = cluster.pool(n, database);
    const c = await pool.acquire();
    try {
      await migrate(c);
    } finally {
      await pool.release(c, c.status === 'I');
    }
  }
}

/** Brings the copies on nodes that are up but not current (back from being down) up to date. */
export async function refreshStaleCopies(cluster: Cluster, database: string): Promise<number[]> {
  const unlock = await cluster.catalogLock(database).exclusive();
  const fixed: number[] = [];
  try {
    const current = cluster.catalogNodes(database);
    if (!current?.length) return fixed;
    const stale = cluster.members().filter((i) => cluster.isUp(i) && !current.includes(i));
    for (const n of stale) {
      await withConn(cluster, current[0], database, (src) => withConn(cluster, n, database, (dst) => copyCatalog(src, dst)));
      cluster.addCatalogNode(database, n);
      fixed.push(n);
    }
    return fixed;
  } finally {
    unlock();
    if (fixed.length) cluster.invalidateCatalog(database);
  }
}

/**
 * Runs `sql` on every current copy, each in a transaction of its own that bumps the version. A node that cannot
 * be reached is marked down (its copy is brought up to date when it is back); at least one copy must take it.
 */
export async function writeCatalog(cluster: Cluster, database: string, sql: string, held?: (node: number) => NodeConnection | undefined): Promise<void> {
  const unlock = await cluster.catalogLock(database).exclusive();
  try {
    const nodes = cluster.catalogNodes(database) ?? [0];
    let wrote = 0;
    let lost: unknown;
    const write = async (c: NodeConnection) => {
      // A session's own connection inside its client's transaction: the change joins that transaction.
      // Inside the client's transaction only the home node's part may announce it (the others may be prepared).
      if (c.status !== 'I') return void (await runQuery(c, `${sql}; ${BUMP_VERSION}${c.nodeId === cluster.homeNode(database) ? `; ${ANNOUNCE}` : ''}`));
      await runQuery(c, `BEGIN; ${sql}; ${BUMP_VERSION}; ${ANNOUNCE}; COMMIT`).catch(async (e) => {
        await runQuery(c, 'ROLLBACK').catch(() => {});
        throw e;
      });
    };
    await Promise.all(
      nodes.map(async (n) => {
        try {
          // A connection the session holds is used (an embedded node has only one).
          const own = held?.(n);
          if (own) await write(own);
          else await withConn(cluster, n, database, write);
          wrote++;
        } catch (e) {
          if (!isConnectionFailure(e)) throw e;
          cluster.markDown(n);
          lost = e;
        }
      }),
    );
    if (!wrote) {
      throw new PgError({
        severity: 'ERROR',
        code: '08006',
        message: 'vecshard: no copy of the catalog could be written',
        detail: lost instanceof Error ? lost.message : undefined,
      });
    }
  } finally {
    unlock();
    cluster.invalidateCatalog(database);
  }
}

/** Reads from a current catalog copy. */
export async function readCatalog<T>(cluster: Cluster, database: string, fn: (c: NodeConnection) => Promise<T>): Promise<T> {
  return withConn(cluster, cluster.catalogNodes(database)?.[0] ?? cluster.homeNode(database), database, fn);
}

/** Every node must be up with a current copy for changes to table definitions (shells live on every node). */
export function requireAllNodes(cluster: Cluster, database: string, what: string): void {
  const current = cluster.catalogNodes(database);
  const missing = cluster.members().filter((i) => !cluster.isUp(i) || (current && !current.includes(i)));
  if (missing.length) {
    throw new PgError({
      severity: 'ERROR',
      code: '55000',
      message: `vecshard: ${what} needs every node, and node ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} down or not yet repaired`,
      hint: 'Table definitions are kept on every node. Bring the node back (it is repaired automatically), or remove it with vecshard.remove_node.',
    });
  }
}

export async function withConn<T>(cluster: Cluster, node: number, database: string, fn: (c: NodeConnection) => Promise<T>): Promise<T> {
  const pool = cluster.pool(node, database);
  const c = await pool.acquire();
  try {
    return await fn(c);
  } finally {
    await pool.release(c, c.status === 'I');
  }
}
