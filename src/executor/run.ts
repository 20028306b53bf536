// runPlan: the one place a distributed plan runs — tasks placed on shard copies, retried on another copy when a
// node is lost, written under shard locks and in two phases when they span nodes, merged, and sent to a sink.
import * as be from '../protocol/backend.ts';
import type { StatementPlan } from '../planner/statement.ts';
import type { DistributedPlan, ShardTask } from '../planner/types.ts';
import type { RawStmt } from '../sql/parse.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import { NO_PARAMS, type BoundParams } from '../planner/params.ts';
import { runRecursive } from './recursive.ts';
import { isLost, PgError } from '../errors.ts';
import { asService } from './as-service.ts';
import { migrateCatalogs, requireAllNodes, writeCatalog } from '../metadata/catalog-copies.ts';
import { distributeTable, schemaOf } from '../operations/distribute.ts';
import { requireOwner, runAdmin } from '../operations/admin.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { CopyOutSink } from './sink.ts';
import { runTasksSettled, type RowStream, type TaskResult } from './shard-tasks.ts';
import { streamable } from './portal-stream.ts';
import { placeReads, placeWrites, deactivate, onePerShard, underWay } from './placement.ts';
import { gatherRows, stripColumns, stripDescription } from './gather.ts';
import { beginEach, commitDistributed, rollbackAll } from './transaction.ts';
import { prunedKnn } from './knn-prune.ts';
import { runAggregate } from './combine.ts';
import { measureRecall, toMeasure } from './measure.ts';
import { rowsWritten } from '../operations/calibrate.ts';
import { shareShards } from '../operations/take-shard.ts';
import { runExplain } from './explain.ts';
import { runDdl, runDropIndex } from './ddl.ts';
import { runCopyOut } from './copy-out.ts';
import { runRelocate } from './relocate.ts';
import { runSqlPrepared } from './sql-prepare.ts';

export interface RunOptions {
  /** The client's result formats (extended protocol); [] for text. */
  resultFormats: number[];
  /** Send a RowDescription first (simple protocol and COPY). */
  describe: boolean;
  /** The statement's text and parse tree, for plans that run it elsewhere as it is. */
  text: string;
  raw: RawStmt;
  /** The client's parameters (subqueries run first use them too). */
  params: BoundParams;
}

/**
 * Runs a plan, its answer (row description, rows, command tag, notices) going to `sink`; errors are thrown.
 * A string back is SQL that turned out to need only the home node, where the session runs it as it is.
 */
