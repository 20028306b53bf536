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

/** Shard reads under way on each node, across sessions: where a read's next task has the least to wait for. */
const outstanding = new WeakMap<Cluster, Map<number, number>>();

/** Counts `tasks` as under way on their nodes until the returned function is called. */
export function underWay(cluster: Cluster, tasks: ShardTask[]): () => void {
  let load = outstanding.get(cluster);
  if (!load) outstanding.set(cluster, (load = new Map()));
  const l = load;
  for (const t of tasks) l.set(t.nodeId, (l.get(t.nodeId) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const t of tasks) l.set(t.nodeId, (l.get(t.nodeId) ?? 1) - 1);
  };
}

/**
 * Each read task goes to the reachable active copy whose node has the least work: reads under way there (all
 * sessions) plus this statement's tasks already placed there. Ties rotate with `turn`. A statement's shards spread
 * over the nodes holding copies, so its scans run side by side rather than one after another on one node.
 */
export function placeReads(tasks: ShardTask[], table: DistributedTable, cluster: Cluster, turn: number): ShardTask[] {
  const busy = outstanding.get(cluster);
  const here = new Map<number, number>();
  return tasks.map((t, i) => {
    const shard = table.shards[t.shardIndex];
    const up = shard.nodes.filter((n) => cluster.isUp(n));
    if (!up.length) throw unreachable(shard, 'answer');
    let best = -1;
    let least = Infinity;
    for (let j = 0; j < up.length; j++) {
      const n = up[(turn + i + j) % up.length];
      const work = (busy?.get(n) ?? 0) + (here.get(n) ?? 0);
      if (work < least) [best, least] = [n, work];
    }
    here.set(best, (here.get(best) ?? 0) + 1);
    return { ...t, nodeId: best };
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
    const done = underWay(ctx.cluster, placed);
    const { results, failures } = await runTasksSettled(ctx.conn, placed, formats, describe, notices, ctx.roundTrip, ctx.resultLimitBytes).finally(done);
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
