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

/** EXPLAIN's boolean options, as the shards' EXPLAIN is given them (FORMAT is TEXT or refused). */
const BOOLEAN_OPTIONS = new Set(['analyze', 'verbose', 'costs', 'settings', 'generic_plan', 'buffers', 'wal', 'timing', 'summary', 'memory']);

/**
 * The options, and the same options for each shard's EXPLAIN — written again from what was parsed, never copied as
 * text: a name or value is only ever one of Postgres's own (a quoted "option" could otherwise carry SQL).
 */
export function explainOptions(stmt: Node): ExplainOptions | ErrorPlan {
  const opts: string[] = [];
  let analyze = false;
  let verbose = false;
  for (const o of (stmt.options ?? []) as Node[]) {
    const d = o.DefElem;
    const v = d.arg === undefined ? 'true' : String(constText(d.arg) ?? d.arg?.String?.sval ?? d.arg?.Boolean?.boolval ?? 'true').toLowerCase();
    const name = String(d.defname);
    if (name === 'format') {
      if (v !== 'text') return notSupported(`EXPLAIN (FORMAT ${v.toUpperCase()}) of a distributed statement`);
      continue;
    }
    if (!BOOLEAN_OPTIONS.has(name)) return { kind: 'error', error: { severity: 'ERROR', code: '42601', message: `unrecognized EXPLAIN option "${name}"` } };
    const on = ['true', 'on', '1', 'yes'].includes(v) ? true : ['false', 'off', '0', 'no'].includes(v) ? false : undefined;
    if (on === undefined) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `EXPLAIN option "${name}" requires a Boolean value` } };
    if (name === 'analyze') analyze = on;
    if (name === 'verbose') verbose = on;
    opts.push(`${name.toUpperCase()} ${on}`);
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
