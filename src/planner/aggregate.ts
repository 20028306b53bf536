// count / sum / min / max / avg with GROUP BY across shards: each shard computes partial aggregates, node 0
// combines them with a query over the partial rows, so types, rounding and collation are Postgres's own.
import type { SortedMerge } from './sort.ts';
import { quoteName } from '../sql/quote.ts';
import { deparse, outputName, sortTarget, walk, type Node } from '../sql/ast.ts';
import { ambiguous } from './sort.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { BoundParams } from './params.ts';
import { tasksFor } from './shard-sql.ts';
import { type ErrorPlan, type ShardTask } from './types.ts';
import { notSupported } from '../errors.ts';

export interface AggregatePlan {
  kind: 'aggregate';
  table: DistributedTable;
  tasks: ShardTask[];
  /**
   * SQL over the partial rows, given their row source (typed, aliased p(c0, c1, ...)) and the partial columns'
   * names as the shards reported them.
   */
  combine: (source: string, names: string[], types: CombineTypes) => string;
  strategy: string;
  /** ORDER BY without aggregates: the coordinator merges the sorted shards itself when it can order the keys. */
  sorted?: SortedMerge;
}

/** The partial columns' types, as the home node names them (known only once the shards have answered). */
export interface CombineTypes {
  /** The type of partial column `c` (c0, c1, ...). */
  type(c: string): string;
  /** The type avg() over partial sum column `c` returns: double precision for floats, numeric otherwise. */
  avgType(c: string): string;
}

const AGGS = new Set(['count', 'sum', 'min', 'max', 'avg']);

