// EXPLAIN of a distributed statement: the gather step, then each shard task with its node, shard and the shard's
// own plan (EXPLAIN with the same options, run on that node).
import type { Node } from '../sql/ast.ts';
import { constText } from '../sql/ast.ts';
import type { ShardTask } from './types.ts';
import { type ErrorPlan } from './types.ts';
import { notSupported } from '../errors.ts';

export interface ExplainOptions {
  analyze: boolean;
  verbose: boolean;
  /** The option list to repeat on each shard, e.g. "ANALYZE, VERBOSE". */
  shardOptions: string;
}

export function explainOptions(stmt: Node): ExplainOptions | ErrorPlan {
  const opts: string[] = [];
  let analyze = false;
  let verbose = false;
  for (const o of (stmt.options ?? []) as Node[]) {
    const d = o.DefElem;
    const v = d.arg === undefined ? 'true' : String(constText(d.arg) ?? d.arg?.String?.sval ?? d.arg?.Boolean?.boolval ?? 'true').toLowerCase();
    if (d.defname === 'format' && v !== 'text') return notSupported(`EXPLAIN (FORMAT ${v.toUpperCase()}) of a distributed statement`);
    if (d.defname === 'analyze') analyze = v !== 'false' && v !== 'off';
    if (d.defname === 'verbose') verbose = v !== 'false' && v !== 'off';
    opts.push(`${d.defname.toUpperCase()}${d.arg === undefined ? '' : ` ${v}`}`);
  }
  return { analyze, verbose, shardOptions: opts.join(', ') };
}

/** The lines of the distributed part of the plan, with each shard's own plan lines indented under its task. */
export function explainLines(header: string[], tasks: ShardTask[], shardPlans: string[][], opts: ExplainOptions, timings: number[]): string[] {
  const lines = [...header, `  Tasks: ${tasks.length}`];
  tasks.forEach((t, i) => {
    lines.push(`  ->  Task ${i + 1}: node ${t.nodeId}, shard vecshard_shards.${t.shard}${opts.analyze ? ` (time=${timings[i].toFixed(3)} ms)` : ''}`);
    if (opts.verbose) lines.push(`        Query: ${t.sql}`);
    for (const l of shardPlans[i]) lines.push(`        ${l}`);
  });
  return lines;
}
