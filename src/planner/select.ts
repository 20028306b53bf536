// SELECT on a distributed table: one shard when the WHERE clause pins the distribution column, else every shard,
// with kNN (ORDER BY a vector distance LIMIT k) merged by distance.
import { columnName, walk, intConst, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { BoundParams } from './params.ts';
import { pinnedValue, pinningParam, shardForValue, valueText, vectorValue } from './router.ts';
import { OPERATOR_METRIC } from '../index/distance.ts';
import { lowerBound } from '../index/bounds.ts';
import { nearestShards, targetSettings } from './target-recall.ts';
import { constantCtes, readsRelations } from './relations.ts';
import { tasksFor } from './shard-sql.ts';
import { planAggregate, type AggregatePlan } from './aggregate.ts';
import { planSorted } from './sort.ts';
import { type DistributedPlan, type ErrorPlan, type PruneSpec } from './types.ts';
import { notSupported } from '../errors.ts';

export const VECTOR_OPERATORS = new Set(['<->', '<#>', '<=>', '<+>', '<~>', '<%>']);
/** PostgreSQL's built-in aggregates (a name missing here would be scattered as if it were a plain function). */
const AGGREGATES = new Set([
  'count', 'sum', 'min', 'max', 'avg', 'array_agg', 'string_agg', 'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'bit_xor',
  'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'json_agg_strict', 'jsonb_agg_strict', 'json_object_agg_strict',
  'jsonb_object_agg_strict', 'json_object_agg_unique', 'jsonb_object_agg_unique', 'json_object_agg_unique_strict',
  'jsonb_object_agg_unique_strict', 'json_arrayagg', 'json_objectagg', 'range_agg', 'range_intersect_agg', 'xmlagg', 'any_value',
  'corr', 'covar_pop', 'covar_samp', 'regr_avgx', 'regr_avgy', 'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope', 'regr_sxx',
  'regr_sxy', 'regr_syy', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'mode', 'percentile_cont',
  'percentile_disc', 'grouping',
]);
export const DISTANCE_COLUMN = '__vecshard_distance';

export interface SelectContext {
  params: BoundParams;
  exact: boolean;
  overfetch: number;
  /** The session's hnsw.ef_search (pgvector's default 40 when unset). */
  efSearch: number;
  /** vecshard.probes: how many of a clustered table's shards a kNN query visits (default about √shards). */
  probes?: number | 'all';
  /** vecshard.target_recall: ef_search is picked from the table's calibration to reach it. */
  targetRecall?: number;
  /** vecshard.measure_recall: the share of kNN answers re-run exactly in the background. */
  measureRecall?: number;
}

function limitValue(n: Node | undefined, params: BoundParams, what: string): number | ErrorPlan {
  if (!n) return what === 'LIMIT' ? Infinity : 0;
  const v = valueText(n, params);
  if (v === null) return what === 'LIMIT' ? Infinity : 0;
  if (v === undefined || !/^\d+$/.test(v.trim())) return notSupported(`${what} with an expression (use a constant or a parameter)`);
  return Number(v);
}

/** What decides a statement's plan shape, found in one pass and kept per parsed statement (they are reused). */
const shapes = new WeakMap<Node, { subLink: boolean; window: boolean; aggregate: boolean }>();
function shapeOf(stmt: Node): { subLink: boolean; window: boolean; aggregate: boolean } {
  let shape = shapes.get(stmt);
  if (shape) return shape;
  shape = { subLink: false, window: false, aggregate: false };
  const sh = shape;
  const ctes = constantCtes(stmt);
  walk(stmt, (n, key) => {
    // The shape of this query level: what subqueries and CTEs compute inside them is theirs.
    if (key === 'withClause' || n.RangeSubselect) return false;
    // A subquery that reads no table (literal rows, or an intermediate result put back) runs inside each shard.
    if (n.SubLink) {
      if (readsRelations(n.SubLink.subselect, ctes)) sh.subLink = true;
      walk(n.SubLink.testexpr, (m) => {
        if (m.SubLink) return false;
        if (m.FuncCall?.over) sh.window = true;
      });
      return false;
    }
    const f = n.FuncCall;
    if (f?.over) sh.window = true;
    // WITHIN GROUP, FILTER, DISTINCT and ORDER BY inside the call are only allowed on aggregates.
    if (f && !f.over && (f.agg_star || f.agg_within_group || f.agg_filter || f.agg_distinct || f.agg_order || AGGREGATES.has(f.funcname?.at(-1)?.String?.sval))) sh.aggregate = true;
  });
  shapes.set(stmt, shape);
  return shape;
}

export function planSelect(stmt: Node, table: DistributedTable, ctx: SelectContext): DistributedPlan | AggregatePlan | ErrorPlan {
  if (stmt.op && stmt.op !== 'SETOP_NONE') return notSupported('UNION, INTERSECT or EXCEPT');
  // CTEs that read tables ran first (recursive.ts); those left are rows that run inside each shard's query.
  if (stmt.withClause && constantCtes(stmt).size < stmt.withClause.ctes.length) return notSupported('WITH (common table expressions)');
  const from = (stmt.fromClause ?? []) as Node[];
  const ctes = constantCtes(stmt);
  // Rows that read no table (a constant CTE, a subquery over VALUES) join inside each shard's query.
  const constant = (n: Node): boolean => (!!n.RangeVar && n.RangeVar.schemaname === undefined && ctes.has(n.RangeVar.relname)) || (!!n.RangeSubselect && !n.RangeSubselect.lateral && !readsRelations(n.RangeSubselect.subquery, ctes));
  const plainJoin = (n: Node): boolean => !!n.RangeVar || constant(n) || (!!n.JoinExpr && plainJoin(n.JoinExpr.larg) && plainJoin(n.JoinExpr.rarg));
  if (!from.length || !from.every(plainJoin)) return notSupported('a subquery or function in FROM with a distributed table');
  if (from.length > 1 || !from[0].RangeVar) {
    const onlyConstants = from.filter((n) => !constant(n)).length === 1 && !!from.find((n) => !constant(n))?.RangeVar;
    if (!table.joined?.length && !table.colocated && !onlyConstants) return notSupported('a join or subquery in FROM with a distributed table');
  }
  const { subLink, window, aggregate } = shapeOf(stmt);
  if (subLink) return notSupported('a subquery in a query on a distributed table');
  if (stmt.intoClause) return notSupported('SELECT INTO');

  const base = { kind: 'distributed' as const, table, command: 'SELECT' as const, write: false };
  if (table.method === 'reference') {
    return { ...base, tasks: tasksFor(stmt, table, [0], ctx.params, 'SelectStmt', { parsed: stmt, key: 'one' }), merge: { kind: 'concat', limit: Infinity, offset: 0 }, hidden: 0, strategy: 'reference table: one copy' };
  }
  const pinned = pinnedValue(stmt.whereClause, table, ctx.params);
  if (pinned !== undefined && pinned !== null) {
    const shard = shardForValue(table, pinned);
    // The shard's SQL differs from another shard's by the name only: made once per statement text.
    const task = (i: number, params: BoundParams) => tasksFor(stmt, table, [i], params, 'SelectStmt', { parsed: stmt, key: 'one' })[0];
    const param = pinningParam(stmt.whereClause, table, ctx.params);
    return {
      ...base,
      tasks: [task(shard.index, ctx.params)],
      ...(param !== undefined && { route: { param, task } }),
      merge: { kind: 'concat', limit: Infinity, offset: 0 },
      hidden: 0,
      strategy: `router: ${table.distColumn} = ${pinned}`,
    };
  }

  if (window) return notSupported('window functions across shards');
  if (stmt.groupClause || stmt.havingClause || aggregate) {
    return planAggregate(stmt, table, ctx.params);
  }

  const limit = limitValue(stmt.limitCount, ctx.params, 'LIMIT');
  if (typeof limit !== 'number') return limit;
  const offset = limitValue(stmt.limitOffset, ctx.params, 'OFFSET');
  if (typeof offset !== 'number') return offset;
  const all = table.shards.map((s) => s.index);

  const [first0] = (stmt.sortClause ?? []) as Node[];
  const firstOp = first0?.SortBy.node?.A_Expr?.kind === 'AEXPR_OP' ? first0.SortBy.node.A_Expr.name?.at(-1)?.String?.sval : undefined;
  if (stmt.distinctClause || (first0 && !VECTOR_OPERATORS.has(firstOp))) return planSorted(stmt, table, ctx.params, limit, offset);

  if (!stmt.sortClause?.length) {
    const shardStmt = { ...stmt, limitOffset: undefined, limitCount: limit === Infinity ? undefined : intConst(limit + offset) };
    return {
      ...base,
      tasks: tasksFor(shardStmt, table, all, ctx.params, 'SelectStmt'),
      merge: { kind: 'concat', limit, offset },
      hidden: 0,
      strategy: 'scatter: every shard, rows concatenated',
    };
  }

  const [first, ...rest] = stmt.sortClause as Node[];
  const key = first.SortBy.node;
  const op = key?.A_Expr?.kind === 'AEXPR_OP' ? key.A_Expr.name?.at(-1)?.String?.sval : undefined;
  if (rest.length) {
    // Further keys after the distance: node 0 merges on all keys; shards still get ef_search raised.
    const p = planSorted(stmt, table, ctx.params, limit, offset);
    const n = limit === Infinity ? 0 : Math.min(limit + offset, 1000);
    if (p.kind === 'aggregate' && n > 40) for (const t of [...p.tasks, ...(p.sorted?.tasks ?? [])]) t.before = [`SELECT set_config('hnsw.ef_search', greatest(coalesce(current_setting('hnsw.ef_search', true), '40')::int, ${n})::text, true)`];
    return p;
  }
  if (first.SortBy.useOp) return notSupported('ORDER BY ... USING');

  const desc = first.SortBy.sortby_dir === 'SORTBY_DESC';
  const nullsFirst = first.SortBy.sortby_nulls === 'SORTBY_NULLS_FIRST' || (first.SortBy.sortby_nulls !== 'SORTBY_NULLS_LAST' && desc);
  const perShard = limit === Infinity ? Infinity : Math.ceil((limit + offset) * ctx.overfetch);
  // In exact mode `+ 0` keeps the planner off the ANN index: a sequential scan and sort is exact.
  const orderExpr = ctx.exact ? { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '+' } }], lexpr: key, rexpr: intConst(0) } } : key;
  const shardStmt = {
    ...stmt,
    targetList: [...stmt.targetList, { ResTarget: { name: DISTANCE_COLUMN, val: key } }],
    sortClause: [{ SortBy: { ...first.SortBy, node: orderExpr } }],
    limitOffset: undefined,
    limitCount: perShard === Infinity ? undefined : intConst(perShard),
  };
  const aimed = ctx.targetRecall === undefined || ctx.exact ? undefined : targetSettings(table, op!, ctx.targetRecall, perShard === Infinity ? 0 : perShard);
  if (aimed && 'kind' in aimed) return aimed;
  const target = aimed;
  // One HNSW scan returns at most about hnsw.ef_search rows: raise it to the shard's LIMIT for this query.
  // Only when the shard's LIMIT is above the session's ef_search (settings follow the session, so it is known).
  const before = target
    ? [`SELECT set_config('hnsw.ef_search', '${Math.min(1000, Math.max(target.efSearch, perShard === Infinity ? 0 : perShard))}', true)`]
    : perShard === Infinity || ctx.exact || perShard <= ctx.efSearch
      ? []
      : [`SELECT set_config('hnsw.ef_search', greatest(coalesce(current_setting('hnsw.ef_search', true), '40')::int, ${Math.min(perShard, 1000)})::text, true)`];
  const aim = target ? `, target recall ${ctx.targetRecall}: ${target.probes ? `probes ${target.probes}, ` : ''}ef_search ${target.efSearch} (calibrated recall@${target.k} ${target.recall.toFixed(3)})` : '';
  const merge = { kind: 'knn' as const, limit, offset, desc, nullsFirst };
  // The same query scanning every shard exactly, for the share of answers whose recall is measured.
  const exactStmt = { ...shardStmt, sortClause: [{ SortBy: { ...first.SortBy, node: { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '+' } }], lexpr: key, rexpr: intConst(0) } } } }] };
  const measure = ctx.measureRecall && !ctx.exact ? { measure: { share: ctx.measureRecall, tasks: tasksFor(exactStmt, table, all, ctx.params, 'SelectStmt', { parsed: stmt, key: `knn-exact|${perShard}` }) } } : {};
  // Everything the shard statement depends on besides the text: the per-shard LIMIT and exact mode.
  const cache = { parsed: stmt, key: `knn|${perShard}|${ctx.exact}` };
  const tasks = (shards: number[]) => tasksFor(shardStmt, table, shards, ctx.params, 'SelectStmt', cache).map((t) => ({ ...t, before }));
  // A target recall on a clustered table also picks how many shards to visit.
  const routing = target?.probes ? { ...ctx, probes: target.probes } : ctx;
  const clustered = table.method === 'clustered' ? planClustered(key, op!, table, routing, desc, limit === Infinity ? Infinity : limit + offset) : undefined;
  if (clustered) {
    const shards = clustered.visit ?? clustered.prune!.order;
    return { ...base, ...measure, tasks: tasks(shards), merge, hidden: 1, strategy: `${clustered.strategy}, LIMIT ${perShard} per shard${ctx.exact ? ' (exact scan)' : ''}${aim}`, ...(clustered.prune ? { prune: clustered.prune } : {}) };
  }
  return {
    ...base,
    ...measure,
    tasks: tasks(all),
    merge,
    hidden: 1,
    strategy: `knn scatter-gather: every shard, LIMIT ${perShard} per shard${ctx.exact ? ' (exact scan)' : ''}, merged by distance${aim}`,
  };
}

