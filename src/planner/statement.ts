// One statement, given the catalog: which planner case handles it.
import { expandViews, viewDdl, writesView } from './views.ts';
import { qualifyTables } from './relations.ts';
import { planSqlPrepared, type SqlPrepared, type SqlPreparePlan } from './sql-prepare.ts';
import type { RawStmt } from '../sql/parse.ts';
import type { CopyOutFormat } from '../executor/copy-rows.ts';
import { stmtKind } from '../sql/parse.ts';
import { changesProtected } from '../sql/protected.ts';
import { constText, deparse, walk, type Node } from '../sql/ast.ts';
import { parseSql } from '../sql/parse.ts';
import type { Catalog, DistributedTable } from '../metadata/catalog.ts';
import type { CopyTask } from '../shards/cluster.ts';
import type { Metric } from '../index/distance.ts';
import type { DistributeRequest } from '../operations/distribute.ts';
import type { BoundParams } from './params.ts';
import { colocatedTable, distributedTables, joinedTable, toShard } from './relations.ts';
import { planSelect } from './select.ts';
import { valueText } from './router.ts';
import type { AggregatePlan } from './aggregate.ts';
import { planInsert, type DefaultEvaluator } from './insert.ts';
import { planModify } from './modify.ts';
import { planRoles } from './roles.ts';
import { planAlterTable, planDropTables, planIndex, planReindexTable, planRename, planTruncate } from './ddl.ts';
import { type DdlPlan, type DistributedPlan, type ErrorPlan } from './types.ts';
import { NO_PARAMS } from './params.ts';
import { explainOptions, type ExplainOptions } from './explain.ts';
import { notSupported } from '../errors.ts';
import { intermediateLimit, planSubqueries, pullUp, pullUpAll, type RecursivePlan } from './recursive.ts';
import { parseQualifiedName, quoteLiteral } from '../sql/quote.ts';
import { withVirtualTables } from './virtual.ts';

const ADMIN_FUNCTIONS = ['repair', 'move_shard_placement', 'rebalance', 'add_node', 'remove_node', 'recluster', 'calibrate'];

export interface RelayCopyPlan {
  kind: 'copy-in';
  table?: undefined;
}

/** COPY into (the rows routed to the shards) or out of a distributed table. */
export interface CopyPlan {
  kind: 'copy-in' | 'copy-out';
  table: DistributedTable;
  columns: string[];
  format: 'text' | 'csv' | 'binary';
  options: Node[];
  header: boolean;
}

/**
 * Every plan: what the planner makes of a query string (plan.ts) or of one statement in it (planStatement), and
 * what the executor (runPlan) or the session runs.
 */
export type StatementPlan =
  /** Runs on the home node as it is; `sql` when vecshard rewrote the statement (its virtual tables filled in). */
  | { kind: 'passthrough'; sql?: string }
  /** CREATE DATABASE / DROP DATABASE on every node. */
  | { kind: 'createdb'; name: string; text: string }
  | { kind: 'dropdb'; name: string; ifExists: boolean; text: string }
  /** COPY ... FROM STDIN into a plain table: the client's data relayed to the home node. */
  | RelayCopyPlan
  | { kind: 'distribute'; req: DistributeRequest }
  | { kind: 'notice'; tag: string; message: string }
  | SqlPreparePlan
  /** vecshard.repair(), vecshard.move_shard_placement(shard, from, to), vecshard.rebalance() */
  | { kind: 'admin'; name: string; args: Array<string | null | undefined> }
  | { kind: 'explain'; inner: DistributedPlan | AggregatePlan | RecursivePlan; options: ExplainOptions }
  /** DROP INDEX while distributed tables exist: which table each index is on is asked of the home node. */
  | { kind: 'drop-index'; stmt: Node; indexes: Array<{ schema: string | undefined; name: string }> }
  /** COPY (SELECT …) TO STDOUT over distributed tables: the SELECT's rows, written as COPY data. */
  | { kind: 'copy-query'; inner: DistributedPlan | AggregatePlan; out: CopyOutFormat }
  | DistributedPlan
  | AggregatePlan
  /** Subqueries and CTEs that read tables run first; the statement is planned again with their rows. */
  | RecursivePlan
  | DdlPlan
  | CopyPlan
  | ErrorPlan;

