// A clustered table's UPDATE that changes vectors: the update on every copy, then the rows now nearer another
// centroid leave their shard (each copy deletes and returns them, computed on the node so copies agree) and are
// copied into the shard they belong to. The caller holds every shard's write lock and the transaction.
import * as be from '../protocol/backend.ts';
import { SHARD_SCHEMA } from '../metadata/catalog.ts';
import { RadiusTracker, vectorOf } from '../metadata/route.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { currentPlacements, growRadii, lockShardIds } from './run.ts';
import type { DistributedPlan } from '../planner/types.ts';
import { NO_PARAMS } from '../planner/params.ts';
import { runTasks } from './shard-tasks.ts';
import { placeWrites, deactivate, onePerShard } from './placement.ts';
import { copyLines } from '../operations/distribute.ts';
import { toTextField } from './copy-rows.ts';
import { PgError } from '../errors.ts';
import { quoteIdent } from '../sql/quote.ts';

/**
 * UPDATE of a clustered table's vector: the update on every copy, then the rows now nearer another centroid taken
 * out and copied into that shard's copies, radii grown to cover the new vectors, all in one transaction (the
 * client's, or one of the session's own), under every shard's write lock (rows may land on any shard).
 */
export async function runRelocate(plan: DistributedPlan, ctx: RunContext, sink: Sink): Promise<void> {
  const unlock = await lockShardIds(ctx, plan.table.shards.map((s) => s.id));
  try {
    const count = await ctx.inOwnTransaction(() => relocateRows(plan, ctx, sink));
    sink.send(be.commandComplete(`UPDATE ${count}`));
  } finally {
    // Inside the client's transaction its writes commit later: the locks stay until it ends.
    if (ctx.inTransaction) ctx.keepLocks(unlock);
    else for (const u of unlock) u();
  }
}

/** Runs the update and moves the misplaced rows; returns how many rows the UPDATE changed. */
async function relocateRows(plan: DistributedPlan, x: RunContext, sink: Sink): Promise<number> {
  const notices = (f: Buffer) => sink.send(f);
  // Which copies are active, read again under the locks (see runShardTasks).
  const table = await currentPlacements(x, plan.table);
  const placed = placeWrites(plan.tasks, table, x.cluster);
  await deactivate(x.cluster, x.database, placed.lost);
  const updated = onePerShard(await runTasks(x.conn, placed.tasks, [], false, notices, x.roundTrip), new Set());
  const radii = new RadiusTracker(table);
  let count = 0;
  for (const r of updated) {
    count += Number(/(\d+)$/.exec(r.tag)?.[1] ?? 0);
    for (const row of r.rows) radii.add(r.task.shardIndex, vectorOf(table, be.readDataRow(row)[0]!.toString('utf8')));
  }
  const removed = onePerShard(
    await runTasks(x.conn, placed.tasks.map((t) => ({ ...t, sql: plan.relocate!.misplaced(t.shardIndex, t.shard), params: NO_PARAMS, before: undefined })), [], false, notices, x.roundTrip),
    new Set(),
  );
  const distIdx = table.columns.findIndex((c) => c.name === table.distColumn);
  const moving = new Map<number, string[]>();
  for (const r of removed) {
    for (const row of r.rows) {
      const vals = be.readDataRow(row).map((b) => (b === null ? null : b.toString('utf8')));
      const target = Number(vals.pop());
      radii.add(target, vectorOf(table, vals[distIdx]!));
      moving.set(target, [...(moving.get(target) ?? []), vals.map(toTextField).join('\t')]);
    }
  }
  await growRadii(x, radii.sql());
  for (const [target, lines] of moving) {
    const shard = table.shards[target];
    const copies = shard.nodes.filter((n) => x.cluster.isUp(n));
    if (!copies.length) throw new PgError({ severity: 'ERROR', code: '08006', message: `vecshard: no active copy of shard ${shard.name} can take the rows that move there` });
    for (const n of copies) await copyLines(await x.conn(n), `COPY ${SHARD_SCHEMA}.${quoteIdent(shard.name)} FROM STDIN`, lines);
  }
  return count;
}