export async function runPlan(plan: Exclude<StatementPlan, { kind: 'passthrough' }>, ctx: RunContext, sink: Sink, o: RunOptions): Promise<string | undefined> {
  switch (plan.kind) {
    case 'notice':
      sink.send(be.noticeResponse({ severity: 'NOTICE', code: '00000', message: plan.message }));
      sink.send(be.commandComplete(plan.tag));
      return;
    case 'error':
      throw new PgError(plan.error);
    case 'distribute': {
      const fn = plan.req.method === 'reference' ? 'create_reference_table' : 'create_distributed_table';
      // An unqualified name is the table the session's search_path finds (the home connection has the session's).
      const req = plan.req.unqualified ? { ...plan.req, schema: (await schemaOf(await ctx.conn(ctx.home), plan.req.name)) ?? plan.req.schema } : plan.req;
      requireAllNodes(ctx.cluster, ctx.database, fn);
      await requireOwner(ctx, req.schema, req.name, fn);
      // In a transaction block (migration tools run each migration in one) every node's part waits for COMMIT.
      const inTx = ctx.inTransaction;
      if (ctx.login.scram) await migrateCatalogs(ctx.cluster, ctx.database);
      await asService(ctx.conn, (conn) => distributeTable(req, ctx.cluster.members(), ctx.home, conn, inTx ? undefined : (home, others) => commitDistributed(home, others, true)));
      await ctx.catalogChanged();
      if (o.describe) sink.send(be.rowDescription([{ name: o.raw.stmt.SelectStmt.targetList[0].ResTarget.name ?? 'create_distributed_table', typeOid: 2278, typeSize: 4 }]));
      sink.send(be.dataRow(['']));
      sink.send(be.commandComplete('SELECT 1'));
      return;
    }
    case 'distributed':
      if (plan.relocate) await runRelocate(plan, ctx, sink);
      else await runDistributed(plan, ctx, sink, o.resultFormats, o.describe);
      return;
    case 'admin': {
      if (ctx.inTransaction) throw new PgError({ severity: 'ERROR', code: '25001', message: `vecshard.${plan.name} cannot run inside a transaction block` });
      const n = await runAdmin(plan, ctx);
      if (o.describe) sink.send(be.rowDescription([{ name: plan.name, typeOid: 23, typeSize: 4 }]));
      sink.send(be.dataRow([String(n)]));
      sink.send(be.commandComplete('SELECT 1'));
      return;
    }
    case 'aggregate':
      await runAggregate(plan, ctx, sink, o.resultFormats, o.describe);
      return;
    case 'explain':
      await runExplain(plan.inner, plan.options, ctx, sink, o.describe, o.params);
      return;
    case 'ddl':
      await runDdl(plan, o.text, ctx, sink);
      return;
    case 'copy-out':
      await runCopyOut(plan, ctx, sink);
      return;
    case 'drop-index':
      return (await runDropIndex(plan.stmt, o.text, plan.indexes, ctx, sink)) ? undefined : o.text;
    case 'recursive':
      await runRecursive(plan, ctx, sink, o);
      return;
    case 'copy-query':
      await runPlan(plan.inner, ctx, new CopyOutSink(sink, plan.out), { ...o, resultFormats: [], describe: true });
      return;
    case 'copy-in':
      throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN into a distributed table is supported in the simple query protocol only' });
    case 'sql-prepare':
    case 'sql-execute':
    case 'sql-deallocate':
      return runSqlPrepared(plan, ctx, sink, o);
    case 'createdb':
    case 'dropdb':
      // The simple query protocol runs these itself (on every node); the extended protocol refuses them at Parse.
      throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: CREATE/DROP DATABASE is supported in the simple query protocol only' });
  }
}

async function runDistributed(plan: DistributedPlan, ctx: RunContext, sink: Sink, resultFormats: number[], describe: boolean): Promise<void> {
  ctx.timing.shardMs = 0;
  const { formats, hiddenBinary } = hiddenFormats(plan, resultFormats);
  // Rows that need no merge go to the client as the shards send them, the shards held back while it lags.
  const streamed = streamable(plan) && sink.congested ? { rows: 0, described: !describe } : undefined;
  const stream: RowStream | undefined = streamed && {
    description: (f) => {
      if (!streamed.described) sink.send(f);
      streamed.described = true;
    },
    row: (f, conn) => {
      sink.send(f);
      streamed.rows++;
      if (!conn.paused && sink.congested!()) {
        conn.pause();
        void sink.drained!().catch(() => {}).finally(() => conn.resume());
      }
    },
  };
  const results = plan.prune && !plan.write ? (await prunedKnn(plan, ctx, sink, resultFormats, describe)).results : await runShardTasks(plan, ctx, sink, resultFormats, describe, stream);
  if (streamed) return sink.send(be.commandComplete(`SELECT ${streamed.rows}`));
  const t0 = performance.now();
  try {
    const sent = deliver(plan, results, sink, describe, hiddenBinary);
    if (plan.write && plan.table.calibration) rowsWritten(ctx, plan.table, results.reduce((n, r) => n + Number(/(\d+)$/.exec(r.tag)?.[1] ?? 0), 0));
    if (toMeasure(plan, ctx)) void measureRecall(ctx, plan, sent, formats, hiddenBinary);
  } finally {
    if (plan.merge.kind === 'knn') ctx.cluster.stats.record(ctx.timing.parseMs + ctx.timing.planMs, ctx.timing.shardMs, performance.now() - t0);
  }
}

/**
 * Runs a plan's tasks: reads on one copy of each shard (another copy if a node is lost), writes on every copy
 * under the shards' write locks; an autocommit write on several nodes in a two-phase transaction of its own.
 */
