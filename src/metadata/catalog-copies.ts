// The catalog on every node, so losing any one node loses no metadata. Every change reaches every current copy
// under the copies' locks (taken in node order, by every coordinator) and sets one new version and a digest of the
// rows on all; a copy that missed changes (its node was down) or differs is brought up to date from the newest
// before it is trusted again, and a coordinator starts from the newest copy that answers.
import type { Cluster } from '../shards/cluster.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { ANNOUNCE, loadCatalog, migrate, type Catalog } from './catalog.ts';
import { watchCatalog } from './catalog-watch.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { Logger } from 'pino';
import { commitDistributed, recoverPrepared, rollbackAll } from '../executor/transaction.ts';
import { shellGuard, tableDdl } from '../operations/distribute.ts';
import { PgError, isConnectionFailure } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

/** A copy's version and content digest; version -1 where vecshard never kept a catalog in this database. */
interface CopyState {
  version: number;
  digest: string | null;
}

async function copyState(c: NodeConnection, lock = false): Promise<CopyState> {
  if (!lock) {
    const r = await runQuery(c, `SELECT to_regclass('vecshard.tables') IS NOT NULL, to_regclass('vecshard.catalog_state') IS NOT NULL`);
    if (r.rows[0][0] !== 't') return { version: -1, digest: null };
    if (r.rows[0][1] !== 't') return { version: 0, digest: null };
  }
  // The digest column came with a later upgrade: read through to_jsonb so an older copy answers too.
  const r = await runQuery(c, `SELECT version, to_jsonb(s)->>'digest' FROM vecshard.catalog_state s${lock ? ' FOR UPDATE' : ''}`);
  return { version: Number(r.rows[0][0]), digest: r.rows[0][1] };
}

/** The copy with the highest version, the lowest node's among equals (`conns` in node order); undefined for none. */
const newestOf = (conns: NodeConnection[], states: Map<NodeConnection, CopyState>) =>
  conns.reduce<NodeConnection | undefined>((best, c) => (!best || states.get(c)!.version > states.get(best)!.version ? c : best), undefined);

/** Whether `dst` must be made equal to `src`: behind it, or at its version with other contents. */
const behind = (dst: CopyState, src: CopyState) => dst.version < src.version || (dst.version === src.version && dst.digest !== src.digest);

const CATALOG_TABLES = ['tables', 'shards', 'placements', 'calibration'];

/**
 * Makes `dst`'s catalog copy equal to `src`'s and gives it the shells it lacks. In a transaction of its own when
 * `dst` is idle, else in the one it is in.
 */
