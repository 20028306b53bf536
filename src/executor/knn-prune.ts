// Exact kNN on a clustered table: the shards with the lowest lower bounds first, then only those whose bound does
// not exceed the k-th distance found. One further round suffices: the k-th distance only shrinks.
import type { DistributedPlan } from '../planner/types.ts';
import { mayContribute } from '../index/bounds.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import type { TaskResult } from './shard-tasks.ts';
import { gatherRows, lastColumnNumber } from './gather.ts';
import { hiddenFormats, runShardTasks } from './run.ts';

export interface PrunedRun {
  results: TaskResult[];
  /** Shards visited, and those skipped because their bound exceeded the k-th distance (EXPLAIN ANALYZE). */
  visited: number[];
  pruned: number[];
  kth: number;
}

export async function prunedKnn(plan: DistributedPlan, ctx: RunContext, sink: Sink, resultFormats: number[], describe: boolean): Promise<PrunedRun> {
  const spec = plan.prune!;
  const { hiddenBinary } = hiddenFormats(plan, resultFormats);
  const round = async (shards: number[], withDescribe: boolean) => {
    const set = new Set(shards);
    if (!set.size) return [];
    return runShardTasks({ ...plan, tasks: plan.tasks.filter((t) => set.has(t.shardIndex)), prune: undefined }, ctx, sink, resultFormats, withDescribe);
  };
  const firstShards = spec.order.slice(0, spec.first);
  const first = await round(firstShards, describe);
  const best = gatherRows(first, { kind: 'knn', limit: spec.k, offset: 0, desc: false, nullsFirst: false }, hiddenBinary);
  const d = best.length >= spec.k ? lastColumnNumber(best[spec.k - 1], hiddenBinary) : null;
  const kth = d === null || Number.isNaN(d) ? Infinity : d;
  const rest = spec.order.slice(spec.first);
  const visit = rest.filter((i) => mayContribute(spec.bounds.get(i)!, kth));
  const second = await round(visit, describe && !first.length);
  return { results: [...first, ...second], visited: [...firstShards, ...visit], pruned: rest.filter((i) => !visit.includes(i)), kth };
}