export interface StatementContext {
  catalog: Catalog;
  params: BoundParams;
  settings: Map<string, string>;
  nodeCount: number;
  evalDefault: DefaultEvaluator;
  /** The nodes and their health, for the vecshard.nodes virtual table. */
  nodes: Array<{ id: number; kind: string; host: string; port: number | null; health: string }>;
  /** Shard copies being built, for the vecshard.tasks virtual table. */
  tasks: CopyTask[];
  /** The session's statements over distributed tables prepared with SQL PREPARE. */
  sqlPrepared?: ReadonlyMap<string, SqlPrepared>;
}

function setting(ctx: StatementContext, names: string[]): string | undefined {
  for (const n of names) if (ctx.settings.has(n)) return ctx.settings.get(n);
  return undefined;
}

/** `SELECT create_distributed_table(...)` and friends: the call, or undefined. */
export function vecshardFunction(stmt: Node): { name: string; args: Node[] } | undefined {
  const s = stmt.SelectStmt;
  if (!s || s.fromClause || s.targetList?.length !== 1) return undefined;
  const f = s.targetList[0].ResTarget?.val?.FuncCall;
  const name = f?.funcname?.at(-1)?.String?.sval;
  const admin = ADMIN_FUNCTIONS.includes(name) && f.funcname.length === 2 && f.funcname[0].String?.sval === 'vecshard';
  if (!admin && !['create_distributed_table', 'create_reference_table'].includes(name)) return undefined;
  return { name, args: f.args ?? [] };
}

function planFunction(fn: { name: string; args: Node[] }, ctx: StatementContext): StatementPlan {
  const positional: Array<string | null | undefined> = [];
  const named = new Map<string, string | null | undefined>();
  for (const a of fn.args) {
    // Arguments may be literals or, in the extended protocol, parameters.
    if (a.NamedArgExpr) named.set(a.NamedArgExpr.name, valueText(a.NamedArgExpr.arg, ctx.params));
    else positional.push(valueText(a, ctx.params));
  }
  if (ADMIN_FUNCTIONS.includes(fn.name)) return { kind: 'admin', name: fn.name, args: fn.args.map((a) => valueText(a, ctx.params)) };
  const rel = positional[0] ?? named.get('table_name');
  if (!rel) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `${fn.name}: the first argument must name a table` } };
  const qualified = parseQualifiedName(rel);
  if (!qualified) return { kind: 'error', error: { severity: 'ERROR', code: '42602', message: `invalid name syntax: "${rel}"` } };
  const { schema = 'public', name } = qualified;
  const unqualified = qualified.schema === undefined;
  if (fn.name === 'create_reference_table') return { kind: 'distribute', req: { schema, name, unqualified, column: null, shardCount: 1, replicationFactor: ctx.nodeCount, method: 'reference' } };
  const column = positional[1] ?? named.get('distribution_column');
  if (!column) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: 'create_distributed_table: the second argument must name the distribution column' } };
  const method = named.get('distribution_type') ?? named.get('distribution') ?? 'hash';
  if (method !== 'hash' && method !== 'clustered') return notSupported(`distribution "${method}" (use 'hash' or 'clustered')`);
  const invalid = (message: string): ErrorPlan => ({ kind: 'error', error: { severity: 'ERROR', code: '22023', message: `create_distributed_table: ${message}` } });
  let centroids: number[][] | undefined;
  const centroidText = named.get('centroids');
  if (centroidText != null) {
    if (method !== 'clustered') return invalid("centroids => ... needs distribution => 'clustered'");
    try {
      centroids = JSON.parse(centroidText);
    } catch {
      return invalid('centroids must be a JSON array of vectors, like \'[[0,1],[1,0]]\'');
    }
    const dim = centroids?.[0]?.length;
    if (!Array.isArray(centroids) || !centroids.length || !centroids.every((c) => Array.isArray(c) && c.length === dim && c.every((x) => typeof x === 'number' && Number.isFinite(x)))) {
      return invalid('centroids must be a non-empty JSON array of vectors of one dimension');
    }
  }
  const metric = named.get('metric');
  if (metric != null && !['l2', 'cosine', 'ip', 'l1'].includes(metric)) return invalid(`metric must be 'l2', 'cosine', 'ip' or 'l1', not "${metric}"`);
  const countText = named.get('shard_count') ?? setting(ctx, ['vecshard.shard_count', 'citus.shard_count']);
  const shardCount = countText ? Number(countText) : (centroids?.length ?? 2 * ctx.nodeCount);
  if (centroids && centroids.length !== shardCount) return invalid(`${centroids.length} centroids for ${shardCount} shards; give one centroid per shard`);
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 4096) {
    return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `shard_count must be an integer from 1 to 4096, not "${countText}"` } };
  }
  const rfText = named.get('replication_factor') ?? setting(ctx, ['vecshard.replication_factor', 'citus.shard_replication_factor']);
  const replicationFactor = rfText ? Number(rfText) : ctx.nodeCount > 1 ? 2 : 1;
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > ctx.nodeCount) {
    return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `replication_factor must be an integer from 1 to the number of nodes (${ctx.nodeCount}), not "${rfText}"` } };
  }
  return {
    kind: 'distribute',
    req: { schema, name, unqualified, column, shardCount, replicationFactor, method, ...(metric ? { metric: metric as Metric } : {}), ...(centroids ? { centroids } : {}) },
  };
}

