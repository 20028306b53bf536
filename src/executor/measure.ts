// vecshard.measure_recall: a share of kNN answers is run again, exactly (every shard scanned without its index), in
// the background on connections of its own, and the share of the exact rows the client got is the answer's recall,
// exported per table (vecshard_knn_measured_recall). Not on embedded nodes, whose one connection clients need.
import type { DistributedPlan } from '../planner/types.ts';
import type { RunContext } from './context.ts';
import { runTasks } from './shard-tasks.ts';
import { placeReads } from './placement.ts';
import { gatherRows, stripColumns } from './gather.ts';
import { Held } from './portal-stream.ts';

/** Exact re-runs under way in this process: a share of 1 under heavy load must not pile them up. */
let running = 0;
const MAX_RUNNING = 2;

/** Whether this answer is one to measure (none while two are being measured: the sample skips, it does not queue). */
export function toMeasure(plan: DistributedPlan, ctx: RunContext): boolean {
  return !!plan.measure && plan.merge.kind === 'knn' && running < MAX_RUNNING && Math.random() < plan.measure.share && plan.table.shards.every((s) => s.nodes.every((n) => ctx.cluster.nodes[n].kind === 'postgres'));
}

/** Compares `got` (the rows the client got, hidden columns stripped) with the exact answer; records the recall. */
export async function measureRecall(ctx: RunContext, plan: DistributedPlan, got: Buffer[], formats: number[], hiddenBinary: boolean): Promise<void> {
  const held = new Held(ctx);
  running++;
  try {
    const placed = placeReads(plan.measure!.tasks, plan.table, ctx.cluster, ctx.nextTurn());
    const results = await runTasks((n) => held.conn(n), placed, formats, false, () => {});
    const exact = gatherRows(results, plan.merge, hiddenBinary).map((r) => stripColumns(r, plan.hidden).toString('base64'));
    if (!exact.length) return;
    // Rows as multisets: a row the client got counts once for each time the exact answer has it.
    const left = new Map<string, number>();
    for (const r of exact) left.set(r, (left.get(r) ?? 0) + 1);
    let found = 0;
    for (const r of got) {
      const k = r.toString('base64');
      const n = left.get(k) ?? 0;
      if (n > 0) {
        found++;
        left.set(k, n - 1);
      }
    }
    ctx.cluster.metrics.knnRecall(`${plan.table.schema}.${plan.table.name}`, found / exact.length);
  } catch (e) {
    ctx.log.debug({ err: e }, 'measuring recall failed');
  } finally {
    running--;
    await held.release();
  }
}