export function planAggregate(stmt: Node, table: DistributedTable, params: BoundParams): AggregatePlan | ErrorPlan {
  if (stmt.havingClause) return notSupported('HAVING across shards');
  if (stmt.distinctClause) return notSupported('DISTINCT with GROUP BY or aggregates across shards');
  const groups: string[] = (stmt.groupClause ?? []).map((g: Node) => deparseExpr(g));
  const partials: Node[] = [];
  const finals: string[] = [];
  const addPartial = (val: Node) => {
    partials.push({ ResTarget: { name: `c${partials.length}`, val } });
    return `c${partials.length - 1}`;
  };
  for (const t of stmt.targetList as Node[]) {
    const outer = t.ResTarget.val;
    // A cast around an aggregate (count(*)::int) applies to the combined value.
    const v = outer.TypeCast?.arg?.FuncCall ? outer.TypeCast.arg : outer;
    const castTo = v !== outer ? deparseExpr({ TypeCast: { arg: { ColumnRef: { fields: [{ String: { sval: 'vecshard_x' } }] } }, typeName: outer.TypeCast.typeName } }) : undefined;
    const name = quoteName(outputName(t)) + (castTo ? `\u0000${castTo}` : '');
    const f = v.FuncCall;
    const fname = f?.funcname?.at(-1)?.String?.sval;
    if (f && AGGS.has(fname)) {
      // Equal values of a hash table's distribution column are always on one shard, so DISTINCT over it is
      // DISTINCT within each shard: the shards' counts and sums add up.
      const arg = f.args?.length === 1 ? f.args[0].ColumnRef?.fields.at(-1)?.String?.sval : undefined;
      const distinctByShard = f.agg_distinct && table.method === 'hash' && arg === table.distColumn && fname !== 'avg';
      if ((f.agg_distinct && !distinctByShard) || f.agg_filter || f.agg_order || f.over) {
        return notSupported(`${fname}(DISTINCT/FILTER/ORDER BY) across shards`, f.agg_distinct ? `DISTINCT works across shards on the distribution column ("${table.distColumn}").` : undefined);
      }
      if (fname === 'count') finals.push(`sum(${addPartial(v)})::bigint AS ${name}`);
      else if (fname === 'sum') {
        const c = addPartial(v);
        finals.push(`sum(${c})::${'${type:' + c + '}'} AS ${name}`);
      } else if (fname === 'min' || fname === 'max') finals.push(`${fname}(${addPartial(v)}) AS ${name}`);
      else {
        // pgvector's avg of vectors has no sum-and-count form in SQL (no vector / number): the home node averages.
        if (['vector', 'halfvec', 'sparsevec'].includes(table.columns.find((col) => col.name === arg)?.type ?? '')) return notSupported('avg of vectors across shards');
        const s = addPartial({ FuncCall: { ...f, funcname: [{ String: { sval: 'sum' } }] } });
        const c = addPartial({ FuncCall: { ...f, funcname: [{ String: { sval: 'count' } }], agg_star: false } });
        finals.push(`CASE WHEN sum(${c}) = 0 THEN NULL ELSE (sum(${s})::numeric / sum(${c}))::${'${avg:' + s + '}'} END AS ${name}`);
      }
      continue;
    }
    let nested = false;
    walk(v, (n) => {
      if (n.FuncCall && AGGS.has(n.FuncCall.funcname?.at(-1)?.String?.sval)) nested = true;
    });
    if (nested) return notSupported('an expression around an aggregate across shards');
    const text = deparseExpr(v);
    const g = groups.indexOf(text);
    if (g < 0 && !v.A_Const) return notSupported(`output column ${outputName(t)} that is neither grouped nor aggregated`);
    finals.push(`${addPartial(v)} AS ${name}`);
  }
  for (let i = 0; i < finals.length; i++) {
    const m = /^(.*) AS ("(?:[^"]|"")*")\u0000(.*)$/s.exec(finals[i]);
    if (m) finals[i] = `${m[3].replace('vecshard_x', `(${m[1]})`)} AS ${m[2]}`;
  }
  const groupCols = groups.map((g) => {
    const idx = partials.findIndex((p) => deparseExpr(p.ResTarget.val) === g);
    return idx >= 0 ? `c${idx}` : addPartial(parseGroup(stmt, g));
  });
  // ORDER BY and LIMIT apply to the combined rows; keys must be output columns (by name or position).
  const order: string[] = [];
  for (const s of (stmt.sortClause ?? []) as Node[]) {
    const k = s.SortBy.node;
    const pos = k.A_Const?.ival?.ival;
    const idx = pos ? pos - 1 : sortTarget(stmt.targetList, k);
    if (idx === 'ambiguous') return ambiguous(k);
    if (idx < 0) return notSupported('ORDER BY a key that is not an output column, with aggregates across shards');
    const dir = s.SortBy.sortby_dir === 'SORTBY_DESC' ? ' DESC' : '';
    const nulls = s.SortBy.sortby_nulls === 'SORTBY_NULLS_FIRST' ? ' NULLS FIRST' : s.SortBy.sortby_nulls === 'SORTBY_NULLS_LAST' ? ' NULLS LAST' : '';
    order.push(`${idx + 1}${dir}${nulls}`);
  }
  const lim = stmt.limitCount ? ` LIMIT ${deparseExpr(stmt.limitCount)}` : '';
  const off = stmt.limitOffset ? ` OFFSET ${deparseExpr(stmt.limitOffset)}` : '';
  if (/\$\d/.test(lim + off)) return notSupported('LIMIT or OFFSET parameters with aggregates across shards');
  const shardStmt = { ...stmt, targetList: partials, sortClause: undefined, limitCount: undefined, limitOffset: undefined };
  const tasks = tasksFor(shardStmt, table, table.shards.map((s) => s.index), params, 'SelectStmt');
  return {
    kind: 'aggregate',
    table,
    tasks,
    combine: (source, _names, types) =>
      `SELECT ${finals.join(', ')} FROM ${source}${groupCols.length ? ` GROUP BY ${groupCols.join(', ')}` : ''}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}${lim}${off}`
        .replace(/\$\{type:(c\d+)\}/g, (_, c: string) => types.type(c))
        .replace(/\$\{avg:(c\d+)\}/g, (_, c: string) => types.avgType(c)),
    strategy: `aggregate: partial aggregates on every shard, combined on node 0${groups.length ? ` by ${groups.join(', ')}` : ''}`,
  };
}

function deparseExpr(n: Node): string {
  return deparse({ SelectStmt: { targetList: [{ ResTarget: { val: n } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } }).replace(/^SELECT /, '');
}

function parseGroup(stmt: Node, text: string): Node {
  return (stmt.groupClause as Node[]).find((g) => deparseExpr(g) === text)!;
}
