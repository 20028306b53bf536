// Which copy of a shard a task runs on: reads on one reachable active copy (rotating, to spread the load), writes
// on every active copy. Copies on nodes that are down become inactive before a write is acknowledged.
import { writeCatalog } from '../metadata/catalog-copies.ts';
import type { Cluster } from '../shards/cluster.ts';
import type { DistributedTable, Shard } from '../metadata/catalog.ts';
import type { ShardTask } from '../planner/types.ts';
import { isLost, PgError } from '../errors.ts';
import type { RunContext } from './context.ts';
import { runTasksSettled, type TaskResult } from './shard-tasks.ts';

const unreachable = (shard: Shard, what: string) =>
  new PgError({
    severity: 'ERROR',
    code: '08006',
    message: `vecshard: no active copy of shard ${shard.name} can ${what}`,
    detail: `Its copies are on nodes ${shard.nodes.join(', ') || '(none active)'}; none answers.`,
    hint: 'Bring a node that holds it back, then run SELECT vecshard.repair().',
  });

export function placeReads(tasks: ShardTask[], table: DistributedTable, cluster: Cluster, turn: number): ShardTask[] {
  return tasks.map((t, i) => {
    const shard = table.shards[t.shardIndex];
    const up = shard.nodes.filter((n) => cluster.isUp(n));
    if (!up.length) throw unreachable(shard, 'answer');
    return { ...t, nodeId: up[(turn + i) % up.length] };
  });
}

/**
 * Runs read tasks on one copy of each shard; a node lost on the way (down, or stopped answering) is marked down and
 * the reads run again on the other copies, twice at most. Outside a transaction only: inside one, the lost node's
 * part of the transaction is gone too.
 */
export async function readShards(ctx: RunContext, tasks: ShardTask[], table: DistributedTable, formats: number[], describe: boolean, notices: (f: Buffer) => void): Promise<TaskResult[]> {
  for (let attempt = 0; ; attempt++) {
    const placed = placeReads(tasks, table, ctx.cluster, ctx.nextTurn());
    const { results, failures } = await runTasksSettled(ctx.conn, placed, formats, describe, notices, ctx.roundTrip, ctx.resultLimitBytes);
    if (!failures.size) return results;
    const lost = [...failures].filter(([, e]) => isLost(e)).map(([n]) => n);
    for (const n of lost) {
      ctx.cluster.markDown(n);
      await ctx.dropConn(n);
    }
    if (lost.length < failures.size || ctx.inTransaction || attempt >= 2) throw [...failures.values()].find((e) => !isLost(e)) ?? [...failures.values()][0];
  }
}

export interface PlacedWrites {
  tasks: ShardTask[];
  /** Copies on nodes that are down: to be made inactive before the write is acknowledged. */
  lost: Array<{ shard: Shard; nodeId: number }>;
}

export function placeWrites(tasks: ShardTask[], table: DistributedTable, cluster: Cluster): PlacedWrites {
  const out: PlacedWrites = { tasks: [], lost: [] };
  for (const t of tasks) {
    const shard = table.shards[t.shardIndex];
    const up = shard.nodes.filter((n) => cluster.isUp(n));
    if (!up.length) throw unreachable(shard, 'take the write');
    for (const n of shard.nodes) if (!up.includes(n)) out.lost.push({ shard, nodeId: n });
    up.forEach((nodeId, j) => out.tasks.push({ ...t, nodeId, replica: j > 0 }));
  }
  return out;
}

/** Marks copies inactive on every current catalog copy, each in a transaction of its own: durable whatever the write does next. */
export async function deactivate(cluster: Cluster, database: string, lost: Array<{ shard: Shard; nodeId: number }>): Promise<void> {
  if (!lost.length) return;
  const pairs = lost.map((l) => `(${l.shard.id}, ${l.nodeId})`).join(', ');
  await writeCatalog(cluster, database, `UPDATE vecshard.placements SET state = 'inactive' WHERE (shard_id, node_id) IN (${pairs})`);
  // Later statements must plan without them.
  for (const l of lost) l.shard.nodes = l.shard.nodes.filter((n) => n !== l.nodeId);
}

/** Keeps one result per shard: the first copy that answered (a write's further copies said the same). */
export function onePerShard<T extends { task: ShardTask }>(results: T[], failed: Set<number>): T[] {
  const seen = new Set<number>();
  return results.filter((r) => {
    if (failed.has(r.task.nodeId) || seen.has(r.task.shardIndex)) return false;
    seen.add(r.task.shardIndex);
    return true;
  });
}