/** A short name for how a plan runs, for metrics and the slow-query log. */
export function planLabel(p: StatementPlan): string {
  switch (p.kind) {
    case 'passthrough':
      return 'local';
    case 'distributed':
      if (p.write) return 'write';
      if (p.merge.kind === 'knn') return 'knn';
      return p.tasks.length === 1 ? 'router' : 'scatter';
    case 'copy-in':
    case 'copy-out':
    case 'copy-query':
      return 'copy';
    case 'drop-index':
      return 'ddl';
    default:
      return p.kind;
  }
}

/** vecshard's catalog and shard tables change only through vecshard's own functions. */
export function protectedError(what: string): ErrorPlan {
  return {
    kind: 'error',
    error: { severity: 'ERROR', code: '42501', message: `vecshard: ${what} belongs to vecshard and cannot be changed by a client statement`, hint: 'Use the vecshard functions (create_distributed_table, vecshard.repair, …); schema-diff tools should ignore the schemas vecshard and vecshard_shards.' },
  };
}

/** COPY (query) TO STDOUT: the query is planned like any SELECT; only text and CSV output. */
async function planCopyQuery(stmt: Node, text: string, ctx: StatementContext): Promise<StatementPlan> {
  const out: CopyOutFormat = { format: 'text', header: false, delimiter: '\t', null: '\\N' };
  let delimiter: string | undefined;
  let nullString: string | undefined;
  for (const o of (stmt.options ?? []) as Node[]) {
    const d = o.DefElem;
    const value = () => String(constText(d.arg) ?? d.arg?.String?.sval ?? d.arg?.Boolean?.boolval);
    if (d.defname === 'format') out.format = value().toLowerCase() as CopyOutFormat['format'];
    else if (d.defname === 'header') out.header = d.arg === undefined || /^(true|on|1)$/i.test(value());
    else if (d.defname === 'delimiter') delimiter = value();
    else if (d.defname === 'null') nullString = value();
    else return notSupported(`COPY (query) option ${d.defname.toUpperCase()}`);
  }
  if (out.format !== 'text' && out.format !== 'csv') return notSupported(`COPY (query) in ${out.format} format`);
  if (out.format === 'csv') [out.delimiter, out.null] = [',', ''];
  out.delimiter = delimiter ?? out.delimiter;
  out.null = nullString ?? out.null;
  const inner = await planStatement({ stmt: stmt.query }, text, ctx);
  if (inner.kind === 'error') return inner;
  if ((inner.kind === 'distributed' && inner.command === 'SELECT') || inner.kind === 'aggregate') return { kind: 'copy-query', inner, out };
  return notSupported('COPY of this query over a distributed table');
}

