// Views over distributed tables read as their definitions: each such view named in FROM becomes a subquery in
// FROM (its alias the view's name, or the alias given), so the statement plans over the distributed tables
// themselves. On the nodes the view would read the empty shells.
import { cloneTree, walk, type Node } from '../sql/ast.ts';
import type { Catalog } from '../metadata/catalog.ts';
import type { DdlPlan } from './types.ts';

/** INSERT, UPDATE, DELETE or COPY FROM into a view over distributed tables: refused (the node would write its shell). */
export function writesView(kind: string, n: Node, catalog: Catalog): boolean {
  const rel = kind === 'InsertStmt' || kind === 'UpdateStmt' || kind === 'DeleteStmt' || (kind === 'CopyStmt' && n.is_from) ? n.relation : undefined;
  return !!rel && catalog.views.has(`${rel.schemaname ?? 'public'}.${rel.relname}`);
}

/** The statement with its views over distributed tables expanded (a copy), or undefined when it names none. */
export function expandViews(stmt: Node, catalog: Catalog): Node | undefined {
  if (!catalog.views.size || !namesView(stmt, catalog)) return undefined;
  const copy = cloneTree(stmt);
  // Views over views: each round expands one level; a definition cannot name itself, so this ends.
  for (let round = 0; round < 32 && namesView(copy, catalog); round++) {
    const ctes = cteNames(copy);
    // Views over simple views merge level by level; what is left becomes subqueries.
    for (let merged = true, level = 0; merged && level < 32; level++) {
      merged = false;
      walk(copy, (n) => {
        if (n.targetList && n.fromClause?.length === 1 && merge(n, catalog, ctes)) merged = true;
      });
    }
    walk(copy, (n) => {
      const rv = n.RangeVar;
      if (!rv || (rv.schemaname === undefined && ctes.has(rv.relname))) return;
      const view = catalog.views.get(`${rv.schemaname ?? 'public'}.${rv.relname}`);
      if (!view) return;
      delete n.RangeVar;
      n.RangeSubselect = { subquery: cloneTree(view.query), alias: rv.alias ?? { aliasname: rv.relname } };
      return false;
    });
  }
  return copy;
}

/**
 * A SELECT whose only FROM item is a simple view over one table (columns, a WHERE, nothing else) reads the table
 * itself: the view's WHERE joins its own, its columns stand for the view's. A kNN or a lookup through the view is
 * then planned as one on the table (a subquery in FROM would bring every row of the view to the home node first).
 * Anything else keeps the subquery.
 */
function merge(select: Node, catalog: Catalog, ctes: Set<string>): boolean {
  if (select.op !== 'SETOP_NONE' || select.relation) return false;
  const ref = select.fromClause[0].RangeVar;
  if (!ref || (ref.schemaname === undefined && ctes.has(ref.relname)) || ref.alias?.colnames) return false;
  const view = catalog.views.get(`${ref.schemaname ?? 'public'}.${ref.relname}`)?.query.SelectStmt;
  if (!view || !simpleView(view)) return false;
  let nested = false;
  walk(select, (n) => {
    if (n.SubLink || n.RangeSubselect || n.CommonTableExpr) nested = true;
  });
  if (nested) return false;
  const base = view.fromClause[0].RangeVar;
  const a = ref.alias?.aliasname ?? ref.relname;
  const inView = base.alias?.aliasname ?? base.relname;
  const fieldsOf = (c: Node) => c.ColumnRef.fields as Node[];
  // A column of the view's own query, as a column of the table under the outer name.
  const requalify = (c: Node): Node | undefined => {
    const f = fieldsOf(c);
    if (f.some((x) => !x.String) || f.length > 2 || (f.length === 2 && f[0].String.sval !== inView)) return undefined;
    return { ColumnRef: { fields: [{ String: { sval: a } }, f.at(-1)] } };
  };
  const columns = new Map<string, Node>();
  for (const t of view.targetList as Node[]) {
    const col = requalify(t.ResTarget.val);
    if (!col) return false;
    columns.set(t.ResTarget.name ?? fieldsOf(t.ResTarget.val).at(-1)!.String.sval, col);
  }
  let unknown = false;
  walk(view.whereClause, (n) => {
    if (n.ColumnRef && !requalify(n)) unknown = true;
  });
  // A view column the outer query names, by [col] or [alias, col]; undefined for anything else.
  const resolve = (c: Node): Node | undefined => {
    const f = fieldsOf(c);
    if (f.some((x) => !x.String) || f.length > 2 || (f.length === 2 && f[0].String.sval !== a)) return undefined;
    return columns.get(f.at(-1)!.String.sval);
  };
  // ORDER BY a bare name means the output column of that name first (it stays as written; the names stay).
  const outputs = new Set((select.targetList as Node[]).map((t) => t.ResTarget.name).filter(Boolean));
  const sortNames = new Set<Node>();
  for (const sb of (select.sortClause ?? []) as Node[]) {
    const k = sb.SortBy.node;
    if (k.ColumnRef && fieldsOf(k).length === 1 && outputs.has(fieldsOf(k)[0].String?.sval)) sortNames.add(k);
  }
  const isStar = (t: Node) => {
    const f = t.ResTarget.val?.ColumnRef?.fields as Node[] | undefined;
    return !!f?.at(-1)?.A_Star && (f.length === 1 || f[0].String?.sval === a);
  };
  walk({ ...select, targetList: (select.targetList as Node[]).filter((t) => !isStar(t)) }, (n) => {
    if (n.ColumnRef && !sortNames.has(n) && !resolve(n)) unknown = true;
  });
  if (unknown) return false;
  // Rewrite in place: the outer query's columns, then the view's WHERE (requalified) joined to the outer one.
  const targets: Node[] = [];
  for (const t of select.targetList as Node[]) {
    if (isStar(t)) {
      for (const [name, col] of columns) targets.push({ ResTarget: { name, val: cloneTree(col) } });
      continue;
    }
    const bare = t.ResTarget.val?.ColumnRef ? fieldsOf(t.ResTarget.val).at(-1)!.String.sval : undefined;
    walk(t, (n) => {
      if (n.ColumnRef) n.ColumnRef = cloneTree(resolve(n)!.ColumnRef);
    });
    // The output keeps the view column's name.
    targets.push(bare !== undefined && !t.ResTarget.name ? { ResTarget: { ...t.ResTarget, name: bare } } : t);
  }
  walk({ ...select, targetList: undefined }, (n) => {
    if (n.ColumnRef && !sortNames.has(n)) n.ColumnRef = cloneTree(resolve(n)!.ColumnRef);
  });
  select.targetList = targets;
  const where = view.whereClause && cloneTree(view.whereClause);
  walk(where, (n) => {
    if (n.ColumnRef) n.ColumnRef = requalify(n)!.ColumnRef;
  });
  if (where) select.whereClause = select.whereClause ? { BoolExpr: { boolop: 'AND_EXPR', args: [where, select.whereClause] } } : where;
  select.fromClause = [{ RangeVar: { ...cloneTree(base), alias: { aliasname: a } } }];
  return true;
}

