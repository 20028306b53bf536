// vecshard's own schemas (the catalog and the shard tables) belong to vecshard: clients may read them, but a
// statement that would change them is refused. Schema-diff tools (MikroORM, TypeORM) would otherwise drop
// what they do not know.
import { walk, type Node } from './ast.ts';

export const PROTECTED_SCHEMAS = new Set(['vecshard', 'vecshard_shards']);

const READS = new Set(['VariableShowStmt', 'TransactionStmt', 'VariableSetStmt', 'PrepareStmt', 'ExecuteStmt', 'DeallocateStmt']);

/** The protected object a statement would change ("schema vecshard", "vecshard.placements"), if any. */
export function changesProtected(stmt: Node): string | undefined {
  const kind = Object.keys(stmt)[0];
  const n = stmt[kind];
  const table = (rv: Node | undefined) => (rv?.schemaname && PROTECTED_SCHEMAS.has(rv.schemaname) ? `${rv.schemaname}.${rv.relname}` : undefined);
  if (kind === 'ExplainStmt') return changesProtected(n.query);
  if (kind === 'SelectStmt') return table(n.intoClause?.rel);
  if (READS.has(kind) || (kind === 'CopyStmt' && !n.is_from)) return undefined;
  // Writes: only the target counts (reading the catalog in a subquery is fine).
  if (['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt'].includes(kind)) return table(n.relation);
  let found: string | undefined;
  const name = (parts: string[]) => {
    if (parts.length > 1 && PROTECTED_SCHEMAS.has(parts[parts.length - 2])) found ??= parts.slice(-2).join('.');
  };
  if (kind === 'DropStmt' || kind === 'AlterObjectSchemaStmt' || kind === 'RenameStmt' || kind === 'CommentStmt' || kind === 'GrantStmt') {
    const schemaObject = ['OBJECT_SCHEMA'].includes(n.removeType ?? n.objectType ?? n.renameType ?? n.objtype);
    for (const o of (n.objects ?? (n.object ? [n.object] : [])) as Node[]) {
      const parts = o.List ? o.List.items.map((x: Node) => x.String?.sval) : o.String ? [o.String.sval] : [];
      if (schemaObject && parts.length === 1 && PROTECTED_SCHEMAS.has(parts[0])) found ??= `schema ${parts[0]}`;
      else name(parts);
    }
    if (kind === 'RenameStmt' && n.renameType === 'OBJECT_SCHEMA' && PROTECTED_SCHEMAS.has(n.subname)) found ??= `schema ${n.subname}`;
  }
  walk(stmt, (x) => {
    // Some statements hold a bare RangeVar (no wrapper node) as their relation.
    found ??= table(x.RangeVar ?? (typeof x.relname === 'string' ? x : undefined));
  });
  return found;
}
