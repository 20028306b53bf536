// Rebuilding inactive shard copies from an active one: the copy's table is made anew from the shell's definition,
// filled by COPY while the shard's writes wait on its lock, then marked active. Writes pause; none is lost.
import { register, takeShard } from './take-shard.ts';
import type { Logger } from 'pino';
import type { Cluster, CopyTask } from '../shards/cluster.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { SHARD_SCHEMA } from '../metadata/catalog.ts';
import * as fe from '../protocol/frontend.ts';
import { shardDdl } from './distribute.ts';
import { openCatalog, readCatalog, refreshStaleCopies, withConn, writeCatalog } from '../metadata/catalog-copies.ts';
import { clearCommitJournal, unfinishedCommits } from '../executor/commit-journal.ts';
import { recoverPrepared } from '../executor/transaction.ts';
import { readErrorFields } from '../protocol/backend.ts';
import { PgError } from '../errors.ts';
import { quoteIdent } from '../sql/quote.ts';

/**
 * Brings stale catalog copies up to date, settles prepared transactions left on nodes that were down, then repairs
 * every inactive copy whose node is up; returns how many copies it made active.
 */
export async function repairDatabase(cluster: Cluster, database: string, log: Logger): Promise<number> {
  const fixed = await refreshStaleCopies(cluster, database);
  if (fixed.length) log.info({ nodes: fixed, database }, 'catalog copies brought up to date');
  await settlePrepared(cluster, database, log);
  const inactive = await readCatalog(cluster, database, async (c) => {
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
    if (await repairCopy(cluster, database, Number(shardId), source, target, log)) repaired++;
  }
  return repaired;
}

/**
 * Rebuilds the inactive copy of shard `shardId` on `target` from `source` and marks it active, under the shard's
 * lock; false when the copy was no longer inactive once the lock was had.
 */
export async function repairCopy(cluster: Cluster, database: string, shardId: number, source: number, target: number, log: Logger, kind: CopyTask['kind'] = 'repair'): Promise<boolean> {
  const unlock = await takeShard(cluster, database, shardId);
  let task: CopyTask | undefined;
  try {
    const [[shard, schema, table, state]] = (
      await readCatalog(cluster, database, (c) =>
        runQuery(
          c,
          `SELECT shard_name, schema_name, table_name, (SELECT state FROM vecshard.placements WHERE shard_id = ${shardId} AND node_id = ${target})
             FROM vecshard.shards WHERE shard_id = ${shardId}`,
        ),
      )
    ).rows;
    // A repair that ran while this one waited for the shard (the background one, or another coordinator's) made it.
    if (state !== 'inactive') return false;
    const index = Number(/_(\d+)$/.exec(shard!)?.[1] ?? 0);
    task = cluster.startTask({ kind, database, shardId, shard: shard!, source, target });
    const ddl = await readCatalog(cluster, database, (c) => shardDdl(c, schema!, table!));
    // The rows go from the source's COPY TO STDOUT to the target's COPY FROM STDIN frame by frame (a CopyData
    // frame is the same both ways), not gathered first: a shard of any size takes a few megabytes here.
    const rows = await withConn(cluster, target, database, async (t) => {
      await runQuery(t, `BEGIN; CREATE SCHEMA IF NOT EXISTS ${SHARD_SCHEMA}; DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(shard!)}; ${ddl(shard!, index).join('; ')}`);
      try {
        const n = await withConn(cluster, source, database, (s) => pipeCopy(s, t, `${SHARD_SCHEMA}.${quoteIdent(shard!)}`, (k) => (task!.rowsDone = task!.rowsTotal = k)));
        await runQuery(t, 'COMMIT');
        return n;
      } catch (e) {
        await runQuery(t, 'ROLLBACK').catch(() => {});
        throw e;
      }
    });
    await writeCatalog(cluster, database, `UPDATE vecshard.placements SET state = 'active' WHERE shard_id = ${shardId} AND node_id = ${target}`);
    log.info({ shard, from: source, to: target, rows }, 'copied shard');
    task.state = 'done';
    return true;
  } catch (e) {
    if (task) {
      task.state = 'failed';
      task.error = (e as Error).message;
    }
    throw e;
  } finally {
    if (task) task.finishedAt = new Date();
    await unlock();
  }
}

/** Copies table `rel` from `source` into the same table on `target` (in its transaction); returns the rows. */
async function pipeCopy(source: NodeConnection, target: NodeConnection, rel: string, progress: (rows: number) => void): Promise<number> {
  const first = await target.startCopyIn(fe.query(`COPY ${rel} FROM STDIN`));
  if (first[first.length - 1][0] !== 0x47) {
    const e = first.find((f) => f[0] === 0x45);
    throw new PgError(e ? readErrorFields(e) : { severity: 'ERROR', code: 'XX000', message: 'COPY did not start' });
  }
  let rows = 0;
  let failed: Buffer | undefined;
  source.write(fe.query(`COPY ${rel} TO STDOUT`));
  await source.readUntilReady((f) => {
    if (f[0] === 0x45) failed ??= f;
    if (f[0] !== 0x64) return;
    target.write(f);
    if (++rows % 10_000 === 0) progress(rows);
    // The target takes rows slower than the source sends them: the source waits.
    if (target.congested && !source.paused) {
      source.pause();
      void target.drained().finally(() => source.resume());
    }
  });
  if (failed) {
    target.write(fe.copyFail('vecshard: the source of the copy failed'));
    await target.readUntilReady(() => {});
    throw new PgError(readErrorFields(failed));
  }
  target.write(fe.copyDone());
  let error: Buffer | undefined;
  await target.readUntilReady((f) => {
    if (f[0] === 0x45) error ??= f;
  });
  if (error) throw new PgError(readErrorFields(error));
  progress(rows);
  return rows;
}

/** Moves a shard's copy from one node to another, online: a new copy is built, then the old one dropped. */
export async function moveShardPlacement(cluster: Cluster, database: string, shardId: number, from: number, to: number, log: Logger): Promise<void> {
  const bad = (m: string) => new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.move_shard_placement: ${m}` });
  if (!cluster.nodes[to]) throw bad(`there is no node ${to}`);
  const state = await readCatalog(cluster, database, (c) =>
    runQuery(c, `SELECT node_id, state FROM vecshard.placements WHERE shard_id = ${shardId}`),
  );
  const here = new Map(state.rows.map(([n, s]) => [Number(n), s]));
  if (here.get(from) !== 'active') throw bad(`shard ${shardId} has no active copy on node ${from}`);
  if (here.has(to)) throw bad(`shard ${shardId} already has a copy on node ${to}`);
  await writeCatalog(cluster, database, `INSERT INTO vecshard.placements (shard_id, node_id, state) VALUES (${shardId}, ${to}, 'inactive')`);
  await repairCopy(cluster, database, shardId, from, to, log, 'move');
  const unlock = await takeShard(cluster, database, shardId);
  try {
    const [[shard]] = (await readCatalog(cluster, database, (c) => runQuery(c, `SELECT shard_name FROM vecshard.shards WHERE shard_id = ${shardId}`))).rows;
    await writeCatalog(cluster, database, `DELETE FROM vecshard.placements WHERE shard_id = ${shardId} AND node_id = ${from}`);
    dropLater(cluster, database, shardId, from, shard!, log);
  } finally {
    await unlock();
  }
}

/** Evens out copies per node (among nodes that are up): moves from the fullest to the emptiest until they differ by at most one. */
export async function rebalance(cluster: Cluster, database: string, log: Logger): Promise<number> {
  let moves = 0;
  for (;;) {
    const rows = (
      await readCatalog(cluster, database, (c) => runQuery(c, `SELECT shard_id, node_id FROM vecshard.placements WHERE state = 'active' ORDER BY shard_id`))
    ).rows.map(([s, n]) => [Number(s), Number(n)] as const);
    const nodes = cluster.members().filter((i) => cluster.isUp(i));
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

/**
 * Settles prepared transactions left behind (by a coordinator that died, a node that was down, an answer lost while
 * committing) on the PostgreSQL nodes that answer now: each by its commit record, when the node holding the record
 * answers. Records are removed only when every node answered. Embedded nodes never prepare.
 */
export async function settlePrepared(cluster: Cluster, database: string, log: Logger): Promise<void> {
  const up = cluster.members().filter((i) => cluster.isUp(i) && cluster.nodes[i].kind === 'postgres');
  if (!up.length) return;
  const conns: NodeConnection[] = [];
  try {
    for (const i of up) conns.push(await cluster.pool(i, database).acquire());
    // This coordinator's lease, renewed on every node as it goes: its prepared transactions are its own to finish.
    await register(cluster, database, conns);
    const n = await recoverPrepared(conns, up.length === cluster.members().length);
    if (n) log.warn({ settled: n, database }, 'settled prepared transactions left behind');
  } finally {
    for (const c of conns) await cluster.pool(c.nodeId, database).release(c, c.status === 'I');
  }
}

/**
 * Commits on embedded nodes that a crash cut between two nodes (commit-journal.ts): the first node decides, so the
 * other nodes' copies of the shards it holds become inactive and are copied again from it. Run at start.
 */
export async function settleUnfinishedCommits(cluster: Cluster, log: Logger): Promise<void> {
  for (const u of unfinishedCommits()) {
    const [first, ...rest] = u.nodes;
    const others = [...new Set(rest)].filter((n) => n !== first);
    const cat = await openCatalog(cluster, u.database, log);
    if (cat.empty || !others.length) continue;
    await writeCatalog(
      cluster,
      u.database,
      `UPDATE vecshard.placements p SET state = 'inactive' WHERE p.node_id IN (${others.join(', ')})
          AND EXISTS (SELECT 1 FROM vecshard.placements f WHERE f.shard_id = p.shard_id AND f.node_id = ${first} AND f.state = 'active')`,
    );
    cluster.invalidateCatalog(u.database);
    log.warn({ database: u.database, decidedBy: first, nodes: others }, 'a commit on embedded nodes was cut by a crash; their copies are made again from the first node');
    await repairDatabase(cluster, u.database, log);
  }
  clearCommitJournal();
}

/** How long a moved-away copy stays: reads planned just before the move still find it. */
export const DROP_DELAY_MS = 5000;

/** Drops the copy of a shard left on `node` after a move, later, unless the node has been given a copy again. */
export function dropLater(cluster: Cluster, database: string, shardId: number, node: number, shard: string, log: Logger): void {
  const t = setTimeout(async () => {
    const unlock = await takeShard(cluster, database, shardId).catch(() => undefined);
    if (!unlock) return;
    try {
      const placed = await readCatalog(cluster, database, (c) => runQuery(c, `SELECT 1 FROM vecshard.placements WHERE shard_id = ${shardId} AND node_id = ${node}`));
      if (placed.rows.length) return;
      await withConn(cluster, node, database, (c) => runQuery(c, `DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(shard)}`));
    } catch (err) {
      log.warn({ err, shard, node }, 'could not drop a moved-away shard copy; it is left behind');
    } finally {
      await unlock();
    }
  }, DROP_DELAY_MS);
  t.unref();
}