export async function copyCatalog(src: NodeConnection, dst: NodeConnection): Promise<void> {
  const own = dst.status === 'I';
  await migrate(src, src.status !== 'I');
  await migrate(dst, !own);
  // Shells first: a node standing in for node 0 answers psql's catalog queries about them.
  const tables = await runQuery(src, 'SELECT schema_name, table_name FROM vecshard.tables');
  const exts = tables.rows.length ? await runQuery(src, `SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'`) : { rows: [] };
  for (const [schema, name] of tables.rows) {
    const rel = quoteLiteral(`${quoteIdent(schema!)}.${quoteIdent(name!)}`);
    if ((await runQuery(dst, `SELECT to_regclass(${rel}) IS NOT NULL`)).rows[0][0] === 't') continue;
    const ddl = await tableDdl(src, schema!, name!, true);
    await runQuery(
      dst,
      [...exts.rows.map(([e]) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e!)}`), `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema!)}`, ...ddl(schema!, name!), ...shellGuard(`${quoteIdent(schema!)}.${quoteIdent(name!)}`)].join('; '),
    );
  }
  const sql = [...CATALOG_TABLES].reverse().map((t) => `DELETE FROM vecshard.${t}`);
  for (const t of CATALOG_TABLES) {
    const r = await runQuery(src, `SELECT * FROM vecshard.${t}`);
    if (!r.rows.length) continue;
    const values = r.rows.map((row) => `(${row.map((v) => (v === null ? 'NULL' : quoteLiteral(v))).join(', ')})`);
    sql.push(`INSERT INTO vecshard.${t} (${r.fields.map(quoteIdent).join(', ')}) VALUES ${values.join(', ')}`);
  }
  const { version } = await copyState(src);
  sql.push(
    `SELECT setval(pg_get_serial_sequence('vecshard.shards', 'shard_id'), greatest((SELECT max(shard_id) FROM vecshard.shards), 1))`,
    `UPDATE vecshard.catalog_state SET version = ${version}, digest = vecshard.catalog_digest()`,
  );
  if (!own) return void (await runQuery(dst, sql.join(';\n')));
  await runQuery(dst, ['BEGIN', ...sql, 'COMMIT'].join(';\n')).catch(async (e) => {
    await runQuery(dst, 'ROLLBACK').catch(() => {});
    throw e;
  });
}

/**
 * Locks the copies for a change: on each connection (idle ones get a transaction of their own) the copy's state
 * row is locked, in node order. Every writer, through any coordinator, takes them in that order, so changes reach
 * every copy one after another and in the same order. Copies behind the newest are brought up to date in the same
 * transaction (`upgrade`: copies are upgraded first). A node lost on the way is marked down and left out. Returns
 * the copies taken, those in transactions of their own, and the newest version.
 */
async function lockCopies(cluster: Cluster, conns: NodeConnection[], upgrade = true): Promise<{ parts: NodeConnection[]; own: NodeConnection[]; version: number; lost?: unknown }> {
  const parts: NodeConnection[] = [];
  const own: NodeConnection[] = [];
  const states = new Map<NodeConnection, CopyState>();
  let lost: unknown;
  try {
    for (const c of [...conns].sort((a, b) => a.nodeId - b.nodeId)) {
      try {
        if (c.status === 'I') {
          if (upgrade) await migrate(c);
          await runQuery(c, 'BEGIN');
          own.push(c);
        }
        states.set(c, await copyState(c, true));
        parts.push(c);
      } catch (e) {
        if (!isConnectionFailure(e)) throw e;
        cluster.markDown(c.nodeId);
        lost = e;
      }
    }
    const src = newestOf(parts, states);
    if (src) for (const c of parts) if (c !== src && behind(states.get(c)!, states.get(src)!)) await copyCatalog(src, c);
    return { parts, own, version: src ? states.get(src)!.version : 0, lost };
  } catch (e) {
    await rollbackAll(own);
    throw e;
  }
}

/** Commits the copies' own transactions together (two-phase where the nodes allow); the first announces it. */
async function commitCopies(own: NodeConnection[], announce: boolean): Promise<void> {
  if (!own.length) return;
  try {
    if (announce) await runQuery(own[0], ANNOUNCE);
    await commitDistributed(own[0], own.slice(1), true);
  } catch (e) {
    await rollbackAll(own);
    throw e;
  }
}

/**
 * Loads the catalog from the newest copy among `conns` (one idle connection per node that answers) and brings
 * the other copies up to date (those behind it, or at its version with other contents); those nodes become the
 * database's current catalog nodes. A node lost on the way is marked down and left out of `conns`.
 */
export async function loadNewestCatalog(cluster: Cluster, database: string, conns: NodeConnection[]): Promise<Catalog> {
  const unlock = await cluster.catalogLock(database).exclusive();
  try {
    const lost = (c: NodeConnection) => (e: unknown) => {
      if (!isConnectionFailure(e)) throw e;
      cluster.markDown(c.nodeId);
      conns.splice(conns.indexOf(c), 1);
    };
    const states = new Map<NodeConnection, CopyState>();
    await Promise.all([...conns].map((c) => copyState(c).then((v) => void states.set(c, v), lost(c))));
    if (!conns.length) throw new PgError({ severity: 'FATAL', code: '08006', message: 'vecshard: no node answers' });
    const newest = newestOf(conns, states)!;
    if (states.get(newest)!.version >= 0 && conns.some((c) => behind(states.get(c)!, states.get(newest)!))) {
      // Copies disagree: they are made equal under the copies' locks (another coordinator may be changing them).
      const { parts, own } = await lockCopies(cluster, conns);
      await commitCopies(own, false);
      for (const c of [...conns]) if (!parts.includes(c)) conns.splice(conns.indexOf(c), 1);
    }
    if (!conns.length) throw new PgError({ severity: 'FATAL', code: '08006', message: 'vecshard: no node answers' });
    cluster.setCatalogNodes(database, conns.map((c) => c.nodeId));
    return await loadCatalog(conns[0]);
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
        // An embedded node has one connection: when the session holds it (idle), the first load reads through it.
        if (held?.nodeId === n && held.status === 'I' && cluster.nodes[n].kind === 'pglite') {
          taken.push(held);
          continue;
        }
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
      for (const c of taken) if (c !== held) await cluster.pool(c.nodeId, c.database).release(c, c.status === 'I');
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
  const taken: NodeConnection[] = [];
  try {
    const current = cluster.catalogNodes(database);
    if (!current?.length) return fixed;
    const stale = cluster.members().filter((i) => cluster.isUp(i) && !current.includes(i));
    if (!stale.length) return fixed;
    for (const n of [...current, ...stale]) taken.push(await cluster.pool(n, database).acquire());
    const { parts, own } = await lockCopies(cluster, taken);
    await commitCopies(own, false);
    for (const n of stale) {
      if (!parts.some((c) => c.nodeId === n)) continue;
      cluster.addCatalogNode(database, n);
      fixed.push(n);
    }
    return fixed;
  } finally {
    for (const c of taken) await cluster.pool(c.nodeId, database).release(c, c.status === 'I');
    unlock();
    if (fixed.length) cluster.invalidateCatalog(database);
  }
}

/**
 * Runs `sql` on every current copy, all in one transaction across them (committed in two phases where the nodes
 * allow) that bumps their version, under the copies' locks (lockCopies). A node that cannot be reached is marked
 * down (its copy is brought up to date when it is back); at least one copy must take it. `held` gives a
 * session's connection, in its client's transaction, where it has one: the change joins that transaction there.
 */
export async function writeCatalog(cluster: Cluster, database: string, sql: string, held?: (node: number) => NodeConnection | undefined): Promise<void> {
  const unlock = await cluster.catalogLock(database).exclusive();
  try {
    // A node lost while the change is made leaves it undone everywhere; it is made again without that node.
    for (let attempt = 0; ; attempt++) {
      const lost = await writeCopies(cluster, database, sql, held);
      if (lost === undefined) return;
      if (!cluster.catalogNodes(database)?.length || attempt >= 2) {
        throw new PgError({ severity: 'ERROR', code: '08006', message: 'vecshard: no copy of the catalog could be written', detail: lost instanceof Error ? lost.message : undefined });
      }
    }
  } finally {
    unlock();
    cluster.invalidateCatalog(database);
  }
}

/** One try of writeCatalog: undefined when done, or what was lost (a node's connection) when it must try again. */
async function writeCopies(cluster: Cluster, database: string, sql: string, held?: (node: number) => NodeConnection | undefined): Promise<unknown> {
  const taken: NodeConnection[] = [];
  const lose = (n: number) => (e: unknown) => {
    if (!isConnectionFailure(e)) throw e;
    cluster.markDown(n);
    return e;
  };
  try {
    const conns: NodeConnection[] = [];
    let lost: unknown;
    for (const n of cluster.catalogNodes(database) ?? [0]) {
      const own = held?.(n);
      const c = own ?? (await cluster.pool(n, database).acquire().catch((e) => void (lost = lose(n)(e))));
      if (!c) continue;
      if (!own) taken.push(c);
      conns.push(c);
    }
    const locked = await lockCopies(cluster, conns, false);
    if (!locked.parts.length) return locked.lost ?? lost ?? new Error('no current copy');
    const home = cluster.homeNode(database);
    const bump = `UPDATE vecshard.catalog_state SET version = ${locked.version + 1}, digest = vecshard.catalog_digest()`;
    let failed: unknown;
    // Inside the client's transaction only the home node's part may announce it (the others may be prepared).
    await Promise.all(
      locked.parts.map((c) =>
        runQuery(c, `${sql}; ${bump}${!locked.own.includes(c) && c.nodeId === home ? `; ${ANNOUNCE}` : ''}`).catch((e) => {
          failed ??= e;
        }),
      ),
    );
    if (failed !== undefined) {
      await rollbackAll(locked.own);
      // A session's own connection that broke took its client's transaction with it: that is the client's error.
      if (!isConnectionFailure(failed) || locked.parts.some((c) => c.broken && !locked.own.includes(c))) throw failed;
      for (const c of locked.parts) if (c.broken) cluster.markDown(c.nodeId);
      return failed;
    }
    await commitCopies(locked.own, true);
    return undefined;
  } finally {
    for (const c of taken) await cluster.pool(c.nodeId, database).release(c, c.status === 'I');
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