export async function runShardTasks(plan: DistributedPlan, ctx: RunContext, sink: Sink, resultFormats: number[], describe: boolean, stream?: RowStream): Promise<TaskResult[]> {
  const cluster = ctx.cluster;
  const { formats } = hiddenFormats(plan, resultFormats);
  // Writes hold their shards' write locks until done, so a repair never copies a shard mid-write.
  const unlock = plan.write ? await lockShards(ctx, plan) : [];
  try {
    await growRadii(ctx, plan.growRadii);
    for (let attempt = 0; ; attempt++) {
      let tasks: ShardTask[];
      if (plan.write) {
        // Which copies are active is read again under the locks: a repair may have made a copy active since the
        // statement was planned, and a write that skipped it would be missing from it for good.
        const placed = placeWrites(plan.tasks, await currentPlacements(ctx, plan.table), cluster);
        await deactivate(cluster, ctx.database, placed.lost);
        tasks = placed.tasks;
      } else tasks = placeReads(plan.tasks, plan.table, cluster, ctx.nextTurn());
      const nodes = [...new Set(tasks.map((t) => t.nodeId))];
      // An autocommit write on several nodes gets a transaction of its own, committed in two phases.
      const ownTx = plan.write && nodes.length > 1 && !ctx.inTransaction;
      const errors = ownTx ? await beginEach(nodes, ctx.conn) : new Map<number, Error>();
      const live = tasks.filter((t) => !errors.has(t.nodeId));
      const t0 = performance.now();
      let sent = false;
      const tracked: RowStream | undefined = stream && { description: stream.description, row: (f, c) => ((sent = true), stream.row(f, c)) };
      const done = plan.write ? () => {} : underWay(cluster, live);
      const run = await runTasksSettled(ctx.conn, live, formats, describe, (f) => sink.send(f), ctx.roundTrip, plan.write ? undefined : ctx.resultLimitBytes, tracked).finally(done);
      ctx.timing.shardMs += performance.now() - t0;
      for (const [n, e] of run.failures) errors.set(n, e);
      const failed = new Set(errors.keys());
      const lost = [...failed].filter((n) => isLost(errors.get(n)));
      if (failed.size) {
        for (const n of lost) {
          cluster.markDown(n);
          await ctx.dropConn(n);
        }
        const onlyLostNodes = lost.length === failed.size;
        // Rows already streamed to the client cannot be taken back: then a lost node is the client's error.
        const canRetryRead = !plan.write && onlyLostNodes && !ctx.inTransaction && attempt < 2 && !sent;
        if (canRetryRead) continue; // another copy serves the shards of the lost node
        // A write survives a lost node when every shard still has a copy that took it: that copy is deactivated.
        const survivors = new Set(live.filter((t) => !failed.has(t.nodeId)).map((t) => t.shardIndex));
        const covered = plan.tasks.every((t) => survivors.has(t.shardIndex));
        if (!(plan.write && ownTx && onlyLostNodes && covered)) {
          // Every node still reachable rolls back, the one whose statement failed too: its transaction is open
          // (aborted), and a session that keeps its home connection (pinned) would find it so at its next statement.
          if (ownTx) await rollbackAll(await Promise.all(nodes.filter((n) => !lost.includes(n)).map(ctx.conn)));
          // A statement error outranks a lost node in what the client hears.
          throw [...errors.values()].find((e) => !isLost(e)) ?? [...errors.values()][0];
        }
        await deactivate(
          cluster,
          ctx.database,
          tasks.filter((t) => failed.has(t.nodeId)).map((t) => ({ shard: plan.table.shards[t.shardIndex], nodeId: t.nodeId })),
        );
      }
      if (ownTx) {
        const ok = nodes.filter((n) => !failed.has(n));
        const conns = await Promise.all(ok.map(ctx.conn));
        const home = await ctx.conn(ctx.home);
        try {
          await commitDistributed(home, conns.filter((c) => c !== home), ok.includes(ctx.home));
        } catch (e) {
          await rollbackAll(conns);
          throw e;
        }
      }
      return onePerShard(run.results, failed);
    }
  } finally {
    // Inside the client's transaction its writes commit later: the locks stay until it ends.
    if (ctx.inTransaction) ctx.keepLocks(unlock);
    else for (const u of unlock) u();
  }
}