function copyPlan(stmt: Node, table: DistributedTable): CopyPlan | ErrorPlan {
  let format: CopyPlan['format'] = 'text';
  let header = false;
  for (const o of (stmt.options ?? []) as Node[]) {
    const d = o.DefElem;
    if (d.defname === 'format') format = String(constText(d.arg) ?? d.arg?.String?.sval).toLowerCase() as CopyPlan['format'];
    else if (d.defname === 'header') header = d.arg === undefined || /^(true|on|1|match)$/i.test(String(d.arg?.String?.sval ?? constText(d.arg) ?? d.arg?.Boolean?.boolval));
    else if (!['delimiter', 'null', 'quote', 'escape', 'encoding'].includes(d.defname)) return notSupported(`COPY option ${d.defname.toUpperCase()}`);
  }
  if (!['text', 'csv', 'binary'].includes(format)) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `COPY format "${format}" not recognized` } };
  if (format === 'binary') {
    // As Postgres says: these have no meaning for binary data.
    const bad = ((stmt.options ?? []) as Node[]).find((o) => ['delimiter', 'null', 'quote', 'escape', 'header'].includes(o.DefElem.defname));
    if (bad) return { kind: 'error', error: { severity: 'ERROR', code: '42601', message: `cannot specify ${bad.DefElem.defname.toUpperCase()} in BINARY mode` } };
  }
  const columns = stmt.attlist ? stmt.attlist.map((a: Node) => a.String.sval) : table.columns.map((c) => c.name);
  return { kind: stmt.is_from ? 'copy-in' : 'copy-out', table, columns, format, options: stmt.options ?? [], header };
}