/** Columns and a WHERE over one table: nothing that changes which rows or how many. */
function simpleView(v: Node): boolean {
  if (v.op !== 'SETOP_NONE' || v.withClause || v.distinctClause || v.groupClause || v.havingClause || v.sortClause || v.limitCount || v.limitOffset) return false;
  if (v.windowClause || v.lockingClause || v.intoClause || v.valuesLists || v.fromClause?.length !== 1 || !v.fromClause[0].RangeVar) return false;
  if (!(v.targetList as Node[]).every((t) => t.ResTarget.val?.ColumnRef)) return false;
  let sub = false;
  walk(v.whereClause, (n) => {
    if (n.SubLink) sub = true;
  });
  return !sub;
}

function namesView(stmt: Node, catalog: Catalog): boolean {
  let found = false;
  const ctes = cteNames(stmt);
  walk(stmt, (n) => {
    if (found) return false;
    const rv = n.RangeVar;
    if (rv && !(rv.schemaname === undefined && ctes.has(rv.relname)) && catalog.views.has(`${rv.schemaname ?? 'public'}.${rv.relname}`)) found = true;
  });
  return found;
}

function cteNames(stmt: Node): Set<string> {
  const names = new Set<string>();
  walk(stmt, (n) => {
    if (n.CommonTableExpr) names.add(n.CommonTableExpr.ctename);
  });
  return names;
}

const VIEW_DDL = new Set(['ViewStmt', 'DropStmt', 'RenameStmt', 'AlterTableStmt', 'AlterObjectSchemaStmt']);

/**
 * CREATE [OR REPLACE] VIEW over distributed tables, and DROP / ALTER of such a view: on the home node (where the
 * view lives, next to the plain tables it may also read), as DDL, so every coordinator reads the catalog again.
 */
export function viewDdl(kind: string, n: Node, catalog: Catalog, readsDistributed: boolean, text: string): DdlPlan | undefined {
  if (!VIEW_DDL.has(kind) || (!catalog.views.size && kind !== 'ViewStmt')) return undefined;
  const known = (schema: string | undefined, name: string) => catalog.views.has(`${schema ?? 'public'}.${name}`);
  let ours = false;
  if (kind === 'ViewStmt') ours = readsDistributed || known(n.view.schemaname, n.view.relname);
  else if (kind === 'DropStmt') {
    ours = n.removeType === 'OBJECT_VIEW' && (n.objects as Node[]).some((o) => {
      const parts = (o.List?.items ?? []).map((x: Node) => x.String?.sval as string);
      return known(parts.length > 1 ? parts.at(-2) : undefined, parts.at(-1));
    });
  } else ours = !!n.relation && known(n.relation.schemaname, n.relation.relname);
  return ours ? { kind: 'ddl', shell: text, elsewhere: 'SELECT 1', transactional: true, catalog: [], tasks: [] } : undefined;
}
