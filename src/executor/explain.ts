// EXPLAIN of a distributed plan: vecshard's own lines (strategy, shards visited or pruned, how answers merge) over
// each shard's EXPLAIN, run one shard at a time so each timing is that shard's own.
import * as be from '../protocol/backend.ts';
import type { AggregatePlan } from '../planner/aggregate.ts';
import type { DistributedPlan } from '../planner/types.ts';
import { explainLines, type ExplainOptions } from '../planner/explain.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { runTasks } from './shard-tasks.ts';
import { prunedKnn } from './knn-prune.ts';
import { BufferSink } from './sink.ts';
import { resolve, runOnHome } from './recursive.ts';
import type { RecursivePlan } from '../planner/recursive.ts';
import type { BoundParams } from '../planner/params.ts';
import { deparse } from '../sql/ast.ts';

const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(6) : String(x));

/**
 * A recursive plan: what runs first, each step's SQL. With ANALYZE the steps run, and the statement planned again
 * with their rows in place is explained under them (on the shards, or on the home node).
 */
async function explainRecursive(plan: RecursivePlan, options: ExplainOptions, ctx: RunContext, sink: Sink, describe: boolean, params: BoundParams): Promise<void> {
  const header = ['Custom Scan (vecshard)  recursive planning', '  Run first, each as a statement of its own, its rows put back into the statement:'];
  plan.steps.forEach((s, i) => header.push(`    ${i + 1}. ${s.what}: ${deparse(s.stmt)}`));
  if (!options.analyze) return sendLines([...header, '  Then: the statement planned again with those rows in place'], sink, describe);
  const t0 = performance.now();
  const r = await resolve(plan, ctx, { send: (f) => f[0] === 0x4e && sink.send(f) }, params);
  header.push(`  Steps ran in ${(performance.now() - t0).toFixed(3)} ms; then:`);
  if (r.outer.kind === 'distributed' || r.outer.kind === 'aggregate') return runExplain(r.outer, options, ctx, sink, describe, params, header);
  // The rest runs on the home node: its own EXPLAIN there, under ours.
  const lines = new BufferSink({ send: () => {} });
  await runOnHome(`EXPLAIN (${options.shardOptions || 'COSTS true'}) ${r.outer.kind === 'passthrough' ? (r.outer.sql ?? r.text) : r.text}`, ctx, lines, { resultFormats: [], describe: false, params: r.params });
  sendLines([...header, '  On the home node:', ...lines.rows.map((row) => `    ${be.readDataRow(row)[0]!.toString('utf8')}`)], sink, describe);
}

function sendLines(lines: string[], sink: Sink, describe: boolean): void {
  if (describe) sink.send(be.rowDescription([{ name: 'QUERY PLAN', typeOid: 25 }]));
  for (const l of lines) sink.send(be.dataRow([l]));
  sink.send(be.commandComplete('EXPLAIN'));
}

export async function runExplain(plan: DistributedPlan | AggregatePlan | RecursivePlan, options: ExplainOptions, ctx: RunContext, sink: Sink, describe: boolean, params: BoundParams, before: string[] = []): Promise<void> {
  if (plan.kind === 'recursive') return explainRecursive(plan, options, ctx, sink, describe, params);
  let inner: DistributedPlan | AggregatePlan = plan;
  const table = plan.table;
  const header: string[] = [];
  if (inner.kind === 'distributed' && inner.prune) {
    // Which shards an exact clustered kNN skips is known only by running it: ANALYZE runs it; plain EXPLAIN lists
    // the bounds and the order.
    const spec = inner.prune;
    const name = (i: number) => table.shards[i].name;
    if (options.analyze) {
      const p = await prunedKnn(inner, ctx, sink, [], false);
      header.push(`  Shards visited: ${p.visited.length} of ${inner.table.shards.length} (k-th distance ${fmt(p.kth)})`);
      for (const i of p.pruned) header.push(`  Pruned: ${name(i)} (lower bound ${fmt(spec.bounds.get(i)!)} > k-th distance ${fmt(p.kth)})`);
      const visited = new Set(p.visited);
      inner = { ...inner, tasks: inner.tasks.filter((t) => visited.has(t.shardIndex)) };
    } else {
      header.push(`  First round: ${spec.order.slice(0, spec.first).map(name).join(', ')}`);
      for (const i of spec.order.slice(spec.first)) header.push(`  Then if its lower bound ${fmt(spec.bounds.get(i)!)} is not above the k-th distance: ${name(i)}`);
    }
  } else if (inner.kind === 'distributed' && inner.table.method === 'clustered' && inner.merge.kind === 'knn') {
    const visited = new Set(inner.tasks.map((t) => t.shardIndex));
    header.push(`  Shards visited: ${visited.size} of ${inner.table.shards.length}; not visited: ${inner.table.shards.filter((s) => !visited.has(s.index)).map((s) => s.name).join(', ') || '(none)'}`);
  }
  const explained = inner.tasks.map((t) => ({ ...t, sql: `EXPLAIN (${options.shardOptions || 'COSTS true'}) ${t.sql}` }));
  const timings: number[] = [];
  const plans: string[][] = [];
  for (const t of explained) {
    const t0 = performance.now();
    const [r] = await runTasks(ctx.conn, [t], [], false, (f) => sink.send(f), ctx.roundTrip);
    timings.push(performance.now() - t0);
    plans.push(r.rows.map((row) => be.readDataRow(row)[0]!.toString('utf8')));
  }
  // Under a recursive plan's lines (before), this plan is what ran after its steps.
  const scan = `Custom Scan (vecshard)  table: ${table.schema}.${table.name}`;
  const top = before.length ? [...before, `  ${scan}`] : [scan];
  sendLines(explainLines([...top, `  Strategy: ${inner.strategy}`, ...header, mergeLine(inner)], inner.tasks, plans, options, timings), sink, describe);
}

function mergeLine(inner: DistributedPlan | AggregatePlan): string {
  if (inner.kind === 'aggregate') return '  Combine: partial rows merged by a query on node 0';
  const m = inner.merge;
  if (m.kind === 'knn') return `  Merge: by distance${m.desc ? ' (descending)' : ''}, then OFFSET ${m.offset} LIMIT ${m.limit === Infinity ? 'ALL' : m.limit}`;
  if (m.kind === 'concat') return `  Merge: concatenate${m.limit === Infinity ? '' : `, then OFFSET ${m.offset} LIMIT ${m.limit}`}`;
  return '  Merge: rows in the order of the VALUES list';
}
