// COPY a distributed table TO STDOUT: each shard's COPY in turn, its data frames relayed as they come.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { CopyPlan } from '../planner/statement.ts';
import { NO_PARAMS } from '../planner/params.ts';
import { PgError } from '../errors.ts';
import { quoteName } from '../sql/quote.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';

export async function runCopyOut(plan: CopyPlan, ctx: RunContext, sink: Sink): Promise<void> {
  const t = plan.table;
  const cols = plan.columns.map(quoteName).join(', ');
  const opts = plan.format === 'csv' ? ' WITH (FORMAT csv)' : '';
  const tasks = t.shards.map((s) => ({ nodeId: s.nodes[0], shard: s.name, shardIndex: s.index, sql: '', params: NO_PARAMS }));
  sink.send(be.copyOutResponse(0, plan.columns.length));
  if (plan.header && plan.format === 'csv') sink.send(fe.copyData(Buffer.from(plan.columns.join(',') + '\n')));
  let rows = 0;
  for (const task of tasks) {
    const conn = await ctx.conn(task.nodeId);
    conn.write(fe.query(`COPY vecshard_shards.${quoteName(task.shard)} (${cols}) TO STDOUT${opts}`));
    let error: be.PgErrorFields | undefined;
    await conn.readUntilReady((f) => {
      if (f[0] === 0x64) sink.send(f);
      else if (f[0] === 0x43) rows += Number(/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0);
      else if (f[0] === 0x45) error ??= be.readErrorFields(f);
    });
    if (error) throw new PgError(error);
  }
  sink.send(fe.copyDone());
  sink.send(be.commandComplete(`COPY ${rows}`));
}
