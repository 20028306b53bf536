// Which distributed tables a statement touches, and renaming them to a shard.
import { cloneTree, walk, type Node } from '../sql/ast.ts';
import { SHARD_SCHEMA, type Catalog, type DistributedTable } from '../metadata/catalog.ts';

/** A RangeVar, whether wrapped ({ RangeVar: {...} } in node lists) or bare (InsertStmt.relation and the like). */
function rangeVar(n: Node): Node | undefined {
  if (n.RangeVar) return n.RangeVar;
  return typeof n.relname === 'string' && 'inh' in n ? n : undefined;
}

/** Distributed tables named anywhere in the statement (unqualified names are taken as public). */
export function distributedTables(stmt: Node, catalog: Catalog): DistributedTable[] {
  if (catalog.empty) return [];
  const found = new Map<string, { table: DistributedTable; bare: string | undefined }>();
  // A CTE of the same name hides a table (taken as hiding it anywhere in the statement).
  let ctes: Set<string> | undefined;
  walk(stmt, (n) => {
    if (n.CommonTableExpr) (ctes ??= new Set()).add(n.CommonTableExpr.ctename);
    const rv = rangeVar(n);
    if (!rv) return;
    const bare = rv.schemaname === undefined ? rv.relname : undefined;
    // A view over distributed tables reads them (views.ts).
    const view = catalog.views.size ? catalog.views.get(`${rv.schemaname ?? 'public'}.${rv.relname}`) : undefined;
    for (const t of view ? view.tables : [catalog.get(rv.schemaname ?? 'public', rv.relname)]) {
      const key = t && `${t.schema}.${t.name}`;
      if (t && !(found.has(key!) && found.get(key!)!.bare === undefined)) found.set(key!, { table: t, bare });
    }
  });
  return [...found.values()].filter((f) => !(f.bare !== undefined && ctes?.has(f.bare))).map((f) => f.table);
}

/** A copy of the statement in which `table` is its shard, aliased to the table's name so column references hold. */
export function toShard(stmt: Node, table: DistributedTable, shardName: string, colocatedName = colocatedShard(shardName)): Node {
  const copy = cloneTree(stmt);
  // Joined reference tables become their one shard, whose copy is on every node that serves this query.
  const names = new Map([[`${table.schema}.${table.name}`, shardName], ...(table.joined ?? []).map((r) => [`${r.schema}.${r.name}`, r.shards[0].name] as [string, string])]);
  if (table.colocated) names.set(`${table.colocated.schema}.${table.colocated.name}`, colocatedName);
  walk(copy, (n) => {
    const rv = rangeVar(n);
    const to = rv && names.get(`${rv.schemaname ?? 'public'}.${rv.relname}`);
    if (!to) return;
    if (!rv.alias) rv.alias = { aliasname: rv.relname };
    rv.schemaname = SHARD_SCHEMA;
    rv.relname = to;
  });
  return copy;
}

/**
 * The statement's CTEs that read no table (literal rows, or intermediate results put back as VALUES): they can run
 * inside every shard's query as they are.
 */
export function constantCtes(stmt: Node): Set<string> {
  const out = new Set<string>();
  for (const c of (stmt.withClause?.ctes ?? []) as Node[]) {
    const cte = c.CommonTableExpr;
    if (!readsRelations(cte.ctequery, out)) out.add(cte.ctename);
  }
  return out;
}

/** Whether a tree names a relation other than the CTEs in `ctes`. */
export function readsRelations(n: Node | undefined, ctes: Set<string>): boolean {
  let found = false;
  walk(n, (x) => {
    if (found) return false;
    if (x.RangeVar && !(x.RangeVar.schemaname === undefined && ctes.has(x.RangeVar.relname))) found = true;
  });
  return found;
}

/** The co-located table's shard stands in the statement under the first table's shard name and this suffix. */
export const colocatedShard = (shardName: string) => `${shardName}_colocated`;

/**
 * A join of two hash tables with the same shard count and hash ranges, on their distribution columns (an equality
 * in WHERE or ON): shard i of one can only match shard i of the other, so each pair joins on a node that holds a
 * copy of both. The first table as the plan uses it, with the second as its `colocated` partner; undefined when the
 * statement is not such a join (it then runs as any join does: on the home node over the rows).
 */
