// ORDER BY (not a vector distance) and DISTINCT across shards: each shard sorts and limits its own rows, node 0
// sorts the union with the same keys (its types and collations), then applies OFFSET and LIMIT.
import { quoteName } from '../sql/quote.ts';
import { intConst, sortTarget, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { BoundParams } from './params.ts';
import { tasksFor } from './shard-sql.ts';
import type { ErrorPlan, ShardTask, SortKey } from './types.ts';
import type { AggregatePlan } from './aggregate.ts';
import { notSupported } from '../errors.ts';


/** As Postgres says when a bare ORDER BY name is the name of two different output columns. */
export function ambiguous(key: Node): ErrorPlan {
  return { kind: 'error', error: { severity: 'ERROR', code: '42702', message: `ORDER BY "${key.ColumnRef.fields[0].String.sval}" is ambiguous` } };
}

/**
 * The same ORDER BY merged on the coordinator: shard statements that add every sort key as a last column (binary),
 * compared there when their types allow (see executor/sorted-merge.ts).
 */
export interface SortedMerge {
  tasks: ShardTask[];
  keys: SortKey[];
  limit: number;
  offset: number;
}

export function planSorted(stmt: Node, table: DistributedTable, params: BoundParams, limit: number, offset: number): AggregatePlan | ErrorPlan {
  if (stmt.distinctClause?.some((d: Node) => Object.keys(d).length > 0)) return notSupported('DISTINCT ON across shards');
  const targets: Node[] = [...stmt.targetList];
  const visible = targets.some((t) => t.ResTarget.val?.ColumnRef?.fields?.some((f: Node) => f.A_Star)) ? undefined : targets.length;
  const hidden: Node[] = [];
  const order: string[] = [];
  // For the coordinator's merge: each key's expression (an output column's, when it names one) and direction.
  const keyExprs: Node[] = [];
  const keys: SortKey[] = [];
  for (const s of (stmt.sortClause ?? []) as Node[]) {
    if (s.SortBy.useOp) return notSupported('ORDER BY ... USING');
    const k = s.SortBy.node;
    const pos = k.A_Const?.ival?.ival;
    if (pos && visible === undefined) return notSupported('ORDER BY a position with SELECT * across shards');
    const found = pos ? pos - 1 : sortTarget(targets, k);
    if (found === 'ambiguous') return ambiguous(k);
    let idx = found;
    let ref: string;
    if (idx >= 0 && visible !== undefined) ref = `c${idx}`;
    else if (stmt.distinctClause) return notSupported('ORDER BY a key that is not an output column, with DISTINCT across shards');
    else {
      hidden.push({ ResTarget: { name: `__vecshard_sort${hidden.length}`, val: k } });
      ref = `h${hidden.length - 1}`;
    }
    const desc = s.SortBy.sortby_dir === 'SORTBY_DESC';
    keyExprs.push(idx >= 0 ? targets[idx].ResTarget.val : k);
    keys.push({ desc, nullsFirst: s.SortBy.sortby_nulls === 'SORTBY_NULLS_FIRST' || (s.SortBy.sortby_nulls !== 'SORTBY_NULLS_LAST' && desc) });
    const dir = desc ? ' DESC' : '';
    const nulls = s.SortBy.sortby_nulls === 'SORTBY_NULLS_FIRST' ? ' NULLS FIRST' : s.SortBy.sortby_nulls === 'SORTBY_NULLS_LAST' ? ' NULLS LAST' : '';
    order.push(`${ref}${dir}${nulls}`);
    idx = -1;
  }
  const perShard = limit === Infinity ? undefined : intConst(limit + offset);
  const shardStmt = { ...stmt, targetList: [...targets, ...hidden], limitOffset: undefined, limitCount: perShard };
  const all = table.shards.map((s) => s.index);
  const tasks = tasksFor(shardStmt, table, all, params, 'SelectStmt');
  const keyed = { ...shardStmt, targetList: [...targets, ...keyExprs.map((val, i) => ({ ResTarget: { name: `__vecshard_key${i}`, val } }))] };
  const sorted = stmt.distinctClause ? undefined : { tasks: tasksFor(keyed, table, all, params, 'SelectStmt'), keys, limit, offset };
  return {
    kind: 'aggregate',
    table,
    tasks,
    ...(sorted && { sorted }),
    combine: (source, names) => {
      const n = names.length - hidden.length;
      // Hidden sort keys are the last partial columns: h0 is c<n>, h1 is c<n+1>, ...
      const cols = names.slice(0, n).map((name, i) => `c${i} AS ${quoteName(name)}`);
      const keys = order.map((o) => o.replace(/^h(\d+)/, (_, j: string) => `c${n + Number(j)}`));
      return `SELECT ${stmt.distinctClause ? 'DISTINCT ' : ''}${cols.join(', ')} FROM ${source}${keys.length ? ` ORDER BY ${keys.join(', ')}` : ''}${
        limit === Infinity ? '' : ` LIMIT ${limit}`
      }${offset ? ` OFFSET ${offset}` : ''}`;
    },
    strategy: `sort: every shard sorted${perShard ? ` and limited to ${limit + offset}` : ''}, ${
      sorted ? 'merged by the coordinator (on node 0 for keys it cannot order, such as text)' : 'merged on node 0 (DISTINCT)'
    }`,
  };
}
