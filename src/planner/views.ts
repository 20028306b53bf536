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
  if (!VIEW_DDL.has(kind) || !catalog.views.size && kind !== 'ViewStmt') return undefined;
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