export function colocatedTable(stmt: Node, tables: DistributedTable[]): DistributedTable | undefined {
  if (tables.length !== 2 || tables.some((t) => t.method !== 'hash')) return undefined;
  const [a, b] = tables;
  if (a.distType !== b.distType || a.shards.length !== b.shards.length) return undefined;
  if (a.shards.some((s, i) => s.minHash !== b.shards[i].minHash || s.maxHash !== b.shards[i].maxHash)) return undefined;
  const ctes = constantCtes(stmt);
  const byName = new Map<string, DistributedTable>();
  let others = false;
  let seen = 0;
  walk(stmt, (n) => {
    const rv = n.RangeVar;
    if (!rv || (rv.schemaname === undefined && ctes.has(rv.relname))) return;
    const t = tables.find((x) => x.name === rv.relname && x.schema === (rv.schemaname ?? 'public'));
    if (!t) others = true;
    else {
      seen++;
      byName.set(rv.alias?.aliasname ?? rv.relname, t);
    }
  });
  if (others || seen !== 2 || byName.size !== 2) return undefined;
  const conds: Node[] = [];
  const and = (e: Node | undefined): void => {
    if (e?.BoolExpr?.boolop === 'AND_EXPR') e.BoolExpr.args.forEach(and);
    else if (e) conds.push(e);
  };
  and(stmt.whereClause);
  walk(stmt.fromClause, (n) => {
    if (n.JoinExpr) and(n.JoinExpr.quals);
  });
  const side = (c: Node | undefined) => {
    const f = c?.ColumnRef?.fields;
    const t = f?.length === 2 ? byName.get(f[0].String?.sval) : undefined;
    return t && f![1].String?.sval === t.distColumn ? t : undefined;
  };
  const onKeys = conds.some((c) => {
    const e = c.A_Expr;
    if (e?.kind !== 'AEXPR_OP' || e.name?.at(-1)?.String?.sval !== '=') return false;
    const [l, r] = [side(e.lexpr), side(e.rexpr)];
    return !!l && !!r && l !== r;
  });
  if (!onKeys) return undefined;
  const shards = a.shards.map((s, i) => ({ ...s, nodes: s.nodes.filter((n) => b.shards[i].nodes.includes(n)) }));
  return shards.every((s) => s.nodes.length) ? { ...a, colocated: b, shards } : undefined;
}

/**
 * A SELECT over one distributed table joined with reference tables: the table as the plan uses it, its shards
 * limited to the nodes that also hold every reference table. Undefined when the statement names anything else
 * (a table that lives on node 0 only cannot be joined on the shards' nodes).
 */
export function joinedTable(stmt: Node, tables: DistributedTable[]): DistributedTable | string {
  const dist = tables.filter((t) => t.method !== 'reference');
  if (dist.length > 1) return 'a join of two distributed tables (make all but one of them reference tables)';
  const main = dist[0] ?? tables[0];
  const refs = tables.filter((t) => t !== main);
  const known = new Set(tables.map((t) => `${t.schema}.${t.name}`));
  const ctes = constantCtes(stmt);
  let other: string | undefined;
  walk(stmt, (n) => {
    const rv = n.RangeVar;
    if (rv && !known.has(`${rv.schemaname ?? 'public'}.${rv.relname}`) && !(rv.schemaname === undefined && ctes.has(rv.relname))) other ??= rv.relname;
  });
  if (other) return `a join of a distributed table with "${other}", which is not distributed (make it a reference table)`;
  const hasAll = (n: number) => refs.every((r) => r.shards[0].nodes.includes(n));
  return { ...main, joined: refs, shards: main.shards.map((s) => ({ ...s, nodes: s.nodes.filter(hasAll) })) };
}

/** The schemas of a search_path setting, in order ("$user", pg_catalog and pg_temp left out: no shell lives there). */
export function searchPathSchemas(setting: string): string[] {
  const out: string[] = [];
  for (const m of setting.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/g)) {
    const name = m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2].toLowerCase();
    if (name && name !== '$user' && name !== 'pg_catalog' && !name.startsWith('pg_temp')) out.push(name);
  }
  return out;
}

/**
 * Unqualified names of distributed tables (and views over them) resolved by the session's search_path, as the
 * nodes resolve them: a copy with those found first in a schema other than public qualified, or undefined when
 * there are none (everything else takes an unqualified name as public's). A plain table of the same name in an
 * earlier schema is not known here; vecshard takes the distributed one.
 */
export function qualifyTables(stmt: Node, catalog: Catalog, searchPath: string | undefined): Node | undefined {
  if (catalog.empty || searchPath === undefined) return undefined;
  const schemas = searchPathSchemas(searchPath);
  if (schemas.length && schemas[0] === 'public') return undefined;
  const known = (schema: string, name: string) => !!catalog.get(schema, name) || catalog.views.has(`${schema}.${name}`);
  const resolve = (name: string) => schemas.find((s) => known(s, name));
  let ctes: Set<string> | undefined;
  let needed = false;
  const elsewhere = (name: string) => {
    const schema = resolve(name);
    return schema !== undefined && schema !== 'public' ? schema : undefined;
  };
  // DROP TABLE and DROP VIEW name their relations as lists of strings.
  const drop = stmt.DropStmt && ['OBJECT_TABLE', 'OBJECT_VIEW'].includes(stmt.DropStmt.removeType) ? stmt.DropStmt : undefined;
  const bareDrops = (d: Node) => ((d.objects ?? []) as Node[]).filter((o) => o.List?.items?.length === 1 && elsewhere(o.List.items[0].String.sval));
  if (drop && bareDrops(drop).length) needed = true;
  walk(stmt, (n) => {
    if (n.CommonTableExpr) (ctes ??= new Set()).add(n.CommonTableExpr.ctename);
    const rv = rangeVar(n);
    if (rv && rv.schemaname === undefined && elsewhere(rv.relname)) needed = true;
  });
  if (!needed) return undefined;
  const copy = cloneTree(stmt);
  if (drop) for (const o of bareDrops(copy.DropStmt)) o.List.items.unshift({ String: { sval: elsewhere(o.List.items[0].String.sval) } });
  walk(copy, (n) => {
    const rv = rangeVar(n);
    if (!rv || rv.schemaname !== undefined || ctes?.has(rv.relname)) return;
    const schema = resolve(rv.relname);
    if (schema !== undefined && schema !== 'public') rv.schemaname = schema;
  });
  return copy;
}