/** Sends the merged answer; returns its rows as sent. */
function deliver(plan: DistributedPlan, results: TaskResult[], sink: Sink, describe: boolean, hiddenBinary: boolean): Buffer[] {
  const desc = results[0]?.description;
  if (describe && desc && desc[0] === 0x54) sink.send(stripDescription(desc, plan.hidden));
  const rows = gatherRows(results, plan.merge, hiddenBinary).map((r) => stripColumns(r, plan.hidden));
  for (const r of rows) sink.send(r);
  const count = (tag: string) => Number(/(\d+)$/.exec(tag)?.[1] ?? 0);
  const total = results.reduce((n, r) => n + count(r.tag), 0);
  const tag = plan.command === 'SELECT' ? `SELECT ${rows.length}` : plan.command === 'INSERT' ? `INSERT 0 ${total}` : `${plan.command} ${total}`;
  sink.send(be.commandComplete(tag));
  return rows;
}

/** Clustered tables: the catalog's radii grow to cover rows about to be written, before they are. */
export async function growRadii(ctx: RunContext, sql: string | undefined): Promise<void> {
  if (sql) await writeCatalog(ctx.cluster, ctx.database, sql, ctx.held);
}

/** The table with its shards' active copies as the catalog says now (the plan's when its shards changed). */
export async function currentPlacements(ctx: RunContext, table: DistributedTable): Promise<DistributedTable> {
  const now = (await ctx.catalog()).get(table.schema, table.name);
  return now && now.shards.length === table.shards.length && now.shards.every((s, i) => s.id === table.shards[i].id) ? now : table;
}

/**
 * For a COPY into `table`: every shard's write lock (a repair waits until the COPY ends), then the table with the
 * copies rows go to — active ones on nodes that are up (those on nodes that are down become inactive first).
 */
export async function lockForCopy(ctx: RunContext, table: DistributedTable): Promise<{ table: DistributedTable; unlock: () => void }> {
  const every = table.shards.map((s) => ({ nodeId: 0, shard: s.name, shardIndex: s.index, sql: '', params: NO_PARAMS }));
  const locks = await lockShardIds(ctx, table.shards.map((s) => s.id));
  const unlock = () => locks.splice(0).forEach((u) => u());
  try {
    const now = await currentPlacements(ctx, table);
    const placed = placeWrites(every, now, ctx.cluster);
    await deactivate(ctx.cluster, ctx.database, placed.lost);
    const nodes = (i: number) => placed.tasks.filter((t) => t.shardIndex === i).map((t) => t.nodeId);
    return { table: { ...now, shards: now.shards.map((s) => ({ ...s, nodes: nodes(s.index) })) }, unlock };
  } catch (e) {
    unlock();
    throw e;
  }
}

/** Shared write locks on the shards a write touches. */
export async function lockShards(ctx: RunContext, plan: DistributedPlan): Promise<Array<() => void>> {
  return lockShardIds(ctx, plan.tasks.map((t) => plan.table.shards[t.shardIndex].id));
}

/** Shared write locks on shards, in id order (no deadlock with a repair). */
export async function lockShardIds(ctx: RunContext, shardIds: number[]): Promise<Array<() => void>> {
  const out: Array<() => void> = [];
  for (const id of [...new Set(shardIds)].sort((a, b) => a - b)) out.push(await ctx.cluster.shardLock(id).shared());
  try {
    // With other coordinators alive, their repairs are waited for on the home node too (take-shard.ts).
    const shared = await shareShards(ctx.cluster, ctx.database, shardIds);
    if (shared) out.push(shared);
  } catch (e) {
    for (const u of out) u();
    throw e;
  }
  return out;
}

/** The hidden distance column comes back in the format of the others, or binary when they are given one by one. */
export function hiddenFormats(plan: DistributedPlan, resultFormats: number[]): { formats: number[]; hiddenBinary: boolean } {
  if (plan.hidden && resultFormats.length > 1) return { formats: [...resultFormats, 1], hiddenBinary: true };
  return { formats: resultFormats, hiddenBinary: resultFormats.length === 1 && resultFormats[0] === 1 };
}
