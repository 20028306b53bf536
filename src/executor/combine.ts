// Aggregates across shards: each shard computes partial rows, and one query on the home node combines them
// (the planner's combine SQL over the partial rows given as parameters).
import * as be from '../protocol/backend.ts';
import type { AggregatePlan } from '../planner/aggregate.ts';
import type { BoundParams } from '../planner/params.ts';
import { PgError } from '../errors.ts';
import { typeNames } from './type-names.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { runTasks } from './shard-tasks.ts';
import { readShards } from './placement.ts';
import { runSortedMerge } from './sorted-merge.ts';

/** More parameters than this would pass Postgres's limit of 65,535 per statement. */
const MAX_COMBINE_PARAMS = 60000;

export async function runAggregate(plan: AggregatePlan, ctx: RunContext, sink: Sink, resultFormats: number[], describe: boolean): Promise<void> {
  if (plan.sorted && (await runSortedMerge(plan.sorted, plan.table, ctx, sink, resultFormats, describe))) return;
  const send = (f: Buffer) => sink.send(f);
  const partial = await readShards(ctx, plan.tasks, plan.table, [], true, send);
  const fields = be.readRowDescription(partial[0].description!);
  const home = await ctx.conn(ctx.home);
  const names = await typeNames(home, fields.map((f) => f.typeOid));
  const type = (c: string) => names.get(fields[Number(c.slice(1))].typeOid)!;
  const rows = partial.flatMap((r) => r.rows.map(be.readDataRow));
  const params: BoundParams = { values: rows.flat(), formats: rows.flat().map(() => 0), types: rows.flat().map(() => 0) };
  if (params.values.length > MAX_COMBINE_PARAMS) {
    throw new PgError({ severity: 'ERROR', code: '54000', message: `vecshard: ${rows.length} partial rows are too many to combine on node 0`, hint: 'Add a LIMIT, or filter on the distribution column.' });
  }
  const cols = fields.map((_, i) => `c${i}`).join(', ');
  let k = 0;
  const source = rows.length
    ? `(VALUES ${rows.map((r) => `(${r.map((_, i) => `$${++k}::${type(`c${i}`)}`).join(', ')})`).join(', ')}) AS p(${cols})`
    : `(SELECT ${fields.map((_, i) => `NULL::${type(`c${i}`)} AS c${i}`).join(', ')} WHERE false) AS p`;
  const sql = plan.combine(source, fields.map((f) => f.name), { type, avgType: (c) => (/double|real/.test(type(c)) ? 'double precision' : 'numeric') });
  const [final] = await runTasks(ctx.conn, [{ nodeId: ctx.home, shard: '(combine)', shardIndex: 0, sql, params }], resultFormats, describe, send, ctx.roundTrip, ctx.resultLimitBytes);
  if (describe && final.description?.[0] === 0x54) sink.send(final.description);
  for (const r of final.rows) sink.send(r);
  sink.send(be.commandComplete(`SELECT ${final.rows.length}`));
}