/**
 * Which shards of a clustered table a kNN query visits. Approximate: the `probes` shards whose centroids are
 * nearest the query. Exact (vecshard.exact): shards in order of their lower bound, the first `probes` at once and
 * the others only where the bound is not above the k-th distance found (decided by the executor).
 */
function planClustered(key: Node, op: string, table: DistributedTable, ctx: SelectContext, desc: boolean, k: number): { visit?: number[]; prune?: PruneSpec; strategy: string } | undefined {
  const e = key.A_Expr;
  const [col, val] = columnName(e.lexpr) === table.distColumn ? [e.lexpr, e.rexpr] : [e.rexpr, e.lexpr];
  const metric = OPERATOR_METRIC[op];
  if (columnName(col) !== table.distColumn || !metric) return undefined;
  const q = vectorValue(val, ctx.params);
  const n = table.shards.length;
  if (!q || q.length !== table.shards[0].geometry!.centroid.length) return undefined;
  const probes = ctx.probes === 'all' ? n : Math.min(n, ctx.probes ?? Math.ceil(Math.sqrt(n)));
  if (ctx.exact) {
    // Farthest-first (DESC) has no useful bound: every shard.
    if (desc || k === Infinity) return { visit: table.shards.map((s) => s.index), strategy: `knn clustered, exact: every shard (${desc ? 'descending order' : 'no LIMIT'})` };
    const bounds = new Map(table.shards.map((s) => [s.index, lowerBound(metric, q, s.geometry!)]));
    const order = table.shards.map((s) => s.index).sort((a, b) => bounds.get(a)! - bounds.get(b)! || a - b);
    return { prune: { order, bounds, first: probes, k }, strategy: `knn clustered, exact pruning: the ${probes} shard(s) with the lowest bounds first, others only if their bound is below the k-th distance` };
  }
  return { visit: nearestShards(table, q, probes), strategy: `knn clustered: the ${probes} of ${n} shards whose centroids are nearest (vecshard.probes)` };
}