export async function planStatement(raw: RawStmt, text: string, ctx: StatementContext): Promise<StatementPlan> {
  // Names the session's search_path resolves to a distributed table outside public, qualified (the text stays).
  const qualified = qualifyTables(raw.stmt, ctx.catalog, ctx.settings.get('search_path'));
  if (qualified) return planStatement({ ...raw, stmt: qualified }, text, ctx);
  const stmt = raw.stmt;
  const kind = stmtKind(raw);
  const fn = vecshardFunction(stmt);
  if (fn) return planFunction(fn, ctx);
  const guarded = changesProtected(stmt);
  if (guarded) return protectedError(guarded);
  if (kind === 'CreateExtensionStmt' && stmt.CreateExtensionStmt.extname === 'citus') {
    return { kind: 'notice', tag: 'CREATE EXTENSION', message: 'vecshard provides the Citus API (create_distributed_table and friends); extension "citus" is not installed' };
  }
  const roles = planRoles(kind, stmt, text, ctx.catalog, ctx.nodeCount);
  if (roles) return roles;
  // A DDL plan's statement runs on every node (where shells live): that is all these need.
  if (classifyAllNodes(kind, stmt[kind]) && ctx.nodeCount > 1) return { kind: 'ddl', shell: text, transactional: true, catalog: [], tasks: [] };
  const virtual = /vecshard/i.test(text) ? withVirtualTables(stmt, ctx) : undefined;
  if (virtual) return { kind: 'passthrough', sql: virtual };
  // Views over distributed tables are read as their definitions (views.ts).
  if (ctx.catalog.views.size && writesView(kind, stmt[kind], ctx.catalog)) return notSupported('writing through a view', 'Write to the table itself.');
  const viewless = VIEW_READERS.has(kind) ? expandViews(stmt, ctx.catalog) : undefined;
  if (viewless) {
    const sql = deparse(viewless);
    const p = await planStatement({ stmt: viewless }, sql, ctx);
    return p.kind === 'passthrough' && !p.sql ? { kind: 'passthrough', sql } : p;
  }
  const tables = distributedTables(stmt, ctx.catalog);
  const views = viewDdl(kind, stmt[kind], ctx.catalog, tables.length > 0, text);
  if (views) return views;
  if (kind === 'DropStmt' && stmt.DropStmt.removeType === 'OBJECT_TABLE') {
    // DROP TABLE names its tables as lists of strings, not RangeVars.
    for (const o of stmt.DropStmt.objects ?? []) {
      const parts = (o.List?.items ?? []).map((x: Node) => x.String?.sval);
      const t = ctx.catalog.get(parts.length > 1 ? parts[parts.length - 2] : 'public', parts[parts.length - 1]);
      if (t) tables.push(t);
    }
  }
  if (kind === 'DropStmt' && stmt.DropStmt.removeType === 'OBJECT_INDEX' && !ctx.catalog.empty) {
    const indexes = (stmt.DropStmt.objects ?? []).map((o: Node) => {
      const parts = (o.List?.items ?? []).map((x: Node) => x.String?.sval as string);
      return { schema: parts.length > 1 ? parts[parts.length - 2] : undefined, name: parts[parts.length - 1] };
    });
    return { kind: 'drop-index', stmt: stmt.DropStmt, indexes };
  }
  // REINDEX INDEX: of a distributed table's index, every shard's like one (the executor finds out which it is).
  if (kind === 'ReindexStmt' && stmt.ReindexStmt.kind === 'REINDEX_OBJECT_INDEX' && !ctx.catalog.empty) {
    const r = stmt.ReindexStmt.relation;
    const concurrent = (stmt.ReindexStmt.params ?? []).some((p: Node) => p.DefElem?.defname === 'concurrently');
    return { kind: 'drop-index', stmt: { ...stmt.ReindexStmt, concurrent }, indexes: [{ schema: r.schemaname, name: r.relname }] };
  }
  // ALTER INDEX ... SET/RESET (storage parameters such as ef_construction, statistics): the shards' like indexes too.
  const alterIndex = kind === 'AlterTableStmt' && stmt.AlterTableStmt.objtype === 'OBJECT_INDEX' ? stmt.AlterTableStmt : undefined;
  if (alterIndex && !ctx.catalog.empty && alterIndex.cmds.every((c: Node) => ['AT_SetRelOptions', 'AT_ResetRelOptions', 'AT_SetStatistics'].includes(c.AlterTableCmd?.subtype))) {
    return { kind: 'drop-index', stmt: alterIndex, indexes: [{ schema: alterIndex.relation.schemaname, name: alterIndex.relation.relname }] };
  }
  const prepared = planSqlPrepared(kind, stmt[kind], ctx.sqlPrepared, tables.length > 0);
  if (prepared) return prepared;
  if (!tables.length) return { kind: 'passthrough' };
  const limit = intermediateLimit(setting(ctx, ['vecshard.max_intermediate_result_size']));
  if (typeof limit !== 'number') return limit;
  const recursive = planSubqueries(kind, stmt, limit, ctx.catalog);
  // WITH RECURSIVE, LATERAL: the whole SELECT on the home node over its tables' rows.
  if (recursive?.kind === 'error' && kind === 'SelectStmt') return pullUpAll(stmt.SelectStmt, ctx.catalog, limit) ?? recursive;
  if (recursive) return recursive;
  const n = stmt[kind];
  const one = tables.length === 1 ? tables[0] : undefined;
  const exact = /^(on|true|1|yes)$/i.test(setting(ctx, ['vecshard.exact']) ?? 'off');
  const overfetch = Number(setting(ctx, ['vecshard.overfetch']) ?? '1');
  switch (kind) {
    case 'SelectStmt': {
      const single = n.fromClause?.length === 1 && n.fromClause[0].RangeVar;
      const target = one && single ? one : (colocatedTable(n, tables) ?? joinedTable(n, tables));
      // What cannot run on the shards runs on the home node over the tables' rows, brought there first.
      if (typeof target === 'string') return pullUp(n, ctx.catalog, limit) ?? notSupported(target);
      const probesText = setting(ctx, ['vecshard.probes']);
      const probes = probesText === undefined || probesText === '' ? undefined : /^all$/i.test(probesText.trim()) ? 'all' : Number(probesText);
      if (typeof probes === 'number' && !(Number.isInteger(probes) && probes >= 1)) {
        return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `vecshard.probes must be a positive integer or all, not "${probesText}"` } };
      }
      const recallText = setting(ctx, ['vecshard.target_recall']);
      const targetRecall = recallText === undefined || recallText === '' ? undefined : Number(recallText);
      if (targetRecall !== undefined && !(targetRecall > 0 && targetRecall <= 1)) {
        return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `vecshard.target_recall must be a number above 0 and at most 1, not "${recallText}"` } };
      }
      const measureRecall = Number(setting(ctx, ['vecshard.measure_recall']) ?? 0);
      if (!(measureRecall >= 0 && measureRecall <= 1)) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: 'vecshard.measure_recall must be a share between 0 and 1' } };
      const p = planSelect(n, target, { params: ctx.params, exact, overfetch: overfetch >= 1 ? overfetch : 1, efSearch: Number(setting(ctx, ['hnsw.ef_search']) ?? '40') || 40, probes, targetRecall, measureRecall });
      return p.kind === 'error' && p.error.code === '0A000' ? (pullUp(n, ctx.catalog, limit) ?? p) : p;
    }
    case 'InsertStmt':
      if (!one || distributedTables(n.selectStmt ?? {}, ctx.catalog).length) return notSupported('INSERT ... SELECT from a distributed table');
      return planInsert(n, one, ctx.params, ctx.evalDefault);
    case 'UpdateStmt':
    case 'DeleteStmt':
      if (!one) return notSupported('UPDATE or DELETE involving more than one distributed table');
      return planModify(kind, n, one, ctx.params);
    case 'IndexStmt':
      return planIndex(n, text, one!);
    case 'DropStmt':
      if (n.removeType === 'OBJECT_TABLE') return planDropTables(text, tables, n);
      return notSupported(`DROP ${String(n.removeType).replace('OBJECT_', '')} on a distributed table`);
    case 'TruncateStmt':
      return planTruncate(text, tables, n);
    case 'ReindexStmt':
      if (n.kind !== 'REINDEX_OBJECT_TABLE' || !one) return notSupported('this REINDEX (REINDEX TABLE or INDEX of a distributed table works)');
      return planReindexTable(n, text, one);
    case 'AlterTableStmt':
      if (!one || n.objtype !== 'OBJECT_TABLE') return notSupported('this ALTER statement');
      return planAlterTable(n, text, one);
    case 'RenameStmt':
      if (!one) return notSupported('this RENAME');
      return planRename(n, text, one);
    case 'CopyStmt':
      if (n.filename) return notSupported('COPY to or from a server file (use psql\'s \\copy)');
      if (n.query) return planCopyQuery(n, text, ctx);
      if (!one) return notSupported('COPY naming several distributed tables');
      return copyPlan(n, one);
    case 'VacuumStmt':
      return {
        kind: 'ddl',
        shell: text,
        transactional: false,
        catalog: [],
        tasks: tables.flatMap((t) =>
          t.shards.flatMap((s) => s.nodes.map((nodeId) => {
            const v = toShard({ VacuumStmt: n }, t, s.name);
            for (const r of v.VacuumStmt.rels ?? []) delete r.VacuumRelation?.relation?.alias;
            return { nodeId, shard: s.name, shardIndex: s.index, sql: deparse(v), params: NO_PARAMS };
          })),
        ),
      };
    case 'ExplainStmt': {
      const options = explainOptions(n);
      if ('kind' in options) return options;
      const innerKind = Object.keys(n.query)[0];
      const inner = await planStatement({ stmt: n.query }, text, ctx);
      if (inner.kind === 'distributed' || inner.kind === 'aggregate') return { kind: 'explain', inner, options };
      if (inner.kind === 'recursive') {
        if (inner.writes && options.analyze) return notSupported('EXPLAIN ANALYZE of a statement with data-modifying CTEs', 'EXPLAIN without ANALYZE shows what runs first.');
        return { kind: 'explain', inner, options };
      }
      if (inner.kind === 'error') return inner;
      return notSupported(`EXPLAIN of ${innerKind.replace(/Stmt$/, '')} on a distributed table`);
    }
    default:
      return notSupported(`${kind.replace(/Stmt$/, '')} statements`);
  }
}

/** Statements whose FROM may name a view over distributed tables (views.ts reads it as its definition). */
const VIEW_READERS = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'ExplainStmt', 'CreateTableAsStmt', 'CopyStmt', 'PrepareStmt', 'DeclareCursorStmt']);

/** Statements that every node must run: extensions and per-database or per-role settings. */
function classifyAllNodes(kind: string, n: Node): boolean {
  if (kind === 'DropStmt') return n.removeType === 'OBJECT_EXTENSION';
  return ['CreateExtensionStmt', 'AlterExtensionStmt', 'AlterDatabaseSetStmt', 'AlterRoleSetStmt'].includes(kind);
}
